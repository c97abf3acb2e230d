//! Measurements grouped by repetition.
//!
//! A repetition (one fresh container, VM or process) is the experimental unit;
//! its iterations are repeated measures of it. [`Repeated`] keeps that grouping
//! so the statistics built on it can treat the repetition as the unit of
//! replication.

use crate::statistic::Statistic;
use crate::StatsError;

/// Measurements grouped by repetition: each inner vector holds one repetition's iterations.
#[derive(Debug, Clone, PartialEq)]
pub struct Repeated {
    repetitions: Vec<Vec<f64>>,
}

impl Repeated {
    /// Validates: at least one repetition, each with at least one value, all finite.
    ///
    /// Errors with [`StatsError::Empty`] when there is no repetition,
    /// [`StatsError::EmptyRepetition`] when one holds no value and
    /// [`StatsError::NotFiniteIn`] on a NaN or infinite value.
    pub fn new(repetitions: Vec<Vec<f64>>) -> Result<Self, StatsError> {
        if repetitions.is_empty() {
            return Err(StatsError::Empty);
        }
        for (repetition, values) in repetitions.iter().enumerate() {
            if values.is_empty() {
                return Err(StatsError::EmptyRepetition { repetition });
            }
            if let Some(index) = values.iter().position(|x| !x.is_finite()) {
                return Err(StatsError::NotFiniteIn { repetition, index });
            }
        }
        Ok(Repeated { repetitions })
    }

    /// The repetitions, each a vector of its iterations' values.
    pub fn repetitions(&self) -> &[Vec<f64>] {
        &self.repetitions
    }

    /// Number of repetitions.
    pub fn len(&self) -> usize {
        self.repetitions.len()
    }

    /// Always false: a [`Repeated`] holds at least one repetition.
    pub fn is_empty(&self) -> bool {
        self.repetitions.is_empty()
    }

    /// Every value, repetition after repetition.
    pub fn pooled(&self) -> Vec<f64> {
        self.repetitions.iter().flatten().copied().collect()
    }

    /// The statistic (mean or median) of each repetition's values.
    pub fn repetition_stats(&self, statistic: Statistic) -> Vec<f64> {
        self.repetitions
            .iter()
            .map(|values| statistic.of(&mut values.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_and_summarises() {
        let r = Repeated::new(vec![vec![1.0, 2.0, 6.0], vec![4.0], vec![3.0, 5.0]]).unwrap();
        assert_eq!((r.len(), r.is_empty()), (3, false));
        assert_eq!(r.repetitions()[2], vec![3.0, 5.0]);
        assert_eq!(r.pooled(), vec![1.0, 2.0, 6.0, 4.0, 3.0, 5.0]);
        assert_eq!(r.repetition_stats(Statistic::Mean), vec![3.0, 4.0, 4.0]);
        assert_eq!(r.repetition_stats(Statistic::Median), vec![2.0, 4.0, 4.0]);

        assert_eq!(Repeated::new(vec![]), Err(StatsError::Empty));
        assert_eq!(
            Repeated::new(vec![vec![1.0], vec![]]),
            Err(StatsError::EmptyRepetition { repetition: 1 })
        );
        assert_eq!(
            Repeated::new(vec![vec![1.0], vec![2.0, 3.0, f64::INFINITY]]),
            Err(StatsError::NotFiniteIn {
                repetition: 1,
                index: 2
            })
        );
        assert_eq!(
            StatsError::NotFiniteIn {
                repetition: 1,
                index: 2
            }
            .to_string(),
            "sample 2 of repetition 1 is not a finite number"
        );
    }
}
