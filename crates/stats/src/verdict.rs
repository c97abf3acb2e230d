//! The previous A/B verdict: faster, slower, not significantly different, or
//! inconclusive. Superseded by the four outcomes of [`crate::outcome`]
//! (slower, faster, same, inconclusive, decided on the paired design of
//! [`crate::paired`] with the sequential looks of [`crate::sequential`]); kept
//! until its callers move, then to be deleted.
//!
//! The verdict comes from the repetition-level permutation test
//! ([`crate::repetition_test()`]) and Firecracker's rule for A/B performance
//! tests: a change is called only when `p < alpha` (default 0.01) *and* the
//! relative effect exceeds a threshold (default 5%). Before that, a design
//! whose smallest attainable p-value is not below `alpha` (e.g. 3 vs 3
//! repetitions, p >= 0.1) is [`Verdict::Inconclusive`]: "no difference" would
//! claim what such data cannot show. Callers may also downgrade a significant
//! verdict when they know the comparison is confounded, e.g. by the host's
//! speed differing between the two runs ([`Comparison::refuse_significance`]).
//!
//! Convention: `a` is the baseline ("before", "A"), `b` the candidate ("after",
//! "B"); samples are times, so lower is better.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::repetition_test::{repetition_test, repetitions_needed, RepetitionTest};
use crate::sample::Repeated;
use crate::statistic::Statistic;
use crate::StatsError;

/// Random permutations used by [`CompareOptions::default`] when a design is
/// too large to enumerate (see [`crate::EXACT_LIMIT`]).
pub const DEFAULT_PERMUTATIONS: usize = 10_000;
pub use crate::outcome::{DEFAULT_ALPHA, DEFAULT_THRESHOLD};

/// Settings of an A/B comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CompareOptions {
    /// Per-repetition statistic compared (default mean).
    pub statistic: Statistic,
    /// Random permutations when the design is not enumerated (default [`DEFAULT_PERMUTATIONS`]).
    /// They bound the p-value below by `1 / (resamples + 1)`: fewer than `1 / alpha`
    /// make a large design inconclusive as if it had too few repetitions.
    pub resamples: usize,
    /// Seed of the permutations and the bootstrap.
    pub seed: u64,
    /// Significance level (default [`DEFAULT_ALPHA`]).
    pub alpha: f64,
    /// Minimum |relative effect| to call a change (default [`DEFAULT_THRESHOLD`]).
    pub threshold: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            statistic: Statistic::Mean,
            resamples: DEFAULT_PERMUTATIONS,
            seed: 0,
            alpha: DEFAULT_ALPHA,
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

/// What an A/B comparison concluded about `b` relative to `a` (times: lower is faster).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// `b` is faster: p < alpha and the effect is below `-threshold`.
    Faster,
    /// `b` is slower: p < alpha and the effect is above `threshold` (a regression).
    Slower,
    /// Not significant, or significant but smaller than the threshold.
    NoDifference,
    /// The data cannot decide: too few repetitions, or a confounded comparison
    /// (the reason is [`Comparison::inconclusive`]).
    Inconclusive,
}

impl Verdict {
    /// True for [`Verdict::Slower`].
    pub fn is_regression(self) -> bool {
        self == Verdict::Slower
    }

    /// Short lower-case label (`faster`, `slower`, `no significant difference`, `inconclusive`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::NoDifference => "no significant difference",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a comparison could not reach a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Inconclusive {
    /// The design cannot produce p < alpha whatever the data.
    TooFewRepetitions {
        /// Repetitions of A.
        a: usize,
        /// Repetitions of B.
        b: usize,
        /// Repetitions needed on each side ([`crate::repetitions_needed`]).
        needed: usize,
        /// Significance level the design cannot reach.
        alpha: f64,
    },
    /// The host's speed differed between the two sides by `percent` (set by the
    /// caller, e.g. `isobench compare`).
    HostDrift {
        /// How much slower (positive) or faster (negative) the host ran during B, in percent.
        percent: f64,
    },
}

impl fmt::Display for Inconclusive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Inconclusive::TooFewRepetitions {
                a,
                b,
                needed,
                alpha,
            } => write!(
                f,
                "too few repetitions: {a} vs {b}; at least {needed} vs {needed} needed for p < {alpha}"
            ),
            Inconclusive::HostDrift { percent } => {
                let direction = if percent < 0.0 { "faster" } else { "slower" };
                write!(f, "the host ran {:.1}% {direction} during B", percent.abs())
            }
        }
    }
}

/// An A/B comparison: the repetition-level test and the verdict under the one rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The repetition-level permutation test of `b` against `a`.
    pub test: RepetitionTest,
    /// Significance level used.
    pub alpha: f64,
    /// Effect threshold used (fraction).
    pub threshold: f64,
    /// The verdict.
    pub verdict: Verdict,
    /// Why the verdict is [`Verdict::Inconclusive`]: `Some` exactly then.
    pub inconclusive: Option<Inconclusive>,
}

impl Comparison {
    /// Runs `repetition_test(a, b, options.statistic, options.resamples, options.seed)`
    /// and applies the rule ([`Comparison::from_test`]).
    pub fn compute(
        a: &Repeated,
        b: &Repeated,
        options: &CompareOptions,
    ) -> Result<Self, StatsError> {
        let test = repetition_test(a, b, options.statistic, options.resamples, options.seed)?;
        Ok(Self::from_test(test, options.alpha, options.threshold))
    }

    /// The one rule: if `test.min_p_value >= alpha` the design cannot decide,
    /// [`Verdict::Inconclusive`] with [`Inconclusive::TooFewRepetitions`]
    /// (`needed` = [`repetitions_needed`]`(alpha)`); else `p < alpha` and
    /// `|relative difference| > threshold` give [`Verdict::Slower`] (positive)
    /// or [`Verdict::Faster`] (negative); anything else is [`Verdict::NoDifference`].
    pub fn from_test(test: RepetitionTest, alpha: f64, threshold: f64) -> Self {
        let (verdict, inconclusive) = if test.min_p_value >= alpha {
            let reason = Inconclusive::TooFewRepetitions {
                a: test.a_repetitions,
                b: test.b_repetitions,
                needed: repetitions_needed(alpha),
                alpha,
            };
            (Verdict::Inconclusive, Some(reason))
        } else if test.p_value < alpha && test.relative_difference.abs() > threshold {
            if test.relative_difference > 0.0 {
                (Verdict::Slower, None)
            } else {
                (Verdict::Faster, None)
            }
        } else {
            (Verdict::NoDifference, None)
        };
        Comparison {
            test,
            alpha,
            threshold,
            verdict,
            inconclusive,
        }
    }

    /// Downgrades a [`Verdict::Faster`] / [`Verdict::Slower`] verdict to
    /// [`Verdict::Inconclusive`] with `reason`; [`Verdict::NoDifference`] and
    /// [`Verdict::Inconclusive`] stay as they are.
    pub fn refuse_significance(&mut self, reason: Inconclusive) {
        if matches!(self.verdict, Verdict::Faster | Verdict::Slower) {
            self.verdict = Verdict::Inconclusive;
            self.inconclusive = Some(reason);
        }
    }

    /// Reader-facing text: `slower`, `faster`, `no significant difference`, or
    /// `inconclusive (<reason>)`.
    pub fn label(&self) -> String {
        match self.inconclusive {
            Some(reason) if self.verdict == Verdict::Inconclusive => {
                format!("{} ({reason})", self.verdict)
            }
            _ => self.verdict.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::repeated;

    #[test]
    fn too_few_repetitions_is_inconclusive_whatever_the_shift() {
        // 3 vs 3 with B twice as slow: p >= 2/20 = 0.1 whatever the data.
        let a = repeated(3, 10, 100.0, 0.02, 0.02, 1);
        let b = repeated(3, 10, 200.0, 0.02, 0.02, 2);
        let c = Comparison::compute(&a, &b, &CompareOptions::default()).unwrap();
        assert_eq!(c.verdict, Verdict::Inconclusive, "{c:?}");
        assert_eq!(
            c.inconclusive,
            Some(Inconclusive::TooFewRepetitions {
                a: 3,
                b: 3,
                needed: 5,
                alpha: 0.01
            })
        );
        assert_eq!((c.test.p_value, c.test.min_p_value), (0.1, 0.1));
        assert_eq!(
            c.label(),
            "inconclusive (too few repetitions: 3 vs 3; at least 5 vs 5 needed for p < 0.01)"
        );
        assert!(!c.verdict.is_regression());

        // 5 vs 5 with the same shift: the exact floor 2/252 < 0.01, so slower.
        let a = repeated(5, 10, 100.0, 0.02, 0.02, 3);
        let b = repeated(5, 10, 200.0, 0.02, 0.02, 4);
        let c = Comparison::compute(&a, &b, &CompareOptions::default()).unwrap();
        assert_eq!(
            (c.verdict, c.inconclusive),
            (Verdict::Slower, None),
            "{c:?}"
        );
        assert!(c.test.exact && c.test.p_value == 2.0 / 252.0, "{c:?}");
        assert!(c.verdict.is_regression());
        assert_eq!(c.label(), "slower");
        let c = Comparison::compute(&b, &a, &CompareOptions::default()).unwrap();
        assert_eq!((c.verdict, c.label()), (Verdict::Faster, "faster".into()));

        // 4 vs 5 at alpha 0.05: 1/126 is reachable.
        let a = repeated(4, 10, 100.0, 0.02, 0.02, 5);
        let options = CompareOptions {
            alpha: 0.05,
            ..CompareOptions::default()
        };
        let c = Comparison::compute(&a, &b, &options).unwrap();
        assert_eq!(c.verdict, Verdict::Slower, "{c:?}");
    }

    #[test]
    fn small_effects_are_no_difference() {
        // 2% shift, tiny noise, 6 vs 6: p at its floor, but under the 5% threshold.
        let a = repeated(6, 10, 1000.0, 0.001, 0.001, 1);
        let b = repeated(6, 10, 1020.0, 0.001, 0.001, 2);
        let c = Comparison::compute(&a, &b, &CompareOptions::default()).unwrap();
        assert_eq!(c.test.p_value, 2.0 / 924.0, "{c:?}");
        assert_eq!((c.verdict, c.inconclusive), (Verdict::NoDifference, None));
        assert_eq!(c.label(), "no significant difference");
        let strict = CompareOptions {
            threshold: 0.01,
            ..CompareOptions::default()
        };
        assert_eq!(
            Comparison::compute(&a, &b, &strict).unwrap().verdict,
            Verdict::Slower
        );
    }

    #[test]
    fn refusing_significance() {
        let a = repeated(5, 10, 100.0, 0.01, 0.01, 1);
        let b = repeated(5, 10, 130.0, 0.01, 0.01, 2);
        let mut c = Comparison::compute(&a, &b, &CompareOptions::default()).unwrap();
        assert_eq!(c.verdict, Verdict::Slower);
        c.refuse_significance(Inconclusive::HostDrift { percent: 12.34 });
        assert_eq!(c.verdict, Verdict::Inconclusive);
        assert_eq!(
            c.label(),
            "inconclusive (the host ran 12.3% slower during B)"
        );
        // An inconclusive verdict keeps its first reason.
        c.refuse_significance(Inconclusive::HostDrift { percent: 1.0 });
        assert_eq!(
            c.inconclusive,
            Some(Inconclusive::HostDrift { percent: 12.34 })
        );
        // No difference stays no difference.
        let mut same = Comparison::compute(&a, &a, &CompareOptions::default()).unwrap();
        assert_eq!(same.verdict, Verdict::NoDifference);
        same.refuse_significance(Inconclusive::HostDrift { percent: -8.0 });
        assert_eq!(
            (same.verdict, same.inconclusive),
            (Verdict::NoDifference, None)
        );
        assert_eq!(
            Inconclusive::HostDrift { percent: -8.0 }.to_string(),
            "the host ran 8.0% faster during B"
        );
    }

    #[test]
    fn serde_round_trips() {
        for (v, json) in [
            (Verdict::Faster, "\"faster\""),
            (Verdict::Slower, "\"slower\""),
            (Verdict::NoDifference, "\"no_difference\""),
            (Verdict::Inconclusive, "\"inconclusive\""),
        ] {
            assert_eq!(serde_json::to_string(&v).unwrap(), json);
            assert_eq!(serde_json::from_str::<Verdict>(json).unwrap(), v);
        }
        assert_eq!(
            Verdict::NoDifference.to_string(),
            "no significant difference"
        );
        let reason = Inconclusive::TooFewRepetitions {
            a: 3,
            b: 2,
            needed: 5,
            alpha: 0.01,
        };
        let json = serde_json::to_string(&reason).unwrap();
        assert_eq!(
            json,
            r#"{"reason":"too_few_repetitions","a":3,"b":2,"needed":5,"alpha":0.01}"#
        );
        assert_eq!(serde_json::from_str::<Inconclusive>(&json).unwrap(), reason);
        let drift = Inconclusive::HostDrift { percent: -4.5 };
        let json = serde_json::to_string(&drift).unwrap();
        assert_eq!(json, r#"{"reason":"host_drift","percent":-4.5}"#);
        assert_eq!(serde_json::from_str::<Inconclusive>(&json).unwrap(), drift);

        let a = repeated(3, 10, 100.0, 0.02, 0.02, 1);
        let b = repeated(2, 10, 120.0, 0.02, 0.02, 2);
        let c = Comparison::compute(&a, &b, &CompareOptions::default()).unwrap();
        assert_eq!(c.verdict, Verdict::Inconclusive);
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""verdict":"inconclusive""#), "{json}");
        assert!(json.contains(r#""reason":"too_few_repetitions""#), "{json}");
        assert_eq!(serde_json::from_str::<Comparison>(&json).unwrap(), c);
        let same = Comparison::compute(&a, &a, &CompareOptions::default()).unwrap();
        let c = Comparison::from_test(same.test, 0.5, 0.0);
        assert_eq!(c.verdict, Verdict::NoDifference);
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""verdict":"no_difference""#), "{json}");
        assert!(json.contains(r#""inconclusive":null"#), "{json}");
        assert_eq!(serde_json::from_str::<Comparison>(&json).unwrap(), c);
    }
}
