//! [`SlotCeiling`]: the highest slot any endpoint can plausibly report at a given moment.
//!
//! Slots decide a lot: the freshest of several answers wins, the health loop measures every
//! node against the highest slot read, and the gateway never serves an answer older than one
//! it served. One provider reporting a wrong, far too high slot (a bug, a caching layer gone
//! wrong, garbage) would win every comparison, make every honest node look behind, and make
//! every later honest answer "older". The ceiling refuses such slots.
//!
//! It is anchored on health readings of endpoints that **move like a chain**: for at least
//! [`PROOF`], each reading at or above the previous one by no more than the time between
//! them allows, and the whole stretch no faster than one slot per [`MIN_SLOT_TIME`] (twice
//! Solana's pace) plus [`JITTER`] and no slower than one per [`SLOW_SLOT_TIME`] (half of
//! it). A constant wrong value (even one that steps now and then), a jump, garbage, or a
//! node racing ahead faster than a chain can move never anchors; the anchor is the highest slot
//! of the endpoints that do. The limit at `now` is the anchor, plus the slots the chain can
//! have made since it was read, plus [`MARGIN`].
//!
//! So a healthy node ahead of stuck or lagging peers is believed (it moves like a chain),
//! and whichever node anchored first, the one at the tip lifts the anchor as soon as it has
//! moved like a chain for [`PROOF`]. Before the first anchor — for [`PROOF`] after the health
//! loop's first round, and always with the health loop off — there is no limit. What slots
//! cannot tell apart is a node of *another cluster*: it moves like a chain too (its genesis
//! hash would tell).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock::Instant;

/// The shortest time the chain takes per slot, for the limit's growth and the pace a node
/// may move at: half of Solana's 400 ms target, so a fast stretch is never refused.
pub(crate) const MIN_SLOT_TIME: Duration = Duration::from_millis(200);
/// Slots a reading may be ahead of that pace (probes are answered at different points of a
/// slot).
pub(crate) const JITTER: u64 = 4;
/// How long an endpoint must have moved like a chain before its slot anchors the ceiling.
pub(crate) const PROOF: Duration = Duration::from_secs(2);
/// The slowest pace (per slot) that still counts as moving like a chain: half of Solana's.
/// A stuck value that steps now and then does not.
pub(crate) const SLOW_SLOT_TIME: Duration = Duration::from_millis(800);
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
#[derive(Debug, Clone, Copy, Default)]
struct Track {
    /// Its previous reading and when it was taken.
    last: Option<(u64, Instant)>,
    /// Where its current stretch of chain-like readings began.
    since: Option<(u64, Instant)>,
}

impl Track {
    /// Follows one reading; returns whether the endpoint has moved like a chain for
    /// [`PROOF`] up to it.
    fn follow(&mut self, slot: u64, now: Instant) -> bool {
        let since = |from: (u64, Instant)| now.saturating_duration_since(from.1);
        // Not backwards, and no faster than the chain can move.
        let not_too_fast = |from: (u64, Instant)| {
            slot >= from.0 && slot - from.0 <= slots_in(since(from)) + JITTER
        };
        // Once the stretch is long enough to tell: no slower than half the chain's pace.
        let not_too_slow = |from: (u64, Instant)| {
            let moved = u32::try_from(slot.saturating_sub(from.0)).unwrap_or(u32::MAX);
            since(from) < PROOF || SLOW_SLOT_TIME.saturating_mul(moved) >= since(from)
        };
        self.since = match (self.last, self.since) {
            (Some(last), Some(start))
                if not_too_fast(last) && not_too_fast(start) && not_too_slow(start) =>
            {
                Some(start)
            }
            (Some(last), _) if not_too_fast(last) => Some(last),
            _ => None,
        };
        self.last = Some((slot, now));
        self.since
            .is_some_and(|start| slot > start.0 && since(start) >= PROOF)
    }
}

/// The pool-wide ceiling on slots (see the module docs). Calls read it (two atomic loads);
/// only the health loop moves it.
#[derive(Debug)]
pub struct SlotCeiling {
    origin: Instant,
    /// The anchor slot; 0 while there is none. Written before `anchor_at`.
    anchor: AtomicU64,
    /// When the anchor was read, in nanoseconds since `origin`. Read before `anchor`: a
    /// reader that sees a new time sees the new slot; one that sees the old time with the
    /// new slot errs high.
    anchor_at: AtomicU64,
    /// Per endpoint (health loop only).
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

    /// Whether `slot` is at or below the limit at `now` (always, with no anchor yet).
    pub fn admits(&self, slot: u64, now: Instant) -> bool {
        self.limit(now).is_none_or(|limit| slot <= limit)
    }

    /// Judges one health round taken at `now` (`readings[i]`: endpoint `i`'s slot, if its
    /// probe answered), moves the anchor, and says which readings are plausible.
    pub fn judge_round(&self, now: Instant, readings: &[Option<u64>]) -> Vec<Reading> {
        let mut highest_live = None;
        {
            let mut tracks = self.tracks.lock();
            if tracks.len() < readings.len() {
                tracks.resize(readings.len(), Track::default());
            }
            for (track, reading) in tracks.iter_mut().zip(readings) {
                if let Some(slot) = *reading
                    && track.follow(slot, now)
                {
                    highest_live = highest_live.max(Some(slot));
                }
            }
        }
        // The anchor only rises: a node at the tip that went silent leaves its slot, and
        // the limit keeps growing with time.
        if let Some(slot) = highest_live.filter(|&s| s > self.anchor.load(Ordering::Acquire)) {
            let at = now.saturating_duration_since(self.origin).as_nanos();
            self.anchor.store(slot, Ordering::Release);
            self.anchor_at
                .store(u64::try_from(at).unwrap_or(u64::MAX), Ordering::Release);
        }
        let limit = self.limit(now);
        readings
            .iter()
            .map(|r| match *r {
                None => Reading::None,
                Some(s) if limit.is_some_and(|l| s > l) => Reading::Implausible(s),
                Some(s) => Reading::Plausible(s),
            })
            .collect()
    }
}

/// Slots the chain can make in `d` at most.
fn slots_in(d: Duration) -> u64 {
    u64::try_from(d.as_nanos() / MIN_SLOT_TIME.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUND: Duration = Duration::from_secs(1);

    /// Runs rounds one second apart from `start`; returns the last round's verdicts.
    fn rounds(c: &SlotCeiling, start: Instant, rows: &[&[Option<u64>]]) -> Vec<Reading> {
        let mut out = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            out = c.judge_round(start + ROUND * i as u32, row);
        }
        out
    }

    /// `n` rounds in which endpoint `i` reads `base[i] + 3 × round` (`None`: no answer).
    fn moving(c: &SlotCeiling, start: Instant, base: &[Option<u64>], n: u32) -> Vec<Reading> {
        let mut out = Vec::new();
        for r in 0..n {
            let row: Vec<Option<u64>> = base
                .iter()
                .map(|b| b.map(|b| b + 3 * u64::from(r)))
                .collect();
            out = c.judge_round(start + ROUND * r, &row);
        }
        out
    }

    #[test]
    fn no_limit_until_a_node_moved_like_a_chain_for_the_proof_time() {
        let now = Instant::now();
        let c = SlotCeiling::new(2, now);
        assert_eq!(c.limit(now), None);
        assert!(c.admits(u64::MAX, now));
        let v = moving(&c, now, &[Some(1_000), Some(u64::MAX - 100)], 2);
        assert_eq!(
            v,
            [Reading::Plausible(1_003), Reading::Plausible(u64::MAX - 97)]
        );
        assert_eq!(
            c.limit(now + ROUND),
            None,
            "one second of moving is not proof"
        );
        // Rounds at one instant prove nothing either.
        for _ in 0..5 {
            c.judge_round(now + ROUND, &[Some(1_004), None]);
        }
        assert_eq!(c.limit(now + ROUND), None);
    }

    #[test]
    fn a_constant_wrong_slot_never_anchors_and_is_refused_once_others_moved() {
        let now = Instant::now();
        let c = SlotCeiling::new(2, now);
        let huge = Some(900_000_000_000);
        let v = rounds(
            &c,
            now,
            &[
                &[Some(1_000), huge],
                &[Some(1_003), huge],
                &[Some(1_005), huge],
            ],
        );
        assert_eq!(
            v,
            [
                Reading::Plausible(1_005),
                Reading::Implausible(900_000_000_000)
            ]
        );
        let at = now + ROUND * 2;
        assert_eq!(c.limit(at), Some(1_005 + MARGIN));
        // The limit grows with the chain's fastest pace.
        assert_eq!(
            c.limit(at + Duration::from_secs(2)),
            Some(1_005 + 10 + MARGIN)
        );
        assert!(c.admits(1_005 + MARGIN, at));
        assert!(!c.admits(1_006 + MARGIN, at));
    }

    #[test]
    fn a_stuck_value_that_steps_now_and_then_never_anchors() {
        let now = Instant::now();
        let c = SlotCeiling::new(1, now);
        let mut slot = 5_000_000;
        for r in 0..30u32 {
            if r % 5 == 4 {
                slot += 1;
            }
            c.judge_round(now + ROUND * r, &[Some(slot)]);
        }
        assert_eq!(c.limit(now + ROUND * 30), None);
    }

    #[test]
    fn a_node_racing_ahead_faster_than_a_chain_never_anchors() {
        let now = Instant::now();
        let c = SlotCeiling::new(1, now);
        // 8 slots a second: each step is within one round's allowance (5 + 4), the stretch
        // is not (16 in two seconds, more than 10 + 4).
        for r in 0..10u32 {
            c.judge_round(now + ROUND * r, &[Some(1_000 + 8 * u64::from(r))]);
        }
        assert_eq!(c.limit(now + ROUND * 10), None);
    }

    #[test]
    fn a_healthy_node_ahead_of_stuck_peers_is_believed() {
        let now = Instant::now();
        let c = SlotCeiling::new(3, now);
        let stuck = Some(500);
        let v = rounds(
            &c,
            now,
            &[
                &[stuck, stuck, Some(9_000)],
                &[stuck, stuck, Some(9_002)],
                &[stuck, stuck, Some(9_005)],
            ],
        );
        assert_eq!(
            v,
            [
                Reading::Plausible(500),
                Reading::Plausible(500),
                Reading::Plausible(9_005)
            ]
        );
        assert_eq!(c.limit(now + ROUND * 2), Some(9_005 + MARGIN));
    }

    #[test]
    fn the_node_at_the_tip_lifts_an_anchor_a_node_behind_set() {
        let now = Instant::now();
        let c = SlotCeiling::new(3, now);
        // a, at the tip, misses its first probes; b and c, 1,000 behind, anchor.
        moving(&c, now, &[None, Some(1_000), Some(1_001)], 3);
        let at = now + ROUND * 2;
        assert_eq!(c.limit(at), Some(1_007 + MARGIN));
        // a answers: refused while it has not moved like a chain for the proof time…
        let mut verdicts = Vec::new();
        for r in 3..7u32 {
            let t = now + ROUND * r;
            let up = 3 * u64::from(r);
            verdicts
                .push(c.judge_round(t, &[Some(2_000 + up), Some(1_000 + up), Some(1_001 + up)])[0]);
        }
        assert_eq!(verdicts[0], Reading::Implausible(2_009));
        // …then it anchors, and everything it reads is plausible.
        assert_eq!(verdicts[3], Reading::Plausible(2_018));
        assert_eq!(c.limit(now + ROUND * 6), Some(2_018 + MARGIN));
    }

    #[test]
    fn a_jump_is_refused_and_the_node_is_believed_again_when_back() {
        let now = Instant::now();
        let c = SlotCeiling::new(2, now);
        moving(&c, now, &[Some(1_000), Some(1_000)], 3);
        // b jumps 5,000 slots, then moves on from there at the chain's pace.
        let v = c.judge_round(now + ROUND * 3, &[Some(1_009), Some(6_000)]);
        assert_eq!(v[1], Reading::Implausible(6_000));
        let v = c.judge_round(now + ROUND * 4, &[Some(1_012), Some(6_003)]);
        assert_eq!(v[1], Reading::Implausible(6_003));
        let v = c.judge_round(now + ROUND * 5, &[Some(1_015), Some(1_015)]);
        assert_eq!(v, [Reading::Plausible(1_015), Reading::Plausible(1_015)]);
    }

    #[test]
    fn a_halted_chain_keeps_the_last_anchor() {
        let now = Instant::now();
        let c = SlotCeiling::new(1, now);
        let v = |s| [Some(s)];
        rounds(
            &c,
            now,
            &[&v(1_000), &v(1_003), &v(1_005), &v(1_005), &v(1_005)],
        );
        assert_eq!(c.limit(now + ROUND * 2), Some(1_005 + MARGIN));
        assert_eq!(c.limit(now + ROUND * 4), Some(1_005 + 10 + MARGIN));
    }

    #[test]
    fn a_reader_never_sees_a_limit_below_the_truth() {
        // The anchor moves while readers read: the limit read is the old one or the new one,
        // or (old time with new slot) higher than both — never lower.
        let now = Instant::now();
        let c = std::sync::Arc::new(SlotCeiling::new(1, now));
        moving(&c, now, &[Some(1_000)], 3);
        let reader = {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut lowest = u64::MAX;
                for _ in 0..100_000 {
                    lowest = lowest.min(c.limit(now + ROUND * 40).unwrap());
                }
                lowest
            })
        };
        for r in 3..40u32 {
            c.judge_round(now + ROUND * r, &[Some(1_000 + 3 * u64::from(r))]);
        }
        let truth = 1_000 + 3 * 39 + MARGIN;
        assert!(reader.join().unwrap() >= truth);
    }
}
