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
//! anchors; a node that jumped anchors once it has moved like a chain from where it landed
//! (a node restarted and caught up looks the same). Each endpoint that moves like a chain
//! holds its own anchor (its latest such reading) for [`ANCHOR_TTL`]; the limit at `now` is
//! the highest of the anchors plus the slots the chain can have made since each was read,
//! plus [`MARGIN`].
//!
//! So a healthy node ahead of stuck or lagging peers is believed (it moves like a chain), a
//! node behind never pulls the limit below what the tip proved, and whichever node anchored
//! first, the one at the tip lifts the limit as soon as it has moved like a chain for
//! [`PROOF`]. Before the first anchor — for [`PROOF`] after the health loop's first round,
//! and always with the health loop off — there is no limit. What slots cannot tell apart is
//! a node of *another cluster*: it moves like a chain too (its genesis hash would tell).

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
mod tests {
    use super::*;

    const ROUND: Duration = Duration::from_secs(1);

    /// One round at `at`: every probe answered at that instant.
    fn round(c: &SlotCeiling, at: Instant, row: &[Option<u64>]) -> Vec<Reading> {
        let row: Vec<_> = row.iter().map(|r| r.map(|s| (s, at))).collect();
        c.judge_round(at, &row)
    }

    /// Runs rounds one second apart from `start`; returns the last round's verdicts.
    fn rounds(c: &SlotCeiling, start: Instant, rows: &[&[Option<u64>]]) -> Vec<Reading> {
        let mut out = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            out = round(c, start + ROUND * i as u32, row);
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
            out = round(c, start + ROUND * r, &row);
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
            round(&c, now + ROUND, &[Some(1_004), None]);
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
        let two_secs = slots_in(Duration::from_secs(2));
        assert_eq!(two_secs, 6);
        assert_eq!(
            c.limit(at + Duration::from_secs(2)),
            Some(1_005 + two_secs + MARGIN)
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
            round(&c, now + ROUND * r, &[Some(slot)]);
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
            round(&c, now + ROUND * r, &[Some(1_000 + 8 * u64::from(r))]);
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
            verdicts.push(
                round(
                    &c,
                    t,
                    &[Some(2_000 + up), Some(1_000 + up), Some(1_001 + up)],
                )[0],
            );
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
        let v = round(&c, now + ROUND * 3, &[Some(1_009), Some(6_000)]);
        assert_eq!(v[1], Reading::Implausible(6_000));
        let v = round(&c, now + ROUND * 4, &[Some(1_012), Some(6_003)]);
        assert_eq!(v[1], Reading::Implausible(6_003));
        let v = round(&c, now + ROUND * 5, &[Some(1_015), Some(1_015)]);
        assert_eq!(v, [Reading::Plausible(1_015), Reading::Plausible(1_015)]);
    }

    #[test]
    fn a_halted_chain_keeps_a_limit_that_grows_with_time() {
        let now = Instant::now();
        let c = SlotCeiling::new(1, now);
        let v = |s| [Some(s)];
        let mut rows: Vec<[Option<u64>; 1]> = vec![v(1_000), v(1_003), v(1_005)];
        rows.extend(std::iter::repeat_n(v(1_005), 10));
        let rows: Vec<&[Option<u64>]> = rows.iter().map(|r| &r[..]).collect();
        rounds(&c, now, &rows);
        let (early, late) = (c.limit(now + ROUND * 12), c.limit(now + ROUND * 40));
        assert!(early.is_some_and(|l| l >= 1_005 + MARGIN));
        assert!(late > early, "{late:?} {early:?}");
    }

    #[test]
    fn a_tip_behind_a_load_balancer_is_believed_and_a_node_behind_never_lowers_the_limit() {
        let now = Instant::now();
        let c = SlotCeiling::new(2, now);
        let mut v = Vec::new();
        for r in 0..600u32 {
            let tip = 10_000 + 3 * u64::from(r);
            // a's probes land on backends 4 slots apart; b is 400 behind.
            let a = tip - 4 * u64::from(r % 2);
            v = round(&c, now + ROUND * r, &[Some(a), Some(tip - 400)]);
            assert_eq!(v[0], Reading::Plausible(a), "round {r}");
        }
        assert_eq!(v[1], Reading::Plausible(10_000 + 3 * 599 - 400));
        assert!(c.limit(now + ROUND * 599).unwrap() >= 10_000 + 3 * 599 - 4 + MARGIN);
        // a falls silent: its last anchor holds the limit up for its lifetime, not b's.
        let t = now + ROUND * 610;
        round(&c, t, &[None, Some(10_000 + 3 * 610 - 400)]);
        assert!(c.limit(t).unwrap() >= 10_000 + 3 * 610 - 4);
    }

    #[test]
    fn a_tip_that_keeps_moving_keeps_its_anchor_past_the_anchor_lifetime() {
        // a's backends are 5 slots apart (more than the jitter), b is 400 behind: ten
        // minutes in, a is still believed, and the limit is a's.
        let now = Instant::now();
        let c = SlotCeiling::new(2, now);
        for r in 0..600u32 {
            let tip = 10_000 + 3 * u64::from(r);
            let a = if r % 2 == 1 { tip - 5 } else { tip };
            let v = round(&c, now + ROUND * r, &[Some(a), Some(tip - 400)]);
            assert_eq!(v[0], Reading::Plausible(a), "round {r}");
        }
        assert!(c.limit(now + ROUND * 599).unwrap() >= 10_000 + 3 * 599 - 5 + MARGIN);
    }

    #[test]
    fn what_a_forgotten_endpoint_proved_stops_counting() {
        let now = Instant::now();
        let c = SlotCeiling::new(2, now);
        moving(&c, now, &[Some(1_000), Some(50_000)], 3);
        assert_eq!(c.limit(now + ROUND * 2), Some(50_006 + MARGIN));
        c.forget(1);
        round(&c, now + ROUND * 3, &[Some(1_009), None]);
        assert_eq!(c.limit(now + ROUND * 3), Some(1_009 + MARGIN));
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
            round(&c, now + ROUND * r, &[Some(1_000 + 3 * u64::from(r))]);
        }
        let truth = 1_000 + 3 * 39 + MARGIN;
        assert!(reader.join().unwrap() >= truth);
    }
}
