//! One endpoint's PubSub connection: a task that keeps one WebSocket open to the
//! endpoint's `ws_url`, carries every subscription the hub opened on it, and reports
//! confirmations, refusals and notifications back to the hub.
//!
//! It connects on the first subscription; on a disconnect, an error or a stall (no frame
//! and no pong for `stall_timeout`) it reconnects — at once after a connection that served
//! for `reconnect_max` or longer, otherwise after a backoff — and opens every subscription
//! again. A subscription the node refused is asked for again on the next connection and,
//! on this one, after a backoff of its own (`retry`). An endpoint the health loop finds on
//! another cluster is disconnected (at the next ping tick) and not connected to again
//! while it is one: its subscriptions lose that carrier, as on any disconnect. The URL is
//! secret: nothing here prints it.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::{HubInner, Kind, retry};
use crate::clock;

/// What the hub asks of an upstream connection.
#[derive(Debug)]
pub(super) enum Command {
    /// Open `shared` here (and again after every reconnect).
    Subscribe {
        shared: u64,
        kind: Kind,
        params: Arc<str>,
    },
    /// Close it here.
    Unsubscribe { shared: u64 },
    /// The node ended it by itself (a signature subscription): forget it.
    Forget { shared: u64 },
}

/// The hub's handle on one endpoint's connection task.
#[derive(Debug)]
pub(super) struct UpstreamHandle {
    pub(super) index: usize,
    tx: mpsc::UnboundedSender<Command>,
}

impl UpstreamHandle {
    /// Starts endpoint `index`'s task (it connects on the first command).
    pub(super) fn new(
        index: usize,
        name: Arc<str>,
        url: http::Uri,
        hub: Weak<HubInner>,
    ) -> UpstreamHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(index, name, url, hub, rx));
        UpstreamHandle { index, tx }
    }

    pub(super) fn send(&self, command: Command) {
        let _ = self.tx.send(command);
    }
}

/// What one endpoint's connection carries.
#[derive(Debug, Default)]
struct State {
    open: HashMap<u64, Open>,
    /// The node's subscription id → our shared subscriptions it carries. A node gives the
    /// same id to requests that mean the same (agave fills in defaults: `["X"]` and
    /// `["X", {"commitment": "finalized"}]` are one subscription there), so one id may
    /// carry several of ours; it is unsubscribed when the last of them goes.
    by_upstream: HashMap<u64, Vec<u64>>,
    /// Ours closed before the node confirmed them (and their kind): unsubscribed as soon
    /// as it does.
    closing: HashMap<u64, Kind>,
}

#[derive(Debug)]
struct Open {
    kind: Kind,
    params: Arc<str>,
    /// The node's subscription id, once confirmed on the current connection.
    upstream_id: Option<u64>,
    /// The node refused it (and it is not asked again yet).
    refused: bool,
    /// Its refusals in a row (reset by a confirmation): the next re-ask waits longer.
    refusals: u32,
    /// When to ask the node again (`retry`); `None` while refused: on the next connection.
    ask_again_at: Option<clock::Instant>,
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<Notification<'a>>,
}

#[derive(Deserialize)]
struct Notification<'a> {
    #[serde(borrow)]
    result: &'a RawValue,
    subscription: u64,
}

async fn run(
    index: usize,
    name: Arc<str>,
    url: http::Uri,
    hub: Weak<HubInner>,
    mut rx: mpsc::UnboundedReceiver<Command>,
) {
    let mut state = State::default();
    // The backoff step after the last connection, and the wait before the next one.
    let mut backoff = None::<Duration>;
    let mut wait = Duration::ZERO;
    loop {
        // Idle until there is something to carry.
        while state.open.is_empty() {
            match rx.recv().await {
                Some(command) => apply(&mut state, command, None).await,
                None => return,
            }
        }
        let Some(settings) = hub.upgrade().map(|h| h.settings.clone()) else {
            return;
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        // An endpoint on another cluster is not connected to while it is one; what the
        // hub asks meanwhile is kept for when it is ours again.
        loop {
            match hub.upgrade() {
                None => return,
                Some(h) if !h.foreign(index) => break,
                Some(_) => {}
            }
            tokio::select! {
                command = rx.recv() => match command {
                    Some(command) => apply(&mut state, command, None).await,
                    None => return,
                },
                () = tokio::time::sleep(settings.ping_interval) => {}
            }
        }
        if state.open.is_empty() {
            continue;
        }
        let outcome = connection(index, &url, &hub, &mut rx, &mut state, &settings).await;
        // A new connection has new ids; what was closing went with the old one.
        for o in state.open.values_mut() {
            o.upstream_id = None;
        }
        state.by_upstream.clear();
        state.closing.clear();
        let Some(h) = hub.upgrade() else { return };
        h.carrier_lost(index);
        let Ok(opened) = outcome else {
            return; // the hub is gone
        };
        if h.foreign(index) {
            wait = Duration::ZERO;
            tracing::warn!(
                endpoint = %name,
                "endpoint on another cluster: its upstream subscriptions are closed"
            );
            continue;
        }
        crate::telemetry::ws_reconnect(&name);
        let served = opened.map_or(Duration::ZERO, |t| {
            clock::now().saturating_duration_since(t)
        });
        backoff = retry::next_backoff(backoff, served, &settings);
        wait = retry::wait(backoff, &settings, index as u64);
        tracing::warn!(endpoint = %name, "upstream subscriptions disconnected; reconnecting");
    }
}

/// Whether the health loop found endpoint `index` on another cluster than the pool's
/// (its notifications would be another chain's news; it carries nothing).
fn on_another_cluster(hub: &Weak<HubInner>, index: usize) -> bool {
    hub.upgrade().is_some_and(|h| h.foreign(index))
}

/// Applies a command while there is no connection (or on it, through `ws`).
async fn apply(state: &mut State, command: Command, ws: Option<&mut Ws>) {
    let (shared, forget) = match command {
        Command::Subscribe {
            shared,
            kind,
            params,
        } => {
            if let Some(ws) = ws {
                let _ = ws
                    .send(Message::text(request(shared, kind.subscribe(), &params)))
                    .await;
            }
            state.open.insert(
                shared,
                Open {
                    kind,
                    params,
                    upstream_id: None,
                    refused: false,
                    refusals: 0,
                    ask_again_at: None,
                },
            );
            return;
        }
        Command::Unsubscribe { shared } => (shared, false),
        Command::Forget { shared } => (shared, true),
    };
    let Some(o) = state.open.remove(&shared) else {
        return;
    };
    let Some(id) = o.upstream_id else {
        // Not confirmed yet: unsubscribed when it is (`on_text`) — also when another node
        // ended it (`Forget`): this one has not, and might never. A refused one is not
        // open on the node.
        if ws.is_some() && !o.refused {
            state.closing.insert(shared, o.kind);
        }
        return;
    };
    if let Some(ws) = ws
        && release(state, id, shared)
        && !forget
    {
        let body = request(0, o.kind.unsubscribe(), &format!("[{id}]"));
        let _ = ws.send(Message::text(body)).await;
    }
}

/// Takes `shared` off the node's subscription `id`; whether nothing else rides on it.
fn release(state: &mut State, id: u64, shared: u64) -> bool {
    let Some(carried) = state.by_upstream.get_mut(&id) else {
        return true;
    };
    carried.retain(|s| *s != shared);
    if carried.is_empty() {
        state.by_upstream.remove(&id);
        true
    } else {
        false
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `{"jsonrpc":"2.0","id":ID,"method":M,"params":P}`.
fn request(id: u64, method: &str, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#)
}

/// One connection's life. `Err` when the hub is gone (stop), `Ok` on a disconnect, with
/// when the connection opened (`None`: it never did).
async fn connection(
    index: usize,
    url: &http::Uri,
    hub: &Weak<HubInner>,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    state: &mut State,
    settings: &super::SubscriptionSettings,
) -> Result<Option<clock::Instant>, ()> {
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        url.clone(),
        None,
        true,
        crate::upstream::tls_config()
            .ok()
            .map(tokio_tungstenite::Connector::Rustls),
    );
    let mut ws = match tokio::time::timeout(settings.stall_timeout, connect).await {
        Ok(Ok((ws, _))) => ws,
        _ => return Ok(None),
    };
    let opened = Some(clock::now());
    // Re-open everything, refused ones too; request ids are the shared ids (unique per
    // hub; 0 is never one).
    for (shared, o) in state.open.iter_mut() {
        o.refused = false;
        o.ask_again_at = None;
        let body = request(*shared, o.kind.subscribe(), &o.params);
        if ws.feed(Message::text(body)).await.is_err() {
            return Ok(opened);
        }
    }
    if ws.flush().await.is_err() {
        return Ok(opened);
    }
    let mut ping = tokio::time::interval(settings.ping_interval);
    ping.tick().await;
    let mut last_heard = clock::now();
    loop {
        tokio::select! {
            command = rx.recv() => {
                let Some(command) = command else { return Err(()) };
                apply(state, command, Some(&mut ws)).await;
            }
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Ok(opened),
                    Some(Ok(_)) => {
                        last_heard = clock::now();
                        continue;
                    }
                };
                last_heard = clock::now();
                let Some(hub) = hub.upgrade() else { return Err(()) };
                if let Some((id, kind)) = on_text(index, &hub, state, text.as_str()) {
                    // Confirmed after its last client left: closed at once.
                    let body = request(0, kind.unsubscribe(), &format!("[{id}]"));
                    if ws.send(Message::text(body)).await.is_err() {
                        return Ok(opened);
                    }
                }
            }
            _ = ping.tick() => {
                if clock::now().saturating_duration_since(last_heard) > settings.stall_timeout
                    || on_another_cluster(hub, index)
                {
                    return Ok(opened);
                }
                if ws.send(Message::Ping(Default::default())).await.is_err() {
                    return Ok(opened);
                }
                if ask_again(state, &mut ws).await.is_err() {
                    return Ok(opened);
                }
            }
        }
    }
}

/// Sends the subscribe again for the refused subscriptions that are due (`retry`), at most
/// [`retry::MAX_REASKS_PER_TICK`] of them.
async fn ask_again(state: &mut State, ws: &mut Ws) -> Result<(), ()> {
    let now = clock::now();
    let mut sent = 0;
    for (shared, o) in state.open.iter_mut() {
        if sent == retry::MAX_REASKS_PER_TICK {
            break;
        }
        if o.refused && o.ask_again_at.is_some_and(|at| at <= now) {
            o.refused = false;
            o.ask_again_at = None;
            let body = request(*shared, o.kind.subscribe(), &o.params);
            ws.feed(Message::text(body)).await.map_err(|_| ())?;
            sent += 1;
        }
    }
    if sent > 0 {
        ws.flush().await.map_err(|_| ())?;
    }
    Ok(())
}

/// A text frame from the upstream: an answer to a (un)subscribe, or a notification.
/// Returns a node subscription to close again (confirmed after its last client left).
fn on_text(index: usize, hub: &HubInner, state: &mut State, text: &str) -> Option<(u64, Kind)> {
    let Ok(frame) = serde_json::from_str::<Frame<'_>>(text) else {
        return None;
    };
    if let Some(n) = frame.params {
        if let Some(carried) = state.by_upstream.get(&n.subscription) {
            for &shared in carried {
                if let Some(o) = state.open.get(&shared) {
                    hub.deliver(shared, index, o.kind, n.result.get());
                }
            }
        }
        return None;
    }
    let shared = frame.id.and_then(|id| id.get().parse::<u64>().ok())?;
    if let Some(kind) = state.closing.remove(&shared) {
        // Its clients left while it was being opened (unless another of ours rides on
        // the same node subscription).
        let id = frame.result.and_then(|r| r.get().parse::<u64>().ok())?;
        return (!state.by_upstream.contains_key(&id)).then_some((id, kind));
    }
    // An unsubscribe's answer (id 0), or a subscription closed meanwhile: nothing to do.
    let o = state.open.get_mut(&shared)?;
    match (frame.result, frame.error) {
        (Some(result), None) => {
            if let Ok(id) = result.get().parse::<u64>() {
                // A second answer for the same request changes nothing.
                o.refusals = 0;
                if o.upstream_id.replace(id).is_none() {
                    let carried = state.by_upstream.entry(id).or_default();
                    if !carried.contains(&shared) {
                        carried.push(shared);
                    }
                    hub.confirmed(shared, index);
                }
            }
        }
        // Kept, and asked again later: a refusal need not be for good.
        (_, Some(error)) if o.upstream_id.is_none() => {
            o.refused = true;
            o.refusals = o.refusals.saturating_add(1);
            o.ask_again_at = retry::after_refusal(error.get(), o.refusals, &hub.settings)
                .map(|wait| clock::now() + wait);
            hub.refused(shared, index, error.get());
        }
        _ => {}
    }
    None
}
