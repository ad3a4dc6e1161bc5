//! A client's text frames: JSON-RPC requests (single or batch) parsed and answered as agave's
//! PubSub answers them — subscribe (the new id), unsubscribe (`true`), `getVersion` — with its
//! errors for unknown methods, bad keys, bad params and frames that are not JSON.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::feed::Feed;
use super::render::{answer, error};
use super::spec::{Spec, Watch};
use crate::accounts::curve_bytes;
use crate::chain::{ChainTime, PUMP_FUN_PROGRAM_ID};
use crate::codec::{base58_decode, base64_decode, decode_fixed};
use crate::methods::{
    RpcError, parse_account_encoding, parse_commitment, positional, required, version,
};
use crate::server::wire::Call;

/// The unsubscribe methods (each ends a subscription of any kind, as in agave).
const UNSUBSCRIBE: [&str; 6] = [
    "slotUnsubscribe",
    "rootUnsubscribe",
    "logsUnsubscribe",
    "accountUnsubscribe",
    "programUnsubscribe",
    "signatureUnsubscribe",
];

/// The config object of the subscribe methods (fields the sim does not use are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    commitment: Option<String>,
    encoding: Option<String>,
    filters: Option<Vec<Filter>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Filter {
    DataSize(u64),
    Memcmp(Memcmp),
}

#[derive(Debug, Deserialize)]
struct Memcmp {
    offset: usize,
    bytes: String,
    #[serde(default)]
    encoding: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
enum LogsFilter {
    All,
    AllWithVotes,
    Mentions(Vec<String>),
}

/// Answers one text frame at instant `now`; `None` when nothing is to be answered (only
/// notifications, i.e. calls without an id).
pub(crate) fn handle(feed: &mut Feed, text: &str, now: ChainTime) -> Option<String> {
    let Ok(raw) = serde_json::from_str::<&RawValue>(text) else {
        return Some(error("null", &RpcError::parse_error()));
    };
    if !raw.get().starts_with('[') {
        return handle_call(feed, raw, now);
    }
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(raw.get()) else {
        return Some(error("null", &RpcError::parse_error()));
    };
    if items.is_empty() {
        return Some(error("null", &RpcError::invalid_request()));
    }
    let answers: Vec<String> = items
        .into_iter()
        .filter_map(|item| handle_call(feed, item, now))
        .collect();
    (!answers.is_empty()).then(|| format!("[{}]", answers.join(",")))
}

fn handle_call(feed: &mut Feed, raw: &RawValue, now: ChainTime) -> Option<String> {
    let call = match serde_json::from_str::<Call<'_>>(raw.get()) {
        Ok(call) if call.jsonrpc.as_deref() == Some("2.0") && call.method.is_some() => call,
        Ok(call) => {
            let id = call.id.map_or("null", RawValue::get);
            return Some(error(id, &RpcError::invalid_request()));
        }
        Err(_) => return Some(error("null", &RpcError::invalid_request())),
    };
    let method = call.method.as_deref().unwrap_or_default();
    let outcome = dispatch(feed, method, call.params, now);
    let id = call.id?.get();
    Some(match outcome {
        Ok(result) => answer(id, &result),
        Err(e) => error(id, &e),
    })
}

fn dispatch(
    feed: &mut Feed,
    method: &str,
    params: Option<&RawValue>,
    now: ChainTime,
) -> Result<String, RpcError> {
    if UNSUBSCRIBE.contains(&method) {
        let params = positional(params)?;
        let id: u64 = required(&params, 0)?;
        return if feed.unsubscribe(id) {
            Ok("true".into())
        } else {
            Err(RpcError::new(-32602, "Invalid subscription id."))
        };
    }
    let spec = match method {
        "slotSubscribe" => Spec::Slot,
        "rootSubscribe" => Spec::Root,
        "accountSubscribe" | "programSubscribe" | "logsSubscribe" | "signatureSubscribe" => {
            launch_spec(method, &positional(params)?)?
        }
        "getVersion" => return Ok(version()),
        _ => return Err(RpcError::method_not_found()),
    };
    Ok(feed.subscribe(spec, now).to_string())
}

fn launch_spec(method: &str, params: &[&RawValue]) -> Result<Spec, RpcError> {
    let config: Config = match params.get(1) {
        None => Config::default(),
        Some(raw) if raw.get() == "null" => Config::default(),
        Some(raw) => serde_json::from_str(raw.get()).map_err(RpcError::invalid_params)?,
    };
    let commitment = parse_commitment(config.commitment.as_deref())?;
    let encoding = parse_account_encoding(config.encoding.as_deref())?;
    let watch = match method {
        "accountSubscribe" => {
            let key: Cow<'_, str> = required(params, 0)?;
            Watch::Account {
                key: param(&key, "pubkey")?,
                encoding,
            }
        }
        "programSubscribe" => {
            let key: Cow<'_, str> = required(params, 0)?;
            // Validated like agave; only the pump.fun program's accounts are modelled.
            param::<32>(&key, "pubkey")?;
            let mut matches = key == PUMP_FUN_PROGRAM_ID;
            for filter in config.filters.iter().flatten() {
                matches &= passes(filter)?;
            }
            Watch::Program { matches, encoding }
        }
        "logsSubscribe" => match required::<LogsFilter>(params, 0)? {
            LogsFilter::All | LogsFilter::AllWithVotes => Watch::Logs(None),
            LogsFilter::Mentions(keys) => {
                let [key] = keys.as_slice() else {
                    return Err(RpcError::new(
                        -32602,
                        "Invalid Request: Only 1 address supported",
                    ));
                };
                let key = param::<32>(key, "mentions")?;
                let program = decode_fixed::<32>(PUMP_FUN_PROGRAM_ID).ok();
                Watch::Logs((Some(key) != program).then_some(key))
            }
        },
        _ => {
            let sig: Cow<'_, str> = required(params, 0)?;
            Watch::Signature(param(&sig, "signature")?)
        }
    };
    Ok(Spec::Launch { watch, commitment })
}

/// Whether the bonding curve passes a `programSubscribe` filter.
fn passes(filter: &Filter) -> Result<bool, RpcError> {
    let data = curve_bytes();
    Ok(match filter {
        Filter::DataSize(size) => *size == data.len() as u64,
        Filter::Memcmp(m) => {
            let bytes = match m.encoding.as_deref() {
                None | Some("base58") => base58_decode(&m.bytes),
                Some("base64") => base64_decode(&m.bytes),
                Some(other) => {
                    return Err(RpcError::invalid_params(format!(
                        "unknown variant `{other}`, expected `base58` or `base64`"
                    )));
                }
            }
            .ok_or_else(|| RpcError::invalid_params("invalid memcmp bytes"))?;
            data.get(m.offset..)
                .is_some_and(|rest| rest.starts_with(&bytes))
        }
    })
}

/// A key or signature parameter, with agave's PubSub error: `Invalid Request: Invalid {what}
/// provided`.
fn param<const N: usize>(text: &str, what: &str) -> Result<[u8; N], RpcError> {
    decode_fixed::<N>(text)
        .map_err(|_| RpcError::new(-32602, format!("Invalid Request: Invalid {what} provided")))
}
