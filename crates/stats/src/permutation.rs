//! Two-sample permutation tests and the A/B verdict Firecracker's performance
//! tests use: a change is significant only when the permutation test's p-value
//! is below `alpha` (default 0.01) *and* the relative effect exceeds a
//! threshold (default 5%).
//!
//! Convention: `a` is the baseline ("before", "A"), `b` the candidate ("after",
//! "B"); samples are times, so lower is better.

use std::fmt;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::bootstrap::{interval_of, DEFAULT_LEVEL};
use crate::summary::{check, mean, median_in_place};
use crate::{Interval, StatsError};

/// Resamples used by [`CompareOptions::default`].
pub const DEFAULT_PERMUTATIONS: usize = 10_000;
/// Default significance level of [`Comparison`].
pub const DEFAULT_ALPHA: f64 = 0.01;
/// Default minimum |relative effect| of [`Comparison`] (5%).
pub const DEFAULT_THRESHOLD: f64 = 0.05;

/// The statistic whose difference is tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// Arithmetic mean.
    #[default]
    Mean,
    /// Median.
    Median,
}

impl Statistic {
    /// The statistic of `samples` (reorders them for the median).
    pub fn of(self, samples: &mut [f64]) -> f64 {
        match self {
            Statistic::Mean => mean(samples),
            Statistic::Median => median_in_place(samples),
        }
    }

    /// Lower-case name (`mean`, `median`).
    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::Mean => "mean",
            Statistic::Median => "median",
        }
    }
}

/// Result of [`permutation_test`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PermutationTest {
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

/// Two-sided permutation test of `stat(b) - stat(a)`: the pooled samples are
/// shuffled `resamples` times (ChaCha8 seeded with `seed`) and split into groups
/// of the original sizes. Errors on empty or non-finite input, or when `stat(a)` is 0.
pub fn permutation_test(
    a: &[f64],
    b: &[f64],
    statistic: Statistic,
    resamples: usize,
    seed: u64,
) -> Result<PermutationTest, StatsError> {
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
    Ok(PermutationTest {
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
    use rand::Rng;
    for slot in into.iter_mut() {
        *slot = from[rng.gen_range(0..from.len())];
    }
}

/// Settings of an A/B comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CompareOptions {
    /// Statistic compared (default mean).
    pub statistic: Statistic,
    /// Permutations (default [`DEFAULT_PERMUTATIONS`]).
    pub resamples: usize,
    /// Seed of the permutations and the bootstrap.
    pub seed: u64,
    /// Significance level (default [`DEFAULT_ALPHA`]).
    pub alpha: f64,
    /// Minimum |relative effect| to call a change (default [`DEFAULT_THRESHOLD`]).
    pub threshold: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            statistic: Statistic::Mean,
            resamples: DEFAULT_PERMUTATIONS,
            seed: 0,
            alpha: DEFAULT_ALPHA,
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

/// What an A/B comparison concluded about `b` relative to `a` (times: lower is faster).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// `b` is faster: p < alpha and the effect is below `-threshold`.
    Faster,
    /// `b` is slower: p < alpha and the effect is above `threshold` (a regression).
    Slower,
    /// Not significant, or significant but smaller than the threshold.
    NoDifference,
}

impl Verdict {
    /// True for [`Verdict::Slower`].
    pub fn is_regression(self) -> bool {
        self == Verdict::Slower
    }

    /// Short lower-case label (`faster`, `slower`, `no difference`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::NoDifference => "no difference",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An A/B comparison: the permutation test and the verdict under Firecracker's rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The permutation test of `b` against `a`.
    pub test: PermutationTest,
    /// Significance level used.
    pub alpha: f64,
    /// Effect threshold used (fraction).
    pub threshold: f64,
    /// The verdict.
    pub verdict: Verdict,
}

impl Comparison {
    /// Runs the permutation test of `b` against `a` and applies the rule.
    pub fn compute(a: &[f64], b: &[f64], options: &CompareOptions) -> Result<Self, StatsError> {
        let test = permutation_test(a, b, options.statistic, options.resamples, options.seed)?;
        Ok(Self::from_test(test, options.alpha, options.threshold))
    }

    /// Applies the rule (p < alpha and |relative effect| > threshold) to a finished test.
    pub fn from_test(test: PermutationTest, alpha: f64, threshold: f64) -> Self {
        let significant = test.p_value < alpha && test.relative_difference.abs() > threshold;
        let verdict = match (significant, test.relative_difference > 0.0) {
            (false, _) => Verdict::NoDifference,
            (true, true) => Verdict::Slower,
            (true, false) => Verdict::Faster,
        };
        Comparison {
            test,
            alpha,
            threshold,
            verdict,
        }
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
        let t = permutation_test(&a, &b, Statistic::Mean, 40_000, 1).unwrap();
        assert!((t.p_value - 0.06349206349206349).abs() < 0.005, "{t:?}");
        assert!((t.difference - 2.3).abs() < 1e-12);
        assert!((t.relative_difference - 2.3 / 12.0).abs() < 1e-12);
        assert!(t.ci.low < t.difference && t.difference < t.ci.high, "{t:?}");
        let t = permutation_test(&a, &b, Statistic::Median, 40_000, 1).unwrap();
        assert!((t.p_value - 0.11904761904761904).abs() < 0.006, "{t:?}");
        assert_eq!(t.difference, 2.0);
    }

    #[test]
    fn detects_a_known_shift() {
        // 10% slower with 5% noise, 100 samples each: detected for every seed.
        let options = CompareOptions {
            resamples: 2000,
            ..CompareOptions::default()
        };
        for seed in 0..20 {
            let a = normal(100, 1000.0, 50.0, 2 * seed);
            let slow = normal(100, 1100.0, 50.0, 2 * seed + 1);
            let c = Comparison::compute(&a, &slow, &options).unwrap();
            assert_eq!(c.verdict, Verdict::Slower, "seed {seed}: {c:?}");
            assert!(c.verdict.is_regression());
            let c = Comparison::compute(&slow, &a, &options).unwrap();
            assert_eq!(c.verdict, Verdict::Faster, "seed {seed}: {c:?}");
        }
    }

    #[test]
    fn significant_but_small_effect_is_not_flagged() {
        // 2% shift with 1% noise: p is tiny, but the effect is under the 5% threshold.
        let a = normal(200, 1000.0, 10.0, 1);
        let b = normal(200, 1020.0, 10.0, 2);
        let c = Comparison::compute(&a, &b, &CompareOptions::default()).unwrap();
        assert!(c.test.p_value < 0.001, "{c:?}");
        assert_eq!(c.verdict, Verdict::NoDifference);
        let strict = CompareOptions {
            threshold: 0.01,
            ..CompareOptions::default()
        };
        assert_eq!(
            Comparison::compute(&a, &b, &strict).unwrap().verdict,
            Verdict::Slower
        );
    }

    #[test]
    fn false_positive_rate_without_a_shift() {
        // 200 pairs drawn from the same distribution. Under H0 the p-value is uniform, so
        // #{p < 0.05} ~ Binomial(200, 0.05) (mean 10; P(X > 20) < 0.002) and
        // #{p < 0.01} ~ Binomial(200, 0.01) (mean 2; P(X > 7) < 0.001).
        // The verdict also needs a 5% effect, so it may flag no more than p < 0.01 does.
        let options = CompareOptions {
            resamples: 1000,
            threshold: 0.0,
            ..CompareOptions::default()
        };
        let (mut below_05, mut below_01, mut flagged) = (0, 0, 0);
        for seed in 0..200u64 {
            let a = normal(40, 1000.0, 100.0, 1000 + 2 * seed);
            let b = normal(40, 1000.0, 100.0, 1001 + 2 * seed);
            let mut o = options;
            o.seed = seed;
            let c = Comparison::compute(&a, &b, &o).unwrap();
            below_05 += usize::from(c.test.p_value < 0.05);
            below_01 += usize::from(c.test.p_value < 0.01);
            let rule = Comparison::from_test(c.test, DEFAULT_ALPHA, DEFAULT_THRESHOLD);
            flagged += usize::from(rule.verdict != Verdict::NoDifference);
        }
        println!("no shift, 200 seeds: p<0.05: {below_05}, p<0.01: {below_01}, flagged: {flagged}");
        assert!(below_05 <= 20, "{below_05} of 200 below 0.05");
        assert!(below_01 <= 7, "{below_01} of 200 below 0.01");
        assert!(flagged <= below_01);
        // And the p-value is not degenerate (a test that never rejects would pass the bounds).
        assert!(
            below_05 >= 2,
            "{below_05} of 200 below 0.05: p-values look too large"
        );
    }

    #[test]
    fn bad_input() {
        assert_eq!(
            permutation_test(&[], &[1.0], Statistic::Mean, 10, 0),
            Err(StatsError::Empty)
        );
        assert_eq!(
            permutation_test(&[0.0], &[1.0], Statistic::Mean, 10, 0),
            Err(StatsError::ZeroBaseline)
        );
    }
}
