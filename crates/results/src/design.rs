//! How a run was designed and why it stopped: a fixed number of rounds, or
//! sequential rounds that stop once every comparison with the baseline is
//! decided or the budget is spent; the looks it took (what every verdict
//! is recomputed from); and the iterations per instance it chose.

use isobench_stats::{DecisionOptions, IterationsChoice, Looks};
use serde::{Deserialize, Serialize};

/// The design of a batch run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDesign {
    /// Fixed or sequential.
    pub plan: Plan,
    /// The rule every verdict follows (α, threshold, spending function, power).
    pub decision: DecisionOptions,
    /// The looks taken (sequential: after each round from the minimum on;
    /// fixed: one final look). Every verdict is the decision at the last one.
    pub looks: Looks,
    /// Iterations per instance in the first rounds (the pilot).
    pub pilot_iterations: u64,
    /// Rounds run with the pilot's iterations.
    pub pilot_rounds: u32,
    /// The iterations chosen for the rounds after the pilot, with the
    /// figures that chose them (absent when `--iterations` fixed them, or
    /// when the run ended within the pilot).
    pub chosen: Option<IterationsChoice>,
    /// The CPU window's floor on iterations (so CPU figures exist): the
    /// iterations a window of the meters' minimum length needs.
    pub cpu_window_iterations: Option<u64>,
    /// Why the run stopped.
    pub stopped: Option<Stop>,
}

/// Fixed rounds or sequential rounds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Plan {
    /// `--repetitions N`: N rounds, one look at the end.
    Fixed {
        /// Rounds (repetitions per environment).
        rounds: u32,
    },
    /// Rounds until every comparison is decided, the budget is spent, or
    /// `max_rounds` ran; the first look after `min_rounds`.
    Sequential {
        /// First look after this many rounds.
        min_rounds: u32,
        /// At most this many rounds.
        max_rounds: u32,
        /// Measuring budget, seconds (from the first launch).
        budget_seconds: f64,
    },
}

impl Plan {
    /// The most rounds this plan runs.
    pub fn max_rounds(&self) -> u32 {
        match *self {
            Plan::Fixed { rounds } => rounds,
            Plan::Sequential { max_rounds, .. } => max_rounds,
        }
    }
}

/// Why a run stopped adding rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Its fixed rounds ran.
    Planned,
    /// Every comparison was decided (slower, faster or same).
    AllDecided,
    /// The budget would not fit another round.
    BudgetSpent,
    /// `max_rounds` ran.
    MaxRounds,
    /// SIGINT / SIGTERM.
    Interrupted,
    /// No comparison could be made (a single environment, or a baseline without samples).
    NothingToCompare,
}

/// A memory figure of one environment against the baseline's, from the
/// same meter on both sides: the mean difference over the rounds both ran
/// (paired), with its interval. Within the meter's noise (the interval
/// holds 0) it is shown as `≈ 0`, never as a negative cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemoryDifference {
    /// Mean difference, bytes (candidate − baseline).
    pub mean_bytes: f64,
    /// Interval of the difference, bytes.
    pub low_bytes: f64,
    /// Interval of the difference, bytes.
    pub high_bytes: f64,
    /// The interval's level.
    pub level: f64,
    /// True when the interval holds 0: the difference is within the meter's noise.
    pub within_noise: bool,
}
