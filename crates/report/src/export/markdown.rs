//! A Markdown table ready to paste into a paper or an issue.

use isobench_results::ResultsFile;

use super::{inference_unit, summary_headers, summary_rows, Exporter};
use crate::format::{md_cell, utc};
use crate::ReportError;

/// Exports the summary table (plus a line of context and the warnings) as Markdown.
#[derive(Debug, Clone, Copy, Default)]
pub struct MarkdownExporter;

impl Exporter for MarkdownExporter {
    fn serialize(&self, results: &ResultsFile) -> Result<Vec<u8>, ReportError> {
        let x = &results.experiment;
        let unit = inference_unit(results);
        let mut out = format!(
            "**isobench** {} · workload `{}` ({}) · {} iterations × {} repetitions, {} warm-up · {} · {} ({} CPUs)\n\n",
            results.isobench_version,
            md_cell(&x.workload),
            md_cell(&x.engine),
            x.iterations,
            x.repetitions,
            x.warmup,
            utc(results.started_unix),
            md_cell(&results.host.cpu_model),
            results.host.cpus,
        );
        let headers = summary_headers(unit);
        out.push_str(&format!("| {} |\n", headers.join(" | ")));
        out.push_str(&format!(
            "|{}\n",
            headers
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { ":---|" } else { "---:|" })
                .collect::<String>()
        ));
        for r in summary_rows(results, unit) {
            let cells = [
                r.label, r.start, r.mean_std, r.median, r.p99, r.cpu, r.memory, r.ratio, r.verdict,
            ];
            out.push_str(&format!(
                "| {} |\n",
                cells
                    .iter()
                    .map(|c| md_cell(c))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ));
        }
        out.push_str(
            "\nInference: in-agent time per iteration. Start: launch to agent ready. \
             Ratio: mean / baseline mean, bootstrap 95% CI. Verdict: permutation test on the mean, \
             significant when p < 0.01 and the change exceeds 5%.\n",
        );
        let serving = super::serving_rows(results);
        if !serving.is_empty() {
            out.push_str("\n**Model serving** (`isobench serve-bench`)\n\n");
            out.push_str(&format!("| {} |\n", super::SERVING_HEADERS.join(" | ")));
            out.push_str(&format!(
                "|:---|{}\n",
                "---:|".repeat(super::SERVING_HEADERS.len() - 1)
            ));
            for row in serving {
                out.push_str(&format!(
                    "| {} |\n",
                    row.iter()
                        .map(|c| md_cell(c))
                        .collect::<Vec<_>>()
                        .join(" | ")
                ));
            }
        }
        if !results.warnings.is_empty() {
            out.push('\n');
            for w in &results.warnings {
                out.push_str(&format!("> ⚠ {}\n", md_cell(w)));
            }
        }
        Ok(out.into_bytes())
    }
}
