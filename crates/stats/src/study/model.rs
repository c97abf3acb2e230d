//! The simulated host, environments and runs (see the [study](super) documentation).

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::design::DesignCosts;
use crate::paired::Arm;
use crate::testdata::standard_normal;

/// yolov8 here: launch to ready plus warm-up about 2.7 s per instance, 0.54 s
/// per inference (the default run: 6 environments × 6 × 20 in 8.1 min).
pub(crate) const COSTS: DesignCosts = DesignCosts {
    instance_seconds: 2.7,
    iteration_seconds: 0.54,
};
/// Environments per round in the default run (the two compared here and four
/// others, which only take time).
pub(crate) const ENVIRONMENTS: usize = 6;
/// The host's speed drifts by up to ±20% ...
pub(crate) const DRIFT_AMPLITUDE: f64 = 0.20;
/// ... over ten minutes (a sinusoid of random phase: the default runs, 3 to
/// 10 minutes, see half a cycle to a whole one).
pub(crate) const DRIFT_PERIOD_SECONDS: f64 = 600.0;
/// Share of runs with one outlier repetition (+30% on every iteration).
pub(crate) const OUTLIER_SHARE: f64 = 0.25;
/// Factor of an outlier repetition.
pub(crate) const OUTLIER_FACTOR: f64 = 1.30;
/// The candidate's spreads (between instances and between iterations) relative to the baseline's.
pub(crate) const CANDIDATE_NOISE: f64 = 1.5;

/// One environment's noise: per-instance offset and per-iteration noise (log sd).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Noise {
    pub(crate) instance_sd: f64,
    pub(crate) iteration_sd: f64,
}

/// How the environments' noise is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoiseModel {
    /// As measured here: iteration noise `U(2%, 5%)`, ICC `U(0.3, 0.7)`, so
    /// instance offsets `σ_w √(ICC / (1 - ICC))` = 1.3–7.6%.
    Measured,
    /// Harsher instance offsets: `U(4%, 8%)` with iteration noise `U(2%, 5%)`
    /// (ICC 0.39–0.94, above what was measured even with the drift included).
    LargeOffsets,
}

/// One simulated run's fixed parameters.
#[derive(Debug, Clone)]
pub(crate) struct RunModel {
    /// Baseline's noise; the candidate's is [`CANDIDATE_NOISE`] times larger.
    pub(crate) baseline: Noise,
    pub(crate) candidate: Noise,
    /// True ratio candidate / baseline (geometric means).
    pub(crate) true_ratio: f64,
    /// Drift `1 + A sin(2π t / period + phase)`.
    pub(crate) drift_amplitude: f64,
    pub(crate) drift_period: f64,
    pub(crate) drift_phase: f64,
    /// The outlier repetition, if any: (round, side).
    pub(crate) outlier: Option<(usize, Arm)>,
}

impl RunModel {
    /// Draws a run: baseline iteration noise `U(2%, 5%)`, ICC `U(0.3, 0.7)`
    /// (so instance offsets `σ_w √(ICC / (1 - ICC))`, 1.3–7.6%), the candidate
    /// 1.5× noisier in both, a drift of random phase, and with probability
    /// [`OUTLIER_SHARE`] one outlier repetition among the first
    /// `planned_rounds` rounds.
    pub(crate) fn draw(rng: &mut ChaCha8Rng, true_ratio: f64, planned_rounds: usize) -> RunModel {
        RunModel::draw_with(rng, true_ratio, planned_rounds, NoiseModel::Measured)
    }

    /// [`RunModel::draw`] with the noise drawn by `noise`.
    pub(crate) fn draw_with(
        rng: &mut ChaCha8Rng,
        true_ratio: f64,
        planned_rounds: usize,
        noise: NoiseModel,
    ) -> RunModel {
        let iteration_sd = rng.gen_range(0.02..0.05);
        let instance_sd = match noise {
            NoiseModel::Measured => {
                let icc: f64 = rng.gen_range(0.3..0.7);
                iteration_sd * (icc / (1.0 - icc)).sqrt()
            }
            NoiseModel::LargeOffsets => rng.gen_range(0.04..0.08),
        };
        let baseline = Noise {
            instance_sd,
            iteration_sd,
        };
        let candidate = Noise {
            instance_sd: CANDIDATE_NOISE * instance_sd,
            iteration_sd: CANDIDATE_NOISE * iteration_sd,
        };
        let drift_phase = rng.gen_range(0.0..std::f64::consts::TAU);
        let outlier = rng.gen_bool(OUTLIER_SHARE).then(|| {
            let side = if rng.gen_bool(0.5) {
                Arm::Baseline
            } else {
                Arm::Candidate
            };
            (rng.gen_range(0..planned_rounds), side)
        });
        RunModel {
            baseline,
            candidate,
            true_ratio,
            drift_amplitude: DRIFT_AMPLITUDE,
            drift_period: DRIFT_PERIOD_SECONDS,
            drift_phase,
            outlier,
        }
    }

    /// The host's speed factor at time `t` (seconds from the run's start).
    pub(crate) fn drift(&self, t: f64) -> f64 {
        1.0 + self.drift_amplitude
            * (std::f64::consts::TAU * t / self.drift_period + self.drift_phase).sin()
    }

    /// Seconds one instance takes with `iterations` iterations.
    pub(crate) fn instance_seconds(iterations: usize) -> f64 {
        COSTS.instance_seconds + iterations as f64 * COSTS.iteration_seconds
    }

    /// Seconds one round of [`ENVIRONMENTS`] instances takes.
    pub(crate) fn round_seconds(iterations: usize) -> f64 {
        ENVIRONMENTS as f64 * RunModel::instance_seconds(iterations)
    }

    /// Simulates round `round` starting at `start` seconds: the environments
    /// run in a shuffled order; returns the baseline's and the candidate's
    /// iteration times (baseline mean 100).
    pub(crate) fn round(
        &self,
        rng: &mut ChaCha8Rng,
        round: usize,
        start: f64,
        iterations: usize,
    ) -> (Vec<f64>, Vec<f64>) {
        let mut slots: Vec<usize> = (0..ENVIRONMENTS).collect();
        slots.shuffle(rng);
        // Slot positions of the baseline (environment 0) and the candidate (1).
        let position = |env: usize| slots.iter().position(|&s| s == env).unwrap();
        let instance = RunModel::instance_seconds(iterations);
        let simulate = |side: Arm, rng: &mut ChaCha8Rng| {
            let (noise, level) = match side {
                Arm::Baseline => (self.baseline, 100.0),
                Arm::Candidate => (self.candidate, 100.0 * self.true_ratio),
            };
            let slot = position(if side == Arm::Baseline { 0 } else { 1 });
            let offset = (noise.instance_sd * standard_normal(rng)).exp();
            let outlier = if self.outlier == Some((round, side)) {
                OUTLIER_FACTOR
            } else {
                1.0
            };
            let first = start + slot as f64 * instance + COSTS.instance_seconds;
            (0..iterations)
                .map(|j| {
                    let t = first + (j as f64 + 0.5) * COSTS.iteration_seconds;
                    level
                        * offset
                        * outlier
                        * self.drift(t)
                        * (noise.iteration_sd * standard_normal(rng)).exp()
                })
                .collect::<Vec<f64>>()
        };
        let a = simulate(Arm::Baseline, rng);
        let b = simulate(Arm::Candidate, rng);
        (a, b)
    }
}

/// A generator for run `index` of scenario `scenario` (independent streams).
pub(crate) fn rng_for(scenario: u64, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(scenario.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index)
}

/// Mean of non-empty values.
pub(crate) fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}
