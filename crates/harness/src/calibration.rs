//! The host-speed probe: a short, fixed, CPU-bound reference computation
//! timed on the host before and after every repetition.
//!
//! The host's speed drifts (the same inference measured 252 ms and, twenty
//! minutes later, 408 ms on one of these machines), so a difference between
//! two environments measured at different moments may be the host's, not
//! theirs. The probe puts a number on that: the same code every time, so
//! when it takes 10% longer the host was about 10% slower at that moment.
//!
//! The computation is a 64×64 double-precision matrix product repeated
//! [`PRODUCTS`] times (about 10 ms on a 2020s x86 core); one probe is the
//! median of [`RUNS`] timed runs, which shrugs off a single preemption.

use std::hint::black_box;
use std::time::Instant;

use isobench_results::{AffectedRepetition, Calibration, HostSpeed, ResultsFile};

/// Matrix side of the reference computation.
const SIZE: usize = 64;
/// Matrix products per timed run.
pub const PRODUCTS: usize = 200;
/// Timed runs per probe (the median is kept).
pub const RUNS: usize = 3;
/// Relative difference of a repetition's probe from the experiment's median
/// (or between two experiments' medians) above which the host is said to have drifted.
pub const DRIFT_THRESHOLD: f64 = 0.05;

/// One timed run of the reference computation, seconds.
fn timed_run() -> f64 {
    let a: Vec<f64> = (0..SIZE * SIZE).map(|i| (i % 17) as f64 * 0.25).collect();
    let mut b: Vec<f64> = (0..SIZE * SIZE).map(|i| (i % 13) as f64 * 0.5).collect();
    let mut c = vec![0.0f64; SIZE * SIZE];
    let started = Instant::now();
    for _ in 0..PRODUCTS {
        for i in 0..SIZE {
            for k in 0..SIZE {
                let aik = black_box(a[i * SIZE + k]);
                for j in 0..SIZE {
                    c[i * SIZE + j] += aik * b[k * SIZE + j];
                }
            }
        }
        // Feed the result back so no product can be skipped.
        b[0] = black_box(c[SIZE * SIZE - 1]) * 1e-12;
    }
    black_box(&c);
    started.elapsed().as_secs_f64()
}

/// Times the reference computation: the median of [`RUNS`] runs, seconds.
pub fn probe() -> f64 {
    let mut runs: Vec<f64> = (0..RUNS).map(|_| timed_run()).collect();
    runs.sort_by(f64::total_cmp);
    runs[RUNS / 2]
}

/// The experiment-wide host-speed figure from every repetition's probe;
/// `None` when no repetition has one.
pub fn host_speed(results: &ResultsFile) -> Option<HostSpeed> {
    let probes: Vec<((&str, u32), f64)> = results
        .environments
        .iter()
        .flat_map(|env| {
            env.repetitions.iter().filter_map(move |rep| {
                rep.calibration
                    .map(|c| ((env.name.as_str(), rep.round), c.seconds()))
            })
        })
        .collect();
    host_speed_of(probes)
}

/// The host-speed figure from `((environment, round), probe seconds)`
/// pairs, however a mode numbers its rounds (the batch mode's rounds, the
/// density mode's turns); `None` without probes.
pub fn host_speed_of(mut probes: Vec<((&str, u32), f64)>) -> Option<HostSpeed> {
    if probes.is_empty() {
        return None;
    }
    let mut values: Vec<f64> = probes.iter().map(|(_, v)| *v).collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    let (min, max) = (values[0], values[n - 1]);
    probes.sort_by(|a, b| {
        let da = (a.1 / median - 1.0).abs();
        let db = (b.1 / median - 1.0).abs();
        db.total_cmp(&da)
    });
    let affected = probes
        .iter()
        .filter(|(_, v)| (v / median - 1.0).abs() > DRIFT_THRESHOLD)
        .map(|&((env, round), v)| AffectedRepetition {
            env: env.to_string(),
            round,
            off: v / median - 1.0,
        })
        .collect();
    Some(HostSpeed {
        median_seconds: median,
        min_seconds: min,
        max_seconds: max,
        drift: if min > 0.0 { max / min - 1.0 } else { 0.0 },
        affected,
    })
}

/// A [`Calibration`] from a probe before and one after.
pub fn calibration(before: f64, after: f64) -> Calibration {
    Calibration { before, after }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isobench_results::{EnvironmentResult, Repetition};

    #[test]
    fn the_probe_takes_time_and_is_repeatable_in_order_of_magnitude() {
        let a = probe();
        let b = probe();
        assert!(a > 0.0 && b > 0.0);
        // Same code, same host, moments apart: within a factor 5 even on a busy machine.
        assert!(a / b < 5.0 && b / a < 5.0, "{a} vs {b}");
    }

    fn env(name: &str, probes: &[f64]) -> EnvironmentResult {
        EnvironmentResult {
            repetitions: probes
                .iter()
                .enumerate()
                .map(|(i, &p)| Repetition {
                    round: i as u32 + 1,
                    calibration: Some(calibration(p, p)),
                    ..Repetition::default()
                })
                .collect(),
            ..EnvironmentResult::new(name, probes.len() as u32)
        }
    }

    #[test]
    fn drift_names_the_repetitions_it_affected() {
        let mut results: ResultsFile =
            serde_json::from_str(include_str!("../tests/data/empty-results.json")).unwrap();
        assert_eq!(host_speed(&results), None);
        results.environments = vec![
            env("native", &[0.010, 0.0101, 0.0099]),
            env("docker", &[0.010, 0.0100, 0.0130]),
        ];
        let speed = host_speed(&results).unwrap();
        assert!((speed.median_seconds - 0.010).abs() < 1e-9);
        assert!((speed.drift - (0.013 / 0.0099 - 1.0)).abs() < 1e-9);
        assert_eq!(speed.affected.len(), 1);
        let affected = &speed.affected[0];
        assert_eq!((affected.env.as_str(), affected.round), ("docker", 3));
        assert!((affected.off - 0.30).abs() < 1e-9, "{affected:?}");
    }
}
