//! The health loop: polls every endpoint's `getSlot`, marks endpoints that trail the best
//! by more than `max_slot_lag`, and probes open circuits back into rotation.
//!
//! A lagging node answers quickly and successfully — with old data, or `null` for a
//! transaction it has not seen — so latency and error rates alone never catch it; the
//! slot comparison does. Probes use `processed` commitment, the freshest a node reports.
//! The loop holds only a weak reference to the pool and ends when the pool is dropped.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::jsonrpc::{self, EmptyRule};
use crate::outcome::Outcome;
use crate::pool::Shared;
use crate::telemetry;

/// Longest wait for one `getSlot` probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts the loop on the current runtime.
pub(crate) fn spawn(shared: Weak<Shared>) {
    tokio::spawn(async move {
        let interval = match shared.upgrade() {
            Some(s) => Duration::from_millis(s.health.interval_ms),
            None => return,
        };
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            check_all(&shared, interval.min(PROBE_TIMEOUT)).await;
        }
    });
}

/// Probes every endpoint once, concurrently, and updates slots and lag marks.
pub(crate) async fn check_all(shared: &Arc<Shared>, timeout: Duration) {
    let body = jsonrpc::request_body(0, "getSlot", Some(&raw_params()));
    let probes = shared.endpoints.iter().map(|ep| {
        let body = body.clone();
        async move {
            let outcome =
                tokio::time::timeout(timeout, ep.send(body, 0, EmptyRule::Never, 1024)).await;
            let slot = match outcome {
                Ok(Outcome::Success { result, .. }) => result.get().parse::<u64>().ok(),
                _ => None,
            };
            if ep.stats.record_probe(Instant::now(), slot) {
                telemetry::circuit_changed(ep);
            }
        }
    });
    futures_util::future::join_all(probes).await;
    let Some(best) = shared.endpoints.iter().filter_map(|e| e.stats.slot()).max() else {
        return;
    };
    for ep in &shared.endpoints {
        if let Some(slot) = ep.stats.slot() {
            let lag = best.saturating_sub(slot);
            let lagging = lag > shared.health.max_slot_lag;
            if lagging != ep.stats.lagging() {
                tracing::info!(endpoint = %ep.name, lag, lagging, "slot lag changed");
            }
            ep.stats.set_lagging(lagging);
            telemetry::slot(&ep.name, slot, lag, lagging);
        }
    }
}

fn raw_params() -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string(r#"[{"commitment":"processed"}]"#.to_string())
        .expect("static JSON is valid")
}
