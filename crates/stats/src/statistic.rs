//! The statistic that summarises a set of values: mean or median.

use serde::{Deserialize, Serialize};

use crate::summary::{mean, median_in_place};

/// The statistic that summarises a set of values (and whose difference is tested).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// Arithmetic mean.
    #[default]
    Mean,
    /// Median (the mean of the two middle values for an even count).
    Median,
}

impl Statistic {
    /// The statistic of non-empty `samples` (reorders them for the median).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_median_and_names() {
        assert_eq!(Statistic::Mean.of(&mut [1.0, 2.0, 6.0]), 3.0);
        assert_eq!(Statistic::Median.of(&mut [1.0, 6.0, 2.0, 3.0]), 2.5);
        assert_eq!(Statistic::default(), Statistic::Mean);
        assert_eq!(Statistic::Median.as_str(), "median");
        assert_eq!(
            serde_json::to_string(&Statistic::Median).unwrap(),
            "\"median\""
        );
    }
}
