//! The health loop: polls every endpoint's `getSlot`, marks endpoints that trail the best
//! by more than `max_slot_lag`, probes open circuits back into rotation, and moves the
//! pool's ceiling on slots ([`crate::stats::SlotCeiling`]): a reading above it is refused
//! like a probe that failed. It also learns each endpoint's cluster (`getGenesisHash`) and
//! leaves out one on another cluster than the majority ([`check_clusters`]).
//!
//! A lagging node answers quickly and successfully — with old data, or `null` for a
//! transaction it has not seen — so latency and error rates alone never catch it; the
//! slot comparison does. Probes use `processed` commitment, the freshest a node reports.
//! The loop holds only a weak reference to the endpoints and ends when the pool is dropped.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;

use crate::catalog::EmptyRule;
use crate::clock;
use crate::outcome::Outcome;
use crate::settings::HealthSettings;
use crate::stats::{Reading, STALE_AFTER};
use crate::upstreams::{Upstreams, majority};

/// Longest wait for one `getSlot` probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Shortest wait for one probe, however short the interval: a remote node needs a round
/// trip to answer, and a probe cut short reads nothing (rounds then run back to back).
const MIN_PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// The probe: `getSlot` at `processed` commitment, id 0.
const PROBE: &[u8] =
    br#"{"jsonrpc":"2.0","method":"getSlot","params":[{"commitment":"processed"}],"id":0}"#;

/// The cluster probe: `getGenesisHash`, id 0.
const GENESIS_PROBE: &[u8] = br#"{"jsonrpc":"2.0","method":"getGenesisHash","id":0}"#;

/// How long an endpoint's genesis hash is trusted before it is asked again (a URL's DNS can
/// come to point elsewhere).
const GENESIS_RECHECK: Duration = Duration::from_secs(600);
/// How long before an endpoint that did not tell its genesis hash is asked again (some
/// providers do not serve `getGenesisHash`: not every round).
const GENESIS_RETRY: Duration = Duration::from_secs(30);

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
            check_all(&upstreams, &settings, probe_timeout(interval)).await;
        }
    });
}

/// How long a round waits for each probe: the interval, within
/// [`MIN_PROBE_TIMEOUT`]..=[`PROBE_TIMEOUT`].
fn probe_timeout(interval: Duration) -> Duration {
    interval.clamp(MIN_PROBE_TIMEOUT, PROBE_TIMEOUT)
}

/// Probes every endpoint once, concurrently, and updates slots and lag marks. The round's
/// readings are recorded together once every probe is back (a slot recorded as soon as its
/// probe answered would be compared with the others' previous-round slots). An endpoint
/// whose probe did not answer gets no lag reading — its last slot, a round or more old,
/// would look behind by the rounds it missed, and a node's lag is the largest of its last
/// readings — until it missed [`STALE_AFTER`] in a row: then its last slot counts again,
/// and a node that stays silent falls behind as the chain moves on.
pub(crate) async fn check_all(upstreams: &Upstreams, settings: &HealthSettings, timeout: Duration) {
    let slots = upstreams.endpoints.iter().map(|ep| async move {
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
    let (mut read, ()) = tokio::join!(
        futures_util::future::join_all(slots),
        check_clusters(upstreams, timeout)
    );
    let now = clock::now();
    // A foreign endpoint's slots are another chain's: not a reading of this one.
    for (ep, reading) in upstreams.endpoints.iter().zip(read.iter_mut()) {
        if ep.stats.foreign() {
            *reading = None;
        }
    }
    let judged = upstreams.ceiling.judge_round(now, &read);
    let limit = upstreams.ceiling.limit(now);
    let mut read: Vec<Option<u64>> = Vec::with_capacity(judged.len());
    for (ep, reading) in upstreams.endpoints.iter().zip(judged) {
        if ep.stats.foreign() {
            read.push(None);
            continue;
        }
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

/// Asks the endpoints whose cluster is not known yet (or was learnt [`GENESIS_RECHECK`]
/// ago) for their genesis hash, and marks as *foreign* every endpoint whose hash differs
/// from the one a strict majority of the endpoints that told theirs share: a devnet or
/// testnet URL in a mainnet pool. Its answers, slots included, belong to another chain
/// (and move like a chain: the slot ceiling cannot catch it), so it is left out of every
/// plan. An endpoint that does not answer `getGenesisHash` is never foreign; with no strict
/// majority (two endpoints that disagree) nothing can be told, and nobody is left out.
async fn check_clusters(upstreams: &Upstreams, timeout: Duration) {
    let now = clock::now();
    let due: Vec<usize> = {
        let known = upstreams.genesis.lock();
        (0..upstreams.endpoints.len())
            .filter(|&i| match known.get(i).and_then(Option::as_ref) {
                None => true,
                Some((hash, asked)) => {
                    let every = if hash.is_some() {
                        GENESIS_RECHECK
                    } else {
                        GENESIS_RETRY
                    };
                    now.saturating_duration_since(*asked) >= every
                }
            })
            .collect()
    };
    if due.is_empty() {
        return;
    }
    let asks = due.iter().map(|&i| async move {
        let ep = &upstreams.endpoints[i];
        let probe = ep.send(
            Bytes::from_static(GENESIS_PROBE),
            0,
            EmptyRule::Never,
            1024,
            true,
        );
        let hash = match tokio::time::timeout(timeout, probe).await {
            Ok(Outcome::Success { result, .. }) => {
                serde_json::from_str::<String>(result.get()).ok()
            }
            _ => None,
        };
        (i, hash)
    });
    let answers = futures_util::future::join_all(asks).await;
    let verdict = {
        let mut known = upstreams.genesis.lock();
        known.resize(upstreams.endpoints.len(), None);
        for (i, hash) in answers {
            // A hash once learnt stands until an answer says otherwise.
            let hash = hash
                .map(Arc::from)
                .or_else(|| known[i].take().and_then(|(h, _)| h));
            known[i] = Some((hash, now));
        }
        let hashes: Vec<Option<&str>> = known
            .iter()
            .map(|k| k.as_ref().and_then(|(h, _)| h.as_deref()))
            .collect();
        (
            foreign_by_majority(&hashes),
            majority(&hashes).map(Arc::from),
        )
    };
    let (verdict, cluster) = verdict;
    // After a reload, the ceiling taken over from the old pool is kept only if this pool
    // is on the old one's cluster.
    if let Some(cluster) = cluster
        && let Some(was) = upstreams.inherited_cluster.lock().take()
        && was != cluster
    {
        upstreams.ceiling.reset();
        tracing::warn!("the reloaded config is on another cluster: its slot ceiling starts anew");
    }
    // With no majority nothing can be told: nobody is left out.
    let ambiguous = verdict.is_none();
    if upstreams
        .clusters_ambiguous
        .swap(ambiguous, Ordering::Relaxed)
        != ambiguous
        && ambiguous
    {
        tracing::warn!("endpoints disagree on the genesis hash and no cluster has a majority");
    }
    let foreign = verdict.unwrap_or_else(|| vec![false; upstreams.endpoints.len()]);
    for (ep, foreign) in upstreams.endpoints.iter().zip(foreign) {
        if ep.stats.set_foreign(foreign) {
            if foreign {
                // Whatever it proved to the slot ceiling was another chain's.
                upstreams.ceiling.forget(ep.index);
                ep.stats.set_lag(0, false);
                tracing::warn!(endpoint = %ep.name, "on another cluster (genesis hash): left out");
            } else {
                tracing::info!(endpoint = %ep.name, "on the pool's cluster again");
            }
        }
    }
}

/// Per endpoint, whether its hash differs from the one a strict majority of the known
/// hashes share; `None` when no hash has a strict majority.
pub(crate) fn foreign_by_majority(hashes: &[Option<&str>]) -> Option<Vec<bool>> {
    let majority = majority(hashes)?;
    Some(
        hashes
            .iter()
            .map(|h| h.is_some_and(|h| h != majority))
            .collect(),
    )
}
