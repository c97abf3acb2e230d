//! Number, unit, date and escaping helpers shared by the exporters.

use isobench_results::EnvironmentResult;

/// A time unit chosen for a column so that every cell of it reads well.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TimeUnit {
    Us,
    Ms,
    S,
}

impl TimeUnit {
    /// Unit for values given in µs whose typical magnitude is `typical_us`.
    pub(crate) fn for_us(typical_us: f64) -> TimeUnit {
        if typical_us >= 1_000_000.0 {
            TimeUnit::S
        } else if typical_us >= 1_000.0 {
            TimeUnit::Ms
        } else {
            TimeUnit::Us
        }
    }

    /// Converts µs to this unit.
    pub(crate) fn conv(self, us: f64) -> f64 {
        match self {
            TimeUnit::Us => us,
            TimeUnit::Ms => us / 1e3,
            TimeUnit::S => us / 1e6,
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            TimeUnit::Us => "µs",
            TimeUnit::Ms => "ms",
            TimeUnit::S => "s",
        }
    }
}

/// A number with about 4 significant digits, without exponent.
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    let decimals = if a >= 1000.0 {
        0
    } else if a >= 100.0 {
        1
    } else if a >= 10.0 {
        2
    } else if a >= 1.0 {
        3
    } else {
        4
    };
    format!("{v:.decimals$}")
}

/// A number with 3 significant digits, without exponent (`9.99`, `0.219`, `10.6`, `316`).
pub(crate) fn sig3(v: f64) -> String {
    if !v.is_finite() {
        return DASH.into();
    }
    let a = v.abs();
    let decimals = if a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    format!("{v:.decimals$}")
}

/// An axis tick label: like [`num`] without trailing zeros (`0`, `2.5`, `316`).
pub(crate) fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let s = num(v);
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Bytes as MiB with one decimal.
pub(crate) fn mib(bytes: f64) -> String {
    format!("{:.1}", bytes / (1024.0 * 1024.0))
}

/// A time in µs with a unit chosen for its magnitude, 3 significant digits (`850 µs`, `12.3 ms`, `1.20 s`).
pub(crate) fn time_us(us: f64) -> String {
    let unit = TimeUnit::for_us(us);
    format!("{} {}", sig3(unit.conv(us)), unit.label())
}

/// `v` formatted by `f`, or `—` when absent.
pub(crate) fn or_dash<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| DASH.to_string())
}

/// What an absent figure shows (never 0).
pub(crate) const DASH: &str = "—";

/// Environment name as shown to readers: emulated ones are labelled.
pub(crate) fn env_label(env: &EnvironmentResult) -> String {
    if env.emulated {
        let accel = env.accel.as_deref().unwrap_or("tcg").to_uppercase();
        format!("{} (emulated, {accel})", env.name)
    } else {
        env.name.clone()
    }
}

/// Failed and total repetitions of `env` (a repetition failed when its error is set).
pub(crate) fn failed_count(env: &EnvironmentResult) -> (usize, usize) {
    let failed = env.repetitions.iter().filter(|r| r.error.is_some()).count();
    (failed, env.repetitions.len())
}

/// `(partly failed: k of n repetitions)` for an environment that measured
/// something but had a repetition fail; `None` otherwise.
pub(crate) fn partly_failed_mark(env: &EnvironmentResult) -> Option<String> {
    if env.summary.is_none() || !env.partly_failed() {
        return None;
    }
    let (failed, total) = failed_count(env);
    Some(if failed > 0 {
        format!("(partly failed: {failed} of {total} repetitions)")
    } else {
        "(partly failed)".to_string()
    })
}

/// [`env_label`] plus the partly-failed mark: the Environment cell of every table.
pub(crate) fn env_label_marked(env: &EnvironmentResult) -> String {
    match partly_failed_mark(env) {
        Some(mark) => format!("{} {mark}", env_label(env)),
        None => env_label(env),
    }
}

/// `n` as superscript digits (footnote marks).
pub(crate) fn superscript(n: usize) -> String {
    const DIGITS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    n.to_string()
        .chars()
        .map(|c| DIGITS[c.to_digit(10).unwrap_or(0) as usize])
        .collect()
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let rem = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Escapes text for HTML / SVG content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Escapes a Markdown table cell.
pub(crate) fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Quotes a CSV field when needed (RFC 4180).
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_units_and_escaping() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_795_000_000), "2026-11-18 11:06:40 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(TimeUnit::for_us(850.0), TimeUnit::Us);
        assert_eq!(TimeUnit::for_us(12_000.0), TimeUnit::Ms);
        assert_eq!(num(12.3456), "12.35");
        assert_eq!(
            (tick(0.0), tick(10.0), tick(2.5), tick(1000.0)),
            ("0".into(), "10".into(), "2.5".into(), "1000".into())
        );
        assert_eq!(esc("<a href=\"x\">"), "&lt;a href=&quot;x&quot;&gt;");
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(md_cell("a|b"), "a\\|b");
        assert_eq!(superscript(12), "¹²");
        assert_eq!(time_us(12_345.0), "12.3 ms");
        assert_eq!(
            (sig3(0.2193), sig3(9.992), sig3(316.2)),
            ("0.219".into(), "9.99".into(), "316".into())
        );
        assert_eq!(or_dash(None::<f64>, num), "—");
    }
}
