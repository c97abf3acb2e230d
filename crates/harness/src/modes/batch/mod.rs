//! Batch mode (`isobench run`): rounds of fresh instances, each running
//! the workload's warm-up and measured iterations, until the design says
//! stop ([`plan`]: a fixed number of rounds, or sequential rounds until
//! every comparison with the baseline is decided or the budget is spent).
//! Every sample is journalled as it arrives and results are saved after
//! each repetition, so an interrupted run keeps what it measured and
//! `--resume` goes on from there. Instances come from the shared lifecycle
//! ([`crate::lifecycle`]); this module says what to do with them.

pub mod plan;
pub mod repetition;
pub mod schedule;

use std::path::Path;
use std::time::{Duration, Instant};

use isobench_environments::EnvKind;
use isobench_results::{EnvironmentResult, Experiment, Order, ResultsFile, Round, Status};

use crate::calibration;
use crate::context::{RunContext, RunObserver};
use crate::journal::{self, Entry, Journal, Recovered};
use crate::lifecycle::{Lab, Unready};
use crate::summarize::summarize_all;
use crate::{ExperimentConfig, HarnessError};

use plan::Planner;
pub use repetition::run_repetition;
pub use schedule::{round_order, schedule};

/// One environment of the experiment while it runs.
struct Slot {
    kind: EnvKind,
    /// Index into `results.environments`.
    index: usize,
    /// Whether it launches instances in the rounds (false when it is
    /// finished from the journal, skipped, or failed to prepare).
    runnable: bool,
    /// Rounds already measured (from the journal).
    done: Vec<u32>,
}

/// The run while it goes: what it writes to and where it stands.
struct Run<'a, 'c> {
    lab: Lab<'c>,
    results: ResultsFile,
    journal: Journal,
    slots: Vec<Slot>,
    planner: Planner,
    path: &'a Path,
    observer: &'a dyn RunObserver,
    /// Launches so far (each repetition's `sequence`).
    sequence: u32,
    /// Environments taken whole from the journal.
    from_journal: Vec<EnvKind>,
}

/// Runs the experiment: prepares every environment, then runs rounds of
/// one fresh instance per environment, in the order of [`round_order`]
/// (or [`schedule`]'s blocks), until the design stops. An environment that
/// fails is recorded as failed and the rest go on.
pub fn run_experiment(
    ctx: &RunContext,
    observer: &dyn RunObserver,
) -> Result<ResultsFile, HarnessError> {
    let config = &ctx.config;
    let output = &config.common.output;
    let path = crate::context::output_results(output)?;
    let mut recovered = if ctx.resume {
        journal::recover(output)?
    } else {
        // A fresh experiment starts a fresh journal.
        let _ = std::fs::remove_file(output.join(journal::JOURNAL_FILE));
        Recovered::default()
    };
    if recovered.finished {
        return Err(HarnessError::NothingToResume(output.clone()));
    }
    let mut journal = Journal::open(output)?;
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if !ctx.resume {
        journal.append(
            &Entry::Start {
                config: Box::new(config.clone()),
                host: Some(Box::new(ctx.host.clone())),
                started_unix: Some(started_unix),
            },
            true,
        )?;
    }
    // Serving results (`serve-bench`) already in this directory are a
    // separate measurement: a batch run keeps them.
    let earlier_serving = ResultsFile::load(&path)
        .map(|earlier| earlier.serving)
        .unwrap_or_default();
    // A resumed run keeps the host facts and start time of its first session.
    let mut results = ResultsFile::new(
        experiment_of(config),
        recovered.host.clone().unwrap_or_else(|| ctx.host.clone()),
        ctx.identity.clone(),
        crate::host::git_revision(),
    );
    results.started_unix = recovered.started_unix.unwrap_or(started_unix);
    results.serving = earlier_serving;
    results.baseline = Some(config.baseline().name().to_string());
    let planner = Planner::new(config).map_err(|e| HarnessError::Invalid(e.to_string()))?;
    results.design = Some(planner.design().clone());
    save(&mut results, &path)?;
    let mut run = Run {
        lab: Lab::open(ctx),
        results,
        journal,
        slots: Vec::new(),
        planner,
        path: &path,
        observer,
        sequence: 0,
        from_journal: Vec::new(),
    };
    run.prepare_all(&mut recovered)?;
    run.sequence = run
        .results
        .environments
        .iter()
        .flat_map(|e| e.repetitions.iter().filter_map(|r| r.sequence))
        .max()
        .map_or(0, |s| s + 1);
    let rounds_done = match config.batch.order {
        Order::Interleaved => run.interleaved_rounds(&recovered)?,
        Order::Blocked => run.blocked_rounds()?,
    };
    run.finish(rounds_done)
}

impl Run<'_, '_> {
    fn config(&self) -> &ExperimentConfig {
        &self.lab.context().config
    }

    /// Prepares every environment (or takes it whole from the journal).
    fn prepare_all(&mut self, recovered: &mut Recovered) -> Result<(), HarnessError> {
        let kinds = self.config().common.environments.clone();
        let planned = self.planner.max_rounds();
        for kind in kinds {
            let index = self.results.environments.len();
            if let Some(done) = recovered.environments.remove(kind.name()) {
                self.observer.message(&format!(
                    "{kind}: already complete in the journal, not run again"
                ));
                self.results.environments.push(done);
                self.from_journal.push(kind);
                self.slots.push(Slot {
                    kind,
                    index,
                    runnable: false,
                    done: Vec::new(),
                });
                continue;
            }
            if self.lab.interrupted() {
                // Interrupted before this one was prepared: it is in the
                // results all the same, interrupted, with what the journal
                // had of it and its planned repetitions.
                let mut entry = EnvironmentResult::new(kind.name(), planned);
                entry.repetitions = recovered
                    .repetitions
                    .remove(kind.name())
                    .unwrap_or_default();
                entry.status = Status::Interrupted;
                self.results.environments.push(entry);
                self.slots.push(Slot {
                    kind,
                    index,
                    runnable: false,
                    done: Vec::new(),
                });
                continue;
            }
            self.observer.environment_started(kind.name(), planned);
            let mut entry = EnvironmentResult::new(kind.name(), planned);
            let mut done = Vec::new();
            for rep in recovered
                .repetitions
                .remove(kind.name())
                .unwrap_or_default()
            {
                if let Some(error) = &rep.error {
                    fail(&mut entry, format!("repetition {}: {error}", rep.round));
                }
                done.push(rep.round);
                entry.repetitions.push(rep);
            }
            let runnable = prepare(&mut self.lab, kind, &mut entry);
            self.results.environments.push(entry);
            self.slots.push(Slot {
                kind,
                index,
                runnable,
                done,
            });
            save(&mut self.results, self.path)?;
        }
        Ok(())
    }

    fn runnable(&self) -> Vec<EnvKind> {
        self.slots
            .iter()
            .filter(|s| s.runnable)
            .map(|s| s.kind)
            .collect()
    }

    /// Rounds of every runnable environment in a seeded shuffled order,
    /// until the planner stops; the rounds the journal holds are replayed
    /// into the planner, not run again. Returns the rounds complete.
    fn interleaved_rounds(&mut self, recovered: &Recovered) -> Result<u32, HarnessError> {
        let runnable = self.runnable();
        let seed = self.config().common.seed;
        let mut elapsed = Duration::ZERO;
        let mut round = 0;
        loop {
            round += 1;
            if self.lab.interrupted() {
                return Ok(round - 1);
            }
            if let Some(done) = recovered.rounds.iter().find(|r| r.round == round) {
                // Finished before an interruption: its launches are in the results.
                elapsed = Duration::from_secs_f64(done.elapsed_seconds);
                self.results
                    .rounds
                    .push(self.round_entry(round, &runnable, seed));
                if self.planner.round_done(
                    round,
                    done.seconds,
                    elapsed,
                    &mut self.results.clone_up_to(round),
                ) {
                    return Ok(round);
                }
                continue;
            }
            if !self.planner.may_start(round, elapsed) {
                return Ok(round - 1);
            }
            let started = Instant::now();
            let order = round_order(&runnable, round, seed);
            self.results.rounds.push(Round {
                round,
                order: order.iter().map(|k| k.name().to_string()).collect(),
            });
            for &kind in &order {
                if self.lab.interrupted() {
                    return Ok(round - 1);
                }
                self.repetition(kind, round)?;
            }
            if self.lab.interrupted() {
                return Ok(round - 1);
            }
            let seconds = started.elapsed().as_secs_f64();
            elapsed += started.elapsed();
            self.journal.append(
                &Entry::Round {
                    round,
                    seconds,
                    elapsed_seconds: elapsed.as_secs_f64(),
                },
                true,
            )?;
            let stop = self
                .planner
                .round_done(round, seconds, elapsed, &mut self.results);
            self.results.design = Some(self.planner.design().clone());
            save(&mut self.results, self.path)?;
            self.observer.round_finished(round, &self.results);
            if stop {
                return Ok(round);
            }
        }
    }

    /// The recorded order of a replayed round.
    fn round_entry(&self, round: u32, runnable: &[EnvKind], seed: u64) -> Round {
        Round {
            round,
            order: round_order(runnable, round, seed)
                .iter()
                .map(|k| k.name().to_string())
                .collect(),
        }
    }

    /// Every repetition of one environment, then the next (a fixed design).
    fn blocked_rounds(&mut self) -> Result<u32, HarnessError> {
        let runnable = self.runnable();
        let rounds = self.planner.max_rounds();
        let plan = schedule(Order::Blocked, &runnable, rounds, 0);
        // The launch order, grouped by repetition number for the results.
        for round in 1..=rounds {
            self.results.rounds.push(Round {
                round,
                order: plan
                    .iter()
                    .filter(|(r, _)| *r == round)
                    .map(|(_, k)| k.name().to_string())
                    .collect(),
            });
        }
        for (round, kind) in plan {
            if self.lab.interrupted() {
                break;
            }
            self.repetition(kind, round)?;
        }
        // The fixed look covers the most repetitions any environment has.
        Ok(self
            .results
            .environments
            .iter()
            .map(|e| e.repetitions.len() as u32)
            .max()
            .unwrap_or(0))
    }

    /// One repetition of `kind` in `round` (skipped when the journal has it):
    /// probe, run, probe, journal, save.
    fn repetition(&mut self, kind: EnvKind, round: u32) -> Result<(), HarnessError> {
        let slot_index = self
            .slots
            .iter()
            .position(|s| s.kind == kind)
            .expect("every scheduled environment has a slot");
        if self.slots[slot_index].done.contains(&round) {
            return Ok(());
        }
        let iterations = self.planner.iterations(round);
        let before = calibration::probe();
        let mut rep = run_repetition(
            &mut self.lab,
            kind,
            round,
            iterations,
            &mut self.journal,
            self.observer,
        );
        let after = calibration::probe();
        if self.lab.interrupted() {
            // An interrupted repetition is measured again on --resume.
            return Ok(());
        }
        rep.sequence = Some(self.sequence);
        self.sequence += 1;
        rep.calibration = Some(calibration::calibration(before, after));
        let index = self.slots[slot_index].index;
        if let Some(error) = &rep.error {
            fail(
                &mut self.results.environments[index],
                format!("repetition {round}: {error}"),
            );
        }
        self.journal.append(
            &Entry::Repetition {
                env: kind.name().to_string(),
                repetition: Box::new(rep.clone()),
            },
            true,
        )?;
        self.observer.repetition_finished(kind.name(), &rep);
        let reps = &mut self.results.environments[index].repetitions;
        reps.push(rep);
        reps.sort_by_key(|r| r.round);
        save(&mut self.results, self.path)
    }

    /// Tears down, takes the design's final look, marks what an interruption
    /// left undone, journals finished environments and saves.
    fn finish(mut self, rounds_done: u32) -> Result<ResultsFile, HarnessError> {
        let interrupted = self.lab.interrupted();
        self.results.design = Some(self.planner.finish(rounds_done, interrupted));
        for slot in &self.slots {
            // Taken whole from the journal: journalled already.
            let from_journal = self.from_journal.contains(&slot.kind);
            let env = &mut self.results.environments[slot.index];
            if slot.runnable {
                if let Err(e) = self.lab.teardown(slot.kind) {
                    self.observer
                        .message(&format!("{}: clean-up: {e}", slot.kind));
                }
                if interrupted && env.status == Status::Completed {
                    env.status = Status::Interrupted;
                }
                self.observer.environment_finished(&env.name, &env.status);
            }
            if !interrupted && !from_journal {
                self.journal.append(
                    &Entry::Environment {
                        result: Box::new(env.clone()),
                    },
                    true,
                )?;
            }
        }
        if !interrupted {
            self.journal.append(&Entry::Finished, true)?;
        }
        save(&mut self.results, self.path)?;
        if interrupted {
            return Err(HarnessError::Interrupted(self.path.to_path_buf()));
        }
        Ok(self.results)
    }
}

/// The experiment as recorded in the results.
pub(crate) fn experiment_of(config: &ExperimentConfig) -> Experiment {
    let (c, b) = (&config.common, &config.batch);
    Experiment {
        environments: c
            .environments
            .iter()
            .map(|k| k.name().to_string())
            .collect(),
        workload: config.workload(),
        engine: config.engine_run(),
        model: c.model.as_ref().map(|p| p.display().to_string()),
        images: c.images.as_ref().map(|p| p.display().to_string()),
        iterations: b.iterations,
        warmup: b.warmup,
        repetitions: b.repetitions,
        vcpus: c.vcpus,
        memory_mib: c.memory,
        threads: c.threads,
        seed: c.seed,
        order: b.order,
        command: config.command().as_ref().map(|c| {
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

/// Marks `env` failed (its first failure's reason is kept).
fn fail(env: &mut EnvironmentResult, reason: String) {
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
                Unready::Unavailable { .. } => Status::Skipped {
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
