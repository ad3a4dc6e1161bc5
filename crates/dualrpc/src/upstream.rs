//! [`UpstreamClient`]: how one endpoint is spoken to — hyper-util's pooled HTTP client over
//! rustls, with the URL parsed once.
//!
//! A request is the prepared body and nothing else (method, URI, one content-type header):
//! no URL parsing or copying per request, and the answer is read into one buffer under a
//! size limit. HTTP/1.1 keep-alive, or HTTP/2 where the provider offers it over TLS (many
//! calls in flight on one connection); certificates are checked against the platform's
//! trust store. Errors are reduced to a [`FailureKind`] before anything could print them:
//! a transport error's text can hold the URL, and with it the API key.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::outcome::FailureKind;

/// Idle keep-alive connections kept per endpoint and worker: enough for a burst of
/// concurrent attempts to find a warm connection instead of paying a TCP/TLS handshake.
const MAX_IDLE: usize = 256;
/// How long an idle upstream connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Read buffer of an HTTP/1.1 upstream connection.
const READ_BUFFER: usize = 4096;
/// TCP connect timeout: a provider that cannot accept in this time is down for our needs.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What came back: a status with its body, or 429 with how long to stay away.
#[derive(Debug)]
pub(crate) enum Answer {
    /// An HTTP answer other than 429.
    Body(StatusCode, Bytes),
    /// HTTP 429, with `Retry-After` in seconds if given.
    RateLimited(Option<Duration>),
}

/// One endpoint's HTTP client. Its URI is secret: `Debug` does not show it.
#[derive(Clone)]
pub(crate) struct UpstreamClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    uri: Uri,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamClient(<redacted>)")
    }
}

impl UpstreamClient {
    /// A client for `uri` (http or https).
    pub(crate) fn new(uri: Uri, tls: &Arc<rustls::ClientConfig>) -> UpstreamClient {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((**tls).clone())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            // A JSON-RPC answer is read in pieces of this size; hyper's adaptive default
            // starts at 8 KiB per connection, which is most of a connection's memory when
            // thousands of calls are in flight on HTTP/1.1.
            .http1_read_buf_exact_size(READ_BUFFER)
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(MAX_IDLE)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https);
        UpstreamClient { client, uri }
    }

    /// POSTs `body` and reads the answer, refusing bodies above `max_bytes` while they
    /// stream in.
    pub(crate) async fn post(&self, body: Bytes, max_bytes: usize) -> Result<Answer, FailureKind> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let response = self.client.request(request).await.map_err(|e| {
            if e.is_connect() {
                FailureKind::Connect
            } else {
                FailureKind::Transport
            }
        })?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Ok(Answer::RateLimited(retry_after));
        }
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max_bytes as u64) {
            return Err(FailureKind::TooLarge);
        }
        let body = Limited::new(response.into_body(), max_bytes)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    FailureKind::TooLarge
                } else {
                    FailureKind::Transport
                }
            })?;
        Ok(Answer::Body(status, body.to_bytes()))
    }
}

/// The TLS settings every endpoint shares: rustls with the platform's certificate
/// verifier (as browsers and curl on the same machine trust).
pub(crate) fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_platform_verifier()
        .map_err(|e| e.to_string())?
        .with_no_client_auth();
    Ok(Arc::new(config))
}
