//! What can go wrong with a call besides being slow: the per-endpoint [`FaultModel`] (random
//! failures, each a probability per HTTP request) and the [`RateLimit`] an endpoint enforces.
//!
//! The failure kinds are the ones a Solana RPC client meets in production:
//! * **HTTP 502/503** with an nginx-style HTML body — a load balancer with no healthy backend;
//! * **HTTP 429 + `Retry-After`** — a provider throttling the caller;
//! * **JSON-RPC `-32005` "Node is behind by N slots"** with `data.numSlotsBehind` — agave's
//!   `NodeUnhealthy` error, returned by a node that fell behind the cluster (HTTP 200);
//! * **connection reset** — the TCP connection is dropped with an RST and no response;
//! * **hang** — the request is accepted and never answered, until the client gives up (or the
//!   cluster shuts down).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

/// Per-endpoint failure probabilities, each per HTTP request (a batch fails as a whole).
///
/// The probabilities are disjoint: at most one fault is injected per request, chosen by one
/// uniform draw, so the total failure rate is their sum ([`FaultModel::failure_rate`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FaultModel {
    /// HTTP 502 or 503 (half each).
    pub http_5xx: f64,
    /// HTTP 429 with a `Retry-After` of `retry_after`.
    pub rate_limited: f64,
    /// `Retry-After` sent with a random 429 (rounded up to whole seconds, at least 1).
    pub retry_after: Duration,
    /// JSON-RPC `-32005` node-unhealthy error for every call in the request.
    pub unhealthy: f64,
    /// TCP connection reset without a response.
    pub reset: f64,
    /// Never answer.
    pub hang: f64,
}

/// One injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 502 or 503.
    Http5xx(u16),
    /// HTTP 429 with `Retry-After` in seconds.
    RateLimited {
        /// Seconds in the `Retry-After` header.
        retry_after_secs: u64,
    },
    /// JSON-RPC `-32005` "Node is behind by N slots".
    Unhealthy {
        /// `data.numSlotsBehind`.
        slots_behind: u64,
    },
    /// Drop the TCP connection with an RST.
    Reset,
    /// Never answer.
    Hang,
}

impl FaultModel {
    /// No faults.
    pub const NONE: FaultModel = FaultModel {
        http_5xx: 0.0,
        rate_limited: 0.0,
        retry_after: Duration::from_secs(1),
        unhealthy: 0.0,
        reset: 0.0,
        hang: 0.0,
    };

    /// Every request fails with `fault` (for tests).
    pub fn always(fault: Fault) -> FaultModel {
        let mut model = FaultModel::NONE;
        match fault {
            Fault::Http5xx(_) => model.http_5xx = 1.0,
            Fault::RateLimited { retry_after_secs } => {
                model.rate_limited = 1.0;
                model.retry_after = Duration::from_secs(retry_after_secs);
            }
            Fault::Unhealthy { .. } => model.unhealthy = 1.0,
            Fault::Reset => model.reset = 1.0,
            Fault::Hang => model.hang = 1.0,
        }
        model
    }

    /// Probability that a request fails in any way.
    pub fn failure_rate(&self) -> f64 {
        self.http_5xx + self.rate_limited + self.unhealthy + self.reset + self.hang
    }

    /// Picks the fault for one request from a uniform `u` in `[0,1)` and a second uniform `v`
    /// for the fault's details (502 vs 503, how far behind); `lag` is the endpoint's slot lag.
    pub(crate) fn draw(&self, u: f64, v: f64, lag: u64) -> Option<Fault> {
        let mut edge = self.http_5xx;
        if u < edge {
            return Some(Fault::Http5xx(if v < 0.5 { 502 } else { 503 }));
        }
        edge += self.rate_limited;
        if u < edge {
            return Some(Fault::RateLimited {
                retry_after_secs: retry_after_secs(self.retry_after),
            });
        }
        edge += self.unhealthy;
        if u < edge {
            // agave reports unhealthy once a node is more than 128 slots (its default
            // health-check distance) behind; draw how far past that it is.
            let slots_behind = lag.max(129 + (v * 300.0) as u64);
            return Some(Fault::Unhealthy { slots_behind });
        }
        edge += self.reset;
        if u < edge {
            return Some(Fault::Reset);
        }
        edge += self.hang;
        if u < edge {
            return Some(Fault::Hang);
        }
        None
    }
}

fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0).max(u64::from(d.is_zero()))
}

/// A sliding-window rate limit, counted per JSON-RPC call (each element of a batch counts).
///
/// The real public mainnet endpoint (`api.mainnet-beta.solana.com`) documents 100 requests per
/// 10 s per IP and 40 per 10 s per IP for a single RPC method
/// (<https://solana.com/docs/references/clusters>); see [`RateLimit::PUBLIC_MAINNET`]. All sim
/// clients share one IP (loopback), so the limit is per endpoint. Calls refused with 429 do not
/// count towards the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Length of the sliding window.
    pub window: Duration,
    /// Calls allowed per window, all methods together.
    pub max_calls: u32,
    /// Calls allowed per window for any one method.
    pub max_calls_per_method: u32,
}

impl RateLimit {
    /// The public mainnet endpoint's published limits: 100 calls / 10 s, 40 per method / 10 s.
    pub const PUBLIC_MAINNET: RateLimit = RateLimit {
        window: Duration::from_secs(10),
        max_calls: 100,
        max_calls_per_method: 40,
    };
}

/// Which limit a refused request hit; decides the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitHit {
    /// The per-IP limit.
    Total,
    /// The per-method limit.
    Method,
}

/// The state behind a [`RateLimit`]: timestamps of the calls admitted within the window.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: RateLimit,
    all: VecDeque<Instant>,
    per_method: HashMap<String, VecDeque<Instant>>,
}

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            all: VecDeque::new(),
            per_method: HashMap::new(),
        }
    }

    pub(crate) fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Admits the calls (one entry per call, by method name) or says which limit they would
    /// break and how many whole seconds until enough of the window has drained.
    pub(crate) fn admit(&mut self, now: Instant, methods: &[&str]) -> Result<(), (LimitHit, u64)> {
        let window = self.limit.window;
        let expire = |q: &mut VecDeque<Instant>| {
            while q.front().is_some_and(|&t| now.duration_since(t) >= window) {
                q.pop_front();
            }
        };
        expire(&mut self.all);
        let wait = |q: &VecDeque<Instant>, max: u32, adding: usize| -> Option<u64> {
            let max = max as usize;
            if q.len() + adding <= max {
                return None;
            }
            // The call that must expire before `adding` more fit.
            let must_expire = (q.len() + adding - max).min(q.len());
            let at = if must_expire == 0 {
                now + window
            } else {
                q[must_expire - 1] + window
            };
            Some(retry_after_secs(at.saturating_duration_since(now)).max(1))
        };
        if let Some(secs) = wait(&self.all, self.limit.max_calls, methods.len()) {
            return Err((LimitHit::Total, secs));
        }
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for m in methods {
            match counts.iter_mut().find(|(name, _)| name == m) {
                Some((_, n)) => *n += 1,
                None => counts.push((m, 1)),
            }
        }
        for (method, n) in &counts {
            if let Some(q) = self.per_method.get_mut(*method) {
                expire(q);
                if let Some(secs) = wait(q, self.limit.max_calls_per_method, *n) {
                    return Err((LimitHit::Method, secs));
                }
            } else if *n > self.limit.max_calls_per_method as usize {
                return Err((LimitHit::Method, retry_after_secs(window).max(1)));
            }
        }
        for (method, n) in counts {
            let q = self.per_method.entry(method.to_owned()).or_default();
            q.extend(std::iter::repeat_n(now, n));
        }
        self.all.extend(std::iter::repeat_n(now, methods.len()));
        // Unknown method names could grow the map without bound; drop drained queues.
        if self.per_method.len() > 64 {
            self.per_method
                .retain(|_, q| q.back().is_some_and(|&t| now.duration_since(t) < window));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draw_respects_probabilities() {
        let m = FaultModel {
            http_5xx: 0.1,
            rate_limited: 0.1,
            retry_after: Duration::from_millis(1500),
            unhealthy: 0.1,
            reset: 0.1,
            hang: 0.1,
        };
        assert!(matches!(m.draw(0.05, 0.2, 0), Some(Fault::Http5xx(502))));
        assert!(matches!(m.draw(0.05, 0.7, 0), Some(Fault::Http5xx(503))));
        assert_eq!(
            m.draw(0.15, 0.0, 0),
            Some(Fault::RateLimited {
                retry_after_secs: 2
            })
        );
        assert!(matches!(
            m.draw(0.25, 0.0, 0),
            Some(Fault::Unhealthy { slots_behind: 129 })
        ));
        assert_eq!(m.draw(0.35, 0.0, 0), Some(Fault::Reset));
        assert_eq!(m.draw(0.45, 0.0, 0), Some(Fault::Hang));
        assert_eq!(m.draw(0.55, 0.0, 0), None);
        assert!((m.failure_rate() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn limiter_counts_total_and_per_method() {
        let limit = RateLimit {
            window: Duration::from_secs(10),
            max_calls: 5,
            max_calls_per_method: 3,
        };
        let mut l = RateLimiter::new(limit);
        let t0 = Instant::now();
        for _ in 0..3 {
            l.admit(t0, &["getSlot"]).unwrap();
        }
        assert_eq!(l.admit(t0, &["getSlot"]), Err((LimitHit::Method, 10)));
        l.admit(t0, &["getHealth", "getVersion"]).unwrap();
        assert_eq!(l.admit(t0, &["getVersion"]), Err((LimitHit::Total, 10)));
        // After the window slides past the first calls, they fit again.
        let later = t0 + Duration::from_secs(10);
        l.admit(later, &["getSlot"]).unwrap();
    }
}
