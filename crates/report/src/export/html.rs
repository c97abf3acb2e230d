//! One self-contained HTML page: inline CSS and SVG, no scripts, no network;
//! opens from disk. Light and dark via `prefers-color-scheme`.
//!
//! Order: the summary table, the notes and the warnings (grouped per cause)
//! under it, the verdicts' forest plot, the design and the definitions, then
//! the charts and the details. Every chart is `<figure class="chart"
//! id="ID">` holding one inline `<svg>` (ids in [`crate::charts::Chart::id`];
//! the forest plot is `verdicts`).

use isobench_results::{EnvironmentResult, OutputCheck, ResultsFile};
use isobench_stats::Outcome;

use super::Exporter;
use crate::cells::{inference_unit, serving_rows, summary_headers, summary_rows, SERVING_HEADERS};
use crate::charts::forest::outcome_hex;
use crate::charts::{all_charts, figure_html, verdict_forest, FOREGROUND_HEX};
use crate::definitions::definitions;
use crate::design::{design_lines, design_text};
use crate::format::{env_label_marked, esc, mib, num, utc, TimeUnit};
use crate::notes::{partial_banner, table_notes};
use crate::sections::{
    host_speed_lines, input_views, order_sentence, outputs_sentence, repetition_table,
    variance_table, InputView,
};
use crate::ReportError;

/// Exports the HTML report.
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlExporter;

/// The page's style sheet (shared with the merged report).
pub(crate) fn css() -> String {
    format!(
        r#":root {{ --bg: #ffffff; --fg: #1d1d1f; --muted: #5f6368; --rule: #d0d4d9; --warn-bg: #fff4d6; --warn-fg: #5c4400; --head: #f3f5f7; color-scheme: light dark; }}
@media (prefers-color-scheme: dark) {{
  :root {{ --bg: #15171a; --fg: #e6e8eb; --muted: #a4abb3; --rule: #3a3f45; --warn-bg: #3d3216; --warn-fg: #f6dc9c; --head: #1f2226; }}
}}
body {{ background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1240px; padding: 1.5rem; }}
.scroll {{ overflow-x: auto; }}
table#summary td:last-child, table#summary th:last-child, table#variance td:nth-child(n+5), table#variance th:nth-child(n+5), table#repetitions td:last-child, table#repetitions th:last-child {{ text-align: left; }}
table#summary, table#environments, table#repetitions, table#variance {{ font-size: .88em; }}
h1 {{ font-size: 1.6rem; margin-bottom: .2rem; }}
h2 {{ font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid var(--rule); padding-bottom: .2rem; }}
.sub, .note {{ color: var(--muted); }}
table {{ border-collapse: collapse; width: 100%; margin: .6rem 0; font-variant-numeric: tabular-nums; }}
th, td {{ border-bottom: 1px solid var(--rule); padding: .3rem .5rem; text-align: right; vertical-align: top; }}
th:first-child, td:first-child, table.kv td, table.kv th, table#hosts td, table#hosts th, td.verdict, th.verdict {{ text-align: left; }}
th[colspan] {{ text-align: center; }}
th {{ background: var(--head); }}
code {{ font-size: .85em; word-break: break-all; }}
.banner {{ background: var(--warn-bg); color: var(--warn-fg); border-radius: 6px; padding: .6rem 1rem; font-weight: 600; }}
.warnings {{ background: var(--warn-bg); color: var(--warn-fg); border-radius: 6px; padding: .6rem 1rem; margin: .8rem 0; }}
.slower {{ color: {slower}; font-weight: 600; }} .faster {{ color: {faster}; font-weight: 600; }} .same {{ color: {same}; }} .inconclusive {{ color: {inconclusive}; font-style: italic; }}
.notes {{ color: var(--muted); font-size: .9em; margin: .2rem 0 .8rem 1.2rem; padding: 0; }}
dl.definitions dt {{ font-weight: 600; float: left; clear: left; margin-right: .5rem; }}
dl.definitions dd {{ margin: 0 0 .3rem 0; color: var(--muted); }}
.mismatch {{ color: #d9534f; font-weight: 600; }}
figure.chart {{ margin: 1.4rem 0; }}
figure.chart figcaption {{ font-weight: 600; margin-bottom: .3rem; }}
figure.chart svg {{ width: 100%; height: auto; max-width: 900px; display: block; }}
figure.chart svg [fill="{fg}"] {{ fill: var(--fg); }}
figure.chart svg [stroke="{fg}"] {{ stroke: var(--fg); }}
"#,
        fg = FOREGROUND_HEX,
        slower = outcome_hex(Outcome::Slower),
        faster = outcome_hex(Outcome::Faster),
        same = outcome_hex(Outcome::Same),
        inconclusive = outcome_hex(Outcome::Inconclusive),
    )
}

/// `<!DOCTYPE html>` to `<body>`, with `title`.
pub(crate) fn page_start(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{}</style>\n</head>\n<body>\n",
        esc(title),
        css()
    )
}

/// The warnings box: one item per line given (already grouped).
pub(crate) fn warnings_box(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut out =
        String::from("<div class=\"warnings\" id=\"warnings\"><strong>Warnings</strong><ul>\n");
    for w in lines {
        out.push_str(&format!("<li>{}</li>\n", esc(w)));
    }
    out.push_str("</ul></div>\n");
    out
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

/// A table whose cells are plain text (escaped here).
pub(crate) fn html_table(id: &str, headers: &[String], rows: &[Vec<String>]) -> String {
    let mut out = format!("<div class=\"scroll\"><table id=\"{}\">\n<tr>", esc(id));
    for head in headers {
        out.push_str(&format!("<th>{}</th>", esc(head)));
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str(&format!("<td>{}</td>", esc(cell)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
    out
}

/// Mean of the present values.
fn mean_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let present: Vec<f64> = values.flatten().collect();
    (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
}

/// Title, subtitle, the partial-run banner and the program.
fn head(results: &ResultsFile) -> String {
    let x = &results.experiment;
    let title = format!("isobench: {} ({})", x.workload, x.engine);
    let mut h = page_start(&title);
    h.push_str(&format!(
        "<h1>{}</h1>\n<p class=\"sub\">{} · {} ({} warm-up, {} order) · host {} · isobench {}</p>\n",
        esc(&title),
        esc(&utc(results.started_unix)),
        esc(&design_text(results)),
        x.warmup,
        esc(x.order.name()),
        esc(&results.host.hostname),
        esc(&results.isobench_version)
    ));
    if let Some(banner) = partial_banner(results) {
        h.push_str(&format!(
            "<p class=\"banner\" id=\"partial\">{}</p>\n",
            esc(&banner)
        ));
    }
    if let Some(command) = &x.command {
        h.push_str(&format!(
            "<p class=\"sub\">Program: <code>{}</code></p>\n",
            esc(command)
        ));
    }
    h
}

/// The summary table, its notes, the warnings and the verdicts' forest plot.
fn summary(results: &ResultsFile) -> Result<String, ReportError> {
    let unit = inference_unit(results);
    let mut h =
        String::from("<h2>Summary</h2>\n<div class=\"scroll\"><table id=\"summary\">\n<tr>");
    for head in summary_headers(results, unit) {
        h.push_str(&format!("<th>{}</th>", esc(&head)));
    }
    h.push_str("</tr>\n");
    for r in summary_rows(results, unit) {
        h.push_str("<tr>");
        let last = r.cells.len() - 1;
        for (i, cell) in r.cells.iter().enumerate() {
            match r.verdict_class.filter(|_| i == last) {
                Some(class) => h.push_str(&format!("<td class=\"{class}\">{}</td>", esc(cell))),
                None => h.push_str(&format!("<td>{}</td>", esc(cell))),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></div>\n");
    let notes = table_notes(results);
    if !notes.is_empty() {
        h.push_str("<ul class=\"notes\" id=\"summary-notes\">\n");
        for note in notes {
            h.push_str(&format!("<li>{}</li>\n", esc(&note)));
        }
        h.push_str("</ul>\n");
    }
    h.push_str(&warnings_box(&crate::words::warning_lines(
        &results.warnings,
    )));
    if let Some(chart) = verdict_forest(results)? {
        h.push_str(&figure_html(&chart));
    }
    Ok(h)
}

/// A `<dl>` of (term, sentence) pairs.
fn definition_list(id: &str, terms: &[(&str, String)]) -> String {
    let mut h = format!("<dl class=\"definitions\" id=\"{id}\">\n");
    for (term, text) in terms {
        h.push_str(&format!(
            "<dt>{}</dt><dd>{}.</dd>\n",
            esc(term),
            esc(&text.replace('`', ""))
        ));
    }
    h.push_str("</dl>\n");
    h
}

/// The charts.
fn charts(results: &ResultsFile) -> Result<String, ReportError> {
    let mut h = String::from("<h2>Charts</h2>\n");
    let charts = all_charts(results)?;
    if charts.is_empty() {
        h.push_str("<p>No environment produced samples, so there is nothing to chart.</p>\n");
    }
    for c in &charts {
        h.push_str(&figure_html(c));
    }
    Ok(h)
}

/// Rounds, the spread of repetitions and every repetition.
fn repetitions(results: &ResultsFile) -> String {
    let unit = inference_unit(results);
    let mut h = format!(
        "<h2>Repetitions</h2>\n<p class=\"note\">{}</p>\n",
        esc(&order_sentence(results))
    );
    if !results.rounds.is_empty() {
        h.push_str("<ul class=\"notes\" id=\"rounds\">\n");
        for round in &results.rounds {
            h.push_str(&format!(
                "<li>round {}: {}</li>\n",
                round.round,
                esc(&round.order.join(", "))
            ));
        }
        h.push_str("</ul>\n");
    }
    let variance = variance_table(results, unit);
    if !variance.rows.is_empty() {
        h.push_str(&html_table("variance", &variance.headers, &variance.rows));
        h.push_str("<p class=\"note\">σ between: the spread of the repetitions' true means; σ within: the spread of iterations inside one repetition; ICC: the share of the variance that lies between repetitions (near 1: more rounds, not more iterations, narrow the comparison).</p>\n");
        let reps = repetition_table(results, unit);
        h.push_str(&html_table("repetitions", &reps.headers, &reps.rows));
    }
    h
}

/// What each environment computed per input.
fn outputs_by_input(check: &OutputCheck) -> String {
    let mut h = String::from("<table id=\"outputs-by-input\" class=\"kv\">\n<tr><th>Input</th><th>Environment</th><th>Output</th></tr>\n");
    for view in input_views(check) {
        match view {
            InputView::Identical {
                input,
                environments,
                output,
            } => h.push_str(&format!(
                "<tr><td>{}</td><td>identical in {environments} environments</td><td>{}</td></tr>\n",
                esc(input),
                esc(output)
            )),
            InputView::Differ { input, outputs } => {
                for (i, (env, output)) in outputs.iter().enumerate() {
                    h.push_str(&format!(
                        "<tr><td>{}</td><td class=\"mismatch\">{}</td><td>{}</td></tr>\n",
                        if i == 0 { esc(input) } else { String::new() },
                        esc(env),
                        esc(output)
                    ));
                }
            }
        }
    }
    h.push_str("</table>\n");
    h
}

/// The same-answer check.
fn outputs(check: Option<&OutputCheck>) -> String {
    let mut h = String::from("<h2>Outputs</h2>\n<div id=\"outputs\">\n");
    let Some(check) = check else {
        h.push_str("<p>No output digests in this file: whether the environments computed the same thing was not checked.</p>\n</div>\n");
        return h;
    };
    let class = if check.consistent() {
        ""
    } else {
        " class=\"mismatch\""
    };
    h.push_str(&format!(
        "<p{class}>{}</p>\n",
        esc(&outputs_sentence(check))
    ));
    h.push_str(&format!(
        "<p class=\"note\">Reference: {}. Compared with: {}.</p>\n",
        esc(&check.reference),
        esc(&check.tolerance)
    ));
    if !check.mismatches.is_empty() {
        let rows: Vec<Vec<String>> = check
            .mismatches
            .iter()
            .map(|m| {
                vec![
                    m.env.clone(),
                    m.round.to_string(),
                    m.index.to_string(),
                    m.input.clone(),
                    m.reason.clone(),
                ]
            })
            .collect();
        let headers = ["Environment", "Round", "Iteration", "Input", "What differs"];
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        h.push_str(&html_table("output-mismatches", &headers, &rows));
    }
    h.push_str(&outputs_by_input(check));
    h.push_str("</div>\n");
    h
}

/// One row of the per-environment details table.
fn environment_row(env: &EnvironmentResult) -> String {
    let status = crate::words::status(env);
    let runtime = [env.runtime_version.clone(), env.accel.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let s = env.summary.as_ref();
    let e2e = s.map(|s| {
        let u = TimeUnit::for_us(s.end_to_end_us.mean);
        let mark = if s.end_to_end_us.p99_is_reliable() {
            ""
        } else {
            "*"
        };
        format!(
            "{} / {}{mark} {}",
            num(u.conv(s.end_to_end_us.mean)),
            num(u.conv(s.end_to_end_us.p99)),
            u.label()
        )
    });
    let cgroup = mean_of(
        env.repetitions
            .iter()
            .map(|r| r.usage.cgroup_peak_bytes.map(|b| b as f64)),
    );
    let cells = [
        esc(&env_label_marked(env)),
        esc(&status),
        if runtime.is_empty() {
            "—".into()
        } else {
            esc(&runtime)
        },
        opt(env.image_bytes.map(|b| mib(b as f64))),
        num(env.prepare_seconds),
        opt(s.map(|s| s.inference_us.n)),
        opt(s.map(|s| s.inference_us.outliers.len())),
        opt(e2e),
        opt(s
            .and_then(|s| s.first_inference_seconds.as_ref())
            .map(|f| num(f.mean * 1e3))),
        opt(cgroup.map(mib)),
        opt(s.and_then(|s| s.vmm_overhead_bytes).map(|b| mib(b as f64))),
        opt(s
            .and_then(|s| s.accuracy)
            .map(|a| format!("{:.1}%", a * 100.0))),
    ];
    format!("<tr><td>{}</td></tr>\n", cells.join("</td><td>"))
}

/// Per-environment details and notes.
fn environments(results: &ResultsFile) -> String {
    let mut h = String::from("<h2>Environments</h2>\n<div class=\"scroll\"><table id=\"environments\">\n<tr><th>Environment</th><th>Status</th><th>Runtime</th><th>Image (MiB)</th><th>Prepare (s)</th><th>Samples</th><th>Outliers</th><th>End-to-end mean / p99</th><th>First inference (ms)</th><th>cgroup peak (MiB)</th><th>VMM overhead (MiB)</th><th>Accuracy</th></tr>\n");
    for env in &results.environments {
        h.push_str(&environment_row(env));
    }
    h.push_str("</table></div>\n<p class=\"note\">cgroup peak: the cgroup's peak memory usage, page cache included (cgroup-metered instances only). VMM overhead: the VMM's resident memory outside guest RAM (VMs that report it).</p>\n");
    for env in results.environments.iter().filter(|e| !e.notes.is_empty()) {
        h.push_str(&format!(
            "<p class=\"note\"><strong>{}</strong>: {}</p>\n",
            esc(&env.name),
            esc(&env.notes.join("; "))
        ));
    }
    h
}

/// Configuration, host, payload and tool.
fn provenance(results: &ResultsFile) -> String {
    let x = &results.experiment;
    let mut h = String::from("<h2>Configuration</h2>\n");
    h.push_str(&kv_table(&[
        ("Environments", esc(&x.environments.join(", "))),
        ("Baseline", opt(results.baseline.as_ref())),
        ("Workload", esc(x.workload.name())),
        ("Engine", esc(x.engine.name())),
        ("Model", opt(x.model.as_ref())),
        ("Images", opt(x.images.as_ref())),
        (
            "Iterations / warm-up",
            format!(
                "{} / {}",
                x.iterations
                    .map_or_else(|| "chosen from the variance".into(), |i| i.to_string()),
                x.warmup
            ),
        ),
        ("Rounds", esc(&design_text(results))),
        ("Order", esc(x.order.name())),
        ("vCPUs", opt(x.vcpus)),
        ("Memory (MiB)", opt(x.memory_mib)),
        ("Engine threads", x.threads.to_string()),
        ("Seed", x.seed.to_string()),
    ]));
    let host = &results.host;
    h.push_str("<h2>Host</h2>\n");
    let mut host_rows = vec![
        ("Hostname", esc(&host.hostname)),
        ("Fingerprint", esc(&host.fingerprint())),
        ("Kernel", esc(&host.kernel)),
        (
            "CPU",
            format!("{} ({} online)", esc(&host.cpu_model), host.cpus),
        ),
        ("Memory", format!("{} MiB", mib(host.memory_bytes as f64))),
        ("KVM", esc(&host.kvm)),
        (
            "cgroups",
            opt(Some(&host.cgroup_version).filter(|v| !v.is_empty())),
        ),
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
    h
}

impl Exporter for HtmlExporter {
    fn serialize(&self, results: &ResultsFile) -> Result<Vec<u8>, ReportError> {
        let mut h = head(results);
        h.push_str(&summary(results)?);
        h.push_str("<h2>Design</h2>\n");
        h.push_str(&definition_list("design", &design_lines(results)));
        h.push_str("<h3>Definitions</h3>\n");
        h.push_str(&definition_list("definitions", &definitions(results)));
        h.push_str(&charts(results)?);
        h.push_str(&repetitions(results));
        h.push_str("<h2>Host speed</h2>\n<div id=\"host-speed\">\n");
        for line in host_speed_lines(results) {
            h.push_str(&format!("<p>{}</p>\n", esc(&line)));
        }
        h.push_str("</div>\n");
        h.push_str(&outputs(results.outputs.as_ref()));
        let serving = serving_rows(results);
        if !serving.is_empty() {
            let headers: Vec<String> = SERVING_HEADERS.iter().map(|h| h.to_string()).collect();
            h.push_str("<h2>Model serving</h2>\n");
            h.push_str(&html_table("serving", &headers, &serving));
        }
        if !results.cold_start.is_empty() {
            h.push_str(&cold_start_html(
                &results.cold_start,
                results.cold_start_host_speed.as_ref(),
            ));
        }
        if let Some(density) = &results.density {
            h.push_str(&crate::density::html(density)?);
        }
        if !results.interference.is_empty() {
            h.push_str(&interference_html(&results.interference)?);
        }
        h.push_str(&environments(results));
        h.push_str(&provenance(results));
        h.push_str("</body>\n</html>\n");
        Ok(h.into_bytes())
    }
}

/// The interference section: what each result measured, the chart of the
/// victim's p99 against K, the table, the notes, the verdicts and the definitions.
fn interference_html(
    results: &[isobench_results::InterferenceResult],
) -> Result<String, ReportError> {
    use crate::interference as i;
    let mut h = String::from("<h2>Interference</h2>\n<div id=\"interference\">\n");
    for line in i::setup_lines(results) {
        h.push_str(&format!("<p>{}</p>\n", esc(&line)));
    }
    if let Some(chart) = i::p99_chart(results)? {
        h.push_str(&crate::charts::figure_html(&chart));
    }
    let rows = i::rows(results);
    let cells: Vec<Vec<String>> = rows.iter().map(|(cells, _)| cells.clone()).collect();
    let headers: Vec<String> = i::HEADERS.iter().map(|h| h.to_string()).collect();
    h.push_str(&html_table("interference-table", &headers, &cells));
    for note in rows.iter().filter_map(|(_, under)| under.as_ref()) {
        h.push_str(&format!("<p class=\"note\">{}</p>\n", esc(note)));
    }
    let verdicts = i::verdict_lines(results);
    if !verdicts.is_empty() {
        h.push_str(&format!("<p>{}</p>\n<ul>\n", esc(i::VERDICTS_HEADING)));
        for line in verdicts {
            h.push_str(&format!("<li>{}</li>\n", esc(&line)));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<dl>\n");
    for (term, text) in i::definitions(results) {
        h.push_str(&format!("<dt>{}</dt><dd>{}</dd>\n", esc(&term), esc(&text)));
    }
    h.push_str("</dl>\n</div>\n");
    Ok(h)
}

/// The cold-start section: the waterfall of phase means, the table (times
/// in ms), what was absent or failed, and the definitions.
fn cold_start_html(
    results: &[isobench_results::ColdStartResult],
    host_speed: Option<&isobench_results::HostSpeed>,
) -> String {
    let mut h = String::from("<h2>Cold starts</h2>\n");
    h.push_str(&crate::cold_start::waterfall_svg(results));
    let rows = crate::cold_start::rows(results);
    let cells: Vec<Vec<String>> = rows.iter().map(|(cells, _)| cells.clone()).collect();
    h.push_str(&html_table(
        "cold-start",
        &crate::cold_start::headers(results),
        &cells,
    ));
    for note in rows.iter().filter_map(|(_, under)| under.as_ref()) {
        h.push_str(&format!("<p class=\"note\">{}</p>\n", esc(note)));
    }
    let resources = crate::cold_start::resource_rows(results);
    if !resources.is_empty() {
        let headers: Vec<String> = crate::cold_start::RESOURCE_HEADERS
            .iter()
            .map(|h| h.to_string())
            .collect();
        h.push_str(&html_table("cold-start-resources", &headers, &resources));
    }
    if let Some(speed) = host_speed {
        h.push_str(&format!(
            "<p>{}</p>\n",
            esc(&crate::cold_start::host_speed_line(speed))
        ));
    }
    let verdicts = crate::cold_start::verdict_lines(results);
    if !verdicts.is_empty() {
        h.push_str(&format!(
            "<p>{}</p>\n<ul>\n",
            esc(crate::cold_start::VERDICTS_HEADING)
        ));
        for line in verdicts {
            h.push_str(&format!("<li>{}</li>\n", esc(&line)));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<dl>\n");
    for (term, text) in crate::cold_start::definitions(results)
        .into_iter()
        .chain(crate::cold_start::resource_definitions())
    {
        h.push_str(&format!("<dt>{}</dt><dd>{}</dd>\n", esc(&term), esc(&text)));
    }
    h.push_str("</dl>\n");
    h
}
