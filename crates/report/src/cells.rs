//! Figure cells: the summary table Markdown and HTML share (one definition
//! per figure, the same formatting), and the serving table's cells.

use isobench_results::{EnvironmentSummary, MemoryDifference, ResultsFile};

use crate::format::{env_label, env_label_marked, mib, num, or_dash, TimeUnit, DASH};
use crate::verdict::{ratio_text, Rule, Verdict};

/// One row of the summary table (cells already formatted).
pub struct SummaryRow {
    /// Cells, in [`summary_headers`] order.
    pub cells: Vec<String>,
    /// Emphasis of the verdict cell (its outcome).
    pub verdict_class: Option<&'static str>,
}

/// Column headers matching [`SummaryRow::cells`], with units; the ratio's
/// header says the level of the verdicts' interval.
pub fn summary_headers(results: &ResultsFile, unit: TimeUnit) -> Vec<String> {
    let u = unit.label();
    let rule = Rule::of(results);
    vec![
        "Environment".into(),
        "Start (ms)".into(),
        format!("Inference mean ± σ ({u})"),
        format!("Median ({u})"),
        format!("p99 ({u})"),
        "CPU (% of a core, measured iterations)".into(),
        "CPU (s/inference)".into(),
        "Start-up CPU (s)".into(),
        "Workload peak RSS (MiB)".into(),
        "Host peak RSS (MiB)".into(),
        "Isolation overhead (MiB) [95% interval]".into(),
        format!(
            "Ratio to baseline [{} interval, the verdict's]",
            rule.level_text()
        ),
        format!("Verdict (α {}, {})", rule.alpha, rule.band()),
    ]
}

/// Unit for inference columns: from the baseline's (else the first measured) mean.
pub fn inference_unit(results: &ResultsFile) -> TimeUnit {
    let typical = results
        .baseline_env()
        .and_then(|b| b.summary.as_ref())
        .or_else(|| results.environments.iter().find_map(|e| e.summary.as_ref()))
        .map(|s| s.inference_us.mean)
        .unwrap_or(0.0);
    TimeUnit::for_us(typical)
}

/// Signed MiB with one decimal and a true minus sign (`+12.3`, `−0.4`).
fn mib_signed(bytes: f64) -> String {
    let v = bytes / (1024.0 * 1024.0);
    let text = format!("{v:+.1}");
    text.replacen('-', "−", 1)
}

/// A memory difference: `≈ 0 [−1.2, +0.8]` within the meter's noise (its
/// interval holds 0), else `+128.4 [+120.1, +136.0]`; never a negative cost
/// from noise.
pub fn memory_difference(m: &MemoryDifference) -> String {
    let interval = format!(
        "[{}, {}]",
        mib_signed(m.low_bytes),
        mib_signed(m.high_bytes)
    );
    if m.within_noise {
        format!("≈ 0 {interval}")
    } else {
        format!("{} {interval}", mib_signed(m.mean_bytes))
    }
}

/// Isolation overhead cell, with the VMM's share for VMs: `+128.4 [+120.1, +136.0] (VMM 12.3)`.
pub fn isolation_text(s: &EnvironmentSummary) -> String {
    let over = or_dash(s.isolation_overhead.as_ref(), memory_difference);
    match s.vmm_overhead_bytes {
        Some(vmm) => format!("{over} (VMM {})", mib(vmm as f64)),
        None => over,
    }
}

/// p99 in `unit`, marked `*` when it comes from fewer than 100 samples.
pub fn p99_text(summary: &isobench_stats::Summary, unit: TimeUnit) -> String {
    let mark = if summary.p99_is_reliable() { "" } else { "*" };
    format!("{}{mark}", num(unit.conv(summary.p99)))
}

/// Rows of the summary table, in run order; the verdict cell is the whole
/// verdict ([`Verdict::label`]).
pub fn summary_rows(results: &ResultsFile, unit: TimeUnit) -> Vec<SummaryRow> {
    results
        .environments
        .iter()
        .map(|env| {
            let verdict = Verdict::of(results, env);
            let Some(s) = &env.summary else {
                let mut cells = vec![env_label(env)];
                cells.extend((0..11).map(|_| DASH.to_string()));
                cells.push(verdict.label());
                return SummaryRow {
                    cells,
                    verdict_class: None,
                };
            };
            let inf = &s.inference_us;
            SummaryRow {
                cells: vec![
                    env_label_marked(env),
                    or_dash(s.ready_seconds.as_ref(), |r| num(r.mean * 1e3)),
                    format!("{} ± {}", num(unit.conv(inf.mean)), num(unit.conv(inf.std))),
                    num(unit.conv(inf.median)),
                    p99_text(inf, unit),
                    or_dash(s.cpu_percent, num),
                    or_dash(s.cpu_seconds_per_inference, num),
                    or_dash(s.startup_cpu_seconds, num),
                    or_dash(s.workload_peak_rss_bytes, |b| mib(b as f64)),
                    or_dash(s.host_peak_rss_bytes, |b| mib(b as f64)),
                    isolation_text(s),
                    ratio_text(results, env, 3),
                    verdict.label(),
                ],
                verdict_class: verdict.class(),
            }
        })
        .collect()
}

/// Column headers of the model-serving table of the reports.
pub const SERVING_HEADERS: [&str; 10] = [
    "Environment",
    "Scenario",
    "Transport",
    "Queries (lost/dup)",
    "Achieved QPS",
    "Reported latency (ms)",
    "Round trip p50 (µs)",
    "Peak QPS",
    "Host CPU per request (ms)",
    "Latency vs native",
];

/// One formatted row per serving result of `results`.
pub fn serving_rows(results: &ResultsFile) -> Vec<Vec<String>> {
    results
        .serving
        .iter()
        .map(|s| {
            let label = if s.emulated {
                format!("{} (emulated, TCG)", s.env)
            } else {
                s.env.clone()
            };
            vec![
                label,
                s.scenario.clone(),
                s.transport.clone(),
                format!("{} ({}/{})", s.queries, s.counts.lost, s.counts.duplicated),
                format!("{:.1}", s.achieved_qps),
                format!(
                    "p{:.0} {:.2}",
                    s.reported_percentile,
                    s.reported_latency_us / 1000.0
                ),
                or_dash(s.round_trip.as_ref(), |r| format!("{:.0}", r.p50_us)),
                or_dash(s.peak_qps, |q| format!("{q:.1}")),
                or_dash(s.cpu_seconds_per_request, |c| format!("{:.3}", c * 1000.0)),
                match (&s.failure, s.latency_ratio_to_native) {
                    (Some(f), _) => format!("failed: {f}"),
                    (None, Some(r)) => format!("{r:.3}×"),
                    (None, None) => DASH.into(),
                },
            ]
        })
        .collect()
}
