//! The table the published studies used (`isobench report --style paper`):
//! rows are models / workloads, columns environments, cells the mean
//! in-agent inference time ± standard deviation in ms and the host CPU %.

use isobench_results::ResultsFile;

use crate::format::{env_label, md_cell, num};

/// Row label of a results file: workload, engine and model file name.
fn row_label(results: &ResultsFile) -> String {
    let x = &results.experiment;
    let model = x
        .model
        .as_deref()
        .and_then(|m| std::path::Path::new(m).file_name())
        .map(|f| format!(", {}", f.to_string_lossy()))
        .unwrap_or_default();
    format!("{} ({}{})", x.workload, x.engine, model)
}

/// Markdown table over one or more results files (one row per workload/engine/model;
/// columns: every environment measured in any of them, in first-seen order; a later
/// file's cell replaces an earlier one's for the same row and environment).
pub fn render_paper_table(results: &[ResultsFile]) -> String {
    let mut columns: Vec<String> = Vec::new();
    let mut rows: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for file in results {
        let label = row_label(file);
        let idx = match rows.iter().position(|(l, _)| *l == label) {
            Some(i) => i,
            None => {
                rows.push((label, Vec::new()));
                rows.len() - 1
            }
        };
        for env in &file.environments {
            let Some(s) = &env.summary else { continue };
            let column = env_label(env);
            if !columns.contains(&column) {
                columns.push(column.clone());
            }
            let cell = format!(
                "{} ± {} ms ({}% CPU)",
                num(s.inference_us.mean / 1e3),
                num(s.inference_us.std / 1e3),
                num(s.cpu_percent)
            );
            let cells = &mut rows[idx].1;
            cells.retain(|(c, _)| *c != column);
            cells.push((column, cell));
        }
    }
    let mut out = format!(
        "| Model | {} |\n",
        columns
            .iter()
            .map(|c| md_cell(c))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    out.push_str(&format!("|:---|{}\n", "---:|".repeat(columns.len())));
    for (label, cells) in &rows {
        let line: Vec<String> = columns
            .iter()
            .map(|c| {
                cells
                    .iter()
                    .find(|(col, _)| col == c)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| "—".into())
            })
            .collect();
        out.push_str(&format!("| {} | {} |\n", md_cell(label), line.join(" | ")));
    }
    out.push_str(
        "\nCells: mean in-agent inference time ± standard deviation (ms), and mean host CPU usage \
         (% of one core; 2 cores = 200%).\n",
    );
    out
}
