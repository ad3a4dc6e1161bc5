//! Rolling-faults soak: three scripted upstreams take turns misbehaving while 40 clients
//! drive `getAccountInfo`, `getTransaction` and `getBalance` through every strategy of
//! one gateway, each request with a 3 s budget (`x-dualrpc-timeout-ms: 3000`).
//!
//! A chaos task with a seeded RNG (`DUALRPC_SOAK_SEED`) re-scripts the upstreams every
//! 1–2 s: one or two of them (never all three) get a misbehaviour for every read method —
//! hang, reset, 5xx, garbage (invalid JSON, an HTML page, a cut-off body), 429 with
//! `Retry-After: 1`, lagging nulls (`null` transaction, `value: null` account, balance at
//! an older context slot), answers under a wrong id (carrying another request's result)
//! or slowness (the healthy answer after 150–600 ms) — and the rest answer healthily. The
//! schedule is printed to stderr. The healthy chain's slot advances with time.
//!
//! Clients loop over (strategy × method), one request at a time, strategy chosen by path
//! or by `x-dualrpc-strategy`, ids numeric or string. Every request must get exactly one
//! JSON-RPC answer with its id within the budget (+1 s slack); the data always exists on
//! a healthy upstream, so a `null` reaching a client is stale and fails the test; a result
//! that is not the healthy data is wrong and fails the test; and every strategy must
//! succeed on at least 99.9% of its calls. Duration: `DUALRPC_SOAK_SECS` (default 20).
//! The schedule is deterministic for a seed; the interleaving of requests is not.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dualrpc_testkit::{Step, Upstream};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::support::*;

const STRATEGIES: [&str; 6] = [
    "failover",
    "race",
    "hedge",
    "consensus",
    "dual",
    "broadcast",
];
const METHODS: [&str; 3] = ["getAccountInfo", "getTransaction", "getBalance"];
const CLIENTS: usize = 40;
/// The client's whole budget per request, sent as `x-dualrpc-timeout-ms`.
const BUDGET_MS: u64 = 3000;
/// How long past the budget a client waits before it calls the request unanswered.
const SLACK_MS: u64 = 1000;
const BAR: f64 = 0.999;
const BALANCE: u64 = 5_000_000;
/// How far behind the chain a lagging upstream is.
const LAG: u64 = 150;
/// A real `getTransaction` answer (pump.fun `create`, ~20 KB); its result is served as is.
const TX_FIXTURE: &str =
    include_str!("../../../sim/fixtures/pumpfun_create_getTransaction_jsonParsed.json");
const SIGNATURE: &str =
    "52ar89rghM8EwKZkxFnBMC4LaMReqtVdpxqXxGWBCMYV1DnYdLrdsqJo8Hbn9KjVpckAokqGNHzTSVfK5xuLepdC";
/// Accounts asked about (the answer is the same mint for all; they only vary the params).
const KEYS: [&str; 4] = [
    "ER2N5eaDoC68kNhj7LyaScimzq7deaqxiw88rewvxaKp",
    "Fswrw3tgQL597kCexxLEhft6a7Su4CDoqwRMqqj4BEp5",
    "FFzxakVNzpirwMFtLyD22UZ6UM3KLF2EAGC2RxNPaYoH",
    "6eTEMemDi58KJE1rPEagqMsgn34xUWTkzdZTKM8EVbYF",
];
const HTML: &str = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>";

/// `dual` pairs `a` (primary) with `b` and with `c` (secondaries).
const ROLES: [&str; 3] = [
    "role = \"primary\"",
    "role = \"secondary\"",
    "role = \"secondary\"",
];
const CONFIG: &str = r#"
[default]
strategy = "failover"
timeout_ms = 300
deadline_ms = 3000

# Faults last 1-2 s: a breaker that benched an endpoint for the default up-to-30 s
# would outlast its fault many times over.
[breaker]
failures = 3
open_ms = 500
max_open_ms = 2000
"#;

/// The misbehaviours, by the name the schedule prints.
const FAULTS: [&str; 8] = [
    "hang", "reset", "5xx", "garbage", "429", "lagging", "wrong-id", "slow",
];

fn balance(slot: u64, lamports: u64) -> String {
    format!(r#"{{"context":{{"slot":{slot}}},"value":{lamports}}}"#)
}

/// The healthy answer to `method` at `slot`.
fn healthy(method: &str, slot: u64, tx: &str) -> String {
    match method {
        "getAccountInfo" => account(slot, MINT),
        "getTransaction" => tx.to_string(),
        _ => balance(slot, BALANCE),
    }
}

/// `fault` (or, for "ok", the healthy answer) to `method` while the chain is at `slot`.
fn step(fault: &str, method: &str, slot: u64, tx: &str, rng: &mut StdRng) -> Step {
    match fault {
        "hang" => Step::hang(),
        "reset" => Step::reset(),
        "5xx" => Step::status([500, 502, 503][rng.random_range(0..3)], "unavailable"),
        "garbage" => match rng.random_range(0..3) {
            0 => Step::raw("not json"),
            1 => Step::status_with_headers(200, HTML, &[("content-type", "text/html")]),
            _ => Step::raw(r#"{"jsonrpc":"2.0","id":1,"result":{"context":{"sl"#),
        },
        "429" => Step::too_many_requests(1),
        "lagging" => Step::result(match method {
            "getAccountInfo" => account(slot - LAG, "null"),
            "getTransaction" => "null".to_string(),
            _ => balance(slot - LAG, BALANCE),
        }),
        // Another request's answer: accepting it would hand the client wrong data.
        "wrong-id" => Step::wrong_id(balance(slot, 42)),
        "slow" => Step::result(healthy(method, slot, tx))
            .after(Duration::from_millis(rng.random_range(150..=600))),
        _ => Step::result(healthy(method, slot, tx)),
    }
}

/// Scripts upstream `up` with `fault` ("ok": healthy) at `slot`; `getSlot` stays answered.
fn script(up: &Upstream, fault: &str, slot: u64, tx: &str, rng: &mut StdRng) {
    for m in METHODS {
        up.set(m, step(fault, m, slot, tx, rng));
    }
    let lag = if fault == "lagging" { LAG } else { 0 };
    up.set("getSlot", Step::result((slot - lag).to_string()));
}

/// Re-scripts the upstreams every 1–2 s until `until`, publishing the current schedule.
async fn chaos(
    ups: Arc<Vec<Upstream>>,
    tx: Arc<String>,
    seed: u64,
    until: Instant,
    now: watch::Sender<String>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let start = Instant::now();
    let mut slot = 350_000_000;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let how_many = rng.random_range(1..=2);
        let bad = rand::seq::index::sample(&mut rng, ups.len(), how_many);
        let mut desc = Vec::new();
        for (i, up) in ups.iter().enumerate() {
            let fault = match bad.iter().any(|b| b == i) {
                true => FAULTS[rng.random_range(0..FAULTS.len())],
                false => "ok",
            };
            script(up, fault, slot, &tx, &mut rng);
            desc.push(format!("{}={fault}", NAMES[i]));
        }
        let desc = desc.join(" ");
        let dwell = rng.random_range(1000..=2000u64);
        eprintln!(
            "[soak {:5.1}s] slot {slot} {desc} for {dwell} ms",
            start.elapsed().as_secs_f64()
        );
        now.send_replace(desc);
        tokio::time::sleep(Duration::from_millis(dwell).min(left)).await;
        slot += dwell * 5 / 2000; // ~2.5 slots per second
    }
}

/// An HTTP exchange: status, `x-dualrpc-strategy`, body; or why there was none.
type Exchange = Result<(u16, String, String), String>;

/// Sorts one request's outcome: `ok`; `error` (a JSON-RPC error answer); `stale` (a
/// `null` transaction or `value: null` account reached the client); `wrong` (a result
/// that is not the healthy data); `broken` (no answer in time, not HTTP 200, or not
/// exactly one JSON-RPC answer with the request's id). Returns a detail for non-ok ones.
fn classify(
    method: &str,
    id: &Value,
    strategy: &str,
    tx: &Value,
    r: Exchange,
) -> (&'static str, String) {
    let clip = |s: String| -> String { s.chars().take(160).collect() };
    let (status, served_by, body) = match r {
        Ok(r) => r,
        Err(e) => return ("broken", e),
    };
    if status != 200 {
        return ("broken", clip(format!("HTTP {status}: {body}")));
    }
    if !served_by.is_empty() && served_by != strategy {
        return ("broken", format!("served by strategy {served_by}"));
    }
    let v: Value = match serde_json::from_str(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return ("broken", clip(format!("not one JSON-RPC answer: {body}"))),
    };
    if v["jsonrpc"] != "2.0" || v.get("id") != Some(id) {
        return ("broken", clip(format!("wrong envelope or id: {body}")));
    }
    let res = match (v.get("result"), v.get("error")) {
        (Some(res), None) => res,
        (None, Some(e)) => {
            let data = e.get("data").unwrap_or(&Value::Null);
            return ("error", clip(format!("{} {data}", e["code"])));
        }
        _ => return ("broken", clip(format!("not one of result/error: {body}"))),
    };
    let (got, expected) = match method {
        "getTransaction" => (res, tx.clone()),
        "getAccountInfo" => (&res["value"], serde_json::from_str(MINT).expect("JSON")),
        _ => (&res["value"], json!(BALANCE)),
    };
    if got.is_null() {
        ("stale", "null served".into())
    } else if *got == expected {
        ("ok", String::new())
    } else {
        ("wrong", clip(res.to_string()))
    }
}

/// One strategy's counts.
#[derive(Debug, Default)]
struct Tally {
    /// Requests by outcome (see [`classify`]).
    outcomes: BTreeMap<&'static str, u64>,
    /// Non-ok requests by "method: outcome detail".
    problems: BTreeMap<String, u64>,
    /// Non-ok requests by the chaos schedule in force when they were sent (and, if it
    /// changed meanwhile, when they were answered).
    under: BTreeMap<String, u64>,
    /// Milliseconds per request (until its answer or the client's give-up).
    ms: Vec<u32>,
}

impl Tally {
    fn n(&self, outcome: &str) -> u64 {
        self.outcomes.get(outcome).copied().unwrap_or(0)
    }

    fn merge(&mut self, o: Tally) {
        fn add<K: Ord>(into: &mut BTreeMap<K, u64>, from: BTreeMap<K, u64>) {
            for (k, n) in from {
                *into.entry(k).or_default() += n;
            }
        }
        add(&mut self.outcomes, o.outcomes);
        add(&mut self.problems, o.problems);
        add(&mut self.under, o.under);
        self.ms.extend(o.ms);
    }
}

/// One client: a request at a time, cycling through (strategy × method) from its own
/// starting point, until `until`. Even requests name the strategy in the path, odd ones
/// in `x-dualrpc-strategy`; even clients use numeric ids, odd ones string ids.
async fn client(
    n: usize,
    url: String,
    http: reqwest::Client,
    tx: Arc<Value>,
    until: Instant,
    chaos: watch::Receiver<String>,
) -> BTreeMap<&'static str, Tally> {
    let mut tallies: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut seq = 0usize;
    while Instant::now() < until {
        let k = (n + seq) % (STRATEGIES.len() * METHODS.len());
        let strategy = STRATEGIES[k % STRATEGIES.len()];
        let method = METHODS[k / STRATEGIES.len()];
        let id = match n % 2 {
            0 => json!(n * 1_000_000 + seq),
            _ => json!(format!("c{n}-{seq}")),
        };
        // Clients n, n+18, n+36 share a (strategy, method) at each step: give them
        // different accounts, so identical requests coincide (and coalesce) only by chance.
        let key = KEYS[(n / (STRATEGIES.len() * METHODS.len()) + seq) % KEYS.len()];
        let params = match method {
            "getAccountInfo" => json!([key, {"encoding": "base64", "commitment": "confirmed"}]),
            "getTransaction" => json!([SIGNATURE, {"encoding": "jsonParsed",
                "commitment": "confirmed", "maxSupportedTransactionVersion": 0}]),
            _ => json!([key, {"commitment": "confirmed"}]),
        };
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let req = match seq % 2 {
            0 => http.post(format!("{url}/{strategy}")),
            _ => http
                .post(format!("{url}/"))
                .header("x-dualrpc-strategy", strategy),
        };
        let schedule = chaos.borrow().clone();
        let sent = Instant::now();
        let exchange = async {
            let r = req
                .header("content-type", "application/json")
                .header("x-dualrpc-timeout-ms", BUDGET_MS.to_string())
                .body(body.to_string())
                .send()
                .await
                .map_err(|e| format!("transport: {e}"))?;
            let served_by = header(&r, "x-dualrpc-strategy").to_string();
            let status = r.status().as_u16();
            let text = r.text().await.map_err(|e| format!("body: {e}"))?;
            Ok((status, served_by, text))
        };
        let give_up = Duration::from_millis(BUDGET_MS + SLACK_MS);
        let r = tokio::time::timeout(give_up, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {give_up:?}")));
        let t = tallies.entry(strategy).or_default();
        t.ms.push(sent.elapsed().as_millis() as u32);
        let (outcome, detail) = classify(method, &id, strategy, &tx, r);
        *t.outcomes.entry(outcome).or_default() += 1;
        if outcome != "ok" {
            *t.problems
                .entry(format!("{method}: {outcome} {detail}"))
                .or_default() += 1;
            let end = chaos.borrow().clone();
            let under = match end == schedule {
                true => schedule,
                false => format!("{schedule} -> {end}"),
            };
            *t.under.entry(under).or_default() += 1;
        }
        seq += 1;
    }
    tallies
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The `n` largest counts of `map`, largest first.
fn top(map: &BTreeMap<String, u64>, n: usize) -> Vec<(u64, &str)> {
    let mut v: Vec<(u64, &str)> = map.iter().map(|(k, c)| (*c, k.as_str())).collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    v.truncate(n);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_faults_every_strategy_answers() {
    let secs = env_u64("DUALRPC_SOAK_SECS", 20);
    let seed = env_u64("DUALRPC_SOAK_SEED", 0x50AC);
    eprintln!("[soak] {secs} s, seed {seed}, {CLIENTS} clients, budget {BUDGET_MS} ms");
    let fixture: Value = serde_json::from_str(TX_FIXTURE).expect("fixture is JSON");
    let tx_value = Arc::new(fixture["result"].clone());
    let tx = Arc::new(tx_value.to_string());
    let ups = upstreams(3).await;
    let mut rng = StdRng::seed_from_u64(seed);
    for up in &ups {
        script(up, "ok", 350_000_000, &tx, &mut rng);
    }
    let gw = gateway(pool_with(&ups, &ROLES, CONFIG)).await;
    let ups = Arc::new(ups);
    let until = Instant::now() + Duration::from_secs(secs);
    let (now_tx, now_rx) = watch::channel("a=ok b=ok c=ok".to_string());
    let chaos = tokio::spawn(chaos(ups.clone(), tx.clone(), seed, until, now_tx));
    let http = reqwest::Client::new();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (url, tx, rx) = (gw.url.clone(), tx_value.clone(), now_rx.clone());
            tokio::spawn(client(n, url, http.clone(), tx, until, rx))
        })
        .collect();
    // Everything is bounded: clients stop sending at `until` and give up on a request
    // after budget + slack; the chaos task stops at `until`.
    let bound = Duration::from_secs(secs) + Duration::from_millis(BUDGET_MS + SLACK_MS) * 3;
    let mut totals: BTreeMap<&'static str, Tally> = BTreeMap::new();
    tokio::time::timeout(bound, async {
        for c in clients {
            for (s, t) in c.await.expect("client task") {
                totals.entry(s).or_default().merge(t);
            }
        }
        chaos.await.expect("chaos task");
    })
    .await
    .expect("soak did not stop on its own");
    drop(gw);
    drop(ups);

    eprintln!(
        "\n[soak] strategy     calls      ok%  errors  stale  wrong  broken   p50   p99  max ms"
    );
    let mut failed = Vec::new();
    for s in STRATEGIES {
        let mut t = totals.remove(s).expect("every strategy was called");
        t.ms.sort_unstable();
        let pct = |q: f64| t.ms[((t.ms.len() as f64 - 1.0) * q) as usize];
        let calls: u64 = t.outcomes.values().sum();
        let ratio = t.n("ok") as f64 / calls.max(1) as f64;
        eprintln!(
            "[soak] {s:<10} {calls:>7} {:>8.3} {:>7} {:>6} {:>6} {:>7} {:>5} {:>5} {:>6}",
            ratio * 100.0,
            t.n("error"),
            t.n("stale"),
            t.n("wrong"),
            t.n("broken"),
            pct(0.5),
            pct(0.99),
            pct(1.0)
        );
        for (n, what) in top(&t.problems, 6) {
            eprintln!("[soak]     {n:>6} × {what}");
        }
        for (n, what) in top(&t.under, 4) {
            eprintln!("[soak]     {n:>6} × under {what}");
        }
        if calls < 100 {
            failed.push(format!("{s}: only {calls} calls"));
        }
        for outcome in ["broken", "stale", "wrong"] {
            if t.n(outcome) > 0 {
                failed.push(format!("{s}: {} {outcome} answers", t.n(outcome)));
            }
        }
        if ratio < BAR {
            failed.push(format!("{s}: {:.3}% success < 99.9%", ratio * 100.0));
        }
    }
    let failed = failed.join("\n");
    assert!(
        failed.is_empty(),
        "rolling-faults soak (seed {seed}):\n{failed}"
    );
}
