//! The reference point of the overhead measurement: a bare hyper forwarder — no JSON, no
//! policy, no metrics — on one single-threaded runtime: each request's body is sent as it
//! is to the upstream over a kept-alive connection (hyper's connection-level client, a
//! stack of idle connections), and the answer's body comes back as it is. What hyper and
//! tokio themselves cost on this machine; dualrpc's own cost is what it adds on top.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1 as client;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use super::thread::ThreadServer;

type Idle = Rc<RefCell<Vec<client::SendRequest<Full<Bytes>>>>>;

/// A running forwarder; stops when dropped.
#[derive(Debug)]
pub struct Forwarder {
    server: ThreadServer,
}

impl Forwarder {
    /// Forwards to `upstream`.
    pub fn start(upstream: SocketAddr) -> std::io::Result<Forwarder> {
        let server = ThreadServer::start("hyper-forwarder", 1, move |listener| {
            accept(listener, upstream)
        })?;
        Ok(Forwarder { server })
    }

    /// `http://ADDR/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.server.addrs()[0])
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr) {
    let idle: Idle = Rc::default();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let idle = idle.clone();
        tokio::task::spawn_local(async move {
            let service = service_fn(move |req| forward(req, upstream, idle.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(
    req: Request<Incoming>,
    upstream: SocketAddr,
    idle: Idle,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let failed = || {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::BAD_GATEWAY;
        Ok(r)
    };
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return failed();
    };
    let mut out = Request::new(Full::new(body));
    *out.method_mut() = Method::POST;
    *out.uri_mut() = hyper::Uri::from_static("/");
    out.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    out.headers_mut()
        .insert(HOST, HeaderValue::from_static("upstream"));
    let popped = idle.borrow_mut().pop();
    let mut sender = match popped {
        Some(s) if !s.is_closed() => s,
        _ => match connect(upstream).await {
            Some(s) => s,
            None => return failed(),
        },
    };
    let Ok(response) = sender.send_request(out).await else {
        return failed();
    };
    let Ok(answer) = response.into_body().collect().await.map(|b| b.to_bytes()) else {
        return failed();
    };
    idle.borrow_mut().push(sender);
    let mut r = Response::new(Full::new(answer));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

async fn connect(upstream: SocketAddr) -> Option<client::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(upstream).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = client::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Some(sender)
}
