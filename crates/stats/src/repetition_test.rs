//! Permutation test whose unit is the repetition (unpaired): the test of the
//! previous verdict ([`crate::Comparison`]). Decisions now come from the
//! paired analysis of rounds ([`crate::paired`], [`crate::outcome`]); this
//! stays until its callers move.
//!
//! Each repetition (one fresh container, VM or process) is summarised by the
//! statistic of its iterations (mean or median); the test compares the mean of
//! those per-repetition statistics between A and B. Under the null hypothesis
//! (A and B are the same environment) the repetitions are exchangeable, so
//! every way of splitting the `n_a + n_b` repetition statistics into groups of
//! `n_a` and `n_b` is equally likely, and the p-value is the share of splits
//! whose `|difference|` is at least the observed one.
//!
//! - When there are at most [`EXACT_LIMIT`] splits (`C(n_a + n_b, n_a)`, e.g.
//!   12,870 for 8 vs 8), every split is enumerated and the p-value is exact:
//!   `#{splits with |diff| >= |observed|} / C`, the observed split included
//!   (differences within rounding of the observed one count as "as extreme").
//!   It equals `scipy.stats.permutation_test(..., permutation_type='independent',
//!   n_resamples=np.inf)` on the repetition statistics.
//! - Otherwise `resamples` random splits are drawn (ChaCha8 seeded with the
//!   caller's seed) and `p = (1 + #extreme) / (1 + resamples)`.
//!
//! A small design cannot produce a small p-value whatever the data: with 3 vs 3
//! repetitions there are 20 splits, and the observed split and its mirror image
//! (A and B swapped) give the same `|difference|`, so p >= 2/20 = 0.1.
//! [`min_attainable_p`] gives that floor and [`repetitions_needed`] the number
//! of repetitions a significance level requires; [`crate::Comparison`] calls a
//! design that cannot reach its level inconclusive.
//!
//! Iterations are not pooled: they are repeated measures of their repetition,
//! and pooling them makes the host's drift between repetitions look like a
//! real difference (see [`crate::hierarchical`]).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::bootstrap::{interval_of, DEFAULT_LEVEL, DEFAULT_RESAMPLES};
use crate::hierarchical::resample_repetitions;
use crate::sample::Repeated;
use crate::statistic::Statistic;
use crate::summary::mean;
use crate::{Interval, StatsError};

/// Enumerate every split when `C(n_a + n_b, n_a) <= EXACT_LIMIT`, else draw
/// `resamples` random permutations.
pub const EXACT_LIMIT: u64 = 20_000;

/// Permutation test whose unit is the repetition (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RepetitionTest {
    /// Per-repetition summary: the mean or median of each repetition's iterations.
    pub statistic: Statistic,
    /// Repetitions of A (the baseline).
    pub a_repetitions: usize,
    /// Repetitions of B (the candidate).
    pub b_repetitions: usize,
    /// Mean over A's repetitions of the per-repetition statistic.
    pub a: f64,
    /// Mean over B's repetitions of the per-repetition statistic.
    pub b: f64,
    /// `b - a`.
    pub difference: f64,
    /// `difference / a`, e.g. 0.07 for 7% slower.
    pub relative_difference: f64,
    /// 95% bootstrap CI of `difference`, resampling repetitions and then
    /// iterations within them (two-level, see [`crate::hierarchical`]); with
    /// few repetitions it understates the uncertainty and decides nothing.
    pub ci: Interval,
    /// Two-sided p-value.
    pub p_value: f64,
    /// True when every arrangement was enumerated.
    pub exact: bool,
    /// `C(n_a + n_b, n_a)`, the number of arrangements (saturating at `u64::MAX`).
    pub arrangements: u64,
    /// Random permutations drawn when not exact (0 when exact).
    pub resamples: usize,
    /// The smallest p-value this design can produce ([`min_attainable_p`]).
    pub min_p_value: f64,
}

/// Two-sided permutation test of `b` against `a` whose unit is the repetition:
/// compares the means of the per-repetition `statistic`s, enumerating every
/// split when there are at most [`EXACT_LIMIT`], else drawing `resamples`
/// random permutations; `seed` seeds those and the bootstrap CI (which uses
/// `min(resamples, DEFAULT_RESAMPLES)` rounds, and collapses to the observed
/// difference with zero `resamples`).
///
/// Errors with [`StatsError::ZeroBaseline`] when `a` is 0.
pub fn repetition_test(
    a: &Repeated,
    b: &Repeated,
    statistic: Statistic,
    resamples: usize,
    seed: u64,
) -> Result<RepetitionTest, StatsError> {
    let xa = a.repetition_stats(statistic);
    let xb = b.repetition_stats(statistic);
    let (n_a, n_b) = (xa.len(), xb.len());
    let (mean_a, mean_b) = (mean(&xa), mean(&xb));
    if mean_a == 0.0 {
        return Err(StatsError::ZeroBaseline);
    }
    let difference = mean_b - mean_a;

    let mut pooled: Vec<f64> = xa.iter().chain(&xb).copied().collect();
    let total: f64 = pooled.iter().sum();
    // Splits are compared by the sum of their A side, from which the difference follows.
    let diff_of = |sum_a: f64| (total - sum_a) / n_b as f64 - sum_a / n_a as f64;
    let observed = diff_of(xa.iter().sum()).abs();
    // Sums of the same values in another order may differ in the last bits:
    // differences within that rounding of the observed one count as "as extreme".
    let scale = pooled.iter().fold(observed, |m, x| m.max(x.abs()));
    let threshold = observed - 1e-9 * scale;
    let extreme = |sum_a: f64| diff_of(sum_a).abs() >= threshold;

    let arrangements = binomial(n_a + n_b, n_a);
    let exact = arrangements <= EXACT_LIMIT;
    let p_value = if exact {
        let mut count = 0u64;
        for_each_split_sum(&pooled, n_a, 0.0, &mut |sum_a| {
            count += u64::from(extreme(sum_a));
        });
        count as f64 / arrangements as f64
    } else {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut count = 0usize;
        for _ in 0..resamples {
            pooled.shuffle(&mut rng);
            count += usize::from(extreme(pooled[..n_a].iter().sum()));
        }
        (count + 1) as f64 / (resamples as f64 + 1.0)
    };

    let ci = difference_ci(a, b, statistic, resamples.min(DEFAULT_RESAMPLES), seed).unwrap_or(
        Interval {
            low: difference,
            high: difference,
            level: DEFAULT_LEVEL,
        },
    );
    Ok(RepetitionTest {
        statistic,
        a_repetitions: n_a,
        b_repetitions: n_b,
        a: mean_a,
        b: mean_b,
        difference,
        relative_difference: difference / mean_a,
        ci,
        p_value,
        exact,
        arrangements,
        resamples: if exact { 0 } else { resamples },
        min_p_value: min_attainable_p(n_a, n_b, resamples),
    })
}

/// Two-level bootstrap CI (level [`DEFAULT_LEVEL`]) of the difference of the
/// means of per-repetition statistics; `None` with zero `rounds`.
fn difference_ci(
    a: &Repeated,
    b: &Repeated,
    statistic: Statistic,
    rounds: usize,
    seed: u64,
) -> Option<Interval> {
    if rounds == 0 {
        return None;
    }
    // A stream independent of the permutations'.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xD1B5_4A32_D192_ED03);
    let mut scratch = Vec::new();
    let mut side = |sample: &Repeated, rng: &mut ChaCha8Rng| {
        let mut sum = 0.0;
        resample_repetitions(sample, rng, &mut scratch, |values| {
            sum += statistic.of(values);
        });
        sum / sample.len() as f64
    };
    let diffs = (0..rounds)
        .map(|_| {
            let resampled_a = side(a, &mut rng);
            side(b, &mut rng) - resampled_a
        })
        .collect();
    Some(interval_of(diffs, DEFAULT_LEVEL))
}

/// Calls `visit` with `sum + ` the sum of every `k`-element subset of `values`
/// (in lexicographic order of the chosen indices; `C(values.len(), k)` calls).
fn for_each_split_sum(values: &[f64], k: usize, sum: f64, visit: &mut impl FnMut(f64)) {
    if k == 0 {
        visit(sum);
        return;
    }
    if values.len() < k {
        return;
    }
    for_each_split_sum(&values[1..], k - 1, sum + values[0], visit);
    for_each_split_sum(&values[1..], k, sum, visit);
}

/// `C(n, k)`, saturating at `u64::MAX`.
fn binomial(n: usize, k: usize) -> u64 {
    if k > n {
        return 0;
    }
    let k = k.min(n - k);
    let mut c: u128 = 1;
    for i in 0..k {
        // Exact at every step: c * (n - i) / (i + 1) = C(n, i + 1), increasing in i for i < n / 2.
        c = c * (n - i) as u128 / (i + 1) as u128;
        if c > u64::MAX as u128 {
            return u64::MAX;
        }
    }
    c as u64
}

/// Smallest attainable two-sided p-value of the test for `n_a` vs `n_b` repetitions:
/// exact design (`C(n_a + n_b, n_a) <= EXACT_LIMIT`): `2 / C` when `n_a == n_b`
/// (a split and its mirror give the same |difference|), else `1 / C`;
/// random permutations: the larger of that and `1 / (resamples + 1)`. At most 1.
pub fn min_attainable_p(n_a: usize, n_b: usize, resamples: usize) -> f64 {
    let arrangements = binomial(n_a + n_b, n_a);
    let mirrored = if n_a == n_b { 2.0 } else { 1.0 };
    let design = (mirrored / arrangements as f64).min(1.0);
    if arrangements <= EXACT_LIMIT {
        design
    } else {
        design.max(1.0 / (resamples as f64 + 1.0))
    }
}

/// Smallest `n` such that an `n`-vs-`n` design can reach `p < alpha`
/// (0.05 -> 4, 0.01 -> 5, 0.001 -> 7), assuming enough random permutations
/// (more than `1 / alpha`) for designs beyond [`EXACT_LIMIT`].
///
/// `usize::MAX` when no design with a countable number of splits reaches it
/// (`alpha` not positive, or below about `3e-19`).
pub fn repetitions_needed(alpha: f64) -> usize {
    (1..=33)
        .find(|&n| min_attainable_p(n, n, usize::MAX) < alpha)
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::repeated;

    fn reps(means: &[f64]) -> Repeated {
        Repeated::new(means.iter().map(|&m| vec![m]).collect()).unwrap()
    }

    #[test]
    fn design_floors_and_repetitions_needed() {
        assert_eq!(binomial(6, 3), 20);
        assert_eq!(binomial(10, 5), 252);
        assert_eq!(binomial(16, 8), 12_870);
        assert_eq!(binomial(18, 9), 48_620);
        assert_eq!(binomial(200, 100), u64::MAX);
        assert_eq!(binomial(3, 4), 0);
        assert_eq!(min_attainable_p(3, 3, 10_000), 2.0 / 20.0);
        assert_eq!(min_attainable_p(4, 4, 10_000), 2.0 / 70.0);
        assert_eq!(min_attainable_p(5, 5, 10_000), 2.0 / 252.0);
        assert_eq!(min_attainable_p(3, 5, 10_000), 1.0 / 56.0);
        assert_eq!(min_attainable_p(1, 1, 10_000), 1.0);
        assert_eq!(min_attainable_p(2, 1, 10_000), 1.0 / 3.0);
        // 9 vs 9 is beyond EXACT_LIMIT: random permutations bound it.
        assert_eq!(min_attainable_p(9, 9, 999), 1.0 / 1000.0);
        assert_eq!(min_attainable_p(9, 9, 10_000_000), 2.0 / 48_620.0);
        assert_eq!(repetitions_needed(0.05), 4);
        assert_eq!(repetitions_needed(0.01), 5);
        assert_eq!(repetitions_needed(0.001), 7);
        assert_eq!(repetitions_needed(0.1), 4); // 3 vs 3 gives p >= 0.1, not < 0.1
        assert_eq!(repetitions_needed(1.0), 2);
        assert_eq!(repetitions_needed(0.0), usize::MAX);
    }

    #[test]
    fn exact_p_matches_scipy() {
        // Repetition means; scipy 1.17.1:
        //   a = [296.6, 263.4, 272.6, 281.0, 270.2]; b = [301.5, 288.0, 279.9, 310.2, 284.4]
        //   stats.permutation_test((b, a), lambda u, v, axis: np.mean(u, axis) - np.mean(v, axis),
        //     vectorized=True, permutation_type='independent', alternative='two-sided',
        //     n_resamples=np.inf).pvalue -> 0.0873015873015873 (22 of 252)
        let a = reps(&[296.6, 263.4, 272.6, 281.0, 270.2]);
        let b = reps(&[301.5, 288.0, 279.9, 310.2, 284.4]);
        let t = repetition_test(&a, &b, Statistic::Mean, 10_000, 1).unwrap();
        assert!(
            t.exact && t.arrangements == 252 && t.resamples == 0,
            "{t:?}"
        );
        assert_eq!(t.p_value, 22.0 / 252.0);
        assert!((t.p_value - 0.0873015873015873).abs() < 1e-15);
        assert_eq!(t.min_p_value, 2.0 / 252.0);
        assert!((t.difference - 16.04).abs() < 1e-9, "{t:?}");
        assert!(
            (t.relative_difference - 16.04 / 276.76).abs() < 1e-12,
            "{t:?}"
        );
        assert_eq!((t.a_repetitions, t.b_repetitions), (5, 5));

        // Unequal sizes, where scipy's two-sided p (twice the smaller tail) is not
        // the |difference| count; scipy with the |difference| statistic and
        // alternative='greater' is:
        //   a = [10.2, 11.9, 10.8, 12.5]; b = [12.1, 13.4, 11.7, 14.0, 12.9, 13.1]
        //   stats.permutation_test((b, a), lambda u, v, axis: np.abs(np.mean(u, axis) - np.mean(v, axis)),
        //     vectorized=True, permutation_type='independent', alternative='greater',
        //     n_resamples=np.inf).pvalue -> 0.0380952380952381 (8 of 210)
        // (scipy's own two-sided p, 2 * min(tails), is 10 of 210 here.)
        let a = reps(&[10.2, 11.9, 10.8, 12.5]);
        let b = reps(&[12.1, 13.4, 11.7, 14.0, 12.9, 13.1]);
        let t = repetition_test(&a, &b, Statistic::Mean, 10_000, 1).unwrap();
        assert_eq!((t.arrangements, t.p_value), (210, 8.0 / 210.0), "{t:?}");
        assert_eq!(t.min_p_value, 1.0 / 210.0);
    }

    #[test]
    fn ties_and_per_repetition_statistics() {
        // Integer repetition means with many tied splits: 3 vs 3, B all above A.
        // Of the 20 splits only {1,2,3} and {4,5,6} give |diff| = 3: p = 2/20.
        let a = reps(&[1.0, 2.0, 3.0]);
        let b = reps(&[4.0, 5.0, 6.0]);
        let t = repetition_test(&a, &b, Statistic::Mean, 0, 0).unwrap();
        assert_eq!((t.p_value, t.min_p_value, t.difference), (0.1, 0.1, 3.0));
        // Zero resamples: the CI collapses to the difference.
        assert_eq!((t.ci.low, t.ci.high), (3.0, 3.0));
        // Identical groups: every split is as extreme as the observed one.
        let t = repetition_test(&a, &a, Statistic::Mean, 10, 0).unwrap();
        assert_eq!((t.p_value, t.difference), (1.0, 0.0));
        // The median summarises each repetition; the outlier 100 is ignored by it.
        let a = Repeated::new(vec![vec![1.0, 2.0, 100.0], vec![2.0, 3.0, 4.0]]).unwrap();
        let b = Repeated::new(vec![vec![4.0, 5.0, 6.0], vec![5.0, 6.0, 7.0]]).unwrap();
        let t = repetition_test(&a, &b, Statistic::Median, 100, 0).unwrap();
        assert_eq!((t.a, t.b, t.difference), (2.5, 5.5, 3.0));
        let t = repetition_test(&a, &b, Statistic::Mean, 100, 0).unwrap();
        assert!((t.a - (103.0 / 3.0 + 3.0) / 2.0).abs() < 1e-12, "{t:?}");
        let zero = reps(&[0.0, 0.0]);
        assert_eq!(
            repetition_test(&zero, &b, Statistic::Mean, 10, 0),
            Err(StatsError::ZeroBaseline)
        );
    }

    #[test]
    fn random_permutations_beyond_the_exact_limit() {
        // 10 vs 10: C(20, 10) = 184,756 splits, so random permutations. A huge
        // shift leaves no permutation as extreme: p = 1 / (resamples + 1).
        let a = repeated(10, 5, 100.0, 0.02, 0.01, 1);
        let b = repeated(10, 5, 150.0, 0.02, 0.01, 2);
        let t = repetition_test(&a, &b, Statistic::Mean, 999, 3).unwrap();
        assert!(!t.exact, "{t:?}");
        assert_eq!((t.arrangements, t.resamples), (184_756, 999));
        assert_eq!((t.p_value, t.min_p_value), (1.0 / 1000.0, 1.0 / 1000.0));
        assert!(t.ci.low < t.difference && t.difference < t.ci.high, "{t:?}");
        assert_eq!(t, repetition_test(&a, &b, Statistic::Mean, 999, 3).unwrap());
        // Known answer, 9 vs 9 (48,620 splits): scipy 1.17.1 enumerates them all,
        //   a = [271.3, 280.1, 265.4, 290.2, 276.8, 269.9, 284.5, 273.0, 279.6]
        //   b = [282.4, 275.1, 291.7, 279.3, 288.0, 270.6, 286.2, 281.9, 293.5]
        //   stats.permutation_test((b, a), lambda u, v, axis: np.mean(u, axis) - np.mean(v, axis),
        //     vectorized=True, permutation_type='independent', alternative='two-sided',
        //     n_resamples=np.inf).pvalue -> 0.09362402303578775 (4552 of 48620)
        // 5000 random permutations: standard error sqrt(0.094 * 0.906 / 5000) = 0.004.
        let a = reps(&[
            271.3, 280.1, 265.4, 290.2, 276.8, 269.9, 284.5, 273.0, 279.6,
        ]);
        let b = reps(&[
            282.4, 275.1, 291.7, 279.3, 288.0, 270.6, 286.2, 281.9, 293.5,
        ]);
        let t = repetition_test(&a, &b, Statistic::Mean, 5000, 7).unwrap();
        assert!(!t.exact && t.arrangements == 48_620, "{t:?}");
        assert!((t.p_value - 0.09362402303578775).abs() < 0.015, "{t:?}");
        assert!((t.difference - 6.433333333333337).abs() < 1e-9, "{t:?}");
    }

    #[test]
    fn serde_round_trip() {
        let a = repeated(4, 5, 100.0, 0.02, 0.01, 1);
        let b = repeated(3, 5, 110.0, 0.02, 0.01, 2);
        let t = repetition_test(&a, &b, Statistic::Median, 200, 3).unwrap();
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.contains("\"statistic\":\"median\""), "{json}");
        assert_eq!(serde_json::from_str::<RepetitionTest>(&json).unwrap(), t);
    }
}
