//! `race`: the best `fanout` endpoints (default: every preferred one) at once; the first
//! usable success wins.
//!
//! When to use: speed-critical reads such as `getAccountInfo` for a fresh mint. Upstream
//! cost: `fanout` calls per request. How it fails: only when every launched endpoint fails
//! or the deadline passes; if a whole wave fails, the next endpoints of the plan are
//! launched. Unlike `Promise.race`, an early error or timeout never wins over a later
//! success, and an empty answer waits for a non-empty one. Under rate limits the width
//! adapts: endpoints past the first are only called while their budget has headroom, so
//! at high load a race degrades gracefully into load-balanced single calls — and an
//! endpoint skipped that way is still there for the next wave when the first fails.

use crate::attempt::{Attempts, Win};
use crate::error::ErrorReason;
use crate::select::Plan;

pub(super) async fn run(a: &mut Attempts<'_>, plan: &Plan) -> Result<Win, ErrorReason> {
    let fanout = a.call.policy.fanout.unwrap_or(plan.preferred_len()).max(1);
    loop {
        // The wave's first attempt is needed; the rest only with budget to spare.
        let mut launched = 0;
        if a.launch_next(plan, false).is_some() {
            launched = 1;
            while launched < fanout && a.launch_next(plan, true).is_some() {
                launched += 1;
            }
        }
        if launched == 0 && a.pending() == 0 {
            return a.finish();
        }
        if let Some(done) = a.settle().await {
            return done;
        }
    }
}
