//! How much of an environment's spread lies between repetitions, and which
//! repetition is unlike the others.
//!
//! [`variance_components`] is the one-way random-effects analysis of variance
//! with repetitions as groups: for `k` repetitions of `n_i` values (`N` in
//! all), repetition means `m_i` and grand mean `m`,
//!
//! - `MSB = Σ n_i (m_i - m)² / (k - 1)` (between repetitions),
//! - `MSW = Σ_i Σ_j (x_ij - m_i)² / (N - k)` (within repetitions),
//! - `n0 = (N - Σ n_i² / N) / (k - 1)` (the mean group size, adjusted for unbalanced groups),
//! - `σ_w² = MSW` and `σ_b² = max(0, (MSB - MSW) / n0)`,
//! - the intraclass correlation `ICC = σ_b² / (σ_b² + σ_w²)`.
//!
//! An ICC near 1 says the repetitions differ by much more than their
//! iterations: the repetition is what varies, and more iterations per
//! repetition will not narrow the comparison; more repetitions will.

use serde::{Deserialize, Serialize};

use crate::outliers::{modified_z_scores, OUTLIER_THRESHOLD};
use crate::sample::Repeated;
use crate::summary::{mean, median_in_place};

/// One-way random-effects decomposition of an environment's samples (repetitions as groups).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VarianceComponents {
    /// Number of repetitions.
    pub repetitions: usize,
    /// Estimated between-repetition variance `σ_b²` (ANOVA estimator, clipped at 0), unit².
    pub between: f64,
    /// Pooled within-repetition variance `σ_w²` (the within mean square), unit².
    pub within: f64,
    /// Intraclass correlation, `between / (between + within)`; 0 when both are 0.
    pub icc: f64,
    /// Mean of each repetition.
    pub repetition_means: Vec<f64>,
}

/// Variance components of `sample` (see the module documentation); `None` with
/// fewer than 2 repetitions.
///
/// Handles unbalanced repetitions (through `n0`) and single-value repetitions:
/// those add nothing to the within-repetition variance, which comes from the
/// other repetitions (0 if every repetition holds one value).
pub fn variance_components(sample: &Repeated) -> Option<VarianceComponents> {
    let k = sample.len();
    if k < 2 {
        return None;
    }
    let repetitions = sample.repetitions();
    let repetition_means: Vec<f64> = repetitions.iter().map(|r| mean(r)).collect();
    let sizes: Vec<f64> = repetitions.iter().map(|r| r.len() as f64).collect();
    let total: f64 = sizes.iter().sum();
    let grand_mean = repetitions.iter().flatten().sum::<f64>() / total;

    let ss_between: f64 = sizes
        .iter()
        .zip(&repetition_means)
        .map(|(n, m)| n * (m - grand_mean).powi(2))
        .sum();
    let ss_within: f64 = repetitions
        .iter()
        .zip(&repetition_means)
        .map(|(r, m)| r.iter().map(|x| (x - m).powi(2)).sum::<f64>())
        .sum();
    let df_within = total - k as f64;
    let ms_between = ss_between / (k - 1) as f64;
    let within = if df_within > 0.0 {
        ss_within / df_within
    } else {
        0.0
    };
    let n0 = (total - sizes.iter().map(|n| n * n).sum::<f64>() / total) / (k - 1) as f64;
    let between = ((ms_between - within) / n0).max(0.0);
    let icc = if between + within > 0.0 {
        between / (between + within)
    } else {
        0.0
    };
    Some(VarianceComponents {
        repetitions: k,
        between,
        within,
        icc,
        repetition_means,
    })
}

/// Indices of repetitions whose statistic is an outlier among its environment's
/// repetitions: |modified z-score| > [`OUTLIER_THRESHOLD`] (see [`crate::outliers`])
/// *and* `|x - median| / |median| > min_relative`, so that a tight set of
/// repetitions does not flag a difference too small to matter.
///
/// Needs at least 3 values (else empty). With a median of 0 any value away
/// from it passes the relative test.
pub fn repetition_outliers(values: &[f64], min_relative: f64) -> Vec<usize> {
    if values.len() < 3 {
        return Vec::new();
    }
    let median = median_in_place(&mut values.to_vec());
    modified_z_scores(values)
        .iter()
        .zip(values)
        .enumerate()
        .filter(|(_, (z, x))| {
            z.abs() > OUTLIER_THRESHOLD && (*x - median).abs() / median.abs() > min_relative
        })
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::repeated;

    #[test]
    fn matches_anova_by_formula_on_unbalanced_data() {
        // numpy 2.4.6, one-way ANOVA by formula:
        //   g = [np.array([10.0, 12.0, 11.0]), np.array([15.0, 14.0]), np.array([9.0]),
        //        np.array([13.0, 12.5, 13.5, 12.0])]
        //   N = sum(map(len, g)); k = len(g); m = np.concatenate(g).mean()
        //   msb = sum(len(x) * (x.mean() - m)**2 for x in g) / (k - 1)
        //   msw = sum(((x - x.mean())**2).sum() for x in g) / (N - k)
        //   n0 = (N - sum(len(x)**2 for x in g) / N) / (k - 1)
        //   sb = max(0, (msb - msw) / n0)
        //   -> msw 0.625, sb 3.496428571428571, icc 0.8483535528596187
        let sample = Repeated::new(vec![
            vec![10.0, 12.0, 11.0],
            vec![15.0, 14.0],
            vec![9.0],
            vec![13.0, 12.5, 13.5, 12.0],
        ])
        .unwrap();
        let v = variance_components(&sample).unwrap();
        assert_eq!(v.repetitions, 4);
        assert!((v.within - 0.625).abs() < 1e-12, "{v:?}");
        assert!((v.between - 3.496428571428571).abs() < 1e-12, "{v:?}");
        assert!((v.icc - 0.8483535528596187).abs() < 1e-12, "{v:?}");
        assert_eq!(v.repetition_means, vec![11.0, 14.5, 9.0, 12.75]);
    }

    #[test]
    fn edge_cases() {
        assert_eq!(
            variance_components(&Repeated::new(vec![vec![1.0, 2.0]]).unwrap()),
            None
        );
        // Only single-value repetitions: no within-repetition variance to estimate;
        // n0 = 1 and the between variance is the sample variance of the values.
        let v = variance_components(&Repeated::new(vec![vec![1.0], vec![3.0]]).unwrap()).unwrap();
        assert_eq!((v.within, v.between, v.icc), (0.0, 2.0, 1.0));
        // Identical repetitions: nothing varies, ICC 0 rather than NaN.
        let same = Repeated::new(vec![vec![5.0, 5.0], vec![5.0, 5.0]]).unwrap();
        let v = variance_components(&same).unwrap();
        assert_eq!((v.within, v.between, v.icc), (0.0, 0.0, 0.0));
        // Repetition means closer than their noise implies: between clipped at 0.
        let close = Repeated::new(vec![vec![1.0, 9.0], vec![2.0, 8.0]]).unwrap();
        let v = variance_components(&close).unwrap();
        assert_eq!((v.between, v.icc), (0.0, 0.0));
        assert!((v.within - 25.0).abs() < 1e-12, "{v:?}");
    }

    #[test]
    fn recovers_simulated_components() {
        // mu 100, between sd 5% (variance 25), within sd 2% (variance about 4):
        // 40 repetitions pin sigma_b^2 down to within about +-25% (its standard
        // error is about sigma_b^2 * sqrt(2 / 39)).
        let sample = repeated(40, 30, 100.0, 0.05, 0.02, 3);
        let v = variance_components(&sample).unwrap();
        println!(
            "simulated variance components (true between 25, within ~4): between {:.2}, \
             within {:.2}, ICC {:.3}",
            v.between, v.within, v.icc
        );
        assert!((v.within / 4.0 - 1.0).abs() < 0.15, "{v:?}");
        assert!(v.between > 25.0 * 0.5 && v.between < 25.0 * 1.6, "{v:?}");
        assert!(v.icc > 0.7, "{v:?}");
    }

    #[test]
    fn flags_a_repetition_unlike_the_others() {
        assert_eq!(repetition_outliers(&[271.0, 277.0, 509.0], 0.05), vec![2]);
        assert!(repetition_outliers(&[296.6, 263.4, 272.6], 0.05).is_empty());
        // Far out in z-score but within 5% of the median: not flagged.
        let tight = [100.0, 100.1, 99.9, 100.0, 104.0];
        assert_eq!(repetition_outliers(&tight, 0.0), vec![4]);
        assert!(repetition_outliers(&tight, 0.05).is_empty());
        assert!(repetition_outliers(&[1.0, 100.0], 0.05).is_empty());
    }
}
