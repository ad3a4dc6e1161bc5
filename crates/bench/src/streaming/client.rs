//! A launch-watching bot's WebSocket client: one `logsSubscribe` on the launchpad program,
//! reconnected at once and subscribed again whenever its connection ends — what a bot does
//! against a provider, and what it does against dualrpc too (there it should never have to).
//!
//! Every `logsNotification` is stamped with the chain's clock on arrival; the first arrival of
//! each signature is kept, later copies are counted as duplicates.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::Duration;

use dualrpc_sim::{Chain, ChainTime, PUMP_FUN_PROGRAM_ID};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde::Deserialize;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// Wait before trying again when a connection attempt fails.
const RETRY: Duration = Duration::from_millis(20);

/// What one client saw.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// First arrival of each signature, on the chain's clock.
    pub first: HashMap<String, ChainTime>,
    /// Notifications of a signature already seen.
    pub duplicates: u64,
    /// Times its connection ended (or failed to open) and it connected again.
    pub reconnects: u64,
}

/// The subscribe request: the launchpad program's logs at `commitment`.
pub fn subscribe_frame(commitment: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"logsSubscribe","params":[{{"mentions":["{PUMP_FUN_PROGRAM_ID}"]}},{{"commitment":"{commitment}"}}]}}"#
    )
}

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    method: Option<&'a str>,
    params: Option<Params>,
}

/// Whether a frame is a JSON-RPC error (the subscribe was refused).
pub(super) fn is_error(text: &str) -> bool {
    #[derive(Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        error: Option<&'a serde_json::value::RawValue>,
    }
    serde_json::from_str::<Answer<'_>>(text).is_ok_and(|a| a.error.is_some())
}

#[derive(Deserialize)]
struct Params {
    result: LogsResult,
}

#[derive(Deserialize)]
struct LogsResult {
    value: LogsValue,
}

#[derive(Deserialize)]
struct LogsValue {
    signature: String,
}

/// The signature a `logsNotification` frame carries (`None` for anything else).
pub fn notified_signature(text: &str) -> Option<String> {
    let frame: Frame<'_> = serde_json::from_str(text).ok()?;
    if frame.method != Some("logsNotification") {
        return None;
    }
    Some(frame.params?.result.value.signature)
}

/// Watches `url` until `stop` turns true, recording into `seen`.
pub(super) async fn watch_launches(
    url: String,
    commitment: &'static str,
    chain: Chain,
    seen: Arc<Mutex<Seen>>,
    mut stop: watch::Receiver<bool>,
) {
    let subscribe = subscribe_frame(commitment);
    let mut connected_before = false;
    let mut refused = false;
    while !*stop.borrow() {
        if connected_before {
            seen.lock().reconnects += 1;
        }
        if refused {
            // A bot reconnects at once when its connection drops, but not into a refusal.
            refused = false;
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => {}
                _ = stop.changed() => return,
            }
        }
        connected_before = true;
        let ws = tokio::select! {
            r = tokio_tungstenite::connect_async(url.as_str()) => r,
            _ = stop.changed() => return,
        };
        let Ok((mut ws, _)) = ws else {
            tokio::select! {
                _ = tokio::time::sleep(RETRY) => continue,
                _ = stop.changed() => return,
            }
        };
        if ws.send(Message::text(subscribe.clone())).await.is_err() {
            continue;
        }
        loop {
            let frame = tokio::select! {
                f = ws.next() => f,
                _ = stop.changed() => {
                    let _ = ws.close(None).await;
                    return;
                }
            };
            let text = match frame {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => continue,
            };
            let Some(signature) = notified_signature(text.as_str()) else {
                if is_error(text.as_str()) {
                    // Refused: a deaf connection would count every launch as lost; a bot
                    // connects again, after a pause.
                    refused = true;
                    break;
                }
                continue;
            };
            let at = chain.now();
            let mut seen = seen.lock();
            match seen.first.entry(signature) {
                Entry::Occupied(_) => seen.duplicates += 1,
                Entry::Vacant(v) => {
                    v.insert(at);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_signature_of_a_logs_notification_only() {
        let n = r#"{"jsonrpc":"2.0","method":"logsNotification","params":{"result":{"context":{"slot":5},"value":{"signature":"abc","err":null,"logs":[]}},"subscription":0}}"#;
        assert_eq!(notified_signature(n).as_deref(), Some("abc"));
        let answer = r#"{"jsonrpc":"2.0","result":0,"id":1}"#;
        assert_eq!(notified_signature(answer), None);
        let slot = r#"{"jsonrpc":"2.0","method":"slotNotification","params":{"result":{"slot":5,"parent":4,"root":0},"subscription":1}}"#;
        assert_eq!(notified_signature(slot), None);
        assert_eq!(notified_signature("not json"), None);
        assert!(!is_error(answer));
        assert!(is_error(
            r#"{"jsonrpc":"2.0","error":{"code":-32005,"message":"busy"},"id":1}"#
        ));
    }

    #[test]
    fn the_subscribe_frame_is_valid_json_for_the_launchpad() {
        let v: serde_json::Value = serde_json::from_str(&subscribe_frame("confirmed")).unwrap();
        assert_eq!(v["method"], "logsSubscribe");
        assert_eq!(v["params"][0]["mentions"][0], PUMP_FUN_PROGRAM_ID);
        assert_eq!(v["params"][1]["commitment"], "confirmed");
    }
}
