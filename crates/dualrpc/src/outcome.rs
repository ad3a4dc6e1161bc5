//! What one attempt on one endpoint came to, and why an attempt failed.
//!
//! Every upstream answer is sorted into exactly one [`Outcome`]: a success (complete or
//! empty), a deterministic JSON-RPC error that ends the call, or a [`FailureKind`] charged
//! to the endpoint. [`FailureKind::as_str`] is the stable label used in metrics, `/status`
//! and the `data` of a final error.

use std::time::Duration;

use serde_json::value::RawValue;

/// Why an attempt did not produce a usable answer. Always the endpoint's fault, never the
/// call's.
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
    /// The node is behind (min context slot, block not available yet, unknown blockhash).
    NodeBehind,
    /// The node lacks data others may have (cleaned-up ledger, no history, …).
    DataUnavailable,
    /// Another JSON-RPC error treated as this endpoint's (method not found, internal error,
    /// provider-specific codes).
    RpcError,
    /// The attempt's task ended without an answer (a bug; reported, never hung on).
    Internal,
}

impl FailureKind {
    /// All kinds, for pre-registering metric labels and status tables.
    pub const ALL: [FailureKind; 13] = [
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
        /// The `result` value, verbatim.
        result: Box<RawValue>,
        /// Null parts; > 0 means another endpoint may know more.
        missing: u32,
    },
    /// A JSON-RPC error every node would give: ends the call, reaches the client unchanged.
    Deterministic {
        /// The `error` object, verbatim.
        error: Box<RawValue>,
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
            Outcome::Failed { kind, .. } => kind.as_str(),
        }
    }

    /// Whether the endpoint did its job (for the circuit breaker): it answered with a
    /// result or with an error that is about the request, not about itself.
    pub(crate) fn endpoint_ok(&self) -> bool {
        !matches!(self, Outcome::Failed { .. })
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
