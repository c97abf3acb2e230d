//! Synthetic data for tests.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` normal samples (Box-Muller) with the given mean and standard deviation.
pub(crate) fn normal(n: usize, mean: f64, std: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let u1: f64 = 1.0 - rng.gen::<f64>();
            let u2: f64 = rng.gen();
            mean + std * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        })
        .collect()
}
