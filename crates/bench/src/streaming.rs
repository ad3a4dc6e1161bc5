//! `dualrpc bench --streaming` and the demo's streaming arm: how soon a bot subscribed to the
//! launchpad's logs hears of each new launch, through dualrpc and through each provider alone,
//! while providers drop connections — and what subscriptions cost the gateway.
//!
//! # Time to notification
//! One simulated cluster (the profile's PubSub models: per-provider delivery delay, drops,
//! disconnects) and one dualrpc gateway over all of its endpoints, with the default
//! `[subscriptions]` settings. Side by side, one client per arm ([`client`]) holds
//! `logsSubscribe {"mentions":[pump.fun]}` at `confirmed`:
//!
//! - `dualrpc` — through the gateway, which opens it on every provider and forwards the first
//!   copy of each notification;
//! - one arm per provider — straight to that provider's PubSub.
//!
//! Every client reconnects at once and subscribes again when its connection ends. On top of
//! the profile's own random disconnects, every [`StreamingConfig::disconnect_every`] one
//! provider (in turn) drops all its PubSub connections — the direct client's and the
//! gateway's alike. For each launch created in the measured period (after a warm-up, and
//! before the last `grace`, so every delivery had time to arrive), an arm's delay is the
//! notification's arrival minus the launch's creation (the start of its slot, on the chain's
//! clock); a launch the arm never heard of is *lost*. The **first provider** row is the
//! oracle: per launch, the earliest arrival over the direct clients.
//!
//! All clients, the gateway and the sim share one process and one runtime, so every arm pays
//! the same client and scheduling cost; only dualrpc pays a second hop (sim → gateway →
//! client over loopback).
//!
//! # Footprint
//! [`footprint`] runs `dualrpc serve` as its own process and measures its resident memory and
//! CPU with 1,000 subscriptions held in two shapes (distinct and shared).

mod client;
pub mod footprint;
mod report;

use std::sync::Arc;
use std::time::Duration;

use dualrpc::{Config, Settings};
use dualrpc_gateway::{GatewayConfig, Server};
use dualrpc_sim::{Chain, ChainTime, Cluster, Profile};
use parking_lot::Mutex;
use tokio::sync::watch;

pub use client::{Seen, notified_signature, subscribe_frame};
pub use report::{render_markdown, render_table};

use crate::arms::{self, endpoints_toml};
use crate::detection::launches_between;
use crate::results::quantile_ms;

/// How much earlier than every direct client an arm must hear of a launch to count as
/// ahead of them (µs).
pub const AHEAD_US: i64 = 1_000;

/// What the time-to-notification measurement runs.
#[derive(Debug, Clone)]
pub struct StreamingConfig {
    /// Measured period (launches created in it count, less the last `grace`).
    pub duration: Duration,
    /// Time subscriptions get to open before launches count.
    pub warmup: Duration,
    /// Launches of the period's last `grace` are not counted; the run waits that long after
    /// the period so late deliveries still arrive.
    pub grace: Duration,
    /// Every this often, one provider (in turn) drops all its PubSub connections (zero:
    /// never; the profile's own random disconnects still happen).
    pub disconnect_every: Duration,
    /// Commitment of the subscriptions.
    pub commitment: &'static str,
}

impl Default for StreamingConfig {
    fn default() -> Self {
        StreamingConfig {
            duration: Duration::from_secs(60),
            warmup: Duration::from_secs(1),
            grace: Duration::from_secs(2),
            disconnect_every: Duration::from_secs(5),
            commitment: "confirmed",
        }
    }
}

/// One arm's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamArm {
    /// `dualrpc`, a provider's name, or `first provider` (the oracle).
    pub name: String,
    /// Creation → notification (µs) of every launch it heard of, sorted.
    pub delays_us: Vec<u64>,
    /// Behind the first provider's arrival (µs), per launch it heard of, sorted; negative
    /// when it heard of a launch before every direct client (one was reconnecting).
    pub behind_first_us: Vec<i64>,
    /// Launches it never heard of.
    pub lost: u64,
    /// Copies of a notification it had already received.
    pub duplicates: u64,
    /// Times its connection ended and it connected again.
    pub reconnects: u64,
}

impl StreamArm {
    /// The `q`-quantile of creation → notification, in ms.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.delays_us, q)
    }

    /// The `q`-quantile of the delay behind the first provider, in ms (nearest rank).
    pub fn behind_first_ms(&self, q: f64) -> Option<f64> {
        let n = self.behind_first_us.len();
        if n == 0 {
            return None;
        }
        let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        Some(self.behind_first_us[i] as f64 / 1e3)
    }

    /// Launches it heard of more than [`AHEAD_US`] before every direct client (one of them
    /// was reconnecting, or had its copy dropped); closer than that is the same instant
    /// (the providers send every copy of an event at once).
    pub fn ahead_of_first(&self) -> usize {
        self.behind_first_us
            .iter()
            .filter(|d| **d < -AHEAD_US)
            .count()
    }
}

/// A whole time-to-notification run.
#[derive(Debug, Clone, Default)]
pub struct StreamingRun {
    /// The sim profile.
    pub profile: String,
    /// Its seed.
    pub seed: u64,
    /// The measured period.
    pub duration: Duration,
    /// Launches counted.
    pub launches: u64,
    /// Forced disconnects (each: every PubSub connection of one provider).
    pub forced_disconnects: u64,
    /// Connections the providers closed in all (forced and their own random ones).
    pub provider_disconnects: u64,
    /// Notifications the providers dropped on purpose (their drop model), over all clients.
    pub provider_drops: u64,
    /// `dualrpc`, then each provider, then `first provider`.
    pub arms: Vec<StreamArm>,
    /// The commitment the clients subscribed at.
    pub commitment: String,
}

/// The gateway config: every endpoint of `cluster`, PubSub at the default `ws_url`.
fn gateway_config(cluster: &Cluster) -> Config {
    Config::from_toml(&endpoints_toml(cluster), |_| None).expect("generated config is valid")
}

/// Runs the time-to-notification measurement on `profile` (see the module docs).
pub async fn run(
    profile: &Profile,
    seed: u64,
    config: &StreamingConfig,
) -> std::io::Result<StreamingRun> {
    let cluster = arms::cluster(profile, seed).await?;
    let settings =
        Settings::from_config(&gateway_config(&cluster)).map_err(std::io::Error::other)?;
    let server = Server::start(settings, GatewayConfig::loopback()).await?;
    let chain = cluster.chain().clone();
    let mut urls = vec![("dualrpc".to_string(), format!("ws://{}/", server.ws_addr()))];
    for e in cluster.endpoints() {
        urls.push((e.name().to_string(), format!("ws://{}/", e.addr())));
    }
    let (stop, stopped) = watch::channel(false);
    let mut clients = Vec::new();
    for (name, url) in urls {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let task = tokio::spawn(client::watch_launches(
            url,
            config.commitment,
            chain.clone(),
            seen.clone(),
            stopped.clone(),
        ));
        clients.push((name, seen, task));
    }
    let started = chain.now();
    let forced = force_disconnects(&cluster, config).await;
    tokio::time::sleep(config.grace).await;
    let _ = stop.send(true);
    for (_, _, task) in &mut clients {
        let _ = task.await;
    }
    let counted_from = started + config.warmup;
    let counted_to = started + config.duration.saturating_sub(config.grace);
    let launches = launches(&chain, counted_from, counted_to);
    let seen: Vec<(String, Seen)> = clients
        .into_iter()
        .map(|(name, seen, _)| (name, seen.lock().clone()))
        .collect();
    let (provider_disconnects, provider_drops) =
        cluster.endpoints().iter().fold((0, 0), |(d, x), e| {
            let s = e.pubsub_stats();
            (d + s.disconnects, x + s.dropped)
        });
    server.stop().await?;
    cluster.shutdown().await;
    Ok(StreamingRun {
        profile: profile.name.clone(),
        seed,
        duration: config.duration,
        launches: launches.len() as u64,
        forced_disconnects: forced,
        provider_disconnects,
        provider_drops,
        arms: summarise(&launches, &seen),
        commitment: config.commitment.to_string(),
    })
}

/// Drops one provider's PubSub connections every `disconnect_every` until the period ends;
/// returns how many times it did.
async fn force_disconnects(cluster: &Cluster, config: &StreamingConfig) -> u64 {
    let n = cluster.endpoints().len();
    if config.disconnect_every.is_zero() || n == 0 {
        tokio::time::sleep(config.duration).await;
        return 0;
    }
    let end = tokio::time::Instant::now() + config.duration;
    let mut forced = 0u64;
    loop {
        let next = tokio::time::Instant::now() + config.disconnect_every;
        if next >= end {
            tokio::time::sleep_until(end).await;
            return forced;
        }
        tokio::time::sleep_until(next).await;
        cluster.endpoints()[(forced as usize) % n].drop_pubsub_connections();
        forced += 1;
    }
}

/// Per arm: delays, delays behind the first provider, losses — for `launches` (signature and
/// creation instant). `seen[0]` is dualrpc; the rest are providers, whose earliest arrival
/// per launch is the `first provider` arm appended last.
pub fn summarise(launches: &[(String, ChainTime)], seen: &[(String, Seen)]) -> Vec<StreamArm> {
    let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let first_provider: Vec<Option<ChainTime>> = launches
        .iter()
        .map(|(sig, _)| {
            seen.iter()
                .skip(1)
                .filter_map(|(_, s)| s.first.get(sig).copied())
                .min()
        })
        .collect();
    let arm = |name: &str, arrivals: &dyn Fn(usize) -> Option<ChainTime>| {
        let mut a = StreamArm {
            name: name.to_string(),
            ..StreamArm::default()
        };
        for (i, (_, created)) in launches.iter().enumerate() {
            match arrivals(i) {
                Some(at) => {
                    a.delays_us.push(us(at.saturating_duration_since(*created)));
                    if let Some(first) = first_provider[i] {
                        let behind = i64::try_from(us(at.saturating_duration_since(first)))
                            .unwrap_or(i64::MAX);
                        let ahead = i64::try_from(us(first.saturating_duration_since(at)))
                            .unwrap_or(i64::MAX);
                        a.behind_first_us.push(behind - ahead);
                    }
                }
                None => a.lost += 1,
            }
        }
        a.delays_us.sort_unstable();
        a.behind_first_us.sort_unstable();
        a
    };
    let mut arms: Vec<StreamArm> = seen
        .iter()
        .map(|(name, s)| {
            let mut a = arm(name, &|i| s.first.get(&launches[i].0).copied());
            a.duplicates = s.duplicates;
            a.reconnects = s.reconnects;
            a
        })
        .collect();
    arms.push(arm("first provider", &|i| first_provider[i]));
    arms
}

/// The launches created in `(from, to]` on `chain`, each with its creation instant (the start
/// of its slot).
pub fn launches(chain: &Chain, from: ChainTime, to: ChainTime) -> Vec<(String, ChainTime)> {
    launches_between(chain, from, to)
        .into_iter()
        .map(|s| (s.signature, chain.slot_start(s.slot)))
        .collect()
}

#[cfg(test)]
mod tests;
