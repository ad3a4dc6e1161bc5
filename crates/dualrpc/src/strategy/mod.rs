//! Strategies: how one call is spread over endpoints, and the attempt machinery they share.
//!
//! Every strategy is a small async function over an [`Attempts`] set and a [`Plan`]: it
//! decides *when* to launch an attempt on *which* endpoint and when the call is over. The
//! rules every strategy shares live here, in [`Attempts::note`], so that none can get them
//! wrong on its own:
//!
//! - the first **usable success** wins — an error or timeout never beats a later success;
//! - an **empty** answer (`null` where another node may already know the thing) is kept as
//!   a fallback and returned only when nothing better can arrive before the deadline;
//! - a **deterministic** JSON-RPC error ends the call at once and reaches the client
//!   unchanged;
//! - anything else is the endpoint's failure, recorded by kind and endpoint name.
//!
//! Each attempt runs in its own task. When a call ends, its losing attempts keep running
//! until they answer or hit their own timeout, so their latency is still recorded (bounded:
//! no attempt outlives its timeout) and selection is not biased toward past winners.

mod broadcast;
mod consensus;
mod dual;
mod failover;
mod hedge;
mod race;

pub(crate) use dual::pairs as dual_pairs;
pub(crate) use failover::{last_resort, retry_round};
pub(crate) use hedge::delay as hedge_delay;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::endpoint::Endpoint;
use crate::error::{AttemptFailure, ErrorReason};
use crate::jsonrpc::EmptyRule;
use crate::outcome::{FailureKind, Outcome};
use crate::pool::Shared;
use crate::select::Plan;

/// How a call is spread over endpoints. See `DESIGN.md` and each strategy's module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Best endpoint; on failure the next best, up to `max_attempts`. Cheapest.
    Failover,
    /// Several endpoints at once; the first usable success wins. Fastest.
    Race,
    /// Best endpoint, then the next after an adaptive delay or at once on error.
    Hedge,
    /// Several endpoints; answer once `quorum` agree on the result's value.
    Consensus,
    /// Primary+secondary pairs: one pair races, the next pair if both fail.
    Dual,
    /// Every endpoint; first success returned, the rest still complete.
    Broadcast,
}

impl Strategy {
    /// Every strategy, in the order the docs list them.
    pub const ALL: [Strategy; 6] = [
        Strategy::Failover,
        Strategy::Race,
        Strategy::Hedge,
        Strategy::Consensus,
        Strategy::Dual,
        Strategy::Broadcast,
    ];

    /// The lowercase name used in config, headers, paths and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Failover => "failover",
            Strategy::Race => "race",
            Strategy::Hedge => "hedge",
            Strategy::Consensus => "consensus",
            Strategy::Dual => "dual",
            Strategy::Broadcast => "broadcast",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown strategy name.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown strategy `{0}`: expected one of failover, race, hedge, consensus, dual, broadcast"
)]
pub struct UnknownStrategy(pub String);

impl FromStr for Strategy {
    type Err = UnknownStrategy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Strategy::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownStrategy(s.chars().take(32).collect()))
    }
}

/// Runs `strategy` for one call.
pub(crate) async fn run(
    strategy: Strategy,
    a: &mut Attempts<'_>,
    plan: &Plan,
) -> Result<Win, ErrorReason> {
    match strategy {
        Strategy::Failover => failover::run(a, plan).await,
        Strategy::Race => race::run(a, plan).await,
        Strategy::Hedge => hedge::run(a, plan).await,
        Strategy::Consensus => consensus::run(a, plan).await,
        Strategy::Dual => dual::run(a, plan).await,
        Strategy::Broadcast => broadcast::run(a, plan).await,
    }
}

/// What one call needs to launch attempts: prepared once, shared by all of them.
#[derive(Debug)]
pub(crate) struct CallCtx {
    /// The pool's endpoints and settings.
    pub(crate) shared: Arc<Shared>,
    /// JSON-RPC method, for per-method stats and emptiness.
    pub(crate) method: Arc<str>,
    /// The upstream request bytes, identical for every attempt.
    pub(crate) body: Bytes,
    /// The id inside `body`, checked against every answer.
    pub(crate) id: u64,
    /// When a result counts as empty.
    pub(crate) rule: EmptyRule,
    /// Per-attempt timeout set by the request or the method; `None` defers to the
    /// endpoint's own, then the default.
    pub(crate) timeout: Option<Duration>,
    /// Deadline of the whole call.
    pub(crate) deadline: Instant,
    /// Endpoints `race`/`consensus` call at once (`None` = all preferred).
    pub(crate) fanout: Option<usize>,
    /// Agreeing endpoints `consensus` needs.
    pub(crate) quorum: usize,
    /// Most attempts `failover`/`hedge` make.
    pub(crate) max_attempts: usize,
    /// Retry rounds after only failures or only empty answers.
    pub(crate) retries: usize,
}

/// The answer a strategy settled on.
#[derive(Debug)]
pub(crate) struct Win {
    /// Whose answer it is.
    pub(crate) endpoint: Arc<Endpoint>,
    /// The `result`, verbatim.
    pub(crate) result: Box<RawValue>,
    /// Null parts (0 unless only empty answers arrived).
    pub(crate) missing: u32,
}

/// One settled attempt.
#[derive(Debug)]
pub(crate) struct Settled {
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) outcome: Outcome,
}

/// What [`Attempts::note`] made of a settled attempt.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// A usable success: the call is won.
    Win(Win),
    /// The call is over with this error (deterministic JSON-RPC error).
    Final(ErrorReason),
    /// Failure or empty answer recorded; keep going.
    Continue,
}

/// What waiting produced.
#[derive(Debug)]
pub(crate) enum Event {
    /// An attempt settled.
    Settled(Settled),
    /// The caller's timer (e.g. the hedge delay) fired first.
    Timer,
    /// Nothing is in flight.
    Idle,
    /// The call's deadline passed.
    Deadline,
}

/// The attempts of one call: launches them, collects what they settle to, and keeps the
/// failure list and best empty answer for the final verdict.
#[derive(Debug)]
pub(crate) struct Attempts<'c> {
    pub(crate) ctx: &'c CallCtx,
    tx: mpsc::UnboundedSender<Settled>,
    rx: mpsc::UnboundedReceiver<Settled>,
    /// Attempts launched and not yet settled.
    pending: usize,
    /// Attempts launched in all.
    launched: u32,
    /// Endpoint indexes already tried, so no strategy calls an endpoint twice per call.
    tried: Vec<bool>,
    /// Endpoint indexes launched and not yet settled: reported as timeouts if the
    /// deadline passes first.
    outstanding: Vec<bool>,
    /// Endpoint indexes whose last attempt in this call failed: candidates for the retry
    /// round.
    failed_last: Vec<bool>,
    /// Endpoint indexes readmitted for the retry round.
    readmitted: Vec<bool>,
    failures: Vec<AttemptFailure>,
    best_empty: Option<Win>,
    /// Set when the deadline passed while attempts were still out.
    deadline_hit: bool,
    /// Set when an endpoint was skipped because its rate-limit budget was spent.
    pub(crate) budget_blocked: bool,
}

impl<'c> Attempts<'c> {
    /// An empty set for `ctx`.
    pub(crate) fn new(ctx: &'c CallCtx) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            ctx,
            tx,
            rx,
            pending: 0,
            launched: 0,
            tried: vec![false; ctx.shared.endpoints.len()],
            outstanding: vec![false; ctx.shared.endpoints.len()],
            failed_last: vec![false; ctx.shared.endpoints.len()],
            readmitted: vec![false; ctx.shared.endpoints.len()],
            failures: Vec::new(),
            best_empty: None,
            deadline_hit: false,
            budget_blocked: false,
        }
    }

    /// Attempts launched so far.
    pub(crate) fn launched(&self) -> u32 {
        self.launched
    }

    /// Attempts still out.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// Launches an attempt on `ep` unless it was tried already, its circuit or a
    /// Retry-After keeps it out, or the deadline has passed. Returns whether it launched.
    pub(crate) fn launch(&mut self, ep: &Arc<Endpoint>) -> bool {
        self.launch_inner(ep, false)
    }

    /// Launches `ep` again although it was tried in this call (consensus re-asks a node
    /// that answered empty).
    pub(crate) fn relaunch(&mut self, ep: &Arc<Endpoint>) -> bool {
        if self.outstanding[ep.index] {
            return false;
        }
        self.tried[ep.index] = false;
        self.launch(ep)
    }

    /// Like [`Attempts::launch`] but ignores the circuit breaker: the last resort when every
    /// endpoint's circuit is open.
    pub(crate) fn launch_forced(&mut self, ep: &Arc<Endpoint>) -> bool {
        self.launch_inner(ep, true)
    }

    /// Launches an *extra* attempt — one the call could do without (a race's second
    /// endpoint, a hedge, a vote beyond the quorum) — only while `ep`'s rate-limit budget
    /// has headroom. This is adaptive fan-out: with plenty of budget every strategy runs at
    /// full width; as budgets tighten, extras stop first and first attempts keep the rest.
    pub(crate) fn launch_extra(&mut self, ep: &Arc<Endpoint>) -> bool {
        if self.tried[ep.index] {
            return false;
        }
        if !ep
            .stats
            .headroom(std::time::Instant::now(), ep.weight(&self.ctx.method))
        {
            crate::telemetry::fanout_shrunk(&ep.name);
            return false;
        }
        self.launch(ep)
    }

    fn launch_inner(&mut self, ep: &Arc<Endpoint>, force: bool) -> bool {
        if self.tried[ep.index] {
            return false;
        }
        let now = Instant::now();
        let remaining = self.ctx.deadline.saturating_duration_since(now);
        if remaining.is_zero() {
            return false;
        }
        // The budget first: an attempt the provider's rate limit cannot take is never sent.
        let cost = ep.weight(&self.ctx.method);
        if !ep.stats.try_spend(now.into_std(), cost) {
            self.budget_blocked = true;
            return false;
        }
        // A forced (last-resort) attempt ignores the circuit but not a provider's 429.
        let refused = if force {
            ep.stats.cooling_down(now.into_std())
        } else {
            ep.stats.admit(now.into_std()) == crate::stats::Admission::Rejected
        };
        if refused {
            ep.stats.refund(cost);
            return false;
        }
        self.tried[ep.index] = true;
        self.outstanding[ep.index] = true;
        self.pending += 1;
        self.launched += 1;
        let shared = &self.ctx.shared;
        let timeout = self
            .ctx
            .timeout
            .or(ep.timeout)
            .unwrap_or(shared.default_timeout)
            .min(remaining);
        let attempt = Attempt {
            endpoint: ep.clone(),
            body: self.ctx.body.clone(),
            id: self.ctx.id,
            rule: self.ctx.rule,
            method: self.ctx.method.clone(),
            max_bytes: shared.max_response_bytes,
            timeout,
        };
        ep.stats.begin_attempt();
        let guard = SettleGuard {
            tx: Some(self.tx.clone()),
            endpoint: ep.clone(),
        };
        tokio::spawn(attempt.run(guard));
        true
    }

    /// Waits for the next settled attempt, the deadline, or `timer` (if given).
    pub(crate) async fn next_until(&mut self, timer: Option<Instant>) -> Event {
        if self.pending == 0 {
            return Event::Idle;
        }
        let until = timer.map_or(self.ctx.deadline, |t| t.min(self.ctx.deadline));
        match tokio::time::timeout_at(until, self.rx.recv()).await {
            Ok(Some(settled)) => {
                self.pending -= 1;
                self.outstanding[settled.endpoint.index] = false;
                Event::Settled(settled)
            }
            // Unreachable while `self.tx` is alive; treat as idle rather than hang.
            Ok(None) => Event::Idle,
            Err(_) if timer.is_some_and(|t| t < self.ctx.deadline) => Event::Timer,
            Err(_) => {
                self.deadline_hit = true;
                Event::Deadline
            }
        }
    }

    /// Waits for the next settled attempt or the deadline.
    pub(crate) async fn next(&mut self) -> Event {
        self.next_until(None).await
    }

    /// Applies the shared rules (module doc) to a settled attempt.
    pub(crate) fn note(&mut self, settled: Settled) -> Verdict {
        let Settled { endpoint, outcome } = settled;
        self.failed_last[endpoint.index] = matches!(outcome, Outcome::Failed { .. });
        match outcome {
            Outcome::Success { result, missing: 0 } => Verdict::Win(Win {
                endpoint,
                result,
                missing: 0,
            }),
            Outcome::Success { result, missing } => {
                if self.best_empty.as_ref().is_none_or(|b| missing < b.missing) {
                    self.best_empty = Some(Win {
                        endpoint,
                        result,
                        missing,
                    });
                }
                Verdict::Continue
            }
            Outcome::Deterministic { error } => Verdict::Final(ErrorReason::Rpc {
                error,
                endpoint: endpoint.name.clone(),
            }),
            Outcome::Failed { kind, .. } => {
                self.failures.push(AttemptFailure {
                    endpoint: endpoint.name.clone(),
                    kind,
                });
                Verdict::Continue
            }
        }
    }

    /// Readmits every endpoint whose last attempt failed (and is not still out) for one
    /// more attempt, keeping the failures and the best empty answer seen so far. Returns
    /// how many were readmitted.
    pub(crate) fn readmit_failed(&mut self) -> usize {
        let mut n = 0;
        for i in 0..self.tried.len() {
            let again = self.failed_last[i] && !self.outstanding[i];
            self.readmitted[i] = again;
            if again {
                self.tried[i] = false;
                self.failed_last[i] = false;
                n += 1;
            }
        }
        n
    }

    /// Whether `ep` was readmitted for the retry round.
    pub(crate) fn is_readmitted(&self, ep: &Endpoint) -> bool {
        self.readmitted[ep.index]
    }

    /// Puts a strategy's verdict back so a retry round can improve on it: an empty answer
    /// becomes the fallback again, failures rejoin the list.
    pub(crate) fn restore(&mut self, result: Result<Win, ErrorReason>) -> Result<(), ErrorReason> {
        match result {
            Ok(win) => {
                self.best_empty = Some(win);
                Ok(())
            }
            Err(ErrorReason::AllFailed { failures }) => {
                self.failures = failures;
                Ok(())
            }
            Err(other) => Err(other),
        }
    }

    /// Takes the kept empty answer, for strategies that count empty answers themselves.
    pub(crate) fn take_empty(&mut self) -> Option<Win> {
        self.best_empty.take()
    }

    /// Takes the failures recorded so far.
    pub(crate) fn take_failures(&mut self) -> Vec<AttemptFailure> {
        std::mem::take(&mut self.failures)
    }

    /// The verdict when no usable success came: the best empty answer if any ("that is all
    /// there is"), else the list of failures.
    pub(crate) fn finish(&mut self) -> Result<Win, ErrorReason> {
        if let Some(win) = self.best_empty.take() {
            return Ok(win);
        }
        let mut failures = std::mem::take(&mut self.failures);
        // Attempts still out when the call gave up ran out of time as far as it knows.
        for ep in &self.ctx.shared.endpoints {
            if self.outstanding[ep.index] {
                failures.push(AttemptFailure {
                    endpoint: ep.name.clone(),
                    kind: FailureKind::Timeout,
                });
            }
        }
        if self.launched == 0 {
            Err(ErrorReason::NoEndpoint)
        } else if self.deadline_hit {
            Err(ErrorReason::Deadline { failures })
        } else {
            Err(ErrorReason::AllFailed { failures })
        }
    }

    /// Waits until a usable success, a deterministic error, the deadline, or until nothing
    /// is in flight. Most strategies are "launch some, then `settle`".
    pub(crate) async fn settle(&mut self) -> Option<Result<Win, ErrorReason>> {
        loop {
            match self.next().await {
                Event::Settled(s) => match self.note(s) {
                    Verdict::Win(w) => return Some(Ok(w)),
                    Verdict::Final(e) => return Some(Err(e)),
                    Verdict::Continue => {}
                },
                Event::Deadline => return Some(self.finish()),
                Event::Idle | Event::Timer => return None,
            }
        }
    }

    /// Whether the deadline has passed.
    pub(crate) fn expired(&self) -> bool {
        Instant::now() >= self.ctx.deadline
    }
}

/// One attempt, run in its own task.
struct Attempt {
    endpoint: Arc<Endpoint>,
    body: Bytes,
    id: u64,
    rule: EmptyRule,
    method: Arc<str>,
    max_bytes: usize,
    timeout: Duration,
}

impl Attempt {
    async fn run(self, guard: SettleGuard) {
        let ep = &self.endpoint;
        let started = std::time::Instant::now();
        let outcome = match tokio::time::timeout(
            self.timeout,
            ep.send(self.body, self.id, self.rule, self.max_bytes),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Outcome::failed(FailureKind::Timeout),
        };
        let latency = started.elapsed();
        let changed = ep
            .stats
            .record(std::time::Instant::now(), &self.method, latency, &outcome);
        crate::telemetry::attempt(&ep.name, &outcome, latency);
        if changed {
            crate::telemetry::circuit_changed(ep);
        }
        guard.settle(Settled {
            endpoint: self.endpoint.clone(),
            outcome,
        });
    }
}

/// Guarantees that every launched attempt settles exactly once and leaves the in-flight
/// count: if the attempt's task panics or is dropped before answering, the guard reports
/// an `internal` failure so the call never waits for an answer that cannot come.
struct SettleGuard {
    tx: Option<mpsc::UnboundedSender<Settled>>,
    endpoint: Arc<Endpoint>,
}

impl SettleGuard {
    fn settle(mut self, settled: Settled) {
        if let Some(tx) = self.tx.take() {
            // The call may be over already (a loser); then nobody listens, by design.
            let _ = tx.send(settled);
        }
    }
}

impl Drop for SettleGuard {
    fn drop(&mut self) {
        self.endpoint.stats.end_attempt();
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Settled {
                endpoint: self.endpoint.clone(),
                outcome: Outcome::failed(FailureKind::Internal),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_names_round_trip_case_insensitively() {
        for s in Strategy::ALL {
            assert_eq!(s.as_str().parse::<Strategy>().unwrap(), s);
            assert_eq!(s.as_str().to_uppercase().parse::<Strategy>().unwrap(), s);
        }
        let err = "fastest".parse::<Strategy>().unwrap_err().to_string();
        assert!(err.contains("fastest") && err.contains("hedge"), "{err}");
    }
}
