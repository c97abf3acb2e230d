//! `isobench compare` and `isobench report` end to end, on results files
//! written here and summarised by the production code
//! (`isobench_harness::summarize::summarize_all`): compare's exit codes 0
//! (no regression), 3 (a regression), 4 (outputs differ) and 2 (files that
//! measure different things, unless --force), environments across two
//! files, `--json`; the terminal report within 100 columns; broken pipes
//! ending quietly.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::run;
use isobench_records::{Detection, Digest, Engine, Summary as AgentSummary, Workload};
use isobench_results::{
    Experiment, HostInfo, IterationSample, PayloadIdentity, Repetition, ResultsFile, Round, Status,
    Usage, RESULTS_VERSION,
};

/// What the agent computed for input `input` (scores shifted by `shift`).
fn digest(input: usize, shift: f32) -> Digest {
    Digest::Detections {
        count: 1,
        detections: vec![Detection {
            class: "person".into(),
            class_id: 0,
            score: 0.9 - 0.1 * input as f32 + shift,
            bbox: [10.0, 20.0, 110.0, 220.0],
        }],
    }
}

/// One environment: `rounds` repetitions of `n` iterations around `mean_us`
/// (±1% deterministic noise), outputs shifted by `shift`.
fn environment(
    name: &str,
    workload: Workload,
    mean_us: f64,
    rounds: u32,
    n: u64,
    shift: f32,
) -> isobench_results::EnvironmentResult {
    let repetitions = (1..=rounds)
        .map(|round| {
            let iterations: Vec<IterationSample> = (0..n)
                .map(|i| {
                    let noise = 1.0 + 0.01 * ((i * 7 + u64::from(round) * 13) as f64).sin();
                    let us = (mean_us * noise) as u64;
                    IterationSample {
                        index: i,
                        input: format!("img{}.jpg", i % 3),
                        inference_us: us,
                        end_to_end_us: us + 300,
                        digest: Some(digest((i % 3) as usize, shift)),
                        ..IterationSample::default()
                    }
                })
                .collect();
            let total: u64 = iterations.iter().map(|i| i.inference_us).sum();
            Repetition {
                round,
                sequence: Some(round),
                ready_seconds: Some(0.05),
                first_inference_seconds: Some(0.06),
                iterations,
                usage: Usage {
                    source: "process-tree 1".into(),
                    host_peak_rss_bytes: Some(100 << 20),
                    interval_ms: 50,
                    ..Usage::default()
                },
                agent_summary: Some(AgentSummary {
                    workload,
                    engine: Engine::Native,
                    threads: 1,
                    iterations: n,
                    warmup: 1,
                    accuracy: None,
                    total_inference_us: total,
                    total_wall_us: total + 300 * n,
                    model_sha256: String::new(),
                    inputs_sha256: "dd".repeat(32),
                    agent_sha256: "aa".repeat(32),
                    peak_rss_bytes: Some(40 << 20),
                }),
                exit_code: Some(0),
                ..Repetition::default()
            }
        })
        .collect();
    isobench_results::EnvironmentResult {
        name: name.into(),
        runtime_version: None,
        accel: None,
        emulated: false,
        notes: vec![],
        image_bytes: None,
        prepare_seconds: 0.1,
        status: Status::Completed,
        planned_repetitions: rounds,
        repetitions,
        summary: None,
    }
}

/// A summarised results file of native and docker (docker `docker_factor`
/// times native's time, its outputs shifted by `shift`), written to `path`.
fn write_results(path: &Path, workload: Workload, docker_factor: f64, shift: f32) {
    let (rounds, n) = (6, 150);
    let environments = vec![
        environment("native", workload, 2_000.0, rounds, n, 0.0),
        environment(
            "docker",
            workload,
            2_000.0 * docker_factor,
            rounds,
            n,
            shift,
        ),
    ];
    let mut file = ResultsFile::new(
        Experiment {
            environments: vec!["native".into(), "docker".into()],
            workload,
            engine: Engine::Native,
            iterations: Some(n),
            warmup: 1,
            repetitions: Some(rounds),
            threads: 1,
            seed: 7,
            ..Experiment::default()
        },
        HostInfo {
            hostname: "test-host".into(),
            cpu_model: "Test CPU".into(),
            cpus: 2,
            ..HostInfo::default()
        },
        PayloadIdentity {
            agent_sha256: "aa".repeat(32),
            agent_static: true,
            assets_sha256: "bb".repeat(32),
        },
        None,
    );
    assert_eq!(file.results_version, RESULTS_VERSION);
    file.baseline = Some("native".into());
    file.environments = environments;
    file.rounds = (1..=rounds)
        .map(|round| Round {
            round,
            order: vec!["native".into(), "docker".into()],
        })
        .collect();
    isobench_harness::summarize::summarize_all(&mut file);
    file.save_atomic(path).unwrap();
}

/// A temporary directory with results files written by `write_results`.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, workload: Workload, docker_factor: f64, shift: f32) -> String {
        let path: PathBuf = self.dir.path().join(name);
        write_results(&path, workload, docker_factor, shift);
        path.display().to_string()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

#[test]
fn compare_exits_0_without_a_regression_and_3_with_one() {
    let files = Files::new();
    let a = files.write("a.json", Workload::Knn, 1.0, 0.0);
    let same = files.write("same.json", Workload::Knn, 1.0, 0.0);
    let slower = files.write("slower.json", Workload::Knn, 1.2, 0.0);

    let out = run(&["compare", &a, &same]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}{}", text(&out.stderr));
    assert!(stdout.ends_with("no regression\n"), "{stdout}");

    let out = run(&["compare", &a, &slower]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 3, "{stdout}{}", text(&out.stderr));
    let row = stdout.lines().find(|l| l.starts_with("docker ")).unwrap();
    assert!(row.ends_with("  slower"), "{row}");
    assert!(stdout.ends_with("REGRESSION in: docker\n"), "{stdout}");
    for line in stdout.lines() {
        assert!(line.chars().count() <= 100, "{line}");
    }

    // --json: the same verdict, units in the field names, the same exit code.
    let out = run(&["compare", "--json", &a, &slower]);
    assert_eq!(code(&out), 3, "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["format_version"], 3);
    assert_eq!(json["threshold_percent"], 5.0);
    assert_eq!(json["regression"], true);
    assert_eq!(json["rows"][1]["b_environment"], "docker");
    assert_eq!(json["rows"][1]["outcome"], "slower");
    assert!(json["rows"][1]["b_mean_us"].as_f64().unwrap() > 2_300.0);

    // Environments inside one file: docker against native, paired by round.
    let out = run(&["compare", &slower]);
    assert_eq!(code(&out), 3, "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("paired by round"));
}

#[test]
fn compare_exits_4_when_outputs_differ() {
    let files = Files::new();
    let a = files.write("a.json", Workload::Knn, 1.0, 0.0);
    let differ = files.write("differ.json", Workload::Knn, 1.0, 0.05);
    let out = run(&["compare", &a, &differ]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 4, "{stdout}{}", text(&out.stderr));
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("OUTPUTS DIFFER: docker on img0.jpg")),
        "{stdout}"
    );
}

#[test]
fn compare_refuses_files_of_different_workloads_with_exit_2_unless_forced() {
    let files = Files::new();
    let knn = files.write("knn.json", Workload::Knn, 1.0, 0.0);
    let busy = files.write("busy.json", Workload::Busy, 1.0, 0.0);
    let out = run(&["compare", &knn, &busy]);
    assert_eq!(code(&out), 2, "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(
            "error: A and B measure different things: workloads differ: A knn, B busy"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("--force"), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));

    let out = run(&["compare", "--force", &knn, &busy]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("COMPARED ANYWAY (--force): workloads differ: A knn, B busy"),
        "{stdout}"
    );
}

#[test]
fn compare_takes_an_environment_of_each_file() {
    let files = Files::new();
    let a = files.write("a.json", Workload::Knn, 1.0, 0.0);
    let b = files.write("b.json", Workload::Knn, 1.2, 0.0);
    let out = run(&["compare", "--env-a", "native", "--env-b", "docker", &a, &b]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 3, "{stdout}{}", text(&out.stderr));
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(" vs native "))
        .collect();
    assert_eq!(rows.len(), 1, "{stdout}");
    assert!(
        rows[0].starts_with("docker vs native") && rows[0].ends_with("slower"),
        "{stdout}"
    );
    let out = run(&["compare", "--env-a", "gvisor", &a, &b]);
    assert_eq!(code(&out), 1);
    assert!(
        text(&out.stderr).contains("`gvisor` in `"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_terminal_report_fits_100_columns_unless_wide() {
    let files = Files::new();
    let a = files.write("a.json", Workload::Knn, 1.2, 0.0);
    let out = run(&["report", "--style", "terminal", &a]);
    let stdout = text(&out.stdout);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(stdout.starts_with("environment"), "{stdout}");
    for line in stdout.lines() {
        assert!(
            line.chars().count() <= 100,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    let out = run(&["report", "--style", "terminal", "--wide", &a]);
    let wide = text(&out.stdout);
    assert!(wide.lines().next().unwrap().contains("CPU %"), "{wide}");
    assert!(wide.lines().any(|l| l.chars().count() > 100), "{wide}");
}

/// Runs isobench with `args`, reads the first `read` bytes of its stdout
/// and closes the pipe, as `| head -c 100` does (with `read` 0, before it
/// writes anything).
fn run_into_head(args: &[&str], read: usize) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_isobench"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut head = vec![0u8; read];
    stdout.read_exact(&mut head).unwrap();
    drop(stdout);
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_pipe_ends_report_and_compare_quietly() {
    let files = Files::new();
    let a = files.write("a.json", Workload::Knn, 1.0, 0.0);
    let b = files.write("b.json", Workload::Knn, 1.0, 0.0);
    // The JSON report is larger than a pipe's buffer: writing it meets the
    // pipe closed after its first 100 bytes. The others find it closed.
    assert!(std::fs::metadata(&a).unwrap().len() > 256 << 10);
    for (args, read) in [
        (vec!["report", "--style", "json", &a], 100),
        (vec!["report", "--style", "terminal", &a], 0),
        (vec!["compare", "--json", &a, &b], 0),
        (vec!["compare", &a, &b], 0),
    ] {
        let out = run_into_head(&args, read);
        let stderr = text(&out.stderr);
        assert!(
            !stderr.contains("Broken pipe") && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
        assert_eq!(code(&out), 0, "{args:?}: {stderr}");
    }
}
