//! Subscriptions under churn: many clients subscribing, reading, unsubscribing, vanishing
//! mid-subscribe or after not reading for a while, sending garbage — while upstreams drop
//! their connections and every notification comes from three upstreams, then a calm round
//! without drops. Each client must see every subscription's account states in order, never
//! one twice; when they are all gone, nothing is left behind, in the gateway or upstream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::SinkExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::subscriptions::*;
use crate::support::*;

const KEYS: usize = 5;
const CLIENTS: u64 = 24;
const ROUNDS: usize = 12;

/// Per subscription id on one connection, the newest slot seen; checks each notification.
#[derive(Default)]
struct Seen {
    last: Vec<(u64, u64)>,
    checked: u64,
}

impl Seen {
    /// Checks a notification (slots only go up: no copy, no older state from a slower
    /// upstream — a state may be skipped when a newer one came first from an upstream that
    /// had just reconnected: an account notification is a snapshot, the newer one
    /// supersedes it); returns the answer to request `id` if `n` is it.
    fn frame(&mut self, n: Value, id: u64) -> Option<Value> {
        if n["id"] == json!(id) {
            return Some(n);
        }
        if n["method"] == "accountNotification" {
            let sub = n["params"]["subscription"].as_u64().unwrap();
            let slot = n["params"]["result"]["context"]["slot"].as_u64().unwrap();
            if let Some(prev) = self.last.iter_mut().find(|(i, _)| *i == sub) {
                assert!(
                    slot > prev.1,
                    "subscription {sub}: slot {slot} after {}",
                    prev.1
                );
                prev.1 = slot;
            } else {
                self.last.push((sub, slot));
            }
            self.checked += 1;
        }
        None
    }

    /// Sends `request` and reads (checking notifications) until its answer.
    async fn ask(&mut self, c: &mut Client, id: u64, method: &str, params: Value) -> Value {
        send(
            c,
            json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}),
        )
        .await;
        loop {
            let n = next(c).await;
            if let Some(answer) = self.frame(n, id) {
                return answer;
            }
        }
    }
}

/// One client's life: `rounds` connections, each ending one of several ways.
async fn churn(addr: std::net::SocketAddr, seed: u64, rounds: usize) -> u64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut checked = 0;
    for _ in 0..rounds {
        let mut c = connect(addr).await;
        let mut seen = Seen::default();
        let wanted = rng.random_range(1..=3u64);
        let mut ids = Vec::new();
        for n in 0..wanted {
            let key = format!("Key{}", rng.random_range(0..KEYS));
            if n == 0 && rng.random_range(0..10) == 0 {
                // Gone before the answer.
                send(
                    &mut c,
                    json!({"jsonrpc":"2.0","id":n,"method":"accountSubscribe","params":[key]}),
                )
                .await;
                break;
            }
            let r = seen.ask(&mut c, n, "accountSubscribe", json!([key])).await;
            let Some(id) = r["result"].as_u64() else {
                panic!("subscribe refused: {r}");
            };
            ids.push(id);
        }
        if ids.is_empty() {
            continue;
        }
        while seen.checked < 6 {
            let n = next(&mut c).await;
            seen.frame(n, u64::MAX);
        }
        match rng.random_range(0..4) {
            0 => {
                for (n, id) in ids.iter().enumerate() {
                    let r = seen
                        .ask(&mut c, 100 + n as u64, "accountUnsubscribe", json!([id]))
                        .await;
                    assert_eq!(r["result"], true, "{r}");
                }
                let _ = c.close(None).await;
            }
            1 => {
                let _ = c.send(Message::text("{not json")).await;
                drop(c);
            }
            2 => {
                // Stops reading for a while, then vanishes without a close frame.
                tokio::time::sleep(Duration::from_millis(rng.random_range(1..20))).await;
                drop(c);
            }
            _ => drop(c),
        }
        checked += seen.checked;
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_coming_and_going_while_upstreams_drop_leave_nothing_behind() {
    let ups = Arc::new(ws_ups(3).await);
    let pool = ws_pool(
        &ups,
        "[subscriptions]\nreconnect_min_ms = 5\nreconnect_max_ms = 40\n",
    );
    let gw = gateway(pool.clone()).await;
    let addr = gw.server.ws_addr();
    let stop = Arc::new(AtomicBool::new(false));
    // Every 2 ms a new state of every account, sent by all three upstreams (until the
    // calm round is over).
    let slot = Arc::new(AtomicU64::new(1));
    let calm_over = Arc::new(AtomicBool::new(false));
    let notifier = {
        let (ups, stop, slot) = (ups.clone(), calm_over.clone(), slot.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let s = slot.fetch_add(1, Ordering::Relaxed);
                let state = format!(
                    r#"{{"context":{{"slot":{s}}},"value":{{"lamports":{s},"data":["","base64"],"owner":"11111111111111111111111111111111"}}}}"#
                );
                for u in ups.iter() {
                    u.notify("accountSubscribe", &state);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    // Every 25 ms one upstream drops every connection.
    let dropper = {
        let (ups, stop) = (ups.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(25)).await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                ups[i % ups.len()].drop_connections();
                i += 1;
            }
        })
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|seed| tokio::spawn(churn(addr, seed, ROUNDS)))
        .collect();
    let mut checked = 0;
    for c in clients {
        checked += within("a client's rounds", c).await.expect("client");
    }
    assert!(checked >= CLIENTS * 6, "{checked} notifications checked");
    // A calm last round, no upstream dropping: a dropped connection takes its
    // subscriptions with it on the upstream, which would hide one the gateway forgot.
    stop.store(true, Ordering::Relaxed);
    dropper.await.unwrap();
    let calm: Vec<_> = (0..8)
        .map(|seed| tokio::spawn(churn(addr, 1_000 + seed, 2)))
        .collect();
    for c in calm {
        within("a calm round", c).await.expect("client");
    }
    calm_over.store(true, Ordering::Relaxed);
    notifier.await.unwrap();
    let hub = pool.subscriptions().clone();
    eventually("the gateway holds no subscription", || {
        hub.counts() == (0, 0)
    })
    .await;
    for u in ups.iter() {
        eventually("no subscription left upstream", || {
            u.subscriptions().is_empty()
        })
        .await;
    }
}
