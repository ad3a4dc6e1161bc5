//! Integration tests: real HTTP over loopback, from the library's `Pool` and from HTTP
//! clients through the gateway, against scripted upstreams (`dualrpc-testkit`). One test
//! binary of modules, so the suite links once.

mod bad_upstreams;
mod budgets;
mod faults;
mod freshness;
mod front;
mod front_http1;
mod gateway;
mod health;
mod props;
mod soak;
mod strategies;
mod subscriptions;
mod subscriptions_recovery;
mod subscriptions_sim;
mod subscriptions_soak;
mod support;
mod timeouts;
mod trust;
