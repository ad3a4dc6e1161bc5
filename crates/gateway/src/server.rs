//! [`Server`]: the gateway's one start-up sequence — install the metrics recorder, build
//! the pool, bind, serve, stop gracefully — used by `dualrpc serve`, the tests, the demo
//! and the bench alike.
//!
//! Serving: an accept loop over hyper-util with `header_read_timeout` (a slow-loris client
//! is disconnected), keep-alive, `TCP_NODELAY`; shutdown stops accepting, lets every
//! request already received finish and be answered, then returns.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use dualrpc::{Pool, Settings};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Gateway, GatewayConfig};

/// A gateway serving on a bound address. Dropping it stops it (without waiting);
/// [`Server::stop`] stops it and waits until every request in flight was answered.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    ws_addr: SocketAddr,
    gateway: Gateway,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Builds the pool from `settings` (after installing the metrics recorder, so the
    /// pool's first metrics are recorded), binds `config.listen` and serves.
    pub async fn start(settings: Settings, config: GatewayConfig) -> std::io::Result<Server> {
        crate::prometheus::install();
        let pool = Pool::new(settings).map_err(std::io::Error::other)?;
        Server::start_with_pool(pool, config).await
    }

    /// Serves an existing pool (tests that inspect it; an embedding program with its own
    /// pool). Binds `config.listen` (port 0 for any free port).
    pub async fn start_with_pool(pool: Pool, config: GatewayConfig) -> std::io::Result<Server> {
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.listen))
        })?;
        let addr = listener.local_addr()?;
        let ws = config.ws_addr();
        let bound = TcpListener::bind(ws)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {ws}: {e}")));
        let ws_listener = pubsub_listener(&config, bound)?;
        let ws_addr = match &ws_listener {
            Some(l) => l.local_addr()?,
            None => addr,
        };
        let gateway = Gateway::new(pool, config.options);
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = gateway.clone();
        let task = tokio::spawn(async move {
            let (stop_ws, stopped_ws) = oneshot::channel::<()>();
            let ws_gateway = serving.clone();
            let ws_task = tokio::spawn(async move {
                match ws_listener {
                    Some(l) => {
                        serve(&ws_gateway, l, async {
                            let _ = stopped_ws.await;
                        })
                        .await
                    }
                    None => Ok(()),
                }
            });
            let served = serve(&serving, listener, async {
                let _ = stopped.await;
            })
            .await;
            let _ = stop_ws.send(());
            let _ = ws_task.await;
            served
        });
        Ok(Server {
            addr,
            ws_addr,
            gateway,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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

    /// Stops accepting, waits until every request in flight was answered, and returns.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }

    /// Serves until `signal` completes, then stops gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> std::io::Result<()> {
        signal.await;
        self.stop().await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The PubSub listener(s) `bound` on `config.ws_addr()` (errors already name the
/// address): an explicit `ws_listen` that cannot be bound is an error; the default (listen port + 1) being taken only means PubSub
/// is served on `listen` alone (`None`), with a warning.
pub(crate) fn pubsub_listener<T>(
    config: &GatewayConfig,
    bound: std::io::Result<T>,
) -> std::io::Result<Option<T>> {
    match bound {
        Ok(l) => Ok(Some(l)),
        Err(e) if config.ws_listen.is_none() => {
            tracing::warn!(error = %e, "PubSub not served on listen port + 1; upgrades are still served on listen");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// How long a request handed to hyper while the server stops may take.
const LAST_REQUEST: Duration = Duration::from_secs(30);

/// Serves `gateway` on `listener` until `shutdown` completes, then stops accepting, lets
/// every request already received finish and be answered, and returns.
pub(crate) async fn serve(
    gateway: &Gateway,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_timeout = gateway.options().front.header_read_timeout;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Tells connections served by `front` (not watched by `graceful` until handed to
    // hyper) that the server stops; each holds a watcher, so `graceful.shutdown()` waits
    // for them too.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let router = gateway.router();
    let state = gateway.state.clone();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (state, router, builder) = (state.clone(), router.clone(), builder.clone());
        let watcher = graceful.watcher();
        let (stop, stopped) = (stop.clone(), stop.clone());
        tokio::spawn(crate::front::connection(
            state.clone(),
            stream,
            stop,
            move |io| async move {
                let service = service_fn(move |request| {
                    crate::service::call(state.clone(), router.clone(), request)
                });
                if *stopped.borrow() {
                    // Handed over while the server stops (a request that began before):
                    // hyper's graceful signal would end the connection before it reads what
                    // was handed over, so it serves that one request and closes, within a
                    // bound, while `watcher` keeps the stop waiting.
                    let mut last = builder.clone();
                    last.http1().keep_alive(false);
                    let conn = last.serve_connection_with_upgrades(TokioIo::new(io), service);
                    let _ = tokio::time::timeout(LAST_REQUEST, conn).await;
                    drop(watcher);
                    return;
                }
                // With upgrades: a `GET` with `Upgrade: websocket` becomes a PubSub session.
                let conn = builder
                    .serve_connection_with_upgrades(TokioIo::new(io), service)
                    .into_owned();
                let _ = watcher.watch(conn).await;
            },
        ));
    }
    drop(listener);
    let _ = stopping.send(true);
    graceful.shutdown().await;
    Ok(())
}
