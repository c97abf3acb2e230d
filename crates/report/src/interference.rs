//! The interference tables and chart (`isobench interference`): per
//! environment and neighbour load, one row per level K of neighbours with
//! the victim's p50 and p99 and the slowdown against K = 0 with its
//! verdict; the same cells in the terminal, report.md and report.html, and
//! in report.html the victim's p99 against K per environment, with
//! intervals. Definitions: [`isobench_results::interference::DEFINITIONS`].

use isobench_results::interference::DEFINITIONS;
use isobench_results::InterferenceResult;
use isobench_stats::Decision;
use plotters::prelude::*;

use crate::charts::{chart_err, colour, draw_legend, render_sized, Chart, FG, GRID, WIDTH};
use crate::format::{tick, DASH};
use crate::text_table::{wrap, Align, TextTable, TERMINAL_COLUMNS};
use crate::verdict::Verdict;
use crate::ReportError;

/// Column headers: environment, load, K, trials measured, the victim's
/// mean p50 and p99 (ms), the p99 slowdown against K = 0 with its interval
/// and verdict, the p50 slowdown, the neighbours' CPU (cores).
pub const HEADERS: [&str; 10] = [
    "env",
    "load",
    "K",
    "n",
    "p50 ms",
    "p99 ms",
    "p99 ×K0",
    "verdict",
    "p50 ×K0",
    "noise cores",
];

/// Milliseconds from microseconds, 3 significant digits.
fn ms(us: f64) -> String {
    let v = us / 1e3;
    if !v.is_finite() {
        return DASH.into();
    }
    let decimals = match v.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        _ => 2,
    };
    format!("{v:.decimals$}")
}

/// A ratio in at most 7 characters: `1.85`, `236`, `1.8e19`.
fn ratio_text(x: f64) -> String {
    if !x.is_finite() {
        DASH.into()
    } else if x < 100.0 {
        format!("{x:.2}")
    } else if x < 1e4 {
        format!("{x:.0}")
    } else {
        format!("{x:.1e}")
    }
}

/// `1.85× [1.20, 2.86]` (the interval the verdict used), or the ratio alone.
fn slowdown(d: &Decision, with_interval: bool) -> String {
    match d.interval {
        Some(i) if with_interval => format!(
            "{}× [{}, {}]",
            ratio_text(d.ratio),
            ratio_text(i.low),
            ratio_text(i.high)
        ),
        _ => format!("{}×", ratio_text(d.ratio)),
    }
}

/// The environment's name, `(TCG)` when emulated.
fn env_name(r: &InterferenceResult) -> String {
    if r.emulated {
        format!("{} (TCG)", r.env)
    } else {
        r.env.clone()
    }
}

fn load_name(r: &InterferenceResult) -> &'static str {
    r.load.map_or("?", |l| l.name())
}

/// The rows of [`HEADERS`], one per level of every result, each with the
/// line under it: for the last level of a result, its refusals, failures
/// or why it is absent.
pub fn rows(results: &[InterferenceResult]) -> Vec<(Vec<String>, Option<String>)> {
    let mut rows = Vec::new();
    for r in results {
        let mut notes: Vec<String> = Vec::new();
        if let Some(absent) = &r.absent {
            notes.push(absent.clone());
        }
        if !r.refusals.is_empty() {
            notes.push(format!(
                "{} refused neighbour(s), first: {}",
                r.refusals.len(),
                r.refusals[0]
            ));
        }
        if !r.failures.is_empty() {
            notes.push(format!(
                "{} failure(s), first: {}",
                r.failures.len(),
                r.failures[0]
            ));
        }
        let note = (!notes.is_empty())
            .then(|| format!("{} {}: {}", r.env, load_name(r), notes.join("; ")));
        if r.levels.is_empty() {
            let mut cells = vec![env_name(r), load_name(r).into(), DASH.into()];
            cells.resize(HEADERS.len(), String::new());
            rows.push((cells, note));
            continue;
        }
        let last = r.levels.len() - 1;
        for (i, level) in r.levels.iter().enumerate() {
            let cells = vec![
                env_name(r),
                load_name(r).into(),
                level.neighbours.to_string(),
                level.p99_us.as_ref().map_or(0, |s| s.n).to_string(),
                level
                    .p50_us
                    .as_ref()
                    .map_or_else(|| DASH.into(), |s| ms(s.mean)),
                level
                    .p99_us
                    .as_ref()
                    .map_or_else(|| DASH.into(), |s| ms(s.mean)),
                match (&level.p99_slowdown, level.neighbours) {
                    (_, 0) => "1 (ref)".into(),
                    (Some(d), _) => slowdown(d, true),
                    (None, _) => DASH.into(),
                },
                match (&level.p99_slowdown, level.neighbours) {
                    (_, 0) => String::new(),
                    (Some(d), _) => d.outcome.as_str().into(),
                    (None, _) => "too few trials".into(),
                },
                match (&level.p50_slowdown, level.neighbours) {
                    (_, 0) => "1 (ref)".into(),
                    (Some(d), _) => slowdown(d, false),
                    (None, _) => DASH.into(),
                },
                level
                    .neighbour_cores
                    .map_or_else(|| DASH.into(), |c| format!("{c:.2}")),
            ];
            rows.push((cells, if i == last { note.clone() } else { None }));
        }
    }
    rows
}

/// What each result measured, one line each: the victim, its rate, the
/// levels' length, the trials, the neighbours' load and limits, the host's drift.
pub fn setup_lines(results: &[InterferenceResult]) -> Vec<String> {
    results
        .iter()
        .filter(|r| r.absent.is_none())
        .map(|r| {
            let qps = match (r.target_qps, r.qps_estimated) {
                (Some(q), true) => format!(
                    "{q:.1} QPS (chosen from its capacity, {} QPS, measured in the first trial)",
                    r.capacity_qps.map_or_else(|| DASH.into(), |c| format!("{c:.1}"))
                ),
                (Some(q), false) => format!("{q:.1} QPS (--qps)"),
                (None, _) => "no rate (no trial ran)".into(),
            };
            let mut limits = Vec::new();
            if let Some(v) = r.vcpus {
                limits.push(format!("{v} vCPU"));
            }
            if let Some(m) = r.memory_mib {
                limits.push(format!("{m} MiB"));
            }
            let limits = if limits.is_empty() {
                "no CPU or memory limit".to_string()
            } else {
                format!("each instance limited to {}", limits.join(", "))
            };
            let streamer = r
                .noise_mib
                .map_or_else(String::new, |m| format!(", 3 × {m} MiB buffers"));
            format!(
                "{}: a {} victim over {} at {qps}, {} s per level, {} of {} trial(s); neighbours: {}{streamer}; {limits}; host drift {}",
                env_name(r),
                r.workload,
                r.transport,
                tick(r.duration_seconds),
                r.probes.len(),
                r.trials,
                load_name(r),
                r.host_drift
                    .map_or_else(|| DASH.into(), |d| format!("{:.1}%", d * 100.0))
            )
        })
        .collect()
}

/// The verdicts on the slowdown against K = 0, one line each:
/// `oci-runc cpu K=2 vs K=0: p99 1.85× [1.20, 2.86] slower; p50 1.10× same (could have detected ±4%)`.
pub fn verdict_lines(results: &[InterferenceResult]) -> Vec<String> {
    let mut lines = Vec::new();
    for r in results {
        for level in r.levels.iter().filter(|l| l.neighbours > 0) {
            // An inconclusive label carries the interval itself.
            let part = |name: &str, d: &Option<Decision>| match d {
                Some(d) => format!(
                    "{name} {} {}",
                    slowdown(d, d.outcome != isobench_stats::Outcome::Inconclusive),
                    Verdict::Decided(d).label()
                ),
                None => format!("{name}: fewer than 2 trials at both levels, no verdict"),
            };
            lines.push(format!(
                "{} {} K={} vs K=0: {}; {}",
                env_name(r),
                load_name(r),
                level.neighbours,
                part("p99", &level.p99_slowdown),
                part("p50", &level.p50_slowdown)
            ));
        }
    }
    lines
}

/// The heading of [`verdict_lines`]: what they compare and how.
pub const VERDICTS_HEADING: &str =
    "verdicts on the victim's slowdown against K = 0 (by trial, one look, threshold ±5%, α 0.01):";

/// The definitions under an interference table: the figures, then the loads shown.
pub fn definitions(results: &[InterferenceResult]) -> Vec<(String, String)> {
    let mut terms: Vec<(String, String)> = DEFINITIONS
        .iter()
        .map(|(t, d)| (t.to_string(), d.to_string()))
        .collect();
    let mut loads: Vec<_> = results.iter().filter_map(|r| r.load).collect();
    loads.dedup();
    for load in loads {
        terms.push((format!("load {}", load.name()), load.definition().into()));
    }
    terms
}

/// The interference table for the terminal (100 columns): what each result
/// measured, the rows of [`rows`] with the notes under them, the verdicts.
pub fn interference_table(results: &[InterferenceResult]) -> String {
    let mut out = String::new();
    for line in setup_lines(results) {
        for part in wrap(&line, TERMINAL_COLUMNS, "", "    ") {
            out.push_str(&part);
            out.push('\n');
        }
    }
    let mut table = TextTable::new(HEADERS.iter().enumerate().map(|(i, h)| {
        (
            *h,
            if i < 2 || i == 7 {
                Align::Left
            } else {
                Align::Right
            },
        )
    }));
    for (cells, under) in rows(results) {
        table.row(cells);
        if let Some(under) = under {
            table.under(first_chars(&under, 96));
        }
    }
    out.push_str(&table.render());
    let verdicts = verdict_lines(results);
    if !verdicts.is_empty() {
        out.push_str(&format!("\n{VERDICTS_HEADING}\n"));
        for line in verdicts {
            for part in wrap(&line, TERMINAL_COLUMNS, "  ", "      ") {
                out.push_str(&part);
                out.push('\n');
            }
        }
    }
    out
}

/// One point of the chart: K, the mean p99 (ms) and its interval's ends (ms).
type Point = (f64, f64, f64, f64);

/// report.html's chart: the victim's p99 against the number of neighbours,
/// one line per environment and load, each point the mean over the trials
/// with its bootstrap 95% interval; `None` when no level was measured.
pub fn p99_chart(results: &[InterferenceResult]) -> Result<Option<Chart>, ReportError> {
    let id = "interference-p99";
    let series: Vec<(String, Vec<Point>)> = results
        .iter()
        .map(|r| {
            let points = r
                .levels
                .iter()
                .filter_map(|l| {
                    let s = l.p99_us.as_ref()?;
                    Some((
                        f64::from(l.neighbours),
                        s.mean / 1e3,
                        s.mean_ci.low / 1e3,
                        s.mean_ci.high / 1e3,
                    ))
                })
                .collect::<Vec<_>>();
            (format!("{} ({})", env_name(r), load_name(r)), points)
        })
        .filter(|(_, points)| !points.is_empty())
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let k_max = results
        .iter()
        .map(|r| r.max_neighbours)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let y_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.3.max(q.1)))
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.1;
    let svg = render_sized(id, (WIDTH, 420), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(-0.2..k_max + 0.2, 0.0..y_max)
            .map_err(|e| chart_err(id, e))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(k_max as usize + 1)
            .x_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-6 && *v >= 0.0 {
                    format!("{}", v.round() as u32)
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| tick(*v))
            .x_desc("neighbours K")
            .y_desc("victim p99 latency (ms)")
            .axis_style(FG)
            .bold_line_style(GRID.mix(0.35))
            .light_line_style(TRANSPARENT)
            .label_style(("sans-serif", 14).into_font().color(&FG))
            .axis_desc_style(("sans-serif", 15).into_font().color(&FG))
            .draw()
            .map_err(|e| chart_err(id, e))?;
        for (i, (name, points)) in series.iter().enumerate() {
            let c = colour(i);
            let style = ShapeStyle::from(&c).stroke_width(2);
            chart
                .draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), style))
                .map_err(|e| chart_err(id, e))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(
                        vec![(x, y), (x + 18, y)],
                        ShapeStyle::from(&c).stroke_width(3),
                    )
                });
            chart
                .draw_series(points.iter().map(|p| {
                    ErrorBar::new_vertical(p.0, p.2, p.1, p.3, ShapeStyle::from(&c).filled(), 8)
                }))
                .map_err(|e| chart_err(id, e))?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, id)?;
        Ok(())
    })?;
    Ok(Some(Chart {
        id: id.into(),
        title: "Victim p99 latency against neighbours".into(),
        caption: "The victim's 99th-percentile request latency at each number of neighbours K, one line per environment and neighbour load: mean over the trials, bars its bootstrap 95% interval.".into(),
        svg,
    }))
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
    use isobench_results::{
        Calibration, LatencySummary, LevelSample, NeighbourLoad, RequestCounts, TrialProbe,
    };

    fn result(env: &str, factor: f64) -> InterferenceResult {
        let mut r = InterferenceResult {
            env: env.into(),
            workload: "knn".into(),
            load: Some(NeighbourLoad::Cpu),
            max_neighbours: 2,
            transport: "stdio".into(),
            target_qps: Some(50.0),
            qps_estimated: true,
            duration_seconds: 2.0,
            trials: 3,
            ..InterferenceResult::default()
        };
        for trial in 1..=3u32 {
            for k in 0..=2u32 {
                let slow = 1.0 + factor * k as f64 + 0.01 * trial as f64;
                r.samples.push(LevelSample {
                    trial,
                    neighbours: k,
                    position: k + 1,
                    latency: LatencySummary {
                        count: 100,
                        p50_us: 2000.0 * slow,
                        p99_us: 5000.0 * slow,
                        ..LatencySummary::default()
                    },
                    achieved_qps: 50.0,
                    counts: RequestCounts {
                        sent: 100,
                        answered: 100,
                        ..RequestCounts::default()
                    },
                    neighbour_cores: Some(k as f64),
                });
            }
            r.probes.push(TrialProbe {
                trial,
                calibration: Calibration {
                    before: 0.01,
                    after: 0.01,
                },
                warmup_p50_us: 1900.0,
            });
        }
        r.summarize(1, &isobench_stats::DecisionOptions::default());
        r
    }

    #[test]
    fn the_table_shows_every_level_the_slowdown_and_the_verdict() {
        let refused = InterferenceResult {
            refusals: vec!["trial 1, K=2: neighbour 2: launch: no memory".into()],
            ..result("gvisor", 0.0)
        };
        let table = interference_table(&[result("oci-runc", 1.0), refused]);
        let k2 = table
            .lines()
            .find(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                cells.len() > 2 && cells[0] == "oci-runc" && cells[2] == "2"
            })
            .unwrap_or_else(|| panic!("{table}"));
        assert!(k2.contains("slower"), "{table}");
        assert!(table.contains("1 (ref)"), "{table}");
        assert!(table.contains("neighbour 2: launch: no memory"), "{table}");
        assert!(table.contains("oci-runc cpu K=2 vs K=0: p99 "), "{table}");
        assert!(table.contains("chosen from its capacity"), "{table}");
        assert!(table.lines().all(|l| l.chars().count() <= 100), "{table}");
    }

    #[test]
    fn ratios_stay_short_whatever_their_size() {
        assert_eq!(ratio_text(1.8549), "1.85");
        assert_eq!(ratio_text(236.4), "236");
        assert_eq!(ratio_text(1.8388e19), "1.8e19");
        assert_eq!(ratio_text(0.0004), "0.00");
    }

    #[test]
    fn the_chart_draws_one_line_per_result_with_intervals() {
        let chart = p99_chart(&[result("oci-runc", 1.0), result("gvisor", 0.5)])
            .unwrap()
            .unwrap();
        assert_eq!(chart.id, "interference-p99");
        assert!(chart.svg.contains("oci-runc (cpu)") && chart.svg.contains("gvisor (cpu)"));
        assert!(chart.svg.contains("neighbours K"));
        assert!(p99_chart(&[]).unwrap().is_none());
    }
}
