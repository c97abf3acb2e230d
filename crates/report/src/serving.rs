//! The terminal table of `isobench serve-bench`: one row per environment
//! and scenario, drawn by the same formatter as the run's and compare's.

use isobench_results::ServingResult;

use crate::format::{num, or_dash, DASH};
use crate::text_table::{Align, TextTable};

/// Milliseconds from µs with about 4 significant digits.
fn ms(us: f64) -> String {
    num(us / 1e3)
}

/// The row of one serving result.
fn row(r: &ServingResult) -> Vec<String> {
    let bound = match (r.latency_bound_ms, r.bound_met) {
        (Some(b), Some(met)) => format!("{b:.1} ms {}", if met { "met" } else { "MISSED" }),
        _ => DASH.into(),
    };
    let ratio = match (r.latency_ratio_to_native, r.throughput_ratio_to_native) {
        (Some(l), Some(t)) => format!("lat {l:.2}×, thr {t:.2}×"),
        (Some(l), None) => format!("lat {l:.2}×"),
        _ => DASH.into(),
    };
    vec![
        r.env.clone(),
        r.scenario.clone() + if r.emulated { " (TCG)" } else { "" },
        r.transport.clone(),
        r.queries.to_string(),
        format!("{:.2}", r.achieved_qps),
        format!("{:.2}", r.samples_per_second),
        ms(r.latency.p50_us),
        ms(r.latency.p90_us),
        ms(r.latency.p99_us),
        format!(
            "p{:.0} {}",
            r.reported_percentile,
            ms(r.reported_latency_us)
        ),
        or_dash(r.round_trip.as_ref(), |t| format!("{:.0}", t.p50_us)),
        or_dash(r.cpu_seconds_per_request, |c| format!("{:.3}", c * 1e3)),
        bound,
        or_dash(r.peak_qps, |q| format!("{q:.2}")),
        ratio,
        format!(
            "{}/{}/{}/{}",
            r.counts.sent, r.counts.answered, r.counts.lost, r.counts.duplicated
        ),
    ]
}

/// The serving table for the terminal: environment, scenario, transport,
/// queries, QPS, samples/s, latency percentiles (ms), the scenario's
/// reported latency, the transport's round trip (µs), host CPU per request,
/// the latency bound, the peak QPS, latency and throughput against native,
/// and the request ids sent / answered / lost / duplicated; a failure's
/// message on a line under its row.
pub fn serving_table(results: &[ServingResult]) -> String {
    let left = |h: &str| (h.to_string(), Align::Left);
    let right = |h: &str| (h.to_string(), Align::Right);
    let mut table = TextTable::new([
        left("env"),
        left("scenario"),
        left("transport"),
        right("queries"),
        right("QPS"),
        right("samples/s"),
        right("p50 ms"),
        right("p90 ms"),
        right("p99 ms"),
        right("reported"),
        right("rtt p50 µs"),
        right("CPU ms/req"),
        left("bound"),
        right("peak QPS"),
        left("vs native"),
        left("ids sent/ok/lost/dup"),
    ]);
    for r in results {
        match &r.failure {
            Some(failure) if r.queries == 0 => {
                table.row(vec![
                    r.env.clone(),
                    r.scenario.clone(),
                    r.transport.clone(),
                    "FAILED".into(),
                ]);
                table.under(format!("error: {}", first_chars(failure, 120)));
            }
            failure => {
                table.row(row(r));
                if let Some(failure) = failure {
                    table.under(format!("error: {}", first_chars(failure, 120)));
                }
            }
        }
    }
    table.render()
}

/// At most `n` characters of `text`, `…` when cut.
fn first_chars(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(n).collect::<String>())
    }
}
