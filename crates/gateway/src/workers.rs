//! [`Workers`]: the gateway on one single-threaded runtime per core — how `dualrpc serve`
//! runs.
//!
//! Each worker thread has its own runtime, its own listening socket on the shared address
//! (`SO_REUSEPORT`: the kernel spreads new connections over the workers) and its own
//! upstream connections ([`dualrpc::worker`]). A request is read, executed and answered on
//! the thread that accepted its connection: no task migrates and no wake-up crosses threads.
//! On the 2-core benchmark machine that is what separates a hyper forwarder at nginx's
//! latency from one at 1.3× it (BENCHMARKS.md, the hot path). The pool (stats, budgets,
//! breakers, cache) is shared; the health loop and signal handling run on the caller's
//! runtime.

use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use dualrpc::Pool;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::watch;

use crate::{Gateway, GatewayConfig};

/// A gateway serving on `n` worker threads. Dropping it stops the workers (without
/// waiting); [`Workers::stop`] stops them once every request in flight was answered.
#[derive(Debug)]
pub struct Workers {
    addr: SocketAddr,
    ws_addr: SocketAddr,
    gateway: Gateway,
    stop: watch::Sender<bool>,
    threads: Vec<JoinHandle<std::io::Result<()>>>,
}

/// Pending connections each worker's socket queues.
const BACKLOG: i32 = 1024;

impl Workers {
    /// Binds `config.listen` once per worker and starts `workers` threads serving `pool`.
    /// Install the metrics recorder before building the pool
    /// ([`crate::install_metrics_recorder`]).
    pub fn start(pool: Pool, config: GatewayConfig, workers: usize) -> std::io::Result<Workers> {
        let listeners = bind_shared(config.listen, workers.max(1))?;
        let addr = listeners[0].local_addr()?;
        let ws_listeners: Vec<Option<std::net::TcpListener>> = match crate::server::pubsub_listener(
            &config,
            bind_shared(config.ws_addr(), workers.max(1)),
        )? {
            Some(l) => l.into_iter().map(Some).collect(),
            None => (0..listeners.len()).map(|_| None).collect(),
        };
        let ws_addr = match &ws_listeners[0] {
            Some(l) => l.local_addr()?,
            None => addr,
        };
        let gateway = Gateway::new(pool, config.options);
        let (stop, stopped) = watch::channel(false);
        let mut threads = Vec::with_capacity(listeners.len());
        for (i, (listener, ws_listener)) in listeners.into_iter().zip(ws_listeners).enumerate() {
            let (gateway, mut stopped) = (gateway.clone(), stopped.clone());
            let thread = std::thread::Builder::new()
                .name(format!("dualrpc-worker-{i}"))
                .spawn(move || {
                    // Slot 0 is the caller's thread (health loop); workers use 1…n.
                    dualrpc::worker::set_current(i + 1);
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async move {
                        let _tick = tokio::spawn(keep_timer_ahead());
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        let ws_listener = ws_listener
                            .map(tokio::net::TcpListener::from_std)
                            .transpose()?;
                        let mut ws_stopped = stopped.clone();
                        let ws_gateway = gateway.clone();
                        let ws = async move {
                            match ws_listener {
                                Some(l) => {
                                    crate::server::serve(&ws_gateway, l, async move {
                                        let _ = ws_stopped.wait_for(|s| *s).await;
                                    })
                                    .await
                                }
                                None => Ok(()),
                            }
                        };
                        let http = crate::server::serve(&gateway, listener, async move {
                            let _ = stopped.wait_for(|s| *s).await;
                        });
                        let (http, ws) = tokio::join!(http, ws);
                        http.and(ws)
                    })
                })?;
            threads.push(thread);
        }
        Ok(Workers {
            addr,
            ws_addr,
            gateway,
            stop,
            threads,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The PubSub address (`ws_listen`).
    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_addr
    }

    /// The gateway (for reloads).
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The pool currently serving.
    pub fn pool(&self) -> Pool {
        self.gateway.pool()
    }

    /// Stops accepting, waits until every worker answered its requests in flight, returns
    /// (the first worker error, if any, once all have stopped).
    pub async fn stop(mut self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        let threads = std::mem::take(&mut self.threads);
        tokio::task::spawn_blocking(move || {
            let mut first = Ok(());
            for t in threads {
                let ended = t
                    .join()
                    .map_err(|_| std::io::Error::other("a worker panicked"))
                    .and_then(|r| r);
                if first.is_ok() {
                    first = ended;
                }
            }
            first
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Serves until `signal` completes, then stops gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> std::io::Result<()> {
        signal.await;
        self.stop().await
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// How far ahead the worker's own timer is kept (see [`keep_timer_ahead`]).
const TIMER_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// Keeps a timer due within [`TIMER_TICK`] on the worker's runtime, forever.
///
/// Tokio wakes its I/O driver (a write to an eventfd) whenever a timer is registered that
/// is due before the driver's next planned wake-up, in case the driver sleeps on another
/// thread. On a single-threaded worker that write is useless — the thread registering
/// the timer is the one that will sleep —, and every call registers two (its attempt's
/// timeout, its deadline), each earlier than the previous call's already-cancelled ones
/// the driver planned for: two system calls per request, seen under `strace`. With a timer
/// always due within 10 ms, a call's timers (hundreds of ms) are never the earliest, and
/// the worker pays 100 wake-ups a second instead.
async fn keep_timer_ahead() {
    let mut tick = tokio::time::interval(TIMER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// `n` listening sockets on `addr` (port 0: the first one's port), with `SO_REUSEPORT`.
/// A port someone already listens on is refused, as a plain bind would: `SO_REUSEPORT`
/// alone would let a second gateway (same user) share it and split the traffic.
fn bind_shared(addr: SocketAddr, n: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    if addr.port() != 0 {
        // Released at once; only whether it could be taken matters.
        drop(
            std::net::TcpListener::bind(addr).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))
            })?,
        );
    }
    let mut addr = addr;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket
            .bind(&addr.into())
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        socket.listen(BACKLOG)?;
        let listener: std::net::TcpListener = socket.into();
        addr = listener.local_addr()?;
        out.push(listener);
    }
    Ok(out)
}
