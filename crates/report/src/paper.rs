//! The table the published studies used (`isobench report --style paper`):
//! rows are models / workloads, columns environments (or `host ·
//! environment` when the files come from several hosts), cells the mean
//! in-agent inference time ± standard deviation in ms, the host CPU % over
//! the measured iterations, and the verdict against the baseline (the
//! file's, the same as every report's).

use isobench_results::ResultsFile;

use isobench_stats::{DEFAULT_ALPHA, DEFAULT_THRESHOLD};

use crate::export::{verdict_rule, verdict_text};
use crate::format::{env_label, failed_count, md_cell, num, or_dash, superscript, tick};

/// Row label of a results file: workload, engine and model file name.
pub(crate) fn row_label(results: &ResultsFile) -> String {
    let x = &results.experiment;
    let model = x
        .model
        .as_deref()
        .and_then(|m| std::path::Path::new(m).file_name())
        .map(|f| format!(", {}", f.to_string_lossy()))
        .unwrap_or_default();
    format!("{} ({}{})", x.workload, x.engine, model)
}

/// What identifies a host: its name and fingerprint.
pub(crate) fn host_identity(results: &ResultsFile) -> (String, String) {
    (results.host.hostname.clone(), results.host.fingerprint())
}

/// Footnotes numbered in order of first use.
#[derive(Default)]
pub(crate) struct Notes(pub Vec<String>);

impl Notes {
    /// The superscript mark of `text` (added when new).
    pub(crate) fn mark(&mut self, text: String) -> String {
        let index = match self.0.iter().position(|t| *t == text) {
            Some(i) => i,
            None => {
                self.0.push(text);
                self.0.len() - 1
            }
        };
        superscript(index + 1)
    }
}

/// Markdown table over one or more results files (one row per workload/engine/model;
/// columns: every environment measured in any of them, in first-seen order; a later
/// file's cell replaces an earlier one's for the same row and column). Files from
/// more than one host (different host names or fingerprints) get one column per
/// `host · environment`, and a line per host under the table with its
/// fingerprint and host-speed probe.
pub fn render_paper_table(results: &[ResultsFile]) -> String {
    let mut hosts: Vec<(String, String)> = Vec::new();
    let mut calibrations: Vec<Option<f64>> = Vec::new();
    for file in results {
        let id = host_identity(file);
        if !hosts.contains(&id) {
            hosts.push(id);
            calibrations.push(file.calibration_seconds());
        }
    }
    let multi_host = hosts.len() > 1;
    // A short, unique name per host.
    let host_names: Vec<String> = hosts
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let shared = hosts.iter().filter(|(n, _)| n == name).count() > 1;
            match (name.is_empty(), shared) {
                (true, _) => format!("host {}", i + 1),
                (false, true) => format!("{name} #{}", i + 1),
                (false, false) => name.clone(),
            }
        })
        .collect();

    let mut notes = Notes::default();
    let mut columns: Vec<String> = Vec::new();
    let mut rows: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for file in results {
        let label = row_label(file);
        let idx = match rows.iter().position(|(l, _)| *l == label) {
            Some(i) => i,
            None => {
                rows.push((label.clone(), Vec::new()));
                rows.len() - 1
            }
        };
        let host = hosts
            .iter()
            .position(|h| *h == host_identity(file))
            .map(|i| host_names[i].clone())
            .unwrap_or_default();
        for env in &file.environments {
            let Some(s) = &env.summary else { continue };
            let column = if multi_host {
                format!("{host} · {}", env_label(env))
            } else {
                env_label(env)
            };
            if !columns.contains(&column) {
                columns.push(column.clone());
            }
            let verdict = verdict_text(file, env);
            let verdict = match verdict.split_once(" (") {
                Some((head, _)) => format!("{head}{}", notes.mark(verdict.clone())),
                None => verdict,
            };
            let failed = if env.partly_failed() {
                let (failed, total) = failed_count(env);
                notes.mark(format!(
                    "{}: partly failed in {label}: {failed} of {total} repetitions failed; the cell comes from the others",
                    if multi_host { format!("{host} · {}", env.name) } else { env.name.clone() }
                ))
            } else {
                String::new()
            };
            let cell = format!(
                "{} ± {} ms{failed} ({} CPU; {verdict})",
                num(s.inference_us.mean / 1e3),
                num(s.inference_us.std / 1e3),
                or_dash(s.cpu_percent, |c| format!("{}%", num(c)))
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
                    .map(|(_, v)| md_cell(v))
                    .unwrap_or_else(|| "—".into())
            })
            .collect();
        out.push_str(&format!("| {} | {} |\n", md_cell(label), line.join(" | ")));
    }
    let (alpha, threshold) = results
        .first()
        .map(verdict_rule)
        .unwrap_or((DEFAULT_ALPHA, DEFAULT_THRESHOLD));
    out.push_str(&format!(
        "\nCells: mean in-agent inference time ± standard deviation (ms) over every measured iteration; \
         host CPU over the measured iterations (% of one core; 2 cores = 200%; — when not measured); \
         verdict against the baseline (permutation test on repetition means: p < {alpha} and |change| > {}%).\n",
        tick(threshold * 100.0)
    ));
    if multi_host {
        out.push_str("\nHosts (figures are compared across different machines):\n\n");
        for ((name, (_, fingerprint)), calibration) in
            host_names.iter().zip(&hosts).zip(&calibrations)
        {
            out.push_str(&format!(
                "- {}: {}; host-speed probe median {}\n",
                md_cell(name),
                md_cell(fingerprint),
                calibration
                    .map(|c| format!("{} ms", num(c * 1e3)))
                    .unwrap_or_else(|| "not measured".into())
            ));
        }
    }
    let mut unnumbered = Vec::new();
    for file in results {
        if let Some(check) = file.outputs.as_ref().filter(|c| !c.consistent()) {
            unnumbered.push(format!(
                "OUTPUTS DIFFER in {}{}: {} of {} measured iterations computed something else than {} for the same input",
                row_label(file),
                if multi_host {
                    format!(" on {}", file.host.hostname)
                } else {
                    String::new()
                },
                check.mismatch_count,
                check.compared,
                check.reference
            ));
        }
    }
    if !notes.0.is_empty() || !unnumbered.is_empty() {
        out.push('\n');
        for (i, note) in notes.0.iter().enumerate() {
            out.push_str(&format!("- {} {}\n", superscript(i + 1), md_cell(note)));
        }
        for note in &unnumbered {
            out.push_str(&format!("- {}\n", md_cell(note)));
        }
    }
    out
}
