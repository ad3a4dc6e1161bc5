//! [`Upstreams`]: the pool's endpoints as one set — built once from the settings, shared by
//! calls and the health loop, and the `dual` pairs formed from their roles.
//!
//! This is the state calls and the health loop share; it knows nothing about calls, so
//! the health loop depends on it and not on the pool.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::clock::Instant;
use crate::config::{ConfigError, Role};
use crate::endpoint::Endpoint;
use crate::settings::Settings;
use crate::stats::{SlotCeiling, SmoothWrr};

/// An endpoint's genesis hash if it told it, and when it was last asked.
pub(crate) type Asked = (Option<Arc<str>>, Instant);

/// The endpoints of a pool.
#[derive(Debug)]
pub(crate) struct Upstreams {
    /// Endpoints in config order; `Endpoint::index` is the position here.
    pub(crate) endpoints: Vec<Arc<Endpoint>>,
    /// `dual` pairs, as endpoint indexes.
    pub(crate) pairs: Vec<(usize, usize)>,
    /// Which pair `dual` starts with: smooth weighted round-robin over pair scores, so
    /// equal pairs alternate even for sequential callers.
    pub(crate) pair_rotation: Mutex<SmoothWrr>,
    /// The highest slot an endpoint can plausibly report; the health loop moves it, every
    /// endpoint checks its answers against it.
    pub(crate) ceiling: Arc<SlotCeiling>,
    /// Per endpoint, what it said its cluster is (the health loop's).
    pub(crate) genesis: Mutex<Vec<Option<Asked>>>,
    /// Whether the endpoints that told their genesis hash have no majority (for one log
    /// line per change).
    pub(crate) clusters_ambiguous: std::sync::atomic::AtomicBool,
    /// After a reload: the cluster of the pool whose slot ceiling this one started from
    /// ([`crate::Pool::new_after`]). The health loop's first majority is checked against
    /// it once: another chain's ceiling is dropped.
    pub(crate) inherited_cluster: Mutex<Option<Arc<str>>>,
}

impl Upstreams {
    /// The endpoints of `settings`, with fresh stats at `now`.
    pub(crate) fn new(settings: &Settings, now: Instant) -> Result<Upstreams, ConfigError> {
        let tls = crate::upstream::tls_config()
            .map_err(|e| ConfigError::Invalid(format!("cannot set up TLS: {e}")))?;
        let ceiling = Arc::new(SlotCeiling::new(settings.endpoints.len(), now));
        let endpoints: Vec<Arc<Endpoint>> = settings
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let breaker = settings.breaker.clone();
                Arc::new(Endpoint::new(i, e, breaker, &tls, ceiling.clone(), now))
            })
            .collect();
        let roles: Vec<Role> = endpoints.iter().map(|e| e.role).collect();
        let pairs = pairs(&roles);
        Ok(Upstreams {
            pair_rotation: Mutex::new(SmoothWrr::new(pairs.len())),
            pairs,
            genesis: Mutex::new(vec![None; endpoints.len()]),
            clusters_ambiguous: std::sync::atomic::AtomicBool::new(false),
            inherited_cluster: Mutex::new(None),
            endpoints,
            ceiling,
        })
    }

    /// The genesis hash a strict majority of the endpoints that told theirs share.
    pub(crate) fn cluster(&self) -> Option<Arc<str>> {
        let known = self.genesis.lock();
        let hashes: Vec<Option<&str>> = known
            .iter()
            .map(|k| k.as_ref().and_then(|(h, _)| h.as_deref()))
            .collect();
        majority(&hashes).map(Arc::from)
    }

    /// Endpoints that may be asked at all (not on another cluster): what a quorum can count.
    pub(crate) fn eligible(&self) -> usize {
        self.endpoints.iter().filter(|e| !e.stats.foreign()).count()
    }

    /// The highest slot any endpoint reported.
    pub(crate) fn best_slot(&self) -> Option<u64> {
        self.endpoints.iter().filter_map(|e| e.stats.slot()).max()
    }
}

/// Pairs endpoints for `dual`: by role when roles are given (`primary[i]` with
/// `secondary[i]`, the shorter list cycled; endpoints without a role paired among
/// themselves), else consecutive endpoints in config order (an odd last endpoint is paired
/// with the first). Indexes into the endpoint list.
pub(crate) fn pairs(roles: &[Role]) -> Vec<(usize, usize)> {
    let primaries: Vec<usize> = (0..roles.len())
        .filter(|&i| roles[i] == Role::Primary)
        .collect();
    let secondaries: Vec<usize> = (0..roles.len())
        .filter(|&i| roles[i] == Role::Secondary)
        .collect();
    if !primaries.is_empty() && !secondaries.is_empty() {
        let n = primaries.len().max(secondaries.len());
        let mut pairs: Vec<(usize, usize)> = (0..n)
            .map(|i| {
                (
                    primaries[i % primaries.len()],
                    secondaries[i % secondaries.len()],
                )
            })
            .collect();
        // Endpoints without a role are paired among themselves (a last odd one alone), so
        // that `dual` uses every endpoint.
        let rest: Vec<usize> = (0..roles.len())
            .filter(|&i| roles[i] == Role::None)
            .collect();
        pairs.extend(
            rest.chunks(2)
                .map(|c| (c[0], c.get(1).copied().unwrap_or(c[0]))),
        );
        return pairs;
    }
    match roles.len() {
        0 => Vec::new(),
        1 => vec![(0, 0)],
        n => (0..n)
            .step_by(2)
            .map(|i| (i, if i + 1 < n { i + 1 } else { 0 }))
            .collect(),
    }
}

/// The genesis hash a strict majority of the known `hashes` share, if one does.
pub(crate) fn majority<'a>(hashes: &[Option<&'a str>]) -> Option<&'a str> {
    let known: Vec<&str> = hashes.iter().flatten().copied().collect();
    known
        .iter()
        .find(|h| 2 * known.iter().filter(|k| k == h).count() > known.len())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role::{None as N, Primary as P, Secondary as S};

    #[test]
    fn pairs_by_role_cycle_the_shorter_list() {
        assert_eq!(pairs(&[P, S, P, S]), vec![(0, 1), (2, 3)]);
        assert_eq!(pairs(&[P, P, P, S]), vec![(0, 3), (1, 3), (2, 3)]);
        assert_eq!(
            pairs(&[S, P, N]),
            vec![(1, 0), (2, 2)],
            "every endpoint in a pair"
        );
        assert_eq!(pairs(&[P, S, N, N]), vec![(0, 1), (2, 3)]);
    }

    #[test]
    fn pairs_without_roles_follow_config_order() {
        assert_eq!(pairs(&[N, N, N, N]), vec![(0, 1), (2, 3)]);
        assert_eq!(pairs(&[N, N, N]), vec![(0, 1), (2, 0)]);
        assert_eq!(pairs(&[N]), vec![(0, 0)]);
    }
}
