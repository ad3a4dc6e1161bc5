//! `race`: the best `fanout` endpoints (default: every preferred one) at once; the first
//! usable success wins.
//!
//! When to use: speed-critical reads such as `getAccountInfo` for a fresh mint. Upstream
//! cost: `fanout` calls per request. How it fails: only when every launched endpoint fails
//! or the deadline passes; if all of a batch fail early, the next `fanout` endpoints of the
//! plan are launched. Unlike `Promise.race`, an early error or timeout never wins over a
//! later success, and an empty answer waits for a non-empty one. Under rate limits the
//! width adapts: endpoints past the first are only called while their budget has
//! headroom, so at high load a race degrades gracefully into load-balanced single calls.

use super::{Attempts, Win};
use crate::error::ErrorReason;
use crate::select::Plan;

pub(super) async fn run(a: &mut Attempts<'_>, plan: &Plan) -> Result<Win, ErrorReason> {
    let fanout = a.ctx.fanout.unwrap_or(plan.preferred_len()).max(1);
    let mut candidates = plan.iter();
    loop {
        let mut launched = 0;
        for ep in candidates.by_ref() {
            // The wave's first attempt is essential; the rest only with budget to spare.
            let ok = if launched == 0 {
                a.launch(ep)
            } else {
                a.launch_extra(ep)
            };
            if ok {
                launched += 1;
                if launched == fanout {
                    break;
                }
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
