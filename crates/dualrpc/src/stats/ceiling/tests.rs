//! The slot ceiling's rules, one round at a time.

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

#[test]
fn a_ceiling_built_after_a_reload_starts_from_the_previous_one() {
    let now = Instant::now();
    let old = SlotCeiling::new(2, now);
    moving(&old, now, &[Some(1_000), Some(999)], 4);
    let later = now + ROUND * 10;
    let new = SlotCeiling::new(3, later);
    // Nothing proved yet of its own, and no waiting: the old limit, growing with time
    // (to within a slot of rounding).
    new.inherit(&old);
    for t in [later, later + ROUND, later + ROUND * 60] {
        let (was, is) = (old.limit(t).unwrap(), new.limit(t).unwrap());
        assert!(is <= was && is + 1 >= was, "{is} against {was}");
    }
    assert!(!new.admits(5_000, later));
    // Its own endpoints anchor, below what the old one proved (a node behind first): the
    // inherited anchor still holds the limit up…
    moving(&new, later, &[Some(1_010), None, None], 4);
    let t = later + ROUND * 3;
    let (was, is) = (old.limit(t).unwrap(), new.limit(t).unwrap());
    assert!(is <= was && is + 1 >= was, "{is} against {was}");
    // …and one ahead of it lifts it.
    moving(&new, t, &[None, None, Some(1_100)], 4);
    assert_eq!(new.limit(t + ROUND * 3), Some(1_109 + MARGIN));
    // The inherited anchor ends like any other, after ANCHOR_TTL.
    let much_later = later + ANCHOR_TTL + ROUND * 20;
    moving(&new, much_later, &[Some(1_010 + 1_000), None, None], 4);
    assert_eq!(new.limit(much_later + ROUND * 3), Some(2_019 + MARGIN));
    // A ceiling that had proved nothing passes nothing on.
    let (empty, fresh) = (SlotCeiling::new(1, now), SlotCeiling::new(1, later));
    fresh.inherit(&empty);
    assert_eq!(fresh.limit(later), None);
}
