//! What the pool knows about each Solana JSON-RPC method, in one table.
//!
//! Several parts of a call depend on the method: whether a `null` means "this node has not
//! seen it yet" ([`EmptyRule`]), whether an answer can never change and may be cached
//! ([`Finality`]), whether two identical calls may share one upstream execution (methods
//! with side effects may not), whether the answer depends on how far a node has caught up
//! (selection then penalises lagging nodes), how consensus compares two answers
//! ([`Compare`]), where an answer says how new it is ([`SlotSource`]), and which metric
//! label the method gets. Keeping all of it in one
//! [`MethodInfo`] per method means a new method is described once, and no two modules can
//! disagree about it.
//!
//! Unknown methods get [`UNKNOWN`]: never empty, never cached, never coalesced (a
//! provider-specific method may have side effects), not freshness-sensitive, labelled
//! `other` so client-chosen names cannot blow up metric cardinality.

pub use crate::fresh::SlotSource;

/// How a method's answer can be "empty": a node that has not seen the thing yet answers
/// `null` where another node already knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmptyRule {
    /// Any successful answer is usable.
    Never,
    /// `result` is `null` (`getTransaction`, `getBlock`, …).
    NullResult,
    /// `result.value` is `null` (`getAccountInfo`).
    NullValue,
    /// Entries of `result.value` are `null` (`getSignatureStatuses`, `getMultipleAccounts`).
    NullEntries,
}

/// Whether an answer can change once given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finality {
    /// Changes every slot (accounts, lists, slots, blockhashes): cached only with a TTL.
    Changing,
    /// Final when read at `finalized` commitment (the default when none is given):
    /// `getTransaction`, `getBlock`.
    AtFinalized,
    /// Never changes once known (`getBlockTime`, `getGenesisHash`).
    Always,
}

/// How consensus decides that two answers agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compare {
    /// The canonical form of `value` for `{context, value}` results, else of the whole
    /// result (keys sorted, whitespace dropped).
    Value,
    /// A signature list, newest first (`getSignaturesForAddress`): entries are compared
    /// only over the slot range every answer covers, since nodes a slot apart list
    /// different newest entries and a `limit` cuts their oldest at different places.
    SignatureList,
    /// `getSignatureStatuses`: `confirmations` and `confirmationStatus` move with time and
    /// differ between nodes a slot apart, so they are left out.
    Statuses,
}

/// Everything the pool knows about one method. See the module doc.
#[derive(Debug, PartialEq, Eq)]
pub struct MethodInfo {
    /// The metric label: the method's name if it is in the catalogue, else `other`.
    pub label: &'static str,
    /// When an answer counts as empty.
    pub empty: EmptyRule,
    /// Whether and when an answer is final.
    pub finality: Finality,
    /// Whether identical calls in flight may share one upstream execution (false for
    /// anything with side effects: two `sendTransaction`s are two sends).
    pub coalescable: bool,
    /// Whether the answer depends on how far a node has caught up (selection then
    /// penalises nodes behind the best slot).
    pub fresh: bool,
    /// How consensus compares answers.
    pub compare: Compare,
    /// Where an answer says how new it is (freshness window, never-backwards floor).
    pub slot: SlotSource,
}

impl MethodInfo {
    const fn read(label: &'static str) -> MethodInfo {
        MethodInfo {
            label,
            empty: EmptyRule::Never,
            finality: Finality::Changing,
            coalescable: true,
            fresh: false,
            compare: Compare::Value,
            slot: SlotSource::None,
        }
    }

    /// Answers are `{context, value}`: fresh, and `context.slot` says how fresh.
    const fn context(mut self) -> Self {
        self.fresh = true;
        self.slot = SlotSource::Context;
        self
    }

    const fn slot(mut self, slot: SlotSource) -> Self {
        self.slot = slot;
        self
    }

    const fn empty(mut self, rule: EmptyRule) -> Self {
        self.empty = rule;
        self.fresh = true;
        self
    }

    const fn fresh(mut self) -> Self {
        self.fresh = true;
        self
    }

    const fn finality(mut self, finality: Finality) -> Self {
        self.finality = finality;
        self
    }

    const fn compare(mut self, compare: Compare) -> Self {
        self.compare = compare;
        self
    }

    const fn side_effects(mut self) -> Self {
        self.coalescable = false;
        self
    }
}

/// Methods not in the catalogue.
pub static UNKNOWN: MethodInfo = MethodInfo::read("other").side_effects();

/// The catalogue, sorted by name (looked up by binary search).
static METHODS: &[MethodInfo] = &[
    MethodInfo::read("getAccountInfo")
        .empty(EmptyRule::NullValue)
        .context(),
    MethodInfo::read("getBalance").context(),
    MethodInfo::read("getBlock")
        .empty(EmptyRule::NullResult)
        .finality(Finality::AtFinalized),
    MethodInfo::read("getBlockHeight")
        .fresh()
        .slot(SlotSource::Height),
    MethodInfo::read("getBlockTime")
        .empty(EmptyRule::NullResult)
        .finality(Finality::Always),
    MethodInfo::read("getConfirmedBlock").empty(EmptyRule::NullResult),
    MethodInfo::read("getConfirmedTransaction").empty(EmptyRule::NullResult),
    MethodInfo::read("getEpochInfo").fresh(),
    MethodInfo::read("getGenesisHash").finality(Finality::Always),
    MethodInfo::read("getHealth"),
    MethodInfo::read("getLatestBlockhash").context(),
    MethodInfo::read("getMultipleAccounts")
        .empty(EmptyRule::NullEntries)
        .context(),
    MethodInfo::read("getProgramAccounts").context(),
    MethodInfo::read("getSignatureStatuses")
        .empty(EmptyRule::NullEntries)
        .compare(Compare::Statuses)
        .context(),
    MethodInfo::read("getSignaturesForAddress")
        .fresh()
        .compare(Compare::SignatureList)
        .slot(SlotSource::FirstEntry),
    MethodInfo::read("getSlot").fresh().slot(SlotSource::Value),
    MethodInfo::read("getTokenAccountBalance").context(),
    MethodInfo::read("getTokenAccountsByOwner").context(),
    MethodInfo::read("getTransaction")
        .empty(EmptyRule::NullResult)
        .finality(Finality::AtFinalized),
    MethodInfo::read("getVersion"),
    MethodInfo::read("isBlockhashValid").context(),
    MethodInfo::read("requestAirdrop").side_effects(),
    MethodInfo::read("sendBundle").side_effects(),
    MethodInfo::read("sendTransaction").side_effects(),
    MethodInfo::read("simulateTransaction").context(),
];

/// What the pool knows about `method` ([`UNKNOWN`] if it is not in the catalogue).
pub fn lookup(method: &str) -> &'static MethodInfo {
    METHODS
        .binary_search_by(|m| m.label.cmp(method))
        .map_or(&UNKNOWN, |i| &METHODS[i])
}

/// Position of `info` in the catalogue ([`all`]); `all().len()` for [`UNKNOWN`].
pub(crate) fn index(info: &'static MethodInfo) -> usize {
    let start = METHODS.as_ptr() as usize;
    let at = (info as *const MethodInfo as usize).wrapping_sub(start) / size_of::<MethodInfo>();
    if at < METHODS.len() && std::ptr::eq(&METHODS[at], info) {
        at
    } else {
        METHODS.len()
    }
}

/// A method's name, owned without allocating for catalogued methods (their name is the
/// catalogue's `&'static str`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodName {
    /// A catalogued method.
    Known(&'static str),
    /// Any other method, as the client sent it.
    Other(std::sync::Arc<str>),
}

impl MethodName {
    /// The name of `method` described by `info`.
    pub fn new(method: &str, info: &'static MethodInfo) -> MethodName {
        if std::ptr::eq(info, &UNKNOWN) {
            MethodName::Other(method.into())
        } else {
            MethodName::Known(info.label)
        }
    }
}

impl std::ops::Deref for MethodName {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            MethodName::Known(s) => s,
            MethodName::Other(s) => s,
        }
    }
}

/// Every method in the catalogue, for pre-registering metric labels.
pub fn all() -> &'static [MethodInfo] {
    METHODS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_sorted_and_labels_are_unique() {
        assert!(
            METHODS.windows(2).all(|w| w[0].label < w[1].label),
            "binary search needs sorted names"
        );
        for m in METHODS {
            assert!(std::ptr::eq(lookup(m.label), m), "{}", m.label);
        }
    }

    #[test]
    fn what_each_part_of_a_call_needs_to_know() {
        let tx = lookup("getTransaction");
        assert_eq!(tx.empty, EmptyRule::NullResult);
        assert_eq!(tx.finality, Finality::AtFinalized);
        assert!(tx.coalescable && tx.fresh);
        assert_eq!(lookup("getAccountInfo").empty, EmptyRule::NullValue);
        assert_eq!(
            lookup("getSignaturesForAddress").compare,
            Compare::SignatureList
        );
        assert!(!lookup("sendTransaction").coalescable);
        assert!(!lookup("getVersion").fresh);
        let unknown = lookup("getSomethingProviderSpecific");
        assert_eq!(unknown.label, "other");
        assert!(
            !unknown.coalescable,
            "unknown methods may have side effects"
        );
        assert_eq!(unknown.finality, Finality::Changing);
    }
}
