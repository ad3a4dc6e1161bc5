//! The connection's own HTTP/1.1 path (`front`) over raw sockets: pipelined posts answered
//! in order, a head and body in pieces, a connection handed to hyper mid-way (and still
//! served), HTTP/1.0 and `Connection: close`, a body over the limit, `Expect`, and a server
//! stopping with one connection idle and one request in progress.

use std::time::Duration;

use dualrpc_testkit::{Gate, Step};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

fn post(id: u64, extra: &str) -> String {
    let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"getSlot"}}"#);
    format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

async fn connect(gw: &Gateway) -> TcpStream {
    TcpStream::connect(gw.url.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads `n` responses (each with a `content-length`, or `100 Continue`): (head, body).
async fn responses(s: &mut TcpStream, n: usize) -> Vec<(String, String)> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    within("responses", async {
        while out.len() < n {
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let head = text[..end].to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if text.len() >= end + 4 + len {
                    out.push((head, text[end + 4..end + 4 + len].to_string()));
                    buf.drain(..end + 4 + len);
                    continue;
                }
            }
            let mut chunk = [0u8; 4096];
            let k = s.read(&mut chunk).await.unwrap();
            assert!(k > 0, "closed after {} responses: {text}", out.len());
            buf.extend_from_slice(&chunk[..k]);
        }
    })
    .await;
    out
}

/// Whether the server closes the connection (nothing more is read).
async fn closes(s: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    within("close", s.read_to_end(&mut rest)).await.is_ok() && rest.is_empty()
}

fn id_of(body: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(body).unwrap()["id"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn pipelined_posts_and_posts_in_pieces_are_answered_in_order() {
    let ups = upstreams(1).await;
    let gw = gateway(pool_and_options(&ups, "").0).await;
    let mut s = connect(&gw).await;
    s.write_all(format!("{}{}", post(1, ""), post(2, "")).as_bytes())
        .await
        .unwrap();
    let third = post(3, "x-dualrpc-strategy: race\r\n");
    let (a, b) = third.split_at(20);
    s.write_all(a.as_bytes()).await.unwrap();
    s.flush().await.unwrap();
    tokio::task::yield_now().await;
    s.write_all(b.as_bytes()).await.unwrap();
    let got = responses(&mut s, 3).await;
    let ids: Vec<u64> = got.iter().map(|(_, body)| id_of(body)).collect();
    assert_eq!(ids, [1, 2, 3]);
    for (head, body) in &got {
        assert!(head.starts_with("http/1.1 200 ok"), "{head}");
        assert!(head.contains("\r\ndate: "), "{head}");
        assert!(body.contains(r#""result":1000"#), "{body}");
    }
    assert!(
        got[2].0.contains("x-dualrpc-strategy: race"),
        "{}",
        got[2].0
    );
    assert_eq!(ups[0].count("getSlot"), 3);
}

/// The front reads only the headers admission needs, by position in the head: names in
/// any case, the first of repeated values (as a header map's `get`), a value that is not
/// text refused, other headers ignored, and the API key from the query.
#[tokio::test]
async fn admission_headers_are_read_from_the_head_as_hyper_would() {
    let ups = upstreams(1).await;
    let (pool, opts) = pool_and_options(&ups, "[gateway]\napi_keys = [\"k-0123456789abcdef\"]\n");
    let gw = gateway_with(pool, opts).await;
    let requests = [
        // No key: refused; a key in mixed-case names and repeated (the first counts).
        "",
        "X-Api-Key: k-0123456789abcdef\r\nx-api-key: wrong\r\n",
        "x-api-key: wrong\r\nX-API-KEY: k-0123456789abcdef\r\n",
        // The override headers in any case, among unrelated headers.
        "x-other: 1\r\nX-Api-Key: k-0123456789abcdef\r\nX-DualRPC-Strategy: race\r\nX-Dualrpc-Timeout-Ms: 0\r\n",
        "x-api-key: k-0123456789abcdef\r\nx-dualrpc-strategy: race\r\nx-dualrpc-strategy: nope\r\n",
    ]
    .map(|extra| post(1, extra))
    .concat();
    let mut s = connect(&gw).await;
    s.write_all(requests.as_bytes()).await.unwrap();
    let got = responses(&mut s, 5).await;
    let status = |i: usize| got[i].0.lines().next().unwrap().to_string();
    assert!(status(0).contains("401"), "{}", status(0));
    assert!(status(1).contains("200"), "{}", status(1));
    assert!(status(2).contains("401"), "{}", status(2));
    assert!(status(3).contains("400"), "{}", status(3));
    assert!(got[3].1.contains("timeout-ms"), "{}", got[3].1);
    assert!(status(4).contains("200"), "{}", status(4));
    assert!(
        got[4].0.contains("x-dualrpc-strategy: race"),
        "{}",
        got[4].0
    );
    // A content type other than JSON is refused, however its name is written; a value
    // that is not text (a byte above 0x7f) is refused as the header map's `to_str` would.
    let mut s = connect(&gw).await;
    let request = post(2, "x-api-key: k-0123456789abcdef\r\n")
        .replace("content-type: application/json", "Content-Type: text/plain");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut bad = post(
        3,
        "x-api-key: k-0123456789abcdef\r\nx-dualrpc-strategy: r\u{e9}ce\r\n",
    );
    bad = bad.replace("POST /", "POST /?x=1");
    s.write_all(bad.as_bytes()).await.unwrap();
    s.write_all(
        post(4, "")
            .replace("POST / ", "POST /race?api-key=k-0123456789abcdef ")
            .as_bytes(),
    )
    .await
    .unwrap();
    let got = responses(&mut s, 3).await;
    assert!(got[0].0.starts_with("http/1.1 415"), "{}", got[0].0);
    assert!(got[1].0.starts_with("http/1.1 400"), "{}", got[1].0);
    assert!(got[1].1.contains("not text"), "{}", got[1].1);
    assert!(got[2].0.starts_with("http/1.1 200"), "{}", got[2].0);
    assert!(
        got[2].0.contains("x-dualrpc-strategy: race"),
        "{}",
        got[2].0
    );
    assert_eq!(ups[0].count("getSlot"), 3);
}

#[tokio::test]
async fn a_connection_is_handed_to_hyper_for_anything_else_and_still_served() {
    let ups = upstreams(1).await;
    let gw = gateway(pool_and_options(&ups, "").0).await;
    let mut s = connect(&gw).await;
    // A post, then a GET pipelined behind another post: the GET and everything after it
    // are hyper's.
    s.write_all(
        format!(
            "{}GET /health HTTP/1.1\r\nhost: x\r\n\r\n{}",
            post(1, ""),
            post(2, "")
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let got = responses(&mut s, 3).await;
    assert_eq!(id_of(&got[0].1), 1);
    assert!(got[1].0.starts_with("http/1.1 200"), "{:?}", got[1]);
    assert!(!got[1].1.contains("jsonrpc"), "{:?}", got[1]);
    assert_eq!(id_of(&got[2].1), 2);
    // And a post again, on the same connection.
    s.write_all(post(3, "").as_bytes()).await.unwrap();
    assert_eq!(id_of(&responses(&mut s, 1).await[0].1), 3);
}

#[tokio::test]
async fn expect_continue_is_served_by_hyper() {
    let ups = upstreams(1).await;
    let gw = gateway(pool_and_options(&ups, "").0).await;
    let mut s = connect(&gw).await;
    let request = post(9, "expect: 100-continue\r\n");
    let (head, body) = request.split_at(request.find("\r\n\r\n").unwrap() + 4);
    s.write_all(head.as_bytes()).await.unwrap();
    let got = responses(&mut s, 1).await;
    assert!(got[0].0.starts_with("http/1.1 100"), "{:?}", got[0]);
    s.write_all(body.as_bytes()).await.unwrap();
    assert_eq!(id_of(&responses(&mut s, 1).await[0].1), 9);
}

#[tokio::test]
async fn http_1_0_and_connection_close_end_the_connection_after_the_answer() {
    let ups = upstreams(1).await;
    let gw = gateway(pool_and_options(&ups, "").0).await;
    let mut s = connect(&gw).await;
    s.write_all(post(1, "connection: close\r\n").as_bytes())
        .await
        .unwrap();
    let got = responses(&mut s, 1).await;
    assert!(got[0].0.contains("connection: close"), "{}", got[0].0);
    assert!(closes(&mut s).await);

    let mut s = connect(&gw).await;
    s.write_all(post(2, "").replace("HTTP/1.1", "HTTP/1.0").as_bytes())
        .await
        .unwrap();
    assert_eq!(id_of(&responses(&mut s, 1).await[0].1), 2);
    assert!(closes(&mut s).await);

    // HTTP/1.0 asking for keep-alive keeps it.
    let mut s = connect(&gw).await;
    let keep = post(3, "connection: keep-alive\r\n").replace("HTTP/1.1", "HTTP/1.0");
    s.write_all(format!("{keep}{keep}").as_bytes())
        .await
        .unwrap();
    let got = responses(&mut s, 2).await;
    assert!(got[0].0.contains("connection: keep-alive"), "{}", got[0].0);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_unread() {
    let ups = upstreams(1).await;
    let (pool, opts) = pool_and_options(&ups, "[limits]\nmax_request_bytes = 1000\n");
    let gw = gateway_with(pool, opts).await;
    let mut s = connect(&gw).await;
    s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n\r\n{\"jsonrpc\"")
        .await
        .unwrap();
    let got = responses(&mut s, 1).await;
    assert!(got[0].0.starts_with("http/1.1 413"), "{:?}", got[0]);
    assert!(got[0].1.contains("-32600"), "{:?}", got[0]);
    assert!(closes(&mut s).await);
    assert_eq!(ups[0].count("getSlot"), 0);
}

#[tokio::test]
async fn stopping_closes_idle_connections_and_answers_the_request_in_progress() {
    let ups = upstreams(1).await;
    let gate = Gate::new();
    ups[0].set("getSlot", Step::result("7").gated(&gate));
    let gw = gateway(pool_and_options(&ups, "").0).await;
    let mut idle = connect(&gw).await;
    idle.write_all(post(1, "").as_bytes()).await.unwrap();
    let mut busy = connect(&gw).await;
    busy.write_all(post(2, "").as_bytes()).await.unwrap();
    within("calls upstream", ups[0].wait_for("getSlot", 2)).await;
    gate.open();
    // Both answered; now one connection is idle, and the other has a call in flight.
    let _ = responses(&mut idle, 1).await;
    let _ = responses(&mut busy, 1).await;
    let gate = Gate::new();
    ups[0].set("getSlot", Step::result("8").gated(&gate));
    busy.write_all(post(3, "").as_bytes()).await.unwrap();
    within("calls upstream", ups[0].wait_for("getSlot", 3)).await;
    let stopping = tokio::spawn(gw.server.stop());
    assert!(closes(&mut idle).await, "an idle connection is closed");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        !stopping.is_finished(),
        "the request in progress is waited for"
    );
    gate.open();
    let got = responses(&mut busy, 1).await;
    assert_eq!(id_of(&got[0].1), 3);
    assert!(got[0].0.contains("connection: close"), "{}", got[0].0);
    within("stop", stopping).await.unwrap().unwrap();
}

/// A request that began before the server stopped and turns out to be hyper's (a GET
/// whose head was still arriving) is answered, not dropped with the connection.
#[tokio::test]
async fn a_request_handed_to_hyper_while_stopping_is_answered() {
    let ups = upstreams(1).await;
    let gw = gateway(pool_and_options(&ups, "").0).await;
    let addr = gw.url.trim_start_matches("http://").to_string();
    let mut s = connect(&gw).await;
    s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    s.flush().await.unwrap();
    let stopping = tokio::spawn(gw.server.stop());
    // The listener is closed right before the stop is signalled to connections.
    within("listener closed", async {
        while TcpStream::connect(&addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    s.write_all(b"\r\n").await.unwrap();
    let got = responses(&mut s, 1).await;
    assert!(got[0].0.starts_with("http/1.1 200"), "{:?}", got[0]);
    within("stop", stopping).await.unwrap().unwrap();
}

/// A client that hangs up mid-call cancels the call: under `hedge`, the hedge that would
/// have gone to the second provider after 50 ms is never sent. (With the client still
/// there, it is.)
#[tokio::test]
async fn a_client_that_hangs_up_cancels_its_call() {
    for hang_up in [true, false] {
        let ups = upstreams(2).await;
        let gate = Gate::new();
        for u in &ups {
            u.set("getSlot", Step::result("7").gated(&gate));
        }
        let (pool, opts) = pool_and_options(
            &ups,
            "[default]\nstrategy = \"hedge\"\ntimeout_ms = 30000\n",
        );
        let gw = gateway_with(pool, opts).await;
        let mut s = connect(&gw).await;
        s.write_all(post(1, "").as_bytes()).await.unwrap();
        let asked = || ups[0].count("getSlot") + ups[1].count("getSlot");
        eventually("the first attempt", || asked() == 1).await;
        if hang_up {
            drop(s);
            // Well past the 50 ms hedge delay: nothing more may be sent.
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(asked(), 1, "a hedge was sent for a client that left");
        } else {
            eventually("the hedge", || asked() == 2).await;
        }
        gate.open();
    }
}
