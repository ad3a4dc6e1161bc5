//! Helpers of the PubSub tests: a WebSocket client that tells answers from notifications,
//! order-preserving JSON for comparing frames with the agave capture, clusters on a manual
//! clock, and a one-shot HTTP JSON-RPC call. Shared by `tests/pubsub.rs`,
//! `tests/pubsub_faults.rs` and `tests/send.rs`, each of which uses only part of it.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use dualrpc_sim::{
    Chain, ChainConfig, ChainTime, ClockMode, Cluster, ClusterOptions, EndpointSpec, Profile,
    SignatureInfo, SimEndpoint,
};
use futures_util::{SinkExt, StreamExt};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// Upper bound on any wait for a frame that must come (never reached when things work).
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The agave 4.2.2 capture.
pub(crate) const FIXTURE: &str = include_str!("../../fixtures/agave_pubsub_session.json");

/// Frame `index` captured under `key` (`response_id_7`, `logsNotification`, …).
pub(crate) fn fixture_frame(key: &str, index: usize) -> Json {
    let all: Json = serde_json::from_str(FIXTURE).unwrap();
    let frames = all.get("frames").and_then(|f| f.get(key)).expect(key);
    match frames {
        Json::Arr(items) => items[index].clone(),
        _ => panic!("{key}: not a list"),
    }
}

/// A cluster on a manual clock with a fixed genesis time.
pub(crate) async fn manual_cluster(endpoints: Vec<EndpointSpec>, seed: u64) -> Cluster {
    let profile = Profile {
        name: "pubsub".into(),
        description: "pubsub test".into(),
        endpoints,
        chain: ChainConfig {
            genesis_unix_ms: Some(1_760_000_000_000),
            ..ChainConfig::default()
        },
        slowdown: None,
    };
    let opts = ClusterOptions {
        seed,
        clock: ClockMode::Manual,
        ..ClusterOptions::default()
    };
    Cluster::start(&profile, opts).await.unwrap()
}

/// Advances whole slots until the tip slot holds a transaction; returns the newest one
/// (created exactly now).
pub(crate) fn launch_in_tip_slot(chain: &Chain) -> SignatureInfo {
    for _ in 0..100 {
        chain.advance(1);
        let newest = chain.signatures(chain.slot(), 1).remove(0);
        if newest.slot == chain.slot() {
            return newest;
        }
    }
    panic!("no transaction in 100 slots");
}

/// One JSON-RPC call over HTTP; returns `result`.
pub(crate) async fn rpc(addr: SocketAddr, method: &str, params: Value) -> Value {
    let reply = rpc_reply(addr, method, params).await;
    assert!(reply.get("error").is_none(), "{method}: {reply}");
    reply["result"].clone()
}

/// One JSON-RPC call over HTTP; returns the whole reply (`result` or `error`).
pub(crate) async fn rpc_reply(addr: SocketAddr, method: &str, params: Value) -> Value {
    serde_json::from_str(&rpc_text(addr, method, params).await).unwrap()
}

/// One JSON-RPC call over HTTP; returns the reply's text, as the endpoint wrote it.
pub(crate) async fn rpc_text(addr: SocketAddr, method: &str, params: Value) -> String {
    let body = json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}).to_string();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (_, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    body.to_owned()
}

/// Moves a manual clock to `at`.
pub(crate) fn advance_to(chain: &Chain, at: ChainTime) {
    let by = at
        .checked_duration_since(chain.now())
        .expect("a later instant");
    chain.advance_time(by);
}

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// A PubSub client: answers are returned to the caller, notifications are kept in order.
pub(crate) struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    notifications: VecDeque<String>,
}

impl Client {
    pub(crate) async fn connect(endpoint: &SimEndpoint) -> Client {
        let (ws, response) = tokio::time::timeout(WAIT, connect_async(endpoint.ws_url()))
            .await
            .expect("connect in time")
            .expect("WebSocket handshake");
        assert_eq!(response.status(), 101);
        Client {
            ws,
            next_id: 1000,
            notifications: VecDeque::new(),
        }
    }

    /// The next frame, or `None` once the connection is closed (or broken).
    pub(crate) async fn frame(&mut self) -> Option<String> {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame or the end of the connection in time");
            match message {
                Some(Ok(Message::Text(text))) => return Some(text.as_str().to_owned()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Sends a raw text frame and returns the first frame that is not a notification.
    pub(crate) async fn send_raw(&mut self, text: &str) -> String {
        self.ws.send(Message::text(text.to_owned())).await.unwrap();
        loop {
            let frame = self
                .frame()
                .await
                .expect("an answer before the connection ends");
            if serde_json::from_str::<Value>(&frame)
                .ok()
                .and_then(|v| v.get("method").cloned())
                .is_some()
            {
                self.notifications.push_back(frame);
            } else {
                return frame;
            }
        }
    }

    /// Calls `method`; returns the answer frame, parsed.
    pub(crate) async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let request = json!({"jsonrpc":"2.0","id":self.next_id,"method":method,"params":params});
        let answer: Value =
            serde_json::from_str(&self.send_raw(&request.to_string()).await).unwrap();
        assert_eq!(answer["id"], self.next_id, "{answer}");
        answer
    }

    /// Subscribes; returns the subscription id.
    pub(crate) async fn subscribe(&mut self, method: &str, params: Value) -> u64 {
        let answer = self.call(method, params).await;
        answer["result"]
            .as_u64()
            .unwrap_or_else(|| panic!("{method}: {answer}"))
    }

    /// Round-trips a request: the endpoint sends every notification due by then before its
    /// answer, so afterwards `take` holds all of them.
    pub(crate) async fn barrier(&mut self) {
        let answer = self.call("getVersion", json!([])).await;
        assert!(answer["result"]["solana-core"].is_string(), "{answer}");
    }

    /// The notifications received so far (raw frames), oldest first.
    pub(crate) fn take_raw(&mut self) -> Vec<String> {
        self.notifications.drain(..).collect()
    }

    /// The notifications received so far, parsed.
    pub(crate) fn take(&mut self) -> Vec<Value> {
        self.take_raw()
            .iter()
            .map(|f| serde_json::from_str(f).unwrap())
            .collect()
    }

    /// Barrier, then the notifications received.
    pub(crate) async fn drain(&mut self) -> Vec<Value> {
        self.barrier().await;
        self.take()
    }
}

/// The notifications of `method` for subscription `id` in `frames`: their `result`s.
pub(crate) fn results(frames: &[Value], method: &str, id: u64) -> Vec<Value> {
    frames
        .iter()
        .filter(|f| f["method"] == method && f["params"]["subscription"] == id)
        .map(|f| f["params"]["result"].clone())
        .collect()
}

/// JSON with the key order of the text it was read from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Obj(Vec<(String, Json)>),
    Arr(Vec<Json>),
    Leaf(Value),
}

impl Json {
    pub(crate) fn parse(text: &str) -> Json {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The keys of every object, in order, with the JSON type of every leaf (arrays: their
    /// first element): what two frames of the same kind share.
    pub(crate) fn skeleton(&self) -> String {
        match self {
            Json::Obj(entries) => {
                let inner: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{k}:{}", v.skeleton()))
                    .collect();
                format!("{{{}}}", inner.join(","))
            }
            Json::Arr(items) => {
                format!("[{}]", items.first().map_or(String::new(), Json::skeleton))
            }
            Json::Leaf(Value::Null) => "null".into(),
            Json::Leaf(Value::Bool(_)) => "bool".into(),
            Json::Leaf(Value::Number(_)) => "number".into(),
            Json::Leaf(Value::String(_)) => "string".into(),
            Json::Leaf(other) => other.to_string(),
        }
    }
}

/// Compact JSON in the original key order.
impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Obj(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    let sep = if i > 0 { "," } else { "" };
                    write!(f, "{sep}{}:{v}", Value::String(k.clone()))?;
                }
                f.write_str("}")
            }
            Json::Arr(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    let sep = if i > 0 { "," } else { "" };
                    write!(f, "{sep}{v}")?;
                }
                f.write_str("]")
            }
            Json::Leaf(v) => write!(f, "{v}"),
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, Json>()? {
            entries.push(entry);
        }
        Ok(Json::Obj(entries))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Json>()? {
            items.push(item);
        }
        Ok(Json::Arr(items))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Leaf(v.into()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Leaf(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Leaf(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Leaf(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Leaf(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Leaf(Value::Null))
    }
}
