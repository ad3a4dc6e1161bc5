//! `broadcast`: every endpoint at once; the first success is returned and the other
//! attempts still run to completion.
//!
//! When to use: `sendTransaction`, where each provider forwards to different leaders and
//! landing matters more than upstream cost. Upstream cost: one call per endpoint. How it
//! fails: only if every endpoint fails. A preflight failure is deterministic and returned
//! at once, except "blockhash not found", which only says that node is behind (see
//! `jsonrpc::classify_error`). Attempts that lose are not cancelled — every provider gets
//! the chance to forward the transaction.

use crate::attempt::{Attempts, Win};
use crate::error::ErrorReason;
use crate::select::Plan;

pub(super) async fn run(a: &mut Attempts<'_>, plan: &Plan) -> Result<Win, ErrorReason> {
    for ep in plan.iter() {
        a.launch(ep);
    }
    match a.settle().await {
        Some(done) => done,
        None => a.finish(),
    }
}
