//! The front door of every connection: JSON-RPC posts over HTTP/1.1 are read and answered
//! by the connection's own task; everything else is handed to hyper.
//!
//! Under load most of what a JSON-RPC request costs the gateway around the call itself
//! was hyper's server: a `Request` with a header map and a body channel, a dispatcher
//! polling service and connection in turn, the response's head encoded from another header
//! map. A client post to `/` or `/{strategy}` with a `Content-Length` is simple enough to
//! serve directly: its head is parsed with `httparse` in the connection's buffer, the
//! header values and the body are slices of that buffer (not copies), the call runs in this
//! task, and the answer's head and body go out in one vectored write. Pipelined requests
//! are answered in order.
//!
//! The first request that is anything else — another method or path, `Expect`,
//! `Transfer-Encoding`, an upgrade to WebSocket, HTTP/2, a head that does not parse — hands
//! the connection, with the bytes read so far, to hyper ([`Rewind`]), which serves it from
//! then on: the operator pages, PubSub upgrades, errors and every HTTP feature keep
//! hyper's behaviour. Timeouts are hyper's too: a head must arrive within
//! `header_read_timeout` of the server waiting for it (an idle keep-alive connection
//! included), a body within `body_read_timeout`; neither arms a timer while the bytes are
//! already there. When the server stops, an idle connection is closed and one with a
//! request in progress is answered (with `connection: close`) first.

use std::cell::RefCell;
use std::future::Future;
use std::io::IoSlice;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use dualrpc::Strategy;
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::AppState;
use crate::head::RequestHead;
use crate::response::Outgoing;

/// Headers a request served here may carry (more: hyper serves it).
const MAX_HEADERS: usize = 64;
/// The longest request head served here (longer: hyper answers it).
const MAX_HEAD: usize = 16 * 1024;
/// Room a read is given at least.
const READ_ROOM: usize = 4096;
/// Room reserved for a body before its bytes arrive, and the largest buffer a connection
/// keeps between requests.
const BODY_ROOM: usize = 64 * 1024;

/// Serves one connection (module doc); `fallback` takes it over for hyper.
pub(crate) async fn connection<F, Fut>(
    state: Arc<AppState>,
    stream: TcpStream,
    mut stop: watch::Receiver<bool>,
    fallback: F,
) where
    F: FnOnce(Rewind) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut conn = Conn {
        stream,
        buf: BytesMut::with_capacity(2 * READ_ROOM),
        out: BytesMut::new(),
    };
    loop {
        match conn.serve_one(&state, &mut stop).await {
            Next::Again => {}
            Next::Close => {
                let _ = conn.stream.shutdown().await;
                return;
            }
            Next::Hyper(read) => {
                return fallback(Rewind {
                    read,
                    io: conn.stream,
                })
                .await;
            }
        }
    }
}

/// What a connection does after a request.
enum Next {
    /// Read the next request.
    Again,
    /// Close it.
    Close,
    /// Hand it to hyper with these bytes read already.
    Hyper(Bytes),
}

struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet used.
    buf: BytesMut,
    /// The answer's head.
    out: BytesMut,
}

/// Whether a wait ended with bytes, the end of the stream, its deadline, or the server
/// stopping.
enum Waited {
    Bytes,
    Eof,
    Late,
    Stopped,
}

/// A parsed request head; its target and headers as ranges of the head's bytes (at most
/// [`MAX_HEAD`] long, so `u16` offsets).
struct Head {
    len: usize,
    target: Range<usize>,
    strategy: Option<Strategy>,
    http10: bool,
    content_length: usize,
    close: bool,
    keep_alive: bool,
    /// Where the first value of each of [`ADMITTED`] is: (start, end), if it was sent.
    admitted: [Option<(u16, u16)>; ADMITTED.len()],
}

/// The headers admission reads ([`crate::head`]): the front keeps where each one's value
/// is, and nothing of any other (no header map per request).
const ADMITTED: [&str; 4] = [
    crate::HEADER_API_KEY,
    "content-type",
    crate::HEADER_STRATEGY,
    crate::HEADER_TIMEOUT_MS,
];

impl Conn {
    /// Reads one request and answers it, or says why not.
    async fn serve_one(&mut self, state: &AppState, stop: &mut watch::Receiver<bool>) -> Next {
        let mut deadline = None;
        let head = loop {
            if !self.buf.is_empty() {
                match parse(&self.buf) {
                    Parsed::Head(head) => break head,
                    Parsed::Partial if self.buf.len() < MAX_HEAD => {}
                    Parsed::Partial | Parsed::Other => {
                        return Next::Hyper(self.buf.split().freeze());
                    }
                }
            }
            // The server stopping closes a connection between requests only.
            let idle = self.buf.is_empty();
            let deadline = *deadline.get_or_insert_with(|| {
                Instant::now() + state.current.load().options.front.header_read_timeout
            });
            match self.read(deadline, idle.then_some(&mut *stop)).await {
                Waited::Bytes => {}
                Waited::Eof | Waited::Late | Waited::Stopped => return Next::Close,
            }
        };
        // The configuration of the moment the request arrived (not of when the connection
        // began to wait: a reload in between counts).
        let snapshot = state.current.load_full();
        let front = &snapshot.options.front;
        let max = snapshot.options.limits.max_request_bytes;
        let strategy = head.strategy;
        if head.content_length > max {
            self.answer(crate::rpc::body_too_large(max), false, head.http10)
                .await;
            return Next::Close;
        }
        // The head stays in the buffer until the body is in: the request is split off in
        // one piece (one split shares the buffer once; two would allocate twice).
        let total = head.len + head.content_length;
        let mut deadline = None;
        if self.buf.len() < total {
            // Room for the body, but not more than BODY_ROOM before its bytes come: a
            // client declaring megabytes and sending nothing holds little.
            self.buf.reserve((total - self.buf.len()).min(BODY_ROOM));
        }
        while self.buf.len() < total {
            let deadline =
                *deadline.get_or_insert_with(|| Instant::now() + front.body_read_timeout);
            match self.read(deadline, None).await {
                Waited::Bytes => {}
                Waited::Late => {
                    self.answer(crate::rpc::body_late(), false, head.http10)
                        .await;
                    return Next::Close;
                }
                Waited::Eof | Waited::Stopped => return Next::Close,
            }
        }
        let request = self.buf.split_to(total).freeze();
        let body = request.slice(head.len..);
        if head.content_length > BODY_ROOM || self.buf.capacity() > BODY_ROOM {
            // The large allocation goes with the body (freed when the call is answered);
            // the connection keeps a small buffer, with any pipelined bytes, not the
            // largest body it ever read (`BytesMut` would reclaim that allocation).
            let mut fresh = BytesMut::with_capacity((2 * READ_ROOM).max(self.buf.len()));
            fresh.extend_from_slice(&self.buf);
            self.buf = fresh;
        }
        let admitted = Admitted {
            head: &head,
            bytes: &request[..head.len],
        };
        let call = crate::rpc::serve_read(&snapshot, &admitted, strategy, &body);
        // A client that hangs up cancels its call, as under hyper: no further attempts,
        // hedges or retries (an attempt already sent runs on to its timeout, so its answer
        // still counts in the endpoint's stats). Bytes of a pipelined request are kept for
        // the next one.
        let response = tokio::select! {
            biased;
            response = call => response,
            () = peer_gone(&self.stream, &mut self.buf) => return Next::Close,
        };
        drop((request, body));
        let keep = !*stop.borrow()
            && if head.http10 {
                head.keep_alive
            } else {
                !head.close
            };
        if self.answer(response, keep, head.http10).await && keep {
            Next::Again
        } else {
            Next::Close
        }
    }

    /// Reads what the socket has (no wait if it has something), else waits for bytes
    /// until `deadline` — or, given `stop`, until the server stops.
    async fn read(
        &mut self,
        deadline: Instant,
        stop: Option<&mut watch::Receiver<bool>>,
    ) -> Waited {
        if self.buf.capacity() - self.buf.len() < READ_ROOM {
            self.buf.reserve(READ_ROOM);
        }
        // Through tokio's `poll_read`, not `try_read`: a read shorter than its room tells
        // tokio the socket is drained (epoll is edge-triggered), so the next wait costs no
        // failing `recv` — one system call per request fewer.
        let mut read = std::pin::pin!(self.stream.read_buf(&mut self.buf));
        let ready = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
        if let Poll::Ready(r) = ready {
            return got(r);
        }
        // Not there yet: only now a timer.
        let late = tokio::time::sleep_until(deadline);
        match stop {
            Some(stop) => {
                tokio::select! {
                    biased;
                    r = read => got(r),
                    _ = stop.wait_for(|s| *s) => Waited::Stopped,
                    () = late => Waited::Late,
                }
            }
            None => {
                tokio::select! {
                    biased;
                    r = read => got(r),
                    () = late => Waited::Late,
                }
            }
        }
    }

    /// Writes `response`; says whether it went out whole.
    async fn answer(&mut self, response: Outgoing, keep: bool, http10: bool) -> bool {
        let Outgoing {
            status,
            headers,
            body,
        } = response;
        self.out.clear();
        let out = &mut self.out;
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.extend_from_slice(b" ");
        out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if status != StatusCode::NO_CONTENT {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !keep {
            out.extend_from_slice(b"connection: close\r\n");
        } else if http10 {
            out.extend_from_slice(b"connection: keep-alive\r\n");
        }
        date(out);
        out.extend_from_slice(b"\r\n");
        let parts = body.parts();
        let Conn { stream, out, .. } = self;
        let written = if parts.len() < 8 {
            let mut fixed: [&[u8]; 8] = [&[]; 8];
            fixed[0] = &out[..];
            for (slot, part) in fixed[1..].iter_mut().zip(parts) {
                *slot = &part[..];
            }
            dualrpc::wire::write_all(stream, &mut fixed[..=parts.len()]).await
        } else {
            let mut all: Vec<&[u8]> = std::iter::once(&out[..])
                .chain(parts.iter().map(|b| &b[..]))
                .collect();
            dualrpc::wire::write_all(stream, &mut all).await
        };
        written.is_ok()
    }
}

/// What a read of the client's socket means.
fn got(read: std::io::Result<usize>) -> Waited {
    match read {
        Ok(0) | Err(_) => Waited::Eof,
        Ok(_) => Waited::Bytes,
    }
}

/// Completes when the client has closed the connection (or broken it); a pipelined
/// request's bytes are read into `buf`, and then it never completes.
async fn peer_gone(stream: &TcpStream, buf: &mut BytesMut) {
    if buf.is_empty() {
        loop {
            if stream.readable().await.is_err() {
                return;
            }
            if buf.capacity() - buf.len() < READ_ROOM {
                buf.reserve(READ_ROOM);
            }
            match stream.try_read_buf(buf) {
                Ok(0) => return,
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
    std::future::pending().await
}

/// Appends `date: …\r\n`, formatted once a second per thread.
fn date(out: &mut BytesMut) {
    thread_local! {
        static DATE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
    }
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with_borrow_mut(|(at, text)| {
        if *at != secs || text.is_empty() {
            *at = secs;
            *text = httpdate::fmt_http_date(now);
        }
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\r\n");
    });
}

// Parsed on the stack and moved once; boxing would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Parsed {
    Head(Head),
    Partial,
    /// Not a request served here (hyper's).
    Other,
}

/// The strategy a JSON-RPC target names (`/` or `/{strategy}`, any query), or `None`.
fn rpc_target(target: &[u8]) -> Option<Option<Strategy>> {
    let path = target.split(|&b| b == b'?').next().unwrap_or(target);
    let path = std::str::from_utf8(path).ok()?;
    match path {
        "/" => Some(None),
        p => p.strip_prefix('/')?.parse().ok().map(Some),
    }
}

/// Parses a request head at the start of `buf`, if it is one served here.
fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other,
    };
    if len > MAX_HEAD {
        return Parsed::Other;
    }
    // Offsets within the head: below MAX_HEAD.
    let offset = |s: &[u8]| {
        let start = s.as_ptr() as usize - buf.as_ptr() as usize;
        start..start + s.len()
    };
    let (Some("POST"), Some(target), Some(version)) =
        (request.method, request.path, request.version)
    else {
        return Parsed::Other;
    };
    let Some(strategy) = rpc_target(target.as_bytes()) else {
        return Parsed::Other;
    };
    let mut head = Head {
        len,
        target: offset(target.as_bytes()),
        strategy,
        http10: version == 0,
        content_length: 0,
        close: false,
        keep_alive: false,
        admitted: [None; ADMITTED.len()],
    };
    let mut length = None;
    for h in request.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let Some(n) = dualrpc::wire::decimal(h.value).and_then(|n| usize::try_from(n).ok())
            else {
                return Parsed::Other;
            };
            if length.is_some_and(|l| l != n) {
                return Parsed::Other;
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("upgrade")
        {
            return Parsed::Other;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                head.close |= token.eq_ignore_ascii_case(b"close");
                head.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        if let Some(i) = ADMITTED.iter().position(|a| name.eq_ignore_ascii_case(a))
            && head.admitted[i].is_none()
        {
            let value = offset(h.value);
            head.admitted[i] = Some((value.start as u16, value.end as u16));
        }
    }
    let Some(length) = length else {
        return Parsed::Other;
    };
    head.content_length = length;
    Parsed::Head(head)
}

/// A parsed head with its bytes, as admission reads it.
struct Admitted<'a> {
    head: &'a Head,
    bytes: &'a [u8],
}

impl RequestHead for Admitted<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        let i = ADMITTED.iter().position(|a| *a == name);
        debug_assert!(i.is_some(), "admission reads `{name}`: add it to ADMITTED");
        let (start, end) = self.head.admitted[i?]?;
        Some(&self.bytes[start as usize..end as usize])
    }

    fn query(&self) -> Option<&str> {
        let target = &self.bytes[self.head.target.clone()];
        let at = target.iter().position(|&b| b == b'?')?;
        std::str::from_utf8(&target[at + 1..]).ok()
    }
}

/// A connection handed to hyper: the bytes read already come first.
#[derive(Debug)]
pub(crate) struct Rewind {
    read: Bytes,
    io: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.read.is_empty() {
            let n = this.read.len().min(buf.remaining());
            buf.put_slice(&this.read[..n]);
            this.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(head: &str) -> &'static str {
        match parse(head.as_bytes()) {
            Parsed::Head(_) => "here",
            Parsed::Partial => "partial",
            Parsed::Other => "hyper",
        }
    }

    #[test]
    fn only_plain_json_rpc_posts_are_served_here() {
        let post = "POST / HTTP/1.1\r\ncontent-length: 2\r\n";
        assert_eq!(parsed(&format!("{post}\r\n")), "here");
        assert_eq!(
            parsed("POST /race?api-key=k HTTP/1.1\r\ncontent-length: 2\r\n\r\n"),
            "here"
        );
        assert_eq!(parsed(post), "partial");
        for other in [
            "GET / HTTP/1.1\r\n\r\n",
            "POST /health HTTP/1.1\r\ncontent-length: 2\r\n\r\n",
            "POST / HTTP/1.1\r\n\r\n",
            "POST / HTTP/1.1\r\ncontent-length: +2\r\n\r\n",
            "POST / HTTP/1.1\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n",
            "POST / HTTP/1.1\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\ncontent-length: 2\r\nexpect: 100-continue\r\n\r\n",
            "POST / HTTP/1.1\r\ncontent-length: 2\r\nupgrade: websocket\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            assert_eq!(parsed(other), "hyper", "{other:?}");
        }
        let many: String = (0..MAX_HEADERS).map(|i| format!("x-{i}: 1\r\n")).collect();
        assert_eq!(parsed(&format!("{post}{many}\r\n")), "hyper");
        let long = format!("{post}x-long: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(parsed(&long), "hyper");
    }
}
