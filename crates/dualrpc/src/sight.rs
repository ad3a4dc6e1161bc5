//! Time to first sight: which provider shows a new signature first, and how far behind
//! the first each other provider shows it.
//!
//! Every signature list an attempt brings back (`getSignaturesForAddress`, winners and
//! losers alike, so the count is not biased toward the fastest responder) is looked at:
//! its newest entries (new signatures appear at the top; [`SCAN`]) are checked against a
//! sliding window of recently seen signatures ([`Sightings::new`]'s `capacity`, oldest
//! forgotten first: bounded memory). A signature not in the window is a *first sight* for
//! the endpoint that showed it; when another endpoint shows it later, the delay behind the
//! first is recorded for that endpoint. The first list seen for a given query only primes
//! the window: its signatures were not new, the gateway just had not looked yet.
//!
//! The window also keeps each signature's slot (the lowest any endpoint reported): `merge`
//! asks it for the slot of a request's `until`, to apply `until` to a node that has not
//! indexed it yet ([`Sightings::slot_of`]).
//!
//! As measured by the gateway's own polls: an endpoint asked less often (failover asks
//! one) shows things later by that much. Exported as
//! `dualrpc_upstream_first_sight_total{endpoint}` and
//! `dualrpc_upstream_first_sight_delay_seconds{endpoint}`, and in `/status`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::clock::Instant;
use crate::endpoint::Endpoint;

/// Entries of a list looked at, from the newest.
pub(crate) const SCAN: usize = 64;
/// Queries remembered as primed; beyond that the set starts over.
const MAX_PRIMED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Seen {
    at: Instant,
    /// The lowest slot its sightings gave (0: none given). The lowest: a slot reported too
    /// high would make `merge` cut honest entries for `until`; too low only lets a lagging
    /// node's older entries through.
    slot: u64,
    /// Endpoints (by index, up to 64) that showed it.
    by: u64,
    /// Whether it was new when first seen (not from a priming list).
    counted: bool,
}

/// Per-endpoint totals.
#[derive(Debug, Clone)]
struct Tally {
    first: u64,
    later: u64,
    delay: hdrhistogram::Histogram<u64>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            first: 0,
            later: 0,
            // Microseconds, 1 µs … 10 min, 2 significant digits: a few KiB.
            delay: hdrhistogram::Histogram::new_with_bounds(1, 600_000_000, 2)
                .expect("valid histogram bounds"),
        }
    }
}

#[derive(Debug)]
struct Inner {
    seen: HashMap<u64, Seen>,
    order: VecDeque<u64>,
    primed: HashSet<u64>,
    tallies: Vec<Tally>,
}

/// The window of recent signatures and every endpoint's first-sight tally (module doc).
#[derive(Debug)]
pub(crate) struct Sightings {
    inner: Mutex<Inner>,
    hasher: foldhash::fast::RandomState,
    capacity: usize,
}

/// One endpoint's first-sight figures, for `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct FirstSight {
    /// The endpoint's name.
    pub endpoint: String,
    /// New signatures this endpoint showed first.
    pub first: u64,
    /// New signatures it showed after another endpoint had.
    pub later: u64,
    /// Median delay behind the first, in milliseconds.
    pub delay_p50_ms: Option<f64>,
    /// 90th percentile of that delay, in milliseconds.
    pub delay_p90_ms: Option<f64>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    signature: std::borrow::Cow<'a, str>,
    slot: Option<u64>,
}

impl Sightings {
    /// A window of `capacity` signatures over `endpoints` endpoints.
    pub(crate) fn new(endpoints: usize, capacity: usize) -> Self {
        Sightings {
            inner: Mutex::new(Inner {
                seen: HashMap::new(),
                order: VecDeque::new(),
                primed: HashSet::new(),
                tallies: (0..endpoints).map(|_| Tally::new()).collect(),
            }),
            hasher: foldhash::fast::RandomState::default(),
            capacity: capacity.max(1),
        }
    }

    /// Signatures in the window.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().seen.len()
    }

    /// `ep` answered the query `key` with the signature list `list` at `now`.
    pub(crate) fn observe(&self, ep: &Endpoint, key: &[u8], list: &str, now: Instant) {
        let Some(rest) = list.trim_start().strip_prefix('[') else {
            return;
        };
        // The newest entries only, parsed one by one: the rest of the list is not read.
        let mut hashes = [(0u64, 0u64); SCAN];
        let mut n = 0;
        let mut rest = rest.trim_start();
        while n < SCAN && !rest.starts_with(']') {
            let mut values = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
            let Some(Ok(raw)) = values.next() else {
                break;
            };
            if let Ok(e) = serde_json::from_str::<Entry<'_>>(raw.get()) {
                hashes[n] = (
                    self.hasher.hash_one(e.signature.as_bytes()),
                    e.slot.unwrap_or(0),
                );
                n += 1;
            }
            match rest[values.byte_offset()..].trim_start().strip_prefix(',') {
                Some(next) => rest = next.trim_start(),
                None => break,
            }
        }
        let query = self.hasher.hash_one(key);
        let mut inner = self.inner.lock();
        if inner.primed.len() >= MAX_PRIMED {
            inner.primed.clear();
        }
        let counted = !inner.primed.insert(query);
        self.see(&mut inner, ep, &hashes[..n], counted, now);
    }

    /// Records that `ep` showed the signatures `hashes` (with their slots) at `now`
    /// (`counted`: they may be new, not from a priming list).
    fn see(
        &self,
        inner: &mut Inner,
        ep: &Endpoint,
        hashes: &[(u64, u64)],
        counted: bool,
        now: Instant,
    ) {
        let bit = 1u64 << (ep.index % 64);
        for &(h, slot) in hashes {
            match inner.seen.get_mut(&h) {
                None => {
                    inner.seen.insert(
                        h,
                        Seen {
                            at: now,
                            slot,
                            by: bit,
                            counted,
                        },
                    );
                    inner.order.push_back(h);
                    if counted {
                        inner.tallies[ep.index].first += 1;
                        ep.metrics().first_sight();
                    }
                }
                Some(seen) if seen.by & bit == 0 => {
                    seen.by |= bit;
                    if slot > 0 && (seen.slot == 0 || slot < seen.slot) {
                        seen.slot = slot;
                    }
                    if seen.counted {
                        let delay = now.saturating_duration_since(seen.at);
                        let tally = &mut inner.tallies[ep.index];
                        tally.later += 1;
                        tally
                            .delay
                            .saturating_record(delay.as_micros().max(1) as u64);
                        ep.metrics().seen_later(delay);
                    }
                }
                Some(_) => {}
            }
        }
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.seen.remove(&old);
            }
        }
    }

    /// `ep` delivered the logs notification `result` (`{context, value: {signature}}`) at
    /// `now`: a transaction is new when first notified, whoever delivers it.
    pub(crate) fn observe_notification(&self, ep: &Endpoint, result: &str, now: Instant) {
        #[derive(Deserialize)]
        struct Context {
            slot: u64,
        }
        #[derive(Deserialize)]
        struct Value<'a> {
            context: Option<Context>,
            #[serde(borrow)]
            value: Entry<'a>,
        }
        let Ok(v) = serde_json::from_str::<Value<'_>>(result) else {
            return;
        };
        let hash = self.hasher.hash_one(v.value.signature.as_bytes());
        let slot = v.context.map_or(0, |c| c.slot);
        let mut inner = self.inner.lock();
        self.see(&mut inner, ep, &[(hash, slot)], true, now);
    }

    /// The slot of `signature`, if it is in the window with a slot (the lowest any
    /// endpoint's list or notification gave): what `merge` needs to apply `until` as a node
    /// that knows the signature would, when a provider has not indexed it yet.
    pub(crate) fn slot_of(&self, signature: &str) -> Option<u64> {
        let hash = self.hasher.hash_one(signature.as_bytes());
        let inner = self.inner.lock();
        inner
            .seen
            .get(&hash)
            .map(|s| s.slot)
            .filter(|&slot| slot > 0)
    }

    /// Every endpoint's figures, names from `names` (in endpoint order).
    pub(crate) fn snapshot<'a>(&self, names: impl Iterator<Item = &'a str>) -> Vec<FirstSight> {
        let inner = self.inner.lock();
        let ms = |t: &Tally, q: f64| {
            (!t.delay.is_empty())
                .then(|| Duration::from_micros(t.delay.value_at_quantile(q)).as_secs_f64() * 1e3)
        };
        names
            .zip(&inner.tallies)
            .map(|(name, t)| FirstSight {
                endpoint: name.to_string(),
                first: t.first,
                later: t.later,
                delay_p50_ms: ms(t, 0.5),
                delay_p90_ms: ms(t, 0.9),
            })
            .collect()
    }
}
