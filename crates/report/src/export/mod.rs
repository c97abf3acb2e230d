//! One exporter per format behind [`Exporter`], as hyperfine does.

pub(crate) mod csv;
mod html;
mod json;
mod markdown;

use std::path::{Path, PathBuf};

use isobench_results::{ResultsFile, Status};
use isobench_stats::Verdict;

pub use self::csv::{raw_csv, CsvExporter};
pub use self::html::HtmlExporter;
pub use self::json::JsonExporter;
pub use self::markdown::MarkdownExporter;
use crate::compare::verdicts_against_baseline;
use crate::format::{env_label, mib, num, TimeUnit};
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
    /// A table ready to paste.
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

/// One row of the summary table shared by Markdown and HTML (cells already formatted).
pub(crate) struct SummaryRow {
    pub label: String,
    pub start: String,
    pub mean_std: String,
    pub median: String,
    pub p99: String,
    pub cpu: String,
    pub memory: String,
    pub ratio: String,
    pub verdict: String,
}

/// Column headers matching [`SummaryRow`], with units.
pub(crate) fn summary_headers(unit: TimeUnit) -> [String; 9] {
    let u = unit.label();
    [
        "Environment".into(),
        "Start (ms)".into(),
        format!("Inference mean ± σ ({u})"),
        format!("Median ({u})"),
        format!("p99 ({u})"),
        "Host CPU (% of a core)".into(),
        "Peak memory (MiB)".into(),
        "Ratio to baseline (95% CI)".into(),
        "Verdict (p<0.01, >5%)".into(),
    ]
}

/// Unit for inference columns: from the baseline's (else the smallest) mean.
pub(crate) fn inference_unit(results: &ResultsFile) -> TimeUnit {
    let typical = results
        .baseline()
        .and_then(|b| b.summary.as_ref())
        .map(|s| s.inference_us.mean)
        .unwrap_or(0.0);
    TimeUnit::for_us(typical)
}

/// Rows of the summary table, in run order.
pub(crate) fn summary_rows(results: &ResultsFile, unit: TimeUnit) -> Vec<SummaryRow> {
    let baseline = results.baseline().map(|b| b.name.clone());
    let verdicts = verdicts_against_baseline(results);
    let dash = || "—".to_string();
    results
        .environments
        .iter()
        .map(|env| {
            let label = env_label(env);
            let Some(s) = &env.summary else {
                let why = match &env.status {
                    Status::Completed => "no samples".to_string(),
                    Status::Failed { reason } => format!("failed: {reason}"),
                    Status::Skipped { reason } => format!("skipped: {reason}"),
                };
                return SummaryRow {
                    label,
                    start: dash(),
                    mean_std: dash(),
                    median: dash(),
                    p99: dash(),
                    cpu: dash(),
                    memory: dash(),
                    ratio: dash(),
                    verdict: why,
                };
            };
            let inf = &s.inference_us;
            let is_baseline = baseline.as_deref() == Some(env.name.as_str());
            let ratio = match (&s.ratio_to_baseline, is_baseline) {
                (_, true) => "1 (baseline)".into(),
                (Some(r), false) => format!("{:.3}× [{:.3}, {:.3}]", r.ratio, r.ci.low, r.ci.high),
                (None, false) => dash(),
            };
            let verdict = if is_baseline {
                "baseline".to_string()
            } else {
                match verdicts.iter().find(|(name, _, _)| *name == env.name) {
                    Some((_, Some(v), _)) => verdict_text(*v).to_string(),
                    Some((_, None, Some(why))) => format!("not compared ({why})"),
                    _ => dash(),
                }
            };
            SummaryRow {
                label,
                start: s
                    .ready_seconds
                    .as_ref()
                    .map(|r| num(r.mean * 1e3))
                    .unwrap_or_else(dash),
                mean_std: format!("{} ± {}", num(unit.conv(inf.mean)), num(unit.conv(inf.std))),
                median: num(unit.conv(inf.median)),
                p99: num(unit.conv(inf.p99)),
                cpu: num(s.cpu_percent),
                memory: mib(s.peak_memory_bytes as f64),
                ratio,
                verdict,
            }
        })
        .collect()
}

/// Reader-facing verdict word.
pub(crate) fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Faster => "faster",
        Verdict::Slower => "slower",
        Verdict::NoDifference => "no significant difference",
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
                s.round_trip
                    .as_ref()
                    .map(|r| format!("{:.0}", r.p50_us))
                    .unwrap_or_else(|| "-".into()),
                s.peak_qps
                    .map(|q| format!("{q:.1}"))
                    .unwrap_or_else(|| "-".into()),
                s.cpu_seconds_per_request
                    .map(|c| format!("{:.3}", c * 1000.0))
                    .unwrap_or_else(|| "-".into()),
                match (&s.failure, s.latency_ratio_to_native) {
                    (Some(f), _) => format!("failed: {f}"),
                    (None, Some(r)) => format!("{r:.3}×"),
                    (None, None) => "-".into(),
                },
            ]
        })
        .collect()
}
