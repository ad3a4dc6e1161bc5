//! Request coalescing: identical calls in flight at the same moment share one upstream
//! execution.
//!
//! Bots ask the same thing at the same time — every worker validating the same new mint,
//! every poller asking for the same signature page — and each duplicate costs a full
//! fan-out against the providers' rate limits. The first call with a given key (method,
//! params bytes, strategy) runs; calls with the same key that arrive while it runs wait for
//! its result instead of calling upstream. The key is removed the moment the execution
//! finishes, so nothing is served later than it would have been without coalescing (that
//! is the cache's job, with its own rules). Methods with side effects are never coalesced:
//! two `sendTransaction`s are two sends. A follower inherits the leader's deadline.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::Shared;
use parking_lot::Mutex;

use crate::error::CallError;
use crate::pool::Reply;

type Outcome = Arc<Result<Reply, CallError>>;
type Execution = Shared<Pin<Box<dyn Future<Output = Outcome> + Send>>>;

/// Executions in flight by key.
#[derive(Default)]
pub(crate) struct InFlight {
    running: Mutex<HashMap<Arc<str>, Execution>>,
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight")
            .field("running", &self.running.lock().len())
            .finish()
    }
}

/// Whether calls of `method` may share an execution.
pub(crate) fn coalescable(method: &str) -> bool {
    !matches!(method, "sendTransaction" | "requestAirdrop" | "sendBundle")
}

impl InFlight {
    /// Runs `execute` for `key`, or joins the execution already running for it. Returns
    /// the result and whether it was shared from another call.
    pub(crate) async fn run(
        self: &Arc<Self>,
        key: Arc<str>,
        execute: impl Future<Output = Result<Reply, CallError>> + Send + 'static,
    ) -> (Result<Reply, CallError>, bool) {
        let (execution, joined) = {
            let mut running = self.running.lock();
            match running.get(&key) {
                Some(e) => (e.clone(), true),
                None => {
                    let this = self.clone();
                    let k = key.clone();
                    let fut: Pin<Box<dyn Future<Output = Outcome> + Send>> = Box::pin(async move {
                        let result = execute.await;
                        // Finished: later calls start their own execution.
                        this.running.lock().remove(&k);
                        Arc::new(result)
                    });
                    let e = fut.shared();
                    running.insert(key, e.clone());
                    (e, false)
                }
            }
        };
        let outcome = execution.await;
        let result = Arc::try_unwrap(outcome).unwrap_or_else(|shared| (*shared).clone());
        (result, joined)
    }
}
