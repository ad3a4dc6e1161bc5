//! The streaming measurement's arithmetic, and one short run over a real simulated cluster.

use std::time::Duration;

use dualrpc_sim::{ChainTime, Profile};

use super::*;

fn at(ms: i64) -> ChainTime {
    ChainTime::from_nanos(ms * 1_000_000)
}

fn seen(arrivals: &[(&str, i64)], duplicates: u64, reconnects: u64) -> Seen {
    Seen {
        first: arrivals
            .iter()
            .map(|(s, ms)| (s.to_string(), at(*ms)))
            .collect(),
        duplicates,
        reconnects,
    }
}

#[test]
fn delays_losses_and_the_first_provider_per_launch() {
    let launches = vec![("a".to_string(), at(0)), ("b".to_string(), at(100))];
    let seen = vec![
        ("dualrpc".to_string(), seen(&[("a", 12), ("b", 106)], 0, 0)),
        // alpha is first for a, lost b across a disconnect.
        ("alpha".to_string(), seen(&[("a", 10)], 0, 1)),
        // beta is first for b; it also showed something that is not a counted launch.
        (
            "beta".to_string(),
            seen(&[("a", 30), ("b", 108), ("x", 1)], 2, 0),
        ),
    ];
    let arms = summarise(&launches, &seen);
    let names: Vec<&str> = arms.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["dualrpc", "alpha", "beta", "first provider"]);
    let [dual, alpha, beta, first] = [&arms[0], &arms[1], &arms[2], &arms[3]];
    assert_eq!(dual.delays_us, [6_000, 12_000]);
    // Ahead of every direct client for b (beta's client was slower to hear of it).
    assert_eq!(dual.behind_first_us, [-2_000, 2_000]);
    assert_eq!(dual.ahead_of_first(), 1);
    assert_eq!(dual.lost, 0);
    assert_eq!(alpha.delays_us, [10_000]);
    assert_eq!(alpha.lost, 1);
    assert_eq!(alpha.reconnects, 1);
    assert_eq!(beta.delays_us, [8_000, 30_000]);
    assert_eq!(beta.duplicates, 2);
    assert_eq!(first.delays_us, [8_000, 10_000]);
    assert_eq!(first.behind_first_us, [0, 0]);
    assert_eq!(first.lost, 0);
}

#[test]
fn a_launch_nobody_delivered_is_lost_everywhere() {
    let launches = vec![("a".to_string(), at(0))];
    let seen = vec![
        ("dualrpc".to_string(), Seen::default()),
        ("alpha".to_string(), Seen::default()),
    ];
    let arms = summarise(&launches, &seen);
    assert!(arms.iter().all(|a| a.lost == 1 && a.delays_us.is_empty()));
    assert_eq!(arms[0].quantile_ms(0.5), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_dualrpc_nothing_is_lost_or_repeated_while_providers_drop_connections() {
    let mut profile = Profile::named("seed").expect("built-in profile");
    profile.chain.signatures_per_second = 20.0;
    for e in &mut profile.endpoints {
        // Only the forced disconnects: the assertions below must not depend on random ones.
        e.pubsub.drop_probability = 0.0;
        e.pubsub.mean_time_between_disconnects = Duration::ZERO;
    }
    let config = StreamingConfig {
        duration: Duration::from_secs(4),
        warmup: Duration::from_millis(500),
        grace: Duration::from_secs(1),
        disconnect_every: Duration::from_millis(900),
        commitment: "confirmed",
    };
    let run = run(&profile, 5, &config).await.expect("streaming run");
    assert!(run.launches >= 20, "{} launches", run.launches);
    assert_eq!(run.forced_disconnects, 4);
    assert!(run.provider_disconnects >= 4, "{run:?}");
    let names: Vec<&str> = run.arms.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["dualrpc", "alpha", "beta", "first provider"]);
    let dual = &run.arms[0];
    assert_eq!(dual.lost, 0, "{}", render_table(&run));
    assert_eq!(dual.duplicates, 0, "{}", render_table(&run));
    assert_eq!(dual.reconnects, 0, "the gateway's client never noticed");
    // The direct clients were cut off and came back.
    assert!(run.arms[1].reconnects >= 1 && run.arms[2].reconnects >= 1);
    assert_eq!(dual.delays_us.len() as u64, run.launches);
}
