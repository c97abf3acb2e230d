//! Bootstrap confidence intervals (percentile method).
//!
//! Resamples are drawn with replacement from a `ChaCha8Rng` seeded with the
//! caller's seed; the interval's bounds are the `(1 - level) / 2` and
//! `(1 + level) / 2` percentiles (linear interpolation) of the resampled statistic.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::summary::{check, mean, percentile_sorted};
use crate::{Interval, Ratio, StatsError};

/// Resamples used by [`crate::Summary`] and [`ratio_of_means_ci`].
pub const DEFAULT_RESAMPLES: usize = 2000;
/// Confidence level used by default.
pub const DEFAULT_LEVEL: f64 = 0.95;

/// Bootstrap confidence interval of `statistic` over `samples`.
///
/// `statistic` receives a resample it may reorder. With one sample (or zero
/// `resamples`) the interval collapses to the statistic of the data.
pub fn bootstrap_ci<F>(
    samples: &[f64],
    mut statistic: F,
    resamples: usize,
    level: f64,
    seed: u64,
) -> Result<Interval, StatsError>
where
    F: FnMut(&mut [f64]) -> f64,
{
    check(samples)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut buf = samples.to_vec();
    if samples.len() == 1 || resamples == 0 {
        let v = statistic(&mut buf);
        return Ok(Interval {
            low: v,
            high: v,
            level,
        });
    }
    let mut stats = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for slot in buf.iter_mut() {
            *slot = samples[rng.gen_range(0..samples.len())];
        }
        stats.push(statistic(&mut buf));
    }
    Ok(interval_of(stats, level))
}

/// Percentile interval of a bootstrap distribution.
pub(crate) fn interval_of(mut stats: Vec<f64>, level: f64) -> Interval {
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0 * 100.0;
    Interval {
        low: percentile_sorted(&stats, tail),
        high: percentile_sorted(&stats, 100.0 - tail),
        level,
    }
}

/// Ratio `mean(other) / mean(baseline)` with a 95% bootstrap CI: each resample
/// draws both groups independently with replacement ([`DEFAULT_RESAMPLES`] times).
/// `significant` is true when the interval excludes 1.0.
///
/// Errors when either set is empty or not finite, or when the baseline's mean is 0.
pub fn ratio_of_means_ci(baseline: &[f64], other: &[f64], seed: u64) -> Result<Ratio, StatsError> {
    check(baseline)?;
    check(other)?;
    let base_mean = mean(baseline);
    if base_mean == 0.0 {
        return Err(StatsError::ZeroBaseline);
    }
    let ratio = mean(other) / base_mean;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = Vec::with_capacity(DEFAULT_RESAMPLES);
    for _ in 0..DEFAULT_RESAMPLES {
        let b = resampled_mean(baseline, &mut rng);
        let o = resampled_mean(other, &mut rng);
        // A resampled baseline mean of 0 needs all-zero draws from a set whose mean is not 0:
        // skip such a draw rather than produce an infinity.
        if b != 0.0 {
            stats.push(o / b);
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
        significant: ci.low > 1.0 || ci.high < 1.0,
    })
}

/// Mean of one with-replacement resample of `samples`.
pub(crate) fn resampled_mean(samples: &[f64], rng: &mut ChaCha8Rng) -> f64 {
    let n = samples.len();
    (0..n).map(|_| samples[rng.gen_range(0..n)]).sum::<f64>() / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{mean_of, median_in_place};
    use crate::testdata::normal;

    // scipy.stats.bootstrap((x,), np.mean, method='percentile', n_resamples=200000) on the
    // fixed data set of summary.rs gives (11.66, 14.87); np.median gives (11.975, 12.225).
    const DATA: [f64; 20] = [
        12.1, 11.8, 12.4, 12.0, 11.9, 12.3, 12.2, 30.5, 12.0, 11.7, 12.6, 12.1, 11.95, 12.05,
        12.25, 9.0, 12.15, 11.85, 12.35, 12.0,
    ];

    #[test]
    fn agrees_with_scipy_bootstrap() {
        let ci = bootstrap_ci(&DATA, mean_of, 50_000, 0.95, 3).unwrap();
        assert!((ci.low - 11.66).abs() < 0.08, "{ci:?}");
        assert!((ci.high - 14.87).abs() < 0.12, "{ci:?}");
        let ci = bootstrap_ci(&DATA, median_in_place, 50_000, 0.95, 3).unwrap();
        assert!((ci.low - 11.975).abs() < 0.03, "{ci:?}");
        assert!((ci.high - 12.225).abs() < 0.03, "{ci:?}");
    }

    #[test]
    fn mean_ci_width_matches_normal_theory() {
        // For n normal samples the 95% CI of the mean is about +-1.96 s / sqrt(n).
        let x = normal(400, 100.0, 10.0, 11);
        let m = mean(&x);
        let s = crate::summary::sample_std(&x, m);
        let ci = bootstrap_ci(&x, mean_of, 4000, 0.95, 5).unwrap();
        let expected = 2.0 * 1.96 * s / (x.len() as f64).sqrt();
        let width = ci.high - ci.low;
        assert!(
            (width / expected - 1.0).abs() < 0.1,
            "width {width}, theory {expected}"
        );
        assert!(ci.low < m && m < ci.high);
    }

    #[test]
    fn ratio_detects_a_shift_and_not_its_absence() {
        let base = normal(200, 100.0, 5.0, 1);
        let slower = normal(200, 110.0, 5.0, 2);
        let same = normal(200, 100.0, 5.0, 3);
        let r = ratio_of_means_ci(&base, &slower, 9).unwrap();
        assert!(
            r.significant && r.ci.low > 1.05 && r.ci.high < 1.15,
            "{r:?}"
        );
        assert!(r.ci.low <= r.ratio && r.ratio <= r.ci.high);
        let r = ratio_of_means_ci(&base, &same, 9).unwrap();
        assert!(!r.significant, "{r:?}");
        assert_eq!(
            ratio_of_means_ci(&[0.0, 0.0], &same, 1),
            Err(StatsError::ZeroBaseline)
        );
        assert_eq!(ratio_of_means_ci(&[], &same, 1), Err(StatsError::Empty));
    }

    #[test]
    fn seeded() {
        let a = bootstrap_ci(&DATA, mean_of, 500, 0.95, 1).unwrap();
        assert_eq!(a, bootstrap_ci(&DATA, mean_of, 500, 0.95, 1).unwrap());
        assert_ne!(a, bootstrap_ci(&DATA, mean_of, 500, 0.95, 2).unwrap());
    }
}
