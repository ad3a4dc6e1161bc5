//! [`Conns`]: one endpoint's upstream connections on one worker — HTTP/1.1 keep-alive
//! connections taken one request at a time, or one HTTP/2 connection shared by every
//! request when the provider negotiates it over TLS.
//!
//! Plain `http://` connections speak HTTP/1.1 themselves ([`H1`], driven by the request
//! holding one); over TLS hyper's connection-level client does the protocol, each
//! connection driven by a task of its own. This is only the pool: the warmest
//! idle connection is reused first (LIFO), closed or expired ones are dropped when met,
//! and a connection goes back only after its answer was read whole (a request abandoned
//! half-way closes its connection, as HTTP/1.1 requires). Every connection is driven by
//! a task on the runtime that opened it — the worker whose requests use it.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connection, HttpConnector};

use super::CONNECT_TIMEOUT;
use super::h1::H1;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use parking_lot::Mutex;
use tower_service::Service;

use crate::clock::{self, Instant};
use crate::outcome::FailureKind;

/// Idle keep-alive connections kept: enough for a burst of concurrent attempts to find a
/// warm connection instead of paying a TCP/TLS handshake.
const MAX_IDLE: usize = 256;
/// How long an idle upstream connection is kept: below the 60 s idle timeout common in
/// providers' load balancers, so the provider rarely closes a connection just as it is
/// taken.
const IDLE_TIMEOUT: Duration = Duration::from_secs(50);
/// HTTP/2 pings on the shared connection: a connection that died silently (a NAT, a
/// partition) is noticed within interval + timeout and replaced, instead of every request
/// on it timing out until TCP gives up.
const H2_PING_INTERVAL: Duration = Duration::from_secs(15);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(5);
/// Read buffer of an HTTP/1.1 connection. hyper's default starts at 8 KiB and grows; a
/// connection waiting for its answer holds it the whole time, and with thousands of calls
/// in flight that is most of the gateway's memory. A typical answer fits in 4 KiB; a large
/// one (a block, a program's accounts) is read in more pieces, at the cost of a few more
/// reads per megabyte, far below what scanning that megabyte costs.
const READ_BUFFER: usize = 4096;

/// How connections are opened: plain TCP for `http://`, TLS (HTTP/2 if offered) for
/// `https://`.
#[derive(Debug, Clone)]
pub(super) enum Connector {
    /// `http://`: host and port.
    Http(String, u16),
    /// `https://`.
    Https(HttpsConnector<HttpConnector>),
}

/// Connects with `connector`.
async fn call<C>(mut connector: C, uri: &Uri) -> Result<C::Response, FailureKind>
where
    C: Service<Uri>,
{
    std::future::poll_fn(|cx| connector.poll_ready(cx))
        .await
        .map_err(|_| FailureKind::Connect)?;
    connector
        .call(uri.clone())
        .await
        .map_err(|_| FailureKind::Connect)
}

/// An HTTP/1.1 connection over `io`, driven by a task of its own.
async fn http1<T>(io: T) -> Result<Sender, FailureKind>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = http1::Builder::new()
        .read_buf_exact_size(Some(READ_BUFFER))
        .handshake(io)
        .await
        .map_err(|_| FailureKind::Connect)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Sender::Http1(sender))
}

/// A connection ready for one request.
#[derive(Debug)]
pub(super) enum Sender {
    /// A plain-TCP HTTP/1.1 connection ([`H1`]), this request's alone until it goes back.
    Plain(H1),
    /// An HTTP/1.1 connection, this request's alone until it goes back.
    Http1(http1::SendRequest<Full<Bytes>>),
    /// A handle on the shared HTTP/2 connection.
    Http2(http2::SendRequest<Full<Bytes>>),
}

#[derive(Debug)]
struct Idle {
    conn: IdleConn,
    since: Instant,
}

/// An idle HTTP/1.1 connection.
#[derive(Debug)]
enum IdleConn {
    Plain(H1),
    Tls(http1::SendRequest<Full<Bytes>>),
}

impl IdleConn {
    /// Whether the provider closed it (or sent something unasked).
    fn closed(&self) -> bool {
        match self {
            IdleConn::Plain(h1) => !h1.usable(),
            IdleConn::Tls(sender) => sender.is_closed(),
        }
    }
}

/// One endpoint's connections on one worker (module doc).
#[derive(Debug)]
pub(super) struct Conns {
    connector: Connector,
    idle: Mutex<VecDeque<Idle>>,
    shared: Mutex<Option<http2::SendRequest<Full<Bytes>>>>,
    /// Held while a TLS connection is opened that may turn out to be HTTP/2, so that a
    /// burst of first requests opens one connection and shares it, not one each.
    opening: tokio::sync::Mutex<()>,
    /// Whether the provider answered TLS with HTTP/1.1 (then connections open in
    /// parallel, as each request needs its own).
    http1_only: std::sync::atomic::AtomicBool,
}

impl Conns {
    /// Connections made with `connector`.
    pub(super) fn new(connector: Connector) -> Conns {
        Conns {
            connector,
            idle: Mutex::new(VecDeque::new()),
            shared: Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
            http1_only: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A connection for one request: the shared HTTP/2 one, the warmest idle HTTP/1.1
    /// one, or (always, if `fresh`) a new one. Says whether it was used before.
    pub(super) async fn checkout(
        &self,
        uri: &Uri,
        fresh: bool,
    ) -> Result<(Sender, bool), FailureKind> {
        if !fresh && let Some(h2) = self.shared_h2() {
            return Ok((Sender::Http2(h2), true));
        }
        // `pop_back` is evaluated only when not `fresh`; the lock is released before the
        // loop body runs.
        while let Some(idle) = (!fresh).then(|| self.idle.lock().pop_back()).flatten() {
            if idle.conn.closed()
                || clock::now().saturating_duration_since(idle.since) > IDLE_TIMEOUT
            {
                continue;
            }
            match idle.conn {
                IdleConn::Plain(h1) => return Ok((Sender::Plain(h1), true)),
                // Idle means ready; a connection closing right now answers with an error.
                IdleConn::Tls(mut sender) => {
                    if sender.ready().await.is_ok() {
                        return Ok((Sender::Http1(sender), true));
                    }
                }
            }
        }
        // Boxed: connecting (TCP, TLS, HTTP/2 handshake) is a large future, and every
        // request's future would otherwise carry its size.
        Ok((Box::pin(self.open(uri, fresh)).await?, false))
    }

    /// A new connection — or, over TLS while HTTP/2 is possible, the shared one another
    /// request opened while this one waited its turn.
    async fn open(&self, uri: &Uri, fresh: bool) -> Result<Sender, FailureKind> {
        use std::sync::atomic::Ordering;
        if matches!(self.connector, Connector::Http(..)) || self.http1_only.load(Ordering::Relaxed)
        {
            return self.connect(uri).await;
        }
        let _turn = self.opening.lock().await;
        if !fresh && let Some(h2) = self.shared_h2() {
            return Ok(Sender::Http2(h2));
        }
        self.connect(uri).await
    }

    fn shared_h2(&self) -> Option<http2::SendRequest<Full<Bytes>>> {
        let mut shared = self.shared.lock();
        match &*shared {
            Some(h2) if !h2.is_closed() => Some(h2.clone()),
            Some(_) => {
                *shared = None;
                None
            }
            None => None,
        }
    }

    /// Opens a connection (TCP, TLS if https, HTTP/2 if the provider picks it).
    async fn connect(&self, uri: &Uri) -> Result<Sender, FailureKind> {
        match &self.connector {
            Connector::Http(host, port) => Ok(Sender::Plain(
                H1::connect(host, *port, CONNECT_TIMEOUT).await?,
            )),
            Connector::Https(https) => {
                let io = call(https.clone(), uri).await?;
                if !io.connected().is_negotiated_h2() {
                    self.http1_only
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    return http1(io).await;
                }
                let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .keep_alive_interval(H2_PING_INTERVAL)
                    .keep_alive_timeout(H2_PING_TIMEOUT)
                    .keep_alive_while_idle(true)
                    .handshake(io)
                    .await
                    .map_err(|_| FailureKind::Connect)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                *self.shared.lock() = Some(sender.clone());
                Ok(Sender::Http2(sender))
            }
        }
    }

    /// Takes back a connection whose answer was read whole.
    pub(super) fn put(&self, sender: Sender) {
        let conn = match sender {
            Sender::Plain(h1) => IdleConn::Plain(h1),
            Sender::Http1(sender) if !sender.is_closed() => IdleConn::Tls(sender),
            _ => return,
        };
        let now = clock::now();
        let mut idle = self.idle.lock();
        // The coldest connections leave first: expired, closed, or beyond the limit.
        while let Some(oldest) = idle.front() {
            let stale = oldest.conn.closed()
                || now.saturating_duration_since(oldest.since) > IDLE_TIMEOUT
                || idle.len() >= MAX_IDLE;
            if !stale {
                break;
            }
            idle.pop_front();
        }
        idle.push_back(Idle { conn, since: now });
    }

    /// Idle HTTP/1.1 connections (tests).
    #[cfg(test)]
    pub(super) fn idle(&self) -> usize {
        self.idle.lock().len()
    }
}
