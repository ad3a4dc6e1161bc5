//! Scripted JSON-RPC upstreams for dualrpc's tests: each endpoint answers what the test
//! says, when the test says.
//!
//! An [`Upstream`] is a real HTTP/1.1 server on `127.0.0.1:0`. The test scripts it per
//! method with [`Step`]s — a result, a JSON-RPC error, an HTTP status, raw bytes, a wrong
//! id, a hang or a connection reset — optionally after a delay or behind a [`Gate`] the
//! test opens. Gates make ordering deterministic without sleeping: "A errors at once, B
//! answers only after A has answered" is written as B gated on a gate the test opens once
//! it has seen A's request. [`Upstream::wait_for`] awaits a request count instead of
//! polling. Everything stops when the `Upstream` is dropped, hanging handlers included.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod ws;
pub use ws::WsUpstream;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// A one-way latch a test opens to release gated answers.
#[derive(Debug, Clone)]
pub struct Gate {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::channel(false).0),
        }
    }

    /// Opens the gate; every answer waiting on it proceeds.
    pub fn open(&self) {
        self.tx.send_replace(true);
    }

    async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|open| *open).await;
    }
}

/// What an upstream does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `{"jsonrpc":"2.0","id":<echo>,"result":<json>}`.
    Result(String),
    /// `{"jsonrpc":"2.0","id":<echo>,"error":<json>}`.
    Error(String),
    /// A result under a different id.
    WrongId(String),
    /// HTTP status with a body and extra headers.
    Status(u16, String, Vec<(String, String)>),
    /// HTTP 200 with this exact body.
    Raw(String),
    /// Never answers (until the upstream is dropped).
    Hang,
    /// Closes the connection without an answer.
    Reset,
    /// `{"jsonrpc":"2.0","id":<echo>,"result":<json>}` with its true `content-length`,
    /// sent one byte per `every` (a slow drip that no attempt timeout should wait out).
    /// The drip stops when the client goes away or the upstream is dropped.
    Drip {
        /// The `result` JSON.
        result: String,
        /// Pause before each byte.
        every: Duration,
    },
    /// `{"jsonrpc":"2.0","id":<echo>,"result":<json>}` declared with its full
    /// `content-length`, but only the first `keep` bytes are sent before the connection is
    /// closed (a truncated body).
    Truncated {
        /// The `result` JSON.
        result: String,
        /// Bytes of the response body actually sent.
        keep: usize,
    },
    /// `{"jsonrpc":"2.0","id":<echo>,"result":<json>}` sent with chunked transfer encoding
    /// (no `content-length`) in chunks of `chunk` bytes, so its size is only known by
    /// reading it.
    Chunked {
        /// The `result` JSON.
        result: String,
        /// Bytes per chunk (at least 1).
        chunk: usize,
    },
}

/// One scripted answer: wait for `gate` (if any), then `delay`, then `reply`.
#[derive(Debug, Clone)]
pub struct Step {
    /// Pause before answering.
    pub delay: Duration,
    /// Gate to wait for before the pause.
    pub gate: Option<Gate>,
    /// The answer.
    pub reply: Reply,
}

impl Step {
    fn of(reply: Reply) -> Self {
        Self {
            delay: Duration::ZERO,
            gate: None,
            reply,
        }
    }

    /// Answers with this JSON `result`.
    pub fn result(json: impl Into<String>) -> Self {
        Self::of(Reply::Result(json.into()))
    }

    /// Answers with a JSON-RPC error.
    pub fn error(code: i64, message: &str) -> Self {
        Self::of(Reply::Error(
            serde_json::json!({ "code": code, "message": message }).to_string(),
        ))
    }

    /// Answers with a JSON-RPC error object given as JSON.
    pub fn error_json(json: impl Into<String>) -> Self {
        Self::of(Reply::Error(json.into()))
    }

    /// Answers a result under the wrong id.
    pub fn wrong_id(json: impl Into<String>) -> Self {
        Self::of(Reply::WrongId(json.into()))
    }

    /// Answers with an HTTP status and body.
    pub fn status(code: u16, body: impl Into<String>) -> Self {
        Self::of(Reply::Status(code, body.into(), Vec::new()))
    }

    /// Answers 429 with `Retry-After: secs`.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::of(Reply::Status(
            429,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":429,"message":"Too many requests"}}"#
                .into(),
            vec![("retry-after".into(), retry_after_secs.to_string())],
        ))
    }

    /// Answers HTTP 200 with exactly these bytes.
    pub fn raw(body: impl Into<String>) -> Self {
        Self::of(Reply::Raw(body.into()))
    }

    /// Never answers.
    pub fn hang() -> Self {
        Self::of(Reply::Hang)
    }

    /// Drops the connection.
    pub fn reset() -> Self {
        Self::of(Reply::Reset)
    }

    /// Answers this `result` one byte per `every` (see [`Reply::Drip`]).
    pub fn drip(json: impl Into<String>, every: Duration) -> Self {
        Self::of(Reply::Drip {
            result: json.into(),
            every,
        })
    }

    /// Answers this `result` with a body cut after `keep` bytes while declaring its full
    /// length, then closes the connection (see [`Reply::Truncated`]).
    pub fn truncated(json: impl Into<String>, keep: usize) -> Self {
        Self::of(Reply::Truncated {
            result: json.into(),
            keep,
        })
    }

    /// Answers this `result` chunked, without a `content-length` (see [`Reply::Chunked`]).
    pub fn chunked(json: impl Into<String>, chunk: usize) -> Self {
        Self::of(Reply::Chunked {
            result: json.into(),
            chunk: chunk.max(1),
        })
    }

    /// Answers with an HTTP status, a body and extra headers (e.g. an HTML error page with
    /// `content-type: text/html`).
    pub fn status_with_headers(
        code: u16,
        body: impl Into<String>,
        headers: &[(&str, &str)],
    ) -> Self {
        Self::of(Reply::Status(
            code,
            body.into(),
            headers
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        ))
    }

    /// Waits `delay` before answering.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Waits for `gate` before answering.
    pub fn gated(mut self, gate: &Gate) -> Self {
        self.gate = Some(gate.clone());
        self
    }
}

#[derive(Debug, Default)]
struct Script {
    /// One-shot steps per method, used first, in order.
    queued: HashMap<String, VecDeque<Step>>,
    /// Standing step per method (`*` for any method).
    standing: HashMap<String, Step>,
    /// Requests seen per method.
    counts: HashMap<String, usize>,
    /// Last request body per method.
    last: HashMap<String, Value>,
    /// TCP connections accepted.
    connections: usize,
}

impl Script {
    fn step_for(&mut self, method: &str) -> Step {
        if let Some(step) = self.queued.get_mut(method).and_then(VecDeque::pop_front) {
            return step;
        }
        self.standing
            .get(method)
            .or_else(|| self.standing.get("*"))
            .cloned()
            .unwrap_or_else(|| Step::error(-32601, "Method not found"))
    }
}

#[derive(Debug)]
struct State {
    script: Mutex<Script>,
    /// Bumped on every request, so tests can await counts.
    seen: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
}

/// A scripted upstream listening on loopback. Dropping it stops it.
#[derive(Debug)]
pub struct Upstream {
    addr: SocketAddr,
    state: Arc<State>,
}

impl Upstream {
    /// Starts an upstream on `127.0.0.1:0` that answers `getSlot` with 1000 and anything
    /// unscripted with "method not found".
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            script: Mutex::new(Script::default()),
            seen: watch::channel(0).0,
            shutdown: watch::channel(false).0,
        });
        state
            .script
            .lock()
            .standing
            .insert("getSlot".into(), Step::result("1000"));
        tokio::spawn(accept_loop(listener, state.clone()));
        Upstream { addr, state }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets the standing answer for `method` (`*` for every method without its own).
    pub fn set(&self, method: &str, step: Step) -> &Self {
        self.state
            .script
            .lock()
            .standing
            .insert(method.into(), step);
        self
    }

    /// Queues a one-shot answer for `method`, used before the standing one.
    pub fn push(&self, method: &str, step: Step) -> &Self {
        self.state
            .script
            .lock()
            .queued
            .entry(method.into())
            .or_default()
            .push_back(step);
        self
    }

    /// Requests seen for `method`.
    pub fn count(&self, method: &str) -> usize {
        self.state
            .script
            .lock()
            .counts
            .get(method)
            .copied()
            .unwrap_or(0)
    }

    /// Requests seen in all.
    pub fn total(&self) -> usize {
        self.state.script.lock().counts.values().sum()
    }

    /// TCP connections accepted so far (keep-alive shows as few connections).
    pub fn connections(&self) -> usize {
        self.state.script.lock().connections
    }

    /// The last request body seen for `method`.
    pub fn last_request(&self, method: &str) -> Option<Value> {
        self.state.script.lock().last.get(method).cloned()
    }

    /// Waits until at least `n` requests for `method` have arrived.
    pub async fn wait_for(&self, method: &str, n: usize) {
        let mut rx = self.state.seen.subscribe();
        while self.count(method) < n {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.state.shutdown.send_replace(true);
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let mut shutdown = state.shutdown.subscribe();
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
            _ = shutdown.wait_for(|s| *s) => return,
        };
        state.script.lock().connections += 1;
        let state = state.clone();
        tokio::spawn(async move {
            let mut shutdown = state.shutdown.subscribe();
            let svc_state = state.clone();
            let service = service_fn(move |req| handle(svc_state.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = shutdown.wait_for(|s| *s) => {}
            }
        });
    }
}

/// The error that makes hyper drop the connection without answering.
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("scripted reset")
    }
}

impl std::error::Error for ResetConnection {}

/// A scripted response body: whole, cut short, chunked, or fed byte by byte by a task.
/// A body that ends in an error makes hyper drop the connection mid-response.
#[derive(Debug)]
enum ScriptBody {
    Full(Full<Bytes>),
    /// Sends `prefix`, then returns `Pending` once (so hyper flushes what it has to the
    /// socket), then fails.
    Truncated {
        prefix: Option<Bytes>,
        paused: bool,
    },
    Chunks(VecDeque<Bytes>),
    Fed(mpsc::Receiver<Bytes>),
}

impl From<Full<Bytes>> for ScriptBody {
    fn from(full: Full<Bytes>) -> Self {
        ScriptBody::Full(full)
    }
}

impl Body for ScriptBody {
    type Data = Bytes;
    type Error = ResetConnection;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ResetConnection>>> {
        match self.get_mut() {
            ScriptBody::Full(full) => Pin::new(full)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(|never| match never {}))),
            ScriptBody::Truncated { prefix, paused } => {
                if let Some(p) = prefix.take() {
                    Poll::Ready(Some(Ok(Frame::data(p))))
                } else if !*paused {
                    *paused = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                } else {
                    Poll::Ready(Some(Err(ResetConnection)))
                }
            }
            ScriptBody::Chunks(chunks) => {
                Poll::Ready(chunks.pop_front().map(|c| Ok(Frame::data(c))))
            }
            ScriptBody::Fed(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ScriptBody::Full(full) => full.is_end_stream(),
            ScriptBody::Chunks(chunks) => chunks.is_empty(),
            ScriptBody::Truncated { .. } | ScriptBody::Fed(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ScriptBody::Full(full) => full.size_hint(),
            _ => SizeHint::default(),
        }
    }
}

/// A body fed one byte per `every` by a task that stops when the client goes away or the
/// upstream is dropped.
fn drip(state: &State, body: Bytes, every: Duration) -> ScriptBody {
    let (tx, rx) = mpsc::channel(1);
    let mut shutdown = state.shutdown.subscribe();
    tokio::spawn(async move {
        let feed = async {
            for i in 0..body.len() {
                tokio::time::sleep(every).await;
                if tx.send(body.slice(i..i + 1)).await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            _ = feed => {}
            _ = tx.closed() => {}
            _ = shutdown.wait_for(|s| *s) => {}
        }
    });
    ScriptBody::Fed(rx)
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<ScriptBody>, ResetConnection> {
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(ResetConnection),
    };
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let method = parsed
        .as_ref()
        .and_then(|v| v.get("method"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let id = parsed
        .as_ref()
        .and_then(|v| v.get("id"))
        .cloned()
        .unwrap_or(Value::Null);
    let step = {
        let mut script = state.script.lock();
        *script.counts.entry(method.clone()).or_default() += 1;
        if let Some(v) = parsed {
            script.last.insert(method.clone(), v);
        }
        script.step_for(&method)
    };
    state.seen.send_modify(|n| *n += 1);
    if let Some(gate) = &step.gate {
        gate.wait().await;
    }
    if !step.delay.is_zero() {
        tokio::time::sleep(step.delay).await;
    }
    let id = id.to_string();
    let json = |body: String| {
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)).into())
            .expect("static response parts are valid")
    };
    let envelope = |r: &str| Bytes::from(format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{r}}}"#));
    Ok(match step.reply {
        Reply::Result(r) => json(format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{r}}}"#)),
        Reply::Error(e) => json(format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{e}}}"#)),
        Reply::WrongId(r) => json(format!(
            r#"{{"jsonrpc":"2.0","id":987654321,"result":{r}}}"#
        )),
        Reply::Raw(body) => json(body),
        Reply::Status(code, body, headers) => {
            let mut b = Response::builder().status(code);
            for (k, v) in headers {
                b = b.header(k, v);
            }
            b.body(Full::new(Bytes::from(body)).into())
                .map_err(|_| ResetConnection)?
        }
        Reply::Drip { result, every } => {
            let body = envelope(&result);
            Response::builder()
                .header("content-type", "application/json")
                .header("content-length", body.len())
                .body(drip(&state, body, every))
                .map_err(|_| ResetConnection)?
        }
        Reply::Truncated { result, keep } => {
            let body = envelope(&result);
            Response::builder()
                .header("content-type", "application/json")
                .header("content-length", body.len())
                .body(ScriptBody::Truncated {
                    prefix: Some(body.slice(..keep.min(body.len()))),
                    paused: false,
                })
                .map_err(|_| ResetConnection)?
        }
        Reply::Chunked { result, chunk } => {
            let body = envelope(&result);
            let chunks = (0..body.len())
                .step_by(chunk.max(1))
                .map(|i| body.slice(i..(i + chunk.max(1)).min(body.len())))
                .collect();
            Response::builder()
                .header("content-type", "application/json")
                .body(ScriptBody::Chunks(chunks))
                .map_err(|_| ResetConnection)?
        }
        Reply::Hang => {
            let mut shutdown = state.shutdown.subscribe();
            let _ = shutdown.wait_for(|s| *s).await;
            return Err(ResetConnection);
        }
        Reply::Reset => return Err(ResetConnection),
    })
}
