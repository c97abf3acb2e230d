//! SVG charts drawn with plotters (SVG backend, no font files: the browser lays
//! out the text). Every chart has units on both axes.
//!
//! Colours: series use a palette readable on light and dark backgrounds;
//! axes and text use the sentinel colour [`FOREGROUND_HEX`], which the HTML
//! report's CSS swaps for the page's text colour in dark mode.

use isobench_results::{EnvironmentResult, ResultsFile};
use isobench_stats::percentile;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::format::{esc, tick, TimeUnit};
use crate::ReportError;

pub mod forest;

pub use forest::{figure_html, forest, forest_rows, verdict_forest, ForestRow};

/// Colour of axes and text, as written in the SVG (`fill`/`stroke` attributes).
pub const FOREGROUND_HEX: &str = "#202021";
pub(crate) const FG: RGBColor = RGBColor(0x20, 0x20, 0x21);
pub(crate) const GRID: RGBColor = RGBColor(0x80, 0x80, 0x81);

/// Series colours (Tableau 10: mid luminance, legible on white and on near-black).
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];

pub(crate) const WIDTH: u32 = 900;
const HEIGHT: u32 = 420;
/// Raw points drawn per environment in a box plot (evenly strided beyond this).
const MAX_POINTS: usize = 1500;

/// One chart of the report.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Element id (stable: `latency-inference`, `latency-end-to-end`, `mean-sd`,
    /// `start-time`, `cpu-over-time`, `cpu-per-inference`, `memory`).
    pub id: String,
    /// Title shown above the chart.
    pub title: String,
    /// What the marks mean.
    pub caption: String,
    /// The inline `<svg>` element.
    pub svg: String,
}

/// Colour of the environment at `index` in the results (stable across charts).
pub(crate) fn colour(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

pub(crate) fn chart_err(id: &str, e: impl std::fmt::Display) -> ReportError {
    ReportError::Chart {
        chart: id.to_string(),
        reason: e.to_string(),
    }
}

/// Draws the labels of `chart`'s series at `position`, in the charts' one style.
pub(crate) fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    id: &str,
) -> Result<(), ReportError> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(TRANSPARENT)
        .border_style(GRID)
        .label_font(("sans-serif", 14).into_font().color(&FG))
        .draw()
        .map_err(|e| chart_err(id, e))
}

/// Axis label of an environment.
fn axis_name(env: &EnvironmentResult) -> String {
    if env.emulated {
        format!("{} (TCG)", env.name)
    } else {
        env.name.clone()
    }
}

/// A y axis, linear or log10 (values are transformed before plotting).
#[derive(Clone, Copy)]
struct YAxis {
    log: bool,
    lo: f64,
    hi: f64,
}

impl YAxis {
    /// Log scale when the data span more than `ratio`; `from_zero` for bars.
    fn fit(values: &[f64], from_zero: bool) -> YAxis {
        let positive: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
        let max = values.iter().copied().fold(f64::MIN, f64::max).max(0.0);
        let min_pos = positive.iter().copied().fold(f64::MAX, f64::min);
        let log = !positive.is_empty() && max / min_pos > 30.0 && positive.len() == values.len();
        if log {
            let lo = min_pos.log10() - 0.1;
            let hi = max.log10() + 0.1;
            return YAxis { log, lo, hi };
        }
        let min = values.iter().copied().fold(f64::MAX, f64::min);
        let (lo, hi) = if from_zero || values.is_empty() {
            (0.0, if max > 0.0 { max * 1.1 } else { 1.0 })
        } else {
            let span = (max - min).max(max.abs() * 0.02).max(1e-9);
            ((min - 0.08 * span).max(0.0), max + 0.08 * span)
        };
        YAxis { log: false, lo, hi }
    }

    fn t(self, v: f64) -> f64 {
        if self.log {
            v.max(1e-12).log10()
        } else {
            v
        }
    }

    fn label(self, v: f64) -> String {
        if self.log {
            let x = 10f64.powf(v);
            // Three significant digits: 31.6, 316, 3160.
            let digits = (2 - x.abs().log10().floor() as i32).max(0) as usize;
            tick(format!("{x:.digits$}").parse().unwrap_or(x))
        } else {
            tick(v)
        }
    }

    fn desc(self, base: &str) -> String {
        if self.log {
            format!("{base}, log scale")
        } else {
            base.to_string()
        }
    }
}

pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Cat<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// A chart with environments on x (at 0, 1, ...) and a numeric y.
fn category_chart<'a, 'b>(
    id: &str,
    root: &'a Area<'b>,
    names: &[String],
    y: YAxis,
    y_desc: &str,
    x_desc: &str,
) -> Result<Cat<'a, 'b>, ReportError> {
    let n = names.len();
    let mut chart = ChartBuilder::on(root)
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(-0.6f64..(n as f64 - 0.4), y.lo..y.hi)
        .map_err(|e| chart_err(id, e))?;
    let x_fmt = |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
            names[i as usize].clone()
        } else {
            String::new()
        }
    };
    let y_fmt = move |v: &f64| y.label(*v);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n + 1)
        .x_label_formatter(&x_fmt)
        .y_labels(8)
        .y_label_formatter(&y_fmt)
        .y_desc(y.desc(y_desc))
        .x_desc(x_desc)
        .axis_style(FG)
        .bold_line_style(GRID.mix(0.35))
        .light_line_style(TRANSPARENT)
        .label_style(("sans-serif", 14).into_font().color(&FG))
        .axis_desc_style(("sans-serif", 15).into_font().color(&FG))
        .draw()
        .map_err(|e| chart_err(id, e))?;
    Ok(chart)
}

/// Renders `draw` into an SVG string of the usual size.
fn render(
    id: &str,
    draw: impl FnOnce(&Area<'_>) -> Result<(), ReportError>,
) -> Result<String, ReportError> {
    render_sized(id, (WIDTH, HEIGHT), draw)
}

/// Renders `draw` into an SVG string of `size` pixels, labelled by `id`'s title.
pub(crate) fn render_sized(
    id: &str,
    size: (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> Result<(), ReportError>,
) -> Result<String, ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root)?;
        root.present().map_err(|e| chart_err(id, e))?;
    }
    Ok(svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-labelledby=\"{}-title\" ", esc(id)),
        1,
    ))
}

/// Which latency a box plot shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// In-agent inference time.
    Inference,
    /// Host-observed end-to-end time per iteration.
    EndToEnd,
}

/// Box plot (quartiles, median, 1.5 IQR whiskers) over the raw points, per environment.
pub fn latency_boxplot(
    results: &ResultsFile,
    which: Latency,
) -> Result<Option<Chart>, ReportError> {
    let (id, title) = match which {
        Latency::Inference => ("latency-inference", "In-agent inference time per iteration"),
        Latency::EndToEnd => (
            "latency-end-to-end",
            "End-to-end time per iteration (host view)",
        ),
    };
    let series: Vec<(usize, &EnvironmentResult, Vec<f64>)> = results
        .environments
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let s = match which {
                Latency::Inference => e.all_inference_us(),
                Latency::EndToEnd => e.all_end_to_end_us(),
            };
            (i, e, s)
        })
        .filter(|(_, _, s)| !s.is_empty())
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let all: Vec<f64> = series
        .iter()
        .flat_map(|(_, _, s)| s.iter().copied())
        .collect();
    let medians: Vec<f64> = series
        .iter()
        .map(|(_, _, s)| percentile(s, 50.0).unwrap_or(0.0))
        .collect();
    let unit = TimeUnit::for_us(medians.iter().copied().fold(f64::MAX, f64::min));
    let scaled: Vec<f64> = all.iter().map(|v| unit.conv(*v)).collect();
    let y = YAxis::fit(&scaled, false);
    let names: Vec<String> = series.iter().map(|(_, e, _)| axis_name(e)).collect();
    let svg = render(id, |root| {
        let mut chart = category_chart(
            id,
            root,
            &names,
            y,
            &format!("time ({})", unit.label()),
            "environment",
        )?;
        for (x, (ci, _, samples)) in series.iter().enumerate() {
            let c = colour(*ci);
            let xf = x as f64;
            let stride = samples.len().div_ceil(MAX_POINTS).max(1);
            let points = samples.iter().enumerate().step_by(stride).map(|(k, v)| {
                let jitter = ((k as f64 * 0.618_033_988_75).fract() - 0.5) * 0.5;
                Circle::new((xf + jitter, y.t(unit.conv(*v))), 2, c.mix(0.35).filled())
            });
            chart.draw_series(points).map_err(|e| chart_err(id, e))?;
            let q = |p: f64| unit.conv(percentile(samples, p).unwrap_or(0.0));
            let (q1, med, q3) = (q(25.0), q(50.0), q(75.0));
            let iqr = q3 - q1;
            let scaled: Vec<f64> = samples.iter().map(|v| unit.conv(*v)).collect();
            let lo_w = scaled
                .iter()
                .copied()
                .filter(|v| *v >= q1 - 1.5 * iqr)
                .fold(q1, f64::min);
            let hi_w = scaled
                .iter()
                .copied()
                .filter(|v| *v <= q3 + 1.5 * iqr)
                .fold(q3, f64::max);
            let stroke = ShapeStyle::from(&FG).stroke_width(2);
            let (l, r) = (xf - 0.22, xf + 0.22);
            let shapes: Vec<PathElement<(f64, f64)>> = vec![
                PathElement::new(
                    vec![
                        (l, y.t(q1)),
                        (r, y.t(q1)),
                        (r, y.t(q3)),
                        (l, y.t(q3)),
                        (l, y.t(q1)),
                    ],
                    stroke,
                ),
                PathElement::new(
                    vec![(l, y.t(med)), (r, y.t(med))],
                    ShapeStyle::from(&c).stroke_width(4),
                ),
                PathElement::new(vec![(xf, y.t(q3)), (xf, y.t(hi_w))], stroke),
                PathElement::new(vec![(xf, y.t(q1)), (xf, y.t(lo_w))], stroke),
                PathElement::new(vec![(xf - 0.1, y.t(hi_w)), (xf + 0.1, y.t(hi_w))], stroke),
                PathElement::new(vec![(xf - 0.1, y.t(lo_w)), (xf + 0.1, y.t(lo_w))], stroke),
            ];
            chart.draw_series(shapes).map_err(|e| chart_err(id, e))?;
        }
        Ok(())
    })?;
    Ok(Some(Chart {
        id: id.into(),
        title: title.into(),
        caption: format!(
            "Dots: every measured iteration (at most {MAX_POINTS} per environment). Box: quartiles; \
             coloured bar: median; whiskers: furthest points within 1.5 IQR."
        ),
        svg,
    }))
}

/// Mean in-agent inference time per environment: bar = mean, thin whisker = ±1σ,
/// thick mark = two-level bootstrap 95% CI of the mean.
pub fn mean_sd_bars(results: &ResultsFile) -> Result<Option<Chart>, ReportError> {
    let id = "mean-sd";
    let rows: Vec<(usize, &EnvironmentResult, &isobench_stats::Summary)> = results
        .environments
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.summary.as_ref().map(|s| (i, e, &s.inference_us)))
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let unit = TimeUnit::for_us(rows.iter().map(|r| r.2.mean).fold(f64::MAX, f64::min));
    let tops: Vec<f64> = rows.iter().map(|r| unit.conv(r.2.mean + r.2.std)).collect();
    let mut y = YAxis::fit(&tops, true);
    y.log = false;
    let names: Vec<String> = rows.iter().map(|(_, e, _)| axis_name(e)).collect();
    let svg = render(id, |root| {
        let mut chart = category_chart(
            id,
            root,
            &names,
            y,
            &format!("mean inference time ({})", unit.label()),
            "environment",
        )?;
        for (x, (ci, _, s)) in rows.iter().enumerate() {
            let xf = x as f64;
            let c = colour(*ci);
            let m = unit.conv(s.mean);
            let sd = unit.conv(s.std);
            let (lo, hi) = (unit.conv(s.mean_ci.low), unit.conv(s.mean_ci.high));
            let thin = ShapeStyle::from(&FG).stroke_width(1);
            chart
                .draw_series([Rectangle::new(
                    [(xf - 0.3, 0.0), (xf + 0.3, m)],
                    c.mix(0.75).filled(),
                )])
                .map_err(|e| chart_err(id, e))?;
            chart
                .draw_series([
                    PathElement::new(vec![(xf, (m - sd).max(0.0)), (xf, m + sd)], thin),
                    PathElement::new(vec![(xf - 0.08, m + sd), (xf + 0.08, m + sd)], thin),
                    PathElement::new(
                        vec![
                            (xf - 0.08, (m - sd).max(0.0)),
                            (xf + 0.08, (m - sd).max(0.0)),
                        ],
                        thin,
                    ),
                    PathElement::new(
                        vec![(xf, lo), (xf, hi)],
                        ShapeStyle::from(&FG).stroke_width(6),
                    ),
                ])
                .map_err(|e| chart_err(id, e))?;
        }
        Ok(())
    })?;
    Ok(Some(Chart {
        id: id.into(),
        title: "Mean inference time ± σ, with 95% CI of the mean".into(),
        caption: "Bar: mean over every measured iteration; thin whisker: ±1 standard deviation; thick mark: two-level bootstrap 95% confidence interval of the mean (repetitions, then iterations within them).".into(),
        svg,
    }))
}

/// Per-environment values drawn as a mean tick over per-repetition dots.
fn per_repetition_chart(
    results: &ResultsFile,
    id: &str,
    title: &str,
    caption: &str,
    y_desc: &str,
    value: impl Fn(&isobench_results::Repetition) -> Option<f64>,
    bars: bool,
) -> Result<Option<Chart>, ReportError> {
    let rows: Vec<(usize, &EnvironmentResult, Vec<f64>)> = results
        .environments
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                i,
                e,
                e.repetitions
                    .iter()
                    .filter_map(&value)
                    .collect::<Vec<f64>>(),
            )
        })
        .filter(|(_, _, v)| !v.is_empty())
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let all: Vec<f64> = rows.iter().flat_map(|r| r.2.iter().copied()).collect();
    let mut y = YAxis::fit(&all, bars);
    if bars {
        y.log = false;
        y.lo = 0.0;
        y.hi = all.iter().copied().fold(0.0, f64::max).max(1e-9) * 1.12;
    }
    let names: Vec<String> = rows.iter().map(|(_, e, _)| axis_name(e)).collect();
    let svg = render(id, |root| {
        let mut chart = category_chart(id, root, &names, y, y_desc, "environment")?;
        for (x, (ci, _, vals)) in rows.iter().enumerate() {
            let xf = x as f64;
            let c = colour(*ci);
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            if bars {
                chart
                    .draw_series([Rectangle::new(
                        [(xf - 0.3, 0.0), (xf + 0.3, mean)],
                        c.mix(0.7).filled(),
                    )])
                    .map_err(|e| chart_err(id, e))?;
            } else {
                chart
                    .draw_series([PathElement::new(
                        vec![(xf - 0.3, y.t(mean)), (xf + 0.3, y.t(mean))],
                        ShapeStyle::from(&c).stroke_width(4),
                    )])
                    .map_err(|e| chart_err(id, e))?;
            }
            let n = vals.len().max(2) as f64;
            chart
                .draw_series(vals.iter().enumerate().map(|(k, v)| {
                    let dx = (k as f64 / (n - 1.0) - 0.5) * 0.3;
                    Circle::new((xf + dx, y.t(*v)), 4, ShapeStyle::from(&FG).stroke_width(1))
                }))
                .map_err(|e| chart_err(id, e))?;
        }
        Ok(())
    })?;
    Ok(Some(Chart {
        id: id.into(),
        title: title.into(),
        caption: caption.into(),
        svg,
    }))
}

/// Launch to `ready` per environment (one dot per repetition, bar/tick = mean), ms.
pub fn start_time(results: &ResultsFile) -> Result<Option<Chart>, ReportError> {
    per_repetition_chart(
        results,
        "start-time",
        "Start / boot time: launch to agent ready",
        "Coloured tick: mean over repetitions; circles: each repetition (a fresh environment each).",
        "launch to ready (ms)",
        |r| r.ready_seconds.map(|s| s * 1e3),
        false,
    )
}

/// Host CPU seconds per inference over the measured iterations, in CPU-ms
/// (repetitions whose figure is absent are left out, never drawn as 0).
pub fn cpu_per_inference(results: &ResultsFile) -> Result<Option<Chart>, ReportError> {
    per_repetition_chart(
        results,
        "cpu-per-inference",
        "Host CPU time per inference (measured iterations)",
        "Host CPU seconds charged to the instance while the measured iterations ran, divided by their number; start-up excluded. Bar: mean; circles: repetitions (absent figures left out).",
        "host CPU per inference (CPU-ms)",
        |r| r.usage.cpu_seconds_per_inference.map(|c| c * 1e3),
        true,
    )
}

/// (palette index, label, workload MiB per repetition, host MiB per repetition).
type MemoryRow = (usize, String, Vec<f64>, Vec<f64>);

/// Peak resident memory per environment: the workload's own (agent VmHWM)
/// next to the host's view (sum of the instance's host processes' VmHWM), MiB.
pub fn memory(results: &ResultsFile) -> Result<Option<Chart>, ReportError> {
    let id = "memory";
    const MIB: f64 = 1024.0 * 1024.0;
    let rows: Vec<MemoryRow> = results
        .environments
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let measured = e.repetitions.iter().filter(|r| !r.iterations.is_empty());
            let workload: Vec<f64> = measured
                .clone()
                .filter_map(|r| r.agent_summary.as_ref()?.peak_rss_bytes)
                .map(|b| b as f64 / MIB)
                .collect();
            let host: Vec<f64> = measured
                .filter_map(|r| r.usage.host_peak_rss_bytes)
                .map(|b| b as f64 / MIB)
                .collect();
            (i, axis_name(e), workload, host)
        })
        .filter(|(_, _, w, h)| !w.is_empty() || !h.is_empty())
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let top = rows
        .iter()
        .flat_map(|r| r.2.iter().chain(&r.3).copied())
        .fold(0.0, f64::max)
        .max(1e-9);
    let y = YAxis {
        log: false,
        lo: 0.0,
        hi: top * 1.15,
    };
    let names: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let svg = render(id, |root| {
        let mut chart = category_chart(id, root, &names, y, "peak RSS (MiB)", "environment")?;
        for (x, (ci, _, workload, host)) in rows.iter().enumerate() {
            let xf = x as f64;
            let c = colour(*ci);
            for (values, left, right, fill) in [
                (workload, xf - 0.34, xf - 0.02, c.mix(0.4).filled()),
                (host, xf + 0.02, xf + 0.34, c.mix(0.9).filled()),
            ] {
                let Some(m) = mean(values) else { continue };
                chart
                    .draw_series([Rectangle::new([(left, 0.0), (right, m)], fill)])
                    .map_err(|e| chart_err(id, e))?;
                let centre = (left + right) / 2.0;
                let n = values.len().max(2) as f64;
                chart
                    .draw_series(values.iter().enumerate().map(|(k, v)| {
                        let dx = (k as f64 / (n - 1.0) - 0.5) * 0.16;
                        Circle::new((centre + dx, *v), 3, ShapeStyle::from(&FG).stroke_width(1))
                    }))
                    .map_err(|e| chart_err(id, e))?;
            }
        }
        // Legend: light = workload, dark = host (in the first environment's colour).
        let c = colour(rows[0].0);
        for (label, alpha) in [("workload peak RSS", 0.4), ("host peak RSS", 0.9)] {
            chart
                .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
                .map_err(|e| chart_err(id, e))?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.mix(alpha).filled())
                });
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, id)?;
        Ok(())
    })?;
    Ok(Some(Chart {
        id: id.into(),
        title: "Peak resident memory: workload and host".into(),
        caption: "Left (light) bar: the workload's own peak RSS (the agent's VmHWM, the same quantity in every environment); right (dark) bar: host peak RSS (the host memory the instance held: its processes' VmHWM or its cgroup's resident charge, a VM's guest memory included). The isolation overhead is an environment's host bar minus the baseline's. Bars: means; circles: repetitions.".into(),
        svg,
    }))
}

/// (palette index, label, points) of one CPU-over-time line.
type CpuLine = (usize, String, Vec<(f64, f64)>);

/// Host CPU usage over time, % of one core per sampling interval, one line per
/// environment (its first repetition with usage samples).
pub fn cpu_over_time(results: &ResultsFile) -> Result<Option<Chart>, ReportError> {
    let id = "cpu-over-time";
    let lines: Vec<CpuLine> = results
        .environments
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let rep = e.repetitions.iter().find(|r| r.usage.samples.len() >= 2)?;
            Some((i, axis_name(e), cpu_percent_series(&rep.usage.samples)))
        })
        .filter(|(_, _, pts)| !pts.is_empty())
        .collect();
    if lines.is_empty() {
        return Ok(None);
    }
    let t_max = lines
        .iter()
        .flat_map(|l| l.2.iter().map(|p| p.0))
        .fold(0.0, f64::max)
        .max(1e-3);
    let y_max = lines
        .iter()
        .flat_map(|l| l.2.iter().map(|p| p.1))
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let svg = render(id, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..t_max * 1.02, 0.0..y_max)
            .map_err(|e| chart_err(id, e))?;
        chart
            .configure_mesh()
            .x_desc("time since launch (s)")
            .y_desc("host CPU (% of one core)")
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .axis_style(FG)
            .bold_line_style(GRID.mix(0.35))
            .light_line_style(TRANSPARENT)
            .label_style(("sans-serif", 14).into_font().color(&FG))
            .axis_desc_style(("sans-serif", 15).into_font().color(&FG))
            .draw()
            .map_err(|e| chart_err(id, e))?;
        for (ci, name, pts) in &lines {
            let c = colour(*ci);
            chart
                .draw_series(LineSeries::new(
                    pts.iter().copied(),
                    ShapeStyle::from(&c).stroke_width(2),
                ))
                .map_err(|e| chart_err(id, e))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(
                        vec![(x, y), (x + 18, y)],
                        ShapeStyle::from(&c).stroke_width(3),
                    )
                });
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight, id)?;
        Ok(())
    })?;
    Ok(Some(Chart {
        id: id.into(),
        title: "Host CPU usage over time".into(),
        caption: "CPU seconds charged to each environment per sampling interval, as % of one core, over the instance's whole life (start-up included; first repetition of each).".into(),
        svg,
    }))
}

/// (interval midpoint s, % of one core) from cumulative CPU samples.
pub fn cpu_percent_series(samples: &[isobench_results::UsageSample]) -> Vec<(f64, f64)> {
    samples
        .windows(2)
        .filter(|w| w[1].t > w[0].t)
        .map(|w| {
            let dt = w[1].t - w[0].t;
            (
                (w[0].t + w[1].t) / 2.0,
                ((w[1].cpu - w[0].cpu) / dt * 100.0).max(0.0),
            )
        })
        .collect()
}

/// Every chart that has data, in report order.
pub fn all_charts(results: &ResultsFile) -> Result<Vec<Chart>, ReportError> {
    let charts = [
        latency_boxplot(results, Latency::Inference)?,
        latency_boxplot(results, Latency::EndToEnd)?,
        mean_sd_bars(results)?,
        start_time(results)?,
        cpu_over_time(results)?,
        cpu_per_inference(results)?,
        memory(results)?,
    ];
    Ok(charts.into_iter().flatten().collect())
}
