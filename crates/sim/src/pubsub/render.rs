//! PubSub frames, byte for byte in agave's field order: answers, errors, notifications, and
//! the `result` of each kind of notification.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::LaunchNotification;
use crate::accounts::LaunchAccount;
use crate::chain::{Chain, FINALIZED_DEPTH, Record};
use crate::codec::base58_encode;
use crate::methods::{RpcError, render_transaction};
use crate::templates::AccountEncoding;

/// The kinds of subscription (the discriminant tags the drop draws).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Slot = 0,
    Root = 1,
    Logs = 2,
    Account = 3,
    Program = 4,
    Signature = 5,
}

impl Kind {
    /// The notification's method name.
    pub(crate) fn notification(self) -> &'static str {
        match self {
            Kind::Slot => "slotNotification",
            Kind::Root => "rootNotification",
            Kind::Logs => "logsNotification",
            Kind::Account => "accountNotification",
            Kind::Program => "programNotification",
            Kind::Signature => "signatureNotification",
        }
    }
}

impl From<LaunchNotification> for Kind {
    fn from(n: LaunchNotification) -> Kind {
        match n {
            LaunchNotification::Logs => Kind::Logs,
            LaunchNotification::Account => Kind::Account,
            LaunchNotification::Program => Kind::Program,
            LaunchNotification::Signature => Kind::Signature,
        }
    }
}

/// `{"jsonrpc":"2.0","result":RESULT,"id":ID}`.
pub(crate) fn answer(id: &str, result: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","result":{result},"id":{id}}}"#)
}

/// `{"jsonrpc":"2.0","error":{"code":…,"message":…},"id":ID}`.
pub(crate) fn error(id: &str, error: &RpcError) -> String {
    let mut body = Vec::with_capacity(96);
    error.write(&mut body);
    let body = String::from_utf8(body).unwrap_or_default();
    format!(r#"{{"jsonrpc":"2.0","error":{body},"id":{id}}}"#)
}

/// `{"jsonrpc":"2.0","method":"…Notification","params":{"result":RESULT,"subscription":ID}}`.
pub(crate) fn notification(kind: Kind, subscription: u64, result: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":"{}","params":{{"result":{result},"subscription":{subscription}}}}}"#,
        kind.notification()
    )
}

/// A slot notification's result: `{"slot","parent","root"}`, the root as the endpoint has it
/// when it reaches the slot.
pub(crate) fn slot(slot: u64) -> String {
    format!(
        r#"{{"slot":{slot},"parent":{},"root":{}}}"#,
        slot.saturating_sub(1),
        slot.saturating_sub(FINALIZED_DEPTH)
    )
}

/// `{"context":{"slot":S},"value":VALUE}`.
fn with_context(slot: u64, value: &str) -> String {
    format!(r#"{{"context":{{"slot":{slot}}},"value":{value}}}"#)
}

/// A signature notification's result.
pub(crate) fn signature(context_slot: u64) -> String {
    with_context(context_slot, r#"{"err":null}"#)
}

/// An account notification's result.
pub(crate) fn account(slot: u64, account: LaunchAccount, encoding: AccountEncoding) -> String {
    with_context(slot, account.pubsub_value(encoding))
}

/// A program notification's result: the bonding curve `pubkey` and its account.
pub(crate) fn program(slot: u64, pubkey: &[u8; 32], encoding: AccountEncoding) -> String {
    let value = format!(
        r#"{{"pubkey":"{}","account":{}}}"#,
        base58_encode(pubkey),
        LaunchAccount::BondingCurve.pubsub_value(encoding)
    );
    with_context(slot, &value)
}

#[derive(Deserialize)]
struct Transaction<'a> {
    #[serde(borrow)]
    meta: Meta<'a>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(borrow, rename = "logMessages")]
    log_messages: &'a RawValue,
}

/// A logs notification's result: the transaction's log messages, as `getTransaction` has them
/// (the same template, with this transaction's keys in its event logs).
pub(crate) fn logs(chain: &Chain, record: &Record) -> String {
    let mut tx = Vec::with_capacity(24 * 1024);
    render_transaction(chain, record, &mut tx);
    let logs =
        serde_json::from_slice::<Transaction<'_>>(&tx).map_or("[]", |t| t.meta.log_messages.get());
    let value = format!(
        r#"{{"signature":"{}","err":null,"logs":{logs}}}"#,
        record.signature_str()
    );
    with_context(record.slot, &value)
}
