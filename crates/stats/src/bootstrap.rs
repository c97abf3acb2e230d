//! Bootstrap confidence intervals (percentile method) of one set of
//! independent samples, e.g. the iterations of one repetition. Samples grouped
//! by repetition need the two-level bootstrap of [`crate::hierarchical`].
//!
//! Resamples are drawn with replacement from a `ChaCha8Rng` seeded with the
//! caller's seed; the interval's bounds are the `(1 - level) / 2` and
//! `(1 + level) / 2` percentiles of the resampled statistic, interpolated
//! linearly between the two closest resampled values (numpy's default
//! `method="linear"`). Interpolating is right here, unlike for reported
//! percentiles: the bounds estimate quantiles of a continuous distribution
//! from a few thousand draws, not a measured value.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::summary::{check, linear_percentile_sorted};
use crate::{Interval, StatsError};

/// Resamples used by [`crate::Summary`] and the two-level bootstrap.
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

/// Percentile interval of a non-empty bootstrap distribution (bounds by linear
/// interpolation, see the module documentation).
pub(crate) fn interval_of(mut stats: Vec<f64>, level: f64) -> Interval {
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0 * 100.0;
    Interval {
        low: linear_percentile_sorted(&stats, tail),
        high: linear_percentile_sorted(&stats, 100.0 - tail),
        level,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{mean, mean_of, median_in_place};
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
    fn seeded() {
        let a = bootstrap_ci(&DATA, mean_of, 500, 0.95, 1).unwrap();
        assert_eq!(a, bootstrap_ci(&DATA, mean_of, 500, 0.95, 1).unwrap());
        assert_ne!(a, bootstrap_ci(&DATA, mean_of, 500, 0.95, 2).unwrap());
    }
}
