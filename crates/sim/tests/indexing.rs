//! Indexing delay: each endpoint shows a new transaction after its own per-transaction delay,
//! every method agrees with the chain's visibility oracle at every instant, who shows a launch
//! first varies, `zero` shows everything at once, and a seed fixes every delay.
//!
//! Clocks are manual throughout: time only moves through `advance` / `advance_time`.

#[path = "pubsub/support.rs"]
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use dualrpc_sim::{
    Chain, ChainConfig, ChainTime, ClockMode, Cluster, ClusterOptions, Commitment, EndpointSpec,
    LatencyModel, PUMP_FUN_PROGRAM_ID, Profile, SignatureInfo,
};
use serde_json::json;

use support::rpc;

const LEVELS: [Commitment; 3] = [
    Commitment::Processed,
    Commitment::Confirmed,
    Commitment::Finalized,
];

/// `a` and `b` (same lag, same delay distribution) and `c`, one slot behind; no latency.
fn delayed_profile() -> Profile {
    let delay = LatencyModel::lognormal_p99(80.0, 600.0);
    Profile {
        name: "indexing".into(),
        description: "indexing-delay test".into(),
        endpoints: vec![
            EndpointSpec::new("a", LatencyModel::ZERO).with_indexing_delay(delay),
            EndpointSpec::new("b", LatencyModel::ZERO).with_indexing_delay(delay),
            EndpointSpec::new("c", LatencyModel::ZERO)
                .with_lag(1)
                .with_indexing_delay(LatencyModel::lognormal_p99(30.0, 200.0)),
        ],
        chain: ChainConfig {
            genesis_unix_ms: Some(1_760_000_000_000),
            ..ChainConfig::default()
        },
        slowdown: None,
    }
}

async fn manual_cluster(profile: &Profile, seed: u64) -> Cluster {
    let opts = ClusterOptions {
        seed,
        clock: ClockMode::Manual,
        ..ClusterOptions::default()
    };
    Cluster::start(profile, opts).await.unwrap()
}

/// Advances whole slots until the tip slot holds a transaction; returns the newest one (so
/// it was created exactly now).
fn launch_in_tip_slot(chain: &Chain) -> SignatureInfo {
    for _ in 0..100 {
        chain.advance(1);
        let newest = chain.signatures(chain.slot(), 1).remove(0);
        if newest.slot == chain.slot() {
            assert_eq!(chain.slot_start(newest.slot), chain.now());
            return newest;
        }
    }
    panic!("no transaction in 100 slots");
}

/// Whether each method of an endpoint shows `info` at `commitment` (three account reads,
/// then for `confirmed` and up: the program's and the mint's signature lists and
/// `getTransaction`), and the `confirmationStatus` of its entry in the program's list.
async fn shown(
    addr: SocketAddr,
    info: &SignatureInfo,
    commitment: Commitment,
) -> (Vec<bool>, Option<String>) {
    let c = json!({"commitment": commitment.as_str(), "encoding": "base64"});
    let mut seen = vec![
        !rpc(addr, "getAccountInfo", json!([info.mint, c])).await["value"].is_null(),
        !rpc(addr, "getMultipleAccounts", json!([[info.mint], c])).await["value"][0].is_null(),
        rpc(addr, "getBalance", json!([info.mint, c])).await["value"] != 0,
    ];
    let mut label = None;
    if commitment != Commitment::Processed {
        let c = json!({"commitment": commitment.as_str(), "limit": 1000});
        let list = rpc(
            addr,
            "getSignaturesForAddress",
            json!([PUMP_FUN_PROGRAM_ID, c]),
        )
        .await;
        let entry = list
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["signature"] == info.signature.as_str());
        label = entry.map(|e| e["confirmationStatus"].as_str().unwrap().to_owned());
        seen.push(entry.is_some());
        let by_mint = rpc(addr, "getSignaturesForAddress", json!([info.mint, c])).await;
        seen.push(!by_mint.as_array().unwrap().is_empty());
        let config =
            json!({"commitment": commitment.as_str(), "maxSupportedTransactionVersion": 0});
        let tx = rpc(addr, "getTransaction", json!([info.signature, config])).await;
        seen.push(!tx.is_null());
    }
    (seen, label)
}

/// Checks every method of every endpoint against the oracle at the chain's current instant.
async fn check_all(cluster: &Cluster, info: &SignatureInfo) {
    let chain = cluster.chain();
    let now = chain.now();
    for endpoint in cluster.endpoints() {
        let e = endpoint.index();
        // The highest level the endpoint shows it at: its status everywhere.
        let mut highest = None;
        for level in LEVELS {
            let v = chain.visibility(&info.signature, e, level).unwrap();
            if v.is_visible_at(now) {
                highest = Some(level.as_str());
            }
        }
        for level in LEVELS {
            let v = chain.visibility(&info.signature, e, level).unwrap();
            let expected = v.is_visible_at(now);
            let (seen, label) = shown(endpoint.addr(), info, level).await;
            assert!(
                seen.iter().all(|&s| s == expected),
                "{} at {now} ({level:?}, visible from {}): {seen:?}",
                endpoint.name(),
                v.visible_at
            );
            if let Some(label) = label {
                let finalized = highest == Some("finalized");
                assert_eq!(label == "finalized", finalized, "{}", endpoint.name());
            }
        }
        let status = rpc(
            endpoint.addr(),
            "getSignatureStatuses",
            json!([[info.signature]]),
        )
        .await;
        let status = &status["value"][0];
        assert_eq!(
            status["confirmationStatus"].as_str(),
            highest,
            "{} at {now}: {status}",
            endpoint.name()
        );
    }
}

#[tokio::test]
async fn a_transaction_is_hidden_until_its_delay_then_shown_by_every_method() {
    let cluster = manual_cluster(&delayed_profile(), 11).await;
    let chain = cluster.chain();
    let info = launch_in_tip_slot(chain);
    let created = chain.now();

    let mut events = Vec::new();
    for e in 0..chain.endpoint_count() {
        let delay = chain.indexing_delay(e, info.sequence).unwrap();
        let lag = chain.endpoint_lag(e).unwrap();
        for level in LEVELS {
            let v = chain.visibility(&info.signature, e, level).unwrap();
            assert_eq!(v.created_at, created);
            assert_eq!(v.indexing_delay, delay);
            assert_eq!(
                (v.sequence, v.slot, v.lag_slots),
                (info.sequence, info.slot, lag)
            );
            let slots = (level.depth() + lag) as u32;
            assert_eq!(
                v.visible_at,
                created + chain.config().slot_time * slots + delay
            );
            events.push(v.visible_at);
        }
    }
    events.sort();
    events.dedup();
    // Just before and exactly at every instant something changes, every method of every
    // endpoint agrees with the oracle.
    for at in events {
        let before = at - Duration::from_nanos(1);
        chain.advance_time(before.saturating_duration_since(chain.now()));
        assert_eq!(chain.now(), before);
        check_all(&cluster, &info).await;
        chain.advance_time(Duration::from_nanos(1));
        check_all(&cluster, &info).await;
    }

    // Lag is a runtime control of the oracle too.
    let c = cluster.endpoint("c").unwrap();
    let was = chain
        .visibility(&info.signature, c.index(), Commitment::Confirmed)
        .unwrap();
    c.set_lag(3);
    let now = chain
        .visibility(&info.signature, c.index(), Commitment::Confirmed)
        .unwrap();
    assert_eq!(now.lag_slots, 3);
    assert_eq!(
        now.visible_at,
        was.visible_at + chain.config().slot_time * 2
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn signature_lists_follow_the_oracle_as_time_passes() {
    let cluster = manual_cluster(&delayed_profile(), 5).await;
    let chain = cluster.chain();
    chain.advance(3);
    // 120 steps of 10 ms: three slots, every delay crossing in between.
    for _ in 0..120 {
        chain.advance_time(Duration::from_millis(10));
        let now = chain.now();
        let truth = chain.signatures(chain.slot(), 40);
        for endpoint in cluster.endpoints() {
            let expected: Vec<&str> = truth
                .iter()
                .filter(|s| {
                    let v = chain.visibility(&s.signature, endpoint.index(), Commitment::Confirmed);
                    v.unwrap().is_visible_at(now)
                })
                .map(|s| s.signature.as_str())
                .take(20)
                .collect();
            let list = rpc(
                endpoint.addr(),
                "getSignaturesForAddress",
                json!([PUMP_FUN_PROGRAM_ID, {"commitment": "confirmed", "limit": 20}]),
            )
            .await;
            let got: Vec<&str> = list
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["signature"].as_str().unwrap())
                .collect();
            assert_eq!(got, expected, "{} at {now}", endpoint.name());
        }
    }
    cluster.shutdown().await;
}

#[test]
fn who_shows_a_launch_first_varies_between_equal_endpoints() {
    let delay = LatencyModel::lognormal_p99(60.0, 400.0);
    let endpoints = [
        EndpointSpec::new("a", LatencyModel::ZERO).with_indexing_delay(delay),
        EndpointSpec::new("b", LatencyModel::ZERO).with_indexing_delay(delay),
    ];
    let chain = Chain::with_endpoints(3, ChainConfig::default(), ClockMode::Manual, &endpoints);
    let start = chain.slot();
    chain.advance(1500);
    let launches: Vec<SignatureInfo> = chain
        .signatures(chain.slot(), 10_000)
        .into_iter()
        .filter(|s| s.slot > start)
        .collect();
    assert!(launches.len() > 1500, "{}", launches.len());
    for level in [Commitment::Processed, Commitment::Confirmed] {
        let mut wins = [0_usize; 2];
        for s in &launches {
            let first = chain.first_visible(&s.signature, level).unwrap();
            let other = chain
                .visibility(&s.signature, 1 - first.endpoint, level)
                .unwrap();
            assert!(first.visible_at <= other.visible_at);
            wins[first.endpoint] += 1;
        }
        let share = wins[0] as f64 / launches.len() as f64;
        assert!(
            (0.4..=0.6).contains(&share),
            "{level:?}: a first in {share:.3}"
        );
    }
    // The two endpoints draw independently: never the same delay.
    let same = launches
        .iter()
        .filter(|s| chain.indexing_delay(0, s.sequence) == chain.indexing_delay(1, s.sequence))
        .count();
    assert_eq!(same, 0);
}

#[tokio::test]
async fn the_zero_profile_shows_a_transaction_the_moment_its_slot_does() {
    let profile = Profile::named("zero").unwrap();
    let cluster = manual_cluster(&profile, 2).await;
    let chain = cluster.chain();
    let info = launch_in_tip_slot(chain);
    let created = chain.now();
    for endpoint in cluster.endpoints() {
        assert!(endpoint.indexing_delay().is_zero());
        let v = chain.visibility(&info.signature, endpoint.index(), Commitment::Processed);
        let v = v.unwrap();
        assert_eq!(v.indexing_delay, Duration::ZERO);
        assert_eq!((v.created_at, v.visible_at), (created, created));
        let (seen, _) = shown(endpoint.addr(), &info, Commitment::Processed).await;
        assert_eq!(seen, [true; 3]);
    }
    // One slot later it is confirmed everywhere, at that very instant.
    chain.advance(1);
    for endpoint in cluster.endpoints() {
        let v = chain.visibility(&info.signature, endpoint.index(), Commitment::Confirmed);
        assert_eq!(v.unwrap().visible_at, chain.now());
        let (seen, label) = shown(endpoint.addr(), &info, Commitment::Confirmed).await;
        assert_eq!((seen, label.as_deref()), (vec![true; 6], Some("confirmed")));
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn the_same_seed_gives_the_same_delays() {
    let profile = Profile::named("mainnet-like").unwrap();
    let chain = |seed| {
        Chain::with_endpoints(
            seed,
            profile.chain.clone(),
            ClockMode::Manual,
            &profile.endpoints,
        )
    };
    let (a, b, other) = (chain(9), chain(9), chain(10));
    let n = profile.endpoints.len();
    let delays = |c: &Chain| -> Vec<Duration> {
        (0..n)
            .flat_map(|e| (0..500).map(move |s| (e, s)))
            .map(|(e, s)| c.indexing_delay(e, s).unwrap())
            .collect()
    };
    assert_eq!(delays(&a), delays(&b));
    assert_ne!(delays(&a), delays(&other));
    assert!(delays(&a).iter().any(|d| !d.is_zero()));
    let newest = a.signatures(a.slot(), 1).remove(0);
    for e in 0..n {
        assert_eq!(
            a.visibility(&newest.signature, e, Commitment::Confirmed),
            b.visibility(&newest.signature, e, Commitment::Confirmed)
        );
    }
    assert_eq!(a.indexing_delay(n, 0), None);
    assert_eq!(
        a.visibility(&newest.signature, n, Commitment::Confirmed),
        None
    );

    // A cluster registers its endpoints, in profile order, with the same draws.
    let cluster = manual_cluster(&profile, 9).await;
    let c = cluster.chain();
    assert_eq!(c.endpoint_count(), n);
    for (i, spec) in profile.endpoints.iter().enumerate() {
        assert_eq!(c.endpoint_name(i), Some(spec.name.as_str()));
        assert_eq!(c.endpoint_index(&spec.name), Some(i));
        assert_eq!(c.endpoint_lag(i), Some(spec.lag_slots));
        assert_eq!(cluster.endpoints()[i].indexing_delay(), spec.indexing_delay);
    }
    assert_eq!(delays(c), delays(&a));
    assert!(c.now() >= ChainTime::ZERO);
    cluster.shutdown().await;
}
