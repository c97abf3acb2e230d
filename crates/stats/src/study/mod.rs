//! The simulation study of the verdict: coverage of the intervals, and the
//! error rates and power of the old fixed design against the new sequential
//! default, on a data model taken from runs on this machine.
//!
//! Print every table (seeded: the same numbers every time):
//!
//! ```text
//! cargo test --release -p isobench-stats study:: -- --nocapture --test-threads 1
//! ```
//!
//! # Data model ([`model`])
//!
//! - **Costs** (the issue's default run, yolov8 on 6 environments, 6 × 20 in
//!   8.1 minutes): 2.7 s per instance (launch to ready plus warm-up) and 0.54 s
//!   per iteration. Each round runs all 6 environments in a shuffled order; two
//!   of them are compared, the other four only take time.
//! - **Host drift**: the host's speed is `1 + 0.2 sin(2π t / 600 s + φ)` with a
//!   random phase, ±20% over ten minutes, applied to every iteration at the
//!   moment it runs. Interleaving within a round cancels it only partly: the
//!   two compared instances of a round run up to a round apart.
//! - **Instances and iterations**: the baseline's iteration noise is drawn
//!   from `U(2%, 5%)` and its intraclass correlation from `U(0.3, 0.7)` (the
//!   ICC of 0.26–0.66 measured in the issue's run includes the drift, so the
//!   instances' own share is if anything lower), giving per-instance offsets of
//!   1.3–7.6% (log-normal). The candidate is 1.5× noisier in both.
//!   A sensitivity table uses offsets of 4–8% instead.
//! - **Outliers**: a quarter of the runs have one repetition 30% slower.
//! - **`compare`**: two sessions of 12 repetitions of one environment, each with
//!   its own drift phase (or a steady host), the second with a session offset of
//!   0, +2.5% or +5%.
//! - The true ratio is that of the environments' geometric means (the paired
//!   analysis' estimand); times are log-normal around it.
//!
//! # Designs ([`runs`])
//!
//! - **Old fixed**: 6 rounds × 20 iterations, the unpaired exact permutation
//!   test on repetition means and the old rule ([`crate::Comparison`]: p < 0.01
//!   and |change| > 5%); "no significant difference" counts as neither.
//! - **Fixed paired**: 6 rounds × 5 iterations, one final look at 99%.
//! - **Sequential paired (the new default)**: a pilot of 5 rounds × 5
//!   iterations (3 for the 3-minute budget), then iterations from
//!   [`crate::iterations_per_instance`] (within 3–30); a look after every round
//!   from round 5, O'Brien–Fleming-type spending at α = 0.01, until decided or
//!   the rounds (12, 24) or the budget (the time of that many pilot rounds, or 3
//!   minutes of 6 environments) are spent.
//!
//! # What the tests assert
//!
//! - Coverage ([`coverage`]): the paired t interval within two points of 90%,
//!   95% and 99% at 5, 6, 8 and 12 rounds, on the drifting and on a steady host
//!   (Welch and the two-level bootstrap are printed for comparison only).
//! - With no true difference, false slower/faster at most α = 1% (binomial
//!   margins in the comments) for the sequential default, the old design and
//!   `compare` without a session offset.
//! - A true 10% slowdown called slower in at least 95% of default runs with
//!   a budget of 24 rounds. (With 12 rounds it is about three runs in four;
//!   with the harsher 4–8% offsets 24 rounds give about 80% and 36 rounds 94%.)

mod coverage;
mod model;
mod power;
mod runs;
