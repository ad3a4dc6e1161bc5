//! Subscriptions (Solana PubSub over WebSocket), raced and deduplicated across providers.
//!
//! A [`Hub`] holds every *distinct* subscription (kind + params, commitment included) and
//! shares it between every client that asks for the same thing. Each is opened on several
//! upstreams at once (`fanout`, default all; one WebSocket connection per endpoint carries
//! all of them, [`upstream`]); the first copy of each notification is forwarded to every
//! subscriber, later copies dropped ([`dedup`]). An upstream that disconnects, stalls or
//! errors is reconnected with backoff and its subscriptions re-opened; clients notice
//! nothing while another upstream carries them. When none can carry a subscription for
//! `stall_timeout`, its clients are told ([`Client::closed`]).
//!
//! A client never slows anyone down: deliveries go through its own bounded queue with
//! `try_send`, and a client whose queue is full is marked too slow (its session closes the
//! connection). Logs notifications feed the first-sight tally (`sight`): which provider
//! delivered a transaction first, and how far behind the others were.

mod client;
pub mod dedup;
mod retry;
#[cfg(test)]
mod tests;
mod upstream;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::value::RawValue;
use tokio::sync::watch;

pub use crate::config::SubscriptionSettings;
pub use client::{Client, CloseReason, Delivery};
pub use dedup::Kind;
use dedup::{Dedup, Judgement};
use upstream::{Command, UpstreamHandle};

use crate::upstreams::Upstreams;

/// A subscription's state as upstreams confirm or refuse it.
#[derive(Debug, Clone)]
enum Confirm {
    Pending,
    Open,
    /// Every upstream refused it with this JSON-RPC error.
    Refused(Arc<str>),
}

#[derive(Debug)]
struct Shared {
    kind: Kind,
    key: (Kind, String),
    sinks: Vec<(Arc<Client>, u64)>,
    dedup: Dedup,
    /// Upstreams (bit per endpoint index) it is opened on, and those carrying it now.
    asked: u64,
    carriers: u64,
    refusals: u64,
    /// Bumped each time it loses its last carrier: an orphan timer ends it only if it has
    /// had no carrier since the loss that armed the timer.
    orphaned: u64,
    confirm: watch::Sender<Confirm>,
}

#[derive(Debug, Default)]
struct Subs {
    by_key: HashMap<(Kind, String), u64>,
    shared: HashMap<u64, Shared>,
    clients: usize,
}

#[derive(Debug)]
struct HubInner {
    upstreams: Vec<UpstreamHandle>,
    endpoints: Arc<Upstreams>,
    sightings: Arc<crate::sight::Sightings>,
    settings: SubscriptionSettings,
    subs: Mutex<Subs>,
    next: AtomicU64,
}

/// The pool's subscriptions (module doc). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

/// A JSON-RPC error for a subscribe request.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribeError {
    /// The error object, as JSON.
    pub error: Arc<str>,
}

impl SubscribeError {
    fn new(code: i64, message: &str) -> SubscribeError {
        let error = crate::jsonrpc::error_object(code, message, None);
        SubscribeError {
            error: error.get().into(),
        }
    }
}

/// A client's hold on a shared subscription; dropping it unsubscribes that client (and
/// the upstreams, when it was the last).
#[derive(Debug)]
pub struct Handle {
    hub: Hub,
    shared: u64,
    client: Arc<Client>,
    id: u64,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.hub.remove_sink(self.shared, &self.client, self.id);
    }
}

impl Hub {
    /// A hub over `endpoints` whose WebSocket URLs are `ws_urls` (same order). Must be
    /// built inside a Tokio runtime: each upstream's connection is a task of its own
    /// (opened on the first subscription).
    pub(crate) fn new(
        endpoints: Arc<Upstreams>,
        ws_urls: Vec<crate::settings::SecretUrl>,
        sightings: Arc<crate::sight::Sightings>,
        settings: SubscriptionSettings,
    ) -> Hub {
        Hub {
            inner: Arc::new_cyclic(|weak| HubInner {
                upstreams: ws_urls
                    .into_iter()
                    .enumerate()
                    .map(|(i, url)| {
                        UpstreamHandle::new(
                            i,
                            endpoints.endpoints[i].name.clone(),
                            url.0,
                            weak.clone(),
                        )
                    })
                    .collect(),
                endpoints,
                sightings,
                settings,
                subs: Mutex::new(Subs::default()),
                next: AtomicU64::new(1),
            }),
        }
    }

    /// The settings it runs on.
    pub fn settings(&self) -> &SubscriptionSettings {
        &self.inner.settings
    }

    /// Distinct subscriptions open upstream, and client subscriptions in all.
    pub fn counts(&self) -> (usize, usize) {
        let subs = self.inner.subs.lock();
        (subs.shared.len(), subs.clients)
    }

    /// Subscribes `client` (its own id for it: `id`) to `kind` with `params`; waits until
    /// an upstream confirmed it, every asked upstream refused it (their error), or
    /// `stall_timeout` passed.
    pub async fn subscribe(
        &self,
        client: &Arc<Client>,
        id: u64,
        kind: Kind,
        params: Option<&RawValue>,
    ) -> Result<Handle, SubscribeError> {
        let params = canonical_params(kind, params)?;
        let mut confirm = {
            let mut subs = self.inner.subs.lock();
            if subs.clients >= self.inner.settings.max_total {
                return Err(SubscribeError::new(
                    -32005,
                    "subscription limit of this gateway reached",
                ));
            }
            let key = (kind, params);
            let shared_id = match subs.by_key.get(&key) {
                Some(&s) => s,
                None => {
                    let s = self.inner.next.fetch_add(1, Ordering::Relaxed);
                    let asked = self.open_upstream(s, kind, &key.1);
                    subs.by_key.insert(key.clone(), s);
                    subs.shared.insert(
                        s,
                        Shared {
                            kind,
                            dedup: Dedup::new(kind, &key.1),
                            key,
                            sinks: Vec::new(),
                            asked,
                            carriers: 0,
                            refusals: 0,
                            orphaned: 0,
                            confirm: watch::channel(Confirm::Pending).0,
                        },
                    );
                    s
                }
            };
            subs.clients += 1;
            crate::telemetry::subscriptions(subs.shared.len(), subs.clients);
            let shared = subs.shared.get_mut(&shared_id).expect("just found or made");
            shared.sinks.push((client.clone(), id));
            (shared_id, shared.confirm.subscribe())
        };
        let handle = Handle {
            hub: self.clone(),
            shared: confirm.0,
            client: client.clone(),
            id,
        };
        let waited = tokio::time::timeout(
            self.inner.settings.stall_timeout,
            confirm.1.wait_for(|c| !matches!(c, Confirm::Pending)),
        )
        .await;
        let state = match waited {
            Ok(Ok(state)) => state.clone(),
            _ => Confirm::Pending,
        };
        match state {
            Confirm::Open => Ok(handle),
            Confirm::Refused(error) => Err(SubscribeError { error }),
            Confirm::Pending => Err(SubscribeError::new(
                -32080,
                "no upstream could open the subscription",
            )),
        }
    }

    /// Sends the subscribe to the first `fanout` upstreams; returns their bits.
    fn open_upstream(&self, shared: u64, kind: Kind, params: &str) -> u64 {
        let n = self.inner.upstreams.len();
        let fanout = self.inner.settings.fanout.unwrap_or(n).clamp(1, n.max(1));
        let params: Arc<str> = params.into();
        let mut asked = 0;
        // An endpoint on another cluster is never asked.
        let ours = |up: &&UpstreamHandle| !self.inner.foreign(up.index);
        for up in self.inner.upstreams.iter().filter(ours).take(fanout) {
            up.send(Command::Subscribe {
                shared,
                kind,
                params: params.clone(),
            });
            asked |= 1 << (up.index % 64);
        }
        asked
    }

    fn remove_sink(&self, shared_id: u64, client: &Arc<Client>, id: u64) {
        let mut subs = self.inner.subs.lock();
        let Some(shared) = subs.shared.get_mut(&shared_id) else {
            return;
        };
        let before = shared.sinks.len();
        shared
            .sinks
            .retain(|(c, i)| !(Arc::ptr_eq(c, client) && *i == id));
        let removed = before - shared.sinks.len();
        let empty = shared.sinks.is_empty();
        subs.clients -= removed;
        if empty {
            self.end_shared(&mut subs, shared_id);
        }
        crate::telemetry::subscriptions(subs.shared.len(), subs.clients);
    }

    /// Forgets a shared subscription and unsubscribes its upstreams.
    fn end_shared(&self, subs: &mut Subs, shared_id: u64) {
        if let Some(shared) = subs.shared.remove(&shared_id) {
            subs.by_key.remove(&shared.key);
            for up in &self.inner.upstreams {
                if shared.asked & (1 << (up.index % 64)) != 0 {
                    up.send(Command::Unsubscribe { shared: shared_id });
                }
            }
        }
    }
}

impl HubInner {
    /// Whether the health loop found endpoint `index` on another cluster than the pool's.
    fn foreign(&self, index: usize) -> bool {
        self.endpoints
            .endpoints
            .get(index)
            .is_some_and(|ep| ep.stats.foreign())
    }

    /// The bits (as in `asked`) of the endpoints on another cluster.
    fn foreign_mask(&self) -> u64 {
        (0..self.endpoints.endpoints.len())
            .filter(|&i| self.foreign(i))
            .fold(0, |mask, i| mask | 1 << (i % 64))
    }

    /// Upstream `index` confirmed (or re-confirmed after a reconnect) `shared`.
    fn confirmed(&self, shared: u64, index: usize) {
        // An upstream on another cluster carries nothing this pool's clients can use.
        if self.foreign(index) {
            return;
        }
        let mut subs = self.subs.lock();
        if let Some(s) = subs.shared.get_mut(&shared) {
            s.carriers |= 1 << (index % 64);
            // An upstream that refused once and carries it now (asked again after a
            // reconnect) is no longer a refusal.
            s.refusals &= !(1 << (index % 64));
            s.confirm.send_if_modified(|c| {
                let pending = !matches!(c, Confirm::Open);
                *c = Confirm::Open;
                pending
            });
        }
    }

    /// Upstream `index` refused `shared` with `error`.
    fn refused(&self, shared: u64, index: usize, error: &str) {
        let mut subs = self.subs.lock();
        if let Some(s) = subs.shared.get_mut(&shared) {
            s.refusals |= 1 << (index % 64);
            // Every endpoint asked refused — or is on another cluster now, and never will.
            let asked = s.asked & !self.foreign_mask();
            if s.refusals & asked == asked && s.carriers == 0 {
                let _ = s.confirm.send(Confirm::Refused(error.into()));
            }
        }
    }

    /// Upstream `index` lost its connection: it carries nothing until it re-confirms.
    /// Subscriptions left without any carrier are ended for their clients if none comes
    /// back within `stall_timeout`.
    fn carrier_lost(self: &Arc<Self>, index: usize) {
        let bit = 1u64 << (index % 64);
        let mut orphans = Vec::new();
        {
            let mut subs = self.subs.lock();
            for (id, s) in subs.shared.iter_mut() {
                if s.carriers & bit != 0 {
                    s.carriers &= !bit;
                    if s.carriers == 0 {
                        s.orphaned += 1;
                        orphans.push((*id, s.orphaned));
                    }
                }
            }
        }
        if orphans.is_empty() {
            return;
        }
        let hub = Arc::downgrade(self);
        let wait = self.settings.stall_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let Some(hub) = hub.upgrade() else { return };
            let subs = hub.subs.lock();
            for (id, orphaned) in orphans {
                // Still without a carrier, and none came back (and left again) meanwhile.
                if let Some(s) = subs.shared.get(&id)
                    && s.carriers == 0
                    && s.orphaned == orphaned
                {
                    for (client, _) in &s.sinks {
                        client.close(CloseReason::NoUpstream);
                    }
                }
            }
        });
    }

    /// A `kind` notification for `shared` from upstream `index`. What identifies it is
    /// worked out before the hub's lock is taken, so parsing one notification never holds
    /// up another subscription's.
    fn deliver(&self, shared: u64, index: usize, kind: Kind, result: &str) {
        // Another cluster's notifications are another chain's news.
        if self.foreign(index) {
            crate::telemetry::notification("foreign");
            return;
        }
        let now = crate::clock::now();
        let identity = dedup::identify(kind, result);
        // A slot beyond any the chain can have reached would be forwarded to every client
        // and, for an account, make every true notification after it "older".
        let limit = self.endpoints.ceiling.limit(now);
        if let Some(limit) = limit
            && dedup::claimed_slot(kind, result, identity).is_some_and(|slot| slot > limit)
        {
            crate::telemetry::notification("implausible");
            return;
        }
        if kind == Kind::Logs
            && let Some(ep) = self.endpoints.endpoints.get(index)
        {
            self.sightings.observe_notification(ep, result, now);
        }
        let mut subs = self.subs.lock();
        let Some(s) = subs.shared.get_mut(&shared) else {
            return;
        };
        let judgement = s.dedup.judge_identity(identity, limit);
        crate::telemetry::notification(judgement_label(judgement));
        if judgement != Judgement::First {
            return;
        }
        let last = s.dedup.done();
        let bytes = Bytes::copy_from_slice(result.as_bytes());
        for (client, id) in &s.sinks {
            client.deliver(Delivery {
                subscription: *id,
                kind: s.kind,
                result: bytes.clone(),
                last,
            });
        }
        if last {
            // The node ends a signature subscription after its notification; so do we.
            let removed = s.sinks.len();
            subs.clients -= removed;
            if let Some(s) = subs.shared.remove(&shared) {
                subs.by_key.remove(&s.key);
                // The node that notified ended it itself; the others are asked to (one
                // that ended it too answers "invalid id", which changes nothing).
                for up in &self.upstreams {
                    if s.asked & (1 << (up.index % 64)) == 0 {
                        continue;
                    }
                    if up.index == index {
                        up.send(Command::Forget { shared });
                    } else {
                        up.send(Command::Unsubscribe { shared });
                    }
                }
            }
        }
    }
}

fn judgement_label(j: Judgement) -> &'static str {
    match j {
        Judgement::First => "forwarded",
        Judgement::Duplicate => "duplicate",
        Judgement::Older => "older",
        Judgement::Malformed => "malformed",
    }
}

/// The params array in canonical form (what identifies a subscription); `[]` if none.
fn canonical_params(kind: Kind, params: Option<&RawValue>) -> Result<String, SubscribeError> {
    let Some(params) = params else {
        return Ok("[]".into());
    };
    match serde_json::from_str::<serde_json::Value>(params.get()) {
        Ok(serde_json::Value::Array(list)) if kind == Kind::Logs => logs_params(list),
        Ok(v @ serde_json::Value::Array(_)) => Ok(v.to_string()),
        _ => Err(SubscribeError::new(
            -32602,
            "Invalid params: expected an array",
        )),
    }
}

/// `logsSubscribe` params as the node reads them: the filter, and of the config only the
/// commitment (a node ignores other keys; the default, `finalized`, written out). So
/// requests that mean the same share one subscription, and the whole chain's logs — every
/// transaction from every provider — are at most six subscriptions (two filters × three
/// commitments), whatever keys clients add.
fn logs_params(list: Vec<serde_json::Value>) -> Result<String, SubscribeError> {
    use serde_json::Value;
    let mut list = list.into_iter();
    let filter = match list.next() {
        Some(Value::Object(mut f)) => match f.remove("mentions") {
            Some(mentions) => serde_json::json!({ "mentions": mentions }),
            None => Value::Object(f),
        },
        Some(other) => other,
        None => Value::Null,
    };
    let commitment = match list.next() {
        Some(Value::Object(config)) => match config.get("commitment") {
            None => "finalized".to_string(),
            Some(Value::String(c))
                if ["processed", "confirmed", "finalized"].contains(&c.as_str()) =>
            {
                c.clone()
            }
            Some(other) => {
                return Err(SubscribeError::new(
                    -32602,
                    &format!("Invalid params: unknown commitment {other}"),
                ));
            }
        },
        _ => "finalized".to_string(),
    };
    Ok(serde_json::json!([filter, { "commitment": commitment }]).to_string())
}
