//! Outlier detection by modified z-score (Iglewicz & Hoaglin), the median/MAD
//! method hyperfine uses.
//!
//! `M_i = 0.6745 * (x_i - median) / MAD`, where MAD is the median absolute
//! deviation from the median; a sample is an outlier when `|M_i| >`
//! [`OUTLIER_THRESHOLD`]. Latencies in whole microseconds often have MAD = 0
//! (more than half the samples equal); then the mean absolute deviation is used,
//! `M_i = (x_i - median) / (1.253314 * MeanAD)`, and when that is 0 too every
//! sample is equal and none is an outlier. (hyperfine itself uses a looser
//! cut-off of 10 robust standard deviations.)

use crate::summary::median_in_place;

/// Modified z-score above which a sample is flagged (Iglewicz & Hoaglin's 3.5).
pub const OUTLIER_THRESHOLD: f64 = 3.5;

/// Modified z-scores of `samples` (empty input gives an empty vector).
pub fn modified_z_scores(samples: &[f64]) -> Vec<f64> {
    if samples.is_empty() {
        return Vec::new();
    }
    let median = median_in_place(&mut samples.to_vec());
    let mut deviations: Vec<f64> = samples.iter().map(|x| (x - median).abs()).collect();
    let mean_ad = deviations.iter().sum::<f64>() / deviations.len() as f64;
    let mad = median_in_place(&mut deviations);
    let scale = if mad > 0.0 {
        mad / 0.6745
    } else if mean_ad > 0.0 {
        1.253314 * mean_ad
    } else {
        return vec![0.0; samples.len()];
    };
    samples.iter().map(|x| (x - median) / scale).collect()
}

/// Indices of the samples whose |modified z-score| exceeds [`OUTLIER_THRESHOLD`].
pub fn mad_outliers(samples: &[f64]) -> Vec<usize> {
    modified_z_scores(samples)
        .iter()
        .enumerate()
        .filter(|(_, z)| z.abs() > OUTLIER_THRESHOLD)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_the_planted_outliers() {
        // numpy: med = 12.075, MAD = 0.175; 0.6745*(x-med)/MAD > 3.5 at indices [7, 15].
        let data = [
            12.1, 11.8, 12.4, 12.0, 11.9, 12.3, 12.2, 30.5, 12.0, 11.7, 12.6, 12.1, 11.95, 12.05,
            12.25, 9.0, 12.15, 11.85, 12.35, 12.0,
        ];
        assert_eq!(mad_outliers(&data), vec![7, 15]);
        let z = modified_z_scores(&data);
        assert!(
            (z[7] - 0.6745 * (30.5 - 12.075) / 0.175).abs() < 1e-9,
            "{}",
            z[7]
        );
    }

    #[test]
    fn zero_mad_uses_mean_deviation_and_constant_data_has_none() {
        // 7 of 10 equal: MAD = 0. MeanAD = (1 + 1 + 40) / 10 = 4.2 -> z(52) = 40 / 5.26 = 7.6.
        let data = [12.0, 12.0, 12.0, 13.0, 12.0, 12.0, 11.0, 12.0, 52.0, 12.0];
        assert_eq!(mad_outliers(&data), vec![8]);
        assert!(mad_outliers(&[3.0; 8]).is_empty());
        assert!(mad_outliers(&[]).is_empty());
    }
}
