//! Whole simulated runs: the old fixed design, the new sequential default, a
//! fixed paired design, and `compare` of two sessions.

use rand_chacha::ChaCha8Rng;

use crate::design::{iterations_per_instance, within_log_variance, VarianceFigures};
use crate::outcome::{Decision, DecisionOptions, Outcome};
use crate::paired::{paired_log_ratio, Observations, RoundPair};
use crate::repetition_test::repetition_test;
use crate::sample::Repeated;
use crate::sequential::{
    decide_fixed, Boundaries, BoundaryTracker, Look, LookBoundary, Looks, Monitor, SequentialPlan,
    SpendingFunction,
};
use crate::statistic::Statistic;
use crate::verdict::{Comparison, Verdict, DEFAULT_ALPHA, DEFAULT_THRESHOLD};

use super::model::{mean, NoiseModel, RunModel};

/// Iterations per instance of the first `min_rounds` rounds (the pilot),
/// after which the design chooses them.
pub(crate) const PILOT_ITERATIONS: usize = 5;
/// Bounds of the design's iterations per instance.
pub(crate) const ITERATION_BOUNDS: (usize, usize) = (3, 30);
/// First look.
pub(crate) const MIN_ROUNDS: usize = 5;

/// What one run concluded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunOutcome {
    pub(crate) outcome: Outcome,
    /// The old design's "no significant difference" (counted as neither).
    pub(crate) no_difference: bool,
    pub(crate) rounds: usize,
    pub(crate) seconds: f64,
    pub(crate) minimum_detectable_effect: Option<f64>,
}

/// The old fixed design: 6 rounds × 20 iterations, the unpaired exact
/// permutation test on repetition means and the old rule (`Comparison`).
pub(crate) fn old_fixed(rng: &mut ChaCha8Rng, true_ratio: f64) -> RunOutcome {
    const ROUNDS: usize = 6;
    const ITERATIONS: usize = 20;
    let planned = ROUNDS as f64 * RunModel::round_seconds(ITERATIONS);
    let model = RunModel::draw(rng, true_ratio, ROUNDS);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let start = round as f64 * RunModel::round_seconds(ITERATIONS);
        let (x, y) = model.round(rng, round, start, ITERATIONS);
        a.push(x);
        b.push(y);
    }
    let (a, b) = (Repeated::new(a).unwrap(), Repeated::new(b).unwrap());
    let test = repetition_test(&a, &b, Statistic::Mean, 0, 0).unwrap();
    let c = Comparison::from_test(test, DEFAULT_ALPHA, DEFAULT_THRESHOLD);
    let outcome = match c.verdict {
        Verdict::Slower => Outcome::Slower,
        Verdict::Faster => Outcome::Faster,
        Verdict::NoDifference | Verdict::Inconclusive => Outcome::Inconclusive,
    };
    RunOutcome {
        outcome,
        no_difference: c.verdict == Verdict::NoDifference,
        rounds: ROUNDS,
        seconds: planned,
        minimum_detectable_effect: None,
    }
}

/// A fixed paired design: `rounds` rounds × `iterations`, one final look.
pub(crate) fn fixed_paired(
    rng: &mut ChaCha8Rng,
    true_ratio: f64,
    rounds: usize,
    iterations: usize,
) -> RunOutcome {
    let planned = rounds as f64 * RunModel::round_seconds(iterations);
    let model = RunModel::draw(rng, true_ratio, rounds);
    let pairs: Vec<RoundPair> = (0..rounds)
        .map(|round| {
            let start = round as f64 * RunModel::round_seconds(iterations);
            let (a, b) = model.round(rng, round, start, iterations);
            RoundPair {
                baseline: mean(&a),
                candidate: mean(&b),
            }
        })
        .collect();
    let d = decide_fixed(&Observations::Paired { pairs }, &DecisionOptions::default()).unwrap();
    from_decision(&d, rounds, planned)
}

/// The boundaries of the looks a sequential run takes when its spending time
/// is `rounds / max_rounds` (the budget not binding), computed once and shared
/// by every run whose looks follow them; a run whose looks depart from them
/// (the budget binding first) tracks its own.
pub(crate) struct StandardLooks {
    boundaries: Boundaries,
}

impl StandardLooks {
    pub(crate) fn new(max_rounds: usize, spending: SpendingFunction) -> StandardLooks {
        let looks = Looks::new(
            (MIN_ROUNDS..=max_rounds)
                .map(|n| Look {
                    rounds: n,
                    spending_time: n as f64 / max_rounds as f64,
                })
                .collect(),
        )
        .unwrap();
        StandardLooks {
            boundaries: Boundaries::compute(&looks, DEFAULT_ALPHA, spending).unwrap(),
        }
    }

    /// The boundary of the last of `looks` (what [`Monitor::boundary`] gives).
    fn boundary(&self, looks: &Looks, own: &mut Option<BoundaryTracker>) -> LookBoundary {
        let k = looks.len() - 1;
        // Spending times equal up to rounding (`elapsed / budget` against
        // `rounds / max_rounds`) share the boundary: it moves by ~1e-15.
        let shared = own.is_none()
            && looks.len() <= self.boundaries.looks.len()
            && looks
                .as_slice()
                .iter()
                .zip(&self.boundaries.looks)
                .all(|(l, b)| {
                    l.rounds == b.look.rounds
                        && (l.spending_time - b.look.spending_time).abs() < 1e-9
                });
        if shared {
            return self.boundaries.looks[k];
        }
        let tracker = own.get_or_insert_with(|| {
            BoundaryTracker::new(self.boundaries.alpha, self.boundaries.spending).unwrap()
        });
        for look in &looks.as_slice()[tracker.looks().len()..] {
            tracker.push(*look).unwrap();
        }
        *tracker.last().unwrap()
    }
}

/// Settings of a simulated sequential run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// The run stops after this many rounds at most.
    pub(crate) max_rounds: usize,
    /// Measuring budget; `None`: the time of `max_rounds` pilot rounds.
    pub(crate) budget_seconds: Option<f64>,
    /// Iterations of the first [`MIN_ROUNDS`] rounds.
    pub(crate) pilot_iterations: usize,
    pub(crate) spending: SpendingFunction,
    pub(crate) noise: NoiseModel,
}

impl Settings {
    /// The default with at most `max_rounds` rounds.
    pub(crate) fn rounds(max_rounds: usize) -> Settings {
        Settings {
            max_rounds,
            budget_seconds: None,
            pilot_iterations: PILOT_ITERATIONS,
            spending: SpendingFunction::OBrienFleming,
            noise: NoiseModel::Measured,
        }
    }
}

/// The new default: paired rounds, a pilot of [`MIN_ROUNDS`] rounds, then
/// iterations from the design, a look after every round from [`MIN_ROUNDS`]
/// on until decided or the rounds or the budget are spent (the last look is
/// final when no further round fits the budget).
pub(crate) fn sequential(
    rng: &mut ChaCha8Rng,
    true_ratio: f64,
    settings: Settings,
    standard: &StandardLooks,
) -> RunOutcome {
    let max_rounds = settings.max_rounds;
    let budget = settings
        .budget_seconds
        .unwrap_or(max_rounds as f64 * RunModel::round_seconds(settings.pilot_iterations));
    let model = RunModel::draw_with(rng, true_ratio, max_rounds, settings.noise);
    let plan = SequentialPlan {
        min_rounds: MIN_ROUNDS,
        max_rounds,
        budget_seconds: Some(budget),
    };
    let options = DecisionOptions {
        spending: settings.spending,
        ..DecisionOptions::default()
    };
    let mut monitor = Monitor::new(plan, &options).unwrap();
    let mut pairs = Vec::new();
    let mut instances: Vec<Vec<f64>> = Vec::new();
    let mut own_boundaries = None;
    let mut iterations = settings.pilot_iterations;
    let mut elapsed = 0.0;
    for round in 0.. {
        let (a, b) = model.round(rng, round, elapsed, iterations);
        elapsed += RunModel::round_seconds(iterations);
        pairs.push(RoundPair {
            baseline: mean(&a),
            candidate: mean(&b),
        });
        instances.push(a);
        instances.push(b);
        let rounds = round + 1;
        if rounds == MIN_ROUNDS {
            iterations = design_iterations(&pairs, &instances, settings.pilot_iterations);
        }
        let fits = elapsed + RunModel::round_seconds(iterations) <= budget + 1e-9;
        if let Some(look) = monitor.after_round(rounds, elapsed, !fits).unwrap() {
            let observations = Observations::Paired {
                pairs: pairs.clone(),
            };
            // What `monitor.decide` gives, with boundaries shared between runs.
            let boundary = standard.boundary(monitor.looks(), &mut own_boundaries);
            debug_assert_eq!(boundary.look, look);
            let d = Decision::at_look(&observations, &boundary, &options).unwrap();
            if monitor.should_stop(&[d]) {
                return from_decision(&d, rounds, elapsed);
            }
        }
    }
    unreachable!("the final look ends the run")
}

/// Iterations per instance from the pilot's variance figures.
fn design_iterations(pairs: &[RoundPair], instances: &[Vec<f64>], pilot: usize) -> usize {
    let estimate = paired_log_ratio(pairs).unwrap();
    let n = pairs.len() as f64;
    let figures = VarianceFigures {
        within: within_log_variance(instances.iter().map(Vec::as_slice)).unwrap(),
        paired_difference: estimate.standard_error.powi(2) * n,
        iterations: pilot,
    };
    iterations_per_instance(
        super::model::COSTS,
        figures,
        ITERATION_BOUNDS.0,
        ITERATION_BOUNDS.1,
    )
    .unwrap()
    .iterations
}

/// `isobench compare` of two sessions of `rounds` repetitions each (the same
/// environment, the second `true_ratio` slower), the second session's host
/// `1 + session_offset` slower, each session with its own drift (or none with
/// `drift` false): Welch, one final look.
pub(crate) fn compare(
    rng: &mut ChaCha8Rng,
    true_ratio: f64,
    session_offset: f64,
    drift: bool,
    rounds: usize,
) -> RunOutcome {
    let planned = rounds as f64 * RunModel::round_seconds(PILOT_ITERATIONS);
    let mut first = RunModel::draw(rng, 1.0, rounds);
    if !drift {
        first.drift_amplitude = 0.0;
    }
    let mut second = first.clone();
    second.drift_phase = rand::Rng::gen_range(rng, 0.0..std::f64::consts::TAU);
    second.outlier = None;
    let session = |model: &RunModel, rng: &mut ChaCha8Rng, factor: f64| -> Vec<f64> {
        (0..rounds)
            .map(|round| {
                let start = round as f64 * RunModel::round_seconds(PILOT_ITERATIONS);
                factor * mean(&model.round(rng, round, start, PILOT_ITERATIONS).0)
            })
            .collect()
    };
    let baseline = session(&first, rng, 1.0);
    let candidate = session(&second, rng, true_ratio * (1.0 + session_offset));
    let d = decide_fixed(
        &Observations::Unpaired {
            baseline,
            candidate,
        },
        &DecisionOptions::default(),
    )
    .unwrap();
    from_decision(&d, rounds, 2.0 * planned)
}

fn from_decision(d: &Decision, rounds: usize, seconds: f64) -> RunOutcome {
    RunOutcome {
        outcome: d.outcome,
        no_difference: false,
        rounds,
        seconds,
        minimum_detectable_effect: d.minimum_detectable_effect,
    }
}
