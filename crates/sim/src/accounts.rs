//! The accounts a launch creates that the sim serves, the same way over HTTP
//! (`getAccountInfo`, `getMultipleAccounts`, `getBalance`) and PubSub (`accountSubscribe`,
//! `programSubscribe`): the SPL **mint** (prebuilt in `templates`) and pump.fun's **bonding
//! curve**.
//!
//! The bonding curve is the state the template transaction (`create` + a 1.1 SOL `buy`)
//! leaves behind, decoded from its fixture: 49 bytes owned by the pump.fun program — the
//! Anchor discriminator of `BondingCurve`, then virtual token reserves, virtual SOL reserves,
//! real token reserves, real SOL reserves and total supply (little-endian `u64`s, the virtual
//! reserves as in the transaction's `TradeEvent`) and `complete = false` — holding the rent
//! (1 231 920 lamports, from the transaction's `createAccount`) plus the 1.1 SOL bought
//! with (the fixture's post-balance). It is the same for every launch. agave cannot parse it,
//! so `jsonParsed` answers it in `base64`, as agave falls back to.
//!
//! Field order follows agave: HTTP answers have their keys sorted (agave's JSON-RPC goes
//! through `serde_json::Value`), PubSub notifications are in its `UiAccount` struct order
//! (`lamports, data, owner, executable, rentEpoch, space`; parsed data `program, parsed,
//! space`), as in the 4.2.2 capture.

use std::sync::LazyLock;

use serde_json::{Value, json};

use crate::chain::PUMP_FUN_PROGRAM_ID;
use crate::codec::{base58_encode, base64_encode};
use crate::templates::{AccountEncoding, MINT_ACCOUNT};

/// Rent-exempt lamports of an 82-byte mint.
const MINT_LAMPORTS: u64 = 1_461_600;
/// The bonding curve's lamports after the template's `create` + `buy`.
const CURVE_LAMPORTS: u64 = 1_101_231_920;
/// Anchor discriminator of pump.fun's `BondingCurve` account:
/// `sha256("account:BondingCurve")[..8]`.
const CURVE_DISCRIMINATOR: [u8; 8] = [23, 183, 248, 55, 96, 216, 172, 96];
/// Virtual token, virtual SOL, real token, real SOL reserves and total supply after the buy.
const CURVE_STATE: [u64; 5] = [
    1_035_048_231_511_255,
    31_100_000_000,
    755_148_231_511_255,
    1_100_000_000,
    1_000_000_000_000_000,
];
/// `rentEpoch` of a rent-exempt account.
const RENT_EPOCH_EXEMPT: u64 = u64::MAX;

/// One of the accounts a launch creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LaunchAccount {
    /// The SPL mint (owner: the token program).
    Mint,
    /// pump.fun's bonding curve (owner: the pump.fun program).
    BondingCurve,
}

impl LaunchAccount {
    /// Its lamports.
    pub(crate) fn lamports(self) -> u64 {
        match self {
            LaunchAccount::Mint => MINT_LAMPORTS,
            LaunchAccount::BondingCurve => CURVE_LAMPORTS,
        }
    }

    /// The `value` of `getAccountInfo` in `encoding` (keys sorted).
    pub(crate) fn value(self, encoding: AccountEncoding) -> &'static str {
        match self {
            LaunchAccount::Mint => MINT_ACCOUNT.value(encoding),
            LaunchAccount::BondingCurve => CURVE_ACCOUNT.value(encoding),
        }
    }

    /// The account in a PubSub notification, in agave's struct field order.
    pub(crate) fn pubsub_value(self, encoding: AccountEncoding) -> &'static str {
        let i = ENCODINGS.iter().position(|e| *e == encoding).unwrap_or(0);
        let table = &*PUBSUB_VALUES;
        match self {
            LaunchAccount::Mint => &table[0][i],
            LaunchAccount::BondingCurve => &table[1][i],
        }
    }
}

const ENCODINGS: [AccountEncoding; 4] = [
    AccountEncoding::LegacyBinary,
    AccountEncoding::Base58,
    AccountEncoding::Base64,
    AccountEncoding::JsonParsed,
];

/// Both accounts in every encoding, in agave's PubSub field order.
static PUBSUB_VALUES: LazyLock<[[String; 4]; 2]> = LazyLock::new(|| {
    [LaunchAccount::Mint, LaunchAccount::BondingCurve]
        .map(|account| ENCODINGS.map(|e| struct_order(account.value(e))))
});

/// Rewrites a sorted account value in `UiAccount` field order.
fn struct_order(sorted: &str) -> String {
    let v: Value = serde_json::from_str(sorted).unwrap_or_default();
    let data = match &v["data"] {
        Value::Object(d) => format!(
            r#"{{"program":{},"parsed":{},"space":{}}}"#,
            d["program"], d["parsed"], d["space"]
        ),
        other => other.to_string(),
    };
    format!(
        r#"{{"lamports":{},"data":{data},"owner":{},"executable":{},"rentEpoch":{},"space":{}}}"#,
        v["lamports"], v["owner"], v["executable"], v["rentEpoch"], v["space"]
    )
}

/// The bonding curve's data.
pub(crate) fn curve_bytes() -> [u8; 49] {
    let mut data = [0_u8; 49];
    data[..8].copy_from_slice(&CURVE_DISCRIMINATOR);
    for (i, n) in CURVE_STATE.iter().enumerate() {
        data[8 + 8 * i..16 + 8 * i].copy_from_slice(&n.to_le_bytes());
    }
    // data[48]: complete = false.
    data
}

/// The bonding curve's `value`, one string per encoding.
#[derive(Debug)]
struct CurveAccount {
    legacy: String,
    base58: String,
    base64: String,
}

impl CurveAccount {
    fn value(&self, encoding: AccountEncoding) -> &str {
        match encoding {
            AccountEncoding::LegacyBinary => &self.legacy,
            AccountEncoding::Base58 => &self.base58,
            // Not parseable: agave falls back to base64.
            AccountEncoding::Base64 | AccountEncoding::JsonParsed => &self.base64,
        }
    }
}

static CURVE_ACCOUNT: LazyLock<CurveAccount> = LazyLock::new(|| {
    let bytes = curve_bytes();
    let with_data = |data: Value| {
        json!({
            "data": data,
            "executable": false,
            "lamports": CURVE_LAMPORTS,
            "owner": PUMP_FUN_PROGRAM_ID,
            "rentEpoch": RENT_EPOCH_EXEMPT,
            "space": bytes.len(),
        })
        .to_string()
    };
    CurveAccount {
        legacy: with_data(Value::String(base58_encode(&bytes))),
        base58: with_data(json!([base58_encode(&bytes), "base58"])),
        base64: with_data(json!([base64_encode(&bytes), "base64"])),
    }
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::base64_decode;

    #[test]
    fn curve_matches_the_template_transaction() {
        let v: Value =
            serde_json::from_str(LaunchAccount::BondingCurve.value(AccountEncoding::JsonParsed))
                .unwrap();
        assert_eq!(v["owner"], PUMP_FUN_PROGRAM_ID);
        assert_eq!(v["space"], 49);
        assert_eq!(v["rentEpoch"], u64::MAX);
        assert_eq!(v["data"][1], "base64");
        let data = base64_decode(v["data"][0].as_str().unwrap()).unwrap();
        assert_eq!(data, curve_bytes());
        // 793.1M real tokens at start minus the 37.95M bought.
        assert_eq!(
            CURVE_STATE[0] - CURVE_STATE[2],
            1_073_000_000_000_000 - 793_100_000_000_000
        );
        let legacy: Value =
            serde_json::from_str(LaunchAccount::BondingCurve.value(AccountEncoding::LegacyBinary))
                .unwrap();
        assert!(legacy["data"].is_string());
        assert_eq!(LaunchAccount::Mint.lamports(), 1_461_600);
        for account in [LaunchAccount::Mint, LaunchAccount::BondingCurve] {
            for e in ENCODINGS {
                let sorted: Value = serde_json::from_str(account.value(e)).unwrap();
                let ordered = account.pubsub_value(e);
                assert_eq!(serde_json::from_str::<Value>(ordered).unwrap(), sorted);
                assert!(ordered.starts_with(r#"{"lamports":"#), "{ordered}");
            }
        }
        let parsed = LaunchAccount::Mint.pubsub_value(AccountEncoding::JsonParsed);
        assert!(
            parsed.contains(r#""data":{"program":"spl-token","parsed":"#),
            "{parsed}"
        );
    }
}
