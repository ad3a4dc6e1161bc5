//! One connection's subscriptions and the notifications they produce: each subscription finds
//! its events on the endpoint's view of the chain up to an instant ([`Feed::advance`]), each
//! event becomes a notification due `delivery_delay` later (or is dropped), and the session
//! sends what is due ([`Feed::take_due`]) and sleeps until [`Feed::next_wake`].
//!
//! Launch subscriptions keep a cursor over the ledger's sequence numbers: every transaction
//! generated since the last look that the subscription matches is scheduled at the instant the
//! endpoint shows it (its `visible_at` at the subscription's commitment, with the endpoint's
//! lag at that moment), and notified once the clock passes it. A `signatureSubscribe` also
//! keeps a cursor over the transactions clients sent (the chain's `sent` submodule), scheduled
//! by the same rule.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use super::render::{self, Kind};
use super::spec::{Spec, Watch};
use super::timing::{self, EventKey};
use super::{Endpoint, HORIZON_SLOTS, bump, lower};
use crate::chain::{ChainTime, Commitment, FINALIZED_DEPTH, Record};

/// At most this many notifications of one subscription are produced at once, for a clock
/// that jumped far ahead: the newest ones.
const MAX_CATCH_UP: u64 = 1024;
/// Slots a node keeps signature statuses for (a late `signatureSubscribe` looks this far back).
const STATUS_CACHE_SLOTS: u64 = 300;

#[derive(Debug)]
struct Upcoming {
    at: ChainTime,
    record: Record,
}

impl PartialEq for Upcoming {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Upcoming {}
impl PartialOrd for Upcoming {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Upcoming {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.record.sequence).cmp(&(other.at, other.record.sequence))
    }
}

#[derive(Debug)]
struct Launches {
    watch: Watch,
    commitment: Commitment,
    /// Made at this instant: only later events count.
    since: ChainTime,
    /// Next sequence number to look at.
    cursor: u64,
    /// Next sent transaction's sequence number to look at (`signatureSubscribe` only).
    sent_cursor: u64,
    /// Matching launches not shown yet, by the instant they will be.
    upcoming: BinaryHeap<Reverse<Upcoming>>,
    /// A signature already shown when subscribed: notified at this instant (next slot).
    late: Option<(ChainTime, Record)>,
}

#[derive(Debug)]
enum Target {
    /// Next slot to notify.
    Slot(u64),
    /// Next root to notify.
    Root(u64),
    Launch(Box<Launches>),
}

#[derive(Debug)]
struct Sub {
    target: Target,
    /// Due instant of its last notification (slot and root keep their order).
    last_due: ChainTime,
}

/// One event found by `advance`.
#[derive(Debug)]
struct Event {
    key: EventKey,
    kind: Kind,
    at: ChainTime,
    result: Payload,
    /// The subscription ends with it (`signatureSubscribe`).
    ends: bool,
}

/// A notification's result, rendered only if it is not dropped.
#[derive(Debug)]
enum Payload {
    Ready(String),
    /// A launch's, with this context slot.
    Launch(Record, u64),
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    due: ChainTime,
    order: u64,
    sub: u64,
    frame: String,
}

/// The subscriptions of one connection and its notifications not sent yet.
#[derive(Debug)]
pub(crate) struct Feed {
    ep: Endpoint,
    subs: BTreeMap<u64, Sub>,
    next_id: u64,
    queue: BinaryHeap<Reverse<Pending>>,
    order: u64,
}

impl Feed {
    pub(crate) fn new(ep: Endpoint) -> Feed {
        Feed {
            ep,
            subs: BTreeMap::new(),
            next_id: 0,
            queue: BinaryHeap::new(),
            order: 0,
        }
    }

    /// Opens a subscription at instant `now`; returns its id (per connection, from 0).
    pub(crate) fn subscribe(&mut self, spec: Spec, now: ChainTime) -> u64 {
        let chain = &self.ep.chain;
        let tip = chain.tip_at(now);
        let lag = self.ep.lag();
        let target = match spec {
            Spec::Slot => Target::Slot(tip.saturating_sub(lag) + 1),
            Spec::Root => Target::Root(tip.saturating_sub(lag + FINALIZED_DEPTH) + 1),
            Spec::Launch { watch, commitment } => {
                let view = tip.saturating_sub(lag + commitment.depth());
                let index = self.ep.index;
                let (cursor, sent_cursor, shown) = chain.read(|l| {
                    let horizon = view.saturating_sub(HORIZON_SLOTS);
                    let cursor = l.first_sequence_at(horizon);
                    let sent_cursor = l.first_sent_at(horizon);
                    let shown = match &watch {
                        Watch::Signature(sig) => l.landed(sig).map(|r| {
                            let at = chain.visible_at(r, l.delay(r, index), lag, commitment);
                            (at, *r)
                        }),
                        _ => None,
                    };
                    (cursor, sent_cursor, shown)
                });
                // agave 4.2.2 finds a signature it already has at the next commitment update.
                let late = shown
                    .filter(|(at, r)| {
                        *at <= now && view.saturating_sub(r.slot) <= STATUS_CACHE_SLOTS
                    })
                    .map(|(_, r)| (chain.slot_start(tip + 1), r));
                Target::Launch(Box::new(Launches {
                    watch,
                    commitment,
                    since: now,
                    cursor,
                    sent_cursor,
                    upcoming: BinaryHeap::new(),
                    late,
                }))
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        self.subs.insert(
            id,
            Sub {
                target,
                last_due: ChainTime::ZERO,
            },
        );
        bump(&self.ep.shared.open_subscriptions, 1);
        id
    }

    /// Ends subscription `id` (and drops its notifications not sent yet); false if there is
    /// none.
    pub(crate) fn unsubscribe(&mut self, id: u64) -> bool {
        if self.subs.remove(&id).is_none() {
            return false;
        }
        lower(&self.ep.shared.open_subscriptions, 1);
        self.queue.retain(|p| p.0.sub != id);
        true
    }

    /// Finds every event up to `now` and schedules its notification.
    pub(crate) fn advance(&mut self, now: ChainTime) {
        let tip = self.ep.chain.tip_at(now);
        let lag = self.ep.lag();
        let model = self.ep.shared.model();
        let ids: Vec<u64> = self.subs.keys().copied().collect();
        for id in ids {
            let Some(sub) = self.subs.get_mut(&id) else {
                continue;
            };
            let events = collect(&self.ep, &mut sub.target, now, tip, lag);
            let mut ended = false;
            for event in events {
                ended |= event.ends;
                let (seed, index) = (self.ep.seed, self.ep.index);
                if timing::is_dropped(&model, seed, index, event.kind, event.key) {
                    bump(&self.ep.shared.dropped, 1);
                    continue;
                }
                let mut due = event.at + timing::delivery_delay(&model, seed, index, event.key);
                if matches!(event.kind, Kind::Slot | Kind::Root) {
                    due = due.max(sub.last_due);
                }
                sub.last_due = due;
                let result = match (event.result, &sub.target) {
                    (Payload::Ready(result), _) => result,
                    (Payload::Launch(r, context), Target::Launch(l)) => {
                        l.watch.result(&self.ep, &r, context)
                    }
                    (Payload::Launch(..), _) => continue,
                };
                let frame = render::notification(event.kind, id, &result);
                self.order += 1;
                self.queue.push(Reverse(Pending {
                    due,
                    order: self.order,
                    sub: id,
                    frame,
                }));
            }
            if ended {
                // Its notification stays queued: the node has sent it.
                self.subs.remove(&id);
                lower(&self.ep.shared.open_subscriptions, 1);
            }
        }
    }

    /// The notifications due at `now`, in order.
    pub(crate) fn take_due(&mut self, now: ChainTime) -> Vec<String> {
        let mut due = Vec::new();
        while self.queue.peek().is_some_and(|p| p.0.due <= now) {
            if let Some(Reverse(p)) = self.queue.pop() {
                due.push(p.frame);
            }
        }
        bump(&self.ep.shared.notifications, due.len() as u64);
        due
    }

    /// The next instant something may happen: a notification falls due, or an event may.
    pub(crate) fn next_wake(&self, now: ChainTime) -> Option<ChainTime> {
        let chain = &self.ep.chain;
        let lag = self.ep.lag();
        let next_slot = chain.slot_start(chain.tip_at(now) + 1);
        let mut wake = self.queue.peek().map(|p| p.0.due);
        for sub in self.subs.values() {
            let at = match &sub.target {
                Target::Slot(next) => chain.slot_start(next + lag),
                Target::Root(next) => chain.slot_start(next + FINALIZED_DEPTH + lag),
                Target::Launch(l) => {
                    let upcoming = l.upcoming.peek().map(|u| u.0.at);
                    let late = l.late.as_ref().map(|(at, _)| *at);
                    [Some(next_slot), upcoming, late]
                        .into_iter()
                        .flatten()
                        .min()
                        .unwrap_or(next_slot)
                }
            };
            wake = Some(wake.map_or(at, |w| w.min(at)));
        }
        wake
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        lower(&self.ep.shared.open_subscriptions, self.subs.len() as u64);
    }
}

/// The events of one subscription up to `now` (the endpoint's tip then is `tip`).
fn collect(ep: &Endpoint, target: &mut Target, now: ChainTime, tip: u64, lag: u64) -> Vec<Event> {
    let chain = &ep.chain;
    let mut events = Vec::new();
    match target {
        Target::Slot(next) => {
            let view = tip.saturating_sub(lag);
            for s in (*next).max((view + 1).saturating_sub(MAX_CATCH_UP))..=view {
                events.push(Event {
                    key: EventKey::Slot(s),
                    kind: Kind::Slot,
                    at: chain.slot_start(s + lag),
                    result: Payload::Ready(render::slot(s)),
                    ends: false,
                });
            }
            *next = (*next).max(view + 1);
        }
        Target::Root(next) => {
            let view = tip.saturating_sub(lag + FINALIZED_DEPTH);
            for r in (*next).max((view + 1).saturating_sub(MAX_CATCH_UP))..=view {
                events.push(Event {
                    key: EventKey::Root(r),
                    kind: Kind::Root,
                    at: chain.slot_start(r + FINALIZED_DEPTH + lag),
                    result: Payload::Ready(r.to_string()),
                    ends: false,
                });
            }
            *next = (*next).max(view + 1);
        }
        Target::Launch(l) => {
            let (seed, index) = (ep.seed, ep.index);
            let kind = l.watch.kind();
            let ends = kind == Kind::Signature;
            chain.read(|ledger| {
                let mut schedule = |r: &Record| {
                    if !l.watch.matches(seed, r) {
                        return;
                    }
                    let at = chain.visible_at(r, ledger.delay(r, index), lag, l.commitment);
                    if at > l.since {
                        l.upcoming.push(Reverse(Upcoming { at, record: *r }));
                    }
                };
                for r in ledger.since(l.cursor) {
                    l.cursor = r.sequence + 1;
                    schedule(r);
                }
                // Transactions clients sent have a signature status too, nothing else.
                if kind == Kind::Signature {
                    for r in ledger.sent_since(l.sent_cursor) {
                        l.sent_cursor = r.sequence + 1;
                        schedule(r);
                    }
                }
            });
            let mut due = Vec::new();
            while l.upcoming.peek().is_some_and(|u| u.0.at <= now) {
                if let Some(Reverse(u)) = l.upcoming.pop() {
                    due.push(u);
                }
            }
            let skip = due.len().saturating_sub(MAX_CATCH_UP as usize);
            for u in due.into_iter().skip(skip) {
                events.push(Event {
                    key: EventKey::Launch {
                        sequence: u.record.sequence,
                        commitment: l.commitment,
                    },
                    kind,
                    at: u.at,
                    result: Payload::Launch(u.record, u.record.slot),
                    ends,
                });
                if ends {
                    return events;
                }
            }
            if let Some((at, record)) = l.late.filter(|(at, _)| *at <= now) {
                let context = chain.tip_at(at).saturating_sub(lag + l.commitment.depth());
                events.push(Event {
                    key: EventKey::Launch {
                        sequence: record.sequence,
                        commitment: l.commitment,
                    },
                    kind,
                    at,
                    result: Payload::Launch(record, context),
                    ends: true,
                });
            }
        }
    }
    events
}
