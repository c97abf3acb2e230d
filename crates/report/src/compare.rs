//! A/B comparisons of in-agent inference times: two results files
//! (`isobench compare A.json B.json`, environment by environment) or
//! environments inside one file against a baseline. Each pair gets a
//! permutation test and the verdict of [`isobench_stats::Comparison`]
//! (significant only when p < alpha *and* |effect| > threshold).

use isobench_results::{EnvironmentResult, ResultsFile};
use isobench_stats::{CompareOptions, Comparison, Verdict};
use serde::{Deserialize, Serialize};

use crate::format::{num, TimeUnit};
use crate::ReportError;

/// One compared pair.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompareRow {
    /// Environment of side A (the baseline).
    pub a_environment: String,
    /// Environment of side B (the candidate).
    pub b_environment: String,
    /// Inference samples on side A.
    pub n_a: usize,
    /// Inference samples on side B.
    pub n_b: usize,
    /// The test and verdict (absent when the pair was not compared).
    pub comparison: Option<Comparison>,
    /// Why the pair was not compared.
    pub skipped: Option<String>,
}

/// A machine-readable comparison (serialise it for `--json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompareReport {
    /// Label of side A (file name or environment).
    pub a_label: String,
    /// Label of side B.
    pub b_label: String,
    /// Test settings.
    pub options: CompareOptions,
    /// Compared pairs.
    pub rows: Vec<CompareRow>,
    /// Environments only in A (file comparison).
    pub only_in_a: Vec<String>,
    /// Environments only in B (file comparison).
    pub only_in_b: Vec<String>,
    /// Differences between the two experiments a reader must know about.
    pub warnings: Vec<String>,
}

impl CompareReport {
    /// True when some pair's verdict is [`Verdict::Slower`] (B regressed against A).
    pub fn has_regression(&self) -> bool {
        self.rows
            .iter()
            .filter_map(|r| r.comparison.as_ref())
            .any(|c| c.verdict.is_regression())
    }

    /// Pairs that regressed.
    pub fn regressions(&self) -> impl Iterator<Item = &CompareRow> {
        self.rows.iter().filter(|r| {
            r.comparison
                .as_ref()
                .is_some_and(|c| c.verdict.is_regression())
        })
    }

    /// A plain-text table for the terminal.
    pub fn to_text(&self) -> String {
        let o = &self.options;
        let mut out = format!(
            "A: {}\nB: {}\nin-agent inference time, {} of each side; permutation test, {} resamples, seed {}; \
             significant when p < {} and |change| > {}%\n\n",
            self.a_label,
            self.b_label,
            o.statistic.as_str(),
            o.resamples,
            o.seed,
            o.alpha,
            num(o.threshold * 100.0)
        );
        let typical = self
            .rows
            .iter()
            .filter_map(|r| r.comparison.map(|c| c.test.a))
            .fold(0.0f64, f64::max);
        let unit = TimeUnit::for_us(typical);
        let u = unit.label();
        let header = [
            "environment".to_string(),
            format!("A ({u})"),
            format!("B ({u})"),
            "change".into(),
            format!("95% CI of B-A ({u})"),
            "p".into(),
            "verdict".into(),
        ];
        let mut rows: Vec<Vec<String>> = vec![header.to_vec()];
        for r in &self.rows {
            let name = if r.a_environment == r.b_environment {
                r.a_environment.clone()
            } else {
                format!("{} vs {}", r.b_environment, r.a_environment)
            };
            match (&r.comparison, &r.skipped) {
                (Some(c), _) => {
                    let t = &c.test;
                    rows.push(vec![
                        name,
                        num(unit.conv(t.a)),
                        num(unit.conv(t.b)),
                        format!("{:+.1}%", t.relative_difference * 100.0),
                        format!(
                            "[{}, {}]",
                            num(unit.conv(t.ci.low)),
                            num(unit.conv(t.ci.high))
                        ),
                        format_p(t.p_value, t.resamples),
                        c.verdict.as_str().to_uppercase(),
                    ]);
                }
                (None, reason) => rows.push(vec![
                    name,
                    "—".into(),
                    "—".into(),
                    "—".into(),
                    "—".into(),
                    "—".into(),
                    format!(
                        "not compared: {}",
                        reason.as_deref().unwrap_or("no samples")
                    ),
                ]),
            }
        }
        out.push_str(&text_table(&rows));
        for name in &self.only_in_a {
            out.push_str(&format!("only in A: {name}\n"));
        }
        for name in &self.only_in_b {
            out.push_str(&format!("only in B: {name}\n"));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        let regressions: Vec<&str> = self
            .regressions()
            .map(|r| r.b_environment.as_str())
            .collect();
        if regressions.is_empty() {
            out.push_str("no regression\n");
        } else {
            out.push_str(&format!("REGRESSION in: {}\n", regressions.join(", ")));
        }
        out
    }
}

/// p-value as text; at the resolution limit it reads `< 1/(resamples+1)`-ish.
pub(crate) fn format_p(p: f64, resamples: usize) -> String {
    let floor = 1.0 / (resamples as f64 + 1.0);
    if p <= floor * 1.000_001 {
        format!("<{:.1e}", floor * 1.5)
    } else if p < 0.001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

/// Left-aligned first column, right-aligned others, two spaces apart.
fn text_table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c].saturating_sub(cell.chars().count());
            if c == 0 || c == cols - 1 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Compares one pair of environments (B against A) on in-agent inference samples.
fn compare_pair(
    a: &EnvironmentResult,
    b: &EnvironmentResult,
    options: &CompareOptions,
) -> CompareRow {
    let sa = a.all_inference_us();
    let sb = b.all_inference_us();
    let mut row = CompareRow {
        a_environment: a.name.clone(),
        b_environment: b.name.clone(),
        n_a: sa.len(),
        n_b: sb.len(),
        comparison: None,
        skipped: None,
    };
    if a.emulated != b.emulated {
        row.skipped = Some("one side is emulated (TCG), the other hardware-accelerated".into());
        return row;
    }
    match Comparison::compute(&sa, &sb, options) {
        Ok(c) => row.comparison = Some(c),
        Err(e) => row.skipped = Some(e.to_string()),
    }
    row
}

/// Compares every environment present in both files (B against A).
pub fn compare_files(
    a: &ResultsFile,
    b: &ResultsFile,
    a_label: &str,
    b_label: &str,
    options: &CompareOptions,
) -> CompareReport {
    let mut rows = Vec::new();
    let mut only_in_a = Vec::new();
    for ea in &a.environments {
        match b.environments.iter().find(|eb| eb.name == ea.name) {
            Some(eb) => rows.push(compare_pair(ea, eb, options)),
            None => only_in_a.push(ea.name.clone()),
        }
    }
    let only_in_b = b
        .environments
        .iter()
        .filter(|eb| !a.environments.iter().any(|ea| ea.name == eb.name))
        .map(|e| e.name.clone())
        .collect();
    let (xa, xb) = (&a.experiment, &b.experiment);
    let mut warnings = Vec::new();
    let mut differs = |what: &str, va: String, vb: String| {
        if va != vb {
            warnings.push(format!("{what} differs: A {va}, B {vb}"));
        }
    };
    differs("workload", xa.workload.clone(), xb.workload.clone());
    differs("engine", xa.engine.clone(), xb.engine.clone());
    differs(
        "model",
        format!("{:?}", xa.model),
        format!("{:?}", xb.model),
    );
    differs("threads", xa.threads.to_string(), xb.threads.to_string());
    differs(
        "vcpus",
        format!("{:?}", xa.vcpus),
        format!("{:?}", xb.vcpus),
    );
    differs(
        "host CPU",
        a.host.cpu_model.clone(),
        b.host.cpu_model.clone(),
    );
    differs(
        "agent sha256",
        a.payload.agent_sha256.clone(),
        b.payload.agent_sha256.clone(),
    );
    CompareReport {
        a_label: a_label.to_string(),
        b_label: b_label.to_string(),
        options: *options,
        rows,
        only_in_a,
        only_in_b,
        warnings,
    }
}

/// Compares environments of one file against `baseline` (default: the file's
/// baseline, `native` when measured). `others` limits the candidates (default:
/// every other measured environment).
pub fn compare_environments(
    results: &ResultsFile,
    baseline: Option<&str>,
    others: Option<&[String]>,
    options: &CompareOptions,
) -> Result<CompareReport, ReportError> {
    let measured: Vec<&EnvironmentResult> = results
        .environments
        .iter()
        .filter(|e| !e.all_inference_us().is_empty())
        .collect();
    let available = || {
        measured
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let find = |name: &str| {
        measured
            .iter()
            .copied()
            .find(|e| e.name == name)
            .ok_or_else(|| ReportError::UnknownEnvironment {
                name: name.to_string(),
                available: available(),
            })
    };
    let base = match baseline {
        Some(name) => find(name)?,
        None => measured
            .iter()
            .copied()
            .find(|e| e.name == "native")
            .or_else(|| measured.first().copied())
            .ok_or_else(|| {
                ReportError::NothingToCompare(
                    "no environment in the results has inference samples".into(),
                )
            })?,
    };
    let candidates: Vec<&EnvironmentResult> = match others {
        Some(names) => names.iter().map(|n| find(n)).collect::<Result<_, _>>()?,
        None => measured
            .iter()
            .copied()
            .filter(|e| e.name != base.name)
            .collect(),
    };
    if candidates.is_empty() {
        return Err(ReportError::NothingToCompare(format!(
            "only `{}` has inference samples; measure a second environment",
            base.name
        )));
    }
    Ok(CompareReport {
        a_label: format!("{} (baseline)", base.name),
        b_label: candidates
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        options: *options,
        rows: candidates
            .iter()
            .map(|e| compare_pair(base, e, options))
            .collect(),
        only_in_a: vec![],
        only_in_b: vec![],
        warnings: vec![],
    })
}

/// The verdict of `env` against the file's baseline, for the tables (None for the
/// baseline itself, unmeasured or emulated environments).
pub(crate) fn verdicts_against_baseline(
    results: &ResultsFile,
) -> Vec<(String, Option<Verdict>, Option<String>)> {
    let options = CompareOptions {
        seed: results.experiment.seed,
        ..CompareOptions::default()
    };
    let Ok(report) = compare_environments(results, None, None, &options) else {
        return vec![];
    };
    report
        .rows
        .into_iter()
        .map(|r| (r.b_environment, r.comparison.map(|c| c.verdict), r.skipped))
        .collect()
}
