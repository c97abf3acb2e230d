//! CSV: one row per environment with the summary columns ([`CsvExporter`]),
//! and one row per measured iteration ([`raw_csv`]). Times in µs unless the
//! column name says otherwise.

use isobench_results::{ResultsFile, Status};
use isobench_stats::Summary;

use super::Exporter;
use crate::format::csv_field;
use crate::ReportError;

/// Summary columns, one row per environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct CsvExporter;

/// Header of [`CsvExporter`]'s output.
pub const SUMMARY_HEADER: &[&str] = &[
    "environment",
    "status",
    "emulated",
    "accel",
    "runtime_version",
    "repetitions",
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
    "end_to_end_mean_us",
    "end_to_end_std_us",
    "end_to_end_median_us",
    "end_to_end_p99_us",
    "ready_mean_s",
    "first_inference_mean_s",
    "cpu_percent",
    "cpu_seconds_per_inference",
    "peak_memory_bytes",
    "memory_overhead_bytes",
    "accuracy",
    "ratio_to_baseline",
    "ratio_ci_low",
    "ratio_ci_high",
    "ratio_significant",
    "image_bytes",
];

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

impl Exporter for CsvExporter {
    fn serialize(&self, results: &ResultsFile) -> Result<Vec<u8>, ReportError> {
        let mut out = SUMMARY_HEADER.join(",");
        out.push('\n');
        for env in &results.environments {
            let status = match &env.status {
                Status::Completed => "completed".to_string(),
                Status::Failed { reason } => format!("failed: {reason}"),
                Status::Skipped { reason } => format!("skipped: {reason}"),
            };
            let mut cells = vec![
                env.name.clone(),
                status,
                env.emulated.to_string(),
                opt(env.accel.as_ref()),
                opt(env.runtime_version.as_ref()),
                env.repetitions.len().to_string(),
            ];
            match &env.summary {
                Some(s) => {
                    let i: &Summary = &s.inference_us;
                    let e = &s.end_to_end_us;
                    let outliers = i.outliers.len().to_string();
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
                    cells.push(outliers);
                    cells.extend([e.mean, e.std, e.median, e.p99].iter().map(f64::to_string));
                    cells.push(opt(s.ready_seconds.as_ref().map(|r| r.mean)));
                    cells.push(opt(s.first_inference_seconds.as_ref().map(|r| r.mean)));
                    cells.push(s.cpu_percent.to_string());
                    cells.push(s.cpu_seconds_per_inference.to_string());
                    cells.push(s.peak_memory_bytes.to_string());
                    cells.push(opt(s.memory_overhead_bytes));
                    cells.push(opt(s.accuracy));
                    let r = s.ratio_to_baseline.as_ref();
                    cells.push(opt(r.map(|r| r.ratio)));
                    cells.push(opt(r.map(|r| r.ci.low)));
                    cells.push(opt(r.map(|r| r.ci.high)));
                    cells.push(opt(r.map(|r| r.significant)));
                }
                None => cells.extend((0..SUMMARY_HEADER.len() - 7).map(|_| String::new())),
            }
            cells.push(opt(env.image_bytes));
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

/// Header of [`raw_csv`].
pub const RAW_HEADER: &str =
    "environment,repetition,iteration,input,preprocess_us,inference_us,postprocess_us,end_to_end_us";

/// Every measured iteration, one row each (for re-analysis).
pub fn raw_csv(results: &ResultsFile) -> Vec<u8> {
    let mut out = String::from(RAW_HEADER);
    out.push('\n');
    for env in &results.environments {
        for rep in &env.repetitions {
            for it in &rep.iterations {
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{}\n",
                    csv_field(&env.name),
                    rep.index,
                    it.index,
                    csv_field(&it.input),
                    it.preprocess_us,
                    it.inference_us,
                    it.postprocess_us,
                    it.end_to_end_us
                ));
            }
        }
    }
    out.into_bytes()
}
