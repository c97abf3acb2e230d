//! Statistics for benchmark samples: descriptive summaries, bootstrap
//! confidence intervals, MAD outlier detection (as hyperfine does), ratios
//! between environments, and permutation tests (as Firecracker's A/B tests do).
//!
//! Every random procedure takes an explicit seed: the same data and seed
//! give the same answer.

#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

pub mod bootstrap;
pub mod outliers;
pub mod permutation;
pub mod summary;
#[cfg(test)]
mod testdata;

pub use bootstrap::{bootstrap_ci, ratio_of_means_ci, DEFAULT_LEVEL, DEFAULT_RESAMPLES};
pub use outliers::{mad_outliers, modified_z_scores, OUTLIER_THRESHOLD};
pub use permutation::{
    permutation_test, CompareOptions, Comparison, PermutationTest, Statistic, Verdict,
    DEFAULT_ALPHA, DEFAULT_PERMUTATIONS, DEFAULT_THRESHOLD,
};
pub use summary::{percentile, Summary};

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Confidence level, e.g. 0.95.
    pub level: f64,
}

/// The ratio of one environment's mean to the baseline's, with its bootstrap CI.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// mean(other) / mean(baseline).
    pub ratio: f64,
    /// Bootstrap confidence interval of the ratio.
    pub ci: Interval,
    /// True when the interval excludes 1.0 (the difference is real at that level).
    pub significant: bool,
}

/// Errors from statistics on unusable input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StatsError {
    /// No samples.
    #[error("no samples to summarise")]
    Empty,
    /// A sample is NaN or infinite.
    #[error("sample {index} is not a finite number")]
    NotFinite {
        /// Index of the bad sample.
        index: usize,
    },
    /// A ratio or relative difference against a baseline whose statistic is 0.
    #[error(
        "the baseline's mean/median is 0, so no ratio to it exists; check the baseline's samples"
    )]
    ZeroBaseline,
}
