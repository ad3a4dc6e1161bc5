//! Errors a call can end with, and their one mapping to JSON-RPC error objects.
//!
//! A call fails in one of a few ways: a deterministic JSON-RPC error from an upstream
//! (forwarded unchanged), every attempt failing, the deadline passing, consensus not
//! reached, or no endpoint to try. [`CallError::to_jsonrpc`] is the single place where
//! these become what a client sees; the gateway and library users share it. Failure lists
//! carry endpoint *names* and kinds, never URLs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use serde_json::value::RawValue;

use crate::jsonrpc::{RawJson, error_object};
use crate::outcome::FailureKind;
use crate::policy::Strategy;

/// JSON-RPC error code: every upstream attempt failed.
pub const CODE_ALL_FAILED: i64 = -32080;
/// JSON-RPC error code: the call's deadline passed before a usable answer.
pub const CODE_DEADLINE: i64 = -32081;
/// JSON-RPC error code: consensus could not reach its quorum.
pub const CODE_NO_QUORUM: i64 = -32082;
/// JSON-RPC error code: no endpoint could be tried.
pub const CODE_NO_ENDPOINT: i64 = -32083;
/// JSON-RPC error code: every endpoint's rate-limit budget stayed spent until the deadline.
pub const CODE_OVER_BUDGET: i64 = -32084;

/// One failed attempt, by endpoint name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFailure {
    /// Endpoint name.
    pub endpoint: Arc<str>,
    /// What went wrong.
    pub kind: FailureKind,
}

/// Why a call failed.
#[derive(Debug, Clone)]
pub enum ErrorReason {
    /// An upstream returned a JSON-RPC error every node would return, or every endpoint
    /// that answered returned the same node-specific one; `error` is the upstream's error
    /// object, unchanged.
    Rpc {
        /// The error object.
        error: RawJson,
        /// Which endpoint said it.
        endpoint: Arc<str>,
    },
    /// Every attempt failed.
    AllFailed {
        /// The failures, in the order they happened.
        failures: Vec<AttemptFailure>,
    },
    /// The deadline passed with no usable answer.
    Deadline {
        /// Failures seen before the deadline.
        failures: Vec<AttemptFailure>,
    },
    /// `consensus` did not get `quorum` matching answers.
    NoQuorum {
        /// Required agreeing answers.
        quorum: usize,
        /// Endpoint names grouped by the answer they gave.
        votes: Vec<Vec<String>>,
        /// Endpoints that failed.
        failures: Vec<AttemptFailure>,
    },
    /// No endpoint could be tried (the pool has none usable).
    NoEndpoint,
    /// Every endpoint's rate-limit budget stayed spent until the deadline: the client is
    /// asking for more than the providers' combined limits.
    OverBudget,
    /// The request itself is unusable (e.g. params that do not serialize).
    InvalidRequest(String),
}

/// A failed call, with what the gateway reports in its headers.
#[derive(Debug, Clone)]
pub struct CallError {
    /// Why it failed.
    pub reason: ErrorReason,
    /// Strategy that ran.
    pub strategy: Strategy,
    /// Attempts made.
    pub attempts: u32,
    /// Time from start to failure.
    pub latency: Duration,
}

impl CallError {
    /// The JSON-RPC error object for the client: upstream errors unchanged, our own with a
    /// code from this module and `data` listing failures by endpoint name.
    pub fn to_jsonrpc(&self) -> Box<RawValue> {
        let list = |f: &[AttemptFailure]| -> Vec<serde_json::Value> {
            f.iter()
                .map(|f| json!({ "endpoint": &*f.endpoint, "kind": f.kind.as_str() }))
                .collect()
        };
        let strategy = self.strategy.as_str();
        match &self.reason {
            ErrorReason::Rpc { error, .. } => error.to_raw_value(),
            ErrorReason::AllFailed { failures } => error_object(
                CODE_ALL_FAILED,
                "all upstream endpoints failed",
                Some(&json!({ "strategy": strategy, "failures": list(failures) })),
            ),
            ErrorReason::Deadline { failures } => error_object(
                CODE_DEADLINE,
                "deadline exceeded before any upstream answered usably",
                Some(&json!({ "strategy": strategy, "failures": list(failures) })),
            ),
            ErrorReason::NoQuorum {
                quorum,
                votes,
                failures,
            } => error_object(
                CODE_NO_QUORUM,
                "upstream endpoints did not reach consensus",
                Some(
                    &json!({ "strategy": strategy, "quorum": quorum, "votes": votes, "failures": list(failures) }),
                ),
            ),
            ErrorReason::NoEndpoint => {
                error_object(CODE_NO_ENDPOINT, "no upstream endpoint available", None)
            }
            ErrorReason::OverBudget => error_object(
                CODE_OVER_BUDGET,
                "every upstream's rate-limit budget is spent; retry later",
                Some(&json!({ "strategy": strategy })),
            ),
            ErrorReason::InvalidRequest(msg) => error_object(-32602, msg, None),
        }
    }

    /// Stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self.reason {
            ErrorReason::Rpc { .. } => "rpc_error",
            ErrorReason::AllFailed { .. } => "all_failed",
            ErrorReason::Deadline { .. } => "deadline",
            ErrorReason::NoQuorum { .. } => "no_quorum",
            ErrorReason::NoEndpoint => "no_endpoint",
            ErrorReason::OverBudget => "over_budget",
            ErrorReason::InvalidRequest(_) => "invalid_request",
        }
    }

    /// The endpoint that produced a deterministic error, if that is what this is.
    pub fn endpoint(&self) -> Option<&str> {
        match &self.reason {
            ErrorReason::Rpc { endpoint, .. } => Some(endpoint),
            _ => None,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} call failed after {} attempt(s): {}",
            self.strategy,
            self.attempts,
            self.to_jsonrpc().get()
        )
    }
}

impl std::error::Error for CallError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_failed_lists_endpoint_names_and_kinds() {
        let e = CallError {
            reason: ErrorReason::AllFailed {
                failures: vec![
                    AttemptFailure {
                        endpoint: "a".into(),
                        kind: FailureKind::Timeout,
                    },
                    AttemptFailure {
                        endpoint: "b".into(),
                        kind: FailureKind::RateLimited,
                    },
                ],
            },
            strategy: Strategy::Race,
            attempts: 2,
            latency: Duration::ZERO,
        };
        let v: serde_json::Value = serde_json::from_str(e.to_jsonrpc().get()).unwrap();
        assert_eq!(v["code"], CODE_ALL_FAILED);
        assert_eq!(
            v["data"]["failures"][1],
            json!({"endpoint":"b","kind":"rate_limited"})
        );
        assert_eq!(v["data"]["strategy"], "race");
    }
}
