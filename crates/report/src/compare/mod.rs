//! A/B comparisons of in-agent inference times: two results files
//! (`isobench compare A.json B.json`, environment by environment, or env X
//! of A with env Y of B) or environments inside one file against a baseline.
//!
//! Each pair is decided by the one rule of [`isobench_stats::Decision`]:
//! slower or faster when the interval of the ratio excludes 1 and the change
//! exceeds the threshold, same when the interval lies inside ±threshold,
//! inconclusive otherwise (with what would decide it). Environments of one
//! file are paired by round and decided at the file's last look, so the
//! verdicts are the ones every report of the file shows; two files are two
//! sessions, compared unpaired with one look at the end.
//!
//! Two files must measure the same thing: different workloads, engines,
//! models or input sets are refused ([`crate::ReportError::Incomparable`])
//! unless forced. They are also checked for what would make the comparison
//! measure something else than the configuration: the host's speed (its
//! host-speed probe, [`HOST_DRIFT_THRESHOLD`]), the host itself
//! ([`isobench_results::HostInfo::fingerprint`]) and the outputs (the same
//! inputs must give the same outputs).

mod files;
mod json;
mod pair;
mod text;
mod within;

use isobench_stats::{Decision, DecisionOptions, Outcome, Statistic};
use serde::{Deserialize, Serialize};

pub use files::{compare_files, FileChecks, Side};
pub use within::compare_environments;

use crate::verdict::Verdict;

/// Version of `isobench compare --json`'s format (3: units in field names,
/// the four outcomes, forced comparisons).
pub const COMPARE_FORMAT_VERSION: u32 = 3;

/// Settings of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CompareOptions {
    /// Per-repetition statistic compared (mean or median of its iterations).
    pub statistic: Statistic,
    /// The decision rule (α, threshold, spending, power).
    pub decision: DecisionOptions,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            statistic: Statistic::Mean,
            decision: DecisionOptions::default(),
        }
    }
}

/// Relative difference between two files' host-speed probe medians above
/// which the host is said to have run at a different speed: the comparison
/// then warns, and (unless allowed) downgrades decided verdicts to inconclusive.
pub const HOST_DRIFT_THRESHOLD: f64 = 0.05;

/// One compared pair.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    /// Environment of side A (the baseline).
    pub a_environment: String,
    /// Environment of side B (the candidate).
    pub b_environment: String,
    /// Repetitions of A with samples (the unit of the test).
    pub a_repetitions: usize,
    /// Repetitions of B with samples.
    pub b_repetitions: usize,
    /// Inference samples (iterations) on side A.
    pub a_iterations: usize,
    /// Inference samples (iterations) on side B.
    pub b_iterations: usize,
    /// True when A's environment is partly failed (some repetition failed).
    pub a_failed: bool,
    /// True when B's environment is partly failed.
    pub b_failed: bool,
    /// Mean over A's repetitions of their statistic, µs.
    pub a_mean_us: Option<f64>,
    /// Mean over B's repetitions of their statistic, µs.
    pub b_mean_us: Option<f64>,
    /// The decision (absent when the pair was not compared); its
    /// `inconclusive` says why and what would decide it.
    pub decision: Option<Decision>,
    /// Why the pair was not compared.
    pub skipped: Option<String>,
}

impl CompareRow {
    /// The verdict, worded as every report words it.
    pub fn verdict(&self) -> Verdict<'_> {
        match &self.decision {
            Some(d) => Verdict::Decided(d),
            None => Verdict::NotCompared(Some(self.skipped.as_deref().unwrap_or("no samples"))),
        }
    }

    /// The whole verdict ([`Verdict::label`]).
    pub fn verdict_label(&self) -> String {
        self.verdict().label()
    }

    /// The pair's name as shown: `docker`, or `docker vs native` when the
    /// environments differ (unless `baseline` names A's), with partly-failed marks.
    pub fn shown_name(&self, baseline: Option<&str>) -> String {
        let mut name = if self.a_environment == self.b_environment
            || baseline == Some(self.a_environment.as_str())
        {
            self.b_environment.clone()
        } else {
            format!("{} vs {}", self.b_environment, self.a_environment)
        };
        match (self.a_failed, self.b_failed) {
            (true, true) => name.push_str(" (A and B partly failed)"),
            (true, false) => name.push_str(" (A partly failed)"),
            (false, true) => name.push_str(" (B partly failed)"),
            (false, false) => {}
        }
        name
    }
}

/// A comparison: its rows, what a reader must know about it, and what
/// `isobench compare` exits with. Printed by [`CompareReport::to_text`] and
/// [`CompareReport::to_json`].
#[derive(Debug, Clone, PartialEq)]
pub struct CompareReport {
    /// Label of side A (file name or environment).
    pub a_label: String,
    /// Label of side B.
    pub b_label: String,
    /// Decision settings.
    pub options: CompareOptions,
    /// Paired by round (environments of one file) or unpaired (two files).
    pub paired: bool,
    /// The environment every row is compared with, for a comparison inside
    /// one file (its rows are then named by their candidate alone).
    pub baseline: Option<String>,
    /// Compared pairs.
    pub rows: Vec<CompareRow>,
    /// Environments only in A (file comparison).
    pub only_in_a: Vec<String>,
    /// Environments only in B (file comparison).
    pub only_in_b: Vec<String>,
    /// Differences between the two experiments a reader must know about.
    pub warnings: Vec<String>,
    /// Why the two files would have been refused, when `--force` compared
    /// them anyway (empty otherwise).
    pub forced: Vec<String>,
    /// How much slower (positive) or faster (negative) the host ran during B
    /// than during A: B's host-speed probe median over A's, minus 1 (a
    /// fraction, 0.2 = 20% slower). Absent when a file has no probe, and for
    /// comparisons inside one file.
    pub host_drift: Option<f64>,
    /// Outputs that differ: between A and B for the same environment and
    /// input, or between environments of one file. Any entry fails `compare`.
    pub output_mismatches: Vec<String>,
}

impl CompareReport {
    /// True when some pair's outcome is [`Outcome::Slower`] (B regressed against A).
    pub fn has_regression(&self) -> bool {
        self.regressions().next().is_some()
    }

    /// Pairs that regressed.
    pub fn regressions(&self) -> impl Iterator<Item = &CompareRow> {
        self.rows.iter().filter(|r| {
            r.decision
                .as_ref()
                .is_some_and(|d| d.outcome == Outcome::Slower)
        })
    }

    /// True when some output differs (see [`CompareReport::output_mismatches`]).
    pub fn outputs_differ(&self) -> bool {
        !self.output_mismatches.is_empty()
    }

    /// The level of the verdicts' intervals (`1 - α` when none was computed).
    pub fn interval_level(&self) -> f64 {
        self.rows
            .iter()
            .find_map(|r| r.decision.as_ref()?.interval.map(|i| i.level))
            .unwrap_or(1.0 - self.options.decision.alpha)
    }
}
