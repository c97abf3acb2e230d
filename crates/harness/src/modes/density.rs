//! Density (`isobench density`): how many serving instances of one
//! environment fit on the host before the tail latency breaks a bound,
//! and what each one really costs the host in memory.
//!
//! **Search.** For k = 1, 2, 3, … up to `--max-instances`, one step after
//! the other, stopping at the first k that breaks the bound, has a failed
//! or unanswered request, or where an instance fails to start (that k is
//! the limit, with the reason). Linear rather than doubling-then-bisect:
//! the curve at every k up to the limit is what an operator reads, and a
//! bisection would skip the k just below the limit's neighbours.
//!
//! **A step** (one k, one trial): k instances started at once
//! ([`Lab::launch_many`], then [`wait_ready_all`]: the backend calls one
//! after the other, boots and model loads overlapping); each instance gets
//! a few warm-up requests; then all k are loaded together for `--duration`
//! seconds by one load generator each (the `serve-bench` load generator
//! over the agent's stdin/stdout: seeded Poisson arrivals at
//! `--qps-per-instance`, or a closed loop, each next request sent when the
//! previous answer arrives). After the load, while all k still run, each
//! instance's memory is read ([`crate::metrics::pss`]: PSS of its host
//! processes and its cgroup's charge); then all k are stopped together
//! ([`stop_all`]). The host-speed probe runs before the launch and after
//! the stop.
//!
//! **Turns.** Per k and trial, every environment still searching takes
//! one turn, in an order shuffled with the seed (as `run`'s rounds), so
//! the host's drift spreads over the environments alike. With `--trials T`
//! (T ≥ 2) every k runs T times and its curve carries the range across the
//! trials; a k is met only when every trial met it.
//!
//! The figures' definitions are [`isobench_results::density::DEFINITIONS`].

use std::sync::atomic::AtomicBool;
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use isobench_environments::{EnvKind, RunLabel};
use isobench_records::Listen;
use isobench_results::{
    Calibration, DensityEnvironment, DensityResults, DensitySettings, DensityStep, DensityTrial,
    InstanceLoad, LimitKind, RequestCounts,
};

use crate::context::{results_path, RunContext, RunObserver};
use crate::lifecycle::{stop_all, wait_ready_all, Channels, Lab, LaunchRequest, LiveInstance};
use crate::metrics::pss::instance_memory;
use crate::metrics::Meter;
use crate::modes::batch::round_order;
use crate::modes::serving::channel::InstanceChannel;
use crate::modes::serving::loadgen::{new_histogram, run_load, summarize, Load, Session};
use crate::modes::serving::{transport_refusal, Scenario, ServeError, TransportKind};
use crate::HarnessError;

/// What a density experiment does besides the common options.
#[derive(Debug, Clone, PartialEq)]
pub struct DensityOptions {
    /// The bound on the p99 of every request of a step (`--latency-bound-ms`).
    pub latency_bound: Duration,
    /// The largest k tried (`--max-instances`).
    pub max_instances: u32,
    /// Poisson arrivals per instance per second (`--qps-per-instance`);
    /// `None`: a closed loop.
    pub qps_per_instance: Option<f64>,
    /// Seconds of load per step (`--duration`).
    pub duration: Duration,
    /// Trials per k (`--trials`).
    pub trials: u32,
    /// Requests each instance answers before the load (not recorded).
    pub warmup_requests: u64,
    /// Longest wait for progress before pending requests count as lost.
    pub response_timeout: Duration,
    /// Input every request asks for (`--input`; empty: the workload's
    /// inputs in turn).
    pub input: String,
}

impl DensityOptions {
    /// Checks the values, with one-line errors naming the flag.
    pub fn validate(&self) -> Result<(), HarnessError> {
        let invalid = |m: String| Err(HarnessError::Invalid(m));
        if self.max_instances == 0 {
            return invalid("--max-instances 0: give at least 1 instance".into());
        }
        if self.latency_bound.is_zero() {
            return invalid("--latency-bound-ms: give a positive bound in ms".into());
        }
        if self.duration.is_zero() {
            return invalid("--duration: give a positive number of seconds of load".into());
        }
        if self.trials == 0 {
            return invalid("--trials 0: give at least 1 trial per instance count".into());
        }
        if let Some(qps) = self.qps_per_instance {
            if !(qps.is_finite() && qps > 0.0) {
                return invalid(format!(
                    "--qps-per-instance {qps}: give a positive rate, or leave it out for a closed loop"
                ));
            }
        }
        Ok(())
    }

    /// The settings as stored in the results.
    fn record(&self) -> DensitySettings {
        DensitySettings {
            latency_bound_ms: self.latency_bound.as_secs_f64() * 1e3,
            max_instances: self.max_instances,
            qps_per_instance: self.qps_per_instance,
            duration_seconds: self.duration.as_secs_f64(),
            trials: self.trials,
            search: format!(
                "k = 1, 2, … up to {}, stopping at the first k that breaks the bound, has a failed request or a failed start",
                self.max_instances
            ),
            input: self.input.clone(),
        }
    }
}

/// Runs the density search on every environment of the experiment, then
/// puts the results into `results.json` in the output directory (replacing
/// an earlier `density` section).
pub fn density(
    ctx: &RunContext,
    options: &DensityOptions,
    observer: &dyn RunObserver,
) -> Result<DensityResults, HarnessError> {
    options.validate()?;
    let workload = ctx.config.workload().to_string();
    let mut lab = Lab::open(ctx);
    let mut envs: Vec<DensityEnvironment> = Vec::new();
    let mut searching: Vec<EnvKind> = Vec::new();
    for &kind in &ctx.config.common.environments {
        let can = ctx.source.capabilities(kind);
        let mut env = DensityEnvironment {
            env: kind.name().into(),
            workload: workload.clone(),
            transport: can.input.transport_name().into(),
            emulated: false,
            max_instances: 0,
            limit: LimitKind::Unavailable,
            limit_reason: String::new(),
            pss_per_instance_bytes: None,
            cgroup_per_instance_bytes: None,
            steps: Vec::new(),
        };
        if let Some(refusal) = transport_refusal(can, TransportKind::Stdio) {
            env.limit_reason = format!("unavailable: `{kind}` {refusal}");
        } else {
            match lab.prepare(kind) {
                Ok(prepared) => {
                    env.emulated = prepared.facts().emulated;
                    searching.push(kind);
                }
                Err(unready @ crate::lifecycle::Unready::Unavailable { .. }) => {
                    env.limit_reason = format!("unavailable: {unready}")
                }
                Err(unready) => env.limit_reason = unready.to_string(),
            }
        }
        if !env.limit_reason.is_empty() {
            observer.message(&format!("{kind}: {}", env.limit_reason));
        }
        envs.push(env);
    }
    let mut turn = 0u32;
    let mut probes: Vec<(EnvKind, u32, f64)> = Vec::new();
    'search: for k in 1..=options.max_instances {
        if searching.is_empty() {
            break;
        }
        for trial in 1..=options.trials {
            let order_round = (k - 1) * options.trials + trial;
            for kind in round_order(&searching, order_round, ctx.config.common.seed) {
                if lab.interrupted() {
                    break 'search;
                }
                turn += 1;
                let result = step(&mut lab, kind, k, trial, turn, options, observer);
                if let Some(c) = result.calibration {
                    probes.push((kind, turn, c.seconds()));
                }
                let env = entry(&mut envs, kind);
                match env.steps.iter_mut().find(|s| s.instances == k) {
                    Some(step) => step.trials.push(result),
                    None => env.steps.push(DensityStep {
                        instances: k,
                        trials: vec![result],
                        ..DensityStep::default()
                    }),
                }
            }
        }
        let interrupted = lab.interrupted();
        for kind in searching.clone() {
            let env = entry(&mut envs, kind);
            let Some(step) = env.steps.iter_mut().find(|s| s.instances == k) else {
                continue;
            };
            step.summarize();
            if step.met && !(interrupted && step.trials.len() < options.trials as usize) {
                env.max_instances = k;
                continue;
            }
            let (limit, reason) = limit_of(step, options, interrupted);
            env.limit = limit;
            env.limit_reason = reason;
            observer.message(&format!(
                "{kind}: {} instance(s) within {} ms; {}",
                env.max_instances,
                ms(options.latency_bound.as_secs_f64() * 1e3),
                env.limit_reason
            ));
            searching.retain(|&s| s != kind);
        }
        if interrupted {
            break;
        }
    }
    let interrupted = lab.interrupted();
    for &kind in &searching {
        let env = entry(&mut envs, kind);
        for step in &mut env.steps {
            step.summarize();
        }
        if interrupted {
            env.limit = LimitKind::Interrupted;
            env.limit_reason = format!("interrupted after k={}", env.max_instances);
        } else {
            env.limit = LimitKind::MaxInstances;
            env.limit_reason = format!(
                "reached --max-instances {}: every k up to it met the bound",
                options.max_instances
            );
        }
    }
    for env in &mut envs {
        if let Some(step) = env.steps.iter().find(|s| s.instances == env.max_instances) {
            env.pss_per_instance_bytes = step.pss_mean_bytes;
            env.cgroup_per_instance_bytes = step.cgroup_usage_mean_bytes;
        }
    }
    for &kind in &ctx.config.common.environments {
        if let Err(e) = lab.teardown(kind) {
            observer.message(&format!("{kind}: clean-up: {e}"));
        }
    }
    drop(lab);
    let results = DensityResults {
        settings: options.record(),
        environments: envs,
        host_speed: crate::calibration::host_speed_of(
            probes
                .iter()
                .map(|&(kind, turn, seconds)| ((kind.name().to_string(), turn), seconds))
                .collect(),
        ),
    };
    crate::modes::update_results(ctx, |file| file.density = Some(results.clone()))?;
    if interrupted {
        return Err(HarnessError::Interrupted(results_path(
            &ctx.config.common.output,
        )));
    }
    Ok(results)
}

fn entry(envs: &mut [DensityEnvironment], kind: EnvKind) -> &mut DensityEnvironment {
    envs.iter_mut()
        .find(|e| e.env == kind.name())
        .expect("every environment of the experiment has an entry")
}

/// `12.3` (ms, 3 significant digits).
fn ms(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        a if a >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

/// Why a step that was not met ends the search: a failed start (an
/// instance refused or never ready) or an instance that failed under load
/// first, then failed requests, then the bound (the first trial that shows it).
fn limit_of(
    step: &DensityStep,
    options: &DensityOptions,
    interrupted: bool,
) -> (LimitKind, String) {
    let k = step.instances;
    if interrupted {
        return (LimitKind::Interrupted, format!("interrupted at k={k}"));
    }
    if let Some(t) = step.trials.iter().find(|t| t.failure.is_some()) {
        let failure = t.failure.as_deref().unwrap_or_default();
        return if t.started < k {
            (
                LimitKind::Start,
                format!("start failed at k={k}: {failure}"),
            )
        } else {
            // Started, then failed under load (its agent exited: out of
            // memory, a crash; a warm-up that failed).
            (
                LimitKind::Errors,
                format!("an instance failed at k={k}: {failure}"),
            )
        };
    }
    if let Some(t) = step
        .trials
        .iter()
        .find(|t| t.counts.errors + t.counts.lost > 0 || t.latency.count == 0)
    {
        return (
            LimitKind::Errors,
            format!(
                "requests failed at k={k}: {} answered with an error, {} never answered",
                t.counts.errors, t.counts.lost
            ),
        );
    }
    let bound = options.latency_bound.as_secs_f64() * 1e3;
    let p99 = step
        .trials
        .iter()
        .map(|t| t.latency.p99_us / 1e3)
        .fold(0.0, f64::max);
    (
        LimitKind::Bound,
        format!(
            "bound broken at k={k}: p99 {} ms > {} ms",
            ms(p99),
            ms(bound)
        ),
    )
}

/// The serving launch of instance `instance` of `turn`.
fn request(lab: &mut Lab<'_>, kind: EnvKind, turn: u32, instance: u32) -> LaunchRequest {
    let assets = lab
        .prepared(kind)
        .map(|p| p.assets_inside())
        .unwrap_or_default();
    LaunchRequest {
        invocation: lab
            .context()
            .config
            .serve_invocation(&assets, Listen::Stdio),
        label: RunLabel::Density { turn, instance },
        channels: Channels {
            input: true,
            ..Channels::default()
        },
        sample: false,
    }
}

/// One step: k instances of `kind` started at once, loaded together,
/// measured, stopped together (see the module documentation).
fn step(
    lab: &mut Lab<'_>,
    kind: EnvKind,
    k: u32,
    trial: u32,
    turn: u32,
    options: &DensityOptions,
    observer: &dyn RunObserver,
) -> DensityTrial {
    let before = crate::calibration::probe();
    let mut result = DensityTrial {
        trial,
        turn,
        ..DensityTrial::default()
    };
    let requests = (0..k).map(|i| request(lab, kind, turn, i)).collect();
    let started = Instant::now();
    let mut live = Vec::new();
    for (i, launched) in lab.launch_many(kind, requests).into_iter().enumerate() {
        match launched {
            Ok(instance) => live.push(instance),
            Err(e) if result.failure.is_none() => {
                result.failure = Some(format!("instance {} of {k} refused: {e}", i + 1))
            }
            Err(_) => {}
        }
    }
    if result.failure.is_none() {
        for (i, ready) in wait_ready_all(&mut live).into_iter().enumerate() {
            match ready {
                Ok(_) => result.started += 1,
                Err(e) if result.failure.is_none() => {
                    result.failure =
                        Some(format!("instance {} of {k} never became ready: {e}", i + 1))
                }
                Err(_) => {}
            }
        }
        result.start_seconds = Some(started.elapsed().as_secs_f64());
    }
    if result.failure.is_none() {
        if let Err(e) = load(lab.context(), &mut live, options, &mut result) {
            result.failure = Some(format!("under load: {e}"));
        }
    }
    for stopped in stop_all(live) {
        if let Err(e) = stopped.exit {
            observer.message(&format!("{kind}: stopping an instance: {e}"));
        }
    }
    let bound_us = options.latency_bound.as_secs_f64() * 1e6;
    result.met = result.failure.is_none()
        && result.started == k
        && result.latency.count > 0
        && result.counts.errors + result.counts.lost == 0
        && result.latency.p99_us <= bound_us;
    result.calibration = Some(Calibration {
        before,
        after: crate::calibration::probe(),
    });
    let worst = result
        .per_instance
        .iter()
        .map(|i| i.p99_us)
        .fold(0.0, f64::max);
    observer.message(&format!(
        "{kind}: k={k}{}: {}",
        if options.trials > 1 {
            format!(" trial {trial}")
        } else {
            String::new()
        },
        match &result.failure {
            Some(f) => f.clone(),
            None => format!(
                "p99 {} ms (worst instance {} ms), {} error(s), PSS {} per instance: {}",
                ms(result.latency.p99_us / 1e3),
                ms(worst / 1e3),
                result.counts.errors + result.counts.lost,
                result.pss_mean_bytes.map_or_else(
                    || "—".into(),
                    |b| format!("{:.1} MiB", b as f64 / 1048576.0)
                ),
                if result.met { "met" } else { "missed" }
            ),
        }
    ));
    result
}

/// `/proc/stat`'s first line: (busy, total) jiffies of all cores.
fn host_cpu() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let values: Vec<u64> = line
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest counted in user).
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// What one instance's load thread measured.
struct InstanceOutcome {
    outcome: crate::modes::serving::loadgen::LoadOutcome,
    cpu_seconds: Option<f64>,
}

/// Warms every instance up, then loads all of them together (one thread
/// each, released at once), then reads each one's memory while all run.
fn load(
    ctx: &RunContext,
    live: &mut [LiveInstance],
    options: &DensityOptions,
    result: &mut DensityTrial,
) -> Result<(), ServeError> {
    let k = live.len();
    let interrupted: &AtomicBool = &ctx.interrupted;
    let seed = ctx.config.common.seed;
    let start_line = Barrier::new(k + 1);
    let host_before: Mutex<Option<(u64, u64)>> = Mutex::new(None);
    let outcomes: Vec<Result<InstanceOutcome, ServeError>> = std::thread::scope(|scope| {
        let threads: Vec<_> = live
            .iter_mut()
            .enumerate()
            .map(|(index, instance)| {
                let start_line = &start_line;
                scope.spawn(move || {
                    instance_load(
                        interrupted,
                        seed,
                        instance,
                        index as u64,
                        options,
                        start_line,
                    )
                })
            })
            .collect();
        start_line.wait();
        *host_before.lock().unwrap_or_else(|p| p.into_inner()) = host_cpu();
        threads
            .into_iter()
            .map(|t| match t.join() {
                Ok(outcome) => outcome,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let host_after = host_cpu();
    let mut merged = new_histogram();
    let mut counts = RequestCounts::default();
    let mut cpu = Some(0.0);
    for (index, outcome) in outcomes.into_iter().enumerate() {
        let o = outcome?;
        let _ = merged.add(&o.outcome.histogram);
        let c = &o.outcome.counts;
        counts.sent += c.sent;
        counts.answered += c.answered;
        counts.errors += c.errors;
        counts.lost += c.lost;
        counts.duplicated += c.duplicated;
        counts.unexpected += c.unexpected;
        cpu = cpu.zip(o.cpu_seconds).map(|(a, b)| a + b);
        result.load_seconds = result.load_seconds.max(o.outcome.duration.as_secs_f64());
        let own = summarize(&o.outcome.histogram);
        result.per_instance.push(InstanceLoad {
            index: index as u32,
            p50_us: own.p50_us,
            p99_us: own.p99_us,
            counts: c.clone(),
            ..InstanceLoad::default()
        });
    }
    // Memory while all k instances still run, after the load.
    for (entry, instance) in result.per_instance.iter_mut().zip(live.iter()) {
        let memory = instance_memory(instance.meter_target(), &instance.host_processes());
        entry.pss_bytes = memory.pss_bytes;
        entry.rss_bytes = memory.rss_bytes;
        entry.processes = memory.processes.len() as u32;
        entry.cgroup_usage_bytes = memory.cgroup_usage_bytes;
    }
    result.pss_mean_bytes = mean_of(result.per_instance.iter().map(|i| i.pss_bytes));
    result.cgroup_usage_mean_bytes =
        mean_of(result.per_instance.iter().map(|i| i.cgroup_usage_bytes));
    result.latency = summarize(&merged);
    result.counts = counts;
    result.cpu_seconds = cpu;
    let host_before = *host_before.lock().unwrap_or_else(|p| p.into_inner());
    result.host_cpu_percent = match (host_before, host_after) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
            Some(100.0 * (b1 - b0) as f64 / (t1 - t0) as f64)
        }
        _ => None,
    };
    Ok(())
}

/// The mean of values that are all present; `None` when one is missing.
fn mean_of(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    let values: Option<Vec<u64>> = values.collect();
    let values = values.filter(|v| !v.is_empty())?;
    Some(values.iter().sum::<u64>() / values.len() as u64)
}

/// One instance's thread: warm-up, the start line, the load with the CPU
/// its meter saw.
fn instance_load(
    interrupted: &AtomicBool,
    seed: u64,
    instance: &mut LiveInstance,
    index: u64,
    options: &DensityOptions,
    start_line: &Barrier,
) -> Result<InstanceOutcome, ServeError> {
    let meter = Meter::new(instance.meter_target().clone());
    let mut channel = InstanceChannel::new(instance.instance());
    let mut session = Session::new(&mut channel, interrupted);
    session.response_timeout = options.response_timeout;
    session.input = options.input.clone();
    let warm = Load {
        scenario: Scenario::SingleStream,
        min_duration: Duration::ZERO,
        min_queries: options.warmup_requests.max(1),
        samples_per_query: 1,
        qps: 0.0,
        bound: None,
        seed: 0,
        empty: false,
    };
    let warmed = run_load(&mut session, &warm).and_then(|w| {
        if w.counts.answered == 0 || w.counts.lost > 0 {
            Err(ServeError::WarmupUnanswered {
                answered: w.counts.answered,
                sent: w.counts.sent,
            })
        } else if w.counts.errors == w.counts.answered {
            Err(ServeError::WarmupFailed {
                first_error: w.first_errors.first().cloned().unwrap_or_default(),
            })
        } else {
            Ok(())
        }
    });
    // Every thread reaches the start line, warmed up or not, so none waits forever.
    start_line.wait();
    warmed?;
    let measured = Load {
        scenario: match options.qps_per_instance {
            Some(_) => Scenario::Server,
            None => Scenario::SingleStream,
        },
        min_duration: options.duration,
        min_queries: 1,
        samples_per_query: 1,
        qps: options.qps_per_instance.unwrap_or(0.0),
        bound: None,
        // Each instance its own arrivals.
        seed: seed ^ (0xD3_0000 + index),
        empty: false,
    };
    let cpu_before = meter.read();
    let outcome = run_load(&mut session, &measured)?;
    let cpu_after = meter.read();
    Ok(InstanceOutcome {
        outcome,
        cpu_seconds: match (cpu_before, cpu_after) {
            (Some(a), Some(b)) => Some((b.cpu_seconds - a.cpu_seconds).max(0.0)),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use isobench_results::LatencySummary;

    fn options() -> DensityOptions {
        DensityOptions {
            latency_bound: Duration::from_millis(50),
            max_instances: 4,
            qps_per_instance: None,
            duration: Duration::from_secs(2),
            trials: 1,
            warmup_requests: 5,
            response_timeout: Duration::from_secs(30),
            input: String::new(),
        }
    }

    #[test]
    fn options_name_the_flag_they_refuse() {
        assert!(options().validate().is_ok());
        let bad = |o: DensityOptions| o.validate().unwrap_err().to_string();
        assert!(bad(DensityOptions {
            max_instances: 0,
            ..options()
        })
        .contains("--max-instances 0"));
        assert!(bad(DensityOptions {
            latency_bound: Duration::ZERO,
            ..options()
        })
        .contains("--latency-bound-ms"));
        assert!(bad(DensityOptions {
            trials: 0,
            ..options()
        })
        .contains("--trials 0"));
        assert!(bad(DensityOptions {
            qps_per_instance: Some(-2.0),
            ..options()
        })
        .contains("--qps-per-instance"));
    }

    fn trial(p99_ms: f64, errors: u64, failure: Option<&str>) -> DensityTrial {
        DensityTrial {
            latency: LatencySummary {
                count: 100,
                p99_us: p99_ms * 1e3,
                ..LatencySummary::default()
            },
            counts: RequestCounts {
                errors,
                ..RequestCounts::default()
            },
            failure: failure.map(str::to_string),
            ..DensityTrial::default()
        }
    }

    #[test]
    fn the_limit_names_a_failed_start_before_errors_before_the_bound() {
        let step = |trials| DensityStep {
            instances: 3,
            trials,
            ..DensityStep::default()
        };
        let (kind, why) = limit_of(&step(vec![trial(80.0, 0, None)]), &options(), false);
        assert_eq!(kind, LimitKind::Bound);
        assert_eq!(why, "bound broken at k=3: p99 80.0 ms > 50.0 ms");
        let (kind, why) = limit_of(
            &step(vec![
                trial(80.0, 2, None),
                trial(1.0, 0, Some("instance 3 of 3 refused: launch: no memory")),
            ]),
            &options(),
            false,
        );
        assert_eq!(kind, LimitKind::Start);
        assert!(why.contains("instance 3 of 3 refused"), "{why}");
        let (kind, why) = limit_of(&step(vec![trial(80.0, 2, None)]), &options(), false);
        assert_eq!(kind, LimitKind::Errors);
        assert!(why.contains("2 answered with an error"), "{why}");
        assert_eq!(
            limit_of(&step(vec![]), &options(), true).0,
            LimitKind::Interrupted
        );
    }

    #[test]
    fn means_need_every_value() {
        assert_eq!(mean_of([Some(2), Some(4)].into_iter()), Some(3));
        assert_eq!(mean_of([Some(2), None].into_iter()), None);
        assert_eq!(mean_of(std::iter::empty()), None);
    }

    #[test]
    fn host_cpu_reads_proc_stat() {
        let (busy, total) = host_cpu().expect("/proc/stat");
        assert!(busy <= total && total > 0);
    }
}
