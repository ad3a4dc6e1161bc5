//! The zero-latency upstream of the overhead benchmark: answers every JSON-RPC request at
//! once with a correct `getBalance`-shaped result under the request's own id, so what is
//! measured is the proxy in front of it, and a proxy that mixed up answers would be caught.
//!
//! It runs on its own OS thread with a single-threaded runtime (one core's worth, like the
//! proxies it serves), on as many ports as asked, optionally holding each answer for a
//! delay (the memory measurement keeps calls in flight that way).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::value::RawValue;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A running echo upstream; stops when dropped.
#[derive(Debug)]
pub struct Echo {
    addrs: Vec<SocketAddr>,
    /// Requests received so far.
    received: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Echo {
    /// Starts `ports` listeners answering after `delay`.
    pub fn start(ports: usize, delay: Duration) -> std::io::Result<Echo> {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let thread = std::thread::Builder::new()
            .name("echo-upstream".into())
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
                rt.block_on(async move {
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
                        tokio::spawn(accept(listener, delay, counter.clone()));
                    }
                    let _ = addr_tx.send(Ok(addrs));
                    let _ = stopped.await;
                });
            })?;
        let addrs = addr_rx.recv().map_err(std::io::Error::other)??;
        Ok(Echo {
            addrs,
            received,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The listening addresses.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Requests received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept(listener: TcpListener, delay: Duration, received: Arc<AtomicU64>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let received = received.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                received.fetch_add(1, Ordering::Relaxed);
                answer(req, delay)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[derive(serde::Deserialize)]
struct Id<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
}

async fn answer(
    req: Request<Incoming>,
    delay: Duration,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let id = serde_json::from_slice::<Id<'_>>(&body)
        .ok()
        .and_then(|i| i.id)
        .map_or("null", RawValue::get)
        .to_string();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let out = format!(
        r#"{{"jsonrpc":"2.0","result":{{"context":{{"apiVersion":"2.2.0","slot":341197053}},"value":1000000}},"id":{id}}}"#
    );
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(out)))
        .expect("static parts are valid"))
}
