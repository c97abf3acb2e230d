//! Results into words: the one place that phrases a warning or the reason
//! for an absent figure (the results hold them as data). Every report
//! (terminal, Markdown, HTML, compare) words them the same way. Repetitions
//! are named by their round, from 1, everywhere.
//!
//! [`warning_lines`] groups a run's warnings per cause: one line for every
//! environment a cause concerns, with the number the reader should ask for
//! (the largest any environment needs).

use std::mem::discriminant;

use isobench_results::{AbsentReason, EnvironmentResult, Status, Warning};

/// `round 3`, `rounds 1, 2 and 5`, `rounds 1–4 and 7` (consecutive rounds as a range).
pub fn rounds(rounds: &[u32]) -> String {
    let mut sorted = rounds.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut spans: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            spans.push(format!("{}–{}", sorted[i], sorted[j]));
        } else {
            spans.extend(sorted[i..=j].iter().map(u32::to_string));
        }
        i = j + 1;
    }
    let single = sorted.len() == 1;
    if spans.is_empty() {
        return "no round".into();
    }
    let list = and_list(&spans);
    if single {
        format!("round {list}")
    } else {
        format!("rounds {list}")
    }
}

/// An environment's state in words: `completed`, `interrupted (3 of 5
/// repetitions)`, `failed: why`, `skipped: why`.
pub fn status(env: &EnvironmentResult) -> String {
    match &env.status {
        Status::Completed => "completed".to_string(),
        Status::Interrupted => format!(
            "interrupted ({} of {} repetitions)",
            env.repetitions.len(),
            env.planned_repetitions
        ),
        Status::Failed { reason } => format!("failed: {reason}"),
        Status::Skipped { reason } => format!("skipped: {reason}"),
    }
}

/// Why a CPU figure is absent, in words.
pub fn absent(reason: &AbsentReason) -> String {
    match reason {
        AbsentReason::MeterReadNothing { meter, moments } => {
            format!("the meter ({meter}) read nothing at {}", moments.join(", "))
        }
        AbsentReason::NoWindow => "no meter reading at both ends of the measured iterations".into(),
        AbsentReason::WindowTooShort {
            seconds,
            minimum_seconds,
            iterations_needed,
        } => format!(
            "the measured iterations lasted {seconds:.3} s, under the {minimum_seconds:.1} s the CPU counters need for ±5%; ask for --iterations {iterations_needed} or more"
        ),
    }
}

/// One warning, in one sentence (ungrouped; see [`warning_lines`]).
pub fn warning(w: &Warning) -> String {
    warning_lines(std::slice::from_ref(w))
        .pop()
        .unwrap_or_default()
}

/// The warnings, grouped per cause in order of first appearance: one line
/// per cause (CPU figures absent: one per kind of reason), each naming
/// every environment it concerns; identical warnings once.
pub fn warning_lines(warnings: &[Warning]) -> Vec<String> {
    let mut groups: Vec<Vec<&Warning>> = Vec::new();
    for w in warnings {
        let same_cause = |g: &&mut Vec<&Warning>| match (g[0], w) {
            (Warning::CpuAbsent { reason: a, .. }, Warning::CpuAbsent { reason: b, .. }) => {
                discriminant(a) == discriminant(b)
            }
            (first, _) => discriminant(first) == discriminant(w),
        };
        match groups.iter_mut().find(same_cause) {
            Some(group) if !group.contains(&w) => group.push(w),
            Some(_) => {}
            None => groups.push(vec![w]),
        }
    }
    groups.iter().map(|g| group_line(g)).collect()
}

/// `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The line of one group of warnings of the same cause.
fn group_line(group: &[&Warning]) -> String {
    match group[0] {
        Warning::BusyHost { .. }
        | Warning::DesignTooSmall { .. }
        | Warning::BlockedOrder
        | Warning::Interrupted { .. }
        | Warning::HostDrift { .. }
        | Warning::OutputsDiffer { .. } => run_warning(group[0]),
        Warning::Emulated { .. } => {
            let envs: Vec<String> = group
                .iter()
                .filter_map(|w| match w {
                    Warning::Emulated { env, accel } => Some(format!("{env} ({accel})")),
                    _ => None,
                })
                .collect();
            format!(
                "figures of {} come from software emulation; they say nothing about hardware-virtualised speed",
                and_list(&envs)
            )
        }
        Warning::CpuAbsent { .. } => cpu_absent_line(group),
        _ => env_group_line(group),
    }
}

/// Warnings about the run as a whole (one of each at most).
fn run_warning(w: &Warning) -> String {
    match w {
        Warning::BusyHost { load_average, cpus } => format!(
            "the host's load average ({load_average:.1}) was above its CPU count ({cpus}) when the run started: a noisy neighbour may distort the figures"
        ),
        Warning::DesignTooSmall {
            repetitions,
            needed,
            alpha,
        } => format!(
            "{repetitions} rounds cannot decide at α {alpha}: verdicts are inconclusive; ask for --repetitions {needed} or more"
        ),
        Warning::BlockedOrder => "repetitions ran in blocks (--order blocked): the host's drift over the run is attributed to whichever environment ran at that moment, and verdicts are unpaired".into(),
        Warning::Interrupted { rounds_done } => format!(
            "the run was interrupted after {rounds_done} round(s): its figures are partial; `isobench run --resume DIR` continues it"
        ),
        Warning::HostDrift {
            drift,
            min_seconds,
            max_seconds,
            threshold,
            affected,
            ..
        } => {
            let mut named: Vec<String> = affected
                .iter()
                .take(3)
                .map(|a| format!("{} round {} ({:+.0}%)", a.env, a.round, a.off * 100.0))
                .collect();
            if affected.len() > 3 {
                named.push(format!("{} more", affected.len() - 3));
            }
            format!(
                "the host's speed drifted {:.0}% during the run (probe {:.1}–{:.1} ms); {} repetition(s) ran over {:.0}% off its median: {}",
                drift * 100.0,
                min_seconds * 1e3,
                max_seconds * 1e3,
                affected.len(),
                threshold * 100.0,
                named.join(", ")
            )
        }
        Warning::OutputsDiffer {
            reference,
            mismatches,
            compared,
            first,
        } => format!(
            "outputs differ: {mismatches} of {compared} iterations differ from {reference}'s for the same input (first: {} round {} iteration {} on {}: {})",
            first.env, first.round, first.index, first.input, first.reason
        ),
        other => env_group_line(&[other]),
    }
}

/// CPU figures absent for one kind of reason, in every environment concerned.
fn cpu_absent_line(group: &[&Warning]) -> String {
    let mut envs: Vec<String> = Vec::new();
    let mut reasons: Vec<&AbsentReason> = Vec::new();
    for w in group {
        if let Warning::CpuAbsent {
            env,
            reason,
            rounds: which,
        } = w
        {
            envs.push(format!("{env} ({})", rounds(which)));
            reasons.push(reason);
        }
    }
    let why = match reasons.as_slice() {
        [AbsentReason::WindowTooShort { .. }, ..] => {
            let (mut shortest, mut minimum, mut needed) = (f64::MAX, 0.0f64, 0u64);
            for r in &reasons {
                if let AbsentReason::WindowTooShort {
                    seconds,
                    minimum_seconds,
                    iterations_needed,
                } = r
                {
                    shortest = shortest.min(*seconds);
                    minimum = minimum.max(*minimum_seconds);
                    needed = needed.max(*iterations_needed);
                }
            }
            format!(
                "the measured iterations lasted as little as {shortest:.3} s, under the {minimum:.1} s the CPU counters need for ±5%; ask for --iterations {needed} or more"
            )
        }
        [first, ..] => absent(first),
        [] => String::new(),
    };
    format!("CPU figures absent in {}: {why}", and_list(&envs))
}

/// Warnings about environments, one cause: one line naming each.
fn env_group_line(group: &[&Warning]) -> String {
    let each = |f: &dyn Fn(&Warning) -> Option<String>| -> String {
        and_list(&group.iter().filter_map(|w| f(w)).collect::<Vec<_>>())
    };
    match group[0] {
        Warning::FailedRepetitions { .. } => format!(
            "repetitions failed: {}",
            each(&|w| match w {
                Warning::FailedRepetitions {
                    env,
                    failed,
                    total,
                    baseline,
                } => Some(format!(
                    "{env} {} of {total} ({}: {}){}",
                    failed.len(),
                    rounds(&failed.iter().map(|f| f.round).collect::<Vec<_>>()),
                    failed.first().map(|f| f.reason.as_str()).unwrap_or(""),
                    if *baseline {
                        ", the baseline: every ratio rests on its other repetitions"
                    } else {
                        ""
                    }
                )),
                _ => None,
            })
        ),
        Warning::StopFailed { .. } => format!(
            "stopping instances failed: {}; exit codes and final counters unknown",
            each(&|w| match w {
                Warning::StopFailed { env, rounds: r, error } => {
                    Some(format!("{env} in {} ({error})", rounds(r)))
                }
                _ => None,
            })
        ),
        Warning::HighVariation { .. } => format!(
            "inference time varies a lot within instances: {}; a quieter host helps",
            each(&|w| match w {
                Warning::HighVariation { env, cv } => Some(format!("{env} CV {:.0}%", cv * 100.0)),
                _ => None,
            })
        ),
        Warning::OutlierRepetitions { .. } => format!(
            "repetitions far from their environment's others: {}; that instance, or the host then, behaved differently",
            each(&|w| match w {
                Warning::OutlierRepetitions { env, rounds: r, .. } => {
                    Some(format!("{env} {}", rounds(r)))
                }
                _ => None,
            })
        ),
        Warning::OutlierIterations { .. } => format!(
            "iterations that are outliers in inference time (modified z-score > 3.5): {}",
            each(&|w| match w {
                Warning::OutlierIterations { env, count } => Some(format!("{env} {count}")),
                _ => None,
            })
        ),
        Warning::SlowFirstIteration { .. } => {
            let warmup = group
                .iter()
                .filter_map(|w| match w {
                    Warning::SlowFirstIteration { warmup, .. } => Some(*warmup),
                    _ => None,
                })
                .max()
                .unwrap_or(0);
            format!(
                "the first measured iteration was over twice the others in {} (caches?); ask for --warmup {} or more",
                each(&|w| match w {
                    Warning::SlowFirstIteration { env, rounds: r, .. } => {
                        Some(format!("{env} ({})", rounds(r)))
                    }
                    _ => None,
                }),
                warmup + 2
            )
        }
        other => run_warning(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_named_from_one_in_a_sentence() {
        assert_eq!(rounds(&[3]), "round 3");
        assert_eq!(rounds(&[1, 2, 5]), "rounds 1, 2 and 5");
        assert_eq!(rounds(&[1, 2]), "rounds 1 and 2");
        assert_eq!(rounds(&[5, 1, 2, 3, 4, 7]), "rounds 1–5 and 7");
        assert_eq!(rounds(&[1, 3, 5]), "rounds 1, 3 and 5");
        assert_eq!(rounds(&[]), "no round");
    }

    #[test]
    fn advice_carries_the_number_to_ask_for() {
        let short = AbsentReason::WindowTooShort {
            seconds: 0.1,
            minimum_seconds: 0.4,
            iterations_needed: 40,
        };
        assert!(
            absent(&short).contains("--iterations 40"),
            "{}",
            absent(&short)
        );
        let slow = Warning::SlowFirstIteration {
            env: "docker".into(),
            rounds: vec![1, 4],
            warmup: 3,
        };
        assert!(warning(&slow).contains("--warmup 5"), "{}", warning(&slow));
    }

    #[test]
    fn one_line_per_cause_with_the_largest_number_asked_for() {
        let short = |env: &str, seconds: f64, needed: u64, rounds: Vec<u32>| Warning::CpuAbsent {
            env: env.into(),
            reason: AbsentReason::WindowTooShort {
                seconds,
                minimum_seconds: 0.4,
                iterations_needed: needed,
            },
            rounds,
        };
        let nothing = Warning::CpuAbsent {
            env: "gvisor".into(),
            reason: AbsentReason::NoWindow,
            rounds: vec![2],
        };
        let cv = |env: &str, cv: f64| Warning::HighVariation {
            env: env.into(),
            cv,
        };
        let warnings = vec![
            short("native", 0.12, 40, vec![1, 2, 3]),
            cv("docker", 0.12),
            short("docker", 0.09, 55, vec![1, 2, 3]),
            nothing.clone(),
            cv("gvisor", 0.2),
            cv("gvisor", 0.2),
        ];
        let lines = warning_lines(&warnings);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert_eq!(
            lines[0],
            "CPU figures absent in native (rounds 1–3) and docker (rounds 1–3): the measured iterations lasted as little as 0.090 s, under the 0.4 s the CPU counters need for ±5%; ask for --iterations 55 or more"
        );
        assert_eq!(
            lines[1],
            "inference time varies a lot within instances: docker CV 12% and gvisor CV 20%; a quieter host helps"
        );
        assert!(lines[2].starts_with("CPU figures absent in gvisor (round 2): no meter reading"));
    }
}
