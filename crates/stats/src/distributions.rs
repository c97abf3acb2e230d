//! The few distribution functions the intervals and boundaries need: the
//! standard normal's density, upper tail and quantile, and Student's t upper
//! tail and quantile, from `statrs`'s `erfc`, `erfc_inv`, regularised
//! incomplete beta function and log-gamma.
//!
//! Every function takes an *upper-tail* probability, so that the extreme
//! levels of early sequential looks (e.g. `1e-12`) keep their precision
//! instead of being lost in `1 - p`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::f64::consts::PI;

use statrs::function::beta::beta_reg;
use statrs::function::erf::{erfc, erfc_inv};
use statrs::function::gamma::ln_gamma;

/// Standard normal density.
pub(crate) fn normal_density(z: f64) -> f64 {
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    INV_SQRT_2PI * (-0.5 * z * z).exp()
}

/// `P(Z > z)` for a standard normal `Z`, accurate in the far tail.
pub(crate) fn normal_upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The `z` with `P(Z > z) = upper` (`upper` in `(0, 1)`).
pub(crate) fn normal_upper_quantile(upper: f64) -> f64 {
    std::f64::consts::SQRT_2 * erfc_inv(2.0 * upper)
}

/// `P(T > t)` for Student's t with `df` degrees of freedom and `t >= 0`:
/// `I_{df / (df + t²)}(df / 2, 1 / 2) / 2` (regularised incomplete beta).
pub(crate) fn t_upper_tail(t: f64, df: f64) -> f64 {
    0.5 * beta_reg(0.5 * df, 0.5, df / (df + t * t))
}

/// The `t` with `P(T > t) = upper` for Student's t with `df` degrees of
/// freedom (`df > 0`, not necessarily an integer; `upper` in `(0, 0.5]`).
///
/// Newton's method on `ln P(T > e^u) = ln upper`, nearly linear in `u = ln t`
/// in the tail, with the tail probability from [`t_upper_tail`] (accurate to
/// about `1e-14` there). It starts from the Cornish–Fisher expansion
/// (Abramowitz & Stegun 26.7.5) for `df >= 8`, else from the larger of the
/// normal quantile and the tail's power law `P(T > t) ≈ C t^{-df}`, and
/// converges in a few steps. (`statrs`'s own inverse drifts by up to 10% in
/// the far tail, e.g. at `1e-8` with one degree of freedom.) Beyond a million
/// degrees of freedom it is the normal quantile (they agree to about `1e-6`).
pub(crate) fn t_upper_quantile(upper: f64, df: f64) -> f64 {
    // A run re-decides after every round with the same few levels and degrees
    // of freedom: remember recent answers (bounded; exact keys, so the same
    // result as computing afresh).
    thread_local! {
        static RECENT: RefCell<HashMap<(u64, u64), f64>> = RefCell::new(HashMap::new());
    }
    let key = (upper.to_bits(), df.to_bits());
    if let Some(t) = RECENT.with(|r| r.borrow().get(&key).copied()) {
        return t;
    }
    let t = compute_t_upper_quantile(upper, df);
    RECENT.with(|r| {
        let mut r = r.borrow_mut();
        if r.len() >= 4096 {
            r.clear();
        }
        r.insert(key, t);
    });
    t
}

/// [`t_upper_quantile`] without the memory of recent answers.
fn compute_t_upper_quantile(upper: f64, df: f64) -> f64 {
    debug_assert!(upper > 0.0 && upper <= 0.5 && df > 0.0, "{upper} {df}");
    if df > 1e6 {
        return normal_upper_quantile(upper);
    }
    if upper >= 0.5 {
        return 0.0;
    }
    let z = normal_upper_quantile(upper);
    // ln of the density's constant, Γ((df + 1) / 2) / (√(df π) Γ(df / 2)).
    let log_norm = ln_gamma(0.5 * (df + 1.0)) - ln_gamma(0.5 * df) - 0.5 * (df * PI).ln();
    let mut t = if df >= 8.0 {
        let z2 = z * z;
        let g1 = (z2 + 1.0) * z / 4.0;
        let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
        let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
        let g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
        z + g1 / df + g2 / df.powi(2) + g3 / df.powi(3) + g4 / df.powi(4)
    } else {
        // P(T > t) ≈ f(t) t / df for large t: solve C t^{-df} = upper.
        let log_c = log_norm + 0.5 * (df + 1.0) * df.ln() - df.ln();
        ((log_c - upper.ln()) / df).exp().max(z)
    };
    if !(t.is_finite() && t > 0.0) {
        t = z.max(1e-3);
    }
    let target = upper.ln();
    for _ in 0..60 {
        let tail = t_upper_tail(t, df);
        let log_density = log_norm - 0.5 * (df + 1.0) * (t * t / df).ln_1p();
        // d ln tail / d ln t = -t f(t) / tail.
        let slope = -(t.ln() + log_density - tail.ln()).exp();
        // Damped: at most a factor e per step.
        let step = ((tail.ln() - target) / slope).clamp(-1.0, 1.0);
        t *= (-step).exp();
        if step.abs() < 1e-13 {
            break;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scipy 1.17.1: `stats.t.isf(p, df)` and `stats.norm.isf(p)`, `stats.norm.sf(x)`
    /// (`python3 -m venv /tmp/v && /tmp/v/bin/pip install scipy`).
    #[test]
    fn quantiles_match_scipy() {
        #[rustfmt::skip]
        let t_known = [
            (1.0, 0.2, 1.3763819204711736), (1.0, 0.005, 63.65674116287158),
            (1.0, 1e-8, 31830988.61837906),
            (2.0, 0.025, 4.302652729749464), (2.0, 1e-12, 707106.7811854869),
            (4.0, 0.2, 0.9409645772351811), (4.0, 0.005, 4.604094871349993),
            (4.0, 1e-4, 13.033671720896455), (4.0, 1e-12, 1316.0727465592565),
            (5.0, 0.025, 2.5705818356363155), (5.0, 1e-8, 62.4045061109673),
            (11.0, 0.2, 0.8755299780738814), (11.0, 0.005, 3.105806515539281),
            (11.0, 1e-12, 33.507191552725054),
            (23.0, 0.005, 2.8073356837699994), (23.0, 1e-4, 4.415204712970388),
            (59.0, 0.025, 2.000995378088268), (59.0, 1e-12, 8.854256407952034),
            (7.3, 0.2, 0.893671357180227), (7.3, 0.005, 3.4510316556221854),
            (7.3, 1e-8, 25.679425650359136),
        ];
        for (df, p, expected) in t_known {
            let t = t_upper_quantile(p, df);
            assert!(
                (t / expected - 1.0).abs() < 1e-9,
                "t({df}) at {p}: {t} vs {expected}"
            );
        }
        for (p, expected) in [
            (0.2, 0.8416212335729142),
            (0.025, 1.9599639845400545),
            (0.005, 2.575829303548901),
            (1e-4, 3.7190164854556804),
            (1e-12, 7.034483825301131),
        ] {
            let z = normal_upper_quantile(p);
            assert!((z / expected - 1.0).abs() < 1e-12, "z at {p}: {z}");
            assert!((t_upper_quantile(p, 2e6) / expected - 1.0).abs() < 1e-5);
        }
        for (x, expected) in [
            (0.5, 0.3085375387259869),
            (1.96, 0.024997895148220435),
            (4.0, 3.167124183311986e-05),
            (8.0, 6.22096057427174e-16),
        ] {
            let q = normal_upper_tail(x);
            // statrs's erfc is good to about 1e-10 relative.
            assert!((q / expected - 1.0).abs() < 1e-9, "Q({x}): {q}");
        }
        assert!((normal_density(0.0) - 0.3989422804014327).abs() < 1e-16);
    }
}
