//! [`SlotCeiling`]: the highest slot any endpoint can plausibly report at a given moment.
//!
//! Slots decide a lot: the freshest of several answers wins, the health loop measures every
//! node against the highest slot read, and the gateway never serves an answer older than one
//! it served. One provider reporting a wrong, far too high slot (a bug, a caching layer gone
//! wrong, a node of another cluster) would win every comparison, make every honest node look
//! behind, and make every later honest answer "older". The ceiling refuses such slots.
//!
//! It is anchored on health readings that **advanced** plausibly: higher than the same
//! endpoint's previous reading, by no more than the chain can move in the time between them
//! (one slot per [`MIN_SLOT_TIME`], plus [`JITTER`]). A node that does not move (stuck, or a
//! constant wrong value) or jumps (a wrong value, or a node catching up) never anchors; a
//! reading above the limit never anchors either. The limit at `now` is the anchor, plus the
//! slots the chain can have made since it was read, plus [`MARGIN`].
//!
//! So a healthy node ahead of stuck peers is believed (its readings advance, theirs do not),
//! and a wrong value is refused once the ceiling has an anchor. Before that — until two
//! health rounds have seen a node advance, or always with the health loop off — there is no
//! limit. When the first advancing readings disagree by more than the margin, the group of
//! endpoints within the margin of each other with the most members wins, the higher group on
//! a tie: with two providers of which one is on another cluster, slots cannot tell which is
//! right (its genesis hash would).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock::Instant;

/// The shortest time the chain takes per slot, for the limit's growth: half of Solana's
/// 400 ms target, so a fast stretch is never refused.
pub(crate) const MIN_SLOT_TIME: Duration = Duration::from_millis(200);
/// Slots a reading may advance beyond what the time since the previous one allows (probes
/// are answered at different points of a slot).
pub(crate) const JITTER: u64 = 16;
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

/// The pool-wide ceiling on slots (see the module docs). Calls read it (two atomic loads);
/// only the health loop moves it.
#[derive(Debug)]
pub struct SlotCeiling {
    origin: Instant,
    /// The anchor slot; 0 while there is none.
    anchor: AtomicU64,
    /// When the anchor was read, in nanoseconds since `origin`.
    anchor_at: AtomicU64,
    /// Per endpoint, its previous reading and when it was taken (health loop only).
    previous: Mutex<Vec<Option<(u64, Instant)>>>,
}

impl SlotCeiling {
    /// A ceiling over `endpoints` endpoints, with no anchor yet.
    pub fn new(endpoints: usize, now: Instant) -> SlotCeiling {
        SlotCeiling {
            origin: now,
            anchor: AtomicU64::new(0),
            anchor_at: AtomicU64::new(0),
            previous: Mutex::new(vec![None; endpoints]),
        }
    }

    /// The highest plausible slot at `now`; `None` before the first anchor.
    pub fn limit(&self, now: Instant) -> Option<u64> {
        let anchor = self.anchor.load(Ordering::Acquire);
        if anchor == 0 {
            return None;
        }
        let at = self.origin + Duration::from_nanos(self.anchor_at.load(Ordering::Acquire));
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
        let before = self.limit(now);
        let mut candidates = Vec::new();
        {
            let mut previous = self.previous.lock();
            if previous.len() < readings.len() {
                previous.resize(readings.len(), None);
            }
            for (prev, reading) in previous.iter_mut().zip(readings) {
                let Some(slot) = *reading else { continue };
                let advanced = prev.is_some_and(|(p, t)| {
                    slot > p && slot - p <= slots_in(now.saturating_duration_since(t)) + JITTER
                });
                *prev = Some((slot, now));
                if advanced && before.is_none_or(|limit| slot <= limit) {
                    candidates.push(slot);
                }
            }
        }
        let anchor = self.anchor.load(Ordering::Acquire);
        let next = if anchor == 0 {
            first_anchor(&mut candidates)
        } else {
            candidates.into_iter().max().filter(|&s| s >= anchor)
        };
        if let Some(slot) = next {
            let at = now.saturating_duration_since(self.origin).as_nanos();
            self.anchor_at
                .store(u64::try_from(at).unwrap_or(u64::MAX), Ordering::Release);
            self.anchor.store(slot.max(1), Ordering::Release);
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

/// The first anchor from readings that advanced: the highest of the largest group within
/// [`MARGIN`] of each other (the higher group on a tie).
fn first_anchor(candidates: &mut [u64]) -> Option<u64> {
    candidates.sort_unstable();
    let mut best: Option<(usize, u64)> = None;
    let mut low = 0;
    for high in 0..candidates.len() {
        while candidates[high] - candidates[low] > MARGIN {
            low += 1;
        }
        let size = high - low + 1;
        if best.is_none_or(|(n, _)| size >= n) {
            best = Some((size, candidates[high]));
        }
    }
    best.map(|(_, slot)| slot)
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

    #[test]
    fn no_limit_until_a_node_advanced() {
        let now = Instant::now();
        let c = SlotCeiling::new(2, now);
        assert_eq!(c.limit(now), None);
        assert!(c.admits(u64::MAX, now));
        let v = rounds(&c, now, &[&[Some(1_000), Some(u64::MAX)]]);
        assert_eq!(v, [Reading::Plausible(1_000), Reading::Plausible(u64::MAX)]);
        assert_eq!(c.limit(now), None, "one reading each: nobody advanced yet");
    }

    #[test]
    fn a_constant_wrong_slot_never_anchors_and_is_refused_once_others_advance() {
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
        assert_eq!(v[2], Reading::Plausible(9_005));
        assert_eq!(c.limit(now + ROUND * 2), Some(9_005 + MARGIN));
    }

    #[test]
    fn a_jump_is_refused_and_never_anchors() {
        let now = Instant::now();
        let c = SlotCeiling::new(2, now);
        rounds(
            &c,
            now,
            &[&[Some(1_000), Some(1_000)], &[Some(1_002), Some(1_002)]],
        );
        // b jumps 5,000 slots in a second, then moves on from there at the chain's pace.
        let v = c.judge_round(now + ROUND * 2, &[Some(1_005), Some(6_000)]);
        assert_eq!(v[1], Reading::Implausible(6_000));
        let v = c.judge_round(now + ROUND * 3, &[Some(1_007), Some(6_003)]);
        assert_eq!(
            v[1],
            Reading::Implausible(6_003),
            "advancing above the limit"
        );
        assert_eq!(c.limit(now + ROUND * 3), Some(1_007 + MARGIN));
        // Back to the truth: plausible again.
        let v = c.judge_round(now + ROUND * 4, &[Some(1_010), Some(1_010)]);
        assert_eq!(v, [Reading::Plausible(1_010), Reading::Plausible(1_010)]);
    }

    #[test]
    fn a_node_catching_up_fast_is_accepted_but_does_not_anchor() {
        let now = Instant::now();
        let c = SlotCeiling::new(2, now);
        rounds(
            &c,
            now,
            &[&[Some(1_000), Some(700)], &[Some(1_002), Some(800)]],
        );
        assert_eq!(c.limit(now + ROUND), Some(1_002 + MARGIN));
        let v = c.judge_round(now + ROUND * 2, &[None, Some(1_004)]);
        assert_eq!(v, [Reading::None, Reading::Plausible(1_004)]);
        // b jumped 204 slots in a second: not an anchor. The anchor is still a's 1,002.
        assert_eq!(c.limit(now + ROUND * 2), Some(1_002 + 5 + MARGIN));
    }

    #[test]
    fn first_readings_that_disagree_follow_the_larger_group_then_the_higher() {
        let now = Instant::now();
        let c = SlotCeiling::new(3, now);
        let far = 50_000_000;
        rounds(
            &c,
            now,
            &[
                &[Some(1_000), Some(1_001), Some(far)],
                &[Some(1_002), Some(1_003), Some(far + 2)],
            ],
        );
        assert_eq!(
            c.limit(now + ROUND),
            Some(1_003 + MARGIN),
            "two against one"
        );
        let c = SlotCeiling::new(2, now);
        rounds(
            &c,
            now,
            &[&[Some(1_000), Some(far)], &[Some(1_002), Some(far + 2)]],
        );
        assert_eq!(
            c.limit(now + ROUND),
            Some(far + 2 + MARGIN),
            "a tie: the higher"
        );
    }

    #[test]
    fn a_halted_chain_keeps_the_last_anchor() {
        let now = Instant::now();
        let c = SlotCeiling::new(1, now);
        rounds(
            &c,
            now,
            &[
                &[Some(1_000)],
                &[Some(1_002)],
                &[Some(1_002)],
                &[Some(1_002)],
            ],
        );
        assert_eq!(c.limit(now + ROUND), Some(1_002 + MARGIN));
        assert_eq!(c.limit(now + ROUND * 3), Some(1_002 + 10 + MARGIN));
    }
}
