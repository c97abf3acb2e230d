//! The runner against scripted fake agents in the `native` environment:
//! a good run, and agents that hang, exit early or print garbage. Each must
//! end with a clear reason, leave no process behind, and keep what was
//! measured. (`runner_fake.rs` drives the runner with no process at all;
//! these spawn real ones, as shell scripts echoing the test kit's records.)

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use isobench_environments::{EnvKind, EnvOptions, HostFacts};
use isobench_harness::config::Workload;
use isobench_harness::context::SilentObserver;
use isobench_harness::ExperimentConfig;
use isobench_harness::{run_experiment, Registry};
use isobench_results::{ResultsFile, Status};
use isobench_testkit::fake::{FakeAgent, GARBAGE};

/// The scripted agent: 1 warm-up, 5 iterations of 1000, 1010, … 1040 µs.
fn scripted() -> FakeAgent {
    FakeAgent::new(1, (0..5).map(|i| 1000 + i * 10))
}

/// The lines of `scripted()`: ready, the warm-up and the first `measured`
/// iterations (and the summary when all 5 are there).
fn records(measured: usize) -> Vec<String> {
    let all = scripted().lines();
    if measured == 5 {
        all
    } else {
        all[..2 + measured].to_vec()
    }
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn echo_lines(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| format!("echo '{l}'"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn run(
    dir: &Path,
    agent: PathBuf,
    timeout: u64,
) -> (Result<ResultsFile, isobench_harness::HarnessError>, PathBuf) {
    run_with(dir, agent, move |c| c.common.timeout = timeout)
}

fn run_with(
    dir: &Path,
    agent: PathBuf,
    limits: impl FnOnce(&mut ExperimentConfig),
) -> (Result<ResultsFile, isobench_harness::HarnessError>, PathBuf) {
    let assets = dir.join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    let output = dir.join(format!(
        "out-{}",
        agent.file_name().unwrap().to_string_lossy()
    ));
    let config = ExperimentConfig::with(|c| {
        c.common.environments = vec![EnvKind::Native];
        c.common.workload = Some(Workload::Knn);
        c.batch.iterations = Some(5);
        c.batch.warmup = 1;
        c.batch.repetitions = Some(2);
        c.common.output = output.clone();
        c.batch.sample_interval_ms = 10;
        limits(c);
    })
    .unwrap();
    let ctx = isobench_testkit::run_context(
        config,
        std::sync::Arc::new(Registry),
        isobench_testkit::payload(&agent, &assets),
        dir,
    );
    (run_experiment(&ctx, &SilentObserver), output)
}

fn no_process_mentions(needle: &str) {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline);
            assert!(
                !cmdline.contains(needle),
                "process {:?} left behind: {cmdline}",
                entry.file_name()
            );
        }
    }
}

#[test]
fn a_good_agent_gives_samples_statistics_and_a_saved_file() {
    let dir = tempfile::tempdir().unwrap();
    let lines = records(5);
    // Some console noise between records is tolerated.
    let body = format!("echo 'starting up'\n{}", echo_lines(&lines));
    let agent = script(dir.path(), "good-agent", &body);
    let (results, output) = run(dir.path(), agent, 30);
    let results = results.unwrap();
    let env = &results.environments[0];
    assert_eq!(env.name, "native");
    assert_eq!(env.status, Status::Completed);
    assert_eq!(env.repetitions.len(), 2);
    for rep in &env.repetitions {
        assert_eq!(rep.iterations.len(), 5, "warm-ups are not kept");
        assert!(rep.ready_seconds.unwrap() > 0.0);
        assert!(rep.first_inference_seconds.unwrap() >= rep.ready_seconds.unwrap());
        assert_eq!(rep.agent_ready_us, Some(1500));
        assert!(rep.usage.wall_seconds > 0.0);
        assert!(rep.error.is_none());
    }
    let summary = env.summary.as_ref().unwrap();
    assert_eq!(summary.inference_us.n, 10);
    assert_eq!(summary.inference_us.min, 1000.0);
    assert_eq!(summary.inference_us.max, 1040.0);
    assert_eq!(summary.accuracy, scripted().accuracy);
    let saved = ResultsFile::load(&output.join("results.json")).unwrap();
    assert_eq!(saved.environments[0].repetitions.len(), 2);
}

#[test]
fn a_hanging_agent_times_out_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!("{}\nexec sleep 1000", echo_lines(&records(1)));
    let agent = script(dir.path(), "hanging-agent", &body);
    let (results, _) = run(dir.path(), agent, 2);
    let results = results.unwrap();
    let env = &results.environments[0];
    match &env.status {
        Status::Failed { reason } => assert!(
            reason.contains("timed out after 2 s (--timeout)"),
            "{reason}"
        ),
        other => panic!("expected failure, got {other:?}"),
    }
    // What was measured before the hang is kept.
    assert_eq!(env.repetitions[0].iterations.len(), 1);
    no_process_mentions("hanging-agent");
}

#[test]
fn an_agent_that_exits_early_or_prints_garbage_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let early = script(
        dir.path(),
        "early-agent",
        &format!(
            "{}\necho 'segfault-ish' >&2\nexit 3",
            echo_lines(&records(0))
        ),
    );
    let (results, _) = run(dir.path(), early, 30);
    match &results.unwrap().environments[0].status {
        Status::Failed { reason } => {
            assert!(reason.contains("exited before its summary"), "{reason}")
        }
        other => panic!("expected failure, got {other:?}"),
    }
    let garbage = script(
        dir.path(),
        "garbage-agent",
        &format!("{}\necho '{GARBAGE}'", echo_lines(&records(0))),
    );
    let (results, _) = run(dir.path(), garbage, 30);
    match &results.unwrap().environments[0].status {
        Status::Failed { reason } => assert!(reason.contains("invalid record"), "{reason}"),
        other => panic!("expected failure, got {other:?}"),
    }
    let error = r#"{"v":1,"type":"error","kind":"model","message":"model /assets/x.onnx: not a valid ONNX file"}"#;
    let failing = script(
        dir.path(),
        "error-agent",
        &format!("echo '{error}'\nexit 1"),
    );
    let (results, _) = run(dir.path(), failing, 30);
    match &results.unwrap().environments[0].status {
        Status::Failed { reason } => assert!(
            reason.contains("agent error (model)") && reason.contains("not a valid ONNX"),
            "{reason}"
        ),
        other => panic!("expected failure, got {other:?}"),
    }
}

#[test]
fn native_is_always_detected() {
    let facts = HostFacts::probe();
    assert!(
        isobench_environments::detect(EnvKind::Native, &facts, &EnvOptions::default()).available
    );
}

#[test]
fn boot_and_iteration_timeouts_catch_a_hang_early() {
    let dir = tempfile::tempdir().unwrap();
    let silent = script(dir.path(), "never-ready-agent", "exec sleep 1000");
    let (results, _) = run_with(dir.path(), silent, |c| {
        c.common.timeout = 600;
        c.batch.boot_timeout = 1;
    });
    match &results.unwrap().environments[0].status {
        Status::Failed { reason } => assert!(reason.contains("--boot-timeout"), "{reason}"),
        other => panic!("expected failure, got {other:?}"),
    }
    no_process_mentions("never-ready-agent");
    let stuck = script(
        dir.path(),
        "stuck-agent",
        &format!("{}\nexec sleep 1000", echo_lines(&records(1))),
    );
    let (results, _) = run_with(dir.path(), stuck, |c| {
        c.common.timeout = 600;
        c.batch.iteration_timeout = 1;
    });
    let results = results.unwrap();
    match &results.environments[0].status {
        Status::Failed { reason } => assert!(reason.contains("--iteration-timeout"), "{reason}"),
        other => panic!("expected failure, got {other:?}"),
    }
    assert_eq!(
        results.environments[0].repetitions[0].iterations.len(),
        1,
        "the sample before the hang is kept"
    );
    no_process_mentions("stuck-agent");
}
