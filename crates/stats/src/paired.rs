//! The estimate a decision is made from: the paired analysis of rounds, or the
//! unpaired (Welch) one when there are no complete rounds to pair.
//!
//! # Paired: the round is the block
//!
//! A run launches, in each *round*, one fresh instance (a repetition) of every
//! environment, in a shuffled order. For each round `r` where both the
//! baseline's statistic `a_r` and the candidate's `b_r` exist (the mean of the
//! repetition's iterations), `d_r = ln(b_r / a_r)`. With `n` such rounds, mean
//! `d̄` and standard deviation `s`, the ratio is `exp(d̄)` and its interval at
//! two-sided level `1 - α` is `exp(d̄ ± t_{1-α/2, n-1} · s / √n)`.
//!
//! This is the analysis of a randomised complete block design with the round
//! as the block; for two treatments it equals the linear mixed model with the
//! round as a random block effect (the paired t test). Whatever slowed a whole
//! round (the host's speed drifting, a noisy neighbour) multiplies both `a_r`
//! and `b_r` and cancels in `d_r`; what remains is the instances' own spread
//! and the part of the drift that changed between the two instances of the
//! round, which the shuffled order makes random rather than a bias.
//!
//! # Unpaired: Welch
//!
//! Without complete rounds (a blocked order, fewer than [`MIN_PAIRED_ROUNDS`]
//! complete pairs, or two runs compared by `isobench compare`) the interval is
//! Welch's: `ln b̄ - ln ā` from the means of the log statistics, standard error
//! `√(s_a² / n_a + s_b² / n_b)` and the Welch–Satterthwaite degrees of
//! freedom. It keeps whatever differed between the sessions (the host's speed
//! on another day), which no analysis of two separate runs can remove.
//!
//! Every [`Estimate`] says which [`Design`] it used. The same two analyses of
//! a plain *difference* (not a log ratio) serve figures whose zero matters,
//! such as memory in MiB: an interval that includes 0 is printed `≈ 0 [lo, hi]`
//! rather than as a saving or a cost.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::distributions::t_upper_quantile;
use crate::{Interval, StatsError};

/// Fewest complete rounds for the paired analysis; below it the unpaired one
/// is used on every repetition ([`Observations::by_round`]).
pub const MIN_PAIRED_ROUNDS: usize = 3;

/// Bound on `|log ratio|` of an interval's ends (`exp(±100)`): the earliest
/// sequential looks have nominal levels so extreme that their intervals are
/// practically unbounded; clamping keeps them finite (JSON has no infinity).
const LOG_BOUND: f64 = 100.0;

/// Which side of a comparison a value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The baseline (`a`, "before").
    Baseline,
    /// The candidate (`b`, "after").
    Candidate,
}

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arm::Baseline => "baseline",
            Arm::Candidate => "candidate",
        })
    }
}

/// The analysis an estimate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "design", rename_all = "snake_case")]
pub enum Design {
    /// Paired on complete rounds (randomised complete blocks, the round as the block).
    Paired {
        /// Complete rounds (pairs) analysed.
        rounds: usize,
    },
    /// Unpaired, Welch's interval on the repetitions of each side.
    Unpaired {
        /// Repetitions of the baseline.
        a: usize,
        /// Repetitions of the candidate.
        b: usize,
    },
}

impl Design {
    /// Units of replication per side: the rounds when paired, the mean of the
    /// two sides' repetitions when unpaired.
    pub fn units(self) -> f64 {
        match self {
            Design::Paired { rounds } => rounds as f64,
            Design::Unpaired { a, b } => (a + b) as f64 / 2.0,
        }
    }
}

impl fmt::Display for Design {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Design::Paired { rounds } => write!(f, "paired on {rounds} rounds"),
            Design::Unpaired { a, b } => write!(f, "unpaired (Welch), {a} vs {b} repetitions"),
        }
    }
}

/// One complete round: the per-repetition statistic of the baseline and of the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RoundPair {
    /// The baseline's repetition statistic in this round.
    pub baseline: f64,
    /// The candidate's repetition statistic in this round.
    pub candidate: f64,
}

/// The per-repetition statistics of a comparison, paired by round or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "design", rename_all = "snake_case")]
pub enum Observations {
    /// Complete rounds, each with both sides.
    Paired {
        /// One pair per complete round.
        pairs: Vec<RoundPair>,
    },
    /// Repetitions of each side without a pairing.
    Unpaired {
        /// The baseline's repetition statistics.
        baseline: Vec<f64>,
        /// The candidate's repetition statistics.
        candidate: Vec<f64>,
    },
}

impl Observations {
    /// Pairs repetitions that share a round (`(round, statistic)`, rounds in any
    /// order, at most one repetition per side and round). With at least
    /// [`MIN_PAIRED_ROUNDS`] complete rounds the result is
    /// [`Observations::Paired`] (rounds with one side only are left out);
    /// otherwise [`Observations::Unpaired`] with every repetition.
    pub fn by_round(baseline: &[(usize, f64)], candidate: &[(usize, f64)]) -> Observations {
        let mut pairs: Vec<(usize, RoundPair)> = baseline
            .iter()
            .filter_map(|&(round, a)| {
                candidate.iter().find(|&&(r, _)| r == round).map(|&(_, b)| {
                    (
                        round,
                        RoundPair {
                            baseline: a,
                            candidate: b,
                        },
                    )
                })
            })
            .collect();
        if pairs.len() >= MIN_PAIRED_ROUNDS {
            pairs.sort_by_key(|&(round, _)| round);
            Observations::Paired {
                pairs: pairs.into_iter().map(|(_, p)| p).collect(),
            }
        } else {
            Observations::Unpaired {
                baseline: baseline.iter().map(|&(_, x)| x).collect(),
                candidate: candidate.iter().map(|&(_, x)| x).collect(),
            }
        }
    }

    /// The design these observations are analysed with.
    pub fn design(&self) -> Design {
        match self {
            Observations::Paired { pairs } => Design::Paired {
                rounds: pairs.len(),
            },
            Observations::Unpaired {
                baseline,
                candidate,
            } => Design::Unpaired {
                a: baseline.len(),
                b: candidate.len(),
            },
        }
    }

    /// Estimate of `ln(candidate / baseline)` ([`paired_log_ratio`] or [`unpaired_log_ratio`]).
    pub fn log_ratio(&self) -> Result<Estimate, StatsError> {
        match self {
            Observations::Paired { pairs } => paired_log_ratio(pairs),
            Observations::Unpaired {
                baseline,
                candidate,
            } => unpaired_log_ratio(baseline, candidate),
        }
    }

    /// Estimate of `candidate - baseline` ([`paired_difference`] or [`unpaired_difference`]).
    pub fn difference(&self) -> Result<Estimate, StatsError> {
        match self {
            Observations::Paired { pairs } => paired_difference(pairs),
            Observations::Unpaired {
                baseline,
                candidate,
            } => unpaired_difference(baseline, candidate),
        }
    }
}

/// The scale of an [`Estimate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// `ln(candidate / baseline)`: [`Estimate::ratio`] is its exponential.
    LogRatio,
    /// `candidate - baseline`, in the unit of the data.
    Difference,
}

/// A mean difference with its standard error and degrees of freedom: the
/// ingredients of a t interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Log ratio or plain difference.
    pub scale: Scale,
    /// Paired or unpaired, with the counts.
    pub design: Design,
    /// The estimate (`d̄`, or `ln b̄ - ln ā` / `b̄ - ā` when unpaired).
    pub estimate: f64,
    /// Its standard error (`s / √n`, or Welch's).
    pub standard_error: f64,
    /// Degrees of freedom of its t distribution (`n - 1`, or Welch–Satterthwaite).
    pub degrees_of_freedom: f64,
}

impl Estimate {
    /// Two-sided t interval on the estimate's own scale at `level` (e.g. 0.99).
    pub fn interval(&self, level: f64) -> Interval {
        let (low, high) = self.bounds_at(1.0 - level);
        Interval { low, high, level }
    }

    /// `exp(estimate)` for a log ratio; the estimate itself for a difference.
    pub fn ratio(&self) -> f64 {
        match self.scale {
            Scale::LogRatio => self.estimate.exp(),
            Scale::Difference => self.estimate,
        }
    }

    /// The interval of [`Estimate::ratio`] at `level`: [`Estimate::interval`]
    /// exponentiated for a log ratio.
    pub fn ratio_interval(&self, level: f64) -> Interval {
        let i = self.interval(level);
        match self.scale {
            Scale::LogRatio => Interval {
                low: i.low.exp(),
                high: i.high.exp(),
                level,
            },
            Scale::Difference => i,
        }
    }

    /// True when the interval of the difference at `level` includes 0: the
    /// difference is within the noise and prints as `≈ 0 [lo, hi]`.
    pub fn includes_zero(&self, level: f64) -> bool {
        self.interval(level).contains(0.0)
    }

    /// `t_{1 - α/2, df} · se` for a two-sided nominal `alpha`.
    pub(crate) fn half_width(&self, alpha: f64) -> f64 {
        if self.standard_error == 0.0 {
            return 0.0;
        }
        t_upper_quantile(alpha / 2.0, self.degrees_of_freedom) * self.standard_error
    }

    /// The interval's ends at two-sided nominal `alpha`; a log ratio's are
    /// clamped to `±100` (see `LOG_BOUND`).
    pub(crate) fn bounds_at(&self, alpha: f64) -> (f64, f64) {
        let half = self.half_width(alpha);
        let (low, high) = (self.estimate - half, self.estimate + half);
        match self.scale {
            Scale::LogRatio => (
                low.clamp(-LOG_BOUND, LOG_BOUND),
                high.clamp(-LOG_BOUND, LOG_BOUND),
            ),
            Scale::Difference => (low, high),
        }
    }
}

/// Paired estimate of `ln(candidate / baseline)` over complete rounds (see the
/// module documentation). Needs 2 pairs and positive, finite statistics.
pub fn paired_log_ratio(pairs: &[RoundPair]) -> Result<Estimate, StatsError> {
    check_pairs(pairs, true)?;
    let d: Vec<f64> = pairs
        .iter()
        .map(|p| (p.candidate / p.baseline).ln())
        .collect();
    Ok(paired(&d, Scale::LogRatio))
}

/// Paired estimate of `candidate - baseline` over complete rounds. Needs 2 pairs.
pub fn paired_difference(pairs: &[RoundPair]) -> Result<Estimate, StatsError> {
    check_pairs(pairs, false)?;
    let d: Vec<f64> = pairs.iter().map(|p| p.candidate - p.baseline).collect();
    Ok(paired(&d, Scale::Difference))
}

/// Welch estimate of `ln(candidate / baseline)`: the difference of the means
/// of the log statistics. Needs 2 repetitions per side, positive and finite.
pub fn unpaired_log_ratio(baseline: &[f64], candidate: &[f64]) -> Result<Estimate, StatsError> {
    check_side(baseline, Arm::Baseline, true)?;
    check_side(candidate, Arm::Candidate, true)?;
    let ln = |x: &[f64]| x.iter().map(|v| v.ln()).collect::<Vec<f64>>();
    Ok(welch(&ln(baseline), &ln(candidate), Scale::LogRatio))
}

/// Welch estimate of `candidate - baseline`. Needs 2 repetitions per side.
pub fn unpaired_difference(baseline: &[f64], candidate: &[f64]) -> Result<Estimate, StatsError> {
    check_side(baseline, Arm::Baseline, false)?;
    check_side(candidate, Arm::Candidate, false)?;
    Ok(welch(baseline, candidate, Scale::Difference))
}

fn paired(d: &[f64], scale: Scale) -> Estimate {
    let n = d.len() as f64;
    let (mean, variance) = mean_and_variance(d);
    Estimate {
        scale,
        design: Design::Paired { rounds: d.len() },
        estimate: mean,
        standard_error: (variance / n).sqrt(),
        degrees_of_freedom: n - 1.0,
    }
}

fn welch(a: &[f64], b: &[f64], scale: Scale) -> Estimate {
    let (mean_a, var_a) = mean_and_variance(a);
    let (mean_b, var_b) = mean_and_variance(b);
    let (n_a, n_b) = (a.len() as f64, b.len() as f64);
    let (u_a, u_b) = (var_a / n_a, var_b / n_b);
    let se2 = u_a + u_b;
    let degrees_of_freedom = if se2 > 0.0 {
        se2 * se2 / (u_a * u_a / (n_a - 1.0) + u_b * u_b / (n_b - 1.0))
    } else {
        n_a + n_b - 2.0
    };
    Estimate {
        scale,
        design: Design::Unpaired {
            a: a.len(),
            b: b.len(),
        },
        estimate: mean_b - mean_a,
        standard_error: se2.sqrt(),
        degrees_of_freedom,
    }
}

/// Mean and sample variance (`n - 1`) of at least two values.
pub(crate) fn mean_and_variance(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let ss: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
    (mean, ss / (n - 1.0))
}

fn check_pairs(pairs: &[RoundPair], positive: bool) -> Result<(), StatsError> {
    if pairs.len() < 2 {
        return Err(StatsError::TooFewForInterval {
            have: pairs.len(),
            need: 2,
        });
    }
    for (index, p) in pairs.iter().enumerate() {
        for (value, arm) in [(p.baseline, Arm::Baseline), (p.candidate, Arm::Candidate)] {
            check_value(value, arm, index, positive)?;
        }
    }
    Ok(())
}

fn check_side(x: &[f64], arm: Arm, positive: bool) -> Result<(), StatsError> {
    if x.len() < 2 {
        return Err(StatsError::TooFewForInterval {
            have: x.len(),
            need: 2,
        });
    }
    for (index, &value) in x.iter().enumerate() {
        check_value(value, arm, index, positive)?;
    }
    Ok(())
}

fn check_value(value: f64, arm: Arm, index: usize, positive: bool) -> Result<(), StatsError> {
    if !value.is_finite() {
        return Err(StatsError::NotFiniteStatistic { arm, index });
    }
    if positive && value <= 0.0 {
        return Err(StatsError::NotPositive { arm, index });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(a: &[f64], b: &[f64]) -> Vec<RoundPair> {
        a.iter()
            .zip(b)
            .map(|(&baseline, &candidate)| RoundPair {
                baseline,
                candidate,
            })
            .collect()
    }

    // Known answers, scipy 1.17.1 (python3 -m venv /tmp/v && /tmp/v/bin/pip install scipy):
    //   a = np.array([296.6, 263.4, 272.6, 281.0, 270.2]); b = np.array([301.5, 288.0, 279.9, 310.2, 284.4])
    //   d = np.log(b / a); d.mean(), d.std(ddof=1)
    //   stats.ttest_rel(np.log(b), np.log(a)).confidence_interval(0.99)
    //   w = stats.ttest_ind(np.log(b), np.log(a), equal_var=False); w.df, w.confidence_interval(0.95)
    //   stats.ttest_ind(b, a, equal_var=False).df
    const A: [f64; 5] = [296.6, 263.4, 272.6, 281.0, 270.2];
    const B: [f64; 5] = [301.5, 288.0, 279.9, 310.2, 284.4];

    #[test]
    fn paired_and_welch_match_scipy() {
        let e = paired_log_ratio(&pairs(&A, &B)).unwrap();
        assert_eq!(e.design, Design::Paired { rounds: 5 });
        assert!((e.estimate - PAIRED_MEAN).abs() < 1e-14, "{e:?}");
        assert!(
            (e.standard_error - PAIRED_SD / 5f64.sqrt()).abs() < 1e-14,
            "{e:?}"
        );
        assert_eq!(e.degrees_of_freedom, 4.0);
        let i = e.interval(0.99);
        assert!((i.low - PAIRED_99.0).abs() < 1e-9, "{i:?}");
        assert!((i.high - PAIRED_99.1).abs() < 1e-9, "{i:?}");
        let r = e.ratio_interval(0.99);
        assert!((r.low - PAIRED_99.0.exp()).abs() < 1e-9 && r.level == 0.99);
        assert!((e.ratio() - PAIRED_MEAN.exp()).abs() < 1e-14);

        let w = unpaired_log_ratio(&A, &B).unwrap();
        assert_eq!(w.design, Design::Unpaired { a: 5, b: 5 });
        assert!((w.degrees_of_freedom - WELCH_DF).abs() < 1e-9, "{w:?}");
        let i = w.interval(0.95);
        assert!((i.low - WELCH_95.0).abs() < 1e-9, "{i:?}");
        assert!((i.high - WELCH_95.1).abs() < 1e-9, "{i:?}");

        // Plain differences (memory-like figures).
        let d = paired_difference(&pairs(&A, &B)).unwrap();
        assert!((d.estimate - 16.04).abs() < 1e-9 && d.scale == Scale::Difference);
        assert_eq!(d.ratio(), d.estimate);
        let u = unpaired_difference(&A, &B).unwrap();
        assert!(
            (u.degrees_of_freedom - WELCH_DF_PLAIN).abs() < 1e-9,
            "{u:?}"
        );
    }

    // The answers of the scipy commands above.
    const PAIRED_MEAN: f64 = 0.05643620167216581;
    const PAIRED_SD: f64 = 0.0367796819473065;
    const PAIRED_99: (f64, f64) = (-0.019293671805481902, 0.1321660751498135);
    const WELCH_DF: f64 = 7.97134385339421;
    const WELCH_95: (f64, f64) = (-0.008031073097600941, 0.12090347644193251);
    const WELCH_DF_PLAIN: f64 = 7.9993098350836815;

    #[test]
    fn memory_differences_within_the_noise_include_zero() {
        // A/A-like memory figures (MiB): differences of a few MiB either way.
        let a = [812.0, 809.5, 815.2, 810.1, 813.3, 811.0];
        let b = [809.1, 811.8, 812.0, 806.9, 814.0, 809.6];
        let d = paired_difference(&pairs(&a, &b)).unwrap();
        assert!(d.estimate < 0.0 && d.includes_zero(0.95), "{d:?}");
        let more = [830.0, 829.5, 834.2, 831.1, 832.3, 830.0];
        let d = paired_difference(&pairs(&a, &more)).unwrap();
        assert!(!d.includes_zero(0.95), "{d:?}");
    }

    #[test]
    fn by_round_pairs_complete_rounds_and_falls_back_to_welch() {
        let a = [(0, 10.0), (1, 11.0), (2, 12.0), (3, 13.0)];
        let b = [(3, 14.0), (1, 12.0), (0, 10.5)];
        let o = Observations::by_round(&a, &b);
        assert_eq!(o.design(), Design::Paired { rounds: 3 });
        let Observations::Paired { pairs } = &o else {
            panic!("{o:?}")
        };
        assert_eq!(
            pairs[2],
            RoundPair {
                baseline: 13.0,
                candidate: 14.0
            }
        );
        // Two complete rounds only: unpaired on every repetition.
        let o = Observations::by_round(&a, &b[..2]);
        assert_eq!(o.design(), Design::Unpaired { a: 4, b: 2 });
        assert_eq!(
            o.log_ratio().unwrap().design,
            Design::Unpaired { a: 4, b: 2 }
        );
        let json = serde_json::to_string(&o).unwrap();
        assert_eq!(serde_json::from_str::<Observations>(&json).unwrap(), o);
        assert_eq!(
            serde_json::to_string(&Design::Paired { rounds: 7 }).unwrap(),
            r#"{"design":"paired","rounds":7}"#
        );
        assert_eq!(
            Design::Paired { rounds: 7 }.to_string(),
            "paired on 7 rounds"
        );
        assert_eq!(
            Design::Unpaired { a: 6, b: 5 }.to_string(),
            "unpaired (Welch), 6 vs 5 repetitions"
        );
    }

    #[test]
    fn bad_input() {
        assert_eq!(
            paired_log_ratio(&pairs(&[1.0], &[2.0])),
            Err(StatsError::TooFewForInterval { have: 1, need: 2 })
        );
        assert_eq!(
            paired_log_ratio(&pairs(&[1.0, 2.0], &[2.0, 0.0])),
            Err(StatsError::NotPositive {
                arm: Arm::Candidate,
                index: 1
            })
        );
        assert_eq!(
            unpaired_log_ratio(&[1.0, f64::NAN], &[2.0, 3.0]),
            Err(StatsError::NotFiniteStatistic {
                arm: Arm::Baseline,
                index: 1
            })
        );
        // A difference may be negative or zero; identical sides give a zero-width interval.
        let e = unpaired_difference(&[1.0, 1.0], &[1.0, 1.0]).unwrap();
        assert_eq!((e.standard_error, e.degrees_of_freedom), (0.0, 2.0));
        assert_eq!(
            e.interval(0.99),
            Interval {
                low: 0.0,
                high: 0.0,
                level: 0.99
            }
        );
    }
}
