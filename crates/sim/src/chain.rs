//! The one chain every endpoint of a cluster serves: slots that advance with time, and a
//! launchpad program (pump.fun) that receives new token-creation transactions.
//!
//! ## Model
//! * **Clock.** The chain has its own clock ([`ChainTime`], [`Chain::now`]): zero when the chain
//!   is created, at the start of the genesis slot. With [`ClockMode::RealTime`] it follows wall
//!   time; with [`ClockMode::Manual`] it moves only through [`Chain::advance`] (whole slots) and
//!   [`Chain::advance_time`] (any duration), so tests can step it deterministically. Both also
//!   work in real time, on top of the wall clock.
//! * **Slots.** The tip (the *processed* slot) is `genesis_slot + now / slot_time`; slot `s`
//!   starts at [`Chain::slot_start`]` = (s − genesis_slot) × slot_time`. `confirmed` trails the
//!   tip by [`CONFIRMED_DEPTH`] slot and `finalized` by [`FINALIZED_DEPTH`], as on mainnet
//!   (finalized ≈ 32 slots, ~13 s, behind).
//! * **Signatures.** Each slot holds a Poisson-distributed number of launchpad transactions with
//!   mean `signatures_per_second × slot_time`. The count for a slot and every key of every
//!   transaction (signature, mint, creator, bonding curve, …) are drawn from `(seed, slot)` and
//!   `(seed, sequence number)`, so a seed always produces the same chain. Signatures are 64
//!   random bytes in base58 (87–88 characters, like real ones); pubkeys 32 bytes (32–44 chars).
//!   A transaction is created at the start of its slot.
//! * **Time.** `blockTime` of a slot is the genesis time (`genesis_unix_ms`, default: when the
//!   chain was created) plus `(slot − genesis_slot) × slot_time`.
//! * **History.** At start the chain already holds about `history_signatures` older
//!   transactions, so the first `getSignaturesForAddress(limit=1000)` is as big as on mainnet.
//!   The oldest are forgotten beyond `max_retained_signatures` (then `getTransaction` returns
//!   `null` for them, as a node without long-term storage does).
//! * **Mints.** Every transaction creates one SPL mint (decimals 6, supply 10⁹ tokens, mint
//!   authority revoked — what pump.fun's `create` leaves behind). The mint exists wherever and
//!   whenever the transaction that created it is visible.
//! * **Sent transactions.** A transaction a client sends (`sendTransaction`) lands in the slot
//!   after the tip and then has a signature status, like a launch, on every endpoint; it is not
//!   a launch (no mint, no history entry). The `sent` submodule has the rules.
//!
//! Endpoints see the chain through a whole-slot lag (an endpoint `L` slots behind answers as of
//! tip − L) **and** a per-transaction indexing delay drawn from their own distribution: the
//! rule, and the oracle that tells when an endpoint first shows a transaction
//! ([`Chain::visibility`]), are in the `visibility` submodule. Generation is lazy: the ledger
//! (`ledger` submodule) is extended to the current tip when someone reads it, so an idle
//! cluster costs nothing.

mod ledger;
mod records;
mod sent;
mod time;
mod visibility;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::RwLock;
use tokio::sync::watch;

use self::ledger::slot_count;
pub(crate) use self::ledger::{CURVE_ROLE, Ledger, MINT_ROLE, Record, tx_keys};
pub use self::time::ChainTime;
use self::visibility::EndpointView;
pub use self::visibility::Visibility;
use crate::codec::{SeedStream, base58_encode};
use crate::profile::EndpointSpec;

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

/// Domain tag of the blockhash streams.
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

#[derive(Debug)]
struct ChainInner {
    seed: u64,
    config: ChainConfig,
    mode: ClockMode,
    started: Instant,
    start_unix_ms: i64,
    /// Time added by `advance` and `advance_time`, in nanoseconds.
    offset_ns: AtomicU64,
    /// Bumped by every `advance` / `advance_time`, so PubSub sessions wake on a manual clock.
    clock_moved: watch::Sender<u64>,
    /// The endpoints whose views the chain answers for, in profile order.
    endpoints: Vec<EndpointView>,
    ledger: RwLock<Ledger>,
}

/// The shared chain. Cheap to clone (all clones are the same chain).
#[derive(Debug, Clone)]
pub struct Chain {
    inner: Arc<ChainInner>,
}

impl Chain {
    /// A chain starting now at `config.genesis_slot`, with its history already generated, that
    /// knows no endpoints (every view has no indexing delay; see [`Chain::with_endpoints`]).
    pub fn new(seed: u64, config: ChainConfig, mode: ClockMode) -> Chain {
        Chain::with_endpoints(seed, config, mode, &[])
    }

    /// A chain like [`Chain::new`] that also knows the endpoints serving it — their names,
    /// lags and indexing delays — so it can answer each endpoint's view and the visibility
    /// oracle ([`Chain::visibility`]). Endpoint `i` is `endpoints[i]`. A [`crate::Cluster`]
    /// builds its chain this way.
    pub fn with_endpoints(
        seed: u64,
        config: ChainConfig,
        mode: ClockMode,
        endpoints: &[EndpointSpec],
    ) -> Chain {
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
        let ledger = Ledger::new(
            seed,
            per_slot,
            config.max_retained_signatures,
            endpoints.iter().map(|e| e.indexing_delay).collect(),
            first_slot,
        );
        let endpoints = endpoints
            .iter()
            .map(|e| EndpointView {
                name: e.name.clone(),
                indexing_delay: e.indexing_delay,
                lag: AtomicU64::new(e.lag_slots),
            })
            .collect();
        let chain = Chain {
            inner: Arc::new(ChainInner {
                seed,
                config,
                mode,
                started: Instant::now(),
                start_unix_ms,
                offset_ns: AtomicU64::new(0),
                clock_moved: watch::Sender::new(0),
                endpoints,
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
        self.tip_at(self.now())
    }

    /// The newest slot at `commitment` for an endpoint `lag` slots behind.
    pub fn slot_at(&self, commitment: Commitment, lag: u64) -> u64 {
        self.slot().saturating_sub(lag + commitment.depth())
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
        self.inner.ledger.write().extend_to(tip);
    }
}

fn per_slot_mean(config: &ChainConfig) -> f64 {
    (config.signatures_per_second * config.slot_time.as_secs_f64()).max(0.0)
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
        assert_eq!(chain.now(), ChainTime::ZERO);
        let before = chain.retained_signatures();
        chain.advance(100);
        assert_eq!(chain.slot(), s0 + 100);
        assert_eq!(chain.now(), ChainTime::ZERO + Duration::from_secs(40));
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
}
