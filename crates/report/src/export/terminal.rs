//! The terminal summary printed after a run and by `isobench report
//! --style terminal` (hyperfine-like).
//!
//! By default the table fits [`crate::text_table::TERMINAL_COLUMNS`]: environment, start,
//! inference mean ± σ, the ratio to the baseline with the verdict's
//! interval, and the verdict; a verdict too long for its cell keeps its
//! word and a footnote mark, its reason goes under the table. `--wide`
//! ([`TerminalOptions::wide`]) adds min … max, p99, CPU, memory and the
//! isolation overhead, with whole verdicts. Under the table: footnotes,
//! notes, the design, and the warnings grouped per cause, every line
//! wrapped to [`crate::text_table::TERMINAL_COLUMNS`].

use isobench_results::{EnvironmentResult, ResultsFile};

use crate::cells::memory_difference;
use crate::design::design_summary;
use crate::format::{env_label, mib, num, or_dash, sig3, time_us, TimeUnit, DASH};
use crate::notes::{partial_banner, table_notes, Footnotes};
use crate::sections::outputs_sentence;
use crate::text_table::{fitted_table, wrapped, Align, LastCell, TextTable};
use crate::verdict::{partly_failed_baseline, Rule, Verdict};

/// How the terminal table is laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TerminalOptions {
    /// Every column and whole verdicts, whatever the width (`--wide`).
    pub wide: bool,
}

/// Renders the summary of a results file for the terminal, fitting 100
/// columns (see the module documentation).
pub fn terminal_table(results: &ResultsFile) -> String {
    terminal_table_with(results, &TerminalOptions::default())
}

/// Renders the summary of a results file for the terminal, laid out as `options` say.
pub fn terminal_table_with(results: &ResultsFile, options: &TerminalOptions) -> String {
    let mut out = String::new();
    if let Some(banner) = partial_banner(results) {
        out.push_str(&wrapped(&banner, "", "  "));
    }
    let (table, footnotes) = summary_table(results, options.wide);
    out.push_str(&table.render());
    for line in footnotes.lines() {
        out.push_str(&wrapped(&line, "  ", "    "));
    }
    for note in table_notes(results) {
        out.push_str(&wrapped(&note, "  ", "    "));
    }
    if let Some(check) = results.outputs.as_ref().filter(|c| !c.consistent()) {
        let warned = results
            .warnings
            .iter()
            .any(|w| matches!(w, isobench_results::Warning::OutputsDiffer { .. }));
        if !warned {
            out.push_str(&wrapped(&outputs_sentence(check), "  ", "    "));
        }
    }
    out.push_str(&wrapped(&legend(results, options.wide), "  ", "    "));
    out.push_str(&wrapped(&design_summary(results), "  ", "    "));
    for warning in crate::words::warning_lines(&results.warnings) {
        out.push_str(&wrapped(&warning, "warning: ", "  "));
    }
    out
}

/// What the columns mean, in one sentence.
fn legend(results: &ResultsFile, wide: bool) -> String {
    let rule = Rule::of(results);
    let base = results.baseline.as_deref().unwrap_or("baseline");
    format!(
        "(inference: in-agent time per iteration; vs {base}: ratio of means paired by round [its {} interval, the verdict's]; \
         verdict: slower/faster beyond {band}, same within {band}, α {}{})",
        rule.level_text(),
        rule.alpha,
        if wide {
            "; CPU % of one core over the measured iterations; RSS: workload / host peak, MiB; overhead: host RSS minus the baseline's, MiB [95%]"
        } else {
            "; `--wide` adds p99, CPU and memory"
        },
        band = rule.band(),
    )
}

/// The environment cell: its label, `(partly failed)` when some repetition failed.
fn name_cell(env: &EnvironmentResult) -> String {
    let mut name = env_label(env);
    if env.summary.is_some() && env.partly_failed() {
        name.push_str(" (partly failed)");
    }
    name
}

/// The ratio cell with 2 decimals: `1.12× [1.10, 1.13]` (`†` against a
/// partly failed baseline), `1×` for the baseline.
fn ratio_cell(results: &ResultsFile, verdict: &Verdict<'_>) -> String {
    let dagger = if partly_failed_baseline(results).is_some() {
        "†"
    } else {
        ""
    };
    match verdict {
        Verdict::Baseline => "1×".into(),
        Verdict::Decided(d) => format!("{}{dagger}", crate::verdict::decision_ratio(d, 2)),
        _ => DASH.into(),
    }
}

/// The figure cells of a measured environment (between the name and the ratio).
fn figure_cells(env: &EnvironmentResult, wide: bool) -> Vec<String> {
    let Some(s) = &env.summary else {
        return vec![DASH.to_string(); if wide { 8 } else { 2 }];
    };
    let inf = &s.inference_us;
    let unit = TimeUnit::for_us(inf.mean);
    let u = unit.label();
    let mut cells = vec![
        or_dash(s.ready_seconds.as_ref(), |r| time_us(r.mean * 1e6)),
        format!(
            "{} ± {} {u}",
            sig3(unit.conv(inf.mean)),
            sig3(unit.conv(inf.std))
        ),
    ];
    if wide {
        let p99_mark = if inf.p99_is_reliable() { "" } else { "*" };
        let rss = |b: Option<u64>| or_dash(b, |b| mib(b as f64));
        cells.extend([
            format!(
                "{} … {} {u}",
                sig3(unit.conv(inf.min)),
                sig3(unit.conv(inf.max))
            ),
            format!("{} {u}{p99_mark}", sig3(unit.conv(inf.p99))),
            or_dash(s.cpu_percent, |v| format!("{v:.1}")),
            or_dash(s.cpu_seconds_per_inference, num),
            format!(
                "{} / {}",
                rss(s.workload_peak_rss_bytes),
                rss(s.host_peak_rss_bytes)
            ),
            or_dash(s.isolation_overhead.as_ref(), memory_difference),
        ]);
    }
    cells
}

/// The table's columns.
fn columns(results: &ResultsFile, wide: bool) -> Vec<(String, Align)> {
    let rule = Rule::of(results);
    let base = results.baseline.as_deref().unwrap_or("baseline");
    let mut columns = vec![
        ("environment".to_string(), Align::Left),
        ("start".into(), Align::Right),
        ("inference mean ± σ".into(), Align::Right),
    ];
    if wide {
        columns.extend([
            ("min … max".to_string(), Align::Right),
            ("p99".into(), Align::Right),
            ("CPU %".into(), Align::Right),
            ("CPU s/inf".into(), Align::Right),
            ("RSS wl / host".into(), Align::Right),
            ("overhead MiB".into(), Align::Right),
        ]);
    }
    columns.push((format!("vs {base} [{}]", rule.level_text()), Align::Right));
    columns.push(("verdict".into(), Align::Left));
    columns
}

/// The table and the footnotes of its verdict cells.
fn summary_table(results: &ResultsFile, wide: bool) -> (TextTable, Footnotes) {
    let mut rows = Vec::new();
    let mut last = Vec::new();
    for env in &results.environments {
        let verdict = Verdict::of(results, env);
        let mut row = vec![name_cell(env)];
        row.extend(figure_cells(env, wide));
        row.push(ratio_cell(results, &verdict));
        rows.push(row);
        last.push(LastCell {
            who: env.name.clone(),
            short: verdict.word().to_string(),
            long: verdict.label(),
        });
    }
    fitted_table(&columns(results, wide), rows, last, wide)
}
