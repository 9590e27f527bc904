//! Timing statistics of repeated runs.

use std::time::Duration;

/// Median, min and max of a set of timings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Stats {
    pub fn from(times: &[Duration]) -> Stats {
        let mut s: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            s[n / 2]
        } else {
            0.5 * (s[n / 2 - 1] + s[n / 2])
        };
        Stats {
            median,
            min: s.first().copied().unwrap_or(f64::NAN),
            max: s.last().copied().unwrap_or(f64::NAN),
            runs: n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_and_odd_counts() {
        let d = |ms: u64| Duration::from_millis(ms);
        let s = Stats::from(&[d(3), d(1), d(2)]);
        assert_eq!((s.median, s.min, s.max), (0.002, 0.001, 0.003));
        let s = Stats::from(&[d(4), d(1), d(2), d(3)]);
        assert_eq!(s.median, 0.0025);
    }
}
