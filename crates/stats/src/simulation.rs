//! Simulated benchmarks on a drifting host for the *previous* verdict
//! ([`crate::Comparison`]): the repetition-level test keeps its false-positive
//! rate and has power, where the pooled iteration-level method it replaced
//! calls most non-differences significant. The study of the current verdict
//! (four outcomes, paired rounds, sequential looks) is in `src/study`.
//!
//! Each environment has `R` repetitions of `I` iterations; every value of a
//! repetition is `mu * (1 + offset) * (1 + noise)` with one `offset ~ N(0, 5%)`
//! per repetition (the host's speed drifting between repetitions) and
//! `noise ~ N(0, 2%)` per iteration. Run with `--nocapture` to see the counts.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::bootstrap::interval_of;
use crate::permutation::pooled_permutation_test;
use crate::repetition_test::repetition_test;
use crate::sample::Repeated;
use crate::statistic::Statistic;
use crate::summary::mean;
use crate::testdata::repeated;
use crate::verdict::{Comparison, Verdict, DEFAULT_ALPHA, DEFAULT_THRESHOLD};
use crate::Interval;

const SEEDS: u64 = 200;
const REPETITIONS: usize = 8;
const ITERATIONS: usize = 30;
const BETWEEN: f64 = 0.05;
const WITHIN: f64 = 0.02;
/// Bootstrap rounds of the tests' CIs (8 vs 8 is enumerated exactly, so no
/// random permutations are drawn; the CI does not enter the verdict).
const RESAMPLES: usize = 200;

/// Environments A and B of simulation `seed`, with B's true mean `shift` times A's.
fn environments(seed: u64, shift: f64) -> (Repeated, Repeated) {
    let a = repeated(REPETITIONS, ITERATIONS, 100.0, BETWEEN, WITHIN, 2 * seed);
    let b = repeated(
        REPETITIONS,
        ITERATIONS,
        100.0 * shift,
        BETWEEN,
        WITHIN,
        2 * seed + 1,
    );
    (a, b)
}

/// The retired `ratio_of_means_ci`: the ratio of means with a one-level
/// bootstrap CI over the pooled iterations, as if they were independent.
fn pooled_ratio_ci(baseline: &[f64], other: &[f64], rounds: usize, seed: u64) -> Interval {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut resampled_mean = |x: &[f64]| {
        (0..x.len())
            .map(|_| x[rng.gen_range(0..x.len())])
            .sum::<f64>()
            / x.len() as f64
    };
    let ratios = (0..rounds)
        .map(|_| {
            let b = resampled_mean(baseline);
            resampled_mean(other) / b
        })
        .collect();
    interval_of(ratios, 0.95)
}

#[test]
fn no_true_difference_keeps_the_false_positive_rate() {
    // Under H0 the 16 repetition means are exchangeable and the exact test's
    // p-value satisfies P(p <= alpha) <= alpha, so the count of calls over 200
    // seeds is at most Binomial(200, alpha):
    //   alpha 0.05: mean 10, P(X > 20) = 0.0014 -> assert <= 20 (and >= 1:
    //     P(X = 0) = 0.95^200 = 3.5e-5, so 0 would mean a test that never rejects);
    //   alpha 0.01 (and the 5% threshold, which only removes calls): mean 2,
    //     P(X > 7) = 0.0005 -> assert <= 7.
    let (mut at_05, mut by_default_rule) = (0, 0);
    for seed in 0..SEEDS {
        let (a, b) = environments(seed, 1.0);
        let test = repetition_test(&a, &b, Statistic::Mean, RESAMPLES, seed).unwrap();
        assert!(test.exact);
        let c = Comparison::from_test(test, 0.05, 0.0);
        at_05 += usize::from(matches!(c.verdict, Verdict::Faster | Verdict::Slower));
        let c = Comparison::from_test(test, DEFAULT_ALPHA, DEFAULT_THRESHOLD);
        assert_ne!(c.verdict, Verdict::Inconclusive);
        by_default_rule += usize::from(c.verdict != Verdict::NoDifference);
    }
    println!(
        "no true difference, {REPETITIONS} vs {REPETITIONS} repetitions x {ITERATIONS} iterations, \
         {SEEDS} seeds: repetition-level test called a difference in {at_05} at alpha 0.05 \
         (threshold 0), {by_default_rule} under the default rule (alpha 0.01, 5%)"
    );
    assert!(
        (1..=20).contains(&at_05),
        "{at_05} of {SEEDS} at alpha 0.05"
    );
    assert!(
        by_default_rule <= 7,
        "{by_default_rule} of {SEEDS} by the default rule"
    );
}

#[test]
fn pooled_iterations_call_most_non_differences_significant() {
    // Regression test of the retired method, on the same data as above: treating
    // the 240 iterations per side as independent samples makes the drift between
    // repetitions look like a real difference. The mean difference's true sd is
    // about 5% * sqrt(2 / 8) = 2.5%, but the pooled methods assume about
    // sqrt(2 * (5%^2 + 2%^2) / 240) = 0.5%, so p < 0.05 for |z| > 0.4: about
    // 70% of seeds, far above the 5% a valid test allows.
    let (mut permutation, mut ratio_excludes_1) = (0, 0);
    for seed in 0..SEEDS {
        let (a, b) = environments(seed, 1.0);
        let (a, b) = (a.pooled(), b.pooled());
        let t = pooled_permutation_test(&a, &b, Statistic::Mean, RESAMPLES, seed).unwrap();
        permutation += usize::from(t.p_value < 0.05);
        let ci = pooled_ratio_ci(&a, &b, RESAMPLES, seed);
        ratio_excludes_1 += usize::from(ci.low > 1.0 || ci.high < 1.0);
    }
    println!(
        "no true difference, same data, pooled iteration-level methods: permutation test \
         p < 0.05 in {permutation} of {SEEDS}, bootstrap ratio CI excluding 1 in \
         {ratio_excludes_1} of {SEEDS}"
    );
    assert!(permutation > 50, "{permutation} of {SEEDS}");
    assert!(ratio_excludes_1 > 50, "{ratio_excludes_1} of {SEEDS}");
}

#[test]
fn detects_a_true_twenty_percent_slowdown() {
    // B 20% slower, 8 vs 8: the difference of means is about 8 of its standard
    // deviations (2.5%), so every seed should reach the exact floor 2/12870.
    let (mut slower, mut p_sum) = (0, 0.0);
    for seed in 0..SEEDS {
        let (a, b) = environments(1000 + seed, 1.2);
        let test = repetition_test(&a, &b, Statistic::Mean, RESAMPLES, seed).unwrap();
        p_sum += test.p_value;
        let c = Comparison::from_test(test, DEFAULT_ALPHA, DEFAULT_THRESHOLD);
        slower += usize::from(c.verdict == Verdict::Slower);
    }
    println!(
        "20% slower, {REPETITIONS} vs {REPETITIONS}, {SEEDS} seeds: default rule called \
         slower in {slower} (mean p {:.2e})",
        p_sum / SEEDS as f64
    );
    assert!(slower >= 190, "{slower} of {SEEDS}");
}

#[test]
fn medians_per_repetition_also_keep_the_rate() {
    // The same null simulation with each repetition summarised by its median.
    let mut at_05 = 0;
    for seed in 0..SEEDS / 2 {
        let (a, b) = environments(5000 + seed, 1.0);
        let test = repetition_test(&a, &b, Statistic::Median, 0, seed).unwrap();
        at_05 += usize::from(test.p_value < 0.05);
        // Sanity of the setup: repetition means differ far more than their noise.
        let spread = a.repetition_stats(Statistic::Mean);
        assert!(spread
            .iter()
            .any(|m| (m / mean(&spread) - 1.0).abs() > 0.02));
    }
    println!("no true difference, per-repetition medians, 100 seeds: p < 0.05 in {at_05}");
    // Binomial(100, 0.05): P(X > 12) = 0.002.
    assert!(at_05 <= 12, "{at_05} of 100");
}
