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
//! → sleep the latency ([`crate::timer`]: to a tenth of a millisecond; never blocks the
//! runtime) → answer, from the chain as it is at that instant through the endpoint's lag and
//! indexing delays. Faults apply to the whole HTTP request, so a batch fails as one. All outcomes (errors and 429s too) take the
//! drawn latency; a hang never answers, a reset happens after the latency.
//!
//! The same port serves Solana PubSub: a `GET` with `Upgrade: websocket` (any path) is
//! upgraded and served by the `pubsub` module in the connection's own task
//! ([`SimEndpoint::ws_url`]). HTTP faults and latency do not apply to it; PubSub has its own
//! ([`crate::PubsubModel`]).
//!
//! Layout: this file holds the cluster, the endpoints and their controls; `serve` the accept
//! loop, connections, per-request pipeline and counters; `wire` the JSON-RPC parsing and the
//! answers and error pages written back; `ws` the WebSocket upgrade and the PubSub controls.

mod serve;
pub(crate) mod wire;
mod ws;

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use self::serve::EndpointStats;
use self::serve::{Counters, accept_loop};
use crate::chain::{Chain, ClockMode};
use crate::codec::hash_str;
use crate::faults::{Fault, FaultModel, RateLimit, RateLimiter};
use crate::latency::{CorrelatedSlowdown, LatencyModel};
use crate::methods::METHODS;
use crate::profile::{EndpointSpec, Profile};
use crate::pubsub::PubsubShared;

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
        let chain = Chain::with_endpoints(
            opts.seed,
            profile.chain.clone(),
            opts.clock,
            &profile.endpoints,
        );
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
                i,
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

    /// The chain all endpoints serve (for staleness checks, test control, and the visibility
    /// oracle: [`Chain::visibility`] tells when each endpoint first shows a transaction).
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

/// Everything a request handler of one endpoint needs; shared by its connection tasks.
#[derive(Debug)]
struct EndpointState {
    name: String,
    /// Position in the profile: the endpoint's index in the chain (lag, indexing delays).
    index: usize,
    chain: Chain,
    seed: u64,
    cluster_started: Instant,
    slowdown: Option<CorrelatedSlowdown>,
    latency: RwLock<LatencyModel>,
    faults: RwLock<FaultModel>,
    limiter: Mutex<Option<RateLimiter>>,
    rng: Mutex<StdRng>,
    counters: Counters,
    pubsub: Arc<PubsubShared>,
}

impl EndpointState {
    fn new(
        spec: &EndpointSpec,
        index: usize,
        chain: Chain,
        seed: u64,
        cluster_started: Instant,
        slowdown: Option<CorrelatedSlowdown>,
    ) -> EndpointState {
        EndpointState {
            name: spec.name.clone(),
            index,
            chain,
            seed,
            cluster_started,
            slowdown,
            latency: RwLock::new(spec.latency),
            faults: RwLock::new(spec.faults),
            limiter: Mutex::new(spec.rate_limit.map(RateLimiter::new)),
            rng: Mutex::new(StdRng::seed_from_u64(seed ^ hash_str(&spec.name))),
            counters: Counters::default(),
            pubsub: Arc::new(PubsubShared::new(spec.pubsub)),
        }
    }

    /// The endpoint's current slot lag (kept by the chain, which answers for its views).
    fn lag(&self) -> u64 {
        self.chain.endpoint_lag(self.index).unwrap_or(0)
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

    /// `http://IP:PORT/` (PubSub: [`SimEndpoint::ws_url`]).
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Its position in the profile: the `endpoint` argument of the chain's visibility oracle
    /// ([`Chain::visibility`]).
    pub fn index(&self) -> usize {
        self.state.index
    }

    /// Current slot lag.
    pub fn lag(&self) -> u64 {
        self.state.lag()
    }

    /// Changes the slot lag (takes effect on the next call, and in the chain's visibility
    /// oracle).
    pub fn set_lag(&self, slots: u64) {
        self.state.chain.set_endpoint_lag(self.state.index, slots);
    }

    /// Its indexing-delay distribution (fixed when the cluster starts).
    pub fn indexing_delay(&self) -> LatencyModel {
        self.state
            .chain
            .indexing_delay_model(self.state.index)
            .unwrap_or(LatencyModel::ZERO)
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
    /// answer, PubSub connections close), then returns once the port is closed. New connections are refused until
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
