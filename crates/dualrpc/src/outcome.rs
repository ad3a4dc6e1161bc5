//! What one attempt on one endpoint came to, and why an attempt failed.
//!
//! Every upstream answer is sorted into exactly one [`Outcome`]: a success (complete or
//! empty), a deterministic JSON-RPC error that ends the call, a node-specific JSON-RPC
//! error (asked elsewhere, not charged to the breaker), or a [`FailureKind`] charged to
//! the endpoint. [`FailureKind::as_str`] is the stable label used in metrics, `/status`
//! and the `data` of a final error.

use std::time::Duration;

use crate::jsonrpc::RawJson;

/// Why an attempt did not produce a usable answer: the endpoint's failure, or a well-formed
/// error about its data (`data_unavailable`, `rpc_error`), never the call's own fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// No answer within the attempt timeout.
    Timeout,
    /// The TCP/TLS connection could not be made.
    Connect,
    /// The connection broke while sending or receiving (reset, truncated body, …).
    Transport,
    /// HTTP 429 Too Many Requests.
    RateLimited,
    /// Any other non-success HTTP status without a JSON-RPC error inside.
    HttpStatus,
    /// A body that is not a JSON-RPC response (invalid JSON, HTML page, no result/error).
    InvalidResponse,
    /// A JSON-RPC response whose `id` is not the one sent.
    WrongId,
    /// A body larger than the configured limit.
    TooLarge,
    /// JSON-RPC "node is unhealthy".
    NodeUnhealthy,
    /// The node is behind (block not available yet, unknown blockhash: charged to the
    /// breaker), or has not reached the client's `minContextSlot` yet (-32016, or an
    /// answer below it: "not yet", not charged).
    NodeBehind,
    /// The node lacks data others may have (cleaned-up ledger, skipped slot, no history,
    /// …). Not charged to the breaker.
    DataUnavailable,
    /// Another well-formed JSON-RPC error (method not found, internal error,
    /// provider-specific codes). Not charged to the breaker.
    RpcError,
    /// The attempt's task ended without an answer (a bug; reported, never hung on).
    Internal,
    /// An answer claiming a slot beyond any the chain can have reached
    /// ([`crate::stats::SlotCeiling`]): refused, charged to the breaker.
    ImplausibleSlot,
}

impl FailureKind {
    /// All kinds, for pre-registering metric labels and status tables.
    pub const ALL: [FailureKind; 14] = [
        FailureKind::Timeout,
        FailureKind::Connect,
        FailureKind::Transport,
        FailureKind::RateLimited,
        FailureKind::HttpStatus,
        FailureKind::InvalidResponse,
        FailureKind::WrongId,
        FailureKind::TooLarge,
        FailureKind::NodeUnhealthy,
        FailureKind::NodeBehind,
        FailureKind::DataUnavailable,
        FailureKind::RpcError,
        FailureKind::Internal,
        FailureKind::ImplausibleSlot,
    ];

    /// Stable snake_case label.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Connect => "connect",
            FailureKind::Transport => "transport",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::HttpStatus => "http_status",
            FailureKind::InvalidResponse => "invalid_response",
            FailureKind::WrongId => "wrong_id",
            FailureKind::TooLarge => "too_large",
            FailureKind::NodeUnhealthy => "node_unhealthy",
            FailureKind::NodeBehind => "node_behind",
            FailureKind::DataUnavailable => "data_unavailable",
            FailureKind::RpcError => "rpc_error",
            FailureKind::Internal => "internal",
            FailureKind::ImplausibleSlot => "implausible_slot",
        }
    }

    /// Index into per-kind counter arrays.
    pub(crate) fn index(self) -> usize {
        FailureKind::ALL
            .iter()
            .position(|k| *k == self)
            .expect("every kind is in ALL")
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one attempt.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A JSON-RPC `result`. `missing` counts null parts under the method's emptiness rule;
    /// 0 means usable.
    Success {
        /// The `result` value, a slice of the upstream's body.
        result: RawJson,
        /// Null parts; > 0 means another endpoint may know more.
        missing: u32,
    },
    /// A JSON-RPC error every node would give: ends the call, reaches the client unchanged.
    Deterministic {
        /// The `error` object, verbatim.
        error: RawJson,
    },
    /// A well-formed JSON-RPC error about this node's data or support (skipped slot,
    /// history not available, method not found, …). Another node is asked; the node
    /// worked, so its breaker is not charged; when every node that answers gives the same
    /// error, that error is the call's answer.
    NodeError {
        /// The `error` object, verbatim.
        error: RawJson,
        /// Its code, to tell whether two nodes said the same.
        code: i64,
        /// `data_unavailable` or `rpc_error`, for counts and the final error's list.
        kind: FailureKind,
    },
    /// The endpoint's failure. `retry_after` is set from a 429's `Retry-After` header.
    Failed {
        /// Why.
        kind: FailureKind,
        /// How long the endpoint asked to be left alone, if it said.
        retry_after: Option<Duration>,
    },
}

impl Outcome {
    /// A failure without a retry hint.
    pub(crate) fn failed(kind: FailureKind) -> Outcome {
        Outcome::Failed {
            kind,
            retry_after: None,
        }
    }

    /// The label this outcome is counted under.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Outcome::Success { missing: 0, .. } => "success",
            Outcome::Success { .. } => "empty",
            Outcome::Deterministic { .. } => "deterministic_error",
            Outcome::NodeError { kind, .. } | Outcome::Failed { kind, .. } => kind.as_str(),
        }
    }

    /// Whether the endpoint did its job (for the circuit breaker): it answered with a
    /// result or a well-formed error about the request or its data, not about itself.
    pub(crate) fn endpoint_ok(&self) -> bool {
        !matches!(self, Outcome::Failed { .. })
    }

    /// Whether the attempt took as long as a real answer does (so its latency is worth a
    /// sample): every answer, and a timeout (a lower bound of the true latency). A refused
    /// connection or a reset is not a latency and would make a dead endpoint look fast.
    pub(crate) fn timed(&self) -> bool {
        !matches!(self, Outcome::Failed { kind, .. } if *kind != FailureKind::Timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_indexes_match() {
        let mut seen = std::collections::HashSet::new();
        for (i, k) in FailureKind::ALL.iter().enumerate() {
            assert!(seen.insert(k.as_str()));
            assert_eq!(k.index(), i);
        }
    }
}
