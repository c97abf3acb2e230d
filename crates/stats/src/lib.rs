//! Statistics for benchmark samples: the verdict of a comparison between
//! environments, the design of a run, descriptive summaries, bootstrap
//! intervals and MAD outlier detection (as hyperfine does).
//!
//! # The verdict: four outcomes
//!
//! A candidate environment is compared with a baseline by one rule
//! ([`outcome`], [`Decision`]) on one interval of the ratio candidate /
//! baseline, with a threshold (default 5%) and an overall error rate
//! (default α = 0.01):
//!
//! - **slower** / **faster**: the interval excludes 1 and the estimate is
//!   beyond the threshold;
//! - **same**: the interval lies inside ±threshold (two one-sided tests);
//! - **inconclusive**: neither; the decision says how many more rounds would
//!   decide, and what change the run could have detected (the minimum
//!   detectable effect at 80% power).
//!
//! # The design that ran
//!
//! A run launches, in each *round*, one fresh instance (a *repetition*) of
//! every environment in a shuffled order, and each repetition runs several
//! *iterations*. The repetition is the unit of replication: its iterations are
//! repeated measures of one instance, not independent samples.
//!
//! - The estimate is **paired on rounds** ([`paired`]): the mean over complete
//!   rounds of `ln(b_r / a_r)`, a randomised complete block analysis (the
//!   round is the block) in which whatever slowed a whole round cancels, with
//!   Student's t interval. Without complete rounds (a blocked order, or two
//!   runs compared by `isobench compare`) it is Welch's unpaired interval, and
//!   every result says which [`Design`] was used. The same two analyses of a
//!   plain difference serve memory figures (`≈ 0` when the interval includes 0).
//! - A run **looks after every round** until every comparison is decided or its
//!   budget is spent ([`sequential`]). Each look's interval is a repeated
//!   confidence interval from Lan–DeMets alpha spending (O'Brien–Fleming
//!   type), so that looking often does not inflate the error rate: the
//!   intervals of all looks cover together with probability `1 - α`. A fixed
//!   design (`--repetitions N`) is one final look at the `1 - α` level.
//! - **Iterations per instance** follow the variance components ([`design`]):
//!   Cochran's two-stage optimum from the cost of an instance, the cost of an
//!   iteration, and how much instances and iterations vary.
//!
//! The crate's simulation study (`src/study`, run with `cargo test --release
//! -p isobench-stats study:: -- --nocapture --test-threads 1`) measures the
//! intervals' coverage and the error rates and power of the design.
//!
//! # Kept for the study only
//!
//! The previous verdict (an unpaired exact permutation test on repetition
//! means, `verdict`, `repetition_test`, `permutation`) and the two-level
//! percentile bootstrap of a ratio (`hierarchical_ratio`, which under-covers
//! with few repetitions) are compiled for the tests alone: the simulation
//! study compares the design that replaced them with them. [`hierarchical_ci`]
//! still gives the descriptive intervals of an environment's mean and median.
//!
//! # Also here
//!
//! [`Summary`] (percentiles by nearest rank, the definition HDR histograms use
//! for serving latencies), [`variance_components`] (the ICC of an
//! environment's repetitions) and [`repetition_outliers`]. Every random
//! procedure takes an explicit seed: the same data and seed give the same
//! answer; the decisions themselves are deterministic functions of the data
//! and the recorded looks.

#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

pub mod bootstrap;
pub mod design;
mod distributions;
pub mod hierarchical;
pub mod outcome;
pub mod outliers;
pub mod paired;
// The previous verdict (an unpaired permutation test on repetition means),
// kept for the simulation study's comparison with the design that replaced it.
#[cfg(test)]
mod permutation;
#[cfg(test)]
mod repetition_test;
pub mod sample;
pub mod sequential;
pub mod statistic;
pub mod summary;
pub mod variance;
#[cfg(test)]
mod verdict;

#[cfg(test)]
mod simulation;
#[cfg(test)]
mod study;
#[cfg(test)]
mod testdata;

pub use bootstrap::{bootstrap_ci, DEFAULT_LEVEL, DEFAULT_RESAMPLES};
pub use design::{
    iterations_per_instance, within_log_variance, Clamp, DesignCosts, IterationsChoice,
    VarianceFigures, MIN_BETWEEN_SHARE, MIN_BETWEEN_VARIANCE,
};
pub use hierarchical::hierarchical_ci;
pub use outcome::{
    Decision, DecisionOptions, InconclusiveReason, Outcome, DEFAULT_ALPHA, DEFAULT_POWER,
    DEFAULT_THRESHOLD, MAX_PROJECTED_ROUNDS, MIN_ROUNDS_FOR_INTERVAL,
};
pub use outliers::{mad_outliers, modified_z_scores, OUTLIER_THRESHOLD};
pub use paired::{
    paired_difference, paired_log_ratio, unpaired_difference, unpaired_log_ratio, Arm, Design,
    Estimate, Observations, RoundPair, Scale, MIN_PAIRED_ROUNDS,
};
pub use sample::Repeated;
pub use sequential::{
    all_decided, decide, decide_fixed, decide_with, Boundaries, BoundaryTracker, Look,
    LookBoundary, LookProblem, Looks, Monitor, SequentialPlan, SpendingFunction,
    DEFAULT_MIN_ROUNDS, MAX_BOUNDARY,
};
pub use statistic::Statistic;
pub use summary::{percentile, Summary};
pub use variance::{repetition_outliers, variance_components, VarianceComponents};

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

impl Interval {
    /// True when `x` lies in `[low, high]`.
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// The ratio of one environment's statistic to the baseline's, with its
/// two-level bootstrap CI (`hierarchical_ratio`, kept for the coverage study).
#[cfg(test)]
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
    /// Too few values for an interval (a standard deviation needs two).
    #[error("{have} values, at least {need} needed for an interval")]
    TooFewForInterval {
        /// Values (rounds or repetitions) given.
        have: usize,
        /// Values needed.
        need: usize,
    },
    /// A repetition statistic is NaN or infinite.
    #[error("the {arm}'s statistic {index} is not a finite number")]
    NotFiniteStatistic {
        /// Which side.
        arm: paired::Arm,
        /// Index of the value (the round's position when paired).
        index: usize,
    },
    /// A statistic of 0 or less cannot enter a ratio (a time must be positive).
    #[error("the {arm}'s statistic {index} is not positive, so no ratio of it exists")]
    NotPositive {
        /// Which side.
        arm: paired::Arm,
        /// Index of the value (the round's position when paired).
        index: usize,
    },
    /// The looks of a sequential run are not a valid sequence.
    #[error("look {index}: {problem}")]
    InvalidLook {
        /// Index of the offending look (0-based).
        index: usize,
        /// What is wrong with it.
        problem: sequential::LookProblem,
    },
    /// An option is out of its range (e.g. alpha not in (0, 1)).
    #[error("{name} = {value} is out of range ({range})")]
    InvalidOption {
        /// The option's name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// The allowed range, in words.
        range: &'static str,
    },
    /// More data than the last look had: a decision is made at a look, from the rounds it saw.
    #[error("{units} rounds of data but the last look was taken after {rounds} rounds")]
    DataBeyondLook {
        /// Rounds (pairs, or repetitions per side) in the data.
        units: usize,
        /// Rounds of the last look.
        rounds: usize,
    },
}
