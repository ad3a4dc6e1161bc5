//! Configuration: the TOML file format, `${ENV}` interpolation, and validation into a
//! [`Config`] the pool can trust.
//!
//! This is the only module that reads configuration. Files are parsed into plain structs
//! with `deny_unknown_fields` (a typo is an error, not a silently ignored key), secrets
//! come in through `${VAR}` interpolation of string values, and [`Config::validate`] runs
//! once so the rest of the crate works with known-good values. Defaults are named
//! constants next to the field they fill.
//!
//! Endpoint URLs carry API keys: [`EndpointUrl`] never prints its value, and no error in
//! this module quotes one.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Strategy;

/// Address the gateway binds to when the config does not say: loopback only, so a
/// gateway holding paid provider keys is never exposed by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8899";
/// Per-attempt timeout when neither request, method, endpoint nor `[default]` set one.
pub const DEFAULT_TIMEOUT_MS: u64 = 500;
/// How many endpoints `consensus` needs to agree when no `quorum` is set.
pub const DEFAULT_QUORUM: usize = 2;
/// Attempts `failover` and `hedge` make at most per call when no `max_attempts` is set.
pub const DEFAULT_MAX_ATTEMPTS: usize = 3;
/// Retry rounds after a strategy ends with only failures or only empty answers.
pub const DEFAULT_RETRIES: usize = 1;
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
/// Largest client request body the gateway reads.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Most elements a client batch may carry.
pub const DEFAULT_MAX_BATCH: usize = 256;
/// Memory bound of the response cache.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Time a client has to send its request headers (slow-loris protection).
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Time a client has to send its request body.
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 10_000;

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
    /// Not used by `consensus`, whose answer must come from agreeing endpoints.
    pub retries: Option<usize>,
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

/// Size limits protecting the gateway and the pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest upstream response body.
    pub max_response_bytes: usize,
    /// Largest client request body.
    pub max_request_bytes: usize,
    /// Most elements in a client batch.
    pub max_batch: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }
}

/// The gateway's own front door: client authentication, method deny list, read timeouts.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Client API keys; when any is set, every request except `GET /health` must carry one
    /// in the `x-api-key` header or the `api-key` query parameter. Use `${VAR}`.
    pub api_keys: Vec<String>,
    /// Methods refused with -32601 before any upstream is called (e.g. `requestAirdrop`).
    pub deny_methods: Vec<String>,
    /// Time a client has to send its request headers.
    pub header_read_timeout_ms: u64,
    /// Time a client has to send its request body.
    pub body_read_timeout_ms: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            api_keys: Vec::new(),
            deny_methods: Vec::new(),
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
            body_read_timeout_ms: DEFAULT_BODY_READ_TIMEOUT_MS,
        }
    }
}

impl fmt::Debug for GatewayConfig {
    /// API keys are secrets: only their count is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field(
                "api_keys",
                &format_args!("<{} redacted>", self.api_keys.len()),
            )
            .field("deny_methods", &self.deny_methods)
            .field("header_read_timeout_ms", &self.header_read_timeout_ms)
            .field("body_read_timeout_ms", &self.body_read_timeout_ms)
            .finish()
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

/// The whole configuration, as in `dualrpc.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Gateway listen address.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Upstream endpoints, in the order `[[endpoint]]` lists them.
    #[serde(rename = "endpoint", default)]
    pub endpoints: Vec<EndpointConfig>,
    /// Policy for methods without their own `[method.NAME]` table.
    #[serde(default)]
    pub default: PolicyConfig,
    /// Per-method policies.
    #[serde(rename = "method", default)]
    pub methods: BTreeMap<String, PolicyConfig>,
    /// Health loop.
    #[serde(default)]
    pub health: HealthConfig,
    /// Hedging.
    #[serde(default)]
    pub hedge: HedgeConfig,
    /// Circuit breaker.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// Size limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Client-facing settings of the gateway.
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// Response cache and coalescing.
    #[serde(default)]
    pub cache: CacheConfig,
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
        .parse()
        .expect("DEFAULT_LISTEN is a socket address")
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            endpoints: Vec::new(),
            default: PolicyConfig::default(),
            methods: BTreeMap::new(),
            health: HealthConfig::default(),
            hedge: HedgeConfig::default(),
            breaker: BreakerConfig::default(),
            limits: LimitsConfig::default(),
            gateway: GatewayConfig::default(),
            cache: CacheConfig::default(),
        }
    }
}

impl Config {
    /// Reads, interpolates and validates a config file, taking `${VAR}` from the process
    /// environment.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml(&text, |var| std::env::var(var).ok())
    }

    /// Parses TOML text, replacing `${VAR}` in string values with `env(VAR)` (`$$` is a
    /// literal `$`), then validates.
    pub fn from_toml(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut value: toml::Table =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.message().to_string()))?;
        let mut path = String::new();
        for (key, v) in value.iter_mut() {
            path.clear();
            path.push_str(key);
            interpolate(v, &mut path, &env)?;
        }
        let config: Config = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse(e.message().to_string()))?;
        config.validate()?;
        Ok(config)
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
                })
                .collect(),
            ..Config::default()
        };
        config.validate()?;
        Ok(config)
    }

    /// The policy for `method`: its own table over `[default]`.
    pub fn policy_for(&self, method: &str) -> PolicyConfig {
        match self.methods.get(method) {
            Some(p) => p.or(&self.default),
            None => self.default.clone(),
        }
    }

    /// Checks everything the pool relies on. Errors name the offending key or endpoint.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        if self.endpoints.is_empty() {
            return invalid("at least one [[endpoint]] is required".into());
        }
        let mut names = HashSet::new();
        for (i, e) in self.endpoints.iter().enumerate() {
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
            match reqwest::Url::parse(e.url.expose()) {
                Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.has_host() => {}
                _ => {
                    return invalid(format!(
                        "endpoint `{}`: url is not an absolute http(s) URL (value not shown: it may hold a key)",
                        e.name
                    ));
                }
            }
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
        }
        let primaries = self
            .endpoints
            .iter()
            .filter(|e| e.role == Role::Primary)
            .count();
        let secondaries = self
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
        let tables = std::iter::once(("default", &self.default))
            .chain(self.methods.iter().map(|(k, v)| (k.as_str(), v)));
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
        }
        if !(0.0..=1.0).contains(&self.hedge.percentile) {
            return invalid("[hedge] percentile must be between 0 and 1".into());
        }
        if !(self.hedge.budget >= 0.0 && self.hedge.budget.is_finite()) {
            return invalid("[hedge] budget must be a finite number >= 0".into());
        }
        if self.breaker.failures == 0 || self.breaker.open_ms == 0 {
            return invalid("[breaker] failures and open_ms must be > 0".into());
        }
        if self.gateway.api_keys.iter().any(|k| k.len() < 16) {
            return invalid("[gateway] api_keys must be at least 16 characters each".into());
        }
        if self.gateway.header_read_timeout_ms == 0 || self.gateway.body_read_timeout_ms == 0 {
            return invalid("[gateway] read timeouts must be > 0".into());
        }
        if self.limits.max_batch == 0
            || self.limits.max_request_bytes == 0
            || self.limits.max_response_bytes == 0
        {
            return invalid("[limits] values must be > 0".into());
        }
        Ok(())
    }
}

impl FromStr for Config {
    type Err = ConfigError;

    /// Parses TOML with `${VAR}` taken from the process environment.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Config::from_toml(text, |var| std::env::var(var).ok())
    }
}

/// Replaces `${VAR}` in every string inside `v`. `path` is the dotted key path, for errors.
fn interpolate(
    v: &mut toml::Value,
    path: &mut String,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    match v {
        toml::Value::String(s) if s.contains('$') => *s = interpolate_str(s, path, env)?,
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                interpolate(item, path, env)?;
                path.truncate(len);
            }
        }
        toml::Value::Table(t) => {
            for (k, item) in t.iter_mut() {
                let len = path.len();
                path.push('.');
                path.push_str(k);
                interpolate(item, path, env)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

fn interpolate_str(
    s: &str,
    path: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let Some(end) = tail.find('}') else {
                return Err(ConfigError::Parse(format!(
                    "unclosed ${{ in the value at `{path}`"
                )));
            };
            let var = &tail[..end];
            let value = env(var).ok_or_else(|| ConfigError::MissingEnv {
                var: var.to_string(),
                at: path.to_string(),
            })?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Milliseconds to a `Duration`.
pub(crate) fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
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
listen = "127.0.0.1:8899"

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
    fn dollar_escapes_and_plain_dollars_survive() {
        assert_eq!(interpolate_str("a$$b$c", "x", &env).unwrap(), "a$b$c");
        assert!(interpolate_str("${KEY", "x", &env).is_err());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::from_toml(
            &format!("{EXAMPLE}\n[method.getSlot]\nstrategi = \"race\"\n"),
            env,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("strategi"), "{err}");
    }

    #[test]
    fn invalid_url_error_does_not_quote_the_url() {
        let text = EXAMPLE.replace("${URL}", "ftp://user:${KEY}@host/");
        let err = Config::from_toml(&text, env).unwrap_err().to_string();
        assert!(err.contains("triton"), "{err}");
        assert!(!err.contains("s3cr3t") && !err.contains("ftp://"), "{err}");
    }

    #[test]
    fn validation_catches_bad_values() {
        let cases = [
            ("[method.getBlock]\nquorum = 0\n", "quorum"),
            ("[hedge]\npercentile = 1.5\n", "percentile"),
        ];
        for (extra, word) in cases {
            let err = Config::from_toml(&format!("{EXAMPLE}\n{extra}"), env)
                .unwrap_err()
                .to_string();
            assert!(err.contains(word), "{extra}: {err}");
        }
        let dup = EXAMPLE.replace("name = \"triton\"", "name = \"helius\"");
        assert!(
            Config::from_toml(&dup, env)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let one_role = EXAMPLE.replace("role = \"secondary\"", "");
        assert!(
            Config::from_toml(&one_role, env)
                .unwrap_err()
                .to_string()
                .contains("both roles")
        );
        assert!(Config::from_toml("", env).is_err());
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

#[cfg(test)]
mod readme {
    use super::*;

    /// The configuration example in README.md is a valid config (with its `${VAR}`s set).
    #[test]
    fn readme_example_parses() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("```toml\n").expect("README has a toml example") + 8;
        let end = start + readme[start..].find("```").expect("closed");
        let env = |var: &str| Some(format!("value-of-{var}-0123456789"));
        let mut text = readme[start..end].to_string();
        // URLs come from ${VAR}s; give them a scheme the validator accepts.
        text = text.replace("\"${TRITON_URL}\"", "\"https://triton.example/\"");
        let config =
            Config::from_toml(&text, env).unwrap_or_else(|e| panic!("README example: {e}"));
        assert_eq!(config.endpoints.len(), 2);
        assert_eq!(config.policy_for("getTransaction").quorum, Some(2));
        assert_eq!(
            config.gateway.deny_methods,
            vec!["requestAirdrop".to_string()]
        );
    }
}
