//! A latency histogram over a sliding window of two rotating halves.
//!
//! Hedge delays and `/status` percentiles must follow an endpoint's *current* behaviour,
//! not its all-time record, so samples live in two HdrHistograms: the current half and the
//! previous one. Every `half` the previous is cleared and the two swap; a percentile covers
//! between one and two halves of history.
//!
//! Percentiles are read on the hot path (every hedged call reads one), so a third
//! histogram, `window`, always holds the sum of the two halves: a sample is recorded into
//! `current` and `window`, and a rotation rebuilds `window` from the half that remains —
//! one histogram copy per half-window (30 s) instead of one per read.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::clock::Instant;

/// Highest latency recorded exactly (µs); anything slower is clamped to it.
const MAX_MICROS: u64 = 120_000_000;

/// Sliding-window latency histogram (microsecond resolution, 2 significant digits).
#[derive(Debug, Clone)]
pub struct WindowedHistogram {
    /// Samples of the current half-window.
    current: Histogram<u32>,
    /// Samples of the current and the previous half-window together.
    window: Histogram<u32>,
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
            window: h,
            started: now,
            half,
        }
    }

    fn rotate(&mut self, now: Instant) {
        let age = now.saturating_duration_since(self.started);
        if age >= self.half * 2 {
            self.window.reset();
            self.current.reset();
            self.started = now;
        } else if age >= self.half {
            // The current half becomes the previous one: the window is just it.
            self.window.reset();
            self.window
                .add(&self.current)
                .expect("histograms share bounds");
            self.current.reset();
            self.started += self.half;
        }
    }

    /// Records one latency observed at `now`.
    pub fn record(&mut self, now: Instant, latency: Duration) {
        self.rotate(now);
        let us = (latency.as_micros() as u64).clamp(1, MAX_MICROS);
        self.current.saturating_record(us);
        self.window.saturating_record(us);
    }

    /// Samples in the window.
    pub fn len(&mut self, now: Instant) -> u64 {
        self.rotate(now);
        self.window.len()
    }

    /// Whether the window holds no samples.
    pub fn is_empty(&mut self, now: Instant) -> bool {
        self.len(now) == 0
    }

    /// The `q`-quantile (0..=1) of the window, or `None` if it is empty.
    pub fn quantile(&mut self, now: Instant, q: f64) -> Option<Duration> {
        self.rotate(now);
        if self.window.is_empty() {
            return None;
        }
        Some(Duration::from_micros(self.window.value_at_quantile(q)))
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
