//! The run's design in words: how many rounds ran, fixed or sequential,
//! why it stopped, the looks (how many, the last one's nominal level), the
//! iterations per instance and why, and how the verdicts were analysed
//! (paired on rounds, or unpaired).

use isobench_results::{Plan, ResultsFile, Stop};
use isobench_stats::{Boundaries, Design, Looks};

use crate::verdict::{level, Rule};

/// Rounds run: the most repetitions of any environment.
fn rounds_run(results: &ResultsFile) -> usize {
    results
        .environments
        .iter()
        .map(|e| e.repetitions.len())
        .max()
        .unwrap_or(0)
}

/// `20 iterations` or `3–12 iterations` (per instance, as they ran).
fn iterations_text(results: &ResultsFile) -> String {
    let mut counts: Vec<usize> = results
        .environments
        .iter()
        .flat_map(|e| e.repetitions.iter().map(|r| r.iterations.len()))
        .filter(|&n| n > 0)
        .collect();
    counts.sort_unstable();
    match (counts.first(), counts.last()) {
        (Some(lo), Some(hi)) if lo == hi => format!("{lo} iterations"),
        (Some(lo), Some(hi)) => format!("{lo}–{hi} iterations"),
        _ => "no iterations".into(),
    }
}

/// The run's design in one line: `6 rounds (fixed) × 20 iterations`, or
/// `9 rounds (sequential; stopped: every comparison decided) × 3–12 iterations`.
pub fn design_text(results: &ResultsFile) -> String {
    let plan = match results.design.as_ref() {
        Some(design) => match (design.plan, design.stopped) {
            (Plan::Sequential { .. }, Some(stop)) => {
                format!(" (sequential; stopped: {})", stop_text(stop))
            }
            (Plan::Sequential { .. }, None) => " (sequential)".into(),
            (Plan::Fixed { .. }, _) => " (fixed)".into(),
        },
        None => String::new(),
    };
    let n = rounds_run(results);
    format!(
        "{n} round{}{plan} × {}",
        if n == 1 { "" } else { "s" },
        iterations_text(results)
    )
}

/// Why a run stopped, in words.
pub fn stop_text(stop: Stop) -> &'static str {
    match stop {
        Stop::Planned => "its planned rounds ran",
        Stop::AllDecided => "every comparison decided",
        Stop::BudgetSpent => "budget spent",
        Stop::MaxRounds => "--max-rounds reached",
        Stop::Interrupted => "interrupted",
        Stop::NothingToCompare => "nothing to compare",
    }
}

/// The nominal level of the last look's interval (the level every
/// verdict's interval has), from the file's looks and rule.
pub fn final_level(results: &ResultsFile) -> f64 {
    let rule = Rule::of(results);
    let decided = results
        .environments
        .iter()
        .filter_map(|e| e.summary.as_ref()?.decision.as_ref())
        .any(|d| d.interval.is_some());
    if decided {
        return rule.level;
    }
    let spending = results
        .design
        .as_ref()
        .map(|d| d.decision.spending)
        .unwrap_or_default();
    Boundaries::compute(&results.looks(), rule.alpha, spending)
        .map_or(rule.level, |b| 1.0 - b.last().nominal_alpha)
}

/// `5 looks, after rounds 5–9; the last at the nominal level 99.2%`.
fn looks_text(results: &ResultsFile, looks: &Looks) -> String {
    let rounds: Vec<u32> = looks.as_slice().iter().map(|l| l.rounds as u32).collect();
    let after = crate::words::rounds(&rounds);
    let n = looks.len();
    format!(
        "{n} look{}, after {after}; the last at the nominal level {} (the level of every verdict's interval)",
        if n == 1 { "" } else { "s" },
        level(final_level(results))
    )
}

/// How the verdicts were analysed, from the decisions themselves.
fn analysis_text(results: &ResultsFile) -> String {
    let designs: Vec<Design> = results
        .environments
        .iter()
        .filter_map(|e| e.summary.as_ref()?.decision.as_ref())
        .map(|d| d.design)
        .collect();
    let paired = designs
        .iter()
        .filter(|d| matches!(d, Design::Paired { .. }))
        .count();
    match (paired, designs.len()) {
        (_, 0) => "no comparison was made".into(),
        (p, n) if p == n => format!(
            "{}: each environment's repetition mean over the baseline's in the same round, so whatever slowed a whole round cancels",
            designs[0]
        ),
        (0, _) => format!(
            "{}: the rounds were not complete, so repetitions are compared as two independent groups",
            designs[0]
        ),
        (p, n) => format!("paired on rounds for {p} of {n} comparisons, unpaired (Welch) for the others (incomplete rounds)"),
    }
}

/// The iterations per instance and why.
fn iterations_reason(results: &ResultsFile) -> String {
    let Some(design) = &results.design else {
        return match results.experiment.iterations {
            Some(n) => format!("{n} per instance (--iterations)"),
            None => iterations_text(results),
        };
    };
    if results.experiment.iterations.is_some() || design.pilot_rounds == 0 {
        return format!(
            "{} per instance, as asked (--iterations)",
            design.pilot_iterations
        );
    }
    let mut text = format!(
        "{} per instance in the first {} rounds (the pilot)",
        design.pilot_iterations, design.pilot_rounds
    );
    match &design.chosen {
        Some(chosen) => text.push_str(&format!("; then {chosen}")),
        None => text.push_str("; the run ended within the pilot"),
    }
    if let Some(floor) = design.cpu_window_iterations {
        text.push_str(&format!(
            "; never fewer than {floor}, so the CPU meters' window is long enough"
        ));
    }
    text
}

/// The Design section: (term, sentence) pairs.
pub fn design_lines(results: &ResultsFile) -> Vec<(&'static str, String)> {
    let n = rounds_run(results);
    let rule = Rule::of(results);
    let mut lines = Vec::new();
    let (plan, stopped) = match results.design.as_ref() {
        Some(d) => (Some(d.plan), d.stopped),
        None => (None, None),
    };
    lines.push((
        "Rounds",
        match plan {
            Some(Plan::Sequential {
                min_rounds,
                max_rounds,
                budget_seconds,
            }) => format!(
                "{n} (sequential: a look after every round from round {min_rounds} on, until every comparison is decided, the budget of {budget_seconds:.0} s is spent, or {max_rounds} rounds ran)"
            ),
            Some(Plan::Fixed { rounds }) => {
                format!("{n} of {rounds} (fixed: --repetitions {rounds}; one look at the end)")
            }
            None => format!("{n} (fixed; one look at the end)"),
        },
    ));
    if let Some(stop) = stopped {
        lines.push(("Stopped", stop_text(stop).to_string()));
    }
    lines.push(("Looks", looks_text(results, &results.looks())));
    lines.push(("Iterations", iterations_reason(results)));
    lines.push(("Analysis", analysis_text(results)));
    lines.push((
        "Rule",
        format!(
            "α {} over all looks, threshold {}{}",
            rule.alpha,
            rule.band(),
            results
                .design
                .as_ref()
                .map(|d| format!(
                    ", {}-type alpha spending (Lan–DeMets)",
                    d.decision.spending.name()
                ))
                .unwrap_or_default()
        ),
    ));
    lines
}

/// The design in one short sentence for the terminal: `design: 9 rounds
/// (sequential; stopped: every comparison decided) × 3–12 iterations; 5
/// looks, verdict intervals at 99.2%`.
pub fn design_summary(results: &ResultsFile) -> String {
    let looks = results.looks();
    format!(
        "design: {}; {} look{}, verdict intervals at {}",
        design_text(results),
        looks.len(),
        if looks.len() == 1 { "" } else { "s" },
        level(final_level(results))
    )
}
