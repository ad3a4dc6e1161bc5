//! One attempt's task: it sends the request with the endpoint's configured timeout,
//! records what happened, and reports to its call's [`Inbox`] — exactly one terminal
//! message, guaranteed by [`SettleGuard`] even if the task panics or is dropped.

use std::sync::Arc;
use std::time::Duration;

use super::Settled;
use super::inbox::Inbox;
use crate::catalog::{MethodInfo, MethodName};
use crate::clock::{self, Instant};
use crate::endpoint::Endpoint;
use crate::fresh::SlotSource;
use crate::outcome::{FailureKind, Outcome};

/// What an attempt's task tells its call; the number is the attempt's, in launch order.
#[derive(Debug)]
pub(super) enum Message {
    /// The attempt's terminal outcome (within its timeout, or a late success).
    Done(u32, Settled),
    /// The attempt passed its timeout; it goes on until the deadline for a late success.
    Slow(u32, Arc<Endpoint>),
    /// A slow attempt ended without a usable answer.
    LateEnd(u32, Arc<Endpoint>),
}

/// One attempt, run in its own task.
pub(super) struct Attempt {
    pub(super) endpoint: Arc<Endpoint>,
    pub(super) body: bytes::Bytes,
    pub(super) id: u64,
    pub(super) info: &'static MethodInfo,
    pub(super) method: MethodName,
    pub(super) max_bytes: usize,
    /// The endpoint's configured attempt timeout — never the caller's remaining budget.
    pub(super) timeout: Duration,
    /// The call's deadline: until then a slow attempt may still bring a late success.
    pub(super) deadline: Instant,
    /// When it was launched, for the attempt run in the call's own task (polled at once);
    /// `None` for a task of its own, which starts its clock when it first runs.
    pub(super) launched: Option<Instant>,
    /// For signature lists: where to report what the list shows, and the query's key.
    pub(super) sightings: Option<(Arc<crate::sight::Sightings>, bytes::Bytes)>,
}

/// Checks a success of `info`'s method against the pool's ceiling on slots: one claiming a
/// slot beyond it becomes an `implausible_slot` failure. Returns the slot it read (so the
/// call does not read it again); none when there is no ceiling yet or the answer says
/// nothing about its slot (block heights are not slots).
fn check_slot(
    ep: &Endpoint,
    info: &MethodInfo,
    outcome: &mut Outcome,
    now: Instant,
) -> Option<u64> {
    let Outcome::Success { result, .. } = outcome else {
        return None;
    };
    if !(info.slot.is_progress() || info.slot == SlotSource::FirstEntry) {
        return None;
    }
    let limit = ep.ceiling.limit(now)?;
    let slot = crate::fresh::answer_slot(info.slot, result.get())?;
    if slot > limit {
        *outcome = Outcome::failed(FailureKind::ImplausibleSlot);
        return None;
    }
    Some(slot)
}

impl Attempt {
    pub(super) async fn run(self, guard: SettleGuard) {
        let ep = &self.endpoint;
        let started = self.launched.unwrap_or_else(clock::now);
        // Only a method without side effects may be sent twice (see `UpstreamClient::post`).
        let replayable = self.info.coalescable;
        let send = ep.send(
            self.body,
            self.id,
            self.info.empty,
            self.max_bytes,
            replayable,
        );
        tokio::pin!(send);
        let timeout = clock::after(started, self.timeout);
        let mut outcome = match tokio::time::timeout_at(timeout, &mut send).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::failed(FailureKind::Timeout),
        };
        let now = clock::now();
        let slot = check_slot(ep, self.info, &mut outcome, now);
        let latency = now.saturating_duration_since(started);
        if ep.stats.record(now, &self.method, latency, &outcome) {
            ep.circuit_changed();
        }
        ep.metrics().attempt(&outcome, latency);
        if let (Some((sightings, key)), Outcome::Success { result, .. }) =
            (&self.sightings, &outcome)
        {
            sightings.observe(ep, key, result.get(), now);
        }
        let timed_out = matches!(
            outcome,
            Outcome::Failed {
                kind: FailureKind::Timeout,
                ..
            }
        );
        let number = guard.number;
        if !timed_out || now >= self.deadline {
            return guard.settle(Message::Done(
                number,
                Settled {
                    endpoint: self.endpoint.clone(),
                    outcome,
                    slot,
                },
            ));
        }
        // Past its timeout (counted as the endpoint's timeout above), but the call may
        // still use a late success until its deadline.
        // It ends as soon as nobody can use it: the call is over (its caller left, or it
        // ended without it) — it holds a connection and counts as the endpoint's load.
        guard.notify(Message::Slow(number, self.endpoint.clone()));
        let call_over = guard.call_over();
        let late = tokio::select! {
            late = tokio::time::timeout_at(self.deadline, &mut send) => late.ok(),
            () = call_over => None,
        };
        let late = late.map(|mut late| {
            let slot = check_slot(&self.endpoint, self.info, &mut late, clock::now());
            (late, slot)
        });
        match late {
            Some((late @ Outcome::Success { .. }, slot)) => guard.settle(Message::Done(
                number,
                Settled {
                    endpoint: self.endpoint.clone(),
                    outcome: late,
                    slot,
                },
            )),
            _ => guard.settle(Message::LateEnd(number, self.endpoint.clone())),
        }
    }
}

/// Guarantees that every launched attempt ends with exactly one terminal message and
/// leaves the in-flight count: if the attempt's task panics or is dropped before it ends,
/// the guard reports an `internal` failure so the call never waits for an answer that
/// cannot come.
pub(super) struct SettleGuard {
    inbox: Option<Arc<Inbox>>,
    endpoint: Arc<Endpoint>,
    /// The attempt's number within its call.
    pub(super) number: u32,
}

impl SettleGuard {
    /// The guard of attempt `number` on `endpoint`, reporting to `inbox`.
    pub(super) fn new(inbox: Arc<Inbox>, endpoint: Arc<Endpoint>, number: u32) -> Self {
        SettleGuard {
            inbox: Some(inbox),
            endpoint,
            number,
        }
    }

    /// A notice that does not end the attempt.
    pub(super) fn notify(&self, message: Message) {
        if let Some(inbox) = &self.inbox {
            inbox.send(message);
        }
    }

    /// Completes when the call stopped listening (it is over, or its caller left).
    pub(super) fn call_over(&self) -> impl std::future::Future<Output = ()> + 'static {
        let inbox = self.inbox.clone();
        async move {
            if let Some(inbox) = inbox {
                inbox.closed().await;
            }
        }
    }

    /// The terminal message.
    pub(super) fn settle(mut self, message: Message) {
        if let Some(inbox) = self.inbox.take() {
            // The call may be over already (a loser, or its caller left); then nobody
            // listens, by design.
            inbox.send(message);
        }
    }
}

impl Drop for SettleGuard {
    fn drop(&mut self) {
        self.endpoint.stats.end_attempt();
        if let Some(inbox) = self.inbox.take() {
            inbox.send(Message::Done(
                self.number,
                Settled {
                    endpoint: self.endpoint.clone(),
                    outcome: Outcome::failed(FailureKind::Internal),
                    slot: None,
                },
            ));
        }
    }
}
