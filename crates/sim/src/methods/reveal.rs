//! The methods that reveal a transaction or the accounts it created: `getAccountInfo`,
//! `getBalance`, `getMultipleAccounts` (the mint and the bonding curve, see `accounts`),
//! `getSignaturesForAddress`, `getTransaction` and `getSignatureStatuses`.
//!
//! All of them decide whether the endpoint shows a transaction with one rule,
//! [`CallContext::shows`]: its slot has reached the requested commitment on this endpoint
//! (whole-slot lag) and the endpoint's indexing delay for it has passed (see the chain's
//! `visibility` module). So at one commitment and one instant, no method shows a transaction
//! another says does not exist. `getSignatureStatuses` has no commitment: it reports the
//! highest level at which the endpoint shows the transaction — a launch, or a transaction a
//! client sent (the chain's `sent` submodule), by the same rule.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    CallContext, Config, MAX_MULTIPLE_ACCOUNTS, MAX_SIGNATURE_STATUSES,
    MAX_SIGNATURES_FOR_ADDRESS_LIMIT, RpcError, STATUS_CACHE_SLOTS, account_encoding, config_at,
    open_context, pubkey, push_int, required, signature,
};
use crate::accounts::LaunchAccount;
use crate::chain::{Chain, Commitment, Ledger, PUMP_FUN_PROGRAM_ID, Record, tx_keys};
use crate::codec::base58_encode;
use crate::templates::{AccountEncoding, TX_TEMPLATE, TxValues};

impl CallContext<'_> {
    /// Whether this endpoint shows `record` at `commitment` at the call's instant.
    pub(crate) fn shows(&self, ledger: &Ledger, record: &Record, commitment: Commitment) -> bool {
        let delay = ledger.delay(record, self.endpoint);
        self.chain.visible_at(record, delay, self.lag, commitment) <= self.now
    }

    /// The launch account `key` (a mint or a bonding curve) if this endpoint shows the
    /// transaction that created it at `commitment`.
    fn shown_account(
        &self,
        ledger: &Ledger,
        key: &[u8; 32],
        commitment: Commitment,
    ) -> Option<LaunchAccount> {
        ledger
            .by_account(key)
            .filter(|(r, _)| self.shows(ledger, r, commitment))
            .map(|(_, account)| account)
    }

    fn shows_account(&self, key: &[u8; 32], commitment: Commitment) -> Option<LaunchAccount> {
        self.chain
            .read(|ledger| self.shown_account(ledger, key, commitment))
    }
}

fn write_account(out: &mut Vec<u8>, account: Option<LaunchAccount>, encoding: AccountEncoding) {
    match account {
        Some(account) => out.extend_from_slice(account.value(encoding).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
}

pub(super) fn get_account_info(
    ctx: &CallContext<'_>,
    params: &[&RawValue],
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let address: Cow<'_, str> = required(params, 0)?;
    let key = pubkey(&address)?;
    let config = config_at(params, 1)?;
    let encoding = account_encoding(&config)?;
    let commitment = config.commitment()?;
    let slot = ctx.context_slot(&config, commitment)?;
    open_context(out, slot);
    write_account(out, ctx.shows_account(&key, commitment), encoding);
    out.push(b'}');
    Ok(())
}

pub(super) fn get_balance(
    ctx: &CallContext<'_>,
    params: &[&RawValue],
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let address: Cow<'_, str> = required(params, 0)?;
    let key = pubkey(&address)?;
    let config = config_at(params, 1)?;
    let commitment = config.commitment()?;
    let slot = ctx.context_slot(&config, commitment)?;
    open_context(out, slot);
    let lamports = ctx
        .shows_account(&key, commitment)
        .map_or(0, LaunchAccount::lamports);
    push_int(out, i128::from(lamports));
    out.push(b'}');
    Ok(())
}

/// The list in `params[0]`, at most `max` long (agave's "Too many inputs provided"), each
/// entry parsed with `parse`.
fn inputs<T>(
    params: &[&RawValue],
    max: usize,
    parse: impl Fn(&str) -> Result<T, RpcError>,
) -> Result<Vec<T>, RpcError> {
    let list: Vec<Cow<'_, str>> = required(params, 0)?;
    if list.len() > max {
        return Err(RpcError::invalid_params(format!(
            "Too many inputs provided; max {max}"
        )));
    }
    list.iter().map(|entry| parse(entry)).collect()
}

pub(super) fn get_multiple_accounts(
    ctx: &CallContext<'_>,
    params: &[&RawValue],
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let keys = inputs(params, MAX_MULTIPLE_ACCOUNTS, pubkey)?;
    let config = config_at(params, 1)?;
    let encoding = account_encoding(&config)?;
    let commitment = config.commitment()?;
    let slot = ctx.context_slot(&config, commitment)?;
    let visible: Vec<Option<LaunchAccount>> = ctx.chain.read(|ledger| {
        keys.iter()
            .map(|k| ctx.shown_account(ledger, k, commitment))
            .collect()
    });
    open_context(out, slot);
    out.push(b'[');
    for (i, v) in visible.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_account(out, v, encoding);
    }
    out.extend_from_slice(b"]}");
    Ok(())
}

fn write_signature_entry(out: &mut Vec<u8>, ctx: &CallContext<'_>, r: &Record, finalized: bool) {
    out.extend_from_slice(b"{\"blockTime\":");
    push_int(out, i128::from(ctx.chain.block_time(r.slot)));
    out.extend_from_slice(b",\"confirmationStatus\":\"");
    out.extend_from_slice(if finalized {
        b"finalized"
    } else {
        b"confirmed"
    });
    out.extend_from_slice(b"\",\"err\":null,\"memo\":null,\"signature\":\"");
    out.extend_from_slice(r.signature_str().as_bytes());
    out.extend_from_slice(b"\",\"slot\":");
    push_int(out, i128::from(r.slot));
    out.extend_from_slice(b",\"transactionIndex\":");
    push_int(out, i128::from(r.transaction_index));
    out.push(b'}');
}

pub(super) fn get_signatures_for_address(
    ctx: &CallContext<'_>,
    params: &[&RawValue],
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let address: Cow<'_, str> = required(params, 0)?;
    let key = pubkey(&address)?;
    let config = config_at(params, 1)?;
    let commitment = config.commitment_at_least_confirmed()?;
    let limit = config.limit.unwrap_or(MAX_SIGNATURES_FOR_ADDRESS_LIMIT);
    if limit > MAX_SIGNATURES_FOR_ADDRESS_LIMIT {
        return Err(RpcError::invalid_params(format!(
            "Invalid limit; max {MAX_SIGNATURES_FOR_ADDRESS_LIMIT}"
        )));
    }
    let before = config.before.as_deref().map(signature).transpose()?;
    let until = config.until.as_deref().map(signature).transpose()?;
    let slot = ctx.context_slot(&config, commitment)?;
    out.push(b'[');
    ctx.chain.read(|ledger| {
        let before_seq = match &before {
            None => None,
            Some(sig) => match ledger.by_signature(sig) {
                Some(r) if ctx.shows(ledger, r, commitment) => Some(r.sequence),
                // Unknown to this node: nothing is older than it.
                _ => Some(0),
            },
        };
        let until_seq = until
            .as_ref()
            .and_then(|sig| ledger.by_signature(sig))
            .map(|r| r.sequence);
        let mut first = true;
        let mut emit = |r: &Record| {
            if !first {
                out.push(b',');
            }
            first = false;
            let finalized = ctx.shows(ledger, r, Commitment::Finalized);
            write_signature_entry(out, ctx, r, finalized);
        };
        if address == PUMP_FUN_PROGRAM_ID {
            for r in ledger
                .newest_first(slot, before_seq)
                .take_while(|r| Some(r.sequence) != until_seq)
                .filter(|r| ctx.shows(ledger, r, commitment))
                .take(limit)
            {
                emit(r);
            }
        } else if let Some(r) = ledger.by_mint(&key)
            && ctx.shows(ledger, r, commitment)
            && limit > 0
            && before_seq.is_none_or(|b| r.sequence < b)
            && Some(r.sequence) != until_seq
        {
            emit(r);
        }
    });
    out.push(b']');
    Ok(())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TransactionConfig {
    /// Legacy form: the encoding name alone.
    Encoding(String),
    Object(Config),
}

pub(super) fn get_transaction(
    ctx: &CallContext<'_>,
    params: &[&RawValue],
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let sig_str: Cow<'_, str> = required(params, 0)?;
    let sig = signature(&sig_str)?;
    let config = match params.get(1) {
        None => Config::default(),
        Some(raw) if raw.get() == "null" => Config::default(),
        Some(raw) => match serde_json::from_str(raw.get()).map_err(RpcError::invalid_params)? {
            TransactionConfig::Encoding(e) => Config {
                encoding: Some(e),
                ..Config::default()
            },
            TransactionConfig::Object(c) => c,
        },
    };
    match config.encoding.as_deref() {
        None | Some("json") | Some("jsonParsed") => {}
        Some("base58") | Some("base64") => {
            return Err(RpcError::invalid_params(
                "dualrpc-sim serves transactions only as json/jsonParsed",
            ));
        }
        Some(other) => {
            return Err(RpcError::invalid_params(format!(
                "unknown variant `{other}`, expected one of `binary`, `base64`, `base58`, `json`, `jsonParsed`"
            )));
        }
    }
    let commitment = config.commitment_at_least_confirmed()?;
    let Some(record) = ctx.chain.read(|l| {
        l.by_signature(&sig)
            .filter(|r| ctx.shows(l, r, commitment))
            .copied()
    }) else {
        out.extend_from_slice(b"null");
        return Ok(());
    };
    if config.max_supported_transaction_version.is_none() {
        return Err(RpcError::new(
            -32015,
            "Transaction version (0) is not supported by the requesting client. Please try the request again with the following configuration parameter: \"maxSupportedTransactionVersion\": 0",
        ));
    }
    render_transaction(ctx.chain, &record, out);
    Ok(())
}

/// Appends the `getTransaction` result (jsonParsed) of `record`.
pub(crate) fn render_transaction(chain: &Chain, record: &Record, out: &mut Vec<u8>) {
    let keys = tx_keys(chain.seed(), record.sequence);
    let accounts = keys.accounts.map(|k| (base58_encode(&k), k));
    let signature = base58_encode(&keys.signature);
    let mint_signature = base58_encode(&keys.mint_signature);
    // The transaction referenced a blockhash from a few slots earlier.
    let blockhash = chain.blockhash(record.slot.saturating_sub(2 + record.sequence % 20));
    TX_TEMPLATE.render(
        &TxValues {
            signature: &signature,
            mint_signature: &mint_signature,
            accounts: &accounts,
            slot: record.slot,
            block_time: chain.block_time(record.slot),
            blockhash: &blockhash,
        },
        out,
    );
}

pub(super) fn get_signature_statuses(
    ctx: &CallContext<'_>,
    params: &[&RawValue],
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let sigs = inputs(params, MAX_SIGNATURE_STATUSES, signature)?;
    let config = config_at(params, 1)?;
    let search_history = config.search_transaction_history.unwrap_or(false);
    let tip = ctx.view(Commitment::Processed);
    // The highest level at which this endpoint shows each transaction, with its slot.
    let statuses: Vec<Option<(u64, Commitment)>> = ctx.chain.read(|l| {
        sigs.iter()
            .map(|s| {
                let r = l.landed(s)?;
                let level = [
                    Commitment::Finalized,
                    Commitment::Confirmed,
                    Commitment::Processed,
                ]
                .into_iter()
                .find(|&c| ctx.shows(l, r, c))?;
                Some((r.slot, level))
            })
            .collect()
    });
    open_context(out, tip);
    out.push(b'[');
    for (i, status) in statuses.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let status =
            status.filter(|&(s, _)| search_history || tip.saturating_sub(s) <= STATUS_CACHE_SLOTS);
        let Some((slot, status)) = status else {
            out.extend_from_slice(b"null");
            continue;
        };
        out.extend_from_slice(b"{\"confirmationStatus\":\"");
        out.extend_from_slice(status.as_str().as_bytes());
        out.extend_from_slice(b"\",\"confirmations\":");
        if status == Commitment::Finalized {
            out.extend_from_slice(b"null");
        } else {
            push_int(out, i128::from(tip.saturating_sub(slot)));
        }
        out.extend_from_slice(b",\"err\":null,\"slot\":");
        push_int(out, i128::from(slot));
        out.extend_from_slice(b",\"status\":{\"Ok\":null}}");
    }
    out.extend_from_slice(b"]}");
    Ok(())
}
