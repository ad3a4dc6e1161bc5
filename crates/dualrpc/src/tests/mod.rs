//! The core's own tests of shared mechanisms — strategies, consensus, coalescing, budgets
//! — over scripted in-memory upstreams ([`script`]) under tokio's paused time: every
//! latency is exact, every ordering decided by the script, nothing touches the network.
//! (The gateway's integration tests cover the same rules over real HTTP.)

pub(crate) mod script;

mod alloc;
mod coalescing;
mod consensus;
mod fresh_lists;
mod freshness;
mod health;
mod strategies;
mod unhappy;
