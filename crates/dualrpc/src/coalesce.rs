//! Request coalescing: identical calls in flight at the same moment share one upstream
//! execution ("flight").
//!
//! Bots ask the same thing at the same time — every worker validating the same new mint,
//! every poller asking for the same signature page — and each duplicate costs a full
//! fan-out against the providers' rate limits. The first call with a given key runs (the
//! *leader*, in its caller's own task: no spawn); identical calls that arrive while it runs
//! (*followers*) wait for its result instead of calling upstream.
//!
//! What makes sharing safe:
//!
//! - **Only while it runs.** The leader removes its entry before publishing the result, so
//!   a result reaches exactly the callers that were waiting while the execution ran;
//!   nothing is served later than it would have been without coalescing (that is the
//!   cache's job, with its own rules).
//! - **A leader that goes away takes its entry with it.** Dropping the leader's future
//!   removes the entry at once (its attempts finish on their own in the background, as
//!   every attempt does); its followers notice and one of them becomes the new leader. An
//!   abandoned call leaves no entry and, once its attempts end, no memory; the map gives
//!   back its capacity when it empties.
//! - **Same question, same rules.** The key is the request's bytes up to its id (method
//!   and params as sent, commitment included) *and* the call's whole policy (strategy,
//!   quorum, fan-out, attempts, timeouts …): a consensus caller never takes a race's
//!   answer, a quorum-3 caller never a quorum-2 one.
//! - **Each caller's own deadline.** A caller joins only a flight whose deadline is no
//!   later than its own — one client's long budget never makes another wait past its own
//!   deadline for an answer it would have had alone by then — and if the shared execution
//!   ran out of time (its leader had a shorter budget) while the follower has time left, it
//!   runs the call itself.
//! - **Asked at the same time.** For data that changes, a caller joins only a flight that
//!   started at most 10 ms before it: the answer to a request much older than one's own is
//!   not an answer to one's question (a bot polling every 50 ms that joined its previous
//!   poll's flight would get that poll's list again, and see a launch a poll later).
//!   Otherwise (and after a longer-budget flight) the call runs alone, unregistered.
//!
//! Methods with side effects are never coalesced: two `sendTransaction`s are two sends.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::attempt::{Call, Context};
use crate::cache::Key;
use crate::clock::{self, Instant};
use crate::error::{CallError, ErrorReason};
use crate::policy::Policy;
use crate::reply::Reply;

type Shared = Arc<Result<Reply, CallError>>;

/// What identifies a flight: the request and the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FlightKey {
    request: Key,
    policy: Policy,
}

impl Hash for FlightKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.request.hash(state);
    }
}

#[derive(Debug)]
struct Flight {
    id: u64,
    /// Where the result goes, made when the first follower joins (most calls have none).
    /// Dropped without a value if the leader goes away.
    result: Option<watch::Sender<Option<Shared>>>,
    /// The leader's deadline: only callers whose own deadline is no earlier join, so none
    /// waits past its own deadline for an answer it would have had alone by then.
    deadline: Instant,
    /// When the leader asked: an answer to a request much older than a follower's is not
    /// an answer to the follower's question, for data that changes.
    started: Instant,
}

/// How old a flight of a freshness-sensitive method may be for a caller to join it. Far
/// below a slot (400 ms) and below any poll interval a bot would use: callers that ask
/// "at the same time" share, a caller that asks a moment later asks anew.
pub(crate) const JOIN_WINDOW: Duration = Duration::from_millis(10);

/// What a caller does about an identical call in flight.
enum Decision {
    /// Wait for it.
    Follow(watch::Receiver<Option<Shared>>, Instant),
    /// Nothing in flight: run it and let others join.
    Lead(u64),
    /// One is in flight but older or with a later deadline: run alone.
    Alone,
}

/// Executions in flight by key.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    running: Mutex<HashMap<FlightKey, Flight>>,
    next_id: AtomicU64,
}

/// Capacity kept however empty the map gets; beyond it the map shrinks when mostly empty.
const KEEP_CAPACITY: usize = 256;

impl Flights {
    /// Calls in flight (for tests and status).
    pub(crate) fn len(&self) -> usize {
        self.running.lock().len()
    }

    /// Runs `call` as the leader of its flight or follows the identical one in flight.
    /// Returns the result and whether it was shared from another caller.
    pub(crate) async fn run(
        &self,
        cx: &Context,
        call: &Call,
        key: Key,
    ) -> (Result<Reply, CallError>, bool) {
        let key = FlightKey {
            request: key,
            policy: call.policy.clone(),
        };
        loop {
            let decision = {
                let mut running = self.running.lock();
                // The caller's start is its "now": it asked a moment ago.
                match running.get_mut(&key) {
                    Some(f)
                        if f.deadline <= call.deadline
                            && (!call.info.fresh
                                || call.started.saturating_duration_since(f.started)
                                    <= JOIN_WINDOW) =>
                    {
                        let rx = f
                            .result
                            .get_or_insert_with(|| watch::channel(None).0)
                            .subscribe();
                        Decision::Follow(rx, f.deadline)
                    }
                    Some(_) => Decision::Alone,
                    None => {
                        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                        running.insert(
                            key.clone(),
                            Flight {
                                id,
                                result: None,
                                deadline: call.deadline,
                                started: call.started,
                            },
                        );
                        Decision::Lead(id)
                    }
                }
            };
            let (mut rx, leader_deadline) = match decision {
                Decision::Follow(rx, deadline) => (rx, deadline),
                Decision::Lead(id) => return (self.lead(cx, call, &key, id).await, false),
                Decision::Alone => return (crate::rounds::execute(cx, call).await, false),
            };
            let shared = tokio::time::timeout_at(call.deadline, rx.wait_for(Option::is_some)).await;
            match shared {
                // The leader finished: its result, unless it failed for lack of time this
                // caller still has.
                Ok(Ok(value)) => {
                    let shared = value.clone().expect("waited for a value");
                    drop(value);
                    let out_of_time = matches!(
                        &*shared,
                        Err(CallError {
                            reason: ErrorReason::Deadline { .. } | ErrorReason::OverBudget,
                            ..
                        })
                    );
                    if out_of_time
                        && leader_deadline < call.deadline
                        && clock::now() < call.deadline
                    {
                        continue;
                    }
                    let result = Arc::try_unwrap(shared).unwrap_or_else(|s| (*s).clone());
                    return (result, true);
                }
                // The leader went away without a result: lead or follow anew.
                Ok(Err(_)) => continue,
                // This caller's own deadline.
                Err(_) => {
                    let err = CallError {
                        reason: ErrorReason::Deadline {
                            failures: Vec::new(),
                        },
                        strategy: call.policy.strategy,
                        attempts: 0,
                        latency: clock::now().saturating_duration_since(call.started),
                    };
                    return (Err(err), true);
                }
            }
        }
    }

    async fn lead(
        &self,
        cx: &Context,
        call: &Call,
        key: &FlightKey,
        id: u64,
    ) -> Result<Reply, CallError> {
        // Removes the entry whether the execution ends or its caller drops this future.
        let _entry = Entry {
            flights: self,
            key,
            id,
        };
        let result = crate::rounds::execute(cx, call).await;
        // From here on nobody joins; whoever holds a receiver was waiting while it ran.
        if let Some(tx) = self.remove(key, id)
            && tx.receiver_count() > 0
        {
            let shared = Arc::new(result);
            tx.send_replace(Some(shared.clone()));
            return Arc::try_unwrap(shared).unwrap_or_else(|s| (*s).clone());
        }
        result
    }

    /// Removes flight `id`'s entry; returns where its followers wait, if any joined.
    fn remove(&self, key: &FlightKey, id: u64) -> Option<watch::Sender<Option<Shared>>> {
        let mut running = self.running.lock();
        if running.get(key).is_none_or(|f| f.id != id) {
            return None;
        }
        let flight = running.remove(key)?;
        if running.capacity() > KEEP_CAPACITY && running.len() * 8 < running.capacity() {
            let keep = (running.len() * 2).max(KEEP_CAPACITY);
            running.shrink_to(keep);
        }
        flight.result
    }
}

/// Removes a leader's entry when dropped.
struct Entry<'a> {
    flights: &'a Flights,
    key: &'a FlightKey,
    id: u64,
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        // Dropping the sender without a value tells the followers the leader went away.
        drop(self.flights.remove(self.key, self.id));
    }
}
