//! The table the published studies used (`isobench report --style paper`):
//! rows are models / workloads, columns environments (or `host ·
//! environment` when the files come from several hosts), cells the mean
//! in-agent inference time ± standard deviation in ms, the host CPU % over
//! the measured iterations, and the verdict's word against the baseline
//! (the file's, the same as every report's), its detail in a numbered
//! footnote.

use isobench_results::ResultsFile;

use crate::format::{env_label, failed_count, md_cell, num, or_dash, tick};
use crate::notes::Footnotes;
use crate::verdict::{Rule, Verdict};

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

/// The distinct hosts of some files, each with a short unique name and its probe.
struct Hosts {
    ids: Vec<(String, String)>,
    names: Vec<String>,
    probes: Vec<Option<f64>>,
}

impl Hosts {
    fn of(results: &[ResultsFile]) -> Hosts {
        let mut ids: Vec<(String, String)> = Vec::new();
        let mut probes = Vec::new();
        for file in results {
            let id = host_identity(file);
            if !ids.contains(&id) {
                ids.push(id);
                probes.push(file.calibration_seconds());
            }
        }
        let names = ids
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let shared = ids.iter().filter(|(n, _)| n == name).count() > 1;
                match (name.is_empty(), shared) {
                    (true, _) => format!("host {}", i + 1),
                    (false, true) => format!("{name} #{}", i + 1),
                    (false, false) => name.clone(),
                }
            })
            .collect();
        Hosts { ids, names, probes }
    }

    fn many(&self) -> bool {
        self.ids.len() > 1
    }

    fn name_of(&self, file: &ResultsFile) -> String {
        self.ids
            .iter()
            .position(|h| *h == host_identity(file))
            .map(|i| self.names[i].clone())
            .unwrap_or_default()
    }
}

/// The table's columns and rows (label, then (column, cell) pairs).
type Grid = (Vec<String>, Vec<(String, Vec<(String, String)>)>);

/// The cells of every file, one row per workload / engine / model.
fn grid(results: &[ResultsFile], hosts: &Hosts, notes: &mut Footnotes) -> Grid {
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
        let host = hosts.name_of(file);
        for env in &file.environments {
            let Some(s) = &env.summary else { continue };
            let (column, who) = if hosts.many() {
                (
                    format!("{host} · {}", env_label(env)),
                    format!("{host} · {}", env.name),
                )
            } else {
                (env_label(env), env.name.clone())
            };
            if !columns.contains(&column) {
                columns.push(column.clone());
            }
            let verdict = Verdict::of(file, env);
            let verdict = match verdict.detail() {
                Some(_) => format!("{}{}", verdict.word(), notes.mark(&who, verdict.label())),
                None => verdict.word().to_string(),
            };
            let failed = if env.partly_failed() {
                let (failed, total) = failed_count(env);
                notes.mark(
                    &who,
                    format!(
                        "partly failed in {label}: {failed} of {total} repetitions failed; the cell comes from the others"
                    ),
                )
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
    (columns, rows)
}

/// Notes under the table: hosts (when several), footnotes, outputs that differ.
fn notes_under(results: &[ResultsFile], hosts: &Hosts, notes: &Footnotes) -> String {
    let mut out = String::new();
    if hosts.many() {
        out.push_str("\nHosts (figures are compared across different machines):\n\n");
        for ((name, (_, fingerprint)), probe) in
            hosts.names.iter().zip(&hosts.ids).zip(&hosts.probes)
        {
            out.push_str(&format!(
                "- {}: {}; host-speed probe median {}\n",
                md_cell(name),
                md_cell(fingerprint),
                probe
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
                if hosts.many() {
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
    if !notes.is_empty() || !unnumbered.is_empty() {
        out.push('\n');
        for note in notes.lines().into_iter().chain(unnumbered) {
            out.push_str(&format!("- {}\n", md_cell(&note)));
        }
    }
    out
}

/// Markdown table over one or more results files (one row per workload/engine/model;
/// columns: every environment measured in any of them, in first-seen order; a later
/// file's cell replaces an earlier one's for the same row and column). Files from
/// more than one host (different host names or fingerprints) get one column per
/// `host · environment`, and a line per host under the table with its
/// fingerprint and host-speed probe.
pub fn render_paper_table(results: &[ResultsFile]) -> String {
    let hosts = Hosts::of(results);
    let mut notes = Footnotes::default();
    let (columns, rows) = grid(results, &hosts, &mut notes);
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
    let rule = results.first().map(Rule::of);
    let (alpha, threshold) = rule.map_or(
        (
            isobench_stats::DEFAULT_ALPHA,
            isobench_stats::DEFAULT_THRESHOLD,
        ),
        |r| (r.alpha, r.threshold),
    );
    out.push_str(&format!(
        "\nCells: mean in-agent inference time ± standard deviation (ms) over every measured iteration; \
         host CPU over the measured iterations (% of one core; 2 cores = 200%; — when not measured); \
         verdict against the baseline: slower or faster (the ratio's interval excludes 1 and the change is beyond ±{t}%), \
         same (the interval lies within ±{t}%) or inconclusive, α {alpha} (details in the numbered notes).\n",
        t = tick(threshold * 100.0)
    ));
    out.push_str(&notes_under(results, &hosts, &notes));
    out
}
