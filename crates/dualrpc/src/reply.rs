//! What a successful call returns: [`Reply`], the upstream's `result` without a copy, and
//! where it came from.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::jsonrpc::RawJson;
use crate::policy::Strategy;

/// A successful call.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The upstream's `result`, byte for byte (a slice of the upstream's body).
    pub result: RawJson,
    /// Name of the endpoint whose answer this is (`cache` for a cached answer).
    pub endpoint: Arc<str>,
    /// Strategy that ran.
    pub strategy: Strategy,
    /// Upstream attempts this call launched (0 when answered from the cache or by an
    /// identical call already in flight).
    pub attempts: u32,
    /// Time from start to answer.
    pub latency: Duration,
    /// True if the answer is empty (`null` where others might know more) because no
    /// endpoint had more before the deadline.
    pub empty: bool,
    /// True if the answer came from the response cache.
    pub cached: bool,
    /// True if the answer was shared from an identical call in flight at the same time.
    pub coalesced: bool,
    /// For `consensus`: how many distinct endpoints agreed on the answer, of the quorum.
    pub agreement: Option<Agreement>,
    /// How new the answer is (`context.slot`, the slot or height itself, a list's newest
    /// entry), when the call had a reason to read it (a freshness window, a floor).
    pub slot: Option<u64>,
    /// Slots this answer is behind one already served for the same method and params
    /// (header `x-dualrpc-stale`): nothing fresher came before the deadline.
    pub stale: Option<u64>,
}

/// How many distinct endpoints agreed on a consensus answer, of the quorum asked for.
/// Fewer than the quorum means nothing contradicted the answer but not enough endpoints
/// could confirm it in time (`consensus_fallback = "accept"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreement {
    /// Distinct endpoints that gave this answer.
    pub agreed: u32,
    /// The quorum the call asked for.
    pub quorum: u32,
}

impl fmt::Display for Agreement {
    /// `agreed/quorum`, as in the `x-dualrpc-agreement` header.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.agreed, self.quorum)
    }
}
