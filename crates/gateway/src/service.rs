//! The gateway as a hyper service: a JSON-RPC post (`POST /`, `POST /{strategy}`) goes
//! straight to [`rpc::serve`] — no route table, no copy of the headers for extractors, no
//! boxed body —, a WebSocket upgrade to the PubSub sessions (`crate::ws`), and everything
//! else to the axum [`Router`] (operator pages, errors).
//!
//! [`rpc::serve`]: crate::rpc::serve

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use bytes::Bytes;
use dualrpc::Strategy;
use http::{Method, Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tower::ServiceExt;

use crate::AppState;
use crate::response::Chunks;

/// A response body: a JSON-RPC answer, or whatever the router produced.
#[derive(Debug)]
pub(crate) enum GatewayBody {
    /// A JSON-RPC answer ([`Chunks`]).
    Rpc(Chunks),
    /// A router response.
    Router(axum::body::Body),
}

impl http_body::Body for GatewayBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.get_mut() {
            GatewayBody::Rpc(c) => Pin::new(c).poll_frame(cx).map_err(|e| match e {}),
            GatewayBody::Router(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GatewayBody::Rpc(c) => c.is_end_stream(),
            GatewayBody::Router(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GatewayBody::Rpc(c) => c.size_hint(),
            GatewayBody::Router(b) => b.size_hint(),
        }
    }
}

/// The strategy a JSON-RPC post's path names: `Some(None)` for `/`, `Some(Some(s))` for
/// `/{strategy}`, `None` for any other path (the router answers it).
fn rpc_path(path: &str) -> Option<Option<Strategy>> {
    match path {
        "/" => Some(None),
        p => p.strip_prefix('/')?.parse().ok().map(Some),
    }
}

/// Serves one request (module doc).
pub(crate) async fn call(
    state: Arc<AppState>,
    router: Router,
    request: Request<Incoming>,
) -> Result<Response<GatewayBody>, Infallible> {
    if request.method() == Method::POST
        && let Some(strategy) = rpc_path(request.uri().path())
    {
        let (parts, body) = request.into_parts();
        let response = crate::rpc::serve(
            state.current.load_full(),
            &parts.headers,
            &parts.uri,
            strategy,
            body,
        )
        .await;
        return Ok(response.map(GatewayBody::Rpc));
    }
    if crate::ws::is_upgrade(&request) {
        let snapshot = state.current.load_full();
        let response = crate::ws::upgrade(
            snapshot.pool.clone(),
            &snapshot.options.front.api_keys,
            request,
        );
        return Ok(response.map(GatewayBody::Rpc));
    }
    let response = router.oneshot(request.map(axum::body::Body::new)).await?;
    Ok(response.map(GatewayBody::Router))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_rpc_paths_take_the_direct_way() {
        assert_eq!(rpc_path("/"), Some(None));
        assert_eq!(rpc_path("/race"), Some(Some(Strategy::Race)));
        assert_eq!(rpc_path("/health"), None);
        assert_eq!(rpc_path("/race/x"), None);
        assert_eq!(rpc_path(""), None);
    }
}
