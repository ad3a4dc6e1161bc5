//! Configuration as the file says it: the pool's sections of `dualrpc.toml`, with
//! `${ENV}` interpolation, read through a [`Document`].
//!
//! Files are parsed into plain structs with `deny_unknown_fields` (a typo is an error, not
//! a silently ignored key); secrets come in through `${VAR}` interpolation of string
//! values. Defaults are named constants next to the field they fill. These structs say
//! what was *written*; [`crate::settings::Settings`] is what the pool *runs on* — validated
//! once, with durations as [`std::time::Duration`]s — and every check of a value lives
//! there. Settings of the gateway (listen address, client limits, API keys) are not here:
//! the gateway crate takes its own sections from the same [`Document`].
//!
//! Endpoint URLs carry API keys: [`EndpointUrl`] never prints its value, and no error in
//! this module quotes one.

mod document;
mod subscriptions;

pub use document::Document;
pub use subscriptions::{SubscriptionSettings, SubscriptionsConfig};

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::policy::{ConsensusFallback, Strategy};
pub use crate::policy::{DEFAULT_MAX_ATTEMPTS, DEFAULT_QUORUM, DEFAULT_RETRIES, DEFAULT_TIMEOUT};

/// Slots an endpoint may trail the best one before freshness-sensitive calls skip it.
pub const DEFAULT_MAX_SLOT_LAG: u64 = 50;
/// How often the health loop asks every endpoint for its slot.
pub const DEFAULT_HEALTH_INTERVAL_MS: u64 = 1_000;
/// Latency percentile of the awaited endpoint after which `hedge` fires the next attempt.
pub const DEFAULT_HEDGE_PERCENTILE: f64 = 0.9;
/// Extra (hedged) attempts allowed as a share of calls.
pub const DEFAULT_HEDGE_BUDGET: f64 = 0.25;
/// Lower bound of the hedge delay: below this, hedging is racing with extra steps.
pub const DEFAULT_HEDGE_MIN_DELAY_MS: u64 = 2;
/// Hedge delay used until an endpoint has enough samples for a percentile.
pub const DEFAULT_HEDGE_INITIAL_DELAY_MS: u64 = 50;
/// Consecutive failures that open an endpoint's circuit.
pub const DEFAULT_BREAKER_FAILURES: u32 = 5;
/// First cool-down of an open circuit; doubles on each failed probe.
pub const DEFAULT_BREAKER_OPEN_MS: u64 = 1_000;
/// Longest cool-down of an open circuit.
pub const DEFAULT_BREAKER_MAX_OPEN_MS: u64 = 30_000;
/// Largest upstream response body accepted; beyond it the attempt fails as `too_large`.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Memory bound of the response cache.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// A configuration or interpolation problem. Messages name endpoints and keys, never URLs.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// Path given by the user.
        path: String,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The TOML did not parse or did not match the schema.
    #[error("invalid config: {0}")]
    Parse(String),
    /// `${VAR}` named a variable that is not set.
    #[error("config value at `{at}` uses ${{{var}}}, which is not set in the environment")]
    MissingEnv {
        /// The variable's name.
        var: String,
        /// Dotted path of the config value that uses it.
        at: String,
    },
    /// The values parsed but do not make a usable configuration.
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// An upstream URL. It usually embeds an API key, so `Debug` and `Display` print
/// `<redacted>`; only [`EndpointUrl::expose`] gives the value, to the HTTP client.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct EndpointUrl(String);

impl EndpointUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The secret value. Call it only where the URL is handed to the HTTP client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An endpoint's part in the `dual` strategy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Fast endpoint, first of a `dual` pair.
    Primary,
    /// Reliable endpoint, second of a `dual` pair.
    Secondary,
    /// No role: `dual` pairs such endpoints by their order.
    #[default]
    None,
}

/// One upstream provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The name used everywhere the endpoint is shown (logs, metrics, headers, errors).
    pub name: String,
    /// The URL, secret.
    pub url: EndpointUrl,
    /// Role in `dual` pairs.
    #[serde(default)]
    pub role: Role,
    /// Per-attempt timeout for this endpoint, overridden by a method's or request's timeout.
    pub timeout_ms: Option<u64>,
    /// The provider's rate limit: the gateway never sends more.
    pub rate_limit: Option<RateLimitConfig>,
    /// Cost of a call per method in rate-limit tokens (default 1), for providers that bill
    /// heavy methods more: `method_weights = { getProgramAccounts = 10 }`.
    #[serde(default)]
    pub method_weights: BTreeMap<String, f64>,
    /// The PubSub (WebSocket) URL, secret like `url`; default: `url` with `ws`/`wss`.
    #[serde(default)]
    pub ws_url: Option<EndpointUrl>,
}

/// A provider's rate limit.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained calls per second.
    pub rps: f64,
    /// Calls that may be sent at once after a quiet period (default: one second's worth).
    pub burst: Option<f64>,
}

/// How one method (or every method, under `[default]`) is executed. Unset fields fall
/// back to `[default]`, then to the built-in defaults.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The strategy.
    pub strategy: Option<Strategy>,
    /// Per-attempt timeout.
    pub timeout_ms: Option<u64>,
    /// Deadline of the whole call (all attempts). Default: twice the attempt timeout.
    pub deadline_ms: Option<u64>,
    /// How many endpoints `race` and `consensus` call at once (default: all eligible).
    pub fanout: Option<usize>,
    /// How many endpoints must agree for `consensus`.
    pub quorum: Option<usize>,
    /// Most attempts `failover` and `hedge` make.
    pub max_attempts: Option<usize>,
    /// Serve this method's answers from cache for up to this long (default: not cached,
    /// except answers that cannot change; see the cache module).
    pub cache_ttl_ms: Option<u64>,
    /// Retry rounds when a strategy ends with only failures or only empty answers and the
    /// deadline allows: the endpoints that failed get one more attempt each, at once.
    /// `consensus` re-asks the endpoints that failed, once each, instead.
    pub retries: Option<usize>,
    /// What `consensus` does with an answer nothing contradicts but fewer than `quorum`
    /// endpoints confirmed when no more votes can come in time: `accept` it (with a
    /// response header saying how many agreed; the default) or answer an `error`.
    pub consensus_fallback: Option<ConsensusFallback>,
    /// After the first usable answer, wait at most this long for one with a higher
    /// `context.slot` (or a higher `getSlot`/`getBlockHeight`, or a newer first entry of a
    /// signature list) from attempts already out, and return the freshest — only while an
    /// endpoint still out may be ahead (README, *Freshness*). 0: the first
    /// usable answer wins. Default 20 ms; 60 ms for `getSignaturesForAddress` unless under
    /// `merge` (BENCHMARKS.md: how they were chosen).
    pub freshness_window_ms: Option<u64>,
    /// Never serve an answer older (by `context.slot`, or value for `getSlot` and
    /// `getBlockHeight`) than one already served for the same method and params within
    /// this window; one that must be older says so in `x-dualrpc-stale`. 0: off. Default
    /// 10 s.
    pub monotonic_window_ms: Option<u64>,
}

impl PolicyConfig {
    /// `self`'s fields where set, else `base`'s.
    pub fn or(&self, base: &PolicyConfig) -> PolicyConfig {
        PolicyConfig {
            strategy: self.strategy.or(base.strategy),
            timeout_ms: self.timeout_ms.or(base.timeout_ms),
            deadline_ms: self.deadline_ms.or(base.deadline_ms),
            fanout: self.fanout.or(base.fanout),
            quorum: self.quorum.or(base.quorum),
            max_attempts: self.max_attempts.or(base.max_attempts),
            retries: self.retries.or(base.retries),
            cache_ttl_ms: self.cache_ttl_ms.or(base.cache_ttl_ms),
            consensus_fallback: self.consensus_fallback.or(base.consensus_fallback),
            freshness_window_ms: self.freshness_window_ms.or(base.freshness_window_ms),
            monotonic_window_ms: self.monotonic_window_ms.or(base.monotonic_window_ms),
        }
    }
}

/// The health loop: slot polling and lag detection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Interval between `getSlot` polls of each endpoint; 0 disables the loop.
    pub interval_ms: u64,
    /// Slots behind the best endpoint beyond which an endpoint counts as lagging.
    pub max_slot_lag: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            interval_ms: DEFAULT_HEALTH_INTERVAL_MS,
            max_slot_lag: DEFAULT_MAX_SLOT_LAG,
        }
    }
}

/// Hedging: when to fire the next attempt and how many extra attempts are affordable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HedgeConfig {
    /// Latency percentile (0–1) of the awaited endpoint used as the hedge delay.
    pub percentile: f64,
    /// Hedged attempts allowed per call on average (0.25 = one hedge per four calls).
    pub budget: f64,
    /// Lower bound of the delay.
    pub min_delay_ms: u64,
    /// Delay used before the endpoint has enough latency samples.
    pub initial_delay_ms: u64,
}

impl Default for HedgeConfig {
    fn default() -> Self {
        Self {
            percentile: DEFAULT_HEDGE_PERCENTILE,
            budget: DEFAULT_HEDGE_BUDGET,
            min_delay_ms: DEFAULT_HEDGE_MIN_DELAY_MS,
            initial_delay_ms: DEFAULT_HEDGE_INITIAL_DELAY_MS,
        }
    }
}

/// The circuit breaker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failures: u32,
    /// First cool-down before a probe.
    pub open_ms: u64,
    /// Longest cool-down.
    pub max_open_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: DEFAULT_BREAKER_FAILURES,
            open_ms: DEFAULT_BREAKER_OPEN_MS,
            max_open_ms: DEFAULT_BREAKER_MAX_OPEN_MS,
        }
    }
}

/// The response cache and request coalescing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Memory bound of the response cache in bytes; 0 turns the cache off.
    pub max_bytes: u64,
    /// Whether identical calls in flight at once share one upstream execution.
    pub coalesce: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_CACHE_MAX_BYTES,
            coalesce: true,
        }
    }
}

/// Limits on what upstreams may send.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamLimits {
    /// Largest upstream response body; beyond it the attempt fails as `too_large`.
    pub max_response_bytes: usize,
}

impl Default for UpstreamLimits {
    fn default() -> Self {
        Self {
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// The pool's configuration, as the file says it (see the module doc).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Upstream endpoints, in the order `[[endpoint]]` lists them.
    pub endpoints: Vec<EndpointConfig>,
    /// Policy for methods without their own `[method.NAME]` table.
    pub default: PolicyConfig,
    /// Per-method policies.
    pub methods: BTreeMap<String, PolicyConfig>,
    /// Health loop.
    pub health: HealthConfig,
    /// Hedging.
    pub hedge: HedgeConfig,
    /// Circuit breaker.
    pub breaker: BreakerConfig,
    /// Response cache and coalescing.
    pub cache: CacheConfig,
    /// `[limits] max_response_bytes`.
    pub limits: UpstreamLimits,
    /// `[subscriptions]`.
    pub subscriptions: SubscriptionsConfig,
}

impl Config {
    /// Reads a file holding only the pool's sections, interpolating `${VAR}` from the
    /// process environment. Values are checked when they become [`crate::Settings`]. (A file that also configures the gateway is
    /// read with the gateway's loader, which takes both parts from one [`Document`].)
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let mut doc = Document::load(path)?;
        let config = Config::from_document(&mut doc)?;
        doc.finish()?;
        Ok(config)
    }

    /// Parses TOML text holding only the pool's sections, replacing `${VAR}` in string
    /// values with `env(VAR)` (`$$` is a literal `$`).
    pub fn from_toml(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut doc = Document::parse(text, env)?;
        let config = Config::from_document(&mut doc)?;
        doc.finish()?;
        Ok(config)
    }

    /// Takes the pool's sections out of `doc`, leaving the rest of the document to its
    /// other readers.
    pub fn from_document(doc: &mut Document) -> Result<Config, ConfigError> {
        Ok(Config {
            endpoints: doc.take("endpoint")?,
            default: doc.take("default")?,
            methods: doc.take("method")?,
            health: doc.take("health")?,
            hedge: doc.take("hedge")?,
            breaker: doc.take("breaker")?,
            cache: doc.take("cache")?,
            limits: doc.take_from("limits", &["max_response_bytes"])?,
            subscriptions: doc.take("subscriptions")?,
        })
    }

    /// The quick form of `dualrpc serve --endpoint NAME=URL ...`: these endpoints, every
    /// other setting at its default.
    pub fn from_endpoints<N: Into<String>, U: Into<String>>(
        endpoints: impl IntoIterator<Item = (N, U)>,
    ) -> Result<Config, ConfigError> {
        let config = Config {
            endpoints: endpoints
                .into_iter()
                .map(|(name, url)| EndpointConfig {
                    name: name.into(),
                    url: EndpointUrl::new(url),
                    role: Role::None,
                    timeout_ms: None,
                    rate_limit: None,
                    method_weights: BTreeMap::new(),
                    ws_url: None,
                })
                .collect(),
            ..Config::default()
        };
        Ok(config)
    }

    /// The policy for `method` as written: its own table over `[default]`.
    pub fn policy_for(&self, method: &str) -> PolicyConfig {
        match self.methods.get(method) {
            Some(p) => p.or(&self.default),
            None => self.default.clone(),
        }
    }
}

impl FromStr for Config {
    type Err = ConfigError;

    /// Parses TOML with `${VAR}` taken from the process environment.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Config::from_toml(text, |var| std::env::var(var).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        match var {
            "KEY" => Some("s3cr3t".into()),
            "URL" => Some("http://127.0.0.1:9/".into()),
            _ => None,
        }
    }

    const EXAMPLE: &str = r#"
[[endpoint]]
name = "helius"
url = "https://mainnet.example-provider.com/?api-key=${KEY}"
role = "primary"
timeout_ms = 200

[[endpoint]]
name = "triton"
url = "${URL}"
role = "secondary"

[default]
strategy = "hedge"
timeout_ms = 500

[method.getAccountInfo]
strategy = "race"
timeout_ms = 50

[method.getTransaction]
strategy = "consensus"
quorum = 2
timeout_ms = 200
consensus_fallback = "error"
"#;

    #[test]
    fn design_example_parses_and_interpolates() {
        let c = Config::from_toml(EXAMPLE, env).unwrap();
        assert_eq!(c.endpoints.len(), 2);
        assert_eq!(
            c.endpoints[0].url.expose(),
            "https://mainnet.example-provider.com/?api-key=s3cr3t"
        );
        assert_eq!(c.endpoints[1].url.expose(), "http://127.0.0.1:9/");
        assert_eq!(c.endpoints[0].role, Role::Primary);
        let p = c.policy_for("getTransaction");
        assert_eq!(p.strategy, Some(Strategy::Consensus));
        assert_eq!(p.quorum, Some(2));
        assert_eq!(p.timeout_ms, Some(200));
        assert_eq!(p.consensus_fallback, Some(ConsensusFallback::Error));
        assert_eq!(c.policy_for("getSlot").strategy, Some(Strategy::Hedge));
    }

    #[test]
    fn missing_env_names_the_variable_and_key_not_the_value() {
        let text = EXAMPLE.replace("${URL}", "${TRITON_URL}");
        let err = Config::from_toml(&text, env).unwrap_err().to_string();
        assert!(err.contains("TRITON_URL"), "{err}");
        assert!(err.contains("endpoint[1].url"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected_at_every_level() {
        let err = Config::from_toml(
            &format!("{EXAMPLE}\n[method.getSlot]\nstrategi = \"race\"\n"),
            env,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("strategi"), "{err}");
        let err = Config::from_toml(&format!("{EXAMPLE}\n[helth]\ninterval_ms = 5\n"), env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("helth"), "{err}");
        // Gateway sections are not the pool's: its own loader takes them.
        let err = Config::from_toml(&format!("listen = \"127.0.0.1:1\"\n{EXAMPLE}"), env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen"), "{err}");
    }

    #[test]
    fn debug_of_a_config_redacts_urls() {
        let c = Config::from_toml(EXAMPLE, env).unwrap();
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("s3cr3t") && !dbg.contains("127.0.0.1:9"),
            "{dbg}"
        );
    }
}
