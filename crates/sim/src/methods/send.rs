//! `sendTransaction`: the payload is decoded (`base58` by default, or `base64`) and, when it is
//! a serialized transaction with at least one signature, the transaction lands on the shared
//! chain (the chain's `sent` submodule: the next slot, once per signature) and its first
//! signature is the answer. Nothing is checked or executed (no preflight, no blockhash check),
//! and any other payload that decodes — or does not — gets a signature hashed from the payload
//! and lands nothing.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::{CallContext, RpcError, config_at, required};
use crate::codec::{SeedStream, base58_decode, base58_encode, base64_decode, hash_str};

/// A packet's payload: the largest serialized transaction.
const PACKET_DATA_SIZE: usize = 1232;
/// The longest base58 transaction agave decodes.
const MAX_BASE58_SIZE: usize = 1683;
/// The longest base64 transaction agave decodes.
const MAX_BASE64_SIZE: usize = 1644;

pub(super) fn send_transaction(
    ctx: &CallContext<'_>,
    params: &[&RawValue],
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let payload: Cow<'_, str> = required(params, 0)?;
    let config = config_at(params, 1)?;
    let (name, max_encoded) = match config.encoding.as_deref() {
        None | Some("base58") => ("base58", MAX_BASE58_SIZE),
        Some("base64") => ("base64", MAX_BASE64_SIZE),
        Some(other) => {
            return Err(RpcError::invalid_params(format!(
                "unknown variant `{other}`, expected `base58` or `base64`"
            )));
        }
    };
    // agave's limits (a packet's 1,232 bytes, encoded), checked before decoding: base58
    // decoding is quadratic, and a request may carry a megabyte.
    if payload.len() > max_encoded {
        return Err(RpcError::invalid_params(format!(
            "{name} encoded solana_transaction::versioned::VersionedTransaction too large: {} bytes (max: encoded/raw {max_encoded}/{PACKET_DATA_SIZE})",
            payload.len()
        )));
    }
    let bytes = match name {
        "base58" => base58_decode(&payload),
        _ => base64_decode(&payload),
    };
    let signature = match bytes.as_deref().and_then(first_signature) {
        Some(signature) => {
            // A resend (or the same transaction sent to another endpoint) lands nothing more.
            ctx.chain.land(signature, ctx.now);
            base58_encode(&signature)
        }
        None => base58_encode(&SeedStream::new(&[hash_str(&payload), 0x5E4D]).bytes::<64>()),
    };
    out.push(b'"');
    out.extend_from_slice(signature.as_bytes());
    out.push(b'"');
    Ok(())
}

/// The first signature of a serialized transaction: it starts with a compact-u16 signature
/// count (one byte up to 127), then the signatures.
fn first_signature(tx: &[u8]) -> Option<[u8; 64]> {
    let (&count, rest) = tx.split_first()?;
    if !(1..0x80).contains(&count) {
        return None;
    }
    rest.get(..64)?.try_into().ok()
}
