//! Response payloads prebuilt from real captures (in `fixtures/`, see `fixtures/SOURCES.txt`),
//! so answers have the real keys, nesting and sizes and cost only a few memcpys per request.
//!
//! * `getTransaction` — the pump.fun `create` transaction
//!   (`pumpfun_create_getTransaction_jsonParsed.json`, ~19.8 KB compact) cut into literal
//!   pieces around the values that differ per transaction: both signatures, slot, blockTime,
//!   recentBlockhash, and the six per-token accounts (creator, mint, bonding curve, its token
//!   account, metadata, the creator's token account) — everywhere they occur, including inside
//!   the base64 `Program data:` event logs, which are re-encoded with the new keys.
//!   The base58 `data` of the event self-CPI inner instructions keeps the fixture's bytes.
//! * `getAccountInfo` of a mint — the shape of `usdc_mint_getAccountInfo_jsonParsed.json` with
//!   the values pump.fun leaves on a fresh mint; identical for every mint, so each encoding
//!   (`jsonParsed`, `base64`, `base58`, legacy binary) is one constant string.

use std::sync::LazyLock;

use serde_json::Value;

use crate::codec::{base58_encode, base64_decode, base64_encode, decode_fixed};

const CREATE_TX_FIXTURE: &str =
    include_str!("../fixtures/pumpfun_create_getTransaction_jsonParsed.json");
const USDC_MINT_FIXTURE: &str =
    include_str!("../fixtures/usdc_mint_getAccountInfo_jsonParsed.json");

/// The fixture's per-transaction accounts, in the order of [`crate::chain::TxKeys::accounts`].
pub(crate) const KEY_ROLES: [(&str, &str); 6] = [
    ("creator", "Fswrw3tgQL597kCexxLEhft6a7Su4CDoqwRMqqj4BEp5"),
    ("mint", "ER2N5eaDoC68kNhj7LyaScimzq7deaqxiw88rewvxaKp"),
    (
        "bonding curve",
        "FFzxakVNzpirwMFtLyD22UZ6UM3KLF2EAGC2RxNPaYoH",
    ),
    (
        "bonding curve token account",
        "6eTEMemDi58KJE1rPEagqMsgn34xUWTkzdZTKM8EVbYF",
    ),
    ("metadata", "H6LkmMUuAiJhAcH9ejScvMVXFhUSzxwYPiczL7zW3aAj"),
    (
        "creator token account",
        "BfUATFeQBKLdaTGdCT9bKkxXrYTYaRkcjtQ4iFwMGVq1",
    ),
];
const FIXTURE_SIGNATURE: &str =
    "52ar89rghM8EwKZkxFnBMC4LaMReqtVdpxqXxGWBCMYV1DnYdLrdsqJo8Hbn9KjVpckAokqGNHzTSVfK5xuLepdC";
const FIXTURE_MINT_SIGNATURE: &str =
    "SpE85aiJConP43xzaqrri6TRmEbKZdiSJoXeTixJPuMkYUSQZbyjxrb3NbatshfoggYacnyd1YWJf98iPV5YYqm";
const LOG_DATA_PREFIX: &str = "Program data: ";
const MARK: &str = "@@";

/// Values substituted into the transaction template.
#[derive(Debug)]
pub(crate) struct TxValues<'a> {
    pub(crate) signature: &'a str,
    pub(crate) mint_signature: &'a str,
    /// base58 and raw bytes of each [`KEY_ROLES`] account.
    pub(crate) accounts: &'a [(String, [u8; 32]); 6],
    pub(crate) slot: u64,
    pub(crate) block_time: i64,
    pub(crate) blockhash: &'a str,
}

#[derive(Debug)]
enum Piece {
    Literal(String),
    Signature,
    MintSignature,
    Account(usize),
    Blockhash,
    Slot,
    BlockTime,
    LogData(usize),
}

/// An event log line (`Program data: <base64>`) whose bytes embed account keys.
#[derive(Debug)]
struct LogData {
    bytes: Vec<u8>,
    /// (byte offset, account role) of each embedded key.
    patches: Vec<(usize, usize)>,
}

/// The `getTransaction` result, cut into literal and per-transaction pieces.
#[derive(Debug)]
pub(crate) struct TxTemplate {
    pieces: Vec<Piece>,
    logs: Vec<LogData>,
    /// Size of a rendered result, to reserve once.
    approx_len: usize,
}

impl TxTemplate {
    /// Appends the JSON `result` object for one transaction.
    pub(crate) fn render(&self, v: &TxValues<'_>, out: &mut Vec<u8>) {
        out.reserve(self.approx_len);
        let mut itoa = itoa_buf();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(s) => out.extend_from_slice(s.as_bytes()),
                Piece::Signature => out.extend_from_slice(v.signature.as_bytes()),
                Piece::MintSignature => out.extend_from_slice(v.mint_signature.as_bytes()),
                Piece::Account(i) => out.extend_from_slice(v.accounts[*i].0.as_bytes()),
                Piece::Blockhash => out.extend_from_slice(v.blockhash.as_bytes()),
                Piece::Slot => out.extend_from_slice(fmt_int(&mut itoa, v.slot as i128)),
                Piece::BlockTime => {
                    out.extend_from_slice(fmt_int(&mut itoa, i128::from(v.block_time)))
                }
                Piece::LogData(i) => {
                    let log = &self.logs[*i];
                    let mut bytes = log.bytes.clone();
                    for &(offset, role) in &log.patches {
                        bytes[offset..offset + 32].copy_from_slice(&v.accounts[role].1);
                    }
                    out.extend_from_slice(base64_encode(&bytes).as_bytes());
                }
            }
        }
    }
}

fn itoa_buf() -> [u8; 40] {
    [0; 40]
}

/// Formats an integer without allocating.
pub(crate) fn fmt_int(buf: &mut [u8; 40], mut n: i128) -> &[u8] {
    let negative = n < 0;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10).unsigned_abs() as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// The `getTransaction` template, built on first use.
pub(crate) static TX_TEMPLATE: LazyLock<TxTemplate> = LazyLock::new(build_tx_template);

fn build_tx_template() -> TxTemplate {
    let fixture: Value = serde_json::from_str(CREATE_TX_FIXTURE).expect("fixture is JSON");
    let mut result = fixture["result"].clone();
    let original_len = serde_json::to_string(&result).map_or(0, |s| s.len());

    // Mark every per-transaction value so the serialised text can be cut around it.
    let mut logs = Vec::new();
    mark_strings(&mut result, &mut logs);
    result["slot"] = Value::String(format!("{MARK}#SLOT{MARK}"));
    result["blockTime"] = Value::String(format!("{MARK}#TIME{MARK}"));
    let text = serde_json::to_string(&result).expect("serialisable");

    let mut pieces = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find(MARK) {
        let after = &rest[start + MARK.len()..];
        let end = after.find(MARK).expect("markers are paired");
        let name = &after[..end];
        let mut literal = &rest[..start];
        let mut next = &after[end + MARK.len()..];
        let piece = match name {
            // Numbers: drop the quotes the string placeholder brought.
            "#SLOT" | "#TIME" => {
                literal = literal.strip_suffix('"').expect("quoted marker");
                next = next.strip_prefix('"').expect("quoted marker");
                if name == "#SLOT" {
                    Piece::Slot
                } else {
                    Piece::BlockTime
                }
            }
            "SIG" => Piece::Signature,
            "MINTSIG" => Piece::MintSignature,
            "BLOCKHASH" => Piece::Blockhash,
            _ if name.starts_with('K') => Piece::Account(name[1..].parse().expect("role")),
            _ if name.starts_with('L') => Piece::LogData(name[1..].parse().expect("log")),
            _ => unreachable!("unknown marker {name}"),
        };
        pieces.push(Piece::Literal(literal.to_owned()));
        pieces.push(piece);
        rest = next;
    }
    pieces.push(Piece::Literal(rest.to_owned()));
    TxTemplate {
        pieces,
        logs,
        approx_len: original_len + 64,
    }
}

fn mark_strings(value: &mut Value, logs: &mut Vec<LogData>) {
    match value {
        Value::String(s) => {
            if let Some(marker) = marker_for(s) {
                *s = marker;
            } else if let Some(data) = s.strip_prefix(LOG_DATA_PREFIX)
                && let Some(bytes) = base64_decode(data)
            {
                let patches = key_offsets(&bytes);
                if !patches.is_empty() {
                    *s = format!("{LOG_DATA_PREFIX}{MARK}L{}{MARK}", logs.len());
                    logs.push(LogData { bytes, patches });
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mark_strings(v, logs)),
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "recentBlockhash" {
                    *v = Value::String(format!("{MARK}BLOCKHASH{MARK}"));
                } else {
                    mark_strings(v, logs);
                }
            }
        }
        _ => {}
    }
}

fn marker_for(s: &str) -> Option<String> {
    if s == FIXTURE_SIGNATURE {
        return Some(format!("{MARK}SIG{MARK}"));
    }
    if s == FIXTURE_MINT_SIGNATURE {
        return Some(format!("{MARK}MINTSIG{MARK}"));
    }
    KEY_ROLES
        .iter()
        .position(|(_, key)| *key == s)
        .map(|i| format!("{MARK}K{i}{MARK}"))
}

fn key_offsets(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut patches = Vec::new();
    for (role, (_, key)) in KEY_ROLES.iter().enumerate() {
        let key: [u8; 32] = decode_fixed(key).expect("fixture key");
        let mut i = 0;
        while i + 32 <= bytes.len() {
            if bytes[i..i + 32] == key {
                patches.push((i, role));
                i += 32;
            } else {
                i += 1;
            }
        }
    }
    patches
}

/// Account encodings the sim answers `getAccountInfo` with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AccountEncoding {
    /// No `encoding`: agave's legacy "binary" form, `"data": "<base58>"`.
    LegacyBinary,
    /// `["<base58>", "base58"]`.
    Base58,
    /// `["<base64>", "base64"]`.
    Base64,
    /// The parsed SPL mint.
    JsonParsed,
}

impl AccountEncoding {
    pub(crate) fn parse(name: Option<&str>) -> Option<AccountEncoding> {
        Some(match name {
            None | Some("binary") => AccountEncoding::LegacyBinary,
            Some("base58") => AccountEncoding::Base58,
            Some("base64") => AccountEncoding::Base64,
            Some("jsonParsed") => AccountEncoding::JsonParsed,
            _ => return None,
        })
    }
}

/// A fresh pump.fun mint: no mint authority (pump.fun revokes it in `create`), supply
/// 1,000,000,000 tokens at 6 decimals, initialized, no freeze authority.
pub(crate) fn mint_account_bytes() -> [u8; 82] {
    let mut data = [0_u8; 82];
    // mint_authority: COption::None (4-byte tag + 32 bytes) → all zero.
    data[36..44].copy_from_slice(&1_000_000_000_000_000_u64.to_le_bytes());
    data[44] = 6; // decimals
    data[45] = 1; // is_initialized
    // freeze_authority: COption::None → zero.
    data
}

/// Rent-exempt lamports of an 82-byte account (as in the fixture's createAccount).
const MINT_LAMPORTS: u64 = 1_461_600;

/// The `value` of `getAccountInfo` on a simulated mint, one string per encoding.
#[derive(Debug)]
pub(crate) struct MintAccount {
    legacy: String,
    base58: String,
    base64: String,
    parsed: String,
}

impl MintAccount {
    pub(crate) fn value(&self, encoding: AccountEncoding) -> &str {
        match encoding {
            AccountEncoding::LegacyBinary => &self.legacy,
            AccountEncoding::Base58 => &self.base58,
            AccountEncoding::Base64 => &self.base64,
            AccountEncoding::JsonParsed => &self.parsed,
        }
    }
}

/// The mint account values, built on first use.
pub(crate) static MINT_ACCOUNT: LazyLock<MintAccount> = LazyLock::new(build_mint_account);

fn build_mint_account() -> MintAccount {
    let fixture: Value = serde_json::from_str(USDC_MINT_FIXTURE).expect("fixture is JSON");
    let mut value = fixture["result"]["value"].clone();
    value["lamports"] = MINT_LAMPORTS.into();
    {
        let info = &mut value["data"]["parsed"]["info"];
        info["decimals"] = 6.into();
        info["freezeAuthority"] = Value::Null;
        info["mintAuthority"] = Value::Null;
        info["isInitialized"] = true.into();
        info["supply"] = "1000000000000000".into();
    }
    let parsed = value.to_string();
    let bytes = mint_account_bytes();
    let with_data = |data: Value| {
        let mut v = value.clone();
        v["data"] = data;
        v.to_string()
    };
    MintAccount {
        legacy: with_data(Value::String(base58_encode(&bytes))),
        base58: with_data(serde_json::json!([base58_encode(&bytes), "base58"])),
        base64: with_data(serde_json::json!([base64_encode(&bytes), "base64"])),
        parsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_reproduces_the_fixture() {
        let accounts: [(String, [u8; 32]); 6] =
            KEY_ROLES.map(|(_, k)| (k.to_owned(), decode_fixed(k).unwrap()));
        let fixture: Value = serde_json::from_str(CREATE_TX_FIXTURE).unwrap();
        let result = &fixture["result"];
        let mut out = Vec::new();
        TX_TEMPLATE.render(
            &TxValues {
                signature: FIXTURE_SIGNATURE,
                mint_signature: FIXTURE_MINT_SIGNATURE,
                accounts: &accounts,
                slot: 284682639,
                block_time: 1724128600,
                blockhash: result["transaction"]["message"]["recentBlockhash"]
                    .as_str()
                    .unwrap(),
            },
            &mut out,
        );
        let rendered: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(&rendered, result);
        assert_eq!(TX_TEMPLATE.logs.len(), 2, "both event logs carry the mint");
    }

    #[test]
    fn mint_account_matches_layout() {
        let parsed: Value =
            serde_json::from_str(MINT_ACCOUNT.value(AccountEncoding::JsonParsed)).unwrap();
        assert_eq!(parsed["data"]["parsed"]["type"], "mint");
        assert_eq!(parsed["space"], 82);
        let b64: Value = serde_json::from_str(MINT_ACCOUNT.value(AccountEncoding::Base64)).unwrap();
        let data = base64_decode(b64["data"][0].as_str().unwrap()).unwrap();
        assert_eq!(data.len(), 82);
        assert_eq!(b64["data"][0].as_str().unwrap().len(), 112);
        assert!(
            MINT_ACCOUNT
                .value(AccountEncoding::LegacyBinary)
                .contains("\"data\":\"")
        );
    }

    #[test]
    fn fmt_int_formats() {
        let mut b = itoa_buf();
        assert_eq!(fmt_int(&mut b, 0), b"0");
        assert_eq!(fmt_int(&mut b, -1724128600), b"-1724128600");
        assert_eq!(fmt_int(&mut b, u64::MAX as i128), b"18446744073709551615");
    }
}
