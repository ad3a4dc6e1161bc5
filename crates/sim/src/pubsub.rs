//! Solana PubSub on every endpoint: the endpoint's JSON-RPC port also accepts WebSocket
//! upgrades (`ws://IP:PORT/`, any path — the endpoint URL with `ws://`) and serves agave's
//! subscription API from the shared chain, through the endpoint's own view (slot lag and
//! indexing delay), with its own delivery delay, drops and disconnects ([`PubsubModel`]).
//!
//! ## Methods
//! Framed as agave 4.2.2 frames them (the capture in the project's
//! `shared/fixtures/agave-4.2.2/pubsub_session.json`, copied to this crate's
//! `fixtures/agave_pubsub_session.json` for the tests): an answer is
//! `{"jsonrpc":"2.0","result":ID,"id":…}`, subscription ids count from 0 **per connection**, a
//! notification is `{"jsonrpc":"2.0","method":"…Notification","params":{"result":…,
//! "subscription":ID}}`. Default commitment `finalized`, default account encoding the legacy
//! base58 string, as in agave.
//!
//! | method | notifies | `result` |
//! |--------|----------|----------|
//! | `slotSubscribe` | each new slot the endpoint reaches (tip − lag) | `{"slot","parent","root"}` |
//! | `rootSubscribe` | each new root (its finalized slot) | the root |
//! | `logsSubscribe` (`"all"`, `"allWithVotes"`, `{"mentions":[one key]}`) | each launch transaction mentioning it (the pump.fun program or one of the launch's own accounts) | `{"context":{"slot"},"value":{"signature","err":null,"logs":[…]}}` |
//! | `accountSubscribe` (a launch's mint or bonding curve) | its creation | `{"context":{"slot"},"value":ACCOUNT}` |
//! | `programSubscribe` (pump.fun; `dataSize` / `memcmp` filters) | each new bonding curve | `{"context":{"slot"},"value":{"pubkey","account"}}` |
//! | `signatureSubscribe` (a launch, or a transaction a client sent with `sendTransaction`) | once, then the subscription ends | `{"context":{"slot"},"value":{"err":null}}` |
//!
//! plus every `…Unsubscribe` (`true`, or `-32602 Invalid subscription id.`; any of them ends
//! any kind, as in agave) and `getVersion`. Errors as agave sends them: `-32601 Method not
//! found`, `-32602 Invalid Request: Invalid pubkey provided` (`signature`, `mentions`),
//! `-32602 Invalid Request: Only 1 address supported`, `-32700 Parse error` with `"id":null`
//! for a text frame that is not JSON, `-32600 Invalid request`, `-32602 Invalid params: …`.
//!
//! ## When a notification is sent
//! Every notification is an **event** on the endpoint's view of the chain, at an instant on the
//! chain's clock ([`crate::ChainTime`]): slot `s` when the endpoint's tip reaches it
//! (`slot_start(s + lag)`), root `r` when its finalized slot does; a launch transaction when
//! the endpoint shows it at the subscription's commitment — [`crate::Chain::visibility`]'s
//! `visible_at`, so the lag and the per-transaction indexing delay apply, and which endpoint
//! delivers a launch first changes from launch to launch. (A transaction a client sent lands
//! like a launch, the chain's `sent` submodule, and `signatureSubscribe` notifies it by the
//! same rule.) The `context.slot` is the
//! transaction's slot. A subscription gets the events after the instant it was made (as on a
//! node, nothing is replayed) — except `signatureSubscribe` for a transaction the endpoint
//! already shows, which agave 4.2.2 notifies at the next commitment update: here at the next
//! slot, with that slot's view as the context.
//!
//! The endpoint then sends it **`delivery_delay`** later ([`PubsubModel`]; a draw per event and
//! endpoint, the same for every subscription and kind on it: the node publishes an event once),
//! unless the notification is **dropped** (a draw per event, endpoint and kind; a dropped
//! `signatureNotification` still ends its subscription, as a lost message would). Slot and
//! root notifications keep their order (one stalled slot holds the next ones back). Delays are
//! on the chain's clock, so with [`crate::ClockMode::Manual`] a notification goes out when
//! [`crate::Chain::advance_time`] reaches its due instant: tests step through it exactly.
//! `SimEndpoint::notification_timing` answers, for a launch, when each endpoint sends it.
//!
//! A session serves in order: before it answers a request it sends every notification due by
//! then, so a request (`getVersion`) is a barrier for a client that needs "nothing more is due".
//!
//! ## Disconnects
//! The endpoint closes each connection (the TCP connection, without a close frame, as a load
//! balancer dropping it) after a lifetime drawn from an exponential distribution with mean
//! `mean_time_between_disconnects` on the chain's clock (zero: never), and
//! `SimEndpoint::drop_pubsub_connections` closes them all at once. A client reconnects and
//! subscribes again, with fresh ids. Killing the endpoint closes them too.
//!
//! ## Determinism
//! Delays, drops and lifetimes are pure functions of `(seed, endpoint, event)` (lifetimes: of
//! the connection's ordinal on the endpoint), drawn with the crate's seeded stream, like the
//! indexing delays: a seed gives the same deliveries at the same chain instants.
//!
//! ## Simplifications
//! `logsSubscribe` sees only launch transactions; `accountSubscribe` / `programSubscribe`
//! notify only the accounts a launch creates (see `accounts`; other keys and programs are
//! accepted and never notify); `dataSlice` and `enableReceivedNotification` are accepted and
//! ignored; subscribe answers are immediate (no request latency, no HTTP faults); a launch
//! whose slot reached the subscription's commitment more than `HORIZON_SLOTS` (150 slots, a
//! minute) before it was made is never notified; when a manual clock jumps so far that one
//! subscription has more than 1024 notifications at once, only the newest 1024 are produced.
//! `slotsUpdatesSubscribe`, `blockSubscribe` and `voteSubscribe` are not served (`-32601`, as
//! on a node without them enabled).

mod feed;
mod render;
mod request;
mod session;
mod spec;
mod timing;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::RwLock;
use tokio::sync::watch;

pub(crate) use self::session::serve;
use crate::chain::{Chain, ChainTime, Commitment};
use crate::latency::LatencyModel;

/// How far back a new subscription looks for launches the endpoint has not shown yet, in slots
/// before its view at the subscription's commitment (indexing delays stay far below this).
const HORIZON_SLOTS: u64 = 150;

/// How an endpoint's PubSub delivers: part of its [`crate::EndpointSpec`] (module docs of
/// `pubsub` for the rules). The default, [`PubsubModel::NONE`], delivers every notification
/// the instant its event happens and never disconnects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PubsubModel {
    /// Time from an event (a slot, a root, a launch shown at a commitment) to the moment the
    /// endpoint sends its notification, drawn per event.
    pub delivery_delay: LatencyModel,
    /// Probability that a notification is never sent, drawn per event and kind.
    pub drop_probability: f64,
    /// Mean lifetime of a connection before the endpoint closes it (exponentially
    /// distributed, on the chain's clock); zero: never.
    pub mean_time_between_disconnects: Duration,
}

impl PubsubModel {
    /// Immediate delivery, no drops, no disconnects.
    pub const NONE: PubsubModel = PubsubModel {
        delivery_delay: LatencyModel::ZERO,
        drop_probability: 0.0,
        mean_time_between_disconnects: Duration::ZERO,
    };

    /// Delivery after `delivery_delay`, no drops, no disconnects.
    pub fn new(delivery_delay: LatencyModel) -> PubsubModel {
        PubsubModel {
            delivery_delay,
            ..PubsubModel::NONE
        }
    }

    /// Sets the probability of dropping a notification.
    pub fn with_drops(mut self, probability: f64) -> PubsubModel {
        self.drop_probability = probability;
        self
    }

    /// Sets the mean time between forced disconnects of a connection (zero: never).
    pub fn with_disconnects(mut self, mean: Duration) -> PubsubModel {
        self.mean_time_between_disconnects = mean;
        self
    }

    /// Whether it delivers instantly and never drops or disconnects.
    pub fn is_none(&self) -> bool {
        self.delivery_delay.is_zero()
            && self.drop_probability <= 0.0
            && self.mean_time_between_disconnects.is_zero()
    }
}

impl Default for PubsubModel {
    fn default() -> Self {
        PubsubModel::NONE
    }
}

/// Counters of one endpoint's PubSub (open ones now, others since it started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PubsubStats {
    /// WebSocket connections open now.
    pub open_connections: u64,
    /// Subscriptions open now (over all connections).
    pub open_subscriptions: u64,
    /// WebSocket connections accepted.
    pub connections: u64,
    /// Notifications sent.
    pub notifications: u64,
    /// Notifications dropped on purpose ([`PubsubModel::drop_probability`]).
    pub dropped: u64,
    /// Connections the endpoint closed: at the end of their drawn lifetime, or forced.
    pub disconnects: u64,
}

/// A notification a launch transaction produces, for [`crate::SimEndpoint::notification_timing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LaunchNotification {
    /// `logsNotification` (a `logsSubscribe` it matches).
    Logs,
    /// `accountNotification` of its mint or bonding curve.
    Account,
    /// `programNotification` of its bonding curve (pump.fun).
    Program,
    /// `signatureNotification` (a subscription made before the endpoint showed it).
    Signature,
}

/// When one endpoint sends one notification of one launch (subscribed before it happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationTiming {
    /// The endpoint (its index in the profile).
    pub endpoint: usize,
    /// The launch ([`crate::SignatureInfo::sequence`]).
    pub sequence: u64,
    /// The commitment of the subscription.
    pub commitment: Commitment,
    /// The event: when the endpoint shows the launch at that commitment
    /// ([`crate::Visibility::visible_at`], with the endpoint's current lag).
    pub visible_at: ChainTime,
    /// The endpoint's delivery delay for it.
    pub delivery_delay: Duration,
    /// When the endpoint sends the notification: `visible_at + delivery_delay`.
    pub due_at: ChainTime,
    /// Whether the endpoint drops it instead (then it is never sent).
    pub dropped: bool,
}

/// One endpoint's PubSub state, shared by its sessions and its controls.
#[derive(Debug)]
pub(crate) struct PubsubShared {
    model: RwLock<PubsubModel>,
    /// Bumped by `drop_connections`: every session open at that moment closes.
    kill: watch::Sender<u64>,
    open_connections: AtomicU64,
    open_subscriptions: AtomicU64,
    connections: AtomicU64,
    notifications: AtomicU64,
    dropped: AtomicU64,
    disconnects: AtomicU64,
}

impl PubsubShared {
    pub(crate) fn new(model: PubsubModel) -> PubsubShared {
        PubsubShared {
            model: RwLock::new(model),
            kill: watch::Sender::new(0),
            open_connections: AtomicU64::new(0),
            open_subscriptions: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            notifications: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
        }
    }

    pub(crate) fn model(&self) -> PubsubModel {
        *self.model.read()
    }

    pub(crate) fn set_model(&self, model: PubsubModel) {
        *self.model.write() = model;
    }

    /// Closes every connection open now.
    pub(crate) fn drop_connections(&self) {
        self.kill.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(crate) fn stats(&self) -> PubsubStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PubsubStats {
            open_connections: load(&self.open_connections),
            open_subscriptions: load(&self.open_subscriptions),
            connections: load(&self.connections),
            notifications: load(&self.notifications),
            dropped: load(&self.dropped),
            disconnects: load(&self.disconnects),
        }
    }
}

/// What a session serves: one endpoint's view of the chain and its PubSub state.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) chain: Chain,
    /// Its index in the profile (lag, indexing delays, draws).
    pub(crate) index: usize,
    pub(crate) seed: u64,
    pub(crate) shared: std::sync::Arc<PubsubShared>,
}

impl Endpoint {
    /// When this endpoint sends `kind` for the launch `signature` at `commitment` (the
    /// oracle behind `SimEndpoint::notification_timing`).
    pub(crate) fn timing(
        &self,
        kind: LaunchNotification,
        signature: &str,
        commitment: Commitment,
    ) -> Option<NotificationTiming> {
        let v = self.chain.visibility(signature, self.index, commitment)?;
        let model = self.shared.model();
        let key = timing::EventKey::Launch {
            sequence: v.sequence,
            commitment,
        };
        let delay = timing::delivery_delay(&model, self.seed, self.index, key);
        Some(NotificationTiming {
            endpoint: self.index,
            sequence: v.sequence,
            commitment,
            visible_at: v.visible_at,
            delivery_delay: delay,
            due_at: v.visible_at + delay,
            dropped: timing::is_dropped(&model, self.seed, self.index, kind.into(), key),
        })
    }

    fn lag(&self) -> u64 {
        self.chain.endpoint_lag(self.index).unwrap_or(0)
    }
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

fn lower(counter: &AtomicU64, by: u64) {
    counter.fetch_sub(by, Ordering::Relaxed);
}
