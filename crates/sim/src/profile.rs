//! Named cluster set-ups: how many endpoints, how fast and how flaky each is, how far behind,
//! and the chain they serve.
//!
//! | profile       | endpoints | what it is for |
//! |---------------|-----------|----------------|
//! | `seed`        | 2         | the default: two similar providers, ≈50 ms mean, ≈98 % success |
//! | `mainnet-like`| 4         | a realistic mix of paid and public providers (numbers below) |
//! | `mainnet-tip` | 4         | the same, the three paid providers at the tip: indexing decides who sees a launch first |
//! | `zero`        | 2         | no latency, no faults: measures the gateway's own overhead |
//! | `lagging`     | 2         | one fresh endpoint, one 30 slots behind: staleness handling |
//!
//! ## `seed`
//! `alpha` and `beta`: lognormal median 44 ms, σ 0.3, 2 % tail calls at 3–5× the median, 0.2 %
//! stalls of 0.5–1.5 s — mean ≈ 50 ms ([`crate::LatencyModel::mean_ms`]). 2 % of requests
//! fail: 0.9 % HTTP 502/503, 0.5 % hang (the client's timeout fires), 0.4 % node-unhealthy
//! (`-32005`), 0.2 % connection reset. `beta` trails by 1 slot (the stale-`null` case the
//! project started from) and indexes later on average (below).
//!
//! ## `mainnet-like`
//! The ranges are the project's summary of published measurements of Solana RPC providers
//! (provider latency dashboards and third-party comparisons of paid tiers, seen from a nearby
//! region); this crate has not re-measured them: body medians of 35–70 ms with σ 0.35–0.5, one
//! erratic provider near σ 0.9; 2–5 % of calls at 3–5× the median; 0.2–1 % stalls of 0.5–2 s;
//! 0.1–0.5 % failures on paid endpoints and 1–5 % on the public one. The public endpoint's rate
//! limit is the one Solana documents for `api.mainnet-beta.solana.com`
//! (<https://solana.com/docs/references/clusters>): 100 requests per 10 s per IP, 40 per 10 s
//! per IP for a single method. The exact value picked inside each range is this crate's choice.
//!
//! | endpoint  | median | σ    | tail (3–5×) | stalls (0.5–2 s) | failures | lag | notes |
//! |-----------|--------|------|-------------|------------------|----------|-----|-------|
//! | `fast`    | 35 ms  | 0.35 | 2 %         | 0.2 %            | 0.1 %    | 0   | premium paid |
//! | `steady`  | 50 ms  | 0.40 | 3 %         | 0.4 %            | 0.3 %    | 1   | paid |
//! | `jittery` | 45 ms  | 0.90 | 5 %         | 1 %              | 0.5 %    | 2   | paid, erratic |
//! | `public`  | 70 ms  | 0.50 | 5 %         | 1 %              | 3 %      | 3   | public: + 100/10 s, 40/method/10 s → 429 |
//!
//! Plus a **correlated slowdown**: in every 45 s, one 2 s window (position drawn from the seed)
//! during which every endpoint's latency is ×3 — the network-wide congestion no routing can
//! avoid. That one is illustrative, not measured.
//!
//! All profiles use 400 ms slots; the launchpad gets 2 (`seed`) or 4 (others) transactions/s.
//!
//! ## Indexing delay
//! Besides its whole-slot lag, every endpoint shows each new transaction after its own
//! **indexing delay** ([`EndpointSpec::indexing_delay`]), drawn per transaction from
//! `(seed, endpoint index, transaction sequence)` and counted from the moment the
//! transaction's slot reaches the requested commitment on that endpoint (the rule is in
//! `Chain::visibility`). Providers differ here in ways their request latency does not show:
//! how their nodes receive shreds, whether they index from a Geyser plugin or from replay,
//! how busy their indexer is. The sim uses lognormals given by median and p99; the values are
//! this crate's choice, picked so the distributions differ between endpoints yet overlap
//! widely (medians 30–150 ms, p99 5–25× the median), not measurements:
//!
//! | profile        | endpoint  | median | p99     | σ    |
//! |----------------|-----------|--------|---------|------|
//! | `seed`         | `alpha`   | 40 ms  | 250 ms  | 0.79 |
//! | `seed`         | `beta`    | 60 ms  | 600 ms  | 0.99 |
//! | `mainnet-like` | `fast`    | 30 ms  | 250 ms  | 0.91 |
//! | `mainnet-like` | `steady`  | 60 ms  | 350 ms  | 0.76 |
//! | `mainnet-like` | `jittery` | 45 ms  | 1000 ms | 1.33 |
//! | `mainnet-like` | `public`  | 150 ms | 1200 ms | 0.89 |
//! | `lagging`      | both      | 40 ms  | 250 ms  | 0.79 |
//! | `zero`         | both      | 0      | 0       | —    |
//!
//! `zero` keeps no delay: it measures the gateway's own overhead, where a transaction must be
//! visible everywhere the moment its slot is. Between two endpoints with the **same** lag the
//! delay alone decides who shows a launch first, and that changes from launch to launch. An
//! endpoint a whole slot behind another starts 400 ms later, so it comes first only when the
//! other's delay exceeds its own by more than a slot (the tails make that rare, not
//! impossible): in `seed` and `mainnet-like`, whose providers trail by whole slots, the
//! provider at the tip is nearly always first. `mainnet-tip` puts the three paid providers
//! of `mainnet-like` at the tip, as paid providers usually are on mainnet: there who shows a
//! launch first changes from launch to launch, decided by indexing.
//!
//! ## PubSub
//! Every endpoint also serves PubSub on its port (`ws://…`, the `pubsub` module). Its
//! [`PubsubModel`] adds, on top of the endpoint's view (lag + indexing delay): a **delivery
//! delay** per event (the node's notification pipeline, the provider's WebSocket proxy and the
//! network), a probability of **dropping** a notification, and a **mean time between forced
//! disconnects** of a connection (exponential). Paid providers deliver within milliseconds of
//! their own view and rarely drop; erratic and public ones have long tails, drop more (a
//! subscriber that falls behind loses messages) and close connections far more often. Like
//! the indexing delays, the numbers are this crate's choice, not measurements: small next to
//! the indexing delays (so indexing still mostly decides who delivers first), differing
//! between endpoints, with disconnects frequent enough to exercise reconnects in a
//! minutes-long run on `mainnet-like`'s public endpoint:
//!
//! | profile        | endpoint  | delay median | p99     | drops | mean time between disconnects |
//! |----------------|-----------|--------------|---------|-------|-------------------------------|
//! | `seed`         | `alpha`   | 8 ms         | 60 ms   | 0.2 % | 5 min |
//! | `seed`         | `beta`    | 12 ms        | 150 ms  | 0.5 % | 3 min |
//! | `mainnet-like` | `fast`    | 5 ms         | 40 ms   | 0.1 % | 15 min |
//! | `mainnet-like` | `steady`  | 10 ms        | 80 ms   | 0.2 % | 10 min |
//! | `mainnet-like` | `jittery` | 10 ms (+1 % stalls of 0.2–1 s) | 300 ms | 1 % | 3 min |
//! | `mainnet-like` | `public`  | 30 ms        | 400 ms  | 3 %   | 1 min |
//! | `lagging`      | both      | 8 ms         | 60 ms   | —     | never |
//! | `zero`         | both      | 0            | 0       | —     | never |
//!
//! `zero` delivers every notification the instant its event happens and never drops or
//! disconnects; `lagging` has no drops or disconnects, to isolate staleness.

mod builtin;

use self::builtin::{lagging, mainnet_like, mainnet_tip, seed, zero};
use crate::chain::ChainConfig;
use crate::faults::{FaultModel, RateLimit};
use crate::latency::{CorrelatedSlowdown, LatencyModel};
use crate::pubsub::PubsubModel;

/// One simulated upstream provider.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSpec {
    /// Short name (`NAME=URL` on the command line).
    pub name: String,
    /// How long it takes.
    pub latency: LatencyModel,
    /// How it fails.
    pub faults: FaultModel,
    /// Its rate limit, if any.
    pub rate_limit: Option<RateLimit>,
    /// How many slots behind the chain tip it is.
    pub lag_slots: u64,
    /// How long after a slot reaches it the endpoint shows each transaction of that slot,
    /// drawn per transaction (see the module docs). [`LatencyModel::ZERO`] by default.
    pub indexing_delay: LatencyModel,
    /// How its PubSub delivers: delivery delay, drops, disconnects. [`PubsubModel::NONE`] by
    /// default.
    pub pubsub: PubsubModel,
}

impl EndpointSpec {
    /// A fault-free, lag-free endpoint with the given latency.
    pub fn new(name: impl Into<String>, latency: LatencyModel) -> EndpointSpec {
        EndpointSpec {
            name: name.into(),
            latency,
            faults: FaultModel::NONE,
            rate_limit: None,
            lag_slots: 0,
            indexing_delay: LatencyModel::ZERO,
            pubsub: PubsubModel::NONE,
        }
    }

    /// Sets the fault model.
    pub fn with_faults(mut self, faults: FaultModel) -> EndpointSpec {
        self.faults = faults;
        self
    }

    /// Sets the rate limit.
    pub fn with_rate_limit(mut self, limit: RateLimit) -> EndpointSpec {
        self.rate_limit = Some(limit);
        self
    }

    /// Sets the slot lag.
    pub fn with_lag(mut self, slots: u64) -> EndpointSpec {
        self.lag_slots = slots;
        self
    }

    /// Sets the indexing-delay distribution (e.g. [`LatencyModel::lognormal_p99`]).
    pub fn with_indexing_delay(mut self, delay: LatencyModel) -> EndpointSpec {
        self.indexing_delay = delay;
        self
    }

    /// Sets the PubSub delivery model.
    pub fn with_pubsub(mut self, pubsub: PubsubModel) -> EndpointSpec {
        self.pubsub = pubsub;
        self
    }
}

/// A whole simulated cluster: its endpoints, the chain, and any cluster-wide slowdown.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Profile name.
    pub name: String,
    /// One-line description.
    pub description: String,
    /// The endpoints, in port order.
    pub endpoints: Vec<EndpointSpec>,
    /// The chain they all serve.
    pub chain: ChainConfig,
    /// Slowdown that hits every endpoint at once.
    pub slowdown: Option<CorrelatedSlowdown>,
}

const NAMES: [&str; 5] = ["seed", "mainnet-like", "mainnet-tip", "zero", "lagging"];

impl Profile {
    /// The built-in profile called `name`.
    pub fn named(name: &str) -> Option<Profile> {
        Some(match name {
            "seed" => seed(),
            "mainnet-like" => mainnet_like(),
            "mainnet-tip" => mainnet_tip(),
            "zero" => zero(),
            "lagging" => lagging(),
            _ => return None,
        })
    }

    /// The same profile with `n` endpoints: the first `n`, or the profile's endpoints
    /// cycled (`alpha`, `beta`, `alpha-2`, `beta-2`, …) when it has fewer.
    pub fn with_endpoint_count(mut self, n: usize) -> Profile {
        let base = self.endpoints.clone();
        if base.is_empty() {
            return self;
        }
        self.endpoints = (0..n)
            .map(|i| {
                let mut spec = base[i % base.len()].clone();
                let round = i / base.len();
                if round > 0 {
                    spec.name = format!("{}-{}", spec.name, round + 1);
                }
                spec
            })
            .collect();
        self
    }

    /// Names of the built-in profiles.
    pub fn names() -> &'static [&'static str] {
        &NAMES
    }

    /// One line describing the profile (printed by `dualrpc sim`).
    pub fn summary(&self) -> String {
        let endpoints: Vec<String> = self
            .endpoints
            .iter()
            .map(|e| {
                let mut s = format!(
                    "{} {:.0}ms/{:.1}%fail",
                    e.name,
                    e.latency.mean_ms(),
                    e.faults.failure_rate() * 100.0
                );
                if e.lag_slots > 0 {
                    s.push_str(&format!("/lag{}", e.lag_slots));
                }
                if !e.indexing_delay.is_zero() {
                    s.push_str(&format!(
                        "/index{:.0}ms(p99 {:.0})",
                        e.indexing_delay.median_ms,
                        e.indexing_delay.body_p99_ms()
                    ));
                }
                let ws = &e.pubsub;
                if !ws.delivery_delay.is_zero() {
                    s.push_str(&format!(
                        "/ws{:.0}ms(p99 {:.0})",
                        ws.delivery_delay.median_ms,
                        ws.delivery_delay.body_p99_ms()
                    ));
                }
                if ws.drop_probability > 0.0 {
                    s.push_str(&format!("/drop{:.1}%", ws.drop_probability * 100.0));
                }
                if !ws.mean_time_between_disconnects.is_zero() {
                    s.push_str(&format!(
                        "/dc{}s",
                        ws.mean_time_between_disconnects.as_secs()
                    ));
                }
                if e.rate_limit.is_some() {
                    s.push_str("/ratelimited");
                }
                s
            })
            .collect();
        format!(
            "profile {}: {} ({}; slot {} ms, {} launchpad tx/s)",
            self.name,
            self.description,
            endpoints.join(", "),
            self.chain.slot_time.as_millis(),
            self.chain.signatures_per_second
        )
    }
}
