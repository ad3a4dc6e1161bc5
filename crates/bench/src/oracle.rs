//! The oracle: what a perfect chooser of the fastest endpoint would achieve under the same
//! latency and failure models — a lower bound no proxy can beat.
//!
//! For every request it draws each endpoint's latency and failure independently from the
//! profile's models (scaled by the correlated slowdown at the same point of the run) and
//! takes the fastest endpoint that does not fail; the request fails only if every endpoint
//! fails. It pays one upstream call per request. It sees no network, gateway or client
//! cost, no rate limit and no lag, so it flatters itself; real arms can only approach it.
//!
//! This is the per-request oracle; the time-to-detect-a-launch oracle is in `detection`
//! (`run` attaches it, on the first arm's polling schedule, to this oracle's row).

use std::time::Duration;

use dualrpc_sim::Profile;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::results::{ArmKind, ArmResult};

/// The oracle over `requests` requests spread evenly over `duration`.
pub fn oracle(profile: &Profile, seed: u64, requests: u64, duration: Duration) -> ArmResult {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x0A4C_1E00);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("valid bounds");
    let mut wins = vec![0u64; profile.endpoints.len()];
    let mut ok = 0;
    for i in 0..requests {
        let at = duration.mul_f64(i as f64 / requests.max(1) as f64);
        let factor = profile
            .slowdown
            .as_ref()
            .map_or(1.0, |s| s.factor_at(seed, at));
        let mut best: Option<(usize, Duration)> = None;
        for (e, spec) in profile.endpoints.iter().enumerate() {
            let latency = spec.latency.sample(&mut rng).mul_f64(factor);
            if rng.random::<f64>() < spec.faults.failure_rate() {
                continue;
            }
            if best.is_none_or(|(_, b)| latency < b) {
                best = Some((e, latency));
            }
        }
        if let Some((e, latency)) = best {
            ok += 1;
            wins[e] += 1;
            let _ = hist.record((latency.as_micros() as u64).max(1));
        }
    }
    ArmResult {
        name: "oracle".into(),
        kind: ArmKind::Oracle,
        latency_us: hist,
        requests,
        ok,
        failed: requests - ok,
        stale: 0,
        by_method: Vec::new(),
        upstream_calls: profile
            .endpoints
            .iter()
            .zip(wins)
            .map(|(s, w)| (s.name.clone(), w))
            .collect(),
        elapsed: duration,
        detection: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_beats_every_single_endpoint_mean() {
        let profile = Profile::named("seed").unwrap();
        let o = oracle(&profile, 7, 50_000, Duration::from_secs(60));
        for e in &profile.endpoints {
            assert!(
                o.mean_ms() < e.latency.mean_ms(),
                "{} vs {}",
                o.mean_ms(),
                e.latency.mean_ms()
            );
        }
        assert!(o.success_rate() > 0.999, "{}", o.success_rate());
        // Same seed, same answer.
        let again = oracle(&profile, 7, 50_000, Duration::from_secs(60));
        assert_eq!(
            o.latency_us.value_at_quantile(0.99),
            again.latency_us.value_at_quantile(0.99)
        );
    }
}
