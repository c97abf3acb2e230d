//! Verdicts into words: the one place that says what a comparison with the
//! baseline came to. Four outcomes only (slower, faster, same,
//! inconclusive, from [`isobench_stats::Decision`]); next to `same` and
//! `inconclusive` the change the run could have detected; for
//! `inconclusive` also the interval and what would decide it. Every report
//! (terminal, Markdown, HTML, CSV, paper, merged, `compare`) shows these
//! words.

use isobench_results::{EnvironmentResult, ResultsFile, Status};
use isobench_stats::{Decision, Outcome, DEFAULT_ALPHA, DEFAULT_THRESHOLD};

use crate::format::{failed_count, tick, DASH};

/// What a table shows for one environment's verdict against the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict<'a> {
    /// The environment is the baseline.
    Baseline,
    /// Compared: the decision.
    Decided(&'a Decision),
    /// Measured but not compared, and why.
    NotCompared(Option<&'a str>),
    /// Nothing measured: `failed`, `skipped`, `interrupted` or `no samples`.
    NotMeasured(&'static str),
}

impl<'a> Verdict<'a> {
    /// The verdict of `env` in `results` (the file's decision, never recomputed).
    pub fn of(results: &ResultsFile, env: &'a EnvironmentResult) -> Verdict<'a> {
        let Some(s) = &env.summary else {
            return Verdict::NotMeasured(match &env.status {
                Status::Completed => "no samples",
                Status::Interrupted => "interrupted",
                Status::Failed { .. } => "failed",
                Status::Skipped { .. } => "skipped",
            });
        };
        if results.is_baseline(&env.name) {
            return Verdict::Baseline;
        }
        match &s.decision {
            Some(d) => Verdict::Decided(d),
            None => Verdict::NotCompared(s.not_compared.as_deref()),
        }
    }

    /// The outcome, when compared.
    pub fn outcome(&self) -> Option<Outcome> {
        match self {
            Verdict::Decided(d) => Some(d.outcome),
            _ => None,
        }
    }

    /// The verdict's first word(s): `slower`, `faster`, `same`,
    /// `inconclusive`, `baseline`, `not compared`, `failed`, `skipped`, ….
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Baseline => "baseline",
            Verdict::Decided(d) => d.outcome.as_str(),
            Verdict::NotCompared(_) => "not compared",
            Verdict::NotMeasured(word) => word,
        }
    }

    /// What follows the word: for `same` the change the run could have
    /// detected, for `inconclusive` the interval, what would decide it and
    /// that change, for `not compared` why.
    pub fn detail(&self) -> Option<String> {
        match self {
            Verdict::Decided(d) => decision_detail(d),
            Verdict::NotCompared(why) => why.map(str::to_string),
            _ => None,
        }
    }

    /// The whole verdict: `slower`, `same (could have detected ±1.2%)`,
    /// `inconclusive: between 0.99× and 1.24×; about 8 more rounds would
    /// decide; could have detected ±14%`, `not compared (reason)`.
    pub fn label(&self) -> String {
        match (self, self.detail()) {
            (Verdict::Decided(d), Some(detail)) if d.outcome == Outcome::Inconclusive => {
                format!("{}: {detail}", self.word())
            }
            (_, Some(detail)) => format!("{} ({detail})", self.word()),
            (_, None) => self.word().to_string(),
        }
    }

    /// CSS class of the verdict (its outcome), when compared.
    pub fn class(&self) -> Option<&'static str> {
        self.outcome().map(Outcome::as_str)
    }
}

/// The change a decision could have detected (80% power), e.g. `could have
/// detected ±1.2%`; `None` without an interval.
pub fn detectable(d: &Decision) -> Option<String> {
    let mde = d.minimum_detectable_effect?;
    Some(format!("could have detected ±{}", percent(mde)))
}

/// The text after a decision's outcome word (see [`Verdict::detail`]).
fn decision_detail(d: &Decision) -> Option<String> {
    match d.outcome {
        Outcome::Slower | Outcome::Faster => None,
        Outcome::Same => detectable(d),
        Outcome::Inconclusive => {
            let label = d.label();
            let reason = label
                .strip_prefix("inconclusive: ")
                .unwrap_or(&label)
                .to_string();
            Some(match detectable(d) {
                Some(mde) => format!("{reason}; {mde}"),
                None => reason,
            })
        }
    }
}

/// A fraction as a percentage with two significant digits (`1.2%`, `14%`, `0.52%`).
pub fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if !p.is_finite() {
        DASH.into()
    } else if p.abs() >= 10.0 {
        format!("{p:.0}%")
    } else if p.abs() >= 1.0 || p == 0.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.2}%")
    }
}

/// `x` rounded to 9 decimals: a level of `0.9900000000004` (the numerical
/// integration of the looks' boundaries) reads `0.99`.
pub fn tidy(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

/// A confidence level as a percentage (`99%`, `99.2%`, `95%`).
pub fn level(level: f64) -> String {
    let p = level * 100.0;
    let rounded = (p * 10.0).round() / 10.0;
    if (rounded - rounded.round()).abs() < 1e-9 {
        format!("{rounded:.0}%")
    } else {
        format!("{rounded:.1}%")
    }
}

/// The rule of a file's verdicts: overall α, threshold and the level of
/// the interval the verdicts used (the last look's nominal level).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Overall two-sided error rate.
    pub alpha: f64,
    /// Threshold, a fraction.
    pub threshold: f64,
    /// Level of the verdicts' intervals (`1 - α` for a fixed design).
    pub level: f64,
}

impl Rule {
    /// The rule of `results`: from its decisions, else its design, else the defaults.
    pub fn of(results: &ResultsFile) -> Rule {
        let decided = results
            .environments
            .iter()
            .filter_map(|e| e.summary.as_ref()?.decision.as_ref())
            .find(|d| d.interval.is_some());
        if let Some(d) = decided {
            return Rule {
                alpha: d.alpha,
                threshold: d.threshold,
                level: d.interval.map_or(1.0 - d.alpha, |i| i.level),
            };
        }
        let (alpha, threshold) = results
            .design
            .as_ref()
            .map_or((DEFAULT_ALPHA, DEFAULT_THRESHOLD), |d| {
                (d.decision.alpha, d.decision.threshold)
            });
        Rule {
            alpha,
            threshold,
            level: 1.0 - alpha,
        }
    }

    /// `±5%`.
    pub fn band(&self) -> String {
        format!("±{}%", tick(self.threshold * 100.0))
    }

    /// `99%`.
    pub fn level_text(&self) -> String {
        level(self.level)
    }
}

/// The ratio to the baseline with the interval the verdict used, `decimals`
/// digits: `1.123× [1.050, 1.190]`; `1 (baseline)` for the baseline; `—`
/// when not compared. `†` marks ratios against a partly failed baseline.
pub fn ratio_text(results: &ResultsFile, env: &EnvironmentResult, decimals: usize) -> String {
    let dagger = if partly_failed_baseline(results).is_some() {
        "†"
    } else {
        ""
    };
    match Verdict::of(results, env) {
        Verdict::Baseline => "1 (baseline)".into(),
        Verdict::Decided(d) => format!("{}{dagger}", decision_ratio(d, decimals)),
        _ => DASH.into(),
    }
}

/// `1.12× [1.10, 1.13]` (or `1.12×` without an interval).
pub fn decision_ratio(d: &Decision, decimals: usize) -> String {
    match d.interval {
        Some(i) => format!(
            "{:.decimals$}× [{:.decimals$}, {:.decimals$}]",
            d.ratio, i.low, i.high
        ),
        None => format!("{:.decimals$}×", d.ratio),
    }
}

/// The note of a partly failed baseline (what the † mark on ratios refers to).
pub fn partly_failed_baseline(results: &ResultsFile) -> Option<String> {
    let base = results.baseline_env()?;
    if !base.partly_failed() {
        return None;
    }
    let (failed, total) = failed_count(base);
    Some(format!(
        "the baseline {} is partly failed ({failed} of {total} repetitions failed): every ratio and verdict against it rests on its {} successful repetitions",
        base.name,
        total - failed
    ))
}

/// The four outcomes, in one sentence each (the "Verdict" definition of every report).
pub fn outcomes_definition(rule: &Rule) -> String {
    let t = tick(rule.threshold * 100.0);
    format!(
        "one of four outcomes, from the ratio's interval alone: slower (or faster) when the interval excludes 1 and the ratio is beyond ±{t}%; \
         same when the whole interval lies within ±{t}% (equivalence shown by two one-sided tests); \
         inconclusive otherwise, shown with its interval, about how many more rounds would decide it, and the change the run could have detected; \
         next to same and inconclusive, `could have detected ±X%` is the minimum detectable effect: the change this run would have called slower or faster 80% of the time; \
         α = {} is the chance, over all the looks of the run together, that an environment no different from the baseline is called slower or faster",
        rule.alpha
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_and_levels_read_well() {
        assert_eq!(
            (percent(0.012), percent(0.14), percent(0.0052), percent(0.0)),
            ("1.2%".into(), "14%".into(), "0.52%".into(), "0.0%".into())
        );
        assert_eq!(
            (level(0.99), level(0.9915), level(0.95)),
            ("99%".into(), "99.2%".into(), "95%".into())
        );
    }
}
