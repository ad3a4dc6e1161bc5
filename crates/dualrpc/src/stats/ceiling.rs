//! [`SlotCeiling`]: the highest slot any endpoint can plausibly report at a given moment.
//!
//! Slots decide a lot: the freshest of several answers wins, the health loop measures every
//! node against the highest slot read, and the gateway never serves an answer older than one
//! it served. One provider reporting a wrong, far too high slot (a bug, a caching layer gone
//! wrong, garbage) would win every comparison, make every honest node look behind, and make
//! every later honest answer "older". The ceiling refuses such slots.
//!
//! It is anchored on health readings of endpoints that **move like a chain**: between a
//! reading and one [`PROOF`] to [`WINDOW`] older, forward, no faster than one slot per
//! [`MIN_SLOT_TIME`] (plus [`JITTER`]) and no slower than one per [`SLOW_SLOT_TIME`]. Only
//! the net move counts — readings in between may step back, as a provider's load balancer
//! spreads probes over nodes a slot or two apart. A constant wrong value (even one that
//! steps now and then), garbage, or a node racing ahead faster than a chain can move never
//! anchors; a node that jumped anchors once its readings from before the jump are out of
//! the window and it has moved like a chain from where it landed (a node restarted and
//! caught up looks the same). Each endpoint that moves like a chain
//! holds its own anchor (its latest such reading) for [`ANCHOR_TTL`]; the limit at `now` is
//! the highest of the anchors plus the slots the chain can have made since each was read,
//! plus [`MARGIN`].
//!
//! So a healthy node ahead of stuck or lagging peers is believed (it moves like a chain), a
//! node behind never pulls the limit below what the tip proved, and whichever node anchored
//! first, the one at the tip lifts the limit as soon as it has moved like a chain for
//! [`PROOF`]. Before the first anchor — for [`PROOF`] after the health loop's first round,
//! and always with the health loop off — there is no limit. What slots cannot tell apart is
//! a node of *another cluster*: it moves like a chain too; the health loop catches it by
//! its genesis hash, and [`SlotCeiling::forget`]s what it proved.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock::Instant;

/// The shortest time the chain takes per slot, for the limit's growth and the pace a node
/// may move at: 300 ms, faster than Solana's 400 ms, which no stretch of a real chain beats
/// by much.
pub(crate) const MIN_SLOT_TIME: Duration = Duration::from_millis(300);
/// Slots a reading may be off that pace either way (probes are answered at different
/// points of a slot, by different nodes behind one provider's load balancer).
pub(crate) const JITTER: u64 = 4;
/// How long an endpoint must have moved like a chain before its slot anchors the ceiling.
pub(crate) const PROOF: Duration = Duration::from_secs(2);
/// How far back an endpoint's readings are kept to prove it moves like a chain.
pub(crate) const WINDOW: Duration = Duration::from_secs(8);
/// The closest two kept readings are (a health loop probing every 10 ms keeps a few dozen,
/// not hundreds).
pub(crate) const SPACING: Duration = Duration::from_millis(250);
/// The slowest pace (per slot) that still counts as moving like a chain: half of Solana's.
/// A stuck value that steps now and then does not.
pub(crate) const SLOW_SLOT_TIME: Duration = Duration::from_millis(800);
/// How long an endpoint's anchor counts after it was read: a tip that stops proving itself
/// (silent, or now refused) holds the limit up for this long.
pub(crate) const ANCHOR_TTL: Duration = Duration::from_secs(300);
/// Slots a node may be ahead of the anchor (about two minutes of the chain): far above any
/// honest spread between nodes at the tip, far below a wrong value's distance.
pub(crate) const MARGIN: u64 = 300;

/// What a health reading came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// The probe did not answer.
    None,
    /// A slot at or below the limit.
    Plausible(u64),
    /// A slot above the limit: refused.
    Implausible(u64),
}

/// One endpoint's readings, as the ceiling follows them.
#[derive(Debug, Clone, Default)]
struct Track {
    /// Its readings of the last [`WINDOW`], at least [`SPACING`] apart, oldest first.
    recent: VecDeque<(u64, Instant)>,
    /// Its latest reading that moved like a chain since one [`PROOF`] to [`WINDOW`] older.
    anchor: Option<(u64, Instant)>,
}

impl Track {
    /// Follows one reading `slot` taken `at`: it anchors if, since the oldest reading kept
    /// that is at least [`PROOF`] older, the endpoint moved like a chain — forward, no
    /// faster than one slot per [`MIN_SLOT_TIME`] (plus [`JITTER`]) and no slower than one
    /// per [`SLOW_SLOT_TIME`]. Only the net move counts: readings in between may step back
    /// (a provider's load balancer spreads probes over nodes a slot or two apart).
    fn follow(&mut self, slot: u64, at: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|&(_, t)| at.saturating_duration_since(t) > WINDOW)
        {
            self.recent.pop_front();
        }
        let proof = self
            .recent
            .iter()
            .find(|&&(_, t)| at.saturating_duration_since(t) >= PROOF);
        if let Some(&(from, t)) = proof {
            let took = at.saturating_duration_since(t);
            let moved = slot.saturating_sub(from);
            let steps = u32::try_from(moved).unwrap_or(u32::MAX);
            if slot > from
                && moved <= slots_in(took) + JITTER
                && SLOW_SLOT_TIME.saturating_mul(steps) >= took
            {
                self.anchor = Some((slot, at));
            }
        }
        if self
            .recent
            .back()
            .is_none_or(|&(_, t)| at.saturating_duration_since(t) >= SPACING)
        {
            self.recent.push_back((slot, at));
        }
    }

    /// What its anchor says the limit (before the margin) is at `now`, if it still counts.
    fn reach(&self, now: Instant) -> Option<u64> {
        let (slot, at) = self.anchor?;
        let age = now.saturating_duration_since(at);
        (age <= ANCHOR_TTL).then(|| slot.saturating_add(slots_in(age)))
    }
}

/// The pool-wide ceiling on slots (see the module docs). Calls read it (two atomic loads);
/// only the health loop moves it.
#[derive(Debug)]
pub struct SlotCeiling {
    origin: Instant,
    /// The anchors' highest reach when the health loop last looked; 0 while there is none.
    /// Written before `anchor_at`.
    anchor: AtomicU64,
    /// When that was, in nanoseconds since `origin`. Read before `anchor`: a reader that
    /// sees a new time sees the new slot; one that sees the old time with the new slot errs
    /// high.
    anchor_at: AtomicU64,
    /// Per endpoint (health loop only; the lock also makes two rounds judged at once — a
    /// test's and the loop's — take turns).
    tracks: Mutex<Vec<Track>>,
}

impl SlotCeiling {
    /// A ceiling over `endpoints` endpoints, with no anchor yet.
    pub fn new(endpoints: usize, now: Instant) -> SlotCeiling {
        SlotCeiling {
            origin: now,
            anchor: AtomicU64::new(0),
            anchor_at: AtomicU64::new(0),
            tracks: Mutex::new(vec![Track::default(); endpoints]),
        }
    }

    /// The highest plausible slot at `now`; `None` before the first anchor.
    pub fn limit(&self, now: Instant) -> Option<u64> {
        let at = self.anchor_at.load(Ordering::Acquire);
        let anchor = self.anchor.load(Ordering::Acquire);
        if anchor == 0 {
            return None;
        }
        let at = self.origin + Duration::from_nanos(at);
        Some(
            anchor
                .saturating_add(slots_in(now.saturating_duration_since(at)))
                .saturating_add(MARGIN),
        )
    }

    /// Starts from what `from` proved — the previous pool's ceiling on the same chain,
    /// after a config reload — instead of from nothing: its reach now (before the margin)
    /// counts as one more anchor, read now, for [`ANCHOR_TTL`], beside those this ceiling's
    /// own endpoints prove (a node behind anchoring first does not pull the limit below
    /// it). Nothing if `from` had no anchor. Only before this ceiling is shared (its two
    /// stores are not one update a reader could see half of safely).
    pub(crate) fn inherit(&self, from: &SlotCeiling) {
        if let Some(limit) = from.limit(self.origin) {
            let reach = limit.saturating_sub(MARGIN).max(1);
            self.tracks.lock().push(Track {
                recent: VecDeque::new(),
                anchor: Some((reach, self.origin)),
            });
            self.anchor.store(reach, Ordering::Release);
            self.anchor_at.store(0, Ordering::Release);
        }
    }

    /// Forgets everything: no limit until an endpoint proves itself again (the health
    /// loop found that an inherited limit was another chain's).
    pub(crate) fn reset(&self) {
        // (The next round sizes the tracks to its readings again.)
        self.tracks.lock().clear();
        self.anchor.store(0, Ordering::Release);
    }

    /// Whether `slot` is at or below the limit at `now` (always, with no anchor yet).
    pub fn admits(&self, slot: u64, now: Instant) -> bool {
        self.limit(now).is_none_or(|limit| slot <= limit)
    }

    /// Forgets what endpoint `index` proved (it turned out to be on another cluster): the
    /// next round's limit is the others'.
    pub fn forget(&self, index: usize) {
        if let Some(track) = self.tracks.lock().get_mut(index) {
            *track = Track::default();
        }
    }

    /// Judges one health round that ended at `now` (`readings[i]`: endpoint `i`'s slot and
    /// when its probe answered, if it did), moves the limit, and says which readings are
    /// plausible.
    pub fn judge_round(&self, now: Instant, readings: &[Option<(u64, Instant)>]) -> Vec<Reading> {
        let mut tracks = self.tracks.lock();
        if tracks.len() < readings.len() {
            tracks.resize(readings.len(), Track::default());
        }
        for (track, reading) in tracks.iter_mut().zip(readings) {
            if let Some((slot, at)) = *reading {
                track.follow(slot, at);
            }
        }
        // The highest reach of the anchors that still count; with none, the last limit
        // stays (and keeps growing with time).
        if let Some(reach) = tracks.iter().filter_map(|t| t.reach(now)).max() {
            let at = now.saturating_duration_since(self.origin).as_nanos();
            self.anchor.store(reach.max(1), Ordering::Release);
            self.anchor_at
                .store(u64::try_from(at).unwrap_or(u64::MAX), Ordering::Release);
        }
        drop(tracks);
        readings
            .iter()
            .map(|r| match *r {
                None => Reading::None,
                Some((s, at)) if !self.admits(s, at) => Reading::Implausible(s),
                Some((s, _)) => Reading::Plausible(s),
            })
            .collect()
    }
}

/// Slots the chain can make in `d` at most.
fn slots_in(d: Duration) -> u64 {
    u64::try_from(d.as_nanos() / MIN_SLOT_TIME.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
