//! The attempt engine every strategy runs on: a [`Call`] (what is asked, under which
//! policy, until when) and its [`Attempts`] (which endpoints were asked, what they said).
//!
//! The rules every strategy shares live here, in [`Attempts::note`] and
//! [`Attempts::finish`], so that none can get them wrong on its own:
//!
//! - the first **usable success** wins — an error or timeout never beats a later success;
//! - an **empty** answer (`null` where another node may already know the thing) is kept as
//!   a fallback and returned only when nothing better can arrive before the deadline;
//! - a **deterministic** JSON-RPC error ends the call at once and reaches the client
//!   unchanged;
//! - a **node-specific** JSON-RPC error (slot skipped, history not available, method not
//!   found …) sends the call elsewhere, and when every endpoint that answered gave the
//!   same one, that error is the call's answer — not a gateway error;
//! - anything else is the endpoint's failure, recorded by kind and endpoint name.
//!
//! Each attempt runs with the endpoint's *configured* attempt timeout: a call's first
//! attempt inside the call's own task (most calls need no other, and a spawned task per
//! call costs an allocation, a copy of the future and a trip through the scheduler), every
//! further one in a task of its own. When a call ends — won, failed, out of budget, or
//! abandoned by its caller — attempts still out keep running until they answer or time out
//! (the first one then moves to a task of its own), and record what really happened:
//! selection is not biased toward past winners, and a caller's short budget never shows up
//! as an endpoint's timeout, failure or latency.
//!
//! An attempt that passes its timeout is the endpoint's timeout (stats, breaker) and the
//! strategy moves on as after any failure — but the request is not abandoned: until the
//! call's deadline its answer may still come, and a late *success* still counts, since a
//! timeout must never beat a later success. Every attempt ends with exactly one terminal
//! message ([`SettleGuard`]), even if its task panics, so the call never waits for an
//! answer that cannot come.

mod freshen;
mod inbox;
mod task;

use std::sync::Arc;

use smallvec::SmallVec;

use crate::budget::HedgeBudget;
use crate::catalog::{MethodInfo, MethodName};
use crate::clock::{self, Instant};
use crate::endpoint::Endpoint;
use crate::error::{AttemptFailure, ErrorReason};
use crate::fresh::SlotSource;
use crate::jsonrpc::{RawJson, Request};
use crate::outcome::{FailureKind, Outcome};
use crate::policy::Policy;
use crate::select::Plan;
use crate::settings::HedgeSettings;
use crate::upstreams::Upstreams;
use inbox::Inbox;
use task::{Attempt, Message, SettleGuard};

/// What the attempts and strategies of every call of a pool read: the endpoints and the
/// pool-wide settings that concern upstream calls.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) upstreams: Arc<Upstreams>,
    /// Largest upstream body accepted.
    pub(crate) max_response_bytes: usize,
    /// Hedge delay settings.
    pub(crate) hedge: HedgeSettings,
    /// Pool-wide budget of hedged attempts.
    pub(crate) hedge_budget: HedgeBudget,
    /// Per-call metric handles.
    pub(crate) metrics: crate::telemetry::CallMetrics,
    /// Which endpoint shows new signatures first.
    pub(crate) sightings: Arc<crate::sight::Sightings>,
}

/// One call, fixed at its start.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    /// The method, for per-method stats and rate-limit weights.
    pub(crate) method: MethodName,
    /// What the pool knows about the method.
    pub(crate) info: &'static MethodInfo,
    /// The upstream request every attempt sends.
    pub(crate) request: Request,
    /// How it runs.
    pub(crate) policy: Policy,
    /// When it started.
    pub(crate) started: Instant,
    /// When it must be over.
    pub(crate) deadline: Instant,
    /// The client's `minContextSlot`: no answer below it is served.
    pub(crate) min_slot: Option<u64>,
    /// The highest slot already served for this method and params within the monotonic
    /// window: an answer below it is served only if nothing fresher comes in time.
    pub(crate) floor: Option<u64>,
    /// The commitment asked for (`fresh::commitment`), to compare answers' slots with.
    pub(crate) commitment: usize,
}

/// The answer a strategy settled on.
#[derive(Debug)]
pub(crate) struct Win {
    /// Whose answer it is.
    pub(crate) endpoint: Arc<Endpoint>,
    /// The `result`, verbatim.
    pub(crate) result: RawJson,
    /// Null parts (0 unless only empty answers arrived).
    pub(crate) missing: u32,
    /// For consensus: how many distinct endpoints agreed, and the quorum asked for.
    pub(crate) agreement: Option<(u32, u32)>,
    /// How new the answer is (when the call needed to know; see `fresh`).
    pub(crate) slot: Option<u64>,
    /// Slots below the call's floor (0: fresh enough).
    pub(crate) behind: u64,
}

impl Win {
    /// A win of `result` from `endpoint`, nothing else known yet.
    pub(crate) fn new(endpoint: Arc<Endpoint>, result: RawJson, missing: u32) -> Win {
        Win {
            endpoint,
            result,
            missing,
            agreement: None,
            slot: None,
            behind: 0,
        }
    }

    /// Whether a better answer may still be worth waiting for: empty, or older than
    /// what was served before.
    pub(crate) fn wanting(&self) -> bool {
        self.missing > 0 || self.behind > 0
    }
}

/// One settled attempt.
#[derive(Debug)]
pub(crate) struct Settled {
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) outcome: Outcome,
    /// The answer's slot, if the attempt read it already (checking it against the pool's
    /// ceiling).
    pub(crate) slot: Option<u64>,
}

/// What [`Attempts::note`] made of a settled attempt.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// A usable success: the call is won.
    Win(Win),
    /// The call is over with this error (deterministic JSON-RPC error).
    Final(ErrorReason),
    /// Failure, node error or empty answer recorded; keep going.
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

/// Per-endpoint state within one call.
#[derive(Debug, Clone, Copy, Default)]
struct Mark {
    /// Asked in this call (no strategy asks an endpoint twice unless readmitted).
    tried: bool,
    /// Attempts out within their timeout.
    fresh: u32,
    /// Its last attempt failed: a candidate for the retry round.
    failed_last: bool,
    /// Readmitted for the retry round.
    readmitted: bool,
    /// Attempts out past their timeout: only a late success can still come.
    slow: u32,
}

/// The first node-specific error of a call and whether every later one had its code.
#[derive(Debug)]
struct NodeErrors {
    first: RawJson,
    endpoint: Arc<str>,
    code: i64,
    agree: bool,
}

/// The attempts of one call: launches them, collects what they settle to, and keeps what
/// the final verdict needs.
#[derive(Debug)]
pub(crate) struct Attempts<'c> {
    pub(crate) call: &'c Call,
    pub(crate) cx: &'c Context,
    /// Where this call's attempts report.
    inbox: Arc<Inbox>,
    /// The first attempt, while it runs in the call's own task.
    local: Local,
    /// Attempts launched and not yet ended (slow ones included).
    pending: usize,
    /// Of those, attempts past their timeout.
    slow: usize,
    /// Per attempt number: whether it is past its timeout (inline: few calls make more
    /// than a handful of attempts, and none should allocate for it).
    slow_attempts: SmallVec<[bool; 8]>,
    /// Attempts launched in all.
    launched: u32,
    /// Per endpoint index.
    marks: SmallVec<[Mark; 4]>,
    failures: Vec<AttemptFailure>,
    node_errors: Option<NodeErrors>,
    best_empty: Option<Win>,
    /// The freshest usable answer below the call's floor.
    /// (Boxed: rare, and every call in flight would carry its room.)
    best_stale: Option<Box<Win>>,
    /// Whether answers' slots are read (a freshness window or a floor applies).
    read_slots: bool,
    /// Set when the deadline passed while attempts were still out.
    deadline_hit: bool,
    /// Set when an endpoint was skipped because its rate-limit budget was spent.
    pub(crate) budget_blocked: bool,
}

impl<'c> Attempts<'c> {
    /// An empty set for `call`.
    pub(crate) fn new(call: &'c Call, cx: &'c Context) -> Self {
        Self {
            call,
            cx,
            inbox: Inbox::new(),
            local: Local(None),
            pending: 0,
            slow: 0,
            slow_attempts: SmallVec::new(),
            launched: 0,
            marks: smallvec::smallvec![Mark::default(); cx.upstreams.endpoints.len()],
            failures: Vec::new(),
            node_errors: None,
            best_empty: None,
            best_stale: None,
            read_slots: call.info.slot != SlotSource::None
                && (!call.policy.freshness_window.is_zero()
                    || call.min_slot.is_some()
                    || call.floor.is_some()),
            deadline_hit: false,
            budget_blocked: false,
        }
    }

    /// Attempts launched so far.
    pub(crate) fn launched(&self) -> u32 {
        self.launched
    }

    /// Attempts still out and within their timeout (slow ones may only still bring a late
    /// success).
    pub(crate) fn pending(&self) -> usize {
        self.pending - self.slow
    }

    /// Whether an attempt on `ep` is out within its timeout.
    pub(crate) fn out(&self, ep: &Endpoint) -> bool {
        self.marks[ep.index].fresh > 0
    }

    /// Whether `ep` was asked in this call.
    pub(crate) fn tried(&self, ep: &Endpoint) -> bool {
        self.marks[ep.index].tried
    }

    /// Launches a needed attempt on `ep` unless it was tried already, its circuit or a
    /// Retry-After keeps it out, its rate-limit budget is spent, or the deadline has
    /// passed. Returns whether it launched.
    pub(crate) fn launch(&mut self, ep: &Arc<Endpoint>) -> bool {
        self.launch_inner(ep, false)
    }

    /// Launches an *extra* attempt — one the call could do without (a race's second
    /// endpoint, a hedge, a vote beyond the quorum, a pair's second member) — only while
    /// `ep`'s rate-limit budget has headroom. This is adaptive fan-out: with plenty of
    /// budget every strategy runs at full width; as budgets tighten, extras stop first. A
    /// refused extra is not marked tried, so it stays a candidate for a needed attempt.
    pub(crate) fn launch_extra(&mut self, ep: &Arc<Endpoint>) -> bool {
        if self.marks[ep.index].tried {
            return false;
        }
        if !ep
            .stats
            .headroom(clock::now(), ep.weight(&self.call.method))
        {
            ep.metrics().fanout_shrunk();
            return false;
        }
        self.launch(ep)
    }

    /// Launches the first endpoint of `plan` not yet tried that takes an attempt (an extra
    /// one if `extra`). Returns it.
    pub(crate) fn launch_next(&mut self, plan: &Plan, extra: bool) -> Option<Arc<Endpoint>> {
        for ep in plan.iter() {
            if self.marks[ep.index].tried {
                continue;
            }
            let ok = if extra {
                self.launch_extra(ep)
            } else {
                self.launch(ep)
            };
            if ok {
                return Some(ep.clone());
            }
        }
        None
    }

    /// Launches `ep` again although it was asked in this call (consensus re-asks a node
    /// that answered empty or failed) — unless an attempt on it is still within its
    /// timeout.
    pub(crate) fn relaunch(&mut self, ep: &Arc<Endpoint>) -> bool {
        if self.marks[ep.index].fresh > 0 {
            return false;
        }
        self.marks[ep.index].tried = false;
        self.launch(ep)
    }

    /// [`Attempts::relaunch`] ignoring the circuit breaker (not a 429's cool-down).
    pub(crate) fn relaunch_forced(&mut self, ep: &Arc<Endpoint>) -> bool {
        if self.marks[ep.index].fresh > 0 {
            return false;
        }
        self.marks[ep.index].tried = false;
        self.launch_forced(ep)
    }

    /// Attempts out past their timeout (only a late success can still come from them).
    pub(crate) fn slow_out(&self) -> usize {
        self.slow
    }

    /// Like [`Attempts::launch`] but ignores the circuit breaker: the last resort when every
    /// endpoint's circuit is open.
    pub(crate) fn launch_forced(&mut self, ep: &Arc<Endpoint>) -> bool {
        self.launch_inner(ep, true)
    }

    fn launch_inner(&mut self, ep: &Arc<Endpoint>, force: bool) -> bool {
        // An endpoint on another cluster is never asked, whatever a strategy picked.
        if self.marks[ep.index].tried || ep.stats.foreign() {
            return false;
        }
        let now = clock::now();
        if now >= self.call.deadline {
            return false;
        }
        // The budget first: an attempt the provider's rate limit cannot take is never sent.
        let cost = ep.weight(&self.call.method);
        if !ep.stats.try_spend(now, cost) {
            self.budget_blocked = true;
            return false;
        }
        // A forced (last-resort) attempt ignores the circuit but not a provider's 429.
        let refused = if force {
            ep.stats.cooling_down(now)
        } else {
            ep.stats.admit(now) == crate::stats::Admission::Rejected
        };
        if refused {
            ep.stats.refund(cost);
            return false;
        }
        let mark = &mut self.marks[ep.index];
        mark.tried = true;
        mark.fresh += 1;
        let number = self.launched;
        self.slow_attempts.push(false);
        self.pending += 1;
        self.launched += 1;
        let attempt = Attempt {
            endpoint: ep.clone(),
            body: self.call.request.body.clone(),
            id: self.call.request.id,
            info: self.call.info,
            method: self.call.method.clone(),
            max_bytes: self.cx.max_response_bytes,
            timeout: self.call.policy.attempt_timeout(ep.timeout),
            deadline: self.call.deadline,
            launched: (number == 0).then_some(now),
            // Signature lists are watched for new signatures (who shows them first).
            sightings: (self.call.info.slot == SlotSource::FirstEntry)
                .then(|| (self.cx.sightings.clone(), self.call.request.key())),
        };
        ep.stats.begin_attempt();
        let guard = SettleGuard::new(self.inbox.clone(), ep.clone(), number);
        if number == 0 {
            // A panic in the attempt stays the attempt's (its guard reports `internal`),
            // as it would in a task of its own: the call goes on with other endpoints.
            let run = std::panic::AssertUnwindSafe(attempt.run(guard));
            self.local = Local(Some(Box::pin(async move {
                let _ = futures_util::FutureExt::catch_unwind(run).await;
            })));
        } else {
            tokio::spawn(attempt.run(guard));
        }
        true
    }

    /// Waits for the next settled attempt (a failure, a timeout, an answer, or a slow
    /// attempt's late success), the deadline, or `timer` (if given). `Idle` when nothing is
    /// out at all.
    pub(crate) async fn next_until(&mut self, timer: Option<Instant>) -> Event {
        let deadline = self.call.deadline;
        let until = timer.map_or(deadline, |t| t.min(deadline));
        loop {
            if self.pending == 0 {
                return Event::Idle;
            }
            // The first attempt makes progress while the call waits for a message.
            let (local, inbox) = (&mut self.local, &self.inbox);
            let recv = std::future::poll_fn(|cx| {
                if let Some(attempt) = &mut local.0
                    && attempt.as_mut().poll(cx).is_ready()
                {
                    local.0 = None;
                }
                inbox.poll_recv(cx)
            });
            let message = match tokio::time::timeout_at(until, recv).await {
                Ok(message) => message,
                Err(_) if timer.is_some_and(|t| t < deadline) => return Event::Timer,
                Err(_) => {
                    self.deadline_hit = true;
                    return Event::Deadline;
                }
            };
            match message {
                Message::Done(number, settled) => {
                    self.ended(number, settled.endpoint.index);
                    return Event::Settled(settled);
                }
                Message::Slow(number, endpoint) => {
                    self.slow_attempts[number as usize] = true;
                    self.slow += 1;
                    let mark = &mut self.marks[endpoint.index];
                    mark.fresh -= 1;
                    mark.slow += 1;
                    return Event::Settled(Settled {
                        endpoint,
                        outcome: Outcome::failed(FailureKind::Timeout),
                        slot: None,
                    });
                }
                Message::LateEnd(number, endpoint) => self.ended(number, endpoint.index),
            }
        }
    }

    /// Bookkeeping of attempt `number` on endpoint `index` ending.
    fn ended(&mut self, number: u32, index: usize) {
        let mark = &mut self.marks[index];
        if std::mem::take(&mut self.slow_attempts[number as usize]) {
            self.slow -= 1;
            mark.slow -= 1;
        } else {
            mark.fresh -= 1;
        }
        self.pending -= 1;
    }

    /// Waits for the next settled attempt or the deadline.
    pub(crate) async fn next(&mut self) -> Event {
        self.next_until(None).await
    }

    /// Applies the shared rules (module doc) to a settled attempt.
    pub(crate) fn note(&mut self, settled: Settled) -> Verdict {
        let Settled {
            endpoint,
            outcome,
            slot,
        } = settled;
        self.marks[endpoint.index].failed_last = matches!(outcome, Outcome::Failed { .. });
        match outcome {
            Outcome::Success { result, missing: 0 } => self.judge_fresh(endpoint, result, slot),
            Outcome::Success { result, missing } => {
                if self.best_empty.as_ref().is_none_or(|b| missing < b.missing) {
                    self.best_empty = Some(Win::new(endpoint, result, missing));
                }
                Verdict::Continue
            }
            Outcome::Deterministic { error } => Verdict::Final(ErrorReason::Rpc {
                error,
                endpoint: endpoint.name.clone(),
            }),
            Outcome::NodeError { error, code, kind } => {
                match &mut self.node_errors {
                    None => {
                        self.node_errors = Some(NodeErrors {
                            first: error,
                            endpoint: endpoint.name.clone(),
                            code,
                            agree: true,
                        })
                    }
                    Some(seen) => seen.agree &= seen.code == code,
                }
                self.failures.push(AttemptFailure {
                    endpoint: endpoint.name.clone(),
                    kind,
                });
                Verdict::Continue
            }
            Outcome::Failed { kind, .. } => {
                self.failures.push(AttemptFailure {
                    endpoint: endpoint.name.clone(),
                    kind,
                });
                Verdict::Continue
            }
        }
    }

    /// Readmits every endpoint whose last attempt failed (or is past its timeout — a
    /// stalled request says little about the next one) and has no attempt within its
    /// timeout out, for one more attempt, keeping the failures and the best empty answer
    /// seen so far. An endpoint that answered with a node-specific error is not asked
    /// again: it would say the same. Returns how many were readmitted.
    pub(crate) fn readmit_failed(&mut self) -> usize {
        let mut n = 0;
        for m in &mut self.marks {
            let again = m.failed_last && m.fresh == 0;
            m.readmitted = again;
            if again {
                m.tried = false;
                m.failed_last = false;
                n += 1;
            }
        }
        n
    }

    /// Whether `ep` was readmitted for the retry round.
    pub(crate) fn is_readmitted(&self, ep: &Endpoint) -> bool {
        self.marks[ep.index].readmitted
    }

    /// Puts a strategy's verdict back so a retry round can improve on it: an empty answer
    /// becomes the fallback again, failures rejoin the list.
    pub(crate) fn restore(&mut self, result: Result<Win, ErrorReason>) -> Result<(), ErrorReason> {
        match result {
            Ok(win) if win.behind > 0 => {
                self.best_stale = Some(Box::new(win));
                Ok(())
            }
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

    /// The verdict when no usable success came: the freshest answer below the floor, else
    /// the best empty answer, if any ("that is all there is"); else the node-specific error every answering endpoint agreed on; else
    /// the list of failures.
    pub(crate) fn finish(&mut self) -> Result<Win, ErrorReason> {
        self.conclude()
    }

    /// When a call has nothing better than `result` (only failures or an empty answer) and
    /// attempts past their timeout are still out, waits for a late success from one of
    /// them until the deadline; the late success, else `result`.
    pub(crate) async fn await_late(
        &mut self,
        result: Result<Win, ErrorReason>,
    ) -> Result<Win, ErrorReason> {
        while self.slow > 0 && !self.expired() {
            match self.next().await {
                Event::Settled(s) => match self.note(s) {
                    Verdict::Win(w) => return Ok(w),
                    Verdict::Final(e) => return Err(e),
                    Verdict::Continue => {}
                },
                Event::Idle | Event::Timer | Event::Deadline => break,
            }
        }
        result
    }

    fn conclude(&mut self) -> Result<Win, ErrorReason> {
        // An answer older than one served before beats an empty one: it has the data.
        if let Some(win) = self
            .best_stale
            .take()
            .map(|w| *w)
            .or_else(|| self.best_empty.take())
        {
            return Ok(win);
        }
        if let Some(errors) = self.node_errors.take() {
            if errors.agree {
                return Err(ErrorReason::Rpc {
                    error: errors.first,
                    endpoint: errors.endpoint,
                });
            }
            self.node_errors = Some(errors);
        }
        let mut failures = std::mem::take(&mut self.failures);
        // Attempts still out when the call gave up ran out of *its* time.
        for ep in &self.cx.upstreams.endpoints {
            if self.marks[ep.index].fresh > 0 {
                failures.push(AttemptFailure {
                    endpoint: ep.name.clone(),
                    kind: FailureKind::Timeout,
                });
            }
        }
        if self.launched == 0 && !self.expired() {
            Err(ErrorReason::NoEndpoint)
        } else if self.deadline_hit || self.expired() {
            Err(ErrorReason::Deadline { failures })
        } else {
            Err(ErrorReason::AllFailed { failures })
        }
    }

    /// Waits until a usable success, a deterministic error, the deadline, or until no
    /// attempt within its timeout is out (`None`: the strategy may launch more). Most
    /// strategies are "launch some, then `settle`".
    pub(crate) async fn settle(&mut self) -> Option<Result<Win, ErrorReason>> {
        loop {
            if self.pending() == 0 {
                return None;
            }
            match self.next().await {
                Event::Settled(s) => match self.note(s) {
                    Verdict::Win(w) => return Some(Ok(w)),
                    Verdict::Final(e) => return Some(Err(e)),
                    Verdict::Continue => {}
                },
                Event::Deadline => return Some(self.conclude()),
                Event::Idle | Event::Timer => return None,
            }
        }
    }

    /// Whether the deadline has passed.
    pub(crate) fn expired(&self) -> bool {
        clock::now() >= self.call.deadline
    }
}

impl Drop for Attempts<'_> {
    fn drop(&mut self) {
        // Attempts past their timeout wait for a late success only while the call lasts.
        self.inbox.close();
        // The first attempt, if still out, goes on in a task of its own, like the others.
        // (Outside a runtime it cannot; its guard then reports it ended.)
        if let Some(attempt) = self.local.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(attempt);
        }
    }
}

/// The call's first attempt while it runs in the call's own task.
struct Local(Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>);

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Local(running)"
        } else {
            "Local(none)"
        })
    }
}
