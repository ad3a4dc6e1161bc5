//! Strategies: how one call is spread over endpoints.
//!
//! Every strategy is a small async function over the call's [`Attempts`] and a [`Plan`]:
//! it decides *when* to launch an attempt on *which* endpoint and when the call is over.
//! The rules they share (first usable success wins, empty answers wait, deterministic
//! errors end the call, agreed node errors are the answer) live in the attempt engine
//! (`crate::attempt`), and the rounds around a strategy (waiting for rate-limit budget,
//! the last resort, the retry round) in `crate::rounds`. Candidates are always the
//! plan's endpoints not yet tried, in plan order: an *extra* attempt refused to save a
//! rate-limit budget stays a candidate for a needed one.
//!
//! One module per strategy, each opening with when to use it, what it costs upstream,
//! how it fails, and where the idea comes from.

mod agree;
mod broadcast;
mod consensus;
mod dual;
mod failover;
mod hedge;
mod merge;
mod race;

use crate::attempt::{Attempts, Win};
use crate::error::ErrorReason;
use crate::policy::Strategy;
use crate::select::Plan;

/// Runs `strategy` for one call.
pub(crate) async fn run(
    strategy: Strategy,
    a: &mut Attempts<'_>,
    plan: &Plan,
) -> Result<Win, ErrorReason> {
    match strategy {
        Strategy::Failover => failover::run(a, plan).await,
        Strategy::Race => race::run(a, plan).await,
        Strategy::Hedge => hedge::run(a, plan).await,
        // The larger state machines are boxed: a call's future is as large as the largest
        // strategy it could run, and thousands of calls may be in flight (an allocation
        // per consensus, dual or merge call is the price).
        Strategy::Consensus => Box::pin(consensus::run(a, plan)).await,
        Strategy::Dual => Box::pin(dual::run(a, plan)).await,
        Strategy::Broadcast => broadcast::run(a, plan).await,
        Strategy::Merge => Box::pin(merge::run(a, plan)).await,
    }
}
