//! The four outcomes of a comparison — slower, faster, same, inconclusive —
//! and the one rule that gives them.
//!
//! # One interval decides
//!
//! A [`Decision`] is made from one interval `I` of the ratio `candidate /
//! baseline` (times: above 1 is slower): the paired or unpaired t interval of
//! [`crate::paired`] at the nominal level of the look it was made at (see
//! [`crate::sequential`]). With threshold `δ` (default 5%, [`DEFAULT_THRESHOLD`]):
//!
//! - **slower** / **faster**: `I` excludes 1 (the two-sided test at the look's
//!   nominal level rejects "no difference") *and* the estimate is beyond the
//!   threshold, `|ratio - 1| > δ` (Firecracker's rule for A/B tests: a change
//!   must be both significant and large enough to matter);
//! - **same**: `I` lies inside `[1 - δ, 1 + δ]`: equivalence shown by two
//!   one-sided tests (Schuirmann 1987, the TOST procedure of bioequivalence);
//! - **inconclusive**: neither. It carries the interval and what would decide
//!   it: the number of further rounds after which, at the current estimate and
//!   spread, the interval would be decisive (at the nominal level of the look
//!   it was made at: a final look's is close to a fixed design's, an earlier
//!   look's is stricter, so the projection errs long), or none when that is
//!   beyond [`MAX_PROJECTED_ROUNDS`] (the estimate sits on the threshold, and
//!   this threshold cannot be decided).
//!
//! # One level for both questions
//!
//! With overall `α` (default 0.01, [`DEFAULT_ALPHA`]) one interval serves both
//! questions. For a fixed design it is the `1 - α` interval: a two-sided test
//! at `α` for slower/faster, and two one-sided tests at `α / 2` each for same.
//! So the combined rate of false "slower or faster" is at most `α`, and a
//! "same" is wrong (the true ratio outside the band) at most `α / 2` of the
//! time. (The usual TOST uses the `1 - 2α` interval; sharing the `1 - α`
//! interval is stricter for "same" and keeps one interval on the page.) In a
//! sequential run the interval is the look's repeated confidence interval,
//! whose simultaneous coverage over all looks is `1 - α`, so both guarantees
//! hold whichever look the run stops at.
//!
//! # Minimum detectable effect
//!
//! Next to every decision (printed next to `same` and `inconclusive`) is the
//! change this design could detect with 80% power at the look's level:
//! `(t_{1-α*/2, df} + t_{0.8, df}) · se` on the log scale, reported as a
//! fraction (`exp(·) - 1`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::distributions::t_upper_quantile;
use crate::paired::{Design, Estimate, Observations};
use crate::sequential::{LookBoundary, SpendingFunction};
use crate::{Interval, StatsError};

/// Default overall error rate of a decision.
pub const DEFAULT_ALPHA: f64 = 0.01;
/// Default threshold: the smallest relative change that counts, and the
/// half-width of the "same" band (5%).
pub const DEFAULT_THRESHOLD: f64 = 0.05;

/// Default power of the minimum detectable effect (80%).
pub const DEFAULT_POWER: f64 = 0.8;
/// Projections beyond this many further rounds are reported as "would not decide".
pub const MAX_PROJECTED_ROUNDS: usize = 1000;
/// Fewest rounds (or repetitions per side) for an interval.
pub const MIN_ROUNDS_FOR_INTERVAL: usize = 2;

/// The outcome of a comparison of a candidate with a baseline (times: lower is faster).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The candidate is slower by more than the threshold.
    Slower,
    /// The candidate is faster by more than the threshold.
    Faster,
    /// The candidate is within the threshold of the baseline (equivalence shown).
    Same,
    /// Not decided: the interval is too wide for either.
    Inconclusive,
}

impl Outcome {
    /// Lower-case label: `slower`, `faster`, `same`, `inconclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Slower => "slower",
            Outcome::Faster => "faster",
            Outcome::Same => "same",
            Outcome::Inconclusive => "inconclusive",
        }
    }

    /// True for slower, faster and same.
    pub fn is_decided(self) -> bool {
        self != Outcome::Inconclusive
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a decision is [`Outcome::Inconclusive`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum InconclusiveReason {
    /// Too few rounds for an interval at all.
    TooFewRounds {
        /// Rounds (or repetitions per side) available.
        have: usize,
        /// Rounds needed ([`MIN_ROUNDS_FOR_INTERVAL`]).
        need: usize,
    },
    /// The interval is neither outside 1 beyond the threshold nor inside the band.
    Undecided {
        /// Further rounds after which, at the current estimate and spread, the
        /// interval would decide; `None` when more than [`MAX_PROJECTED_ROUNDS`]
        /// (the estimate sits on the threshold).
        additional_rounds: Option<usize>,
        /// The outcome those rounds would give: same when the estimate is
        /// inside the band, slower or faster when beyond it.
        toward: Outcome,
    },
    /// The host's speed differed between the two sides by `percent` (set by
    /// the caller, e.g. `isobench compare`, with [`Decision::downgrade`]).
    HostDrift {
        /// How much slower (positive) or faster (negative) the host ran during B, in percent.
        percent: f64,
    },
}

impl fmt::Display for InconclusiveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InconclusiveReason::TooFewRounds { have, need } => {
                write!(f, "too few rounds: {have}, at least {need} needed")
            }
            InconclusiveReason::Undecided {
                additional_rounds: Some(1),
                ..
            } => f.write_str("about 1 more round would decide"),
            InconclusiveReason::Undecided {
                additional_rounds: Some(k),
                ..
            } => write!(f, "about {k} more rounds would decide"),
            InconclusiveReason::Undecided {
                additional_rounds: None,
                ..
            } => f.write_str("the estimate sits on the threshold: more rounds would not decide"),
            InconclusiveReason::HostDrift { percent } => {
                let direction = if percent < 0.0 { "faster" } else { "slower" };
                write!(f, "the host ran {:.1}% {direction} during B", percent.abs())
            }
        }
    }
}

/// Settings of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecisionOptions {
    /// Overall two-sided error rate (default [`DEFAULT_ALPHA`]).
    pub alpha: f64,
    /// Smallest relative change that matters, and half-width of the "same" band (default 5%).
    pub threshold: f64,
    /// Alpha-spending function of sequential looks (default O'Brien–Fleming type).
    pub spending: SpendingFunction,
    /// Power of the minimum detectable effect (default [`DEFAULT_POWER`]).
    pub power: f64,
}

impl Default for DecisionOptions {
    fn default() -> Self {
        DecisionOptions {
            alpha: DEFAULT_ALPHA,
            threshold: DEFAULT_THRESHOLD,
            spending: SpendingFunction::OBrienFleming,
            power: DEFAULT_POWER,
        }
    }
}

impl DecisionOptions {
    fn validate(&self) -> Result<(), StatsError> {
        for (name, value) in [
            ("alpha", self.alpha),
            ("threshold", self.threshold),
            ("power", self.power),
        ] {
            if !(value > 0.0 && value < 1.0) {
                return Err(StatsError::InvalidOption {
                    name,
                    value,
                    range: "between 0 and 1, exclusive",
                });
            }
        }
        Ok(())
    }
}

/// A comparison's outcome and everything it was decided from.
///
/// The interval is the one the decision used: the repeated confidence
/// interval of the look the decision was made at, at that look's nominal level
/// `1 - α*` (`1 - α` for a fixed design, where it is a two-sided test at `α`
/// and two one-sided tests at `α / 2` each; see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Slower, faster, same or inconclusive.
    pub outcome: Outcome,
    /// Estimated ratio `candidate / baseline` (geometric mean of the rounds' ratios when paired).
    pub ratio: f64,
    /// The interval of the ratio the decision used, its level the look's
    /// nominal level; `None` with fewer than [`MIN_ROUNDS_FOR_INTERVAL`] rounds.
    pub interval: Option<Interval>,
    /// Paired on rounds or unpaired, with the counts.
    pub design: Design,
    /// Degrees of freedom of the interval's t quantile (0 without an interval).
    pub degrees_of_freedom: f64,
    /// The look the decision was made at.
    pub look: LookBoundary,
    /// Overall error rate.
    pub alpha: f64,
    /// Threshold (fraction, e.g. 0.05).
    pub threshold: f64,
    /// Change detectable with [`DecisionOptions::power`] at this look, as a
    /// fraction (e.g. 0.12 for 12%); `None` without an interval.
    pub minimum_detectable_effect: Option<f64>,
    /// Projected further rounds to decide (inconclusive only; `None` when
    /// decided or beyond [`MAX_PROJECTED_ROUNDS`]).
    pub rounds_to_decide: Option<usize>,
    /// Why the outcome is inconclusive: `Some` exactly then.
    pub inconclusive: Option<InconclusiveReason>,
}

impl Decision {
    /// The decision at `look` from `observations` (see the [module documentation](self)).
    pub fn at_look(
        observations: &Observations,
        look: &LookBoundary,
        options: &DecisionOptions,
    ) -> Result<Decision, StatsError> {
        options.validate()?;
        match observations.log_ratio() {
            Ok(estimate) => Ok(Decision::from_estimate(&estimate, look, options)),
            Err(StatsError::TooFewForInterval { have, need }) => {
                let ratio = point_ratio(observations)?;
                Ok(Decision {
                    outcome: Outcome::Inconclusive,
                    ratio,
                    interval: None,
                    design: observations.design(),
                    degrees_of_freedom: 0.0,
                    look: *look,
                    alpha: options.alpha,
                    threshold: options.threshold,
                    minimum_detectable_effect: None,
                    rounds_to_decide: None,
                    inconclusive: Some(InconclusiveReason::TooFewRounds { have, need }),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The decision from a log-ratio `estimate` at `look` (the rule of the
    /// [module documentation](self)).
    pub fn from_estimate(
        estimate: &Estimate,
        look: &LookBoundary,
        options: &DecisionOptions,
    ) -> Decision {
        let nominal_alpha = look.nominal_alpha;
        let (low, high) = estimate.bounds_at(nominal_alpha);
        let d = estimate.estimate;
        let (band_low, band_high) = ((-options.threshold).ln_1p(), options.threshold.ln_1p());
        let outcome = if low > 0.0 && d > band_high {
            Outcome::Slower
        } else if high < 0.0 && d < band_low {
            Outcome::Faster
        } else if low > band_low && high < band_high {
            Outcome::Same
        } else {
            Outcome::Inconclusive
        };
        let df = estimate.degrees_of_freedom;
        let mde = if estimate.standard_error == 0.0 {
            0.0
        } else {
            ((t_upper_quantile(nominal_alpha / 2.0, df)
                + t_upper_quantile(1.0 - options.power, df))
                * estimate.standard_error)
                .exp_m1()
        };
        let (rounds_to_decide, inconclusive) = if outcome == Outcome::Inconclusive {
            let (toward, gap) = if d > band_high {
                (Outcome::Slower, d)
            } else if d < band_low {
                (Outcome::Faster, -d)
            } else {
                (Outcome::Same, (band_high - d).min(d - band_low))
            };
            let additional = projected_rounds(estimate, nominal_alpha, gap);
            (
                additional,
                Some(InconclusiveReason::Undecided {
                    additional_rounds: additional,
                    toward,
                }),
            )
        } else {
            (None, None)
        };
        Decision {
            outcome,
            ratio: d.exp(),
            interval: Some(Interval {
                low: low.exp(),
                high: high.exp(),
                level: 1.0 - nominal_alpha,
            }),
            design: estimate.design,
            degrees_of_freedom: df,
            look: *look,
            alpha: options.alpha,
            threshold: options.threshold,
            minimum_detectable_effect: Some(mde),
            rounds_to_decide,
            inconclusive,
        }
    }

    /// Downgrades a decided outcome (slower, faster or same) to inconclusive
    /// with `reason`, for a comparison the caller knows to be confounded (e.g.
    /// the host ran at another speed during one of two compared runs: that can
    /// fake a difference or hide one). An inconclusive decision keeps its reason.
    pub fn downgrade(&mut self, reason: InconclusiveReason) {
        if self.outcome.is_decided() {
            self.outcome = Outcome::Inconclusive;
            self.rounds_to_decide = None;
            self.inconclusive = Some(reason);
        }
    }

    /// Reader-facing text, e.g. `slower`, `same`, or
    /// `inconclusive: between 0.99× and 1.24×; about 8 more rounds would decide`.
    pub fn label(&self) -> String {
        match (self.outcome, self.inconclusive, self.interval) {
            (Outcome::Inconclusive, Some(reason), Some(i)) => format!(
                "inconclusive: between {}× and {}×; {reason}",
                ratio_bound(i.low),
                ratio_bound(i.high)
            ),
            (Outcome::Inconclusive, Some(reason), None) => format!("inconclusive: {reason}"),
            (outcome, _, _) => outcome.to_string(),
        }
    }
}

/// A ratio interval's bound for readers: two decimals up to 1000, then in
/// scientific notation (`2.4e5`: intervals from very few rounds can be
/// astronomically wide, and their digits say nothing).
fn ratio_bound(x: f64) -> String {
    if x.abs() < 1000.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1e}")
    }
}

/// Further rounds after which `t · se` (scaled to the larger design) falls below
/// `gap`, or `None` beyond [`MAX_PROJECTED_ROUNDS`] (or when `gap <= 0`).
fn projected_rounds(estimate: &Estimate, nominal_alpha: f64, gap: f64) -> Option<usize> {
    if gap <= 0.0 {
        return None;
    }
    if estimate.standard_error == 0.0 {
        return Some(0);
    }
    let n = estimate.design.units();
    let df_per_unit = estimate.degrees_of_freedom / (n - 1.0).max(1.0);
    let half_width = |more: usize| {
        let m = n + more as f64;
        let df = (df_per_unit * (m - 1.0)).max(1.0);
        t_upper_quantile(nominal_alpha / 2.0, df) * estimate.standard_error * (n / m).sqrt()
    };
    if half_width(MAX_PROJECTED_ROUNDS) >= gap {
        return None;
    }
    // The half-width decreases with more rounds: binary search between 0
    // (undecided now) and the normal scaling's guess, h(more) ≈ h(0) √(n / (n
    // + more)), which overestimates (t shrinks as the degrees of freedom grow).
    let guess = (n * (half_width(0) / gap).powi(2) - n).ceil();
    let mut high = guess.clamp(1.0, MAX_PROJECTED_ROUNDS as f64) as usize;
    if half_width(high) >= gap {
        high = MAX_PROJECTED_ROUNDS;
    }
    let mut low = 0;
    while high - low > 1 {
        let mid = (low + high) / 2;
        if half_width(mid) < gap {
            high = mid;
        } else {
            low = mid;
        }
    }
    Some(high)
}

/// `exp(mean ln b - mean ln a)` without an interval (one round or repetition).
fn point_ratio(observations: &Observations) -> Result<f64, StatsError> {
    let mean_ln = |x: &mut dyn Iterator<Item = f64>| {
        let (sum, n) = x.fold((0.0, 0usize), |(s, n), v| (s + v.ln(), n + 1));
        (n > 0).then(|| sum / n as f64)
    };
    let (a, b) = match observations {
        Observations::Paired { pairs } => (
            mean_ln(&mut pairs.iter().map(|p| p.baseline)),
            mean_ln(&mut pairs.iter().map(|p| p.candidate)),
        ),
        Observations::Unpaired {
            baseline,
            candidate,
        } => (
            mean_ln(&mut baseline.iter().copied()),
            mean_ln(&mut candidate.iter().copied()),
        ),
    };
    match (a, b) {
        (Some(a), Some(b)) if (b - a).is_finite() => Ok((b - a).exp()),
        (Some(_), Some(_)) => Err(StatsError::NotPositive {
            arm: crate::paired::Arm::Baseline,
            index: 0,
        }),
        _ => Err(StatsError::Empty),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn huge_interval_bounds_read_in_scientific_notation() {
        assert_eq!(ratio_bound(0.93), "0.93");
        assert_eq!(ratio_bound(999.994), "999.99");
        assert_eq!(ratio_bound(337_909_619_901_689_920.0), "3.4e17");
    }

    use super::*;
    use crate::paired::RoundPair;
    use crate::sequential::{decide, decide_fixed, Look, Looks};

    fn paired(ratios: &[f64]) -> Observations {
        Observations::Paired {
            pairs: ratios
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let baseline = 100.0 * (1.0 + 0.03 * (i as f64).sin());
                    RoundPair {
                        baseline,
                        candidate: baseline * r,
                    }
                })
                .collect(),
        }
    }

    fn fixed(observations: &Observations) -> Decision {
        decide_fixed(observations, &DecisionOptions::default()).unwrap()
    }

    #[test]
    fn the_four_outcomes() {
        // Clearly slower: ratios around 1.20 with 2% spread, 8 rounds.
        let d = fixed(&paired(&[1.18, 1.22, 1.19, 1.21, 1.20, 1.23, 1.17, 1.20]));
        assert_eq!(
            (d.outcome, d.inconclusive, d.label()),
            (Outcome::Slower, None, "slower".into())
        );
        assert_eq!(d.design, Design::Paired { rounds: 8 });
        let i = d.interval.unwrap();
        assert!(
            i.low > 1.05 && i.contains(d.ratio) && (i.level - 0.99).abs() < 1e-12,
            "{d:?}"
        );
        // Faster, symmetrically.
        let d = fixed(&paired(&[0.82, 0.80, 0.81, 0.79, 0.80, 0.83]));
        assert_eq!(d.outcome, Outcome::Faster, "{d:?}");
        // Same: ratios within 1% of 1.
        let d = fixed(&paired(&[1.01, 0.99, 1.00, 1.005, 0.995, 1.0, 1.01, 0.99]));
        assert_eq!(d.outcome, Outcome::Same, "{d:?}");
        let i = d.interval.unwrap();
        assert!(i.low > 0.95 && i.high < 1.05);
        assert!(d.minimum_detectable_effect.unwrap() < 0.05, "{d:?}");
        // A tight 2% slowdown: significant, but under the threshold and inside
        // the band, so the same within 5% (not slower).
        let d = fixed(&paired(&[1.02, 1.021, 1.019, 1.02, 1.022, 1.018]));
        assert_eq!(d.outcome, Outcome::Same, "{d:?}");
        assert!(d.interval.unwrap().low > 1.0, "{d:?}");
        // A loose 4% slowdown whose interval excludes 1 but reaches past 1.05:
        // neither slower (under the threshold) nor same: inconclusive, toward same.
        let d = fixed(&paired(&[1.06, 1.02, 1.05, 1.03, 1.04, 1.045, 1.035, 1.04]));
        let i = d.interval.unwrap();
        assert!(i.low > 1.0 && i.high > 1.05, "{d:?}");
        assert!(
            matches!(
                d.inconclusive,
                Some(InconclusiveReason::Undecided {
                    toward: Outcome::Same,
                    ..
                })
            ),
            "{d:?}"
        );
        // The issue's gVisor case: 1.16 with a wide interval [1.04, 1.30] is not
        // "no difference": with few rounds it is inconclusive, leaning slower.
        let d = fixed(&paired(&[1.02, 1.35, 1.10, 1.25, 1.08]));
        assert_eq!(d.outcome, Outcome::Inconclusive, "{d:?}");
        let Some(InconclusiveReason::Undecided {
            additional_rounds: Some(k),
            toward,
        }) = d.inconclusive
        else {
            panic!("{d:?}")
        };
        assert_eq!(toward, Outcome::Slower);
        assert_eq!(d.rounds_to_decide, Some(k));
        assert!(k > 0 && k < 30, "{d:?}");
        let label = d.label();
        assert!(
            label.starts_with("inconclusive: between 0.")
                || label.starts_with("inconclusive: between 1."),
            "{label}"
        );
        assert!(
            label.ends_with(&format!("about {k} more rounds would decide")),
            "{label}"
        );
    }

    #[test]
    fn projection_is_right_and_on_the_threshold_it_gives_up() {
        // Paired, n = 6, estimate inside the band: the projected n makes
        // t(n-1) * s / sqrt(n) just smaller than the gap to the band's edge.
        let o = paired(&[1.00, 1.06, 0.96, 1.03, 0.97, 1.02]);
        let d = fixed(&o);
        assert_eq!(d.outcome, Outcome::Inconclusive, "{d:?}");
        let e = o.log_ratio().unwrap();
        let s = e.standard_error * 6f64.sqrt();
        let gap = (0.05f64.ln_1p() - e.estimate).min(e.estimate - (-0.05f64).ln_1p());
        let k = d.rounds_to_decide.unwrap();
        let hw = |n: usize| t_upper_quantile(0.005, n as f64 - 1.0) * s / (n as f64).sqrt();
        assert!(hw(6 + k) < gap && hw(5 + k) >= gap, "{k} {d:?}");
        // An estimate just inside the threshold (1.0499) cannot be decided by
        // more rounds: "same" would need the interval's half-width below 0.01%.
        let on = 1.0499;
        let d = fixed(&paired(&[on * 1.1, on / 1.1, on * 1.05, on / 1.05, on]));
        assert!((d.ratio - on).abs() < 1e-12, "{d:?}");
        assert_eq!(d.outcome, Outcome::Inconclusive, "{d:?}");
        assert!(
            matches!(
                d.inconclusive,
                Some(InconclusiveReason::Undecided {
                    additional_rounds: None,
                    toward: Outcome::Same
                })
            ),
            "{d:?}"
        );
        assert_eq!(d.rounds_to_decide, None);
        assert!(
            d.label().ends_with("more rounds would not decide"),
            "{}",
            d.label()
        );
        // Just beyond it, "slower" needs only an interval excluding 1: reachable.
        let beyond = 1.0501;
        let d = fixed(&paired(&[
            beyond * 1.1,
            beyond / 1.1,
            beyond * 1.05,
            beyond / 1.05,
            beyond,
        ]));
        assert!(
            matches!(
                d.inconclusive,
                Some(InconclusiveReason::Undecided {
                    additional_rounds: Some(_),
                    toward: Outcome::Slower
                })
            ),
            "{d:?}"
        );
    }

    #[test]
    fn minimum_detectable_effect_matches_its_formula() {
        let o = paired(&[1.00, 1.06, 0.96, 1.03, 0.97, 1.02, 1.01, 0.99]);
        let d = fixed(&o);
        let e = o.log_ratio().unwrap();
        let expected = ((t_upper_quantile(0.005, 7.0) + t_upper_quantile(0.2, 7.0))
            * e.standard_error)
            .exp_m1();
        assert!(
            (d.minimum_detectable_effect.unwrap() - expected).abs() < 1e-12,
            "{d:?}"
        );
        // t(0.995, 7) = 3.4995, t(0.8, 7) = 0.8960 (scipy).
        assert!((t_upper_quantile(0.005, 7.0) - 3.4994832973505).abs() < 1e-9);
    }

    #[test]
    fn too_few_rounds_and_downgrades() {
        let one = Observations::Paired {
            pairs: vec![RoundPair {
                baseline: 10.0,
                candidate: 12.0,
            }],
        };
        let d = fixed(&one);
        assert_eq!(d.outcome, Outcome::Inconclusive);
        assert_eq!(
            d.inconclusive,
            Some(InconclusiveReason::TooFewRounds { have: 1, need: 2 })
        );
        assert!((d.ratio - 1.2).abs() < 1e-12 && d.interval.is_none());
        assert_eq!(
            d.label(),
            "inconclusive: too few rounds: 1, at least 2 needed"
        );
        let none = Observations::Unpaired {
            baseline: vec![],
            candidate: vec![1.0],
        };
        assert_eq!(
            decide_fixed(&none, &DecisionOptions::default()),
            Err(StatsError::Empty)
        );

        let mut d = fixed(&paired(&[1.18, 1.22, 1.19, 1.21, 1.20, 1.23]));
        assert_eq!(d.outcome, Outcome::Slower);
        d.downgrade(InconclusiveReason::HostDrift { percent: 12.34 });
        assert_eq!(d.outcome, Outcome::Inconclusive);
        assert!(
            d.label().ends_with("the host ran 12.3% slower during B"),
            "{}",
            d.label()
        );
        d.downgrade(InconclusiveReason::HostDrift { percent: 1.0 });
        assert_eq!(
            d.inconclusive,
            Some(InconclusiveReason::HostDrift { percent: 12.34 })
        );
    }

    #[test]
    fn early_looks_are_stricter_and_the_data_must_not_outrun_the_look() {
        let o = paired(&[1.10, 1.12, 1.09, 1.11, 1.10]);
        let fixed_5 = fixed(&o);
        let early = Looks::new(vec![Look {
            rounds: 5,
            spending_time: 0.25,
        }])
        .unwrap();
        let d = decide(&o, &early, &DecisionOptions::default()).unwrap();
        let (wide, narrow) = (d.interval.unwrap(), fixed_5.interval.unwrap());
        assert!(
            wide.low < narrow.low && wide.high > narrow.high,
            "{wide:?} {narrow:?}"
        );
        assert!(d.look.nominal_alpha < 1e-5, "{d:?}");
        let too_early = Looks::new(vec![Look {
            rounds: 4,
            spending_time: 0.25,
        }])
        .unwrap();
        assert_eq!(
            decide(&o, &too_early, &DecisionOptions::default()),
            Err(StatsError::DataBeyondLook {
                units: 5,
                rounds: 4
            })
        );
        let bad = DecisionOptions {
            threshold: 0.0,
            ..DecisionOptions::default()
        };
        assert!(decide_fixed(&o, &bad).is_err());
    }

    #[test]
    fn serde_round_trip() {
        let d = fixed(&paired(&[1.02, 1.35, 1.10, 1.25, 1.08]));
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains(r#""outcome":"inconclusive""#), "{json}");
        assert!(json.contains(r#""reason":"undecided""#), "{json}");
        assert!(json.contains(r#""design":"paired""#), "{json}");
        assert_eq!(serde_json::from_str::<Decision>(&json).unwrap(), d);
    }
}
