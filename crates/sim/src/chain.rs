//! The one chain every endpoint of a cluster serves: slots that advance with time, and a
//! launchpad program (pump.fun) that receives new token-creation transactions.
//!
//! ## Model
//! * **Slots.** The tip (the *processed* slot) is `genesis_slot + elapsed / slot_time`
//!   (+ any [`Chain::advance`]); with [`ClockMode::Manual`] only `advance` moves it, so tests can
//!   step the chain deterministically. `confirmed` trails the tip by [`CONFIRMED_DEPTH`] slot and
//!   `finalized` by [`FINALIZED_DEPTH`], as on mainnet (finalized ≈ 32 slots, ~13 s, behind).
//! * **Signatures.** Each slot holds a Poisson-distributed number of launchpad transactions with
//!   mean `signatures_per_second × slot_time`. The count for a slot and every key of every
//!   transaction (signature, mint, creator, bonding curve, …) are drawn from `(seed, slot)` and
//!   `(seed, sequence number)`, so a seed always produces the same chain. Signatures are 64
//!   random bytes in base58 (87–88 characters, like real ones); pubkeys 32 bytes (32–44 chars).
//! * **Time.** `blockTime` of a slot is the genesis time (`genesis_unix_ms`, default: when the
//!   chain was created) plus `(slot − genesis_slot) × slot_time`.
//! * **History.** At start the chain already holds about `history_signatures` older
//!   transactions, so the first `getSignaturesForAddress(limit=1000)` is as big as on mainnet.
//!   The oldest are forgotten beyond `max_retained_signatures` (then `getTransaction` returns
//!   `null` for them, as a node without long-term storage does).
//! * **Mints.** Every transaction creates one SPL mint (decimals 6, supply 10⁹ tokens, mint
//!   authority revoked — what pump.fun's `create` leaves behind). The mint exists from the
//!   transaction's slot on.
//!
//! Endpoints see the chain through a slot lag: an endpoint `L` slots behind answers as of tip − L.
//! Generation is lazy: the ledger is extended to the current tip when someone reads it, so an
//! idle cluster costs nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;

use crate::codec::{SeedStream, base58_encode, decode_fixed};

/// pump.fun's program id: the launchpad whose transactions the chain produces. (This is the id
/// in the real transaction the templates come from, `6EF8…F6P`.)
pub const PUMP_FUN_PROGRAM_ID: &str = "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P";

/// `context.apiVersion` in every answer; the version in the mainnet fixture the shapes come from.
pub const API_VERSION: &str = "2.3.6";

/// How far `confirmed` trails the processed tip.
pub const CONFIRMED_DEPTH: u64 = 1;

/// How far `finalized` trails the processed tip.
pub const FINALIZED_DEPTH: u64 = 32;

/// Difference between slot and block height (mainnet has skipped ~7% of slots; the sim uses a
/// constant offset rather than modelling skips).
const BLOCK_HEIGHT_OFFSET: u64 = 22_000_000;

// Domain tags keep the seeded streams for different purposes independent.
const DOMAIN_SLOT_COUNT: u64 = 0x510_7C0;
const DOMAIN_TX: u64 = 0x7_8000;
const DOMAIN_BLOCKHASH: u64 = 0xB10C_4A54;

/// A commitment level, as in the `commitment` config field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Commitment {
    /// The newest slot the node has.
    Processed,
    /// Voted on by a supermajority.
    Confirmed,
    /// Rooted; agave's default for most methods.
    #[default]
    Finalized,
}

impl Commitment {
    /// How many slots this level trails the processed tip.
    pub fn depth(self) -> u64 {
        match self {
            Commitment::Processed => 0,
            Commitment::Confirmed => CONFIRMED_DEPTH,
            Commitment::Finalized => FINALIZED_DEPTH,
        }
    }

    /// Parses the wire name, including the deprecated aliases agave still accepts.
    pub fn parse(name: &str) -> Option<Commitment> {
        Some(match name {
            "processed" | "recent" => Commitment::Processed,
            "confirmed" | "single" | "singleGossip" => Commitment::Confirmed,
            "finalized" | "root" | "max" => Commitment::Finalized,
            _ => return None,
        })
    }

    /// The wire name (also used as `confirmationStatus`).
    pub fn as_str(self) -> &'static str {
        match self {
            Commitment::Processed => "processed",
            Commitment::Confirmed => "confirmed",
            Commitment::Finalized => "finalized",
        }
    }
}

/// Chain parameters (part of a [`crate::Profile`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ChainConfig {
    /// Time per slot (mainnet targets 400 ms).
    pub slot_time: Duration,
    /// Mean launchpad transactions per second (Poisson).
    pub signatures_per_second: f64,
    /// Transactions already on chain when the cluster starts.
    pub history_signatures: usize,
    /// Oldest transactions are forgotten beyond this many (~250 B each; 100 000 ≈ 7 h at 4/s).
    pub max_retained_signatures: usize,
    /// Slot number at start.
    pub genesis_slot: u64,
    /// Unix time (ms) of `genesis_slot`, from which every `blockTime` follows; `None` = the
    /// moment the chain is created. Set it to make `blockTime`s reproducible too.
    pub genesis_unix_ms: Option<i64>,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            slot_time: Duration::from_millis(400),
            signatures_per_second: 4.0,
            history_signatures: 1000,
            max_retained_signatures: 100_000,
            genesis_slot: 380_000_000,
            genesis_unix_ms: None,
        }
    }
}

/// What moves the chain forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockMode {
    /// Slots advance with wall-clock time (plus [`Chain::advance`]).
    #[default]
    RealTime,
    /// Slots advance only through [`Chain::advance`] (deterministic tests).
    Manual,
}

/// One launchpad transaction, as a client would learn about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInfo {
    /// First signature of the transaction (base58).
    pub signature: String,
    /// Slot it landed in.
    pub slot: u64,
    /// Position within the slot (`transactionIndex`).
    pub transaction_index: u32,
    /// `blockTime` of its slot (unix seconds).
    pub block_time: i64,
    /// The mint it created: `result.meta.postTokenBalances[0].mint` in `getTransaction`.
    pub mint: String,
    /// Position in the chain's whole history (0 = first ever generated).
    pub sequence: u64,
}

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
    fn new(sequence: u64, slot: u64, transaction_index: u32, signature: [u8; 64]) -> Record {
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

/// The generated transactions, oldest first.
#[derive(Debug)]
pub(crate) struct Ledger {
    /// Last slot generated (inclusive).
    through_slot: u64,
    next_sequence: u64,
    records: VecDeque<Record>,
    by_signature: HashMap<[u8; 64], u64>,
    by_mint: HashMap<[u8; 32], u64>,
}

impl Ledger {
    fn get(&self, sequence: u64) -> Option<&Record> {
        let first = self.records.front()?.sequence;
        self.records
            .get(usize::try_from(sequence.checked_sub(first)?).ok()?)
    }

    /// The transaction with this signature, if still retained.
    pub(crate) fn by_signature(&self, signature: &[u8; 64]) -> Option<&Record> {
        self.get(*self.by_signature.get(signature)?)
    }

    /// The transaction that created this mint, if still retained.
    pub(crate) fn by_mint(&self, mint: &[u8; 32]) -> Option<&Record> {
        self.get(*self.by_mint.get(mint)?)
    }

    /// Transactions with `slot <= max_slot`, newest first, strictly older than `before` (a
    /// sequence number) when given.
    pub(crate) fn newest_first(
        &self,
        max_slot: u64,
        before: Option<u64>,
    ) -> impl Iterator<Item = &Record> {
        let mut end = self.records.partition_point(|r| r.slot <= max_slot);
        if let Some(before) = before {
            let first = self.records.front().map_or(0, |r| r.sequence);
            let idx = before.saturating_sub(first) as usize;
            end = end.min(idx);
        }
        self.records.range(..end).rev()
    }
}

#[derive(Debug)]
struct ChainInner {
    seed: u64,
    config: ChainConfig,
    mode: ClockMode,
    started: Instant,
    start_unix_ms: i64,
    advanced: AtomicU64,
    ledger: RwLock<Ledger>,
}

/// The shared chain. Cheap to clone (all clones are the same chain).
#[derive(Debug, Clone)]
pub struct Chain {
    inner: Arc<ChainInner>,
}

impl Chain {
    /// A chain starting now at `config.genesis_slot`, with its history already generated.
    pub fn new(seed: u64, config: ChainConfig, mode: ClockMode) -> Chain {
        let start_unix_ms = config.genesis_unix_ms.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        });
        // Walk back from the newest finalized slot until the history holds the requested
        // number of transactions, so even a `finalized` first page is full.
        let per_slot = per_slot_mean(&config);
        let mut first_slot = config.genesis_slot.saturating_sub(FINALIZED_DEPTH);
        let mut found = 0_usize;
        while per_slot > 0.0 && found < config.history_signatures && first_slot > 0 {
            found += slot_count(seed, per_slot, first_slot) as usize;
            first_slot -= 1;
        }
        let ledger = Ledger {
            through_slot: first_slot,
            next_sequence: 0,
            records: VecDeque::new(),
            by_signature: HashMap::new(),
            by_mint: HashMap::new(),
        };
        let chain = Chain {
            inner: Arc::new(ChainInner {
                seed,
                config,
                mode,
                started: Instant::now(),
                start_unix_ms,
                advanced: AtomicU64::new(0),
                ledger: RwLock::new(ledger),
            }),
        };
        chain.extend_to(chain.slot());
        chain
    }

    /// The seed everything is derived from.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The chain parameters.
    pub fn config(&self) -> &ChainConfig {
        &self.inner.config
    }

    /// The launchpad program whose transactions the chain produces.
    pub fn program_id(&self) -> &'static str {
        PUMP_FUN_PROGRAM_ID
    }

    /// The processed tip, as an endpoint without lag sees it.
    pub fn slot(&self) -> u64 {
        let inner = &self.inner;
        let by_time = match inner.mode {
            ClockMode::Manual => 0,
            ClockMode::RealTime => {
                let slot_ns = inner.config.slot_time.as_nanos().max(1);
                (inner.started.elapsed().as_nanos() / slot_ns) as u64
            }
        };
        inner.config.genesis_slot + by_time + inner.advanced.load(Ordering::Acquire)
    }

    /// The newest slot at `commitment` for an endpoint `lag` slots behind.
    pub fn slot_at(&self, commitment: Commitment, lag: u64) -> u64 {
        self.slot().saturating_sub(lag + commitment.depth())
    }

    /// Moves the chain forward by `slots` (works in both clock modes).
    pub fn advance(&self, slots: u64) {
        self.inner.advanced.fetch_add(slots, Ordering::AcqRel);
    }

    /// Unix time (seconds) at which `slot` was produced: `blockTime`.
    pub fn block_time(&self, slot: u64) -> i64 {
        let config = &self.inner.config;
        let offset = slot as i128 - config.genesis_slot as i128;
        let ms = self.inner.start_unix_ms as i128 + offset * config.slot_time.as_millis() as i128;
        (ms / 1000) as i64
    }

    /// Block height of `slot` (a constant offset below the slot; skipped slots aren't modelled).
    pub fn block_height(&self, slot: u64) -> u64 {
        slot.saturating_sub(BLOCK_HEIGHT_OFFSET)
    }

    /// The blockhash of `slot` (base58, derived from the seed).
    pub fn blockhash(&self, slot: u64) -> String {
        let bytes: [u8; 32] = SeedStream::new(&[self.inner.seed, DOMAIN_BLOCKHASH, slot]).bytes();
        base58_encode(&bytes)
    }

    /// Everything known about a transaction, whatever its slot (no lag applied).
    pub fn signature_info(&self, signature: &str) -> Option<SignatureInfo> {
        let sig = decode_fixed::<64>(signature).ok()?;
        let record = self.read(|l| l.by_signature(&sig).copied())?;
        Some(self.info(&record))
    }

    /// The newest transactions with `slot <= max_slot`, newest first (what a fresh endpoint
    /// returns for `getSignaturesForAddress(program)`).
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

    /// How many transactions the chain currently retains.
    pub fn retained_signatures(&self) -> usize {
        self.read(|l| l.records.len())
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

    /// Runs `f` on the ledger, extended to the current tip first.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Ledger) -> R) -> R {
        let tip = self.slot();
        {
            let ledger = self.inner.ledger.read();
            if ledger.through_slot >= tip {
                return f(&ledger);
            }
        }
        self.extend_to(tip);
        f(&self.inner.ledger.read())
    }

    fn extend_to(&self, tip: u64) {
        let inner = &self.inner;
        let mut ledger = inner.ledger.write();
        let per_slot = per_slot_mean(&inner.config);
        while ledger.through_slot < tip {
            let slot = ledger.through_slot + 1;
            let count = slot_count(inner.seed, per_slot, slot);
            for index in 0..count {
                let sequence = ledger.next_sequence;
                ledger.next_sequence += 1;
                let keys = tx_keys(inner.seed, sequence);
                // Launchpad transactions sit among others in a real block.
                let transaction_index = 40 + index * 17;
                ledger.records.push_back(Record::new(
                    sequence,
                    slot,
                    transaction_index,
                    keys.signature,
                ));
                ledger.by_signature.insert(keys.signature, sequence);
                ledger.by_mint.insert(keys.accounts[MINT_ROLE], sequence);
            }
            ledger.through_slot = slot;
        }
        while ledger.records.len() > inner.config.max_retained_signatures {
            if let Some(old) = ledger.records.pop_front() {
                ledger.by_signature.remove(&old.signature);
                let keys = tx_keys(inner.seed, old.sequence);
                ledger.by_mint.remove(&keys.accounts[MINT_ROLE]);
            }
        }
    }
}

/// How many launchpad transactions land in `slot`.
fn slot_count(seed: u64, per_slot: f64, slot: u64) -> u32 {
    poisson(
        per_slot,
        &mut SeedStream::new(&[seed, DOMAIN_SLOT_COUNT, slot]),
    )
}

fn per_slot_mean(config: &ChainConfig) -> f64 {
    (config.signatures_per_second * config.slot_time.as_secs_f64()).max(0.0)
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
    use super::*;

    fn manual(seed: u64) -> Chain {
        let config = ChainConfig {
            genesis_unix_ms: Some(1_760_000_000_000),
            ..ChainConfig::default()
        };
        Chain::new(seed, config, ClockMode::Manual)
    }

    #[test]
    fn history_and_determinism() {
        let a = manual(5);
        let b = manual(5);
        let c = manual(6);
        let n = a.retained_signatures();
        assert!((1000..1200).contains(&n), "history {n}");
        let finalized = a.slot_at(Commitment::Finalized, 0);
        assert_eq!(a.signatures(finalized, 1000).len(), 1000);
        let sa = a.signatures(a.slot(), 1000);
        assert_eq!(sa, b.signatures(b.slot(), 1000));
        assert_ne!(sa[0].signature, c.signatures(c.slot(), 1)[0].signature);
        // Newest first, valid-looking.
        assert!(sa.windows(2).all(|w| w[0].sequence > w[1].sequence));
        for s in &sa[..20] {
            assert!((87..=88).contains(&s.signature.len()), "{}", s.signature);
            assert!((32..=44).contains(&s.mint.len()));
            assert_eq!(a.signature_info(&s.signature).as_ref(), Some(s));
            assert_eq!(a.mint_slot(&s.mint), Some(s.slot));
        }
    }

    #[test]
    fn manual_clock_advances_only_on_request() {
        let chain = manual(1);
        let s0 = chain.slot();
        assert_eq!(s0, ChainConfig::default().genesis_slot);
        let before = chain.retained_signatures();
        chain.advance(100);
        assert_eq!(chain.slot(), s0 + 100);
        // ~1.6 per slot.
        let added = chain.retained_signatures() - before;
        assert!((100..250).contains(&added), "{added}");
        assert_eq!(chain.slot_at(Commitment::Finalized, 10), s0 + 100 - 42);
    }

    #[test]
    fn retention_forgets_the_oldest() {
        let config = ChainConfig {
            max_retained_signatures: 500,
            ..ChainConfig::default()
        };
        let chain = Chain::new(2, config, ClockMode::Manual);
        let oldest = chain.signatures(chain.slot(), 500).pop().unwrap();
        chain.advance(1000);
        assert_eq!(chain.retained_signatures(), 500);
        assert_eq!(chain.signature_info(&oldest.signature), None);
        assert_eq!(chain.mint_slot(&oldest.mint), None);
    }

    #[test]
    fn poisson_mean() {
        let mut s = SeedStream::new(&[1]);
        let n = 100_000;
        let total: u64 = (0..n).map(|_| u64::from(poisson(1.6, &mut s))).sum();
        let mean = total as f64 / n as f64;
        assert!((mean - 1.6).abs() < 0.02, "{mean}");
    }
}
