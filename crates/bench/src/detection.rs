//! Time to detect a launch: from a launch's creation on the sim chain to the bot validating
//! its mint (signature listed → transaction fetched → mint's account read), per arm, next to a
//! **detection oracle** that polls on the same schedule.
//!
//! # What the workload records
//! Every launchpad transaction created during the measured period is a *launch*: created (at
//! the start of its slot, [`Chain::slot_start`]) after the first poll and at least
//! [`WorkloadConfig::detection_grace`](crate::workload::WorkloadConfig::detection_grace) before
//! the last, so every arm had time to see it. For each, the workload notes when the bot got a
//! usable `getAccountInfo` answer for its mint ([`Launch::validated_at`], on the chain's clock).
//! A launch never validated by the end of the run is *missed*: its signature was never listed,
//! or its transaction or account read failed or came back stale (the bot does not retry).
//!
//! # The oracle
//! It polls at the workload's instants ([`PollSchedule`]: first poll + k × interval, on the
//! chain's clock). At every poll from the launch's creation on, it draws, for every provider,
//! three latencies from that provider's model (the list, the transaction, the account), each
//! × the correlated slowdown at that poll, and three fault draws. The provider can serve the
//! launch from that poll if its list answer shows it — `visible_at` ([`Chain::visibility_of`],
//! at `confirmed`) at or before the answer, i.e. poll + list latency, since the sim answers
//! as of the moment it sends the answer, after the latency — and none of the three calls
//! fails. Detection = poll + the three latencies, minimised over polls and providers: the
//! provider that already shows the launch and answers fastest. Polls go on while they can
//! still beat the best so far; with no usable provider before the polls end, the oracle
//! misses the launch too.
//!
//! Simplifications (the first two can only make the oracle slower than a perfect router; the
//! others flatter it or cut both ways):
//! - it uses **one** provider for all three calls. An arm that races every call takes the
//!   fastest provider per call, and a sum of per-call minimums can beat the oracle's minimum
//!   of sums, so an arm can come out slightly ahead of it;
//! - polls sent before the launch was created are not considered (only a list answer delayed
//!   past `created_at` + one slot + the indexing delay could show it: a stall, never the best);
//! - the transaction and account calls are timed with the slowdown in force at the poll, and
//!   with the provider's current slot lag (as [`Chain::visibility_of`] reports it);
//! - it sees no network, gateway, client or JSON cost, no rate limit and no client timeout,
//!   and every poll's list is answered independently of the others;
//! - the draws come from its own seeded stream (per launch), not the arms' servers, so the
//!   oracle and an arm agree in distribution, not draw for draw.

use std::time::Duration;

use dualrpc_sim::{Chain, ChainTime, Commitment, Profile, SignatureInfo, Visibility};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::results::Detection;

/// Domain tag of the oracle's per-launch random streams.
const DOMAIN_DETECTION: u64 = 0xDE7E_C710;

/// When a bot polls for new signatures, on the chain's clock: `first + k × interval` for every
/// `k ≥ 0` strictly before `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollSchedule {
    /// The first poll.
    pub first: ChainTime,
    /// Time between polls.
    pub interval: Duration,
    /// No poll at or after this (the end of the measured period).
    pub end: ChainTime,
}

impl PollSchedule {
    /// The schedule of a bot starting at `now` for `duration`: its first poll is the first
    /// multiple of `interval` on the chain's clock at least 1 ms after `now`. Slots start at
    /// multiples of the slot time, so every arm (each on its own chain, started at its own
    /// moment) polls at the same instants relative to the slots, and arms compare with one
    /// another and with one oracle.
    pub fn aligned(now: ChainTime, interval: Duration, duration: Duration) -> PollSchedule {
        let step = i64::try_from(interval.as_nanos())
            .unwrap_or(i64::MAX)
            .max(1);
        let earliest = now.as_nanos().saturating_add(1_000_000);
        let k = earliest.div_euclid(step) + i64::from(earliest.rem_euclid(step) != 0);
        let first = ChainTime::from_nanos(k.saturating_mul(step));
        PollSchedule {
            first,
            interval,
            end: first + duration,
        }
    }

    /// The first poll at or after `t`; `None` if the polls end before.
    pub fn poll_at_or_after(&self, t: ChainTime) -> Option<ChainTime> {
        let interval = i64::try_from(self.interval.as_nanos())
            .unwrap_or(i64::MAX)
            .max(1);
        let since = t.as_nanos().saturating_sub(self.first.as_nanos());
        let k = if since <= 0 {
            0
        } else {
            since / interval + i64::from(since % interval != 0)
        };
        let poll = ChainTime::from_nanos(
            self.first
                .as_nanos()
                .saturating_add(k.saturating_mul(interval)),
        );
        (poll < self.end).then_some(poll)
    }
}

/// One launch of the measured period, as the workload saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// Its signature.
    pub signature: String,
    /// Its position in the chain's history ([`SignatureInfo::sequence`]).
    pub sequence: u64,
    /// When it was created: the start of its slot.
    pub created_at: ChainTime,
    /// When the bot got a usable answer for its mint's account; `None` if it never did.
    pub validated_at: Option<ChainTime>,
}

/// What the workload hands over for detection: its polling schedule and every launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionLog {
    /// When the workload polled.
    pub schedule: PollSchedule,
    /// Launches created in the last `grace` of the run are left out.
    pub grace: Duration,
    /// The launches of the measured period, oldest first.
    pub launches: Vec<Launch>,
}

/// How the oracle detected one launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OracleDetection {
    /// The poll whose list it used.
    pub poll: ChainTime,
    /// The provider it asked (index in the profile).
    pub endpoint: usize,
    /// When that provider's list answer, showing the launch, came back.
    pub listed_at: ChainTime,
    /// When it had validated the mint: `listed_at` + the transaction's and the account's
    /// latencies.
    pub detected_at: ChainTime,
}

/// The oracle's detection of launch `sequence` (see the module docs); `None` if no provider
/// was usable at any poll of `schedule`.
pub fn oracle_detection(
    chain: &Chain,
    profile: &Profile,
    seed: u64,
    schedule: &PollSchedule,
    sequence: u64,
) -> Option<OracleDetection> {
    let visible: Vec<Visibility> = (0..chain.endpoint_count())
        .filter_map(|e| chain.visibility_of(sequence, e, Commitment::Confirmed))
        .collect();
    let created_at = visible.first()?.created_at;
    let mut rng = StdRng::seed_from_u64(
        seed ^ DOMAIN_DETECTION ^ sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let mut best: Option<OracleDetection> = None;
    let mut next = schedule.poll_at_or_after(created_at);
    // A later poll can only win while it is earlier than the best detection so far.
    while let Some(poll) = next.filter(|p| best.is_none_or(|b| *p < b.detected_at)) {
        let factor = profile.slowdown.as_ref().map_or(1.0, |s| {
            s.factor_at(seed, poll.saturating_duration_since(ChainTime::ZERO))
        });
        for v in &visible {
            let Some(spec) = profile.endpoints.get(v.endpoint) else {
                continue;
            };
            // Draw for every provider at every poll, so the stream does not depend on who
            // shows the launch yet.
            let mut draw = || {
                let latency = spec.latency.sample(&mut rng).mul_f64(factor);
                (latency, rng.random::<f64>() < spec.faults.failure_rate())
            };
            let [(list, f1), (tx, f2), (account, f3)] = [draw(), draw(), draw()];
            let listed_at = poll + list;
            let detected_at = listed_at + tx + account;
            if v.visible_at <= listed_at
                && !(f1 || f2 || f3)
                && best.is_none_or(|b| detected_at < b.detected_at)
            {
                best = Some(OracleDetection {
                    poll,
                    endpoint: v.endpoint,
                    listed_at,
                    detected_at,
                });
            }
        }
        next = schedule.poll_at_or_after(poll + schedule.interval);
    }
    best
}

/// The arm's [`Detection`]: its launches' delays beside the oracle's on the same schedule.
pub fn measure(chain: &Chain, profile: &Profile, seed: u64, log: &DetectionLog) -> Detection {
    let oracle: Vec<Option<ChainTime>> = log
        .launches
        .iter()
        .map(|l| {
            oracle_detection(chain, profile, seed, &log.schedule, l.sequence).map(|o| o.detected_at)
        })
        .collect();
    Detection {
        grace: log.grace,
        ..summarise(&log.launches, &oracle, log.schedule.interval)
    }
}

/// Counts and delays from the launches and the oracle's detection of each (same order):
/// missed = never validated; late = validated more than `poll_interval` after the oracle.
pub fn summarise(
    launches: &[Launch],
    oracle: &[Option<ChainTime>],
    poll_interval: Duration,
) -> Detection {
    let us = |at: ChainTime, created: ChainTime| {
        u64::try_from(at.saturating_duration_since(created).as_micros()).unwrap_or(u64::MAX)
    };
    let mut d = Detection {
        poll_interval,
        launches: launches.len() as u64,
        ..Detection::default()
    };
    for (i, launch) in launches.iter().enumerate() {
        let by_oracle = oracle.get(i).copied().flatten();
        match by_oracle {
            Some(at) => d.oracle_delays_us.push(us(at, launch.created_at)),
            None => d.oracle_missed += 1,
        }
        match launch.validated_at {
            Some(at) => {
                d.delays_us.push(us(at, launch.created_at));
                if by_oracle.is_some_and(|o| at > o + poll_interval) {
                    d.late += 1;
                }
            }
            None => d.missed += 1,
        }
    }
    d.delays_us.sort_unstable();
    d.oracle_delays_us.sort_unstable();
    d
}

/// The launches created in `(after, through]` (ground truth, oldest first).
pub fn launches_between(chain: &Chain, after: ChainTime, through: ChainTime) -> Vec<SignatureInfo> {
    if through <= after {
        return Vec::new();
    }
    let mut limit = 256;
    loop {
        let sigs = chain.signatures(chain.slot(), limit);
        let reaches_back = sigs.len() < limit
            || sigs
                .last()
                .is_some_and(|s| chain.slot_start(s.slot) <= after);
        if reaches_back {
            let mut out: Vec<SignatureInfo> = sigs
                .into_iter()
                .filter(|s| {
                    let created = chain.slot_start(s.slot);
                    created > after && created <= through
                })
                .collect();
            out.reverse();
            return out;
        }
        limit = limit.saturating_mul(4);
    }
}

#[cfg(test)]
mod tests;
