//! Runs an experiment: every environment, every repetition, every record,
//! with results saved after each repetition so an interrupted run keeps
//! what it measured.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use isobench_environments::{
    AgentPayload, Availability, EnvError, EnvKind, EnvOptions, Environment, HostFacts, Instance,
    LaunchSpec, Limits, RunId, RunLabel,
};
use isobench_records::{parse_line, LineKind, Record};
use isobench_results::{
    EnvironmentResult, Experiment, HostInfo, IterationSample, PayloadIdentity, Repetition,
    ResultsFile, Round, Status, Usage,
};

use crate::calibration;
use crate::config::Order;
use crate::journal::{self, Entry, Journal};
use crate::metrics::sampler::{Meter, Sampler};
use crate::metrics::window::{mark, measured_cpu, Marks, Moment};
use crate::summarize::summarize_all;
use crate::{ExperimentConfig, HarnessError, RepetitionError};

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

/// Where the runner gets its environments: the registry, or a fake in tests.
pub trait EnvironmentSource: Send + Sync {
    /// Whether `kind` can run here with these options.
    fn detect(&self, kind: EnvKind, facts: &HostFacts, options: &EnvOptions) -> Availability;
    /// Builds the environment for `kind`.
    fn build(&self, kind: EnvKind, options: &EnvOptions) -> Result<Box<dyn Environment>, EnvError>;
}

/// The environments of [`isobench_environments::registry`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Registry;

impl EnvironmentSource for Registry {
    fn detect(&self, kind: EnvKind, facts: &HostFacts, options: &EnvOptions) -> Availability {
        isobench_environments::detect(kind, facts, options)
    }

    fn build(&self, kind: EnvKind, options: &EnvOptions) -> Result<Box<dyn Environment>, EnvError> {
        isobench_environments::build(kind, options)
    }
}

/// Everything an experiment needs besides its configuration.
pub struct RunContext {
    /// Where environments come from (the registry outside tests).
    pub source: Arc<dyn EnvironmentSource>,
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

/// One environment of the experiment while it runs.
struct Slot {
    kind: EnvKind,
    /// Index into `results.environments`.
    index: usize,
    /// The prepared environment; `None` when it is finished (from the
    /// journal), skipped or failed to prepare.
    env: Option<Box<dyn Environment>>,
    /// Repetition indices already measured (from the journal).
    done: Vec<u32>,
}

/// The launch schedule: `(round, environment)` in launch order. Interleaved:
/// each round holds every environment once, shuffled with a generator
/// seeded by the experiment's seed and the round; blocked: every round of
/// the first environment, then the next.
pub fn schedule(order: Order, kinds: &[EnvKind], rounds: u32, seed: u64) -> Vec<(u32, EnvKind)> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    match order {
        Order::Blocked => kinds
            .iter()
            .flat_map(|&kind| (0..rounds).map(move |round| (round, kind)))
            .collect(),
        Order::Interleaved => (0..rounds)
            .flat_map(|round| {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                    seed ^ 0x0DE5_1A7E_0000_0000 ^ u64::from(round),
                );
                let mut order = kinds.to_vec();
                order.shuffle(&mut rng);
                order.into_iter().map(move |kind| (round, kind))
            })
            .collect(),
    }
}

/// Runs the experiment: prepares every environment, then launches one
/// fresh instance per environment and round in the order of [`schedule`].
/// An environment that fails is recorded as failed and the rest go on;
/// results are saved after every repetition.
pub fn run_experiment(
    ctx: &RunContext,
    observer: &dyn RunObserver,
) -> Result<ResultsFile, HarnessError> {
    let config = &ctx.config;
    std::fs::create_dir_all(&config.output).map_err(|source| HarnessError::Io {
        what: "creating the output directory",
        path: config.output.clone(),
        source,
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
    if let Some(warning) = config.design_warning(isobench_stats::DEFAULT_ALPHA) {
        observer.message(&format!("warning: {warning}"));
    }
    // Serving results (`serve-bench`) already in this directory are a
    // separate measurement: a batch run keeps them.
    let earlier_serving = ResultsFile::load(&path)
        .map(|earlier| earlier.serving)
        .unwrap_or_default();
    let mut results = ResultsFile::new(
        experiment_of(config),
        ctx.host.clone(),
        ctx.identity.clone(),
        crate::host::git_revision(),
    );
    results.serving = earlier_serving;
    save(&mut results, &path)?;

    // 1. Prepare every environment (or take it whole from the journal).
    let mut slots: Vec<Slot> = Vec::new();
    for &kind in &config.environments {
        if ctx.interrupted.load(Ordering::Relaxed) {
            break;
        }
        let index = results.environments.len();
        if let Some(done) = recovered.environments.remove(kind.name()) {
            observer.message(&format!(
                "{kind}: already complete in the journal, not run again"
            ));
            results.environments.push(done);
            slots.push(Slot {
                kind,
                index,
                env: None,
                done: Vec::new(),
            });
            continue;
        }
        observer.environment_started(
            kind.name(),
            config.repetitions,
            config.iterations + config.warmup,
        );
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
        let mut done = Vec::new();
        for rep in recovered
            .repetitions
            .remove(kind.name())
            .unwrap_or_default()
        {
            if let Some(error) = &rep.error {
                fail(
                    &mut results,
                    index,
                    format!("repetition {}: {error}", rep.index),
                );
            }
            done.push(rep.index);
            results.environments[index].repetitions.push(rep);
        }
        let env = if done.len() as u32 >= config.repetitions {
            None
        } else {
            prepare_environment(ctx, kind, &mut results.environments[index])
        };
        slots.push(Slot {
            kind,
            index,
            env,
            done,
        });
        save(&mut results, &path)?;
    }

    // 2. The rounds.
    let runnable: Vec<EnvKind> = slots
        .iter()
        .filter(|s| s.env.is_some())
        .map(|s| s.kind)
        .collect();
    let plan = schedule(config.order, &runnable, config.repetitions, config.seed);
    results.rounds = rounds_of(&plan);
    for (sequence, &(round, kind)) in plan.iter().enumerate() {
        if ctx.interrupted.load(Ordering::Relaxed) {
            break;
        }
        let slot = slots
            .iter_mut()
            .find(|s| s.kind == kind)
            .expect("every scheduled environment has a slot");
        if slot.done.contains(&round) {
            continue;
        }
        let Some(env) = slot.env.as_mut() else {
            continue;
        };
        let before = calibration::probe();
        let mut rep = run_repetition(ctx, env.as_mut(), kind, round, &mut journal, observer);
        let after = calibration::probe();
        if ctx.interrupted.load(Ordering::Relaxed) {
            // An interrupted repetition is measured again on --resume.
            break;
        }
        rep.sequence = Some(sequence as u32);
        rep.calibration = Some(calibration::calibration(before, after));
        if let Some(error) = &rep.error {
            fail(
                &mut results,
                slot.index,
                format!("repetition {round}: {error}"),
            );
        }
        journal.append(
            &Entry::Repetition {
                env: kind.name().to_string(),
                repetition: Box::new(rep.clone()),
            },
            true,
        )?;
        let reps = &mut results.environments[slot.index].repetitions;
        reps.push(rep);
        reps.sort_by_key(|r| r.index);
        save(&mut results, &path)?;
    }

    // 3. Tear down, journal finished environments.
    let interrupted = ctx.interrupted.load(Ordering::Relaxed);
    for slot in &mut slots {
        if let Some(mut env) = slot.env.take() {
            if let Err(e) = env.teardown() {
                observer.message(&format!("{}: clean-up: {e}", slot.kind));
            }
            observer
                .environment_finished(slot.kind.name(), &results.environments[slot.index].status);
        }
        if !interrupted {
            journal.append(
                &Entry::Environment {
                    result: Box::new(results.environments[slot.index].clone()),
                },
                true,
            )?;
        }
    }
    save(&mut results, &path)?;
    if interrupted {
        return Err(HarnessError::Interrupted(path));
    }
    Ok(results)
}

/// The rounds of a schedule, for the results.
fn rounds_of(plan: &[(u32, EnvKind)]) -> Vec<Round> {
    let mut rounds: Vec<Round> = Vec::new();
    for &(round, kind) in plan {
        match rounds.iter_mut().find(|r| r.index == round) {
            Some(r) => r.order.push(kind.name().to_string()),
            None => rounds.push(Round {
                index: round,
                order: vec![kind.name().to_string()],
            }),
        }
    }
    rounds.sort_by_key(|r| r.index);
    rounds
}

/// The experiment as recorded in the results.
pub(crate) fn experiment_of(config: &ExperimentConfig) -> Experiment {
    Experiment {
        environments: config
            .environments
            .iter()
            .map(|k| k.name().to_string())
            .collect(),
        workload: config.workload.to_string(),
        // Hand-written workloads run no ONNX engine, whatever --engine says.
        engine: if config.workload.runs_onnx() {
            config.engine.to_string()
        } else {
            crate::config::Engine::Native.to_string()
        },
        model: config.model.as_ref().map(|p| p.display().to_string()),
        images: config.images.as_ref().map(|p| p.display().to_string()),
        iterations: config.iterations,
        warmup: config.warmup,
        repetitions: config.repetitions,
        vcpus: config.vcpus,
        memory_mib: config.memory_mib,
        threads: config.threads,
        seed: config.seed,
        order: config.order.as_str().to_string(),
        command: config.command.as_ref().map(|c| {
            let argv = shlex::try_join(c.argv.iter().map(String::as_str))
                .unwrap_or_else(|_| c.argv.join(" "));
            let root = match &c.root {
                crate::config::RootChoice::Dir(dir) => dir.display().to_string(),
                crate::config::RootChoice::Image(name) => format!("image {name}"),
            };
            format!("{argv} in {root} ({})", c.measure.name())
        }),
    }
}

fn save(results: &mut ResultsFile, path: &Path) -> Result<(), HarnessError> {
    summarize_all(results);
    Ok(results.save_atomic(path)?)
}

fn fail(results: &mut ResultsFile, index: usize, reason: String) {
    let env = &mut results.environments[index];
    if matches!(env.status, Status::Completed) {
        env.status = Status::Failed { reason };
    }
}

/// Detects, builds and prepares one environment, recording its metadata
/// and any failure in `entry`; `None` when it cannot run.
fn prepare_environment(
    ctx: &RunContext,
    kind: EnvKind,
    entry: &mut EnvironmentResult,
) -> Option<Box<dyn Environment>> {
    let availability = ctx.source.detect(kind, &ctx.host_facts, &ctx.env_options);
    if !availability.available {
        entry.status = Status::Skipped {
            reason: format!("{} (fix: {})", availability.reason, availability.fix),
        };
        return None;
    }
    let mut env: Box<dyn Environment> = match ctx.source.build(kind, &ctx.env_options) {
        Ok(env) => env,
        Err(e) => {
            entry.status = Status::Failed {
                reason: e.to_string(),
            };
            return None;
        }
    };
    let started = Instant::now();
    let prepared = env.prepare(&ctx.payload);
    let info = env.info();
    entry.runtime_version = info.runtime_version;
    entry.accel = info.accel;
    entry.emulated = info.emulated;
    entry.notes = info.notes;
    entry.prepare_seconds = started.elapsed().as_secs_f64();
    match prepared {
        Ok(prepared) => {
            entry.image_bytes = prepared.image_bytes;
            Some(env)
        }
        Err(e) => {
            entry.status = Status::Failed {
                reason: format!("prepare: {e}"),
            };
            let _ = env.teardown();
            None
        }
    }
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
        run_id: RunId::new(kind, RunLabel::Repetition(repetition)),
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
            rep.error = Some(RepetitionError::Launch(e).to_string());
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
    let meter = Meter::new(target.clone());
    let mut marks = Marks::default();
    let outcome = collect_records(
        ctx,
        instance.as_mut(),
        kind,
        repetition,
        origin,
        &mut rep,
        journal,
        observer,
        &mut |moment| {
            let what = match moment {
                Moment::Ready => "ready",
                Moment::WindowStart => "start of the measured iterations",
                Moment::WindowEnd => "end of the measured iterations",
            };
            let marked = mark(&meter, &sampler, origin, &mut marks.missed, what);
            match moment {
                Moment::Ready => marks.ready = marked,
                Moment::WindowStart => marks.window_start = marked,
                Moment::WindowEnd => marks.window_end = marked,
            }
        },
    );
    if let Some(reading) = meter.read() {
        sampler.add(&reading, origin);
    }
    let vmm_overhead = if env.capabilities().vmm_overhead {
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
    let sampled = sampler.finish();
    let wall_seconds = origin.elapsed().as_secs_f64();
    let mut cpu_seconds = sampled.samples.last().map(|s| s.cpu);
    let mut cgroup_peak = sampled.cgroup_peak_bytes;
    match exit {
        Ok(exit) => {
            rep.exit_code = exit.code;
            if let Some(last) = exit.final_cpu_seconds {
                cpu_seconds = Some(cpu_seconds.unwrap_or(0.0).max(last));
            }
            if let Some(peak) = exit.final_peak_memory_bytes {
                cgroup_peak = Some(cgroup_peak.unwrap_or(0).max(peak));
            }
        }
        Err(e) => {
            observer.message(&format!("{kind}: stopping repetition {repetition}: {e}"));
            rep.stop_error = Some(e.to_string());
        }
    }
    if let Err(error) = outcome {
        rep.error = Some(error.to_string());
    }
    let window = measured_cpu(&marks, rep.iterations.len() as u64);
    let mut absent = window.absent;
    if !marks.missed.is_empty() {
        absent.push(format!(
            "the meter ({}) read nothing at {}",
            sampled.source,
            marks.missed.join(", ")
        ));
    }
    rep.usage = Usage {
        source: sampled.source,
        cpu_seconds,
        wall_seconds,
        startup_cpu_seconds: marks.ready.map(|m| m.reading.cpu_seconds),
        measured_cpu_seconds: window.cpu_seconds,
        measured_wall_seconds: window.wall_seconds,
        cpu_seconds_per_inference: window.per_inference,
        cpu_percent: window.percent,
        absent,
        host_peak_rss_bytes: sampled.peak_rss_bytes,
        cgroup_peak_bytes: cgroup_peak,
        vmm_overhead_bytes: vmm_overhead,
        interval_ms: sampled.interval.as_millis() as u64,
        samples: sampled.samples,
    };
    rep
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
    on_moment: &mut dyn FnMut(Moment),
) -> Result<(), RepetitionError> {
    let config = &ctx.config;
    let guest_kernel = isobench_environments::capabilities(kind).guest_kernel;
    let deadline = origin + Duration::from_secs(ctx.config.timeout_seconds);
    let mut last_arrival: Option<Instant> = None;
    let mut noise: Vec<String> = Vec::new();
    loop {
        if ctx.interrupted.load(Ordering::Relaxed) {
            return Err(RepetitionError::Interrupted);
        }
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            return Err(RepetitionError::Deadline {
                seconds: ctx.config.timeout_seconds,
            });
        }
        // Boot (launch to ready) and each iteration (record to record) have
        // their own, shorter limits, so a hung guest or agent is caught early.
        match last_arrival {
            None if now - origin > Duration::from_secs(ctx.config.boot_timeout_seconds) => {
                return Err(RepetitionError::BootTimeout {
                    seconds: ctx.config.boot_timeout_seconds,
                });
            }
            Some(last)
                if now - last > Duration::from_secs(ctx.config.iteration_timeout_seconds) =>
            {
                return Err(RepetitionError::IterationTimeout {
                    seconds: ctx.config.iteration_timeout_seconds,
                });
            }
            _ => {}
        }
        // Wake up regularly to notice an interrupt.
        let line = match instance.next_line(left.min(Duration::from_millis(250))) {
            Ok(Some(line)) => line,
            Ok(None) => {
                // The runtime's / VMM's own last words first, else the last stray stdout line.
                return Err(RepetitionError::EarlyExit {
                    last_output: instance.diagnostics().or_else(|| noise.last().cloned()),
                });
            }
            Err(EnvError::Timeout { .. }) => continue,
            // The instance stopped itself at the whole run's limit.
            Err(EnvError::RunDeadline { .. }) => {
                return Err(RepetitionError::Deadline {
                    seconds: ctx.config.timeout_seconds,
                })
            }
            Err(e) => return Err(RepetitionError::Stream(e)),
        };
        let now = Instant::now();
        let since_launch = (now - origin).as_secs_f64();
        match parse_line(&line) {
            Ok(LineKind::Noise) => {
                // A guest kernel's console keeps talking: keep its latest
                // lines; elsewhere the first stray lines say what went wrong.
                if guest_kernel {
                    noise.push(line.chars().take(200).collect());
                    if noise.len() > 20 {
                        noise.remove(0);
                    }
                } else if noise.len() < 20 {
                    noise.push(line.chars().take(200).collect());
                }
            }
            Err(e) => return Err(RepetitionError::InvalidRecord(e)),
            Ok(LineKind::Record(Record::Ready(ready))) => {
                rep.ready_seconds = Some(since_launch);
                rep.agent_ready_us = Some(ready.ready_us);
                last_arrival = Some(now);
                on_moment(Moment::Ready);
                if config.warmup == 0 {
                    on_moment(Moment::WindowStart);
                }
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
                        digest: Some(it.digest),
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
                        .map_err(|e| RepetitionError::Journal(Box::new(e)))?;
                    rep.iterations.push(sample);
                    if it.index + 1 == config.iterations {
                        on_moment(Moment::WindowEnd);
                    }
                } else if it.index + 1 == config.warmup {
                    on_moment(Moment::WindowStart);
                }
                last_arrival = Some(now);
            }
            Ok(LineKind::Record(Record::Summary(summary))) => {
                rep.agent_summary = Some(summary);
                return Ok(());
            }
            Ok(LineKind::Record(Record::Error(error))) => {
                return Err(RepetitionError::Agent {
                    kind: error.kind,
                    message: error.message,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [EnvKind; 3] = [EnvKind::Native, EnvKind::Docker, EnvKind::Gvisor];

    #[test]
    fn interleaved_rounds_hold_every_environment_once_in_a_seeded_order() {
        let plan = schedule(Order::Interleaved, &KINDS, 6, 7);
        assert_eq!(plan.len(), 18);
        for round in 0..6 {
            let mut in_round: Vec<EnvKind> = plan
                .iter()
                .filter(|(r, _)| *r == round)
                .map(|(_, k)| *k)
                .collect();
            in_round.sort();
            assert_eq!(in_round, KINDS.to_vec(), "round {round}");
        }
        // The rounds are contiguous and in order.
        let rounds: Vec<u32> = plan.iter().map(|(r, _)| *r).collect();
        assert!(rounds.windows(2).all(|w| w[0] <= w[1]));
        // Same seed, same plan; the order differs between rounds for some seed.
        assert_eq!(plan, schedule(Order::Interleaved, &KINDS, 6, 7));
        let orders: std::collections::BTreeSet<Vec<EnvKind>> = (0..6)
            .map(|round| {
                plan.iter()
                    .filter(|(r, _)| *r == round)
                    .map(|(_, k)| *k)
                    .collect()
            })
            .collect();
        assert!(
            orders.len() > 1,
            "every round in the same order: {orders:?}"
        );
        let rounds = rounds_of(&plan);
        assert_eq!(rounds.len(), 6);
        assert_eq!(rounds[0].order.len(), 3);
    }

    #[test]
    fn blocked_runs_every_repetition_of_one_environment_first() {
        let plan = schedule(Order::Blocked, &KINDS, 2, 7);
        assert_eq!(
            plan,
            vec![
                (0, EnvKind::Native),
                (1, EnvKind::Native),
                (0, EnvKind::Docker),
                (1, EnvKind::Docker),
                (0, EnvKind::Gvisor),
                (1, EnvKind::Gvisor),
            ]
        );
    }
}
