//! One report over results files from several hosts (`isobench report
//! A.json B.json ...`): a table of the hosts (what each machine is, how fast
//! its host-speed probe ran), then one table per workload / engine / model
//! whose rows are environments and whose columns are grouped by host: mean
//! ± σ, the ratio to *that host's* baseline and the verdict against it.
//!
//! Absolute times from different machines differ by the machines; the
//! warnings say so when the fingerprints or the host-speed probes differ.

use isobench_results::ResultsFile;

use crate::export::html::css;
use isobench_stats::{DEFAULT_ALPHA, DEFAULT_THRESHOLD};

use crate::export::{ratio_text, verdict_class, verdict_rule, verdict_text};
use crate::format::{env_label, esc, failed_count, md_cell, num, tick, utc, DASH};
use crate::paper::row_label;

/// One file's host, as the hosts table shows it.
struct HostRow {
    label: String,
    hostname: String,
    fingerprint: String,
    calibration: String,
    order: String,
    date: String,
}

/// Cells of one environment on one host: mean ± σ (ms), ratio, verdict (and its CSS class).
type HostCells = [String; 3];

/// One environment's cells on one host and its verdict's CSS class.
type HostCell = (HostCells, Option<&'static str>);

/// One workload / engine / model.
struct MergedTable {
    title: String,
    /// Column group names (one per file in this table).
    groups: Vec<String>,
    /// Environment label, then per group its cells and the verdict's class.
    rows: Vec<(String, Vec<HostCell>)>,
}

/// Everything both formats show.
struct Merged {
    hosts: Vec<HostRow>,
    tables: Vec<MergedTable>,
    warnings: Vec<String>,
    /// How ratios and verdicts were computed, in one sentence.
    rule: String,
}

/// The hostname, else the file label.
fn host_name(label: &str, file: &ResultsFile) -> String {
    if file.host.hostname.is_empty() {
        label.to_string()
    } else {
        file.host.hostname.clone()
    }
}

fn build(files: &[(String, ResultsFile)]) -> Merged {
    let hosts = files
        .iter()
        .map(|(label, f)| HostRow {
            label: label.clone(),
            hostname: f.host.hostname.clone(),
            fingerprint: f.host.fingerprint(),
            calibration: f
                .calibration_seconds()
                .map(|c| num(c * 1e3))
                .unwrap_or_else(|| DASH.into()),
            order: f.experiment.order.to_string(),
            date: utc(f.started_unix),
        })
        .collect();

    // One table per workload / engine / model, in first-seen order.
    let mut titles: Vec<String> = Vec::new();
    for (_, f) in files {
        let title = row_label(f);
        if !titles.contains(&title) {
            titles.push(title);
        }
    }
    let tables = titles
        .into_iter()
        .map(|title| {
            let members: Vec<&(String, ResultsFile)> = files
                .iter()
                .filter(|(_, f)| row_label(f) == title)
                .collect();
            let groups: Vec<String> = members
                .iter()
                .map(|(label, f)| {
                    let name = host_name(label, f);
                    let shared = members
                        .iter()
                        .filter(|(l, g)| host_name(l, g) == name)
                        .count()
                        > 1;
                    if shared {
                        label.clone()
                    } else {
                        name
                    }
                })
                .collect();
            let mut envs: Vec<(String, String)> = Vec::new();
            for (_, f) in &members {
                for e in &f.environments {
                    if !envs.iter().any(|(name, _)| *name == e.name) {
                        envs.push((e.name.clone(), env_label(e)));
                    }
                }
            }
            let rows = envs
                .into_iter()
                .map(|(name, shown)| {
                    let cells = members
                        .iter()
                        .map(
                            |(_, f)| match f.environments.iter().find(|e| e.name == name) {
                                None => ([DASH.into(), DASH.into(), "not run".into()], None),
                                Some(env) => {
                                    let mean = match &env.summary {
                                        Some(s) => {
                                            let mark = if env.partly_failed() {
                                                let (failed, total) = failed_count(env);
                                                format!(" (partly failed: {failed} of {total})")
                                            } else {
                                                String::new()
                                            };
                                            format!(
                                                "{} ± {}{mark}",
                                                num(s.inference_us.mean / 1e3),
                                                num(s.inference_us.std / 1e3)
                                            )
                                        }
                                        None => DASH.into(),
                                    };
                                    (
                                        [mean, ratio_text(f, env), verdict_text(f, env)],
                                        verdict_class(env),
                                    )
                                }
                            },
                        )
                        .collect();
                    (shown, cells)
                })
                .collect();
            MergedTable {
                title,
                groups,
                rows,
            }
        })
        .collect();

    let mut warnings = Vec::new();
    let mut fingerprints: Vec<&str> = Vec::new();
    let prints: Vec<String> = files.iter().map(|(_, f)| f.host.fingerprint()).collect();
    for p in &prints {
        if !fingerprints.contains(&p.as_str()) {
            fingerprints.push(p);
        }
    }
    if fingerprints.len() > 1 {
        let described: Vec<String> = files
            .iter()
            .zip(&prints)
            .map(|((label, f), p)| format!("{}: {p}", host_name(label, f)))
            .collect();
        warnings.push(format!(
            "the files come from different machines ({}): absolute figures are compared across different machines; compare each host's ratios to its own baseline",
            described.join("; ")
        ));
    }
    let probes: Vec<(String, f64)> = files
        .iter()
        .filter_map(|(label, f)| Some((host_name(label, f), f.calibration_seconds()?)))
        .collect();
    if let (Some(fast), Some(slow)) = (
        probes.iter().min_by(|a, b| a.1.total_cmp(&b.1)),
        probes.iter().max_by(|a, b| a.1.total_cmp(&b.1)),
    ) {
        if slow.1 > fast.1 && fast.1 > 0.0 {
            warnings.push(format!(
                "the host-speed probes differ: the same reference computation took {} ms on {} and {} ms on {} ({:.1}% longer){}",
                num(fast.1 * 1e3),
                fast.0,
                num(slow.1 * 1e3),
                slow.0,
                (slow.1 / fast.1 - 1.0) * 100.0,
                if probes.len() > 2 {
                    format!(
                        " (all: {})",
                        probes
                            .iter()
                            .map(|(name, c)| format!("{name} {} ms", num(c * 1e3)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    String::new()
                }
            ));
        }
    }
    for (label, f) in files {
        if f.host_speed.is_none() {
            warnings.push(format!(
                "{} ({label}) has no host-speed probe: its speed cannot be compared with the others'",
                host_name(label, f)
            ));
        }
        if let Some(check) = f.outputs.as_ref().filter(|c| !c.consistent()) {
            warnings.push(format!(
                "{label}: outputs differ between environments ({} of {} iterations differ from {}'s)",
                check.mismatch_count, check.compared, check.reference
            ));
        }
        if let Some(base) = f.baseline_env().filter(|b| b.partly_failed()) {
            let (failed, total) = failed_count(base);
            warnings.push(format!(
                "{label}: the baseline {} is partly failed ({failed} of {total} repetitions failed): every ratio against it is marked †",
                base.name
            ));
        }
    }
    let (alpha, threshold) = files
        .first()
        .map(|(_, f)| verdict_rule(f))
        .unwrap_or((DEFAULT_ALPHA, DEFAULT_THRESHOLD));
    let rule = format!(
        "Ratios and verdicts are against each host's own baseline (native when measured): mean in-agent inference time over the baseline's with a two-level bootstrap 95% CI, and a permutation test on repetition means (p < {alpha} and |change| > {}%).",
        tick(threshold * 100.0)
    );
    Merged {
        hosts,
        tables,
        warnings,
        rule,
    }
}

const CELL_HEADERS: [&str; 3] = ["mean ± σ (ms)", "ratio to baseline (95% CI)", "verdict"];

/// Markdown report over results files from several hosts (`label` = file path).
pub fn merged_markdown(files: &[(String, ResultsFile)]) -> String {
    let m = build(files);
    let mut out = format!("**isobench** across {} results files\n\n", files.len());
    out.push_str("**Hosts**\n\n");
    out.push_str("| File | Hostname | Fingerprint | Calibration median (ms) | Order | Date |\n");
    out.push_str("|:---|:---|:---|---:|:---|:---|\n");
    for h in &m.hosts {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            md_cell(&h.label),
            md_cell(&h.hostname),
            md_cell(&h.fingerprint),
            h.calibration,
            md_cell(&h.order),
            h.date
        ));
    }
    for t in &m.tables {
        out.push_str(&format!("\n**{}**\n\n| Environment |", md_cell(&t.title)));
        for g in &t.groups {
            for c in CELL_HEADERS {
                out.push_str(&format!(" {} · {c} |", md_cell(g)));
            }
        }
        out.push_str("\n|:---|");
        out.push_str(&"---:|---:|:---|".repeat(t.groups.len()));
        out.push('\n');
        for (env, cells) in &t.rows {
            out.push_str(&format!("| {} |", md_cell(env)));
            for (cell, _) in cells {
                for c in cell {
                    out.push_str(&format!(" {} |", md_cell(c)));
                }
            }
            out.push('\n');
        }
    }
    out.push_str(&format!("\n{}\n", md_cell(&m.rule)));
    if !m.warnings.is_empty() {
        out.push('\n');
        for w in &m.warnings {
            out.push_str(&format!("> ⚠ {}\n", md_cell(w)));
        }
    }
    out
}

/// Self-contained HTML report over results files from several hosts
/// (`label` = file path): hosts table, then per workload a table with a
/// two-row header (one `colspan` group per host).
pub fn merged_html(files: &[(String, ResultsFile)]) -> String {
    let m = build(files);
    let title = format!("isobench: {} results files across hosts", files.len());
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        css(),
        esc(&title)
    );
    if !m.warnings.is_empty() {
        h.push_str("<div class=\"warnings\" id=\"warnings\"><strong>Warnings</strong><ul>\n");
        for w in &m.warnings {
            h.push_str(&format!("<li>{}</li>\n", esc(w)));
        }
        h.push_str("</ul></div>\n");
    }
    h.push_str("<h2>Hosts</h2>\n<table id=\"hosts\">\n<tr><th>File</th><th>Hostname</th><th>Fingerprint</th><th>Calibration median (ms)</th><th>Order</th><th>Date</th></tr>\n");
    for host in &m.hosts {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            esc(&host.label),
            esc(&host.hostname),
            esc(&host.fingerprint),
            esc(&host.calibration),
            esc(&host.order),
            esc(&host.date)
        ));
    }
    h.push_str("</table>\n");
    for (i, t) in m.tables.iter().enumerate() {
        h.push_str(&format!(
            "<h2>{}</h2>\n<div class=\"scroll\"><table id=\"merged-{i}\">\n<tr><th rowspan=\"2\">Environment</th>",
            esc(&t.title)
        ));
        for g in &t.groups {
            h.push_str(&format!(
                "<th colspan=\"{}\">{}</th>",
                CELL_HEADERS.len(),
                esc(g)
            ));
        }
        h.push_str("</tr>\n<tr>");
        for _ in &t.groups {
            for c in CELL_HEADERS {
                h.push_str(&format!("<th>{}</th>", esc(c)));
            }
        }
        h.push_str("</tr>\n");
        for (env, cells) in &t.rows {
            h.push_str(&format!("<tr><td>{}</td>", esc(env)));
            for ([mean, ratio, verdict], class) in cells {
                let class = class.map(|c| format!(" class=\"{c}\"")).unwrap_or_default();
                h.push_str(&format!(
                    "<td>{}</td><td>{}</td><td{class}>{}</td>",
                    esc(mean),
                    esc(ratio),
                    esc(verdict)
                ));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table></div>\n");
    }
    h.push_str(&format!("<p class=\"note\">{}</p>\n", esc(&m.rule)));
    h.push_str("</body>\n</html>\n");
    h
}
