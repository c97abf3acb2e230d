//! (j): the exporters.

use isobench_results::ResultsFile;
use isobench_stats::Verdict;

use crate::export::{Exporter, JsonExporter};
use crate::{compare_environments, raw_csv, render_paper_table, terminal_table, write_reports};

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
    assert_eq!(fc["verdict"], "slower");
    assert_eq!(fc["repetitions_compared"], "5 vs 5");
    assert_eq!(fc["p_value"].parse::<f64>().unwrap(), 2.0 / 252.0);
    assert_eq!(fc["min_p_value"].parse::<f64>().unwrap(), 2.0 / 252.0);
    assert!(fc["icc"].parse::<f64>().unwrap() >= 0.0);
    let qemu = csv_row(&text, "qemu-q35");
    assert!(qemu["verdict"].starts_with("not compared (one side is emulated"));
    let gvisor = csv_row(&text, "gvisor");
    assert_eq!(gvisor["status"], "skipped: runsc not installed");
    assert_eq!(gvisor["inference_mean_us"], "");
    assert_eq!(gvisor["verdict"], "skipped");
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
        ("0", "0")
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
        .find(|r| r[0] == "docker" && r[1] == "1")
        .unwrap();
    assert_eq!(
        (second_round[2].as_str(), second_round[3].as_str()),
        ("1", "7")
    );
}

#[test]
fn markdown_table_shape_sections_and_escaping() {
    let file = standard("yolov8", 5, 30);
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
        "Isolation overhead (MiB)",
        "Ratio to baseline (two-level bootstrap 95% CI)",
        "Verdict (p < 0.01, |change| > 5%)",
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
    assert!(text.contains("- oci-crun: FAILED: crun: cannot mount proc"));
    assert!(text.contains("- gvisor: skipped: runsc not installed"));
    // Escaping.
    assert!(text.contains("> ⚠ a warning with <markup> & \\| pipes"));
    // Sections.
    for section in [
        "**Definitions**",
        "- **CPU %**: host CPU seconds (user + system) charged to the instance over the measured iterations only",
        "- **Percentiles**: nearest rank",
        "- **Isolation overhead**: this environment's host peak RSS minus the baseline's",
        "**Repetitions**",
        "Interleaved: 5 round(s)",
        "- round 1: native, docker, firecracker, oci-runc, qemu-q35",
        "| Environment | σ between repetitions (ms) | σ within (ms) | ICC |",
        "| native | 0 | 0 | 30 | ",
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
    let file = standard("yolov8", 5, 30);
    let page = html(&file);
    if let Ok(path) = std::env::var("ISOBENCH_REPORT_SAMPLE") {
        std::fs::write(path, &page).unwrap();
    }
    let figures: Vec<&str> = page.split("<figure class=\"chart\"").skip(1).collect();
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
    assert!(page.contains("a warning with &lt;markup&gt; &amp; | pipes"));
    assert!(!page.contains("<markup>"));
    assert!(page.contains("prefers-color-scheme: dark"));
    assert!(page.contains("qemu-q35 (emulated, TCG)"));
    assert!(page.contains("<li>oci-crun: FAILED: crun: cannot mount proc</li>"));
    assert!(page.contains("<td>img0.jpg</td><td>identical in 5 environments</td>"));
}

#[test]
fn terminal_table_fits_and_lists_reasons_under_it() {
    let mut crun = env("oci-crun", &means(10_100.0, 5), 30, 6);
    fail_repetition(&mut crun, 4, "crun: cannot mount proc");
    let file = file_of(
        "yolov8",
        vec![
            env("native", &means(10_000.0, 5), 30, 1),
            env("docker", &means(10_000.0, 5), 30, 2),
            env("oci-runc", &means(9_000.0, 5), 30, 4),
            crun,
            env("firecracker", &means(11_200.0, 5), 30, 3),
            emulated(env("qemu-q35", &means(50_000.0, 5), 30, 5)),
        ],
    );
    let text = terminal_table(&file);
    let table: Vec<&str> = text.lines().take(2 + file.environments.len()).collect();
    for line in &table {
        assert!(
            line.chars().count() <= 160,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    assert!(table[0].starts_with("environment") && table[0].contains("vs baseline [95% CI]"));
    assert!(terminal_row(&text, "native").contains("baseline"));
    assert!(terminal_row(&text, "firecracker")
        .trim_end()
        .ends_with("slower"));
    assert!(terminal_row(&text, "qemu-q35 (emulated, TCG)").contains("not compared (see below)"));
    assert!(text.contains(
        "  qemu-q35: not compared (one side is emulated (TCG), the other hardware-accelerated)"
    ));
    assert!(text.contains(
        "  oci-crun: partly failed: 1 of 5 repetitions failed (#4: crun: cannot mount proc)"
    ));
    assert!(
        text.ends_with("warning: a warning with <markup> & | pipes\n"),
        "{text}"
    );

    let whole = standard("yolov8", 5, 20);
    let text = terminal_table(&whole);
    assert!(
        text.contains("\n  oci-crun: FAILED: crun: cannot mount proc\n"),
        "{text}"
    );
    assert!(
        text.contains("\n  gvisor: skipped: runsc not installed\n"),
        "{text}"
    );
    assert!(terminal_row(&text, "gvisor")
        .trim_end()
        .ends_with("skipped"));
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
            assert_eq!(x.comparison, y.comparison);
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
            .comparison
            .map(|c| c.verdict)
    };
    assert_eq!(verdict("docker"), Some(Verdict::NoDifference));
    assert_eq!(verdict("firecracker"), Some(Verdict::Slower));
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
    assert_eq!(r.rows[0].comparison.unwrap().verdict, Verdict::Faster);
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
    assert!(
        rows[2].contains("(95.00% CPU; not compared¹)"),
        "{}",
        rows[2]
    );
    assert!(
        table.contains("- ¹ not compared (one side is emulated"),
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
}
