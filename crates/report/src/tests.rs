//! Exporters, the terminal table, comparisons and merged reports on synthetic
//! v2 results files whose summaries are computed the way the harness
//! computes them (`crates/harness/src/summarize.rs`, mirrored by [`summarize_all`]).

use isobench_records::{Detection, Digest, Summary as AgentSummary};
use isobench_results::{
    Calibration, EnvOutput, EnvironmentResult, EnvironmentSummary, Experiment, HostInfo, HostSpeed,
    InputOutputs, IterationSample, OutputCheck, OutputMismatch, PayloadIdentity, Repetition,
    ResultsFile, Round, Status, Usage, UsageSample, RESULTS_VERSION,
};
use isobench_stats::{
    hierarchical_ci, hierarchical_ratio, repetition_outliers, variance_components, CompareOptions,
    Comparison, Inconclusive, Repeated, Statistic, Summary, Verdict, DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::export::{CsvExporter, Exporter, HtmlExporter, JsonExporter, MarkdownExporter};
use crate::{
    compare_environments, compare_files, merged_html, merged_markdown, raw_csv, render_paper_table,
    terminal_table, write_reports,
};

const INCONCLUSIVE_3V3: &str =
    "inconclusive (too few repetitions: 3 vs 3; at least 5 vs 5 needed for p < 0.01)";

// ---------------------------------------------------------------------------
// Fixtures.

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

/// What every environment detects on input `input` (scores differ by `shift`).
fn detection(input: usize, shift: f32) -> Digest {
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
fn env(name: &str, means: &[f64], n: usize, seed: u64) -> EnvironmentResult {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let repetitions = means
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
                index: r as u32,
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
                    workload: "yolov8".into(),
                    engine: "tract".into(),
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
        repetitions,
        summary: None,
    }
}

/// Repetition means (µs) around `mean`: five or three fixed offsets within ±1%.
fn means(mean: f64, repetitions: usize) -> Vec<f64> {
    [1.0, 1.008, 0.995, 1.004, 0.992, 1.002, 0.998]
        .iter()
        .take(repetitions)
        .map(|f| mean * f)
        .collect()
}

fn emulated(mut e: EnvironmentResult) -> EnvironmentResult {
    e.emulated = true;
    e.accel = Some("tcg".into());
    e
}

/// A VM whose VMM holds 20 MiB outside guest RAM.
fn with_vmm(mut e: EnvironmentResult) -> EnvironmentResult {
    for r in &mut e.repetitions {
        r.usage.vmm_overhead_bytes = Some(20 << 20);
    }
    e
}

fn skipped(name: &str, reason: &str) -> EnvironmentResult {
    let mut e = env(name, &[], 1, 0);
    e.status = Status::Skipped {
        reason: reason.into(),
    };
    e
}

/// Fails every repetition: nothing measured.
fn failed(name: &str, reason: &str) -> EnvironmentResult {
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
fn fail_repetition(e: &mut EnvironmentResult, index: usize, reason: &str) {
    e.repetitions[index].iterations.clear();
    e.repetitions[index].error = Some(reason.into());
    e.status = Status::Failed {
        reason: reason.into(),
    };
}

/// Makes every CPU figure of `e` absent, for `reason`.
fn absent_cpu(e: &mut EnvironmentResult, reason: &str) {
    for r in &mut e.repetitions {
        let u = &mut r.usage;
        u.cpu_seconds = None;
        u.startup_cpu_seconds = None;
        u.measured_cpu_seconds = None;
        u.cpu_seconds_per_inference = None;
        u.cpu_percent = None;
        u.absent = vec![reason.into()];
    }
}

/// A results file over `envs` (interleaved rounds), summarised like the harness does.
fn file_of(workload: &str, envs: Vec<EnvironmentResult>) -> ResultsFile {
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
            index: r as u32,
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
            workload: workload.into(),
            engine: "tract".into(),
            model: Some("/cache/assets/models/yolov8-fall.onnx".into()),
            images: None,
            iterations: iterations as u64,
            warmup: 2,
            repetitions: rounds_n as u32,
            vcpus: Some(1),
            memory_mib: Some(512),
            threads: 1,
            seed: 42,
            order: "interleaved".into(),
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
        environments: envs,
        rounds,
        host_speed: None,
        outputs: None,
        warnings: vec!["a warning with <markup> & | pipes".into()],
        serving: vec![],
    };
    summarize_all(&mut file);
    file
}

/// The standard file: native 10 ms; docker the same; firecracker 12% slower;
/// oci-runc 10% faster; qemu-q35 emulated 5×; oci-crun failed; gvisor skipped.
/// `repetitions` of `n` iterations each.
fn standard(workload: &str, repetitions: usize, n: usize) -> ResultsFile {
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

// --- The harness's summaries, mirrored (crates/harness/src/summarize.rs). ---

fn grouped(env: &EnvironmentResult) -> (Vec<u32>, Option<Repeated>) {
    let mut indices = Vec::new();
    let mut groups = Vec::new();
    for rep in &env.repetitions {
        let values: Vec<f64> = rep.inference_us().collect();
        if !values.is_empty() {
            indices.push(rep.index);
            groups.push(values);
        }
    }
    (indices, Repeated::new(groups).ok())
}

fn mean_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let present: Vec<f64> = values.flatten().collect();
    (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
}

fn summary_of(groups: &Repeated, seed: u64) -> Option<Summary> {
    let mut summary = Summary::from_samples(&groups.pooled(), seed).ok()?;
    summary.mean_ci = hierarchical_ci(
        groups,
        Statistic::Mean,
        DEFAULT_RESAMPLES,
        DEFAULT_LEVEL,
        seed,
    );
    summary.median_ci = hierarchical_ci(
        groups,
        Statistic::Median,
        DEFAULT_RESAMPLES,
        DEFAULT_LEVEL,
        seed ^ 0x9E37_79B9_7F4A_7C15,
    );
    Some(summary)
}

fn verdict_options(seed: u64) -> CompareOptions {
    CompareOptions {
        seed,
        ..CompareOptions::default()
    }
}

fn summarize(
    env: &EnvironmentResult,
    baseline: Option<(&EnvironmentResult, &Repeated)>,
    seed: u64,
) -> Option<EnvironmentSummary> {
    let (indices, groups) = grouped(env);
    let groups = groups?;
    let inference_us = summary_of(&groups, seed)?;
    let end_to_end_us = summary_of(&Repeated::new(env.end_to_end_by_repetition()).ok()?, seed)?;
    let collect = |f: fn(&Repetition) -> Option<f64>| {
        let values: Vec<f64> = env.repetitions.iter().filter_map(f).collect();
        Summary::from_samples(&values, seed).ok()
    };
    let outlier_repetitions = repetition_outliers(&groups.repetition_stats(Statistic::Mean), 0.05)
        .into_iter()
        .map(|i| indices[i])
        .collect();
    let measured: Vec<&Repetition> = env
        .repetitions
        .iter()
        .filter(|r| !r.iterations.is_empty())
        .collect();
    let workload = |r: &&Repetition| r.agent_summary.as_ref()?.peak_rss_bytes.map(|b| b as f64);
    let host_peak = |e: &EnvironmentResult| {
        mean_of(
            e.repetitions
                .iter()
                .filter(|r| !r.iterations.is_empty())
                .map(|r| r.usage.host_peak_rss_bytes.map(|b| b as f64)),
        )
        .map(|b| b as u64)
    };
    let (ratio_to_baseline, comparison, not_compared) = match baseline {
        None => (None, None, None),
        Some((base, _)) if base.emulated != env.emulated => (
            None,
            None,
            Some("one side is emulated (TCG), the other hardware-accelerated".to_string()),
        ),
        Some((_, base)) => (
            hierarchical_ratio(base, &groups, Statistic::Mean, seed).ok(),
            Comparison::compute(base, &groups, &verdict_options(seed)).ok(),
            None,
        ),
    };
    Some(EnvironmentSummary {
        variance: variance_components(&groups),
        outlier_repetitions,
        failed_repetitions: env
            .repetitions
            .iter()
            .filter(|r| r.error.is_some())
            .map(|r| r.index)
            .collect(),
        ready_seconds: collect(|r| r.ready_seconds),
        first_inference_seconds: collect(|r| r.first_inference_seconds),
        cpu_percent: mean_of(measured.iter().map(|r| r.usage.cpu_percent)),
        cpu_seconds_per_inference: mean_of(
            measured.iter().map(|r| r.usage.cpu_seconds_per_inference),
        ),
        startup_cpu_seconds: mean_of(measured.iter().map(|r| r.usage.startup_cpu_seconds)),
        workload_peak_rss_bytes: mean_of(measured.iter().map(workload)).map(|b| b as u64),
        host_peak_rss_bytes: mean_of(
            measured
                .iter()
                .map(|r| r.usage.host_peak_rss_bytes.map(|b| b as f64)),
        )
        .map(|b| b as u64),
        isolation_overhead_bytes: baseline
            .and_then(|(base, _)| Some(host_peak(env)? as i64 - host_peak(base)? as i64)),
        vmm_overhead_bytes: mean_of(
            measured
                .iter()
                .map(|r| r.usage.vmm_overhead_bytes.map(|b| b as f64)),
        )
        .map(|b| b as u64),
        accuracy: None,
        ratio_to_baseline,
        comparison,
        not_compared,
        inference_us,
        end_to_end_us,
    })
}

fn host_speed(results: &ResultsFile) -> Option<HostSpeed> {
    let probes: Vec<(String, f64)> = results
        .environments
        .iter()
        .flat_map(|e| {
            e.repetitions.iter().filter_map(move |r| {
                r.calibration
                    .map(|c| (format!("{} #{}", e.name, r.index), c.seconds()))
            })
        })
        .collect();
    let mut values: Vec<f64> = probes.iter().map(|p| p.1).collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    let (min, max) = (values[0], values[n - 1]);
    Some(HostSpeed {
        median_seconds: median,
        min_seconds: min,
        max_seconds: max,
        drift: max / min - 1.0,
        affected: probes
            .iter()
            .filter(|(_, v)| (v / median - 1.0).abs() > 0.05)
            .map(|(name, v)| format!("{name} ({:+.1}%)", (v / median - 1.0) * 100.0))
            .collect(),
    })
}

fn first_outputs(env: &EnvironmentResult) -> Vec<(String, Digest)> {
    let mut firsts: Vec<(String, Digest)> = Vec::new();
    for it in env.repetitions.iter().flat_map(|r| &r.iterations) {
        if let Some(d) = &it.digest {
            if !firsts.iter().any(|(i, _)| *i == it.input) {
                firsts.push((it.input.clone(), d.clone()));
            }
        }
    }
    firsts
}

fn check_outputs(results: &ResultsFile) -> Option<OutputCheck> {
    let reference_env = results
        .environments
        .iter()
        .find(|e| e.name == "native" && !first_outputs(e).is_empty())?;
    let reference = first_outputs(reference_env);
    let mut check = OutputCheck {
        reference: reference_env.name.clone(),
        tolerance: Digest::TOLERANCE.into(),
        ..OutputCheck::default()
    };
    for env in &results.environments {
        for rep in &env.repetitions {
            for it in &rep.iterations {
                let (Some(found), Some((_, expected))) = (
                    &it.digest,
                    reference.iter().find(|(input, _)| *input == it.input),
                ) else {
                    continue;
                };
                check.compared += 1;
                if let Some(reason) = expected.differs_from(found) {
                    check.mismatch_count += 1;
                    if check.mismatches.len() < OutputCheck::KEPT {
                        check.mismatches.push(OutputMismatch {
                            env: env.name.clone(),
                            repetition: rep.index,
                            index: it.index,
                            input: it.input.clone(),
                            reason,
                        });
                    }
                }
            }
        }
    }
    check.by_input = reference
        .iter()
        .map(|(input, _)| InputOutputs {
            input: input.clone(),
            outputs: results
                .environments
                .iter()
                .filter_map(|e| {
                    let (_, d) = first_outputs(e).into_iter().find(|(i, _)| i == input)?;
                    Some(EnvOutput {
                        env: e.name.clone(),
                        output: d.describe(),
                    })
                })
                .collect(),
        })
        .collect();
    Some(check)
}

/// Recomputes summaries, host speed and the outputs check (warnings are the fixture's).
fn summarize_all(results: &mut ResultsFile) {
    let seed = results.experiment.seed;
    let summaries: Vec<Option<EnvironmentSummary>> = {
        let baseline = results
            .environments
            .iter()
            .find(|e| e.name == "native" && !e.all_inference_us().is_empty())
            .or_else(|| {
                results
                    .environments
                    .iter()
                    .find(|e| !e.all_inference_us().is_empty())
            })
            .and_then(|e| Some((e, grouped(e).1?)));
        results
            .environments
            .iter()
            .map(|env| {
                let base = baseline
                    .as_ref()
                    .filter(|(b, _)| b.name != env.name)
                    .map(|(b, g)| (*b, g));
                summarize(env, base, seed)
            })
            .collect()
    };
    for (env, summary) in results.environments.iter_mut().zip(summaries) {
        env.summary = summary;
    }
    results.host_speed = host_speed(results);
    results.outputs = check_outputs(results);
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

fn md(file: &ResultsFile) -> String {
    String::from_utf8(MarkdownExporter.serialize(file).unwrap()).unwrap()
}

fn html(file: &ResultsFile) -> String {
    String::from_utf8(HtmlExporter.serialize(file).unwrap()).unwrap()
}

fn csv(file: &ResultsFile) -> String {
    String::from_utf8(CsvExporter.serialize(file).unwrap()).unwrap()
}

/// The summary-table row of `label` in a Markdown report.
fn md_row<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("| {label} |")) || l.starts_with(&format!("| {label} (")))
        .unwrap_or_else(|| panic!("no row {label} in\n{text}"))
}

/// Cells of a Markdown row (unescaped pipes separate).
fn md_cells(row: &str) -> Vec<String> {
    row.replace("\\|", "\u{1}")
        .trim()
        .trim_matches('|')
        .split('|')
        .map(|c| c.trim().replace('\u{1}', "|"))
        .collect()
}

/// The summary-table row of `name` in an HTML report.
fn html_row<'a>(text: &'a str, name: &str) -> &'a str {
    let table = &text[text.find("<table id=\"summary\">").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    table
        .lines()
        .find(|l| l.starts_with(&format!("<tr><td>{name}")))
        .unwrap_or_else(|| panic!("no row {name} in\n{table}"))
}

/// The terminal-table row of `name`.
fn terminal_row<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no row {name} in\n{text}"))
}

fn csv_row(text: &str, name: &str) -> std::collections::BTreeMap<String, String> {
    let mut lines = text.lines();
    let header = csv_split(lines.next().unwrap());
    let row = lines
        .map(csv_split)
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("no csv row {name}"));
    header.into_iter().zip(row).collect()
}

// ---------------------------------------------------------------------------
// (a), (b): one verdict everywhere.

/// Every table shows the file's verdict, in the same words, for every environment.
fn assert_one_verdict_everywhere(file: &ResultsFile) {
    let terminal = terminal_table(file);
    let markdown = md(file);
    let page = html(file);
    let paper = render_paper_table(std::slice::from_ref(file));
    let options = verdict_options(file.experiment.seed);
    let compared = compare_environments(file, None, None, &options).unwrap();
    let compared_text = compared.to_text();
    for env in &file.environments {
        let Some(s) = &env.summary else { continue };
        let expected = match (&s.comparison, &s.not_compared) {
            _ if env.name == "native" => "baseline".to_string(),
            (Some(c), _) => c.label(),
            (None, Some(why)) => format!("not compared ({why})"),
            (None, None) => panic!("{} has no verdict", env.name),
        };
        let head = expected.split(" (").next().unwrap();
        // Markdown and HTML: the whole label in the Verdict cell.
        let row = md_cells(md_row(&markdown, &env.name));
        assert_eq!(row.last().unwrap(), &expected, "markdown {}", env.name);
        assert!(
            html_row(&page, &env.name)
                .contains(&format!(">{}</td></tr>", crate::format::esc(&expected))),
            "html {}: {}",
            env.name,
            html_row(&page, &env.name)
        );
        // Terminal: the verdict's words in the row, any reason under the table.
        let row = terminal_row(&terminal, &env.name);
        assert!(row.contains(head), "terminal {}: {row}", env.name);
        assert!(
            terminal.contains(&expected),
            "terminal {expected}:\n{terminal}"
        );
        assert!(
            !terminal.contains(" *\n") && !terminal.contains("excludes 1"),
            "{terminal}"
        );
        // Paper: the verdict's words in the cell, any reason in a note.
        assert!(
            paper.contains(&format!("; {head}")),
            "paper {}: {paper}",
            env.name
        );
        assert!(paper.contains(&expected), "paper {expected}:\n{paper}");
        // compare: the same comparison, computed again with the same options.
        if env.name != "native" {
            let row = compared
                .rows
                .iter()
                .find(|r| r.b_environment == env.name)
                .unwrap();
            assert_eq!(row.comparison, s.comparison, "compare {}", env.name);
            assert_eq!(row.verdict_label(), expected, "compare {}", env.name);
            let shouted = format!("{}{}", head.to_uppercase(), &expected[head.len()..]);
            assert!(
                compared_text.contains(&shouted),
                "{shouted} in\n{compared_text}"
            );
        }
    }
}

#[test]
fn one_verdict_in_every_report_and_in_compare() {
    let file = standard("yolov8", 5, 30);
    let verdict = |name: &str| {
        let e = file.environments.iter().find(|e| e.name == name).unwrap();
        e.summary.as_ref().unwrap().comparison.map(|c| c.verdict)
    };
    assert_eq!(verdict("docker"), Some(Verdict::NoDifference));
    assert_eq!(verdict("firecracker"), Some(Verdict::Slower));
    assert_eq!(verdict("oci-runc"), Some(Verdict::Faster));
    assert_eq!(verdict("qemu-q35"), None);
    assert_one_verdict_everywhere(&file);
    let markdown = md(&file);
    assert!(md_row(&markdown, "firecracker").ends_with("| slower |"));
    assert!(html(&file).contains("<td class=\"slower\">slower</td>"));
    assert!(html(&file).contains("<td class=\"faster\">faster</td>"));
}

#[test]
fn too_few_repetitions_is_inconclusive_everywhere() {
    let file = standard("yolov8", 3, 20);
    let firecracker = file
        .environments
        .iter()
        .find(|e| e.name == "firecracker")
        .unwrap();
    let c = firecracker.summary.as_ref().unwrap().comparison.unwrap();
    assert_eq!(c.label(), INCONCLUSIVE_3V3);
    assert_one_verdict_everywhere(&file);
    // The terminal cell stays short; the reason is under the table, once.
    let terminal = terminal_table(&file);
    assert!(terminal_row(&terminal, "firecracker").contains("inconclusive (see below)"));
    assert!(
        terminal.contains(&format!(
            "  docker, firecracker, oci-runc: {INCONCLUSIVE_3V3}"
        )),
        "{terminal}"
    );
    // compare --json carries the verdict and the reason.
    let report = compare_environments(&file, None, None, &verdict_options(42)).unwrap();
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"verdict\":\"inconclusive\""), "{json}");
    assert!(
        json.contains(
            r#""inconclusive":{"reason":"too_few_repetitions","a":3,"b":3,"needed":5,"alpha":0.01}"#
        ),
        "{json}"
    );
    let back: crate::CompareReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    assert!(!report.has_regression());
    let text = report.to_text();
    assert!(
        text.contains(
            "INCONCLUSIVE (too few repetitions: 3 vs 3; at least 5 vs 5 needed for p < 0.01)"
        ),
        "{text}"
    );
    assert!(text.contains("3 vs 3"), "{text}");
    assert!(text.ends_with("no regression\n"), "{text}");
}

// ---------------------------------------------------------------------------
// (c), (d), (e): comparing two files.

fn options() -> CompareOptions {
    CompareOptions {
        resamples: 2000,
        ..CompareOptions::default()
    }
}

fn with_probe(mut file: ResultsFile, median_seconds: f64) -> ResultsFile {
    file.host_speed = Some(HostSpeed {
        median_seconds,
        min_seconds: median_seconds * 0.99,
        max_seconds: median_seconds * 1.01,
        drift: 0.02,
        affected: vec![],
    });
    file
}

/// Two runs of native + docker; in B docker is 20% slower.
fn pair(b_docker: f64) -> (ResultsFile, ResultsFile) {
    let a = file_of(
        "yolov8",
        vec![
            env("native", &means(10_000.0, 5), 20, 1),
            env("docker", &means(10_000.0, 5), 20, 2),
        ],
    );
    let b = file_of(
        "yolov8",
        vec![
            env("native", &means(10_000.0, 5), 20, 3),
            env("docker", &means(10_000.0 * b_docker, 5), 20, 4),
        ],
    );
    (a, b)
}

#[test]
fn compare_files_flags_a_regression_and_not_its_absence() {
    let (a, same) = pair(1.0);
    let r = compare_files(&a, &same, "A.json", "B.json", &options(), false);
    assert!(!r.has_regression(), "{}", r.to_text());
    assert!(!r.outputs_differ());
    assert_eq!(r.rows.len(), 2);
    assert_eq!((r.rows[0].a_repetitions, r.rows[0].b_repetitions), (5, 5));
    assert_eq!(r.host_drift, Some(0.0));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);

    let (a, slower) = pair(1.2);
    let r = compare_files(&a, &slower, "A.json", "B.json", &options(), false);
    let names: Vec<&str> = r
        .regressions()
        .map(|row| row.b_environment.as_str())
        .collect();
    assert_eq!(names, ["docker"]);
    let text = r.to_text();
    assert!(
        text.contains("SLOWER") && text.contains("(exact)"),
        "{text}"
    );
    assert!(text.ends_with("REGRESSION in: docker\n"), "{text}");

    // Faster in B is not a regression.
    let r = compare_files(&slower, &a, "B.json", "A.json", &options(), false);
    assert!(!r.has_regression());
    assert_eq!(r.rows[1].comparison.unwrap().verdict, Verdict::Faster);

    // Different experiments are called out.
    let mut other = a.clone();
    other.experiment.workload = "knn".into();
    let r = compare_files(&a, &other, "A.json", "B.json", &options(), false);
    assert!(
        r.warnings.iter().any(|w| w.starts_with("workload differs")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn host_drift_between_files_refuses_the_verdict_unless_allowed() {
    let (a, b) = pair(1.2);
    let a = with_probe(a, 0.010);
    let b = with_probe(b, 0.012);
    let r = compare_files(&a, &b, "A.json", "B.json", &options(), false);
    assert!(
        (r.host_drift.unwrap() - 0.2).abs() < 1e-9,
        "{:?}",
        r.host_drift
    );
    assert!(
        r.warnings[0].starts_with("the host ran 20.0% slower during B")
            && r.warnings[0].contains("the comparison measures the host, not the configuration"),
        "{:?}",
        r.warnings
    );
    let docker = r
        .rows
        .iter()
        .find(|row| row.b_environment == "docker")
        .unwrap();
    let c = docker.comparison.unwrap();
    assert_eq!(c.verdict, Verdict::Inconclusive);
    match c.inconclusive {
        Some(Inconclusive::HostDrift { percent }) => assert!((percent - 20.0).abs() < 1e-6),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.label(),
        "inconclusive (the host ran 20.0% slower during B)"
    );
    assert!(!r.has_regression());
    assert!(r
        .to_text()
        .contains("INCONCLUSIVE (the host ran 20.0% slower during B)"));
    let json = serde_json::to_string(&r).unwrap();
    assert!(
        json.contains("\"reason\":\"host_drift\"") && json.contains("\"host_drift\":0."),
        "{json}"
    );

    // Allowed: the verdict stands, the warning stays.
    let r = compare_files(&a, &b, "A.json", "B.json", &options(), true);
    assert!(r.has_regression());
    assert!(r.warnings[0].starts_with("the host ran 20.0% slower during B"));

    // Faster host during B, within the threshold: nothing refused.
    let r = compare_files(
        &a,
        &with_probe(b.clone(), 0.0098),
        "A.json",
        "B.json",
        &options(),
        false,
    );
    assert!(r.has_regression());
    assert!(
        !r.warnings.iter().any(|w| w.starts_with("the host ran")),
        "{:?}",
        r.warnings
    );

    // A file without a probe: drift cannot be checked.
    let mut old = b.clone();
    old.host_speed = None;
    let r = compare_files(&a, &old, "A.json", "B.json", &options(), false);
    assert_eq!(r.host_drift, None);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.starts_with("B has no host-speed probe")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn different_hosts_are_named() {
    let (a, mut b) = pair(1.0);
    b.host.hostname = "jetson-nano".into();
    b.host.cpu_model = "ARMv8 Processor rev 1 (v8l)".into();
    b.host.cpus = 4;
    let r = compare_files(&a, &b, "A.json", "B.json", &options(), false);
    let w = r
        .warnings
        .iter()
        .find(|w| w.starts_with("A and B ran on different hosts"))
        .unwrap_or_else(|| panic!("{:?}", r.warnings));
    assert!(
        w.contains(&a.host.fingerprint()) && w.contains(&b.host.fingerprint()),
        "{w}"
    );
    assert!(
        w.contains("Test CPU × 2 CPUs, kernel 6.1.0, cgroups v1 (hybrid)"),
        "{w}"
    );
    assert!(w.contains("ARMv8 Processor rev 1 (v8l) × 4 CPUs"), "{w}");
}

#[test]
fn outputs_that_differ_fail_the_comparison() {
    let (a, mut b) = pair(1.0);
    for it in b.environments[1]
        .repetitions
        .iter_mut()
        .flat_map(|r| r.iterations.iter_mut())
    {
        it.digest = Some(detection(
            it.input[3..4].parse().unwrap(),
            0.05, // beyond the 0.001 score tolerance
        ));
    }
    summarize_all(&mut b);
    let r = compare_files(&a, &b, "A.json", "B.json", &options(), false);
    assert!(r.outputs_differ(), "{r:?}");
    assert!(
        r.output_mismatches
            .iter()
            .any(|m| m.starts_with("docker on img0.jpg")),
        "{:?}",
        r.output_mismatches
    );
    let text = r.to_text();
    assert!(
        text.lines().last().unwrap().starts_with("OUTPUTS DIFFER: "),
        "{text}"
    );
    // Within B, docker disagrees with native too: every report says so.
    assert!(!b.outputs.as_ref().unwrap().consistent());
    let markdown = md(&b);
    assert!(
        markdown.contains("OUTPUTS DIFFER: 100 of 200 measured iterations"),
        "{markdown}"
    );
    let within = compare_environments(&b, None, None, &options()).unwrap();
    assert!(within.outputs_differ());
    assert!(html(&b).contains("<p class=\"mismatch\">OUTPUTS DIFFER: 100 of 200"));
    assert!(terminal_table(&b).contains("  OUTPUTS DIFFER: 100 of 200"));
    assert!(render_paper_table(&[b.clone()])
        .contains("- OUTPUTS DIFFER in yolov8 (tract, yolov8-fall.onnx): 100 of 200"));
    // Identical files: no difference.
    let r = compare_files(&a, &a, "A.json", "B.json", &options(), false);
    assert!(!r.outputs_differ());
}

// ---------------------------------------------------------------------------
// (f), (g), (h): p99, partial failures, absent figures.

#[test]
fn p99_is_labelled_below_100_samples_only() {
    let small = standard("yolov8", 3, 20); // 60 samples
    let large = standard("yolov8", 5, 30); // 150 samples
    let p99_cell = |file: &ResultsFile| md_cells(md_row(&md(file), "native"))[4].clone();
    assert!(p99_cell(&small).ends_with('*'), "{}", p99_cell(&small));
    assert!(!p99_cell(&large).ends_with('*'), "{}", p99_cell(&large));
    assert!(md(&small).contains("* p99 from fewer than 100 iterations (native n = 60"));
    assert!(!md(&large).contains("p99 from fewer than 100"));
    assert!(terminal_row(&terminal_table(&small), "native").contains(" ms*"));
    assert!(!terminal_row(&terminal_table(&large), "native").contains(" ms*"));
    assert!(terminal_table(&small).contains("  * p99 from fewer than 100 iterations"));
    assert!(html(&small).contains("* p99 from fewer than 100 iterations"));
}

#[test]
fn partly_failed_environments_are_marked_everywhere() {
    let mut docker = env("docker", &means(10_000.0, 5), 20, 2);
    fail_repetition(&mut docker, 2, "container exited with 137");
    let file = file_of(
        "yolov8",
        vec![env("native", &means(10_000.0, 5), 20, 1), docker],
    );
    let mark = "docker (partly failed: 1 of 5 repetitions)";
    assert!(md(&file).contains(&format!("| {mark} |")), "{}", md(&file));
    assert!(html(&file).contains(&format!("<td>{mark}</td>")));
    let terminal = terminal_table(&file);
    assert!(
        terminal_row(&terminal, "docker (partly failed)").len() > 20,
        "{terminal}"
    );
    assert!(
        terminal.contains(
            "  docker: partly failed: 1 of 5 repetitions failed (#2: container exited with 137)"
        ),
        "{terminal}"
    );
    let row = csv_row(&csv(&file), "docker");
    assert_eq!(row["status"], "failed: container exited with 137");
    assert_eq!(row["failed_repetitions"], "2");
    assert_eq!(row["repetitions"], "5");
    let r = compare_environments(&file, None, None, &options()).unwrap();
    assert!(r.rows[0].b_failed && !r.rows[0].a_failed);
    assert_eq!(r.rows[0].b_repetitions, 4);
    assert!(r
        .warnings
        .iter()
        .any(|w| w.starts_with("docker is partly failed: 1 of 5")));
    assert!(r.to_text().contains("docker vs native (B partly failed)"));
    let r = compare_files(&file, &file, "A.json", "B.json", &options(), false);
    assert!(r.rows[1].a_failed && r.rows[1].b_failed);
    assert!(r
        .warnings
        .iter()
        .any(|w| w.starts_with("docker is partly failed in B")));
}

#[test]
fn a_partly_failed_baseline_marks_every_ratio() {
    let mut native = env("native", &means(10_000.0, 5), 20, 1);
    fail_repetition(&mut native, 0, "killed");
    let file = file_of(
        "yolov8",
        vec![
            native,
            env("docker", &means(10_000.0, 5), 20, 2),
            env("firecracker", &means(11_200.0, 5), 20, 3),
        ],
    );
    let markdown = md(&file);
    for name in ["docker", "firecracker"] {
        let ratio = &md_cells(md_row(&markdown, name))[11];
        assert!(ratio.ends_with("]†"), "{ratio}");
        assert!(terminal_row(&terminal_table(&file), name).contains("]†"));
    }
    assert!(
        markdown.contains("- † the baseline native is partly failed (1 of 5 repetitions failed)")
    );
    assert!(html(&file).contains("† the baseline native is partly failed"));
    let r = compare_environments(&file, None, None, &options()).unwrap();
    assert!(r.rows.iter().all(|row| row.a_failed));
    for name in ["docker", "firecracker"] {
        assert!(
            r.warnings.iter().any(|w| w.starts_with(&format!(
                "{name}: compared with the partly failed baseline native"
            ))),
            "{:?}",
            r.warnings
        );
    }
}

#[test]
fn absent_cpu_figures_read_dash_with_the_reason_never_zero() {
    let mut docker = env("docker", &means(10_000.0, 5), 20, 2);
    absent_cpu(&mut docker, "the CPU meter read nothing (cgroup gone)");
    let file = file_of(
        "yolov8",
        vec![env("native", &means(10_000.0, 5), 20, 1), docker],
    );
    let markdown = md(&file);
    let cells = md_cells(md_row(&markdown, "docker"));
    assert_eq!(&cells[5..8], ["—", "—", "—"], "{cells:?}");
    assert!(
        markdown.contains("docker: CPU %, CPU s/inference, start-up CPU absent (—): #0: the CPU meter read nothing (cgroup gone)"),
        "{markdown}"
    );
    let terminal = terminal_table(&file);
    let row = terminal_row(&terminal, "docker");
    assert!(row.contains("  —  ") && !row.contains(" 0.0 "), "{row}");
    assert!(terminal.contains("the CPU meter read nothing"));
    assert!(html(&file).contains("the CPU meter read nothing (cgroup gone)"));
    let row = csv_row(&csv(&file), "docker");
    assert_eq!(row["cpu_percent"], "");
    assert_eq!(row["cpu_seconds_per_inference"], "");
    assert_eq!(row["startup_cpu_seconds"], "");
    // The CPU chart leaves the environment out rather than drawing 0.
    let chart = crate::charts::cpu_per_inference(&file).unwrap().unwrap();
    assert!(
        !chart.svg.contains(">docker<"),
        "docker drawn in the CPU chart"
    );
}

// ---------------------------------------------------------------------------
// (i): several hosts.

#[test]
fn merged_report_groups_columns_by_host() {
    let mut pi = with_probe(standard("yolov8", 5, 20), 0.020);
    pi.host.hostname = "rpi4".into();
    pi.host.cpu_model = "Cortex-A72".into();
    pi.host.cpus = 4;
    let mut jetson = with_probe(standard("yolov8", 5, 20), 0.015);
    jetson.host.hostname = "jetson-nano".into();
    jetson.host.cpu_model = "Cortex-A57".into();
    jetson.host.cpus = 4;
    jetson.host.cgroup_version = "v2".into();
    let files = vec![
        ("pi/results.json".to_string(), pi.clone()),
        ("jetson/results.json".to_string(), jetson.clone()),
    ];
    let text = merged_markdown(&files);
    for needle in [
        "Cortex-A72 × 4 CPUs, kernel 6.1.0, cgroups v1 (hybrid)",
        "Cortex-A57 × 4 CPUs, kernel 6.1.0, cgroups v2",
        "| pi/results.json | rpi4 |",
        "rpi4 · mean ± σ (ms)",
        "jetson-nano · verdict",
        "figures are compared across different machines",
        "the host-speed probes differ: the same reference computation took 15.00 ms on jetson-nano and 20.00 ms on rpi4 (33.3% longer)",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    let row = md_row(&text, "firecracker");
    assert_eq!(md_cells(row).len(), 1 + 2 * 3, "{row}");
    assert_eq!(row.matches("| slower |").count(), 2, "{row}");

    let page = merged_html(&files);
    assert!(page.contains("<th rowspan=\"2\">Environment</th><th colspan=\"3\">rpi4</th><th colspan=\"3\">jetson-nano</th>"), "{page}");
    assert!(page.contains("Cortex-A57 × 4 CPUs"));
    assert!(!page.contains("<script"));

    let paper = render_paper_table(&[pi, jetson]);
    let header = paper.lines().next().unwrap();
    assert!(
        header.contains("| rpi4 · native |") && header.contains("| jetson-nano · firecracker |"),
        "{header}"
    );
    assert!(paper.contains("- rpi4: Cortex-A72 × 4 CPUs, kernel 6.1.0, cgroups v1 (hybrid); host-speed probe median 20.00 ms"), "{paper}");
    assert!(
        paper.contains("- jetson-nano: Cortex-A57 × 4 CPUs"),
        "{paper}"
    );
}

// ---------------------------------------------------------------------------
// (j): the exporters.

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
