//! Statistics for benchmark samples: descriptive summaries, bootstrap
//! confidence intervals, MAD outlier detection (as hyperfine does), ratios
//! between environments, and the A/B verdict.
//!
//! # The repetition is the unit of replication
//!
//! A benchmark runs several *repetitions* (each a fresh container, VM or
//! process) of several *iterations* each. The iterations of one repetition are
//! repeated measures of that repetition, not independent samples: the host's
//! speed drifts, so repetitions differ by far more than their iterations do
//! (e.g. means of 296.6, 263.4 and 272.6 ms, each known to within 1–4 ms).
//! Treating every iteration as an independent sample gives absurdly narrow
//! intervals and false "significant" differences. So:
//!
//! - measurements are held as a [`Repeated`] sample (one vector per repetition);
//! - intervals come from the two-level bootstrap of [`hierarchical`], which
//!   resamples repetitions and then iterations within them;
//! - the one verdict ([`Comparison`]) comes from a permutation test whose unit
//!   is the repetition ([`repetition_test()`]), exact when the design is small.
//!   A design with too few repetitions to reach `p < alpha` whatever the data
//!   is reported as [`Verdict::Inconclusive`] rather than "no difference";
//! - [`variance_components`] tells how much of the spread is between
//!   repetitions, and [`repetition_outliers`] flags a repetition unlike the others.
//!
//! The iteration-level [`pooled_permutation_test`] remains for use *within* one
//! repetition; it assumes independent samples and must not decide verdicts
//! across repetitions.
//!
//! Percentiles ([`percentile`], [`Summary`]'s p90/p95/p99) use the nearest-rank
//! definition, the one HDR histograms use for serving latencies (see [`summary`]).
//!
//! Every random procedure takes an explicit seed: the same data and seed
//! give the same answer.

#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

pub mod bootstrap;
pub mod hierarchical;
pub mod outliers;
pub mod permutation;
pub mod repetition_test;
pub mod sample;
pub mod statistic;
pub mod summary;
pub mod variance;
pub mod verdict;

#[cfg(test)]
mod simulation;
#[cfg(test)]
mod testdata;

pub use bootstrap::{bootstrap_ci, DEFAULT_LEVEL, DEFAULT_RESAMPLES};
pub use hierarchical::{hierarchical_ci, hierarchical_ratio};
pub use outliers::{mad_outliers, modified_z_scores, OUTLIER_THRESHOLD};
pub use permutation::{pooled_permutation_test, PooledPermutationTest};
pub use repetition_test::{
    min_attainable_p, repetition_test, repetitions_needed, RepetitionTest, EXACT_LIMIT,
};
pub use sample::Repeated;
pub use statistic::Statistic;
pub use summary::{percentile, Summary};
pub use variance::{repetition_outliers, variance_components, VarianceComponents};
pub use verdict::{
    CompareOptions, Comparison, Inconclusive, Verdict, DEFAULT_ALPHA, DEFAULT_PERMUTATIONS,
    DEFAULT_THRESHOLD,
};

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

/// The ratio of one environment's statistic to the baseline's, with its
/// two-level bootstrap CI (see [`hierarchical_ratio`]).
///
/// It carries no verdict: whether the environments differ is decided by the
/// repetition-level test of [`Comparison`] alone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// `stat(other) / stat(baseline)` of the pooled values.
    pub ratio: f64,
    /// Two-level bootstrap confidence interval of the ratio.
    pub ci: Interval,
    /// The statistic whose ratio this is.
    pub statistic: Statistic,
}

/// Errors from statistics on unusable input.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StatsError {
    /// No samples (or no repetitions).
    #[error("no samples to summarise")]
    Empty,
    /// A sample is NaN or infinite.
    #[error("sample {index} is not a finite number")]
    NotFinite {
        /// Index of the bad sample.
        index: usize,
    },
    /// A repetition holds no values.
    #[error("repetition {repetition} has no samples")]
    EmptyRepetition {
        /// Index of the empty repetition.
        repetition: usize,
    },
    /// A value of a repetition is NaN or infinite.
    #[error("sample {index} of repetition {repetition} is not a finite number")]
    NotFiniteIn {
        /// Index of the repetition.
        repetition: usize,
        /// Index of the bad value within the repetition.
        index: usize,
    },
    /// A ratio or relative difference against a baseline whose statistic is 0.
    #[error(
        "the baseline's mean/median is 0, so no ratio to it exists; check the baseline's samples"
    )]
    ZeroBaseline,
}
