//! The chain's ledger: the launchpad transactions generated so far, oldest first, with the
//! indexes methods look them up by (signature, mint) and each transaction's indexing delay on
//! every endpoint (kept in a [`Records`]); the transactions clients sent, in a `Records` of
//! their own (the `sent` submodule); and the [`Chain`]'s ground-truth queries on the launches
//! (no lag or delay applied).
//!
//! Everything in it is derived from the seed: the number of transactions in a slot from
//! `(seed, slot)`, every key of a transaction from `(seed, sequence)`, and its indexing delay on
//! endpoint `e` from `(seed, e, sequence)` (see [`super::visibility`]). The delays are drawn once,
//! when the transaction is generated, and kept beside it, so a visibility check on the hot path
//! (every entry of a 1000-signature page) is a lookup.

use std::collections::HashMap;
use std::time::Duration;

use super::records::Records;
use super::sent::{SENT_SEQUENCE_BASE, is_sent};
use super::{Chain, SignatureInfo};
use crate::accounts::LaunchAccount;
use crate::codec::{SeedStream, base58_encode, decode_fixed};
use crate::latency::LatencyModel;

// Domain tags keep the seeded streams for different purposes independent.
const DOMAIN_SLOT_COUNT: u64 = 0x510_7C0;
const DOMAIN_TX: u64 = 0x7_8000;

/// The keys of one generated transaction, derived from `(seed, sequence)`.
#[derive(Debug, Clone)]
pub(crate) struct TxKeys {
    /// The transaction's first signature (the creator's).
    pub(crate) signature: [u8; 64],
    /// Second signature (the new mint keypair signs `create`).
    pub(crate) mint_signature: [u8; 64],
    /// Per-transaction accounts, in [`crate::templates::KEY_ROLES`] order.
    pub(crate) accounts: [[u8; 32]; 6],
}

/// Index of the mint in [`TxKeys::accounts`].
pub(crate) const MINT_ROLE: usize = 1;

/// Index of the bonding curve in [`TxKeys::accounts`].
pub(crate) const CURVE_ROLE: usize = 2;

pub(crate) fn tx_keys(seed: u64, sequence: u64) -> TxKeys {
    let mut s = SeedStream::new(&[seed, DOMAIN_TX, sequence]);
    let signature = s.bytes();
    let mint_signature = s.bytes();
    let mut accounts = [[0_u8; 32]; 6];
    for a in &mut accounts {
        s.fill(a);
    }
    TxKeys {
        signature,
        mint_signature,
        accounts,
    }
}

/// One transaction in the ledger (keys are re-derived from the sequence number on demand).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    pub(crate) sequence: u64,
    pub(crate) slot: u64,
    pub(crate) transaction_index: u32,
    pub(crate) signature: [u8; 64],
    /// The signature in base58, kept inline so a 1000-entry page does no encoding.
    signature_text: [u8; 88],
    signature_len: u8,
}

impl Record {
    pub(super) fn new(
        sequence: u64,
        slot: u64,
        transaction_index: u32,
        signature: [u8; 64],
    ) -> Record {
        let text = base58_encode(&signature);
        let mut signature_text = [0_u8; 88];
        // 64 bytes never need more than 88 base58 characters.
        signature_text[..text.len()].copy_from_slice(text.as_bytes());
        Record {
            sequence,
            slot,
            transaction_index,
            signature,
            signature_text,
            signature_len: text.len() as u8,
        }
    }

    /// The signature in base58.
    pub(crate) fn signature_str(&self) -> &str {
        // Only ever filled from a `String`, so always UTF-8; the fallback is unreachable.
        std::str::from_utf8(&self.signature_text[..usize::from(self.signature_len)])
            .unwrap_or_default()
    }
}

/// The generated transactions, oldest first, and apart from them the transactions clients
/// sent (the `sent` submodule).
#[derive(Debug)]
pub(crate) struct Ledger {
    pub(super) seed: u64,
    /// Mean transactions per slot.
    per_slot: f64,
    max_retained: usize,
    /// Indexing-delay model of each endpoint, in endpoint order.
    pub(super) delay_models: Vec<LatencyModel>,
    /// Last slot generated (inclusive).
    pub(super) through_slot: u64,
    /// The launchpad's transactions, numbered from 0.
    pub(super) launches: Records,
    /// The transactions clients sent, numbered from [`SENT_SEQUENCE_BASE`].
    pub(super) sent: Records,
    by_mint: HashMap<[u8; 32], u64>,
    by_curve: HashMap<[u8; 32], u64>,
}

impl Ledger {
    /// An empty ledger that will generate slots after `through_slot`.
    pub(super) fn new(
        seed: u64,
        per_slot: f64,
        max_retained: usize,
        delay_models: Vec<LatencyModel>,
        through_slot: u64,
    ) -> Ledger {
        let endpoints = delay_models.len();
        Ledger {
            seed,
            per_slot,
            max_retained,
            delay_models,
            through_slot,
            launches: Records::new(0, endpoints),
            sent: Records::new(SENT_SEQUENCE_BASE, endpoints),
            by_mint: HashMap::new(),
            by_curve: HashMap::new(),
        }
    }

    /// The retained transaction with this sequence number: a launch, or a sent one (numbered
    /// from [`SENT_SEQUENCE_BASE`]).
    pub(crate) fn get(&self, sequence: u64) -> Option<&Record> {
        if sequence >= SENT_SEQUENCE_BASE {
            self.sent.get(sequence)
        } else {
            self.launches.get(sequence)
        }
    }

    /// The launch transaction with this signature, if still retained.
    pub(crate) fn by_signature(&self, signature: &[u8; 64]) -> Option<&Record> {
        self.launches.by_signature(signature)
    }

    /// The transaction that created this mint, if still retained.
    pub(crate) fn by_mint(&self, mint: &[u8; 32]) -> Option<&Record> {
        self.get(*self.by_mint.get(mint)?)
    }

    /// The transaction that created this account (a mint or a bonding curve), if still
    /// retained, and which of its accounts it is.
    pub(crate) fn by_account(&self, key: &[u8; 32]) -> Option<(&Record, LaunchAccount)> {
        if let Some(r) = self.by_mint(key) {
            return Some((r, LaunchAccount::Mint));
        }
        Some((
            self.get(*self.by_curve.get(key)?)?,
            LaunchAccount::BondingCurve,
        ))
    }

    /// The retained launch transactions from sequence number `from` on, oldest first.
    pub(crate) fn since(&self, from: u64) -> impl Iterator<Item = &Record> {
        self.launches.since(from)
    }

    /// The sequence number of the oldest retained launch transaction with a slot at or after
    /// `slot` (the next one to be generated if there is none yet).
    pub(crate) fn first_sequence_at(&self, slot: u64) -> u64 {
        self.launches.first_sequence_at(slot)
    }

    /// Launch transactions with `slot <= max_slot`, newest first, strictly older than `before`
    /// (a sequence number) when given.
    pub(crate) fn newest_first(
        &self,
        max_slot: u64,
        before: Option<u64>,
    ) -> impl Iterator<Item = &Record> {
        self.launches.newest_first(max_slot, before)
    }

    /// The indexing delay of a retained `record` (a launch or a sent transaction) on
    /// `endpoint` (zero for an endpoint the chain was not told about).
    pub(crate) fn delay(&self, record: &Record, endpoint: usize) -> Duration {
        if is_sent(record) {
            self.sent.delay(record, endpoint)
        } else {
            self.launches.delay(record, endpoint)
        }
    }

    /// Generates every slot up to `tip`, then forgets the oldest transactions beyond the
    /// retention limit.
    pub(super) fn extend_to(&mut self, tip: u64) {
        while self.through_slot < tip {
            let slot = self.through_slot + 1;
            let count = slot_count(self.seed, self.per_slot, slot);
            for index in 0..count {
                let sequence = self.launches.next_sequence();
                let keys = tx_keys(self.seed, sequence);
                // Launchpad transactions sit among others in a real block.
                let transaction_index = 40 + index * 17;
                let record = self.launches.push(
                    slot,
                    transaction_index,
                    keys.signature,
                    self.seed,
                    &self.delay_models,
                );
                debug_assert_eq!(record.sequence, sequence);
                self.by_mint.insert(keys.accounts[MINT_ROLE], sequence);
                self.by_curve.insert(keys.accounts[CURVE_ROLE], sequence);
            }
            self.through_slot = slot;
        }
        while self.launches.len() > self.max_retained {
            if let Some(old) = self.launches.pop_front() {
                let keys = tx_keys(self.seed, old.sequence);
                self.by_mint.remove(&keys.accounts[MINT_ROLE]);
                self.by_curve.remove(&keys.accounts[CURVE_ROLE]);
            }
        }
    }
}

impl Chain {
    /// Everything known about a transaction, whatever its slot (no lag or delay applied).
    pub fn signature_info(&self, signature: &str) -> Option<SignatureInfo> {
        let sig = decode_fixed::<64>(signature).ok()?;
        let record = self.read(|l| l.by_signature(&sig).copied())?;
        Some(self.info(&record))
    }

    /// The newest transactions with `slot <= max_slot`, newest first: the ground truth, with
    /// no endpoint's indexing delay applied (what a lag-free endpoint with zero delay returns
    /// for `getSignaturesForAddress(program)`).
    pub fn signatures(&self, max_slot: u64, limit: usize) -> Vec<SignatureInfo> {
        let records: Vec<Record> = self.read(|l| {
            l.newest_first(max_slot, None)
                .take(limit)
                .copied()
                .collect()
        });
        records.iter().map(|r| self.info(r)).collect()
    }

    /// The slot a mint was created in, if the chain created it.
    pub fn mint_slot(&self, mint: &str) -> Option<u64> {
        let mint = decode_fixed::<32>(mint).ok()?;
        self.read(|l| l.by_mint(&mint).map(|r| r.slot))
    }

    /// How many launch transactions the chain currently retains.
    pub fn retained_signatures(&self) -> usize {
        self.read(|l| l.launches.len())
    }

    pub(crate) fn info(&self, record: &Record) -> SignatureInfo {
        let keys = tx_keys(self.inner.seed, record.sequence);
        SignatureInfo {
            signature: record.signature_str().to_owned(),
            slot: record.slot,
            transaction_index: record.transaction_index,
            block_time: self.block_time(record.slot),
            mint: base58_encode(&keys.accounts[MINT_ROLE]),
            sequence: record.sequence,
        }
    }
}

/// How many launchpad transactions land in `slot`.
pub(super) fn slot_count(seed: u64, per_slot: f64, slot: u64) -> u32 {
    poisson(
        per_slot,
        &mut SeedStream::new(&[seed, DOMAIN_SLOT_COUNT, slot]),
    )
}

/// Poisson sample: Knuth's product method for small means, a rounded normal for large ones.
fn poisson(mean: f64, s: &mut SeedStream) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        // Box–Muller.
        let (u1, u2) = (s.next_f64().max(f64::MIN_POSITIVE), s.next_f64());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        return (mean + z * mean.sqrt()).round().max(0.0) as u32;
    }
    let limit = (-mean).exp();
    let mut product = s.next_f64();
    let mut count = 0;
    while product > limit {
        count += 1;
        product *= s.next_f64();
    }
    count
}

#[cfg(test)]
mod tests {
    use super::super::visibility::draw_indexing_delay;
    use super::*;

    #[test]
    fn poisson_mean() {
        let mut s = SeedStream::new(&[1]);
        let n = 100_000;
        let total: u64 = (0..n).map(|_| u64::from(poisson(1.6, &mut s))).sum();
        let mean = total as f64 / n as f64;
        assert!((mean - 1.6).abs() < 0.02, "{mean}");
    }

    #[test]
    fn delays_follow_their_records_through_retention() {
        let models = vec![
            LatencyModel::lognormal(50.0, 0.8),
            LatencyModel::ZERO,
            LatencyModel::lognormal(20.0, 0.3),
        ];
        let mut ledger = Ledger::new(9, 2.0, 50, models.clone(), 0);
        ledger.extend_to(200);
        assert_eq!(ledger.launches.len(), 50);
        let first = ledger.first_sequence_at(0);
        assert_eq!(ledger.since(first).count(), 50);
        for r in ledger.since(first) {
            for (e, model) in models.iter().enumerate() {
                let expected = draw_indexing_delay(model, 9, e, r.sequence);
                let ns = Duration::from_nanos(expected.as_nanos() as u64);
                assert_eq!(ledger.delay(r, e), ns);
            }
            assert_eq!(ledger.delay(r, 3), Duration::ZERO);
        }
    }
}
