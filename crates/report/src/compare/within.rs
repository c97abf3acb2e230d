//! Environments of one results file against its baseline (`isobench
//! compare A.json`): paired by round and decided at the file's looks, so
//! the verdicts are the ones every report of the file shows.

use isobench_results::{EnvironmentResult, Order, ResultsFile};

use super::pair::{compare_pair, failure_detail, Pairing};
use super::{CompareOptions, CompareReport, CompareRow, HOST_DRIFT_THRESHOLD};
use crate::ReportError;

/// The baseline and the candidates asked for, among the measured environments.
fn chosen<'a>(
    results: &'a ResultsFile,
    baseline: Option<&str>,
    others: Option<&[String]>,
) -> Result<(&'a EnvironmentResult, Vec<&'a EnvironmentResult>), ReportError> {
    let measured: Vec<&EnvironmentResult> = results
        .environments
        .iter()
        .filter(|e| !e.inference_by_repetition().is_empty())
        .collect();
    let find = |name: &str| {
        measured
            .iter()
            .copied()
            .find(|e| e.name == name)
            .ok_or_else(|| ReportError::UnknownEnvironment {
                name: name.to_string(),
                available: measured
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    };
    let base = match baseline {
        Some(name) => find(name)?,
        None => results
            .baseline_env()
            .filter(|b| measured.iter().any(|m| m.name == b.name))
            .or_else(|| measured.first().copied())
            .ok_or_else(|| {
                ReportError::NothingToCompare(
                    "no environment in the results has inference samples".into(),
                )
            })?,
    };
    let candidates: Vec<&EnvironmentResult> = match others {
        Some(names) => names.iter().map(|n| find(n)).collect::<Result<_, _>>()?,
        None => measured
            .iter()
            .copied()
            .filter(|e| e.name != base.name)
            .collect(),
    };
    if candidates.is_empty() {
        return Err(ReportError::NothingToCompare(format!(
            "only `{}` has inference samples; measure a second environment",
            base.name
        )));
    }
    Ok((base, candidates))
}

/// Partly failed environments and the host's drift during the run.
fn warnings(
    results: &ResultsFile,
    base: &EnvironmentResult,
    candidates: &[&EnvironmentResult],
    rows: &[CompareRow],
) -> Vec<String> {
    let mut warnings = Vec::new();
    if base.partly_failed() {
        for row in rows {
            warnings.push(format!(
                "{}: compared with the partly failed baseline {} ({}); the ratio and verdict rest on its repetitions that completed",
                row.b_environment,
                base.name,
                failure_detail(base)
            ));
        }
    }
    for env in candidates.iter().filter(|e| e.partly_failed()) {
        warnings.push(format!(
            "{} is partly failed: {}",
            env.name,
            failure_detail(env)
        ));
    }
    if let Some(speed) = &results.host_speed {
        if speed.drift > HOST_DRIFT_THRESHOLD && !speed.affected.is_empty() {
            warnings.push(format!(
                "the host's speed drifted by {:.1}% during the experiment; repetitions run while it was more than {:.0}% off its median: {}",
                speed.drift * 100.0,
                HOST_DRIFT_THRESHOLD * 100.0,
                speed
                    .affected
                    .iter()
                    .map(|a| format!("{} round {} ({:+.1}%)", a.env, a.round, a.off * 100.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    warnings
}

/// The file's output mismatches that concern the compared environments.
fn output_mismatches(results: &ResultsFile, involved: &[&str]) -> Vec<String> {
    let Some(check) = results.outputs.as_ref().filter(|c| !c.consistent()) else {
        return Vec::new();
    };
    check
        .mismatches
        .iter()
        .filter(|m| involved.contains(&m.env.as_str()))
        .map(|m| {
            format!(
                "{} round {} iteration {} on {}: {} (reference {})",
                m.env, m.round, m.index, m.input, m.reason, check.reference
            )
        })
        .collect()
}

/// Compares environments of one file against `baseline` (default: the file's
/// baseline, else the first measured environment). `others` limits the
/// candidates (default: every other measured environment). With the file's
/// decision options the verdicts are the ones every report of the file shows.
pub fn compare_environments(
    results: &ResultsFile,
    baseline: Option<&str>,
    others: Option<&[String]>,
    options: &CompareOptions,
) -> Result<CompareReport, ReportError> {
    let (base, candidates) = chosen(results, baseline, others)?;
    let looks = results.looks();
    let pairing = if results.experiment.order == Order::Interleaved {
        Pairing::Rounds(&looks)
    } else {
        Pairing::Unpaired
    };
    let rows: Vec<CompareRow> = candidates
        .iter()
        .map(|e| compare_pair(base, e, options, &pairing))
        .collect();
    let mut warnings = warnings(results, base, &candidates, &rows);
    let mut involved: Vec<&str> = candidates.iter().map(|e| e.name.as_str()).collect();
    involved.push(&base.name);
    let output_mismatches = output_mismatches(results, &involved);
    if let Some(check) = results
        .outputs
        .as_ref()
        .filter(|_| !output_mismatches.is_empty())
    {
        warnings.push(format!(
            "outputs differ between environments: {} of {} iterations differ from {}'s output for the same input",
            check.mismatch_count, check.compared, check.reference
        ));
    }
    Ok(CompareReport {
        paired: matches!(pairing, Pairing::Rounds(_)),
        baseline: Some(base.name.clone()),
        a_label: format!("{} (baseline)", base.name),
        b_label: candidates
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        options: *options,
        rows,
        only_in_a: vec![],
        only_in_b: vec![],
        warnings,
        forced: vec![],
        host_drift: None,
        output_mismatches,
    })
}
