//! Runs an experiment: every environment, every repetition, every record,
//! with results saved after each repetition so an interrupted run keeps
//! what it measured.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use isobench_environments::{
    registry, AgentPayload, EnvError, EnvKind, EnvOptions, Environment, HostFacts, Instance,
    LaunchSpec, Limits,
};
use isobench_records::{parse_line, LineKind, Record};
use isobench_results::{
    EnvironmentResult, Experiment, HostInfo, IterationSample, PayloadIdentity, Repetition,
    ResultsFile, Status, Usage, RESULTS_VERSION,
};

use crate::journal::{self, Entry, Journal};
use crate::metrics::sampler::{cpu_percent_between, Sampler};
use crate::summarize::summarize_all;
use crate::{ExperimentConfig, HarnessError};

/// Receives progress events (the CLI draws progress bars from them).
pub trait RunObserver: Sync {
    /// An environment starts; `iterations` is the number of iteration records expected per repetition.
    fn environment_started(&self, _env: &str, _repetitions: u32, _iterations: u64) {}
    /// A record arrived.
    fn iteration_done(&self, _env: &str, _repetition: u32, _index: u64, _warmup: bool) {}
    /// An environment finished.
    fn environment_finished(&self, _env: &str, _status: &Status) {}
    /// A message for the user.
    fn message(&self, _text: &str) {}
}

/// An observer that ignores everything.
pub struct SilentObserver;
impl RunObserver for SilentObserver {}

/// Everything an experiment needs besides its configuration.
pub struct RunContext {
    /// The resolved configuration.
    pub config: ExperimentConfig,
    /// The agent and assets.
    pub payload: AgentPayload,
    /// Their fingerprints.
    pub identity: PayloadIdentity,
    /// Environment construction options.
    pub env_options: EnvOptions,
    /// Host facts (KVM kind, cgroups).
    pub host_facts: HostFacts,
    /// Host metadata for the results.
    pub host: HostInfo,
    /// Set by a signal handler to stop the run early.
    pub interrupted: Arc<AtomicBool>,
    /// Continue the experiment journalled in the output directory instead of starting afresh.
    pub resume: bool,
}

/// Path of the results file in an output directory.
pub fn results_path(output: &Path) -> PathBuf {
    output.join("results.json")
}

/// Runs every environment of the experiment in order. An environment that
/// fails is recorded as failed and the rest go on; results are saved after
/// every repetition.
pub fn run_experiment(
    ctx: &RunContext,
    observer: &dyn RunObserver,
) -> Result<ResultsFile, HarnessError> {
    let config = &ctx.config;
    std::fs::create_dir_all(&config.output).map_err(|e| HarnessError::Output {
        path: config.output.clone(),
        message: e.to_string(),
    })?;
    let path = results_path(&config.output);
    let mut recovered = if ctx.resume {
        journal::recover(&config.output)?
    } else {
        // A fresh experiment starts a fresh journal.
        let _ = std::fs::remove_file(config.output.join(journal::JOURNAL_FILE));
        journal::Recovered::default()
    };
    let mut journal = Journal::open(&config.output)?;
    if !ctx.resume {
        journal.append(
            &Entry::Start {
                config: Box::new(config.clone()),
            },
            true,
        )?;
    }
    // Serving results (`serve-bench`) already in this directory are a
    // separate measurement: a batch run keeps them.
    let earlier_serving = ResultsFile::load(&path)
        .map(|earlier| earlier.serving)
        .unwrap_or_default();
    let mut results = ResultsFile {
        results_version: RESULTS_VERSION,
        isobench_version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: crate::host::git_revision(),
        started_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        experiment: experiment_of(config),
        host: ctx.host.clone(),
        payload: ctx.identity.clone(),
        environments: Vec::new(),
        warnings: Vec::new(),
        serving: earlier_serving,
    };
    save(&mut results, &path)?;
    for &kind in &config.environments {
        if ctx.interrupted.load(Ordering::Relaxed) {
            break;
        }
        if let Some(done) = recovered.environments.remove(kind.name()) {
            observer.message(&format!(
                "{kind}: already complete in the journal, not run again"
            ));
            results.environments.push(done);
            save(&mut results, &path)?;
            continue;
        }
        observer.environment_started(
            kind.name(),
            config.repetitions,
            config.iterations + config.warmup,
        );
        let index = results.environments.len();
        results.environments.push(EnvironmentResult {
            name: kind.name().to_string(),
            runtime_version: None,
            accel: None,
            emulated: false,
            notes: vec![],
            image_bytes: None,
            prepare_seconds: 0.0,
            status: Status::Completed,
            repetitions: vec![],
            summary: None,
        });
        let done = recovered
            .repetitions
            .remove(kind.name())
            .unwrap_or_default();
        run_environment(
            ctx,
            kind,
            &mut results,
            index,
            &path,
            &mut journal,
            done,
            observer,
        )?;
        observer.environment_finished(kind.name(), &results.environments[index].status);
        save(&mut results, &path)?;
        if !ctx.interrupted.load(Ordering::Relaxed) {
            journal.append(
                &Entry::Environment {
                    result: Box::new(results.environments[index].clone()),
                },
                true,
            )?;
        }
    }
    if ctx.interrupted.load(Ordering::Relaxed) {
        return Err(HarnessError::Interrupted(path));
    }
    Ok(results)
}

fn experiment_of(config: &ExperimentConfig) -> Experiment {
    Experiment {
        environments: config
            .environments
            .iter()
            .map(|k| k.name().to_string())
            .collect(),
        workload: config.workload.clone(),
        engine: config.engine.clone(),
        model: config.model.as_ref().map(|p| p.display().to_string()),
        images: config.images.as_ref().map(|p| p.display().to_string()),
        iterations: config.iterations,
        warmup: config.warmup,
        repetitions: config.repetitions,
        vcpus: config.vcpus,
        memory_mib: config.memory_mib,
        threads: config.threads,
        seed: config.seed,
    }
}

fn save(results: &mut ResultsFile, path: &Path) -> Result<(), HarnessError> {
    summarize_all(results);
    results.save_atomic(path).map_err(|e| HarnessError::Output {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn fail(results: &mut ResultsFile, index: usize, reason: String) {
    let env = &mut results.environments[index];
    if matches!(env.status, Status::Completed) {
        env.status = Status::Failed { reason };
    }
}

#[allow(clippy::too_many_arguments)]
fn run_environment(
    ctx: &RunContext,
    kind: EnvKind,
    results: &mut ResultsFile,
    index: usize,
    path: &Path,
    journal: &mut Journal,
    done: Vec<Repetition>,
    observer: &dyn RunObserver,
) -> Result<(), HarnessError> {
    let first_new = done.len() as u32;
    for rep in done {
        if let Some(error) = &rep.error {
            fail(results, index, format!("repetition {}: {error}", rep.index));
        }
        results.environments[index].repetitions.push(rep);
    }
    if first_new >= ctx.config.repetitions {
        return Ok(());
    }
    let availability = registry::detect(kind, &ctx.host_facts);
    if !availability.available {
        results.environments[index].status = Status::Skipped {
            reason: format!("{} (fix: {})", availability.reason, availability.fix),
        };
        return Ok(());
    }
    let mut env: Box<dyn Environment> = match registry::build(kind, &ctx.env_options) {
        Ok(env) => env,
        Err(e) => {
            fail(results, index, e.to_string());
            return Ok(());
        }
    };
    let started = Instant::now();
    let prepared = env.prepare(&ctx.payload);
    let info = env.info();
    {
        let entry = &mut results.environments[index];
        entry.runtime_version = info.runtime_version;
        entry.accel = info.accel;
        entry.emulated = info.emulated;
        entry.notes = info.notes;
        entry.prepare_seconds = started.elapsed().as_secs_f64();
    }
    match prepared {
        Ok(prepared) => results.environments[index].image_bytes = prepared.image_bytes,
        Err(e) => {
            fail(results, index, format!("prepare: {e}"));
            let _ = env.teardown();
            return Ok(());
        }
    }
    for repetition in first_new..ctx.config.repetitions {
        if ctx.interrupted.load(Ordering::Relaxed) {
            break;
        }
        let rep = run_repetition(ctx, env.as_mut(), kind, repetition, journal, observer);
        if ctx.interrupted.load(Ordering::Relaxed) {
            // An interrupted repetition is measured again on --resume.
            break;
        }
        if let Some(error) = &rep.error {
            fail(results, index, format!("repetition {repetition}: {error}"));
        }
        journal.append(
            &Entry::Repetition {
                env: kind.name().to_string(),
                repetition: Box::new(rep.clone()),
            },
            true,
        )?;
        results.environments[index].repetitions.push(rep);
        save(results, path)?;
    }
    if let Err(e) = env.teardown() {
        observer.message(&format!("{kind}: clean-up: {e}"));
    }
    Ok(())
}

/// Runs one fresh instance and collects its records and usage.
pub fn run_repetition(
    ctx: &RunContext,
    env: &mut dyn Environment,
    kind: EnvKind,
    repetition: u32,
    journal: &mut Journal,
    observer: &dyn RunObserver,
) -> Repetition {
    let config = &ctx.config;
    let spec = LaunchSpec {
        agent_args: config.agent_args(&env.assets_path_inside()),
        limits: Limits {
            vcpus: config.vcpus,
            memory_mib: config.memory_mib,
            cpuset: None,
        },
        timeout: Duration::from_secs(config.timeout_seconds),
        run_id: format!(
            "isobench-{}-{}-{}",
            std::process::id(),
            kind.name(),
            repetition
        ),
        interactive: false,
        vsock: false,
        network: false,
    };
    let mut rep = Repetition {
        index: repetition,
        ..Repetition::default()
    };
    let mut instance = match env.launch(&spec) {
        Ok(instance) => instance,
        Err(e) => {
            rep.error = Some(format!("launch: {e}"));
            return rep;
        }
    };
    let origin = instance.launched_at();
    let target = instance.meter_target();
    for pid in target.root_pids() {
        crate::cleanup::register_process(&ctx.env_options.work_dir, pid);
    }
    let sampler = Sampler::start(
        target.clone(),
        Duration::from_millis(config.sample_interval_ms),
        origin,
    );
    let outcome = collect_records(
        ctx,
        instance.as_mut(),
        kind,
        repetition,
        origin,
        &mut rep,
        journal,
        observer,
    );
    sampler.sample_now(&target, origin);
    let vmm_overhead = if kind.is_vm() {
        target
            .root_pids()
            .first()
            .and_then(|&pid| crate::metrics::vmm::vmm_overhead(pid))
            .map(|(bytes, _)| bytes)
    } else {
        None
    };
    if let (Some(started), Some(ready)) = (instance.guest_started_at(), rep.ready_seconds) {
        let offset = started.saturating_duration_since(origin).as_secs_f64();
        rep.guest_start_to_ready_seconds = Some(ready - offset);
    }
    let exit = instance.stop();
    let (samples, sampled_peak, interval, source) = sampler.finish();
    let wall_seconds = origin.elapsed().as_secs_f64();
    let mut cpu_seconds = samples.last().map(|s| s.cpu).unwrap_or(0.0);
    let mut peak = sampled_peak;
    match exit {
        Ok(exit) => {
            rep.exit_code = exit.code;
            cpu_seconds = cpu_seconds.max(exit.final_cpu_seconds.unwrap_or(0.0));
            peak = peak.max(exit.final_peak_memory_bytes.unwrap_or(0));
        }
        Err(e) => observer.message(&format!("{kind}: stopping repetition {repetition}: {e}")),
    }
    if let Err(error) = outcome {
        rep.error = Some(error);
    }
    let measured = rep.iterations.len().max(1) as f64;
    let window = measured_window(&rep);
    rep.usage = Usage {
        source,
        cpu_seconds,
        wall_seconds,
        cpu_seconds_per_inference: cpu_seconds / measured,
        // The measured window when it spans at least two samples, else the whole life.
        cpu_percent: window
            .filter(|(a, b)| b - a >= 2.0 * interval.as_secs_f64())
            .and_then(|(a, b)| cpu_percent_between(&samples, a, b))
            .unwrap_or(if wall_seconds > 0.0 {
                100.0 * cpu_seconds / wall_seconds
            } else {
                0.0
            }),
        peak_memory_bytes: peak,
        vmm_overhead_bytes: vmm_overhead,
        interval_ms: interval.as_millis() as u64,
        samples,
    };
    rep
}

/// Seconds since launch when measured iterations started and ended.
fn measured_window(rep: &Repetition) -> Option<(f64, f64)> {
    let start = rep.measured_start_seconds?;
    let end = rep.measured_end_seconds?;
    (end > start).then_some((start, end))
}

#[allow(clippy::too_many_arguments)]
fn collect_records(
    ctx: &RunContext,
    instance: &mut dyn Instance,
    kind: EnvKind,
    repetition: u32,
    origin: Instant,
    rep: &mut Repetition,
    journal: &mut Journal,
    observer: &dyn RunObserver,
) -> Result<(), String> {
    let deadline = origin + Duration::from_secs(ctx.config.timeout_seconds);
    let mut last_arrival: Option<Instant> = None;
    let mut noise: Vec<String> = Vec::new();
    loop {
        if ctx.interrupted.load(Ordering::Relaxed) {
            return Err("interrupted".into());
        }
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            return Err(format!(
                "timed out after {} s (--timeout)",
                ctx.config.timeout_seconds
            ));
        }
        // Boot (launch to ready) and each iteration (record to record) have
        // their own, shorter limits, so a hung guest or agent is caught early.
        match last_arrival {
            None if now - origin > Duration::from_secs(ctx.config.boot_timeout_seconds) => {
                return Err(format!(
                    "no ready record within {} s of launch (--boot-timeout): the environment did not boot or the agent hung while loading",
                    ctx.config.boot_timeout_seconds
                ));
            }
            Some(last)
                if now - last > Duration::from_secs(ctx.config.iteration_timeout_seconds) =>
            {
                return Err(format!(
                    "no record for {} s after the previous one (--iteration-timeout): the agent hung",
                    ctx.config.iteration_timeout_seconds
                ));
            }
            _ => {}
        }
        // Wake up regularly to notice an interrupt.
        let line = match instance.next_line(left.min(Duration::from_millis(250))) {
            Ok(Some(line)) => line,
            Ok(None) => {
                // The runtime's / VMM's own last words first, else the last stray stdout line.
                let last = instance.diagnostics().or_else(|| noise.last().cloned());
                let tail = last
                    .map(|l| format!("; last output: {l}"))
                    .unwrap_or_default();
                return Err(format!("agent exited before its summary record{tail}"));
            }
            Err(EnvError::Timeout { .. }) => continue,
            Err(e) => return Err(e.to_string()),
        };
        let now = Instant::now();
        let since_launch = (now - origin).as_secs_f64();
        match parse_line(&line) {
            Ok(LineKind::Noise) => {
                if !kind.is_vm() && noise.len() < 20 {
                    noise.push(line.chars().take(200).collect());
                }
                if kind.is_vm() {
                    noise.push(line.chars().take(200).collect());
                    if noise.len() > 20 {
                        noise.remove(0);
                    }
                }
            }
            Err(e) => return Err(format!("agent printed an invalid record: {e}")),
            Ok(LineKind::Record(Record::Ready(ready))) => {
                rep.ready_seconds = Some(since_launch);
                rep.agent_ready_us = Some(ready.ready_us);
                last_arrival = Some(now);
            }
            Ok(LineKind::Record(Record::Iteration(it))) => {
                if rep.first_inference_seconds.is_none() {
                    rep.first_inference_seconds = Some(since_launch);
                }
                observer.iteration_done(kind.name(), repetition, it.index, it.warmup);
                let previous = last_arrival.unwrap_or(origin);
                if !it.warmup {
                    if rep.measured_start_seconds.is_none() {
                        rep.measured_start_seconds = Some((previous - origin).as_secs_f64());
                    }
                    rep.measured_end_seconds = Some(since_launch);
                    let sample = IterationSample {
                        index: it.index,
                        input: it.input,
                        preprocess_us: it.preprocess_us,
                        inference_us: it.inference_us,
                        postprocess_us: it.postprocess_us,
                        end_to_end_us: (now - previous).as_micros() as u64,
                    };
                    journal
                        .append(
                            &Entry::Sample {
                                env: kind.name().to_string(),
                                repetition,
                                sample: sample.clone(),
                            },
                            false,
                        )
                        .map_err(|e| e.to_string())?;
                    rep.iterations.push(sample);
                }
                last_arrival = Some(now);
            }
            Ok(LineKind::Record(Record::Summary(summary))) => {
                rep.agent_summary = Some(summary);
                return Ok(());
            }
            Ok(LineKind::Record(Record::Error(error))) => {
                return Err(format!("agent error ({}): {}", error.kind, error.message));
            }
        }
    }
}
