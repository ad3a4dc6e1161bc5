//! Which copy of a notification is the first: every upstream carrying a subscription sends
//! its own copy, and the client must get each notification once.
//!
//! A notification is identified by what it says, per kind ([`Kind`]), never by its slot
//! alone (many transactions share a slot):
//!
//! - `logsNotification`: the transaction's signature;
//! - `accountNotification`: (slot, account data) — and one older than a notification
//!   already forwarded is dropped: a client never sees an account go back in time;
//! - `programNotification`: (pubkey, slot, account data), older-than-forwarded dropped per
//!   pubkey;
//! - `slotNotification`: the slot; `rootNotification`: the root;
//! - `signatureNotification`: the first one; the subscription then ends, as on a node.
//!
//! Account data is compared in canonical form (keys sorted, whitespace dropped): providers
//! write the same account differently. Memory is bounded: the last identities per
//! subscription, from [`REMEMBERED`] for logs and programs down to a few for a signature.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher as _;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// Identities remembered per subscription (and pubkeys per program subscription).
pub(crate) const REMEMBERED: usize = 4096;

/// The kinds of subscription, by method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `accountSubscribe`.
    Account,
    /// `programSubscribe`.
    Program,
    /// `logsSubscribe`.
    Logs,
    /// `signatureSubscribe`.
    Signature,
    /// `slotSubscribe`.
    Slot,
    /// `rootSubscribe`.
    Root,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 6] = [
        Kind::Account,
        Kind::Program,
        Kind::Logs,
        Kind::Signature,
        Kind::Slot,
        Kind::Root,
    ];

    /// The kind of a `…Subscribe` method.
    pub fn of_subscribe(method: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.subscribe() == method)
    }

    /// The kind of a `…Unsubscribe` method.
    pub fn of_unsubscribe(method: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.unsubscribe() == method)
    }

    /// `accountSubscribe`, …
    pub fn subscribe(self) -> &'static str {
        match self {
            Kind::Account => "accountSubscribe",
            Kind::Program => "programSubscribe",
            Kind::Logs => "logsSubscribe",
            Kind::Signature => "signatureSubscribe",
            Kind::Slot => "slotSubscribe",
            Kind::Root => "rootSubscribe",
        }
    }

    /// `accountUnsubscribe`, …
    pub fn unsubscribe(self) -> &'static str {
        match self {
            Kind::Account => "accountUnsubscribe",
            Kind::Program => "programUnsubscribe",
            Kind::Logs => "logsUnsubscribe",
            Kind::Signature => "signatureUnsubscribe",
            Kind::Slot => "slotUnsubscribe",
            Kind::Root => "rootUnsubscribe",
        }
    }

    /// `accountNotification`, …
    pub fn notification(self) -> &'static str {
        match self {
            Kind::Account => "accountNotification",
            Kind::Program => "programNotification",
            Kind::Logs => "logsNotification",
            Kind::Signature => "signatureNotification",
            Kind::Slot => "slotNotification",
            Kind::Root => "rootNotification",
        }
    }
}

/// What to do with one copy of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judgement {
    /// The first copy: forward it.
    First,
    /// A copy of one already forwarded.
    Duplicate,
    /// Older than a notification already forwarded for the same account.
    Older,
    /// Not a notification this kind can carry (dropped, never forwarded).
    Malformed,
}

/// One subscription's memory of what it forwarded.
#[derive(Debug)]
pub(crate) struct Dedup {
    /// What it deduplicates (the hub identifies copies itself; the tests judge raw text).
    #[cfg(test)]
    kind: Kind,
    /// Identities (and accounts) remembered at most.
    capacity: usize,
    seen: HashSet<u64>,
    order: VecDeque<u64>,
    /// Newest slot forwarded per account (one entry for `accountSubscribe`).
    newest: HashMap<u64, u64>,
    done: bool,
}

#[derive(Deserialize)]
struct Ctx {
    slot: u64,
}

#[derive(Deserialize)]
struct WithContext<'a> {
    context: Ctx,
    #[serde(borrow)]
    value: &'a RawValue,
}

#[derive(Deserialize)]
struct Logs<'a> {
    #[serde(borrow)]
    signature: std::borrow::Cow<'a, str>,
}

#[derive(Deserialize)]
struct Keyed<'a> {
    #[serde(borrow)]
    pubkey: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    account: &'a RawValue,
}

#[derive(Deserialize)]
struct SlotInfo {
    slot: u64,
}

/// What identifies one copy of a notification, computed without the subscription's state
/// (parsing and canonicalising account data is the costly part; the hub does it before it
/// takes its lock), then judged by [`Dedup::judge_identity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Identity {
    /// Forwarded once: logs (signature), slots, roots, `receivedSignature`.
    Once(u64),
    /// Forwarded once, and never older than what was forwarded for `account`.
    Versioned { account: u64, slot: u64, id: u64 },
    /// A signature's result: forwarded once, then the subscription is over.
    Final,
    /// Not a notification this kind can carry.
    Malformed,
}

/// The hasher every identity is made with (fixed, so identities compare across calls).
fn hasher() -> foldhash::fast::FixedState {
    foldhash::fast::FixedState::with_seed(0x5eed)
}

/// The identity of `result`, a `kind` notification's `result` (module docs).
pub(crate) fn identify(kind: Kind, result: &str) -> Identity {
    let h = hasher();
    match kind {
        Kind::Logs => match serde_json::from_str::<WithContext<'_>>(result)
            .ok()
            .and_then(|w| serde_json::from_str::<Logs<'_>>(w.value.get()).ok())
        {
            Some(l) => Identity::Once(h.hash_one(l.signature.as_bytes())),
            None => Identity::Malformed,
        },
        Kind::Account => match serde_json::from_str::<WithContext<'_>>(result) {
            Ok(w) => Identity::Versioned {
                account: 0,
                slot: w.context.slot,
                id: h.hash_one((w.context.slot, canonical(w.value.get()))),
            },
            Err(_) => Identity::Malformed,
        },
        Kind::Program => match serde_json::from_str::<WithContext<'_>>(result)
            .ok()
            .and_then(|w| {
                Some((
                    w.context.slot,
                    serde_json::from_str::<Keyed<'_>>(w.value.get()).ok()?,
                ))
            }) {
            Some((slot, k)) => {
                let account = h.hash_one(k.pubkey.as_bytes());
                Identity::Versioned {
                    account,
                    slot,
                    id: h.hash_one((account, slot, canonical(k.account.get()))),
                }
            }
            None => Identity::Malformed,
        },
        Kind::Slot => match serde_json::from_str::<SlotInfo>(result) {
            Ok(s) => Identity::Once(h.hash_one(("slot", s.slot))),
            Err(_) => Identity::Malformed,
        },
        Kind::Root => match result.trim().parse::<u64>() {
            Ok(root) => Identity::Once(h.hash_one(("root", root))),
            Err(_) => Identity::Malformed,
        },
        Kind::Signature => match serde_json::from_str::<WithContext<'_>>(result) {
            // `{"err": …}` is the result, which ends the subscription; the string
            // `"receivedSignature"` (enableReceivedNotification) only says it arrived.
            Ok(w) if w.value.get().trim_start().starts_with('{') => Identity::Final,
            Ok(_) => Identity::Once(h.hash_one(("received", 0u8))),
            Err(_) => Identity::Malformed,
        },
    }
}

/// The slot a `kind` notification's `result` (identified as `identity`) claims:
/// `context.slot`, or the slot (root) itself for slot and root notifications; `None` if it
/// does not say. An account's identity holds it already.
pub(crate) fn claimed_slot(kind: Kind, result: &str, identity: Identity) -> Option<u64> {
    if let Identity::Versioned { slot, .. } = identity {
        return Some(slot);
    }
    match kind {
        Kind::Slot => serde_json::from_str::<SlotInfo>(result)
            .ok()
            .map(|s| s.slot),
        Kind::Root => result.trim().parse().ok(),
        _ => crate::fresh::answer_slot(crate::fresh::SlotSource::Context, result),
    }
}

/// Identities of the whole chain's logs (`"all"`, `"allWithVotes"`) remembered: thousands
/// of transactions a second, and a copy may come a few seconds after the first.
pub(crate) const REMEMBERED_FIREHOSE: usize = 1 << 16;

/// Whether a subscription of `kind` with canonical `params` is the whole chain's logs
/// (`"all"` or `"allWithVotes"`).
pub(crate) fn is_firehose(kind: Kind, params: &str) -> bool {
    kind == Kind::Logs && params.starts_with("[\"all")
}

/// Identities remembered by a subscription of `kind` with canonical `params`: a copy comes
/// within seconds of the first (or, from a provider catching up, within minutes for slots),
/// so the bound covers that much of the kind's traffic. An account changes a few times a
/// slot, and an older copy is dropped as older whatever the bound; a signature has two
/// notifications at most.
fn remembered(kind: Kind, params: &str) -> usize {
    match kind {
        Kind::Logs if is_firehose(kind, params) => REMEMBERED_FIREHOSE,
        Kind::Logs | Kind::Program | Kind::Slot | Kind::Root => REMEMBERED,
        Kind::Account => 256,
        Kind::Signature => 4,
    }
}

impl Dedup {
    /// Nothing forwarded yet, for a subscription of `kind` with (canonical) `params`.
    pub(crate) fn new(kind: Kind, params: &str) -> Dedup {
        Dedup {
            #[cfg(test)]
            kind,
            capacity: remembered(kind, params),
            seen: HashSet::new(),
            order: VecDeque::new(),
            newest: HashMap::new(),
            done: false,
        }
    }

    /// Judges one copy of a notification's `result`; remembers it if it is the first.
    #[cfg(test)]
    pub(crate) fn judge(&mut self, result: &str) -> Judgement {
        self.judge_identity(identify(self.kind, result), None)
    }

    /// Judges one copy by its [`identify`]d identity; remembers it if it is the first. A
    /// newest slot above `limit` (the pool's ceiling on slots) was forwarded before the
    /// ceiling existed, and no longer makes true notifications "older".
    pub(crate) fn judge_identity(&mut self, identity: Identity, limit: Option<u64>) -> Judgement {
        if self.done {
            return Judgement::Duplicate;
        }
        match identity {
            Identity::Once(id) => self.first(id),
            Identity::Versioned { account, slot, id } => self.newer_first(account, slot, id, limit),
            Identity::Final => {
                self.done = true;
                Judgement::First
            }
            Identity::Malformed => Judgement::Malformed,
        }
    }

    /// Whether the subscription is over (a signature notification was forwarded).
    pub(crate) fn done(&self) -> bool {
        self.done
    }

    fn first(&mut self, id: u64) -> Judgement {
        if self.seen.contains(&id) {
            return Judgement::Duplicate;
        }
        // Make room first: a full set or deque that grew by one would double its allocation.
        if self.order.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(id);
        self.order.push_back(id);
        Judgement::First
    }

    fn newer_first(&mut self, account: u64, slot: u64, id: u64, limit: Option<u64>) -> Judgement {
        if self
            .newest
            .get(&account)
            .is_some_and(|&newest| slot < newest && limit.is_none_or(|l| newest <= l))
        {
            return Judgement::Older;
        }
        let verdict = self.first(id);
        if verdict == Judgement::First {
            if self.newest.len() >= self.capacity && !self.newest.contains_key(&account) {
                self.newest.clear();
            }
            self.newest.insert(account, slot);
        }
        verdict
    }
}

/// JSON in canonical form (keys sorted, no whitespace); the text itself if it is not JSON.
fn canonical(text: &str) -> String {
    serde_json::from_str::<Value>(text).map_or_else(|_| text.to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Judgement::*;

    fn logs(slot: u64, sig: &str) -> String {
        format!(
            r#"{{"context":{{"slot":{slot}}},"value":{{"signature":"{sig}","err":null,"logs":[]}}}}"#
        )
    }

    fn account(slot: u64, lamports: u64) -> String {
        format!(
            r#"{{"context":{{"slot":{slot}}},"value":{{"lamports":{lamports},"data":["","base64"],"owner":"1111"}}}}"#
        )
    }

    #[test]
    fn logs_by_signature_never_by_slot_alone() {
        let mut d = Dedup::new(Kind::Logs, "[]");
        assert_eq!(d.judge(&logs(5, "a")), First);
        assert_eq!(
            d.judge(&logs(5, "b")),
            First,
            "same slot, another transaction"
        );
        assert_eq!(d.judge(&logs(5, "a")), Duplicate);
        assert_eq!(d.judge("{}"), Malformed);
    }

    #[test]
    fn a_newest_slot_above_the_ceiling_makes_nothing_older() {
        let mut d = Dedup::new(Kind::Account, "[]");
        let judge = |d: &mut Dedup, slot, limit| {
            d.judge_identity(identify(Kind::Account, &account(slot, 1)), limit)
        };
        // Forwarded before the pool had a ceiling.
        assert_eq!(judge(&mut d, 900_000_000_000, None), First);
        assert_eq!(
            judge(&mut d, 1_003, None),
            Older,
            "without a ceiling it binds"
        );
        assert_eq!(judge(&mut d, 1_004, Some(1_305)), First);
        assert_eq!(judge(&mut d, 1_003, Some(1_305)), Older, "1,004 binds now");
    }

    #[test]
    fn accounts_by_slot_and_data_never_backwards() {
        let mut d = Dedup::new(Kind::Account, "[]");
        assert_eq!(d.judge(&account(5, 1)), First);
        // The same account written differently by another provider.
        let reordered = r#"{ "value" : {"owner":"1111","data":["","base64"],"lamports":1}, "context":{"slot":5}}"#;
        assert_eq!(d.judge(reordered), Duplicate);
        assert_eq!(d.judge(&account(5, 2)), First, "two writes in one slot");
        assert_eq!(d.judge(&account(7, 3)), First);
        assert_eq!(
            d.judge(&account(6, 9)),
            Older,
            "a slower provider's older state"
        );
    }

    #[test]
    fn program_notifications_per_pubkey() {
        let mut d = Dedup::new(Kind::Program, "[]");
        let n = |slot: u64, key: &str, lamports: u64| {
            format!(
                r#"{{"context":{{"slot":{slot}}},"value":{{"pubkey":"{key}","account":{{"lamports":{lamports}}}}}}}"#
            )
        };
        assert_eq!(d.judge(&n(5, "A", 1)), First);
        assert_eq!(
            d.judge(&n(5, "B", 1)),
            First,
            "same slot and data, other account"
        );
        assert_eq!(d.judge(&n(5, "A", 1)), Duplicate);
        assert_eq!(d.judge(&n(8, "A", 2)), First);
        assert_eq!(d.judge(&n(6, "A", 3)), Older);
        assert_eq!(d.judge(&n(6, "B", 3)), First, "B's own history");
    }

    #[test]
    fn slots_roots_and_a_signature_once() {
        let mut s = Dedup::new(Kind::Slot, "[]");
        assert_eq!(s.judge(r#"{"slot":5,"parent":4,"root":0}"#), First);
        assert_eq!(s.judge(r#"{"parent":4,"root":0,"slot":5}"#), Duplicate);
        assert_eq!(s.judge(r#"{"slot":6,"parent":5,"root":0}"#), First);
        let mut r = Dedup::new(Kind::Root, "[]");
        assert_eq!(r.judge("3"), First);
        assert_eq!(r.judge("3"), Duplicate);
        let mut g = Dedup::new(Kind::Signature, "[]");
        let received = r#"{"context":{"slot":4},"value":"receivedSignature"}"#;
        assert_eq!(g.judge(received), First);
        assert!(!g.done(), "received is not the result");
        assert_eq!(g.judge(received), Duplicate);
        let done = r#"{"context":{"slot":5},"value":{"err":null}}"#;
        assert_eq!(g.judge(done), First);
        assert!(g.done());
        assert_eq!(g.judge(done), Duplicate);
    }

    #[test]
    fn memory_is_bounded() {
        let mut d = Dedup::new(Kind::Logs, "[]");
        for i in 0..3 * REMEMBERED {
            assert_eq!(d.judge(&logs(1, &format!("s{i}"))), First);
        }
        assert!(d.seen.len() <= REMEMBERED && d.order.len() <= REMEMBERED);
        // One account remembers far fewer: its copies come within a few slots.
        let mut a = Dedup::new(Kind::Account, "[]");
        for slot in 0..2_000 {
            assert_eq!(a.judge(&account(slot, slot)), First);
        }
        assert!(
            a.seen.len() <= 256 && a.order.len() <= 256,
            "{}",
            a.seen.len()
        );
        assert_eq!(
            a.judge(&account(1_999, 1_999)),
            Duplicate,
            "recent copies still caught"
        );
    }
}
