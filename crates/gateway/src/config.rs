//! The gateway's own settings and the loader of a whole `dualrpc.toml`.
//!
//! The file is one [`Document`]: the pool takes its sections (`[[endpoint]]`, policies,
//! health, hedge, breaker, cache, `limits.max_response_bytes`), the gateway takes `listen`,
//! `[gateway]` (client API keys, method deny list, read timeouts) and the client-side
//! `[limits]`; whatever nobody took is an error. Both parts are validated here, once, into
//! [`dualrpc::Settings`] and [`GatewayConfig`].

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use dualrpc::{Config, ConfigError, Document, Settings};
use serde::Deserialize;

/// Address the gateway binds to when the config does not say: loopback only, so a
/// gateway holding paid provider keys is never exposed by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8899";
/// Largest client request body the gateway reads.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// Most elements a client batch may carry.
pub const DEFAULT_MAX_BATCH: usize = 256;
/// Time a client has to send its request headers (slow-loris protection).
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Time a client has to send its request body.
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 10_000;

/// `[gateway]` as written.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FrontFile {
    api_keys: Vec<String>,
    deny_methods: Vec<String>,
    header_read_timeout_ms: u64,
    body_read_timeout_ms: u64,
}

impl Default for FrontFile {
    fn default() -> Self {
        Self {
            api_keys: Vec::new(),
            deny_methods: Vec::new(),
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
            body_read_timeout_ms: DEFAULT_BODY_READ_TIMEOUT_MS,
        }
    }
}

/// The client-side keys of `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LimitsFile {
    max_request_bytes: usize,
    max_batch: usize,
}

impl Default for LimitsFile {
    fn default() -> Self {
        Self {
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }
}

/// What a client may send.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body.
    pub max_request_bytes: usize,
    /// Most elements in a batch.
    pub max_batch: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }
}

/// The front door: client authentication, method deny list, read timeouts.
#[derive(Clone)]
pub struct Front {
    /// Client API keys; when any is set, every request except `GET /health` must carry
    /// one in the `x-api-key` header or the `api-key` query parameter.
    pub api_keys: Vec<String>,
    /// Methods refused with -32601 before any upstream is called.
    pub deny_methods: Vec<String>,
    /// Time a client has to send its request headers.
    pub header_read_timeout: Duration,
    /// Time a client has to send its request body.
    pub body_read_timeout: Duration,
}

impl Default for Front {
    fn default() -> Self {
        Self {
            api_keys: Vec::new(),
            deny_methods: Vec::new(),
            header_read_timeout: Duration::from_millis(DEFAULT_HEADER_READ_TIMEOUT_MS),
            body_read_timeout: Duration::from_millis(DEFAULT_BODY_READ_TIMEOUT_MS),
        }
    }
}

impl std::fmt::Debug for Front {
    /// API keys are secrets: only their count is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front")
            .field(
                "api_keys",
                &format_args!("<{} redacted>", self.api_keys.len()),
            )
            .field("deny_methods", &self.deny_methods)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .finish()
    }
}

/// What a request is served with, besides the pool: reloadable as a whole.
#[derive(Debug, Clone, Default)]
pub struct GatewayOptions {
    /// Request size and batch limits.
    pub limits: Limits,
    /// API keys, deny list and read timeouts.
    pub front: Front,
}

/// The gateway's part of the config file, validated.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Where to listen (JSON-RPC over HTTP, and PubSub upgrades).
    pub listen: SocketAddr,
    /// A second address for PubSub (`ws_listen`); `None`: `listen`'s port + 1 — where
    /// web3.js looks for `http://HOST:8899` — or any free port when `listen`'s is 0.
    pub ws_listen: Option<SocketAddr>,
    /// Everything else.
    pub options: GatewayOptions,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .expect("DEFAULT_LISTEN is an address"),
            ws_listen: None,
            options: GatewayOptions::default(),
        }
    }
}

impl GatewayConfig {
    /// Default options on an ephemeral loopback port (tests, the demo, the bench).
    pub fn loopback() -> GatewayConfig {
        GatewayConfig {
            listen: "127.0.0.1:0".parse().expect("a loopback address"),
            ws_listen: None,
            options: GatewayOptions::default(),
        }
    }

    /// Where PubSub is served besides `listen` (see [`GatewayConfig::ws_listen`]).
    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_listen.unwrap_or_else(|| {
            let mut addr = self.listen;
            if addr.port() != 0 {
                addr.set_port(addr.port().wrapping_add(1));
            }
            addr
        })
    }

    /// Takes the gateway's sections out of `doc` and validates them.
    pub fn from_document(doc: &mut Document) -> Result<GatewayConfig, ConfigError> {
        let listen: Option<SocketAddr> = doc.take("listen")?;
        let ws_listen: Option<SocketAddr> = doc.take("ws_listen")?;
        let front: FrontFile = doc.take("gateway")?;
        let limits: LimitsFile = doc.take("limits")?;
        let invalid = |msg: &str| Err(ConfigError::Invalid(msg.to_string()));
        if front.api_keys.iter().any(|k| k.len() < 16) {
            return invalid("[gateway] api_keys must be at least 16 characters each");
        }
        if front.header_read_timeout_ms == 0 || front.body_read_timeout_ms == 0 {
            return invalid("[gateway] read timeouts must be > 0");
        }
        if limits.max_batch == 0 || limits.max_request_bytes == 0 {
            return invalid("[limits] max_request_bytes and max_batch must be > 0");
        }
        Ok(GatewayConfig {
            listen: listen.unwrap_or_else(|| GatewayConfig::default().listen),
            ws_listen,
            options: GatewayOptions {
                limits: Limits {
                    max_request_bytes: limits.max_request_bytes,
                    max_batch: limits.max_batch,
                },
                front: Front {
                    api_keys: front.api_keys,
                    deny_methods: front.deny_methods,
                    header_read_timeout: Duration::from_millis(front.header_read_timeout_ms),
                    body_read_timeout: Duration::from_millis(front.body_read_timeout_ms),
                },
            },
        })
    }
}

/// Reads a whole config file (`${VAR}` from the process environment): the pool's settings
/// and the gateway's, both validated.
pub fn load(path: impl AsRef<Path>) -> Result<(Settings, GatewayConfig), ConfigError> {
    read(Document::load(path)?)
}

/// Parses a whole config from TOML text with `${VAR}` taken from `env`.
pub fn from_toml(
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(Settings, GatewayConfig), ConfigError> {
    read(Document::parse(text, env)?)
}

fn read(mut doc: Document) -> Result<(Settings, GatewayConfig), ConfigError> {
    let pool = Config::from_document(&mut doc)?;
    let gateway = GatewayConfig::from_document(&mut doc)?;
    doc.finish()?;
    Ok((Settings::from_config(&pool)?, gateway))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_parts_come_from_one_file_and_leftovers_are_errors() {
        let text = "listen = \"127.0.0.1:9000\"\n[[endpoint]]\nname = \"a\"\nurl = \"http://127.0.0.1:1/\"\n\
                    [limits]\nmax_batch = 5\nmax_response_bytes = 1000\n[gateway]\ndeny_methods = [\"requestAirdrop\"]\n";
        let (_, gw) = from_toml(text, |_| None).unwrap();
        assert_eq!(gw.listen.port(), 9000);
        assert_eq!(gw.options.limits.max_batch, 5);
        assert_eq!(gw.options.front.deny_methods, ["requestAirdrop"]);
        let err = from_toml(&format!("{text}[gatway]\nx = 1\n"), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("gatway"), "{err}");
        let err = from_toml(&text.replace("max_batch = 5", "max_batch = 0"), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("max_batch"), "{err}");
        let short_key = format!("{text}api_keys = [\"short\"]\n");
        assert!(from_toml(&short_key, |_| None).is_err());
    }

    #[test]
    fn debug_redacts_api_keys() {
        let front = Front {
            api_keys: vec!["k-0123456789abcdef".into()],
            ..Front::default()
        };
        let dbg = format!("{front:?}");
        assert!(
            !dbg.contains("0123456789") && dbg.contains("1 redacted"),
            "{dbg}"
        );
    }

    /// The configuration example in README.md is a valid config (with its `${VAR}`s set).
    #[test]
    fn readme_example_parses() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("```toml\n").expect("README has a toml example") + 8;
        let end = start + readme[start..].find("```").expect("closed");
        let env = |var: &str| Some(format!("value-of-{var}-0123456789"));
        // URLs come from ${VAR}s; give them a scheme the validator accepts.
        let text = readme[start..end].replace("\"${TRITON_URL}\"", "\"https://triton.example/\"");
        let (settings, gw) =
            from_toml(&text, env).unwrap_or_else(|e| panic!("README example: {e}"));
        let pool = dualrpc::Pool::new(settings).expect("README pool");
        assert_eq!(pool.endpoint_names(), ["helius", "triton"]);
        assert_eq!(
            pool.strategy_for("getTransaction"),
            dualrpc::Strategy::Consensus
        );
        assert_eq!(gw.options.front.deny_methods, ["requestAirdrop"]);
    }
}
