//! The lines under a summary table: why an environment has no figures,
//! which repetitions failed, why a figure is absent (`—`), the footnotes
//! of `*` and `†`, and numbered footnotes ([`Footnotes`]) for text too long
//! for a cell.

use isobench_results::{AbsentReason, EnvironmentResult, ResultsFile, Status};

use crate::format::{failed_count, superscript};
use crate::verdict::partly_failed_baseline;
use crate::words;

/// Footnotes numbered in order of first use; the same text is one footnote,
/// and the names it concerns are gathered in front of it.
#[derive(Debug, Default)]
pub struct Footnotes {
    notes: Vec<(Vec<String>, String)>,
}

impl Footnotes {
    /// The superscript mark of `text` about `who` (added when new).
    pub fn mark(&mut self, who: &str, text: String) -> String {
        let index = match self.notes.iter().position(|(_, t)| *t == text) {
            Some(i) => {
                if !self.notes[i].0.iter().any(|w| w == who) {
                    self.notes[i].0.push(who.to_string());
                }
                i
            }
            None => {
                self.notes.push((vec![who.to_string()], text));
                self.notes.len() - 1
            }
        };
        superscript(index + 1)
    }

    /// True when no footnote was made.
    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }

    /// `¹ docker, gvisor: text`, one per footnote, in order.
    pub fn lines(&self) -> Vec<String> {
        self.notes
            .iter()
            .enumerate()
            .map(|(i, (who, text))| {
                if who.iter().all(String::is_empty) {
                    format!("{} {text}", superscript(i + 1))
                } else {
                    format!("{} {}: {text}", superscript(i + 1), who.join(", "))
                }
            })
            .collect()
    }
}

/// The footnote of `*` p99 cells, when some row has one.
pub fn p99_note(results: &ResultsFile) -> Option<String> {
    let small: Vec<String> = results
        .environments
        .iter()
        .filter_map(|e| {
            let s = &e.summary.as_ref()?.inference_us;
            (!s.p99_is_reliable()).then(|| format!("{} n = {}", e.name, s.n))
        })
        .collect();
    (!small.is_empty()).then(|| {
        format!(
            "* p99 from fewer than 100 iterations ({}): the nearest-rank p99 is then close to the maximum, not a tail estimate",
            small.join(", ")
        )
    })
}

/// Distinct reasons why CPU figures are absent in `env`'s measured
/// repetitions, each with the rounds it concerns (reasons of one kind that
/// differ only in their numbers are one line: the first is worded).
fn absent_reasons(env: &EnvironmentResult) -> Vec<String> {
    let mut groups: Vec<(&AbsentReason, Vec<u32>)> = Vec::new();
    for rep in env.repetitions.iter().filter(|r| !r.iterations.is_empty()) {
        for reason in &rep.usage.absent {
            let kind = std::mem::discriminant(reason);
            match groups
                .iter_mut()
                .find(|(r, _)| std::mem::discriminant(*r) == kind)
            {
                Some((_, rounds)) => rounds.push(rep.round),
                None => groups.push((reason, vec![rep.round])),
            }
        }
    }
    groups
        .into_iter()
        .map(|(reason, rounds)| format!("{}: {}", words::rounds(&rounds), words::absent(reason)))
        .collect()
}

/// Why `env`'s absent figures (`—`) are absent, one line per kind of figure.
fn absent_figure_notes(env: &EnvironmentResult) -> Vec<String> {
    let Some(s) = &env.summary else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    let mut cpu_missing = Vec::new();
    if s.cpu_percent.is_none() {
        cpu_missing.push("CPU %");
    }
    if s.cpu_seconds_per_inference.is_none() {
        cpu_missing.push("CPU s/inference");
    }
    if s.startup_cpu_seconds.is_none() {
        cpu_missing.push("start-up CPU");
    }
    if !cpu_missing.is_empty() {
        let reasons = absent_reasons(env);
        notes.push(format!(
            "{}: {} absent (—): {}",
            env.name,
            cpu_missing.join(", "),
            if reasons.is_empty() {
                "not measured".to_string()
            } else {
                reasons.join("; ")
            }
        ));
    }
    if s.workload_peak_rss_bytes.is_none() {
        notes.push(format!(
            "{}: workload peak RSS absent (—): the agent did not report its VmHWM",
            env.name
        ));
    }
    if s.host_peak_rss_bytes.is_none() {
        let meter = env
            .repetitions
            .iter()
            .map(|r| r.usage.source.as_str())
            .find(|s| !s.is_empty());
        notes.push(format!(
            "{}: host peak RSS absent (—): the instance's host processes could not be read{}",
            env.name,
            meter.map(|s| format!(" (meter: {s})")).unwrap_or_default()
        ));
    }
    notes
}

/// Lines under the summary table: the footnotes of `*` and `†`, why an
/// environment has no figures or which repetitions failed, and why
/// figures are absent (`—`).
pub fn table_notes(results: &ResultsFile) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(note) = p99_note(results) {
        notes.push(note);
    }
    if let Some(note) = partly_failed_baseline(results) {
        notes.push(format!("† {note}"));
    }
    notes.extend(status_lines(results));
    for env in &results.environments {
        notes.extend(absent_figure_notes(env));
    }
    notes
}

/// `oci-crun: FAILED: reason`, `gvisor: skipped: reason`, `docker:
/// interrupted after 3 of 10 repetitions`, and for a partly failed
/// environment the failed repetitions with their errors.
pub fn status_lines(results: &ResultsFile) -> Vec<String> {
    let mut lines = Vec::new();
    for env in &results.environments {
        let errors: Vec<String> = env
            .repetitions
            .iter()
            .filter_map(|r| Some(format!("round {}: {}", r.round, r.error.as_ref()?)))
            .collect();
        match (&env.summary, &env.status) {
            (None, Status::Failed { reason }) => {
                lines.push(format!("{}: FAILED: {reason}", env.name))
            }
            (None, Status::Skipped { reason }) => {
                lines.push(format!("{}: skipped: {reason}", env.name))
            }
            (None, Status::Completed) => {
                lines.push(format!("{}: no measured iterations", env.name))
            }
            (_, Status::Interrupted) => lines.push(format!(
                "{}: interrupted after {} of {} repetitions",
                env.name,
                env.repetitions.len(),
                env.planned_repetitions
            )),
            (Some(_), status) if env.partly_failed() => {
                let (failed, total) = failed_count(env);
                let detail = if errors.is_empty() {
                    match status {
                        Status::Failed { reason } => reason.clone(),
                        _ => "no reason recorded".into(),
                    }
                } else {
                    errors.join("; ")
                };
                lines.push(format!(
                    "{}: partly failed: {failed} of {total} repetitions failed ({detail}); its figures come from the {} that completed",
                    env.name,
                    total - failed
                ));
            }
            _ => {}
        }
    }
    lines
}

/// The banner of a partial run (some environment interrupted), else `None`.
pub fn partial_banner(results: &ResultsFile) -> Option<String> {
    let interrupted: Vec<String> = results
        .environments
        .iter()
        .filter(|e| e.status == Status::Interrupted)
        .map(|e| {
            format!(
                "{} {} of {}",
                e.name,
                e.repetitions.len(),
                e.planned_repetitions
            )
        })
        .collect();
    (!interrupted.is_empty()).then(|| {
        format!(
            "PARTIAL RUN: interrupted before its plan was done (repetitions done of planned: {}); `isobench run --resume DIR` continues it",
            interrupted.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footnotes_gather_who_and_number_in_order() {
        let mut notes = Footnotes::default();
        assert_eq!(notes.mark("docker", "a".into()), "¹");
        assert_eq!(notes.mark("gvisor", "b".into()), "²");
        assert_eq!(notes.mark("kata", "a".into()), "¹");
        assert_eq!(notes.lines(), ["¹ docker, kata: a", "² gvisor: b"]);
    }
}
