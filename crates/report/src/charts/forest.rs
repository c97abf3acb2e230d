//! The picture of the verdicts: a forest plot. One row per environment:
//! its ratio to the baseline (a dot) with the interval the verdict used (a
//! line), drawn against the ±threshold band (grey) around 1, coloured by
//! outcome. `same` lies inside the band, `slower` and `faster` beyond it,
//! `inconclusive` straddles its edge (or 1).

use isobench_results::ResultsFile;
use isobench_stats::Outcome;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{chart_err, render_sized, Chart, FG, GRID, WIDTH};
use crate::format::esc;
use crate::verdict::{level, Rule, Verdict};
use crate::ReportError;

/// Colour of an outcome (the HTML tables' verdict classes use the same).
pub fn outcome_colour(outcome: Outcome) -> RGBColor {
    match outcome {
        Outcome::Slower => RGBColor(0xd9, 0x53, 0x4f),
        Outcome::Faster => RGBColor(0x3c, 0x9a, 0x5f),
        Outcome::Same => RGBColor(0x4e, 0x79, 0xa7),
        Outcome::Inconclusive => RGBColor(0xe6, 0x9f, 0x00),
    }
}

/// `#rrggbb` of an outcome's colour.
pub fn outcome_hex(outcome: Outcome) -> String {
    let RGBColor(r, g, b) = outcome_colour(outcome);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// One row of a forest plot.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestRow {
    /// The row's name (an environment, or `environment · host`).
    pub label: String,
    /// The ratio to the baseline (1 for the baseline itself).
    pub ratio: f64,
    /// The interval the verdict used, when there is one.
    pub interval: Option<(f64, f64)>,
    /// The outcome; `None` for the baseline.
    pub outcome: Option<Outcome>,
}

/// The rows of `results`: the baseline, then every compared environment,
/// in run order (environments not compared are left out).
pub fn forest_rows(results: &ResultsFile, suffix: &str) -> Vec<ForestRow> {
    results
        .environments
        .iter()
        .filter_map(|env| {
            let label = format!("{}{suffix}", env.name);
            match Verdict::of(results, env) {
                Verdict::Baseline => Some(ForestRow {
                    label,
                    ratio: 1.0,
                    interval: None,
                    outcome: None,
                }),
                Verdict::Decided(d) => Some(ForestRow {
                    label,
                    ratio: d.ratio,
                    interval: d.interval.map(|i| (i.low, i.high)),
                    outcome: Some(d.outcome),
                }),
                _ => None,
            }
        })
        .collect()
}

/// The x range: the band, every ratio and interval, with intervals far
/// beyond the ratios cut (at twice the farthest ratio's distance from 1).
fn x_range(rows: &[ForestRow], threshold: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (1.0 - threshold, 1.0 + threshold);
    for r in rows {
        lo = lo.min(r.ratio);
        hi = hi.max(r.ratio);
    }
    let (cap_lo, cap_hi) = (1.0 - 2.0 * (1.0 - lo), 1.0 + 2.0 * (hi - 1.0));
    for (l, h) in rows.iter().filter_map(|r| r.interval) {
        lo = lo.min(l.max(cap_lo));
        hi = hi.max(h.min(cap_hi));
    }
    let pad = (hi - lo) * 0.06;
    ((lo - pad).max(0.0), hi + pad)
}

/// Draws the rows (first at the top).
fn draw_rows(
    id: &str,
    chart: &mut ChartContext<
        '_,
        SVGBackend<'_>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    rows: &[ForestRow],
    (x_lo, x_hi): (f64, f64),
) -> Result<(), ReportError> {
    let n = rows.len();
    let gap = (x_hi - x_lo) * 0.015;
    for (i, row) in rows.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        let colour = row.outcome.map_or(FG, outcome_colour);
        let style = ShapeStyle::from(&colour).stroke_width(3);
        let mut shapes: Vec<PathElement<(f64, f64)>> = Vec::new();
        let mut right = row.ratio;
        if let Some((low, high)) = row.interval {
            let (l, h) = (low.max(x_lo), high.min(x_hi));
            right = h;
            shapes.push(PathElement::new(vec![(l, y), (h, y)], style));
            for (end, cut) in [(l, low < x_lo), (h, high > x_hi)] {
                if !cut {
                    shapes.push(PathElement::new(
                        vec![(end, y - 0.18), (end, y + 0.18)],
                        style,
                    ));
                }
            }
        }
        chart.draw_series(shapes).map_err(|e| chart_err(id, e))?;
        let dot = match row.outcome {
            Some(_) => Circle::new((row.ratio, y), 6, colour.filled()),
            None => Circle::new((row.ratio, y), 6, ShapeStyle::from(&FG).stroke_width(2)),
        };
        let word = row.outcome.map_or("baseline", Outcome::as_str);
        let text = Text::new(
            word.to_string(),
            (right + gap, y),
            ("sans-serif", 14)
                .into_font()
                .color(&colour)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        );
        chart.draw_series([dot]).map_err(|e| chart_err(id, e))?;
        chart.draw_series([text]).map_err(|e| chart_err(id, e))?;
    }
    Ok(())
}

/// A forest plot of `rows` against the ±`threshold` band; `None` without
/// a compared row.
pub fn forest(
    id: &str,
    rows: &[ForestRow],
    threshold: f64,
    interval_level: f64,
) -> Result<Option<Chart>, ReportError> {
    if !rows.iter().any(|r| r.outcome.is_some()) {
        return Ok(None);
    }
    let n = rows.len();
    let (x_lo, x_hi) = x_range(rows, threshold);
    // Room on the right for the outcome words.
    let x_max = x_hi + (x_hi - x_lo) * 0.16;
    let longest = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(8);
    let label_area = (longest as u32 * 8 + 20).clamp(70, 320);
    let height = 90 + 42 * n as u32;
    let names: Vec<String> = rows.iter().rev().map(|r| r.label.clone()).collect();
    let svg = render_sized(id, (WIDTH, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(label_area)
            .build_cartesian_2d(x_lo..x_max, -0.7f64..(n as f64 - 0.3))
            .map_err(|e| chart_err(id, e))?;
        let y_fmt = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < names.len() {
                names[i as usize].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n + 2)
            .y_label_formatter(&y_fmt)
            .x_labels(10)
            .x_label_formatter(&|v| format!("{v:.2}×"))
            .x_desc(format!(
                "ratio to the baseline (time; right of 1 is slower), {} interval",
                level(interval_level)
            ))
            .axis_style(FG)
            .bold_line_style(GRID.mix(0.25))
            .light_line_style(TRANSPARENT)
            .label_style(("sans-serif", 14).into_font().color(&FG))
            .axis_desc_style(("sans-serif", 15).into_font().color(&FG))
            .draw()
            .map_err(|e| chart_err(id, e))?;
        let (band_lo, band_hi) = (1.0 - threshold, 1.0 + threshold);
        let top = n as f64 - 0.3;
        chart
            .draw_series([Rectangle::new(
                [(band_lo, -0.7), (band_hi, top)],
                GRID.mix(0.22).filled(),
            )])
            .map_err(|e| chart_err(id, e))?;
        chart
            .draw_series([PathElement::new(
                vec![(1.0, -0.7), (1.0, top)],
                ShapeStyle::from(&FG).stroke_width(1),
            )])
            .map_err(|e| chart_err(id, e))?;
        draw_rows(id, &mut chart, rows, (x_lo, x_hi))
    })?;
    let band = format!("±{}%", crate::format::tick(threshold * 100.0));
    Ok(Some(Chart {
        id: id.into(),
        title: "Verdicts at a glance: ratio to the baseline".into(),
        caption: format!(
            "Dot: each environment's ratio of mean inference time to the baseline's (hollow: the baseline); line: the {} interval the verdict used; grey band: {band} around 1. \
             Same: the whole line inside the band. Slower or faster: the line clear of 1 and the dot beyond the band. Inconclusive: neither (the line crosses the band's edge). \
             Colours: slower red, faster green, same blue, inconclusive amber. Lines cut at the plot's edge have no end tick.",
            level(interval_level)
        ),
        svg,
    }))
}

/// The forest plot of one results file (`id` `verdicts`).
pub fn verdict_forest(results: &ResultsFile) -> Result<Option<Chart>, ReportError> {
    let rule = Rule::of(results);
    forest(
        "verdicts",
        &forest_rows(results, ""),
        rule.threshold,
        rule.level,
    )
}

/// The `<figure>` of a chart, as every HTML report shows it.
pub fn figure_html(chart: &Chart) -> String {
    format!(
        "<figure class=\"chart\" id=\"{id}\">\n<figcaption id=\"{id}-title\">{}</figcaption>\n{}\n<p class=\"note\">{}</p>\n</figure>\n",
        esc(&chart.title),
        chart.svg,
        esc(&chart.caption),
        id = esc(&chart.id)
    )
}
