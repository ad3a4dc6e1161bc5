//! [`UpstreamClient`]: how one endpoint is spoken to — hyper's connection-level HTTP
//! client over rustls, with our own small pool ([`conns`]) and the URL parsed once.
//!
//! A request is the prepared body and nothing else (method, URI, `Host`, one content-type
//! header): no URL parsing or copying per request, and the answer is read into one buffer
//! under a size limit — the very buffer hyper read it into when it came in one piece.
//! HTTP/1.1 keep-alive, or HTTP/2 where the provider offers it over TLS (many calls in
//! flight on one connection); certificates are checked against the platform's trust
//! store. Errors are reduced to a [`FailureKind`] before anything could print them: a
//! transport error's text can hold the URL, and with it the API key.
//!
//! hyper-util's pooled client did the same with a shared pool behind a lock and a hash
//! map, boxed futures and a spawned connection check-out per request; the profile of the
//! gateway showed it as the largest piece of the proxy's own CPU time.

mod conns;
mod h1;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, RETRY_AFTER};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;

use crate::outcome::FailureKind;
use conns::{Connector, Conns, Sender};

/// TCP connect timeout: a provider that cannot accept in this time is down for our needs.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// What came back: a status with its body, or 429 with how long to stay away.
#[derive(Debug)]
pub(crate) enum Answer {
    /// An HTTP answer other than 429.
    Body(StatusCode, Bytes),
    /// HTTP 429, with `Retry-After` in seconds if given.
    RateLimited(Option<Duration>),
}

/// One endpoint's HTTP client on one worker. Its URI is secret: `Debug` does not show it.
pub(crate) struct UpstreamClient {
    conns: Conns,
    /// The whole URI: where to connect, and the request target over HTTP/2.
    uri: Uri,
    /// The request target over HTTP/1.1 (path and query).
    origin: Uri,
    /// `Host`.
    host: HeaderValue,
    /// `Authorization: Basic …` from a URL's `user:password@` (never sent in `Host`).
    basic_auth: Option<HeaderValue>,
    /// A plain HTTP/1.1 request's head up to its `Content-Length` value.
    head: Bytes,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamClient(<redacted>)")
    }
}

impl UpstreamClient {
    /// A client for `uri` (http or https). A `user:password@` in it becomes a Basic
    /// `Authorization` header, as browsers and curl do, and leaves the URI.
    pub(crate) fn new(uri: Uri, tls: &Arc<rustls::ClientConfig>) -> UpstreamClient {
        let (uri, basic_auth) = split_userinfo(uri);
        let connector = if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_nodelay(true);
            http.set_connect_timeout(Some(CONNECT_TIMEOUT));
            Connector::Https(
                hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config((**tls).clone())
                    .https_only()
                    .enable_http1()
                    .enable_http2()
                    .wrap_connector(http),
            )
        } else {
            Connector::Http(
                uri.host().unwrap_or("localhost").to_string(),
                uri.port_u16().unwrap_or(80),
            )
        };
        let origin = uri
            .path_and_query()
            .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
        let host = uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .unwrap_or(HeaderValue::from_static("localhost"));
        let head = plain_head(&origin, &host, basic_auth.as_ref());
        UpstreamClient {
            conns: Conns::new(connector),
            uri,
            origin,
            host,
            basic_auth,
            head,
        }
    }

    fn request(&self, body: Bytes, http2: bool) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        // Room for the headers it gets only (the default is room for a dozen; with
        // thousands of requests in flight every slot counts).
        let headers = 2 + usize::from(self.basic_auth.is_some());
        *request.headers_mut() = http::HeaderMap::with_capacity(headers);
        *request.method_mut() = Method::POST;
        *request.uri_mut() = if http2 {
            self.uri.clone()
        } else {
            self.origin.clone()
        };
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, APPLICATION_JSON);
        if !http2 {
            headers.insert(HOST, self.host.clone());
        }
        if let Some(auth) = &self.basic_auth {
            headers.insert(AUTHORIZATION, auth.clone());
        }
        request
    }

    /// POSTs `body` and reads the answer, refusing bodies above `max_bytes` while they
    /// stream in. `replayable`: the request has no side effects (see below).
    pub(crate) async fn post(
        &self,
        body: Bytes,
        max_bytes: usize,
        replayable: bool,
    ) -> Result<Answer, FailureKind> {
        // A keep-alive connection the provider closed just as it was taken is not the
        // provider failing: the request goes out once more, on a new connection, when it
        // certainly was not processed — hyper gave it back unsent, or HTTP/2 refused the
        // stream (`REFUSED_STREAM`, or above a graceful `GOAWAY`'s last stream). When the
        // connection ended after the request was written and before a byte of an answer
        // (usually a provider closing an idle connection without reading), it goes out
        // again only if it is `replayable`: a `sendTransaction` is never sent twice.
        let mut fresh = false;
        let (sender, response) = loop {
            let (mut sender, reused) = self.conns.checkout(&self.uri, fresh).await?;
            let sent = match &mut sender {
                Sender::Plain(h1) => {
                    let mut digits = itoa::Buffer::new();
                    let length = digits.format(body.len()).as_bytes();
                    match h1
                        .exchange([&self.head, length, b"\r\n\r\n", &body], max_bytes)
                        .await
                    {
                        Ok(reply) => return Ok(self.plain_answer(sender, reply)),
                        Err(e)
                            if !fresh && reused && e.before_answer && (e.unsent || replayable) =>
                        {
                            fresh = true;
                            continue;
                        }
                        Err(e) => return Err(e.kind),
                    }
                }
                Sender::Http1(s) => s.try_send_request(self.request(body.clone(), false)).await,
                Sender::Http2(s) => s.try_send_request(self.request(body.clone(), true)).await,
            };
            match sent {
                Ok(response) => break (sender, response),
                Err(e)
                    if !fresh
                        && (e.message().is_some()
                            || refused_unprocessed(e.error())
                            || (replayable && reused && e.error().is_incomplete_message())) =>
                {
                    fresh = true;
                }
                Err(_) => return Err(FailureKind::Transport),
            }
        };
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            // The body is not needed; the connection is not reused.
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
        let bytes = read_body(response.into_body(), declared, max_bytes).await?;
        self.conns.put(sender);
        Ok(Answer::Body(status, bytes))
    }
}

impl UpstreamClient {
    /// A plain connection's answer; the connection goes back if it may carry another.
    fn plain_answer(&self, sender: Sender, reply: h1::Reply) -> Answer {
        if reply.reusable {
            self.conns.put(sender);
        }
        if reply.status == 429 {
            return Answer::RateLimited(reply.retry_after.map(Duration::from_secs));
        }
        let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
        Answer::Body(status, reply.body)
    }
}

/// A plain HTTP/1.1 request's head up to the value of its `Content-Length`: made once per
/// client, so a request writes it as it is.
fn plain_head(origin: &Uri, host: &HeaderValue, basic_auth: Option<&HeaderValue>) -> Bytes {
    let mut head = Vec::with_capacity(128);
    head.extend_from_slice(b"POST ");
    head.extend_from_slice(origin.to_string().as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    head.extend_from_slice(host.as_bytes());
    head.extend_from_slice(b"\r\ncontent-type: application/json\r\n");
    if let Some(auth) = basic_auth {
        head.extend_from_slice(b"authorization: ");
        head.extend_from_slice(auth.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"content-length: ");
    Bytes::from(head)
}

/// Whether an HTTP/2 stream failed in a way that guarantees the server did not process it:
/// refused, or cut by a graceful `GOAWAY` (RFC 9113 §8.7).
fn refused_unprocessed(error: &hyper::Error) -> bool {
    use std::error::Error as _;
    let Some(h2) = error.source().and_then(|s| s.downcast_ref::<h2::Error>()) else {
        return false;
    };
    match h2.reason() {
        Some(h2::Reason::REFUSED_STREAM) => true,
        Some(h2::Reason::NO_ERROR) => h2.is_go_away(),
        _ => false,
    }
}

/// Moves a URI's `user:password@` into a Basic `Authorization` header value (percent-
/// decoded, as RFC 3986 userinfo is written).
fn split_userinfo(uri: Uri) -> (Uri, Option<HeaderValue>) {
    use base64::Engine as _;
    let Some((userinfo, host)) = uri.authority().and_then(|a| a.as_str().rsplit_once('@')) else {
        return (uri, None);
    };
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let mut credentials = decode(user);
    credentials.push(b':');
    credentials.extend(decode(password));
    let token = base64::engine::general_purpose::STANDARD.encode(credentials);
    let header = HeaderValue::from_str(&format!("Basic {token}"))
        .ok()
        .map(|mut h| {
            h.set_sensitive(true);
            h
        });
    let mut parts = uri.clone().into_parts();
    let Ok(authority) = host.parse() else {
        return (uri, None);
    };
    parts.authority = Some(authority);
    match Uri::from_parts(parts) {
        Ok(stripped) => (stripped, header),
        Err(_) => (uri, None),
    }
}

/// Reads a body whole, refusing more than `max` bytes: a body that came in one piece is
/// kept as that piece; one in several is gathered into a single buffer, sized by
/// `Content-Length` when given.
async fn read_body(
    body: Incoming,
    declared: Option<u64>,
    max: usize,
) -> Result<Bytes, FailureKind> {
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut gathered: Option<BytesMut> = None;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| FailureKind::Transport)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        total += data.len();
        if total > max {
            return Err(FailureKind::TooLarge);
        }
        if let Some(buf) = &mut gathered {
            buf.extend_from_slice(&data);
        } else if let Some(head) = first.take() {
            let expect = declared.map_or(0, |n| n as usize).min(max);
            let mut buf = BytesMut::with_capacity(expect.max(head.len() + data.len()));
            buf.extend_from_slice(&head);
            buf.extend_from_slice(&data);
            gathered = Some(buf);
        } else {
            first = Some(data);
        }
    }
    Ok(match gathered {
        Some(buf) => buf.freeze(),
        None => first.unwrap_or_default(),
    })
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
