//! Sleeps that end when they should, for simulated latency and the bot's polls.
//!
//! tokio's timer rounds a deadline up to its next millisecond tick and wakes through a
//! millisecond-grained `epoll_wait`: a 44.3 ms sleep lasts 45–46 ms (on the benchmark
//! machine, 1.2 ms late on average, 1.7 ms at p90). A simulated provider whose every answer
//! comes a millisecond after its latency draw, and a bot whose every poll leaves a
//! millisecond late, make every arm of the benchmark slower than the latency models say by
//! that much per call — which the oracles, computed from the draws, do not pay.
//! [`sleep_until`] hands the deadline to one timer thread that waits with the operating
//! system's precision (0.15 ms late on average on the same machine) and wakes the task.
//!
//! The thread is started on first use and lives as long as the process (it only waits).
//! These sleeps follow the wall clock: under tokio's paused time they do not end early, and
//! while a task waits on this thread tokio may auto-advance past its other timers (request
//! timeouts) — do not use them with paused time.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// A waiting task: when to wake it, and how.
struct Entry {
    at: Instant,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed: the heap's top is the earliest deadline.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at)
    }
}

/// The timer thread's inbox; `None` if the thread could not be started.
fn timer() -> Option<&'static mpsc::Sender<Entry>> {
    static TIMER: OnceLock<Option<mpsc::Sender<Entry>>> = OnceLock::new();
    TIMER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Entry>();
            std::thread::Builder::new()
                .name("sim-timer".into())
                .spawn(move || run(&rx))
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// The timer thread: waits for the earliest deadline or a new entry, whichever is first,
/// and wakes every task whose deadline has passed.
fn run(rx: &mpsc::Receiver<Entry>) {
    let mut heap = BinaryHeap::<Entry>::new();
    loop {
        let received = match heap.peek() {
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(next) => rx.recv_timeout(next.at.saturating_duration_since(Instant::now())),
        };
        match received {
            Ok(entry) => heap.push(entry),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        while heap.peek().is_some_and(|e| e.at <= now) {
            if let Some(e) = heap.pop() {
                // The task may be gone (its request was dropped): nothing to wake.
                let _ = e.wake.send(());
            }
        }
    }
}

/// Sleeps until `deadline` on the wall clock, with the operating system's precision.
pub async fn sleep_until(deadline: Instant) {
    if deadline <= Instant::now() {
        return;
    }
    let (wake, woken) = oneshot::channel();
    let queued = timer().is_some_and(|t| t.send(Entry { at: deadline, wake }).is_ok());
    // No timer thread, or it went away with this sleep queued: tokio's timer, a
    // millisecond coarser, rather than no sleep at all.
    if !queued || woken.await.is_err() {
        tokio::time::sleep_until(deadline.into()).await;
    }
}

/// Sleeps for `d` (see [`sleep_until`]); a `d` beyond what the clock can count never ends.
pub async fn sleep(d: Duration) {
    match Instant::now().checked_add(d) {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleepers_wake_in_deadline_order_and_never_early() {
        let start = Instant::now();
        let order = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let mut tasks = tokio::task::JoinSet::new();
        for ms in [30u64, 10, 20, 0] {
            let order = order.clone();
            tasks.spawn(async move {
                let deadline = start + Duration::from_millis(ms);
                sleep_until(deadline).await;
                assert!(Instant::now() >= deadline, "woke early");
                order.lock().push(ms);
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        assert_eq!(*order.lock(), [0, 10, 20, 30]);
    }

    #[tokio::test]
    async fn a_dropped_sleeper_does_not_stop_the_others() {
        let dropped = tokio::spawn(sleep(Duration::from_millis(5)));
        dropped.abort();
        sleep(Duration::from_millis(10)).await;
        let kept = tokio::spawn(sleep(Duration::from_millis(1)));
        kept.await.unwrap();
    }
}
