//! How many rounds a batch run makes and how many iterations each
//! instance runs, decided as the run goes.
//!
//! - **Fixed** (`--repetitions N`): N rounds, one look at the end.
//! - **Sequential** (the default): after each round from `--min-rounds` on,
//!   a look at every comparison with the baseline
//!   ([`isobench_stats::Monitor`]: repeated confidence intervals with
//!   O'Brien–Fleming-type alpha spending, so looking after every round does
//!   not inflate the error rate); the run stops once every comparison is
//!   decided (slower, faster or same), when the next round would not fit the
//!   `--budget`, or after `--max-rounds`. The spending time is the larger of
//!   the budget's and the rounds' fractions spent.
//! - **Iterations** (unless `--iterations` fixes them): the first
//!   [`PILOT_ROUNDS`] rounds run [`PILOT_ITERATIONS`] iterations per
//!   instance (at least what the CPU meters' window needs, once an
//!   iteration's length is known); then Cochran's two-stage optimum
//!   ([`isobench_stats::iterations_per_instance`]) from the pilot's variance
//!   components and costs: more instances and fewer iterations each when
//!   instances differ more than iterations.

use std::time::Duration;

use isobench_results::{Plan, ResultsFile, RunDesign, Stop};
use isobench_stats::{
    iterations_per_instance, DecisionOptions, DesignCosts, Look, Looks, Monitor, SequentialPlan,
    VarianceFigures,
};

use crate::metrics::sampler::MIN_CPU_WINDOW_SECONDS;
use crate::summarize::{baseline_of, decision_options, summarize_all};
use crate::ExperimentConfig;

/// Rounds run with the pilot's iterations before the design chooses.
pub const PILOT_ROUNDS: u32 = 3;
/// Iterations per instance in the pilot rounds (raised to the CPU window's floor).
pub const PILOT_ITERATIONS: u64 = 3;
/// Fewest iterations the design chooses.
pub const MIN_ITERATIONS: usize = 3;
/// Most iterations the design chooses.
pub const MAX_ITERATIONS: usize = 200;

/// The rounds and iterations of a batch run (see the module documentation).
pub(crate) struct Planner {
    plan: Plan,
    options: DecisionOptions,
    monitor: Option<Monitor>,
    fixed_iterations: Option<u64>,
    design: RunDesign,
    /// Measuring seconds each round took.
    round_seconds: Vec<f64>,
}

impl Planner {
    /// The planner of `config`'s design.
    pub(crate) fn new(config: &ExperimentConfig) -> Result<Self, isobench_stats::StatsError> {
        let options = decision_options();
        let b = &config.batch;
        let plan = match b.repetitions {
            Some(rounds) => Plan::Fixed { rounds },
            None => Plan::Sequential {
                min_rounds: b.min_rounds,
                max_rounds: b.max_rounds,
                budget_seconds: config.budget().as_secs_f64(),
            },
        };
        let monitor = match plan {
            Plan::Sequential {
                min_rounds,
                max_rounds,
                budget_seconds,
            } => Some(Monitor::new(
                SequentialPlan {
                    min_rounds: min_rounds as usize,
                    max_rounds: max_rounds as usize,
                    budget_seconds: Some(budget_seconds),
                },
                &options,
            )?),
            Plan::Fixed { .. } => None,
        };
        Ok(Planner {
            plan,
            options,
            monitor,
            fixed_iterations: b.iterations,
            design: RunDesign {
                plan,
                decision: options,
                looks: Looks::default(),
                pilot_iterations: b.iterations.unwrap_or(PILOT_ITERATIONS),
                pilot_rounds: if b.iterations.is_some() {
                    0
                } else {
                    PILOT_ROUNDS
                },
                chosen: None,
                cpu_window_iterations: None,
                stopped: None,
            },
            round_seconds: Vec::new(),
        })
    }

    /// The design so far, for the results.
    pub(crate) fn design(&self) -> &RunDesign {
        &self.design
    }

    /// The most rounds the plan runs.
    pub(crate) fn max_rounds(&self) -> u32 {
        self.plan.max_rounds()
    }

    /// Measured iterations per instance in `round` (from 1).
    pub(crate) fn iterations(&self, round: u32) -> u64 {
        if let Some(fixed) = self.fixed_iterations {
            return fixed;
        }
        let floor = self.design.cpu_window_iterations.unwrap_or(0);
        match &self.design.chosen {
            Some(chosen) if round > PILOT_ROUNDS => (chosen.iterations as u64).max(floor),
            _ => PILOT_ITERATIONS.max(floor),
        }
    }

    /// Whether `round` should run after `elapsed` measuring seconds: within
    /// the plan's rounds, and (sequential) when a round of the average
    /// length so far still fits the budget.
    pub(crate) fn may_start(&mut self, round: u32, elapsed: Duration) -> bool {
        if round > self.plan.max_rounds() {
            self.stop(match self.plan {
                Plan::Fixed { .. } => Stop::Planned,
                Plan::Sequential { .. } => Stop::MaxRounds,
            });
            return false;
        }
        if let Plan::Sequential { budget_seconds, .. } = self.plan {
            if round > 1 && elapsed.as_secs_f64() + self.mean_round_seconds() > budget_seconds {
                self.stop(Stop::BudgetSpent);
                return false;
            }
        }
        true
    }

    fn mean_round_seconds(&self) -> f64 {
        if self.round_seconds.is_empty() {
            0.0
        } else {
            self.round_seconds.iter().sum::<f64>() / self.round_seconds.len() as f64
        }
    }

    fn stop(&mut self, why: Stop) {
        self.design.stopped.get_or_insert(why);
    }

    /// After round `round` took `seconds` and `elapsed` measuring seconds
    /// have passed: learns the iterations' costs, chooses the iterations at
    /// the end of the pilot, takes the look that is due and re-summarises
    /// `results` with it. True when the run should stop here.
    pub(crate) fn round_done(
        &mut self,
        round: u32,
        seconds: f64,
        elapsed: Duration,
        results: &mut ResultsFile,
    ) -> bool {
        self.round_seconds.push(seconds);
        if self.design.cpu_window_iterations.is_none() {
            self.design.cpu_window_iterations = cpu_window_iterations(results);
        }
        if round == PILOT_ROUNDS && self.fixed_iterations.is_none() {
            self.design.chosen = choose_iterations(results);
        }
        let mean_round = self.mean_round_seconds();
        let Some(monitor) = self.monitor.as_mut() else {
            return false;
        };
        let next_fits = match self.plan {
            Plan::Sequential {
                budget_seconds,
                max_rounds,
                ..
            } => round < max_rounds && elapsed.as_secs_f64() + mean_round <= budget_seconds,
            Plan::Fixed { .. } => true,
        };
        let look = monitor
            .after_round(round as usize, elapsed.as_secs_f64(), !next_fits)
            .expect("looks follow one another");
        if look.is_none() {
            return false;
        }
        self.design.looks = monitor.looks().clone();
        results.design = Some(self.design.clone());
        summarize_all(results);
        let decisions: Vec<_> = results
            .environments
            .iter()
            .filter_map(|e| e.summary.as_ref()?.decision)
            .collect();
        if decisions.is_empty() && baseline_of(results).is_some() {
            // A single environment: nothing to decide, nothing to wait for.
            self.stop(Stop::NothingToCompare);
            return true;
        }
        if monitor.should_stop(&decisions) {
            let why = if monitor.looks().is_final() && !isobench_stats::all_decided(&decisions) {
                if round >= self.plan.max_rounds() {
                    Stop::MaxRounds
                } else {
                    Stop::BudgetSpent
                }
            } else {
                Stop::AllDecided
            };
            self.stop(why);
            return true;
        }
        false
    }

    /// Ends the design after `rounds` complete rounds: a fixed design's (or
    /// an interrupted run's) final look over the rounds run.
    pub(crate) fn finish(&mut self, rounds: u32, interrupted: bool) -> RunDesign {
        if interrupted {
            self.stop(Stop::Interrupted);
        }
        let covered = self.design.looks.last().map_or(0, |l| l.rounds);
        if (rounds as usize) > covered || self.design.looks.is_empty() {
            // One final look over every complete round (τ = 1: all α left).
            let mut looks = self.design.looks.clone();
            let last = Look {
                rounds: rounds.max(1) as usize,
                spending_time: 1.0,
            };
            if looks.push(last).is_err() {
                looks = Looks::fixed(rounds.max(1) as usize);
            }
            self.design.looks = looks;
        }
        self.stop(Stop::Planned);
        self.design.decision = self.options;
        self.design.clone()
    }
}

/// Iterations a measured window of the CPU meters' minimum length needs,
/// from the iterations' mean length so far (end to end, as the host sees them).
fn cpu_window_iterations(results: &ResultsFile) -> Option<u64> {
    let times: Vec<f64> = results
        .environments
        .iter()
        .flat_map(|e| e.repetitions.iter())
        .flat_map(|r| r.iterations.iter().map(|i| i.end_to_end_us as f64 / 1e6))
        .collect();
    if times.is_empty() {
        return None;
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    (mean > 0.0).then(|| (MIN_CPU_WINDOW_SECONDS / mean).ceil() as u64)
}

/// Cochran's iterations per instance from the rounds so far: the
/// within-instance variance of log iteration times, the variance of the
/// rounds' paired log ratios (averaged over the comparisons), and the costs
/// of an instance (launch to its first measured iteration) and of an iteration.
fn choose_iterations(results: &ResultsFile) -> Option<isobench_stats::IterationsChoice> {
    let base = baseline_of(results)?;
    let mut within = Vec::new();
    let mut instance_seconds = Vec::new();
    let mut iteration_seconds = Vec::new();
    let mut iterations = 0;
    for env in &results.environments {
        for rep in env.repetitions.iter().filter(|r| r.iterations.len() >= 2) {
            let logs: Vec<f64> = rep
                .iterations
                .iter()
                .map(|i| (i.inference_us.max(1) as f64).ln())
                .collect();
            within.push(variance(&logs));
            iterations = rep.iterations.len();
            if let (Some(start), Some(end)) = (rep.measured_start_seconds, rep.measured_end_seconds)
            {
                instance_seconds.push(start);
                iteration_seconds.push((end - start) / rep.iterations.len() as f64);
            }
        }
    }
    let mut paired = Vec::new();
    for env in results.environments.iter().filter(|e| e.name != base.name) {
        let logs: Vec<f64> = env
            .repetitions
            .iter()
            .filter_map(|rep| {
                let other = base
                    .repetitions
                    .iter()
                    .find(|b| b.round == rep.round && !b.iterations.is_empty())?;
                let m = |r: &isobench_results::Repetition| {
                    r.iterations
                        .iter()
                        .map(|i| i.inference_us as f64)
                        .sum::<f64>()
                        / r.iterations.len() as f64
                };
                (!rep.iterations.is_empty()).then(|| (m(rep) / m(other)).ln())
            })
            .collect();
        if logs.len() >= 2 {
            paired.push(variance(&logs));
        }
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let costs = DesignCosts {
        instance_seconds: mean(&instance_seconds)?,
        iteration_seconds: mean(&iteration_seconds)?,
    };
    let figures = VarianceFigures {
        within: mean(&within)?,
        paired_difference: mean(&paired)?,
        iterations,
    };
    iterations_per_instance(costs, figures, MIN_ITERATIONS, MAX_ITERATIONS).ok()
}

/// Sample variance (n − 1).
fn variance(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)
}
