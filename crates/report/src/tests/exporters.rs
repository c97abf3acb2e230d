//! The exporters: CSV, Markdown, HTML (with the verdicts' forest plot),
//! JSON, the paper table, write_reports and the serving tables.

use isobench_results::ResultsFile;
use isobench_stats::Outcome;

use crate::export::{Exporter, JsonExporter};
use crate::{compare_environments, raw_csv, render_paper_table, write_reports};

use super::fixtures::*;

#[test]
fn csv_has_header_and_one_row_per_environment() {
    let file = standard("yolov8", 5, 30);
    let text = csv(&file);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + file.environments.len());
    let header = csv_split(lines[0]);
    assert_eq!(header, crate::export::csv::SUMMARY_HEADER);
    for gone in [
        "ratio_significant",
        "peak_memory_bytes",
        "memory_overhead_bytes",
    ] {
        assert!(!header.iter().any(|h| h == gone), "{gone}");
    }
    for line in &lines[1..] {
        assert_eq!(csv_split(line).len(), header.len(), "{line}");
    }
    let native = csv_row(&text, "native");
    let s = file.environments[0].summary.as_ref().unwrap();
    assert_eq!(
        native["inference_mean_us"].parse::<f64>().unwrap(),
        s.inference_us.mean
    );
    assert_eq!(native["verdict"], "baseline");
    assert_eq!(
        native["workload_peak_rss_bytes"],
        s.workload_peak_rss_bytes.unwrap().to_string()
    );
    assert!(native["calibration_median_s"].parse::<f64>().unwrap() > 0.0);
    let fc = csv_row(&text, "firecracker");
    assert_eq!(
        (fc["outcome"].as_str(), fc["verdict"].as_str()),
        ("slower", "slower")
    );
    assert_eq!(fc["analysis"], "paired on 5 rounds");
    assert!(
        fc["minimum_detectable_effect_percent"]
            .parse::<f64>()
            .unwrap()
            > 0.0
    );
    assert_eq!(fc["ratio_interval_level"].parse::<f64>().unwrap(), 0.99);
    assert!(fc["icc"].parse::<f64>().unwrap() >= 0.0);
    let docker = csv_row(&text, "docker");
    assert_eq!(docker["outcome"], "same");
    assert!(
        docker["verdict"].starts_with("same (could have detected ±"),
        "{}",
        docker["verdict"]
    );
    let qemu = csv_row(&text, "qemu-q35");
    assert_eq!(qemu["outcome"], "not compared");
    assert!(qemu["verdict"].starts_with("not compared (one side is emulated"));
    let gvisor = csv_row(&text, "gvisor");
    assert_eq!(gvisor["status"], "skipped: runsc not installed");
    assert_eq!(gvisor["inference_mean_us"], "");
    assert_eq!(
        (gvisor["outcome"].as_str(), gvisor["verdict"].as_str()),
        ("skipped", "skipped")
    );
    assert_eq!(gvisor["image_bytes"], "12345678");

    let raw = String::from_utf8(raw_csv(&file)).unwrap();
    let lines: Vec<&str> = raw.lines().collect();
    assert_eq!(lines[0], crate::export::csv::RAW_HEADER);
    assert_eq!(lines.len(), 1 + 5 * 5 * 30);
    let header = csv_split(lines[0]);
    let first: std::collections::BTreeMap<_, _> =
        header.iter().cloned().zip(csv_split(lines[1])).collect();
    let it = &file.environments[0].repetitions[0].iterations[0];
    assert_eq!(first["environment"], "native");
    assert_eq!(first["inference_us"], it.inference_us.to_string());
    assert_eq!(
        (first["round"].as_str(), first["sequence"].as_str()),
        ("1", "0")
    );
    assert_eq!(first["calibration_before_s"], "0.01");
    assert_eq!(
        first["output"],
        "1 detections: person 0.91 [10, 20, 110, 220]"
    );
    assert!(
        lines[1].ends_with(",\"1 detections: person 0.91 [10, 20, 110, 220]\""),
        "{}",
        lines[1]
    );
    let second_round = lines
        .iter()
        .map(|l| csv_split(l))
        .find(|r| r[0] == "docker" && r[1] == "2")
        .unwrap();
    assert_eq!(
        (second_round[2].as_str(), second_round[3].as_str()),
        ("2", "7")
    );
}

#[test]
fn markdown_table_shape_sections_and_escaping() {
    let mut file = standard("yolov8", 5, 30);
    file.environments[5] = failed("oci-crun", "crun: cannot mount proc <markup> & | pipes");
    isobench_harness::summarize::summarize_all(&mut file);
    let text = md(&file);
    let header = text
        .lines()
        .find(|l| l.starts_with("| Environment | Start"))
        .unwrap();
    let columns = md_cells(header).len();
    assert_eq!(columns, 13, "{header}");
    for name in [
        "native",
        "docker",
        "firecracker",
        "oci-runc",
        "qemu-q35",
        "oci-crun",
        "gvisor",
    ] {
        assert_eq!(md_cells(md_row(&text, name)).len(), columns, "{name}");
    }
    for h in [
        "Inference mean ± σ (ms)",
        "p99 (ms)",
        "Workload peak RSS (MiB)",
        "Host peak RSS (MiB)",
        "Isolation overhead (MiB) [95% interval]",
        "Ratio to baseline [99% interval, the verdict's]",
        "Verdict (α 0.01, ±5%)",
    ] {
        assert!(md_cells(header).iter().any(|c| c == h), "{h} in {header}");
    }
    let native = md_cells(md_row(&text, "native"));
    assert_eq!(
        (native[11].as_str(), native[12].as_str()),
        ("1 (baseline)", "baseline")
    );
    assert_eq!(
        (native[8].as_str(), native[9].as_str(), native[10].as_str()),
        ("38.3", "95.6", "—")
    );
    assert!(
        md_row(&text, "qemu-q35 (emulated, TCG)").contains("not compared (one side is emulated")
    );
    // Failure reasons under the table, not in a column.
    let crun = md_cells(md_row(&text, "oci-crun"));
    assert_eq!(crun.last().unwrap(), "failed");
    assert!(!md_row(&text, "oci-crun").contains("cannot mount"));
    assert!(text.contains("- oci-crun: FAILED: crun: cannot mount proc <markup> & \\| pipes"));
    assert!(text.contains("- gvisor: skipped: runsc not installed"));
    // Warnings under the table (escaped), before the design and the definitions.
    let warning = "> ⚠ repetitions failed: oci-crun 1 of 1 (round 1: crun: cannot mount proc <markup> & \\| pipes)";
    assert!(text.contains(warning), "{text}");
    let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle}"));
    assert!(at("| gvisor |") < at("**Warnings**") && at("**Warnings**") < at("**Design**"));
    assert!(at("**Design**") < at("**Definitions**"));
    // Sections.
    for section in [
        "**Definitions**",
        "- **Verdict**: one of four outcomes",
        "- **Looks and budget**: unless --repetitions fixes the rounds",
        "- **Ratio to baseline**: the geometric mean over rounds",
        "- **CPU %**: host CPU seconds (user + system) charged to the instance over the measured iterations only",
        "- **Percentiles**: nearest rank",
        "- **Isolation overhead**: the mean over rounds of this environment's host peak RSS minus the baseline's",
        "the meter's noise is judged by that interval",
        "**Repetitions**",
        "Interleaved: 5 rounds",
        "- round 1: native, docker, firecracker, oci-runc, qemu-q35",
        "| Environment | σ between repetitions (ms) | σ within repetitions (ms) | ICC |",
        "| native | 1 | 0 | 30 | ",
        " | 10.00 / 10.10 |  |",
        "**Host speed**",
        "median 10.",
        "**Outputs**",
        "Consistent: all 750 measured iterations computed the same output as native",
        "| img0.jpg | identical in 5 environments | 1 detections: person 0.91 [10, 20, 110, 220] |",
    ] {
        assert!(text.contains(section), "{section} missing from\n{text}");
    }
}

#[test]
fn html_is_self_contained_with_one_nonempty_svg_per_chart() {
    let mut file = standard("yolov8", 5, 30);
    file.environments[5] = failed("oci-crun", "crun: cannot mount proc <markup> & | pipes");
    isobench_harness::summarize::summarize_all(&mut file);
    let page = html(&file);
    if let Ok(path) = std::env::var("ISOBENCH_REPORT_SAMPLE") {
        std::fs::write(path, &page).unwrap();
    }
    let figures: Vec<&str> = page.split("<figure class=\"chart\"").skip(2).collect();
    let ids: Vec<&str> = figures
        .iter()
        .map(|f| f.split('"').nth(1).unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "latency-inference",
            "latency-end-to-end",
            "mean-sd",
            "start-time",
            "cpu-over-time",
            "cpu-per-inference",
            "memory"
        ]
    );
    for (id, f) in ids.iter().zip(&figures) {
        let body = &f[..f.find("</figure>").unwrap()];
        assert_eq!(body.matches("<svg").count(), 1, "{id}");
        let svg = &body[body.find("<svg").unwrap()..body.find("</svg>").unwrap()];
        let marks = svg.matches("<circle").count()
            + svg.matches("<rect").count()
            + svg.matches("<polyline").count();
        assert!(marks > 4, "{id}: {marks} marks");
        assert!(svg.contains("<text"), "{id} has no axis text");
    }
    for unit in [
        "time (ms)",
        "(% of one core)",
        "time since launch (s)",
        "peak RSS (MiB)",
        "(CPU-ms)",
        "launch to ready (ms",
        "workload peak RSS",
        "host peak RSS",
    ] {
        assert!(page.contains(unit), "missing {unit}");
    }
    // One CPU line per environment with usage samples (5 measured).
    let cpu = &figures[4][..figures[4].find("</svg>").unwrap()];
    let lines = cpu
        .lines()
        .filter(|l| {
            l.starts_with("<polyline")
                && l.contains("stroke-width=\"2\"")
                && l.matches(',').count() > 10
        })
        .count();
    assert_eq!(lines, 5, "one CPU line per measured environment");
    // No network: the only URL is the SVG namespace.
    let without_ns = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!without_ns.contains("http://") && !without_ns.contains("https://"));
    assert!(!page.contains("<script") && !page.contains("<link"));
    for id in [
        "id=\"summary\"",
        "id=\"warnings\"",
        "id=\"summary-notes\"",
        "id=\"definitions\"",
        "id=\"variance\"",
        "id=\"repetitions\"",
        "id=\"host-speed\"",
        "id=\"outputs\"",
        "id=\"environments\"",
    ] {
        assert!(page.contains(id), "{id}");
    }
    // Escaping and dark mode.
    assert!(page.contains("note with &lt;markup&gt; &amp; &quot;quotes&quot;"));
    assert!(page.contains("crun: cannot mount proc &lt;markup&gt; &amp; | pipes"));
    assert!(!page.contains("<markup>"));
    assert!(page.contains("prefers-color-scheme: dark"));
    assert!(page.contains("qemu-q35 (emulated, TCG)"));
    assert!(page.contains("<li>oci-crun: FAILED: crun: cannot mount proc &lt;markup&gt;"));
    // The warnings box under the summary table and its notes, then the
    // verdicts' picture, then the design and definitions, then the charts.
    let at = |needle: &str| page.find(needle).unwrap_or_else(|| panic!("{needle}"));
    assert!(at("id=\"summary\"") < at("id=\"summary-notes\""));
    assert!(at("id=\"summary-notes\"") < at("id=\"warnings\""));
    assert!(at("id=\"warnings\"") < at("id=\"verdicts\""));
    assert!(at("id=\"verdicts\"") < at("id=\"design\""));
    assert!(at("id=\"definitions\"") < at("id=\"latency-inference\""));
    assert!(page.contains("<td>img0.jpg</td><td>identical in 5 environments</td>"));
}

#[test]
fn the_verdicts_forest_plot_draws_each_ratio_against_the_band_in_its_outcomes_colour() {
    let file = four_outcomes();
    let page = html(&file);
    let start = page
        .find("<figure class=\"chart\" id=\"verdicts\">")
        .expect("a forest plot");
    let figure = &page[start..start + page[start..].find("</figure>").unwrap()];
    let svg = &figure[figure.find("<svg").unwrap()..];
    // One dot per row: the baseline (hollow) and four compared environments.
    assert_eq!(svg.matches("<circle").count(), 5, "{svg}");
    // Each outcome in its colour, with its word next to its line.
    for (outcome, word) in [
        (Outcome::Slower, "slower"),
        (Outcome::Faster, "faster"),
        (Outcome::Same, "same"),
        (Outcome::Inconclusive, "inconclusive"),
    ] {
        let hex = crate::charts::forest::outcome_hex(outcome).to_uppercase();
        assert!(svg.contains(&format!("fill=\"{hex}\"")), "{word} dot {hex}");
        assert!(
            svg.contains(&format!(">\n{word}\n</text>"))
                || svg.contains(&format!(">{word}</text>")),
            "{word} label"
        );
    }
    // The ±5% band is one grey rectangle; environment names label the rows.
    assert!(svg.contains("fill=\"#808081\""), "band");
    for name in ["native", "docker", "firecracker", "oci-runc", "gvisor"] {
        assert!(svg.contains(name), "{name}");
    }
    assert!(figure.contains("grey band: ±5% around 1"), "{figure}");
    assert!(
        figure.contains("the 99% interval the verdict used"),
        "{figure}"
    );
    // The rows' geometry: same inside the band, slower beyond it, inconclusive across its edge.
    let rows = crate::charts::forest_rows(&file, "");
    let row = |name: &str| rows.iter().find(|r| r.label == name).unwrap();
    let (lo, hi) = row("docker").interval.unwrap();
    assert!(lo > 0.95 && hi < 1.05);
    assert!(row("firecracker").interval.unwrap().0 > 1.05);
    let (lo, hi) = row("gvisor").interval.unwrap();
    assert!(lo < 1.05 && hi > 1.05);
    // No forest plot without a comparison.
    let alone = file_of("yolov8", vec![env("native", &means(10_000.0, 5), 20, 1)]);
    assert!(!html(&alone).contains("id=\"verdicts\""));
}

#[test]
fn json_round_trips() {
    let file = standard("knn", 3, 10);
    let text = String::from_utf8(JsonExporter.serialize(&file).unwrap()).unwrap();
    let back = ResultsFile::from_json(&text, "export.json").unwrap();
    assert_eq!(back.experiment, file.experiment);
    assert_eq!(back.payload, file.payload);
    assert_eq!(back.rounds, file.rounds);
    assert_eq!(back.host_speed, file.host_speed);
    assert_eq!(back.outputs, file.outputs);
    assert_eq!(back.environments.len(), file.environments.len());
    for (a, b) in back.environments.iter().zip(&file.environments) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.status, b.status);
        assert_eq!(a.all_inference_us(), b.all_inference_us());
        for (x, y) in a.repetitions.iter().zip(&b.repetitions) {
            assert_eq!(x.usage, y.usage);
            assert_eq!(x.iterations, y.iterations);
        }
        if let (Some(x), Some(y)) = (&a.summary, &b.summary) {
            assert_eq!(x.inference_us, y.inference_us);
            assert_eq!(x.decision, y.decision);
        }
    }
}

#[test]
fn compare_environments_inside_one_file() {
    let file = standard("yolov8", 5, 20);
    let r = compare_environments(&file, None, None, &options()).unwrap();
    let verdict = |name: &str| {
        r.rows
            .iter()
            .find(|row| row.b_environment == name)
            .unwrap()
            .decision
            .map(|d| d.outcome)
    };
    assert_eq!(verdict("docker"), Some(Outcome::Same));
    assert_eq!(verdict("firecracker"), Some(Outcome::Slower));
    assert_eq!(
        verdict("qemu-q35"),
        None,
        "emulated vs hardware is not compared"
    );
    assert!(r.has_regression());
    let r = compare_environments(
        &file,
        Some("firecracker"),
        Some(&["native".to_string()]),
        &options(),
    )
    .unwrap();
    assert_eq!(r.rows[0].decision.unwrap().outcome, Outcome::Faster);
    let err = compare_environments(&file, Some("gvisor"), None, &options()).unwrap_err();
    assert!(
        err.to_string().contains("`gvisor` has no measured samples"),
        "{err}"
    );
}

#[test]
fn paper_table_rows_are_models_columns_environments() {
    let files = [standard("yolov8", 5, 20), standard("knn", 5, 20)];
    let table = render_paper_table(&files);
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(rows.len(), 4, "{table}");
    assert_eq!(
        rows[0],
        "| Model | native | docker | firecracker | oci-runc | qemu-q35 (emulated, TCG) |"
    );
    assert!(
        rows[2].starts_with("| yolov8 (tract, yolov8-fall.onnx) | 9.99"),
        "{}",
        rows[2]
    );
    assert!(
        rows[2].contains(" ms (95.00% CPU; baseline)"),
        "{}",
        rows[2]
    );
    assert!(rows[2].contains("(95.00% CPU; slower)"), "{}", rows[2]);
    assert!(rows[2].contains("(95.00% CPU; same¹)"), "{}", rows[2]);
    assert!(
        rows[2].contains("(95.00% CPU; not compared²)"),
        "{}",
        rows[2]
    );
    assert!(
        table.contains("- ¹ docker: same (could have detected ±"),
        "{table}"
    );
    assert!(
        table.contains("- ² qemu-q35: not compared (one side is emulated"),
        "{table}"
    );
    assert!(rows[3].starts_with("| knn (tract"), "{}", rows[3]);
    assert!(!table.contains("Hosts"), "one host: no host lines");
}

#[test]
fn write_reports_writes_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = standard("knn", 3, 10);
    let written = write_reports(&file, dir.path()).unwrap();
    assert_eq!(written.len(), 4);
    for p in &written {
        assert!(std::fs::metadata(p).unwrap().len() > 100, "{}", p.display());
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    let err = write_reports(&file, &dir.path().join("missing")).unwrap_err();
    assert!(err.to_string().contains("cannot write"), "{err}");
}

#[test]
fn serving_results_appear_in_markdown_and_html() {
    let mut file = standard("knn", 3, 10);
    file.serving.push(isobench_results::ServingResult {
        env: "docker".into(),
        scenario: "server".into(),
        transport: "stdio".into(),
        queries: 500,
        achieved_qps: 123.4,
        reported_percentile: 99.0,
        reported_latency_us: 2500.0,
        peak_qps: Some(4688.0),
        latency_ratio_to_native: Some(1.25),
        ..Default::default()
    });
    let text = md(&file);
    assert!(text.contains("**Model serving**"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("| docker | server |"))
        .expect("a serving row");
    assert!(
        row.contains("500 (0/0)")
            && row.contains("p99 2.50")
            && row.contains("4688.0")
            && row.contains("1.250×"),
        "{row}"
    );
    let page = html(&file);
    assert!(page.contains("<table id=\"serving\">") && page.contains("<td>4688.0</td>"));
    assert!(!md(&standard("knn", 3, 10)).contains("Model serving"));
    // serve-bench's terminal table: the same formatter as the run's.
    let table = crate::serving_table(&file.serving);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("env  ") && header.contains("peak QPS"),
        "{header}"
    );
    assert_eq!(
        lines.next().unwrap(),
        "-".repeat(header.chars().count()).as_str()
    );
    let row = lines.next().unwrap();
    assert!(
        row.starts_with("docker  server") && row.contains("4688.00") && row.contains("lat 1.25×"),
        "{row}"
    );
    let mut failed = file.serving[0].clone();
    failed.queries = 0;
    failed.failure = Some("the agent did not answer".into());
    let table = crate::serving_table(&[failed]);
    assert!(
        table.ends_with("\n  error: the agent did not answer\n"),
        "{table}"
    );
}
