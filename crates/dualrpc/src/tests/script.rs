//! Scripted upstreams in memory: each answers what the test says, after the delay the test
//! says, on tokio's clock (so under paused time a 30 ms answer arrives at exactly 30 ms).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::Value;

use crate::outcome::FailureKind;
use crate::pool::Pool;
use crate::settings::Settings;

/// What an upstream does with a request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// `{"result": <json>}` under the request's id.
    Result(String),
    /// `{"error": {"code": c, "message": m}}`.
    Error(i64, &'static str),
    /// A transport-level failure of this kind.
    Fail(FailureKind),
    /// Never answers.
    #[allow(dead_code)]
    Hang,
    /// Panics (a bug inside an attempt).
    Panic,
}

/// One scripted answer after a delay.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    after: Duration,
    reply: Reply,
}

impl Step {
    /// Answers after `ms` milliseconds.
    pub(crate) fn after(mut self, ms: u64) -> Step {
        self.after = Duration::from_millis(ms);
        self
    }
}

/// A result.
pub(crate) fn ok(json: &str) -> Step {
    Step {
        after: Duration::ZERO,
        reply: Reply::Result(json.to_string()),
    }
}

/// A JSON-RPC error.
pub(crate) fn err(code: i64, message: &'static str) -> Step {
    Step {
        after: Duration::ZERO,
        reply: Reply::Error(code, message),
    }
}

/// A failure of `kind`.
pub(crate) fn fail(kind: FailureKind) -> Step {
    Step {
        after: Duration::ZERO,
        reply: Reply::Fail(kind),
    }
}

/// A panic inside the attempt, after the delay.
pub(crate) fn panics() -> Step {
    Step {
        after: Duration::ZERO,
        reply: Reply::Panic,
    }
}

/// No answer, ever.
#[allow(dead_code)]
pub(crate) fn hang() -> Step {
    Step {
        after: Duration::ZERO,
        reply: Reply::Hang,
    }
}

#[derive(Debug, Default)]
struct Inner {
    queued: HashMap<String, VecDeque<Step>>,
    standing: HashMap<String, Step>,
    counts: HashMap<String, usize>,
}

/// One scripted upstream.
#[derive(Debug, Default)]
pub(crate) struct Script {
    inner: Mutex<Inner>,
}

impl Script {
    /// An upstream answering `getSlot` with 1000 and anything else "method not found".
    pub(crate) fn new() -> Arc<Script> {
        let s = Script::default();
        s.set("getSlot", ok("1000"));
        Arc::new(s)
    }

    /// The standing answer for `method` (`*`: any method without its own).
    pub(crate) fn set(&self, method: &str, step: Step) {
        self.inner.lock().standing.insert(method.into(), step);
    }

    /// A one-shot answer for `method`, used before the standing one.
    #[allow(dead_code)]
    pub(crate) fn push(&self, method: &str, step: Step) {
        self.inner
            .lock()
            .queued
            .entry(method.into())
            .or_default()
            .push_back(step);
    }

    /// Requests seen for `method`.
    pub(crate) fn count(&self, method: &str) -> usize {
        self.inner.lock().counts.get(method).copied().unwrap_or(0)
    }

    /// Answers one request.
    pub(crate) async fn answer(&self, body: &Bytes) -> Result<Bytes, FailureKind> {
        let request: Value = serde_json::from_slice(body).map_err(|_| FailureKind::Internal)?;
        let method = request["method"].as_str().unwrap_or("").to_string();
        let id = request["id"].to_string();
        let step = {
            let mut inner = self.inner.lock();
            *inner.counts.entry(method.clone()).or_default() += 1;
            match inner.queued.get_mut(&method).and_then(VecDeque::pop_front) {
                Some(step) => step,
                None => inner
                    .standing
                    .get(&method)
                    .or_else(|| inner.standing.get("*"))
                    .cloned()
                    .unwrap_or_else(|| err(-32601, "Method not found")),
            }
        };
        tokio::time::sleep(step.after).await;
        let text = match step.reply {
            Reply::Result(r) => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{r}}}"#),
            Reply::Error(code, message) => format!(
                r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":"{message}"}}}}"#
            ),
            Reply::Fail(kind) => return Err(kind),
            Reply::Hang => std::future::pending().await,
            Reply::Panic => panic!("scripted panic inside an attempt"),
        };
        Ok(Bytes::from(text))
    }
}

/// Endpoint names, in order.
pub(crate) const NAMES: [&str; 4] = ["a", "b", "c", "d"];

/// `n` scripted upstreams.
pub(crate) fn scripts(n: usize) -> Vec<Arc<Script>> {
    (0..n).map(|_| Script::new()).collect()
}

/// A pool over `scripts` (endpoints `a`, `b`, … with `extra[i]` lines each), the health
/// loop off, and `rest` appended to the config.
pub(crate) fn pool_with(scripts: &[Arc<Script>], extra: &[&str], rest: &str) -> Pool {
    Pool::scripted(settings_with(scripts.len(), extra, rest), scripts)
}

/// The settings [`pool_with`] builds its pool on, for `n` endpoints.
pub(crate) fn settings_with(n: usize, extra: &[&str], rest: &str) -> Settings {
    let mut toml = String::new();
    for (i, name) in NAMES.iter().enumerate().take(n) {
        toml.push_str(&format!(
            "[[endpoint]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:9/\"\n{}\n",
            extra.get(i).copied().unwrap_or("")
        ));
    }
    if !rest.contains("[health]") {
        toml.push_str("[health]\ninterval_ms = 0\n");
    }
    toml.push_str(rest);
    let config = crate::Config::from_toml(&toml, |_| None).unwrap_or_else(|e| panic!("{e}"));
    Settings::from_config(&config).unwrap_or_else(|e| panic!("{e}"))
}

/// A pool over `scripts` with `rest` appended to the config.
pub(crate) fn pool(scripts: &[Arc<Script>], rest: &str) -> Pool {
    pool_with(scripts, &[], rest)
}

/// A `getAccountInfo` result at `slot` with `value`.
pub(crate) fn account(slot: u64, value: &str) -> String {
    format!(r#"{{"context":{{"slot":{slot}}},"value":{value}}}"#)
}

/// A `getTransaction` result.
pub(crate) const TX: &str =
    r#"{"slot":7,"blockTime":1,"meta":{"err":null,"fee":5000},"transaction":{"signatures":["s"]}}"#;

/// Lets every task that can run, run (spawned attempts included), without moving time.
pub(crate) async fn settle_tasks() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

/// A `getSignaturesForAddress` result: `(signature, slot)` entries, newest first.
pub(crate) fn sig_list(entries: &[(&str, u64)]) -> String {
    let v: Vec<serde_json::Value> = entries
        .iter()
        .map(|(s, slot)| serde_json::json!({"signature": s, "slot": slot, "err": null}))
        .collect();
    serde_json::to_string(&v).unwrap()
}
