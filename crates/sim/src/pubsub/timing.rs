//! The seeded draws behind PubSub delivery: each event's delivery delay, whether a
//! notification is dropped, and how long a connection lives. Each is a pure function of its key
//! and the endpoint's [`PubsubModel`], drawn with the crate's own seeded stream (like the
//! indexing delays), so a seed gives the same deliveries at the same chain instants.

use std::time::Duration;

use super::PubsubModel;
use super::render::Kind;
use crate::chain::Commitment;
use crate::codec::SeedStream;

// Domain tags keep these streams independent of every other seeded stream.
const DOMAIN_DELIVERY: u64 = 0xDE11_7E2D;
const DOMAIN_DROP: u64 = 0xD209_9ED0;
const DOMAIN_LIFETIME: u64 = 0x11FE_7111;

/// An event on an endpoint's view of the chain, which notifications are sent for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKey {
    /// A launch transaction (or a sent one, numbered apart) shown at a commitment.
    Launch {
        sequence: u64,
        commitment: Commitment,
    },
    /// The endpoint reached a slot.
    Slot(u64),
    /// The endpoint's root advanced to this slot.
    Root(u64),
}

impl EventKey {
    fn parts(self) -> [u64; 3] {
        match self {
            EventKey::Launch {
                sequence,
                commitment,
            } => [1, sequence, commitment.depth()],
            EventKey::Slot(slot) => [2, slot, 0],
            EventKey::Root(slot) => [3, slot, 0],
        }
    }
}

/// How long after `key` happens the endpoint sends its notifications (the same for every
/// subscription and kind: the node publishes an event once).
pub(crate) fn delivery_delay(
    model: &PubsubModel,
    seed: u64,
    endpoint: usize,
    key: EventKey,
) -> Duration {
    let [a, b, c] = key.parts();
    let mut s = SeedStream::new(&[seed, DOMAIN_DELIVERY, endpoint as u64, a, b, c]);
    let delay = model.delivery_delay.sample_seeded(&mut s);
    // Whole nanoseconds, as the chain's clock keeps them.
    Duration::from_nanos(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX))
}

/// Whether the endpoint drops the `kind` notification of `key`.
pub(crate) fn is_dropped(
    model: &PubsubModel,
    seed: u64,
    endpoint: usize,
    kind: Kind,
    key: EventKey,
) -> bool {
    if model.drop_probability.is_nan() || model.drop_probability <= 0.0 {
        return false;
    }
    let [a, b, c] = key.parts();
    let tag = kind as u64;
    let mut s = SeedStream::new(&[seed, DOMAIN_DROP, endpoint as u64, tag, a, b, c]);
    s.next_f64() < model.drop_probability
}

/// How long the endpoint's `ordinal`-th connection (from 0) lives before the endpoint closes
/// it; `None` when the model never disconnects.
pub(crate) fn lifetime(
    model: &PubsubModel,
    seed: u64,
    endpoint: usize,
    ordinal: u64,
) -> Option<Duration> {
    let mean = model.mean_time_between_disconnects.as_secs_f64();
    if mean.is_nan() || mean <= 0.0 {
        return None;
    }
    let mut s = SeedStream::new(&[seed, DOMAIN_LIFETIME, endpoint as u64, ordinal]);
    // Exponential: −mean · ln(1 − u), u in [0, 1).
    let secs = -mean * (1.0 - s.next_f64()).ln();
    Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::LatencyModel;

    #[test]
    fn draws_are_pure_and_follow_the_model() {
        let model = PubsubModel::new(LatencyModel::lognormal_p99(20.0, 200.0))
            .with_drops(0.1)
            .with_disconnects(Duration::from_secs(60));
        let key = |sequence| EventKey::Launch {
            sequence,
            commitment: Commitment::Confirmed,
        };
        assert_eq!(
            delivery_delay(&model, 1, 0, key(5)),
            delivery_delay(&model, 1, 0, key(5))
        );
        assert_ne!(
            delivery_delay(&model, 1, 0, key(5)),
            delivery_delay(&model, 1, 1, key(5))
        );
        let n = 20_000;
        let drops = (0..n)
            .filter(|&i| is_dropped(&model, 1, 0, Kind::Logs, key(i)))
            .count();
        assert!((drops as f64 / n as f64 - 0.1).abs() < 0.01, "{drops}");
        let mean = (0..n)
            .map(|i| lifetime(&model, 1, 0, i).unwrap().as_secs_f64())
            .sum::<f64>()
            / n as f64;
        assert!((mean - 60.0).abs() < 2.0, "{mean}");
        let none = PubsubModel::NONE;
        assert_eq!(delivery_delay(&none, 1, 0, key(1)), Duration::ZERO);
        assert!(!is_dropped(&none, 1, 0, Kind::Slot, EventKey::Slot(3)));
        assert_eq!(lifetime(&none, 1, 0, 0), None);
    }
}
