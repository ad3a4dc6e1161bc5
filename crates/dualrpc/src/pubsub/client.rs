//! One client connection as the hub sees it: a bounded queue its notifications go into,
//! and the reason the hub wants it closed (too slow to read, or a subscription no upstream
//! can carry).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use super::Kind;

/// A notification for one client subscription.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The client's own subscription id.
    pub subscription: u64,
    /// What kind of notification (its method name: [`Kind::notification`]).
    pub kind: Kind,
    /// The notification's `result`, as the first upstream to deliver it wrote it.
    pub result: Bytes,
    /// The subscription ends with this notification (`signatureSubscribe`).
    pub last: bool,
}

/// Why a client's connection must close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// It did not read its notifications fast enough (its queue filled up).
    TooSlow,
    /// No upstream could carry one of its subscriptions.
    NoUpstream,
}

/// One client connection, as the hub sees it: where its notifications go.
#[derive(Debug)]
pub struct Client {
    tx: mpsc::Sender<Delivery>,
    /// 0 = open; else a [`CloseReason`] + 1.
    reason: AtomicU8,
    closing: Notify,
}

impl Client {
    /// A client with a queue of `buffer` notifications; returns the receiving end.
    pub fn new(buffer: usize) -> (Arc<Client>, mpsc::Receiver<Delivery>) {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let client = Client {
            tx,
            reason: AtomicU8::new(0),
            closing: Notify::new(),
        };
        (Arc::new(client), rx)
    }

    /// Completes when the hub wants the connection closed, with why.
    pub async fn closed(&self) -> CloseReason {
        loop {
            let notified = self.closing.notified();
            if let Some(reason) = self.reason() {
                return reason;
            }
            notified.await;
        }
    }

    pub(super) fn reason(&self) -> Option<CloseReason> {
        match self.reason.load(Ordering::Acquire) {
            1 => Some(CloseReason::TooSlow),
            2 => Some(CloseReason::NoUpstream),
            _ => None,
        }
    }

    pub(super) fn close(&self, reason: CloseReason) {
        let code = match reason {
            CloseReason::TooSlow => 1,
            CloseReason::NoUpstream => 2,
        };
        if self
            .reason
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.closing.notify_one();
        }
    }

    pub(super) fn deliver(&self, d: Delivery) {
        if self.tx.try_send(d).is_err() {
            // Full (or the session is gone): never wait on one client.
            self.close(CloseReason::TooSlow);
        }
    }
}
