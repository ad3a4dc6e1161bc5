//! A call's policy: which [`Strategy`] runs, how long each attempt and the whole call may
//! take, how wide it fans out, how many must agree — and the one pure function,
//! [`resolve`], that computes it from the request's overrides, the method's table and
//! `[default]`.
//!
//! Precedence, field by field: the request (library builder or gateway header) over
//! `[method.NAME]` over `[default]` over the built-in default. Two fields are special:
//!
//! - **Attempt timeout**: request (`attempt_timeout`) → method → *endpoint* → `[default]`
//!   → 500 ms. The endpoint's own `timeout_ms` sits between the method and `[default]`, so
//!   it is resolved per endpoint at launch by [`Policy::attempt_timeout`].
//! - **Deadline** (the whole call): the request's budget (`timeout`, header
//!   `x-dualrpc-timeout-ms`) or `deadline` → method → `[default]` → twice the attempt
//!   timeout. A request's budget bounds only how long the *call* waits: attempts keep
//!   their configured timeouts (and finish in the background when the call gives up on
//!   them), so a client with a 1 ms budget cannot make an endpoint look like it timed out.
//!
//! The result is typed (`Duration`s, counts) once per call; nothing on the hot path
//! converts milliseconds or looks up tables again.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Attempt timeout when neither request, method, endpoint nor `[default]` set one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);
/// How many distinct endpoints `consensus` needs to agree when no `quorum` is set.
pub const DEFAULT_QUORUM: usize = 2;
/// Attempts `failover` and `hedge` make at most per call when no `max_attempts` is set.
pub const DEFAULT_MAX_ATTEMPTS: usize = 3;
/// Retry rounds after a strategy ends with only failures or only empty answers.
pub const DEFAULT_RETRIES: usize = 1;
/// How long, after the first usable answer, a call waits for a fresher one from attempts
/// already out, when neither the method nor `[default]` sets `freshness_window_ms` (see
/// BENCHMARKS.md for the measurement behind it).
pub const DEFAULT_FRESHNESS_WINDOW: Duration = Duration::from_millis(20);
/// The same for signature lists (`getSignaturesForAddress`; the catalogue's
/// `SlotSource::FirstEntry`) under every strategy but `merge`, when neither the request,
/// the method nor `[default]` sets a window (a window in `[default]` applies to lists
/// too): a list from a node the health loop sees behind waits this long for the node
/// ahead's list (it waits only then; see BENCHMARKS.md, *Time to detect a launch*). Under
/// `merge` the window is how long other lists are waited for to be united,
/// [`DEFAULT_FRESHNESS_WINDOW`].
pub const DEFAULT_LIST_FRESHNESS_WINDOW: Duration = Duration::from_millis(60);
/// How long a served answer's slot is a floor for the same method and params, when
/// neither the method nor `[default]` sets `monotonic_window_ms`.
pub const DEFAULT_MONOTONIC_WINDOW: Duration = Duration::from_secs(10);

/// How a call is spread over endpoints. See `DESIGN.md` and each strategy's module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Best endpoint; on failure the next best, up to `max_attempts`. Cheapest.
    Failover,
    /// Several endpoints at once; the first usable success wins. Fastest.
    Race,
    /// Best endpoint, then the next after an adaptive delay or at once on error.
    Hedge,
    /// Several endpoints; answer once `quorum` distinct endpoints agree on the result.
    Consensus,
    /// Primary+secondary pairs: one pair races, the next pair if both fail.
    Dual,
    /// Every endpoint; first success returned, the rest still complete.
    Broadcast,
    /// Lists (`getSignaturesForAddress`) from several endpoints, merged; else `race`.
    Merge,
}

impl Strategy {
    /// Every strategy, in the order the docs list them.
    pub const ALL: [Strategy; 7] = [
        Strategy::Failover,
        Strategy::Race,
        Strategy::Hedge,
        Strategy::Consensus,
        Strategy::Dual,
        Strategy::Broadcast,
        Strategy::Merge,
    ];

    /// Position in [`Strategy::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The lowercase name used in config, headers, paths and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Failover => "failover",
            Strategy::Race => "race",
            Strategy::Hedge => "hedge",
            Strategy::Consensus => "consensus",
            Strategy::Dual => "dual",
            Strategy::Broadcast => "broadcast",
            Strategy::Merge => "merge",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown strategy name.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown strategy `{0}`: expected one of failover, race, hedge, consensus, dual, broadcast, merge"
)]
pub struct UnknownStrategy(pub String);

impl FromStr for Strategy {
    type Err = UnknownStrategy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Strategy::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownStrategy(s.chars().take(32).collect()))
    }
}

/// What `consensus` answers when nothing contradicts the best-supported answer but fewer
/// than `quorum` endpoints confirmed it and no more votes can come in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsensusFallback {
    /// Return it, saying how many agreed (`x-dualrpc-agreement: 1/2`).
    #[default]
    Accept,
    /// Answer `-32082` (no consensus).
    Error,
}

/// One `[method.X]` or `[default]` table, typed. Unset fields fall through.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct MethodPolicy {
    pub(crate) strategy: Option<Strategy>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) fanout: Option<usize>,
    pub(crate) quorum: Option<usize>,
    pub(crate) max_attempts: Option<usize>,
    pub(crate) retries: Option<usize>,
    pub(crate) cache_ttl: Option<Duration>,
    pub(crate) fallback: Option<ConsensusFallback>,
    pub(crate) freshness_window: Option<Duration>,
    pub(crate) monotonic_window: Option<Duration>,
}

/// `[default]` and every `[method.X]`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Policies {
    pub(crate) default: MethodPolicy,
    pub(crate) methods: HashMap<Box<str>, MethodPolicy>,
}

impl Policies {
    /// The effective policy of a call of `method` (`info`: its catalogue entry) with
    /// `overrides`.
    pub(crate) fn resolve(
        &self,
        method: &str,
        info: &crate::catalog::MethodInfo,
        overrides: &Overrides,
    ) -> Resolved {
        let own = self.methods.get(method);
        let mut r = resolve(overrides, own, &self.default);
        let set = overrides.freshness_window.is_some()
            || own.is_some_and(|m| m.freshness_window.is_some())
            || self.default.freshness_window.is_some();
        let list = info.slot == crate::fresh::SlotSource::FirstEntry;
        if !set && list && r.policy.strategy != Strategy::Merge {
            r.policy.freshness_window = DEFAULT_LIST_FRESHNESS_WINDOW;
        }
        r
    }
}

/// What one call overrides (library builder or gateway headers).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Overrides {
    pub(crate) strategy: Option<Strategy>,
    /// The call's time budget: its deadline, nothing else.
    pub(crate) budget: Option<Duration>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) deadline: Option<Duration>,
    pub(crate) fanout: Option<usize>,
    pub(crate) quorum: Option<usize>,
    pub(crate) max_attempts: Option<usize>,
    pub(crate) retries: Option<usize>,
    pub(crate) freshness_window: Option<Duration>,
}

/// How a call runs, apart from its deadline. Two calls with equal policies (and equal
/// method and params) may share one execution; the deadline is each caller's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Policy {
    pub(crate) strategy: Strategy,
    /// Request's or method's attempt timeout: beats the endpoint's own.
    pub(crate) attempt_timeout: Option<Duration>,
    /// `[default]`'s attempt timeout: loses to the endpoint's own.
    pub(crate) default_timeout: Duration,
    /// Endpoints `race`/`consensus` call at once; `None` = every preferred one.
    pub(crate) fanout: Option<usize>,
    pub(crate) quorum: usize,
    pub(crate) max_attempts: usize,
    pub(crate) retries: usize,
    pub(crate) cache_ttl: Option<Duration>,
    pub(crate) fallback: ConsensusFallback,
    /// After the first usable answer, how long to wait for a fresher one (zero: first
    /// usable answer wins).
    pub(crate) freshness_window: Duration,
    /// How long a served slot is a floor for the same method and params (zero: off).
    pub(crate) monotonic_window: Duration,
}

impl Policy {
    /// The attempt timeout on an endpoint whose own `timeout_ms` is `endpoint`.
    pub(crate) fn attempt_timeout(&self, endpoint: Option<Duration>) -> Duration {
        self.attempt_timeout
            .or(endpoint)
            .unwrap_or(self.default_timeout)
    }
}

/// A resolved policy and the call's deadline (relative to its start).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub(crate) policy: Policy,
    pub(crate) deadline: Duration,
}

/// The effective policy of a call (module doc): request over method over `[default]`.
pub(crate) fn resolve(
    o: &Overrides,
    method: Option<&MethodPolicy>,
    default: &MethodPolicy,
) -> Resolved {
    let pick = |f: fn(&MethodPolicy) -> Option<usize>| method.and_then(f).or_else(|| f(default));
    let pick_time =
        |f: fn(&MethodPolicy) -> Option<Duration>| method.and_then(f).or_else(|| f(default));
    let attempt_timeout = o
        .attempt_timeout
        .or_else(|| method.and_then(|m| m.attempt_timeout));
    let default_timeout = default.attempt_timeout.unwrap_or(DEFAULT_TIMEOUT);
    let deadline = o
        .budget
        .or(o.deadline)
        .or_else(|| method.and_then(|m| m.deadline))
        .or(default.deadline)
        .unwrap_or_else(|| attempt_timeout.unwrap_or(default_timeout).saturating_mul(2));
    let policy = Policy {
        strategy: o
            .strategy
            .or_else(|| method.and_then(|m| m.strategy))
            .or(default.strategy)
            .unwrap_or(Strategy::Failover),
        attempt_timeout,
        default_timeout,
        fanout: o.fanout.or_else(|| pick(|p| p.fanout)),
        quorum: o
            .quorum
            .or_else(|| pick(|p| p.quorum))
            .unwrap_or(DEFAULT_QUORUM)
            .max(1),
        max_attempts: o
            .max_attempts
            .or_else(|| pick(|p| p.max_attempts))
            .unwrap_or(DEFAULT_MAX_ATTEMPTS)
            .max(1),
        retries: o
            .retries
            .or_else(|| pick(|p| p.retries))
            .unwrap_or(DEFAULT_RETRIES),
        cache_ttl: pick_time(|p| p.cache_ttl),
        freshness_window: o
            .freshness_window
            .or_else(|| pick_time(|p| p.freshness_window))
            .unwrap_or(DEFAULT_FRESHNESS_WINDOW),
        monotonic_window: pick_time(|p| p.monotonic_window).unwrap_or(DEFAULT_MONOTONIC_WINDOW),
        fallback: method
            .and_then(|m| m.fallback)
            .or(default.fallback)
            .unwrap_or_default(),
    };
    Resolved { policy, deadline }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn strategy_names_round_trip_case_insensitively() {
        for s in Strategy::ALL {
            assert_eq!(s.as_str().parse::<Strategy>().unwrap(), s);
            assert_eq!(s.as_str().to_uppercase().parse::<Strategy>().unwrap(), s);
        }
        let err = "fastest".parse::<Strategy>().unwrap_err().to_string();
        assert!(err.contains("fastest") && err.contains("hedge"), "{err}");
    }

    #[test]
    fn each_field_comes_from_the_request_then_the_method_then_default() {
        let default = MethodPolicy {
            strategy: Some(Strategy::Hedge),
            attempt_timeout: Some(500 * MS),
            quorum: Some(3),
            retries: Some(2),
            ..MethodPolicy::default()
        };
        let method = MethodPolicy {
            strategy: Some(Strategy::Race),
            attempt_timeout: Some(50 * MS),
            deadline: Some(300 * MS),
            fanout: Some(2),
            ..MethodPolicy::default()
        };
        // (overrides, method table?, expected strategy, attempt timeout on an endpoint
        // with 200 ms / without, deadline, fanout, quorum, retries)
        type Row = (
            Overrides,
            bool,
            Strategy,
            (Duration, Duration),
            Duration,
            Option<usize>,
            usize,
            usize,
        );
        let rows: Vec<Row> = vec![
            // Nothing but [default]: the endpoint's timeout beats [default]'s; deadline is
            // twice the attempt timeout that does not depend on the endpoint.
            (
                Overrides::default(),
                false,
                Strategy::Hedge,
                (200 * MS, 500 * MS),
                1000 * MS,
                None,
                3,
                2,
            ),
            // The method's table: its timeout beats the endpoint's.
            (
                Overrides::default(),
                true,
                Strategy::Race,
                (50 * MS, 50 * MS),
                300 * MS,
                Some(2),
                3,
                2,
            ),
            // A request budget is the deadline and leaves attempt timeouts alone.
            (
                Overrides {
                    budget: Some(7 * MS),
                    strategy: Some(Strategy::Consensus),
                    quorum: Some(2),
                    ..Overrides::default()
                },
                true,
                Strategy::Consensus,
                (50 * MS, 50 * MS),
                7 * MS,
                Some(2),
                2,
                2,
            ),
            // An explicit attempt timeout beats everything; fan-out and retries override.
            (
                Overrides {
                    attempt_timeout: Some(20 * MS),
                    fanout: Some(1),
                    retries: Some(0),
                    ..Overrides::default()
                },
                false,
                Strategy::Hedge,
                (20 * MS, 20 * MS),
                40 * MS,
                Some(1),
                3,
                0,
            ),
        ];
        for (i, (o, with_method, strategy, timeouts, deadline, fanout, quorum, retries)) in
            rows.into_iter().enumerate()
        {
            let r = resolve(&o, with_method.then_some(&method), &default);
            let p = &r.policy;
            assert_eq!(p.strategy, strategy, "row {i}");
            assert_eq!(
                (p.attempt_timeout(Some(200 * MS)), p.attempt_timeout(None)),
                timeouts,
                "row {i}"
            );
            assert_eq!(r.deadline, deadline, "row {i}");
            assert_eq!(p.fanout, fanout, "row {i}");
            assert_eq!(p.quorum, quorum, "row {i}");
            assert_eq!(p.retries, retries, "row {i}");
        }
    }

    #[test]
    fn built_in_defaults_apply_when_nothing_is_set() {
        let r = resolve(&Overrides::default(), None, &MethodPolicy::default());
        assert_eq!(r.policy.strategy, Strategy::Failover);
        assert_eq!(r.policy.attempt_timeout(None), DEFAULT_TIMEOUT);
        assert_eq!(r.deadline, DEFAULT_TIMEOUT * 2);
        assert_eq!(r.policy.quorum, DEFAULT_QUORUM);
        assert_eq!(r.policy.fallback, ConsensusFallback::Accept);
    }

    #[test]
    fn signature_lists_wait_longer_for_a_node_ahead_unless_merged_or_configured() {
        let window = |policies: &Policies, strategy| {
            let o = Overrides {
                strategy: Some(strategy),
                ..Overrides::default()
            };
            let method = "getSignaturesForAddress";
            policies
                .resolve(method, crate::catalog::lookup(method), &o)
                .policy
                .freshness_window
        };
        let built_in = Policies::default();
        assert_eq!(
            window(&built_in, Strategy::Race),
            DEFAULT_LIST_FRESHNESS_WINDOW
        );
        assert_eq!(window(&built_in, Strategy::Merge), DEFAULT_FRESHNESS_WINDOW);
        assert_eq!(
            built_in
                .resolve(
                    "getAccountInfo",
                    crate::catalog::lookup("getAccountInfo"),
                    &Overrides::default()
                )
                .policy
                .freshness_window,
            DEFAULT_FRESHNESS_WINDOW
        );
        let configured = Policies {
            default: MethodPolicy {
                freshness_window: Some(5 * MS),
                ..MethodPolicy::default()
            },
            ..Policies::default()
        };
        assert_eq!(window(&configured, Strategy::Race), 5 * MS);
    }

    #[test]
    fn the_deadline_is_not_part_of_what_makes_two_calls_share_an_execution() {
        let a = resolve(
            &Overrides {
                budget: Some(10 * MS),
                ..Overrides::default()
            },
            None,
            &MethodPolicy::default(),
        );
        let b = resolve(&Overrides::default(), None, &MethodPolicy::default());
        assert_ne!(a.deadline, b.deadline);
        assert_eq!(a.policy, b.policy);
        let c = resolve(
            &Overrides {
                quorum: Some(3),
                ..Overrides::default()
            },
            None,
            &MethodPolicy::default(),
        );
        assert_ne!(a.policy, c.policy, "a different quorum is a different call");
    }
}
