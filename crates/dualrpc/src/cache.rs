//! The finality-aware response cache: answers that cannot change are kept, within a memory
//! bound; nothing that can change is served from cache unless a method is given a TTL.
//!
//! What cannot change: a `getTransaction` or `getBlock` result read at `finalized`
//! commitment (the default when a request names none) that is not `null`, `getBlockTime`
//! of a slot once known, `getGenesisHash`. Everything else — account state, signature
//! lists, slots, blockhashes — changes every slot and is only cached for a method whose
//! policy sets `cache_ttl_ms`, for at most that long. `null` answers are never cached: they
//! mean "not seen yet". Entries are weighed by their byte size (moka's TinyLFU eviction
//! under a byte budget), so a burst of large blocks cannot grow memory without bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;
use serde_json::value::RawValue;

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

#[derive(Clone)]
struct Entry {
    result: Arc<RawValue>,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<Arc<str>, Entry> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &Arc<str>,
        value: &Entry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Cached results by method and params.
pub(crate) struct ResponseCache {
    cache: Cache<Arc<str>, Entry>,
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
            .weigher(|k: &Arc<str>, v: &Entry| {
                (k.len() + v.result.get().len())
                    .try_into()
                    .unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self { cache }
    }

    /// The cached result for `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<Box<RawValue>> {
        self.cache.get(key).map(|e| e.result.as_ref().to_owned())
    }

    /// Stores a result under `policy`.
    pub(crate) fn insert(&self, key: Arc<str>, result: &RawValue, policy: CachePolicy) {
        let ttl = match policy {
            CachePolicy::Never => return,
            CachePolicy::Immutable => IMMUTABLE_TTL,
            CachePolicy::Ttl(t) => t,
        };
        self.cache.insert(
            key,
            Entry {
                result: Arc::from(result.to_owned()),
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
    method: &str,
    params: Option<&RawValue>,
    ttl: Option<Duration>,
) -> CachePolicy {
    if let Some(ttl) = ttl {
        return CachePolicy::Ttl(ttl);
    }
    match method {
        "getTransaction" | "getBlock" if commitment(params).is_none_or(|c| c == "finalized") => {
            CachePolicy::Immutable
        }
        "getBlockTime" | "getGenesisHash" => CachePolicy::Immutable,
        _ => CachePolicy::Never,
    }
}

/// The `commitment` of `[x, {commitment: …}]` params, if given.
fn commitment(params: Option<&RawValue>) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Opts {
        commitment: Option<String>,
    }
    let items: Vec<&RawValue> = serde_json::from_str(params?.get()).ok()?;
    let opts: Opts = serde_json::from_str(items.get(1)?.get()).ok()?;
    opts.commitment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn only_final_answers_are_immutable() {
        let p = |s: &str| policy("getTransaction", Some(&raw(s)), None);
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
            policy("getAccountInfo", Some(&raw(r#"["a"]"#)), None),
            CachePolicy::Never
        );
        assert_eq!(policy("getGenesisHash", None, None), CachePolicy::Immutable);
        let ttl = Duration::from_millis(200);
        assert_eq!(
            policy("getLatestBlockhash", None, Some(ttl)),
            CachePolicy::Ttl(ttl)
        );
    }

    #[test]
    fn entries_expire_by_ttl_and_respect_the_byte_bound() {
        let c = ResponseCache::new(10_000);
        c.insert(
            "k".into(),
            &raw("1"),
            CachePolicy::Ttl(Duration::from_millis(1)),
        );
        c.insert("keep".into(), &raw("2"), CachePolicy::Immutable);
        assert_eq!(c.get("keep").unwrap().get(), "2");
        std::thread::sleep(Duration::from_millis(5));
        assert!(c.get("k").is_none(), "expired");
        // Far more than the budget: the cache stays bounded.
        let big = raw(&format!("\"{}\"", "x".repeat(1000)));
        for i in 0..100 {
            c.insert(format!("big{i}").into(), &big, CachePolicy::Immutable);
        }
        assert!(c.len() <= 11, "{}", c.len());
    }
}
