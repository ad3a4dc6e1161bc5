//! The PubSub side of an endpoint's server: the WebSocket upgrade on its JSON-RPC port (any
//! path), the session run on the upgraded connection (in the connection's own task, so
//! stopping the endpoint closes it), and [`SimEndpoint`]'s PubSub controls.

use std::sync::Arc;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use super::{EndpointState, SimEndpoint};
use crate::chain::Commitment;
use crate::pubsub::{self, LaunchNotification, NotificationTiming, PubsubModel, PubsubStats};

/// Largest frame a client may send (a subscribe request is a few hundred bytes).
const MAX_CLIENT_FRAME: usize = 64 * 1024;

/// Whether `request` asks for a WebSocket upgrade.
pub(super) fn is_upgrade<B>(request: &Request<B>) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        request.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    request.method() == Method::GET
        && has(header::CONNECTION, "upgrade")
        && has(header::UPGRADE, "websocket")
}

/// Answers an upgrade request with 101 and leaves the pending upgrade in `pending`, for the
/// connection task to serve once hyper hands the connection over.
pub(super) fn accept(
    mut request: Request<Incoming>,
    pending: &Mutex<Option<OnUpgrade>>,
) -> Response<Body> {
    let Some(key) = request.headers().get(header::SEC_WEBSOCKET_KEY) else {
        let mut bad = Response::new(Body::empty());
        *bad.status_mut() = StatusCode::BAD_REQUEST;
        return bad;
    };
    let accept = derive_accept_key(key.as_bytes());
    *pending.lock() = Some(hyper::upgrade::on(&mut request));
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    response
}

/// Serves PubSub on an upgraded connection until it ends.
pub(super) async fn serve(upgrade: OnUpgrade, state: Arc<EndpointState>) {
    let Ok(upgraded) = upgrade.await else {
        return;
    };
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(MAX_CLIENT_FRAME);
    config.max_frame_size = Some(MAX_CLIENT_FRAME);
    let ws =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    pubsub::serve(ws, state.pubsub_endpoint()).await;
}

impl EndpointState {
    fn pubsub_endpoint(&self) -> pubsub::Endpoint {
        pubsub::Endpoint {
            chain: self.chain.clone(),
            index: self.index,
            seed: self.seed,
            shared: self.pubsub.clone(),
        }
    }
}

impl SimEndpoint {
    /// `ws://IP:PORT/`: where it serves PubSub (the same port as JSON-RPC; any path works).
    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Its PubSub delivery model.
    pub fn pubsub(&self) -> PubsubModel {
        self.state.pubsub.model()
    }

    /// Replaces its PubSub delivery model (notifications already scheduled keep their time;
    /// lifetimes of open connections are kept).
    pub fn set_pubsub(&self, model: PubsubModel) {
        self.state.pubsub.set_model(model);
    }

    /// Closes every PubSub connection open now: each session drops its TCP connection
    /// (without a close frame) as soon as it runs, so a client sees its connection end right
    /// after. Connections opened afterwards are not affected.
    pub fn drop_pubsub_connections(&self) {
        self.state.pubsub.drop_connections();
    }

    /// Its PubSub counters: open connections and subscriptions, notifications sent and
    /// dropped, disconnects.
    pub fn pubsub_stats(&self) -> PubsubStats {
        self.state.pubsub.stats()
    }

    /// When this endpoint sends the `kind` notification of the launch `signature` to a
    /// subscription at `commitment` made before the launch was shown (at its current lag and
    /// PubSub model): the PubSub counterpart of [`crate::Chain::visibility`]. `None` for an
    /// unknown or forgotten signature. For a transaction a client sent, only
    /// [`LaunchNotification::Signature`] is ever sent.
    pub fn notification_timing(
        &self,
        kind: LaunchNotification,
        signature: &str,
        commitment: Commitment,
    ) -> Option<NotificationTiming> {
        self.state
            .pubsub_endpoint()
            .timing(kind, signature, commitment)
    }
}
