//! Comparing one pair of environments: their repetitions' statistics and
//! the decision, paired by round within a file or unpaired across files.

use isobench_results::EnvironmentResult;
use isobench_stats::{decide, decide_fixed, Looks, Observations, Statistic};

use super::{CompareOptions, CompareRow};
use crate::format::failed_count;

/// `(round, statistic)` of every measured repetition of `env`.
fn repetition_stats(env: &EnvironmentResult, statistic: Statistic) -> Vec<(usize, f64)> {
    env.repetitions
        .iter()
        .filter(|r| !r.iterations.is_empty())
        .map(|r| {
            let mut values: Vec<f64> = r.inference_us().collect();
            (r.round as usize, statistic.of(&mut values))
        })
        .collect()
}

/// How a pair is compared: within one file (paired by round, at the file's
/// looks) or across two files (unpaired, one look).
pub(super) enum Pairing<'a> {
    /// Paired by round; decided at these looks.
    Rounds(&'a Looks),
    /// Two sessions.
    Unpaired,
}

/// Compares one pair of environments (B against A).
pub(super) fn compare_pair(
    a: &EnvironmentResult,
    b: &EnvironmentResult,
    options: &CompareOptions,
    pairing: &Pairing<'_>,
) -> CompareRow {
    let sa = repetition_stats(a, options.statistic);
    let sb = repetition_stats(b, options.statistic);
    let mean = |v: &[(usize, f64)]| {
        (!v.is_empty()).then(|| v.iter().map(|(_, x)| x).sum::<f64>() / v.len() as f64)
    };
    let mut row = CompareRow {
        a_environment: a.name.clone(),
        b_environment: b.name.clone(),
        a_repetitions: sa.len(),
        b_repetitions: sb.len(),
        a_iterations: a.repetitions.iter().map(|r| r.iterations.len()).sum(),
        b_iterations: b.repetitions.iter().map(|r| r.iterations.len()).sum(),
        a_failed: a.partly_failed(),
        b_failed: b.partly_failed(),
        a_mean_us: mean(&sa),
        b_mean_us: mean(&sb),
        decision: None,
        skipped: None,
    };
    if a.emulated != b.emulated {
        row.skipped = Some("one side is emulated (TCG), the other hardware-accelerated".into());
        return row;
    }
    for (side, stats, env) in [("A", &sa, a), ("B", &sb, b)] {
        if stats.is_empty() {
            row.skipped = Some(format!("{side}: {} has no samples", env.name));
            return row;
        }
    }
    let decided = match pairing {
        Pairing::Rounds(looks) => {
            let covered = looks.last().map_or(0, |l| l.rounds);
            let upto = |v: &[(usize, f64)]| -> Vec<(usize, f64)> {
                v.iter().copied().filter(|(r, _)| *r <= covered).collect()
            };
            decide(
                &Observations::by_round(&upto(&sa), &upto(&sb)),
                looks,
                &options.decision,
            )
        }
        Pairing::Unpaired => decide_fixed(
            &Observations::Unpaired {
                baseline: sa.iter().map(|(_, v)| *v).collect(),
                candidate: sb.iter().map(|(_, v)| *v).collect(),
            },
            &options.decision,
        ),
    };
    match decided {
        Ok(d) => row.decision = Some(d),
        Err(e) => row.skipped = Some(e.to_string()),
    }
    row
}

/// `1 of 3 repetitions failed (round 1: reason)` for a partly failed environment.
pub(super) fn failure_detail(env: &EnvironmentResult) -> String {
    let (failed, total) = failed_count(env);
    let errors: Vec<String> = env
        .repetitions
        .iter()
        .filter_map(|r| Some(format!("round {}: {}", r.round, r.error.as_ref()?)))
        .collect();
    if errors.is_empty() {
        format!("its status is failed ({failed} of {total} repetitions have an error)")
    } else {
        format!(
            "{failed} of {total} repetitions failed ({})",
            errors.join("; ")
        )
    }
}
