//! [`Inbox`]: where one call's attempts report — a queue, one waker, and a "the call is
//! over" flag.
//!
//! A call receives a handful of messages (usually one), so a general channel is more than
//! it needs: tokio's unbounded channel allocates a block of 32 slots per call (2 KiB here),
//! which is most of a call's own memory when thousands are in flight. The inbox allocates
//! once, room for two messages inside, and grows only if a call really gets more at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use smallvec::SmallVec;
use tokio::sync::Notify;

use super::task::Message;

/// One call's inbox (module doc). The call is its only reader.
#[derive(Debug, Default)]
pub(super) struct Inbox {
    /// Oldest first; a handful at most, so taking the first shifts next to nothing.
    queue: Mutex<SmallVec<[Message; 2]>>,
    waker: AtomicWaker,
    closed: AtomicBool,
    closed_notify: Notify,
}

impl Inbox {
    /// An empty inbox.
    pub(super) fn new() -> Arc<Inbox> {
        Arc::new(Inbox::default())
    }

    /// Delivers `message` unless the call is over.
    pub(super) fn send(&self, message: Message) {
        {
            let mut queue = self.queue.lock();
            // Checked under the lock `close` clears the queue under: a message is never
            // left behind in an inbox nobody reads (it may hold a whole answer).
            if self.closed.load(Ordering::Acquire) {
                return;
            }
            queue.push(message);
        }
        self.waker.wake();
    }

    /// The next message, if one is there; else the task is woken when one arrives.
    pub(super) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Message> {
        if let Some(m) = pop_front(&mut self.queue.lock()) {
            return Poll::Ready(m);
        }
        self.waker.register(cx.waker());
        // A message may have arrived between the check and the registration.
        match pop_front(&mut self.queue.lock()) {
            Some(m) => Poll::Ready(m),
            None => Poll::Pending,
        }
    }

    /// The call is over: later messages are dropped, and [`Inbox::closed`] completes.
    pub(super) fn close(&self) {
        {
            let mut queue = self.queue.lock();
            self.closed.store(true, Ordering::Release);
            queue.clear();
        }
        self.closed_notify.notify_waiters();
    }

    /// Completes once the call is over.
    pub(super) async fn closed(&self) {
        loop {
            let notified = self.closed_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.closed.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// The oldest message of `queue`, if any.
fn pop_front(queue: &mut SmallVec<[Message; 2]>) -> Option<Message> {
    (!queue.is_empty()).then(|| queue.remove(0))
}
