//! How many iterations each instance should run: spend the budget where the
//! variance is.
//!
//! A round costs, per environment, one instance (launch to ready plus warm-up,
//! `c_instance` seconds) and `m` measured iterations (`c_iteration` each). The
//! paired difference of a round has variance
//! `Var(d) = 2 σ²_between + 2 σ²_within / m`, where `σ²_within` is the
//! variance of (log) iteration times within an instance and `σ²_between` the
//! between-instance variance of instance means that pairing does not remove
//! (each side's instance effect, and the drift between the two instances of a
//! round). For a fixed budget the variance of the mean difference is
//! proportional to `(σ²_between + σ²_within / m) (c_instance + m c_iteration)`,
//! smallest at Cochran's two-stage sampling optimum (Cochran 1977, *Sampling
//! Techniques*, §10.6):
//!
//! `m* = √(c_instance · σ²_within / (c_iteration · σ²_between))`,
//!
//! rounded and clamped to `[min, max]`. When instances differ more than
//! iterations, more instances with fewer iterations each buy more precision;
//! when launching is expensive and iterations noisy, more iterations.
//!
//! `σ²_between` is estimated from a paired run so far as
//! `Var(d) / 2 - σ²_within / m_run` (`m_run` the iterations those rounds ran),
//! floored at [`MIN_BETWEEN_SHARE`] of `σ²_within` (and at
//! [`MIN_BETWEEN_VARIANCE`]). The floor matters: from a pilot of five rounds
//! `Var(d)` has four degrees of freedom, and in about one run in ten of the
//! crate's simulation study the raw estimate came out at or below zero
//! although the instances did differ; a floor near zero then sent the design
//! to its maximum of iterations and spent the budget on a few expensive rounds
//! (too many iterations cost far more than too few: 30 iterations where 3
//! were optimal made a round 2.7 times less efficient, 3 where 10 were optimal
//! only 1.4 times). With the floor, `m* <= √(c_instance / (0.1 · c_iteration))`.
//! All variances are of natural logs of times (squared relative spreads).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::StatsError;

/// Absolute floor of the between-instance variance (a 0.1% relative spread).
pub const MIN_BETWEEN_VARIANCE: f64 = 1e-6;
/// Floor of the between-instance variance relative to the within-instance
/// variance (see the module documentation).
pub const MIN_BETWEEN_SHARE: f64 = 0.1;

/// What one instance and one iteration cost, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DesignCosts {
    /// Launch to ready plus warm-up, per instance (its measured iterations excluded).
    pub instance_seconds: f64,
    /// One measured iteration.
    pub iteration_seconds: f64,
}

/// The variance figures of a comparison so far (natural logs of times).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VarianceFigures {
    /// Variance of log iteration times within an instance, pooled over both sides.
    pub within: f64,
    /// Variance of the rounds' paired log ratios `d_r`.
    pub paired_difference: f64,
    /// Iterations per instance in the rounds those figures come from.
    pub iterations: usize,
}

impl VarianceFigures {
    /// `Var(d) / 2 - within / iterations`, floored at [`MIN_BETWEEN_SHARE`]
    /// `· within` and at [`MIN_BETWEEN_VARIANCE`].
    pub fn between(&self) -> f64 {
        (self.paired_difference / 2.0 - self.within / self.iterations.max(1) as f64)
            .max(MIN_BETWEEN_SHARE * self.within)
            .max(MIN_BETWEEN_VARIANCE)
    }
}

/// Why the optimum was clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clamp {
    /// Raised to the minimum.
    ToMinimum,
    /// Lowered to the maximum.
    ToMaximum,
}

/// The iterations chosen per instance and the figures that chose them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IterationsChoice {
    /// Iterations per instance.
    pub iterations: usize,
    /// Cochran's unrounded optimum `m*`.
    pub optimum: f64,
    /// Set when `m*` was outside `[min, max]`.
    pub clamped: Option<Clamp>,
    /// The costs used.
    pub costs: DesignCosts,
    /// Within-instance variance used (log scale).
    pub within: f64,
    /// Between-instance variance left after pairing (log scale, floored).
    pub between: f64,
}

impl fmt::Display for IterationsChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} iterations per instance: an instance costs {:.1} s besides its iterations, \
             an iteration {:.2} s; iterations vary by {:.1}% within an instance, instances by \
             {:.1}% beyond what pairing removes; optimum √({:.1} × {:.1}² / ({:.2} × {:.1}²)) = {:.1}",
            self.iterations,
            self.costs.instance_seconds,
            self.costs.iteration_seconds,
            100.0 * self.within.sqrt(),
            100.0 * self.between.sqrt(),
            self.costs.instance_seconds,
            100.0 * self.within.sqrt(),
            self.costs.iteration_seconds,
            100.0 * self.between.sqrt(),
            self.optimum,
        )?;
        match self.clamped {
            Some(Clamp::ToMinimum) => f.write_str(", raised to the minimum"),
            Some(Clamp::ToMaximum) => f.write_str(", lowered to the maximum"),
            None => Ok(()),
        }
    }
}

/// Cochran's optimum iterations per instance (see the module documentation),
/// rounded to the nearest integer and clamped to `[min_iterations, max_iterations]`.
///
/// Errors on non-positive costs, a negative or non-finite variance, or
/// `min_iterations` 0 or above `max_iterations`.
pub fn iterations_per_instance(
    costs: DesignCosts,
    figures: VarianceFigures,
    min_iterations: usize,
    max_iterations: usize,
) -> Result<IterationsChoice, StatsError> {
    for (name, value) in [
        ("instance_seconds", costs.instance_seconds),
        ("iteration_seconds", costs.iteration_seconds),
    ] {
        if !(value > 0.0 && value.is_finite()) {
            return Err(StatsError::InvalidOption {
                name,
                value,
                range: "positive",
            });
        }
    }
    for (name, value) in [
        ("within", figures.within),
        ("paired_difference", figures.paired_difference),
    ] {
        if !(value >= 0.0 && value.is_finite()) {
            return Err(StatsError::InvalidOption {
                name,
                value,
                range: "zero or positive",
            });
        }
    }
    if min_iterations == 0 || min_iterations > max_iterations {
        return Err(StatsError::InvalidOption {
            name: "min_iterations",
            value: min_iterations as f64,
            range: "at least 1 and at most max_iterations",
        });
    }
    let between = figures.between();
    let optimum =
        (costs.instance_seconds * figures.within / (costs.iteration_seconds * between)).sqrt();
    let rounded = optimum.round();
    let (iterations, clamped) = if rounded < min_iterations as f64 {
        (min_iterations, Some(Clamp::ToMinimum))
    } else if rounded > max_iterations as f64 {
        (max_iterations, Some(Clamp::ToMaximum))
    } else {
        (rounded as usize, None)
    };
    Ok(IterationsChoice {
        iterations,
        optimum,
        clamped,
        costs,
        within: figures.within,
        between,
    })
}

/// Pooled within-instance variance of the natural logs of iteration times:
/// `Σ_i Σ_j (ln x_ij - mean_i)² / Σ_i (n_i - 1)` over instances with at least
/// two positive values; `None` when there are none.
pub fn within_log_variance<'a>(instances: impl IntoIterator<Item = &'a [f64]>) -> Option<f64> {
    let (mut ss, mut df) = (0.0, 0usize);
    for values in instances {
        if values.len() < 2 || values.iter().any(|v| !(*v > 0.0 && v.is_finite())) {
            continue;
        }
        let logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
        let mean = logs.iter().sum::<f64>() / logs.len() as f64;
        ss += logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>();
        df += logs.len() - 1;
    }
    (df > 0).then(|| ss / df as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const COSTS: DesignCosts = DesignCosts {
        instance_seconds: 2.7,
        iteration_seconds: 0.54,
    };

    #[test]
    fn cochran_optimum() {
        // yolov8 here: 2.7 s per instance, 0.54 s per iteration (ratio 5). Equal
        // within and between spreads (4%): m* = sqrt(5) = 2.24 -> 2.
        let figures = VarianceFigures {
            within: 0.04f64.powi(2),
            paired_difference: 2.0 * 0.04f64.powi(2) + 2.0 * 0.04f64.powi(2) / 10.0,
            iterations: 10,
        };
        let c = iterations_per_instance(COSTS, figures, 2, 30).unwrap();
        assert!((c.between - 0.0016).abs() < 1e-12, "{c:?}");
        assert!((c.optimum - 5f64.sqrt()).abs() < 1e-9, "{c:?}");
        assert_eq!((c.iterations, c.clamped), (2, None));
        assert_eq!(
            c.to_string(),
            "2 iterations per instance: an instance costs 2.7 s besides its iterations, an \
             iteration 0.54 s; iterations vary by 4.0% within an instance, instances by 4.0% \
             beyond what pairing removes; optimum √(2.7 × 4.0² / (0.54 × 4.0²)) = 2.2"
        );
        // Noisy iterations, steady instances: more iterations, as many as the
        // floor of the between variance (10% of the within) allows: √(5 / 0.1) = 7.07.
        let steady = VarianceFigures {
            within: 0.05f64.powi(2),
            paired_difference: 2.0 * 0.05f64.powi(2) / 10.0,
            iterations: 10,
        };
        let c = iterations_per_instance(COSTS, steady, 2, 30).unwrap();
        assert!((c.between - 0.1 * 0.0025).abs() < 1e-15, "{c:?}");
        assert_eq!((c.iterations, c.clamped), (7, None));
        let c = iterations_per_instance(COSTS, steady, 2, 5).unwrap();
        assert_eq!((c.iterations, c.clamped), (5, Some(Clamp::ToMaximum)));
        assert!(c.to_string().ends_with("lowered to the maximum"));
        // No within-instance noise at all: the absolute floor.
        let exact = VarianceFigures {
            within: 0.0,
            paired_difference: 0.0,
            iterations: 10,
        };
        let c = iterations_per_instance(COSTS, exact, 2, 30).unwrap();
        assert_eq!((c.between, c.iterations), (MIN_BETWEEN_VARIANCE, 2));
        // Cheap instances, steady iterations: the minimum.
        let cheap = DesignCosts {
            instance_seconds: 0.01,
            iteration_seconds: 1.0,
        };
        let c = iterations_per_instance(cheap, figures, 3, 30).unwrap();
        assert_eq!((c.iterations, c.clamped), (3, Some(Clamp::ToMinimum)));
        assert!(iterations_per_instance(COSTS, figures, 0, 30).is_err());
        assert!(iterations_per_instance(COSTS, figures, 5, 4).is_err());
        let free = DesignCosts {
            instance_seconds: 0.0,
            ..COSTS
        };
        assert!(iterations_per_instance(free, figures, 2, 30).is_err());
    }

    #[test]
    fn pooled_within_variance_of_logs() {
        let a: &[f64] = &[1.0, std::f64::consts::E];
        let b: &[f64] = &[10.0, 10.0, 10.0];
        let single: &[f64] = &[5.0];
        // Instance a: logs 0 and 1, ss 0.5, df 1; b: ss 0, df 2 -> 0.5 / 3.
        let v = within_log_variance([a, b, single]).unwrap();
        assert!((v - 0.5 / 3.0).abs() < 1e-12, "{v}");
        assert_eq!(within_log_variance([single]), None);
    }
}
