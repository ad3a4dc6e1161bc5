//! The HTTP side: a [`Cluster`] of [`SimEndpoint`]s, each a hyper HTTP/1.1 server on its own
//! loopback port that parses JSON-RPC (single or batch), applies its rate limit, fault model and
//! latency, and answers from the shared [`Chain`].
//!
//! Serving is a plain accept loop with one task per connection (hyper `serve_connection`) rather
//! than `axum::serve`, because two faults need control of the socket: a *reset* drops the
//! connection with `SO_LINGER=0` (the client sees ECONNRESET, no response), and a *hang* keeps
//! the request open forever. Connection tasks live in a `JoinSet` owned by the accept task, so
//! stopping an endpoint ([`SimEndpoint::kill`], [`Cluster::shutdown`], or dropping the cluster)
//! closes its listener and every connection, hanging ones included.
//!
//! Per request: count it → rate limit → draw fault and latency from the endpoint's seeded RNG
//! → sleep the latency (tokio timer; never blocks the runtime) → answer. Faults apply to the
//! whole HTTP request, so a batch fails as one. All outcomes (errors and 429s too) take the
//! drawn latency; a hang never answers, a reset happens after the latency.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::{Mutex, RwLock};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::chain::{Chain, ClockMode};
use crate::codec::hash_str;
use crate::faults::{Fault, FaultModel, LimitHit, RateLimit, RateLimiter};
use crate::latency::{CorrelatedSlowdown, LatencyModel};
use crate::methods::{self, CallContext, METHODS, RpcError};
use crate::profile::{EndpointSpec, Profile};

/// Largest request body accepted (larger → HTTP 413).
const MAX_BODY_BYTES: usize = 1 << 20;

/// How to run a [`Cluster`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// Seed for the chain and every endpoint's latency/fault draws.
    pub seed: u64,
    /// Address to listen on (default 127.0.0.1).
    pub listen_ip: IpAddr,
    /// First port; endpoints take consecutive ports. `None` or `Some(0)`: ephemeral ports.
    pub base_port: Option<u16>,
    /// Whether slots follow wall-clock time or only [`Chain::advance`].
    pub clock: ClockMode,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            seed: 1,
            listen_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            base_port: None,
            clock: ClockMode::RealTime,
        }
    }
}

/// A running set of simulated endpoints serving one chain. Dropping it stops everything.
#[derive(Debug)]
pub struct Cluster {
    profile: Profile,
    seed: u64,
    chain: Chain,
    endpoints: Vec<SimEndpoint>,
}

impl Cluster {
    /// Binds one port per endpoint of `profile` and starts serving. Must be called inside a
    /// tokio runtime; everything it spawns ends when the cluster is shut down or dropped.
    pub async fn start(profile: &Profile, opts: ClusterOptions) -> io::Result<Cluster> {
        let chain = Chain::new(opts.seed, profile.chain.clone(), opts.clock);
        let started = Instant::now();
        let mut endpoints = Vec::with_capacity(profile.endpoints.len());
        for (i, spec) in profile.endpoints.iter().enumerate() {
            let port = match opts.base_port {
                None | Some(0) => 0,
                Some(base) => u16::try_from(i)
                    .ok()
                    .and_then(|i| base.checked_add(i))
                    .ok_or_else(|| io::Error::other("base port + endpoint count exceeds 65535"))?,
            };
            let listener = TcpListener::bind(SocketAddr::new(opts.listen_ip, port)).await?;
            let state = Arc::new(EndpointState::new(
                spec,
                chain.clone(),
                opts.seed,
                started,
                profile.slowdown,
            ));
            let addr = listener.local_addr()?;
            let endpoint = SimEndpoint {
                addr,
                state,
                running: Mutex::new(None),
            };
            endpoint.spawn(listener);
            endpoints.push(endpoint);
        }
        tracing::debug!(profile = %profile.name, seed = opts.seed, "sim cluster started");
        Ok(Cluster {
            profile: profile.clone(),
            seed: opts.seed,
            chain,
            endpoints,
        })
    }

    /// The endpoints, in profile order.
    pub fn endpoints(&self) -> &[SimEndpoint] {
        &self.endpoints
    }

    /// The endpoint called `name`.
    pub fn endpoint(&self, name: &str) -> Option<&SimEndpoint> {
        self.endpoints.iter().find(|e| e.name() == name)
    }

    /// The chain all endpoints serve (for staleness checks and test control).
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The profile the cluster was started from.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The seed it was started with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Stops every endpoint (listeners and all connections, hanging requests included) and
    /// waits until their tasks have ended.
    pub async fn shutdown(self) {
        for endpoint in &self.endpoints {
            endpoint.kill().await;
        }
    }
}

/// Counters of one endpoint since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// HTTP requests received (a batch is one).
    pub http_requests: u64,
    /// JSON-RPC calls received, by method (unknown methods under `"other"`).
    pub calls: BTreeMap<String, u64>,
    /// Injected HTTP 502/503.
    pub http_5xx: u64,
    /// HTTP 429s, from the rate limit or injected.
    pub rate_limited: u64,
    /// Injected node-unhealthy errors (requests, not calls).
    pub unhealthy: u64,
    /// Injected connection resets.
    pub resets: u64,
    /// Injected hangs.
    pub hangs: u64,
}

impl EndpointStats {
    /// Calls received for `method`.
    pub fn calls_to(&self, method: &str) -> u64 {
        self.calls.get(method).copied().unwrap_or(0)
    }
}

#[derive(Debug, Default)]
struct Counters {
    http_requests: AtomicU64,
    calls: [AtomicU64; METHODS.len() + 1],
    http_5xx: AtomicU64,
    rate_limited: AtomicU64,
    unhealthy: AtomicU64,
    resets: AtomicU64,
    hangs: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Everything a request handler of one endpoint needs; shared by its connection tasks.
#[derive(Debug)]
struct EndpointState {
    name: String,
    chain: Chain,
    seed: u64,
    cluster_started: Instant,
    slowdown: Option<CorrelatedSlowdown>,
    lag: AtomicU64,
    latency: RwLock<LatencyModel>,
    faults: RwLock<FaultModel>,
    limiter: Mutex<Option<RateLimiter>>,
    rng: Mutex<StdRng>,
    counters: Counters,
}

impl EndpointState {
    fn new(
        spec: &EndpointSpec,
        chain: Chain,
        seed: u64,
        cluster_started: Instant,
        slowdown: Option<CorrelatedSlowdown>,
    ) -> EndpointState {
        EndpointState {
            name: spec.name.clone(),
            chain,
            seed,
            cluster_started,
            slowdown,
            lag: AtomicU64::new(spec.lag_slots),
            latency: RwLock::new(spec.latency),
            faults: RwLock::new(spec.faults),
            limiter: Mutex::new(spec.rate_limit.map(RateLimiter::new)),
            rng: Mutex::new(StdRng::seed_from_u64(seed ^ hash_str(&spec.name))),
            counters: Counters::default(),
        }
    }

    /// Draws this request's fault (if any) and latency, in one lock so a seed gives one
    /// sequence of decisions per endpoint (in request-arrival order).
    fn decide(&self, lag: u64) -> (Option<Fault>, Duration) {
        let latency = *self.latency.read();
        let faults = *self.faults.read();
        let (u, v, mut delay) = {
            let mut rng = self.rng.lock();
            let u: f64 = rng.random();
            let v: f64 = rng.random();
            (u, v, latency.sample(&mut *rng))
        };
        if let Some(slowdown) = &self.slowdown {
            let factor = slowdown.factor_at(self.seed, self.cluster_started.elapsed());
            delay = delay.mul_f64(factor);
        }
        (faults.draw(u, v, lag), delay)
    }
}

#[derive(Debug)]
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// One simulated provider: a port serving JSON-RPC, plus runtime controls for tests.
#[derive(Debug)]
pub struct SimEndpoint {
    addr: SocketAddr,
    state: Arc<EndpointState>,
    running: Mutex<Option<Running>>,
}

impl SimEndpoint {
    /// Its name in the profile.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// The address it listens on (kept across [`SimEndpoint::kill`]/[`SimEndpoint::restart`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Current slot lag.
    pub fn lag(&self) -> u64 {
        self.state.lag.load(Ordering::Relaxed)
    }

    /// Changes the slot lag (takes effect on the next call).
    pub fn set_lag(&self, slots: u64) {
        self.state.lag.store(slots, Ordering::Relaxed);
    }

    /// Current latency model.
    pub fn latency(&self) -> LatencyModel {
        *self.state.latency.read()
    }

    /// Replaces the latency model.
    pub fn set_latency(&self, latency: LatencyModel) {
        *self.state.latency.write() = latency;
    }

    /// Current fault model.
    pub fn faults(&self) -> FaultModel {
        *self.state.faults.read()
    }

    /// Replaces the fault model.
    pub fn set_faults(&self, faults: FaultModel) {
        *self.state.faults.write() = faults;
    }

    /// Current rate limit.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.state.limiter.lock().as_ref().map(RateLimiter::limit)
    }

    /// Replaces the rate limit (and forgets the calls counted so far).
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        *self.state.limiter.lock() = limit.map(RateLimiter::new);
    }

    /// A snapshot of its counters.
    pub fn stats(&self) -> EndpointStats {
        let c = &self.state.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut calls = BTreeMap::new();
        for (i, counter) in c.calls.iter().enumerate() {
            let n = load(counter);
            if n > 0 {
                calls.insert(METHODS.get(i).copied().unwrap_or("other").to_owned(), n);
            }
        }
        EndpointStats {
            http_requests: load(&c.http_requests),
            calls,
            http_5xx: load(&c.http_5xx),
            rate_limited: load(&c.rate_limited),
            unhealthy: load(&c.unhealthy),
            resets: load(&c.resets),
            hangs: load(&c.hangs),
        }
    }

    /// Whether it is accepting connections.
    pub fn is_running(&self) -> bool {
        self.running.lock().is_some()
    }

    /// Stops accepting and drops every open connection (in-flight and hanging requests get no
    /// answer), then returns once the port is closed. New connections are refused until
    /// [`SimEndpoint::restart`].
    pub async fn kill(&self) {
        let running = self.running.lock().take();
        if let Some(running) = running {
            let _ = running.stop.send(());
            // The task closes its listener and connections before ending.
            let _ = running.task.await;
        }
    }

    /// Listens again on the same address after [`SimEndpoint::kill`] (no-op if running).
    pub async fn restart(&self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr).await?;
        self.spawn(listener);
        Ok(())
    }

    fn spawn(&self, listener: TcpListener) {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, self.state.clone(), stopped));
        if let Some(old) = self.running.lock().replace(Running { stop, task }) {
            old.task.abort();
        }
    }
}

impl Drop for SimEndpoint {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every connection task.
        if let Some(running) = self.running.get_mut().take() {
            running.task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<EndpointState>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // A send or a dropped sender both mean stop.
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, state.clone()));
                }
                Err(e) => {
                    // Usually EMFILE; back off instead of spinning.
                    tracing::warn!(endpoint = %state.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, state: Arc<EndpointState>) {
    let reset = Arc::new(Notify::new());
    let service = {
        let reset = reset.clone();
        service_fn(move |req| handle(req, state.clone(), reset.clone()))
    };
    let mut conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = &mut conn => {}
        () = reset.notified() => {
            // Take the socket back from hyper and close it with SO_LINGER=0: the kernel sends
            // an RST, which the client sees as "connection reset by peer".
            let stream = conn.into_parts().io.into_inner();
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    }
}

/// One JSON-RPC call as parsed from the body; fields borrow from it.
#[derive(Debug, Deserialize)]
struct Call<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

/// Distinguishes `"id": null` (echo `null`) from no id (a notification: no answer).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

#[derive(Debug)]
enum Item<'a> {
    Call(Call<'a>),
    /// Not a valid request object; the id if one could be read.
    Invalid(Option<&'a RawValue>),
}

#[derive(Debug)]
enum Parsed<'a> {
    Single(Item<'a>),
    Batch(Vec<Item<'a>>),
    /// Not JSON, or an empty batch: answered with one error and `"id": null`.
    Unreadable(RpcError),
}

impl Parsed<'_> {
    fn items(&self) -> &[Item<'_>] {
        match self {
            Parsed::Single(item) => std::slice::from_ref(item),
            Parsed::Batch(items) => items,
            Parsed::Unreadable(_) => &[],
        }
    }

    /// Method names of the valid calls (what gets counted and rate-limited).
    fn methods(&self) -> Vec<&str> {
        self.items()
            .iter()
            .filter_map(|i| match i {
                Item::Call(c) => c.method.as_deref(),
                Item::Invalid(_) => None,
            })
            .collect()
    }

    /// The id to put on a whole-request error (429): the call's for a single request.
    fn request_id(&self) -> &str {
        match self {
            Parsed::Single(Item::Call(Call { id: Some(id), .. })) => id.get(),
            _ => "null",
        }
    }
}

fn parse_item(raw: &RawValue) -> Item<'_> {
    match serde_json::from_str::<Call<'_>>(raw.get()) {
        Ok(call) if call.jsonrpc.as_deref() == Some("2.0") && call.method.is_some() => {
            Item::Call(call)
        }
        Ok(call) => Item::Invalid(call.id),
        Err(_) => Item::Invalid(None),
    }
}

fn parse_body(body: &[u8]) -> Parsed<'_> {
    let Ok(raw) = serde_json::from_slice::<&RawValue>(body) else {
        return Parsed::Unreadable(RpcError::parse_error());
    };
    if raw.get().starts_with('[') {
        match serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
            Ok(items) if items.is_empty() => Parsed::Unreadable(RpcError::invalid_request()),
            Ok(items) => Parsed::Batch(items.into_iter().map(parse_item).collect()),
            Err(_) => Parsed::Unreadable(RpcError::parse_error()),
        }
    } else {
        Parsed::Single(parse_item(raw))
    }
}

fn write_error(out: &mut Vec<u8>, id: &str, error: &RpcError) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"error\":");
    error.write(out);
    out.extend_from_slice(b",\"id\":");
    out.extend_from_slice(id.as_bytes());
    out.push(b'}');
}

/// Appends the response to one item; returns false for a notification (nothing written).
fn answer_item(
    out: &mut Vec<u8>,
    item: &Item<'_>,
    ctx: &CallContext<'_>,
    unhealthy: Option<u64>,
) -> bool {
    let call = match item {
        Item::Invalid(id) => {
            write_error(
                out,
                id.map_or("null", |i| i.get()),
                &RpcError::invalid_request(),
            );
            return true;
        }
        Item::Call(call) => call,
    };
    let Some(id) = call.id else {
        return false;
    };
    let method = call.method.as_deref().unwrap_or_default();
    if let Some(slots_behind) = unhealthy {
        write_error(out, id.get(), &RpcError::node_unhealthy(slots_behind));
        return true;
    }
    let start = out.len();
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"result\":");
    match methods::call(ctx, method, call.params, out) {
        Ok(()) => {
            out.extend_from_slice(b",\"id\":");
            out.extend_from_slice(id.get().as_bytes());
            out.push(b'}');
        }
        Err(error) => {
            out.truncate(start);
            write_error(out, id.get(), &error);
        }
    }
    true
}

fn answer(parsed: &Parsed<'_>, ctx: &CallContext<'_>, unhealthy: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    match parsed {
        Parsed::Unreadable(error) => write_error(&mut out, "null", error),
        Parsed::Single(item) => {
            answer_item(&mut out, item, ctx, unhealthy);
        }
        Parsed::Batch(items) => {
            out.push(b'[');
            for item in items {
                let before = out.len();
                if before > 1 {
                    out.push(b',');
                }
                if !answer_item(&mut out, item, ctx, unhealthy) {
                    out.truncate(before);
                }
            }
            out.push(b']');
            if out.len() == 2 {
                // Only notifications: no response body at all.
                out.clear();
            }
        }
    }
    out
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut resp = Response::new(Body::from(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn too_many_requests(id: &str, message: &'static str, retry_after_secs: u64) -> Response<Body> {
    let mut body = Vec::new();
    write_error(&mut body, id, &RpcError::new(429, message));
    let mut resp = response(StatusCode::TOO_MANY_REQUESTS, "application/json", body);
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
    resp
}

/// nginx's error page, as a load balancer in front of a provider's nodes sends it.
fn gateway_error(code: u16) -> Response<Body> {
    let (status, text) = if code == 503 {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "503 Service Temporarily Unavailable",
        )
    } else {
        (StatusCode::BAD_GATEWAY, "502 Bad Gateway")
    };
    let body = format!(
        "<html>\r\n<head><title>{text}</title></head>\r\n<body>\r\n<center><h1>{text}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    response(status, "text/html", body)
}

const PER_METHOD_LIMIT_MESSAGE: &str = "Too many requests for a specific RPC call";
const PER_IP_LIMIT_MESSAGE: &str =
    "Too many requests from your IP, contact your application developer or support@rpcpool.com.";

async fn handle(
    req: Request<Incoming>,
    state: Arc<EndpointState>,
    reset: Arc<Notify>,
) -> Result<Response<Body>, Infallible> {
    if req.method() == Method::GET && req.uri().path() == "/health" {
        // agave's plain-HTTP health check.
        let lag = state.lag.load(Ordering::Relaxed);
        let text = if lag > 128 { "behind" } else { "ok" };
        return Ok(response(StatusCode::OK, "text/plain", text));
    }
    if req.method() != Method::POST {
        return Ok(response(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "Used HTTP Method is not allowed. POST or OPTIONS is required",
        ));
    }
    let body = match axum::body::to_bytes(Body::new(req.into_body()), MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => return Ok(response(StatusCode::PAYLOAD_TOO_LARGE, "text/plain", "")),
    };
    let counters = &state.counters;
    bump(&counters.http_requests);
    let parsed = parse_body(&body);
    let methods = parsed.methods();
    for m in &methods {
        let i = METHODS.iter().position(|k| k == m).unwrap_or(METHODS.len());
        bump(&counters.calls[i]);
    }

    let lag = state.lag.load(Ordering::Relaxed);
    let limited = state
        .limiter
        .lock()
        .as_mut()
        .and_then(|l| l.admit(tokio::time::Instant::now(), &methods).err());
    let (fault, delay) = state.decide(lag);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some((hit, retry_after)) = limited {
        bump(&counters.rate_limited);
        let message = match hit {
            LimitHit::Total => PER_IP_LIMIT_MESSAGE,
            LimitHit::Method => PER_METHOD_LIMIT_MESSAGE,
        };
        return Ok(too_many_requests(parsed.request_id(), message, retry_after));
    }
    let mut unhealthy = None;
    match fault {
        None => {}
        Some(Fault::Http5xx(code)) => {
            bump(&counters.http_5xx);
            return Ok(gateway_error(code));
        }
        Some(Fault::RateLimited { retry_after_secs }) => {
            bump(&counters.rate_limited);
            return Ok(too_many_requests(
                parsed.request_id(),
                PER_METHOD_LIMIT_MESSAGE,
                retry_after_secs,
            ));
        }
        Some(Fault::Unhealthy { slots_behind }) => {
            bump(&counters.unhealthy);
            unhealthy = Some(slots_behind);
        }
        Some(Fault::Reset) => {
            bump(&counters.resets);
            reset.notify_one();
            return std::future::pending().await;
        }
        Some(Fault::Hang) => {
            bump(&counters.hangs);
            return std::future::pending().await;
        }
    }
    let ctx = CallContext {
        chain: &state.chain,
        lag,
    };
    let out = answer(&parsed, &ctx, unhealthy);
    Ok(response(StatusCode::OK, "application/json", out))
}
