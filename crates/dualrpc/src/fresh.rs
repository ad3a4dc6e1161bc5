//! Freshness: how new an answer is, and the slots a pool already served.
//!
//! An answer's *slot* is what "fresher" compares: the `context.slot` of a
//! `{context, value}` result, the value itself for `getSlot`/`getBlockHeight`, the newest
//! entry's slot for a signature list ([`SlotSource`], from the method's catalogue entry).
//! It is read only when a call needs it (a freshness window, a floor), by scanning the
//! front of the result: agave writes `context` first, so the (possibly large) `value` is
//! not parsed.
//!
//! Two floors keep a call from serving old data:
//!
//! - the client's own `minContextSlot` ([`min_context_slot`]): an answer below it is never
//!   served — a node that honours it answers -32016 instead, which is "not yet", not a
//!   failure;
//! - the slot this gateway already served for the same method and params within
//!   `monotonic_window_ms` ([`ServedSlots`]): an older answer is served only when nothing
//!   fresher came before the deadline, and then says how many slots it is behind.
//!
//! [`ServedSlots`] is a trait so that a store shared by a fleet (Redis) can back it later;
//! [`LocalServedSlots`] is the in-process one, bounded in entries.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use memchr::memmem::Finder;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::clock::Instant;

/// Where a method's answer says how new it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotSource {
    /// It does not (`getVersion`, `getTransaction`, unknown methods).
    None,
    /// `context.slot` of a `{context, value}` result.
    Context,
    /// The result is itself a slot (`getSlot`).
    Value,
    /// The result is a block height (`getBlockHeight`): higher is fresher, but it is not a
    /// slot (`minContextSlot` and slots seen elsewhere do not compare with it).
    Height,
    /// The `slot` of the first (newest) entry of a list (`getSignaturesForAddress`).
    FirstEntry,
}

#[derive(Deserialize)]
struct ContextOnly {
    slot: u64,
}

#[derive(Deserialize)]
struct WithContext {
    context: Option<ContextOnly>,
}

#[derive(Deserialize)]
struct Entry {
    slot: u64,
}

/// The slot of `result` under `source`; `None` when the answer does not say.
pub(crate) fn answer_slot(source: SlotSource, result: &str) -> Option<u64> {
    match source {
        SlotSource::None => None,
        SlotSource::Value | SlotSource::Height => result.trim().parse().ok(),
        SlotSource::Context => context_slot(result),
        SlotSource::FirstEntry => {
            let rest = result.trim_start().strip_prefix('[')?;
            let mut entries = serde_json::Deserializer::from_str(rest).into_iter::<Entry>();
            entries.next()?.ok().map(|e| e.slot)
        }
    }
}

impl SlotSource {
    /// Whether an answer's value under this source is a slot of the chain's progress
    /// (comparable with `minContextSlot` and with slots seen in other calls).
    pub(crate) fn is_progress(self) -> bool {
        matches!(self, SlotSource::Context | SlotSource::Value)
    }
}

/// How many entries at the head of signature list `result` are of `slot` (0 if it does
/// not parse as a list). Read only to break a tie between two lists with the same newest
/// slot: the entries after the head are skipped, not built.
pub(crate) fn entries_at(result: &str, slot: u64) -> usize {
    struct Head(u64);
    impl<'de> serde::de::DeserializeSeed<'de> for Head {
        type Value = usize;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> serde::de::Visitor<'de> for Head {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a signature list")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
            let mut n = 0;
            while let Some(e) = seq.next_element::<Entry>()? {
                if e.slot != self.0 {
                    break;
                }
                n += 1;
            }
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(n)
        }
    }
    let mut de = serde_json::Deserializer::from_str(result);
    serde::de::DeserializeSeed::deserialize(Head(slot), &mut de).unwrap_or(0)
}

/// `context.slot`: parsed alone when `context` is the first key (as agave writes it), else
/// from a parse of the whole result that skips everything else.
fn context_slot(result: &str) -> Option<u64> {
    let rest = result.trim_start().strip_prefix('{')?.trim_start();
    if let Some(rest) = rest.strip_prefix("\"context\"") {
        let rest = rest.trim_start().strip_prefix(':')?;
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<ContextOnly>();
        return values.next()?.ok().map(|c| c.slot);
    }
    serde_json::from_str::<WithContext>(result)
        .ok()?
        .context
        .map(|c| c.slot)
}

/// `"minContextSlot"`, searched for in params (the searcher built once, not per call).
static MIN_CONTEXT_SLOT: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"minContextSlot\""));
/// `"commitment"`, likewise.
static COMMITMENT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"commitment\""));

/// Whether `text` has an escape anywhere (then a key may be spelled with `\u` escapes).
fn escaped(text: &str) -> bool {
    memchr::memchr(b'\\', text.as_bytes()).is_some()
}

/// The `minContextSlot` of a call's config object (the last element of `params`), if any.
/// A cheap byte search first: most params have none.
pub(crate) fn min_context_slot(params: Option<&RawValue>) -> Option<u64> {
    let text = params?.get();
    // The key written plainly, or escaped (then the parse below reads it).
    if MIN_CONTEXT_SLOT.find(text.as_bytes()).is_none() && !escaped(text) {
        return None;
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Config {
        min_context_slot: Option<u64>,
    }
    let list: Vec<&RawValue> = serde_json::from_str(text).ok()?;
    list.iter().rev().find_map(|p| {
        serde_json::from_str::<Config>(p.get())
            .ok()
            .and_then(|c| c.min_context_slot)
    })
}

/// The commitment a call's params ask for: 0 processed, 1 confirmed, 2 finalized (the
/// default). Params are small and this runs for every call that reads slots: the value
/// after a plain `"commitment":` key is read in place; params with an escape anywhere are
/// parsed (a key or value may be written with `\u` escapes).
pub(crate) fn commitment(params: Option<&RawValue>) -> usize {
    let text = params.map_or("", RawValue::get);
    let level = |value: &str| match value {
        "processed" => 0,
        "confirmed" => 1,
        _ => 2,
    };
    if escaped(text) {
        #[derive(Deserialize)]
        struct Config {
            commitment: Option<String>,
        }
        let list: Vec<&RawValue> = serde_json::from_str(text).unwrap_or_default();
        return list
            .iter()
            .rev()
            .find_map(|p| serde_json::from_str::<Config>(p.get()).ok()?.commitment)
            .map_or(2, |c| level(&c));
    }
    for at in COMMITMENT.find_iter(text.as_bytes()) {
        let rest = text[at + COMMITMENT.needle().len()..].trim_start();
        if let Some(value) = rest.strip_prefix(':') {
            let value = value.trim_start();
            if let Some(quoted) = value.strip_prefix('"') {
                return level(quoted.split('"').next().unwrap_or(""));
            }
        }
    }
    2
}

/// The slots a pool served, per method and params, for [`ServedSlots::floor`].
///
/// `ceiling` is the highest slot an answer may claim now (the pool's
/// [`crate::stats::SlotCeiling`]): a slot recorded above it (served before the pool had a
/// ceiling) counts as never served.
pub trait ServedSlots: Send + Sync + std::fmt::Debug {
    /// The highest slot served for `key` within the last `window`, if any.
    fn floor(
        &self,
        key: &[u8],
        now: Instant,
        window: Duration,
        ceiling: Option<u64>,
    ) -> Option<u64>;
    /// Records that an answer at `slot` was served for `key` at `now`; a lower slot than
    /// one served within `window` does not lower (or prolong) the floor. Returns the floor
    /// as it was (what [`ServedSlots::floor`] said just before), in one step.
    fn served(
        &self,
        key: &[u8],
        slot: u64,
        now: Instant,
        window: Duration,
        ceiling: Option<u64>,
    ) -> Option<u64>;
    /// Keys held (for `/status` and tests).
    fn len(&self) -> usize;
    /// Whether no key is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// In-process [`ServedSlots`]: maps from the key's hash to the highest slot served and
/// when, bounded to `capacity` keys in two generations of at most half of it each. Keys
/// go into the new generation; when it is full, the old one is dropped and the new one
/// becomes old; a key found in the old one moves to the new. So the keys served most
/// recently stay, at O(1) per call (an entry older than any window in use says nothing
/// anyway).
#[derive(Debug)]
pub struct LocalServedSlots {
    map: Mutex<Generations>,
    hasher: foldhash::fast::RandomState,
    half: usize,
}

/// The two generations of [`LocalServedSlots`].
#[derive(Debug, Default)]
struct Generations {
    new: HashMap<u64, (u64, Instant)>,
    old: HashMap<u64, (u64, Instant)>,
}

impl LocalServedSlots {
    /// A store holding at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Self {
            map: Mutex::new(Generations::default()),
            hasher: foldhash::fast::RandomState::default(),
            half: (capacity / 2).max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A panic while holding the lock cannot leave the maps inconsistent.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether a served `(slot, at)` is still a floor at `now`: within `window`, and not above
/// the `ceiling` (a slot the chain cannot have reached is no floor, whenever it was taken).
fn counts(
    &(slot, at): &(u64, Instant),
    now: Instant,
    window: Duration,
    ceiling: Option<u64>,
) -> bool {
    now.saturating_duration_since(at) <= window && ceiling.is_none_or(|limit| slot <= limit)
}

impl ServedSlots for LocalServedSlots {
    fn floor(
        &self,
        key: &[u8],
        now: Instant,
        window: Duration,
        ceiling: Option<u64>,
    ) -> Option<u64> {
        let hash = self.hasher.hash_one(key);
        let g = self.lock();
        let entry = g.new.get(&hash).or_else(|| g.old.get(&hash))?;
        counts(entry, now, window, ceiling).then_some(entry.0)
    }

    fn served(
        &self,
        key: &[u8],
        slot: u64,
        now: Instant,
        window: Duration,
        ceiling: Option<u64>,
    ) -> Option<u64> {
        let hash = self.hasher.hash_one(key);
        let mut g = self.lock();
        let g = &mut *g;
        if g.new.len() >= self.half {
            g.old = std::mem::replace(&mut g.new, HashMap::with_capacity(self.half));
        }
        let counts = |e: &(u64, Instant)| counts(e, now, window, ceiling).then_some(e.0);
        let (entry, before) = match g.new.entry(hash) {
            std::collections::hash_map::Entry::Occupied(e) => {
                let e = e.into_mut();
                let before = counts(e);
                (e, before)
            }
            std::collections::hash_map::Entry::Vacant(e) => match g.old.remove(&hash) {
                Some(moved) => (e.insert(moved), counts(&moved)),
                None => (e.insert((slot, now)), None),
            },
        };
        // A slot served after a higher one (a stale fallback) leaves that one standing,
        // until its window ends.
        if before.is_none_or(|floor| slot >= floor) {
            *entry = (slot, now);
        }
        before
    }

    fn len(&self) -> usize {
        let g = self.lock();
        g.new.len() + g.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn the_slot_of_each_kind_of_answer() {
        let ctx = r#"{"context":{"apiVersion":"4.2.2","slot":82},"value":1000000000}"#;
        assert_eq!(answer_slot(SlotSource::Context, ctx), Some(82));
        let later = r#"{ "value":{"data":["x","base64"]}, "context" : {"slot":90} }"#;
        assert_eq!(answer_slot(SlotSource::Context, later), Some(90));
        assert_eq!(answer_slot(SlotSource::Context, "null"), None);
        assert_eq!(answer_slot(SlotSource::Context, "5"), None);
        assert_eq!(answer_slot(SlotSource::Context, r#"{"value":1}"#), None);
        assert_eq!(answer_slot(SlotSource::Value, " 412 "), Some(412));
        assert_eq!(answer_slot(SlotSource::Value, "null"), None);
        let list = r#"[{"blockTime":1,"err":null,"signature":"a","slot":47},{"slot":46}]"#;
        assert_eq!(answer_slot(SlotSource::FirstEntry, list), Some(47));
        assert_eq!(answer_slot(SlotSource::FirstEntry, "[]"), None);
        assert_eq!(answer_slot(SlotSource::None, ctx), None);
    }

    #[test]
    fn entries_at_the_head_of_a_list() {
        let list = r#"[{"signature":"c","slot":9,"memo":null},{"signature":"b","slot":9},
            {"signature":"a","slot":8},{"signature":"z","slot":9},{"odd":[1,{"x":2}]}]"#;
        assert_eq!(entries_at(list, 9), 2, "the head only, the rest skipped");
        assert_eq!(entries_at(list, 8), 0);
        assert_eq!(entries_at("[]", 9), 0);
        assert_eq!(entries_at("null", 9), 0);
        assert_eq!(entries_at(r#"[{"slot":"x"}]"#, 9), 0);
        assert_eq!(entries_at(r#"[{"slot":9},"#, 9), 0, "truncated: no count");
    }

    #[test]
    fn commitment_is_read_from_the_key_even_when_escaped() {
        let c = |s: &str| commitment(Some(&raw(s)));
        assert_eq!(c(r#"["k",{"commitment":"processed"}]"#), 0);
        assert_eq!(c(r#"["k", { "commitment" : "confirmed" }]"#), 1);
        assert_eq!(c(r#"["k",{"commitment":"finalized"}]"#), 2);
        assert_eq!(c(r#"["k"]"#), 2);
        assert_eq!(commitment(None), 2);
        // A value elsewhere that happens to be a commitment's name is not the commitment.
        assert_eq!(c(r#"["processed",{"encoding":"base64"}]"#), 2);
        assert_eq!(
            c(r#"["k",{"note":"confirmed","commitment":"processed"}]"#),
            0
        );
        // Escapes: as a node reads them.
        assert_eq!(c(r#"["k",{"\u0063ommitment":"processed"}]"#), 0);
        assert_eq!(c(r#"["k",{"commitment":"con\u0066irmed"}]"#), 1);
        assert_eq!(c(r#"["k\n",{"commitment":"processed"}]"#), 0);
        let p = raw(r#"["k",{"min\u0043ontextSlot":9}]"#);
        assert_eq!(min_context_slot(Some(&p)), Some(9));
    }

    #[test]
    fn min_context_slot_comes_from_the_config_object() {
        let p = raw(r#"["k",{"commitment":"processed","minContextSlot":77}]"#);
        assert_eq!(min_context_slot(Some(&p)), Some(77));
        assert_eq!(min_context_slot(Some(&raw(r#"["k"]"#))), None);
        assert_eq!(
            min_context_slot(Some(&raw(r#"[{"minContextSlot":5}]"#))),
            Some(5)
        );
        // Inside a string it is not a config key.
        let p = raw(r#"["\"minContextSlot\"",{"encoding":"base64"}]"#);
        assert_eq!(min_context_slot(Some(&p)), None);
        assert_eq!(min_context_slot(None), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_floor_is_the_highest_slot_served_within_the_window() {
        let s = LocalServedSlots::new(100);
        let w = Duration::from_millis(500);
        let t0 = crate::clock::now();
        assert_eq!(s.floor(b"k", t0, w, None), None);
        s.served(b"k", 10, t0, w, None);
        let t1 = t0 + Duration::from_millis(300);
        s.served(b"k", 8, t1, w, None);
        assert_eq!(s.floor(b"k", t1, w, None), Some(10), "never lowered");
        assert_eq!(s.floor(b"other", t0, w, None), None);
        let t2 = t0 + Duration::from_millis(501);
        assert_eq!(
            s.floor(b"k", t2, w, None),
            None,
            "nor prolonged by a lower one"
        );
        s.served(b"k", 7, t2, w, None);
        assert_eq!(s.floor(b"k", t2, w, None), Some(7), "a new window starts");
        // A slot recorded above the ceiling (before there was one) counts as never served,
        // and the next answer's slot is recorded in its place.
        s.served(b"k", 900_000_000_000, t2, w, None);
        assert_eq!(s.floor(b"k", t2, w, Some(1_300)), None);
        assert_eq!(s.served(b"k", 1_006, t2, w, Some(1_300)), None);
        assert_eq!(s.floor(b"k", t2, w, Some(1_300)), Some(1_006));
        assert_eq!(s.served(b"k", 1_004, t2, w, Some(1_300)), Some(1_006));
    }

    #[tokio::test(start_paused = true)]
    async fn the_store_stays_bounded_and_keeps_the_newest() {
        let s = LocalServedSlots::new(1000);
        let t0 = crate::clock::now();
        let w = Duration::from_secs(1);
        for i in 0..10_000u64 {
            let at = t0 + Duration::from_micros(i);
            s.served(&i.to_le_bytes(), i, at, w, None);
            if i % 400 == 0 {
                // A key asked again and again stays, however many others pass by.
                assert_eq!(s.served(b"hot", i, at, w, None), i.checked_sub(400));
            }
            assert!(s.len() <= 1000, "{}", s.len());
        }
        let last = t0 + Duration::from_micros(9_999);
        assert_eq!(s.floor(&9_999u64.to_le_bytes(), last, w, None), Some(9_999));
        assert_eq!(s.floor(&9_700u64.to_le_bytes(), last, w, None), Some(9_700));
        assert_eq!(s.floor(b"hot", last, w, None), Some(9_600));
        assert_eq!(s.floor(&0u64.to_le_bytes(), last, w, None), None);
    }
}
