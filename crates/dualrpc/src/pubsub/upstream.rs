//! One endpoint's PubSub connection: a task that keeps one WebSocket open to the
//! endpoint's `ws_url`, carries every subscription the hub opened on it, and reports
//! confirmations, refusals and notifications back to the hub.
//!
//! It connects on the first subscription; on a disconnect, an error or a stall (no frame
//! and no pong for `stall_timeout`) it reconnects after a backoff (`reconnect_min`,
//! doubling to `reconnect_max`, reset after a connection that lasted a minute) and opens
//! every subscription again. The URL is secret: nothing here prints it.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::{HubInner, Kind};
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

#[derive(Debug)]
struct Open {
    kind: Kind,
    params: Arc<str>,
    /// The node's subscription id, once confirmed on the current connection.
    upstream_id: Option<u64>,
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
    let mut open: HashMap<u64, Open> = HashMap::new();
    let mut backoff = None::<Duration>;
    loop {
        // Idle until there is something to carry.
        while open.is_empty() {
            match rx.recv().await {
                Some(command) => apply(&mut open, command, None).await,
                None => return,
            }
        }
        let Some(settings) = hub.upgrade().map(|h| h.settings.clone()) else {
            return;
        };
        if let Some(wait) = backoff {
            tokio::time::sleep(wait).await;
        }
        let started = clock::now();
        let outcome = connection(index, &url, &hub, &mut rx, &mut open, &settings).await;
        for o in open.values_mut() {
            o.upstream_id = None;
        }
        let Some(h) = hub.upgrade() else { return };
        h.carrier_lost(index);
        crate::telemetry::ws_reconnect(&name);
        if outcome.is_err() {
            return; // the hub is gone
        }
        let lasted = clock::now().saturating_duration_since(started);
        backoff = Some(match backoff {
            _ if lasted > Duration::from_secs(60) => settings.reconnect_min,
            None => settings.reconnect_min,
            Some(b) => (b * 2).min(settings.reconnect_max),
        });
        tracing::warn!(endpoint = %name, "upstream subscriptions disconnected; reconnecting");
    }
}

/// Applies a command while there is no connection (or on it, through `ws`).
async fn apply(open: &mut HashMap<u64, Open>, command: Command, ws: Option<&mut Ws>) {
    match command {
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
            open.insert(
                shared,
                Open {
                    kind,
                    params,
                    upstream_id: None,
                },
            );
        }
        Command::Unsubscribe { shared } => {
            if let Some(o) = open.remove(&shared)
                && let (Some(ws), Some(id)) = (ws, o.upstream_id)
            {
                let body = request(0, o.kind.unsubscribe(), &format!("[{id}]"));
                let _ = ws.send(Message::text(body)).await;
            }
        }
        Command::Forget { shared } => {
            open.remove(&shared);
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `{"jsonrpc":"2.0","id":ID,"method":M,"params":P}`.
fn request(id: u64, method: &str, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#)
}

/// One connection's life. `Err` when the hub is gone (stop), `Ok` on a disconnect.
async fn connection(
    index: usize,
    url: &http::Uri,
    hub: &Weak<HubInner>,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    open: &mut HashMap<u64, Open>,
    settings: &super::SubscriptionSettings,
) -> Result<(), ()> {
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
        _ => return Ok(()),
    };
    // Re-open everything; request ids are the shared ids (unique per hub).
    for (shared, o) in open.iter() {
        let body = request(*shared, o.kind.subscribe(), &o.params);
        if ws.send(Message::text(body)).await.is_err() {
            return Ok(());
        }
    }
    let mut by_upstream: HashMap<u64, u64> = HashMap::new();
    let mut ping = tokio::time::interval(settings.ping_interval);
    ping.tick().await;
    let mut last_heard = clock::now();
    loop {
        tokio::select! {
            command = rx.recv() => {
                let Some(command) = command else { return Err(()) };
                if let Command::Unsubscribe { shared } | Command::Forget { shared } = &command
                    && let Some(id) = open.get(shared).and_then(|o| o.upstream_id)
                {
                    by_upstream.remove(&id);
                }
                apply(open, command, Some(&mut ws)).await;
            }
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Ok(()),
                    Some(Ok(_)) => {
                        last_heard = clock::now();
                        continue;
                    }
                };
                last_heard = clock::now();
                let Some(hub) = hub.upgrade() else { return Err(()) };
                on_text(index, &hub, open, &mut by_upstream, text.as_str());
            }
            _ = ping.tick() => {
                if clock::now().saturating_duration_since(last_heard) > settings.stall_timeout {
                    return Ok(());
                }
                if ws.send(Message::Ping(Default::default())).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
}

/// A text frame from the upstream: an answer to a (un)subscribe, or a notification.
fn on_text(
    index: usize,
    hub: &HubInner,
    open: &mut HashMap<u64, Open>,
    by_upstream: &mut HashMap<u64, u64>,
    text: &str,
) {
    let Ok(frame) = serde_json::from_str::<Frame<'_>>(text) else {
        return;
    };
    if let Some(n) = frame.params {
        if let Some(&shared) = by_upstream.get(&n.subscription) {
            hub.deliver(shared, index, n.result.get());
        }
        return;
    }
    let Some(shared) = frame.id.and_then(|id| id.get().parse::<u64>().ok()) else {
        return;
    };
    let Some(o) = open.get_mut(&shared) else {
        return; // an unsubscribe's answer, or a subscription closed meanwhile
    };
    match (frame.result, frame.error) {
        (Some(result), None) => {
            if let Ok(id) = result.get().parse::<u64>() {
                o.upstream_id = Some(id);
                by_upstream.insert(id, shared);
                hub.confirmed(shared, index);
            }
        }
        (_, Some(error)) => {
            open.remove(&shared);
            hub.refused(shared, index, error.get());
        }
        _ => {}
    }
}
