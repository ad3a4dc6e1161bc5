//! Bad output from an upstream — invalid JSON, a truncated body, a wrong or missing id, a
//! body over `[limits] max_response_bytes`, a slow drip, a reset, a hang, an HTML page —
//! is that endpoint's failure: it is charged to the endpoint under the right kind, never
//! forwarded, and the call is answered from the healthy endpoint.
//!
//! Each case races `a` (bad) against `b` (good). `b`'s answer is held behind a gate until
//! `a`'s failure has been recorded, so every case proves that `a` was really asked and
//! really failed before the client got `b`'s answer.

use std::time::Duration;

use dualrpc_testkit::{Gate, Step};
use serde_json::Value;

use crate::support::*;

/// Any method without an emptiness rule: a success is a success.
const METHOD: &str = "getBlockHeight";
/// `b`'s answer.
const GOOD: &str = "424242";
/// Every bad body carries this, so a leak would show.
const MARK: &str = "BADBYTES";

async fn post_race(url: &str) -> reqwest::Response {
    post(
        &format!("{url}/race"),
        &format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{METHOD}"}}"#),
    )
    .await
}

/// `a` answers with `bad`; the client must get `b`'s answer, byte for byte, and `a` must
/// be charged exactly one failure of `kind`. `a` has a 150 ms attempt timeout, `b` 10 s.
async fn bad_answer_is_a_failure(bad: Step, kind: &str, rest: &str) {
    let ups = upstreams(2).await;
    let gate = Gate::new();
    ups[0].set(METHOD, bad);
    ups[1].set(METHOD, Step::result(GOOD).gated(&gate));
    let pool = pool_with(
        &ups,
        &["timeout_ms = 150", "timeout_ms = 10000"],
        &format!("[default]\ndeadline_ms = 15000\n{rest}"),
    );
    let gw = gateway(pool.clone()).await;
    let req = tokio::spawn({
        let url = gw.url.clone();
        async move { post_race(&url).await }
    });
    eventually(&format!("a's `{kind}` failure recorded"), || {
        failures(&pool, "a", kind) == 1
    })
    .await;
    gate.open();
    let r = within("race", req).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-dualrpc-endpoint"), "b");
    assert_eq!(header(&r, "x-dualrpc-attempts"), "2");
    let text = within("body", r.text()).await.unwrap();
    assert_eq!(
        text,
        format!(r#"{{"jsonrpc":"2.0","result":{GOOD},"id":1}}"#),
        "b's answer, spliced verbatim"
    );
    assert!(!text.contains(MARK), "bad bytes leaked: {text}");
    let status = pool.status();
    let a = &endpoint(&status, "a").counts;
    assert_eq!(a.success, 0);
    assert_eq!(
        a.failures.values().sum::<u64>(),
        1,
        "a: exactly one failure, `{kind}`: {:?}",
        a.failures
    );
    assert_eq!(endpoint(&status, "b").counts.success, 1);
}

#[tokio::test]
async fn invalid_json_is_invalid_response() {
    bad_answer_is_a_failure(
        Step::raw(format!(r#"{{"jsonrpc":"2.0","id":1,"result":{MARK}}}"#)),
        "invalid_response",
        "",
    )
    .await;
}

#[tokio::test]
async fn html_page_with_status_200_is_invalid_response() {
    bad_answer_is_a_failure(
        Step::status_with_headers(
            200,
            format!("<html><head><title>{MARK}</title></head><body>oops</body></html>"),
            &[("content-type", "text/html")],
        ),
        "invalid_response",
        "",
    )
    .await;
}

#[tokio::test]
async fn html_page_with_status_502_is_http_status() {
    bad_answer_is_a_failure(
        Step::status_with_headers(
            502,
            format!("<html><body><h1>502 Bad Gateway</h1>{MARK}</body></html>"),
            &[("content-type", "text/html")],
        ),
        "http_status",
        "",
    )
    .await;
}

#[tokio::test]
async fn result_and_error_together_is_invalid_response() {
    bad_answer_is_a_failure(
        Step::raw(format!(
            r#"{{"jsonrpc":"2.0","id":1,"result":"{MARK}","error":{{"code":1,"message":"x"}}}}"#
        )),
        "invalid_response",
        "",
    )
    .await;
}

#[tokio::test]
async fn truncated_body_is_transport() {
    // The full length is declared; 30 bytes are sent, then the connection is closed.
    bad_answer_is_a_failure(
        Step::truncated(format!(r#""{MARK}{}""#, "x".repeat(200)), 30),
        "transport",
        "",
    )
    .await;
}

#[tokio::test]
async fn wrong_id_is_wrong_id() {
    bad_answer_is_a_failure(Step::wrong_id(format!(r#""{MARK}""#)), "wrong_id", "").await;
}

#[tokio::test]
async fn missing_id_is_wrong_id() {
    bad_answer_is_a_failure(
        Step::raw(format!(r#"{{"jsonrpc":"2.0","result":"{MARK}"}}"#)),
        "wrong_id",
        "",
    )
    .await;
}

#[tokio::test]
async fn body_over_the_limit_is_too_large() {
    // 10 KB with a content-length: refused from the header.
    bad_answer_is_a_failure(
        Step::result(format!(r#""{MARK}{}""#, "x".repeat(10 * 1024))),
        "too_large",
        "[limits]\nmax_response_bytes = 1024\n",
    )
    .await;
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_too_large() {
    // 10 KB chunked, no content-length: refused while streaming.
    bad_answer_is_a_failure(
        Step::chunked(format!(r#""{MARK}{}""#, "x".repeat(10 * 1024)), 512),
        "too_large",
        "[limits]\nmax_response_bytes = 1024\n",
    )
    .await;
}

#[tokio::test]
async fn slow_drip_is_timeout() {
    // A correct answer (right id) sent one byte per 50 ms: ~3 s in all, against a 150 ms
    // attempt timeout. The timeout covers reading the body, not just the headers.
    bad_answer_is_a_failure(
        Step::drip(format!(r#""{MARK}""#), Duration::from_millis(50)),
        "timeout",
        "",
    )
    .await;
}

#[tokio::test]
async fn reset_is_transport() {
    bad_answer_is_a_failure(Step::reset(), "transport", "").await;
}

#[tokio::test]
async fn hang_is_timeout() {
    bad_answer_is_a_failure(Step::hang(), "timeout", "").await;
}

#[tokio::test]
async fn small_chunked_body_is_accepted() {
    // Control for the chunked case: chunking by itself is fine.
    let ups = upstreams(1).await;
    ups[0].set(METHOD, Step::chunked(r#"{"v":"0123456789abcdef"}"#, 3));
    let pool = pool(&ups, "[limits]\nmax_response_bytes = 1024\n");
    let gw = gateway(pool.clone()).await;
    let r = within("call", post_race(&gw.url)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        within("body", r.text()).await.unwrap(),
        r#"{"jsonrpc":"2.0","result":{"v":"0123456789abcdef"},"id":1}"#
    );
    assert_eq!(endpoint(&pool.status(), "a").counts.success, 1);
}

#[tokio::test]
async fn when_every_endpoint_is_bad_the_client_gets_an_error_not_the_bytes() {
    let ups = upstreams(2).await;
    ups[0].set(METHOD, Step::wrong_id(format!(r#""{MARK}""#)));
    ups[1].set(
        METHOD,
        Step::status_with_headers(200, format!("<html>{MARK}</html>"), &[]),
    );
    let pool = pool(&ups, "");
    let gw = gateway(pool.clone()).await;
    let r = within("race", post_race(&gw.url)).await;
    assert_eq!(r.status(), 200);
    let text = within("body", r.text()).await.unwrap();
    assert!(!text.contains(MARK), "bad bytes leaked: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["id"], 1);
    assert!(v.get("result").is_none(), "{v}");
    assert!(v["error"]["code"].is_i64(), "{v}");
    assert!(failures(&pool, "a", "wrong_id") >= 1);
    assert!(failures(&pool, "b", "invalid_response") >= 1);
}

#[tokio::test]
async fn scripted_truncation_really_cuts_the_body_short() {
    // The testkit's truncated reply, read off the socket: full length declared, `keep`
    // bytes sent, then end of stream.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ups = upstreams(1).await;
    ups[0].set(METHOD, Step::truncated(r#""0123456789""#, 10));
    let mut s = tokio::net::TcpStream::connect(ups[0].addr()).await.unwrap();
    let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{METHOD}"}}"#);
    s.write_all(
        format!(
            "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let _ = within("read to eof", s.read_to_end(&mut out)).await;
    let text = String::from_utf8(out).unwrap();
    let (head, sent) = text.split_once("\r\n\r\n").expect("headers were sent");
    let full = r#"{"jsonrpc":"2.0","id":1,"result":"0123456789"}"#;
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {}", full.len())),
        "{head}"
    );
    assert_eq!(sent, &full[..10]);
}
