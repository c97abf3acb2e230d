//! One exporter per format behind [`Exporter`], as hyperfine does, and the
//! terminal table ([`terminal_table`]).
//!
//! Markdown, HTML and the terminal table are built from the same cells
//! (this module): one definition per figure, one verdict (the file's
//! [`isobench_results::EnvironmentSummary::comparison`]), the same words.

pub(crate) mod csv;
pub(crate) mod html;
mod json;
mod markdown;
mod terminal;

use std::path::{Path, PathBuf};

use isobench_results::{EnvironmentResult, ResultsFile, Status};
use isobench_stats::{Outcome, DEFAULT_ALPHA, DEFAULT_THRESHOLD};

pub use self::csv::{raw_csv, CsvExporter};
pub use self::html::HtmlExporter;
pub use self::json::JsonExporter;
pub use self::markdown::MarkdownExporter;
pub use self::terminal::terminal_table;
use crate::format::{
    env_label, env_label_marked, failed_count, mib, mib_signed, num, or_dash, tick, TimeUnit, DASH,
};
use crate::ReportError;

/// Turns a results file into the bytes of one format.
pub trait Exporter {
    /// Serialises `results`.
    fn serialize(&self, results: &ResultsFile) -> Result<Vec<u8>, ReportError>;
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Pretty JSON of the whole results file.
    Json,
    /// One row per environment with the summary columns.
    Csv,
    /// The summary table with its definitions and details, ready to paste.
    Markdown,
    /// Self-contained HTML page with charts.
    Html,
}

impl ExportFormat {
    /// The exporter of this format.
    pub fn exporter(self) -> Box<dyn Exporter> {
        match self {
            ExportFormat::Json => Box::new(JsonExporter),
            ExportFormat::Csv => Box::new(CsvExporter),
            ExportFormat::Markdown => Box::new(MarkdownExporter),
            ExportFormat::Html => Box::new(HtmlExporter),
        }
    }

    /// File extension (no dot).
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Csv => "csv",
            ExportFormat::Markdown => "md",
            ExportFormat::Html => "html",
        }
    }
}

/// Writes `report.html`, `report.md`, `results.csv` (summary) and `samples.csv`
/// (one row per iteration) into `dir` (next to results.json, which the harness
/// writes itself). Returns the paths written.
pub fn write_reports(results: &ResultsFile, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let outputs: [(&str, Vec<u8>); 4] = [
        ("report.html", HtmlExporter.serialize(results)?),
        ("report.md", MarkdownExporter.serialize(results)?),
        ("results.csv", CsvExporter.serialize(results)?),
        ("samples.csv", raw_csv(results)),
    ];
    let mut written = Vec::new();
    for (name, bytes) in outputs {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let io = |source| ReportError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        written.push(path);
    }
    Ok(written)
}

// ---------------------------------------------------------------------------
// Verdicts, marks and notes shared by every table.

/// The environment ratios and verdicts are computed against (see [`ResultsFile::baseline`]).
pub(crate) fn baseline_name(results: &ResultsFile) -> Option<&str> {
    results.baseline_env().map(|b| b.name.as_str())
}

/// True when `env` is the file's baseline.
pub(crate) fn is_baseline(results: &ResultsFile, env: &EnvironmentResult) -> bool {
    baseline_name(results) == Some(env.name.as_str())
}

/// The verdict of `env` as every report words it: `baseline`, the
/// decision's label (`slower`, `faster`, `same`, `inconclusive: between …
/// and …; what would decide it`), `not compared (reason)`, or why nothing
/// was measured.
pub(crate) fn verdict_text(results: &ResultsFile, env: &EnvironmentResult) -> String {
    let Some(s) = &env.summary else {
        return match &env.status {
            Status::Completed => "no samples".into(),
            Status::Interrupted => "interrupted".into(),
            Status::Failed { .. } => "failed".into(),
            Status::Skipped { .. } => "skipped".into(),
        };
    };
    if is_baseline(results, env) {
        return "baseline".into();
    }
    match (&s.decision, &s.not_compared) {
        (Some(d), _) => d.label(),
        (None, Some(why)) => format!("not compared ({why})"),
        (None, None) => "not compared".into(),
    }
}

/// CSS class / emphasis of a verdict.
pub(crate) fn verdict_class(env: &EnvironmentResult) -> Option<&'static str> {
    match env.summary.as_ref()?.decision.as_ref()?.outcome {
        Outcome::Slower => Some("slower"),
        Outcome::Faster => Some("faster"),
        Outcome::Inconclusive => Some("inconclusive"),
        Outcome::Same => Some("same"),
    }
}

/// The note of a partly failed baseline (what the † mark on ratios refers to).
pub(crate) fn partly_failed_baseline(results: &ResultsFile) -> Option<String> {
    let base = results.baseline_env()?;
    if !base.partly_failed() {
        return None;
    }
    let (failed, total) = failed_count(base);
    Some(format!(
        "the baseline {} is partly failed ({failed} of {total} repetitions failed): every ratio and verdict against it rests on its {} successful repetitions",
        base.name,
        total - failed
    ))
}

/// The ratio cell: `1.123× [1.050, 1.190]`, the interval the verdict used
/// (with † against a partly failed baseline).
pub(crate) fn ratio_text(results: &ResultsFile, env: &EnvironmentResult) -> String {
    let Some(s) = &env.summary else {
        return DASH.into();
    };
    if is_baseline(results, env) {
        return "1 (baseline)".into();
    }
    let dagger = if partly_failed_baseline(results).is_some() {
        "†"
    } else {
        ""
    };
    or_dash(s.decision.as_ref(), |d| match d.interval {
        Some(i) => format!("{:.3}× [{:.3}, {:.3}]{dagger}", d.ratio, i.low, i.high),
        None => format!("{:.3}×{dagger}", d.ratio),
    })
}

/// p99 in `unit`, marked `*` when it comes from fewer than 100 samples.
pub(crate) fn p99_text(summary: &isobench_stats::Summary, unit: TimeUnit) -> String {
    let mark = if summary.p99_is_reliable() { "" } else { "*" };
    format!("{}{mark}", num(unit.conv(summary.p99)))
}

/// The footnote of `*` p99 cells, when some row has one.
pub(crate) fn p99_note(results: &ResultsFile) -> Option<String> {
    let small: Vec<String> = results
        .environments
        .iter()
        .filter_map(|e| {
            let s = &e.summary.as_ref()?.inference_us;
            (!s.p99_is_reliable()).then(|| format!("{} n = {}", e.name, s.n))
        })
        .collect();
    (!small.is_empty()).then(|| {
        format!(
            "* p99 from fewer than 100 iterations ({}): the nearest-rank p99 is then the largest sample or next to it, close to the maximum, not a tail estimate",
            small.join(", ")
        )
    })
}

/// Distinct reasons why CPU figures are absent in `env`'s measured
/// repetitions, each with the rounds it concerns (reasons of one kind that
/// differ only in their numbers are one line: the first is worded).
fn absent_reasons(env: &EnvironmentResult) -> Vec<String> {
    let mut groups: Vec<(&isobench_results::AbsentReason, Vec<u32>)> = Vec::new();
    for rep in env.repetitions.iter().filter(|r| !r.iterations.is_empty()) {
        for reason in &rep.usage.absent {
            let kind = std::mem::discriminant(reason);
            match groups
                .iter_mut()
                .find(|(r, _)| std::mem::discriminant(*r) == kind)
            {
                Some((_, rounds)) => rounds.push(rep.round),
                None => groups.push((reason, vec![rep.round])),
            }
        }
    }
    groups
        .into_iter()
        .map(|(reason, rounds)| {
            format!(
                "{}: {}",
                crate::words::rounds(&rounds),
                crate::words::absent(reason)
            )
        })
        .collect()
}

/// Lines under the summary table: why an environment has no figures, which
/// repetitions failed, why figures are absent (`—`), and the footnotes of
/// `*` and `†`.
pub(crate) fn table_notes(results: &ResultsFile) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(note) = p99_note(results) {
        notes.push(note);
    }
    if let Some(note) = partly_failed_baseline(results) {
        notes.push(format!("† {note}"));
    }
    notes.extend(status_lines(results));
    for env in &results.environments {
        let Some(s) = &env.summary else { continue };
        let mut cpu_missing = Vec::new();
        if s.cpu_percent.is_none() {
            cpu_missing.push("CPU %");
        }
        if s.cpu_seconds_per_inference.is_none() {
            cpu_missing.push("CPU s/inference");
        }
        if s.startup_cpu_seconds.is_none() {
            cpu_missing.push("start-up CPU");
        }
        if !cpu_missing.is_empty() {
            let reasons = absent_reasons(env);
            notes.push(format!(
                "{}: {} absent (—): {}",
                env.name,
                cpu_missing.join(", "),
                if reasons.is_empty() {
                    "not measured".to_string()
                } else {
                    reasons.join("; ")
                }
            ));
        }
        if s.workload_peak_rss_bytes.is_none() {
            notes.push(format!(
                "{}: workload peak RSS absent (—): the agent did not report its VmHWM",
                env.name
            ));
        }
        if s.host_peak_rss_bytes.is_none() {
            let sources: Vec<&str> = env
                .repetitions
                .iter()
                .map(|r| r.usage.source.as_str())
                .filter(|s| !s.is_empty())
                .collect();
            notes.push(format!(
                "{}: host peak RSS absent (—): the instance's host processes could not be read{}",
                env.name,
                sources
                    .first()
                    .map(|s| format!(" (meter: {s})"))
                    .unwrap_or_default()
            ));
        }
    }
    notes
}

/// `oci-crun: FAILED: reason`, `gvisor: skipped: reason`, and for a partly
/// failed environment the failed repetitions with their errors.
pub(crate) fn status_lines(results: &ResultsFile) -> Vec<String> {
    let mut lines = Vec::new();
    for env in &results.environments {
        let errors: Vec<String> = env
            .repetitions
            .iter()
            .filter_map(|r| Some(format!("round {}: {}", r.round, r.error.as_ref()?)))
            .collect();
        match (&env.summary, &env.status) {
            (None, Status::Failed { reason }) => {
                lines.push(format!("{}: FAILED: {reason}", env.name))
            }
            (None, Status::Skipped { reason }) => {
                lines.push(format!("{}: skipped: {reason}", env.name))
            }
            (None, Status::Completed) => {
                lines.push(format!("{}: no measured iterations", env.name))
            }
            (Some(_), status) if env.partly_failed() => {
                let (failed, total) = failed_count(env);
                let detail = if errors.is_empty() {
                    match status {
                        Status::Failed { reason } => reason.clone(),
                        _ => "no reason recorded".into(),
                    }
                } else {
                    errors.join("; ")
                };
                lines.push(format!(
                    "{}: partly failed: {failed} of {total} repetitions failed ({detail}); its figures come from the {} that completed",
                    env.name,
                    total - failed
                ));
            }
            _ => {}
        }
    }
    lines
}

/// Significance level and threshold of the file's verdicts (the defaults when none was computed).
pub(crate) fn verdict_rule(results: &ResultsFile) -> (f64, f64) {
    results
        .environments
        .iter()
        .filter_map(|e| e.summary.as_ref()?.decision.as_ref())
        .map(|d| (d.alpha, d.threshold))
        .next()
        .unwrap_or((DEFAULT_ALPHA, DEFAULT_THRESHOLD))
}

// ---------------------------------------------------------------------------
// The summary table of Markdown and HTML.

/// One row of the summary table shared by Markdown and HTML (cells already formatted).
pub(crate) struct SummaryRow {
    /// Cells, in [`summary_headers`] order.
    pub cells: Vec<String>,
    /// Emphasis of the verdict cell.
    pub verdict_class: Option<&'static str>,
}

/// Column headers matching [`SummaryRow::cells`], with units.
pub(crate) fn summary_headers(results: &ResultsFile, unit: TimeUnit) -> Vec<String> {
    let u = unit.label();
    let (alpha, threshold) = verdict_rule(results);
    vec![
        "Environment".into(),
        "Start (ms)".into(),
        format!("Inference mean ± σ ({u})"),
        format!("Median ({u})"),
        format!("p99 ({u})"),
        "CPU (% of a core, measured iterations)".into(),
        "CPU (s/inference)".into(),
        "Start-up CPU (s)".into(),
        "Workload peak RSS (MiB)".into(),
        "Host peak RSS (MiB)".into(),
        "Isolation overhead (MiB)".into(),
        "Ratio to baseline [the verdict's interval]".into(),
        format!("Verdict (α {alpha}, ±{}%)", tick(threshold * 100.0)),
    ]
}

/// Unit for inference columns: from the baseline's (else the smallest) mean.
pub(crate) fn inference_unit(results: &ResultsFile) -> TimeUnit {
    let typical = results
        .baseline_env()
        .and_then(|b| b.summary.as_ref())
        .map(|s| s.inference_us.mean)
        .unwrap_or(0.0);
    TimeUnit::for_us(typical)
}

/// Isolation overhead cell, with the VMM's share for VMs: `+128.4 (VMM 12.3)`.
pub(crate) fn isolation_text(s: &isobench_results::EnvironmentSummary) -> String {
    let over = or_dash(s.isolation_overhead.as_ref(), |m| {
        if m.within_noise {
            format!(
                "≈ 0 [{}, {}]",
                mib_signed(m.low_bytes as i64),
                mib_signed(m.high_bytes as i64)
            )
        } else {
            mib_signed(m.mean_bytes as i64)
        }
    });
    match s.vmm_overhead_bytes {
        Some(vmm) => format!("{over} (VMM {})", mib(vmm as f64)),
        None => over,
    }
}

/// Rows of the summary table, in run order.
pub(crate) fn summary_rows(results: &ResultsFile, unit: TimeUnit) -> Vec<SummaryRow> {
    results
        .environments
        .iter()
        .map(|env| {
            let label = env_label_marked(env);
            let verdict = verdict_text(results, env);
            let Some(s) = &env.summary else {
                let mut cells = vec![env_label(env)];
                cells.extend((0..11).map(|_| DASH.to_string()));
                cells.push(verdict);
                return SummaryRow {
                    cells,
                    verdict_class: None,
                };
            };
            let inf = &s.inference_us;
            SummaryRow {
                cells: vec![
                    label,
                    or_dash(s.ready_seconds.as_ref(), |r| num(r.mean * 1e3)),
                    format!("{} ± {}", num(unit.conv(inf.mean)), num(unit.conv(inf.std))),
                    num(unit.conv(inf.median)),
                    p99_text(inf, unit),
                    or_dash(s.cpu_percent, num),
                    or_dash(s.cpu_seconds_per_inference, num),
                    or_dash(s.startup_cpu_seconds, num),
                    or_dash(s.workload_peak_rss_bytes, |b| mib(b as f64)),
                    or_dash(s.host_peak_rss_bytes, |b| mib(b as f64)),
                    isolation_text(s),
                    ratio_text(results, env),
                    verdict,
                ],
                verdict_class: verdict_class(env),
            }
        })
        .collect()
}

/// The "Definitions" list: (figure, its definition in one sentence).
pub(crate) fn definitions(results: &ResultsFile) -> Vec<(&'static str, String)> {
    let (alpha, threshold) = verdict_rule(results);
    let x = &results.experiment;
    vec![
        (
            "Repetition",
            format!(
                "one fresh instance (process, container or VM) running {} warm-up and {} measured iterations; the repetition, not the iteration, is the unit of replication of every interval and verdict",
                x.warmup,
                x.iterations.map_or_else(|| "a number of".into(), |i| i.to_string())
            ),
        ),
        (
            "Start",
            "launch to the agent's `ready` record (runtime start or boot, plus model load), mean over repetitions, ms".into(),
        ),
        (
            "Inference",
            "in-agent model execution time of one measured iteration; mean ± sample standard deviation and median over every measured iteration of every repetition".into(),
        ),
        (
            "Percentiles",
            "nearest rank (the smallest sample with at least p% of the samples at or below it), the same definition as the serving histograms; p99 marked * comes from fewer than 100 samples and is close to the maximum".into(),
        ),
        (
            "CPU %",
            "host CPU seconds (user + system) charged to the instance over the measured iterations only, divided by their wall time, in % of one core (2 busy cores = 200%); mean over repetitions".into(),
        ),
        (
            "CPU s/inference",
            "the same measured-window host CPU seconds divided by the number of measured iterations; mean over repetitions".into(),
        ),
        (
            "Start-up CPU",
            "host CPU seconds from launch to `ready` (boot, runtime start, model load), kept apart from inference; mean over repetitions".into(),
        ),
        (
            "Workload peak RSS",
            "the agent's own peak resident memory as the kernel it runs on counts it (VmHWM; getrusage maxrss in gVisor, whose kernel counts whole faulted ranges); mean over repetitions".into(),
        ),
        (
            "Host peak RSS",
            "host memory held by the instance, one formula everywhere: the larger of the sum of its host processes' peak RSS (VmHWM of agent, runtime, VMM and device daemons; a VM's guest memory as the host holds it) and its cgroup's peak resident charge (anonymous + shared memory + mapped files); mean over repetitions".into(),
        ),
        (
            "Isolation overhead",
            "this environment's host peak RSS minus the baseline's in the same rounds (paired), both from the same host-side meter: the host memory the isolation itself costs (runtime, sandbox kernel, guest kernel and page cache, VMM); `≈ 0 [low, high]` when the 95% interval of the difference holds 0, i.e. within the meter's noise; for VMs the VMM's own resident memory outside guest RAM is shown as (VMM …)".into(),
        ),
        (
            "Ratio to baseline",
            "the geometric mean over rounds of this environment's repetition mean over the baseline's in the same round (paired by round: what slowed a whole round cancels), with the interval the verdict used: the repeated confidence interval of the run's last look (its level is the look's nominal level, 1 − α for a fixed design)".into(),
        ),
        (
            "Verdict",
            format!(
                "slower or faster when the interval excludes 1 and the change exceeds {t}%; same when the interval lies within ±{t}% (equivalence, two one-sided tests); inconclusive otherwise, with the interval, the change the run could have detected (80% power) and about how many more rounds would decide; α = {alpha} over all the looks of a sequential run (O'Brien–Fleming-type alpha spending); `isobench compare` gives the same verdict",
                t = tick(threshold * 100.0)
            ),
        ),
        (
            "—",
            "the figure could not be measured; the reason is given under the table (never shown as 0)".into(),
        ),
    ]
}

// ---------------------------------------------------------------------------
// Repetitions, host speed and outputs sections.

/// How repetitions were scheduled, in one sentence.
pub(crate) fn order_sentence(results: &ResultsFile) -> String {
    if results.experiment.order == isobench_results::Order::Interleaved {
        format!(
            "Interleaved: {} round(s), each launching one fresh instance of every environment in a seeded shuffled order.",
            results.rounds.len()
        )
    } else {
        "Blocked: all repetitions of one environment, then the next; drift of the host over the run is attributed to whichever environment ran at that moment.".into()
    }
}

/// One environment's spread between and within repetitions.
pub(crate) struct VarianceRow {
    pub env: String,
    pub between_sd: String,
    pub within_sd: String,
    pub icc: String,
    pub means: String,
    pub failed: String,
}

/// Per-environment variance components (in `unit`), repetition means with
/// outliers marked `(outlier)`, and failed repetitions with their errors.
pub(crate) fn variance_rows(results: &ResultsFile, unit: TimeUnit) -> Vec<VarianceRow> {
    results
        .environments
        .iter()
        .filter(|e| !e.repetitions.is_empty())
        .map(|env| {
            let s = env.summary.as_ref();
            let v = s.and_then(|s| s.variance.as_ref());
            let outliers = s.map(|s| s.outlier_repetitions.clone()).unwrap_or_default();
            let means: Vec<String> = env
                .repetitions
                .iter()
                .filter(|r| !r.iterations.is_empty())
                .map(|r| {
                    let mean = r.inference_us().sum::<f64>() / r.iterations.len() as f64;
                    let mark = if outliers.contains(&r.round) {
                        " (outlier)"
                    } else {
                        ""
                    };
                    format!("round {} {}{mark}", r.round, num(unit.conv(mean)))
                })
                .collect();
            let failed: Vec<String> = env
                .repetitions
                .iter()
                .filter_map(|r| Some(format!("round {}: {}", r.round, r.error.as_ref()?)))
                .collect();
            VarianceRow {
                env: env_label(env),
                between_sd: or_dash(v, |v| num(unit.conv(v.between.sqrt()))),
                within_sd: or_dash(v, |v| num(unit.conv(v.within.sqrt()))),
                icc: or_dash(v, |v| format!("{:.2}", v.icc)),
                means: if means.is_empty() {
                    DASH.into()
                } else {
                    means.join(", ")
                },
                failed: if failed.is_empty() {
                    "none".into()
                } else {
                    failed.join("; ")
                },
            }
        })
        .collect()
}

/// One repetition in the per-repetition table.
pub(crate) struct RepetitionRow {
    pub env: String,
    pub index: String,
    pub sequence: String,
    pub iterations: String,
    pub mean: String,
    pub calibration: String,
    pub note: String,
}

/// Every repetition: round (its index), launch sequence, mean inference
/// time, host-speed probe before / after (ms) and what happened to it.
pub(crate) fn repetition_rows(results: &ResultsFile, unit: TimeUnit) -> Vec<RepetitionRow> {
    let mut rows = Vec::new();
    for env in &results.environments {
        let outliers = env
            .summary
            .as_ref()
            .map(|s| s.outlier_repetitions.clone())
            .unwrap_or_default();
        for r in &env.repetitions {
            let mut note = Vec::new();
            if outliers.contains(&r.round) {
                note.push("outlier".to_string());
            }
            if let Some(e) = &r.error {
                note.push(format!("failed: {e}"));
            }
            if let Some(e) = &r.stop_error {
                note.push(format!("stop failed: {e}"));
            }
            rows.push(RepetitionRow {
                env: env.name.clone(),
                index: r.round.to_string(),
                sequence: or_dash(r.sequence, |s| s.to_string()),
                iterations: r.iterations.len().to_string(),
                mean: if r.iterations.is_empty() {
                    DASH.into()
                } else {
                    num(unit.conv(r.inference_us().sum::<f64>() / r.iterations.len() as f64))
                },
                calibration: or_dash(r.calibration, |c| {
                    format!("{} / {}", num(c.before * 1e3), num(c.after * 1e3))
                }),
                note: note.join("; "),
            });
        }
    }
    rows
}

/// The host-speed section's sentences (empty when the file has no probe).
pub(crate) fn host_speed_lines(results: &ResultsFile) -> Vec<String> {
    let Some(h) = &results.host_speed else {
        return vec!["No host-speed probe in this file: drift of the host over the experiment cannot be checked.".into()];
    };
    let mut lines = vec![
        format!(
            "Reference computation timed on the host before and after every repetition: median {} ms (fastest {} ms, slowest {} ms).",
            num(h.median_seconds * 1e3),
            num(h.min_seconds * 1e3),
            num(h.max_seconds * 1e3)
        ),
        format!(
            "Drift over the experiment (slowest / fastest − 1): {:.1}%.",
            h.drift * 100.0
        ),
    ];
    lines.push(if h.affected.is_empty() {
        format!(
            "No repetition ran while the host was more than {:.0}% off its median speed.",
            crate::compare::HOST_DRIFT_THRESHOLD * 100.0
        )
    } else {
        format!(
            "Repetitions run while the host was more than {:.0}% off its median speed: {}.",
            crate::compare::HOST_DRIFT_THRESHOLD * 100.0,
            h.affected
                .iter()
                .map(|a| format!("{} round {} ({:+.1}%)", a.env, a.round, a.off * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    lines
}

/// What the outputs section says about one input.
pub(crate) enum InputView<'a> {
    /// Every environment computed the same (described) output.
    Identical {
        input: &'a str,
        environments: usize,
        output: &'a str,
    },
    /// Outputs differ (as described): one per environment.
    Differ {
        input: &'a str,
        outputs: Vec<(&'a str, &'a str)>,
    },
}

/// The same-answer check per input.
pub(crate) fn input_views(check: &isobench_results::OutputCheck) -> Vec<InputView<'_>> {
    check
        .by_input
        .iter()
        .map(|i| {
            let first = i.outputs.first().map(|o| o.output.as_str());
            match first {
                Some(output) if i.outputs.iter().all(|o| o.output == output) => {
                    InputView::Identical {
                        input: &i.input,
                        environments: i.outputs.len(),
                        output,
                    }
                }
                _ => InputView::Differ {
                    input: &i.input,
                    outputs: i
                        .outputs
                        .iter()
                        .map(|o| (o.env.as_str(), o.output.as_str()))
                        .collect(),
                },
            }
        })
        .collect()
}

/// The verdict of the same-answer check, in one sentence.
pub(crate) fn outputs_sentence(check: &isobench_results::OutputCheck) -> String {
    if check.consistent() {
        format!(
            "Consistent: all {} measured iterations computed the same output as {} for the same input.",
            check.compared, check.reference
        )
    } else {
        format!(
            "OUTPUTS DIFFER: {} of {} measured iterations computed something else than {} for the same input.",
            check.mismatch_count, check.compared, check.reference
        )
    }
}

/// Column headers of the model-serving table (`isobench serve-bench` results).
pub(crate) const SERVING_HEADERS: [&str; 10] = [
    "Environment",
    "Scenario",
    "Transport",
    "Queries (lost/dup)",
    "Achieved QPS",
    "Reported latency (ms)",
    "Round trip p50 (µs)",
    "Peak QPS",
    "Host CPU per request (ms)",
    "Latency vs native",
];

/// One formatted row per serving result.
pub(crate) fn serving_rows(results: &ResultsFile) -> Vec<[String; 10]> {
    results
        .serving
        .iter()
        .map(|s| {
            let label = if s.emulated {
                format!("{} (emulated, TCG)", s.env)
            } else {
                s.env.clone()
            };
            [
                label,
                s.scenario.clone(),
                s.transport.clone(),
                format!("{} ({}/{})", s.queries, s.counts.lost, s.counts.duplicated),
                format!("{:.1}", s.achieved_qps),
                format!(
                    "p{:.0} {:.2}",
                    s.reported_percentile,
                    s.reported_latency_us / 1000.0
                ),
                or_dash(s.round_trip.as_ref(), |r| format!("{:.0}", r.p50_us)),
                or_dash(s.peak_qps, |q| format!("{q:.1}")),
                or_dash(s.cpu_seconds_per_request, |c| format!("{:.3}", c * 1000.0)),
                match (&s.failure, s.latency_ratio_to_native) {
                    (Some(f), _) => format!("failed: {f}"),
                    (None, Some(r)) => format!("{r:.3}×"),
                    (None, None) => DASH.into(),
                },
            ]
        })
        .collect()
}
