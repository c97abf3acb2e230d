//! The dynamic agent with the `ort` engine (ONNX Runtime loaded at run
//! time from `ORT_DYLIB_PATH`) in native and in containers: each environment
//! shows the payload under its own paths, so the native baseline loads the
//! library from the host's cache while a container loads its copy at
//! `/runtime/libonnxruntime.so`, and both detect the same objects.
//!
//! Needs root, cgroup v1, the dynamic agent (`isobench_testkit::dynamic_agent`:
//! `target/release/isobench-agent` from `scripts/build.sh`, or
//! `ISOBENCH_AGENT_DYNAMIC`), the pinned libonnxruntime and the assets
//! (`isobench setup`). A host that is not root on cgroup v1 skips the test,
//! a container runtime that is not installed skips its part (both through
//! the test kit, so `scripts/test.sh` lists why); every environment that
//! ran the agent to its summary is recorded as exercised.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use isobench_environments::native::Native;
use isobench_environments::oci::{runtime::runtime_of, Oci};
use isobench_environments::registry::which;
use isobench_environments::{
    AgentPayload, EnvKind, EnvOptions, EnvValue, Environment, HostFacts, LaunchSpec, Limits,
    PayloadView, RunId, RunLabel,
};
use isobench_records::{parse_line, Digest, LineKind, Record};
use isobench_testkit::{record_skip, skip};

/// Where the library sits inside environments with a root of their own.
const ORT_INSIDE: &str = "/runtime/libonnxruntime.so";

/// The dynamic agent (the test kit's lookup); panics with the fix when missing.
fn dynamic_agent() -> PathBuf {
    isobench_testkit::dynamic_agent().unwrap_or_else(|| {
        panic!(
            "no dynamic agent: set ${} or build target/release/isobench-agent with scripts/build.sh",
            isobench_testkit::DYNAMIC_AGENT_VAR
        )
    })
}

/// The shared libraries `binary` links (from `ldd`), each at its own path.
fn linked_libraries(binary: &Path) -> Vec<(PathBuf, PathBuf)> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .expect("running ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let path = line.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| {
                let host = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
                (host, PathBuf::from(path))
            })
        })
        .collect()
}

/// The ort payload as the harness builds it: the dynamic agent, its and
/// libonnxruntime's libraries, the library itself, and `ORT_DYLIB_PATH`
/// naming the library as a payload file.
fn ort_payload() -> AgentPayload {
    let cache = isobench_assets::cache_dir();
    let onnxruntime = isobench_assets::onnxruntime_lib(&cache);
    assert!(
        onnxruntime.is_file(),
        "libonnxruntime not found at {} (run `isobench setup`)",
        onnxruntime.display()
    );
    let assets = cache.join("assets");
    assert!(
        assets.join("models").is_dir(),
        "assets not found at {} (run `isobench setup`)",
        assets.display()
    );
    let agent = dynamic_agent();
    let mut extra_files: Vec<(PathBuf, PathBuf)> = Vec::new();
    for (host, inside) in linked_libraries(&agent)
        .into_iter()
        .chain(linked_libraries(&onnxruntime))
    {
        if !extra_files.iter().any(|(_, i)| *i == inside) {
            extra_files.push((host, inside));
        }
    }
    extra_files.push((onnxruntime.clone(), PathBuf::from(ORT_INSIDE)));
    AgentPayload {
        user_root: None,
        agent_binary: agent,
        assets_dir: assets,
        extra_files,
        env: vec![("ORT_DYLIB_PATH".into(), EnvValue::PayloadPath(onnxruntime))],
    }
}

fn run_id(kind: EnvKind) -> RunId {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    RunId::new(kind, RunLabel::Repetition(nanos % 1_000_000))
}

/// Runs yolov8 with ort (one iteration, no warm-up) and returns its records.
fn run_yolov8(env: &mut dyn Environment, payload: &AgentPayload) -> Vec<Record> {
    let kind = env.kind();
    env.prepare(payload)
        .unwrap_or_else(|e| panic!("{kind}: prepare: {e}"));
    let assets = env.assets_path_inside().display().to_string();
    let spec = LaunchSpec {
        invocation: isobench_environments::AgentInvocation::parse(
            &[
                "run",
                "--workload",
                "yolov8",
                "--engine",
                "ort",
                "--iterations",
                "1",
                "--warmup",
                "0",
                "--assets",
                &assets,
            ]
            .map(String::from),
        )
        .unwrap(),
        limits: Limits {
            vcpus: Some(1),
            memory_mib: Some(1024),
            cpuset: None,
        },
        timeout: Duration::from_secs(300),
        run_id: run_id(kind),
        interactive: false,
        vsock: false,
        network: false,
    };
    let mut instance = env
        .launch(&spec)
        .unwrap_or_else(|e| panic!("{kind}: launch: {e}"));
    let mut records = Vec::new();
    while let Some(line) = instance
        .next_line(Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{kind}: {e}"))
    {
        match parse_line(&line) {
            Ok(LineKind::Record(Record::Error(err))) => panic!(
                "{kind}: agent error ({}): {}; stderr: {:?}",
                err.kind,
                err.message,
                instance.diagnostics()
            ),
            Ok(LineKind::Record(record)) => records.push(record),
            Ok(LineKind::Noise) => eprintln!("{kind}: {line}"),
            Err(e) => panic!("{kind}: {e}"),
        }
    }
    let exit = instance.stop().unwrap();
    assert_eq!(
        exit.code,
        Some(0),
        "{kind}: {exit:?}; last words: {:?}",
        instance.diagnostics()
    );
    if matches!(records.last(), Some(Record::Summary(_))) {
        // The agent ran to its summary and exited 0 in this environment.
        isobench_testkit::exercised(kind.name());
    }
    records
}

/// The engine and the detections of a run.
fn outcome(kind: EnvKind, records: &[Record]) -> (String, Vec<(String, String)>) {
    let Some(Record::Ready(ready)) = records.first() else {
        panic!("{kind}: no ready record: {records:?}");
    };
    let detections = records
        .iter()
        .filter_map(|r| match r {
            Record::Iteration(it) => Some(match &it.digest {
                Digest::Detections { detections, .. } => (
                    it.input.clone(),
                    detections
                        .iter()
                        .map(|d| format!("{} {:.2}", d.class, d.score))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                other => panic!("{kind}: yolov8 digests are detections: {other:?}"),
            }),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert_eq!(detections.len(), 1, "{kind}: one measured iteration");
    assert!(
        matches!(records.last(), Some(Record::Summary(_))),
        "{kind}: no summary"
    );
    (ready.engine.to_string(), detections)
}

#[test]
fn ort_runs_in_native_and_in_containers_each_with_its_own_paths() {
    let host = HostFacts::probe();
    if !host.root {
        skip!("the containers need root (not running as root)");
    }
    if !host.cgroup_v1 {
        skip!(
            "the containers need cgroup v1 (no cgroup v1 cpuacct hierarchy under /sys/fs/cgroup)"
        );
    }
    let payload = ort_payload();
    let work = tempfile::tempdir().unwrap();
    let options = EnvOptions {
        cache_dir: work.path().join("cache"),
        work_dir: work.path().join("work"),
        ..EnvOptions::default()
    };
    std::fs::create_dir_all(&options.work_dir).unwrap();

    let mut native = Native::new(&options);
    assert_eq!(native.payload_view(), PayloadView::Host);
    assert_eq!(
        PayloadView::Host.env(&payload).unwrap()[0].1,
        isobench_assets::onnxruntime_lib(&isobench_assets::cache_dir())
            .display()
            .to_string(),
        "native loads the library from the host's cache"
    );
    let reference = outcome(EnvKind::Native, &run_yolov8(&mut native, &payload));
    assert_eq!(reference.0, "ort");
    eprintln!("native: {reference:?}");

    let mut ran = 0;
    for kind in [EnvKind::OciRunc, EnvKind::OciYouki] {
        let program = runtime_of(kind).unwrap().program;
        if which(program).is_none() {
            record_skip!("{kind} not compared: {program} is not installed (not on PATH)");
            continue;
        }
        let mut env = Oci::new(kind, &options).unwrap();
        assert_eq!(
            env.payload_view().env(&payload).unwrap()[0].1,
            ORT_INSIDE,
            "{kind} loads its copy"
        );
        let got = outcome(kind, &run_yolov8(&mut env, &payload));
        eprintln!("{kind}: {got:?}");
        assert_eq!(got, reference, "{kind} detects what native detects");
        env.teardown().unwrap();
        ran += 1;
    }
    assert!(
        ran > 0,
        "no container runtime to compare with (apt-get install runc)"
    );
}
