//! Results into words: the one place that phrases a warning or the reason
//! for an absent figure (the results hold them as data). Every report
//! (terminal, Markdown, HTML, compare) words them the same way. Repetitions
//! are named by their round, from 1, everywhere.

use isobench_results::{AbsentReason, Warning};

/// `round 3`, `rounds 1, 2 and 5`.
pub fn rounds(rounds: &[u32]) -> String {
    match rounds {
        [] => "no round".into(),
        [one] => format!("round {one}"),
        [init @ .., last] => format!(
            "rounds {} and {last}",
            init.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
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

/// One warning, in one line.
pub fn warning(w: &Warning) -> String {
    match w {
        Warning::BusyHost { load_average, cpus } => format!(
            "the host's load average ({load_average:.1}) was above its CPU count ({cpus}) when the run started: a noisy neighbour may distort the figures"
        ),
        Warning::DesignTooSmall {
            repetitions,
            needed,
            alpha,
        } => format!(
            "{repetitions} repetitions per environment cannot reach p < {alpha}: verdicts are inconclusive; ask for --repetitions {needed} or more"
        ),
        Warning::BlockedOrder => "repetitions ran in blocks (--order blocked): the host's drift over the run is attributed to whichever environment ran at that moment".into(),
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
                .take(4)
                .map(|a| format!("{} round {} ({:+.0}%)", a.env, a.round, a.off * 100.0))
                .collect();
            if affected.len() > 4 {
                named.push(format!("{} more", affected.len() - 4));
            }
            format!(
                "the host's speed drifted {:.0}% during the run (probe {:.1}–{:.1} ms); {} repetition(s) ran while it was over {:.0}% off its median: {}",
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
        Warning::Emulated { env, accel } => format!(
            "{env}: figures come from software emulation ({accel}); they say nothing about hardware-virtualised speed"
        ),
        Warning::FailedRepetitions {
            env,
            failed,
            total,
            baseline,
        } => {
            let first = failed.first().map(|f| f.reason.as_str()).unwrap_or("");
            let mut text = format!(
                "{env}: {} of {total} repetitions failed ({}; first: {first})",
                failed.len(),
                rounds(&failed.iter().map(|f| f.round).collect::<Vec<_>>())
            );
            if *baseline {
                text.push_str("; it is the baseline: every ratio rests on its successful repetitions");
            }
            text
        }
        Warning::StopFailed {
            env,
            rounds: which,
            error,
        } => format!(
            "{env}: stopping the instance failed in {} ({error}); exit codes and final counters unknown",
            rounds(which)
        ),
        Warning::CpuAbsent {
            env,
            reason,
            rounds: which,
        } => format!("{env}: CPU figures absent in {}: {}", rounds(which), absent(reason)),
        Warning::HighVariation { env, cv } => format!(
            "{env}: inference time varies a lot within instances (CV {:.0}%); a quieter host helps",
            cv * 100.0
        ),
        Warning::OutlierRepetitions {
            env,
            rounds: which,
            means_ms,
        } => format!(
            "{env}: {} far from its other repetitions (means {} ms): that instance, or the host then, behaved differently",
            rounds(which),
            means_ms
                .iter()
                .map(|m| format!("{m:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Warning::OutlierIterations { env, count } => format!(
            "{env}: {count} iteration(s) are outliers in inference time (modified z-score > 3.5)"
        ),
        Warning::SlowFirstIteration {
            env,
            rounds: which,
            warmup,
        } => format!(
            "{env}: the first measured iteration was over twice the others in {} (caches?); ask for --warmup {} or more",
            rounds(which),
            warmup + 2
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_named_from_one_in_a_sentence() {
        assert_eq!(rounds(&[3]), "round 3");
        assert_eq!(rounds(&[1, 2, 5]), "rounds 1, 2 and 5");
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
}
