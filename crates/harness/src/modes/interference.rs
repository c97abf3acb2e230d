//! Interference (`isobench interference`): how much busy neighbours of the
//! same environment slow a serving victim.
//!
//! A **trial** of an environment is one fresh victim: a serving agent
//! (`serve`, requests on its input) warmed up with requests one at a time,
//! then driven at every level `K = 0 … Kmax` of neighbours, the levels in
//! an order shuffled per trial with the experiment's seed (so the host's
//! drift within a trial does not line up with K). One level: start K
//! neighbours of the same environment, one after another, with the same
//! `--vcpus` / `--memory` limits (the lifecycle's launch applies them to
//! every instance), wait for each one's `ready`; drive the victim with
//! seeded Poisson arrivals at the target QPS for `--duration` seconds (the
//! serving load generator's Server scenario, the same arrival times at
//! every level of the trial); meter the neighbours' CPU over the drive;
//! stop them. A neighbour the runtime refuses (or that fails before
//! `ready`) is recorded with its reason and that level of that trial is
//! not measured.
//!
//! Trials run in rounds: each round is one trial of every environment, the
//! environments taking turns in an order shuffled with the seed. Around
//! every trial the host-speed probe of `isobench run` is timed. The
//! target QPS, unless `--qps` gives it, is half the capacity the
//! environment's first victim showed after its warm-up (the lower of `1 /
//! median warm-up latency` and the throughput of a burst of requests sent at
//! once), at most 200 QPS, halved until the victim alone keeps its median latency within 3×
//! its warm-up median (at least 1 ms) at it, then fixed for its later trials. The levels' figures and verdicts
//! against K = 0 are computed by
//! [`isobench_results::InterferenceResult::summarize`].

use std::time::Duration;

use isobench_environments::{EnvKind, RunLabel};
use isobench_records::invocation::DEFAULT_NOISE_MIB;
use isobench_records::{AgentInvocation, Listen, NoiseLoad};
use isobench_results::{Calibration, InterferenceResult, LevelSample, NeighbourLoad, TrialProbe};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::context::{results_path, RunContext, RunObserver};
use crate::lifecycle::{Channels, Lab, LaunchRequest, LiveInstance, Unready};
use crate::modes::batch::round_order;
use crate::modes::serving::channel::InstanceChannel;
use crate::modes::serving::loadgen::{run_load, summarize, Load, Session};
use crate::modes::serving::{transport_refusal, Scenario, ServeError, TransportKind};
use crate::HarnessError;

/// Iterations an `inference` neighbour is asked for: far more than any
/// level lasts (it is stopped at the end of its level).
pub const INFERENCE_NEIGHBOUR_ITERATIONS: u64 = 1_000_000_000;

/// Fraction of the victim's capacity it is driven at when `--qps` is not
/// given.
pub const DEFAULT_LOAD_FRACTION: f64 = 0.5;

/// The highest default rate, queries per second: the host's load generator
/// writes every request on its own and competes with the instances for the
/// CPU like the neighbours do; beyond this rate on a small host it would be
/// a noisy neighbour of its own (give `--qps` for more).
pub const MAX_DEFAULT_QPS: f64 = 200.0;

/// The default rate is halved until the victim alone keeps its median
/// latency within this many times its warm-up median (at least 1 ms).
pub const RATE_BOUND_FACTOR: f64 = 3.0;

/// Most runs the default rate's check makes.
pub const MAX_RATE_STEPS: u32 = 6;

/// Most requests of the burst that measures the victim's throughput.
pub const CAPACITY_BURST: u64 = 200;

/// Requests of the burst that measures the victim's throughput: about two
/// seconds' worth at the warm-up's median latency, 10 to [`CAPACITY_BURST`].
pub fn burst_size(warmup_p50_us: f64) -> u64 {
    ((2e6 / warmup_p50_us.max(1.0)) as u64).clamp(10, CAPACITY_BURST)
}

/// What an interference experiment does besides the common options.
#[derive(Debug, Clone, PartialEq)]
pub struct InterferenceSettings {
    /// The most neighbours (`--neighbours`, Kmax); levels run from 0 to it.
    pub neighbours: u32,
    /// What the neighbours run (`--neighbour-load`).
    pub load: NeighbourLoad,
    /// The victim's arrival rate (`--qps`; default: half the capacity
    /// estimated from the first trial's warm-up).
    pub qps: Option<f64>,
    /// Seconds each level drives the victim (`--duration`).
    pub duration: Duration,
    /// Trials per environment (`--trials`).
    pub trials: u32,
    /// Requests the victim answers one at a time before a trial's levels
    /// (not recorded; their median estimates the capacity).
    pub warmup_requests: u64,
    /// Longest wait for an answer before the pending requests count as lost.
    pub response_timeout: Duration,
}

impl Default for InterferenceSettings {
    fn default() -> Self {
        InterferenceSettings {
            neighbours: 2,
            load: NeighbourLoad::Cpu,
            qps: None,
            duration: Duration::from_secs(5),
            trials: 3,
            warmup_requests: 20,
            response_timeout: Duration::from_secs(60),
        }
    }
}

impl InterferenceSettings {
    /// Checks the values: at least one neighbour and one trial, a positive
    /// rate and duration.
    pub fn validate(&self) -> Result<(), HarnessError> {
        let invalid = |text: String| Err(HarnessError::Invalid(text));
        if self.neighbours == 0 {
            return invalid(
                "--neighbours 0: give at least 1 neighbour (K = 0, no neighbours, is always measured)"
                    .into(),
            );
        }
        if self.trials == 0 {
            return invalid("--trials 0: give at least 1 trial (2 or more for verdicts)".into());
        }
        if let Some(qps) = self.qps {
            if !(qps.is_finite() && qps > 0.0) {
                return invalid(format!(
                    "--qps {qps}: give a positive number of queries per second"
                ));
            }
        }
        if self.duration.is_zero() {
            return invalid("--duration 0: give each level at least a fraction of a second".into());
        }
        if self.warmup_requests == 0 {
            return invalid(
                "--warmup-requests 0: the victim needs at least 1 warm-up request".into(),
            );
        }
        Ok(())
    }
}

/// MiB of each of the memory streamer's three buffers: the default 64, or
/// less so that the three take at most 3/8 of a `--memory` limit.
pub fn noise_mib(memory_limit_mib: Option<u64>) -> u64 {
    match memory_limit_mib {
        Some(limit) => (limit / 8).clamp(1, DEFAULT_NOISE_MIB),
        None => DEFAULT_NOISE_MIB,
    }
}

/// The order of the levels `0..=max` in `trial` of the environment at
/// `env_index`: shuffled with the experiment's seed.
pub fn level_order(max: u32, trial: u32, env_index: usize, seed: u64) -> Vec<u32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
        seed ^ 0x1A7E_4FE4_0000_0000 ^ (u64::from(trial) << 16) ^ env_index as u64,
    );
    let mut order: Vec<u32> = (0..=max).collect();
    order.shuffle(&mut rng);
    order
}

/// Runs the interference experiment on every environment, then adds the
/// results to `results.json` in the output directory (replacing earlier
/// interference results of the same environment, workload and load).
pub fn interference(
    ctx: &RunContext,
    settings: &InterferenceSettings,
    observer: &dyn RunObserver,
) -> Result<Vec<InterferenceResult>, HarnessError> {
    settings.validate()?;
    let workload = ctx.config.workload().to_string();
    let common = &ctx.config.common;
    let mut lab = Lab::open(ctx);
    let mut results: Vec<InterferenceResult> = Vec::new();
    let mut runnable: Vec<EnvKind> = Vec::new();
    for &kind in &common.environments {
        let caps = ctx.source.capabilities(kind);
        let mut result = InterferenceResult {
            env: kind.name().into(),
            workload: workload.clone(),
            load: Some(settings.load),
            max_neighbours: settings.neighbours,
            transport: caps.input.transport_name().into(),
            target_qps: settings.qps,
            qps_estimated: settings.qps.is_none(),
            duration_seconds: settings.duration.as_secs_f64(),
            trials: settings.trials,
            vcpus: common.vcpus,
            memory_mib: common.memory,
            noise_mib: (settings.load == NeighbourLoad::Memory).then(|| noise_mib(common.memory)),
            ..InterferenceResult::default()
        };
        if let Some(refusal) = transport_refusal(caps, TransportKind::Stdio) {
            result.absent = Some(format!("`{kind}` {refusal}"));
        } else {
            match lab.prepare(kind) {
                Ok(prepared) => {
                    result.emulated = prepared.facts().emulated;
                    runnable.push(kind);
                }
                Err(unready @ Unready::Unavailable { .. }) => {
                    result.absent = Some(format!("unavailable: {unready}"))
                }
                Err(unready) => result.absent = Some(unready.to_string()),
            }
        }
        if let Some(absent) = &result.absent {
            observer.message(&format!("{kind}: no trials: {absent}"));
        }
        results.push(result);
    }
    'rounds: for trial in 1..=settings.trials {
        for kind in round_order(&runnable, trial, common.seed) {
            if lab.interrupted() {
                break 'rounds;
            }
            let env_index = common
                .environments
                .iter()
                .position(|&k| k == kind)
                .unwrap_or(0);
            let result = results
                .iter_mut()
                .find(|r| r.env == kind.name())
                .expect("every environment has a result");
            let mut trial_run = Trial {
                lab: &mut lab,
                kind,
                trial,
                env_index,
                settings,
                observer,
                result,
            };
            if let Err(e) = trial_run.run() {
                observer.message(&format!("{kind}: trial {trial} failed: {e}"));
                trial_run
                    .result
                    .failures
                    .push(format!("trial {trial}: {e}"));
            }
        }
    }
    for &kind in &runnable {
        if let Err(e) = lab.teardown(kind) {
            observer.message(&format!("{kind}: clean-up: {e}"));
        }
    }
    drop(lab);
    let options = isobench_stats::DecisionOptions::default();
    for r in &mut results {
        r.summarize(common.seed, &options);
    }
    save(ctx, &results)?;
    if ctx.interrupted.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(HarnessError::Interrupted(results_path(&common.output)));
    }
    Ok(results)
}

/// One trial of one environment.
struct Trial<'l, 'c, 'r> {
    lab: &'l mut Lab<'c>,
    kind: EnvKind,
    trial: u32,
    env_index: usize,
    settings: &'r InterferenceSettings,
    observer: &'r dyn RunObserver,
    result: &'r mut InterferenceResult,
}

impl Trial<'_, '_, '_> {
    /// The launch of one instance of the trial (`slot` 0: the victim).
    fn request(&self, invocation: AgentInvocation, level: u32, slot: u32) -> LaunchRequest {
        LaunchRequest {
            invocation,
            label: RunLabel::Interference {
                trial: self.trial,
                level,
                slot,
            },
            channels: Channels {
                input: true,
                ..Channels::default()
            },
            sample: false,
        }
    }

    fn assets(&mut self) -> std::path::PathBuf {
        self.lab
            .prepared(self.kind)
            .map(|p| p.assets_inside())
            .unwrap_or_default()
    }

    /// What a neighbour runs.
    fn neighbour_invocation(&mut self) -> AgentInvocation {
        let config = &self.lab.context().config;
        match self.settings.load {
            NeighbourLoad::Cpu => AgentInvocation::noise(NoiseLoad::Cpu, DEFAULT_NOISE_MIB),
            NeighbourLoad::Memory => {
                AgentInvocation::noise(NoiseLoad::Memory, noise_mib(config.common.memory))
            }
            NeighbourLoad::Inference => {
                let assets = self.assets();
                AgentInvocation::run(
                    config.model_spec(&assets),
                    INFERENCE_NEIGHBOUR_ITERATIONS,
                    0,
                )
            }
        }
    }

    /// Probe, victim, levels, probe: the trial's samples go into the result.
    fn run(&mut self) -> Result<(), ServeError> {
        let before = crate::calibration::probe();
        let assets = self.assets();
        let invocation = self
            .lab
            .context()
            .config
            .serve_invocation(&assets, Listen::Stdio);
        let request = self.request(invocation, 0, 0);
        let mut victim = self
            .lab
            .launch(self.kind, request)
            .map_err(ServeError::Launch)?;
        let outcome = self.drive(&mut victim);
        let stopped = victim.stop();
        let warmup_p50_us = outcome?;
        stopped.exit.map_err(|source| ServeError::Env {
            what: "stopping the victim",
            source,
        })?;
        let after = crate::calibration::probe();
        self.result.probes.push(TrialProbe {
            trial: self.trial,
            calibration: Calibration { before, after },
            warmup_p50_us,
        });
        Ok(())
    }

    /// Warms the victim up, fixes the rate, then measures every level;
    /// returns the warm-up's median latency, µs.
    fn drive(&mut self, victim: &mut LiveInstance) -> Result<f64, ServeError> {
        let kind = self.kind;
        let ctx = self.lab.context();
        victim.wait_ready().map_err(ServeError::Start)?;
        let mut channel = InstanceChannel::new(victim.instance());
        let mut session = Session::new(&mut channel, &ctx.interrupted);
        session.response_timeout = self.settings.response_timeout;
        let seed = ctx.config.common.seed;
        let warm = run_load(
            &mut session,
            &Load {
                scenario: Scenario::SingleStream,
                min_duration: Duration::ZERO,
                min_queries: self.settings.warmup_requests,
                samples_per_query: 1,
                qps: 0.0,
                bound: None,
                seed,
                empty: false,
            },
        )?;
        if warm.counts.answered == 0 || warm.counts.lost > 0 {
            return Err(ServeError::WarmupUnanswered {
                answered: warm.counts.answered,
                sent: warm.counts.sent,
            });
        }
        if warm.counts.errors > 0 {
            return Err(ServeError::WarmupFailed {
                first_error: warm.first_errors.first().cloned().unwrap_or_default(),
            });
        }
        let warmup_p50_us = (warm.histogram.value_at_quantile(0.5) as f64).max(1.0);
        let qps = match self.result.target_qps {
            Some(qps) => qps,
            None => {
                let capacity = self.capacity(&mut session, warmup_p50_us)?;
                self.result.capacity_qps = Some(capacity);
                let qps = self.sustainable(&mut session, capacity, warmup_p50_us)?;
                self.observer.message(&format!(
                    "{kind}: capacity about {capacity:.1} QPS (warm-up median {:.2} ms); driving the victim at {qps:.1} QPS in every trial",
                    warmup_p50_us / 1e3
                ));
                self.result.target_qps = Some(qps);
                qps
            }
        };
        let order = level_order(self.settings.neighbours, self.trial, self.env_index, seed);
        for (position, &k) in order.iter().enumerate() {
            if ctx.interrupted.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(ServeError::Interrupted);
            }
            let Some(neighbours) = self.start_neighbours(k) else {
                continue;
            };
            let meters: Vec<_> = neighbours.iter().map(|n| n.meter().read()).collect();
            let started = std::time::Instant::now();
            let load = Load {
                scenario: Scenario::Server,
                min_duration: self.settings.duration,
                min_queries: 1,
                samples_per_query: 1,
                qps,
                bound: None,
                seed: seed ^ u64::from(self.trial),
                empty: false,
            };
            let outcome = run_load(&mut session, &load);
            let wall = started.elapsed().as_secs_f64();
            let cores: Option<f64> = neighbours
                .iter()
                .zip(&meters)
                .map(|(n, before)| {
                    let (before, after) = (before.as_ref()?, n.meter().read()?);
                    Some((after.cpu_seconds - before.cpu_seconds).max(0.0) / wall)
                })
                .sum();
            self.stop_neighbours(neighbours, k);
            let outcome = outcome?;
            let latency = summarize(&outcome.histogram);
            self.observer.message(&format!(
                "{kind}: trial {}, K={k}: p50 {:.2} ms, p99 {:.2} ms over {} requests at {:.1} QPS{}",
                self.trial,
                latency.p50_us / 1e3,
                latency.p99_us / 1e3,
                outcome.counts.answered,
                outcome.qps(),
                cores
                    .filter(|_| k > 0)
                    .map_or_else(String::new, |c| format!("; neighbours used {c:.2} cores"))
            ));
            if outcome.counts.lost > 0 || outcome.counts.errors > 0 {
                self.result.failures.push(format!(
                    "trial {}, K={k}: {} request(s) lost, {} answered with an error{}",
                    self.trial,
                    outcome.counts.lost,
                    outcome.counts.errors,
                    outcome
                        .first_errors
                        .first()
                        .map_or_else(String::new, |e| format!(" (first: {e})"))
                ));
            }
            self.result.samples.push(LevelSample {
                trial: self.trial,
                neighbours: k,
                position: position as u32 + 1,
                achieved_qps: outcome.qps(),
                counts: outcome.counts.clone(),
                latency,
                neighbour_cores: if k == 0 { Some(0.0) } else { cores },
            });
        }
        Ok(warmup_p50_us)
    }

    /// The victim's capacity, queries per second: the lower of `1 / median
    /// warm-up latency` and the throughput of a burst of requests sent at
    /// once (what the whole path, host side included, sustains).
    fn capacity(&self, session: &mut Session<'_>, warmup_p50_us: f64) -> Result<f64, ServeError> {
        let burst = run_load(
            session,
            &Load {
                scenario: Scenario::Offline,
                min_duration: Duration::ZERO,
                min_queries: burst_size(warmup_p50_us),
                samples_per_query: 1,
                qps: 0.0,
                bound: None,
                seed: 0,
                empty: false,
            },
        )?;
        let single = 1e6 / warmup_p50_us;
        let throughput = burst.samples_per_second();
        Ok(if burst.counts.lost == 0 && throughput > 0.0 {
            single.min(throughput)
        } else {
            single
        })
    }

    /// The default rate: [`DEFAULT_LOAD_FRACTION`] of `capacity` (at most
    /// [`MAX_DEFAULT_QPS`]), halved
    /// (at most [`MAX_RATE_STEPS`] times) until the victim alone, driven at
    /// it for a second, keeps its median latency within [`RATE_BOUND_FACTOR`]
    /// times its warm-up median (at least 1 ms): a rate the whole path (the
    /// host's load generator issuing requests one by one included) sustains
    /// without a queue, so that K = 0 is not already overloaded. (The
    /// median, not the p99: a queue moves the median, the host's jitter
    /// alone moves the p99 of a second's requests.)
    fn sustainable(
        &self,
        session: &mut Session<'_>,
        capacity: f64,
        warmup_p50_us: f64,
    ) -> Result<f64, ServeError> {
        let bound_us = (RATE_BOUND_FACTOR * warmup_p50_us).max(1000.0);
        let mut qps = (DEFAULT_LOAD_FRACTION * capacity).min(MAX_DEFAULT_QPS);
        for step in 1..=MAX_RATE_STEPS {
            let trial = run_load(
                session,
                &Load {
                    scenario: Scenario::Server,
                    min_duration: self.settings.duration.min(Duration::from_secs(1)),
                    min_queries: 1,
                    samples_per_query: 1,
                    qps,
                    bound: None,
                    seed: u64::from(step),
                    empty: false,
                },
            )?;
            let p50 = trial.histogram.value_at_quantile(0.5) as f64;
            if p50 <= bound_us || step == MAX_RATE_STEPS {
                break;
            }
            self.observer.message(&format!(
                "{}: at {qps:.1} QPS the victim alone had a median latency of {:.2} ms (over {:.2} ms): halving the rate",
                self.kind,
                p50 / 1e3,
                bound_us / 1e3
            ));
            qps /= 2.0;
        }
        Ok(qps)
    }

    /// Starts `k` neighbours one after another and waits for each one's
    /// `ready`; `None` (the ones started are stopped, the refusal is
    /// recorded) when one is refused or fails first.
    fn start_neighbours(&mut self, k: u32) -> Option<Vec<LiveInstance>> {
        let mut neighbours: Vec<LiveInstance> = Vec::new();
        for slot in 1..=k {
            let invocation = self.neighbour_invocation();
            let request = self.request(invocation, k, slot);
            let started = self
                .lab
                .launch(self.kind, request)
                .map_err(|e| e.to_string())
                .and_then(|mut live| match live.wait_ready() {
                    Ok(_) => Ok(live),
                    Err(e) => {
                        let why = e.to_string();
                        let _ = live.stop();
                        Err(why)
                    }
                });
            match started {
                Ok(live) => neighbours.push(live),
                Err(why) => {
                    let refusal = format!("trial {}, K={k}: neighbour {slot}: {why}", self.trial);
                    self.observer
                        .message(&format!("{}: {refusal} (level skipped)", self.kind));
                    self.result.refusals.push(refusal);
                    self.stop_neighbours(neighbours, k);
                    return None;
                }
            }
        }
        Some(neighbours)
    }

    /// Stops the neighbours of level `k`; a failure to stop one is recorded.
    fn stop_neighbours(&mut self, neighbours: Vec<LiveInstance>, k: u32) {
        for (slot, neighbour) in neighbours.into_iter().enumerate() {
            if let Err(e) = neighbour.stop().exit {
                self.result.failures.push(format!(
                    "trial {}, K={k}: stopping neighbour {}: {e}",
                    self.trial,
                    slot + 1
                ));
            }
        }
    }
}

/// Adds `results` to `results.json` in the output directory (creating it
/// when absent), replacing entries of the same environment, workload and load.
fn save(ctx: &RunContext, results: &[InterferenceResult]) -> Result<(), HarnessError> {
    crate::modes::update_results(ctx, |file| {
        file.interference.retain(|old| {
            !results.iter().any(|new| {
                new.env == old.env && new.workload == old.workload && new.load == old.load
            })
        });
        file.interference.extend(results.iter().cloned());
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_shuffled_per_trial_and_seeded() {
        let a = level_order(4, 1, 0, 7);
        assert_eq!(a, level_order(4, 1, 0, 7));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        let orders: Vec<Vec<u32>> = (1..=6).map(|t| level_order(4, t, 0, 7)).collect();
        assert!(orders.windows(2).any(|w| w[0] != w[1]), "{orders:?}");
    }

    #[test]
    fn the_capacity_burst_lasts_about_two_seconds() {
        assert_eq!(burst_size(80.0), CAPACITY_BURST);
        assert_eq!(burst_size(20_000.0), 100);
        assert_eq!(burst_size(600_000.0), 10);
    }

    #[test]
    fn the_streamer_fits_a_memory_limit() {
        assert_eq!(noise_mib(None), 64);
        assert_eq!(noise_mib(Some(4096)), 64);
        assert_eq!(noise_mib(Some(256)), 32);
        assert_eq!(noise_mib(Some(4)), 1);
    }

    #[test]
    fn settings_name_the_bad_flag() {
        let bad = |s: InterferenceSettings| s.validate().unwrap_err().to_string();
        assert!(InterferenceSettings::default().validate().is_ok());
        let d = InterferenceSettings::default;
        assert!(bad(InterferenceSettings {
            qps: Some(0.0),
            ..d()
        })
        .contains("--qps 0"));
        assert!(bad(InterferenceSettings { trials: 0, ..d() }).contains("--trials 0"));
        assert!(bad(InterferenceSettings {
            neighbours: 0,
            ..d()
        })
        .contains("--neighbours 0"));
        assert!(bad(InterferenceSettings {
            duration: Duration::ZERO,
            ..d()
        })
        .contains("--duration"));
    }
}
