//! The study's table: false slower/faster, same, and power, for the old fixed
//! design and the new sequential default (see the [study](super) documentation).

use rand_chacha::ChaCha8Rng;

use crate::outcome::Outcome;
use crate::sequential::SpendingFunction;

use super::model::rng_for;
use super::model::NoiseModel;
use super::runs::{self, RunOutcome, Settings, StandardLooks};

const TRUE_RATIOS: [f64; 5] = [1.0, 1.05, 1.10, 1.15, 1.20];
/// Runs with no true difference: the false slower/faster rate is checked against alpha.
const NULL_RUNS: usize = 2000;
/// Runs per true difference.
const POWER_RUNS: usize = 400;

#[derive(Default)]
struct Tally {
    runs: usize,
    slower: usize,
    faster: usize,
    same: usize,
    inconclusive: usize,
    no_difference: usize,
    rounds: usize,
    seconds: f64,
    undecided_mde: Vec<f64>,
}

impl Tally {
    fn add(&mut self, r: RunOutcome) {
        self.runs += 1;
        match r.outcome {
            Outcome::Slower => self.slower += 1,
            Outcome::Faster => self.faster += 1,
            Outcome::Same => self.same += 1,
            Outcome::Inconclusive if r.no_difference => self.no_difference += 1,
            Outcome::Inconclusive => self.inconclusive += 1,
        }
        if matches!(r.outcome, Outcome::Same | Outcome::Inconclusive) {
            if let Some(mde) = r.minimum_detectable_effect {
                self.undecided_mde.push(mde);
            }
        }
        self.rounds += r.rounds;
        self.seconds += r.seconds;
    }

    fn percent(&self, count: usize) -> f64 {
        100.0 * count as f64 / self.runs as f64
    }

    fn row(&mut self, design: &str, ratio: f64) -> String {
        self.undecided_mde.sort_by(f64::total_cmp);
        let mde = self
            .undecided_mde
            .get(self.undecided_mde.len() / 2)
            .map_or("—".to_string(), |m| format!("{:.1}", 100.0 * m));
        let no_difference = if self.no_difference > 0 || design.starts_with("old") {
            format!("{:.1}", self.percent(self.no_difference))
        } else {
            "—".to_string()
        };
        format!(
            "| {design} | {ratio:.2} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {no_difference} | {:.1} | {:.1} | {mde} |",
            self.runs,
            self.percent(self.slower),
            self.percent(self.faster),
            self.percent(self.same),
            self.percent(self.inconclusive),
            self.rounds as f64 / self.runs as f64,
            self.seconds / self.runs as f64 / 60.0,
        )
    }
}

/// Runs `simulate` for every ratio of `ratios` and prints one row each; returns the tallies.
fn scenario(
    design: &str,
    seed: u64,
    ratios: &[f64],
    null_runs: usize,
    power_runs: usize,
    simulate: &dyn Fn(&mut ChaCha8Rng, f64) -> RunOutcome,
) -> Vec<(f64, Tally)> {
    ratios
        .iter()
        .enumerate()
        .map(|(i, &ratio)| {
            let runs = if ratio == 1.0 { null_runs } else { power_runs };
            let mut tally = Tally::default();
            for run in 0..runs {
                let mut rng = rng_for(seed * 16 + i as u64, run as u64);
                tally.add(simulate(&mut rng, ratio));
            }
            println!("{}", tally.row(design, ratio));
            (ratio, tally)
        })
        .collect()
}

fn header(title: &str) {
    println!("\n{title}");
    println!(
        "| design | true ratio | runs | slower % | faster % | same % | inconclusive % | \
         no sig. diff. % | mean rounds | mean minutes (6 envs) | median MDE % (same/inconclusive) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
}

/// Slower calls, false slower/faster calls and runs of `tallies` at `ratio`.
fn rates(tallies: &[(f64, Tally)], ratio: f64) -> (usize, usize, usize) {
    let t = &tallies.iter().find(|(r, _)| *r == ratio).unwrap().1;
    (t.slower, t.slower + t.faster, t.runs)
}

#[test]
fn old_fixed_design_against_the_sequential_default() {
    header(
        "Simulation study: old fixed design and new sequential default (crates/stats/src/study)",
    );
    let old = scenario(
        "old fixed 6 × 20, unpaired permutation test",
        1,
        &TRUE_RATIOS,
        1000,
        POWER_RUNS,
        &|rng, r| runs::old_fixed(rng, r),
    );
    scenario(
        "fixed paired 6 rounds × 5",
        2,
        &TRUE_RATIOS,
        1000,
        POWER_RUNS,
        &|rng, r| runs::fixed_paired(rng, r, 6, runs::PILOT_ITERATIONS),
    );
    let mut defaults = Vec::new();
    for (seed, max_rounds) in [(3, 12usize), (4, 24)] {
        let settings = Settings::rounds(max_rounds);
        let standard = StandardLooks::new(max_rounds, settings.spending);
        let name = format!("sequential paired, max {max_rounds} rounds");
        let tallies = scenario(
            &name,
            seed,
            &TRUE_RATIOS,
            NULL_RUNS,
            POWER_RUNS,
            &|rng, r| runs::sequential(rng, r, settings, &standard),
        );
        defaults.push((max_rounds, tallies));
    }
    // The 3-minute default run of 6 environments: a 3-iteration pilot,
    // spending time by the clock.
    let three_minutes = Settings {
        budget_seconds: Some(180.0),
        pilot_iterations: 3,
        ..Settings::rounds(40)
    };
    let standard = StandardLooks::new(40, three_minutes.spending);
    scenario(
        "sequential paired, budget 3 min (6 envs), pilot 3 iterations",
        12,
        &TRUE_RATIOS,
        1000,
        POWER_RUNS,
        &|rng, r| runs::sequential(rng, r, three_minutes, &standard),
    );

    // No true difference, false slower/faster at most alpha: were the rate
    // exactly alpha = 0.01, the count over 2000 runs would be Binomial(2000,
    // 0.01) (mean 20, sd 4.4) and exceed 31 with probability 0.007.
    for (max_rounds, tallies) in &defaults {
        let (_, false_calls, runs) = rates(tallies, 1.0);
        assert!(
            false_calls <= 31,
            "max {max_rounds}: {false_calls} of {runs} false slower/faster"
        );
    }
    // The same margin for the old design's 1000 runs: Binomial(1000, 0.01) > 18 with probability 0.007.
    let (_, old_false, _) = rates(&old, 1.0);
    assert!(old_false <= 18, "old design: {old_false} of 1000");
    // A true 10% slowdown is called slower in at least 95% of the default runs
    // with a budget of 24 rounds (400 runs: were the true rate 97%, fewer than
    // 380 with probability 0.01).
    let (slower, _, runs) = rates(&defaults[1].1, 1.10);
    assert!(
        slower * 100 >= 95 * runs,
        "10%: {slower} of {runs} slower at 24 rounds"
    );
}

#[test]
fn spending_functions_compared() {
    header("Spending functions, sequential paired, max 24 rounds");
    let mut false_calls = Vec::new();
    for (seed, spending) in [
        (5, SpendingFunction::OBrienFleming),
        (6, SpendingFunction::HwangShihDeCani { gamma: -4.0 }),
        (7, SpendingFunction::Pocock),
    ] {
        let settings = Settings {
            spending,
            ..Settings::rounds(24)
        };
        let standard = StandardLooks::new(24, spending);
        let name = format!("sequential paired, {}", spending.name());
        let tallies = scenario(
            &name,
            seed,
            &[1.0, 1.05, 1.10],
            1000,
            POWER_RUNS,
            &|rng, r| runs::sequential(rng, r, settings, &standard),
        );
        false_calls.push((spending, rates(&tallies, 1.0)));
    }
    // Binomial(1000, 0.01) > 18 with probability 0.007.
    for (spending, (_, calls, runs)) in false_calls {
        assert!(calls <= 18, "{spending:?}: {calls} of {runs}");
    }
}

#[test]
fn larger_instance_offsets_need_more_rounds() {
    header("Sensitivity: instance offsets 4-8% (ICC 0.39-0.94), sequential paired");
    for (seed, max_rounds) in [(13, 24usize), (14, 36), (15, 48)] {
        let settings = Settings {
            noise: NoiseModel::LargeOffsets,
            ..Settings::rounds(max_rounds)
        };
        let standard = StandardLooks::new(max_rounds, settings.spending);
        let name = format!("sequential paired, offsets 4-8%, max {max_rounds} rounds");
        scenario(&name, seed, &[1.0, 1.10], 500, POWER_RUNS, &|rng, r| {
            runs::sequential(rng, r, settings, &standard)
        });
    }
}

#[test]
fn compare_two_sessions() {
    header("isobench compare of two sessions (12 repetitions each, Welch, fixed 1 - alpha)");
    for (seed, offset, drift, name) in [
        (8, 0.0, false, "compare, steady host, no session offset"),
        (
            9,
            0.025,
            false,
            "compare, steady host, session offset +2.5%",
        ),
        (10, 0.05, false, "compare, steady host, session offset +5%"),
        (11, 0.0, true, "compare, host drifting ±20% in each session"),
    ] {
        let tallies = scenario(
            name,
            seed,
            &[1.0, 1.10, 1.20],
            1000,
            POWER_RUNS,
            &|rng, r| runs::compare(rng, r, offset, drift, 12),
        );
        if offset == 0.0 && !drift {
            // Binomial(1000, 0.01) > 18 with probability 0.007.
            let (_, calls, runs) = rates(&tallies, 1.0);
            assert!(calls <= 18, "{calls} of {runs}");
        }
    }
}
