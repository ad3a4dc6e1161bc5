//! Solana PubSub for clients: the WebSocket side of the gateway.
//!
//! A `GET` with `Upgrade: websocket` (on `listen`, or on `ws_listen`, where web3.js looks
//! by default) is checked for the API key like any request, upgraded, and served by one
//! [`session`] per connection: `…Subscribe` requests go to the pool's
//! [`Hub`](dualrpc::pubsub::Hub) (which shares and deduplicates them across clients and
//! upstreams), notifications come back through the connection's bounded queue and go out
//! under the client's own subscription ids — per connection, from 0, as a node numbers
//! them. Anything else gets the JSON-RPC error a node gives (`-32700` for a frame that is
//! not JSON, `-32601` for an unknown method, `-32602` for bad params).
//!
//! Limits: `max_per_connection` subscriptions per connection and `max_total` in all
//! (`-32085`); a client whose queue fills up is closed with 1008 (policy) so nobody else
//! waits for it; when no upstream can carry one of its subscriptions it is closed with
//! 1011; it is pinged every `ping_interval` and closed if silent for three of them.

use std::collections::HashMap;

use dualrpc::Pool;
use dualrpc::pubsub::{Client, CloseReason, Delivery, Handle, Kind, SubscribeError};
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, handshake::derive_accept_key};

use crate::response::Chunks;

/// Largest frame a client may send (a subscribe request is a few hundred bytes).
const MAX_CLIENT_FRAME: usize = 64 * 1024;
/// Read buffer of a client connection.
const CLIENT_READ_BUFFER: usize = 4 * 1024;
/// JSON-RPC error code of a subscription limit.
const CODE_LIMIT: i64 = -32085;

/// Whether `request` asks for a WebSocket upgrade.
pub(crate) fn is_upgrade<B>(request: &Request<B>) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        request.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    request.method() == Method::GET
        && has(header::CONNECTION, "upgrade")
        && has(header::UPGRADE, "websocket")
}

/// Answers an upgrade request: 101 and a session on the upgraded connection, or an error.
pub(crate) fn upgrade(
    pool: Pool,
    api_keys: &[String],
    request: Request<Incoming>,
) -> Response<Chunks> {
    if !crate::auth::authorized(api_keys, &(request.headers(), request.uri())) {
        return crate::rpc::unauthorized().into_http();
    }
    let Some(key) = request.headers().get(header::SEC_WEBSOCKET_KEY) else {
        return plain(StatusCode::BAD_REQUEST);
    };
    let accept = derive_accept_key(key.as_bytes());
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(request).await else {
            return;
        };
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(MAX_CLIENT_FRAME);
        config.max_frame_size = Some(MAX_CLIENT_FRAME);
        // Clients send a few hundred bytes at a time; tungstenite's default read buffer
        // (128 KiB, allocated up front) would cost 125 MiB per 1,000 connections. It grows
        // when a frame needs more.
        config.read_buffer_size = CLIENT_READ_BUFFER;
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        session(ws, pool).await;
    });
    let mut response = Response::new(Chunks::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h: &mut HeaderMap = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    response
}

fn plain(status: StatusCode) -> Response<Chunks> {
    let mut r = Response::new(Chunks::default());
    *r.status_mut() = status;
    r
}

#[derive(Deserialize)]
struct Call<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(default)]
    method: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

/// `{"jsonrpc":"2.0","result":R,"id":ID}`.
fn result(id: &str, result: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","result":{result},"id":{id}}}"#)
}

/// `{"jsonrpc":"2.0","error":E,"id":ID}`.
fn error(id: &str, code: i64, message: &str) -> String {
    let e = dualrpc::jsonrpc::error_object(code, message, None);
    format!(r#"{{"jsonrpc":"2.0","error":{},"id":{id}}}"#, e.get())
}

/// A notification frame.
fn notification(d: &Delivery) -> String {
    let result = std::str::from_utf8(&d.result).unwrap_or("null");
    format!(
        r#"{{"jsonrpc":"2.0","method":"{}","params":{{"result":{result},"subscription":{}}}}}"#,
        d.kind.notification(),
        d.subscription
    )
}

type Pending = std::pin::Pin<
    Box<dyn Future<Output = (String, u64, Kind, Result<Handle, SubscribeError>)> + Send>,
>;

/// One client connection's life (module doc).
async fn session<S>(ws: WebSocketStream<S>, pool: Pool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let hub = pool.subscriptions().clone();
    let settings = hub.settings().clone();
    let (client, mut deliveries) = Client::new(settings.client_buffer);
    let (mut out, mut frames) = ws.split();
    let mut subs: HashMap<u64, (Kind, Handle)> = HashMap::new();
    let mut pending: FuturesUnordered<Pending> = FuturesUnordered::new();
    let mut next_id = 0u64;
    let mut ping = tokio::time::interval(settings.ping_interval);
    ping.tick().await;
    let mut silent_pings = 0u32;
    metrics::gauge!("dualrpc_subscription_clients").increment(1.0);
    let close = |code: CloseCode, reason: &'static str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    };
    loop {
        // Biased: a subscription's confirmation is handled before its first notification,
        // which the hub may queue right after confirming it.
        let reply = tokio::select! {
            biased;
            Some((id, sub, kind, r)) = pending.next(), if !pending.is_empty() => match r {
                Ok(handle) => {
                    subs.insert(sub, (kind, handle));
                    Some(result(&id, &sub.to_string()))
                }
                Err(e) => Some(format!(r#"{{"jsonrpc":"2.0","error":{},"id":{id}}}"#, e.error)),
            },
            frame = frames.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        silent_pings = 0;
                        let _ = out.send(Message::text(error("null", -32700, "Parse error"))).await;
                        continue;
                    }
                    Some(Ok(_)) => {
                        silent_pings = 0;
                        continue;
                    }
                    Some(Err(_)) | None => break,
                };
                silent_pings = 0;
                let Ok(call) = serde_json::from_str::<Call<'_>>(text.as_str()) else {
                    let _ = out.send(Message::text(error("null", -32700, "Parse error"))).await;
                    continue;
                };
                let id = call.id.map_or("null", RawValue::get).to_string();
                let method = call.method.as_deref().unwrap_or("");
                if let Some(kind) = Kind::of_subscribe(method) {
                    if subs.len() + pending.len() >= settings.max_per_connection {
                        Some(error(&id, CODE_LIMIT, "subscription limit of this connection reached"))
                    } else {
                        let sub = next_id;
                        next_id += 1;
                        let (hub, client) = (hub.clone(), client.clone());
                        let params = call.params.map(|p| p.to_owned());
                        pending.push(Box::pin(async move {
                            let r = hub.subscribe(&client, sub, kind, params.as_deref()).await;
                            (id, sub, kind, r)
                        }));
                        None
                    }
                } else if let Some(kind) = Kind::of_unsubscribe(method) {
                    let target = call
                        .params
                        .and_then(|p| serde_json::from_str::<(u64,)>(p.get()).ok())
                        .map(|(s,)| s);
                    match target {
                        Some(s) if subs.get(&s).is_some_and(|(k, _)| *k == kind) => {
                            subs.remove(&s);
                            Some(result(&id, "true"))
                        }
                        _ => Some(error(&id, -32602, "Invalid subscription id.")),
                    }
                } else {
                    Some(error(&id, -32601, "Method not found"))
                }
            }
            Some(d) = deliveries.recv() => {
                // A delivery for a subscription the client dropped meanwhile is not sent.
                if !subs.contains_key(&d.subscription) {
                    continue;
                }
                if d.last {
                    subs.remove(&d.subscription);
                }
                Some(notification(&d))
            }
            reason = client.closed() => {
                let frame = match reason {
                    CloseReason::TooSlow => close(CloseCode::Policy, "too slow: notifications not read"),
                    CloseReason::NoUpstream => close(CloseCode::Error, "no upstream can carry a subscription"),
                };
                let _ = out.send(frame).await;
                break;
            }
            _ = ping.tick() => {
                silent_pings += 1;
                if silent_pings > 3 {
                    let _ = out.send(close(CloseCode::Away, "no pong")).await;
                    break;
                }
                Some(String::new())
            }
        };
        let message = match reply {
            None => continue,
            Some(text) if text.is_empty() => Message::Ping(Default::default()),
            Some(text) => Message::text(text),
        };
        // A client that does not take a frame within the stall timeout is gone for us.
        match tokio::time::timeout(settings.stall_timeout, out.send(message)).await {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
    metrics::gauge!("dualrpc_subscription_clients").decrement(1.0);
    drop(subs);
}
