//! A Markdown report ready to paste into a paper or an issue: the summary
//! table, the notes and the warnings under it, the design, the definition
//! of every figure, then repetitions, host speed, outputs and serving.

use isobench_results::{OutputCheck, ResultsFile};

use super::Exporter;
use crate::cells::{inference_unit, serving_rows, summary_headers, summary_rows, SERVING_HEADERS};
use crate::definitions::definitions;
use crate::design::{design_lines, design_text};
use crate::format::{md_cell, utc};
use crate::notes::{partial_banner, table_notes};
use crate::sections::{
    host_speed_lines, input_views, order_sentence, outputs_sentence, repetition_table,
    variance_table, InputView, Table,
};
use crate::ReportError;

/// Exports the summary table, its notes, definitions and details as Markdown.
#[derive(Debug, Clone, Copy, Default)]
pub struct MarkdownExporter;

/// A Markdown table; `align` has one letter per column, `l` for
/// left-aligned (text), anything else right-aligned (numbers); missing letters mean right.
pub(crate) fn md_table(headers: &[String], rows: &[Vec<String>], align: &str) -> String {
    let line = |cells: &[String]| {
        format!(
            "| {} |\n",
            cells
                .iter()
                .map(|c| md_cell(c))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    };
    let mut out = line(headers);
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
        out.push_str(&line(row));
    }
    out
}

/// `- item` lines.
fn bullets(items: impl IntoIterator<Item = String>) -> String {
    items
        .into_iter()
        .map(|i| format!("- {}\n", md_cell(&i)))
        .collect()
}

/// The title line, the partial-run banner and the program.
fn head(results: &ResultsFile) -> String {
    let x = &results.experiment;
    let mut out = format!(
        "**isobench** {} · workload `{}` ({}) · {} ({}), {} warm-up · {} · {} ({} CPUs)\n\n",
        results.isobench_version,
        md_cell(x.workload.name()),
        md_cell(x.engine.name()),
        md_cell(&design_text(results)),
        md_cell(x.order.name()),
        x.warmup,
        utc(results.started_unix),
        md_cell(&results.host.cpu_model),
        results.host.cpus,
    );
    if let Some(banner) = partial_banner(results) {
        out.push_str(&format!("> **{}**\n\n", md_cell(&banner)));
    }
    if let Some(command) = &x.command {
        out.push_str(&format!("Program: `{}`\n\n", md_cell(command)));
    }
    out
}

/// The summary table, the notes under it and the warnings, grouped per cause.
fn summary(results: &ResultsFile) -> String {
    let unit = inference_unit(results);
    let rows: Vec<Vec<String>> = summary_rows(results, unit)
        .into_iter()
        .map(|r| r.cells)
        .collect();
    let mut out = md_table(&summary_headers(results, unit), &rows, "l");
    let notes = table_notes(results);
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&bullets(notes));
    }
    let warnings = crate::words::warning_lines(&results.warnings);
    if !warnings.is_empty() {
        out.push_str("\n**Warnings**\n\n");
        for w in warnings {
            out.push_str(&format!("> ⚠ {}\n", md_cell(&w)));
        }
    }
    out
}

/// The design and the definitions.
fn design_and_definitions(results: &ResultsFile) -> String {
    let mut out = String::from("\n**Design**\n\n");
    for (term, text) in design_lines(results) {
        out.push_str(&format!("- **{term}**: {}.\n", md_cell(&text)));
    }
    out.push_str("\n**Definitions**\n\n");
    for (term, definition) in definitions(results) {
        out.push_str(&format!("- **{term}**: {}.\n", md_cell(&definition)));
    }
    out
}

/// A [`Table`] in Markdown.
fn table(t: &Table, align: &str) -> String {
    md_table(&t.headers, &t.rows, align)
}

/// Rounds, the spread of repetitions, and every repetition.
fn repetitions(results: &ResultsFile) -> String {
    let unit = inference_unit(results);
    let mut out = format!("\n**Repetitions**\n\n{}\n", order_sentence(results));
    for round in &results.rounds {
        out.push_str(&format!(
            "- round {}: {}\n",
            round.round,
            md_cell(&round.order.join(", "))
        ));
    }
    let variance = variance_table(results, unit);
    if !variance.rows.is_empty() {
        out.push('\n');
        out.push_str(&table(&variance, "lrrrll"));
        out.push('\n');
        out.push_str(&table(&repetition_table(results, unit), "lrrrrrl"));
    }
    out
}

/// The same-answer check.
fn outputs(check: Option<&OutputCheck>) -> String {
    let mut out = String::from("\n**Outputs**\n\n");
    let Some(check) = check else {
        out.push_str("No output digests in this file: whether the environments computed the same thing was not checked.\n");
        return out;
    };
    out.push_str(&format!("{}\n\n", md_cell(&outputs_sentence(check))));
    out.push_str(&format!(
        "Compared with: {}.\n\n",
        md_cell(&check.tolerance)
    ));
    if !check.mismatches.is_empty() {
        out.push_str(&bullets(check.mismatches.iter().map(|m| {
            format!(
                "mismatch: {} round {} iteration {} on `{}`: {}",
                m.env, m.round, m.index, m.input, m.reason
            )
        })));
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
                .map(|(env, output)| vec![input.to_string(), env.to_string(), output.to_string()])
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
    out
}

impl Exporter for MarkdownExporter {
    fn serialize(&self, results: &ResultsFile) -> Result<Vec<u8>, ReportError> {
        let mut out = head(results);
        out.push_str(&summary(results));
        out.push_str(&design_and_definitions(results));
        out.push_str(&repetitions(results));
        out.push_str("\n**Host speed**\n\n");
        for line in host_speed_lines(results) {
            out.push_str(&format!("{line}\n"));
        }
        out.push_str(&outputs(results.outputs.as_ref()));
        let serving = serving_rows(results);
        if !serving.is_empty() {
            out.push_str("\n**Model serving** (`isobench serve-bench`)\n\n");
            let headers: Vec<String> = SERVING_HEADERS.iter().map(|h| h.to_string()).collect();
            out.push_str(&md_table(&headers, &serving, "lll"));
        }
        if !results.cold_start.is_empty() {
            out.push_str(&cold_start_md(
                &results.cold_start,
                results.cold_start_host_speed.as_ref(),
            ));
        }
        if let Some(density) = &results.density {
            out.push_str(&crate::density::markdown(density));
        }
        if !results.interference.is_empty() {
            out.push_str(&interference_md(&results.interference));
        }
        Ok(out.into_bytes())
    }
}

/// The interference section: what each result measured, the table, the
/// notes, the verdicts and the definitions.
fn interference_md(results: &[isobench_results::InterferenceResult]) -> String {
    use crate::interference as i;
    let mut out = String::from("\n**Interference** (`isobench interference`)\n\n");
    for line in i::setup_lines(results) {
        out.push_str(&format!("- {line}\n"));
    }
    out.push('\n');
    let rows = i::rows(results);
    let cells: Vec<Vec<String>> = rows.iter().map(|(cells, _)| cells.clone()).collect();
    let headers: Vec<String> = i::HEADERS.iter().map(|h| h.to_string()).collect();
    out.push_str(&md_table(&headers, &cells, "ll"));
    let notes: Vec<&String> = rows
        .iter()
        .filter_map(|(_, under)| under.as_ref())
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        for note in notes {
            out.push_str(&format!("- {note}\n"));
        }
    }
    let verdicts = i::verdict_lines(results);
    if !verdicts.is_empty() {
        out.push_str(&format!("\n{}\n\n", i::VERDICTS_HEADING));
        for line in verdicts {
            out.push_str(&format!("- {line}\n"));
        }
    }
    out.push_str("\nDefinitions:\n\n");
    for (term, text) in i::definitions(results) {
        out.push_str(&format!("- **{term}**: {text}\n"));
    }
    out
}

/// The cold-start section: the table (times in ms), what was absent or
/// failed, and the definitions of the total and the phases.
fn cold_start_md(
    results: &[isobench_results::ColdStartResult],
    host_speed: Option<&isobench_results::HostSpeed>,
) -> String {
    let mut out = String::from("\n**Cold starts** (`isobench cold-start`; times in ms)\n\n");
    let rows = crate::cold_start::rows(results);
    let cells: Vec<Vec<String>> = rows.iter().map(|(cells, _)| cells.clone()).collect();
    out.push_str(&md_table(
        &crate::cold_start::headers(results),
        &cells,
        "ll",
    ));
    let notes: Vec<&String> = rows
        .iter()
        .filter_map(|(_, under)| under.as_ref())
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        for note in notes {
            out.push_str(&format!("- {note}\n"));
        }
    }
    let resources = crate::cold_start::resource_rows(results);
    if !resources.is_empty() {
        let headers: Vec<String> = crate::cold_start::RESOURCE_HEADERS
            .iter()
            .map(|h| h.to_string())
            .collect();
        out.push('\n');
        out.push_str(&md_table(&headers, &resources, "ll"));
    }
    if let Some(speed) = host_speed {
        out.push_str(&format!(
            "\n{}\n",
            crate::cold_start::host_speed_line(speed)
        ));
    }
    let verdicts = crate::cold_start::verdict_lines(results);
    if !verdicts.is_empty() {
        out.push_str(&format!("\n{}\n\n", crate::cold_start::VERDICTS_HEADING));
        for line in verdicts {
            out.push_str(&format!("- {line}\n"));
        }
    }
    out.push_str("\nDefinitions:\n\n");
    for (term, text) in crate::cold_start::definitions(results)
        .into_iter()
        .chain(crate::cold_start::resource_definitions())
    {
        out.push_str(&format!("- **{term}**: {text}\n"));
    }
    out
}
