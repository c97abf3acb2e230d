//! `isobench compare --json`: the comparison as a versioned document whose
//! field names carry their units (`_us`, `_percent`).

use serde::Serialize;

use super::{CompareReport, CompareRow, COMPARE_FORMAT_VERSION};
use crate::verdict::tidy;

/// The document (see [`CompareReport::to_json`]).
#[derive(Serialize)]
struct Document<'a> {
    format_version: u32,
    a: &'a str,
    b: &'a str,
    statistic: &'static str,
    alpha: f64,
    threshold_percent: f64,
    power_percent: f64,
    spending: String,
    paired: bool,
    interval_level_percent: f64,
    forced: &'a [String],
    rows: Vec<Row<'a>>,
    only_in_a: &'a [String],
    only_in_b: &'a [String],
    warnings: &'a [String],
    host_drift_percent: Option<f64>,
    output_mismatches: &'a [String],
    regression: bool,
    outputs_differ: bool,
}

/// One pair.
#[derive(Serialize)]
struct Row<'a> {
    a_environment: &'a str,
    b_environment: &'a str,
    a_repetitions: usize,
    b_repetitions: usize,
    a_iterations: usize,
    b_iterations: usize,
    a_partly_failed: bool,
    b_partly_failed: bool,
    a_mean_us: Option<f64>,
    b_mean_us: Option<f64>,
    outcome: Option<&'static str>,
    verdict: String,
    ratio: Option<f64>,
    interval_low: Option<f64>,
    interval_high: Option<f64>,
    interval_level_percent: Option<f64>,
    analysis: Option<String>,
    minimum_detectable_effect_percent: Option<f64>,
    rounds_to_decide: Option<usize>,
    inconclusive_reason: Option<String>,
    not_compared: Option<&'a str>,
}

impl<'a> Row<'a> {
    fn of(r: &'a CompareRow) -> Row<'a> {
        let d = r.decision.as_ref();
        let interval = d.and_then(|d| d.interval);
        Row {
            a_environment: &r.a_environment,
            b_environment: &r.b_environment,
            a_repetitions: r.a_repetitions,
            b_repetitions: r.b_repetitions,
            a_iterations: r.a_iterations,
            b_iterations: r.b_iterations,
            a_partly_failed: r.a_failed,
            b_partly_failed: r.b_failed,
            a_mean_us: r.a_mean_us,
            b_mean_us: r.b_mean_us,
            outcome: d.map(|d| d.outcome.as_str()),
            verdict: r.verdict_label(),
            ratio: d.map(|d| d.ratio),
            interval_low: interval.map(|i| i.low),
            interval_high: interval.map(|i| i.high),
            interval_level_percent: interval.map(|i| tidy(i.level * 100.0)),
            analysis: d.map(|d| d.design.to_string()),
            minimum_detectable_effect_percent: d
                .and_then(|d| d.minimum_detectable_effect)
                .map(|m| m * 100.0),
            rounds_to_decide: d.and_then(|d| d.rounds_to_decide),
            inconclusive_reason: d.and_then(|d| d.inconclusive).map(|i| i.to_string()),
            not_compared: r.skipped.as_deref(),
        }
    }
}

impl CompareReport {
    /// The comparison as pretty JSON (`isobench compare --json`): format
    /// version [`COMPARE_FORMAT_VERSION`], units in field names (`_us`,
    /// `_percent`), the same outcome words (`outcome`) and whole verdicts
    /// (`verdict`) as every report, and what the exit code rests on
    /// (`regression`, `outputs_differ`).
    pub fn to_json(&self) -> String {
        let o = &self.options;
        let document = Document {
            format_version: COMPARE_FORMAT_VERSION,
            a: &self.a_label,
            b: &self.b_label,
            statistic: o.statistic.as_str(),
            alpha: o.decision.alpha,
            threshold_percent: o.decision.threshold * 100.0,
            power_percent: o.decision.power * 100.0,
            spending: o.decision.spending.name(),
            paired: self.paired,
            interval_level_percent: tidy(self.interval_level() * 100.0),
            forced: &self.forced,
            rows: self.rows.iter().map(Row::of).collect(),
            only_in_a: &self.only_in_a,
            only_in_b: &self.only_in_b,
            warnings: &self.warnings,
            host_drift_percent: self.host_drift.map(|d| d * 100.0),
            output_mismatches: &self.output_mismatches,
            regression: self.has_regression(),
            outputs_differ: self.outputs_differ(),
        };
        // Plain data of strings, numbers and booleans: serialisation cannot fail.
        serde_json::to_string_pretty(&document)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}
