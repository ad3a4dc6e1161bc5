//! One WebSocket connection's life: find events, send what is due, answer requests, sleep
//! until the next thing can happen — on the chain's clock, woken by the clock moving (the only
//! thing that moves a manual clock), by a timer (real time), by a frame, or by a forced
//! disconnect — until the client leaves, its drawn lifetime ends, or the endpoint drops it.

use std::sync::atomic::Ordering;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::feed::Feed;
use super::{Endpoint, PubsubShared, bump, lower, request, timing};

/// Counts an open connection while it lives.
struct Open<'a>(&'a PubsubShared);

impl Open<'_> {
    /// Registers a connection; returns the guard and the connection's ordinal on the endpoint.
    fn new(shared: &PubsubShared) -> (Open<'_>, u64) {
        let ordinal = shared.connections.fetch_add(1, Ordering::Relaxed);
        bump(&shared.open_connections, 1);
        (Open(shared), ordinal)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        lower(&self.0.open_connections, 1);
    }
}

/// Serves one upgraded connection until it ends.
pub(crate) async fn serve<S>(mut ws: WebSocketStream<S>, ep: Endpoint)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let shared = ep.shared.clone();
    let (_open, ordinal) = Open::new(&shared);
    let chain = ep.chain.clone();
    let mut clock = chain.clock_changes();
    let mut kill = shared.kill.subscribe();
    let lifetime = timing::lifetime(&shared.model(), ep.seed, ep.index, ordinal);
    let close_at = lifetime.map(|d| chain.now() + d);
    let mut feed = Feed::new(ep);
    loop {
        let now = chain.now();
        if close_at.is_some_and(|at| at <= now) {
            // Dropped like a load balancer drops it: no close frame.
            bump(&shared.disconnects, 1);
            return;
        }
        feed.advance(now);
        if send(&mut ws, feed.take_due(now)).await.is_err() {
            return;
        }
        let wake = [feed.next_wake(now), close_at].into_iter().flatten().min();
        let timer = async {
            match wake {
                Some(at) if chain.is_real_time() => {
                    tokio::time::sleep(at.saturating_duration_since(now)).await;
                }
                // A manual clock moves only through `advance*`, which `clock` reports.
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = kill.changed() => {
                bump(&shared.disconnects, 1);
                return;
            }
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    // Everything due by now goes out before the answer.
                    let now = chain.now();
                    feed.advance(now);
                    let mut frames = feed.take_due(now);
                    frames.extend(request::handle(&mut feed, text.as_str(), now));
                    if send(&mut ws, frames).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    // The close reply is queued; send it.
                    let _ = ws.flush().await;
                    return;
                }
                // Pings are answered by tungstenite on the next flush; binary frames ignored.
                Some(Ok(_)) => {
                    if ws.flush().await.is_err() {
                        return;
                    }
                }
                None | Some(Err(_)) => return,
            },
            _ = clock.changed() => {}
            () = timer => {}
        }
    }
}

async fn send<S>(ws: &mut WebSocketStream<S>, frames: Vec<String>) -> Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if frames.is_empty() {
        return Ok(());
    }
    for frame in frames {
        ws.feed(Message::text(frame)).await?;
    }
    ws.flush().await
}
