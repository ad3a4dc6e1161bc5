//! When each endpoint shows each transaction: whole-slot lag plus a per-transaction **indexing
//! delay**, and the oracle API ([`Chain::visibility`]) a benchmark uses to know, for every
//! launch, which endpoint could have shown it first and when.
//!
//! ## The rule
//! A transaction is created at the start of its slot (`created_at`, [`Chain::slot_start`]).
//! Endpoint `e`, `lag` slots behind, shows it at commitment `c` from
//!
//! ```text
//! visible_at = created_at + (depth(c) + lag) × slot_time + delay_e(tx)
//! ```
//!
//! on, where `depth(c)` is 0 / [`crate::CONFIRMED_DEPTH`] / [`crate::FINALIZED_DEPTH`] slots.
//! The first two terms are the instant the slot reaches `c` on that endpoint (the whole-slot
//! rule the sim always had: `slot <= tip − lag − depth(c)`); the delay is the time the node
//! then takes to index the transaction. So the transaction is visible only once **both** its
//! slot is within the endpoint's lag-adjusted view **and** `now >= created_at + delay`, and the
//! delay matters at every commitment (were it counted from `created_at` alone, the 400 ms a
//! slot takes to become `confirmed` would hide any delay shorter than that, and the bot's
//! `confirmed` reads could never see two providers trade places).
//!
//! Every method applies the same rule through one endpoint's view (signature lists,
//! `getTransaction`, `getSignatureStatuses`, the mint's account and balance), so at a given
//! commitment no method shows a transaction that another says does not exist yet.
//!
//! ## The delay
//! `delay_e(tx)` is drawn from the endpoint's [`crate::EndpointSpec::indexing_delay`] (a
//! [`LatencyModel`]) with a stream keyed by `(cluster seed, endpoint index, transaction
//! sequence)`: reproducible for a seed, and independent across endpoints and transactions, so
//! which endpoint shows a launch first changes from launch to launch. The draw uses the crate's
//! own seeded stream, not `rand`, so it stays bit-for-bit stable across dependency upgrades.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::time::{ChainTime, nanos};
use super::{Chain, Commitment, Record};
use crate::codec::{SeedStream, decode_fixed};
use crate::latency::LatencyModel;

/// Domain tag of the indexing-delay streams.
const DOMAIN_INDEXING: u64 = 0x1D_E7A7_0DE1;

/// One endpoint as the chain knows it: what its views are made of.
#[derive(Debug)]
pub(crate) struct EndpointView {
    pub(crate) name: String,
    pub(crate) indexing_delay: LatencyModel,
    /// Whole-slot lag; a runtime control ([`crate::SimEndpoint::set_lag`]).
    pub(crate) lag: AtomicU64,
}

/// The indexing delay of transaction `sequence` on endpoint `endpoint`.
pub(crate) fn draw_indexing_delay(
    model: &LatencyModel,
    seed: u64,
    endpoint: usize,
    sequence: u64,
) -> Duration {
    let mut stream = SeedStream::new(&[seed, DOMAIN_INDEXING, endpoint as u64, sequence]);
    model.sample_seeded(&mut stream)
}

/// When one endpoint first shows one transaction: the answer of the visibility oracle
/// ([`Chain::visibility`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visibility {
    /// The endpoint (its index in the profile, as in [`Chain::endpoint_name`]).
    pub endpoint: usize,
    /// The transaction's position in the chain's history ([`crate::SignatureInfo::sequence`]).
    pub sequence: u64,
    /// Its slot.
    pub slot: u64,
    /// The commitment this answer is for.
    pub commitment: Commitment,
    /// When it was created: the start of its slot.
    pub created_at: ChainTime,
    /// The endpoint's slot lag the answer was computed with (its current lag).
    pub lag_slots: u64,
    /// The endpoint's indexing delay for this transaction.
    pub indexing_delay: Duration,
    /// The first instant the endpoint shows it at `commitment`, in every method.
    pub visible_at: ChainTime,
}

impl Visibility {
    /// Whether the endpoint shows the transaction at `now` (e.g. [`Chain::now`]).
    pub fn is_visible_at(&self, now: ChainTime) -> bool {
        now >= self.visible_at
    }

    /// How long after its creation the endpoint first shows the transaction.
    pub fn since_creation(&self) -> Duration {
        self.visible_at.saturating_duration_since(self.created_at)
    }
}

impl Chain {
    /// When an endpoint with `lag` shows `record`, given its indexing `delay`.
    pub(crate) fn visible_at(
        &self,
        record: &Record,
        delay: Duration,
        lag: u64,
        commitment: Commitment,
    ) -> ChainTime {
        let slots = i64::try_from(commitment.depth().saturating_add(lag)).unwrap_or(i64::MAX);
        let reached = self
            .slot_start(record.slot)
            .as_nanos()
            .saturating_add(self.slot_nanos().saturating_mul(slots));
        ChainTime::from_nanos(reached.saturating_add(nanos(delay)))
    }

    /// How many endpoints the chain was told about ([`Chain::with_endpoints`]; a cluster
    /// registers all of its endpoints, in profile order).
    pub fn endpoint_count(&self) -> usize {
        self.inner.endpoints.len()
    }

    /// The name of endpoint `endpoint` (its index in the profile).
    pub fn endpoint_name(&self, endpoint: usize) -> Option<&str> {
        self.inner.endpoints.get(endpoint).map(|e| e.name.as_str())
    }

    /// The index of the endpoint called `name` (the `endpoint` argument of the oracle).
    pub fn endpoint_index(&self, name: &str) -> Option<usize> {
        self.inner.endpoints.iter().position(|e| e.name == name)
    }

    /// The current slot lag of endpoint `endpoint`.
    pub fn endpoint_lag(&self, endpoint: usize) -> Option<u64> {
        let view = self.inner.endpoints.get(endpoint)?;
        Some(view.lag.load(Ordering::Relaxed))
    }

    /// Changes an endpoint's slot lag (no-op for an unknown endpoint).
    pub(crate) fn set_endpoint_lag(&self, endpoint: usize, lag: u64) {
        if let Some(view) = self.inner.endpoints.get(endpoint) {
            view.lag.store(lag, Ordering::Relaxed);
        }
    }

    /// The indexing-delay model of endpoint `endpoint`.
    pub fn indexing_delay_model(&self, endpoint: usize) -> Option<LatencyModel> {
        self.inner.endpoints.get(endpoint).map(|e| e.indexing_delay)
    }

    /// Endpoint `endpoint`'s indexing delay for transaction `sequence`: a pure function of
    /// `(seed, endpoint, sequence)` and the endpoint's model, defined even for transactions not
    /// generated yet or already forgotten. `None` for an unknown endpoint.
    pub fn indexing_delay(&self, endpoint: usize, sequence: u64) -> Option<Duration> {
        let view = self.inner.endpoints.get(endpoint)?;
        let delay = draw_indexing_delay(&view.indexing_delay, self.inner.seed, endpoint, sequence);
        // The ledger keeps whole nanoseconds; answer exactly what the methods use.
        Some(Duration::from_nanos(
            u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX),
        ))
    }

    /// **The visibility oracle**: when endpoint `endpoint` first shows the transaction with
    /// this signature at `commitment` (with the endpoint's current lag), and when the
    /// transaction was created. From `visible_at` on, `getSignaturesForAddress`,
    /// `getTransaction`, `getSignatureStatuses` and the reads of the mint it created all show
    /// it on that endpoint at that commitment; before, none does.
    ///
    /// It also answers for a transaction a client sent (`sendTransaction`), which only
    /// `getSignatureStatuses` and `signatureSubscribe` show, by the same rule; its `sequence`
    /// is numbered apart from the launches' (from 2⁶²).
    ///
    /// `None` for an unknown or forgotten signature or an unknown endpoint. The answer does not
    /// depend on the current time, so it can be asked before the transaction is visible (or
    /// even generated, with [`Chain::visibility_of`]).
    pub fn visibility(
        &self,
        signature: &str,
        endpoint: usize,
        commitment: Commitment,
    ) -> Option<Visibility> {
        let sig = decode_fixed::<64>(signature).ok()?;
        let sequence = self.read(|l| l.landed(&sig).map(|r| r.sequence))?;
        self.visibility_of(sequence, endpoint, commitment)
    }

    /// [`Chain::visibility`] by the transaction's sequence number
    /// ([`crate::SignatureInfo::sequence`], or a sent transaction's [`Visibility::sequence`]).
    /// `None` if that transaction has not been generated (or sent) yet (its slot is beyond the
    /// tip) or has been forgotten.
    pub fn visibility_of(
        &self,
        sequence: u64,
        endpoint: usize,
        commitment: Commitment,
    ) -> Option<Visibility> {
        let lag = self.endpoint_lag(endpoint)?;
        let (record, delay) = self.read(|l| {
            let r = *l.get(sequence)?;
            Some((r, l.delay(&r, endpoint)))
        })?;
        Some(Visibility {
            endpoint,
            sequence,
            slot: record.slot,
            commitment,
            created_at: self.slot_start(record.slot),
            lag_slots: lag,
            indexing_delay: delay,
            visible_at: self.visible_at(&record, delay, lag, commitment),
        })
    }

    /// The endpoint that shows this transaction first at `commitment` (the lowest index on a
    /// tie), with its [`Visibility`]: who a perfect router would have learned it from.
    pub fn first_visible(&self, signature: &str, commitment: Commitment) -> Option<Visibility> {
        (0..self.endpoint_count())
            .filter_map(|e| self.visibility(signature, e, commitment))
            .min_by_key(|v| (v.visible_at, v.endpoint))
    }
}
