//! Freshness through the gateway over real HTTP: a fresher but slower provider wins within
//! the window (and one that failed once is asked again), a client never sees a slot go
//! backwards (or is told), and `minContextSlot` is honoured with -32016 as "not yet".

use std::time::Duration;

use dualrpc_testkit::Step;
use serde_json::Value;

use crate::support::*;

async fn post(url: &str, body: &str) -> (Value, reqwest::header::HeaderMap) {
    let r = within(
        "rpc",
        client()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send(),
    )
    .await
    .unwrap();
    let headers = r.headers().clone();
    (r.json().await.unwrap(), headers)
}

fn at(slot: u64, value: u64) -> String {
    format!(r#"{{"context":{{"apiVersion":"4.2.2","slot":{slot}}},"value":{value}}}"#)
}

const BALANCE: &str = r#"{"jsonrpc":"2.0","id":3,"method":"getBalance","params":["mint"]}"#;

/// Two upstreams behind a gateway with a 400 ms freshness window, and one call that showed
/// b ahead (slot 102 while a was at 100).
async fn b_seen_ahead() -> (Vec<dualrpc_testkit::Upstream>, Gateway) {
    let ups = upstreams(2).await;
    let gw = gateway(pool(
        &ups,
        "[default]\nfreshness_window_ms = 400\nmonotonic_window_ms = 0\n",
    ))
    .await;
    let ms = Duration::from_millis;
    ups[0].push("getBalance", Step::result(at(100, 1)).after(ms(40)));
    ups[1].push("getBalance", Step::result(at(102, 2)));
    post(&format!("{}/race", gw.url), BALANCE).await;
    (ups, gw)
}

#[tokio::test]
async fn a_fresher_but_slower_provider_wins_within_the_window() {
    let (ups, windowed) = b_seen_ahead().await;
    let ms = Duration::from_millis;
    // …so when a answers first, b's slower answer is waited for.
    ups[0].set("getBalance", Step::result(at(100, 1)).after(ms(2)));
    ups[1].set("getBalance", Step::result(at(102, 2)).after(ms(40)));
    let (v, h) = post(&format!("{}/race", windowed.url), BALANCE).await;
    assert_eq!(v["result"]["context"]["slot"], 102, "{v}");
    assert_eq!(h["x-dualrpc-endpoint"], "b");
    let first_wins = gateway(pool(&ups, "[default]\nfreshness_window_ms = 0\n")).await;
    let (v, h) = post(&format!("{}/race", first_wins.url), BALANCE).await;
    assert_eq!(v["result"]["context"]["slot"], 100, "{v}");
    assert_eq!(h["x-dualrpc-endpoint"], "a");
}

#[tokio::test]
async fn the_provider_ahead_failing_once_is_asked_again_rather_than_serving_older_data() {
    let (ups, gw) = b_seen_ahead().await;
    let ms = Duration::from_millis;
    // …then b's connection is reset at once, a answers its older balance in 20 ms: b, asked
    // again, answers fresher within the window, and the client gets b's.
    ups[0].push("getBalance", Step::result(at(100, 1)).after(ms(20)));
    ups[1].push("getBalance", Step::reset());
    ups[1].push("getBalance", Step::result(at(103, 3)).after(ms(20)));
    let (v, h) = post(&format!("{}/race", gw.url), BALANCE).await;
    assert_eq!(v["result"]["context"]["slot"], 103, "{v}");
    assert_eq!(h["x-dualrpc-endpoint"], "b");
    assert_eq!(ups[1].count("getBalance"), 3);
}

#[tokio::test]
async fn a_client_never_sees_a_slot_go_backwards_or_is_told() {
    let ups = upstreams(2).await;
    let gw = gateway(pool(&ups, "[default]\nfreshness_window_ms = 0\n")).await;
    let race = format!("{}/race", gw.url);
    let slow = Duration::from_millis(40);
    // Slot 110 is served (b is faster this time).
    ups[0].push("getBalance", Step::result(at(108, 1)).after(slow));
    ups[1].push("getBalance", Step::result(at(110, 2)));
    let (v, h) = post(&race, BALANCE).await;
    assert_eq!(v["result"]["context"]["slot"], 110, "{v}");
    assert!(h.get("x-dualrpc-stale").is_none());
    // Now a is faster but behind what the client saw: b's newer answer is waited for.
    ups[0].push("getBalance", Step::result(at(108, 1)));
    ups[1].push("getBalance", Step::result(at(111, 3)).after(slow));
    let (v, h) = post(&race, BALANCE).await;
    assert_eq!(v["result"]["context"]["slot"], 111, "{v}");
    assert!(h.get("x-dualrpc-stale").is_none());
    // Nothing as fresh before the deadline: the freshest there is, marked.
    ups[0].push("getBalance", Step::result(at(108, 1)));
    ups[1].push("getBalance", Step::result(at(109, 1)));
    let (v, h) = post(&race, BALANCE).await;
    assert_eq!(v["result"]["context"]["slot"], 109, "{v}");
    assert_eq!(h["x-dualrpc-stale"], "2", "two slots behind 111");
}

#[tokio::test]
async fn a_config_reload_does_not_let_a_client_see_a_slot_go_backwards() {
    let ups = upstreams(2).await;
    let rest = "[default]\nfreshness_window_ms = 0\n";
    let keyed = |ups: &[dualrpc_testkit::Upstream], key: &str| {
        let mut text = String::new();
        for (i, u) in ups.iter().enumerate() {
            let (name, url) = (NAMES[i], u.url());
            text.push_str(&format!(
                "[[endpoint]]\nname = \"{name}\"\nurl = \"{url}?api-key={key}\"\n"
            ));
        }
        text.push_str(&format!("[health]\ninterval_ms = 0\n{rest}"));
        dualrpc::Settings::from_config(&dualrpc::Config::from_toml(&text, |_| None).unwrap())
            .unwrap()
    };
    let config = |ups: &[dualrpc_testkit::Upstream]| keyed(ups, SECRET);
    let gw = gateway(pool(&ups, rest)).await;
    let race = format!("{}/race", gw.url);
    let slow = Duration::from_millis(40);
    ups[1].push("getBalance", Step::result(at(110, 2)));
    ups[0].push("getBalance", Step::result(at(108, 1)).after(slow));
    let (v, _) = post(&race, BALANCE).await;
    assert_eq!(v["result"]["context"]["slot"], 110, "{v}");
    // SIGHUP's path: a new pool built after the running one, same endpoints. a is faster
    // but behind what the client saw: b's newer answer is waited for, as before the reload.
    let gateway = gw.server.gateway();
    let reloaded = dualrpc::Pool::new_after(config(&ups), &gateway.pool()).unwrap();
    gateway.reload(reloaded, gateway.options());
    ups[0].push("getBalance", Step::result(at(108, 1)));
    ups[1].push("getBalance", Step::result(at(111, 3)).after(slow));
    let (v, h) = post(&race, BALANCE).await;
    assert_eq!(v["result"]["context"]["slot"], 111, "{v}");
    assert!(h.get("x-dualrpc-stale").is_none());
    // The same providers with a rotated API key are the same chain too.
    let rotated = dualrpc::Pool::new_after(keyed(&ups, "rotated"), &gateway.pool()).unwrap();
    gateway.reload(rotated, gateway.options());
    ups[0].push("getBalance", Step::result(at(109, 1)));
    ups[1].push("getBalance", Step::result(at(112, 3)).after(slow));
    let (v, _) = post(&race, BALANCE).await;
    assert_eq!(v["result"]["context"]["slot"], 112, "{v}");
    // A config with none of the old endpoints is another set of providers (maybe another
    // chain): it starts from nothing.
    let others = upstreams(2).await;
    let elsewhere = dualrpc::Pool::new_after(config(&others), &gateway.pool()).unwrap();
    gateway.reload(elsewhere, gateway.options());
    others[0].push("getBalance", Step::result(at(50, 1)));
    others[1].push("getBalance", Step::result(at(50, 1)).after(slow));
    let (v, h) = post(&race, BALANCE).await;
    assert_eq!(v["result"]["context"]["slot"], 50, "{v}");
    assert!(h.get("x-dualrpc-stale").is_none());
}

#[tokio::test]
async fn min_context_slot_is_honoured_and_not_yet_is_not_a_failure() {
    let ups = upstreams(2).await;
    let not_yet = r#"{"code":-32016,"message":"Minimum context slot has not been reached","data":{"contextSlot":100}}"#;
    // a ignores minContextSlot; b says "not yet".
    ups[0].set("getBalance", Step::result(at(100, 1)));
    ups[1].set("getBalance", Step::error_json(not_yet));
    let pool = pool(&ups, "[breaker]\nfailures = 1\n");
    let gw = gateway(pool.clone()).await;
    let body = r#"{"jsonrpc":"2.0","id":9,"method":"getBalance","params":["mint",{"minContextSlot":105}]}"#;
    let (v, _) = post(&format!("{}/race", gw.url), body).await;
    let want: Value = serde_json::from_str(not_yet).unwrap();
    assert_eq!(v["error"], want, "what a node says, never slot 100: {v}");
    let st = pool.status();
    assert!(
        st.endpoints.iter().all(|e| e.circuit == "closed"),
        "'not yet' opens no circuit"
    );
}

fn sig_list(entries: &[(&str, u64)]) -> String {
    let v: Vec<Value> = entries
        .iter()
        .map(|(s, slot)| {
            serde_json::json!({"blockTime": null, "confirmationStatus": "confirmed",
                "err": null, "memo": null, "signature": s, "slot": slot})
        })
        .collect();
    serde_json::to_string(&v).unwrap()
}

#[tokio::test]
async fn merge_unites_partially_overlapping_lists_as_one_node_would() {
    let ups = upstreams(3).await;
    // a is a slot behind; b indexed `late` late; c failed.
    ups[0].set(
        "getSignaturesForAddress",
        Step::result(sig_list(&[("p", 9), ("late", 9), ("q", 8), ("r", 7)])),
    );
    ups[1].set(
        "getSignaturesForAddress",
        Step::result(sig_list(&[("new", 10), ("p", 9), ("q", 8), ("r", 7)]))
            .after(Duration::from_millis(20)),
    );
    ups[2].set("getSignaturesForAddress", Step::status(502, "bad gateway"));
    // Merge waits for every list here (a window, not a race against the clock).
    let gw = gateway(pool(&ups, "[default]\nfreshness_window_ms = 5000\n")).await;
    let ask = |limit: u32| {
        format!(
            r#"{{"jsonrpc":"2.0","id":"m","method":"getSignaturesForAddress","params":["Prog",{{"limit":{limit},"commitment":"confirmed"}}]}}"#
        )
    };
    let (v, h) = post(&format!("{}/merge", gw.url), &ask(10)).await;
    let sigs: Vec<&str> = v["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|e| e["signature"].as_str().unwrap())
        .collect();
    assert_eq!(
        sigs,
        ["new", "p", "late", "q", "r"],
        "union, newest first, no duplicates"
    );
    assert_eq!(v["id"], "m");
    assert_eq!(h["x-dualrpc-strategy"], "merge");
    assert_eq!(
        h["x-dualrpc-endpoint"], "b",
        "whose list has the newest entry"
    );
    // Entries are passed through as the provider wrote them.
    assert_eq!(v["result"][0]["confirmationStatus"], "confirmed");
    let (v, _) = post(&format!("{}/merge", gw.url), &ask(2)).await;
    assert_eq!(
        v["result"].as_array().unwrap().len(),
        2,
        "limit honoured: {v}"
    );
    // A launch only b shows yet: b saw it first, in /status and /metrics.
    ups[1].set(
        "getSignaturesForAddress",
        Step::result(sig_list(&[("launch", 11), ("new", 10), ("p", 9)])),
    );
    let (v, _) = post(&format!("{}/merge", gw.url), &ask(10)).await;
    assert_eq!(v["result"][0]["signature"], "launch", "{v}");
    let status: Value =
        serde_json::from_str(&get_text(&format!("{}/status", gw.url)).await).unwrap();
    let b = status["first_sight"]
        .as_array()
        .and_then(|l| l.iter().find(|e| e["endpoint"] == "b"))
        .cloned()
        .unwrap_or_else(|| panic!("{status}"));
    // `new` (only b had it, in the first poll, which a's list primed) and `launch`.
    assert_eq!(b["first"], 2, "{b}");
    let metrics = get_text(&format!("{}/metrics", gw.url)).await;
    assert!(
        metrics.contains("dualrpc_upstream_first_sight_total{endpoint=\"b\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_list_from_a_node_behind_waits_for_the_node_the_health_loop_reads_ahead() {
    let ups = upstreams(2).await;
    // a is at the tip, b a slot behind, as the health loop reads them.
    ups[0].set("getSlot", Step::result("1000"));
    ups[1].set("getSlot", Step::result("999"));
    let pool = pool(&ups, "[health]\ninterval_ms = 10\n");
    eventually("both read", || {
        let st = pool.status();
        endpoint(&st, "a").slot == Some(1000) && endpoint(&st, "b").slot == Some(999)
    })
    .await;
    let gw = gateway(pool).await;
    // b answers at once without the launch; a, 30 ms later, with it: within the default
    // window for lists (60 ms), a's list is the answer.
    let ms = Duration::from_millis;
    ups[0].set(
        "getSignaturesForAddress",
        Step::result(sig_list(&[("launch", 1000), ("old", 998)])).after(ms(30)),
    );
    ups[1].set(
        "getSignaturesForAddress",
        Step::result(sig_list(&[("old", 998)])),
    );
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"getSignaturesForAddress","params":["Prog",{"limit":5}]}"#;
    let (v, h) = post(&format!("{}/race", gw.url), body).await;
    assert_eq!(v["result"][0]["signature"], "launch", "{v}");
    assert_eq!(h["x-dualrpc-endpoint"], "a");
}

#[tokio::test]
async fn a_provider_claiming_a_slot_the_chain_cannot_have_reached_never_wins_or_sets_the_floor() {
    // a: a simulated node whose chain moves a slot every 400 ms; b: a scripted one that
    // claims a slot no chain has reached, in its probes and in its answers (at once).
    let cluster = zero_cluster().await;
    let wrong = 900_000_000_000u64;
    let b = dualrpc_testkit::Upstream::start().await;
    b.set("getSlot", Step::result(wrong.to_string()));
    b.set("getBalance", Step::result(at(wrong, 6)));
    // Every refused probe is charged to b's breaker; with the default threshold its circuit
    // would open within a few rounds and b would not be asked at all.
    let toml = format!(
        "[[endpoint]]\nname = \"a\"\nurl = \"{}\"\n[[endpoint]]\nname = \"b\"\nurl = \"{}\"\n\
         [health]\ninterval_ms = 20\n[breaker]\nfailures = 100000\n",
        cluster.endpoints()[0].url(),
        b.url()
    );
    let pool = dualrpc::Pool::from_config(dualrpc::Config::from_toml(&toml, |_| None).unwrap())
        .expect("pool");
    // Once a has moved like a chain for two seconds, the ceiling refuses b's slot.
    eventually("b refused", || {
        let st = pool.status();
        endpoint(&st, "a").slot.is_some()
            && endpoint(&st, "b").slot.is_none()
            && !endpoint(&st, "a").lagging
    })
    .await;
    let ceiling = pool.status().slot_ceiling.expect("a ceiling in /status");
    assert!(ceiling < wrong);
    let gw = gateway(pool.clone()).await;
    let body = sim_balance_request();
    for _ in 0..2 {
        let (v, h) = post(&format!("{}/race", gw.url), &body).await;
        let slot = v["result"]["context"]["slot"].as_u64().expect("a slot");
        assert!(slot < wrong, "{v}");
        assert_eq!(h["x-dualrpc-endpoint"], "a");
        assert!(h.get("x-dualrpc-stale").is_none(), "the floor is a's slot");
    }
    // b was asked every time, and its answers (which may settle after a's was served) were
    // refused.
    eventually("b's answers refused", || {
        b.count("getBalance") == 2 && failures(&pool, "b", "implausible_slot") == 2
    })
    .await;
    cluster.shutdown().await;
}
