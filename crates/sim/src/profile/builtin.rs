//! The built-in profiles (`seed`, `mainnet-like`, `zero`, `lagging`). What their numbers are
//! and where they come from is documented once, in the parent `profile` module; these
//! constructors and the tests below keep to it.

use std::time::Duration;

use super::{EndpointSpec, Profile};
use crate::chain::ChainConfig;
use crate::faults::{FaultModel, RateLimit};
use crate::latency::{CorrelatedSlowdown, LatencyModel};
use crate::pubsub::PubsubModel;

/// PubSub delivery: lognormal delay by median and p99 (ms), drop probability, mean seconds
/// between forced disconnects.
fn pubsub(median_ms: f64, p99_ms: f64, drops: f64, disconnect_secs: u64) -> PubsubModel {
    PubsubModel::new(LatencyModel::lognormal_p99(median_ms, p99_ms))
        .with_drops(drops)
        .with_disconnects(Duration::from_secs(disconnect_secs))
}

fn faults(http_5xx: f64, unhealthy: f64, reset: f64, hang: f64) -> FaultModel {
    FaultModel {
        http_5xx,
        unhealthy,
        reset,
        hang,
        ..FaultModel::NONE
    }
}

pub(super) fn seed() -> Profile {
    let latency = LatencyModel::lognormal(44.0, 0.3)
        .with_tail(0.02, 3.0, 5.0)
        .with_stalls(0.002, 500.0, 1500.0);
    let flaky = faults(0.009, 0.004, 0.002, 0.005);
    Profile {
        name: "seed".into(),
        description: "two similar providers, ~50 ms mean, ~98% success".into(),
        endpoints: vec![
            EndpointSpec::new("alpha", latency)
                .with_faults(flaky)
                .with_indexing_delay(LatencyModel::lognormal_p99(40.0, 250.0))
                .with_pubsub(pubsub(8.0, 60.0, 0.002, 300)),
            EndpointSpec::new("beta", latency)
                .with_faults(flaky)
                .with_lag(1)
                .with_indexing_delay(LatencyModel::lognormal_p99(60.0, 600.0))
                .with_pubsub(pubsub(12.0, 150.0, 0.005, 180)),
        ],
        chain: ChainConfig {
            signatures_per_second: 2.0,
            ..ChainConfig::default()
        },
        slowdown: None,
    }
}

pub(super) fn mainnet_like() -> Profile {
    Profile {
        name: "mainnet-like".into(),
        description: "three paid providers of different speeds and one rate-limited public endpoint, with correlated slowdowns".into(),
        endpoints: vec![
            EndpointSpec::new(
                "fast",
                LatencyModel::lognormal(35.0, 0.35)
                    .with_tail(0.02, 3.0, 5.0)
                    .with_stalls(0.002, 500.0, 2000.0),
            )
            .with_faults(faults(0.0006, 0.0, 0.0002, 0.0002))
            .with_indexing_delay(LatencyModel::lognormal_p99(30.0, 250.0))
            .with_pubsub(pubsub(5.0, 40.0, 0.001, 900)),
            EndpointSpec::new(
                "steady",
                LatencyModel::lognormal(50.0, 0.4)
                    .with_tail(0.03, 3.0, 5.0)
                    .with_stalls(0.004, 500.0, 2000.0),
            )
            .with_faults(faults(0.0015, 0.0005, 0.0005, 0.0005))
            .with_lag(1)
            .with_indexing_delay(LatencyModel::lognormal_p99(60.0, 350.0))
            .with_pubsub(pubsub(10.0, 80.0, 0.002, 600)),
            EndpointSpec::new(
                "jittery",
                LatencyModel::lognormal(45.0, 0.9)
                    .with_tail(0.05, 3.0, 5.0)
                    .with_stalls(0.01, 500.0, 2000.0),
            )
            .with_faults(faults(0.0025, 0.001, 0.0005, 0.001))
            .with_lag(2)
            .with_indexing_delay(LatencyModel::lognormal_p99(45.0, 1000.0))
            .with_pubsub(PubsubModel {
                delivery_delay: LatencyModel::lognormal_p99(10.0, 300.0)
                    .with_stalls(0.01, 200.0, 1000.0),
                ..pubsub(10.0, 300.0, 0.01, 180)
            }),
            EndpointSpec::new(
                "public",
                LatencyModel::lognormal(70.0, 0.5)
                    .with_tail(0.05, 3.0, 5.0)
                    .with_stalls(0.01, 500.0, 2000.0),
            )
            .with_faults(faults(0.015, 0.005, 0.005, 0.005))
            .with_rate_limit(RateLimit::PUBLIC_MAINNET)
            .with_lag(3)
            .with_indexing_delay(LatencyModel::lognormal_p99(150.0, 1200.0))
            .with_pubsub(pubsub(30.0, 400.0, 0.03, 60)),
        ],
        chain: ChainConfig::default(),
        slowdown: Some(CorrelatedSlowdown {
            every: Duration::from_secs(45),
            duration: Duration::from_secs(2),
            factor: 3.0,
        }),
    }
}

/// `mainnet-like` with its three paid providers at the tip: who shows a launch first is
/// decided by each one's indexing delay, and changes from launch to launch.
pub(super) fn mainnet_tip() -> Profile {
    let mut p = mainnet_like();
    p.name = "mainnet-tip".into();
    p.description = "mainnet-like with the three paid providers at the tip: indexing decides who sees a launch first".into();
    for e in &mut p.endpoints {
        if e.name != "public" {
            e.lag_slots = 0;
        }
    }
    p
}

pub(super) fn zero() -> Profile {
    Profile {
        name: "zero".into(),
        description: "no latency, no faults: measures gateway overhead".into(),
        endpoints: vec![
            EndpointSpec::new("zero-a", LatencyModel::ZERO),
            EndpointSpec::new("zero-b", LatencyModel::ZERO),
        ],
        chain: ChainConfig::default(),
        slowdown: None,
    }
}

pub(super) fn lagging() -> Profile {
    let latency = LatencyModel::lognormal(20.0, 0.3);
    let indexing = LatencyModel::lognormal_p99(40.0, 250.0);
    let pubsub = pubsub(8.0, 60.0, 0.0, 0);
    Profile {
        name: "lagging".into(),
        description: "one fresh endpoint and one 30 slots behind, no faults".into(),
        endpoints: vec![
            EndpointSpec::new("fresh", latency)
                .with_indexing_delay(indexing)
                .with_pubsub(pubsub),
            EndpointSpec::new("stale", latency)
                .with_lag(30)
                .with_indexing_delay(indexing)
                .with_pubsub(pubsub),
        ],
        chain: ChainConfig::default(),
        slowdown: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_resolves() {
        for name in Profile::names() {
            let p = Profile::named(name).unwrap();
            assert_eq!(&p.name, name);
            assert!(!p.endpoints.is_empty());
            assert!(!p.summary().is_empty());
        }
        assert!(Profile::named("nope").is_none());
    }

    #[test]
    fn seed_profile_meets_its_brief() {
        let p = Profile::named("seed").unwrap();
        assert_eq!(p.endpoints.len(), 2);
        for e in &p.endpoints {
            let mean = e.latency.mean_ms();
            assert!((48.0..=52.0).contains(&mean), "mean {mean}");
            assert!((e.faults.failure_rate() - 0.02).abs() < 1e-9);
        }
    }

    #[test]
    fn mainnet_like_stays_in_published_ranges() {
        let p = Profile::named("mainnet-like").unwrap();
        assert!((3..=4).contains(&p.endpoints.len()));
        let public: Vec<_> = p
            .endpoints
            .iter()
            .filter(|e| e.rate_limit.is_some())
            .collect();
        assert_eq!(public.len(), 1);
        for e in &p.endpoints {
            let l = &e.latency;
            assert!((35.0..=70.0).contains(&l.median_ms));
            assert!((0.35..=0.5).contains(&l.sigma) || (l.sigma - 0.9).abs() < 1e-9);
            assert!((0.02..=0.05).contains(&l.p_tail));
            assert!((0.002..=0.01).contains(&l.p_stall));
            let f = e.faults.failure_rate();
            if e.rate_limit.is_some() {
                assert!((0.01..=0.05).contains(&f));
            } else {
                assert!((0.001 - 1e-9..=0.005 + 1e-9).contains(&f), "{f}");
            }
        }
        assert!(p.slowdown.is_some());
    }

    #[test]
    fn indexing_delays_differ_overlap_and_zero_stays_zero() {
        for name in ["seed", "mainnet-like", "lagging"] {
            let p = Profile::named(name).unwrap();
            for e in &p.endpoints {
                let d = &e.indexing_delay;
                assert!((20.0..=150.0).contains(&d.median_ms), "{name}/{}", e.name);
                assert!(
                    d.body_p99_ms() >= 5.0 * d.median_ms,
                    "{name}/{}: long tail",
                    e.name
                );
            }
        }
        for name in ["seed", "mainnet-like"] {
            let p = Profile::named(name).unwrap();
            let medians: Vec<f64> = p
                .endpoints
                .iter()
                .map(|e| e.indexing_delay.median_ms)
                .collect();
            assert!(
                medians.windows(2).any(|w| w[0] != w[1]),
                "{name}: {medians:?}"
            );
            // Overlap: every median lies below every other endpoint's p99.
            for a in &p.endpoints {
                for b in &p.endpoints {
                    assert!(a.indexing_delay.median_ms < b.indexing_delay.body_p99_ms());
                }
            }
        }
        let zero = Profile::named("zero").unwrap();
        assert!(zero.endpoints.iter().all(|e| e.indexing_delay.is_zero()));
        assert!(
            Profile::named("mainnet-like")
                .unwrap()
                .summary()
                .contains("/index30ms(p99 250)")
        );
    }

    #[test]
    fn pubsub_models_are_realistic_and_zero_has_none() {
        for name in ["seed", "mainnet-like"] {
            let p = Profile::named(name).unwrap();
            for e in &p.endpoints {
                let m = &e.pubsub;
                assert!(
                    (3.0..=50.0).contains(&m.delivery_delay.median_ms),
                    "{name}/{}",
                    e.name
                );
                assert!(
                    (0.0005..=0.05).contains(&m.drop_probability),
                    "{name}/{}",
                    e.name
                );
                let secs = m.mean_time_between_disconnects.as_secs();
                assert!((30..=3600).contains(&secs), "{name}/{}", e.name);
            }
            let delays: Vec<f64> = p
                .endpoints
                .iter()
                .map(|e| e.pubsub.delivery_delay.body_p99_ms())
                .collect();
            assert!(
                delays.windows(2).any(|w| w[0] != w[1]),
                "{name}: {delays:?}"
            );
        }
        let lagging = Profile::named("lagging").unwrap();
        assert!(
            lagging
                .endpoints
                .iter()
                .all(|e| e.pubsub.drop_probability == 0.0
                    && e.pubsub.mean_time_between_disconnects.is_zero())
        );
        let zero = Profile::named("zero").unwrap();
        assert!(zero.endpoints.iter().all(|e| e.pubsub.is_none()));
        assert!(
            Profile::named("mainnet-like")
                .unwrap()
                .summary()
                .contains("/ws5ms(p99 40)/drop0.1%/dc900s")
        );
    }

    #[test]
    fn endpoint_count_cycles_or_truncates_with_unique_names() {
        let p = Profile::named("seed").unwrap();
        let five: Vec<String> = p
            .clone()
            .with_endpoint_count(5)
            .endpoints
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(five, ["alpha", "beta", "alpha-2", "beta-2", "alpha-3"]);
        assert_eq!(p.with_endpoint_count(1).endpoints.len(), 1);
    }
}
