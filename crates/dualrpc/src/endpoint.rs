//! One upstream provider: its name, its (secret) URL, keep-alive HTTP clients, and its
//! stats; [`Endpoint::send`] turns one HTTP exchange into one [`Outcome`].
//!
//! Each endpoint owns its clients ([`crate::upstream`], one per worker slot), so
//! connection pools, HTTP/2 sessions and TLS state are never shared across providers. The
//! URL lives only inside those clients; transport errors are reduced to a [`FailureKind`]
//! before anything could print them.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;

use crate::catalog::EmptyRule;
use crate::clock::Instant;
use crate::config::Role;
use crate::jsonrpc::{self, Envelope, ErrorClass, ErrorObject, RawJson};
use crate::outcome::{FailureKind, Outcome};
use crate::settings::{BreakerSettings, EndpointSettings};
use crate::stats::{EndpointStats, SlotCeiling};
use crate::telemetry::EndpointMetrics;
use crate::upstream::{Answer, UpstreamClient};

/// An upstream endpoint.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// Position in the config, stable for the pool's life (used as an id).
    pub(crate) index: usize,
    /// Name shown everywhere instead of the URL.
    pub(crate) name: Arc<str>,
    /// Role in `dual` pairs.
    pub(crate) role: Role,
    /// Per-attempt timeout set on the endpoint, if any.
    pub(crate) timeout: Option<Duration>,
    /// Measured performance and the rate-limit budget.
    pub(crate) stats: EndpointStats,
    /// Metric handles, registered on first use (after the embedder installed its
    /// recorder).
    metrics: OnceLock<EndpointMetrics>,
    /// Rate-limit cost per method (default 1).
    weights: std::collections::HashMap<Box<str>, f64>,
    /// Keep-alive clients owned by this endpoint alone, one per worker slot (see
    /// [`crate::worker`]): a worker's requests use connections its own runtime drives.
    /// They hold the secret URL; their `Debug` is redacted.
    clients: Box<[UpstreamClient]>,
    /// The pool's ceiling on slots, shared by its endpoints.
    pub(crate) ceiling: Arc<SlotCeiling>,
    /// In the core's own tests: answers scripted in memory, under paused time.
    #[cfg(test)]
    pub(crate) script: Option<std::sync::Arc<crate::tests::script::Script>>,
}

impl Endpoint {
    /// Builds an endpoint from validated settings, checking its answers against `ceiling`.
    pub(crate) fn new(
        index: usize,
        settings: &EndpointSettings,
        breaker: BreakerSettings,
        tls: &Arc<rustls::ClientConfig>,
        ceiling: Arc<SlotCeiling>,
        now: Instant,
    ) -> Endpoint {
        let clients = (0..crate::worker::slots())
            .map(|_| UpstreamClient::new(settings.url.0.clone(), tls))
            .collect();
        Endpoint {
            index,
            name: settings.name.clone(),
            role: settings.role,
            timeout: settings.timeout,
            stats: EndpointStats::new(now, breaker, settings.rate_limit),
            metrics: OnceLock::new(),
            weights: settings.weights.clone(),
            clients,
            ceiling,
            #[cfg(test)]
            script: None,
        }
    }

    /// Rate-limit tokens one call of `method` costs on this endpoint.
    pub(crate) fn weight(&self, method: &str) -> f64 {
        if self.weights.is_empty() {
            return 1.0;
        }
        self.weights.get(method).copied().unwrap_or(1.0)
    }

    /// The endpoint's metric handles.
    pub(crate) fn metrics(&self) -> &EndpointMetrics {
        self.metrics
            .get_or_init(|| EndpointMetrics::new(&self.name))
    }

    /// Reports a change of circuit state (metrics and a log line).
    pub(crate) fn circuit_changed(&self) {
        let open = !self.stats.circuit_closed();
        self.metrics().circuit(open);
        if open {
            tracing::warn!(endpoint = %self.name, "circuit opened: endpoint taken out of rotation");
        } else {
            tracing::info!(endpoint = %self.name, "circuit closed: endpoint back in rotation");
        }
    }

    /// Sends one prepared JSON-RPC request and classifies the answer. `expect_id` is the
    /// id inside `body`; `rule` says when a result counts as empty; bodies above
    /// `max_bytes` are refused while streaming, before they are buffered whole.
    pub(crate) async fn send(
        &self,
        body: Bytes,
        expect_id: u64,
        rule: EmptyRule,
        max_bytes: usize,
        replayable: bool,
    ) -> Outcome {
        #[cfg(test)]
        if let Some(script) = &self.script {
            return match script.answer(&body).await {
                Ok(bytes) => classify(&bytes, expect_id, rule),
                Err(kind) => Outcome::failed(kind),
            };
        }
        let (status, bytes) = match self.clients[crate::worker::current()]
            .post(body, max_bytes, replayable)
            .await
        {
            Ok(Answer::Body(status, bytes)) => (status, bytes),
            Ok(Answer::RateLimited(retry_after)) => {
                return Outcome::Failed {
                    kind: FailureKind::RateLimited,
                    retry_after,
                };
            }
            Err(kind) => return Outcome::failed(kind),
        };
        let outcome = classify(&bytes, expect_id, rule);
        // Providers answer some errors with 4xx/5xx and a JSON-RPC body; the body decides.
        // A non-success status with a *result* is not trusted.
        match outcome {
            Outcome::Success { .. } if !status.is_success() => {
                Outcome::failed(FailureKind::HttpStatus)
            }
            Outcome::Failed {
                kind: FailureKind::InvalidResponse,
                ..
            } if !status.is_success() => Outcome::failed(FailureKind::HttpStatus),
            other => other,
        }
    }
}

/// Classifies an upstream body: the envelope must be JSON-RPC with our id and exactly one
/// of `result` / `error`. The result (or error) stays a slice of `body`.
pub(crate) fn classify(body: &Bytes, expect_id: u64, rule: EmptyRule) -> Outcome {
    let Ok(text) = std::str::from_utf8(body) else {
        return Outcome::failed(FailureKind::InvalidResponse);
    };
    let Ok(env) = serde_json::from_str::<Envelope<'_>>(text) else {
        return Outcome::failed(FailureKind::InvalidResponse);
    };
    let id_ok = env
        .id
        .is_some_and(|id| id.get().parse::<u64>() == Ok(expect_id));
    match (env.result, env.error) {
        (Some(result), None) => {
            if !id_ok {
                return Outcome::failed(FailureKind::WrongId);
            }
            Outcome::Success {
                missing: jsonrpc::missing_parts(rule, result),
                result: RawJson::slice_of(body, text, result),
            }
        }
        (None, Some(error)) => {
            let Ok(obj) = serde_json::from_str::<ErrorObject<'_>>(error.get()) else {
                return Outcome::failed(FailureKind::InvalidResponse);
            };
            // A node may answer an error with `id: null` when it could not read the request;
            // only a *different* id is suspicious.
            if !id_ok && env.id.is_some_and(|id| id.get() != "null") {
                return Outcome::failed(FailureKind::WrongId);
            }
            let error_json = || RawJson::slice_of(body, text, error);
            match jsonrpc::classify_error(&obj) {
                ErrorClass::Deterministic => Outcome::Deterministic {
                    error: error_json(),
                },
                ErrorClass::NodeUnhealthy => Outcome::failed(FailureKind::NodeUnhealthy),
                ErrorClass::NodeBehind => Outcome::failed(FailureKind::NodeBehind),
                ErrorClass::RateLimited => Outcome::failed(FailureKind::RateLimited),
                ErrorClass::NotYet => Outcome::NodeError {
                    error: error_json(),
                    code: obj.code,
                    kind: FailureKind::NodeBehind,
                },
                ErrorClass::DataUnavailable => Outcome::NodeError {
                    error: error_json(),
                    code: obj.code,
                    kind: FailureKind::DataUnavailable,
                },
                ErrorClass::Other => Outcome::NodeError {
                    error: error_json(),
                    code: obj.code,
                    kind: FailureKind::RpcError,
                },
            }
        }
        _ => Outcome::failed(FailureKind::InvalidResponse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result_of(outcome: &Outcome) -> Option<&RawJson> {
        match outcome {
            Outcome::Success { result, .. } => Some(result),
            _ => None,
        }
    }

    fn label(body: &str) -> &'static str {
        classify(
            &Bytes::copy_from_slice(body.as_bytes()),
            5,
            EmptyRule::NullResult,
        )
        .label()
    }

    #[test]
    fn classification_of_upstream_bodies() {
        let cases = [
            (r#"{"jsonrpc":"2.0","id":5,"result":{"slot":1}}"#, "success"),
            (r#"{"jsonrpc":"2.0","id":5,"result":null}"#, "empty"),
            (
                r#"{"jsonrpc":"2.0","id":6,"result":{"slot":1}}"#,
                "wrong_id",
            ),
            (r#"{"jsonrpc":"2.0","id":"5","result":1}"#, "wrong_id"),
            (r#"{"jsonrpc":"2.0","result":1}"#, "wrong_id"),
            (
                r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"Invalid params"}}"#,
                "deterministic_error",
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32602,"message":"Invalid params"}}"#,
                "deterministic_error",
            ),
            (
                r#"{"jsonrpc":"2.0","id":9,"error":{"code":-32602,"message":"Invalid params"}}"#,
                "wrong_id",
            ),
            (
                r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32005,"message":"Node is unhealthy"}}"#,
                "node_unhealthy",
            ),
            (
                r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32016,"message":"Minimum context slot has not been reached"}}"#,
                "node_behind",
            ),
            (
                r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32004,"message":"Block not available for slot 9"}}"#,
                "node_behind",
            ),
            (
                r#"{"jsonrpc":"2.0","id":5,"error":"oops"}"#,
                "invalid_response",
            ),
            (r#"{"jsonrpc":"2.0","id":5}"#, "invalid_response"),
            (
                r#"{"jsonrpc":"2.0","id":5,"result":1,"error":{"code":1,"message":""}}"#,
                "invalid_response",
            ),
            (
                "<html><body>502 Bad Gateway</body></html>",
                "invalid_response",
            ),
            (
                r#"{"jsonrpc":"2.0","id":5,"result":{"sl"#,
                "invalid_response",
            ),
            ("", "invalid_response"),
        ];
        for (body, want) in cases {
            assert_eq!(label(body), want, "{body}");
        }
    }

    #[test]
    fn a_node_short_of_the_min_context_slot_is_not_yet_there_not_failing() {
        let body = |code: i64| {
            Bytes::from(format!(
                r#"{{"jsonrpc":"2.0","id":5,"error":{{"code":{code},"message":"m"}}}}"#
            ))
        };
        let not_yet = classify(&body(-32016), 5, EmptyRule::Never);
        assert!(not_yet.endpoint_ok(), "no breaker charge");
        assert!(matches!(not_yet, Outcome::NodeError { code: -32016, .. }));
        assert!(!classify(&body(-32004), 5, EmptyRule::Never).endpoint_ok());
    }

    #[test]
    fn results_are_kept_verbatim() {
        let body = r#"{"jsonrpc":"2.0","id":5,"result":{ "b" : 1,"a":[1, 2] }}"#;
        let out = classify(&Bytes::from_static(body.as_bytes()), 5, EmptyRule::Never);
        assert_eq!(result_of(&out).unwrap().get(), r#"{ "b" : 1,"a":[1, 2] }"#);
    }
}
