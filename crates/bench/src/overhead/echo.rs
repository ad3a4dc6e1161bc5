//! The zero-latency upstream of the overhead benchmark: answers every JSON-RPC request at
//! once with a correct `getBalance`-shaped result under the request's own id, so what is
//! measured is the proxy in front of it, and a proxy that mixed up answers would be caught.
//!
//! It runs on its own OS thread with a single-threaded runtime ([`ThreadServer`]), on as
//! many ports as asked, optionally holding each answer for a delay (the memory measurement
//! keeps calls in flight that way).

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

use super::thread::ThreadServer;

/// A running echo upstream; stops when dropped.
#[derive(Debug)]
pub struct Echo {
    server: ThreadServer,
    /// Requests received so far.
    received: Arc<AtomicU64>,
}

impl Echo {
    /// Starts `ports` listeners answering after `delay`.
    pub fn start(ports: usize, delay: Duration) -> std::io::Result<Echo> {
        let received = Arc::new(AtomicU64::new(0));
        let counter = received.clone();
        let server = ThreadServer::start("echo-upstream", ports, move |listener| {
            accept(listener, delay, counter.clone())
        })?;
        Ok(Echo { server, received })
    }

    /// The listening addresses.
    pub fn addrs(&self) -> &[SocketAddr] {
        self.server.addrs()
    }

    /// Requests received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
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
