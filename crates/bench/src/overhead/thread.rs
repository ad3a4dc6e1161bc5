//! [`ThreadServer`]: a loopback server on an OS thread of its own with a single-threaded
//! runtime (one core's worth, like the proxies measured), stopped and joined when dropped.
//! The echo upstream and the reference forwarder run this way.

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running server thread (module doc).
#[derive(Debug)]
pub(super) struct ThreadServer {
    addrs: Vec<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ThreadServer {
    /// Binds `ports` loopback listeners on a new thread and hands each to `serve` (a task
    /// on that thread's runtime).
    pub(super) fn start<F, Fut>(name: &str, ports: usize, serve: F) -> std::io::Result<ThreadServer>
    where
        F: Fn(TcpListener) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e));
                        return;
                    }
                };
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, async move {
                    let mut addrs = Vec::new();
                    for _ in 0..ports {
                        let listener = match TcpListener::bind("127.0.0.1:0").await {
                            Ok(l) => l,
                            Err(e) => {
                                let _ = addr_tx.send(Err(e));
                                return;
                            }
                        };
                        addrs.push(listener.local_addr().expect("bound"));
                        tokio::task::spawn_local(serve(listener));
                    }
                    let _ = addr_tx.send(Ok(addrs));
                    let _ = stopped.await;
                });
            })?;
        let addrs = addr_rx.recv().map_err(std::io::Error::other)??;
        Ok(ThreadServer {
            addrs,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The listening addresses.
    pub(super) fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }
}

impl Drop for ThreadServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
