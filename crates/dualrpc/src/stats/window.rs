//! A latency histogram over a sliding window of two rotating halves.
//!
//! Hedge delays and `/status` percentiles must follow an endpoint's *current* behaviour,
//! not its all-time record, so samples live in two HdrHistograms: the current half and the
//! previous one. Every `half` the previous is cleared and the two swap; a percentile reads
//! both, covering between one and two halves of history.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Highest latency recorded exactly (µs); anything slower is clamped to it.
const MAX_MICROS: u64 = 120_000_000;

/// Sliding-window latency histogram (microsecond resolution, 2 significant digits).
#[derive(Debug, Clone)]
pub struct WindowedHistogram {
    /// Samples of the current half-window.
    current: Histogram<u32>,
    /// Samples of the half-window before it.
    previous: Histogram<u32>,
    /// When `current` started.
    started: Instant,
    /// Length of one half-window.
    half: Duration,
}

impl WindowedHistogram {
    /// An empty histogram whose window is `2 × half` long.
    pub fn new(now: Instant, half: Duration) -> Self {
        let h = Histogram::new_with_bounds(1, MAX_MICROS, 2)
            .expect("static histogram bounds are valid");
        Self {
            current: h.clone(),
            previous: h,
            started: now,
            half,
        }
    }

    fn rotate(&mut self, now: Instant) {
        let age = now.saturating_duration_since(self.started);
        if age >= self.half * 2 {
            self.previous.reset();
            self.current.reset();
            self.started = now;
        } else if age >= self.half {
            std::mem::swap(&mut self.previous, &mut self.current);
            self.current.reset();
            self.started += self.half;
        }
    }

    /// Records one latency observed at `now`.
    pub fn record(&mut self, now: Instant, latency: Duration) {
        self.rotate(now);
        let us = (latency.as_micros() as u64).clamp(1, MAX_MICROS);
        self.current.saturating_record(us);
    }

    /// Samples in the window.
    pub fn len(&mut self, now: Instant) -> u64 {
        self.rotate(now);
        self.current.len() + self.previous.len()
    }

    /// Whether the window holds no samples.
    pub fn is_empty(&mut self, now: Instant) -> bool {
        self.len(now) == 0
    }

    /// The `q`-quantile (0..=1) of the window, or `None` if it is empty.
    pub fn quantile(&mut self, now: Instant, q: f64) -> Option<Duration> {
        self.rotate(now);
        let total = self.current.len() + self.previous.len();
        if total == 0 {
            return None;
        }
        let us = if self.previous.is_empty() {
            self.current.value_at_quantile(q)
        } else if self.current.is_empty() {
            self.previous.value_at_quantile(q)
        } else {
            let mut both = self.current.clone();
            both.add(&self.previous).expect("histograms share bounds");
            both.value_at_quantile(q)
        };
        Some(Duration::from_micros(us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_cover_the_window_and_forget_old_halves() {
        let t0 = Instant::now();
        let half = Duration::from_secs(10);
        let mut h = WindowedHistogram::new(t0, half);
        assert_eq!(h.quantile(t0, 0.5), None);
        for i in 1..=100u64 {
            h.record(t0, Duration::from_millis(i));
        }
        let p90 = h.quantile(t0, 0.9).unwrap().as_secs_f64() * 1e3;
        assert!((89.0..=91.5).contains(&p90), "{p90}");
        // Next half: old samples still count.
        let t1 = t0 + half + Duration::from_secs(1);
        h.record(t1, Duration::from_millis(500));
        assert_eq!(h.len(t1), 101);
        // Two halves later the first batch is gone.
        let t2 = t0 + half * 2 + Duration::from_secs(2);
        assert_eq!(h.len(t2), 1);
        let p50 = h.quantile(t2, 0.5).unwrap().as_millis();
        assert!((495..=505).contains(&p50), "{p50}");
        // A long silence empties it.
        assert!(h.is_empty(t2 + half * 3));
    }
}
