//! The terminal summary table printed after a run (hyperfine-like).
//!
//! One row per environment with short cells; anything long (why an
//! environment failed or was skipped, why a verdict is inconclusive, why a
//! figure is absent) goes on lines under the table, then the warnings.

use std::collections::BTreeMap;

use isobench_results::ResultsFile;

use super::{
    is_baseline, outputs_sentence, partly_failed_baseline, table_notes, verdict_rule, verdict_text,
};
use crate::format::{env_label, mib, num, or_dash, sig3, tick, time_us, TimeUnit, DASH};

/// Verdict texts longer than this go under the table (the cell keeps the first words).
const VERDICT_CELL_MAX: usize = 26;

/// The ratio to the baseline with 2 decimals: `1.12× [1.10, 1.13]` (`†`
/// against a partly failed baseline).
fn ratio_short(results: &ResultsFile, env: &isobench_results::EnvironmentResult) -> String {
    let dagger = if partly_failed_baseline(results).is_some() {
        "†"
    } else {
        ""
    };
    or_dash(
        env.summary.as_ref().and_then(|s| s.decision.as_ref()),
        |d| match d.interval {
            Some(i) => format!("{:.2}× [{:.2}, {:.2}]{dagger}", d.ratio, i.low, i.high),
            None => format!("{:.2}×{dagger}", d.ratio),
        },
    )
}

/// Renders the summary table of a results file for the terminal:
/// environment, start, inference mean ± σ, min … max, p99 (`*` under 100
/// samples), CPU % of one core and CPU seconds per inference (measured
/// iterations), peak RSS (workload / host, MiB), ratio to the baseline with
/// its 95% CI, and the verdict (the file's, as in every report). Failure and
/// skip reasons, long verdict reasons and absent figures are listed under
/// the table, then the file's warnings as `warning: ...` lines.
pub fn terminal_table(results: &ResultsFile) -> String {
    let header: Vec<String> = [
        "environment",
        "start",
        "inference mean ± σ",
        "min … max",
        "p99",
        "CPU %",
        "CPU s/inf",
        "RSS wl / host",
        "vs baseline [95% CI]",
        "verdict",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut rows: Vec<Vec<String>> = Vec::new();
    // Long verdict text -> environments that have it (listed under the table).
    let mut long_verdicts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for env in &results.environments {
        let mut name = env_label(env);
        if env.summary.is_some() && env.partly_failed() {
            name.push_str(" (partly failed)");
        }
        let mut verdict = verdict_text(results, env);
        if verdict.chars().count() > VERDICT_CELL_MAX {
            if let Some((short, _)) = verdict.split_once(" (") {
                let short = format!("{short} (see below)");
                long_verdicts
                    .entry(std::mem::replace(&mut verdict, short))
                    .or_default()
                    .push(env.name.clone());
            }
        }
        let Some(s) = &env.summary else {
            let mut row = vec![name];
            row.extend((0..8).map(|_| DASH.to_string()));
            row.push(verdict);
            rows.push(row);
            continue;
        };
        let inf = &s.inference_us;
        let unit = TimeUnit::for_us(inf.mean);
        let u = unit.label();
        let p99_mark = if inf.p99_is_reliable() { "" } else { "*" };
        let rss = |b: Option<u64>| or_dash(b, |b| mib(b as f64));
        rows.push(vec![
            name,
            or_dash(s.ready_seconds.as_ref(), |r| time_us(r.mean * 1e6)),
            format!(
                "{} ± {} {u}",
                sig3(unit.conv(inf.mean)),
                sig3(unit.conv(inf.std))
            ),
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
            if is_baseline(results, env) {
                "baseline".into()
            } else {
                ratio_short(results, env)
            },
            verdict,
        ]);
    }

    let cols = header.len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = " ".repeat(widths[i].saturating_sub(c.chars().count()));
                if i == 0 || i == cols - 1 {
                    format!("{c}{pad}")
                } else {
                    format!("{pad}{c}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(&header);
    out.push('\n');
    out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (cols - 1)));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    for note in table_notes(results) {
        out.push_str(&format!("  {note}\n"));
    }
    for (text, envs) in &long_verdicts {
        out.push_str(&format!("  {}: {text}\n", envs.join(", ")));
    }
    if let Some(check) = results.outputs.as_ref().filter(|c| !c.consistent()) {
        let warned = results
            .warnings
            .iter()
            .any(|w| matches!(w, isobench_results::Warning::OutputsDiffer { .. }));
        if !warned {
            out.push_str(&format!("  {}\n", outputs_sentence(check)));
        }
    }
    let (alpha, threshold) = verdict_rule(results);
    out.push_str(&format!(
        "  (inference: in-agent time per iteration; CPU %: of one core over the measured iterations; \
         RSS: workload / host peak resident memory, MiB; vs baseline: ratio of means [two-level bootstrap 95% CI]; \
         verdict: permutation test on repetition means, p < {alpha} and |change| > {}%)\n",
        tick(threshold * 100.0)
    ));
    for warning in &results.warnings {
        out.push_str(&format!("warning: {}\n", crate::words::warning(warning)));
    }
    out
}
