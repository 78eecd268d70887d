//! Shared figures for the benchmarks: percentiles and a one-line summary; the synthetic
//! repository the watch benchmarks share ([`tree`]).

use std::time::Duration;

pub mod tree;

/// p50/p99/max of a set of durations, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Samples.
    pub n: usize,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest.
    pub max_us: f64,
}

/// Summarise samples (empty gives zeros).
pub fn summarize(samples: &mut [Duration]) -> Summary {
    samples.sort_unstable();
    let at = |q: f64| {
        if samples.is_empty() {
            return 0.0;
        }
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1e6
    };
    Summary {
        n: samples.len(),
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: at(1.0),
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={:<6} p50={:>9.1}µs  p99={:>9.1}µs  max={:>9.1}µs",
            self.n, self.p50_us, self.p99_us, self.max_us
        )
    }
}
