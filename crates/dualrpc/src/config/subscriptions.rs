//! `[subscriptions]`: how the gateway carries Solana PubSub subscriptions (see the `pubsub`
//! module). Every field has a default; values are checked once, into
//! [`SubscriptionSettings`].

use std::time::Duration;

use serde::Deserialize;

/// `[subscriptions]`, validated.
#[derive(Debug, Clone)]
pub struct SubscriptionSettings {
    /// Subscriptions one client connection may hold.
    pub max_per_connection: usize,
    /// Client subscriptions the gateway holds in all.
    pub max_total: usize,
    /// Notifications queued for one client before it counts as too slow.
    pub client_buffer: usize,
    /// Ping interval, to clients and upstreams.
    pub ping_interval: Duration,
    /// An upstream silent (no frame, no pong) this long is reconnected; a subscription no
    /// upstream carried this long is ended for its clients.
    pub stall_timeout: Duration,
    /// Reconnect backoff: first wait, and the most it grows to.
    pub reconnect_min: Duration,
    /// See `reconnect_min`.
    pub reconnect_max: Duration,
    /// Upstreams each distinct subscription is opened on (`None`: all).
    pub fanout: Option<usize>,
}

impl Default for SubscriptionSettings {
    fn default() -> Self {
        SubscriptionSettings {
            max_per_connection: 256,
            max_total: 20_000,
            client_buffer: 1024,
            ping_interval: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(30),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            fanout: None,
        }
    }
}

/// `[subscriptions]` as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriptionsConfig {
    /// Subscriptions one client connection may hold.
    pub max_per_connection: usize,
    /// Client subscriptions the gateway holds in all.
    pub max_total: usize,
    /// Notifications queued for one client; a client that lets it fill up is disconnected
    /// (close code 1008) so it slows nobody else down.
    pub client_buffer: usize,
    /// Ping interval towards clients and upstreams.
    pub ping_interval_ms: u64,
    /// An upstream silent this long (no frame, no pong) is reconnected; a subscription no
    /// upstream carried this long ends for its clients (close code 1011).
    pub stall_timeout_ms: u64,
    /// First wait before reconnecting an upstream; doubles up to `reconnect_max_ms`. A
    /// connection that served for `reconnect_max_ms` or longer is reconnected at once.
    pub reconnect_min_ms: u64,
    /// Longest wait between reconnects.
    pub reconnect_max_ms: u64,
    /// Upstreams each distinct subscription is opened on (default: all).
    pub fanout: Option<usize>,
}

impl Default for SubscriptionsConfig {
    fn default() -> Self {
        let d = SubscriptionSettings::default();
        let ms = |d: Duration| d.as_millis() as u64;
        SubscriptionsConfig {
            max_per_connection: d.max_per_connection,
            max_total: d.max_total,
            client_buffer: d.client_buffer,
            ping_interval_ms: ms(d.ping_interval),
            stall_timeout_ms: ms(d.stall_timeout),
            reconnect_min_ms: ms(d.reconnect_min),
            reconnect_max_ms: ms(d.reconnect_max),
            fanout: d.fanout,
        }
    }
}

impl SubscriptionsConfig {
    /// The settings, or what is wrong with the values.
    pub(crate) fn settings(&self) -> Result<SubscriptionSettings, String> {
        let positive = [
            ("max_per_connection", self.max_per_connection as u64),
            ("max_total", self.max_total as u64),
            ("client_buffer", self.client_buffer as u64),
            ("ping_interval_ms", self.ping_interval_ms),
            ("stall_timeout_ms", self.stall_timeout_ms),
            ("reconnect_min_ms", self.reconnect_min_ms),
            ("fanout", self.fanout.map_or(1, |f| f as u64)),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("[subscriptions] {key} must be > 0"));
        }
        let ms = Duration::from_millis;
        Ok(SubscriptionSettings {
            max_per_connection: self.max_per_connection,
            max_total: self.max_total,
            client_buffer: self.client_buffer,
            ping_interval: ms(self.ping_interval_ms),
            stall_timeout: ms(self.stall_timeout_ms),
            reconnect_min: ms(self.reconnect_min_ms),
            reconnect_max: ms(self.reconnect_max_ms.max(self.reconnect_min_ms)),
            fanout: self.fanout,
        })
    }
}
