//! nginx peer end to end: a real nginx over two tiny upstreams, one answering 503 and one
//! answering a JSON-RPC result. Skipped (with a note) where nginx is not installed; CI installs it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dualrpc_bench::nginx::{NginxOptions, NginxPeer, find_nginx};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A minimal HTTP/1.1 keep-alive server answering every request with `status` and `body`,
/// counting requests in `hits`.
async fn upstream(
    status: &'static str,
    body: &'static str,
    hits: Arc<AtomicUsize>,
) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let hits = hits.clone();
            tokio::spawn(async move {
                let _ = answer(sock, status, body, &hits).await;
            });
        }
    });
    (addr, task)
}

async fn answer(
    mut sock: TcpStream,
    status: &str,
    body: &str,
    hits: &AtomicUsize,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        // Read one request: headers, then Content-Length bytes of body.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..head_end + len);
        hits.fetch_add(1, Ordering::SeqCst);
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(resp.as_bytes()).await?;
    }
}

fn nginx_missing() -> bool {
    if find_nginx().is_none() {
        eprintln!(
            "skipping: nginx is not installed (scripts/bench.sh or `apt-get install -y nginx-light` installs it)"
        );
        return true;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_retries_past_a_503_upstream() {
    if nginx_missing() {
        return;
    }
    let bad_hits = Arc::new(AtomicUsize::new(0));
    let good_hits = Arc::new(AtomicUsize::new(0));
    let (bad, bad_task) = upstream("503 Service Unavailable", "", bad_hits.clone()).await;
    let (good, good_task) = upstream(
        "200 OK",
        r#"{"jsonrpc":"2.0","id":1,"result":"healthy"}"#,
        good_hits.clone(),
    )
    .await;

    let peer = NginxPeer::start(
        &[("sick".to_string(), bad), ("healthy".to_string(), good)],
        NginxOptions {
            timeout_ms: 2_000,
            primary_backup: false,
        },
    )
    .await
    .unwrap();
    let pid = peer.pid().unwrap();

    let client = reqwest::Client::new();
    // Round-robin sends one of the first two requests to the sick upstream; every answer must
    // still come from the healthy one.
    for _ in 0..4 {
        let resp = client
            .post(peer.url())
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"getSlot"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        assert_eq!(body["result"], "healthy");
    }
    assert!(
        bad_hits.load(Ordering::SeqCst) >= 1,
        "nginx never tried the sick upstream, so it never retried"
    );
    assert_eq!(good_hits.load(Ordering::SeqCst), 4);

    peer.stop().await;
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "nginx (pid {pid}) still running after stop"
    );
    bad_task.abort();
    good_task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_peer_kills_nginx() {
    if nginx_missing() {
        return;
    }
    let hits = Arc::new(AtomicUsize::new(0));
    let (addr, task) = upstream("200 OK", r#"{"jsonrpc":"2.0","id":1,"result":1}"#, hits).await;
    let peer = NginxPeer::start(&[("only".to_string(), addr)], NginxOptions::default())
        .await
        .unwrap();
    let pid = peer.pid().unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(peer);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "nginx (pid {pid}) outlived its NginxPeer"
    );
    task.abort();
}

#[tokio::test]
async fn start_without_upstreams_is_an_error() {
    let err = NginxPeer::start(&[], NginxOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
