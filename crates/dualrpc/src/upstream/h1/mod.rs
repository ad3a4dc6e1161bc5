//! [`H1`]: a plain-TCP HTTP/1.1 connection to a provider, driven by the request that holds
//! it — no connection task, no channel between the request and its connection.
//!
//! hyper's connection-level client runs every connection as a task of its own: a request
//! is handed to it through a channel, written, and its answer handed back through another,
//! with the request's head built as a `Request` with a header map. The gateway's profile
//! showed that hand-off as the largest block of its user time over an `http://` provider
//! (a co-located node, the benchmark's upstream). Here the request that took the
//! connection writes its head and body with one vectored write and reads the answer into
//! one buffer it owns, parsed with `httparse`; the body is handed on as a slice of that
//! buffer, not copied. `https://` providers keep hyper (TLS, HTTP/2).
//!
//! The answer is read as HTTP/1.1 requires: `Content-Length`, `chunked`, or (without
//! either) until the provider closes; `1xx` heads are skipped; a connection goes back to
//! the idle stack only when its answer was read whole, nothing followed it and the
//! provider did not say `Connection: close`. A request dropped half-way (its attempt timed
//! out or its call ended) drops the connection with it, closing it.

use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::outcome::FailureKind;

/// The first read's room: a typical answer fits, a larger one grows the buffer to its
/// declared length at once.
const READ_BUFFER: usize = 4096;
/// Headers an answer may carry.
const MAX_HEADERS: usize = 64;
/// The longest answer head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// What came back.
#[derive(Debug)]
pub(super) struct Reply {
    /// The status code.
    pub(super) status: u16,
    /// `Retry-After` in seconds, if given (read for 429).
    pub(super) retry_after: Option<u64>,
    /// The body (empty for 429: not read).
    pub(super) body: Bytes,
    /// Whether the connection may carry another request.
    pub(super) reusable: bool,
}

/// Why an exchange failed.
#[derive(Debug)]
pub(super) struct Failed {
    /// What to count it as.
    pub(super) kind: FailureKind,
    /// Whether nothing of an answer came back (the connection ended or broke before its
    /// first byte): on a reused connection, usually a provider closing it while idle.
    pub(super) before_answer: bool,
    /// Whether the request was not written whole (the provider cannot have processed it).
    pub(super) unsent: bool,
}

impl Failed {
    fn transport(before_answer: bool) -> Failed {
        Failed {
            kind: FailureKind::Transport,
            before_answer,
            unsent: false,
        }
    }
}

/// One plain-TCP HTTP/1.1 connection (module doc).
#[derive(Debug)]
pub(super) struct H1 {
    stream: TcpStream,
}

impl H1 {
    /// Connects to `host:port` (within `timeout`), with `TCP_NODELAY`.
    pub(super) async fn connect(
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<H1, FailureKind> {
        // An IPv6 literal comes in brackets in a URI.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let started = tokio::time::Instant::now();
        let addrs: Vec<_> = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| FailureKind::Connect)?
            .map_err(|_| FailureKind::Connect)?
            .collect();
        // Each address gets its share of what is left (as hyper's connector does), so one
        // that never answers (an unreachable IPv6 address) does not use up the whole time.
        let share = timeout.saturating_sub(started.elapsed()) / addrs.len().max(1) as u32;
        for addr in addrs {
            if let Ok(Ok(stream)) = tokio::time::timeout(share, TcpStream::connect(addr)).await {
                let _ = stream.set_nodelay(true);
                return Ok(H1 { stream });
            }
        }
        Err(FailureKind::Connect)
    }

    /// Whether an idle connection can still be used: the provider has neither closed it
    /// nor sent anything unasked. Costs no system call unless the socket was signalled.
    pub(super) fn usable(&self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.stream.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Writes the request (`parts`: its head in pieces, then its body) and reads the
    /// answer, refusing bodies above `max` bytes.
    pub(super) async fn exchange(
        &mut self,
        parts: [&[u8]; 4],
        max: usize,
    ) -> Result<Reply, Failed> {
        let mut parts = parts;
        crate::wire::write_all(&mut self.stream, &mut parts)
            .await
            .map_err(|_| Failed {
                kind: FailureKind::Transport,
                before_answer: true,
                unsent: true,
            })?;
        let mut buf = BytesMut::with_capacity(READ_BUFFER);
        loop {
            if !buf.is_empty()
                && let Some((status, head, head_len)) = parse_head(&buf)?
            {
                buf.advance(head_len);
                if (100..200).contains(&status) {
                    // `100 Continue` and the like: the real answer follows.
                    continue;
                }
                return self.answer(status, head, buf, max).await;
            }
            let n = self
                .stream
                .read_buf(&mut buf)
                .await
                .map_err(|_| Failed::transport(buf.is_empty()))?;
            if n == 0 {
                return Err(Failed::transport(buf.is_empty()));
            }
        }
    }

    /// The answer after its head (`buf`: what was read beyond the head).
    async fn answer(
        &mut self,
        status: u16,
        head: Head,
        buf: BytesMut,
        max: usize,
    ) -> Result<Reply, Failed> {
        if status == 429 {
            // The body is not needed; the connection is not reused.
            return Ok(Reply {
                status,
                retry_after: head.retry_after,
                body: Bytes::new(),
                reusable: false,
            });
        }
        let framing = match head.framing {
            _ if status == 204 || status == 304 => Framing::Length(0),
            Some(framing) => framing,
            None => return Err(Failed::transport(false)),
        };
        let (body, clean) = self.body(buf, framing, max).await?;
        Ok(Reply {
            status,
            retry_after: head.retry_after,
            body,
            reusable: clean && head.keep_alive,
        })
    }

    /// Reads the body after the head (`buf` holds what was read beyond the head). Says
    /// whether the connection ended clean: the whole body, and nothing after it.
    async fn body(
        &mut self,
        mut buf: BytesMut,
        framing: Framing,
        max: usize,
    ) -> Result<(Bytes, bool), Failed> {
        match framing {
            Framing::Length(n) => {
                if n > max as u64 {
                    return Err(Failed {
                        kind: FailureKind::TooLarge,
                        before_answer: false,
                        unsent: false,
                    });
                }
                let n = n as usize;
                if buf.len() < n {
                    buf.reserve(n - buf.len());
                }
                while buf.len() < n {
                    self.read_more(&mut buf).await?;
                }
                let body = buf.split_to(n).freeze();
                Ok((body, buf.is_empty()))
            }
            Framing::UntilClose => loop {
                if buf.len() > max {
                    return Err(too_large());
                }
                if buf.capacity() == buf.len() {
                    buf.reserve(READ_BUFFER);
                }
                let read = self
                    .stream
                    .read_buf(&mut buf)
                    .await
                    .map_err(|_| Failed::transport(false))?;
                if read == 0 {
                    return Ok((buf.freeze(), false));
                }
            },
            Framing::Chunked => self.chunked(buf, max).await,
        }
    }

    /// Reads at least one more byte into `buf`; the connection ending is an error.
    async fn read_more(&mut self, buf: &mut BytesMut) -> Result<(), Failed> {
        if buf.capacity() == buf.len() {
            buf.reserve(READ_BUFFER);
        }
        match self.stream.read_buf(buf).await {
            Ok(0) | Err(_) => Err(Failed::transport(false)),
            Ok(_) => Ok(()),
        }
    }

    /// A `chunked` body, gathered into one buffer.
    async fn chunked(&mut self, mut buf: BytesMut, max: usize) -> Result<(Bytes, bool), Failed> {
        let mut body = BytesMut::new();
        loop {
            // The size line.
            let (size, line) = loop {
                match httparse::parse_chunk_size(&buf) {
                    Ok(httparse::Status::Complete((line, size))) => break (size, line),
                    Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {
                        self.read_more(&mut buf).await?
                    }
                    _ => return Err(Failed::transport(false)),
                }
            };
            buf.advance(line);
            if size == 0 {
                // Trailers (ignored) until the blank line.
                loop {
                    if let Some(end) = find_crlf(&buf) {
                        let blank = end == 0;
                        buf.advance(end + 2);
                        if blank {
                            return Ok((body.freeze(), buf.is_empty()));
                        }
                    } else if buf.len() < MAX_HEAD {
                        self.read_more(&mut buf).await?;
                    } else {
                        return Err(Failed::transport(false));
                    }
                }
            }
            if size > (max - body.len()) as u64 {
                return Err(too_large());
            }
            let size = size as usize;
            while buf.len() < size + 2 {
                self.read_more(&mut buf).await?;
            }
            if &buf[size..size + 2] != b"\r\n" {
                return Err(Failed::transport(false));
            }
            body.extend_from_slice(&buf[..size]);
            buf.advance(size + 2);
        }
    }
}

/// The answer's status and head, and the head's length — `None` while it is incomplete.
/// Not inline in [`H1::exchange`]: its header array (2 KiB) would be part of every
/// request's future.
fn parse_head(buf: &[u8]) -> Result<Option<(u16, Head, usize)>, Failed> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(buf) {
        Ok(httparse::Status::Complete(head_len)) => Ok(Some((
            response.code.unwrap_or(0),
            Head::read(&response),
            head_len,
        ))),
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => Ok(None),
        _ => Err(Failed::transport(false)),
    }
}

fn too_large() -> Failed {
    Failed {
        kind: FailureKind::TooLarge,
        before_answer: false,
        unsent: false,
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// How the body is delimited.
#[derive(Debug, Clone, Copy)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// What the answer's head says about its body and connection.
#[derive(Debug, Default)]
struct Head {
    /// `None`: a `Content-Length` that is not one number.
    framing: Option<Framing>,
    keep_alive: bool,
    retry_after: Option<u64>,
}

impl Head {
    fn read(response: &httparse::Response<'_, '_>) -> Head {
        // HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 closes it unless
        // told otherwise.
        let mut head = Head {
            keep_alive: response.version == Some(1),
            ..Head::default()
        };
        let (mut length, mut bad_length, mut encoding) = (None::<u64>, false, None::<bool>);
        for h in response.headers.iter() {
            let value = std::str::from_utf8(h.value).unwrap_or("").trim();
            if h.name.eq_ignore_ascii_case("content-length") {
                // Repeated, it must say the same (RFC 9112 §6.3).
                match crate::wire::decimal(h.value) {
                    Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                    _ => bad_length = true,
                }
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                // Chunked only if it is the last coding; any other: read until close.
                encoding = Some(
                    value
                        .rsplit(',')
                        .next()
                        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked")),
                );
            } else if h.name.eq_ignore_ascii_case("connection") {
                for token in value.split(',') {
                    let token = token.trim();
                    if token.eq_ignore_ascii_case("close") {
                        head.keep_alive = false;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        head.keep_alive = true;
                    }
                }
            } else if h.name.eq_ignore_ascii_case("retry-after") {
                head.retry_after = value.parse().ok();
            }
        }
        // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3).
        head.framing = match (encoding, length) {
            (Some(true), _) => Some(Framing::Chunked),
            (Some(false), _) => Some(Framing::UntilClose),
            (None, _) if bad_length => None,
            (None, Some(n)) => Some(Framing::Length(n)),
            (None, None) => Some(Framing::UntilClose),
        };
        head
    }
}

#[cfg(test)]
mod tests;
