//! Exporters and comparisons on a synthetic results file.

use isobench_results::{
    EnvironmentResult, EnvironmentSummary, Experiment, HostInfo, IterationSample, PayloadIdentity,
    Repetition, ResultsFile, Status, Usage, UsageSample, RESULTS_VERSION,
};
use isobench_stats::{ratio_of_means_ci, CompareOptions, Summary, Verdict};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::export::{CsvExporter, Exporter, HtmlExporter, JsonExporter, MarkdownExporter};
use crate::{compare_environments, compare_files, raw_csv, render_paper_table, write_reports};

/// Normal samples (Box-Muller), rounded to whole µs like the agent reports them.
fn normal_us(n: usize, mean: f64, std: f64, rng: &mut ChaCha8Rng) -> Vec<u64> {
    (0..n)
        .map(|_| {
            let u1: f64 = 1.0 - rng.gen::<f64>();
            let u2: f64 = rng.gen();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            (mean + std * z).max(1.0).round() as u64
        })
        .collect()
}

/// One environment: `reps` repetitions of `n` iterations around `mean_us`.
fn env(name: &str, mean_us: f64, emulated: bool, seed: u64) -> EnvironmentResult {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let reps: Vec<Repetition> = (0..2u32)
        .map(|r| {
            let inf = normal_us(150, mean_us, mean_us * 0.03, &mut rng);
            let iterations: Vec<IterationSample> = inf
                .iter()
                .enumerate()
                .map(|(i, &us)| IterationSample {
                    index: i as u64,
                    input: format!("img{}.jpg", i % 3),
                    preprocess_us: 300,
                    inference_us: us,
                    postprocess_us: 50,
                    end_to_end_us: us + 400 + (i as u64 % 7) * 10,
                })
                .collect();
            let wall = inf.iter().sum::<u64>() as f64 / 1e6 + 0.5;
            let mut cpu = 0.0;
            let samples: Vec<UsageSample> = (0..=30u64)
                .map(|k| {
                    let t = k as f64 * wall / 30.0;
                    if k > 0 {
                        cpu += wall / 30.0 * (0.85 + 0.05 * (k % 3) as f64);
                    }
                    UsageSample {
                        t,
                        cpu,
                        mem: 50_000_000 + k * 100_000,
                    }
                })
                .collect();
            Repetition {
                index: r,
                ready_seconds: Some(if emulated { 2.5 } else { 0.05 } + 0.01 * f64::from(r)),
                first_inference_seconds: Some(0.1 + 0.01 * f64::from(r)),
                agent_ready_us: Some(20_000),
                iterations,
                usage: Usage {
                    source: "cgroup-v1 /isobench/test".into(),
                    cpu_seconds: wall * 0.95,
                    wall_seconds: wall,
                    cpu_seconds_per_inference: wall * 0.95 / 150.0,
                    cpu_percent: 95.0,
                    peak_memory_bytes: 53_000_000 + u64::from(r) * 1_000_000,
                    vmm_overhead_bytes: None,
                    interval_ms: 100,
                    samples,
                },
                agent_summary: None,
                exit_code: Some(0),
                error: None,
                ..Repetition::default()
            }
        })
        .collect();
    EnvironmentResult {
        name: name.into(),
        runtime_version: Some("1.0".into()),
        accel: emulated.then(|| "tcg".to_string()),
        emulated,
        notes: vec!["note with <markup> & \"quotes\"".into()],
        image_bytes: Some(12_345_678),
        prepare_seconds: 1.5,
        status: Status::Completed,
        repetitions: reps,
        summary: None,
    }
}

/// Fills summaries as the harness does (baseline = native).
fn summarise(file: &mut ResultsFile) {
    let base = file.environments[0].all_inference_us();
    for e in &mut file.environments {
        if e.repetitions.is_empty() {
            continue;
        }
        let inf = e.all_inference_us();
        let ready: Vec<f64> = e
            .repetitions
            .iter()
            .filter_map(|r| r.ready_seconds)
            .collect();
        let first: Vec<f64> = e
            .repetitions
            .iter()
            .filter_map(|r| r.first_inference_seconds)
            .collect();
        let n = e.repetitions.len() as f64;
        e.summary = Some(EnvironmentSummary {
            inference_us: Summary::from_samples(&inf, 1).unwrap(),
            end_to_end_us: Summary::from_samples(&e.all_end_to_end_us(), 1).unwrap(),
            ready_seconds: Some(Summary::from_samples(&ready, 1).unwrap()),
            first_inference_seconds: Some(Summary::from_samples(&first, 1).unwrap()),
            cpu_percent: e
                .repetitions
                .iter()
                .map(|r| r.usage.cpu_percent)
                .sum::<f64>()
                / n,
            cpu_seconds_per_inference: e
                .repetitions
                .iter()
                .map(|r| r.usage.cpu_seconds_per_inference)
                .sum::<f64>()
                / n,
            peak_memory_bytes: (e
                .repetitions
                .iter()
                .map(|r| r.usage.peak_memory_bytes)
                .sum::<u64>() as f64
                / n) as u64,
            memory_overhead_bytes: (e.name != "native").then_some(1_000_000),
            accuracy: Some(0.97),
            ratio_to_baseline: (e.name != "native")
                .then(|| ratio_of_means_ci(&base, &inf, 1).unwrap()),
        });
    }
}

/// native 10 ms; docker same distribution; firecracker 12% slower; qemu-q35 emulated 5x;
/// gvisor skipped.
fn synthetic(workload: &str, docker_factor: f64) -> ResultsFile {
    let mut gvisor = env("gvisor", 1.0, false, 9);
    gvisor.repetitions.clear();
    gvisor.status = Status::Skipped {
        reason: "runsc not installed".into(),
    };
    let mut file = ResultsFile {
        results_version: RESULTS_VERSION,
        isobench_version: "0.1.0".into(),
        git_revision: Some("abc123".into()),
        started_unix: 1_795_000_000,
        experiment: Experiment {
            environments: vec![
                "native".into(),
                "docker".into(),
                "firecracker".into(),
                "qemu-q35".into(),
                "gvisor".into(),
            ],
            workload: workload.into(),
            engine: "tract".into(),
            model: Some("/cache/assets/models/yolov8-fall.onnx".into()),
            images: None,
            iterations: 150,
            warmup: 5,
            repetitions: 2,
            vcpus: Some(1),
            memory_mib: Some(512),
            threads: 1,
            seed: 42,
        },
        host: HostInfo {
            hostname: "bench-host".into(),
            kernel: "6.1.0".into(),
            cpu_model: "Test CPU".into(),
            cpus: 2,
            memory_bytes: 24 << 30,
            kvm: "pvm".into(),
            load_average: 0.2,
            tool_versions: [("runc".to_string(), "1.1.5".to_string())]
                .into_iter()
                .collect(),
        },
        payload: PayloadIdentity {
            agent_sha256: "aa".repeat(32),
            agent_static: true,
            assets_sha256: "bb".repeat(32),
        },
        environments: vec![
            env("native", 10_000.0, false, 1),
            env("docker", 10_000.0 * docker_factor, false, 2),
            env("firecracker", 11_200.0, false, 3),
            env("qemu-q35", 50_000.0, true, 4),
            gvisor,
        ],
        warnings: vec!["qemu-q35 ran under TCG <emulated>".into()],
        serving: vec![],
    };
    summarise(&mut file);
    file
}

/// Splits one CSV line (RFC 4180 quoting).
fn csv_split(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut chars) =
        (vec![], String::new(), false, line.chars().peekable());
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[test]
fn csv_has_header_and_one_row_per_environment() {
    let file = synthetic("yolov8", 1.0);
    let text = String::from_utf8(CsvExporter.serialize(&file).unwrap()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + file.environments.len());
    let header = csv_split(lines[0]);
    assert_eq!(header, crate::export::csv::SUMMARY_HEADER);
    for line in &lines[1..] {
        assert_eq!(csv_split(line).len(), header.len(), "{line}");
    }
    let native = csv_split(lines[1]);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(native[col("environment")], "native");
    let mean: f64 = native[col("inference_mean_us")].parse().unwrap();
    assert_eq!(
        mean,
        file.environments[0]
            .summary
            .as_ref()
            .unwrap()
            .inference_us
            .mean
    );
    let gvisor = csv_split(lines[5]);
    assert_eq!(gvisor[col("status")], "skipped: runsc not installed");
    assert_eq!(gvisor[col("inference_mean_us")], "");
    assert_eq!(gvisor[col("image_bytes")], "12345678");

    let raw = String::from_utf8(raw_csv(&file)).unwrap();
    let lines: Vec<&str> = raw.lines().collect();
    assert_eq!(lines[0], crate::export::csv::RAW_HEADER);
    assert_eq!(lines.len(), 1 + 4 * 2 * 150);
    let first = csv_split(lines[1]);
    assert_eq!(first[0], "native");
    assert_eq!(
        first[5],
        file.environments[0].repetitions[0].iterations[0]
            .inference_us
            .to_string()
    );
}

#[test]
fn markdown_table_shape_labels_and_verdicts() {
    let file = synthetic("yolov8", 1.0);
    let text = String::from_utf8(MarkdownExporter.serialize(&file).unwrap()).unwrap();
    let table: Vec<&str> = text.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(table.len(), 2 + file.environments.len(), "{text}");
    let pipes = |l: &str| l.matches('|').count() - l.matches("\\|").count();
    for l in &table {
        assert_eq!(pipes(l), 10, "{l}");
    }
    assert!(table[0].contains("Inference mean ± σ (ms)"), "{}", table[0]);
    let row = |name: &str| {
        *table
            .iter()
            .find(|l| l.starts_with(&format!("| {name}")))
            .unwrap()
    };
    assert!(row("native").contains("baseline"));
    assert!(
        row("docker").contains("no significant difference"),
        "{}",
        row("docker")
    );
    assert!(
        row("firecracker").ends_with("| slower |"),
        "{}",
        row("firecracker")
    );
    assert!(
        row("qemu-q35 (emulated, TCG)").contains("not compared"),
        "{}",
        row("qemu-q35")
    );
    assert!(row("gvisor").contains("skipped: runsc not installed"));
    assert!(
        row("firecracker").contains("1.1"),
        "ratio: {}",
        row("firecracker")
    );
    assert!(text.contains("> ⚠ qemu-q35 ran under TCG <emulated>"));
}

#[test]
fn html_is_self_contained_with_one_nonempty_svg_per_chart() {
    let file = synthetic("yolov8", 1.0);
    let html = String::from_utf8(HtmlExporter.serialize(&file).unwrap()).unwrap();
    if let Ok(path) = std::env::var("ISOBENCH_REPORT_SAMPLE") {
        std::fs::write(path, &html).unwrap();
    }
    let figures: Vec<&str> = html.split("<figure class=\"chart\"").skip(1).collect();
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
    // Units on the axes.
    for unit in [
        "time (ms)",
        "(% of one core)",
        "time since launch (s)",
        "(MiB)",
        "(CPU-ms)",
        "launch to ready (ms",
    ] {
        assert!(html.contains(unit), "missing axis label {unit}");
    }
    // One CPU line per environment with usage samples (4 measured).
    let cpu = &figures[4][..figures[4].find("</svg>").unwrap()];
    let lines = cpu
        .lines()
        .filter(|l| {
            l.starts_with("<polyline")
                && l.contains("stroke-width=\"2\"")
                && l.matches(',').count() > 10
        })
        .count();
    assert_eq!(lines, 4, "one CPU line per measured environment");
    // No network: the only URL is the SVG namespace.
    let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!without_ns.contains("http://") && !without_ns.contains("https://"));
    assert!(!html.contains("<script") && !html.contains("<link"));
    // Escaping and dark mode.
    assert!(html.contains("note with &lt;markup&gt; &amp; &quot;quotes&quot;"));
    assert!(!html.contains("<markup>"));
    assert!(html.contains("prefers-color-scheme: dark"));
    assert!(html.contains("qemu-q35 (emulated, TCG)"));
    assert!(html.contains("<td class=\"slower\">slower</td>"));
}

#[test]
fn json_round_trips() {
    let file = synthetic("knn", 1.0);
    let bytes = JsonExporter.serialize(&file).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let back = ResultsFile::from_json(&text, "export.json").unwrap();
    assert_eq!(back.experiment, file.experiment);
    assert_eq!(back.payload, file.payload);
    assert_eq!(back.environments.len(), file.environments.len());
    for (a, b) in back.environments.iter().zip(&file.environments) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.status, b.status);
        assert_eq!(a.all_inference_us(), b.all_inference_us());
        assert_eq!(
            a.repetitions
                .iter()
                .map(|r| &r.usage)
                .collect::<Vec<_>>()
                .len(),
            b.repetitions.len()
        );
        if let (Some(x), Some(y)) = (&a.summary, &b.summary) {
            assert!((x.inference_us.mean - y.inference_us.mean).abs() < 1e-9);
            assert_eq!(x.inference_us.outliers, y.inference_us.outliers);
        }
    }
}

#[test]
fn compare_files_flags_a_regression_and_not_its_absence() {
    let a = synthetic("yolov8", 1.0);
    let same = synthetic("yolov8", 1.0);
    let options = CompareOptions {
        resamples: 2000,
        ..CompareOptions::default()
    };
    let r = compare_files(&a, &same, "A.json", "B.json", &options);
    assert!(!r.has_regression(), "{}", r.to_text());
    assert_eq!(r.rows.len(), 5);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);

    // Same environments, docker 20% slower in B: detected, and only there.
    let slower = synthetic("yolov8", 1.2);
    let r = compare_files(&a, &slower, "A.json", "B.json", &options);
    assert!(r.has_regression());
    let names: Vec<&str> = r
        .regressions()
        .map(|row| row.b_environment.as_str())
        .collect();
    assert_eq!(names, ["docker"]);
    let text = r.to_text();
    assert!(text.contains("REGRESSION in: docker"), "{text}");
    assert!(text.contains("SLOWER"), "{text}");
    let gvisor = r
        .rows
        .iter()
        .find(|row| row.a_environment == "gvisor")
        .unwrap();
    assert!(gvisor.comparison.is_none() && gvisor.skipped.is_some());

    // Faster in B is not a regression.
    let r = compare_files(&slower, &a, "B.json", "A.json", &options);
    assert!(!r.has_regression());
    let docker = r
        .rows
        .iter()
        .find(|row| row.a_environment == "docker")
        .unwrap();
    assert_eq!(docker.comparison.unwrap().verdict, Verdict::Faster);

    // Different experiments are called out; machine-readable form serialises.
    let other = synthetic("knn", 1.0);
    let r = compare_files(&a, &other, "A.json", "B.json", &options);
    assert!(
        r.warnings.iter().any(|w| w.starts_with("workload differs")),
        "{:?}",
        r.warnings
    );
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"verdict\":\"no_difference\""), "{json}");
}

#[test]
fn compare_environments_inside_one_file() {
    let file = synthetic("yolov8", 1.0);
    let options = CompareOptions {
        resamples: 2000,
        ..CompareOptions::default()
    };
    let r = compare_environments(&file, None, None, &options).unwrap();
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
        &options,
    )
    .unwrap();
    assert_eq!(r.rows[0].comparison.unwrap().verdict, Verdict::Faster);
    let err = compare_environments(&file, Some("gvisor"), None, &options).unwrap_err();
    assert!(
        err.to_string().contains("`gvisor` has no measured samples"),
        "{err}"
    );
}

#[test]
fn paper_table_rows_are_models_columns_environments() {
    let files = [synthetic("yolov8", 1.0), synthetic("knn", 1.0)];
    let table = render_paper_table(&files);
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(rows.len(), 4, "{table}");
    assert_eq!(
        rows[0],
        "| Model | native | docker | firecracker | qemu-q35 (emulated, TCG) |"
    );
    assert!(
        rows[2].starts_with("| yolov8 (tract, yolov8-fall.onnx) | 10."),
        "{}",
        rows[2]
    );
    assert!(rows[2].contains(" ms (95.00% CPU)"), "{}", rows[2]);
    assert!(rows[3].starts_with("| knn (tract"), "{}", rows[3]);
}

#[test]
fn write_reports_writes_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let written = write_reports(&synthetic("knn", 1.0), dir.path()).unwrap();
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
    let err = write_reports(&synthetic("knn", 1.0), &dir.path().join("missing")).unwrap_err();
    assert!(err.to_string().contains("cannot write"), "{err}");
}

#[test]
fn serving_results_appear_in_markdown_and_html() {
    let mut file = synthetic("knn", 1.1);
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
    let md = String::from_utf8(MarkdownExporter.serialize(&file).unwrap()).unwrap();
    assert!(md.contains("**Model serving**"), "{md}");
    let row = md
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
    let html = String::from_utf8(HtmlExporter.serialize(&file).unwrap()).unwrap();
    assert!(html.contains("<table id=\"serving\">") && html.contains("<td>4688.0</td>"));
    // Without serving results there is no such section.
    let plain =
        String::from_utf8(MarkdownExporter.serialize(&synthetic("knn", 1.1)).unwrap()).unwrap();
    assert!(!plain.contains("Model serving"));
}
