//! Two-level (hierarchical) bootstrap of samples grouped by repetition.
//!
//! # Method
//!
//! Each resample draws as many repetitions as were measured, with replacement,
//! from the measured ones; then, for each drawn repetition, as many iterations
//! as it holds, with replacement, from that repetition's own values. The
//! statistic (mean or median) is computed over the pooled resampled values,
//! and the interval's bounds are the `(1 - level) / 2` and `(1 + level) / 2`
//! percentiles of the resampled statistics (linear interpolation, as in
//! [`crate::bootstrap`]). Draws come from a `ChaCha8Rng` seeded with the
//! caller's seed: the same sample and seed give the same interval.
//!
//! # Why the repetition is the unit
//!
//! A repetition is one fresh container, VM or process. Its iterations share
//! everything that repetition drew: the host's speed at the time, CPU
//! frequency, placement, page cache, noisy neighbours. They are repeated
//! measures of one unit, not independent samples, and the host's drift makes
//! repetitions differ by far more than their iterations do. With `k`
//! repetitions of `n` iterations, between-repetition variance `σ_b²` and
//! within-repetition variance `σ_w²`, the variance of the overall mean is
//! `σ_b² / k + σ_w² / (k n)`: once `σ_b²` dominates, only more repetitions
//! narrow it, not more iterations. The one-level bootstrap of all iterations
//! treats them as `k n` independent draws and estimates about
//! `(σ_b² + σ_w²) / (k n)`, an interval too narrow by a factor of roughly
//! `sqrt(n)` when repetitions differ; e.g. repetition means of 296.6, 263.4 and
//! 272.6 ms with 1–4 ms standard errors each. Resampling repetitions first puts
//! their spread into the interval; resampling within each adds the
//! iterations' own noise.
//!
//! # Known small-sample behaviour
//!
//! The bootstrap knows no more than the repetitions it was given. The spread of
//! `k` resampled repetitions is their plug-in (divide by `k`) variance, a
//! factor `(k - 1) / k` too small (1/2 for two repetitions, 2/3 for three),
//! and the percentile interval follows the resampled distribution where an
//! honest interval for `k` units would use Student's t with `k - 1` degrees of
//! freedom (97.5% quantile 12.7 for `k = 2`, 4.3 for `k = 3`, against the
//! normal's 1.96). With two repetitions there are only four equally likely
//! draws of repetitions. So **with 2–3 repetitions the interval understates
//! the between-repetition uncertainty**, often by a wide margin; read it as a
//! description of the data, not as a test. (With many repetitions the second
//! level counts the within-repetition noise twice, since it is already in the
//! spread of the repetitions, making the interval slightly conservative:
//! `σ_b² / k + 2 σ_w² / (k n)`; negligible when repetitions differ much.)
//!
//! For that reason no verdict comes from these intervals: whether two
//! environments differ is decided from repetition means paired by round
//! ([`crate::Decision`]), with an interval whose coverage the simulation study
//! checks at the sizes runs use.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::bootstrap::interval_of;
#[cfg(test)]
use crate::bootstrap::{DEFAULT_LEVEL, DEFAULT_RESAMPLES};
use crate::sample::Repeated;
use crate::statistic::Statistic;
use crate::Interval;
#[cfg(test)]
use crate::{Ratio, StatsError};

/// CI of `statistic` (mean/median of all values) by the two-level bootstrap.
///
/// `resamples` two-level resamples are drawn from a ChaCha8 generator seeded
/// with `seed`; see the module documentation for the method and its behaviour
/// with few repetitions. With zero `resamples`, or a single value in all, the
/// interval collapses to the statistic of the data.
pub fn hierarchical_ci(
    sample: &Repeated,
    statistic: Statistic,
    resamples: usize,
    level: f64,
    seed: u64,
) -> Interval {
    let mut pooled = sample.pooled();
    if resamples == 0 || pooled.len() == 1 {
        let v = statistic.of(&mut pooled);
        return Interval {
            low: v,
            high: v,
            level,
        };
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        resample_pooled(sample, &mut rng, &mut pooled);
        stats.push(statistic.of(&mut pooled));
    }
    interval_of(stats, level)
}

/// Ratio `stat(other) / stat(baseline)` of the pooled values, with a two-level
/// bootstrap CI: each of [`DEFAULT_RESAMPLES`] rounds resamples both sides
/// independently (see the module documentation); the interval's level is
/// [`DEFAULT_LEVEL`].
///
/// Errors with [`StatsError::ZeroBaseline`] when the baseline's statistic is 0.
/// The interval describes the data; it decides nothing (see [`Ratio`]).
#[cfg(test)]
pub fn hierarchical_ratio(
    baseline: &Repeated,
    other: &Repeated,
    statistic: Statistic,
    seed: u64,
) -> Result<Ratio, StatsError> {
    let mut base_values = baseline.pooled();
    let mut other_values = other.pooled();
    let base_stat = statistic.of(&mut base_values);
    if base_stat == 0.0 {
        return Err(StatsError::ZeroBaseline);
    }
    let ratio = statistic.of(&mut other_values) / base_stat;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = Vec::with_capacity(DEFAULT_RESAMPLES);
    for _ in 0..DEFAULT_RESAMPLES {
        resample_pooled(baseline, &mut rng, &mut base_values);
        resample_pooled(other, &mut rng, &mut other_values);
        let b = statistic.of(&mut base_values);
        // A resampled baseline statistic of 0 needs zero draws from a sample whose
        // statistic is not 0: skip such a draw rather than produce an infinity.
        if b != 0.0 {
            stats.push(statistic.of(&mut other_values) / b);
        }
    }
    let ci = if stats.is_empty() {
        Interval {
            low: ratio,
            high: ratio,
            level: DEFAULT_LEVEL,
        }
    } else {
        interval_of(stats, DEFAULT_LEVEL)
    };
    Ok(Ratio {
        ratio,
        ci,
        statistic,
    })
}

/// One two-level resample of `sample`: draws its repetitions with replacement
/// and, within each drawn repetition, its iterations with replacement; calls
/// `each` with every drawn repetition's resampled values (in `scratch`).
#[cfg(test)]
pub(crate) fn resample_repetitions(
    sample: &Repeated,
    rng: &mut ChaCha8Rng,
    scratch: &mut Vec<f64>,
    mut each: impl FnMut(&mut [f64]),
) {
    let repetitions = sample.repetitions();
    let k = repetitions.len();
    for _ in 0..k {
        let values = &repetitions[rng.gen_range(0..k)];
        let n = values.len();
        scratch.clear();
        scratch.extend((0..n).map(|_| values[rng.gen_range(0..n)]));
        each(scratch);
    }
}

/// One two-level resample of `sample`, pooled into `out` (replacing its contents).
fn resample_pooled(sample: &Repeated, rng: &mut ChaCha8Rng, out: &mut Vec<f64>) {
    let repetitions = sample.repetitions();
    let k = repetitions.len();
    out.clear();
    for _ in 0..k {
        let values = &repetitions[rng.gen_range(0..k)];
        let n = values.len();
        out.extend((0..n).map(|_| values[rng.gen_range(0..n)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::bootstrap_ci;
    use crate::summary::mean_of;
    use crate::testdata::{normal, repeated};

    #[test]
    fn one_repetition_is_the_ordinary_bootstrap() {
        // With one repetition the first level always draws it: the same draws as
        // the one-level bootstrap, hence the same interval.
        let x = normal(50, 100.0, 5.0, 3);
        let sample = Repeated::new(vec![x.clone()]).unwrap();
        let h = hierarchical_ci(&sample, Statistic::Mean, 1000, 0.95, 8);
        let b = bootstrap_ci(&x, mean_of, 1000, 0.95, 8).unwrap();
        let width = b.high - b.low;
        assert!((h.low - b.low).abs() < 0.1 * width, "{h:?} vs {b:?}");
        assert!((h.high - b.high).abs() < 0.1 * width, "{h:?} vs {b:?}");
        let single = Repeated::new(vec![vec![4.0]]).unwrap();
        let ci = hierarchical_ci(&single, Statistic::Median, 100, 0.9, 1);
        assert_eq!((ci.low, ci.high, ci.level), (4.0, 4.0, 0.9));
    }

    #[test]
    fn widens_with_between_repetition_variance() {
        // Same within-repetition noise (2%), between-repetition spread 0%, 2%, 10%.
        let widths: Vec<f64> = [0.0, 0.02, 0.10]
            .iter()
            .map(|&between| {
                let sample = repeated(8, 30, 100.0, between, 0.02, 5);
                let ci = hierarchical_ci(&sample, Statistic::Mean, 1000, 0.95, 1);
                let m = crate::summary::mean(&sample.pooled());
                assert!(ci.low < m && m < ci.high, "{ci:?} vs {m}");
                ci.high - ci.low
            })
            .collect();
        println!("hierarchical CI widths for between-repetition sd 0%, 2%, 10%: {widths:?}");
        assert!(widths[0] < widths[1] && widths[1] < widths[2], "{widths:?}");
        // 10% between-repetition sd over 8 repetitions: sd of the mean about
        // 10 / sqrt(8) = 3.5, so a 95% width of about 14 (loosely: 7 to 25).
        assert!(widths[2] > 7.0 && widths[2] < 25.0, "{widths:?}");
        // The one-level bootstrap of the pooled values is far narrower there.
        let sample = repeated(8, 30, 100.0, 0.10, 0.02, 5);
        let pooled = bootstrap_ci(&sample.pooled(), mean_of, 1000, 0.95, 1).unwrap();
        assert!(pooled.high - pooled.low < widths[2] / 2.0, "{pooled:?}");
    }

    #[test]
    fn covers_the_true_mean_roughly_as_often_as_it_claims() {
        // 8 repetitions with a 5% between-repetition sd: the nominal 95% interval
        // contains the true mean (100) in most seeds. Loose: the bootstrap's
        // (k - 1) / k shrinkage and the doubled within part pull in opposite
        // directions, and 100 seeds give a standard error of about 2 points.
        let mut covered = 0;
        for seed in 0..100 {
            let sample = repeated(8, 20, 100.0, 0.05, 0.02, 500 + seed);
            let ci = hierarchical_ci(&sample, Statistic::Mean, 400, 0.95, seed);
            covered += usize::from(ci.low <= 100.0 && 100.0 <= ci.high);
        }
        println!("hierarchical CI coverage of the true mean: {covered} of 100");
        assert!((82..=100).contains(&covered), "{covered} of 100");
    }

    #[test]
    fn ratio_and_its_interval() {
        let base = repeated(6, 20, 100.0, 0.02, 0.02, 1);
        let slower = repeated(6, 20, 120.0, 0.02, 0.02, 2);
        let r = hierarchical_ratio(&base, &slower, Statistic::Mean, 9).unwrap();
        let expected =
            crate::summary::mean(&slower.pooled()) / crate::summary::mean(&base.pooled());
        assert!((r.ratio - expected).abs() < 1e-12, "{r:?}");
        assert!(r.ci.low <= r.ratio && r.ratio <= r.ci.high, "{r:?}");
        assert!(r.ci.low > 1.1 && r.ci.high < 1.3, "{r:?}");
        assert_eq!((r.statistic, r.ci.level), (Statistic::Mean, DEFAULT_LEVEL));
        assert_eq!(
            r,
            hierarchical_ratio(&base, &slower, Statistic::Mean, 9).unwrap()
        );
        let r = hierarchical_ratio(&base, &slower, Statistic::Median, 9).unwrap();
        assert_eq!(r.statistic, Statistic::Median);
        assert!(r.ci.low <= r.ratio && r.ratio <= r.ci.high, "{r:?}");
        let zero = Repeated::new(vec![vec![0.0, 0.0], vec![0.0]]).unwrap();
        assert_eq!(
            hierarchical_ratio(&zero, &base, Statistic::Mean, 1),
            Err(StatsError::ZeroBaseline)
        );
    }

    #[test]
    fn seeded() {
        let sample = repeated(4, 10, 50.0, 0.05, 0.02, 1);
        let a = hierarchical_ci(&sample, Statistic::Median, 300, 0.95, 1);
        assert_eq!(a, hierarchical_ci(&sample, Statistic::Median, 300, 0.95, 1));
        assert_ne!(a, hierarchical_ci(&sample, Statistic::Median, 300, 0.95, 2));
    }
}
