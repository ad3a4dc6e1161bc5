//! [`WsUpstream`]: a scripted Solana PubSub server for tests — it accepts subscriptions as
//! a node does (ids per connection, from 0) and sends the notifications the test tells it
//! to, on every connection that holds a matching subscription. The test can also refuse
//! subscriptions, drop every connection (a provider restarting) or stop answering
//! (a stalled provider).

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone)]
enum Event {
    /// Send `result` as `<kind>Notification` to every subscription made with `method`.
    Notify { method: String, result: String },
    /// Close every connection.
    Drop,
    /// Send the subscribe answers held so far.
    Release,
}

#[derive(Debug, Default)]
struct State {
    /// (connection, subscription id, method, params) of every subscription open now.
    open: Vec<(u64, u64, String, Value)>,
    accepted: usize,
    refuse: Option<String>,
    stalled: bool,
    /// Subscribe answers are held until [`WsUpstream::release`].
    hold: bool,
    /// Every subscription of one method on a connection gets the same id, as agave gives
    /// one id to requests that mean the same once defaults are filled in.
    same_id_per_method: bool,
    next_conn: u64,
}

/// A scripted PubSub server on `127.0.0.1:0` (module doc). Stops when dropped.
#[derive(Debug)]
pub struct WsUpstream {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<Event>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WsUpstream {
    fn drop(&mut self) {
        let _ = self.events.send(Event::Drop);
        self.task.abort();
    }
}

impl WsUpstream {
    /// Starts the server.
    pub async fn start() -> WsUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State::default()));
        let (events, _) = broadcast::channel(1024);
        let (st, ev) = (state.clone(), events.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (st, rx) = (st.clone(), ev.subscribe());
                tokio::spawn(async move {
                    if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                        serve(ws, st, rx).await;
                    }
                });
            }
        });
        WsUpstream {
            addr,
            state,
            events,
            task,
        }
    }

    /// The endpoint's HTTP URL (its PubSub URL is the same with `ws`).
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Subscriptions open now, as `(method, params)`.
    pub fn subscriptions(&self) -> Vec<(String, Value)> {
        let s = self.state.lock();
        s.open
            .iter()
            .map(|(_, _, m, p)| (m.clone(), p.clone()))
            .collect()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.lock().accepted
    }

    /// Sends `result` as a notification on every subscription made with `method`
    /// (`logsSubscribe` → `logsNotification`).
    pub fn notify(&self, method: &str, result: &str) {
        let _ = self.events.send(Event::Notify {
            method: method.to_string(),
            result: result.to_string(),
        });
    }

    /// Answers every later subscribe with this JSON-RPC `error` object (`None`: accept).
    pub fn refuse(&self, error: Option<&str>) {
        self.state.lock().refuse = error.map(str::to_string);
    }

    /// Holds every later subscribe answer until [`WsUpstream::release`].
    pub fn hold_confirmations(&self) {
        self.state.lock().hold = true;
    }

    /// Sends the held subscribe answers and stops holding.
    pub fn release(&self) {
        self.state.lock().hold = false;
        let _ = self.events.send(Event::Release);
    }

    /// Gives every subscription of one method on a connection the same id (agave's
    /// behaviour for requests equal once defaults are filled in).
    pub fn same_id_per_method(&self) {
        self.state.lock().same_id_per_method = true;
    }

    /// Closes every connection (clients reconnect).
    pub fn drop_connections(&self) {
        let _ = self.events.send(Event::Drop);
    }

    /// Stops reading and answering on every connection (no pongs, no notifications).
    pub fn stall(&self, stalled: bool) {
        self.state.lock().stalled = stalled;
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn serve(mut ws: Ws, state: Arc<Mutex<State>>, mut events: broadcast::Receiver<Event>) {
    let conn = {
        let mut s = state.lock();
        s.accepted += 1;
        s.next_conn += 1;
        s.next_conn
    };
    // This connection's subscriptions: (id, method, params).
    let mut subs: Vec<(u64, String, Value)> = Vec::new();
    let mut next_id = 0u64;
    let mut held: Vec<String> = Vec::new();
    loop {
        if state.lock().stalled {
            // A stalled node: nothing read, nothing sent, until it recovers or is dropped.
            match events.recv().await {
                Ok(Event::Drop) | Err(broadcast::error::RecvError::Closed) => break,
                _ => continue,
            }
        }
        tokio::select! {
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(_)) => continue,
                    _ => break,
                };
                let Ok(req) = serde_json::from_str::<Value>(&text) else { continue };
                let id = req["id"].clone();
                let method = req["method"].as_str().unwrap_or("").to_string();
                let answer = if method.ends_with("Unsubscribe") {
                    let target = req["params"][0].as_u64();
                    if !subs.iter().any(|(s, _, _)| Some(*s) == target) {
                        let e = serde_json::json!({"code": -32602, "message": "Invalid subscription id."});
                        let answer = serde_json::json!({"jsonrpc": "2.0", "error": e, "id": id});
                        if ws.send(Message::text(answer.to_string())).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    subs.retain(|(s, _, _)| Some(*s) != target);
                    state
                        .lock()
                        .open
                        .retain(|(c, s, _, _)| !(*c == conn && Some(*s) == target));
                    serde_json::json!({"jsonrpc": "2.0", "result": true, "id": id})
                } else if let Some(err) = state.lock().refuse.clone() {
                    let err: Value = serde_json::from_str(&err).unwrap_or(Value::Null);
                    serde_json::json!({"jsonrpc": "2.0", "error": err, "id": id})
                } else {
                    let same = state.lock().same_id_per_method;
                    let sub = match subs.iter().find(|(_, m, _)| same && *m == method) {
                        Some((s, _, _)) => *s,
                        None => {
                            next_id += 1;
                            next_id - 1
                        }
                    };
                    let params = req["params"].clone();
                    subs.push((sub, method.clone(), params.clone()));
                    state.lock().open.push((conn, sub, method.clone(), params));
                    serde_json::json!({"jsonrpc": "2.0", "result": sub, "id": id})
                };
                if state.lock().hold && !method.ends_with("Unsubscribe") {
                    held.push(answer.to_string());
                    continue;
                }
                if ws.send(Message::text(answer.to_string())).await.is_err() {
                    break;
                }
            }
            event = events.recv() => match event {
                Ok(Event::Notify { method, result }) => {
                    let kind = method.trim_end_matches("Subscribe");
                    let mut sent: Vec<u64> = Vec::new();
                    for (sub, m, _) in &subs {
                        if *m == method && !sent.contains(sub) {
                            sent.push(*sub);
                            let frame = format!(
                                r#"{{"jsonrpc":"2.0","method":"{kind}Notification","params":{{"result":{result},"subscription":{sub}}}}}"#
                            );
                            if ws.send(Message::text(frame)).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                Ok(Event::Release) => {
                    for answer in std::mem::take(&mut held) {
                        if ws.send(Message::text(answer)).await.is_err() {
                            break;
                        }
                    }
                }
                Ok(Event::Drop) | Err(broadcast::error::RecvError::Closed) => break,
                Err(broadcast::error::RecvError::Lagged(_)) => {}
            },
        }
    }
    let _ = ws.close(None).await;
    state.lock().open.retain(|(c, _, _, _)| *c != conn);
}
