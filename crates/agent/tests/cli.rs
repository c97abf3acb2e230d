//! The agent binary's command line: records on stdout, clear errors,
//! exit codes (2 usage, 1 otherwise).

mod common;

use std::process::{Command, Output};

use isobench_records::Record;
use sha2::Digest as _;

const AGENT: &str = env!("CARGO_BIN_EXE_isobench-agent");

fn agent(args: &[&str]) -> Output {
    Command::new(AGENT)
        .args(args)
        .env_remove("ISOBENCH_ASSETS")
        .output()
        .expect("run the agent")
}

/// The single `error` record of a failed run, checked against stderr.
fn error_record(out: &Output) -> (String, String) {
    let records = common::records(&out.stdout);
    assert_eq!(records.len(), 1, "exactly one record: {records:?}");
    let Record::Error(e) = &records[0] else {
        panic!("expected an error record: {records:?}")
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&e.message),
        "stderr repeats the message: {stderr}"
    );
    assert!(
        !e.message.contains('\n'),
        "one-line message: {:?}",
        e.message
    );
    (e.kind.clone(), e.message.clone())
}

#[test]
fn knn_run_emits_ready_iterations_and_summary() {
    let assets = common::assets();
    let out = agent(&[
        "run",
        "--workload",
        "knn",
        "--iterations",
        "2",
        "--warmup",
        "1",
        "--assets",
        assets.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = common::records(&out.stdout);
    assert_eq!(records.len(), 5, "{records:?}");
    let Record::Ready(ready) = &records[0] else {
        panic!("first is ready: {records:?}")
    };
    assert_eq!(
        (ready.workload.name(), ready.engine.name(), ready.threads),
        ("knn", "native", 1)
    );
    assert!(!ready.pid1);
    assert!(ready.ready_us >= ready.model_load_us);
    let warmups: Vec<bool> = records[1..4]
        .iter()
        .map(|r| match r {
            Record::Iteration(i) => i.warmup,
            other => panic!("expected an iteration: {other:?}"),
        })
        .collect();
    assert_eq!(warmups, [true, false, false]);
    let Record::Summary(s) = &records[4] else {
        panic!("last is summary: {records:?}")
    };
    assert_eq!((s.iterations, s.warmup), (2, 1));
    assert!(s.accuracy.unwrap() >= 0.97, "{s:?}");
    let own = hex::encode(sha2::Sha256::digest(std::fs::read(AGENT).unwrap()));
    assert_eq!(s.agent_sha256, own);
    assert_eq!(s.model_sha256.len(), 64);
    assert_eq!(s.inputs_sha256.len(), 64);
}

#[test]
fn engine_name_given_by_the_harness_is_accepted_for_knn() {
    let assets = common::assets();
    let out = agent(&[
        "run",
        "--workload",
        "knn",
        "--engine",
        "tract",
        "--iterations",
        "1",
        "--warmup",
        "0",
        "--threads",
        "2",
        "--assets",
        assets.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = common::records(&out.stdout);
    let Record::Summary(s) = records.last().unwrap() else {
        panic!("{records:?}")
    };
    assert_eq!((s.engine.name(), s.threads), ("native", 2));
}

#[test]
fn unknown_workload_is_a_usage_error_listing_the_known_ones() {
    let out = agent(&["run", "--workload", "resnet"]);
    assert_eq!(out.status.code(), Some(2));
    let (kind, message) = error_record(&out);
    assert_eq!(kind, "usage");
    assert!(message.contains("unknown workload `resnet`"), "{message}");
    assert!(message.contains("knn, mlp, yolov8, ocr-det"), "{message}");
}

#[test]
fn bad_flags_are_usage_errors() {
    let out = agent(&["run", "--workload", "knn", "--iterations", "many"]);
    assert_eq!(out.status.code(), Some(2));
    let (kind, message) = error_record(&out);
    assert_eq!(kind, "usage");
    assert!(message.contains("--iterations"), "{message}");

    let out = agent(&["run", "--workload", "knn", "--halt", "reboot"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(error_record(&out).1.contains("VM's init"));

    let out = agent(&["run", "--workload", "knn", "--threads", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(error_record(&out).1.contains("--threads 0"));
}

#[test]
fn missing_model_path_is_a_model_error() {
    let assets = common::assets();
    let out = agent(&[
        "run",
        "--workload",
        "mlp",
        "--model",
        "/nonexistent/weights.json",
        "--assets",
        assets.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let (kind, message) = error_record(&out);
    assert_eq!(kind, "model");
    assert!(message.contains("/nonexistent/weights.json"), "{message}");
    assert!(message.contains("--model"), "says how to fix it: {message}");
}

#[test]
fn missing_assets_is_an_input_error_pointing_at_setup() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent(&[
        "run",
        "--workload",
        "knn",
        "--assets",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let (kind, message) = error_record(&out);
    assert_eq!(kind, "input");
    assert!(
        message.contains("digits.csv.gz") && message.contains("isobench setup"),
        "{message}"
    );
}

#[test]
fn train_mlp_writes_the_weights_file() {
    let dir = common::private_assets();
    let out = agent(&["train-mlp", "--assets", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
    let path = dir.path().join("models/mlp-digits.json");
    let model =
        isobench_agent::workloads::mlp::MlpModel::from_json(&path, &std::fs::read(&path).unwrap())
            .unwrap();
    assert!(model.test_accuracy >= 0.95);
}

#[test]
fn version_names_the_engines() {
    let out = agent(&["version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("isobench-agent ") && text.contains("native"),
        "{text}"
    );
}

/// `noise`: `ready` first, then the load runs until the agent's input
/// closes, and the agent exits 0 promptly.
#[test]
fn noise_reports_ready_and_stops_when_its_input_closes() {
    use std::io::BufRead;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    for args in [
        &["noise", "--load", "cpu"][..],
        &["noise", "--load", "memory", "--mib", "4"][..],
    ] {
        let mut child = Command::new(AGENT)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the agent");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("{args:?}: no ready record within 30 s")
            });
        let records = common::records(line.as_bytes());
        assert!(
            matches!(records.as_slice(), [Record::Ready(_)]),
            "{args:?}: {line}"
        );
        // Still loading while its input is open.
        std::thread::sleep(Duration::from_millis(200));
        assert!(child.try_wait().unwrap().is_none(), "{args:?} ended early");
        drop(child.stdin.take());
        let closed = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if closed.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                panic!("{args:?}: still running 10 s after its input closed");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{args:?}: {status:?}");
    }
}
