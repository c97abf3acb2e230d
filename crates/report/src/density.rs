//! The density report (`isobench density`): per environment, the most
//! instances that meet the latency bound and the memory each costs at that
//! count, then one row per environment and instance count k; the same cells
//! in the terminal, report.md and report.html, and two charts in
//! report.html (p99 against k with the bound drawn; PSS per instance
//! against k). The definitions are the results crate's
//! ([`isobench_results::density::DEFINITIONS`]).

use isobench_results::{DensityEnvironment, DensityResults, DensityStep};
use plotters::prelude::*;

use crate::charts::{chart_err, colour, draw_legend, render_sized, Chart, FG, GRID, HEIGHT, WIDTH};
use crate::format::{esc, tick, DASH};
use crate::text_table::{wrap, Align, TextTable, TERMINAL_COLUMNS};
use crate::ReportError;

/// `12.3` (3 significant digits).
fn sig(v: f64) -> String {
    if !v.is_finite() {
        return DASH.into();
    }
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        a if a >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

fn name(env: &DensityEnvironment) -> String {
    if env.emulated {
        format!("{} (TCG)", env.env)
    } else {
        env.env.clone()
    }
}

/// The table's column headers.
pub fn headers() -> Vec<String> {
    [
        "env",
        "k",
        "p50 ms",
        "p99 ms",
        "worst p99",
        "errors",
        "CPU %",
        "host %",
        "PSS MiB",
        "cgroup MiB",
        "bound",
    ]
    .iter()
    .map(|h| h.to_string())
    .collect()
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = values.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The cells of one step (one k of one environment), in [`headers`] order;
/// several trials show their mean and, for p99 and PSS, `[lowest, highest]`.
fn step_cells(env: &DensityEnvironment, step: &DensityStep, pss_range: bool) -> Vec<String> {
    let measured: Vec<_> = step.trials.iter().filter(|t| t.latency.count > 0).collect();
    let several = step.trials.len() > 1;
    let p50 = mean(measured.iter().map(|t| t.latency.p50_us / 1e3));
    // Fewer than 100 requests: the p99 is the maximum or next to it.
    let star = if measured.iter().any(|t| t.latency.count < 100) {
        "*"
    } else {
        ""
    };
    let p99 = match (step.p99_ms, step.p99_range_ms) {
        (Some(m), Some((lo, hi))) if several => {
            format!("{}{star} [{}, {}]", sig(m), sig(lo), sig(hi))
        }
        (Some(m), _) => format!("{}{star}", sig(m)),
        _ => DASH.into(),
    };
    let worst = mean(measured.iter().map(|t| {
        t.per_instance
            .iter()
            .map(|i| i.p99_us / 1e3)
            .fold(0.0, f64::max)
    }));
    let errors: u64 = step
        .trials
        .iter()
        .map(|t| t.counts.errors + t.counts.lost)
        .sum();
    let cpu = mean(
        measured
            .iter()
            .filter(|t| t.load_seconds > 0.0)
            .filter_map(|t| t.cpu_seconds.map(|c| 100.0 * c / t.load_seconds)),
    );
    let host = mean(measured.iter().filter_map(|t| t.host_cpu_percent));
    let pss = match (step.pss_mean_bytes, step.pss_range_bytes) {
        (Some(m), Some((lo, hi))) if several && pss_range => {
            format!("{} [{}, {}]", mib(m), mib(lo), mib(hi))
        }
        (Some(m), _) => mib(m),
        _ => DASH.into(),
    };
    let failed = step.trials.iter().any(|t| t.failure.is_some());
    vec![
        name(env),
        step.instances.to_string(),
        p50.map_or_else(|| DASH.into(), sig),
        p99,
        worst.map_or_else(|| DASH.into(), sig),
        errors.to_string(),
        cpu.map_or_else(|| DASH.into(), |c| format!("{c:.0}")),
        host.map_or_else(|| DASH.into(), |c| format!("{c:.0}")),
        pss,
        step.cgroup_usage_mean_bytes
            .map_or_else(|| DASH.into(), mib),
        if step.met {
            "met".into()
        } else if failed {
            "failed".into()
        } else {
            "missed".into()
        },
    ]
}

/// One row per environment and k, in [`headers`] order; several trials
/// show the range across them for p99 and PSS.
pub fn rows(results: &DensityResults) -> Vec<Vec<String>> {
    rows_with(results, true)
}

/// [`rows`], with or without the PSS range (the terminal leaves it out to
/// fit 100 columns).
fn rows_with(results: &DensityResults, pss_range: bool) -> Vec<Vec<String>> {
    results
        .environments
        .iter()
        .flat_map(|env| {
            env.steps
                .iter()
                .map(move |step| step_cells(env, step, pss_range))
        })
        .collect()
}

/// One line per environment: its density, the memory per instance at that
/// count, and why the search ended.
pub fn summary_lines(results: &DensityResults) -> Vec<String> {
    let bound = sig(results.settings.latency_bound_ms);
    results
        .environments
        .iter()
        .map(|env| {
            let memory = match (env.pss_per_instance_bytes, env.cgroup_per_instance_bytes) {
                (Some(p), Some(c)) => format!(
                    ", {} MiB PSS ({} MiB cgroup charge) per instance",
                    mib(p),
                    mib(c)
                ),
                (Some(p), None) => format!(", {} MiB PSS per instance (no cgroup)", mib(p)),
                _ => String::new(),
            };
            format!(
                "{}: {} instance(s) within p99 {bound} ms{memory}; limit: {}",
                name(env),
                env.max_instances,
                env.limit_reason
            )
        })
        .collect()
}

/// What the experiment was, in one line.
pub fn settings_line(results: &DensityResults) -> String {
    let s = &results.settings;
    let load = match s.qps_per_instance {
        Some(q) => format!("Poisson arrivals at {} QPS per instance", sig(q)),
        None => "a closed loop per instance (next request when the answer arrives)".into(),
    };
    let speed = results
        .host_speed
        .as_ref()
        .map(|h| {
            format!(
                "; host-speed probe median {} ms, drift {:.0}%",
                sig(h.median_seconds * 1e3),
                h.drift * 100.0
            )
        })
        .unwrap_or_default();
    format!(
        "bound p99 ≤ {} ms; up to {} instances; {} s of {load}; {} trial(s) per k; search: {}{speed}",
        sig(s.latency_bound_ms),
        s.max_instances,
        sig(s.duration_seconds),
        s.trials,
        s.search
    )
}

/// Relative drift of the host-speed probe above which the reports warn
/// (the harness's threshold for runs).
const DRIFT_WARNING: f64 = 0.05;

/// Lines under the table: what a starred p99 is, and a warning when the
/// host's speed drifted during the experiment.
pub fn notes(results: &DensityResults) -> Vec<String> {
    let mut notes = Vec::new();
    let few = results.environments.iter().any(|e| {
        e.steps
            .iter()
            .flat_map(|s| &s.trials)
            .any(|t| t.latency.count > 0 && t.latency.count < 100)
    });
    if few {
        notes.push(
            "p99*: fewer than 100 requests in the step: the p99 is the slowest request or next to it"
                .into(),
        );
    }
    if let Some(h) = results
        .host_speed
        .as_ref()
        .filter(|h| h.drift > DRIFT_WARNING)
    {
        notes.push(format!(
            "warning: the host's speed drifted {:.0}% between steps (probe {} to {} ms): other load on the host; steps far apart in time are not comparable as such",
            h.drift * 100.0,
            sig(h.min_seconds * 1e3),
            sig(h.max_seconds * 1e3)
        ));
    }
    notes
}

/// The terminal output: the summary per environment, then the table.
pub fn density_table(results: &DensityResults) -> String {
    let mut out = String::new();
    for line in summary_lines(results) {
        for part in wrap(&line, TERMINAL_COLUMNS, "", "  ") {
            out.push_str(&part);
            out.push('\n');
        }
    }
    let headers = headers();
    let mut table = TextTable::new(
        headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.clone(), if i == 0 { Align::Left } else { Align::Right })),
    );
    for row in rows_with(results, false) {
        table.row(row);
    }
    if results.environments.iter().any(|e| !e.steps.is_empty()) {
        out.push('\n');
        out.push_str(&table.render());
    }
    for note in notes(results) {
        for part in wrap(&note, TERMINAL_COLUMNS, "", "  ") {
            out.push_str(&part);
            out.push('\n');
        }
    }
    out
}

/// The Markdown section.
pub fn markdown(results: &DensityResults) -> String {
    let mut out = format!(
        "\n**Density** (`isobench density`; {})\n\n",
        settings_line(results)
    );
    for line in summary_lines(results) {
        out.push_str(&format!("- {line}\n"));
    }
    out.push('\n');
    out.push_str(&crate::export::markdown::md_table(
        &headers(),
        &rows(results),
        "l",
    ));
    for note in notes(results) {
        out.push_str(&format!("\n{note}\n"));
    }
    out.push_str("\nDefinitions:\n\n");
    for (term, text) in isobench_results::density::DEFINITIONS {
        out.push_str(&format!("- **{term}**: {text}\n"));
    }
    out
}

/// The two charts: p99 against k with the bound, PSS per instance against k.
pub fn charts(results: &DensityResults) -> Result<Vec<Chart>, ReportError> {
    let bound = results.settings.latency_bound_ms;
    let p99 = curve_chart(
        results,
        "density-p99",
        "p99 latency (ms)",
        |s| s.p99_ms.map(|m| (m, s.p99_range_ms.unwrap_or((m, m)))),
        Some(bound),
    )?;
    let memory = curve_chart(
        results,
        "density-memory",
        "PSS per instance (MiB)",
        |s| {
            let m = |b: u64| b as f64 / (1024.0 * 1024.0);
            s.pss_mean_bytes.map(|p| {
                let (lo, hi) = s.pss_range_bytes.unwrap_or((p, p));
                (m(p), (m(lo), m(hi)))
            })
        },
        None,
    )?;
    let mut charts = Vec::new();
    if let Some(svg) = p99 {
        charts.push(Chart {
            id: "density-p99".into(),
            title: "p99 latency against instances alive at once".into(),
            caption: format!(
                "p99 of every request of all k instances of a step (mean over trials; bars: lowest and highest trial), per environment; the horizontal line is the bound ({} ms).",
                sig(bound)
            ),
            svg,
        });
    }
    if let Some(svg) = memory {
        charts.push(Chart {
            id: "density-memory".into(),
            title: "Host memory per instance against instances alive at once".into(),
            caption: "PSS of every host process an instance owns, mean over the instances of a step, read after the load while all k run (mean over trials; bars: lowest and highest trial). Pages the instances share are split between them.".into(),
            svg,
        });
    }
    Ok(charts)
}

/// (k, value, (low, high)) points of one environment.
type Curve = Vec<(f64, f64, (f64, f64))>;

fn curve_chart(
    results: &DensityResults,
    id: &str,
    y_desc: &str,
    value: impl Fn(&DensityStep) -> Option<(f64, (f64, f64))>,
    bound: Option<f64>,
) -> Result<Option<String>, ReportError> {
    let curves: Vec<(usize, String, Curve)> = results
        .environments
        .iter()
        .enumerate()
        .map(|(i, env)| {
            let pts = env
                .steps
                .iter()
                .filter_map(|s| value(s).map(|(v, r)| (f64::from(s.instances), v, r)))
                .collect();
            (i, name(env), pts)
        })
        .filter(|(_, _, pts): &(usize, String, Curve)| !pts.is_empty())
        .collect();
    if curves.is_empty() {
        return Ok(None);
    }
    let k_max = curves
        .iter()
        .flat_map(|c| c.2.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let y_max = curves
        .iter()
        .flat_map(|c| c.2.iter().map(|p| p.2 .1.max(p.1)))
        .chain(bound)
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.15;
    let svg = render_sized(id, (WIDTH, HEIGHT), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(0.5..k_max + 0.5, 0.0..y_max)
            .map_err(|e| chart_err(id, e))?;
        chart
            .configure_mesh()
            .x_desc("instances alive at once (k)")
            .y_desc(y_desc)
            .x_labels(k_max as usize + 1)
            .x_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-9 && *v >= 1.0 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| tick(*v))
            .axis_style(FG)
            .bold_line_style(GRID.mix(0.35))
            .light_line_style(TRANSPARENT)
            .label_style(("sans-serif", 14).into_font().color(&FG))
            .axis_desc_style(("sans-serif", 15).into_font().color(&FG))
            .draw()
            .map_err(|e| chart_err(id, e))?;
        if let Some(b) = bound {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.5, b), (k_max + 0.5, b)],
                    8,
                    5,
                    ShapeStyle::from(&FG).stroke_width(2),
                ))
                .map_err(|e| chart_err(id, e))?
                .label(format!("bound {} ms", sig(b)))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], ShapeStyle::from(&FG))
                });
        }
        for (ci, label, pts) in &curves {
            let c = colour(*ci);
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (p.0, p.1)),
                    ShapeStyle::from(&c).stroke_width(2),
                ))
                .map_err(|e| chart_err(id, e))?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(
                        vec![(x, y), (x + 18, y)],
                        ShapeStyle::from(&c).stroke_width(3),
                    )
                });
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p.0, p.1), 4, ShapeStyle::from(&c).filled())),
                )
                .map_err(|e| chart_err(id, e))?;
            chart
                .draw_series(
                    pts.iter()
                        .filter(|p| p.2 .1 > p.2 .0)
                        .map(|p| ErrorBar::new_vertical(p.0, p.2 .0, p.1, p.2 .1, c, 8)),
                )
                .map_err(|e| chart_err(id, e))?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, id)?;
        Ok(())
    })?;
    Ok(Some(svg))
}

/// The HTML section: the settings, the summary, the two charts, the table
/// and the definitions.
pub fn html(results: &DensityResults) -> Result<String, ReportError> {
    let mut h = String::from("<h2>Density</h2>\n");
    h.push_str(&format!(
        "<p>{} (<code>isobench density</code>)</p>\n<ul>\n",
        esc(&settings_line(results))
    ));
    for line in summary_lines(results) {
        h.push_str(&format!("<li>{}</li>\n", esc(&line)));
    }
    h.push_str("</ul>\n");
    for chart in charts(results)? {
        h.push_str(&crate::charts::figure_html(&chart));
    }
    h.push_str(&crate::export::html::html_table(
        "density",
        &headers(),
        &rows(results),
    ));
    for note in notes(results) {
        h.push_str(&format!("<p class=\"note\">{}</p>\n", esc(&note)));
    }
    h.push_str("<dl>\n");
    for (term, text) in isobench_results::density::DEFINITIONS {
        h.push_str(&format!("<dt>{}</dt><dd>{}</dd>\n", esc(term), esc(text)));
    }
    h.push_str("</dl>\n");
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use isobench_results::{
        DensitySettings, DensityTrial, InstanceLoad, LatencySummary, LimitKind,
    };

    fn trial(p99_ms: f64, pss_mib: u64, met: bool) -> DensityTrial {
        DensityTrial {
            trial: 1,
            turn: 1,
            started: 2,
            latency: LatencySummary {
                count: 50,
                p50_us: p99_ms * 500.0,
                p99_us: p99_ms * 1e3,
                ..LatencySummary::default()
            },
            per_instance: vec![InstanceLoad {
                p99_us: p99_ms * 1.1e3,
                ..InstanceLoad::default()
            }],
            load_seconds: 2.0,
            cpu_seconds: Some(1.0),
            pss_mean_bytes: Some(pss_mib << 20),
            met,
            ..DensityTrial::default()
        }
    }

    fn results() -> DensityResults {
        let mut steps = vec![
            DensityStep {
                instances: 1,
                trials: vec![trial(10.0, 20, true)],
                ..DensityStep::default()
            },
            DensityStep {
                instances: 2,
                trials: vec![trial(70.0, 15, false)],
                ..DensityStep::default()
            },
        ];
        for s in &mut steps {
            s.summarize();
        }
        DensityResults {
            settings: DensitySettings {
                latency_bound_ms: 50.0,
                max_instances: 4,
                qps_per_instance: None,
                duration_seconds: 2.0,
                trials: 1,
                search: "linear".into(),
                input: String::new(),
            },
            environments: vec![
                DensityEnvironment {
                    env: "native".into(),
                    workload: "knn".into(),
                    transport: "stdio".into(),
                    emulated: false,
                    max_instances: 1,
                    limit: LimitKind::Bound,
                    limit_reason: "bound broken at k=2: p99 70.0 ms > 50.0 ms".into(),
                    pss_per_instance_bytes: Some(20 << 20),
                    cgroup_per_instance_bytes: None,
                    steps,
                },
                DensityEnvironment {
                    env: "kata".into(),
                    workload: "knn".into(),
                    transport: "stdio".into(),
                    emulated: false,
                    max_instances: 0,
                    limit: LimitKind::Unavailable,
                    limit_reason: "unavailable: not installed".into(),
                    pss_per_instance_bytes: None,
                    cgroup_per_instance_bytes: None,
                    steps: vec![],
                },
            ],
            host_speed: None,
        }
    }

    #[test]
    fn the_table_has_a_row_per_k_and_a_summary_per_environment() {
        let text = density_table(&results());
        let summary = summary_lines(&results()).join("\n");
        assert!(
            summary.contains("native: 1 instance(s) within p99 50.0 ms, 20.0 MiB PSS per instance (no cgroup); limit: bound broken at k=2"),
            "{summary}"
        );
        assert!(text.starts_with("native: 1 instance(s)"), "{text}");
        assert!(
            text.contains("kata: 0 instance(s)") && text.contains("unavailable: not installed"),
            "{text}"
        );
        let row = text
            .lines()
            .find(|l| l.starts_with("native  2"))
            .expect(&text);
        assert!(
            row.contains("70.0*") && row.contains("missed") && row.contains("15.0"),
            "{row}"
        );
        assert!(text.contains("p99*: fewer than 100 requests"), "{text}");
        let row = text
            .lines()
            .find(|l| l.starts_with("native  1"))
            .expect(&text);
        assert!(row.contains("met") && row.contains("50"), "{row}");
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
        assert!(!text.contains("drifted"), "{text}");
        // Two trials: the ranges still fit 100 columns (PSS's range is in report.md).
        let mut trials = results();
        let step = &mut trials.environments[0].steps[1];
        step.trials.push(trial(120.5, 17, false));
        step.summarize();
        let text = density_table(&trials);
        assert!(text.contains("95.2* [70.0, 120]"), "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
        assert!(markdown(&trials).contains("16.0 [15.0, 17.0]"));
        let mut drifted = results();
        drifted.host_speed = Some(isobench_results::HostSpeed {
            median_seconds: 0.012,
            min_seconds: 0.010,
            max_seconds: 0.015,
            drift: 0.5,
            affected: vec![],
        });
        let text = density_table(&drifted);
        assert!(text.contains("the host's speed drifted 50%"), "{text}");
    }

    #[test]
    fn the_charts_draw_the_bound_and_both_curves() {
        let charts = charts(&results()).unwrap();
        let ids: Vec<&str> = charts.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["density-p99", "density-memory"]);
        assert!(
            charts[0].svg.contains("bound 50.0 ms"),
            "bound in the legend"
        );
        assert!(charts[1].svg.contains("native"));
        let md = markdown(&results());
        assert!(
            md.contains("**PSS MiB**") && md.contains("| native | 2 |"),
            "{md}"
        );
    }
}
