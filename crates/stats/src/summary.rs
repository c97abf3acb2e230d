//! Descriptive statistics of one sample set.
//!
//! # Percentiles
//!
//! Batch and serving percentiles share one definition, the **nearest rank**:
//! for sorted samples `x[0..n]` and `p` in `(0, 100]`, the `p`-th percentile is
//! `x[ceil(p / 100 * n) - 1]`, the smallest sample such that at least `p`% of
//! the samples are at or below it (`p = 0` gives `x[0]`). It is always one of
//! the measured values, never an interpolation between two. This is numpy's
//! `np.percentile(x, p, method="inverted_cdf")` (Hyndman & Fan type 1), and what
//! an HDR histogram's `value_at_quantile(p / 100)` returns for serving latencies
//! (there at the histogram's 3 significant digits). `p / 100 * n` is computed
//! in that order, as numpy and HDR histograms do, so ranks that land on an
//! integer agree with both.
//!
//! The median is the ordinary one (the mean of the two middle values for an
//! even count), not the nearest-rank 50th percentile. Bootstrap interval bounds
//! are a different matter: they interpolate linearly between the resampled
//! statistics (see [`crate::bootstrap`]).

use serde::{Deserialize, Serialize};

use crate::bootstrap::{bootstrap_ci, DEFAULT_LEVEL, DEFAULT_RESAMPLES};
use crate::outliers::mad_outliers;
use crate::{Interval, StatsError};

/// Summary of a sample set: moments, order statistics, bootstrap CIs and outliers.
///
/// The CIs come from the one-level bootstrap, which treats the samples as
/// independent: right for the iterations of one repetition, too narrow for all
/// of an environment's iterations pooled across repetitions (use
/// [`crate::hierarchical_ci`] on a [`crate::Repeated`] sample for those).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (divides by `n - 1`; 0 for a single sample).
    pub std: f64,
    /// Coefficient of variation, `std / mean` (0 when the mean is 0).
    pub cv: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Median (the mean of the two middle samples for an even count).
    pub median: f64,
    /// 90th percentile (nearest rank, see the module documentation).
    pub p90: f64,
    /// 95th percentile (nearest rank).
    pub p95: f64,
    /// 99th percentile (nearest rank); see [`Summary::p99_is_reliable`].
    pub p99: f64,
    /// Bootstrap (percentile method) 95% confidence interval of the mean.
    pub mean_ci: Interval,
    /// Bootstrap (percentile method) 95% confidence interval of the median.
    pub median_ci: Interval,
    /// Indices of samples flagged as outliers (modified z-score, see [`crate::outliers`]).
    pub outliers: Vec<usize>,
}

impl Summary {
    /// Summarises `samples`; the bootstrap CIs use [`DEFAULT_RESAMPLES`] resamples drawn
    /// from a ChaCha8 generator seeded with `seed`, so the same input gives the same output.
    pub fn from_samples(samples: &[f64], seed: u64) -> Result<Summary, StatsError> {
        check(samples)?;
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = samples.len();
        let mean = mean(samples);
        let std = sample_std(samples, mean);
        let cv = if mean == 0.0 { 0.0 } else { std / mean };
        // Different derived seeds so the two intervals use independent resamples.
        let mean_ci = bootstrap_ci(samples, mean_of, DEFAULT_RESAMPLES, DEFAULT_LEVEL, seed)?;
        let median_ci = bootstrap_ci(
            samples,
            median_in_place,
            DEFAULT_RESAMPLES,
            DEFAULT_LEVEL,
            seed ^ 0x9E37_79B9_7F4A_7C15,
        )?;
        Ok(Summary {
            n,
            mean,
            std,
            cv,
            min: sorted[0],
            max: sorted[n - 1],
            median: median_sorted(&sorted),
            p90: percentile_sorted(&sorted, 90.0),
            p95: percentile_sorted(&sorted, 95.0),
            p99: percentile_sorted(&sorted, 99.0),
            mean_ci,
            median_ci,
            outliers: mad_outliers(samples),
        })
    }

    /// True with at least 100 samples. Below that the nearest-rank p99 is the
    /// largest sample or next to it: one slow iteration, not a tail estimate.
    pub fn p99_is_reliable(&self) -> bool {
        self.n >= 100
    }
}

/// Returns an error when `samples` is empty or holds a NaN / infinite value.
pub(crate) fn check(samples: &[f64]) -> Result<(), StatsError> {
    if samples.is_empty() {
        return Err(StatsError::Empty);
    }
    match samples.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(StatsError::NotFinite { index }),
        None => Ok(()),
    }
}

/// The `p`-th percentile (`p` in `[0, 100]`, clamped) of `samples` by nearest
/// rank: `x[ceil(p / 100 * n) - 1]` of the sorted samples, `x[0]` for `p = 0`
/// (numpy's `method="inverted_cdf"`, HDR histograms' `value_at_quantile`; see
/// the module documentation).
pub fn percentile(samples: &[f64], p: f64) -> Result<f64, StatsError> {
    check(samples)?;
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    Ok(percentile_sorted(&sorted, p))
}

/// [`percentile`] (nearest rank) of already sorted, non-empty, finite samples.
pub(crate) fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    debug_assert!(n > 0);
    // Same arithmetic as numpy (`q = p / 100`, then `n * q`) and HDR histograms.
    let rank = (p.clamp(0.0, 100.0) / 100.0 * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// Median of already sorted, non-empty samples.
fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The `p`-th percentile by linear interpolation between the closest ranks
/// (numpy's default `method="linear"`, Hyndman & Fan type 7) of already sorted,
/// non-empty samples: `h = (n - 1) * p / 100`, then
/// `x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])`.
/// Used only for the bounds of bootstrap intervals.
pub(crate) fn linear_percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    debug_assert!(n > 0);
    let h = (n - 1) as f64 * (p.clamp(0.0, 100.0) / 100.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Arithmetic mean of non-empty samples.
pub(crate) fn mean(samples: &[f64]) -> f64 {
    samples.iter().sum::<f64>() / samples.len() as f64
}

/// [`mean`] in the shape the resampling functions take.
pub(crate) fn mean_of(samples: &mut [f64]) -> f64 {
    mean(samples)
}

/// Sample standard deviation (n - 1 in the denominator), 0 for one sample.
pub(crate) fn sample_std(samples: &[f64], mean: f64) -> f64 {
    if samples.len() < 2 {
        return 0.0;
    }
    let ss: f64 = samples.iter().map(|x| (x - mean).powi(2)).sum();
    (ss / (samples.len() - 1) as f64).sqrt()
}

/// Median of non-empty samples; reorders the slice (selection, O(n)).
pub(crate) fn median_in_place(samples: &mut [f64]) -> f64 {
    let n = samples.len();
    let mid = n / 2;
    let (lower, upper, _) = samples.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        let lower_max = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower_max + upper) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed data set with two outliers (index 7 high, index 15 low).
    pub(crate) const DATA: [f64; 20] = [
        12.1, 11.8, 12.4, 12.0, 11.9, 12.3, 12.2, 30.5, 12.0, 11.7, 12.6, 12.1, 11.95, 12.05,
        12.25, 9.0, 12.15, 11.85, 12.35, 12.0,
    ];

    // Known answers computed independently with numpy 2.4.6 / scipy 1.17.1:
    //   python3 -m venv /tmp/v && /tmp/v/bin/pip install numpy scipy
    //   x = np.array(DATA); x.mean(); x.std(ddof=1); np.median(x)
    //   np.percentile(x, [90, 95, 99, 25], method='inverted_cdf') -> [12.4, 12.6, 30.5, 11.9]
    //   scipy.stats.bootstrap((x,), np.mean, method='percentile', n_resamples=200000)
    //     -> mean CI (11.66, 14.87); with np.median -> (11.975, 12.225)
    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn matches_numpy_on_fixed_data() {
        let s = Summary::from_samples(&DATA, 7).unwrap();
        assert_eq!(s.n, 20);
        assert!(close(s.mean, 12.860000000000003, 1e-12), "{}", s.mean);
        assert!(close(s.std, 4.214654883792228, 1e-12), "{}", s.std);
        assert!(close(s.cv, 0.3277336612591156, 1e-12), "{}", s.cv);
        assert!(close(s.median, 12.075, 1e-12), "{}", s.median);
        assert_eq!((s.p90, s.p95, s.p99), (12.4, 12.6, 30.5));
        assert_eq!((s.min, s.max), (9.0, 30.5));
        assert_eq!(percentile(&DATA, 25.0).unwrap(), 11.9);
        assert!(!s.p99_is_reliable());
        assert_eq!(s.outliers, vec![7, 15]);
        // 2000 resamples: the bounds wobble around scipy's 200000-resample answer.
        assert!(close(s.mean_ci.low, 11.66, 0.25), "{:?}", s.mean_ci);
        assert!(close(s.mean_ci.high, 14.87, 0.35), "{:?}", s.mean_ci);
        assert!(close(s.median_ci.low, 11.975, 0.051), "{:?}", s.median_ci);
        assert!(close(s.median_ci.high, 12.225, 0.051), "{:?}", s.median_ci);
        assert_eq!(s.mean_ci.level, 0.95);
    }

    #[test]
    fn same_seed_same_answer_and_serde_round_trip() {
        let a = Summary::from_samples(&DATA, 1).unwrap();
        assert_eq!(a, Summary::from_samples(&DATA, 1).unwrap());
        let json = serde_json::to_string(&a).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        // serde_json parses floats to within one ulp unless its `float_roundtrip` feature is on.
        assert_eq!((back.n, &back.outliers), (a.n, &a.outliers));
        for (x, y) in [
            (a.mean, back.mean),
            (a.p99, back.p99),
            (a.mean_ci.high, back.mean_ci.high),
        ] {
            assert!((x - y).abs() <= 1e-14 * x.abs(), "{x} vs {y}");
        }
        // A constant sample set has mean != 0 and std 0; all-zero samples must not give NaN
        // (NaN is written as null in JSON and would not load back).
        let zeros = Summary::from_samples(&[0.0, 0.0, 0.0], 1).unwrap();
        let back: Summary = serde_json::from_str(&serde_json::to_string(&zeros).unwrap()).unwrap();
        assert_eq!(back.cv, 0.0);
    }

    #[test]
    fn single_sample_and_bad_input() {
        let s = Summary::from_samples(&[5.0], 0).unwrap();
        assert_eq!((s.mean, s.std, s.median, s.p99), (5.0, 0.0, 5.0, 5.0));
        assert_eq!((s.mean_ci.low, s.mean_ci.high), (5.0, 5.0));
        assert!(s.outliers.is_empty());
        assert_eq!(Summary::from_samples(&[], 0), Err(StatsError::Empty));
        assert_eq!(
            Summary::from_samples(&[1.0, f64::NAN], 0),
            Err(StatsError::NotFinite { index: 1 })
        );
        assert_eq!(percentile(&[], 50.0), Err(StatsError::Empty));
    }

    #[test]
    fn nearest_rank_percentiles_match_numpy_inverted_cdf() {
        // x = np.array([3, 1, 4, 1, 5, 9, 2, 6.5])
        // np.percentile(x, [0, 1, 12.5, 25, 37.5, 50, 62.5, 90, 99, 100], method='inverted_cdf')
        //   -> [1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 9.0, 9.0, 9.0]; np.median(x) -> 3.5
        let x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.5];
        let ps = [0.0, 1.0, 12.5, 25.0, 37.5, 50.0, 62.5, 90.0, 99.0, 100.0];
        let expected = [1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 9.0, 9.0, 9.0];
        for (p, e) in ps.iter().zip(expected) {
            assert_eq!(percentile(&x, *p).unwrap(), e, "p{p}");
        }
        // The median stays the ordinary one, not the nearest-rank 50th percentile.
        assert_eq!(Summary::from_samples(&x, 0).unwrap().median, 3.5);
        // np.percentile(np.arange(1, 101.), [99, 99.5, 95, 50, 1], method='inverted_cdf')
        //   -> [99.0, 100.0, 95.0, 50.0, 1.0]: ranks landing on an integer are not rounded up.
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        for (p, e) in [
            (99.0, 99.0),
            (99.5, 100.0),
            (95.0, 95.0),
            (50.0, 50.0),
            (1.0, 1.0),
        ] {
            assert_eq!(percentile(&hundred, p).unwrap(), e, "p{p}");
        }
        let s = Summary::from_samples(&hundred, 0).unwrap();
        assert!(s.p99_is_reliable());
        assert_eq!((s.p90, s.p95, s.p99, s.median), (90.0, 95.0, 99.0, 50.5));
    }

    #[test]
    fn median_in_place_even_and_odd() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
