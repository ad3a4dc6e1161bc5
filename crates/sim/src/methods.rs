//! The JSON-RPC methods a simulated endpoint answers, each reading the shared [`Chain`] through
//! the endpoint's slot lag and indexing delay and writing its `result` straight into the
//! response buffer. The methods that reveal transactions or their accounts, and the one
//! visibility rule they share, are in the `reveal` submodule; `sendTransaction` is in `send`,
//! `getEpochInfo` in `epoch`.
//!
//! Semantics follow agave where it matters to a client:
//! * default commitment is `finalized` (≈32 slots behind); `getTransaction` and
//!   `getSignaturesForAddress` refuse `processed` (`-32602 Method does not support commitment
//!   below \`confirmed\``);
//! * `minContextSlot` is enforced (`-32016 Minimum context slot has not been reached`);
//! * `getTransaction` without `maxSupportedTransactionVersion` fails with `-32015` for the
//!   (version 0) launchpad transactions, as on mainnet; unknown or not-yet-visible (not yet
//!   reached by the endpoint, or not yet indexed by it) signatures return `null`;
//! * bad keys and signatures get agave's `Invalid param: WrongSize` / `Invalid param: Invalid`.
//!
//! Simplifications (documented, deliberate):
//! * `getTransaction` answers `json` and `jsonParsed` with the jsonParsed shape of the template
//!   (the mint is at `result.meta.postTokenBalances[0].mint` either way); `base58`/`base64`
//!   transaction encodings are refused with `-32602`.
//! * Only the accounts a launch creates that the sim models exist: its mint and its bonding
//!   curve (see `accounts`); every other address is `null` (balance 0). `dataSlice` is
//!   ignored and `base64+zstd` is refused.
//! * `getSignaturesForAddress` knows the launchpad program and each mint (its `create`);
//!   every other address has no history. An unknown `before` gives `[]` (as agave).
//! * `sendTransaction` (the `send` submodule) returns the transaction's first signature when
//!   the payload decodes to a serialized transaction with one, and lands it on the chain: in
//!   the slot after the tip, once per signature (the newest 10 000 kept). From then on
//!   `getSignatureStatuses` and `signatureSubscribe` show it on every endpoint through its view,
//!   as they show a launch. Nothing is checked or executed (it always succeeds), and it does
//!   not appear in `getSignaturesForAddress` or `getTransaction` (`null`), which know only the
//!   launchpad's transactions. Any other payload gets a signature hashed from it and lands
//!   nothing.
//! * `getEpochInfo` (the `epoch` submodule) follows mainnet's epoch schedule;
//!   `transactionCount` is a constant number per block.

mod epoch;
mod reveal;
mod send;

pub(crate) use self::reveal::render_transaction;

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use self::epoch::get_epoch_info;
use self::reveal::{
    get_account_info, get_balance, get_multiple_accounts, get_signature_statuses,
    get_signatures_for_address, get_transaction,
};
use self::send::send_transaction;
use crate::chain::{API_VERSION, Chain, ChainTime, Commitment};
use crate::codec::decode_fixed;
use crate::templates::{AccountEncoding, fmt_int};

/// Method names the sim implements (index = counter slot; unknown methods count as "other").
pub(crate) const METHODS: [&str; 14] = [
    "getSlot",
    "getHealth",
    "getVersion",
    "getLatestBlockhash",
    "getAccountInfo",
    "getMultipleAccounts",
    "getSignaturesForAddress",
    "getTransaction",
    "getSignatureStatuses",
    "sendTransaction",
    "getBlockHeight",
    "getBalance",
    "getEpochInfo",
    "getGenesisHash",
];

/// mainnet-beta's genesis hash: the cluster the sim's chain stands for (what a pool checks
/// its endpoints against to catch a devnet or testnet URL).
pub const MAINNET_GENESIS_HASH: &str = "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d";

/// agave's health-check distance: beyond this many slots behind, `getHealth` fails.
const HEALTH_CHECK_SLOT_DISTANCE: u64 = 128;
/// Slots a node keeps signature statuses for without `searchTransactionHistory`.
const STATUS_CACHE_SLOTS: u64 = 300;
const MAX_SIGNATURES_FOR_ADDRESS_LIMIT: usize = 1000;
const MAX_SIGNATURE_STATUSES: usize = 256;
const MAX_MULTIPLE_ACCOUNTS: usize = 100;
/// Fixed `feature-set` for `getVersion` (an arbitrary constant, not a real release's).
const FEATURE_SET: u32 = 3_294_202_862;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    pub(crate) code: i64,
    pub(crate) message: Cow<'static, str>,
    /// Raw JSON for `data`.
    pub(crate) data: Option<String>,
}

impl RpcError {
    pub(crate) fn new(code: i64, message: impl Into<Cow<'static, str>>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub(crate) fn invalid_params(detail: impl std::fmt::Display) -> RpcError {
        RpcError::new(-32602, format!("Invalid params: {detail}"))
    }

    pub(crate) fn method_not_found() -> RpcError {
        RpcError::new(-32601, "Method not found")
    }

    pub(crate) fn invalid_request() -> RpcError {
        RpcError::new(-32600, "Invalid request")
    }

    pub(crate) fn parse_error() -> RpcError {
        RpcError::new(-32700, "Parse error")
    }

    /// agave's `NodeUnhealthy`.
    pub(crate) fn node_unhealthy(slots_behind: u64) -> RpcError {
        RpcError {
            code: -32005,
            message: format!("Node is behind by {slots_behind} slots").into(),
            data: Some(format!("{{\"numSlotsBehind\":{slots_behind}}}")),
        }
    }

    /// Writes `{"code":…,"message":…[,"data":…]}`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"code\":");
        out.extend_from_slice(self.code.to_string().as_bytes());
        out.extend_from_slice(b",\"message\":");
        // Messages can quote user input: escape properly.
        out.extend_from_slice(
            serde_json::to_string(&self.message)
                .unwrap_or_default()
                .as_bytes(),
        );
        if let Some(data) = &self.data {
            out.extend_from_slice(b",\"data\":");
            out.extend_from_slice(data.as_bytes());
        }
        out.push(b'}');
    }
}

/// What a call sees: the chain at one instant, through one endpoint's lag and indexing delays.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallContext<'a> {
    pub(crate) chain: &'a Chain,
    /// The endpoint's index in the cluster (which indexing delays apply).
    pub(crate) endpoint: usize,
    /// The endpoint's slot lag.
    pub(crate) lag: u64,
    /// The chain time the call is answered at (one instant for a whole batch).
    pub(crate) now: ChainTime,
}

impl CallContext<'_> {
    /// The context slot of an answer at `commitment`, or agave's `-32016` when it is below
    /// the request's `minContextSlot`.
    fn context_slot(&self, config: &Config, commitment: Commitment) -> Result<u64, RpcError> {
        let slot = self.view(commitment);
        config.check_min_context_slot(slot)?;
        Ok(slot)
    }

    /// The context slot of a method whose only parameter is a config object (at `params[i]`):
    /// its commitment's view, held to its `minContextSlot`.
    fn config_slot(&self, params: &[&RawValue], i: usize) -> Result<u64, RpcError> {
        let config = config_at(params, i)?;
        self.context_slot(&config, config.commitment()?)
    }

    /// The newest slot this endpoint has at `commitment`: the context slot of an answer.
    fn view(&self, commitment: Commitment) -> u64 {
        self.chain
            .tip_at(self.now)
            .saturating_sub(self.lag.saturating_add(commitment.depth()))
    }
}

/// Runs one call, writing its `result` JSON into `out` (left untouched on error).
pub(crate) fn call(
    ctx: &CallContext<'_>,
    method: &str,
    params: Option<&RawValue>,
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let params = positional(params)?;
    match method {
        "getSlot" => get_slot(ctx, &params, out, |_, slot| slot),
        "getBlockHeight" => get_slot(ctx, &params, out, |chain, slot| chain.block_height(slot)),
        "getHealth" => get_health(ctx, out),
        "getVersion" => {
            out.extend_from_slice(version().as_bytes());
            Ok(())
        }
        "getLatestBlockhash" => get_latest_blockhash(ctx, &params, out),
        "getAccountInfo" => get_account_info(ctx, &params, out),
        "getBalance" => get_balance(ctx, &params, out),
        "getMultipleAccounts" => get_multiple_accounts(ctx, &params, out),
        "getSignaturesForAddress" => get_signatures_for_address(ctx, &params, out),
        "getTransaction" => get_transaction(ctx, &params, out),
        "getSignatureStatuses" => get_signature_statuses(ctx, &params, out),
        "sendTransaction" => send_transaction(ctx, &params, out),
        "getEpochInfo" => get_epoch_info(ctx, &params, out),
        "getGenesisHash" => {
            out.push(b'"');
            out.extend_from_slice(MAINNET_GENESIS_HASH.as_bytes());
            out.push(b'"');
            Ok(())
        }
        _ => Err(RpcError::method_not_found()),
    }
}

/// The fields of every config object the sim understands; others are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    commitment: Option<String>,
    encoding: Option<String>,
    min_context_slot: Option<u64>,
    max_supported_transaction_version: Option<u8>,
    limit: Option<usize>,
    before: Option<String>,
    until: Option<String>,
    search_transaction_history: Option<bool>,
}

impl Config {
    fn commitment(&self) -> Result<Commitment, RpcError> {
        parse_commitment(self.commitment.as_deref())
    }

    /// Commitment for methods that refuse `processed`.
    fn commitment_at_least_confirmed(&self) -> Result<Commitment, RpcError> {
        match self.commitment()? {
            Commitment::Processed => Err(RpcError::new(
                -32602,
                "Method does not support commitment below `confirmed`",
            )),
            c => Ok(c),
        }
    }

    fn check_min_context_slot(&self, context_slot: u64) -> Result<(), RpcError> {
        match self.min_context_slot {
            Some(min) if context_slot < min => Err(RpcError {
                code: -32016,
                message: "Minimum context slot has not been reached".into(),
                data: Some(format!("{{\"contextSlot\":{context_slot}}}")),
            }),
            _ => Ok(()),
        }
    }
}

/// A `commitment` config field (default `finalized`), with agave's error for an unknown one.
pub(crate) fn parse_commitment(name: Option<&str>) -> Result<Commitment, RpcError> {
    match name {
        None => Ok(Commitment::default()),
        Some(name) => Commitment::parse(name).ok_or_else(|| {
            RpcError::invalid_params(format!(
                "unknown variant `{name}`, expected one of `processed`, `confirmed`, `finalized`"
            ))
        }),
    }
}

/// The params array (none: empty), or agave's error for anything else.
pub(crate) fn positional(params: Option<&RawValue>) -> Result<Vec<&RawValue>, RpcError> {
    match params {
        None => Ok(Vec::new()),
        Some(raw) => serde_json::from_str(raw.get()).map_err(|_| {
            RpcError::invalid_params("invalid type: map, expected a sequence of parameters")
        }),
    }
}

/// Param `index`, or agave's error when it is missing or of the wrong type.
pub(crate) fn required<'a, T: Deserialize<'a>>(
    params: &[&'a RawValue],
    index: usize,
) -> Result<T, RpcError> {
    let raw = params.get(index).ok_or_else(|| {
        RpcError::invalid_params(format!(
            "invalid length {}, expected at least {} parameter",
            params.len(),
            index + 1
        ))
    })?;
    serde_json::from_str(raw.get()).map_err(RpcError::invalid_params)
}

fn config_at(params: &[&RawValue], index: usize) -> Result<Config, RpcError> {
    match params.get(index) {
        None => Ok(Config::default()),
        Some(raw) if raw.get() == "null" => Ok(Config::default()),
        Some(raw) => serde_json::from_str(raw.get()).map_err(RpcError::invalid_params),
    }
}

fn pubkey(s: &str) -> Result<[u8; 32], RpcError> {
    decode_fixed::<32>(s).map_err(|e| RpcError::new(-32602, e.message()))
}

fn signature(s: &str) -> Result<[u8; 64], RpcError> {
    decode_fixed::<64>(s).map_err(|e| RpcError::new(-32602, e.message()))
}

fn push_int(out: &mut Vec<u8>, n: i128) {
    let mut buf = [0_u8; 40];
    out.extend_from_slice(fmt_int(&mut buf, n));
}

/// `{"context":{"apiVersion":…,"slot":N},"value":` — the caller closes with `}`.
fn open_context(out: &mut Vec<u8>, slot: u64) {
    out.extend_from_slice(b"{\"context\":{\"apiVersion\":\"");
    out.extend_from_slice(API_VERSION.as_bytes());
    out.extend_from_slice(b"\",\"slot\":");
    push_int(out, i128::from(slot));
    out.extend_from_slice(b"},\"value\":");
}

fn get_slot(
    ctx: &CallContext<'_>,
    params: &[&RawValue],
    out: &mut Vec<u8>,
    project: impl Fn(&Chain, u64) -> u64,
) -> Result<(), RpcError> {
    let slot = ctx.config_slot(params, 0)?;
    push_int(out, i128::from(project(ctx.chain, slot)));
    Ok(())
}

/// The `getVersion` result (HTTP and PubSub).
pub(crate) fn version() -> String {
    format!("{{\"feature-set\":{FEATURE_SET},\"solana-core\":\"{API_VERSION}\"}}")
}

fn get_health(ctx: &CallContext<'_>, out: &mut Vec<u8>) -> Result<(), RpcError> {
    if ctx.lag > HEALTH_CHECK_SLOT_DISTANCE {
        return Err(RpcError::node_unhealthy(ctx.lag));
    }
    out.extend_from_slice(b"\"ok\"");
    Ok(())
}

fn get_latest_blockhash(
    ctx: &CallContext<'_>,
    params: &[&RawValue],
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let slot = ctx.config_slot(params, 0)?;
    open_context(out, slot);
    out.extend_from_slice(b"{\"blockhash\":\"");
    out.extend_from_slice(ctx.chain.blockhash(slot).as_bytes());
    out.extend_from_slice(b"\",\"lastValidBlockHeight\":");
    // A blockhash is valid for 150 blocks.
    push_int(out, i128::from(ctx.chain.block_height(slot) + 150));
    out.extend_from_slice(b"}}");
    Ok(())
}

fn account_encoding(config: &Config) -> Result<AccountEncoding, RpcError> {
    parse_account_encoding(config.encoding.as_deref())
}

/// An account `encoding` config field, with agave's error for an unknown one.
pub(crate) fn parse_account_encoding(name: Option<&str>) -> Result<AccountEncoding, RpcError> {
    AccountEncoding::parse(name).ok_or_else(|| match name {
        Some("base64+zstd") => RpcError::invalid_params("dualrpc-sim does not serve base64+zstd"),
        Some(other) => RpcError::invalid_params(format!(
            "unknown variant `{other}`, expected one of `binary`, `base58`, `base64`, `jsonParsed`, `base64+zstd`"
        )),
        None => unreachable!("no encoding parses"),
    })
}
