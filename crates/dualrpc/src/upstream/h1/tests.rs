//! The plain HTTP/1.1 client against scripted servers on loopback: answers split across
//! reads, `chunked` with trailers, `100 Continue`, `Connection: close`, HTTP/1.0, bytes
//! after an answer, contradicting lengths, garbage, and size limits — each answer read as
//! a provider meant it, and a connection reused only when that is safe.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::outcome::FailureKind;
use crate::upstream::tests::read_request;
use crate::upstream::{Answer, UpstreamClient, tls_config};

/// A server answering every request on a connection with `pieces`, written one by one
/// (flushed, so the client reads them separately); counts accepted connections.
async fn scripted(pieces: &'static [&'static [u8]]) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while read_request(&mut stream, &mut seen).await {
                    for piece in pieces {
                        if stream.write_all(piece).await.is_err() {
                            return;
                        }
                        let _ = stream.flush().await;
                        tokio::task::yield_now().await;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

fn client(addr: SocketAddr) -> UpstreamClient {
    UpstreamClient::new(
        format!("http://{addr}/").parse().unwrap(),
        &tls_config().unwrap(),
    )
}

/// Three calls; the bodies they got and the connections the server accepted.
async fn three(
    pieces: &'static [&'static [u8]],
    max: usize,
) -> (Vec<Result<Bytes, FailureKind>>, usize) {
    let (addr, accepted) = scripted(pieces).await;
    let client = client(addr);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(
            match client.post(Bytes::from_static(b"{}"), max, true).await {
                Ok(Answer::Body(status, body)) => {
                    assert_eq!(status, 200);
                    Ok(body)
                }
                Ok(other) => panic!("{other:?}"),
                Err(kind) => Err(kind),
            },
        );
    }
    (got, accepted.load(Ordering::SeqCst))
}

fn all_ok(got: &[Result<Bytes, FailureKind>], body: &str) {
    for g in got {
        assert_eq!(g.as_ref().map(|b| &b[..]), Ok(body.as_bytes()), "{got:?}");
    }
}

#[tokio::test]
async fn an_answer_in_pieces_is_read_whole_and_its_connection_reused() {
    let (got, accepted) = three(
        &[
            b"HTTP/1.1 200 OK\r\nconte",
            b"nt-length: 11\r\n\r\n{\"ok\"",
            b":true}",
        ],
        1 << 20,
    )
    .await;
    all_ok(&got, r#"{"ok":true}"#);
    assert_eq!(accepted, 1);
}

#[tokio::test]
async fn chunked_answers_are_gathered_trailers_and_all() {
    let (got, accepted) = three(
        &[
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\n{\"ok\"\r\n",
            b"6\r\n:true}\r\n0\r\nx-trailer: 1\r\n",
            b"\r\n",
        ],
        1 << 20,
    )
    .await;
    all_ok(&got, r#"{"ok":true}"#);
    assert_eq!(accepted, 1);
}

#[tokio::test]
async fn a_continue_head_is_skipped() {
    let (got, accepted) = three(
        &[b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"],
        1 << 20,
    )
    .await;
    all_ok(&got, "{}");
    assert_eq!(accepted, 1);
}

#[tokio::test]
async fn connection_close_and_http_1_0_are_not_reused() {
    let (got, accepted) = three(
        &[b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"],
        1 << 20,
    )
    .await;
    all_ok(&got, "{}");
    assert_eq!(accepted, 3);
    let (got, accepted) = three(
        &[b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n{}"],
        1 << 20,
    )
    .await;
    all_ok(&got, "{}");
    assert_eq!(accepted, 3);
    let (got, accepted) = three(
        &[b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\n{}"],
        1 << 20,
    )
    .await;
    all_ok(&got, "{}");
    assert_eq!(accepted, 1);
}

/// No length and no chunking: the answer ends when the provider closes.
#[tokio::test]
async fn an_answer_without_length_ends_with_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            if read_request(&mut stream, &mut Vec::new()).await {
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n\r\n{\"a\":").await;
                let _ = stream.flush().await;
                let _ = stream.write_all(b"1}").await;
            }
        }
    });
    let client = client(addr);
    for _ in 0..2 {
        match client.post(Bytes::from_static(b"{}"), 1 << 20, true).await {
            Ok(Answer::Body(_, body)) => assert_eq!(&body[..], br#"{"a":1}"#),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn bytes_after_an_answer_keep_its_connection_from_being_reused() {
    let (got, accepted) = three(
        &[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\n"],
        1 << 20,
    )
    .await;
    all_ok(&got, "{}");
    assert_eq!(accepted, 3);
}

#[tokio::test]
async fn contradicting_lengths_and_garbage_are_transport_failures() {
    let (got, _) = three(
        &[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}"],
        1 << 20,
    )
    .await;
    assert!(
        got.iter().all(|g| g == &Err(FailureKind::Transport)),
        "{got:?}"
    );
    let (got, _) = three(&[b"SSH-2.0-OpenSSH_9.2\r\n\r\n"], 1 << 20).await;
    assert!(
        got.iter().all(|g| g == &Err(FailureKind::Transport)),
        "{got:?}"
    );
    let (got, _) = three(
        &[b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"],
        1 << 20,
    )
    .await;
    assert!(
        got.iter().all(|g| g == &Err(FailureKind::Transport)),
        "{got:?}"
    );
}

#[tokio::test]
async fn chunked_and_unframed_bodies_over_the_limit_are_refused() {
    let (got, _) = three(
        &[b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\n123456\r\n6\r\n123456\r\n0\r\n\r\n"],
        10,
    )
    .await;
    assert!(
        got.iter().all(|g| g == &Err(FailureKind::TooLarge)),
        "{got:?}"
    );
    let (got, _) = three(&[b"HTTP/1.1 200 OK\r\n\r\n123456789012"], 10).await;
    assert!(
        got.iter().all(|g| g == &Err(FailureKind::TooLarge)),
        "{got:?}"
    );
    // At the limit exactly: accepted.
    let (got, _) = three(
        &[b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\n12345\r\n5\r\n67890\r\n0\r\n\r\n"],
        10,
    )
    .await;
    all_ok(&got, "1234567890");
}

/// A provider that never finishes its answer: the exchange waits (the attempt's timeout
/// ends it), and dropping it closes the connection instead of returning it.
#[tokio::test(start_paused = true)]
async fn an_answer_that_never_ends_leaves_with_its_connection() {
    let (addr, accepted) = scripted(&[b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"]).await;
    let client = client(addr);
    let waited = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        client.post(Bytes::from_static(b"{}"), 1 << 20, true),
    )
    .await;
    assert!(waited.is_err(), "{waited:?}");
    assert_eq!(client.conns.idle(), 0);
    let again = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        client.post(Bytes::from_static(b"{}"), 1 << 20, true),
    )
    .await;
    assert!(again.is_err());
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}
