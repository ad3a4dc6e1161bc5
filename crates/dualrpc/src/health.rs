//! The health loop: polls every endpoint's `getSlot`, marks endpoints that trail the best
//! by more than `max_slot_lag`, probes open circuits back into rotation, and moves the
//! pool's ceiling on slots ([`crate::stats::SlotCeiling`]): a reading above it is refused
//! like a probe that failed.
//!
//! A lagging node answers quickly and successfully — with old data, or `null` for a
//! transaction it has not seen — so latency and error rates alone never catch it; the
//! slot comparison does. Probes use `processed` commitment, the freshest a node reports.
//! The loop holds only a weak reference to the endpoints and ends when the pool is dropped.

use std::sync::Weak;
use std::time::Duration;

use bytes::Bytes;

use crate::catalog::EmptyRule;
use crate::clock::{self, Instant};
use crate::outcome::Outcome;
use crate::settings::HealthSettings;
use crate::stats::{Reading, STALE_AFTER};
use crate::upstreams::Upstreams;

/// Longest wait for one `getSlot` probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The probe: `getSlot` at `processed` commitment, id 0.
const PROBE: &[u8] =
    br#"{"jsonrpc":"2.0","method":"getSlot","params":[{"commitment":"processed"}],"id":0}"#;

/// Starts the loop on the current runtime.
pub(crate) fn spawn(upstreams: Weak<Upstreams>, settings: HealthSettings, interval: Duration) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(upstreams) = upstreams.upgrade() else {
                return;
            };
            check_all(&upstreams, &settings, interval.min(PROBE_TIMEOUT)).await;
        }
    });
}

/// Probes every endpoint once, concurrently, and updates slots and lag marks. The round's
/// readings are recorded together once every probe is back (a slot recorded as soon as its
/// probe answered would be compared with the others' previous-round slots). An endpoint
/// whose probe did not answer gets no lag reading — its last slot, a round or more old,
/// would look behind by the rounds it missed, and a node's lag is the largest of its last
/// readings — until it missed [`STALE_AFTER`] in a row: then its last slot counts again,
/// and a node that stays silent falls behind as the chain moves on.
pub(crate) async fn check_all(upstreams: &Upstreams, settings: &HealthSettings, timeout: Duration) {
    let probes = upstreams.endpoints.iter().map(|ep| async move {
        let outcome = tokio::time::timeout(
            timeout,
            ep.send(Bytes::from_static(PROBE), 0, EmptyRule::Never, 1024, true),
        )
        .await;
        // Each reading with the moment it came: the ceiling compares a node's readings
        // with the time between them, and a round lasts as long as its slowest probe.
        match outcome {
            Ok(Outcome::Success { result, .. }) => {
                result.get().parse::<u64>().ok().map(|s| (s, clock::now()))
            }
            _ => None,
        }
    });
    let read: Vec<Option<(u64, Instant)>> = futures_util::future::join_all(probes).await;
    let now = clock::now();
    let judged = upstreams.ceiling.judge_round(now, &read);
    let limit = upstreams.ceiling.limit(now);
    let mut read = Vec::with_capacity(judged.len());
    for (ep, reading) in upstreams.endpoints.iter().zip(judged) {
        if let Some(limit) = limit {
            ep.stats.forget_above(limit);
        }
        let refused = matches!(reading, Reading::Implausible(_));
        if reading != Reading::None && ep.stats.set_refused(refused) {
            match reading {
                Reading::Implausible(slot) => tracing::warn!(
                    endpoint = %ep.name,
                    slot,
                    limit,
                    "slot beyond any the chain can have reached: refused"
                ),
                _ => tracing::info!(endpoint = %ep.name, "slot plausible again"),
            }
        }
        // A refused reading is no reading: charged to the breaker like a failed probe.
        let slot = match reading {
            Reading::Plausible(slot) => Some(slot),
            Reading::None | Reading::Implausible(_) => None,
        };
        if ep.stats.record_probe(now, slot) {
            ep.circuit_changed();
        }
        read.push(slot);
    }
    // Every slot recorded is one the chain has reached: the highest is a lower bound of
    // the tip, whenever it was read.
    let Some(best) = upstreams.best_slot() else {
        return;
    };
    for (ep, slot) in upstreams.endpoints.iter().zip(read) {
        let slot = match slot {
            Some(slot) => slot,
            None if ep.stats.missed_probes() >= STALE_AFTER => match ep.stats.slot() {
                Some(old) => old,
                None => continue,
            },
            None => continue,
        };
        let lag = best.saturating_sub(slot);
        let lagging = lag > settings.max_slot_lag;
        if lagging != ep.stats.lagging() {
            tracing::info!(endpoint = %ep.name, lag, lagging, "slot lag changed");
        }
        ep.stats.set_lag(lag, lagging);
        ep.metrics().slot(slot, lag, lagging);
    }
}
