//! [`Pool`]: the library's entry point. It owns the endpoints, resolves each call's policy
//! once, answers from the cache or an identical call in flight where that is safe, and
//! otherwise runs the call's rounds (`rounds`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use dualrpc::{Config, Pool, Strategy};
//!
//! let config = Config::from_endpoints([("a", "http://127.0.0.1:8901"), ("b", "http://127.0.0.1:8902")])?;
//! let pool = Pool::from_config(config)?;
//! let reply = pool
//!     .call("getAccountInfo", &serde_json::json!(["So11111111111111111111111111111111111111112"]))
//!     .strategy(Strategy::Race)
//!     .timeout(Duration::from_millis(50))
//!     .await?;
//! println!("{} answered in {:?} after {} attempt(s)", reply.endpoint, reply.latency, reply.attempts);
//! # Ok(()) }
//! ```

use std::future::{Future, IntoFuture};
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::attempt::{Call, Context};
use crate::budget::{HedgeBudget, HedgeBudgetSnapshot};
use crate::cache::{self, CachePolicy, Key, ResponseCache};
use crate::catalog::{self, MethodName};
use crate::clock;
use crate::coalesce::Flights;
use crate::config::{Config, ConfigError};
use crate::error::{CallError, ErrorReason};
use crate::fresh::{self, LocalServedSlots, ServedSlots, SlotSource};
use crate::health;
use crate::jsonrpc::Request;
use crate::policy::{Overrides, Policies, Strategy};
use crate::reply::{Agreement, Reply};
use crate::settings::Settings;
use crate::sight::{FirstSight, Sightings};
use crate::stats::{Admission, EndpointSnapshot};
use crate::upstreams::Upstreams;

/// Recent signatures watched for which endpoint shows them first (about 50 bytes each).
const SIGHTINGS: usize = 20_000;

/// Method-and-params keys whose served slot a pool remembers (about 40 bytes each).
const SERVED_KEYS: usize = 100_000;

/// A set of upstream endpoints that answers JSON-RPC calls as one. Cheap to clone (all
/// clones share endpoints, connections and stats).
#[derive(Debug, Clone)]
pub struct Pool {
    core: Arc<Core>,
}

/// What a pool's clones and calls share.
#[derive(Debug)]
struct Core {
    /// Endpoints and upstream-facing settings, read by attempts and strategies.
    cx: Context,
    /// `[default]` and `[method.X]`, typed.
    policies: Policies,
    /// Final (and TTL-cached) answers; `None` when `[cache] max_bytes = 0`.
    cache: Option<ResponseCache>,
    /// Identical calls in flight, when coalescing is on.
    flights: Option<Flights>,
    /// Hashes request keys for the cache and coalescing (seeded per pool).
    hasher: foldhash::fast::RandomState,
    /// Source of upstream request ids, unique per call so a mixed-up answer is caught.
    next_id: AtomicU64,
    /// The slots served per method and params, so no answer goes backwards.
    served: Arc<dyn ServedSlots>,
    /// Subscriptions, made on first use (inside a runtime) from these settings and URLs.
    hub: std::sync::OnceLock<crate::pubsub::Hub>,
    hub_settings: crate::config::SubscriptionSettings,
    ws_urls: Vec<crate::settings::SecretUrl>,
    /// The endpoints' URLs (secret: compared, never printed — `SecretUrl`'s `Debug` is
    /// redacted), for [`Pool::new_after`].
    urls: Vec<crate::settings::SecretUrl>,
}

/// A snapshot of the pool for `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct PoolStatus {
    /// Whether at least one endpoint can take calls.
    pub healthy: bool,
    /// Highest slot any endpoint reported.
    pub best_slot: Option<u64>,
    /// The highest slot an answer may claim now (`None` until the health loop has watched
    /// a node move like a chain; see [`crate::stats::SlotCeiling`]).
    pub slot_ceiling: Option<u64>,
    /// Per-endpoint stats.
    pub endpoints: Vec<EndpointSnapshot>,
    /// Hedge budget counters.
    pub hedge: HedgeBudgetSnapshot,
    /// Entries in the response cache (`None` when the cache is off).
    pub cache_entries: Option<u64>,
    /// Distinct calls in flight that others may join (`None` when coalescing is off).
    pub coalescing: Option<usize>,
    /// Method-and-params keys whose last served slot is remembered (never backwards).
    pub served_keys: usize,
    /// Per endpoint: how often it showed a new signature first, and how far behind the
    /// first it was otherwise.
    pub first_sight: Vec<FirstSight>,
    /// Recent signatures in the first-sight window.
    pub sightings: usize,
}

impl Pool {
    /// Builds a pool from a config file's values (validated into [`Settings`] once).
    pub fn from_config(config: Config) -> Result<Pool, ConfigError> {
        Pool::new(Settings::from_config(&config)?)
    }

    /// Builds a pool on validated settings. Inside a Tokio runtime this also starts the
    /// health loop (unless `health.interval_ms = 0`); it stops when the last clone of the
    /// pool is dropped.
    pub fn new(settings: Settings) -> Result<Pool, ConfigError> {
        let upstreams = Upstreams::new(&settings, clock::now())?;
        Ok(Pool::assemble(settings, upstreams, None))
    }

    /// Builds the pool that replaces `previous` (a config reload). If the new config keeps
    /// an endpoint of the old one that the old pool did not find on another cluster (the
    /// same scheme, host, port and path — an API key in the query or user info may have
    /// changed — so the same provider's same chain), the new pool keeps what the old one
    /// knew about the chain: the slots already served per method and params (a client
    /// never sees an answer older than one it got before the reload) and, if its health
    /// loop runs, the slot ceiling (no answer beyond what the chain can have reached is
    /// taken while the new loop proves its own; dropped if the new loop's first cluster
    /// check finds a majority on another genesis hash than the old pool's). Otherwise it
    /// starts from nothing, as [`Pool::new`]. Floors from another chain cannot hold
    /// answers back for long either: a floor above the new ceiling does not count.
    pub fn new_after(settings: Settings, previous: &Pool) -> Result<Pool, ConfigError> {
        let upstreams = Upstreams::new(&settings, clock::now())?;
        let served = carry_over(&settings, &upstreams, &previous.core);
        Ok(Pool::assemble(settings, upstreams, served))
    }

    /// A pool whose endpoints answer from in-memory scripts (the core's own tests).
    #[cfg(test)]
    pub(crate) fn scripted(
        settings: Settings,
        scripts: &[Arc<crate::tests::script::Script>],
    ) -> Pool {
        let upstreams = Pool::scripted_upstreams(&settings, scripts);
        Pool::assemble(settings, upstreams, None)
    }

    /// [`Pool::new_after`] for a scripted pool.
    #[cfg(test)]
    pub(crate) fn scripted_after(
        settings: Settings,
        scripts: &[Arc<crate::tests::script::Script>],
        previous: &Pool,
    ) -> Pool {
        let upstreams = Pool::scripted_upstreams(&settings, scripts);
        let served = carry_over(&settings, &upstreams, &previous.core);
        Pool::assemble(settings, upstreams, served)
    }

    #[cfg(test)]
    fn scripted_upstreams(
        settings: &Settings,
        scripts: &[Arc<crate::tests::script::Script>],
    ) -> Upstreams {
        let mut upstreams = Upstreams::new(settings, clock::now()).expect("endpoints");
        for (ep, script) in upstreams.endpoints.iter_mut().zip(scripts) {
            Arc::get_mut(ep).expect("fresh endpoint").script = Some(script.clone());
        }
        upstreams
    }

    /// The pool over `upstreams`, with `served` (a previous pool's) or a store of its own.
    fn assemble(
        settings: Settings,
        upstreams: Upstreams,
        served: Option<Arc<dyn ServedSlots>>,
    ) -> Pool {
        let upstreams = Arc::new(upstreams);
        let endpoints = upstreams.endpoints.len();
        if let Some(interval) = settings.health.interval
            && tokio::runtime::Handle::try_current().is_ok()
        {
            health::spawn(
                Arc::downgrade(&upstreams),
                settings.health.clone(),
                interval,
            );
        }
        let core = Core {
            cx: Context {
                upstreams,
                max_response_bytes: settings.max_response_bytes,
                hedge_budget: HedgeBudget::new(settings.hedge.budget),
                hedge: settings.hedge,
                metrics: Default::default(),
                sightings: Arc::new(Sightings::new(endpoints, SIGHTINGS)),
            },
            policies: settings.policies,
            cache: (settings.cache_max_bytes > 0)
                .then(|| ResponseCache::new(settings.cache_max_bytes)),
            flights: settings.coalesce.then(Flights::default),
            hasher: foldhash::fast::RandomState::default(),
            next_id: AtomicU64::new(1),
            served: served.unwrap_or_else(|| Arc::new(LocalServedSlots::new(SERVED_KEYS))),
            hub: std::sync::OnceLock::new(),
            hub_settings: settings.subscriptions.clone(),
            ws_urls: settings
                .endpoints
                .iter()
                .map(|e| e.ws_url.clone())
                .collect(),
            urls: settings.endpoints.iter().map(|e| e.url.clone()).collect(),
        };
        Pool {
            core: Arc::new(core),
        }
    }

    /// Starts a call of `method` with `params` (anything serializable: a `serde_json::Value`,
    /// a `&RawValue`, a tuple…; `()` for none). Set options on the returned builder, then
    /// `.await` it.
    pub fn call<'a, P: Serialize + ?Sized>(
        &'a self,
        method: &'a str,
        params: &P,
    ) -> CallBuilder<'a> {
        let params = match serde_json::value::to_raw_value(params) {
            Ok(raw) if raw.get() == "null" => Params::None,
            Ok(raw) => Params::Owned(raw),
            Err(e) => Params::Invalid(format!("params do not serialize: {e}")),
        };
        CallBuilder::new(self, method, params)
    }

    /// Starts a call whose params are already JSON (the gateway's path: no re-encoding).
    pub fn call_raw<'a>(
        &'a self,
        method: &'a str,
        params: Option<&'a RawValue>,
    ) -> CallBuilder<'a> {
        CallBuilder::new(self, method, params.map_or(Params::None, Params::Borrowed))
    }

    /// The pool's subscriptions (Solana PubSub), shared by every client. The first call
    /// must come from inside a Tokio runtime (upstream connections are tasks).
    pub fn subscriptions(&self) -> &crate::pubsub::Hub {
        let core = &self.core;
        core.hub.get_or_init(|| {
            crate::pubsub::Hub::new(
                core.cx.upstreams.clone(),
                core.ws_urls.clone(),
                core.cx.sightings.clone(),
                core.hub_settings.clone(),
            )
        })
    }

    /// A hub over this pool's endpoints with no upstream connections at all: the tests
    /// drive its confirmations, losses and notifications by hand.
    #[cfg(test)]
    pub(crate) fn hub_without_upstreams(
        &self,
        settings: crate::config::SubscriptionSettings,
    ) -> crate::pubsub::Hub {
        let core = &self.core;
        crate::pubsub::Hub::new(
            core.cx.upstreams.clone(),
            Vec::new(),
            core.cx.sightings.clone(),
            settings,
        )
    }

    /// Endpoint names in config order.
    pub fn endpoint_names(&self) -> Vec<String> {
        self.endpoints().map(|e| e.name.to_string()).collect()
    }

    /// Endpoint `i` (the core's own tests).
    #[cfg(test)]
    pub(crate) fn endpoint(&self, i: usize) -> &Arc<crate::endpoint::Endpoint> {
        &self.core.cx.upstreams.endpoints[i]
    }

    /// The pool's endpoints (the micro-benchmarks).
    pub(crate) fn upstreams(&self) -> &crate::upstreams::Upstreams {
        &self.core.cx.upstreams
    }

    fn endpoints(&self) -> impl Iterator<Item = &Arc<crate::endpoint::Endpoint>> {
        self.core.cx.upstreams.endpoints.iter()
    }

    /// The strategy a call of `method` uses unless the request overrides it.
    pub fn strategy_for(&self, method: &str) -> Strategy {
        self.core
            .policies
            .resolve(method, catalog::lookup(method), &Overrides::default())
            .policy
            .strategy
    }

    /// Whether at least one endpoint can take calls now (circuit closed or due a probe).
    pub fn is_healthy(&self) -> bool {
        let now = clock::now();
        self.endpoints()
            .any(|e| !e.stats.foreign() && e.stats.peek(now) != Admission::Rejected)
    }

    /// A snapshot of every endpoint's stats.
    pub fn status(&self) -> PoolStatus {
        let now = clock::now();
        PoolStatus {
            healthy: self.is_healthy(),
            best_slot: self.core.cx.upstreams.best_slot(),
            slot_ceiling: self.core.cx.upstreams.ceiling.limit(now),
            endpoints: self
                .endpoints()
                .map(|e| e.stats.snapshot(now, &e.name, e.role))
                .collect(),
            hedge: self.core.cx.hedge_budget.snapshot(),
            cache_entries: self.core.cache.as_ref().map(ResponseCache::len),
            coalescing: self.core.flights.as_ref().map(Flights::len),
            served_keys: self.core.served.len(),
            first_sight: self
                .core
                .cx
                .sightings
                .snapshot(self.endpoints().map(|e| &*e.name)),
            sightings: self.core.cx.sightings.len(),
        }
    }
}

/// Params of a pending call.
#[derive(Debug)]
enum Params<'a> {
    None,
    Borrowed(&'a RawValue),
    Owned(Box<RawValue>),
    Invalid(String),
}

/// A call being configured; `.await` it to run it. Options left unset come from the
/// method's policy, then `[default]` (see the `policy` module for the order).
#[derive(Debug)]
#[must_use = "a call does nothing until awaited"]
pub struct CallBuilder<'a> {
    pool: &'a Pool,
    method: &'a str,
    params: Params<'a>,
    overrides: Overrides,
}

impl<'a> CallBuilder<'a> {
    fn new(pool: &'a Pool, method: &'a str, params: Params<'a>) -> Self {
        Self {
            pool,
            method,
            params,
            overrides: Overrides::default(),
        }
    }

    /// Overrides the strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.overrides.strategy = Some(strategy);
        self
    }

    /// The call's time budget (the seed's `{timeout: 50}`, "50 ms max"): the call answers
    /// by then. Attempts keep their configured timeouts; one still out when the budget
    /// ends finishes in the background and is judged on its own time, not the caller's.
    pub fn timeout(mut self, budget: Duration) -> Self {
        self.overrides.budget = Some(budget);
        self
    }

    /// Overrides the per-attempt timeout (the operator's setting: a timeout at this length
    /// counts against the endpoint).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.attempt_timeout = Some(timeout);
        self
    }

    /// Overrides only the call deadline.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.overrides.deadline = Some(deadline);
        self
    }

    /// Overrides how many endpoints `race`/`consensus` call at once.
    pub fn fanout(mut self, fanout: usize) -> Self {
        self.overrides.fanout = Some(fanout.max(1));
        self
    }

    /// Overrides the `consensus` quorum.
    pub fn quorum(mut self, quorum: usize) -> Self {
        self.overrides.quorum = Some(quorum.max(1));
        self
    }

    /// Overrides the most attempts `failover`/`hedge` make.
    pub fn max_attempts(mut self, n: usize) -> Self {
        self.overrides.max_attempts = Some(n.max(1));
        self
    }

    /// Overrides the number of retry rounds (0 disables them).
    pub fn retries(mut self, n: usize) -> Self {
        self.overrides.retries = Some(n);
        self
    }

    /// The strategy this call will run.
    pub fn resolved_strategy(&self) -> Strategy {
        self.pool
            .core
            .policies
            .resolve(self.method, catalog::lookup(self.method), &self.overrides)
            .policy
            .strategy
    }
}

impl<'a> IntoFuture for CallBuilder<'a> {
    type Output = Result<Reply, CallError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Reply, CallError>> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        match self.prepare() {
            Ok((core, call, how)) => Box::pin(core.run_shared(call, how)),
            Err(err) => Box::pin(std::future::ready(Err(err))),
        }
    }
}

/// What a call may share, decided once when it starts.
#[derive(Debug, Clone, Copy)]
struct Sharing {
    /// Whether (and how long) its answer may come from, or go to, the cache.
    cache: CachePolicy,
    /// Whether it may join an identical call in flight.
    coalesce: bool,
    /// Whether it must not serve an answer older than one served before.
    monotonic: bool,
}

impl Sharing {
    /// Nothing to share: the call just runs.
    fn none(&self) -> bool {
        self.cache == CachePolicy::Never && !self.coalesce && !self.monotonic
    }
}

impl CallBuilder<'_> {
    /// Runs the call — what `.await` on the builder does, without boxing the call's future:
    /// it becomes part of the caller's (the gateway's connection task holds it inline, so
    /// a request costs no allocation and no copy of it).
    pub async fn run(self) -> Result<Reply, CallError> {
        let (core, call, how) = self.prepare()?;
        core.run_shared(call, how).await
    }

    /// The call as it will run, or why it cannot.
    fn prepare(self) -> Result<(Arc<Core>, Call, Sharing), CallError> {
        let started = clock::now();
        let core = &self.pool.core;
        let info = catalog::lookup(self.method);
        let resolved = core.policies.resolve(self.method, info, &self.overrides);
        let params = match &self.params {
            Params::None => None,
            Params::Borrowed(p) => Some(*p),
            Params::Owned(p) => Some(&**p),
            Params::Invalid(msg) => {
                return Err(CallError {
                    reason: ErrorReason::InvalidRequest(msg.clone()),
                    strategy: resolved.policy.strategy,
                    attempts: 0,
                    latency: Duration::ZERO,
                });
            }
        };
        let how = Sharing {
            cache: match &core.cache {
                Some(_) => cache::policy(info, params, resolved.policy.cache_ttl),
                None => CachePolicy::Never,
            },
            coalesce: core.flights.is_some() && info.coalescable,
            // Lists are left out: a list's newest entry may leave it (a fork at
            // `processed`) without the node being behind.
            monotonic: !resolved.policy.monotonic_window.is_zero()
                && matches!(
                    info.slot,
                    SlotSource::Context | SlotSource::Value | SlotSource::Height
                ),
        };
        // A list's newest entry says when the address was last active, and a height is not
        // a slot: `minContextSlot` is the node's to check there.
        let min_slot = if info.slot.is_progress() {
            fresh::min_context_slot(params)
        } else {
            None
        };
        let call = Call {
            method: MethodName::new(self.method, info),
            info,
            request: Request::new(
                core.next_id.fetch_add(1, Ordering::Relaxed),
                self.method,
                params,
            ),
            policy: resolved.policy,
            started,
            deadline: clock::after(started, resolved.deadline),
            min_slot,
            floor: None,
            commitment: match info.slot {
                SlotSource::None => 2,
                _ => fresh::commitment(params),
            },
        };
        Ok((self.pool.core.clone(), call, how))
    }
}

impl Core {
    /// Runs `call`: from the cache or by an identical call in flight where `how` allows,
    /// never serving an answer older than one served before where it says `monotonic`.
    // Takes `call` by value, not in an `async` block around it: that would keep the call
    // twice in the future, and thousands are in flight.
    async fn run_shared(self: Arc<Self>, mut call: Call, how: Sharing) -> Result<Reply, CallError> {
        if how.none() {
            return crate::rounds::execute(&self.cx, &call).await;
        }
        let Sharing {
            cache: cache_policy,
            coalesce: share,
            monotonic,
        } = how;
        let bytes = call.request.key();
        let window = call.policy.monotonic_window;
        // Consensus compares values, not slots: a vote a slot older is still a vote, so the
        // floor is not applied to votes; the answer it agrees on is still marked if older.
        // The call's start is "now" for the floor (a clock read costs as much as the rest).
        let limit = self.cx.upstreams.ceiling.limit(call.started);
        if monotonic && call.policy.strategy != Strategy::Consensus {
            call.floor = self.served.floor(&bytes, call.started, window, limit);
        }
        let key = Key {
            hash: self.hasher.hash_one(&bytes[..]),
            bytes,
        };
        // A consensus caller only takes what as many endpoints confirmed (its quorum as
        // consensus runs it: at most every endpoint).
        let consensus = call.policy.strategy == Strategy::Consensus;
        let quorum = call.policy.quorum.min(self.cx.upstreams.eligible()).max(1) as u32;
        let needs = if consensus { quorum } else { 1 };
        if let Some(cache) = &self.cache
            && cache_policy != CachePolicy::Never
            && let Some((hit, agreed)) = cache.get(&key, needs)
            && (call.floor.is_none() && limit.is_none()
                || fresh::answer_slot(call.info.slot, hit.get()).is_none_or(|s| {
                    call.floor.is_none_or(|floor| s >= floor) && limit.is_none_or(|l| s <= l)
                }))
        {
            let latency = clock::now().saturating_duration_since(call.started);
            self.cx
                .metrics
                .call(call.info, call.policy.strategy, "cached", 0, latency);
            return Ok(Reply {
                result: hit,
                endpoint: Arc::from("cache"),
                strategy: call.policy.strategy,
                attempts: 0,
                latency,
                empty: false,
                cached: true,
                coalesced: false,
                agreement: consensus.then_some(Agreement { agreed, quorum }),
                slot: None,
                stale: None,
            });
        }
        let mut result = match &self.flights {
            Some(flights) if share => {
                let (mut result, joined) = flights.run(&self.cx, &call, key.clone()).await;
                if joined {
                    self.cx.metrics.coalesced(call.info);
                    let latency = clock::now().saturating_duration_since(call.started);
                    match &mut result {
                        Ok(reply) => {
                            reply.coalesced = true;
                            reply.attempts = 0;
                            reply.latency = latency;
                        }
                        Err(err) => {
                            err.attempts = 0;
                            err.latency = latency;
                        }
                    }
                }
                result
            }
            _ => crate::rounds::execute(&self.cx, &call).await,
        };
        if monotonic && let Ok(reply) = &mut result {
            let now = call.started + reply.latency;
            self.never_backwards(&key.bytes, now, window, call.info.slot, reply);
        }
        if let (Ok(reply), Some(cache)) = (&result, &self.cache)
            && !reply.empty
            && !reply.coalesced
        {
            let agreed = reply.agreement.map_or(1, |a| a.agreed);
            cache.insert(key, &reply.result, agreed, cache_policy, reply.latency);
        }
        result
    }

    /// Records the slot `reply` serves for `key`, or — if another call served a higher one
    /// meanwhile — says how far behind it is.
    fn never_backwards(
        &self,
        key: &[u8],
        now: clock::Instant,
        window: Duration,
        source: SlotSource,
        reply: &mut Reply,
    ) {
        let Some(slot) = reply
            .slot
            .or_else(|| fresh::answer_slot(source, reply.result.get()))
        else {
            return;
        };
        let ceiling = self.cx.upstreams.ceiling.limit(now);
        if let Some(floor) = self.served.served(key, slot, now, window, ceiling)
            && slot < floor
        {
            reply.stale = Some(floor - slot);
        }
        reply.slot = Some(slot);
    }
}

/// What a pool built after `old` (a reload) keeps of it (see [`Pool::new_after`]): the
/// served slots store it returns, and the slot ceiling and the cluster it belongs to,
/// seeded into `upstreams`. `None` when the new config keeps none of the old endpoints.
fn carry_over(
    settings: &Settings,
    upstreams: &Upstreams,
    old: &Core,
) -> Option<Arc<dyn ServedSlots>> {
    let kept = old
        .urls
        .iter()
        .zip(&old.cx.upstreams.endpoints)
        .filter(|(_, ep)| !ep.stats.foreign())
        .any(|(was, _)| {
            settings
                .endpoints
                .iter()
                .any(|e| same_place(&was.0, &e.url.0))
        });
    if !kept {
        return None;
    }
    if settings.health.interval.is_some() {
        upstreams.ceiling.inherit(&old.cx.upstreams.ceiling);
        // Checked against this pool's own majority once the health loop has it.
        *upstreams.inherited_cluster.lock() = old.cx.upstreams.cluster();
    }
    Some(old.served.clone())
}

/// Whether two endpoint URLs name the same place: scheme, host, port and path (not the
/// user info or query, where API keys go).
fn same_place(a: &http::Uri, b: &http::Uri) -> bool {
    a.scheme_str() == b.scheme_str()
        && a.host() == b.host()
        && a.port_u16() == b.port_u16()
        && a.path() == b.path()
}
