//! The upstream client against real local servers: connection reuse, a keep-alive
//! connection the provider closed, a request with side effects never sent twice, URL
//! credentials, size limits, 429, an abandoned request, and HTTP/2 over TLS (one
//! multiplexed connection, opened once by a burst of first calls).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::{Answer, UpstreamClient, tls_config};
use crate::outcome::FailureKind;

type Handler = Arc<
    dyn Fn(Bytes) -> Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>
        + Send
        + Sync,
>;

/// An HTTP/1.1 server on loopback; counts the connections it accepted.
struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Server {
    async fn start(handler: Handler) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let handler = handler.clone();
                        async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            Ok::<_, Infallible>(handler(body))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server { addr, accepted }
    }

    fn client(&self) -> UpstreamClient {
        let uri = format!("http://{}/rpc?key=secret", self.addr)
            .parse()
            .unwrap();
        UpstreamClient::new(uri, &tls_config().unwrap())
    }
}

fn full(
    status: u16,
    body: &'static str,
) -> Response<http_body_util::combinators::BoxBody<Bytes, Infallible>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    r
}

fn echo() -> Handler {
    Arc::new(|body| Response::new(Full::new(body).boxed()))
}

#[tokio::test]
async fn one_connection_serves_requests_one_after_another() {
    let server = Server::start(echo()).await;
    let client = server.client();
    for i in 0..20 {
        let body = Bytes::from(format!("{{\"n\":{i}}}"));
        match client.post(body.clone(), 1 << 20, true).await {
            Ok(Answer::Body(status, got)) => {
                assert!(status.is_success());
                assert_eq!(got, body);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(client.conns.idle(), 1);
}

/// A provider that answers as if the connection stays open, then closes it (an idle
/// timeout that struck just then): the next request goes out on a new connection.
#[tokio::test]
async fn a_connection_the_provider_closed_is_not_a_failure() {
    use tokio::io::AsyncWriteExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                // One request, one answer, then close.
                if read_request(&mut stream, &mut Vec::new()).await {
                    stream.write_all(OK_ANSWER.as_bytes()).await.unwrap();
                }
            });
        }
    });
    let client = UpstreamClient::new(
        format!("http://{addr}/").parse().unwrap(),
        &tls_config().unwrap(),
    );
    for _ in 0..20 {
        let answer = client.post(Bytes::from_static(b"{}"), 1 << 20, true).await;
        assert!(matches!(answer, Ok(Answer::Body(..))), "{answer:?}");
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        20,
        "one connection per request"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_declared_or_streamed() {
    let declared = Server::start(Arc::new(|_| full(200, "0123456789"))).await;
    let got = declared.client().post(Bytes::new(), 5, true).await;
    assert!(matches!(got, Err(FailureKind::TooLarge)), "{got:?}");
    // Chunked, in pieces: refused as the pieces add up past the limit.
    let streamed = Server::start(Arc::new(|_| {
        let pieces = (0..4).map(|_| Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"abcd"))));
        Response::new(StreamBody::new(futures_util::stream::iter(pieces)).boxed())
    }))
    .await;
    let client = streamed.client();
    let got = client.post(Bytes::new(), 10, true).await;
    assert!(matches!(got, Err(FailureKind::TooLarge)), "{got:?}");
    // Within the limit, the pieces arrive as one buffer.
    match client.post(Bytes::new(), 16, true).await {
        Ok(Answer::Body(_, body)) => assert_eq!(&body[..], b"abcdabcdabcdabcd"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn too_many_requests_says_how_long_to_stay_away() {
    let server = Server::start(Arc::new(|_| {
        let mut r = full(429, "slow down");
        r.headers_mut().insert("retry-after", "2".parse().unwrap());
        r
    }))
    .await;
    let got = server.client().post(Bytes::new(), 1 << 20, true).await;
    assert!(
        matches!(got, Ok(Answer::RateLimited(Some(d))) if d == Duration::from_secs(2)),
        "{got:?}"
    );
}

#[tokio::test]
async fn an_abandoned_request_does_not_return_its_connection() {
    let (release, released) = tokio::sync::watch::channel(false);
    let server = Server::start(echo()).await;
    // A second server that never answers: the request is abandoned mid-way.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
            if *released.borrow() {
                return;
            }
        }
    });
    let client = UpstreamClient::new(
        format!("http://{silent}/").parse().unwrap(),
        &tls_config().unwrap(),
    );
    let abandoned = tokio::time::timeout(
        Duration::from_millis(50),
        client.post(Bytes::new(), 1024, true),
    )
    .await;
    assert!(abandoned.is_err(), "the silent server never answers");
    assert_eq!(
        client.conns.idle(),
        0,
        "a connection with an unread answer is not reused"
    );
    let _ = release.send(true);
    // The echo server's client is unaffected by any of it.
    assert!(matches!(
        server.client().post(Bytes::new(), 1024, true).await,
        Ok(Answer::Body(..))
    ));
}

#[tokio::test]
async fn http2_over_tls_multiplexes_calls_on_one_connection() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let mut server_tls = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key)
        .unwrap();
    server_tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let tls = acceptor.accept(stream).await.unwrap();
                assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
                let service = service_fn(|req: Request<Incoming>| async move {
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    Ok::<_, Infallible>(Response::new(Full::new(body)))
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let client_tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = Arc::new(UpstreamClient::new(
        format!("https://localhost:{port}/").parse().unwrap(),
        &Arc::new(client_tls),
    ));
    // Many first calls at once: one opens the connection, the others wait and share it.
    let calls = (0..32).map(|i| {
        let client = client.clone();
        async move {
            let body = Bytes::from(format!("{{\"n\":{i}}}"));
            match client.post(body.clone(), 1024, true).await {
                Ok(Answer::Body(_, got)) => got == body,
                _ => false,
            }
        }
    });
    let results = futures_util::future::join_all(calls).await;
    assert!(results.iter().all(|ok| *ok));
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "every call on one HTTP/2 connection"
    );
}

/// `{"ok":true}` as a keep-alive HTTP/1.1 answer.
const OK_ANSWER: &str = "HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";

/// Reads one HTTP/1.1 request (headers, then the declared body) from `stream`, with
/// `seen` holding bytes already read past the previous one; false at the end of the stream.
pub(super) async fn read_request(stream: &mut tokio::net::TcpStream, seen: &mut Vec<u8>) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let end = loop {
        let text = String::from_utf8_lossy(seen).to_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if seen.len() >= end + 4 + len {
                break end + 4 + len;
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(k) => seen.extend_from_slice(&buf[..k]),
        }
    };
    seen.drain(..end);
    true
}

/// A server whose every connection answers its first request and then, on the second,
/// reads it whole and closes without a word (an upstream that processed it and died).
async fn answers_once_then_closes() -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::AsyncWriteExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for n in 0.. {
                    if !read_request(&mut stream, &mut seen).await {
                        return;
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    if n == 1 {
                        return; // processed, then gone
                    }
                    stream.write_all(OK_ANSWER.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (addr, requests)
}

#[tokio::test]
async fn a_request_with_side_effects_is_never_sent_twice() {
    for replayable in [false, true] {
        let (addr, requests) = answers_once_then_closes().await;
        let client = UpstreamClient::new(
            format!("http://{addr}/").parse().unwrap(),
            &tls_config().unwrap(),
        );
        let first = client
            .post(Bytes::from_static(b"{}"), 1024, replayable)
            .await;
        assert!(matches!(first, Ok(Answer::Body(..))), "{first:?}");
        // On the reused connection the server reads the request and closes.
        let second = client
            .post(Bytes::from_static(b"{}"), 1024, replayable)
            .await;
        if replayable {
            assert!(matches!(second, Ok(Answer::Body(..))), "{second:?}");
            assert_eq!(requests.load(Ordering::SeqCst), 3, "sent again, once");
        } else {
            assert!(matches!(second, Err(FailureKind::Transport)), "{second:?}");
            assert_eq!(requests.load(Ordering::SeqCst), 2, "never sent twice");
        }
    }
}

#[tokio::test]
async fn credentials_in_the_url_become_basic_auth_and_leave_the_host() {
    // A server that answers with the two headers it got.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let service = service_fn(|req: Request<Incoming>| async move {
            let h = |n: &str| {
                req.headers()
                    .get(n)
                    .map_or("-".to_string(), |v| v.to_str().unwrap().to_string())
            };
            let text = format!("{}|{}", h("host"), h("authorization"));
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
        });
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service)
            .await;
    });
    let client = UpstreamClient::new(
        format!("http://us%20er:p%40ss@{addr}/rpc").parse().unwrap(),
        &tls_config().unwrap(),
    );
    match client.post(Bytes::new(), 1024, true).await {
        Ok(Answer::Body(_, got)) => {
            use base64::Engine as _;
            let token = base64::engine::general_purpose::STANDARD.encode("us er:p@ss");
            assert_eq!(
                std::str::from_utf8(&got).unwrap(),
                format!("{addr}|Basic {token}")
            );
        }
        other => panic!("{other:?}"),
    }
}
