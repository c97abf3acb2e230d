//! CSV: one row per environment with the summary columns ([`CsvExporter`]),
//! and one row per measured iteration ([`raw_csv`]). Times in µs unless the
//! column name says otherwise; an absent figure is an empty cell (never 0).

use isobench_results::ResultsFile;
use isobench_stats::Summary;

use super::Exporter;
use crate::format::csv_field;
use crate::verdict::{tidy, Verdict};
use crate::ReportError;

/// Summary columns, one row per environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvExporter;

/// Header of [`CsvExporter`]'s output.
///
/// `failed_repetitions` and `outlier_repetitions` list rounds separated by
/// spaces; `outcome` is `slower`, `faster`, `same`, `inconclusive`,
/// `baseline`, `not compared`, `failed`, `skipped`, `interrupted` or `no
/// samples`; `verdict` is the same text as every report's (the outcome,
/// with the change the run could have detected next to `same` and
/// `inconclusive`, and for `inconclusive` the interval and what would
/// decide it); `analysis` says how it was compared (`paired on 6 rounds`).
pub const SUMMARY_HEADER: &[&str] = &[
    "environment",
    "status",
    "emulated",
    "accel",
    "runtime_version",
    "repetitions",
    "failed_repetitions",
    "n",
    "inference_mean_us",
    "inference_std_us",
    "inference_cv",
    "inference_min_us",
    "inference_max_us",
    "inference_median_us",
    "inference_p90_us",
    "inference_p95_us",
    "inference_p99_us",
    "inference_mean_ci_low_us",
    "inference_mean_ci_high_us",
    "inference_median_ci_low_us",
    "inference_median_ci_high_us",
    "inference_outliers",
    "icc",
    "between_sd_us",
    "within_sd_us",
    "outlier_repetitions",
    "end_to_end_mean_us",
    "end_to_end_std_us",
    "end_to_end_median_us",
    "end_to_end_p99_us",
    "ready_mean_s",
    "first_inference_mean_s",
    "cpu_percent",
    "cpu_seconds_per_inference",
    "startup_cpu_seconds",
    "workload_peak_rss_bytes",
    "host_peak_rss_bytes",
    "isolation_overhead_bytes",
    "isolation_overhead_low_bytes",
    "isolation_overhead_high_bytes",
    "vmm_overhead_bytes",
    "accuracy",
    "ratio_to_baseline",
    "ratio_interval_low",
    "ratio_interval_high",
    "ratio_interval_level",
    "outcome",
    "verdict",
    "analysis",
    "minimum_detectable_effect_percent",
    "calibration_median_s",
    "image_bytes",
];

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Space-separated repetition indices.
fn indices(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
}

/// Median of the repetitions' host-speed probes, seconds.
fn calibration_median(env: &isobench_results::EnvironmentResult) -> Option<f64> {
    let mut probes: Vec<f64> = env
        .repetitions
        .iter()
        .filter_map(|r| r.calibration.map(|c| c.seconds()))
        .collect();
    if probes.is_empty() {
        return None;
    }
    probes.sort_by(f64::total_cmp);
    let n = probes.len();
    Some(if n % 2 == 1 {
        probes[n / 2]
    } else {
        (probes[n / 2 - 1] + probes[n / 2]) / 2.0
    })
}

/// The cells of `env`'s row, in [`SUMMARY_HEADER`] order.
fn row(results: &ResultsFile, env: &isobench_results::EnvironmentResult) -> Vec<String> {
    let status = crate::words::status(env);
    let failed: Vec<u32> = env
        .repetitions
        .iter()
        .filter(|r| r.error.is_some())
        .map(|r| r.round)
        .collect();
    let mut cells = vec![
        env.name.clone(),
        status,
        env.emulated.to_string(),
        opt(env.accel.as_ref()),
        opt(env.runtime_version.as_ref()),
        env.repetitions.len().to_string(),
        indices(&failed),
    ];
    let s = env.summary.as_ref();
    match s {
        Some(s) => {
            let i: &Summary = &s.inference_us;
            let e = &s.end_to_end_us;
            cells.extend(
                [
                    i.n as f64,
                    i.mean,
                    i.std,
                    i.cv,
                    i.min,
                    i.max,
                    i.median,
                    i.p90,
                    i.p95,
                    i.p99,
                    i.mean_ci.low,
                    i.mean_ci.high,
                    i.median_ci.low,
                    i.median_ci.high,
                ]
                .iter()
                .map(f64::to_string),
            );
            cells.push(i.outliers.len().to_string());
            let v = s.variance.as_ref();
            cells.push(opt(v.map(|v| v.icc)));
            cells.push(opt(v.map(|v| v.between.sqrt())));
            cells.push(opt(v.map(|v| v.within.sqrt())));
            cells.push(indices(&s.outlier_repetitions));
            cells.extend([e.mean, e.std, e.median, e.p99].iter().map(f64::to_string));
            cells.push(opt(s.ready_seconds.as_ref().map(|r| r.mean)));
            cells.push(opt(s.first_inference_seconds.as_ref().map(|r| r.mean)));
            cells.push(opt(s.cpu_percent));
            cells.push(opt(s.cpu_seconds_per_inference));
            cells.push(opt(s.startup_cpu_seconds));
            cells.push(opt(s.workload_peak_rss_bytes));
            cells.push(opt(s.host_peak_rss_bytes));
            let m = s.isolation_overhead.as_ref();
            cells.push(opt(m.map(|m| m.mean_bytes)));
            cells.push(opt(m.map(|m| m.low_bytes)));
            cells.push(opt(m.map(|m| m.high_bytes)));
            cells.push(opt(s.vmm_overhead_bytes));
            cells.push(opt(s.accuracy));
            let d = s.decision.as_ref();
            cells.push(opt(d.map(|d| d.ratio)));
            cells.push(opt(d.and_then(|d| d.interval).map(|i| i.low)));
            cells.push(opt(d.and_then(|d| d.interval).map(|i| i.high)));
            cells.push(opt(d.and_then(|d| d.interval).map(|i| tidy(i.level))));
        }
        None => {
            let filled = cells.len();
            let verdict_at = SUMMARY_HEADER
                .iter()
                .position(|h| *h == "outcome")
                .unwrap_or(filled);
            cells.extend((filled..verdict_at).map(|_| String::new()));
        }
    }
    let d = s.and_then(|s| s.decision.as_ref());
    let verdict = Verdict::of(results, env);
    cells.push(verdict.word().to_string());
    cells.push(verdict.label());
    cells.push(opt(d.map(|d| d.design.to_string())));
    cells.push(opt(d
        .and_then(|d| d.minimum_detectable_effect)
        .map(|m| m * 100.0)));
    cells.push(opt(calibration_median(env)));
    cells.push(opt(env.image_bytes));
    cells
}

impl Exporter for CsvExporter {
    fn serialize(&self, results: &ResultsFile) -> Result<Vec<u8>, ReportError> {
        let mut out = SUMMARY_HEADER.join(",");
        out.push('\n');
        for env in &results.environments {
            let cells = row(results, env);
            debug_assert_eq!(cells.len(), SUMMARY_HEADER.len());
            out.push_str(
                &cells
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push('\n');
        }
        Ok(out.into_bytes())
    }
}

/// Always quotes a CSV field (RFC 4180).
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Header of [`raw_csv`]. `round` is the repetition index (the round it ran
/// in when interleaved); `sequence` its position in the experiment's launch
/// order; `calibration_*_s` the host-speed probe around the repetition;
/// `output` what the iteration computed, described.
pub const RAW_HEADER: &str = "environment,repetition,round,sequence,iteration,input,preprocess_us,inference_us,postprocess_us,end_to_end_us,calibration_before_s,calibration_after_s,output";

/// Every measured iteration, one row each (for re-analysis).
pub fn raw_csv(results: &ResultsFile) -> Vec<u8> {
    let mut out = String::from(RAW_HEADER);
    out.push('\n');
    for env in &results.environments {
        for rep in &env.repetitions {
            let sequence = opt(rep.sequence);
            let before = opt(rep.calibration.map(|c| c.before));
            let after = opt(rep.calibration.map(|c| c.after));
            for it in &rep.iterations {
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                    csv_field(&env.name),
                    rep.round,
                    rep.round,
                    sequence,
                    it.index,
                    csv_field(&it.input),
                    it.preprocess_us,
                    it.inference_us,
                    it.postprocess_us,
                    it.end_to_end_us,
                    before,
                    after,
                    opt(it.digest.as_ref().map(|d| quoted(&d.describe())))
                ));
            }
        }
    }
    out.into_bytes()
}
