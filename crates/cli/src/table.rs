//! The terminal summary table printed after a run.

use isobench_results::{ResultsFile, Status};

fn ms(us: f64) -> String {
    if us >= 100_000.0 {
        format!("{:.0} ms", us / 1000.0)
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Renders the summary table: environment, start time, inference mean ± σ,
/// p99, CPU %, memory, ratio to the baseline.
pub fn render(results: &ResultsFile) -> String {
    let header = [
        "environment",
        "start (ready)",
        "inference mean ± σ",
        "min … max",
        "p99",
        "CPU % (1 core)",
        "CPU s/inf",
        "peak mem",
        "vs baseline",
    ];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let baseline = results.baseline().map(|b| b.name.clone());
    for env in &results.environments {
        let name = if env.emulated {
            format!(
                "{} (emulated, {})",
                env.name,
                env.accel.as_deref().unwrap_or("tcg")
            )
        } else {
            env.name.clone()
        };
        match (&env.summary, &env.status) {
            (Some(s), status) => {
                let start = s
                    .ready_seconds
                    .as_ref()
                    .map(|r| format!("{:.3} s", r.median))
                    .unwrap_or_else(|| "-".into());
                let ratio = match &s.ratio_to_baseline {
                    Some(r) => format!(
                        "{:.3}x [{:.3}, {:.3}]{}",
                        r.ratio,
                        r.ci.low,
                        r.ci.high,
                        if r.significant { " *" } else { "" }
                    ),
                    None if Some(&env.name) == baseline.as_ref() => "baseline".into(),
                    None => "-".into(),
                };
                let mut name = name;
                if let Status::Failed { .. } = status {
                    name.push_str(" (partly failed)");
                }
                rows.push(vec![
                    name,
                    start,
                    format!("{} ± {}", ms(s.inference_us.mean), ms(s.inference_us.std)),
                    format!("{} … {}", ms(s.inference_us.min), ms(s.inference_us.max)),
                    ms(s.inference_us.p99),
                    format!("{:.1}", s.cpu_percent),
                    format!("{:.4}", s.cpu_seconds_per_inference),
                    match s.memory_overhead_bytes {
                        Some(over) => format!(
                            "{} ({:+.1})",
                            mib(s.peak_memory_bytes),
                            over as f64 / 1048576.0
                        ),
                        None => mib(s.peak_memory_bytes),
                    },
                    ratio,
                ]);
            }
            (None, Status::Skipped { reason }) => {
                rows.push(vec![name, format!("skipped: {reason}")])
            }
            (None, Status::Failed { reason }) => rows.push(vec![name, format!("FAILED: {reason}")]),
            (None, Status::Completed) => rows.push(vec![name, "no samples".into()]),
        }
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .filter(|r| r.len() > 1)
                .map(|r| r.get(c).map(|s| s.chars().count()).unwrap_or(0))
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| -> String {
        if cells.len() == 2 {
            return format!("{:<w$}  {}", cells[0], cells[1], w = widths[0]);
        }
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:<w$}", c, w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = String::new();
    out.push_str(&line(header.iter().map(|s| s.to_string()).collect()));
    out.push('\n');
    out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
    out.push('\n');
    for row in rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out.push_str("(* : the 95% bootstrap CI of the ratio excludes 1: the difference is real at that level)\n");
    for warning in &results.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    out
}
