//! [`Settings`]: what the pool runs on — the config file's values checked once and turned
//! into typed values (`Duration`s, parsed URLs, lookup tables), so nothing after start-up
//! validates, converts milliseconds or parses a URL again.
//!
//! Every check of a configured value lives in [`Settings::from_config`]; its errors name
//! the key or the endpoint, never a URL (URLs carry API keys).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{BreakerConfig, Config, ConfigError, PolicyConfig, Role};
use crate::policy::{MethodPolicy, Policies};

/// The pool's validated settings. Built from a [`Config`] with
/// [`Settings::from_config`]; [`crate::Pool::new`] runs on it.
#[derive(Debug, Clone)]
pub struct Settings {
    pub(crate) endpoints: Vec<EndpointSettings>,
    pub(crate) policies: Policies,
    pub(crate) health: HealthSettings,
    pub(crate) hedge: HedgeSettings,
    pub(crate) breaker: BreakerSettings,
    /// Memory bound of the response cache; 0 turns it off.
    pub(crate) cache_max_bytes: u64,
    /// Whether identical calls in flight share one execution.
    pub(crate) coalesce: bool,
    /// Largest upstream body accepted.
    pub(crate) max_response_bytes: usize,
    /// `[subscriptions]`.
    pub(crate) subscriptions: crate::config::SubscriptionSettings,
}

/// One endpoint, ready to connect to.
#[derive(Debug, Clone)]
pub(crate) struct EndpointSettings {
    pub(crate) name: Arc<str>,
    pub(crate) url: SecretUrl,
    pub(crate) role: Role,
    pub(crate) timeout: Option<Duration>,
    /// (calls per second, burst).
    pub(crate) rate_limit: Option<(f64, f64)>,
    pub(crate) weights: HashMap<Box<str>, f64>,
    /// The PubSub URL (`ws_url`, or `url` with `ws`/`wss`).
    pub(crate) ws_url: SecretUrl,
}

/// A parsed endpoint URL that cannot be printed: its `Debug` says `<redacted>`.
#[derive(Clone)]
pub(crate) struct SecretUrl(pub(crate) http::Uri);

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The health loop.
#[derive(Debug, Clone)]
pub(crate) struct HealthSettings {
    /// Interval between `getSlot` polls; `None` disables the loop.
    pub(crate) interval: Option<Duration>,
    /// Slots behind the best endpoint beyond which an endpoint counts as lagging.
    pub(crate) max_slot_lag: u64,
}

/// Hedging.
#[derive(Debug, Clone)]
pub(crate) struct HedgeSettings {
    pub(crate) percentile: f64,
    pub(crate) budget: f64,
    pub(crate) min_delay: Duration,
    pub(crate) initial_delay: Duration,
}

/// The circuit breaker's thresholds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit.
    pub failures: u32,
    /// First cool-down before a probe.
    pub open: Duration,
    /// Longest cool-down.
    pub max_open: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings::from(&BreakerConfig::default())
    }
}

impl From<&BreakerConfig> for BreakerSettings {
    fn from(c: &BreakerConfig) -> Self {
        let open = Duration::from_millis(c.open_ms);
        Self {
            failures: c.failures,
            open,
            max_open: Duration::from_millis(c.max_open_ms).max(open),
        }
    }
}

/// `url` with `ws` for `http` and `wss` for `https`.
fn ws_of(url: &http::Uri) -> http::Uri {
    let mut parts = url.clone().into_parts();
    let secure = url.scheme() == Some(&http::uri::Scheme::HTTPS);
    parts.scheme = Some(
        (if secure { "wss" } else { "ws" })
            .parse()
            .expect("ws and wss are schemes"),
    );
    http::Uri::from_parts(parts).unwrap_or_else(|_| url.clone())
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn method_policy(p: &PolicyConfig) -> MethodPolicy {
    MethodPolicy {
        strategy: p.strategy,
        attempt_timeout: p.timeout_ms.map(ms),
        deadline: p.deadline_ms.map(ms),
        fanout: p.fanout,
        quorum: p.quorum,
        max_attempts: p.max_attempts,
        retries: p.retries,
        cache_ttl: p.cache_ttl_ms.map(ms),
        fallback: p.consensus_fallback,
        freshness_window: p.freshness_window_ms.map(ms),
        monotonic_window: p.monotonic_window_ms.map(ms),
    }
}

impl Settings {
    /// Checks `config` and builds the settings the pool runs on. Errors name the
    /// offending key or endpoint.
    pub fn from_config(config: &Config) -> Result<Settings, ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        if config.endpoints.is_empty() {
            return invalid("at least one [[endpoint]] is required".into());
        }
        let mut names = HashSet::new();
        let mut endpoints = Vec::with_capacity(config.endpoints.len());
        for (i, e) in config.endpoints.iter().enumerate() {
            if e.name.is_empty()
                || e.name.len() > 64
                || !e
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return invalid(format!(
                    "endpoint #{} has an invalid name: use 1-64 characters of A-Z a-z 0-9 - _ .",
                    i + 1
                ));
            }
            if !names.insert(e.name.as_str()) {
                return invalid(format!("endpoint name `{}` is used twice", e.name));
            }
            let url = match e.url.expose().parse::<http::Uri>() {
                Ok(u)
                    if matches!(u.scheme_str(), Some("http" | "https"))
                        && u.host().is_some_and(|h| !h.is_empty()) =>
                {
                    u
                }
                _ => {
                    return invalid(format!(
                        "endpoint `{}`: url is not an absolute http(s) URL (value not shown: it may hold a key)",
                        e.name
                    ));
                }
            };
            if e.timeout_ms == Some(0) {
                return invalid(format!("endpoint `{}`: timeout_ms must be > 0", e.name));
            }
            if let Some(r) = e.rate_limit
                && !(r.rps > 0.0
                    && r.rps.is_finite()
                    && r.burst.is_none_or(|b| b >= 1.0 && b.is_finite()))
            {
                return invalid(format!(
                    "endpoint `{}`: rate_limit needs rps > 0 and burst >= 1",
                    e.name
                ));
            }
            if e.method_weights
                .values()
                .any(|w| !(*w > 0.0 && w.is_finite()))
            {
                return invalid(format!("endpoint `{}`: method_weights must be > 0", e.name));
            }
            if let Some(r) = e.rate_limit {
                let burst = r.burst.unwrap_or(r.rps).max(1.0);
                if let Some((method, w)) = e.method_weights.iter().find(|(_, w)| **w > burst) {
                    return invalid(format!(
                        "endpoint `{}`: method_weights.{method} = {w} exceeds the rate_limit burst ({burst}): such a call could never be sent",
                        e.name
                    ));
                }
            }
            let ws_url = match &e.ws_url {
                None => ws_of(&url),
                Some(ws) => match ws.expose().parse::<http::Uri>() {
                    Ok(u)
                        if matches!(u.scheme_str(), Some("ws" | "wss"))
                            && u.host().is_some_and(|h| !h.is_empty()) =>
                    {
                        u
                    }
                    _ => {
                        return invalid(format!(
                            "endpoint `{}`: ws_url is not an absolute ws(s) URL (value not shown: it may hold a key)",
                            e.name
                        ));
                    }
                },
            };
            endpoints.push(EndpointSettings {
                name: e.name.as_str().into(),
                ws_url: SecretUrl(ws_url),
                url: SecretUrl(url),
                role: e.role,
                timeout: e.timeout_ms.map(ms),
                rate_limit: e.rate_limit.map(|r| (r.rps, r.burst.unwrap_or(r.rps))),
                weights: e
                    .method_weights
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), *v))
                    .collect(),
            });
        }
        let primaries = config
            .endpoints
            .iter()
            .filter(|e| e.role == Role::Primary)
            .count();
        let secondaries = config
            .endpoints
            .iter()
            .filter(|e| e.role == Role::Secondary)
            .count();
        if (primaries == 0) != (secondaries == 0) {
            return invalid(
                "dual pairs need both roles: give at least one endpoint role = \"primary\" and one role = \"secondary\", or none"
                    .into(),
            );
        }
        let tables = std::iter::once(("default", &config.default))
            .chain(config.methods.iter().map(|(k, v)| (k.as_str(), v)));
        for (name, p) in tables {
            let at = if name == "default" {
                "[default]".to_string()
            } else {
                format!("[method.{name}]")
            };
            if p.timeout_ms == Some(0) || p.deadline_ms == Some(0) {
                return invalid(format!("{at}: timeout_ms and deadline_ms must be > 0"));
            }
            if p.fanout == Some(0) || p.quorum == Some(0) || p.max_attempts == Some(0) {
                return invalid(format!("{at}: fanout, quorum and max_attempts must be > 0"));
            }
            if p.cache_ttl_ms == Some(0) {
                return invalid(format!(
                    "{at}: cache_ttl_ms must be > 0 (omit it to not cache)"
                ));
            }
        }
        let h = &config.hedge;
        if !(0.0..=1.0).contains(&h.percentile) {
            return invalid("[hedge] percentile must be between 0 and 1".into());
        }
        if !(h.budget >= 0.0 && h.budget.is_finite()) {
            return invalid("[hedge] budget must be a finite number >= 0".into());
        }
        if config.breaker.failures == 0 || config.breaker.open_ms == 0 {
            return invalid("[breaker] failures and open_ms must be > 0".into());
        }
        if config.limits.max_response_bytes == 0 {
            return invalid("[limits] max_response_bytes must be > 0".into());
        }
        Ok(Settings {
            endpoints,
            policies: Policies {
                default: method_policy(&config.default),
                methods: config
                    .methods
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), method_policy(v)))
                    .collect(),
            },
            health: HealthSettings {
                interval: (config.health.interval_ms > 0).then(|| ms(config.health.interval_ms)),
                max_slot_lag: config.health.max_slot_lag,
            },
            hedge: HedgeSettings {
                percentile: h.percentile,
                budget: h.budget,
                min_delay: ms(h.min_delay_ms),
                initial_delay: ms(h.initial_delay_ms),
            },
            breaker: BreakerSettings::from(&config.breaker),
            cache_max_bytes: config.cache.max_bytes,
            coalesce: config.cache.coalesce,
            max_response_bytes: config.limits.max_response_bytes,
            subscriptions: config
                .subscriptions
                .settings()
                .map_err(ConfigError::Invalid)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[[endpoint]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n\
                        [[endpoint]]\nname = \"b\"\nurl = \"http://127.0.0.1:2/\"\n";

    fn check_text(text: &str) -> Result<Settings, String> {
        Config::from_toml(text, |_| None)
            .map_err(|e| e.to_string())
            .and_then(|c| Settings::from_config(&c).map_err(|e| e.to_string()))
    }

    fn check(extra: &str) -> Result<Settings, String> {
        check_text(&format!("{BASE}{extra}"))
    }

    #[test]
    fn bad_values_are_caught_once_and_named() {
        let cases = [
            ("[method.getBlock]\nquorum = 0\n", "quorum"),
            ("[default]\ntimeout_ms = 0\n", "timeout_ms"),
            ("[method.getSlot]\ncache_ttl_ms = 0\n", "cache_ttl_ms"),
            ("[hedge]\npercentile = 1.5\n", "percentile"),
            ("[breaker]\nfailures = 0\n", "failures"),
            ("[limits]\nmax_response_bytes = 0\n", "max_response_bytes"),
        ];
        for (extra, word) in cases {
            let err = check(extra).unwrap_err();
            assert!(err.contains(word), "{extra}: {err}");
        }
        let dup = BASE.replace("name = \"b\"", "name = \"a\"");
        assert!(check_text(&dup).unwrap_err().contains("twice"));
        let one_role = BASE.replacen(
            "url = \"http://127.0.0.1:1/\"\n",
            "url = \"http://127.0.0.1:1/\"\nrole = \"primary\"\n",
            1,
        );
        assert!(check_text(&one_role).unwrap_err().contains("both roles"));
        assert!(check_text("").unwrap_err().contains("at least one"));
    }

    #[test]
    fn an_invalid_url_is_named_by_its_endpoint_never_quoted() {
        let text = BASE.replace("http://127.0.0.1:2/", "ftp://user:s3cr3t@host/");
        let err = check_text(&text).unwrap_err();
        assert!(err.contains("`b`"), "{err}");
        assert!(!err.contains("s3cr3t") && !err.contains("ftp://"), "{err}");
    }

    #[test]
    fn values_become_typed_once() {
        let s = check(
            "[default]\ntimeout_ms = 250\n[method.getSlot]\ndeadline_ms = 900\n[health]\ninterval_ms = 0\n",
        )
        .unwrap();
        assert_eq!(s.policies.default.attempt_timeout, Some(ms(250)));
        assert_eq!(s.policies.methods["getSlot"].deadline, Some(ms(900)));
        assert_eq!(s.health.interval, None, "0 turns the health loop off");
        assert_eq!(s.breaker.open, ms(crate::config::DEFAULT_BREAKER_OPEN_MS));
        assert_eq!(format!("{:?}", s.endpoints[0].url), "<redacted>");
    }
}
