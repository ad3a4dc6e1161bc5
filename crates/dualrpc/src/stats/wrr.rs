//! Smooth weighted round-robin: which of several weighted candidates goes next, so that
//! shares follow weights and equal candidates alternate. `dual` uses it to choose its pair.

/// Smooth weighted round-robin (nginx, `ngx_http_upstream_get_peer`): every pick adds each
/// candidate's weight to its running total, takes the largest, and subtracts the sum of
/// weights from the winner. Over any stretch of picks each candidate's share follows its
/// weight, picks of equal candidates alternate, and weights may change between picks.
#[derive(Debug, Clone)]
pub struct SmoothWrr {
    current: Vec<f64>,
}

impl SmoothWrr {
    /// State for `n` candidates.
    pub fn new(n: usize) -> Self {
        Self {
            current: vec![0.0; n],
        }
    }

    /// Picks a candidate among those with a positive weight; `None` if there is none.
    pub fn pick(&mut self, weights: &[f64]) -> Option<usize> {
        if self.current.len() != weights.len() {
            self.current = vec![0.0; weights.len()];
        }
        let total: f64 = weights.iter().filter(|w| **w > 0.0).sum();
        if total <= 0.0 || !total.is_finite() {
            return None;
        }
        let mut best: Option<usize> = None;
        for (i, &w) in weights.iter().enumerate() {
            if w > 0.0 {
                self.current[i] += w;
                if best.is_none_or(|b| self.current[i] > self.current[b]) {
                    best = Some(i);
                }
            }
        }
        let chosen = best?;
        self.current[chosen] -= total;
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_weights_alternate_and_shares_follow_weights() {
        let mut wrr = SmoothWrr::new(2);
        let picks: Vec<_> = (0..6).map(|_| wrr.pick(&[1.0, 1.0]).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 0, 1, 0, 1]);
        let mut wrr = SmoothWrr::new(3);
        let mut counts = [0; 3];
        for _ in 0..600 {
            counts[wrr.pick(&[2.0, 1.0, 0.0]).unwrap()] += 1;
        }
        assert_eq!(
            counts,
            [400, 200, 0],
            "twice the weight, twice the picks; zero never"
        );
        assert_eq!(SmoothWrr::new(1).pick(&[0.0]), None);
    }
}
