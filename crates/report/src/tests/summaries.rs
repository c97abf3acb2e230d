//! The harness's summaries, mirrored (`crates/harness/src/summarize.rs`),
//! so the fixtures are summarised the way real results files are.

use isobench_records::Digest;
use isobench_results::{
    EnvOutput, EnvironmentResult, EnvironmentSummary, HostSpeed, InputOutputs, OutputCheck,
    OutputMismatch, Repetition, ResultsFile,
};
use isobench_stats::{
    hierarchical_ci, hierarchical_ratio, repetition_outliers, variance_components, CompareOptions,
    Comparison, Repeated, Statistic, Summary, DEFAULT_LEVEL, DEFAULT_RESAMPLES,
};

pub(super) fn grouped(env: &EnvironmentResult) -> (Vec<u32>, Option<Repeated>) {
    let mut indices = Vec::new();
    let mut groups = Vec::new();
    for rep in &env.repetitions {
        let values: Vec<f64> = rep.inference_us().collect();
        if !values.is_empty() {
            indices.push(rep.index);
            groups.push(values);
        }
    }
    (indices, Repeated::new(groups).ok())
}

pub(super) fn mean_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let present: Vec<f64> = values.flatten().collect();
    (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
}

pub(super) fn summary_of(groups: &Repeated, seed: u64) -> Option<Summary> {
    let mut summary = Summary::from_samples(&groups.pooled(), seed).ok()?;
    summary.mean_ci = hierarchical_ci(
        groups,
        Statistic::Mean,
        DEFAULT_RESAMPLES,
        DEFAULT_LEVEL,
        seed,
    );
    summary.median_ci = hierarchical_ci(
        groups,
        Statistic::Median,
        DEFAULT_RESAMPLES,
        DEFAULT_LEVEL,
        seed ^ 0x9E37_79B9_7F4A_7C15,
    );
    Some(summary)
}

pub(super) fn verdict_options(seed: u64) -> CompareOptions {
    CompareOptions {
        seed,
        ..CompareOptions::default()
    }
}

pub(super) fn summarize(
    env: &EnvironmentResult,
    baseline: Option<(&EnvironmentResult, &Repeated)>,
    seed: u64,
) -> Option<EnvironmentSummary> {
    let (indices, groups) = grouped(env);
    let groups = groups?;
    let inference_us = summary_of(&groups, seed)?;
    let end_to_end_us = summary_of(&Repeated::new(env.end_to_end_by_repetition()).ok()?, seed)?;
    let collect = |f: fn(&Repetition) -> Option<f64>| {
        let values: Vec<f64> = env.repetitions.iter().filter_map(f).collect();
        Summary::from_samples(&values, seed).ok()
    };
    let outlier_repetitions = repetition_outliers(&groups.repetition_stats(Statistic::Mean), 0.05)
        .into_iter()
        .map(|i| indices[i])
        .collect();
    let measured: Vec<&Repetition> = env
        .repetitions
        .iter()
        .filter(|r| !r.iterations.is_empty())
        .collect();
    let workload = |r: &&Repetition| r.agent_summary.as_ref()?.peak_rss_bytes.map(|b| b as f64);
    let host_peak = |e: &EnvironmentResult| {
        mean_of(
            e.repetitions
                .iter()
                .filter(|r| !r.iterations.is_empty())
                .map(|r| r.usage.host_peak_rss_bytes.map(|b| b as f64)),
        )
        .map(|b| b as u64)
    };
    let (ratio_to_baseline, comparison, not_compared) = match baseline {
        None => (None, None, None),
        Some((base, _)) if base.emulated != env.emulated => (
            None,
            None,
            Some("one side is emulated (TCG), the other hardware-accelerated".to_string()),
        ),
        Some((_, base)) => (
            hierarchical_ratio(base, &groups, Statistic::Mean, seed).ok(),
            Comparison::compute(base, &groups, &verdict_options(seed)).ok(),
            None,
        ),
    };
    Some(EnvironmentSummary {
        variance: variance_components(&groups),
        outlier_repetitions,
        failed_repetitions: env
            .repetitions
            .iter()
            .filter(|r| r.error.is_some())
            .map(|r| r.index)
            .collect(),
        ready_seconds: collect(|r| r.ready_seconds),
        first_inference_seconds: collect(|r| r.first_inference_seconds),
        cpu_percent: mean_of(measured.iter().map(|r| r.usage.cpu_percent)),
        cpu_seconds_per_inference: mean_of(
            measured.iter().map(|r| r.usage.cpu_seconds_per_inference),
        ),
        startup_cpu_seconds: mean_of(measured.iter().map(|r| r.usage.startup_cpu_seconds)),
        workload_peak_rss_bytes: mean_of(measured.iter().map(workload)).map(|b| b as u64),
        host_peak_rss_bytes: mean_of(
            measured
                .iter()
                .map(|r| r.usage.host_peak_rss_bytes.map(|b| b as f64)),
        )
        .map(|b| b as u64),
        isolation_overhead_bytes: baseline
            .and_then(|(base, _)| Some(host_peak(env)? as i64 - host_peak(base)? as i64)),
        vmm_overhead_bytes: mean_of(
            measured
                .iter()
                .map(|r| r.usage.vmm_overhead_bytes.map(|b| b as f64)),
        )
        .map(|b| b as u64),
        accuracy: None,
        ratio_to_baseline,
        comparison,
        not_compared,
        inference_us,
        end_to_end_us,
    })
}

pub(super) fn host_speed(results: &ResultsFile) -> Option<HostSpeed> {
    let probes: Vec<(String, f64)> = results
        .environments
        .iter()
        .flat_map(|e| {
            e.repetitions.iter().filter_map(move |r| {
                r.calibration
                    .map(|c| (format!("{} #{}", e.name, r.index), c.seconds()))
            })
        })
        .collect();
    let mut values: Vec<f64> = probes.iter().map(|p| p.1).collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    let (min, max) = (values[0], values[n - 1]);
    Some(HostSpeed {
        median_seconds: median,
        min_seconds: min,
        max_seconds: max,
        drift: max / min - 1.0,
        affected: probes
            .iter()
            .filter(|(_, v)| (v / median - 1.0).abs() > 0.05)
            .map(|(name, v)| format!("{name} ({:+.1}%)", (v / median - 1.0) * 100.0))
            .collect(),
    })
}

pub(super) fn first_outputs(env: &EnvironmentResult) -> Vec<(String, Digest)> {
    let mut firsts: Vec<(String, Digest)> = Vec::new();
    for it in env.repetitions.iter().flat_map(|r| &r.iterations) {
        if let Some(d) = &it.digest {
            if !firsts.iter().any(|(i, _)| *i == it.input) {
                firsts.push((it.input.clone(), d.clone()));
            }
        }
    }
    firsts
}

pub(super) fn check_outputs(results: &ResultsFile) -> Option<OutputCheck> {
    let reference_env = results
        .environments
        .iter()
        .find(|e| e.name == "native" && !first_outputs(e).is_empty())?;
    let reference = first_outputs(reference_env);
    let mut check = OutputCheck {
        reference: reference_env.name.clone(),
        tolerance: Digest::TOLERANCE.into(),
        ..OutputCheck::default()
    };
    for env in &results.environments {
        for rep in &env.repetitions {
            for it in &rep.iterations {
                let (Some(found), Some((_, expected))) = (
                    &it.digest,
                    reference.iter().find(|(input, _)| *input == it.input),
                ) else {
                    continue;
                };
                check.compared += 1;
                if let Some(reason) = expected.differs_from(found) {
                    check.mismatch_count += 1;
                    if check.mismatches.len() < OutputCheck::KEPT {
                        check.mismatches.push(OutputMismatch {
                            env: env.name.clone(),
                            repetition: rep.index,
                            index: it.index,
                            input: it.input.clone(),
                            reason,
                        });
                    }
                }
            }
        }
    }
    check.by_input = reference
        .iter()
        .map(|(input, _)| InputOutputs {
            input: input.clone(),
            outputs: results
                .environments
                .iter()
                .filter_map(|e| {
                    let (_, d) = first_outputs(e).into_iter().find(|(i, _)| i == input)?;
                    Some(EnvOutput {
                        env: e.name.clone(),
                        output: d.describe(),
                    })
                })
                .collect(),
        })
        .collect();
    Some(check)
}

/// Recomputes summaries, host speed and the outputs check (warnings are the fixture's).
pub(super) fn summarize_all(results: &mut ResultsFile) {
    let seed = results.experiment.seed;
    let summaries: Vec<Option<EnvironmentSummary>> = {
        let baseline = results
            .environments
            .iter()
            .find(|e| e.name == "native" && !e.all_inference_us().is_empty())
            .or_else(|| {
                results
                    .environments
                    .iter()
                    .find(|e| !e.all_inference_us().is_empty())
            })
            .and_then(|e| Some((e, grouped(e).1?)));
        results
            .environments
            .iter()
            .map(|env| {
                let base = baseline
                    .as_ref()
                    .filter(|(b, _)| b.name != env.name)
                    .map(|(b, g)| (*b, g));
                summarize(env, base, seed)
            })
            .collect()
    };
    for (env, summary) in results.environments.iter_mut().zip(summaries) {
        env.summary = summary;
    }
    results.host_speed = host_speed(results);
    results.outputs = check_outputs(results);
}
