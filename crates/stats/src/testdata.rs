//! Synthetic data for tests.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::sample::Repeated;

/// One standard normal draw (Box-Muller).
pub(crate) fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `n` normal samples (Box-Muller) with the given mean and standard deviation.
pub(crate) fn normal(n: usize, mean: f64, std: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| mean + std * standard_normal(&mut rng))
        .collect()
}

/// `repetitions` repetitions of `iterations` values each, like a benchmark on a
/// drifting host: every value of a repetition is `mu * (1 + offset) * (1 + noise)`,
/// with one `offset ~ N(0, between)` per repetition and `noise ~ N(0, within)`
/// per value (both relative).
pub(crate) fn repeated(
    repetitions: usize,
    iterations: usize,
    mu: f64,
    between: f64,
    within: f64,
    seed: u64,
) -> Repeated {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let values = (0..repetitions)
        .map(|_| {
            let level = mu * (1.0 + between * standard_normal(&mut rng));
            (0..iterations)
                .map(|_| level * (1.0 + within * standard_normal(&mut rng)))
                .collect()
        })
        .collect();
    Repeated::new(values).expect("finite, non-empty")
}
