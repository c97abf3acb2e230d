//! What a reader should know about the figures, as data: each warning
//! carries its cause and its numbers, and only the report crate turns it
//! into words (`isobench_report::words`). Nothing reads a warning back out
//! of text.

use serde::{Deserialize, Serialize};

/// One warning of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum Warning {
    /// The host's load average was above its CPU count when the run started.
    BusyHost {
        /// 1-minute load average.
        load_average: f64,
        /// Online CPUs.
        cpus: u32,
    },
    /// A fixed design too small to reach the significance level whatever the data.
    DesignTooSmall {
        /// Repetitions per environment.
        repetitions: u32,
        /// Rounds needed to reach `alpha` at all.
        needed: u32,
        /// The significance level.
        alpha: f64,
    },
    /// Repetitions ran in blocks (`--order blocked`): drift is attributed to
    /// whichever environment ran at that moment.
    BlockedOrder,
    /// The run was interrupted (SIGINT / SIGTERM) before its plan was done.
    Interrupted {
        /// Rounds done (complete or not).
        rounds_done: u32,
    },
    /// The host's speed (the probe) drifted beyond the threshold.
    HostDrift {
        /// `max / min − 1` of the probe over the run.
        drift: f64,
        /// Fastest probe, seconds.
        min_seconds: f64,
        /// Slowest probe, seconds.
        max_seconds: f64,
        /// Median probe, seconds.
        median_seconds: f64,
        /// The threshold, a fraction.
        threshold: f64,
        /// The repetitions run while the probe was off its median by more than the threshold.
        affected: Vec<AffectedRepetition>,
    },
    /// Environments computed different outputs for the same inputs.
    OutputsDiffer {
        /// The reference environment.
        reference: String,
        /// Iterations that differed.
        mismatches: u64,
        /// Iterations compared.
        compared: u64,
        /// The first difference found.
        first: crate::OutputMismatch,
    },
    /// Figures of an environment come from software emulation (TCG).
    Emulated {
        /// Environment.
        env: String,
        /// Acceleration (`tcg`).
        accel: String,
    },
    /// Repetitions of an environment failed.
    FailedRepetitions {
        /// Environment.
        env: String,
        /// The failed repetitions: round and reason.
        failed: Vec<FailedRepetition>,
        /// Repetitions run.
        total: u32,
        /// True when this environment is the baseline (every ratio rests on its successful repetitions).
        baseline: bool,
    },
    /// Stopping instances failed: their exit codes and final counters are unknown.
    StopFailed {
        /// Environment.
        env: String,
        /// Rounds whose instance did not stop cleanly.
        rounds: Vec<u32>,
        /// The first error.
        error: String,
    },
    /// CPU figures are absent for some repetitions.
    CpuAbsent {
        /// Environment.
        env: String,
        /// Why.
        reason: AbsentReason,
        /// The rounds concerned.
        rounds: Vec<u32>,
    },
    /// An environment's inference time varies a lot within repetitions.
    HighVariation {
        /// Environment.
        env: String,
        /// Coefficient of variation, a fraction.
        cv: f64,
    },
    /// Repetitions whose mean is far from the environment's others.
    OutlierRepetitions {
        /// Environment.
        env: String,
        /// Their rounds.
        rounds: Vec<u32>,
        /// Every repetition's mean inference time, ms (in round order).
        means_ms: Vec<f64>,
    },
    /// Iterations that are statistical outliers (modified z-score > 3.5).
    OutlierIterations {
        /// Environment.
        env: String,
        /// How many.
        count: u32,
    },
    /// The first measured iteration was much slower than the rest.
    SlowFirstIteration {
        /// Environment.
        env: String,
        /// Rounds where it happened.
        rounds: Vec<u32>,
        /// Warm-up iterations the run had.
        warmup: u64,
    },
}

impl Warning {
    /// The environment the warning is about, if one.
    pub fn env(&self) -> Option<&str> {
        match self {
            Warning::Emulated { env, .. }
            | Warning::FailedRepetitions { env, .. }
            | Warning::StopFailed { env, .. }
            | Warning::CpuAbsent { env, .. }
            | Warning::HighVariation { env, .. }
            | Warning::OutlierRepetitions { env, .. }
            | Warning::OutlierIterations { env, .. }
            | Warning::SlowFirstIteration { env, .. } => Some(env),
            _ => None,
        }
    }
}

/// A repetition run while the host's speed was off its median.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffectedRepetition {
    /// Environment.
    pub env: String,
    /// Its round.
    pub round: u32,
    /// How far its probe was from the median, a fraction (positive: slower host).
    pub off: f64,
}

/// A repetition that failed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedRepetition {
    /// Its round.
    pub round: u32,
    /// Why (one line).
    pub reason: String,
}

/// Why a repetition's CPU figures are absent (never printed as zero).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum AbsentReason {
    /// The meter gave no reading at these moments.
    MeterReadNothing {
        /// The meter (`cgroup-v1 …`, `process-tree …`).
        meter: String,
        /// The moments (`ready`, `start of the measured iterations`, …).
        moments: Vec<String>,
    },
    /// No reading at one end of the measured window.
    NoWindow,
    /// The measured window was shorter than the counters need for ±5%.
    WindowTooShort {
        /// Its length, seconds.
        seconds: f64,
        /// The shortest window reported, seconds.
        minimum_seconds: f64,
        /// Measured iterations that would make a window of the minimum length.
        iterations_needed: u64,
    },
}
