//! One report over results files from several hosts (`isobench report
//! A.json B.json ...`): a table of the hosts (what each machine is, how fast
//! its host-speed probe ran), then one table per workload / engine / model
//! whose rows are environments and whose columns are grouped by host: mean
//! ± σ, the ratio to *that host's* baseline with the verdict's interval,
//! and the verdict against it; in HTML, each table's forest plot.
//!
//! Absolute times from different machines differ by the machines; the
//! warnings say so when the fingerprints or the host-speed probes differ.

use isobench_results::ResultsFile;

use crate::charts::{figure_html, forest, forest_rows, ForestRow};
use crate::export::html::{page_start, warnings_box};
use crate::format::{env_label, esc, failed_count, md_cell, num, utc, DASH};
use crate::paper::row_label;
use crate::verdict::{level, ratio_text, Rule, Verdict};
use crate::ReportError;

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
type HostCell = ([String; 3], Option<&'static str>);

/// One workload / engine / model.
struct MergedTable {
    title: String,
    /// Column group names (one per file in this table).
    groups: Vec<String>,
    /// Environment label, then per group its cells and the verdict's class.
    rows: Vec<(String, Vec<HostCell>)>,
    /// The forest plot's rows (`environment · host`).
    forest: Vec<ForestRow>,
    /// The threshold and interval level of the first file's verdicts.
    rule: Rule,
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

/// The hosts table's rows.
fn host_rows(files: &[(String, ResultsFile)]) -> Vec<HostRow> {
    files
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
        .collect()
}

/// One environment's cells in one file.
fn host_cell(file: &ResultsFile, name: &str) -> HostCell {
    let Some(env) = file.environments.iter().find(|e| e.name == name) else {
        return ([DASH.into(), DASH.into(), "not run".into()], None);
    };
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
    let verdict = Verdict::of(file, env);
    (
        [mean, ratio_text(file, env, 3), verdict.label()],
        verdict.class(),
    )
}

/// The table of the files whose row label is `title`.
fn table(files: &[(String, ResultsFile)], title: String) -> MergedTable {
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
            let cells = members.iter().map(|(_, f)| host_cell(f, &name)).collect();
            (shown, cells)
        })
        .collect();
    let forest = members
        .iter()
        .zip(&groups)
        .flat_map(|((_, f), group)| forest_rows(f, &format!(" · {group}")))
        .collect();
    MergedTable {
        title,
        groups,
        rows,
        forest,
        rule: Rule::of(&members[0].1),
    }
}

/// Warnings about the machines, their speed, outputs and baselines.
fn warnings(files: &[(String, ResultsFile)]) -> Vec<String> {
    let mut warnings = Vec::new();
    let prints: Vec<String> = files.iter().map(|(_, f)| f.host.fingerprint()).collect();
    if prints.iter().any(|p| *p != prints[0]) {
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
            let all = probes
                .iter()
                .map(|(name, c)| format!("{name} {} ms", num(c * 1e3)))
                .collect::<Vec<_>>()
                .join(", ");
            warnings.push(format!(
                "the host-speed probes differ: the same reference computation took {} ms on {} and {} ms on {} ({:.1}% longer){}",
                num(fast.1 * 1e3),
                fast.0,
                num(slow.1 * 1e3),
                slow.0,
                (slow.1 / fast.1 - 1.0) * 100.0,
                if probes.len() > 2 { format!(" (all: {all})") } else { String::new() }
            ));
        }
    }
    for (label, f) in files {
        warnings.extend(file_warnings(label, f));
    }
    warnings
}

/// One file's own warnings: no probe, outputs that differ, a partly failed baseline.
fn file_warnings(label: &str, f: &ResultsFile) -> Vec<String> {
    let mut warnings = Vec::new();
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
    warnings
}

fn build(files: &[(String, ResultsFile)]) -> Merged {
    let mut titles: Vec<String> = Vec::new();
    for (_, f) in files {
        let title = row_label(f);
        if !titles.contains(&title) {
            titles.push(title);
        }
    }
    let rule = files.first().map(|(_, f)| Rule::of(f)).unwrap_or(Rule {
        alpha: isobench_stats::DEFAULT_ALPHA,
        threshold: isobench_stats::DEFAULT_THRESHOLD,
        level: 1.0 - isobench_stats::DEFAULT_ALPHA,
    });
    let rule = format!(
        "Ratios and verdicts are against each host's own baseline: the ratio of mean in-agent inference times, paired by round, with the interval the verdict used ({} in the first file); \
         slower or faster when it excludes 1 and the change is beyond {band}, same when it lies within {band}, inconclusive otherwise (α {}).",
        level(rule.level),
        rule.alpha,
        band = rule.band()
    );
    Merged {
        hosts: host_rows(files),
        tables: titles.into_iter().map(|t| table(files, t)).collect(),
        warnings: warnings(files),
        rule,
    }
}

const CELL_HEADERS: [&str; 3] = ["mean ± σ (ms)", "ratio to baseline [interval]", "verdict"];

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
    if !m.warnings.is_empty() {
        out.push('\n');
        for w in &m.warnings {
            out.push_str(&format!("> ⚠ {}\n", md_cell(w)));
        }
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
    out
}

/// One workload's table in HTML, with a two-row header (one `colspan` group per host).
fn table_html(i: usize, t: &MergedTable) -> String {
    let mut h = format!(
        "<h2>{}</h2>\n<div class=\"scroll\"><table id=\"merged-{i}\">\n<tr><th rowspan=\"2\">Environment</th>",
        esc(&t.title)
    );
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
            let class = if c == "verdict" {
                " class=\"verdict\""
            } else {
                ""
            };
            h.push_str(&format!("<th{class}>{}</th>", esc(c)));
        }
    }
    h.push_str("</tr>\n");
    for (env, cells) in &t.rows {
        h.push_str(&format!("<tr><td>{}</td>", esc(env)));
        for ([mean, ratio, verdict], class) in cells {
            let class = match class {
                Some(c) => format!(" class=\"verdict {c}\""),
                None => " class=\"verdict\"".to_string(),
            };
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
    h
}

/// Self-contained HTML report over results files from several hosts
/// (`label` = file path): hosts table, warnings, then per workload a table
/// with a two-row header (one `colspan` group per host) and its forest plot.
pub fn merged_html(files: &[(String, ResultsFile)]) -> Result<String, ReportError> {
    let m = build(files);
    let title = format!("isobench: {} results files across hosts", files.len());
    let mut h = page_start(&title);
    h.push_str(&format!("<h1>{}</h1>\n", esc(&title)));
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
    h.push_str(&warnings_box(&m.warnings));
    for (i, t) in m.tables.iter().enumerate() {
        h.push_str(&table_html(i, t));
        if let Some(chart) = forest(
            &format!("verdicts-{i}"),
            &t.forest,
            t.rule.threshold,
            t.rule.level,
        )? {
            h.push_str(&figure_html(&chart));
        }
    }
    h.push_str(&format!("<p class=\"note\">{}</p>\n", esc(&m.rule)));
    h.push_str("</body>\n</html>\n");
    Ok(h)
}
