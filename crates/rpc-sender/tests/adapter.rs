//! The adapter under the real `solana-rpc-client` `RpcClient`: simulated and scripted
//! upstreams on loopback, a `dualrpc::Pool` over them, and `RpcClient` methods decoding
//! what the upstreams served.

use std::str::FromStr;

use dualrpc::{Config, Pool};
use dualrpc_sim::{ClockMode, Cluster, ClusterOptions, Commitment, PUMP_FUN_PROGRAM_ID, Profile};
use dualrpc_testkit::{Step, Upstream};
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_commitment_config::CommitmentConfig;
use solana_message::Message;
use solana_pubkey::Pubkey;
use solana_rpc_client::api::client_error::{Error as ClientError, ErrorKind};
use solana_rpc_client::api::config::{
    RpcAccountInfoConfig, RpcSendTransactionConfig, RpcTransactionConfig,
};
use solana_rpc_client::api::request::{RpcError, RpcRequest, RpcResponseErrorData};
use solana_signature::Signature;
use solana_transaction::Transaction;
use solana_transaction_status_client_types::UiTransactionEncoding;
use solana_transaction_status_client_types::option_serializer::OptionSerializer;

/// A pool over `endpoints` with the health loop off, so request counts are the client's
/// alone and both endpoints start with equal scores (ties go to config order).
fn pool(endpoints: &[(&str, String)]) -> Pool {
    let mut config = Config::from_endpoints(endpoints.iter().cloned()).unwrap();
    config.health.interval_ms = 0;
    Pool::from_config(config).unwrap()
}

async fn sim() -> Cluster {
    let opts = ClusterOptions {
        clock: ClockMode::Manual,
        ..ClusterOptions::default()
    };
    Cluster::start(&Profile::named("zero").unwrap(), opts)
        .await
        .unwrap()
}

fn sim_pool(cluster: &Cluster) -> Pool {
    let endpoints: Vec<(&str, String)> = cluster
        .endpoints()
        .iter()
        .map(|e| (e.name(), e.url()))
        .collect();
    pool(&endpoints)
}

/// The `RpcResponseError` inside a client error, or a panic naming what it was instead.
fn response_error(err: &ClientError) -> (i64, &str, &RpcResponseErrorData) {
    match err.kind() {
        ErrorKind::RpcError(RpcError::RpcResponseError {
            code,
            message,
            data,
        }) => (*code, message.as_str(), data),
        other => panic!("expected an RPC response error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rpc_client_decodes_what_the_simulator_serves() {
    let cluster = sim().await;
    let chain = cluster.chain().clone();
    let client = dualrpc_rpc_sender::rpc_client(sim_pool(&cluster));
    let finalized = chain.slot_at(Commitment::Finalized, 0);
    let confirmed = chain.slot_at(Commitment::Confirmed, 0);

    // getSlot at the client's default commitment (finalized).
    assert_eq!(client.get_slot().await.unwrap(), finalized);
    assert_eq!(
        client
            .get_slot_with_commitment(CommitmentConfig::confirmed())
            .await
            .unwrap(),
        confirmed
    );

    // getLatestBlockhash → Hash.
    let blockhash = client.get_latest_blockhash().await.unwrap();
    assert_eq!(blockhash.to_string(), chain.blockhash(finalized));

    // getSignaturesForAddress on the launchpad program, newest first.
    let program = Pubkey::from_str(PUMP_FUN_PROGRAM_ID).unwrap();
    let sigs = client.get_signatures_for_address(&program).await.unwrap();
    let truth = chain.signatures(finalized, 1000);
    assert!(!sigs.is_empty());
    assert_eq!(sigs.len(), truth.len());
    assert_eq!(sigs[0].signature, truth[0].signature);
    assert_eq!(sigs[0].slot, truth[0].slot);

    // getTransaction (jsonParsed, v0, confirmed) of the newest confirmed launch: the mint
    // is at meta.postTokenBalances[0].mint.
    let newest = chain.signatures(confirmed, 1).remove(0);
    let signature = Signature::from_str(&newest.signature).unwrap();
    let tx = client
        .get_transaction_with_config(
            &signature,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::JsonParsed),
                commitment: Some(CommitmentConfig::confirmed()),
                max_supported_transaction_version: Some(0),
            },
        )
        .await
        .unwrap();
    assert_eq!(tx.slot, newest.slot);
    assert_eq!(tx.block_time, Some(newest.block_time));
    let meta = tx.transaction.meta.expect("meta");
    let OptionSerializer::Some(balances) = &meta.post_token_balances else {
        panic!("no postTokenBalances: {:?}", meta.post_token_balances);
    };
    assert_eq!(balances[0].mint, newest.mint);

    // getAccountInfo of that mint, base64 and jsonParsed, decoded by RpcClient.
    let mint = Pubkey::from_str(&newest.mint).unwrap();
    let base64 = client
        .get_ui_account_with_config(
            &mint,
            RpcAccountInfoConfig {
                encoding: Some(UiAccountEncoding::Base64),
                commitment: Some(CommitmentConfig::confirmed()),
                ..RpcAccountInfoConfig::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(base64.context.slot, confirmed);
    let account = base64
        .value
        .expect("mint visible at confirmed")
        .to_account();
    let account = account.expect("base64 decodes");
    assert_eq!(
        account.owner.to_string(),
        "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
    );
    assert_eq!(account.data.len(), 82, "an SPL mint is 82 bytes");
    let parsed = client
        .get_ui_account_with_config(
            &mint,
            RpcAccountInfoConfig {
                encoding: Some(UiAccountEncoding::JsonParsed),
                commitment: Some(CommitmentConfig::confirmed()),
                ..RpcAccountInfoConfig::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(parsed.value.expect("mint").owner, account.owner.to_string());

    // sendTransaction of a (fake-)signed transaction; RpcClient checks the echoed signature.
    let payer = Pubkey::from_str(&newest.mint).unwrap();
    let mut tx = Transaction::new_unsigned(Message::new(&[], Some(&payer)));
    tx.signatures[0] = Signature::from([7u8; 64]);
    let sent = client
        .send_transaction_with_config(
            &tx,
            RpcSendTransactionConfig {
                skip_preflight: true,
                ..RpcSendTransactionConfig::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(sent, tx.signatures[0]);

    // getVersion.
    let version = client.get_version().await.unwrap();
    assert!(!version.solana_core.is_empty());

    // A deterministic error from a real upstream: the simulator refuses base64+zstd, which
    // RpcClient::get_account_with_commitment asks for. RpcClient wraps getAccountInfo's
    // errors in `ForUser` around the sender's error text, exactly as over HttpSender.
    let err = client
        .get_account_with_commitment(&mint, CommitmentConfig::confirmed())
        .await
        .unwrap_err();
    match err.kind() {
        ErrorKind::RpcError(RpcError::ForUser(text)) => assert!(
            text.contains(
                "RPC response error -32602: Invalid params: dualrpc-sim does not serve base64+zstd"
            ),
            "{text}"
        ),
        other => panic!("unexpected {other:?}"),
    }

    // Transport stats count every request.
    let stats = client.get_transport_stats();
    assert_eq!(stats.request_count, 10);
    assert!(stats.elapsed_time > std::time::Duration::ZERO);

    // The label names endpoints, never their URLs.
    assert_eq!(client.url(), "dualrpc[zero-a,zero-b]");
    for endpoint in cluster.endpoints() {
        assert!(!client.url().contains(&endpoint.addr().port().to_string()));
    }
    assert!(!client.url().contains("http"));
    assert!(!client.url().contains("127.0.0.1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn scripted_account_and_invalid_params() {
    let a = Upstream::start().await;
    let b = Upstream::start().await;
    for u in [&a, &b] {
        u.set(
            "getAccountInfo",
            Step::result(
                r#"{"context":{"slot":77},"value":{"data":["AQID","base64"],"executable":false,
                   "lamports":1461600,"owner":"TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
                   "rentEpoch":18446744073709551615,"space":3}}"#,
            ),
        );
        u.set(
            "getBalance",
            Step::error(-32602, "Invalid param: WrongSize"),
        );
    }
    let client = dualrpc_rpc_sender::rpc_client(pool(&[("a", a.url()), ("b", b.url())]));

    let key = Pubkey::new_from_array([9; 32]);
    let account = client
        .get_account_with_commitment(&key, CommitmentConfig::confirmed())
        .await
        .unwrap();
    assert_eq!(account.context.slot, 77);
    let account = account.value.unwrap();
    assert_eq!(account.data, vec![1, 2, 3]);
    assert_eq!(account.lamports, 1_461_600);
    // The upstream saw RpcClient's params unchanged.
    let sent = a
        .last_request("getAccountInfo")
        .or_else(|| b.last_request("getAccountInfo"))
        .unwrap();
    assert_eq!(sent["params"][0], key.to_string());
    assert_eq!(sent["params"][1]["encoding"], "base64+zstd");
    assert_eq!(sent["params"][1]["commitment"], "confirmed");

    // A deterministic upstream error ends the call at once, and arrives as the same
    // ClientError HttpSender would build.
    let err = client.get_balance(&key).await.unwrap_err();
    let (code, message, data) = response_error(&err);
    assert_eq!(code, -32602);
    assert_eq!(message, "Invalid param: WrongSize");
    assert!(matches!(data, RpcResponseErrorData::Empty));
    assert_eq!(err.request(), Some(&RpcRequest::GetBalance));
    assert_eq!(a.count("getBalance") + b.count("getBalance"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn preflight_failure_keeps_its_simulation_result() {
    let a = Upstream::start().await;
    a.set(
        "sendTransaction",
        Step::error_json(
            r#"{"code":-32002,"message":"Transaction simulation failed: Attempt to debit an account but found no record of a prior credit.",
                "data":{"err":"AccountNotFound","logs":[],"accounts":null,"unitsConsumed":0}}"#,
        ),
    );
    let client = dualrpc_rpc_sender::rpc_client(pool(&[("a", a.url())]));
    let payer = Pubkey::new_from_array([3; 32]);
    let mut tx = Transaction::new_unsigned(Message::new(&[], Some(&payer)));
    tx.signatures[0] = Signature::from([5u8; 64]);

    let err = client.send_transaction(&tx).await.unwrap_err();
    let (code, message, data) = response_error(&err);
    assert_eq!(code, -32002);
    assert!(message.starts_with("Transaction simulation failed"));
    let RpcResponseErrorData::SendTransactionPreflightFailure(result) = data else {
        panic!("expected preflight data, got {data:?}");
    };
    assert_eq!(result.units_consumed, Some(0));
    assert_eq!(
        err.get_transaction_error().map(|e| e.to_string()),
        Some("Attempt to debit an account but found no record of a prior credit.".to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failover_hides_a_failing_upstream() {
    let a = Upstream::start().await;
    let b = Upstream::start().await;
    a.set("getSlot", Step::status(503, "Service Unavailable"));
    b.set("getSlot", Step::result("4242"));
    let client = dualrpc_rpc_sender::rpc_client(pool(&[("a", a.url()), ("b", b.url())]));

    // Equal scores: `a` is asked first, answers 503, and `b` answers.
    assert_eq!(client.get_slot().await.unwrap(), 4242);
    assert_eq!(a.count("getSlot"), 1);
    assert_eq!(b.count("getSlot"), 1);
    for _ in 0..5 {
        assert_eq!(client.get_slot().await.unwrap(), 4242);
    }
    assert_eq!(client.get_transport_stats().request_count, 6);

    let url = client.url();
    assert_eq!(url, "dualrpc[a,b]");
    assert!(!url.contains(&a.addr().port().to_string()));
    assert!(!url.contains(&b.addr().port().to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn all_failed_names_endpoints_not_urls() {
    let a = Upstream::start().await;
    let b = Upstream::start().await;
    a.set("getSlot", Step::status(503, "Service Unavailable"));
    b.set("getSlot", Step::status(502, "Bad Gateway"));
    let client = dualrpc_rpc_sender::rpc_client(pool(&[("alpha", a.url()), ("beta", b.url())]));

    let err = client.get_slot().await.unwrap_err();
    let (code, message, data) = response_error(&err);
    assert_eq!(code, dualrpc::error::CODE_ALL_FAILED);
    assert!(
        message.starts_with("all upstream endpoints failed"),
        "{message}"
    );
    assert!(
        message.contains("alpha") && message.contains("beta"),
        "{message}"
    );
    assert!(!message.contains("127.0.0.1"), "{message}");
    assert!(matches!(data, RpcResponseErrorData::Empty));
}

#[tokio::test(flavor = "multi_thread")]
async fn blocking_client_runs_calls_on_the_pool_runtime() {
    let cluster = sim().await;
    let expected = cluster.chain().slot_at(Commitment::Finalized, 0);
    // Built here, where the pool's runtime is current; used from a plain thread.
    let client = dualrpc_rpc_sender::blocking_rpc_client(sim_pool(&cluster));
    let (slot, url) = tokio::task::spawn_blocking(move || {
        let slot = client.get_slot().unwrap();
        let again = client.get_slot().unwrap();
        assert_eq!(slot, again);
        assert_eq!(client.get_transport_stats().request_count, 2);
        (slot, client.url())
    })
    .await
    .unwrap();
    assert_eq!(slot, expected);
    assert_eq!(url, "dualrpc[zero-a,zero-b]");
}
