//! The runner against scripted fake agents in the `native` environment:
//! a good run, and agents that hang, exit early or print garbage. Each must
//! end with a clear reason, leave no process behind, and keep what was
//! measured.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use isobench_environments::{AgentPayload, EnvKind, EnvOptions, HostFacts};
use isobench_harness::config::Overrides;
use isobench_harness::runner::{run_experiment, RunContext, SilentObserver};
use isobench_harness::ExperimentConfig;
use isobench_results::{PayloadIdentity, ResultsFile, Status};

const READY: &str = r#"{"v":1,"type":"ready","workload":"knn","engine":"native","threads":1,"ready_us":1500,"model_load_us":1000,"pid1":false,"agent_version":"0.1.0"}"#;

fn iteration(index: u64, warmup: bool, inference_us: u64) -> String {
    format!(
        r#"{{"v":1,"type":"iteration","index":{index},"warmup":{warmup},"input":"test-split","preprocess_us":5,"inference_us":{inference_us},"postprocess_us":3,"threads":1,"digest":{{"kind":"labels","samples":450,"correct":440,"predictions_hash":"00"}}}}"#
    )
}

const SUMMARY: &str = r#"{"v":1,"type":"summary","workload":"knn","engine":"native","threads":1,"iterations":5,"warmup":1,"accuracy":0.9777,"total_inference_us":5000,"total_wall_us":5100,"model_sha256":"m","inputs_sha256":"i","agent_sha256":"a"}"#;

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
    run_with(
        dir,
        agent,
        Overrides {
            timeout: Some(timeout),
            ..Overrides::default()
        },
    )
}

fn run_with(
    dir: &Path,
    agent: PathBuf,
    limits: Overrides,
) -> (Result<ResultsFile, isobench_harness::HarnessError>, PathBuf) {
    let assets = dir.join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    let output = dir.join(format!(
        "out-{}",
        agent.file_name().unwrap().to_string_lossy()
    ));
    let config = ExperimentConfig::resolve(Overrides {
        env: Some(vec!["native".into()]),
        workload: Some("knn".into()),
        iterations: Some(5),
        warmup: Some(1),
        repetitions: Some(2),
        timeout: limits.timeout,
        boot_timeout: limits.boot_timeout,
        iteration_timeout: limits.iteration_timeout,
        output: Some(output.clone()),
        sample_interval_ms: Some(10),
        ..Overrides::default()
    })
    .unwrap();
    let ctx = RunContext {
        source: std::sync::Arc::new(isobench_harness::runner::Registry),
        config,
        payload: AgentPayload {
            agent_binary: agent,
            assets_dir: assets,
            extra_files: vec![],
            env: vec![],
        },
        identity: PayloadIdentity::default(),
        env_options: EnvOptions {
            work_dir: dir.join("work"),
            cache_dir: dir.join("cache"),
            ..EnvOptions::default()
        },
        host_facts: HostFacts::probe(),
        host: Default::default(),
        interrupted: Arc::new(AtomicBool::new(false)),
        resume: false,
    };
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
    let mut lines = vec![READY.to_string(), iteration(0, true, 2000)];
    lines.extend((0..5).map(|i| iteration(i, false, 1000 + i * 10)));
    lines.push(SUMMARY.into());
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
    assert_eq!(summary.accuracy, Some(0.9777));
    let saved = ResultsFile::load(&output.join("results.json")).unwrap();
    assert_eq!(saved.environments[0].repetitions.len(), 2);
}

#[test]
fn a_hanging_agent_times_out_and_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "{}\nexec sleep 1000",
        echo_lines(&[READY.to_string(), iteration(0, false, 1000)])
    );
    let agent = script(dir.path(), "hanging-agent", &body);
    let (results, _) = run(dir.path(), agent, 2);
    let results = results.unwrap();
    let env = &results.environments[0];
    match &env.status {
        Status::Failed { reason } => assert!(reason.contains("timed out"), "{reason}"),
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
            echo_lines(&[READY.to_string()])
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
        &format!(
            "{}\necho '{{\"v\":1,\"type\":\"iteration\",\"index\":'",
            echo_lines(&[READY.to_string()])
        ),
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
    let limits = Overrides {
        timeout: Some(600),
        boot_timeout: Some(1),
        ..Overrides::default()
    };
    let (results, _) = run_with(dir.path(), silent, limits);
    match &results.unwrap().environments[0].status {
        Status::Failed { reason } => assert!(reason.contains("--boot-timeout"), "{reason}"),
        other => panic!("expected failure, got {other:?}"),
    }
    no_process_mentions("never-ready-agent");
    let stuck = script(
        dir.path(),
        "stuck-agent",
        &format!(
            "{}\nexec sleep 1000",
            echo_lines(&[READY.to_string(), iteration(0, false, 1000)])
        ),
    );
    let limits = Overrides {
        timeout: Some(600),
        iteration_timeout: Some(1),
        ..Overrides::default()
    };
    let (results, _) = run_with(dir.path(), stuck, limits);
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
