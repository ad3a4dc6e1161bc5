//! [`Pool`]: the library's entry point. It owns the endpoints and their stats, resolves a
//! call's policy (request over method over default), ranks endpoints into a plan, runs
//! the strategy, and reports what happened.
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

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::budget::{HedgeBudget, HedgeBudgetSnapshot};
use crate::cache::{self, CachePolicy, ResponseCache};
use crate::coalesce::{self, InFlight};
use crate::config::{self, Config, ConfigError, HealthConfig, HedgeConfig, PolicyConfig};
use crate::endpoint::Endpoint;
use crate::error::{CallError, ErrorReason};
use crate::jsonrpc;
use crate::select::Plan;
use crate::stats::EndpointSnapshot;
use crate::strategy::{self, Attempts, CallCtx};
use crate::{Strategy, telemetry};

/// Strategy used when neither the request, the method nor `[default]` names one: the
/// cheapest, as the design says.
pub const DEFAULT_STRATEGY: Strategy = Strategy::Failover;

/// A set of upstream endpoints that answers JSON-RPC calls as one. Cheap to clone (all
/// clones share endpoints, connections and stats).
#[derive(Debug, Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

/// State shared by a pool's clones, its calls and its health loop.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Endpoints in config order; `Endpoint::index` is the position here.
    pub(crate) endpoints: Vec<Arc<Endpoint>>,
    /// `dual` pairs, as endpoint indexes.
    pub(crate) pairs: Vec<(usize, usize)>,
    /// Attempt timeout when request, method and endpoint set none.
    pub(crate) default_timeout: Duration,
    /// Largest upstream body accepted.
    pub(crate) max_response_bytes: usize,
    /// Pool-wide budget of hedged attempts.
    pub(crate) hedge_budget: HedgeBudget,
    /// Hedge delay settings.
    hedge: HedgeConfig,
    /// `[default]` policy.
    default_policy: PolicyConfig,
    /// `[method.X]` policies as written (unset fields fall back to `default_policy`).
    methods: HashMap<String, PolicyConfig>,
    /// Health loop settings.
    pub(crate) health: HealthConfig,
    /// Source of upstream request ids, unique per call so a mixed-up answer is caught.
    next_id: AtomicU64,
    /// Final (and TTL-cached) answers; `None` when `[cache] max_bytes = 0`.
    cache: Option<ResponseCache>,
    /// Identical calls in flight, when coalescing is on.
    in_flight: Option<Arc<InFlight>>,
}

impl Shared {
    /// The hedge delay while waiting on `ep` for `method`.
    pub(crate) fn hedge_delay(&self, ep: &Endpoint, method: &str) -> Duration {
        let q = ep
            .stats
            .latency_quantile(std::time::Instant::now(), method, self.hedge.percentile);
        strategy::hedge_delay(
            q,
            config::ms(self.hedge.min_delay_ms),
            config::ms(self.hedge.initial_delay_ms),
        )
    }
}

/// A successful call.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The upstream's `result`, byte for byte.
    pub result: Box<RawValue>,
    /// Name of the endpoint whose answer this is.
    pub endpoint: Arc<str>,
    /// Strategy that ran.
    pub strategy: Strategy,
    /// Upstream attempts the call launched.
    pub attempts: u32,
    /// Time from start to answer.
    pub latency: Duration,
    /// True if the answer is empty (`null` where others might know more) because no
    /// endpoint had more before the deadline.
    pub empty: bool,
    /// True if the answer came from the response cache (then `attempts` is 0).
    pub cached: bool,
    /// True if the answer was shared from an identical call in flight at the same time.
    pub coalesced: bool,
}

/// A snapshot of the pool for `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct PoolStatus {
    /// Whether at least one endpoint can take calls.
    pub healthy: bool,
    /// Highest slot any endpoint reported.
    pub best_slot: Option<u64>,
    /// Per-endpoint stats.
    pub endpoints: Vec<EndpointSnapshot>,
    /// Hedge budget counters.
    pub hedge: HedgeBudgetSnapshot,
    /// Entries in the response cache (`None` when the cache is off).
    pub cache_entries: Option<u64>,
}

impl Pool {
    /// Builds a pool from a validated config. Inside a Tokio runtime this also starts the
    /// health loop (unless `health.interval_ms = 0`); it stops when the last clone of the
    /// pool is dropped.
    pub fn from_config(config: Config) -> Result<Pool, ConfigError> {
        config.validate()?;
        let now = std::time::Instant::now();
        let endpoints = config
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| Endpoint::new(i, e, config.breaker.clone(), now).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let roles: Vec<_> = config.endpoints.iter().map(|e| e.role).collect();
        let shared = Arc::new(Shared {
            pairs: strategy::dual_pairs(&roles),
            endpoints,
            default_timeout: config::ms(
                config
                    .default
                    .timeout_ms
                    .unwrap_or(config::DEFAULT_TIMEOUT_MS),
            ),
            max_response_bytes: config.limits.max_response_bytes,
            hedge_budget: HedgeBudget::new(config.hedge.budget),
            hedge: config.hedge.clone(),
            default_policy: config.default.clone(),
            methods: config.methods.clone().into_iter().collect(),
            health: config.health.clone(),
            next_id: AtomicU64::new(1),
            cache: (config.cache.max_bytes > 0).then(|| ResponseCache::new(config.cache.max_bytes)),
            in_flight: config.cache.coalesce.then(|| Arc::new(InFlight::default())),
        });
        if shared.health.interval_ms > 0 && tokio::runtime::Handle::try_current().is_ok() {
            crate::health::spawn(Arc::downgrade(&shared));
        }
        Ok(Pool { shared })
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
        CallBuilder::new(self, Cow::Borrowed(method), params)
    }

    /// Starts a call whose params are already JSON (the gateway's path: no re-encoding).
    pub fn call_raw<'a>(
        &'a self,
        method: &'a str,
        params: Option<&'a RawValue>,
    ) -> CallBuilder<'a> {
        CallBuilder::new(
            self,
            Cow::Borrowed(method),
            params.map_or(Params::None, Params::Borrowed),
        )
    }

    /// Endpoint names in config order.
    pub fn endpoint_names(&self) -> Vec<String> {
        self.shared
            .endpoints
            .iter()
            .map(|e| e.name.to_string())
            .collect()
    }

    /// The strategy a call of `method` uses unless the request overrides it.
    pub fn strategy_for(&self, method: &str) -> Strategy {
        self.shared
            .policy(method)
            .strategy
            .unwrap_or(DEFAULT_STRATEGY)
    }

    /// Whether at least one endpoint can take calls now (circuit closed or due a probe).
    pub fn is_healthy(&self) -> bool {
        let now = std::time::Instant::now();
        self.shared
            .endpoints
            .iter()
            .any(|e| e.stats.peek(now) != crate::stats::Admission::Rejected)
    }

    /// A snapshot of every endpoint's stats.
    pub fn status(&self) -> PoolStatus {
        let now = std::time::Instant::now();
        PoolStatus {
            healthy: self.is_healthy(),
            best_slot: self
                .shared
                .endpoints
                .iter()
                .filter_map(|e| e.stats.slot())
                .max(),
            endpoints: self
                .shared
                .endpoints
                .iter()
                .map(|e| e.stats.snapshot(now, &e.name, e.role))
                .collect(),
            hedge: self.shared.hedge_budget.snapshot(),
            cache_entries: self.shared.cache.as_ref().map(ResponseCache::len),
        }
    }
}

impl Shared {
    /// The policy for `method`: its table over `[default]`.
    fn policy(&self, method: &str) -> Cow<'_, PolicyConfig> {
        match self.methods.get(method) {
            Some(p) => Cow::Owned(p.or(&self.default_policy)),
            None => Cow::Borrowed(&self.default_policy),
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
/// method's policy, then `[default]`.
#[derive(Debug)]
#[must_use = "a call does nothing until awaited"]
pub struct CallBuilder<'a> {
    pool: &'a Pool,
    method: Cow<'a, str>,
    params: Params<'a>,
    overrides: PolicyConfig,
    attempt_timeout: Option<Duration>,
    deadline: Option<Duration>,
}

impl<'a> CallBuilder<'a> {
    fn new(pool: &'a Pool, method: Cow<'a, str>, params: Params<'a>) -> Self {
        Self {
            pool,
            method,
            params,
            overrides: PolicyConfig::default(),
            attempt_timeout: None,
            deadline: None,
        }
    }

    /// Overrides the strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.overrides.strategy = Some(strategy);
        self
    }

    /// The call's time budget: every attempt times out by then and the call ends by then.
    /// (The seed's `{timeout: 50}`: "50 ms max".)
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self.deadline = Some(timeout);
        self
    }

    /// Overrides only the per-attempt timeout, leaving the call deadline to the policy.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Overrides only the call deadline.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
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
        self.overrides
            .strategy
            .unwrap_or_else(|| self.pool.strategy_for(&self.method))
    }
}

impl<'a> IntoFuture for CallBuilder<'a> {
    type Output = Result<Reply, CallError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Reply, CallError>> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        let started = Instant::now();
        let shared = self.pool.shared.clone();
        let policy = self.overrides.or(&shared.policy(&self.method));
        let strategy = policy.strategy.unwrap_or(DEFAULT_STRATEGY);
        let params = match &self.params {
            Params::None => None,
            Params::Borrowed(p) => Some(*p),
            Params::Owned(p) => Some(&**p),
            Params::Invalid(msg) => {
                let err = CallError {
                    reason: ErrorReason::InvalidRequest(msg.clone()),
                    strategy,
                    attempts: 0,
                    latency: Duration::ZERO,
                };
                return Box::pin(std::future::ready(Err(err)));
            }
        };
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let body = jsonrpc::request_body(id, &self.method, params);
        // Per-attempt timeout: request, then the method's own, then (per endpoint) the
        // endpoint's, then `[default]`.
        let method_timeout = shared
            .methods
            .get(&*self.method)
            .and_then(|p| p.timeout_ms)
            .map(config::ms);
        let timeout = self.attempt_timeout.or(method_timeout);
        let base = timeout.unwrap_or(shared.default_timeout);
        let deadline = self
            .deadline
            .or(policy.deadline_ms.map(config::ms))
            .unwrap_or(base * 2);
        let ctx = CallCtx {
            method: Arc::from(&*self.method),
            body,
            id,
            rule: jsonrpc::empty_rule(&self.method),
            timeout,
            deadline: started + deadline,
            fanout: policy.fanout,
            quorum: policy.quorum.unwrap_or(config::DEFAULT_QUORUM),
            max_attempts: policy.max_attempts.unwrap_or(config::DEFAULT_MAX_ATTEMPTS),
            retries: policy.retries.unwrap_or(config::DEFAULT_RETRIES),
            shared: shared.clone(),
        };
        let cache_policy = match &shared.cache {
            Some(_) => cache::policy(&self.method, params, policy.cache_ttl_ms.map(config::ms)),
            None => CachePolicy::Never,
        };
        let share = shared.in_flight.is_some() && coalesce::coalescable(&self.method);
        if cache_policy == CachePolicy::Never && !share {
            return Box::pin(execute(ctx, strategy, started));
        }
        // The cache keys on what was asked (method and params bytes as sent); coalescing
        // also on how, since a call asking for consensus must not take a race's answer.
        let params_text = params.map_or("", RawValue::get);
        let cache_key: Arc<str> = format!("{}\n{}", self.method, params_text).into();
        let share_key: Arc<str> =
            format!("{}\n{}\n{}", self.method, strategy.as_str(), params_text).into();
        Box::pin(async move {
            let method = ctx.method.clone();
            let cached = match (&shared.cache, cache_policy) {
                (Some(cache), policy) if policy != CachePolicy::Never => cache.get(&cache_key),
                _ => None,
            };
            if let Some(hit) = cached {
                telemetry::call(&ctx.method, strategy, "cached", 0, started.elapsed());
                return Ok(Reply {
                    result: hit,
                    endpoint: Arc::from("cache"),
                    strategy,
                    attempts: 0,
                    latency: started.elapsed(),
                    empty: false,
                    cached: true,
                    coalesced: false,
                });
            }
            let result = match &shared.in_flight {
                Some(in_flight) if share => {
                    let (mut result, joined) = in_flight
                        .run(share_key, execute(ctx, strategy, started))
                        .await;
                    if let (Ok(reply), true) = (&mut result, joined) {
                        reply.coalesced = true;
                        telemetry::coalesced(&method);
                    }
                    result
                }
                _ => execute(ctx, strategy, started).await,
            };
            if let (Ok(reply), Some(cache)) = (&result, &shared.cache)
                && !reply.empty
                && !reply.coalesced
            {
                cache.insert(cache_key, &reply.result, cache_policy);
            }
            result
        })
    }
}

async fn execute(ctx: CallCtx, strategy: Strategy, started: Instant) -> Result<Reply, CallError> {
    let mut plan = Plan::build(&ctx.shared.endpoints, &ctx.method, started.into_std());
    let mut attempts = Attempts::new(&ctx);
    let mut result = strategy::run(strategy, &mut attempts, &plan).await;
    // Every endpoint's rate-limit budget is spent: wait for the first to refill rather
    // than fail (or exceed a provider's limit), as long as the deadline allows.
    while attempts.launched() == 0 && attempts.budget_blocked {
        let now = std::time::Instant::now();
        let wait = ctx
            .shared
            .endpoints
            .iter()
            .map(|e| e.stats.budget_wait(now, e.weight(&ctx.method)))
            .min()
            .unwrap_or_default()
            .max(Duration::from_millis(1));
        if Instant::now() + wait >= ctx.deadline {
            result = Err(ErrorReason::OverBudget);
            break;
        }
        tokio::time::sleep(wait).await;
        attempts.budget_blocked = false;
        plan = Plan::build(
            &ctx.shared.endpoints,
            &ctx.method,
            std::time::Instant::now(),
        );
        result = strategy::run(strategy, &mut attempts, &plan).await;
    }
    let over_budget = matches!(result, Err(ErrorReason::OverBudget));
    if attempts.launched() == 0 && !over_budget && !plan.last_resort().is_empty() {
        // Every circuit is open: trying the best of them beats failing without trying.
        result = strategy::last_resort(&mut attempts, plan.last_resort()).await;
    }
    if strategy != Strategy::Consensus {
        for _ in 0..ctx.retries {
            let unsatisfied = match &result {
                Ok(win) => win.missing > 0,
                Err(reason) => matches!(reason, ErrorReason::AllFailed { .. }),
            };
            if !unsatisfied || attempts.expired() {
                break;
            }
            if let Err(other) = attempts.restore(result) {
                result = Err(other);
                break;
            }
            if attempts.readmit_failed() == 0 {
                result = attempts.finish();
                break;
            }
            result = strategy::retry_round(&mut attempts, &plan).await;
        }
    }
    let latency = started.elapsed();
    let n = attempts.launched();
    match result {
        Ok(win) => {
            win.endpoint.stats.record_win();
            telemetry::win(&win.endpoint.name);
            let empty = win.missing > 0;
            telemetry::call(
                &ctx.method,
                strategy,
                if empty { "empty" } else { "success" },
                n,
                latency,
            );
            Ok(Reply {
                result: win.result,
                endpoint: win.endpoint.name.clone(),
                strategy,
                attempts: n,
                latency,
                empty,
                cached: false,
                coalesced: false,
            })
        }
        Err(reason) => {
            let err = CallError {
                reason,
                strategy,
                attempts: n,
                latency,
            };
            telemetry::call(&ctx.method, strategy, err.label(), n, latency);
            Err(err)
        }
    }
}
