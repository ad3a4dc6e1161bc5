//! The Prometheus recorder behind `GET /metrics`.
//!
//! The core emits through the `metrics` facade; the gateway installs one process-wide
//! Prometheus recorder (the facade allows one per process, so several gateways in one
//! process — as in tests — share it) and runs its upkeep so histograms stay bounded.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: fine below 100 ms, where providers compete.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder if it is not installed yet. Call it
/// before building a pool whose metrics should be exported ([`crate::Server::start`]
/// does).
pub fn install() {
    let _ = handle();
}

/// The process's Prometheus handle, installing the recorder on first use. `None` if
/// another recorder was installed first by the embedding program.
pub(crate) fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let h = handle.clone();
                rt.spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(5));
                    loop {
                        tick.tick().await;
                        h.run_upkeep();
                    }
                });
            }
            Some(handle)
        })
        .as_ref()
}
