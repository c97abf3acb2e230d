//! A Markdown report ready to paste into a paper or an issue: the summary
//! table, the notes under it, warnings, the definition of every figure, then
//! repetitions, host speed, outputs and serving.

use isobench_results::ResultsFile;

use super::{
    definitions, host_speed_lines, inference_unit, input_views, order_sentence, outputs_sentence,
    repetition_rows, summary_headers, summary_rows, table_notes, variance_rows, Exporter,
    InputView,
};
use crate::format::{md_cell, utc};
use crate::ReportError;

/// Exports the summary table, its notes, definitions and details as Markdown.
#[derive(Debug, Clone, Copy, Default)]
pub struct MarkdownExporter;

/// A Markdown table; `align` has one letter per column, `l` for
/// left-aligned (text), anything else right-aligned (numbers); missing letters mean right.
pub(crate) fn md_table(headers: &[String], rows: &[Vec<String>], align: &str) -> String {
    let mut out = format!(
        "| {} |\n",
        headers
            .iter()
            .map(|h| md_cell(h))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    out.push('|');
    let mut letters = align.chars();
    for _ in headers {
        out.push_str(if letters.next() == Some('l') {
            ":---|"
        } else {
            "---:|"
        });
    }
    out.push('\n');
    for row in rows {
        out.push_str(&format!(
            "| {} |\n",
            row.iter()
                .map(|c| md_cell(c))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    out
}

impl Exporter for MarkdownExporter {
    fn serialize(&self, results: &ResultsFile) -> Result<Vec<u8>, ReportError> {
        let x = &results.experiment;
        let unit = inference_unit(results);
        let mut out = format!(
            "**isobench** {} · workload `{}` ({}) · {} ({}), {} warm-up · {} · {} ({} CPUs)\n\n",
            results.isobench_version,
            md_cell(x.workload.name()),
            md_cell(x.engine.name()),
            md_cell(&crate::format::design_text(results)),
            md_cell(x.order.name()),
            x.warmup,
            utc(results.started_unix),
            md_cell(&results.host.cpu_model),
            results.host.cpus,
        );
        if let Some(command) = &x.command {
            out.push_str(&format!("Program: `{}`\n\n", md_cell(command)));
        }
        let rows: Vec<Vec<String>> = summary_rows(results, unit)
            .into_iter()
            .map(|r| r.cells)
            .collect();
        out.push_str(&md_table(&summary_headers(results, unit), &rows, "l"));
        let notes = table_notes(results);
        if !notes.is_empty() {
            out.push('\n');
            for note in notes {
                out.push_str(&format!("- {}\n", md_cell(&note)));
            }
        }
        if !results.warnings.is_empty() {
            out.push('\n');
            for w in &results.warnings {
                out.push_str(&format!("> ⚠ {}\n", md_cell(&crate::words::warning(w))));
            }
        }

        out.push_str("\n**Definitions**\n\n");
        for (term, definition) in definitions(results) {
            out.push_str(&format!("- **{term}**: {}.\n", md_cell(&definition)));
        }

        out.push_str("\n**Repetitions**\n\n");
        out.push_str(&order_sentence(results));
        out.push('\n');
        for round in &results.rounds {
            out.push_str(&format!(
                "- round {}: {}\n",
                round.round,
                md_cell(&round.order.join(", "))
            ));
        }
        let u = unit.label();
        let variance: Vec<Vec<String>> = variance_rows(results, unit)
            .into_iter()
            .map(|v| vec![v.env, v.between_sd, v.within_sd, v.icc, v.means, v.failed])
            .collect();
        if !variance.is_empty() {
            out.push('\n');
            out.push_str(&md_table(
                &[
                    "Environment".into(),
                    format!("σ between repetitions ({u})"),
                    format!("σ within ({u})"),
                    "ICC".into(),
                    format!("Repetition means ({u})"),
                    "Failed repetitions".into(),
                ],
                &variance,
                "lrrrll",
            ));
            let reps: Vec<Vec<String>> = repetition_rows(results, unit)
                .into_iter()
                .map(|r| {
                    vec![
                        r.env,
                        r.index,
                        r.sequence,
                        r.iterations,
                        r.mean,
                        r.calibration,
                        r.note,
                    ]
                })
                .collect();
            out.push('\n');
            out.push_str(&md_table(
                &[
                    "Environment".into(),
                    "Round".into(),
                    "Launch #".into(),
                    "Iterations".into(),
                    format!("Mean ({u})"),
                    "Calibration before / after (ms)".into(),
                    "Note".into(),
                ],
                &reps,
                "lrrrrrl",
            ));
        }

        out.push_str("\n**Host speed**\n\n");
        for line in host_speed_lines(results) {
            out.push_str(&format!("{line}\n"));
        }

        out.push_str("\n**Outputs**\n\n");
        match &results.outputs {
            None => out.push_str("No output digests in this file: whether the environments computed the same thing was not checked.\n"),
            Some(check) => {
                out.push_str(&format!("{}\n\n", md_cell(&outputs_sentence(check))));
                out.push_str(&format!("Compared with: {}.\n\n", md_cell(&check.tolerance)));
                if !check.mismatches.is_empty() {
                    for m in &check.mismatches {
                        out.push_str(&format!(
                            "- mismatch: {} repetition {} iteration {} on `{}`: {}\n",
                            md_cell(&m.env),
                            m.round,
                            m.index,
                            md_cell(&m.input),
                            md_cell(&m.reason)
                        ));
                    }
                    out.push('\n');
                }
                let rows: Vec<Vec<String>> = input_views(check)
                    .into_iter()
                    .flat_map(|view| match view {
                        InputView::Identical {
                            input,
                            environments,
                            output,
                        } => vec![vec![
                            input.to_string(),
                            format!("identical in {environments} environments"),
                            output.to_string(),
                        ]],
                        InputView::Differ { input, outputs } => outputs
                            .into_iter()
                            .map(|(env, output)| {
                                vec![input.to_string(), env.to_string(), output.to_string()]
                            })
                            .collect(),
                    })
                    .collect();
                if !rows.is_empty() {
                    out.push_str(&md_table(
                        &["Input".into(), "Environment".into(), "Output".into()],
                        &rows,
                        "lll",
                    ));
                }
            }
        }

        let serving = super::serving_rows(results);
        if !serving.is_empty() {
            out.push_str("\n**Model serving** (`isobench serve-bench`)\n\n");
            let headers: Vec<String> = super::SERVING_HEADERS
                .iter()
                .map(|h| h.to_string())
                .collect();
            let rows: Vec<Vec<String>> = serving.into_iter().map(|r| r.to_vec()).collect();
            out.push_str(&md_table(&headers, &rows, "lll"));
        }
        Ok(out.into_bytes())
    }
}
