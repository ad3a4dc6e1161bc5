//! Freshness within a call: an answer measured against the call's floors
//! ([`Attempts::note`] hands every usable success here), and, once a call has a usable
//! answer, the wait of up to `freshness_window` for a fresher one from an endpoint that may
//! be ahead — asking such an endpoint once more if its attempt failed.

use std::sync::Arc;

use super::{AttemptFailure, Attempts, Event, Verdict, Win};
use crate::clock::{self, Instant};
use crate::endpoint::Endpoint;
use crate::fresh::SlotSource;
use crate::jsonrpc::RawJson;
use crate::outcome::FailureKind;
use crate::policy::Strategy;
use crate::select::Plan;

impl Attempts<'_> {
    /// A usable answer, measured against the call's floors: below the client's
    /// `minContextSlot` it is "not yet" (never served); below what was already served it
    /// is kept as a fallback while something fresher may come.
    pub(super) fn judge_fresh(
        &mut self,
        endpoint: Arc<Endpoint>,
        result: RawJson,
        slot: Option<u64>,
    ) -> Verdict {
        let mut win = Win::new(endpoint, result, 0);
        if !self.read_slots {
            return Verdict::Win(win);
        }
        win.slot =
            slot.or_else(|| crate::fresh::answer_slot(self.call.info.slot, win.result.get()));
        let Some(slot) = win.slot else {
            return Verdict::Win(win);
        };
        if self.call.info.slot.is_progress() {
            win.endpoint.stats.saw_slot(self.call.commitment, slot);
        }
        if self.call.min_slot.is_some_and(|min| slot < min) {
            self.failures.push(AttemptFailure {
                endpoint: win.endpoint.name.clone(),
                kind: FailureKind::NodeBehind,
            });
            return Verdict::Continue;
        }
        if let Some(floor) = self.call.floor
            && slot < floor
        {
            win.behind = floor - slot;
            if self
                .best_stale
                .as_ref()
                .is_none_or(|b| b.behind > win.behind)
            {
                self.best_stale = Some(Box::new(win));
            }
            return Verdict::Continue;
        }
        Verdict::Win(win)
    }

    /// After the first usable answer `best`: waits up to the freshness window (and the
    /// deadline) for attempts still out, and returns the freshest answer
    /// ([`Attempts::fresher`]; the first of equals). It returns `best` at once when the
    /// window is zero, the answer says nothing about its slot, or no endpoint still out may
    /// be fresher ([`Attempts::fresher_may_come`]) — then waiting would only cost time.
    pub(crate) async fn freshen(&mut self, mut best: Win, plan: &Plan) -> Win {
        let window = self.call.policy.freshness_window;
        if window.is_zero() || best.wanting() {
            return best;
        }
        let until = clock::now() + window;
        if best.slot.is_none() {
            return best;
        }
        let mut reasked = false;
        loop {
            if self.pending() == 0 || !self.fresher_may_come(&best, plan) {
                // The node that may be fresher failed: once, it is asked again.
                if reasked || !self.reask_fresher(&best, plan, until) {
                    break;
                }
                reasked = true;
            }
            match self.next_until(Some(until)).await {
                Event::Settled(s) => {
                    if let Verdict::Win(w) = self.note(s)
                        && self.fresher(&w, &best)
                    {
                        best = w;
                    }
                }
                Event::Timer | Event::Deadline | Event::Idle => break,
            }
        }
        best
    }

    /// Whether `w` is fresher than `best`: a higher slot — or, for signature lists with the
    /// same newest slot, more entries of that slot (nodes index a slot's transactions one
    /// by one: the longer head has launches the shorter one does not show yet).
    fn fresher(&self, w: &Win, best: &Win) -> bool {
        match (w.slot, best.slot) {
            (Some(new), Some(old)) if new == old => {
                self.call.info.slot == SlotSource::FirstEntry
                    && crate::fresh::entries_at(w.result.get(), new)
                        > crate::fresh::entries_at(best.result.get(), old)
            }
            (new, old) => new > old,
        }
    }

    /// Whether an endpoint with an attempt still out (within its timeout) may answer
    /// fresher than `best` ([`Attempts::may_be_fresher`]).
    fn fresher_may_come(&self, best: &Win, plan: &Plan) -> bool {
        self.cx
            .upstreams
            .endpoints
            .iter()
            .filter(|ep| self.marks[ep.index].fresh > 0)
            .any(|ep| self.may_be_fresher(ep, best, plan))
    }

    /// Whether `ep` may answer fresher than `best`:
    /// - for a signature list: the health loop sees it fewer slots behind the tip than
    ///   `best`'s endpoint (a node a slot behind lists a launch a slot later). Nothing else
    ///   predicts a fresher list: between nodes at the tip, which one indexed a launch first
    ///   changes from launch to launch, and waiting on a guess costs every poll;
    /// - for an answer with a slot of the chain's progress (`context.slot`, `getSlot`): it
    ///   has shown a newer slot at the call's commitment than `best`'s;
    /// - for a height: it has shown a newer slot than `best`'s endpoint has.
    fn may_be_fresher(&self, ep: &Endpoint, best: &Win, plan: &Plan) -> bool {
        let c = self.call.commitment;
        match self.call.info.slot {
            SlotSource::FirstEntry => plan.ahead_of(ep.index, best.endpoint.index),
            s if s.is_progress() => best.slot.is_some_and(|slot| ep.stats.newest_seen(c) > slot),
            _ => ep.stats.newest_seen(c) > best.endpoint.stats.newest_seen(c),
        }
    }

    /// Within the freshness window, one more attempt on an endpoint that may be fresher
    /// than `best` but whose attempt failed in a way that may not happen again (a refused
    /// or dropped connection, a node saying it is unhealthy): the node ahead failing once
    /// must not hand the client a node behind's older answer when asking it again can still
    /// beat the window. It is an extra attempt, never a needed one: only when the call may
    /// retry (`retries` > 0) and is not `failover` (one endpoint at a time, by choice), on
    /// an endpoint with no attempt still out (a slow one may yet answer), not readmitted
    /// already by the retry round, whose typical latency for the method still fits before
    /// `until` (and the deadline), within its circuit and with rate-limit headroom. A
    /// failure the same request would meet again (an HTTP status, a response too large or
    /// malformed — which one client's params can cause) is not retried: it would charge the
    /// endpoint's breaker twice for every other client. Returns whether one was launched.
    fn reask_fresher(&mut self, best: &Win, plan: &Plan, until: Instant) -> bool {
        if self.call.policy.retries == 0 || self.call.policy.strategy == Strategy::Failover {
            return false;
        }
        let until = until.min(self.call.deadline);
        let cx = self.cx;
        cx.upstreams.endpoints.iter().any(|ep| {
            let m = &self.marks[ep.index];
            let candidate = m.failed_last
                && m.fresh == 0
                && m.slow == 0
                && !m.readmitted
                && self.last_failure(ep).is_some_and(passing)
                && self.may_be_fresher(ep, best, plan)
                && fits(ep, &self.call.method, until);
            candidate && {
                let was = std::mem::replace(&mut self.marks[ep.index].tried, false);
                let launched = self.launch_extra(ep);
                // (A refused extra leaves the mark as it was; a launch set it.)
                self.marks[ep.index].tried |= was;
                launched
            }
        })
    }

    /// What `ep`'s last failed attempt in this call came to.
    fn last_failure(&self, ep: &Endpoint) -> Option<FailureKind> {
        self.failures
            .iter()
            .rev()
            .find(|f| f.endpoint == ep.name)
            .map(|f| f.kind)
    }
}

/// Failures that say nothing about the next attempt of the same request.
fn passing(kind: FailureKind) -> bool {
    matches!(
        kind,
        FailureKind::Connect | FailureKind::Transport | FailureKind::NodeUnhealthy
    )
}

/// Whether `ep`'s median latency for `method` (if known) ends before `until`.
fn fits(ep: &Endpoint, method: &str, until: Instant) -> bool {
    let now = clock::now();
    ep.stats
        .latency_quantile(now, method, 0.5)
        .is_none_or(|p50| now + p50 < until)
}
