//! The details sections of Markdown and HTML: how repetitions were
//! scheduled, their spread, every repetition, the host's speed and the
//! same-answer check.

use isobench_results::ResultsFile;

use crate::format::{env_label, num, or_dash, TimeUnit, DASH};

/// How repetitions were scheduled, in one sentence.
pub fn order_sentence(results: &ResultsFile) -> String {
    if results.experiment.order == isobench_results::Order::Interleaved {
        let n = results.rounds.len();
        format!(
            "Interleaved: {n} round{}, each launching one fresh instance of every environment in a seeded shuffled order.",
            if n == 1 { "" } else { "s" }
        )
    } else {
        "Blocked: all repetitions of one environment, then the next; drift of the host over the run is attributed to whichever environment ran at that moment.".into()
    }
}

/// A table as headers and rows of formatted cells.
pub struct Table {
    /// Column headers, with units.
    pub headers: Vec<String>,
    /// Rows of cells, in header order.
    pub rows: Vec<Vec<String>>,
}

/// Repetition means of `env` in `unit`, outliers marked `(outlier)`.
fn repetition_means(env: &isobench_results::EnvironmentResult, unit: TimeUnit) -> String {
    let outliers = env
        .summary
        .as_ref()
        .map(|s| s.outlier_repetitions.clone())
        .unwrap_or_default();
    let means: Vec<String> = env
        .repetitions
        .iter()
        .filter(|r| !r.iterations.is_empty())
        .map(|r| {
            let mean = r.inference_us().sum::<f64>() / r.iterations.len() as f64;
            let mark = if outliers.contains(&r.round) {
                " (outlier)"
            } else {
                ""
            };
            format!("round {} {}{mark}", r.round, num(unit.conv(mean)))
        })
        .collect();
    if means.is_empty() {
        DASH.into()
    } else {
        means.join(", ")
    }
}

/// Per-environment variance components (in `unit`), repetition means with
/// outliers marked `(outlier)`, and failed repetitions with their errors.
pub fn variance_table(results: &ResultsFile, unit: TimeUnit) -> Table {
    let u = unit.label();
    let rows = results
        .environments
        .iter()
        .filter(|e| !e.repetitions.is_empty())
        .map(|env| {
            let v = env.summary.as_ref().and_then(|s| s.variance.as_ref());
            let failed: Vec<String> = env
                .repetitions
                .iter()
                .filter_map(|r| Some(format!("round {}: {}", r.round, r.error.as_ref()?)))
                .collect();
            vec![
                env_label(env),
                or_dash(v, |v| num(unit.conv(v.between.sqrt()))),
                or_dash(v, |v| num(unit.conv(v.within.sqrt()))),
                or_dash(v, |v| format!("{:.2}", v.icc)),
                repetition_means(env, unit),
                if failed.is_empty() {
                    "none".into()
                } else {
                    failed.join("; ")
                },
            ]
        })
        .collect();
    Table {
        headers: vec![
            "Environment".into(),
            format!("σ between repetitions ({u})"),
            format!("σ within repetitions ({u})"),
            "ICC".into(),
            format!("Repetition means ({u})"),
            "Failed repetitions".into(),
        ],
        rows,
    }
}

/// What happened to a repetition: outlier, failed, stop failed.
fn repetition_note(outliers: &[u32], r: &isobench_results::Repetition) -> String {
    let mut note = Vec::new();
    if outliers.contains(&r.round) {
        note.push("outlier".to_string());
    }
    if let Some(e) = &r.error {
        note.push(format!("failed: {e}"));
    }
    if let Some(e) = &r.stop_error {
        note.push(format!("stop failed: {e}"));
    }
    note.join("; ")
}

/// Every repetition: its round, launch sequence, iterations, mean inference
/// time, host-speed probe before / after (ms) and what happened to it.
pub fn repetition_table(results: &ResultsFile, unit: TimeUnit) -> Table {
    let mut rows = Vec::new();
    for env in &results.environments {
        let outliers = env
            .summary
            .as_ref()
            .map(|s| s.outlier_repetitions.clone())
            .unwrap_or_default();
        for r in &env.repetitions {
            rows.push(vec![
                env.name.clone(),
                r.round.to_string(),
                or_dash(r.sequence, |s| s.to_string()),
                r.iterations.len().to_string(),
                if r.iterations.is_empty() {
                    DASH.into()
                } else {
                    num(unit.conv(r.inference_us().sum::<f64>() / r.iterations.len() as f64))
                },
                or_dash(r.calibration, |c| {
                    format!("{} / {}", num(c.before * 1e3), num(c.after * 1e3))
                }),
                repetition_note(&outliers, r),
            ]);
        }
    }
    Table {
        headers: vec![
            "Environment".into(),
            "Round".into(),
            "Launch #".into(),
            "Iterations".into(),
            format!("Mean inference ({})", unit.label()),
            "Host-speed probe before / after (ms)".into(),
            "Note".into(),
        ],
        rows,
    }
}

/// The host-speed section's sentences (empty when the file has no probe).
pub fn host_speed_lines(results: &ResultsFile) -> Vec<String> {
    let Some(h) = &results.host_speed else {
        return vec!["No host-speed probe in this file: drift of the host over the experiment cannot be checked.".into()];
    };
    let mut lines = vec![
        format!(
            "Reference computation timed on the host before and after every repetition: median {} ms (fastest {} ms, slowest {} ms).",
            num(h.median_seconds * 1e3),
            num(h.min_seconds * 1e3),
            num(h.max_seconds * 1e3)
        ),
        format!(
            "Drift over the experiment (slowest / fastest − 1): {:.1}%.",
            h.drift * 100.0
        ),
    ];
    lines.push(if h.affected.is_empty() {
        format!(
            "No repetition ran while the host was more than {:.0}% off its median speed.",
            crate::compare::HOST_DRIFT_THRESHOLD * 100.0
        )
    } else {
        format!(
            "Repetitions run while the host was more than {:.0}% off its median speed: {}.",
            crate::compare::HOST_DRIFT_THRESHOLD * 100.0,
            h.affected
                .iter()
                .map(|a| format!("{} round {} ({:+.1}%)", a.env, a.round, a.off * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    lines
}

/// What the outputs section says about one input.
pub enum InputView<'a> {
    /// Every environment computed the same (described) output.
    Identical {
        /// The input.
        input: &'a str,
        /// How many environments computed it.
        environments: usize,
        /// The output, described.
        output: &'a str,
    },
    /// Outputs differ (as described): one per environment.
    Differ {
        /// The input.
        input: &'a str,
        /// Each environment and its output, described.
        outputs: Vec<(&'a str, &'a str)>,
    },
}

/// The same-answer check per input.
pub fn input_views(check: &isobench_results::OutputCheck) -> Vec<InputView<'_>> {
    check
        .by_input
        .iter()
        .map(|i| {
            let first = i.outputs.first().map(|o| o.output.as_str());
            match first {
                Some(output) if i.outputs.iter().all(|o| o.output == output) => {
                    InputView::Identical {
                        input: &i.input,
                        environments: i.outputs.len(),
                        output,
                    }
                }
                _ => InputView::Differ {
                    input: &i.input,
                    outputs: i
                        .outputs
                        .iter()
                        .map(|o| (o.env.as_str(), o.output.as_str()))
                        .collect(),
                },
            }
        })
        .collect()
}

/// The verdict of the same-answer check, in one sentence.
pub fn outputs_sentence(check: &isobench_results::OutputCheck) -> String {
    if check.consistent() {
        format!(
            "Consistent: all {} measured iterations computed the same output as {} for the same input.",
            check.compared, check.reference
        )
    } else {
        format!(
            "OUTPUTS DIFFER: {} of {} measured iterations computed something else than {} for the same input.",
            check.mismatch_count, check.compared, check.reference
        )
    }
}
