//! Batch mode (`isobench run`): rounds of fresh instances, each running
//! the workload's warm-up and measured iterations, with every sample
//! journalled and results saved after each repetition so an interrupted run
//! keeps what it measured. Instances come from the shared lifecycle
//! ([`crate::lifecycle`]); this module says what to do with them.

use std::path::Path;

use isobench_environments::{EnvKind, RunLabel};
use isobench_records::Record;
use isobench_results::{
    AbsentReason, EnvironmentResult, Experiment, IterationSample, Repetition, ResultsFile, Round,
    Status, Usage,
};

use crate::calibration;
use crate::config::Order;
use crate::context::{results_path, RunContext, RunObserver};
use crate::journal::{self, Entry, Journal};
use crate::lifecycle::{Channels, Lab, LaunchRequest, LiveInstance, ReadError};
use crate::metrics::window::{mark, measured_cpu, Marks, Moment};
use crate::summarize::summarize_all;
use crate::{ExperimentConfig, HarnessError, RepetitionError};

/// One environment of the experiment while it runs.
struct Slot {
    kind: EnvKind,
    /// Index into `results.environments`.
    index: usize,
    /// Whether it launches instances in the rounds (false when it is
    /// finished from the journal, skipped, or failed to prepare).
    runnable: bool,
    /// Repetition indices already measured (from the journal).
    done: Vec<u32>,
}

/// The environments of one interleaved round, in launch order: every
/// environment once, shuffled with a generator seeded by the experiment's
/// seed and the round.
pub fn round_order(kinds: &[EnvKind], round: u32, seed: u64) -> Vec<EnvKind> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng =
        rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x0DE5_1A7E_0000_0000 ^ u64::from(round));
    let mut order = kinds.to_vec();
    order.shuffle(&mut rng);
    order
}

/// The launch schedule of `rounds` rounds: `(round, environment)` in launch
/// order, rounds numbered from 1. Interleaved: each round holds every
/// environment once ([`round_order`]); blocked: every round of the first
/// environment, then the next.
pub fn schedule(order: Order, kinds: &[EnvKind], rounds: u32, seed: u64) -> Vec<(u32, EnvKind)> {
    match order {
        Order::Blocked => kinds
            .iter()
            .flat_map(|&kind| (1..=rounds).map(move |round| (round, kind)))
            .collect(),
        Order::Interleaved => (1..=rounds)
            .flat_map(|round| {
                round_order(kinds, round, seed)
                    .into_iter()
                    .map(move |kind| (round, kind))
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
    results.baseline = Some(config.baseline().name().to_string());
    save(&mut results, &path)?;
    let mut lab = Lab::open(ctx);

    // 1. Prepare every environment (or take it whole from the journal).
    let mut slots: Vec<Slot> = Vec::new();
    for &kind in &config.environments {
        if lab.interrupted() {
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
                runnable: false,
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
            planned_repetitions: config.repetitions,
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
                    format!("repetition {}: {error}", rep.round),
                );
            }
            done.push(rep.round);
            results.environments[index].repetitions.push(rep);
        }
        let runnable = done.len() as u32 >= config.repetitions
            || prepare(&mut lab, kind, &mut results.environments[index]);
        slots.push(Slot {
            kind,
            index,
            runnable: runnable && (done.len() as u32) < config.repetitions,
            done,
        });
        save(&mut results, &path)?;
    }

    // 2. The rounds.
    let runnable: Vec<EnvKind> = slots
        .iter()
        .filter(|s| s.runnable)
        .map(|s| s.kind)
        .collect();
    let plan = schedule(config.order, &runnable, config.repetitions, config.seed);
    results.rounds = rounds_of(&plan);
    for (sequence, &(round, kind)) in plan.iter().enumerate() {
        if lab.interrupted() {
            break;
        }
        let slot = slots
            .iter_mut()
            .find(|s| s.kind == kind)
            .expect("every scheduled environment has a slot");
        if slot.done.contains(&round) {
            continue;
        }
        let before = calibration::probe();
        let mut rep = run_repetition(&mut lab, kind, round, &mut journal, observer);
        let after = calibration::probe();
        if lab.interrupted() {
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
        reps.sort_by_key(|r| r.round);
        save(&mut results, &path)?;
    }

    // 3. Tear down, journal finished environments; an interrupted run marks
    // the environments whose plan is not done.
    let interrupted = lab.interrupted();
    for slot in &slots {
        let env = &mut results.environments[slot.index];
        if interrupted
            && env.status == Status::Completed
            && (env.repetitions.len() as u32) < env.planned_repetitions
        {
            env.status = Status::Interrupted;
        }
        if slot.runnable {
            if let Err(e) = lab.teardown(slot.kind) {
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
        match rounds.iter_mut().find(|r| r.round == round) {
            Some(r) => r.order.push(kind.name().to_string()),
            None => rounds.push(Round {
                round,
                order: vec![kind.name().to_string()],
            }),
        }
    }
    rounds.sort_by_key(|r| r.round);
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
        workload: config.workload,
        // Hand-written workloads run no ONNX engine, whatever --engine says.
        engine: if config.workload.runs_onnx() {
            config.engine
        } else {
            crate::config::Engine::Native
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
        order: config.order,
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

/// Prepares `kind` in the lab, recording its facts, or why it cannot run,
/// in `entry`; true when it can launch instances.
fn prepare(lab: &mut Lab<'_>, kind: EnvKind, entry: &mut EnvironmentResult) -> bool {
    match lab.prepare(kind) {
        Ok(prepared) => {
            let facts = prepared.facts().clone();
            entry.runtime_version = facts.runtime_version;
            entry.accel = facts.accel;
            entry.emulated = facts.emulated;
            entry.notes = facts.notes;
            entry.image_bytes = facts.image_bytes;
            entry.prepare_seconds = facts.prepare_seconds;
            true
        }
        Err(unready) => {
            entry.status = match unready {
                crate::lifecycle::Unready::Unavailable { .. } => Status::Skipped {
                    reason: unready.to_string(),
                },
                _ => Status::Failed {
                    reason: unready.to_string(),
                },
            };
            false
        }
    }
}

/// Runs one fresh instance and collects its records and usage.
pub fn run_repetition(
    lab: &mut Lab<'_>,
    kind: EnvKind,
    repetition: u32,
    journal: &mut Journal,
    observer: &dyn RunObserver,
) -> Repetition {
    let ctx = lab.context();
    let config = &ctx.config;
    let mut rep = Repetition {
        round: repetition,
        ..Repetition::default()
    };
    let Some(assets) = lab.prepared(kind).map(|p| p.assets_inside()) else {
        rep.error = Some(format!("{kind} is not prepared"));
        return rep;
    };
    let request = LaunchRequest {
        invocation: config.run_invocation(&assets),
        label: RunLabel::Repetition(repetition),
        channels: Channels::default(),
        sample: true,
    };
    let mut instance = match lab.launch(kind, request) {
        Ok(instance) => instance,
        Err(e) => {
            rep.error = Some(RepetitionError::Launch(e).to_string());
            return rep;
        }
    };
    let mut marks = Marks::default();
    let outcome = collect_records(ctx, &mut instance, &mut rep, journal, observer, &mut marks);
    let vmm_overhead = instance.vmm_overhead_bytes();
    if let Some(ready) = rep.ready_seconds {
        rep.guest_start_to_ready_seconds = instance.guest_start_to(ready);
    }
    let stopped = instance.stop();
    let sampled = stopped.sampled.expect("the launch asked for sampling");
    let mut cpu_seconds = sampled.samples.last().map(|s| s.cpu);
    let mut cgroup_peak = sampled.cgroup_peak_bytes;
    match stopped.exit {
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
        absent.push(AbsentReason::MeterReadNothing {
            meter: sampled.source.clone(),
            moments: marks.missed.iter().map(|m| m.to_string()).collect(),
        });
    }
    rep.usage = Usage {
        source: sampled.source,
        cpu_seconds,
        wall_seconds: stopped.wall_seconds,
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

/// Reads the instance's records into `rep` up to the agent's summary,
/// taking meter readings at the moments that bound the measured window.
fn collect_records(
    ctx: &RunContext,
    instance: &mut LiveInstance,
    rep: &mut Repetition,
    journal: &mut Journal,
    observer: &dyn RunObserver,
    marks: &mut Marks,
) -> Result<(), RepetitionError> {
    let config = &ctx.config;
    let kind = instance.kind();
    let repetition = rep.round;
    let origin = instance.origin();
    let mut on_moment = |instance: &LiveInstance, moment: Moment| {
        let what = match moment {
            Moment::Ready => "ready",
            Moment::WindowStart => "start of the measured iterations",
            Moment::WindowEnd => "end of the measured iterations",
        };
        let sampler = instance.sampler().expect("the launch asked for sampling");
        let marked = mark(instance.meter(), sampler, origin, &mut marks.missed, what);
        match moment {
            Moment::Ready => marks.ready = marked,
            Moment::WindowStart => marks.window_start = marked,
            Moment::WindowEnd => marks.window_end = marked,
        }
    };
    loop {
        let arrival = match instance.next_record() {
            Ok(arrival) => arrival,
            Err(ReadError::Ended { last_output }) => {
                return Err(RepetitionError::EarlyExit { last_output })
            }
            Err(e) => return Err(RepetitionError::Records(e)),
        };
        match arrival.record {
            Record::Ready(ready) => {
                rep.ready_seconds = Some(arrival.since_launch);
                rep.agent_ready_us = Some(ready.ready_us);
                on_moment(instance, Moment::Ready);
                if config.warmup == 0 {
                    on_moment(instance, Moment::WindowStart);
                }
            }
            Record::Iteration(it) => {
                if rep.first_inference_seconds.is_none() {
                    rep.first_inference_seconds = Some(arrival.since_launch);
                }
                observer.iteration_done(kind.name(), repetition, it.index, it.warmup);
                if !it.warmup {
                    if rep.measured_start_seconds.is_none() {
                        rep.measured_start_seconds =
                            Some((arrival.previous - origin).as_secs_f64());
                    }
                    rep.measured_end_seconds = Some(arrival.since_launch);
                    let sample = IterationSample {
                        index: it.index,
                        input: it.input,
                        preprocess_us: it.preprocess_us,
                        inference_us: it.inference_us,
                        postprocess_us: it.postprocess_us,
                        end_to_end_us: (arrival.at - arrival.previous).as_micros() as u64,
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
                        on_moment(instance, Moment::WindowEnd);
                    }
                } else if it.index + 1 == config.warmup {
                    on_moment(instance, Moment::WindowStart);
                }
            }
            Record::Summary(summary) => {
                rep.agent_summary = Some(summary);
                return Ok(());
            }
            // The reader turns error records into errors; should one get through:
            Record::Error(error) => {
                return Err(RepetitionError::Records(ReadError::Agent {
                    kind: error.kind,
                    message: error.message,
                }))
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
        for round in 1..=6 {
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
        let orders: std::collections::BTreeSet<Vec<EnvKind>> = (1..=6)
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
                (1, EnvKind::Native),
                (2, EnvKind::Native),
                (1, EnvKind::Docker),
                (2, EnvKind::Docker),
                (1, EnvKind::Gvisor),
                (2, EnvKind::Gvisor),
            ]
        );
    }
}
