//! A/B comparisons of in-agent inference times: two results files
//! (`isobench compare A.json B.json`, environment by environment) or
//! environments inside one file against a baseline.
//!
//! Each pair is decided by the one rule of [`isobench_stats::Comparison`]: a
//! permutation test whose unit is the repetition (each environment's
//! samples grouped by repetition), significant only when p < alpha *and*
//! |change| > threshold, inconclusive when the design cannot reach p < alpha.
//! With the default options seeded with the experiment's seed this is the
//! verdict every report of the file shows.
//!
//! Two files are also checked for what would make the comparison measure
//! something else than the configuration: the host's speed (its
//! host-speed probe, [`HOST_DRIFT_THRESHOLD`]), the host itself
//! ([`isobench_results::HostInfo::fingerprint`]) and the outputs (the same
//! inputs must give the same outputs).

use isobench_results::{EnvironmentResult, IterationSample, ResultsFile};
use isobench_stats::{CompareOptions, Comparison, Inconclusive, Repeated};
use serde::{Deserialize, Serialize};

use crate::format::{failed_count, num, tick, TimeUnit, DASH};
use crate::ReportError;

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
    /// The test and verdict (absent when the pair was not compared); its
    /// `inconclusive` says why a verdict could not be reached.
    pub comparison: Option<Comparison>,
    /// Why the pair was not compared.
    pub skipped: Option<String>,
}

impl CompareRow {
    /// The verdict as every report words it: [`Comparison::label`], or
    /// `not compared (reason)`.
    pub fn verdict_label(&self) -> String {
        match (&self.comparison, &self.skipped) {
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
    /// True when some pair's verdict is [`isobench_stats::Verdict::Slower`] (B regressed against A).
    pub fn has_regression(&self) -> bool {
        self.regressions().next().is_some()
    }

    /// Pairs that regressed.
    pub fn regressions(&self) -> impl Iterator<Item = &CompareRow> {
        self.rows.iter().filter(|r| {
            r.comparison
                .as_ref()
                .is_some_and(|c| c.verdict.is_regression())
        })
    }

    /// True when some output differs (see [`CompareReport::output_mismatches`]).
    pub fn outputs_differ(&self) -> bool {
        !self.output_mismatches.is_empty()
    }

    /// A plain-text table for the terminal: environment, A, B, change, 95%
    /// CI of B − A, p, repetitions compared, verdict; then environments only
    /// in one side, warnings, and the closing line(s): `REGRESSION in: ...`
    /// or `no regression`, and `OUTPUTS DIFFER: ...` when outputs differ.
    pub fn to_text(&self) -> String {
        let o = &self.options;
        let mut out = format!(
            "A: {}\nB: {}\nin-agent inference time, {} of each repetition; permutation test on repetition {}s \
             (exact when the splits can be enumerated, else {} random permutations), seed {}; \
             significant when p < {} and |change| > {}%\n\n",
            self.a_label,
            self.b_label,
            o.statistic.as_str(),
            o.statistic.as_str(),
            o.resamples,
            o.seed,
            o.alpha,
            tick(o.threshold * 100.0)
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
            format!("95% CI of B−A ({u})"),
            "p".into(),
            "reps (A vs B)".into(),
            "verdict".into(),
        ];
        let mut rows: Vec<Vec<String>> = vec![header.to_vec()];
        for r in &self.rows {
            let reps = format!("{} vs {}", r.a_repetitions, r.b_repetitions);
            match &r.comparison {
                Some(c) => {
                    let t = &c.test;
                    rows.push(vec![
                        r.shown_name(),
                        num(unit.conv(t.a)),
                        num(unit.conv(t.b)),
                        format!("{:+.1}%", t.relative_difference * 100.0),
                        format!(
                            "[{}, {}]",
                            num(unit.conv(t.ci.low)),
                            num(unit.conv(t.ci.high))
                        ),
                        format_p(t.p_value, t.exact, t.resamples),
                        reps,
                        shout(&r.verdict_label()),
                    ]);
                }
                None => rows.push(vec![
                    r.shown_name(),
                    DASH.into(),
                    DASH.into(),
                    DASH.into(),
                    DASH.into(),
                    DASH.into(),
                    reps,
                    shout(&r.verdict_label()),
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
        if self.outputs_differ() {
            out.push_str(&format!(
                "OUTPUTS DIFFER: {}\n",
                self.output_mismatches.join("; ")
            ));
        }
        out
    }
}

/// The verdict with its first words upper-cased (`SLOWER`, `INCONCLUSIVE (reason)`).
fn shout(label: &str) -> String {
    match label.split_once(" (") {
        Some((head, rest)) => format!("{} ({rest}", head.to_uppercase()),
        None => label.to_uppercase(),
    }
}

/// p-value as text, saying whether it is exact or from random permutations.
pub(crate) fn format_p(p: f64, exact: bool, resamples: usize) -> String {
    let value = if p < 0.001 {
        format!("{p:.1e}")
    } else if p < 0.01 {
        format!("{p:.4}")
    } else {
        format!("{p:.3}")
    };
    if exact {
        format!("{value} (exact)")
    } else {
        let floor = 1.0 / (resamples as f64 + 1.0);
        if p <= floor * 1.000_001 {
            format!("≤{floor:.1e} ({resamples} perms)")
        } else {
            format!("{value} ({resamples} perms)")
        }
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

/// Compares one pair of environments (B against A) with the repetition-level test.
fn compare_pair(
    a: &EnvironmentResult,
    b: &EnvironmentResult,
    options: &CompareOptions,
) -> CompareRow {
    let ga = a.inference_by_repetition();
    let gb = b.inference_by_repetition();
    let mut row = CompareRow {
        a_environment: a.name.clone(),
        b_environment: b.name.clone(),
        a_repetitions: ga.len(),
        b_repetitions: gb.len(),
        n_a: ga.iter().map(Vec::len).sum(),
        n_b: gb.iter().map(Vec::len).sum(),
        a_failed: a.partly_failed(),
        b_failed: b.partly_failed(),
        comparison: None,
        skipped: None,
    };
    if a.emulated != b.emulated {
        row.skipped = Some("one side is emulated (TCG), the other hardware-accelerated".into());
        return row;
    }
    let side = |groups: Vec<Vec<f64>>, which: &str, env: &EnvironmentResult| {
        Repeated::new(groups).map_err(|e| match e {
            isobench_stats::StatsError::Empty => format!("{which}: {} has no samples", env.name),
            other => format!("{which}: {other}"),
        })
    };
    let compared = side(ga, "A", a).and_then(|ra| {
        let rb = side(gb, "B", b)?;
        Comparison::compute(&ra, &rb, options).map_err(|e| e.to_string())
    });
    match compared {
        Ok(c) => row.comparison = Some(c),
        Err(e) => row.skipped = Some(e),
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
                        if let Some(c) = &mut row.comparison {
                            c.refuse_significance(Inconclusive::HostDrift { percent });
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
        a_label: a_label.to_string(),
        b_label: b_label.to_string(),
        options: *options,
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
    let rows: Vec<CompareRow> = candidates
        .iter()
        .map(|e| compare_pair(base, e, options))
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
