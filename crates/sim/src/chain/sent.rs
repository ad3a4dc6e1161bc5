//! Transactions clients send: `sendTransaction` lands them on the shared chain, so a client
//! can confirm what it sent.
//!
//! ## Model
//! * **Landing.** A sent transaction lands in the slot after the chain's tip at the instant an
//!   endpoint received it, as the next leader would include it (if a concurrent send already
//!   landed in a later slot, in that one, so sent transactions stay in slot order). Nothing is
//!   executed: it succeeds (`err: null`). Only its first signature is recorded.
//! * **Visibility.** From then on every endpoint shows it by the rule every launch follows
//!   (the `visibility` submodule): at commitment `c` once its slot has reached `c` in the
//!   endpoint's lagged view and the endpoint's own indexing delay for it has passed. So
//!   `getSignatureStatuses` reports it and `signatureSubscribe` notifies it exactly as they do a
//!   launch, through the same lookups ([`Ledger::landed`], [`Ledger::delay`]), and the
//!   visibility oracle ([`Chain::visibility`]) says when.
//! * **Idempotence.** A signature the chain already has (a sent transaction still retained, or
//!   a launch) does not land again: sending the same transaction twice, or to every endpoint
//!   of a cluster, lands it once.
//! * **Retention.** The newest [`MAX_SENT`] (10 000) sent transactions are kept, apart from
//!   the launches' `max_retained_signatures`; older ones are forgotten (their statuses become
//!   `null`, and sending one again lands it again).
//! * **Numbering.** Sent transactions are numbered from [`SENT_SEQUENCE_BASE`] (2⁶²), far from
//!   the launches' numbers (from 0), so the draws keyed by a sequence number (indexing delay,
//!   PubSub delivery delay and drops) are the existing models' draws, never a launch's.
//!
//! They are not launchpad transactions: `getSignaturesForAddress`, `getTransaction` and the
//! logs, account and program subscriptions do not know them.

use super::Chain;
use super::ledger::{Ledger, Record};
use super::time::ChainTime;
use crate::codec::decode_fixed;

/// How many sent transactions the chain keeps (the newest; ~300 bytes each with their delays
/// and index, so ~3 MB at most).
pub(crate) const MAX_SENT: usize = 10_000;

/// The sequence number of the first sent transaction.
pub(crate) const SENT_SEQUENCE_BASE: u64 = 1 << 62;

/// Whether `record` is a sent transaction (not a launch).
pub(crate) fn is_sent(record: &Record) -> bool {
    record.sequence >= SENT_SEQUENCE_BASE
}

impl Ledger {
    /// Lands a sent transaction with this signature in `slot` (or in the last sent one's, if
    /// that is later); `None`, and nothing changes, if the chain already has the signature.
    pub(super) fn land(&mut self, signature: [u8; 64], slot: u64) -> Option<Record> {
        if self.landed(&signature).is_some() {
            return None;
        }
        let slot = slot.max(self.sent.back().map_or(0, |r| r.slot));
        let record = self
            .sent
            .push(slot, 0, signature, self.seed, &self.delay_models);
        while self.sent.len() > MAX_SENT {
            self.sent.pop_front();
        }
        Some(record)
    }

    /// The transaction with this signature, a launch or a sent one, if still retained: what
    /// has a signature status.
    pub(crate) fn landed(&self, signature: &[u8; 64]) -> Option<&Record> {
        self.by_signature(signature)
            .or_else(|| self.sent.by_signature(signature))
    }

    /// The retained sent transactions from sequence number `from` on, oldest first.
    pub(crate) fn sent_since(&self, from: u64) -> impl Iterator<Item = &Record> {
        self.sent.since(from)
    }

    /// The sequence number of the oldest retained sent transaction with a slot at or after
    /// `slot` (the next one's if there is none).
    pub(crate) fn first_sent_at(&self, slot: u64) -> u64 {
        self.sent.first_sequence_at(slot)
    }
}

impl Chain {
    /// Lands a sent transaction with this (first) signature, received at `now`: returns the
    /// slot it lands in, or `None` if the chain already has the signature (see the module
    /// docs).
    pub(crate) fn land(&self, signature: [u8; 64], now: ChainTime) -> Option<u64> {
        let slot = self.tip_at(now) + 1;
        let record = self.inner.ledger.write().land(signature, slot)?;
        Some(record.slot)
    }

    /// The slot a transaction sent to any endpoint of the chain (`sendTransaction`) landed in:
    /// the ground truth, no lag or delay applied. `None` for a signature that was never sent,
    /// or was sent so long ago that it is forgotten (the chain keeps the newest 10 000), and
    /// for launches ([`Chain::signature_info`] has those).
    pub fn sent_slot(&self, signature: &str) -> Option<u64> {
        let sig = decode_fixed::<64>(signature).ok()?;
        self.read(|l| l.sent.by_signature(&sig).map(|r| r.slot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{ChainConfig, ClockMode};
    use crate::codec::base58_encode;

    #[test]
    fn lands_once_in_the_next_slot_and_keeps_the_newest() {
        let chain = Chain::new(3, ChainConfig::default(), ClockMode::Manual);
        let tip = chain.slot();
        assert_eq!(chain.land([1; 64], chain.now()), Some(tip + 1));
        assert_eq!(chain.land([1; 64], chain.now()), None, "idempotent");
        let text = base58_encode(&[1; 64]);
        assert_eq!(chain.sent_slot(&text), Some(tip + 1));
        // A launch's signature is on the chain already.
        let launch = chain.signatures(tip, 1).remove(0);
        let launch_sig = decode_fixed::<64>(&launch.signature).unwrap();
        assert_eq!(chain.land(launch_sig, chain.now()), None);
        assert_eq!(chain.sent_slot(&launch.signature), None);
        // Received late by a call that read the clock earlier: still in slot order.
        chain.advance(2);
        assert_eq!(chain.land([2; 64], chain.now()), Some(tip + 3));
        assert_eq!(chain.land([3; 64], ChainTime::ZERO), Some(tip + 3));
        // Only the newest MAX_SENT are kept; a forgotten one lands again.
        for i in 0..MAX_SENT as u64 {
            let mut sig = [9; 64];
            sig[..8].copy_from_slice(&i.to_le_bytes());
            assert!(chain.land(sig, chain.now()).is_some());
        }
        assert_eq!(chain.sent_slot(&text), None);
        assert!(chain.read(|l| l.landed(&[1; 64]).is_none()));
        assert_eq!(chain.land([1; 64], chain.now()), Some(tip + 3));
        assert_eq!(chain.read(|l| l.sent.len()), MAX_SENT);
    }
}
