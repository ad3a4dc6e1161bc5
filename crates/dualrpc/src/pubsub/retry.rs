//! When an upstream PubSub connection asks again: reconnecting after its connection ended,
//! and re-sending a subscription the node refused.
//!
//! - A connection that served for at least `reconnect_max` was healthy — a provider or a
//!   load balancer cut it — so the next attempt goes at once (plus a little jitter, so
//!   gateways cut together by one provider's restart do not all come back in the same
//!   instant). Attempts that fail or die young wait `reconnect_min`, doubling up to
//!   `reconnect_max`, plus up to half of that as jitter.
//! - A refused subscription is asked for again after `reconnect_max`, doubling per refusal
//!   up to 64 × `reconnect_max`, at most [`MAX_REASKS_PER_TICK`] per ping tick; a refusal
//!   that cannot change while the connection lasts (`-32601` method not found, `-32602`
//!   invalid params: the node does not serve it) is asked again only on the next
//!   connection.

use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;

use super::SubscriptionSettings;

/// Refused subscriptions asked for again on one ping tick at most.
pub(super) const MAX_REASKS_PER_TICK: usize = 64;

/// The backoff step after a connection that served `served` (zero: it never opened),
/// given the previous step (`None`: the previous attempt went at once).
pub(super) fn next_backoff(
    last: Option<Duration>,
    served: Duration,
    settings: &SubscriptionSettings,
) -> Option<Duration> {
    if served >= settings.reconnect_max {
        return None;
    }
    Some(match last {
        None | Some(Duration::ZERO) => settings.reconnect_min,
        Some(b) => (b * 2).min(settings.reconnect_max),
    })
}

/// The wait before the next attempt for backoff `step`: the step plus jitter of up to half
/// of it (half of `reconnect_min` when the step is "at once").
pub(super) fn wait(step: Option<Duration>, settings: &SubscriptionSettings, salt: u64) -> Duration {
    let base = step.unwrap_or_default();
    base + jitter(step.unwrap_or(settings.reconnect_min) / 2, salt)
}

/// How long after its `times`-th refusal (from 1) a subscription is asked for again;
/// `None` when the refusal `error` is for good on this connection.
pub(super) fn after_refusal(
    error: &str,
    times: u32,
    settings: &SubscriptionSettings,
) -> Option<Duration> {
    #[derive(Deserialize)]
    struct Code {
        code: i64,
    }
    let code = serde_json::from_str::<Code>(error).map(|c| c.code);
    if matches!(code, Ok(-32601 | -32602)) {
        return None;
    }
    Some(settings.reconnect_max * 2u32.pow(times.saturating_sub(1).min(6)))
}

/// A pseudo-random duration in `[0, range)`.
fn jitter(range: Duration, salt: u64) -> Duration {
    let nanos = u64::try_from(range.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    // A per-process random hasher, and a counter so that two draws never repeat.
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    let draw = DRAWS.fetch_add(1, Ordering::Relaxed);
    let seed = foldhash::fast::RandomState::default();
    Duration::from_nanos(seed.hash_one((salt, draw)) % nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SubscriptionSettings {
        SubscriptionSettings {
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            ..Default::default()
        }
    }

    #[test]
    fn a_healthy_connection_is_replaced_at_once_a_flapping_one_backs_off() {
        let s = settings();
        let ms = Duration::from_millis;
        // Cut after serving for a while (a load balancer's idle cut): no backoff step.
        assert_eq!(next_backoff(None, Duration::from_secs(5), &s), None);
        assert_eq!(
            next_backoff(Some(ms(3200)), Duration::from_secs(60), &s),
            None
        );
        // Never opened, or dying young: 100, 200, 400 … capped at 5 s.
        assert_eq!(next_backoff(None, ms(0), &s), Some(ms(100)));
        assert_eq!(next_backoff(Some(ms(100)), ms(10), &s), Some(ms(200)));
        assert_eq!(next_backoff(Some(ms(4000)), ms(10), &s), Some(ms(5000)));
    }

    #[test]
    fn waits_are_the_step_plus_at_most_half_of_it() {
        let s = settings();
        for salt in 0..100 {
            let at_once = wait(None, &s, salt);
            assert!(at_once < Duration::from_millis(50), "{at_once:?}");
            let stepped = wait(Some(Duration::from_millis(400)), &s, salt);
            assert!(
                (Duration::from_millis(400)..Duration::from_millis(600)).contains(&stepped),
                "{stepped:?}"
            );
        }
    }

    #[test]
    fn refusals_back_off_and_a_node_that_does_not_serve_it_is_not_asked_again() {
        let s = settings();
        let busy = r#"{"code":-32005,"message":"too many subscriptions"}"#;
        assert_eq!(after_refusal(busy, 1, &s), Some(Duration::from_secs(5)));
        assert_eq!(after_refusal(busy, 2, &s), Some(Duration::from_secs(10)));
        assert_eq!(after_refusal(busy, 50, &s), Some(Duration::from_secs(320)));
        let unknown = r#"{"code":-32601,"message":"Method not found"}"#;
        assert_eq!(after_refusal(unknown, 1, &s), None);
        let invalid = r#"{"code":-32602,"message":"Invalid params"}"#;
        assert_eq!(after_refusal(invalid, 1, &s), None);
        assert!(after_refusal("not an error object", 1, &s).is_some());
    }
}
