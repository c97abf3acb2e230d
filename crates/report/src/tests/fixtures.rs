//! Fixtures: synthetic results files (every figure measured, or made
//! absent, failed, skipped or emulated on purpose) and readers of the
//! exported tables.

use isobench_records::{Detection, Digest, Summary as AgentSummary};
use isobench_results::{
    Calibration, EnvironmentResult, Experiment, HostInfo, HostSpeed, IterationSample,
    PayloadIdentity, Repetition, ResultsFile, Round, Status, Usage, UsageSample, RESULTS_VERSION,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::export::{CsvExporter, Exporter, HtmlExporter, MarkdownExporter};
use crate::CompareOptions;
use isobench_harness::summarize::{decision_options, summarize_all};

// ---------------------------------------------------------------------------
// Fixtures.

/// Normal samples (Box-Muller), rounded to whole µs like the agent reports them.
pub(super) fn normal_us(n: usize, mean: f64, std: f64, rng: &mut ChaCha8Rng) -> Vec<u64> {
    (0..n)
        .map(|_| {
            let u1: f64 = 1.0 - rng.gen::<f64>();
            let u2: f64 = rng.gen();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            (mean + std * z).max(1.0).round() as u64
        })
        .collect()
}

/// What every environment detects on input `input` (scores differ by `shift`).
pub(super) fn detection(input: usize, shift: f32) -> Digest {
    Digest::Detections {
        count: 1,
        detections: vec![Detection {
            class: "person".into(),
            class_id: 0,
            score: 0.91 - 0.1 * input as f32 + shift,
            bbox: [10.0, 20.0, 110.0 + input as f32, 220.0],
        }],
    }
}

/// One environment: one repetition per entry of `means` (µs), `n` iterations
/// each (2% noise), every figure measured.
pub(super) fn env(name: &str, means: &[f64], n: usize, seed: u64) -> EnvironmentResult {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let repetitions: Vec<Repetition> = means
        .iter()
        .enumerate()
        .map(|(r, &mean)| {
            let inference = normal_us(n, mean, mean * 0.02, &mut rng);
            let iterations: Vec<IterationSample> = inference
                .iter()
                .enumerate()
                .map(|(i, &us)| IterationSample {
                    index: i as u64,
                    input: format!("img{}.jpg", i % 3),
                    preprocess_us: 300,
                    inference_us: us,
                    postprocess_us: 50,
                    end_to_end_us: us + 400 + (i as u64 % 7) * 10,
                    digest: Some(detection(i % 3, 0.0)),
                })
                .collect();
            let wall = inference.iter().sum::<u64>() as f64 / 1e6;
            let mut cpu = 0.0;
            let samples: Vec<UsageSample> = (0..=20u64)
                .map(|k| {
                    if k > 0 {
                        cpu += (wall + 0.5) / 20.0 * (0.85 + 0.05 * (k % 3) as f64);
                    }
                    UsageSample {
                        t: k as f64 * (wall + 0.5) / 20.0,
                        cpu,
                        mem: 50_000_000 + k * 100_000,
                    }
                })
                .collect();
            let workload_rss = 40_000_000 + r as u64 * 100_000;
            Repetition {
                round: r as u32 + 1,
                ready_seconds: Some(0.05 + 0.001 * r as f64),
                first_inference_seconds: Some(0.1 + 0.001 * r as f64),
                agent_ready_us: Some(20_000),
                iterations,
                usage: Usage {
                    source: "cgroup-v1 /isobench/test".into(),
                    cpu_seconds: Some(wall * 0.95 + 0.3),
                    wall_seconds: wall + 0.5,
                    startup_cpu_seconds: Some(0.25),
                    measured_cpu_seconds: Some(wall * 0.95),
                    measured_wall_seconds: Some(wall),
                    cpu_seconds_per_inference: Some(wall * 0.95 / n as f64),
                    cpu_percent: Some(95.0),
                    absent: vec![],
                    host_peak_rss_bytes: Some(workload_rss + 60_000_000),
                    cgroup_peak_bytes: Some(workload_rss + 70_000_000),
                    vmm_overhead_bytes: None,
                    interval_ms: 100,
                    samples,
                },
                agent_summary: Some(AgentSummary {
                    workload: isobench_records::Workload::Yolov8,
                    engine: isobench_records::Engine::Tract,
                    threads: 1,
                    iterations: n as u64,
                    warmup: 2,
                    accuracy: None,
                    total_inference_us: inference.iter().sum(),
                    total_wall_us: inference.iter().sum::<u64>() + 350 * n as u64,
                    model_sha256: "cc".repeat(32),
                    inputs_sha256: "dd".repeat(32),
                    agent_sha256: "aa".repeat(32),
                    peak_rss_bytes: Some(workload_rss),
                }),
                exit_code: Some(0),
                ..Repetition::default()
            }
        })
        .collect();
    EnvironmentResult {
        name: name.into(),
        runtime_version: Some("1.0".into()),
        accel: None,
        emulated: false,
        notes: vec!["note with <markup> & \"quotes\"".into()],
        image_bytes: Some(12_345_678),
        prepare_seconds: 1.5,
        status: Status::Completed,
        planned_repetitions: repetitions.len() as u32,
        repetitions,
        summary: None,
    }
}

/// Repetition means (µs) around `mean`: five or three fixed offsets within ±1%.
pub(super) fn means(mean: f64, repetitions: usize) -> Vec<f64> {
    [1.0, 1.008, 0.995, 1.004, 0.992, 1.002, 0.998]
        .iter()
        .take(repetitions)
        .map(|f| mean * f)
        .collect()
}

pub(super) fn emulated(mut e: EnvironmentResult) -> EnvironmentResult {
    e.emulated = true;
    e.accel = Some("tcg".into());
    e
}

/// A VM whose VMM holds 20 MiB outside guest RAM.
pub(super) fn with_vmm(mut e: EnvironmentResult) -> EnvironmentResult {
    for r in &mut e.repetitions {
        r.usage.vmm_overhead_bytes = Some(20 << 20);
    }
    e
}

pub(super) fn skipped(name: &str, reason: &str) -> EnvironmentResult {
    let mut e = env(name, &[], 1, 0);
    e.status = Status::Skipped {
        reason: reason.into(),
    };
    e
}

/// Fails every repetition: nothing measured.
pub(super) fn failed(name: &str, reason: &str) -> EnvironmentResult {
    let mut e = env(name, &[1000.0], 1, 0);
    e.repetitions[0].iterations.clear();
    e.repetitions[0].usage = Usage::default();
    e.repetitions[0].error = Some(reason.into());
    e.status = Status::Failed {
        reason: reason.into(),
    };
    e
}

/// Fails repetition `index` (no samples, error set).
pub(super) fn fail_repetition(e: &mut EnvironmentResult, index: usize, reason: &str) {
    e.repetitions[index].iterations.clear();
    e.repetitions[index].error = Some(reason.into());
    e.status = Status::Failed {
        reason: reason.into(),
    };
}

/// Makes every CPU figure of `e` absent, for `reason`.
pub(super) fn absent_cpu(e: &mut EnvironmentResult, reason: isobench_results::AbsentReason) {
    for r in &mut e.repetitions {
        let u = &mut r.usage;
        u.cpu_seconds = None;
        u.startup_cpu_seconds = None;
        u.measured_cpu_seconds = None;
        u.cpu_seconds_per_inference = None;
        u.cpu_percent = None;
        u.absent = vec![reason.clone()];
    }
}

/// A results file over `envs` (interleaved rounds), summarised like the harness does.
pub(super) fn file_of(workload: &str, envs: Vec<EnvironmentResult>) -> ResultsFile {
    let mut envs = envs;
    let rounds_n = envs.iter().map(|e| e.repetitions.len()).max().unwrap_or(0);
    let mut rounds = Vec::new();
    let mut sequence = 0;
    for r in 0..rounds_n {
        let mut order = Vec::new();
        for e in envs.iter_mut() {
            if let Some(rep) = e.repetitions.get_mut(r) {
                rep.sequence = Some(sequence);
                let before = 0.010 * (1.0 + 0.002 * f64::from(sequence % 5));
                rep.calibration = Some(Calibration {
                    before,
                    after: before * 1.01,
                });
                sequence += 1;
                order.push(e.name.clone());
            }
        }
        rounds.push(Round {
            round: r as u32 + 1,
            order,
        });
    }
    let iterations = envs
        .iter()
        .find_map(|e| e.repetitions.first().map(|r| r.iterations.len()))
        .unwrap_or(0);
    let mut file = ResultsFile {
        results_version: RESULTS_VERSION,
        isobench_version: "0.1.0".into(),
        git_revision: Some("abc123".into()),
        started_unix: 1_795_000_000,
        experiment: Experiment {
            environments: envs.iter().map(|e| e.name.clone()).collect(),
            workload: workload.parse().expect("a workload name"),
            engine: isobench_records::Engine::Tract,
            model: Some("/cache/assets/models/yolov8-fall.onnx".into()),
            images: None,
            iterations: Some(iterations as u64),
            warmup: 2,
            repetitions: Some(rounds_n as u32),
            vcpus: Some(1),
            memory_mib: Some(512),
            threads: 1,
            seed: 42,
            order: isobench_results::Order::Interleaved,
            command: None,
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
            cgroup_version: "v1 (hybrid)".into(),
        },
        payload: PayloadIdentity {
            agent_sha256: "aa".repeat(32),
            agent_static: true,
            assets_sha256: "bb".repeat(32),
        },
        baseline: envs
            .iter()
            .find(|e| e.name == "native")
            .or(envs.first())
            .map(|e| e.name.clone()),
        environments: envs,
        design: None,
        rounds,
        host_speed: None,
        outputs: None,
        warnings: vec![],
        serving: vec![],
        cold_start: vec![],
        cold_start_host_speed: None,
        density: None,
        interference: vec![],
    };
    summarize_all(&mut file);
    file
}

/// The standard file: native 10 ms; docker the same; firecracker 12% slower;
/// oci-runc 10% faster; qemu-q35 emulated 5×; oci-crun failed; gvisor skipped.
/// `repetitions` of `n` iterations each.
pub(super) fn standard(workload: &str, repetitions: usize, n: usize) -> ResultsFile {
    file_of(
        workload,
        vec![
            env("native", &means(10_000.0, repetitions), n, 1),
            env("docker", &means(10_000.0, repetitions), n, 2),
            env("firecracker", &means(11_200.0, repetitions), n, 3),
            env("oci-runc", &means(9_000.0, repetitions), n, 4),
            with_vmm(emulated(env(
                "qemu-q35",
                &means(50_000.0, repetitions),
                n,
                5,
            ))),
            failed("oci-crun", "crun: cannot mount proc"),
            skipped("gvisor", "runsc not installed"),
        ],
    )
}

/// Splits one CSV line (RFC 4180 quoting).
pub(super) fn csv_split(line: &str) -> Vec<String> {
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

pub(super) fn md(file: &ResultsFile) -> String {
    String::from_utf8(MarkdownExporter.serialize(file).unwrap()).unwrap()
}

pub(super) fn html(file: &ResultsFile) -> String {
    String::from_utf8(HtmlExporter.serialize(file).unwrap()).unwrap()
}

pub(super) fn csv(file: &ResultsFile) -> String {
    String::from_utf8(CsvExporter.serialize(file).unwrap()).unwrap()
}

/// The summary-table row of `label` in a Markdown report.
pub(super) fn md_row<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("| {label} |")) || l.starts_with(&format!("| {label} (")))
        .unwrap_or_else(|| panic!("no row {label} in\n{text}"))
}

/// Cells of a Markdown row (unescaped pipes separate).
pub(super) fn md_cells(row: &str) -> Vec<String> {
    row.replace("\\|", "\u{1}")
        .trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().replace('\u{1}', "|"))
        .collect()
}

/// The summary-table row of `name` in an HTML report.
pub(super) fn html_row<'a>(text: &'a str, name: &str) -> &'a str {
    let table = &text[text.find("<table id=\"summary\">").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    table
        .lines()
        .find(|l| l.starts_with(&format!("<tr><td>{name}")))
        .unwrap_or_else(|| panic!("no row {name} in\n{table}"))
}

/// The terminal-table row of `name`.
pub(super) fn terminal_row<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no row {name} in\n{text}"))
}

pub(super) fn csv_row(text: &str, name: &str) -> std::collections::BTreeMap<String, String> {
    let mut lines = text.lines();
    let header = csv_split(lines.next().unwrap());
    let row = lines
        .map(csv_split)
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("no csv row {name}"));
    header.into_iter().zip(row).collect()
}

/// The comparison options every report's verdicts use.
pub(super) fn options() -> CompareOptions {
    CompareOptions {
        decision: decision_options(),
        ..CompareOptions::default()
    }
}

/// Round ratios of an environment whose verdict is inconclusive (leaning
/// slower): 1.16 on average, spread 1.02–1.35 (the gVisor case).
pub(super) const WIDE_RATIOS: [f64; 5] = [1.02, 1.35, 1.10, 1.25, 1.08];

/// One of each outcome against native (10 ms): docker the same, firecracker
/// 12% slower, oci-runc 10% faster, gvisor inconclusive; 5 rounds of 30
/// iterations.
pub(super) fn four_outcomes() -> ResultsFile {
    let base = means(10_000.0, 5);
    let gvisor: Vec<f64> = base.iter().zip(WIDE_RATIOS).map(|(m, r)| m * r).collect();
    file_of(
        "yolov8",
        vec![
            env("native", &base, 30, 1),
            env("docker", &means(10_000.0, 5), 30, 2),
            env("firecracker", &means(11_200.0, 5), 30, 3),
            env("oci-runc", &means(9_000.0, 5), 30, 4),
            env("gvisor", &gvisor, 30, 7),
        ],
    )
}

/// Whitespace collapsed: wrapped terminal lines read as one.
pub(super) fn unwrapped(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) fn with_probe(mut file: ResultsFile, median_seconds: f64) -> ResultsFile {
    file.host_speed = Some(HostSpeed {
        median_seconds,
        min_seconds: median_seconds * 0.99,
        max_seconds: median_seconds * 1.01,
        drift: 0.02,
        affected: vec![],
    });
    file
}
