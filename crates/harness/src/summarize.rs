//! From raw repetitions to per-environment statistics, the verdict against
//! the baseline, and warnings.
//!
//! A repetition (one fresh instance) is the unit of replication. The
//! verdict compares each environment's repetition means with the
//! baseline's, paired by round (`isobench_stats::Observations::by_round`:
//! whatever slowed a whole round cancels in its ratio), and decides it at
//! the run's last look (`isobench_stats::decide_with`): slower, faster or
//! same when the look's repeated confidence interval says so, else
//! inconclusive with what would decide it. The same [`decision_options`]
//! are used by every report and by `isobench compare`, and the looks are
//! stored in results.json, so every report shows the same verdict.

use isobench_results::{
    AbsentReason, EnvironmentResult, EnvironmentSummary, FailedRepetition, MemoryDifference, Order,
    ResultsFile, Status, Warning,
};
use isobench_stats::{
    decide_with, hierarchical_ci, paired_difference, repetition_outliers, variance_components,
    Boundaries, Decision, DecisionOptions, Observations, Repeated, RoundPair, Statistic, Summary,
    DEFAULT_LEVEL, DEFAULT_RESAMPLES,
};

use crate::calibration::{host_speed, DRIFT_THRESHOLD};
use crate::outputs::{check_outputs, mismatch_warning};

/// Coefficient of variation above which a warning is printed.
pub const HIGH_CV: f64 = 0.10;

/// Relative distance from the median of an environment's repetition means
/// below which a repetition is never called an outlier (however tight the others are).
pub const OUTLIER_MIN_RELATIVE: f64 = 0.05;

/// The verdict rule shared by the terminal table, every report and
/// `isobench compare`'s defaults: α 0.01 overall, a 5% threshold,
/// O'Brien–Fleming-type alpha spending over the looks, MDE at 80% power.
pub fn decision_options() -> DecisionOptions {
    DecisionOptions::default()
}

/// Level of the memory differences' intervals (descriptive: whether a
/// difference stands out of the meter's noise, not a verdict).
pub const MEMORY_LEVEL: f64 = 0.95;

/// Inference samples of `env` grouped by repetition, with the repetition
/// indices (repetitions without samples left out).
fn grouped(env: &EnvironmentResult) -> (Vec<u32>, Option<Repeated>) {
    let mut indices = Vec::new();
    let mut groups = Vec::new();
    for rep in &env.repetitions {
        let values: Vec<f64> = rep.inference_us().collect();
        if !values.is_empty() {
            indices.push(rep.round);
            groups.push(values);
        }
    }
    (indices, Repeated::new(groups).ok())
}

/// Mean of the present values.
fn mean_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let present: Vec<f64> = values.flatten().collect();
    (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
}

/// Pooled descriptive statistics with two-level bootstrap intervals.
fn summary_of(groups: &Repeated, seed: u64) -> Option<Summary> {
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

/// The baseline an environment is compared with, and how: the run's
/// order, looks and decision rule.
pub struct Baseline<'a> {
    /// The baseline environment.
    pub env: &'a EnvironmentResult,
    /// The boundaries of the run's looks (the last one decides).
    pub boundaries: Boundaries,
    /// Rounds the last look covers (data after it waits for the next look).
    pub rounds: u32,
    /// Paired on rounds (interleaved) or not (blocked).
    pub paired: bool,
    /// The decision rule.
    pub options: DecisionOptions,
}

/// `(round, mean inference time)` of every measured repetition of `env` up to `rounds`.
fn round_means(env: &EnvironmentResult, rounds: u32) -> Vec<(usize, f64)> {
    env.repetitions
        .iter()
        .filter(|r| r.round <= rounds && !r.iterations.is_empty())
        .map(|r| {
            let values: Vec<f64> = r.inference_us().collect();
            (
                r.round as usize,
                values.iter().sum::<f64>() / values.len() as f64,
            )
        })
        .collect()
}

/// `(round, host peak RSS)` of every measured repetition of `env` up to `rounds`.
fn round_memory(env: &EnvironmentResult, rounds: u32) -> Vec<(usize, f64)> {
    env.repetitions
        .iter()
        .filter(|r| r.round <= rounds && !r.iterations.is_empty())
        .filter_map(|r| Some((r.round as usize, r.usage.host_peak_rss_bytes? as f64)))
        .collect()
}

/// The observations of `env` against the baseline: paired by round when
/// the run interleaved its rounds, else the two sides' repetitions.
pub fn observations(base: &Baseline<'_>, env: &EnvironmentResult) -> Observations {
    let a = round_means(base.env, base.rounds);
    let b = round_means(env, base.rounds);
    if base.paired {
        Observations::by_round(&a, &b)
    } else {
        Observations::Unpaired {
            baseline: a.into_iter().map(|(_, v)| v).collect(),
            candidate: b.into_iter().map(|(_, v)| v).collect(),
        }
    }
}

/// The host memory `env` costs beyond the baseline, paired by round.
fn memory_difference(base: &Baseline<'_>, env: &EnvironmentResult) -> Option<MemoryDifference> {
    let a = round_memory(base.env, base.rounds);
    let b = round_memory(env, base.rounds);
    let pairs: Vec<RoundPair> = b
        .iter()
        .filter_map(|(round, candidate)| {
            let (_, baseline) = a.iter().find(|(r, _)| r == round)?;
            Some(RoundPair {
                baseline: *baseline,
                candidate: *candidate,
            })
        })
        .collect();
    let estimate = paired_difference(&pairs).ok()?;
    let interval = estimate.interval(MEMORY_LEVEL);
    Some(MemoryDifference {
        mean_bytes: estimate.estimate,
        low_bytes: interval.low,
        high_bytes: interval.high,
        level: MEMORY_LEVEL,
        within_noise: estimate.includes_zero(MEMORY_LEVEL),
    })
}

/// Mean over measured repetitions of the host peak RSS.
fn mean_host_peak(env: &EnvironmentResult) -> Option<u64> {
    mean_of(
        env.repetitions
            .iter()
            .filter(|r| !r.iterations.is_empty())
            .map(|r| r.usage.host_peak_rss_bytes.map(|b| b as f64)),
    )
    .map(|b| b as u64)
}

/// Statistics of one environment against `baseline` (None for the baseline itself).
pub fn summarize(
    env: &EnvironmentResult,
    baseline: Option<&Baseline<'_>>,
    seed: u64,
) -> Option<EnvironmentSummary> {
    let (indices, groups) = grouped(env);
    let groups = groups?;
    let inference_us = summary_of(&groups, seed)?;
    let end_to_end = Repeated::new(env.end_to_end_by_repetition()).ok()?;
    let end_to_end_us = summary_of(&end_to_end, seed)?;
    let collect = |f: fn(&isobench_results::Repetition) -> Option<f64>| -> Option<Summary> {
        let values: Vec<f64> = env.repetitions.iter().filter_map(f).collect();
        Summary::from_samples(&values, seed).ok()
    };
    let means = groups.repetition_stats(Statistic::Mean);
    let outlier_repetitions = repetition_outliers(&means, OUTLIER_MIN_RELATIVE)
        .into_iter()
        .map(|i| indices[i])
        .collect();
    let measured: Vec<_> = env
        .repetitions
        .iter()
        .filter(|r| !r.iterations.is_empty())
        .collect();
    let accuracies: Vec<f64> = measured
        .iter()
        .filter_map(|r| r.agent_summary.as_ref()?.accuracy)
        .collect();
    let workload_rss = |r: &&isobench_results::Repetition| {
        r.agent_summary.as_ref()?.peak_rss_bytes.map(|b| b as f64)
    };
    let host_peak = mean_host_peak(env);
    let (decision, not_compared): (Option<Decision>, Option<String>) = match baseline {
        None => (None, None),
        Some(base) if base.env.emulated != env.emulated => (
            None,
            Some("one side is emulated (TCG), the other hardware-accelerated".to_string()),
        ),
        Some(base) => {
            match decide_with(&observations(base, env), &base.boundaries, &base.options) {
                Ok(decision) => (Some(decision), None),
                Err(e) => (None, Some(e.to_string())),
            }
        }
    };
    Some(EnvironmentSummary {
        variance: variance_components(&groups),
        outlier_repetitions,
        failed_repetitions: env
            .repetitions
            .iter()
            .filter(|r| r.error.is_some())
            .map(|r| r.round)
            .collect(),
        ready_seconds: collect(|r| r.ready_seconds),
        first_inference_seconds: collect(|r| r.first_inference_seconds),
        cpu_percent: mean_of(measured.iter().map(|r| r.usage.cpu_percent)),
        cpu_seconds_per_inference: mean_of(
            measured.iter().map(|r| r.usage.cpu_seconds_per_inference),
        ),
        startup_cpu_seconds: mean_of(measured.iter().map(|r| r.usage.startup_cpu_seconds)),
        workload_peak_rss_bytes: mean_of(measured.iter().map(workload_rss)).map(|b| b as u64),
        host_peak_rss_bytes: host_peak,
        isolation_overhead: baseline.and_then(|base| memory_difference(base, env)),
        vmm_overhead_bytes: mean_of(
            measured
                .iter()
                .map(|r| r.usage.vmm_overhead_bytes.map(|b| b as f64)),
        )
        .map(|b| b as u64),
        accuracy: (!accuracies.is_empty())
            .then(|| accuracies.iter().sum::<f64>() / accuracies.len() as f64),
        decision,
        not_compared,
        inference_us,
        end_to_end_us,
    })
}

/// The environment results are compared with: the file's baseline, when
/// it has samples.
pub fn baseline_of(results: &ResultsFile) -> Option<&EnvironmentResult> {
    results
        .baseline_env()
        .filter(|e| !e.all_inference_us().is_empty())
}

/// Recomputes every environment's summary (against the baseline), the
/// host-speed figure, the same-answer check and the warnings.
pub fn summarize_all(results: &mut ResultsFile) {
    let seed = results.experiment.seed;
    let options = results
        .design
        .as_ref()
        .map(|d| d.decision)
        .unwrap_or_else(decision_options);
    let looks = results.looks();
    let summaries: Vec<Option<EnvironmentSummary>> = {
        let baseline = baseline_of(results).and_then(|env| {
            Some(Baseline {
                env,
                boundaries: Boundaries::compute(&looks, options.alpha, options.spending).ok()?,
                rounds: looks.last()?.rounds as u32,
                paired: results.experiment.order == Order::Interleaved,
                options,
            })
        });
        results
            .environments
            .iter()
            .map(|env| {
                let is_baseline = results.is_baseline(&env.name);
                summarize(env, baseline.as_ref().filter(|_| !is_baseline), seed)
            })
            .collect()
    };
    for (env, summary) in results.environments.iter_mut().zip(summaries) {
        env.summary = summary;
    }
    results.host_speed = host_speed(results);
    results.outputs = check_outputs(results);
    results.warnings = warnings(results);
}

/// Warnings a reader should see, as hyperfine prints them: one per cause
/// and environment, as data (the reports put them into words).
pub fn warnings(results: &ResultsFile) -> Vec<Warning> {
    let mut out = Vec::new();
    if results.host.load_average > f64::from(results.host.cpus.max(1)) {
        out.push(Warning::BusyHost {
            load_average: results.host.load_average,
            cpus: results.host.cpus,
        });
    }
    if results.experiment.order == Order::Blocked {
        out.push(Warning::BlockedOrder);
    }
    if results
        .environments
        .iter()
        .any(|e| e.status == Status::Interrupted)
    {
        out.push(Warning::Interrupted {
            rounds_done: results
                .environments
                .iter()
                .map(|e| e.repetitions.len() as u32)
                .max()
                .unwrap_or(0),
        });
    }
    if let Some(speed) = &results.host_speed {
        if speed.drift > DRIFT_THRESHOLD && !speed.affected.is_empty() {
            out.push(Warning::HostDrift {
                drift: speed.drift,
                min_seconds: speed.min_seconds,
                max_seconds: speed.max_seconds,
                median_seconds: speed.median_seconds,
                threshold: DRIFT_THRESHOLD,
                affected: speed.affected.clone(),
            });
        }
    }
    if let Some(check) = &results.outputs {
        out.extend(mismatch_warning(check));
    }
    for env in &results.environments {
        env_warnings(results, env, &mut out);
    }
    out
}

/// The warnings about one environment.
fn env_warnings(results: &ResultsFile, env: &EnvironmentResult, out: &mut Vec<Warning>) {
    let name = || env.name.clone();
    if env.emulated {
        out.push(Warning::Emulated {
            env: name(),
            accel: env.accel.clone().unwrap_or_else(|| "tcg".into()),
        });
    }
    let failed: Vec<FailedRepetition> = env
        .repetitions
        .iter()
        .filter_map(|r| {
            Some(FailedRepetition {
                round: r.round,
                reason: r.error.clone()?,
            })
        })
        .collect();
    if !failed.is_empty() {
        out.push(Warning::FailedRepetitions {
            env: name(),
            failed,
            total: env.repetitions.len() as u32,
            baseline: results.is_baseline(&env.name),
        });
    }
    let stop_failed: Vec<&isobench_results::Repetition> = env
        .repetitions
        .iter()
        .filter(|r| r.stop_error.is_some())
        .collect();
    if let Some(first) = stop_failed.first() {
        out.push(Warning::StopFailed {
            env: name(),
            rounds: stop_failed.iter().map(|r| r.round).collect(),
            error: first.stop_error.clone().unwrap_or_default(),
        });
    }
    // One warning per distinct reason (reasons that differ only in their
    // numbers, e.g. two short windows, count as one: the first is kept).
    let mut absent: Vec<(AbsentReason, Vec<u32>)> = Vec::new();
    for rep in env.repetitions.iter().filter(|r| r.error.is_none()) {
        for reason in &rep.usage.absent {
            match absent
                .iter_mut()
                .find(|(r, _)| std::mem::discriminant(r) == std::mem::discriminant(reason))
            {
                Some((_, rounds)) => rounds.push(rep.round),
                None => absent.push((reason.clone(), vec![rep.round])),
            }
        }
    }
    for (reason, rounds) in absent {
        out.push(Warning::CpuAbsent {
            env: name(),
            reason,
            rounds,
        });
    }
    if let Some(summary) = &env.summary {
        if summary.inference_us.cv > HIGH_CV {
            out.push(Warning::HighVariation {
                env: name(),
                cv: summary.inference_us.cv,
            });
        }
        if !summary.outlier_repetitions.is_empty() {
            out.push(Warning::OutlierRepetitions {
                env: name(),
                rounds: summary.outlier_repetitions.clone(),
                means_ms: summary
                    .variance
                    .as_ref()
                    .map(|v| v.repetition_means.iter().map(|m| m / 1e3).collect())
                    .unwrap_or_default(),
            });
        }
        let outliers = summary.inference_us.outliers.len();
        if outliers > 0 {
            out.push(Warning::OutlierIterations {
                env: name(),
                count: outliers as u32,
            });
        }
    }
    let slow_first: Vec<u32> = env
        .repetitions
        .iter()
        .filter(|rep| {
            let (Some(first), Some(rest)) = (rep.iterations.first(), rep.iterations.get(1..))
            else {
                return false;
            };
            if rest.is_empty() {
                return false;
            }
            let mean = rest.iter().map(|i| i.inference_us as f64).sum::<f64>() / rest.len() as f64;
            mean > 0.0 && first.inference_us as f64 > 2.0 * mean
        })
        .map(|rep| rep.round)
        .collect();
    if !slow_first.is_empty() {
        out.push(Warning::SlowFirstIteration {
            env: name(),
            rounds: slow_first,
            warmup: results.experiment.warmup,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isobench_results::{Calibration, IterationSample, Repetition, Usage};

    /// `rounds` repetitions of `n` iterations of `us` µs each (first one `first` µs).
    fn env(name: &str, rounds: u32, n: u64, us: u64, first: u64) -> EnvironmentResult {
        EnvironmentResult {
            repetitions: (1..=rounds)
                .map(|round| Repetition {
                    round,
                    calibration: Some(Calibration {
                        before: 0.010,
                        after: 0.010,
                    }),
                    iterations: (0..n)
                        .map(|i| IterationSample {
                            index: i,
                            input: "x".into(),
                            inference_us: if i == 0 { first } else { us + i % 3 },
                            end_to_end_us: us,
                            ..IterationSample::default()
                        })
                        .collect(),
                    usage: Usage {
                        host_peak_rss_bytes: Some(50 << 20),
                        ..Usage::default()
                    },
                    ..Repetition::default()
                })
                .collect(),
            ..EnvironmentResult::new(name, rounds)
        }
    }

    fn file(envs: Vec<EnvironmentResult>) -> ResultsFile {
        let mut results: ResultsFile =
            serde_json::from_str(include_str!("../tests/data/empty-results.json")).unwrap();
        results.baseline = Some(envs[0].name.clone());
        results.experiment.warmup = 1;
        results.environments = envs;
        summarize_all(&mut results);
        results
    }

    fn causes(results: &ResultsFile) -> Vec<String> {
        results
            .warnings
            .iter()
            .map(|w| {
                serde_json::to_value(w).unwrap()["cause"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn a_quiet_run_has_no_warnings() {
        let results = file(vec![
            env("native", 5, 10, 1000, 1000),
            env("docker", 5, 10, 1010, 1010),
        ]);
        assert!(results.warnings.is_empty(), "{:?}", results.warnings);
    }

    #[test]
    fn every_cause_is_one_warning_with_its_rounds() {
        let mut docker = env("docker", 5, 10, 1000, 5000);
        docker.emulated = true;
        docker.accel = Some("tcg".into());
        docker.repetitions[1].error = Some("agent exited".into());
        docker.repetitions[2].stop_error = Some("runc kill: timeout".into());
        for round in [3, 4] {
            docker.repetitions[round].usage.absent = vec![AbsentReason::WindowTooShort {
                seconds: 0.01 * round as f64,
                minimum_seconds: 0.4,
                iterations_needed: 400,
            }];
        }
        let mut native = env("native", 5, 10, 1000, 1000);
        native.repetitions[0].calibration = Some(Calibration {
            before: 0.020,
            after: 0.020,
        });
        let mut results = file(vec![native, docker]);
        results.host.load_average = 9.0;
        results.host.cpus = 2;
        results.experiment.order = Order::Blocked;
        results.warnings = warnings(&results);
        let causes = causes(&results);
        for cause in [
            "busy_host",
            "blocked_order",
            "host_drift",
            "emulated",
            "failed_repetitions",
            "stop_failed",
            "cpu_absent",
            "slow_first_iteration",
        ] {
            assert_eq!(
                causes.iter().filter(|c| *c == cause).count(),
                1,
                "{cause}: {causes:?}"
            );
        }
        let absent = results
            .warnings
            .iter()
            .find_map(|w| match w {
                Warning::CpuAbsent { rounds, .. } => Some(rounds.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(absent, [4, 5], "two short windows are one warning");
        let slow = results
            .warnings
            .iter()
            .find_map(|w| match w {
                Warning::SlowFirstIteration { env, rounds, .. } => {
                    Some((env.clone(), rounds.len()))
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(slow, ("docker".into(), 5));
        let drift = results
            .warnings
            .iter()
            .find_map(|w| match w {
                Warning::HostDrift { affected, .. } => Some(affected.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!((drift[0].env.as_str(), drift[0].round), ("native", 1));
    }

    #[test]
    fn a_failed_baseline_says_so() {
        let mut native = env("native", 5, 10, 1000, 1000);
        native.repetitions[0].error = Some("boom".into());
        let results = file(vec![native, env("docker", 5, 10, 1000, 1000)]);
        assert!(results.warnings.iter().any(|w| matches!(
            w,
            Warning::FailedRepetitions { env, baseline: true, failed, total: 5 }
                if env == "native" && failed[0].round == 1
        )));
    }

    #[test]
    fn memory_within_the_meters_noise_is_not_a_cost() {
        let mut docker = env("docker", 6, 10, 1000, 1000);
        for (i, rep) in docker.repetitions.iter_mut().enumerate() {
            // ±1 MiB around the baseline's 50 MiB.
            let delta: i64 = if i % 2 == 0 { 1 << 20 } else { -(1 << 20) };
            rep.usage.host_peak_rss_bytes = Some(((50i64 << 20) + delta) as u64);
        }
        let mut gvisor = env("gvisor", 6, 10, 1000, 1000);
        for rep in &mut gvisor.repetitions {
            rep.usage.host_peak_rss_bytes = Some(150 << 20);
        }
        let results = file(vec![env("native", 6, 10, 1000, 1000), docker, gvisor]);
        let overhead = |name: &str| {
            results
                .environments
                .iter()
                .find(|e| e.name == name)
                .and_then(|e| e.summary.as_ref()?.isolation_overhead)
                .unwrap()
        };
        assert!(overhead("docker").within_noise, "{:?}", overhead("docker"));
        let gvisor = overhead("gvisor");
        assert!(!gvisor.within_noise);
        assert!(
            (gvisor.mean_bytes - (100 << 20) as f64).abs() < 1.0,
            "{gvisor:?}"
        );
    }
}
