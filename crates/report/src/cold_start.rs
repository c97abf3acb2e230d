//! The cold-start tables (`isobench cold-start`): one row per environment
//! and start type, the mean time to the first inference's answer and the
//! mean of every phase, next to the warm reference; the same cells in the
//! terminal, report.md and report.html, and the phases as a waterfall
//! (stacked bars) in report.html.

use isobench_results::{ColdStartResult, Phase, StartType};
use isobench_stats::Decision;

use crate::verdict::Verdict;

use crate::format::{esc, DASH};
use crate::text_table::{Align, TextTable};

/// The phases a table has columns for: those some result has.
fn phases_in(results: &[ColdStartResult]) -> Vec<Phase> {
    Phase::ALL
        .into_iter()
        .filter(|&phase| {
            results
                .iter()
                .any(|r| r.phase_means.iter().any(|p| p.phase == phase))
        })
        .collect()
}

/// Short column header of a phase.
fn phase_header(phase: Phase) -> &'static str {
    match phase {
        Phase::Runtime => "runtime",
        Phase::Boot => "boot",
        Phase::AgentInit => "init",
        Phase::ModelLoad => "load",
        Phase::Restore => "restore",
        Phase::FirstInference => "infer",
    }
}

/// Milliseconds from seconds, 3 significant digits (whole ms from 100 ms on).
fn ms(seconds: f64) -> String {
    let v = seconds * 1e3;
    if !v.is_finite() {
        return DASH.into();
    }
    let decimals = match v.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    };
    format!("{v:.decimals$}")
}

/// Column headers (all times in ms): environment, start type, successful
/// starts, time to first inference (mean ± sd), each phase's mean, the
/// warm reference, first answer / warm (`×warm`).
pub fn headers(results: &[ColdStartResult]) -> Vec<String> {
    let mut headers = vec![
        "env".to_string(),
        "from".into(),
        "n".into(),
        "first ms".into(),
    ];
    headers.extend(
        phases_in(results)
            .into_iter()
            .map(|p| phase_header(p).into()),
    );
    headers.push("warm".into());
    headers.push("×warm".into());
    headers
}

/// The cells of each result's row, with the line under it (failures, or
/// why the start type is absent), in the order of [`headers`].
pub fn rows(results: &[ColdStartResult]) -> Vec<(Vec<String>, Option<String>)> {
    let phases = phases_in(results);
    let width = headers(results).len();
    results
        .iter()
        .map(|r| {
            let env = if r.emulated {
                format!("{} (TCG)", r.env)
            } else {
                r.env.clone()
            };
            let start = r.start.map_or("?", |s| s.name()).to_string();
            let mut cells = vec![
                env,
                start,
                format!(
                    "{}{}",
                    r.samples.len(),
                    if r.failures.is_empty() {
                        String::new()
                    } else {
                        format!(" ({} failed)", r.failures.len())
                    }
                ),
            ];
            let Some(total) = &r.time_to_first_inference else {
                cells.push(DASH.into());
                // Empty cells to the table's width (Markdown needs every cell).
                cells.resize(width, String::new());
                let under = r
                    .absent
                    .clone()
                    .or_else(|| r.failures.first().cloned())
                    .map(|why| format!("{} {}: {why}", r.env, r.start.map_or("?", |s| s.name())));
                return (cells, under);
            };
            cells.push(format!("{} ± {}", ms(total.mean), ms(total.std)));
            for &phase in &phases {
                cells.push(
                    r.phase_means
                        .iter()
                        .find(|p| p.phase == phase)
                        .map_or_else(|| DASH.to_string(), |p| ms(p.seconds)),
                );
            }
            cells.push(r.warm.as_ref().map_or_else(|| DASH.into(), |w| ms(w.mean)));
            cells.push(
                r.warm
                    .as_ref()
                    .filter(|w| w.mean > 0.0)
                    .map_or_else(|| DASH.into(), |w| format!("{:.0}×", total.mean / w.mean)),
            );
            let snapshot = r.snapshot_bytes.map(|bytes| {
                format!(
                    "{} snapshot: {:.2} MiB on disk, taken in {} ms{}",
                    r.env,
                    bytes as f64 / (1024.0 * 1024.0),
                    r.snapshot_create_seconds.map_or_else(|| DASH.into(), ms),
                    r.kept_snapshot
                        .as_ref()
                        .map(|dir| format!(", kept in {dir}"))
                        .unwrap_or_default()
                )
            });
            let failed = r
                .failures
                .first()
                .map(|f| format!("{} failed start(s), first: {f}", r.failures.len()));
            let under = match (snapshot, failed) {
                (Some(s), Some(f)) => Some(format!("{s}; {f}")),
                (s, f) => s.or(f),
            };
            (cells, under)
        })
        .collect()
}

/// Headers of the resources table: what an instance held and the page
/// faults its first request cost (see [`resource_rows`]).
pub const RESOURCE_HEADERS: [&str; 5] = ["env", "from", "host MiB", "minor faults", "major faults"];

/// One row per environment and start type that has resource figures: the
/// mean host memory once the first answer was read, and the mean page
/// faults over the first request.
pub fn resource_rows(results: &[ColdStartResult]) -> Vec<Vec<String>> {
    results
        .iter()
        .filter(|r| r.host_memory.is_some() || r.first_request_faults.is_some())
        .map(|r| {
            vec![
                if r.emulated {
                    format!("{} (TCG)", r.env)
                } else {
                    r.env.clone()
                },
                r.start.map_or("?", StartType::name).to_string(),
                r.host_memory.as_ref().map_or_else(
                    || DASH.into(),
                    |m| format!("{:.1}", m.mean / (1024.0 * 1024.0)),
                ),
                r.first_request_faults
                    .map_or_else(|| DASH.into(), |f| format!("{:.0}", f.minor)),
                r.first_request_faults
                    .map_or_else(|| DASH.into(), |f| format!("{:.0}", f.major)),
            ]
        })
        .collect()
}

/// The definitions under the resources table.
pub fn resource_definitions() -> Vec<(String, String)> {
    vec![
        (
            "host MiB".into(),
            "the instance's host memory once its first answer was read, mean over the starts: the cgroup's memory.usage_in_bytes (containers, gVisor: page cache it caused included) or the summed RSS of its process trees (native, VMs)".into(),
        ),
        (
            "minor / major faults".into(),
            "page faults the instance's host processes took while it answered its first request (from `ready` read, or the restore call returned, to the answer read), mean over the starts: minor ones were served from memory (page cache, zero pages, copy-on-write), major ones needed I/O; a restored instance pays here for the memory it pages in".into(),
        ),
    ]
}

/// The host-speed line of a cold-start experiment (the probe before and
/// after every start).
pub fn host_speed_line(speed: &isobench_results::HostSpeed) -> String {
    format!(
        "host speed over the starts: the probe took {:.1}–{:.1} ms (median {:.1} ms), a drift of {:.0}%{}",
        speed.min_seconds * 1e3,
        speed.max_seconds * 1e3,
        speed.median_seconds * 1e3,
        speed.drift * 100.0,
        match speed.affected.len() {
            0 => String::new(),
            n => format!(
                "; {n} start(s) ran more than {:.0}% off the median speed",
                crate::compare::HOST_DRIFT_THRESHOLD * 100.0
            ),
        }
    )
}

/// The verdicts on time to first inference, one line each:
/// `gvisor boot vs native boot: 1.71× [1.52, 1.93] slower`, then every
/// snapshot start against its own boot. Empty when nothing was compared.
pub fn verdict_lines(results: &[ColdStartResult]) -> Vec<String> {
    // The baseline: the boot starts that were not compared with anything.
    let baseline = results
        .iter()
        .find(|r| {
            r.start == Some(StartType::Boot) && r.versus_baseline.is_none() && r.samples.len() >= 2
        })
        .map(|r| r.env.as_str());
    let line = |r: &ColdStartResult, against: String, d: &Decision| {
        let interval = d
            .interval
            .map(|i| format!(" [{:.2}, {:.2}]", i.low, i.high))
            .unwrap_or_default();
        format!(
            "{} {} vs {against}: {:.2}×{interval} {}",
            r.env,
            r.start.map_or("?", StartType::name),
            d.ratio,
            Verdict::Decided(d).label()
        )
    };
    let mut lines = Vec::new();
    for r in results {
        if let (Some(d), Some(base)) = (&r.versus_baseline, baseline) {
            lines.push(line(r, format!("{base} boot"), d));
        }
        if let Some(d) = &r.versus_boot {
            lines.push(line(r, format!("{} boot", r.env), d));
        }
    }
    lines
}

/// The heading of [`verdict_lines`]: what they compare and how.
pub const VERDICTS_HEADING: &str =
    "verdicts on time to first inference (paired by round, one look, threshold ±5%, α 0.01):";

/// The cold-start table for the terminal (100 columns for the usual
/// phases): what [`rows`] says, failures and absent start types on a line
/// under their row.
pub fn cold_start_table(results: &[ColdStartResult]) -> String {
    let headers = headers(results);
    let mut table = TextTable::new(
        headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), if i < 2 { Align::Left } else { Align::Right })),
    );
    for (cells, under) in rows(results) {
        table.row(cells);
        if let Some(under) = under {
            table.under(first_chars(&under, 96));
        }
    }
    let mut out = table.render();
    let resources = resource_rows(results);
    if !resources.is_empty() {
        let mut table = TextTable::new(RESOURCE_HEADERS.iter().enumerate().map(|(i, h)| {
            (
                h.to_string(),
                if i < 2 { Align::Left } else { Align::Right },
            )
        }));
        for row in resources {
            table.row(row);
        }
        out.push('\n');
        out.push_str(&table.render());
    }
    let verdicts = verdict_lines(results);
    if !verdicts.is_empty() {
        out.push_str(&format!("\n{VERDICTS_HEADING}\n"));
        for line in verdicts {
            out.push_str(&format!("  {}\n", first_chars(&line, 98)));
        }
    }
    out
}

/// The definitions under a cold-start table: the total, every phase shown, the warm reference.
pub fn definitions(results: &[ColdStartResult]) -> Vec<(String, String)> {
    let mut terms = vec![(
        "first ms".to_string(),
        "time to first inference: the launch (or restore) request to the host reading the answer to the first request, mean ± sample standard deviation over the starts; the phases add up to it".to_string(),
    )];
    for phase in phases_in(results) {
        terms.push((phase_header(phase).into(), phase.definition().into()));
    }
    terms.push((
        "warm".into(),
        "a second request to the same agent right after the first answer: request sent → answer read, mean over the starts; ×warm is the first answer's mean divided by it".into(),
    ));
    terms
}

/// The waterfall: one stacked bar per environment and start type, a
/// segment per phase mean, on one time axis (SVG).
pub fn waterfall_svg(results: &[ColdStartResult]) -> String {
    const COLORS: [&str; 6] = [
        "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2",
    ];
    let shown: Vec<&ColdStartResult> = results
        .iter()
        .filter(|r| !r.phase_means.is_empty())
        .collect();
    if shown.is_empty() {
        return String::new();
    }
    let longest = shown
        .iter()
        .map(|r| r.phase_means.iter().map(|p| p.seconds).sum::<f64>())
        .fold(0.0_f64, f64::max)
        .max(1e-6);
    let (label_w, bar_w, row_h) = (190.0, 560.0, 22.0);
    let height = row_h * (shown.len() as f64 + 2.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"cold-start-waterfall\" width=\"{}\" height=\"{height}\" font-size=\"12\">\n",
        label_w + bar_w + 90.0
    );
    for (i, r) in shown.iter().enumerate() {
        let y = row_h * i as f64 + 4.0;
        let label = format!(
            "{}{} {}",
            r.env,
            if r.emulated { " (TCG)" } else { "" },
            r.start.map_or("?", |s| s.name())
        );
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\">{}</text>\n",
            y + 14.0,
            esc(&label)
        ));
        let mut x = label_w;
        for p in &r.phase_means {
            let w = p.seconds / longest * bar_w;
            let color = COLORS[Phase::ALL.iter().position(|&q| q == p.phase).unwrap_or(0)];
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{color}\"><title>{}: {} ms</title></rect>\n",
                row_h - 6.0,
                phase_header(p.phase),
                ms(p.seconds)
            ));
            x += w;
        }
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\">{} ms</text>\n",
            x + 4.0,
            y + 14.0,
            ms(r.phase_means.iter().map(|p| p.seconds).sum())
        ));
    }
    let mut x = 0.0;
    let legend_y = row_h * shown.len() as f64 + 20.0;
    for (i, phase) in Phase::ALL.iter().enumerate() {
        svg.push_str(&format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{legend_y}\">{}</text>\n",
            legend_y - 9.0,
            COLORS[i],
            x + 14.0,
            phase_header(*phase)
        ));
        x += 110.0;
    }
    svg.push_str("</svg>\n");
    svg
}

/// At most `n` characters of `text`, `…` when cut.
fn first_chars(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isobench_results::{ColdStartSample, PhaseTime, StartType};

    fn result(env: &str, totals: &[f64]) -> ColdStartResult {
        let mut r = ColdStartResult {
            env: env.into(),
            start: Some(StartType::Boot),
            samples: totals
                .iter()
                .enumerate()
                .map(|(i, &t)| ColdStartSample {
                    round: i as u32 + 1,
                    phases: vec![
                        PhaseTime {
                            phase: Phase::Runtime,
                            seconds: t / 2.0,
                        },
                        PhaseTime {
                            phase: Phase::FirstInference,
                            seconds: t / 2.0,
                        },
                    ],
                    time_to_first_inference_seconds: t,
                    warm_seconds: Some(0.002),
                    digest: None,
                    calibration: None,
                    host_memory_bytes: Some(3 << 20),
                    first_request_faults: Some(isobench_results::PageFaults {
                        minor: 100,
                        major: 2,
                    }),
                })
                .collect(),
            ..ColdStartResult::default()
        };
        r.summarize(1);
        r
    }

    #[test]
    fn the_table_shows_means_in_ms_and_why_a_start_type_is_absent() {
        let absent = ColdStartResult {
            env: "native".into(),
            start: Some(StartType::Snapshot),
            absent: Some("native has no snapshot".into()),
            ..ColdStartResult::default()
        };
        let table = cold_start_table(&[result("native", &[0.1, 0.3]), absent]);
        let row = table
            .lines()
            .find(|l| l.starts_with("native  boot"))
            .unwrap();
        assert!(row.contains("200 ± 141"), "{table}");
        assert!(row.contains("100"), "{table}");
        assert!(row.contains("2.00") && row.contains("100×"), "{table}");
        assert!(
            table.contains("native snapshot: native has no snapshot"),
            "{table}"
        );
        let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
        assert!(!header.contains(&"boot"), "no boot phase column: {table}");
        assert!(header.contains(&"runtime"), "{table}");
        assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
        let resources = table
            .lines()
            .filter(|l| l.starts_with("native  boot"))
            .nth(1)
            .unwrap_or_else(|| panic!("no resources row: {table}"));
        let cells: Vec<&str> = resources.split_whitespace().collect();
        assert_eq!(cells[2..], ["3.0", "100", "2"], "{table}");
    }

    #[test]
    fn the_waterfall_draws_one_segment_per_phase_mean() {
        let svg = waterfall_svg(&[result("docker", &[0.4])]);
        assert_eq!(svg.matches("<title>").count(), 2, "{svg}");
        assert!(svg.contains("runtime: 200 ms"), "{svg}");
        assert!(waterfall_svg(&[]).is_empty());
    }
}
