//! `getEpochInfo`: where the endpoint's view at a commitment is in its epoch, in agave's shape
//! and field order (`epoch`, `slotIndex`, `slotsInEpoch`, `absoluteSlot`, `blockHeight`,
//! `transactionCount`). Consistent with the other slot methods: `absoluteSlot` is what
//! `getSlot` answers at the same commitment and instant, `blockHeight` what `getBlockHeight`
//! answers (so `getLatestBlockhash`'s `lastValidBlockHeight` is 150 above it), and the
//! epoch follows mainnet's schedule (432 000 slots, no warm-up: `epoch = slot / 432 000`).
//! `transactionCount` (all transactions since genesis, votes included) is modelled as a
//! constant [`TRANSACTIONS_PER_BLOCK`] per block, about mainnet's average, so it only grows.

use serde_json::value::RawValue;

use super::{CallContext, RpcError, push_int};

/// Slots per epoch on mainnet-beta.
const SLOTS_PER_EPOCH: u64 = 432_000;

/// Transactions per block (votes included) behind `transactionCount`.
const TRANSACTIONS_PER_BLOCK: u64 = 1_100;

pub(super) fn get_epoch_info(
    ctx: &CallContext<'_>,
    params: &[&RawValue],
    out: &mut Vec<u8>,
) -> Result<(), RpcError> {
    let slot = ctx.config_slot(params, 0)?;
    let block_height = ctx.chain.block_height(slot);
    let fields = [
        ("epoch", slot / SLOTS_PER_EPOCH),
        ("slotIndex", slot % SLOTS_PER_EPOCH),
        ("slotsInEpoch", SLOTS_PER_EPOCH),
        ("absoluteSlot", slot),
        ("blockHeight", block_height),
        (
            "transactionCount",
            block_height.saturating_mul(TRANSACTIONS_PER_BLOCK),
        ),
    ];
    for (i, (name, value)) in fields.into_iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"{\"" } else { b",\"" });
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        push_int(out, i128::from(value));
    }
    out.push(b'}');
    Ok(())
}
