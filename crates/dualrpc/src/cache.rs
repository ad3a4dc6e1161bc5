//! The finality-aware response cache: answers that cannot change are kept, within a memory
//! bound; nothing that can change is served from cache unless a method is given a TTL.
//!
//! What cannot change (the catalogue's [`Finality`]): a `getTransaction` or `getBlock`
//! result read at `finalized` commitment (the default when a request names none) that is
//! not `null`, `getBlockTime` of a slot once known, `getGenesisHash`. Everything else —
//! account state, signature lists, slots, blockhashes — changes every slot and is only
//! cached for a method whose policy sets `cache_ttl_ms`, for at most that long. Empty
//! answers are never cached: they mean "not seen yet". Entries are weighed by their byte
//! size (moka's TinyLFU eviction under a byte budget), so a burst of large blocks cannot
//! grow memory without bound.
//!
//! An entry remembers how many endpoints agreed on it: a `consensus` caller asking for a
//! quorum of 2 is never handed an answer a single endpoint gave (a race's, or a consensus
//! answer accepted unconfirmed). Keys are the request's own bytes up to its id (method and
//! params as sent) and their hash: nothing is formatted per call.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use bytes::Bytes;
use moka::Expiry;
use moka::sync::Cache;
use serde_json::value::RawValue;

use crate::catalog::{Finality, MethodInfo};
use crate::jsonrpc::RawJson;

/// How long an immutable answer is kept at most (it never changes, but memory is finite
/// and a day-old transaction is rarely asked for again).
const IMMUTABLE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Whether and how long an answer may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CachePolicy {
    /// Not cached.
    Never,
    /// Final: cached until evicted.
    Immutable,
    /// Cached for at most this long (configured per method).
    Ttl(Duration),
}

/// What is asked (the request up to its id), with its hash computed once.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub(crate) hash: u64,
    pub(crate) bytes: Bytes,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.bytes == other.bytes
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

#[derive(Clone)]
struct Entry {
    result: RawJson,
    /// Distinct endpoints that agreed on it (1 unless consensus confirmed it).
    agreed: u32,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<Key, Entry> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &Key,
        value: &Entry,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Cached results by request.
pub(crate) struct ResponseCache {
    cache: Cache<Key, Entry>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl ResponseCache {
    /// A cache holding at most `max_bytes` of keys and results.
    pub(crate) fn new(max_bytes: u64) -> Self {
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &Key, v: &Entry| {
                (k.bytes.len() + v.result.get().len())
                    .try_into()
                    .unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self { cache }
    }

    /// The cached result for `key` and how many endpoints agreed on it, if at least
    /// `needs` did.
    pub(crate) fn get(&self, key: &Key, needs: u32) -> Option<(RawJson, u32)> {
        self.cache
            .get(key)
            .filter(|e| e.agreed >= needs)
            .map(|e| (e.result, e.agreed))
    }

    /// Stores a result under `policy`, unless a better-confirmed one is there. `age` is how
    /// long ago it was asked for: a TTL counts from the request that read the answer, not
    /// from when the answer came back.
    pub(crate) fn insert(
        &self,
        key: Key,
        result: &RawJson,
        agreed: u32,
        policy: CachePolicy,
        age: Duration,
    ) {
        let ttl = match policy {
            CachePolicy::Never => return,
            CachePolicy::Immutable => IMMUTABLE_TTL,
            CachePolicy::Ttl(t) => t.saturating_sub(age),
        };
        if ttl.is_zero() {
            return;
        }
        if self.cache.get(&key).is_some_and(|e| e.agreed > agreed) {
            return;
        }
        self.cache.insert(
            key,
            Entry {
                // A copy: the entry must not keep the whole upstream body alive.
                result: RawJson::from_raw(&result.to_raw_value()),
                agreed,
                ttl,
            },
        );
    }

    /// Entries held (approximate; for status and tests).
    pub(crate) fn len(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.entry_count()
    }
}

/// The cache policy of a call: the configured TTL if the method has one, else immutable
/// for final answers, else never.
pub(crate) fn policy(
    info: &MethodInfo,
    params: Option<&RawValue>,
    ttl: Option<Duration>,
) -> CachePolicy {
    if !info.coalescable {
        return CachePolicy::Never;
    }
    if let Some(ttl) = ttl {
        return CachePolicy::Ttl(ttl);
    }
    match info.finality {
        Finality::Always => CachePolicy::Immutable,
        Finality::AtFinalized if reads_finalized(params) => CachePolicy::Immutable,
        _ => CachePolicy::Never,
    }
}

/// Whether `[x, {commitment: …}]` params read at `finalized` (the default when they name
/// none). Params that cannot be read that way are not taken for finalized.
fn reads_finalized(params: Option<&RawValue>) -> bool {
    #[derive(serde::Deserialize)]
    struct Opts<'a> {
        #[serde(borrow)]
        commitment: Option<std::borrow::Cow<'a, str>>,
    }
    let Some(params) = params else {
        return true;
    };
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(params.get()) else {
        return false;
    };
    match items.get(1) {
        None => true,
        Some(opts) => serde_json::from_str::<Opts<'_>>(opts.get())
            .is_ok_and(|o| o.commitment.is_none_or(|c| c == "finalized")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::lookup;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    fn key(s: &'static str) -> Key {
        Key {
            hash: s.len() as u64,
            bytes: Bytes::from_static(s.as_bytes()),
        }
    }

    #[test]
    fn only_final_answers_are_immutable() {
        let tx = lookup("getTransaction");
        let p = |s: &str| policy(tx, Some(&raw(s)), None);
        assert_eq!(
            p(r#"["sig"]"#),
            CachePolicy::Immutable,
            "default commitment is finalized"
        );
        assert_eq!(
            p(r#"["sig",{"commitment":"finalized","encoding":"json"}]"#),
            CachePolicy::Immutable
        );
        assert_eq!(
            p(r#"["sig",{"commitment":"confirmed"}]"#),
            CachePolicy::Never
        );
        assert_eq!(
            p(r#"["sig",{"commitment":"finalized","commitment":"processed"}]"#),
            CachePolicy::Never,
            "params that cannot be read are not taken for finalized"
        );
        let acc = lookup("getAccountInfo");
        assert_eq!(
            policy(acc, Some(&raw(r#"["a"]"#)), None),
            CachePolicy::Never
        );
        assert_eq!(
            policy(lookup("getGenesisHash"), None, None),
            CachePolicy::Immutable
        );
        let ttl = Duration::from_millis(200);
        assert_eq!(
            policy(lookup("getLatestBlockhash"), None, Some(ttl)),
            CachePolicy::Ttl(ttl)
        );
        assert_eq!(
            policy(lookup("sendTransaction"), None, Some(ttl)),
            CachePolicy::Never,
            "side effects are never cached"
        );
    }

    #[test]
    fn a_quorum_caller_never_gets_a_less_confirmed_answer() {
        let c = ResponseCache::new(10_000);
        let one = RawJson::parse("1").unwrap();
        let now = Duration::ZERO;
        c.insert(key("k"), &one, 1, CachePolicy::Immutable, now);
        assert_eq!(c.get(&key("k"), 1).unwrap().0.get(), "1");
        assert!(c.get(&key("k"), 2).is_none(), "consensus needs 2");
        let two = RawJson::parse("2").unwrap();
        c.insert(key("k"), &two, 2, CachePolicy::Immutable, now);
        assert_eq!(c.get(&key("k"), 2).unwrap(), (two.clone(), 2));
        c.insert(key("k"), &one, 1, CachePolicy::Immutable, now);
        assert_eq!(c.get(&key("k"), 2).unwrap().0, two, "not downgraded");
        // An answer asked for longer ago than its TTL is not stored.
        let ttl = CachePolicy::Ttl(Duration::from_millis(200));
        c.insert(key("late"), &one, 1, ttl, Duration::from_millis(300));
        assert!(c.get(&key("late"), 1).is_none());
    }

    #[test]
    fn entries_respect_the_byte_bound() {
        let c = ResponseCache::new(10_000);
        let big = RawJson::parse(&format!("\"{}\"", "x".repeat(1000))).unwrap();
        for i in 0..100u64 {
            let k = Key {
                hash: i,
                bytes: Bytes::from(format!("big{i}")),
            };
            c.insert(k, &big, 1, CachePolicy::Immutable, Duration::ZERO);
        }
        assert!(c.len() <= 11, "{}", c.len());
    }
}
