//! A/B comparisons of in-agent inference times: two results files
//! (`isobench compare A.json B.json`, environment by environment) or
//! environments inside one file against a baseline.
//!
//! Each pair is decided by the one rule of [`isobench_stats::Decision`]:
//! slower or faster when the interval of the ratio excludes 1 and the change
//! exceeds the threshold, same when the interval lies inside ±threshold,
//! inconclusive otherwise (with what would decide it). Environments of one
//! file are paired by round and decided at the file's last look, so the
//! verdicts are the ones every report of the file shows; two files are two
//! sessions, compared unpaired with one look at the end.
//!
//! Two files are also checked for what would make the comparison measure
//! something else than the configuration: the host's speed (its
//! host-speed probe, [`HOST_DRIFT_THRESHOLD`]), the host itself
//! ([`isobench_results::HostInfo::fingerprint`]) and the outputs (the same
//! inputs must give the same outputs).

use isobench_results::{EnvironmentResult, IterationSample, ResultsFile};
use isobench_stats::{
    decide, decide_fixed, DecisionOptions, InconclusiveReason, Looks, Observations, Outcome,
    Statistic,
};
use serde::{Deserialize, Serialize};

use crate::format::{failed_count, num, tick, TimeUnit, DASH};
use crate::ReportError;

/// Version of `isobench compare --json`'s format.
pub const COMPARE_FORMAT_VERSION: u32 = 2;

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
/// then warns, and (unless allowed) refuses significant verdicts.
pub const HOST_DRIFT_THRESHOLD: f64 = 0.05;

/// One compared pair.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompareRow {
    /// Environment of side A (the baseline).
    pub a_environment: String,
    /// Environment of side B (the candidate).
    pub b_environment: String,
    /// Repetitions of A with samples (the unit of the test).
    #[serde(default)]
    pub a_repetitions: usize,
    /// Repetitions of B with samples.
    #[serde(default)]
    pub b_repetitions: usize,
    /// Inference samples (iterations) on side A.
    pub n_a: usize,
    /// Inference samples (iterations) on side B.
    pub n_b: usize,
    /// True when A's environment is partly failed (some repetition failed).
    #[serde(default)]
    pub a_failed: bool,
    /// True when B's environment is partly failed.
    #[serde(default)]
    pub b_failed: bool,
    /// Mean over A's repetitions of their statistic, µs.
    #[serde(default)]
    pub a_mean_us: Option<f64>,
    /// Mean over B's repetitions of their statistic, µs.
    #[serde(default)]
    pub b_mean_us: Option<f64>,
    /// The decision (absent when the pair was not compared); its
    /// `inconclusive` says why and what would decide it.
    pub decision: Option<isobench_stats::Decision>,
    /// Why the pair was not compared.
    pub skipped: Option<String>,
}

impl CompareRow {
    /// The verdict as every report words it: [`isobench_stats::Decision::label`], or
    /// `not compared (reason)`.
    pub fn verdict_label(&self) -> String {
        match (&self.decision, &self.skipped) {
            (Some(c), _) => c.label(),
            (None, reason) => format!(
                "not compared ({})",
                reason.as_deref().unwrap_or("no samples")
            ),
        }
    }

    /// The environment's name as shown, with partly-failed marks.
    fn shown_name(&self) -> String {
        let mut name = if self.a_environment == self.b_environment {
            self.a_environment.clone()
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

/// A machine-readable comparison (serialise it for `--json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompareReport {
    /// Format version of this document ([`COMPARE_FORMAT_VERSION`]).
    #[serde(default)]
    pub format_version: u32,
    /// Label of side A (file name or environment).
    pub a_label: String,
    /// Label of side B.
    pub b_label: String,
    /// Decision settings.
    pub options: CompareOptions,
    /// Paired by round (environments of one file) or unpaired (two files).
    #[serde(default)]
    pub paired: bool,
    /// Compared pairs.
    pub rows: Vec<CompareRow>,
    /// Environments only in A (file comparison).
    pub only_in_a: Vec<String>,
    /// Environments only in B (file comparison).
    pub only_in_b: Vec<String>,
    /// Differences between the two experiments a reader must know about.
    pub warnings: Vec<String>,
    /// How much slower (positive) or faster (negative) the host ran during B
    /// than during A: B's host-speed probe median over A's, minus 1 (a
    /// fraction, 0.2 = 20% slower). Absent when a file has no probe, and for
    /// comparisons inside one file.
    #[serde(default)]
    pub host_drift: Option<f64>,
    /// Outputs that differ: between A and B for the same environment and
    /// input, or between environments of one file. Any entry fails `compare`.
    #[serde(default)]
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

    /// A plain-text table for the terminal: environment, A, B, ratio with
    /// the interval the verdict used, rounds compared, verdict; then
    /// environments only in one side, warnings, and the closing line(s):
    /// `REGRESSION in: ...` or `no regression`, and `OUTPUTS DIFFER: ...`.
    pub fn to_text(&self) -> String {
        let o = &self.options;
        let mut out = format!(
            "A: {}\nB: {}\nin-agent inference time, {} of each repetition; {}; \
             slower/faster when the interval excludes 1 and |change| > {}%, same when it lies within ±{}% (α {})\n\n",
            self.a_label,
            self.b_label,
            o.statistic.as_str(),
            if self.paired {
                "paired by round"
            } else {
                "two runs, unpaired (Welch)"
            },
            tick(o.decision.threshold * 100.0),
            tick(o.decision.threshold * 100.0),
            o.decision.alpha
        );
        let typical = self
            .rows
            .iter()
            .filter_map(|r| r.a_mean_us)
            .fold(0.0f64, f64::max);
        let unit = TimeUnit::for_us(typical);
        let u = unit.label();
        let header = [
            "environment".to_string(),
            format!("A ({u})"),
            format!("B ({u})"),
            "B / A [interval]".into(),
            "rounds".into(),
            "verdict".into(),
        ];
        let mut rows: Vec<Vec<String>> = vec![header.to_vec()];
        for r in &self.rows {
            let reps = format!("{} vs {}", r.a_repetitions, r.b_repetitions);
            let mean = |m: Option<f64>| m.map_or_else(|| DASH.to_string(), |v| num(unit.conv(v)));
            let ratio = match &r.decision {
                Some(d) => match d.interval {
                    Some(i) => format!("{:.3}× [{:.3}, {:.3}]", d.ratio, i.low, i.high),
                    None => format!("{:.3}×", d.ratio),
                },
                None => DASH.into(),
            };
            rows.push(vec![
                r.shown_name(),
                mean(r.a_mean_us),
                mean(r.b_mean_us),
                ratio,
                reps,
                shout(&r.verdict_label()),
            ]);
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
        if self.outputs_differ() {
            out.push_str(&format!(
                "OUTPUTS DIFFER: {}\n",
                self.output_mismatches.join("; ")
            ));
        }
        out
    }
}

/// The verdict with its first word upper-cased (`SLOWER`, `INCONCLUSIVE: reason`).
fn shout(label: &str) -> String {
    match label.split_once([':', ' ']) {
        Some((head, _)) => format!("{}{}", head.to_uppercase(), &label[head.len()..]),
        None => label.to_uppercase(),
    }
}

/// Left-aligned first and last columns, right-aligned others, two spaces apart.
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

/// `(round, statistic)` of every measured repetition of `env`.
fn repetition_stats(env: &EnvironmentResult, statistic: Statistic) -> Vec<(usize, f64)> {
    env.repetitions
        .iter()
        .filter(|r| !r.iterations.is_empty())
        .map(|r| {
            let mut values: Vec<f64> = r.inference_us().collect();
            (r.round as usize, statistic.of(&mut values))
        })
        .collect()
}

/// How a pair is compared: within one file (paired by round, at the file's
/// looks) or across two files (unpaired, one look).
enum Pairing<'a> {
    /// Paired by round; decided at these looks.
    Rounds(&'a Looks),
    /// Two sessions.
    Unpaired,
}

/// Compares one pair of environments (B against A).
fn compare_pair(
    a: &EnvironmentResult,
    b: &EnvironmentResult,
    options: &CompareOptions,
    pairing: &Pairing<'_>,
) -> CompareRow {
    let sa = repetition_stats(a, options.statistic);
    let sb = repetition_stats(b, options.statistic);
    let mean = |v: &[(usize, f64)]| {
        (!v.is_empty()).then(|| v.iter().map(|(_, x)| x).sum::<f64>() / v.len() as f64)
    };
    let mut row = CompareRow {
        a_environment: a.name.clone(),
        b_environment: b.name.clone(),
        a_repetitions: sa.len(),
        b_repetitions: sb.len(),
        n_a: a.repetitions.iter().map(|r| r.iterations.len()).sum(),
        n_b: b.repetitions.iter().map(|r| r.iterations.len()).sum(),
        a_failed: a.partly_failed(),
        b_failed: b.partly_failed(),
        a_mean_us: mean(&sa),
        b_mean_us: mean(&sb),
        decision: None,
        skipped: None,
    };
    if a.emulated != b.emulated {
        row.skipped = Some("one side is emulated (TCG), the other hardware-accelerated".into());
        return row;
    }
    for (side, stats, env) in [("A", &sa, a), ("B", &sb, b)] {
        if stats.is_empty() {
            row.skipped = Some(format!("{side}: {} has no samples", env.name));
            return row;
        }
    }
    let decided = match pairing {
        Pairing::Rounds(looks) => {
            let covered = looks.last().map_or(0, |l| l.rounds);
            let upto = |v: &[(usize, f64)]| -> Vec<(usize, f64)> {
                v.iter().copied().filter(|(r, _)| *r <= covered).collect()
            };
            decide(
                &Observations::by_round(&upto(&sa), &upto(&sb)),
                looks,
                &options.decision,
            )
        }
        Pairing::Unpaired => decide_fixed(
            &Observations::Unpaired {
                baseline: sa.iter().map(|(_, v)| *v).collect(),
                candidate: sb.iter().map(|(_, v)| *v).collect(),
            },
            &options.decision,
        ),
    };
    match decided {
        Ok(d) => row.decision = Some(d),
        Err(e) => row.skipped = Some(e.to_string()),
    }
    row
}

/// `1 of 3 repetitions failed (#1: reason)` for a partly failed environment.
fn failure_detail(env: &EnvironmentResult) -> String {
    let (failed, total) = failed_count(env);
    let errors: Vec<String> = env
        .repetitions
        .iter()
        .filter_map(|r| Some(format!("round {}: {}", r.round, r.error.as_ref()?)))
        .collect();
    if errors.is_empty() {
        format!("its status is failed ({failed} of {total} repetitions have an error)")
    } else {
        format!(
            "{failed} of {total} repetitions failed ({})",
            errors.join("; ")
        )
    }
}

/// The first measured iteration with an output digest for each input, in order of appearance.
fn first_outputs(env: &EnvironmentResult) -> Vec<&IterationSample> {
    let mut firsts: Vec<&IterationSample> = Vec::new();
    for rep in &env.repetitions {
        for it in &rep.iterations {
            if it.digest.is_some() && !firsts.iter().any(|f| f.input == it.input) {
                firsts.push(it);
            }
        }
    }
    firsts
}

/// Compares every environment present in both files (B against A) with the
/// repetition-level test, and checks the host's speed, the host itself and
/// the outputs. When the host-speed probes differ by more than
/// [`HOST_DRIFT_THRESHOLD`], every significant verdict becomes inconclusive
/// ([`Inconclusive::HostDrift`]) unless `allow_host_drift`.
pub fn compare_files(
    a: &ResultsFile,
    b: &ResultsFile,
    a_label: &str,
    b_label: &str,
    options: &CompareOptions,
    allow_host_drift: bool,
) -> CompareReport {
    let mut rows = Vec::new();
    let mut only_in_a = Vec::new();
    for ea in &a.environments {
        match b.environments.iter().find(|eb| eb.name == ea.name) {
            Some(eb) => rows.push(compare_pair(ea, eb, options, &Pairing::Unpaired)),
            None => only_in_a.push(ea.name.clone()),
        }
    }
    let only_in_b = b
        .environments
        .iter()
        .filter(|eb| !a.environments.iter().any(|ea| ea.name == eb.name))
        .map(|e| e.name.clone())
        .collect();
    let mut warnings = Vec::new();

    // The host's speed during each run.
    let mut host_drift = None;
    match (&a.host_speed, &b.host_speed) {
        (Some(sa), Some(sb)) if sa.median_seconds > 0.0 => {
            let drift = sb.median_seconds / sa.median_seconds - 1.0;
            host_drift = Some(drift);
            if drift.abs() > HOST_DRIFT_THRESHOLD {
                let percent = drift * 100.0;
                let direction = if drift < 0.0 { "faster" } else { "slower" };
                let consequence = if allow_host_drift {
                    "verdicts kept as computed, as asked (host drift allowed)"
                } else {
                    "faster/slower verdicts are reported as inconclusive (--allow-host-drift keeps them)"
                };
                warnings.push(format!(
                    "the host ran {:.1}% {direction} during B (host-speed probe median {} ms, {} ms during A): the comparison measures the host, not the configuration; {consequence}",
                    percent.abs(),
                    num(sb.median_seconds * 1e3),
                    num(sa.median_seconds * 1e3),
                ));
                if !allow_host_drift {
                    for row in &mut rows {
                        if let Some(d) = &mut row.decision {
                            d.downgrade(InconclusiveReason::HostDrift { percent });
                        }
                    }
                }
            }
        }
        (sa, sb) => {
            let missing: Vec<&str> = [("A", sa.is_none()), ("B", sb.is_none())]
                .iter()
                .filter(|(_, m)| *m)
                .map(|(side, _)| *side)
                .collect();
            let which = if missing.is_empty() {
                "A".to_string()
            } else {
                missing.join(" and ")
            };
            warnings.push(format!(
                "{which} has no host-speed probe (written before it existed, or the probe failed): whether the host ran at the same speed during both runs cannot be checked"
            ));
        }
    }

    // The host itself.
    let (fa, fb) = (a.host.fingerprint(), b.host.fingerprint());
    if fa != fb {
        warnings.push(format!(
            "A and B ran on different hosts: A on {} ({fa}), B on {} ({fb}): the comparison measures the machines as much as the configurations",
            a.host.hostname, b.host.hostname
        ));
    }

    // The experiments.
    let (xa, xb) = (&a.experiment, &b.experiment);
    let mut differs = |what: &str, va: String, vb: String| {
        if va != vb {
            warnings.push(format!("{what} differs: A {va}, B {vb}"));
        }
    };
    differs("workload", xa.workload.to_string(), xb.workload.to_string());
    differs("engine", xa.engine.to_string(), xb.engine.to_string());
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
        "memory limit (MiB)",
        format!("{:?}", xa.memory_mib),
        format!("{:?}", xb.memory_mib),
    );
    differs("order", xa.order.to_string(), xb.order.to_string());
    differs(
        "agent sha256",
        a.payload.agent_sha256.clone(),
        b.payload.agent_sha256.clone(),
    );

    // Partly failed environments.
    for row in &rows {
        for (side, failed, file) in [("A", row.a_failed, a), ("B", row.b_failed, b)] {
            if !failed {
                continue;
            }
            if let Some(env) = file
                .environments
                .iter()
                .find(|e| e.name == row.a_environment)
            {
                warnings.push(format!(
                    "{} is partly failed in {side}: {}; the comparison rests on the repetitions that completed",
                    env.name,
                    failure_detail(env)
                ));
            }
        }
    }

    // Outputs: the same inputs must give the same outputs.
    let mut output_mismatches = Vec::new();
    for ea in &a.environments {
        let Some(eb) = b.environments.iter().find(|e| e.name == ea.name) else {
            continue;
        };
        let fb = first_outputs(eb);
        for ia in first_outputs(ea) {
            let Some(ib) = fb.iter().find(|i| i.input == ia.input) else {
                continue;
            };
            if let (Some(da), Some(db)) = (&ia.digest, &ib.digest) {
                if let Some(reason) = da.differs_from(db) {
                    output_mismatches.push(format!(
                        "{} on {}: A computed {}, B {} ({reason})",
                        ea.name,
                        ia.input,
                        da.describe(),
                        db.describe()
                    ));
                }
            }
        }
    }
    for (side, file) in [("A", a), ("B", b)] {
        if let Some(check) = file.outputs.as_ref().filter(|c| !c.consistent()) {
            output_mismatches.push(format!(
                "in {side}, {} of {} iterations differ from {}'s output{}",
                check.mismatch_count,
                check.compared,
                check.reference,
                check
                    .mismatches
                    .first()
                    .map(|m| format!(" (first: {} on {}: {})", m.env, m.input, m.reason))
                    .unwrap_or_default()
            ));
        }
    }
    if !output_mismatches.is_empty() {
        warnings.push(format!(
            "outputs differ ({} difference(s)): the runs did not compute the same thing, so their times are not comparable",
            output_mismatches.len()
        ));
    }

    CompareReport {
        format_version: COMPARE_FORMAT_VERSION,
        a_label: a_label.to_string(),
        b_label: b_label.to_string(),
        options: *options,
        paired: false,
        rows,
        only_in_a,
        only_in_b,
        warnings,
        host_drift,
        output_mismatches,
    }
}

/// Compares environments of one file against `baseline` (default: the file's
/// baseline, `native` when measured). `others` limits the candidates (default:
/// every other measured environment). With `options` =
/// `CompareOptions { seed: experiment seed, ..default }` the verdicts are the
/// ones every report of the file shows.
pub fn compare_environments(
    results: &ResultsFile,
    baseline: Option<&str>,
    others: Option<&[String]>,
    options: &CompareOptions,
) -> Result<CompareReport, ReportError> {
    let measured: Vec<&EnvironmentResult> = results
        .environments
        .iter()
        .filter(|e| !e.inference_by_repetition().is_empty())
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
        None => results
            .baseline_env()
            .filter(|b| measured.iter().any(|m| m.name == b.name))
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
    let looks = results.looks();
    let pairing = if results.experiment.order == isobench_results::Order::Interleaved {
        Pairing::Rounds(&looks)
    } else {
        Pairing::Unpaired
    };
    let rows: Vec<CompareRow> = candidates
        .iter()
        .map(|e| compare_pair(base, e, options, &pairing))
        .collect();

    let mut warnings = Vec::new();
    if base.partly_failed() {
        for row in &rows {
            warnings.push(format!(
                "{}: compared with the partly failed baseline {} ({}); the ratio and verdict rest on its repetitions that completed",
                row.b_environment,
                base.name,
                failure_detail(base)
            ));
        }
    }
    for env in &candidates {
        if env.partly_failed() {
            warnings.push(format!(
                "{} is partly failed: {}",
                env.name,
                failure_detail(env)
            ));
        }
    }
    if let Some(speed) = &results.host_speed {
        if speed.drift > HOST_DRIFT_THRESHOLD && !speed.affected.is_empty() {
            warnings.push(format!(
                "the host's speed drifted by {:.1}% during the experiment; repetitions run while it was more than {:.0}% off its median: {}",
                speed.drift * 100.0,
                HOST_DRIFT_THRESHOLD * 100.0,
                speed
                    .affected
                    .iter()
                    .map(|a| format!("{} round {} ({:+.1}%)", a.env, a.round, a.off * 100.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let involved = |name: &str| name == base.name || candidates.iter().any(|e| e.name == name);
    let mut output_mismatches = Vec::new();
    if let Some(check) = results.outputs.as_ref().filter(|c| !c.consistent()) {
        output_mismatches.extend(
            check
                .mismatches
                .iter()
                .filter(|m| involved(&m.env))
                .map(|m| {
                    format!(
                        "{} repetition {} iteration {} on {}: {} (reference {})",
                        m.env, m.round, m.index, m.input, m.reason, check.reference
                    )
                }),
        );
        if !output_mismatches.is_empty() {
            warnings.push(format!(
                "outputs differ between environments: {} of {} iterations differ from {}'s output for the same input",
                check.mismatch_count, check.compared, check.reference
            ));
        }
    }

    Ok(CompareReport {
        format_version: COMPARE_FORMAT_VERSION,
        paired: matches!(pairing, Pairing::Rounds(_)),
        a_label: format!("{} (baseline)", base.name),
        b_label: candidates
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        options: *options,
        rows,
        only_in_a: vec![],
        only_in_b: vec![],
        warnings,
        host_drift: None,
        output_mismatches,
    })
}
