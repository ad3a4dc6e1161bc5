//! The one clock of the core: [`tokio::time::Instant`].
//!
//! Every timestamp in the pool — attempt start, call deadline, breaker cool-down, EWMA
//! decay, histogram window, token bucket — is read from this clock and passed down as a
//! value, so pure state machines (`stats/`) take `now` as an argument and never read a
//! clock themselves. Tokio's instant follows the runtime's paused time in tests
//! (`#[tokio::test(start_paused = true)]`), so timing behaviour is tested deterministically,
//! without sleeping, and outside a runtime it is the ordinary monotonic clock.

pub use tokio::time::Instant;

/// The current time on the core's clock.
pub fn now() -> Instant {
    Instant::now()
}

/// "Never" as a time span: a year, far beyond any call (and no overflow when added).
const FAR_FUTURE: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// `start + span`, or a year after `start` if that would not fit (a `Duration::MAX`
/// budget or timeout means "no limit", not an overflow).
pub(crate) fn after(start: Instant, span: std::time::Duration) -> Instant {
    start
        .checked_add(span)
        .unwrap_or_else(|| start + FAR_FUTURE)
}
