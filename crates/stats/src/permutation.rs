//! Two-sample permutation test of independent samples (iteration level).
//!
//! **It assumes every sample is independent.** The iterations of one
//! repetition are not independent of each other, and iterations of different
//! repetitions differ by the host's drift, so this test must not decide
//! verdicts across repetitions: pooling them gives far too small p-values (see
//! the regression test in the crate's simulation tests). The verdict comes from
//! [`crate::repetition_test()`], whose unit is the repetition. This test remains
//! for comparisons *within* one repetition and to document the pooled method's
//! failure.
//!
//! Convention: `a` is the baseline ("before", "A"), `b` the candidate ("after",
//! "B"); samples are times, so lower is better.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::bootstrap::{interval_of, DEFAULT_LEVEL};
use crate::statistic::Statistic;
use crate::summary::check;
use crate::{Interval, StatsError};

/// Result of [`pooled_permutation_test`] (independent samples only; see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PooledPermutationTest {
    /// Statistic compared.
    pub statistic: Statistic,
    /// Statistic of `a`.
    pub a: f64,
    /// Statistic of `b`.
    pub b: f64,
    /// `stat(b) - stat(a)`.
    pub difference: f64,
    /// `difference / stat(a)`, e.g. 0.07 for 7% slower.
    pub relative_difference: f64,
    /// Bootstrap 95% CI of `difference` (each group resampled with replacement).
    pub ci: Interval,
    /// Two-sided p-value: `(1 + #{|perm diff| >= |observed|}) / (1 + resamples)`.
    pub p_value: f64,
    /// Permutations drawn.
    pub resamples: usize,
}

/// Two-sided permutation test of `stat(b) - stat(a)` for **independent samples**:
/// the pooled samples are shuffled `resamples` times (ChaCha8 seeded with `seed`)
/// and split into groups of the original sizes. Errors on empty or non-finite
/// input, or when `stat(a)` is 0.
///
/// It must not be used for verdicts across repetitions (their iterations are not
/// independent samples); use [`crate::repetition_test()`] or [`crate::Comparison`].
pub fn pooled_permutation_test(
    a: &[f64],
    b: &[f64],
    statistic: Statistic,
    resamples: usize,
    seed: u64,
) -> Result<PooledPermutationTest, StatsError> {
    check(a)?;
    check(b)?;
    let stat_a = statistic.of(&mut a.to_vec());
    let stat_b = statistic.of(&mut b.to_vec());
    if stat_a == 0.0 {
        return Err(StatsError::ZeroBaseline);
    }
    let observed = stat_b - stat_a;
    // Differences within rounding of the observed one count as "as extreme" (as scipy does).
    let tolerance = observed.abs() * 1e-12;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let mut scratch = Vec::with_capacity(pooled.len());
    let mut extreme = 0usize;
    for _ in 0..resamples {
        pooled.shuffle(&mut rng);
        scratch.clear();
        scratch.extend_from_slice(&pooled);
        let (pa, pb) = scratch.split_at_mut(a.len());
        let d = statistic.of(pb) - statistic.of(pa);
        if d.abs() >= observed.abs() - tolerance {
            extreme += 1;
        }
    }
    let p_value = (extreme + 1) as f64 / (resamples + 1) as f64;

    // Bootstrap CI of the difference, from an independent stream.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xD1B5_4A32_D192_ED03);
    let boot_rounds = resamples.clamp(1, 5000);
    let mut ra = a.to_vec();
    let mut rb = b.to_vec();
    let mut diffs = Vec::with_capacity(boot_rounds);
    for _ in 0..boot_rounds {
        resample_into(a, &mut ra, &mut rng);
        resample_into(b, &mut rb, &mut rng);
        diffs.push(statistic.of(&mut rb) - statistic.of(&mut ra));
    }
    Ok(PooledPermutationTest {
        statistic,
        a: stat_a,
        b: stat_b,
        difference: observed,
        relative_difference: observed / stat_a,
        ci: interval_of(diffs, DEFAULT_LEVEL),
        p_value,
        resamples,
    })
}

fn resample_into(from: &[f64], into: &mut [f64], rng: &mut ChaCha8Rng) {
    for slot in into.iter_mut() {
        *slot = from[rng.gen_range(0..from.len())];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::normal;

    #[test]
    fn p_value_matches_scipy_exact_test() {
        // scipy.stats.permutation_test((b, a), lambda u, v: stat(u) - stat(v),
        //   permutation_type='independent', alternative='two-sided', n_resamples=np.inf)
        // enumerates all 252 splits: mean -> p = 0.06349206349206349, median -> 0.11904761904761904.
        let a = [10.0, 11.0, 12.0, 13.0, 14.0];
        let b = [12.5, 13.5, 14.0, 15.5, 16.0];
        let t = pooled_permutation_test(&a, &b, Statistic::Mean, 40_000, 1).unwrap();
        assert!((t.p_value - 0.06349206349206349).abs() < 0.005, "{t:?}");
        assert!((t.difference - 2.3).abs() < 1e-12);
        assert!((t.relative_difference - 2.3 / 12.0).abs() < 1e-12);
        assert!(t.ci.low < t.difference && t.difference < t.ci.high, "{t:?}");
        let t = pooled_permutation_test(&a, &b, Statistic::Median, 40_000, 1).unwrap();
        assert!((t.p_value - 0.11904761904761904).abs() < 0.006, "{t:?}");
        assert_eq!(t.difference, 2.0);
    }

    #[test]
    fn detects_a_known_shift_in_independent_samples() {
        // 10% slower with 5% noise, 100 independent samples each: p is at its floor.
        for seed in 0..5 {
            let a = normal(100, 1000.0, 50.0, 2 * seed);
            let slow = normal(100, 1100.0, 50.0, 2 * seed + 1);
            let t = pooled_permutation_test(&a, &slow, Statistic::Mean, 500, seed).unwrap();
            assert_eq!(t.p_value, 1.0 / 501.0, "seed {seed}: {t:?}");
            assert!(t.relative_difference > 0.05, "seed {seed}: {t:?}");
            let t = pooled_permutation_test(&slow, &a, Statistic::Median, 500, seed).unwrap();
            assert_eq!(t.p_value, 1.0 / 501.0, "seed {seed}: {t:?}");
            assert!(t.relative_difference < -0.05, "seed {seed}: {t:?}");
        }
    }

    #[test]
    fn false_positive_rate_with_independent_samples() {
        // 200 pairs of independent samples from one distribution: the test's own
        // assumption holds, so p is uniform and #{p < 0.05} ~ Binomial(200, 0.05)
        // (mean 10; P(X > 20) < 0.002). Contrast the simulation tests, where
        // pooled iterations of repetitions break the assumption.
        let mut below_05 = 0;
        for seed in 0..200u64 {
            let a = normal(40, 1000.0, 100.0, 1000 + 2 * seed);
            let b = normal(40, 1000.0, 100.0, 1001 + 2 * seed);
            let t = pooled_permutation_test(&a, &b, Statistic::Mean, 200, seed).unwrap();
            below_05 += usize::from(t.p_value < 0.05);
        }
        println!("independent samples, no shift, 200 seeds: p<0.05: {below_05}");
        assert!((2..=20).contains(&below_05), "{below_05} of 200 below 0.05");
    }

    #[test]
    fn bad_input() {
        assert_eq!(
            pooled_permutation_test(&[], &[1.0], Statistic::Mean, 10, 0),
            Err(StatsError::Empty)
        );
        assert_eq!(
            pooled_permutation_test(&[0.0], &[1.0], Statistic::Mean, 10, 0),
            Err(StatsError::ZeroBaseline)
        );
    }
}
