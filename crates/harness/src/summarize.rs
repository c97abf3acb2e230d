//! From raw repetitions to per-environment statistics and warnings.

use isobench_results::{EnvironmentResult, EnvironmentSummary, ResultsFile};
use isobench_stats::{ratio_of_means_ci, Summary};

/// Coefficient of variation above which a warning is printed.
pub const HIGH_CV: f64 = 0.10;

/// Statistics of one environment; `baseline` is the baseline's inference samples (µs).
pub fn summarize(
    env: &EnvironmentResult,
    baseline: Option<(&[f64], u64)>,
    seed: u64,
) -> Option<EnvironmentSummary> {
    let inference = env.all_inference_us();
    let inference_us = Summary::from_samples(&inference, seed).ok()?;
    let end_to_end_us = Summary::from_samples(&env.all_end_to_end_us(), seed).ok()?;
    let collect = |f: fn(&isobench_results::Repetition) -> Option<f64>| -> Option<Summary> {
        let values: Vec<f64> = env.repetitions.iter().filter_map(f).collect();
        Summary::from_samples(&values, seed).ok()
    };
    let measured: Vec<_> = env
        .repetitions
        .iter()
        .filter(|r| !r.iterations.is_empty())
        .collect();
    let n = measured.len().max(1) as f64;
    let accuracies: Vec<f64> = measured
        .iter()
        .filter_map(|r| r.agent_summary.as_ref()?.accuracy)
        .collect();
    let peak_memory_bytes = (measured
        .iter()
        .map(|r| r.usage.peak_memory_bytes as f64)
        .sum::<f64>()
        / n) as u64;
    Some(EnvironmentSummary {
        ready_seconds: collect(|r| r.ready_seconds),
        first_inference_seconds: collect(|r| r.first_inference_seconds),
        cpu_percent: measured.iter().map(|r| r.usage.cpu_percent).sum::<f64>() / n,
        cpu_seconds_per_inference: measured
            .iter()
            .map(|r| r.usage.cpu_seconds_per_inference)
            .sum::<f64>()
            / n,
        peak_memory_bytes,
        memory_overhead_bytes: baseline
            .map(|(_, base_peak)| peak_memory_bytes as i64 - base_peak as i64),
        accuracy: (!accuracies.is_empty())
            .then(|| accuracies.iter().sum::<f64>() / accuracies.len() as f64),
        ratio_to_baseline: baseline
            .and_then(|(base, _)| ratio_of_means_ci(base, &inference, seed).ok()),
        inference_us,
        end_to_end_us,
    })
}

/// Recomputes every environment's summary (the baseline first) and the warnings.
pub fn summarize_all(results: &mut ResultsFile) {
    let seed = results.experiment.seed;
    let baseline_name = results
        .environments
        .iter()
        .find(|e| e.name == "native" && !e.all_inference_us().is_empty())
        .or_else(|| {
            results
                .environments
                .iter()
                .find(|e| !e.all_inference_us().is_empty())
        })
        .map(|e| e.name.clone());
    let baseline = baseline_name.as_ref().and_then(|name| {
        let env = results.environments.iter().find(|e| &e.name == name)?;
        let summary = summarize(env, None, seed)?;
        Some((env.all_inference_us(), summary.peak_memory_bytes))
    });
    for env in &mut results.environments {
        let is_baseline = Some(&env.name) == baseline_name.as_ref();
        let base = if is_baseline {
            None
        } else {
            baseline.as_ref().map(|(s, p)| (s.as_slice(), *p))
        };
        env.summary = summarize(env, base, seed);
    }
    results.warnings = warnings(results);
}

/// Warnings a reader should see, as hyperfine prints them.
pub fn warnings(results: &ResultsFile) -> Vec<String> {
    let mut out = Vec::new();
    if results.host.load_average > f64::from(results.host.cpus.max(1)) {
        out.push(format!(
            "the host's load average ({:.1}) was above its CPU count ({}) when the experiment started: a noisy neighbour may distort the figures",
            results.host.load_average, results.host.cpus
        ));
    }
    for env in &results.environments {
        if env.emulated {
            out.push(format!(
                "{}: figures come from software emulation ({}); they say nothing about hardware-virtualised performance",
                env.name,
                env.accel.as_deref().unwrap_or("tcg")
            ));
        }
        if let Some(summary) = &env.summary {
            if summary.inference_us.cv > HIGH_CV {
                out.push(format!(
                    "{}: inference time varies a lot (CV {:.1}%); consider more iterations or a quieter host",
                    env.name,
                    summary.inference_us.cv * 100.0
                ));
            }
            let outliers = summary.inference_us.outliers.len();
            if outliers > 0 {
                out.push(format!(
                    "{}: {outliers} statistical outlier(s) detected in inference time (modified z-score > 3.5)",
                    env.name
                ));
            }
        }
        for rep in &env.repetitions {
            if let (Some(first), Some(rest)) = (rep.iterations.first(), rep.iterations.get(1..)) {
                if !rest.is_empty() {
                    let mean =
                        rest.iter().map(|i| i.inference_us as f64).sum::<f64>() / rest.len() as f64;
                    if first.inference_us as f64 > 2.0 * mean && mean > 0.0 {
                        out.push(format!(
                            "{} repetition {}: the first measured iteration was much slower than the rest (caches?); consider more --warmup",
                            env.name, rep.index
                        ));
                    }
                }
            }
        }
    }
    out
}
