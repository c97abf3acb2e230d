//! One self-contained HTML page: inline CSS and SVG, no scripts, no network;
//! opens from disk. Light and dark via `prefers-color-scheme`.
//!
//! Every chart is `<figure class="chart" id="ID">` holding one inline `<svg>`
//! (ids in [`crate::charts::Chart::id`]).

use isobench_results::{ResultsFile, Status};

use super::{inference_unit, summary_headers, summary_rows, Exporter};
use crate::charts::{all_charts, FOREGROUND_HEX};
use crate::format::{env_label, esc, mib, num, utc, TimeUnit};
use crate::ReportError;

/// Exports the HTML report.
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlExporter;

fn css() -> String {
    format!(
        r#":root {{ --bg: #ffffff; --fg: #1d1d1f; --muted: #5f6368; --rule: #d0d4d9; --warn-bg: #fff4d6; --warn-fg: #5c4400; --head: #f3f5f7; color-scheme: light dark; }}
@media (prefers-color-scheme: dark) {{
  :root {{ --bg: #15171a; --fg: #e6e8eb; --muted: #a4abb3; --rule: #3a3f45; --warn-bg: #3d3216; --warn-fg: #f6dc9c; --head: #1f2226; }}
}}
body {{ background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1000px; padding: 1.5rem; }}
h1 {{ font-size: 1.6rem; margin-bottom: .2rem; }}
h2 {{ font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid var(--rule); padding-bottom: .2rem; }}
.sub, .note, figcaption + svg + p {{ color: var(--muted); }}
table {{ border-collapse: collapse; width: 100%; margin: .6rem 0; font-variant-numeric: tabular-nums; }}
th, td {{ border-bottom: 1px solid var(--rule); padding: .3rem .5rem; text-align: right; vertical-align: top; }}
th:first-child, td:first-child, table.kv td, table.kv th {{ text-align: left; }}
th {{ background: var(--head); }}
code {{ font-size: .85em; word-break: break-all; }}
.warnings {{ background: var(--warn-bg); color: var(--warn-fg); border-radius: 6px; padding: .6rem 1rem; }}
.slower {{ color: #d9534f; font-weight: 600; }} .faster {{ color: #3c9a5f; font-weight: 600; }}
figure.chart {{ margin: 1.4rem 0; }}
figure.chart figcaption {{ font-weight: 600; margin-bottom: .3rem; }}
figure.chart svg {{ width: 100%; height: auto; max-width: 900px; display: block; }}
figure.chart svg [fill="{fg}"] {{ fill: var(--fg); }}
figure.chart svg [stroke="{fg}"] {{ stroke: var(--fg); }}
"#,
        fg = FOREGROUND_HEX
    )
}

fn kv_table(rows: &[(&str, String)]) -> String {
    let mut out = String::from("<table class=\"kv\">\n");
    for (k, v) in rows {
        out.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>\n", esc(k), v));
    }
    out.push_str("</table>\n");
    out
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| esc(&v.to_string())).unwrap_or_else(|| "—".into())
}

impl Exporter for HtmlExporter {
    fn serialize(&self, results: &ResultsFile) -> Result<Vec<u8>, ReportError> {
        let x = &results.experiment;
        let title = format!("isobench: {} ({})", x.workload, x.engine);
        let mut h = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{}</title>\n<style>\n{}</style>\n</head>\n<body>\n",
            esc(&title),
            css()
        );
        h.push_str(&format!(
            "<h1>{}</h1>\n<p class=\"sub\">{} · {} iterations × {} repetitions ({} warm-up) · host {} · isobench {}</p>\n",
            esc(&title),
            esc(&utc(results.started_unix)),
            x.iterations,
            x.repetitions,
            x.warmup,
            esc(&results.host.hostname),
            esc(&results.isobench_version)
        ));
        if !results.warnings.is_empty() {
            h.push_str("<div class=\"warnings\" id=\"warnings\"><strong>Warnings</strong><ul>\n");
            for w in &results.warnings {
                h.push_str(&format!("<li>{}</li>\n", esc(w)));
            }
            h.push_str("</ul></div>\n");
        }

        // Summary table.
        let unit = inference_unit(results);
        h.push_str("<h2>Summary</h2>\n<table id=\"summary\">\n<tr>");
        for head in summary_headers(unit) {
            h.push_str(&format!("<th>{}</th>", esc(&head)));
        }
        h.push_str("</tr>\n");
        for r in summary_rows(results, unit) {
            let class = match r.verdict.as_str() {
                "slower" => " class=\"slower\"",
                "faster" => " class=\"faster\"",
                _ => "",
            };
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{class}>{}</td></tr>\n",
                esc(&r.label), esc(&r.start), esc(&r.mean_std), esc(&r.median), esc(&r.p99),
                esc(&r.cpu), esc(&r.memory), esc(&r.ratio), esc(&r.verdict)
            ));
        }
        h.push_str(
            "</table>\n<p class=\"note\">Inference: in-agent time per iteration. Start: launch to agent ready. \
             Ratio: mean / baseline mean with bootstrap 95% CI. Verdict: permutation test on the mean against \
             the baseline; significant only when p &lt; 0.01 and the change exceeds 5%. \
             Emulated (TCG) figures are not compared with hardware ones.</p>\n",
        );

        // Charts.
        h.push_str("<h2>Charts</h2>\n");
        let charts = all_charts(results)?;
        if charts.is_empty() {
            h.push_str("<p>No environment produced samples, so there is nothing to chart.</p>\n");
        }
        for c in &charts {
            h.push_str(&format!(
                "<figure class=\"chart\" id=\"{id}\">\n<figcaption id=\"{id}-title\">{}</figcaption>\n{}\n<p class=\"note\">{}</p>\n</figure>\n",
                esc(&c.title),
                c.svg,
                esc(&c.caption),
                id = esc(&c.id)
            ));
        }

        let serving = super::serving_rows(results);
        if !serving.is_empty() {
            h.push_str("<h2>Model serving</h2>\n<table id=\"serving\">\n<tr>");
            for header in super::SERVING_HEADERS {
                h.push_str(&format!("<th>{}</th>", esc(header)));
            }
            h.push_str("</tr>\n");
            for row in serving {
                h.push_str("<tr>");
                for cell in row {
                    h.push_str(&format!("<td>{}</td>", esc(&cell)));
                }
                h.push_str("</tr>\n");
            }
            h.push_str("</table>\n");
        }

        // Per-environment details.
        h.push_str("<h2>Environments</h2>\n<table id=\"environments\">\n<tr><th>Environment</th><th>Status</th><th>Runtime</th><th>Image (MiB)</th><th>Prepare (s)</th><th>Samples</th><th>Outliers</th><th>End-to-end mean / p99</th><th>First inference (ms)</th><th>CPU per inference (ms)</th><th>Memory over baseline (MiB)</th><th>Accuracy</th></tr>\n");
        for env in &results.environments {
            let status = match &env.status {
                Status::Completed => "completed".to_string(),
                Status::Failed { reason } => format!("failed: {reason}"),
                Status::Skipped { reason } => format!("skipped: {reason}"),
            };
            let runtime = [env.runtime_version.clone(), env.accel.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
            let s = env.summary.as_ref();
            let e2e = s.map(|s| {
                let u = TimeUnit::for_us(s.end_to_end_us.mean);
                format!(
                    "{} / {} {}",
                    num(u.conv(s.end_to_end_us.mean)),
                    num(u.conv(s.end_to_end_us.p99)),
                    u.label()
                )
            });
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&env_label(env)),
                esc(&status),
                if runtime.is_empty() { "—".into() } else { esc(&runtime) },
                opt(env.image_bytes.map(|b| mib(b as f64))),
                num(env.prepare_seconds),
                opt(s.map(|s| s.inference_us.n)),
                opt(s.map(|s| s.inference_us.outliers.len())),
                opt(e2e),
                opt(s.and_then(|s| s.first_inference_seconds.as_ref()).map(|f| num(f.mean * 1e3))),
                opt(s.map(|s| num(s.cpu_seconds_per_inference * 1e3))),
                opt(s.and_then(|s| s.memory_overhead_bytes).map(|b| mib(b as f64))),
                opt(s.and_then(|s| s.accuracy).map(|a| format!("{:.1}%", a * 100.0))),
            ));
        }
        h.push_str("</table>\n");
        for env in results.environments.iter().filter(|e| !e.notes.is_empty()) {
            h.push_str(&format!(
                "<p class=\"note\"><strong>{}</strong>: {}</p>\n",
                esc(&env.name),
                esc(&env.notes.join("; "))
            ));
        }

        // Configuration, host, payload.
        h.push_str("<h2>Configuration</h2>\n");
        h.push_str(&kv_table(&[
            ("Environments", esc(&x.environments.join(", "))),
            ("Workload", esc(&x.workload)),
            ("Engine", esc(&x.engine)),
            ("Model", opt(x.model.as_ref())),
            ("Images", opt(x.images.as_ref())),
            (
                "Iterations / warm-up",
                format!("{} / {}", x.iterations, x.warmup),
            ),
            ("Repetitions", x.repetitions.to_string()),
            ("vCPUs", opt(x.vcpus)),
            ("Memory (MiB)", opt(x.memory_mib)),
            ("Engine threads", x.threads.to_string()),
            ("Seed", x.seed.to_string()),
        ]));
        let host = &results.host;
        h.push_str("<h2>Host</h2>\n");
        let mut host_rows = vec![
            ("Hostname", esc(&host.hostname)),
            ("Kernel", esc(&host.kernel)),
            (
                "CPU",
                format!("{} ({} online)", esc(&host.cpu_model), host.cpus),
            ),
            ("Memory", format!("{} MiB", mib(host.memory_bytes as f64))),
            ("KVM", esc(&host.kvm)),
            ("Load average at start", format!("{:.2}", host.load_average)),
        ];
        for (tool, version) in &host.tool_versions {
            host_rows.push((tool.as_str(), esc(version)));
        }
        h.push_str(&kv_table(&host_rows));
        h.push_str("<h2>Payload and tool</h2>\n");
        h.push_str(&kv_table(&[
            (
                "Agent sha256",
                format!("<code>{}</code>", esc(&results.payload.agent_sha256)),
            ),
            ("Agent static", results.payload.agent_static.to_string()),
            (
                "Assets sha256",
                format!("<code>{}</code>", esc(&results.payload.assets_sha256)),
            ),
            ("isobench", esc(&results.isobench_version)),
            ("Git revision", opt(results.git_revision.as_ref())),
            ("Results format", format!("v{}", results.results_version)),
        ]));
        h.push_str("</body>\n</html>\n");
        Ok(h.into_bytes())
    }
}
