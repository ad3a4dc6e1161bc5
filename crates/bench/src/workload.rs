//! The meme-coin detection workload, as a bot runs it: poll the launchpad's signatures,
//! fetch each new transaction, then validate the mint it created.
//!
//! 1. every `poll_interval`: `getSignaturesForAddress(program, {limit, commitment: confirmed})`;
//! 2. for every signature not seen before: `getTransaction(sig, {jsonParsed, confirmed,
//!    maxSupportedTransactionVersion: 0})`, and read the mint at
//!    `meta.postTokenBalances[0].mint`;
//! 3. `getAccountInfo(mint, {jsonParsed, confirmed})`.
//!
//! Every request is timed from send to parsed answer and classified: **ok** (a usable
//! result), **stale** (a `null` transaction or account although the chain — the sim's ground
//! truth — has it: the answer came from a node that had not seen it yet), or **failed**
//! (transport error, HTTP error, JSON-RPC error, or the bot's own timeout). Polls are
//! issued on a fixed schedule whatever the latency (open loop), so slow answers do not
//! reduce the load and hide themselves (no coordinated omission).
//!
//! It also notes when each launch of the measured period was detected (its mint's account
//! read with a usable answer), on the chain's clock, for the `detection` module.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dualrpc_sim::{Chain, ChainTime};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::detection::{self, DetectionLog, Launch, PollSchedule};
use crate::results::MethodCounts;

/// How the bot behaves.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// How long to issue new requests (in-flight ones are then awaited).
    pub duration: Duration,
    /// Interval between signature polls.
    pub poll_interval: Duration,
    /// `limit` of each poll.
    pub signature_limit: usize,
    /// The bot's own timeout per request; slower answers count as failed.
    pub client_timeout: Duration,
    /// Most tasks (polls and transaction + account pipelines) in flight at once; beyond
    /// it new signatures are skipped and counted as failed, as a bot would shed load.
    pub max_pipelines: usize,
    /// Launches created this close to the end of the run are left out of the detection
    /// figures, so every arm had time to see them.
    pub detection_grace: Duration,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self {
            duration: Duration::from_secs(20),
            poll_interval: Duration::from_millis(50),
            signature_limit: 20,
            client_timeout: Duration::from_secs(2),
            max_pipelines: 512,
            detection_grace: Duration::from_secs(2),
        }
    }
}

/// Where the bot sends its requests.
#[derive(Debug, Clone)]
pub struct Target {
    /// JSON-RPC URL (an endpoint, the gateway, or nginx).
    pub url: String,
}

/// What one run of the workload recorded.
#[derive(Debug)]
pub struct Recorded {
    /// Latency of every completed request (µs).
    pub latency_us: Histogram<u64>,
    /// Requests sent.
    pub requests: u64,
    /// Usable answers.
    pub ok: u64,
    /// Failed requests.
    pub failed: u64,
    /// Stale (empty) answers.
    pub stale: u64,
    /// Per-method counts.
    pub by_method: Vec<(String, MethodCounts)>,
    /// Time from first to last request completion.
    pub elapsed: Duration,
    /// The polling schedule and every launch of the measured period, detected or not.
    pub detection: DetectionLog,
}

#[derive(Debug)]
struct Shared {
    client: reqwest::Client,
    url: String,
    chain: Chain,
    config: WorkloadConfig,
    hist: Mutex<Histogram<u64>>,
    methods: Mutex<BTreeMap<&'static str, MethodCounts>>,
    seen: Mutex<HashSet<String>>,
    /// When each signature's mint was validated, on the chain's clock.
    validated: Mutex<HashMap<String, ChainTime>>,
    next_id: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Stale,
    Failed,
}

/// Runs the workload against `target` for `config.duration`; `tick` is called about every
/// 100 ms with the elapsed fraction (for a progress bar).
pub async fn run(
    target: &Target,
    chain: &Chain,
    config: &WorkloadConfig,
    tick: impl Fn(f64),
) -> Recorded {
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1024)
        .build()
        .expect("a plain HTTP client builds");
    let shared = Arc::new(Shared {
        client,
        url: target.url.clone(),
        chain: chain.clone(),
        config: config.clone(),
        hist: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds")),
        methods: Mutex::new(BTreeMap::new()),
        seen: Mutex::new(HashSet::new()),
        validated: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
    });
    // Signatures that exist before the run are not "new launches": mark them seen.
    for s in chain.signatures(chain.slot(), config.signature_limit.max(1000)) {
        shared.seen.lock().insert(s.signature);
    }
    // The polls' clock. Every arm polls at the same phase of its chain's clock (see
    // `PollSchedule::aligned`); `started` is the first poll on the wall clock. (Launches
    // created from then on are new: everything up to the tip was just marked seen.)
    let (now, now_instant) = (chain.now(), Instant::now());
    let schedule = PollSchedule::aligned(now, config.poll_interval, config.duration);
    let first_poll = schedule.first;
    let started = now_instant + first_poll.saturating_duration_since(now);
    // Polls and pipelines run as tasks of one set; polls hand new signatures back here.
    let mut tasks = tokio::task::JoinSet::new();
    let (new_sigs, mut new_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    // The polls leave on time to a tenth of a millisecond (the oracle assumes the exact
    // instants); a poll missed while the runtime was busy leaves at once.
    let mut next_poll = started;
    let poll_timer = dualrpc_sim::timer::sleep_until(next_poll);
    tokio::pin!(poll_timer);
    let mut last_tick = Instant::now();
    let spawn_pipeline = |tasks: &mut tokio::task::JoinSet<()>, sig: String| {
        if tasks.len() >= config.max_pipelines {
            record(&shared, "getTransaction", Duration::ZERO, Verdict::Failed);
        } else {
            let s = shared.clone();
            tasks.spawn(async move { pipeline(&s, sig).await });
        }
    };
    loop {
        let open = started.elapsed() < config.duration;
        if !open && tasks.is_empty() {
            match new_rx.try_recv() {
                Ok(sig) => spawn_pipeline(&mut tasks, sig),
                Err(_) => break,
            }
            continue;
        }
        tokio::select! {
            _ = &mut poll_timer, if open => {
                next_poll += config.poll_interval;
                poll_timer.set(dualrpc_sim::timer::sleep_until(next_poll));
                tasks.spawn(poll(shared.clone(), new_sigs.clone()));
                if last_tick.elapsed() >= Duration::from_millis(100) {
                    tick(started.elapsed().as_secs_f64() / config.duration.as_secs_f64());
                    last_tick = Instant::now();
                }
            }
            Some(sig) = new_rx.recv() => spawn_pipeline(&mut tasks, sig),
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tick(1.0);
    let elapsed = started.elapsed();
    let detection = detection_log(&shared, schedule);
    let methods = shared.methods.lock();
    let sum = |f: fn(&MethodCounts) -> u64| methods.values().map(f).sum::<u64>();
    let requests = sum(|m| m.requests);
    let ok = sum(|m| m.ok);
    let stale = sum(|m| m.stale);
    Recorded {
        latency_us: shared.hist.lock().clone(),
        requests,
        ok,
        stale,
        failed: requests - ok - stale,
        by_method: methods
            .iter()
            .map(|(k, v)| {
                let mut v = v.clone();
                v.latencies_us.sort_unstable();
                (k.to_string(), v)
            })
            .collect(),
        elapsed,
        detection,
    }
}

/// The schedule the polls followed and every launch of the measured period (created after
/// the first poll and at least `detection_grace` before the end), with when it was validated.
fn detection_log(s: &Shared, schedule: PollSchedule) -> DetectionLog {
    let validated = s.validated.lock();
    let launches = detection::launches_between(
        &s.chain,
        schedule.first,
        schedule.end - s.config.detection_grace,
    )
    .into_iter()
    .map(|info| Launch {
        created_at: s.chain.slot_start(info.slot),
        validated_at: validated.get(&info.signature).copied(),
        signature: info.signature,
        sequence: info.sequence,
    })
    .collect();
    DetectionLog {
        schedule,
        grace: s.config.detection_grace,
        launches,
    }
}

async fn poll(s: Arc<Shared>, new_sigs: tokio::sync::mpsc::UnboundedSender<String>) {
    let params = json!([s.chain.program_id(), {"limit": s.config.signature_limit, "commitment": "confirmed"}]);
    let Some(result) = call(&s, "getSignaturesForAddress", params, |_| Verdict::Ok).await else {
        return;
    };
    let Some(items) = result.as_array() else {
        return;
    };
    let new: Vec<String> = {
        let mut seen = s.seen.lock();
        items
            .iter()
            .filter_map(|i| i.get("signature").and_then(Value::as_str))
            .filter(|sig| seen.insert(sig.to_string()))
            .map(str::to_string)
            .collect()
    };
    for sig in new {
        let _ = new_sigs.send(sig);
    }
}

async fn pipeline(s: &Shared, sig: String) {
    let params = json!([sig, {"encoding": "jsonParsed", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}]);
    let tx = call(s, "getTransaction", params, |r| {
        if r.is_null() {
            Verdict::Stale
        } else {
            Verdict::Ok
        }
    })
    .await;
    let Some(mint) = tx
        .as_ref()
        .and_then(|t| t.pointer("/meta/postTokenBalances/0/mint"))
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let params = json!([mint, {"encoding": "jsonParsed", "commitment": "confirmed"}]);
    let account = call(s, "getAccountInfo", params, |r| {
        if r.get("value").is_some_and(Value::is_null) {
            Verdict::Stale
        } else {
            Verdict::Ok
        }
    })
    .await;
    if account.is_some() {
        let at = s.chain.now();
        s.validated.lock().entry(sig).or_insert(at);
    }
}

/// Sends one request, records its latency and verdict, and returns the `result` if usable.
async fn call(
    s: &Shared,
    method: &'static str,
    params: Value,
    judge: impl Fn(&Value) -> Verdict,
) -> Option<Value> {
    let id = s.next_id.fetch_add(1, Ordering::Relaxed);
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
    let started = Instant::now();
    let response = tokio::time::timeout(s.config.client_timeout, async {
        let r = s
            .client
            .post(&s.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.bytes().await.ok()
    })
    .await
    .ok()
    .flatten();
    let latency = started.elapsed();
    let parsed: Option<Value> = response.and_then(|b| serde_json::from_slice(&b).ok());
    let (verdict, result) = match parsed {
        Some(mut v) if v.get("id") == Some(&json!(id)) && v.get("error").is_none() => {
            match v.get_mut("result") {
                Some(r) => {
                    let r = r.take();
                    let verdict = judge(&r);
                    (verdict, (verdict == Verdict::Ok).then_some(r))
                }
                None => (Verdict::Failed, None),
            }
        }
        _ => (Verdict::Failed, None),
    };
    record(s, method, latency, verdict);
    result
}

fn record(s: &Shared, method: &'static str, latency: Duration, verdict: Verdict) {
    if !latency.is_zero() {
        let _ = s.hist.lock().record((latency.as_micros() as u64).max(1));
    }
    let mut methods = s.methods.lock();
    let m = methods.entry(method).or_default();
    m.requests += 1;
    let us = latency.as_micros() as u64;
    m.latency_sum_us += us;
    m.latencies_us.push(us);
    match verdict {
        Verdict::Ok => m.ok += 1,
        Verdict::Stale => m.stale += 1,
        Verdict::Failed => {}
    }
}
