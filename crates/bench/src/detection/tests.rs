//! Tests of the detection oracle, the poll schedule, the launch window and the summary.

use super::*;
use dualrpc_sim::{ClockMode, Fault, FaultModel};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A manual-clock chain for `profile`, moved `slots` slots forward.
fn chain(profile: &Profile, seed: u64, slots: u64) -> Chain {
    let c = Chain::with_endpoints(
        seed,
        profile.chain.clone(),
        ClockMode::Manual,
        &profile.endpoints,
    );
    c.advance(slots);
    c
}

fn schedule(first_ms: u64, end: ChainTime) -> PollSchedule {
    PollSchedule {
        first: ChainTime::ZERO + ms(first_ms),
        interval: ms(50),
        end,
    }
}

fn oracle_all(c: &Chain, p: &Profile, seed: u64, s: &PollSchedule) -> Vec<OracleDetection> {
    launches_between(c, ChainTime::ZERO, c.now())
        .iter()
        .map(|l| oracle_detection(c, p, seed, s, l.sequence).expect("detected"))
        .collect()
}

#[test]
fn polls_align_on_the_schedule() {
    let s = schedule(100, ChainTime::ZERO + ms(1000));
    let at = |n: u64| s.poll_at_or_after(ChainTime::ZERO + ms(n));
    assert_eq!(at(0), Some(ChainTime::ZERO + ms(100)));
    assert_eq!(at(100), Some(ChainTime::ZERO + ms(100)));
    assert_eq!(
        s.poll_at_or_after(ChainTime::ZERO + ms(100) + Duration::from_nanos(1)),
        Some(ChainTime::ZERO + ms(150))
    );
    assert_eq!(at(950), Some(ChainTime::ZERO + ms(950)));
    assert_eq!(at(951), None, "no poll at or after the end");
    // Aligned: the first multiple of the interval at least 1 ms away.
    let aligned =
        |now_ms: u64| PollSchedule::aligned(ChainTime::ZERO + ms(now_ms), ms(50), ms(1000));
    assert_eq!(aligned(120).first, ChainTime::ZERO + ms(150));
    assert_eq!(aligned(149).first, ChainTime::ZERO + ms(150));
    assert_eq!(aligned(150).first, ChainTime::ZERO + ms(200));
    assert_eq!(aligned(0).first, ChainTime::ZERO + ms(50));
    assert_eq!(aligned(120).end, ChainTime::ZERO + ms(1150));
}

#[test]
fn oracle_is_deterministic_and_never_ahead_of_visibility() {
    let profile = Profile::named("seed").unwrap();
    let c = chain(&profile, 7, 60);
    let s = schedule(13, c.now() + Duration::from_secs(30));
    let found = oracle_all(&c, &profile, 7, &s);
    assert!(found.len() >= 20, "{} launches", found.len());
    assert_eq!(
        found,
        oracle_all(&c, &profile, 7, &s),
        "same seed, same answer"
    );
    let launches = launches_between(&c, ChainTime::ZERO, c.now());
    let (mut by_first_visible_poll, mut sent_before_visible) = (0, 0);
    for (l, o) in launches.iter().zip(&found) {
        let created = c.slot_start(l.slot);
        let first = c
            .first_visible(&l.signature, Commitment::Confirmed)
            .unwrap();
        let chosen = c
            .visibility_of(l.sequence, o.endpoint, Commitment::Confirmed)
            .unwrap();
        assert!(
            chosen.visible_at <= o.listed_at,
            "listed by a provider that did not show it yet"
        );
        assert!(o.poll >= created && o.listed_at >= o.poll && o.detected_at >= o.listed_at);
        let since_first = (o.poll.as_nanos() - s.first.as_nanos()) as u128;
        assert_eq!(since_first % s.interval.as_nanos(), 0, "off the schedule");
        // `confirmed` is one 400 ms slot after creation, plus the indexing delay.
        assert!(o.detected_at.saturating_duration_since(created) >= ms(400));
        if o.poll <= s.poll_at_or_after(first.visible_at).unwrap() {
            by_first_visible_poll += 1;
        }
        if o.poll < chosen.visible_at {
            sent_before_visible += 1;
        }
    }
    // Only failures (2% per call) push it past the first poll that starts after the launch is
    // visible; and the sim answers as of the answer's instant, so a poll sent shortly before
    // is often the one that lists it first.
    let n = found.len();
    assert!(
        by_first_visible_poll * 10 >= n * 9,
        "{by_first_visible_poll}/{n}"
    );
    assert!(sent_before_visible * 4 >= n, "{sent_before_visible}/{n}");
}

#[test]
fn zero_profile_oracle_detects_within_one_poll_of_confirmation() {
    let profile = Profile::named("zero").unwrap();
    let c = chain(&profile, 3, 40);
    let s = schedule(7, c.now() + Duration::from_secs(30));
    let launches = launches_between(&c, ChainTime::ZERO, c.now());
    let delays: Vec<Duration> = oracle_all(&c, &profile, 3, &s)
        .iter()
        .zip(&launches)
        .map(|(o, l)| {
            o.detected_at
                .saturating_duration_since(c.slot_start(l.slot))
        })
        .collect();
    assert!(delays.len() >= 20, "{}", delays.len());
    for d in &delays {
        assert!((ms(400)..ms(450)).contains(d), "{d:?}");
    }
}

#[test]
fn a_failing_provider_is_never_asked_and_all_failing_means_missed() {
    let mut profile = Profile::named("seed").unwrap();
    profile.endpoints[1].faults = FaultModel::always(Fault::Http5xx(503));
    let c = chain(&profile, 5, 40);
    let s = schedule(0, c.now() + Duration::from_secs(30));
    let found = oracle_all(&c, &profile, 5, &s);
    assert!(!found.is_empty() && found.iter().all(|o| o.endpoint == 0));
    profile.endpoints[0].faults = FaultModel::always(Fault::Reset);
    let l = &launches_between(&c, ChainTime::ZERO, c.now())[0];
    assert_eq!(oracle_detection(&c, &profile, 5, &s, l.sequence), None);
}

#[test]
fn summary_counts_missed_and_late() {
    let at = |n: u64| ChainTime::ZERO + ms(n);
    let launch = |created: u64, validated: Option<u64>| Launch {
        signature: String::new(),
        sequence: created,
        created_at: at(created),
        validated_at: validated.map(at),
    };
    let launches = [
        launch(0, Some(500)),     // oracle 480: on time
        launch(100, Some(700)),   // oracle 600: 100 ms behind, late
        launch(200, None),        // missed
        launch(300, Some(800)),   // oracle missed it: not late
        launch(400, Some(1_000)), // oracle 950: exactly one poll behind, not late
    ];
    let oracle = [
        Some(at(480)),
        Some(at(600)),
        Some(at(650)),
        None,
        Some(at(950)),
    ];
    let d = summarise(&launches, &oracle, ms(50));
    assert_eq!(
        (d.launches, d.missed, d.late, d.oracle_missed),
        (5, 1, 1, 1)
    );
    assert_eq!(d.delays_us, vec![500_000, 500_000, 600_000, 600_000]);
    assert_eq!(d.oracle_delays_us, vec![450_000, 480_000, 500_000, 550_000]);
    assert_eq!(d.quantile_ms(0.5), Some(500.0));
    assert_eq!(d.median_gap_ms(), Some(20.0));
    let o = d.oracle_view();
    assert_eq!((o.missed, o.late, o.delays_us.len()), (1, 0, 4));
}

#[test]
fn launches_are_those_of_the_window() {
    let mut profile = Profile::named("zero").unwrap();
    profile.chain.signatures_per_second = 50.0;
    let c = chain(&profile, 9, 100);
    let (from, to) = (ChainTime::ZERO + ms(4_000), ChainTime::ZERO + ms(20_000));
    let got = launches_between(&c, from, to);
    let all = c.signatures(c.slot(), 100_000);
    let expected = all
        .iter()
        .filter(|s| c.slot_start(s.slot) > from && c.slot_start(s.slot) <= to)
        .count();
    assert!(expected > 256, "more than one page: {expected}");
    assert_eq!(got.len(), expected);
    assert!(got.windows(2).all(|w| w[0].sequence < w[1].sequence));
    assert!(launches_between(&c, to, from).is_empty());
}
