//! Named cluster set-ups: how many endpoints, how fast and how flaky each is, how far behind,
//! and the chain they serve.
//!
//! | profile       | endpoints | what it is for |
//! |---------------|-----------|----------------|
//! | `seed`        | 2         | the default: two similar providers, ≈50 ms mean, ≈98 % success |
//! | `mainnet-like`| 4         | a realistic mix of paid and public providers (numbers below) |
//! | `zero`        | 2         | no latency, no faults: measures the gateway's own overhead |
//! | `lagging`     | 2         | one fresh endpoint, one 30 slots behind: staleness handling |
//!
//! ## `seed`
//! `alpha` and `beta`: lognormal median 44 ms, σ 0.3, 2 % tail calls at 3–5× the median, 0.2 %
//! stalls of 0.5–1.5 s — mean ≈ 50 ms ([`crate::LatencyModel::mean_ms`]). 2 % of requests
//! fail: 0.9 % HTTP 502/503, 0.5 % hang (the client's timeout fires), 0.4 % node-unhealthy
//! (`-32005`), 0.2 % connection reset. `beta` trails by 1 slot.
//!
//! ## `mainnet-like`
//! The ranges are the project's summary of published measurements of Solana RPC providers
//! (provider latency dashboards and third-party comparisons of paid tiers, seen from a nearby
//! region); this crate has not re-measured them: body medians of 35–70 ms with σ 0.35–0.5, one
//! erratic provider near σ 0.9; 2–5 % of calls at 3–5× the median; 0.2–1 % stalls of 0.5–2 s;
//! 0.1–0.5 % failures on paid endpoints and 1–5 % on the public one. The public endpoint's rate
//! limit is the one Solana documents for `api.mainnet-beta.solana.com`
//! (<https://solana.com/docs/references/clusters>): 100 requests per 10 s per IP, 40 per 10 s
//! per IP for a single method. The exact value picked inside each range is this crate's choice.
//!
//! | endpoint  | median | σ    | tail (3–5×) | stalls (0.5–2 s) | failures | lag | notes |
//! |-----------|--------|------|-------------|------------------|----------|-----|-------|
//! | `fast`    | 35 ms  | 0.35 | 2 %         | 0.2 %            | 0.1 %    | 0   | premium paid |
//! | `steady`  | 50 ms  | 0.40 | 3 %         | 0.4 %            | 0.3 %    | 1   | paid |
//! | `jittery` | 45 ms  | 0.90 | 5 %         | 1 %              | 0.5 %    | 2   | paid, erratic |
//! | `public`  | 70 ms  | 0.50 | 5 %         | 1 %              | 3 %      | 3   | public: + 100/10 s, 40/method/10 s → 429 |
//!
//! Plus a **correlated slowdown**: in every 45 s, one 2 s window (position drawn from the seed)
//! during which every endpoint's latency is ×3 — the network-wide congestion no routing can
//! avoid. That one is illustrative, not measured.
//!
//! All profiles use 400 ms slots; the launchpad gets 2 (`seed`) or 4 (others) transactions/s.

use std::time::Duration;

use crate::chain::ChainConfig;
use crate::faults::{FaultModel, RateLimit};
use crate::latency::{CorrelatedSlowdown, LatencyModel};

/// One simulated upstream provider.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSpec {
    /// Short name (`NAME=URL` on the command line).
    pub name: String,
    /// How long it takes.
    pub latency: LatencyModel,
    /// How it fails.
    pub faults: FaultModel,
    /// Its rate limit, if any.
    pub rate_limit: Option<RateLimit>,
    /// How many slots behind the chain tip it is.
    pub lag_slots: u64,
}

impl EndpointSpec {
    /// A fault-free, lag-free endpoint with the given latency.
    pub fn new(name: impl Into<String>, latency: LatencyModel) -> EndpointSpec {
        EndpointSpec {
            name: name.into(),
            latency,
            faults: FaultModel::NONE,
            rate_limit: None,
            lag_slots: 0,
        }
    }

    /// Sets the fault model.
    pub fn with_faults(mut self, faults: FaultModel) -> EndpointSpec {
        self.faults = faults;
        self
    }

    /// Sets the rate limit.
    pub fn with_rate_limit(mut self, limit: RateLimit) -> EndpointSpec {
        self.rate_limit = Some(limit);
        self
    }

    /// Sets the slot lag.
    pub fn with_lag(mut self, slots: u64) -> EndpointSpec {
        self.lag_slots = slots;
        self
    }
}

/// A whole simulated cluster: its endpoints, the chain, and any cluster-wide slowdown.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Profile name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// The endpoints, in port order.
    pub endpoints: Vec<EndpointSpec>,
    /// The chain they all serve.
    pub chain: ChainConfig,
    /// Slowdown that hits every endpoint at once.
    pub slowdown: Option<CorrelatedSlowdown>,
}

const NAMES: [&str; 4] = ["seed", "mainnet-like", "zero", "lagging"];

impl Profile {
    /// The built-in profile called `name`.
    pub fn named(name: &str) -> Option<Profile> {
        Some(match name {
            "seed" => seed(),
            "mainnet-like" => mainnet_like(),
            "zero" => zero(),
            "lagging" => lagging(),
            _ => return None,
        })
    }

    /// The same profile with `n` endpoints: the first `n`, or the profile's endpoints
    /// cycled (`alpha`, `beta`, `alpha-2`, `beta-2`, …) when it has fewer.
    pub fn with_endpoint_count(mut self, n: usize) -> Profile {
        let base = self.endpoints.clone();
        if base.is_empty() {
            return self;
        }
        self.endpoints = (0..n)
            .map(|i| {
                let mut spec = base[i % base.len()].clone();
                let round = i / base.len();
                if round > 0 {
                    spec.name = format!("{}-{}", spec.name, round + 1);
                }
                spec
            })
            .collect();
        self
    }

    /// Names of the built-in profiles.
    pub fn names() -> &'static [&'static str] {
        &NAMES
    }

    /// One line describing the profile (printed by `dualrpc sim`).
    pub fn summary(&self) -> String {
        let endpoints: Vec<String> = self
            .endpoints
            .iter()
            .map(|e| {
                let mut s = format!(
                    "{} {:.0}ms/{:.1}%fail",
                    e.name,
                    e.latency.mean_ms(),
                    e.faults.failure_rate() * 100.0
                );
                if e.lag_slots > 0 {
                    s.push_str(&format!("/lag{}", e.lag_slots));
                }
                if e.rate_limit.is_some() {
                    s.push_str("/ratelimited");
                }
                s
            })
            .collect();
        format!(
            "profile {}: {} ({}; slot {} ms, {} launchpad tx/s)",
            self.name,
            self.description,
            endpoints.join(", "),
            self.chain.slot_time.as_millis(),
            self.chain.signatures_per_second
        )
    }
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

fn seed() -> Profile {
    let latency = LatencyModel::lognormal(44.0, 0.3)
        .with_tail(0.02, 3.0, 5.0)
        .with_stalls(0.002, 500.0, 1500.0);
    let flaky = faults(0.009, 0.004, 0.002, 0.005);
    Profile {
        name: "seed".into(),
        description: "two similar providers, ~50 ms mean, ~98% success".into(),
        endpoints: vec![
            EndpointSpec::new("alpha", latency).with_faults(flaky),
            EndpointSpec::new("beta", latency)
                .with_faults(flaky)
                .with_lag(1),
        ],
        chain: ChainConfig {
            signatures_per_second: 2.0,
            ..ChainConfig::default()
        },
        slowdown: None,
    }
}

fn mainnet_like() -> Profile {
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
            .with_faults(faults(0.0006, 0.0, 0.0002, 0.0002)),
            EndpointSpec::new(
                "steady",
                LatencyModel::lognormal(50.0, 0.4)
                    .with_tail(0.03, 3.0, 5.0)
                    .with_stalls(0.004, 500.0, 2000.0),
            )
            .with_faults(faults(0.0015, 0.0005, 0.0005, 0.0005))
            .with_lag(1),
            EndpointSpec::new(
                "jittery",
                LatencyModel::lognormal(45.0, 0.9)
                    .with_tail(0.05, 3.0, 5.0)
                    .with_stalls(0.01, 500.0, 2000.0),
            )
            .with_faults(faults(0.0025, 0.001, 0.0005, 0.001))
            .with_lag(2),
            EndpointSpec::new(
                "public",
                LatencyModel::lognormal(70.0, 0.5)
                    .with_tail(0.05, 3.0, 5.0)
                    .with_stalls(0.01, 500.0, 2000.0),
            )
            .with_faults(faults(0.015, 0.005, 0.005, 0.005))
            .with_rate_limit(RateLimit::PUBLIC_MAINNET)
            .with_lag(3),
        ],
        chain: ChainConfig::default(),
        slowdown: Some(CorrelatedSlowdown {
            every: Duration::from_secs(45),
            duration: Duration::from_secs(2),
            factor: 3.0,
        }),
    }
}

fn zero() -> Profile {
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

fn lagging() -> Profile {
    let latency = LatencyModel::lognormal(20.0, 0.3);
    Profile {
        name: "lagging".into(),
        description: "one fresh endpoint and one 30 slots behind, no faults".into(),
        endpoints: vec![
            EndpointSpec::new("fresh", latency),
            EndpointSpec::new("stale", latency).with_lag(30),
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
