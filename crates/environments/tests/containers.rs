//! The container environments with the real static agent: docker (runc),
//! podman (runc, through an API service of its own), oci-runc, oci-crun,
//! oci-youki and gVisor prepare, launch, stream records (knn predictions
//! like native's), meter, apply the limits, leave nothing behind, and
//! `isobench clean` removes what a dead run left.
//!
//! Needs root, cgroup v1, the static agent (`isobench_testkit::static_agent`:
//! `scripts/build.sh`, or `ISOBENCH_AGENT_STATIC`) and the assets
//! (`isobench setup`; the cache is `isobench_assets::cache_dir()`). A test
//! skips (through the test kit, so `scripts/test.sh` lists why) only when
//! the host is not root on cgroup v1 or its runtime is not installed (youki:
//! `scripts/install-youki.sh`, podman: `scripts/install-podman.sh`); dockerd is started with
//! scripts/start-dockerd.sh when it is installed but not running, and
//! stopped again by the test that started it. Every environment that ran
//! the agent to its summary is recorded as exercised.
//!
//! Start-time figures (launch to first record) per runtime:
//! `cargo test --release -p isobench-environments --test containers -- --ignored --nocapture start_times`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use isobench_environments::containers::{container_name, run_cgroup_leftovers, PayloadFiles};
use isobench_environments::docker::{self, Docker};
use isobench_environments::native::Native;
use isobench_environments::oci::{hugetlb, runtime::runtime_of, Oci};
use isobench_environments::podman::Podman;
use isobench_environments::registry::which;
use isobench_environments::{
    AgentPayload, EnvError, EnvKind, EnvOptions, Environment, HostFacts, LaunchSpec, Limits,
    MeterTarget, RunId, RunLabel,
};
use isobench_records::{parse_line, Digest as RecordDigest, LineKind, Record};
use isobench_testkit::{record_skip, skip};
use sha2::{Digest, Sha256};

/// Containers run one at a time: figures stay meaningful and a dockerd
/// started by one test is not stopped under another.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn cache_dir() -> PathBuf {
    isobench_assets::cache_dir()
}

/// The static agent and the cached assets; panics with the fix when missing.
fn payload() -> AgentPayload {
    let agent = isobench_testkit::require_static_agent();
    let assets = cache_dir().join("assets");
    assert!(
        assets.join("data").is_dir(),
        "assets not found at {} (run `isobench setup`)",
        assets.display()
    );
    AgentPayload {
        user_root: None,
        agent_binary: agent,
        assets_dir: assets,
        extra_files: vec![],
        env: vec![],
    }
}

/// Why this host cannot run the containers, when it cannot: they need root
/// on a cgroup v1 host (limits and metering are read from cgroup v1 files).
fn not_root_on_cgroup_v1() -> Option<String> {
    let host = HostFacts::probe();
    let mut missing = Vec::new();
    if !host.root {
        missing.push("not running as root".to_string());
    }
    if !host.cgroup_v1 {
        missing.push("no cgroup v1 cpuacct hierarchy under /sys/fs/cgroup".to_string());
    }
    (!missing.is_empty())
        .then(|| format!("containers need root on cgroup v1: {}", missing.join(", ")))
}

/// Skips the calling test unless it runs as root on a cgroup v1 host.
macro_rules! require_root_on_cgroup_v1 {
    () => {
        if let Some(reason) = not_root_on_cgroup_v1() {
            skip!("{reason}");
        }
    };
}

/// A temporary cache + work directory for one environment.
struct Dirs {
    _tmp: tempfile::TempDir,
    options: EnvOptions,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let options = EnvOptions {
        cache_dir: tmp.path().join("cache"),
        work_dir: tmp.path().join("work"),
        ..EnvOptions::default()
    };
    std::fs::create_dir_all(&options.work_dir).unwrap();
    Dirs { _tmp: tmp, options }
}

/// A run id of this process for `kind`, unique among this process's launches.
fn unique_run_id(kind: EnvKind) -> RunId {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let n = (nanos / 1000).wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % 1_000_000;
    RunId::new(kind, RunLabel::Repetition(n))
}

/// A run id whose isobench process is gone (no PID can be `u32::MAX`).
fn dead_run_id(kind: EnvKind) -> RunId {
    RunId {
        pid: u32::MAX,
        ..unique_run_id(kind)
    }
}

fn spec(env: &dyn Environment, run_id: RunId, iterations: u32) -> LaunchSpec {
    let assets = env.assets_path_inside().display().to_string();
    LaunchSpec {
        invocation: isobench_environments::AgentInvocation::parse(
            &[
                "run",
                "--workload",
                "knn",
                "--iterations",
                &iterations.to_string(),
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
        timeout: Duration::from_secs(120),
        run_id,
        interactive: false,
        vsock: false,
        network: false,
    }
}

/// What one run produced.
struct Run {
    records: Vec<Record>,
    first_line: Duration,
    ready_us: u64,
    running_cpu_seconds: f64,
    running_peak_bytes: u64,
}

fn read_u64(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

/// Launches the agent, reads every line until the summary, checks the
/// records and the meter target, stops the instance and checks its exit.
fn run_agent(env: &mut dyn Environment, run_id: RunId, iterations: u32) -> Run {
    let spec = spec(env, run_id, iterations);
    let mut instance = env
        .launch(&spec)
        .unwrap_or_else(|e| panic!("{}: launch failed: {e}", env.kind()));
    let launched_at = instance.launched_at();
    let mut records = Vec::new();
    let mut first_line = None;
    loop {
        let line = match instance.next_line(Duration::from_secs(60)) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => panic!("{}: reading agent output: {e}", env.kind()),
        };
        first_line.get_or_insert_with(|| launched_at.elapsed());
        match parse_line(&line).unwrap_or_else(|e| panic!("{}: {e}", env.kind())) {
            LineKind::Record(Record::Error(err)) => panic!(
                "{}: agent error: {} ({})",
                env.kind(),
                err.message,
                err.kind
            ),
            LineKind::Record(record) => {
                let done = matches!(record, Record::Summary(_));
                records.push(record);
                if done {
                    break;
                }
            }
            LineKind::Noise => panic!("{}: unexpected non-record output: {line}", env.kind()),
        }
    }
    // The meter target, read while the instance still exists.
    let (running_cpu_seconds, running_peak_bytes) = match instance.meter_target() {
        MeterTarget::CgroupV1 { cpuacct, memory } => (
            read_u64(&cpuacct.join("cpuacct.usage")) as f64 / 1e9,
            read_u64(&memory.join("memory.max_usage_in_bytes")),
        ),
        other => panic!(
            "{}: expected a cgroup meter target on a cgroup v1 host, got {other:?}",
            env.kind()
        ),
    };
    let exit = instance
        .stop()
        .unwrap_or_else(|e| panic!("{}: stop failed: {e}", env.kind()));
    assert_eq!(exit.code, Some(0), "{}: agent exit {exit:?}", env.kind());
    assert!(!exit.killed, "{}: the agent had to be killed", env.kind());
    assert!(
        exit.final_cpu_seconds.unwrap_or(0.0) > 0.0,
        "{}: final CPU {exit:?}",
        env.kind()
    );
    assert!(
        exit.final_peak_memory_bytes.unwrap_or(0) > 0,
        "{}: final memory {exit:?}",
        env.kind()
    );
    assert_eq!(instance.stop().unwrap(), exit, "stop is idempotent");
    let ready_us = match records.first() {
        Some(Record::Ready(ready)) => ready.ready_us,
        other => panic!("{}: first record is not `ready`: {other:?}", env.kind()),
    };
    if matches!(records.last(), Some(Record::Summary(_))) {
        // The agent ran to its summary and exited 0 in this environment.
        isobench_testkit::exercised(env.kind().name());
    }
    Run {
        records,
        first_line: first_line.expect("at least one line"),
        ready_us,
        running_cpu_seconds,
        running_peak_bytes,
    }
}

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The knn predictions (samples, correct, hash) of each measured iteration.
fn predictions(records: &[Record]) -> Vec<(u32, u32, String)> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Iteration(it) if !it.warmup => match &it.digest {
                RecordDigest::Labels {
                    samples,
                    correct,
                    predictions_hash,
                } => Some((*samples, *correct, predictions_hash.clone())),
                other => panic!("knn digests must be labels: {other:?}"),
            },
            _ => None,
        })
        .collect()
}

/// The native environment's knn run, the reference every container must match.
fn native_reference(payload: &AgentPayload, iterations: u32) -> Run {
    let dirs = dirs();
    let mut native = Native::new(&EnvOptions {
        native_cgroup: true,
        ..dirs.options.clone()
    });
    native.prepare(payload).unwrap();
    run_agent(&mut native, unique_run_id(EnvKind::Native), iterations)
}

/// Same predictions and accuracy as native's run of the same payload.
fn assert_like_native(kind: EnvKind, run: &Run, native: &Run) {
    assert_eq!(
        predictions(&run.records),
        predictions(&native.records),
        "{kind}: knn predictions differ from native's"
    );
    let accuracy = |r: &Run| match r.records.last() {
        Some(Record::Summary(s)) => s.accuracy,
        _ => None,
    };
    assert_eq!(accuracy(run), accuracy(native), "{kind}: knn accuracy");
}

/// The records of a knn run with `iterations` measured iterations.
fn check_records(kind: EnvKind, run: &Run, iterations: u64, payload: &AgentPayload) {
    let measured = run
        .records
        .iter()
        .filter(|r| matches!(r, Record::Iteration(it) if !it.warmup))
        .count() as u64;
    assert_eq!(measured, iterations, "{kind}: measured iterations");
    let Some(Record::Summary(summary)) = run.records.last() else {
        panic!("{kind}: no summary record");
    };
    assert_eq!(summary.iterations, iterations, "{kind}");
    assert_eq!(summary.workload.to_string(), "knn", "{kind}");
    let accuracy = summary.accuracy.expect("knn reports accuracy");
    assert!(accuracy > 0.8, "{kind}: knn accuracy {accuracy}");
    assert_eq!(
        summary.agent_sha256,
        sha256_file(&payload.agent_binary),
        "{kind}: the agent inside is not byte-identical to the host's"
    );
    assert!(run.running_cpu_seconds > 0.0, "{kind}: metered CPU");
    assert!(run.running_peak_bytes > 0, "{kind}: metered memory");
}

/// While the container runs: its own cgroup (the one child of the run's
/// group) carries the limits of `spec()` (1 CPU, 1024 MiB).
fn assert_limits_applied(run_id: &RunId) {
    let run = Path::new("/sys/fs/cgroup/cpu/isobench").join(container_name(run_id));
    let children: Vec<PathBuf> = std::fs::read_dir(&run)
        .unwrap_or_else(|e| panic!("{}: {e}", run.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(
        children.len(),
        1,
        "one container group under {}: {children:?}",
        run.display()
    );
    let name = children[0].file_name().unwrap().to_owned();
    let quota = read_u64(&children[0].join("cpu.cfs_quota_us"));
    let period = read_u64(&children[0].join("cpu.cfs_period_us"));
    assert_eq!(quota / period, 1, "CPU quota {quota}/{period}");
    let memory = Path::new("/sys/fs/cgroup/memory/isobench")
        .join(container_name(run_id))
        .join(name);
    assert_eq!(read_u64(&memory.join("memory.limit_in_bytes")), 1024 << 20);
}

fn assert_no_cgroup_left(run_id: &RunId) {
    let left = run_cgroup_leftovers(&run_id.to_string());
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
}

// ---------------------------------------------------------------- dockerd

/// Stops dockerd on drop when this test started it.
struct DockerdGuard {
    started: bool,
}

impl Drop for DockerdGuard {
    fn drop(&mut self) {
        if self.started {
            let status =
                Command::new(isobench_testkit::workspace_root().join("scripts/stop-dockerd.sh"))
                    .status();
            if !matches!(status, Ok(s) if s.success()) {
                eprintln!("scripts/stop-dockerd.sh failed: {status:?}");
            }
        }
    }
}

fn docker_answers() -> bool {
    isobench_environments::detect(EnvKind::Docker, &HostFacts::probe(), &EnvOptions::default())
        .available
}

/// Makes sure dockerd answers: `Err(reason)` (skip) only when docker.io is
/// not installed; an installed dockerd that does not answer is started.
fn ensure_dockerd() -> Result<DockerdGuard, String> {
    if docker_answers() {
        return Ok(DockerdGuard { started: false });
    }
    if which("dockerd").is_none() {
        return Err("docker.io is not installed (no dockerd on PATH)".into());
    }
    let status = Command::new(isobench_testkit::workspace_root().join("scripts/start-dockerd.sh"))
        .status()
        .expect("running scripts/start-dockerd.sh");
    assert!(status.success(), "scripts/start-dockerd.sh failed");
    assert!(docker_answers(), "dockerd started but does not answer");
    Ok(DockerdGuard { started: true })
}

/// Skips the calling test unless dockerd answers (see [`ensure_dockerd`]);
/// evaluates to the guard that stops a dockerd the test started.
macro_rules! require_dockerd {
    () => {
        match ensure_dockerd() {
            Ok(guard) => guard,
            Err(reason) => skip!("{reason}"),
        }
    };
}

fn docker_case(runtime: Option<&str>) {
    let _serial = serial();
    require_root_on_cgroup_v1!();
    let _dockerd = require_dockerd!();
    let payload = payload();
    let dirs = dirs();
    let mut env = match Docker::with_runtime(EnvKind::Docker, &dirs.options, runtime) {
        Ok(env) => env,
        Err(EnvError::Unavailable { reason, fix, .. }) if runtime.is_some() => {
            let runtime = runtime.unwrap_or_default();
            skip!("docker cannot use the {runtime} runtime: {reason} (fix: {fix})")
        }
        Err(e) => panic!("docker: {e}"),
    };
    let prepared = env.prepare(&payload).unwrap();
    assert!(
        prepared.image_bytes.unwrap_or(0) > 0,
        "image size {prepared:?}"
    );
    assert!(
        prepared
            .image_id
            .as_deref()
            .unwrap_or("")
            .starts_with("sha256:"),
        "{prepared:?}"
    );
    let again = env.prepare(&payload).unwrap();
    assert!(again.cached, "second prepare reuses the image");
    assert_eq!(again.image_id, prepared.image_id);

    let run_id = unique_run_id(EnvKind::Docker);
    let run = run_agent(&mut env, run_id, 3);
    check_records(EnvKind::Docker, &run, 3, &payload);
    let left = env.leftover_containers().unwrap();
    assert!(
        !left.contains(&container_name(&run_id)),
        "container left behind: {left:?}"
    );
    assert_no_cgroup_left(&run_id);
    eprintln!(
        "docker ({}): first record {:.1} ms after launch (agent ready_us {}), CPU {:.3} s",
        env.runtime(),
        run.first_line.as_secs_f64() * 1e3,
        run.ready_us,
        run.running_cpu_seconds
    );
}

#[test]
fn docker_runc_runs_the_agent_and_cleans_up() {
    docker_case(None);
}

#[test]
fn docker_runsc_runtime_runs_the_agent() {
    if which("runsc").is_none() {
        skip!("gVisor is not installed (no runsc on PATH)");
    }
    docker_case(Some("runsc"));
}

/// A payload of `n` small files: builds a distinct (tiny) image per `n`.
fn fake_payload(dir: &Path, n: usize) -> AgentPayload {
    let root = dir.join(format!("payload-{n}"));
    std::fs::create_dir_all(root.join("assets/data")).unwrap();
    std::fs::write(root.join("agent"), format!("not an agent {n}")).unwrap();
    AgentPayload {
        user_root: None,
        agent_binary: root.join("agent"),
        assets_dir: root.join("assets"),
        extra_files: vec![],
        env: vec![],
    }
}

#[test]
fn docker_prunes_old_images_but_not_one_in_use() {
    let _serial = serial();
    let _dockerd = require_dockerd!();
    let dirs = dirs();
    let tag_of = |payload: &AgentPayload| {
        isobench_environments::docker::image::image_tag(&PayloadFiles::collect(payload).unwrap())
    };
    let mut in_use = Docker::new(EnvKind::Docker, &dirs.options).unwrap();
    let oldest = fake_payload(&dirs.options.work_dir, 0);
    in_use.prepare(&oldest).unwrap();
    let mut built = Vec::new();
    for n in 1..=6 {
        let payload = fake_payload(&dirs.options.work_dir, n);
        let mut env = Docker::new(EnvKind::Docker, &dirs.options).unwrap();
        assert!(!env.prepare(&payload).unwrap().cached);
        built.push(tag_of(&payload));
    }
    let images = in_use.isobench_images().unwrap();
    let removal: Vec<String> = images
        .iter()
        .filter(|t| **t == tag_of(&oldest) || built.contains(t))
        .cloned()
        .collect();
    let cleanup = Command::new("docker").arg("rmi").args(&removal).output();
    assert!(
        images.contains(&tag_of(&oldest)),
        "in use, so kept: {images:?}"
    );
    for kept in &built[6 - (docker::KEEP_IMAGES - 1) - 1..] {
        assert!(images.contains(kept), "{kept} is recent: {images:?}");
    }
    for gone in &built[..6 - docker::KEEP_IMAGES] {
        assert!(!images.contains(gone), "{gone} pruned: {images:?}");
    }
    eprintln!(
        "removing the test's images: {:?}",
        cleanup.map(|out| out.status)
    );
}

#[test]
fn docker_stop_while_running_kills_and_cleans_up() {
    let _serial = serial();
    require_root_on_cgroup_v1!();
    let _dockerd = require_dockerd!();
    let payload = payload();
    let dirs = dirs();
    let mut env = Docker::new(EnvKind::Docker, &dirs.options).unwrap();
    env.prepare(&payload).unwrap();
    let run_id = unique_run_id(EnvKind::Docker);
    let mut spec = spec(&env, run_id, 1_000_000);
    if let isobench_environments::AgentInvocation::Run(run) = &mut spec.invocation {
        run.warmup = 0;
    }
    let mut instance = env.launch(&spec).unwrap();
    let first = instance.next_line(Duration::from_secs(60)).unwrap();
    assert!(first.is_some_and(|l| l.contains("\"ready\"")));
    assert_limits_applied(&run_id);
    let exit = instance.stop().unwrap();
    assert!(exit.killed, "{exit:?}");
    drop(instance);
    assert!(!env
        .leftover_containers()
        .unwrap()
        .contains(&container_name(&run_id)));
    assert_no_cgroup_left(&run_id);
}

#[test]
fn dockerd_not_running_is_a_clear_error() {
    let dirs = dirs();
    let socket = dirs.options.work_dir.join("no-dockerd.sock");
    let options = EnvOptions {
        docker_host: Some(format!("unix://{}", socket.display())),
        ..dirs.options.clone()
    };
    let err = Docker::new(EnvKind::Docker, &options)
        .err()
        .expect("no daemon on that socket");
    let text = err.to_string();
    assert!(matches!(err, EnvError::Unavailable { .. }), "{text}");
    assert!(
        text.contains(&socket.display().to_string()),
        "names the socket: {text}"
    );
    if which("dockerd").is_some() {
        assert!(text.contains("dockerd not running"), "{text}");
        assert!(
            text.contains("scripts/start-dockerd.sh"),
            "gives the fix: {text}"
        );
    } else {
        assert!(text.contains("docker.io not installed"), "{text}");
    }
    // A socket file nobody listens on: same clear error, no hang.
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    drop(listener);
    let err = Docker::new(EnvKind::Docker, &options)
        .err()
        .expect("nobody listens");
    assert!(err.to_string().contains("no answer on"), "{err}");
}

#[test]
fn kata_without_runtime_explains_why() {
    let _serial = serial();
    require_root_on_cgroup_v1!();
    let _dockerd = require_dockerd!();
    let availability =
        isobench_environments::detect(EnvKind::Kata, &HostFacts::probe(), &EnvOptions::default());
    if availability.available {
        skip!(
            "this host has a Kata runtime, so its absence cannot be explained: {}",
            availability.reason
        );
    }
    assert!(
        availability.reason.contains("no Kata runtime registered"),
        "{availability:?}"
    );
    assert!(
        availability.fix.contains("io.containerd.kata.v2"),
        "{availability:?}"
    );
    let dirs = dirs();
    let err = Docker::new(EnvKind::Kata, &dirs.options)
        .err()
        .expect("kata unavailable");
    assert!(err.to_string().contains("Kata"), "{err}");
}

// ---------------------------------------------------------------- podman

/// The podman environment (its own API service): `Err(reason)` (a skip)
/// only when podman is not installed; an installed podman must work.
fn podman_env(options: &EnvOptions) -> Result<Podman, String> {
    if which("podman").is_none() {
        return Err(
            "podman is not installed (no podman on PATH; scripts/install-podman.sh)".into(),
        );
    }
    Podman::new(EnvKind::Podman, &HostFacts::probe(), options)
        .map_err(|e| e.to_string())
        .map_err(|e| panic!("podman is installed but unavailable: {e}"))
}

/// The podman environment, or a skip of the calling test when podman is
/// not installed (see [`podman_env`]).
macro_rules! require_podman {
    ($options:expr) => {
        match podman_env($options) {
            Ok(env) => env,
            Err(reason) => skip!("{reason}"),
        }
    };
}

/// PIDs of the processes whose command line names `needle`.
fn processes_naming(needle: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .contains(needle)
                .then_some(pid)
        })
        .filter(|pid| *pid != std::process::id() as i32)
        .collect()
}

/// After teardown: the service is gone with its socket, and podman holds no
/// isobench container and no untagged layer of isobench's builds.
fn assert_podman_left_nothing(socket: &Path) {
    let socket_text = socket.display().to_string();
    assert!(!socket.exists(), "socket {socket_text} left behind");
    assert!(
        processes_naming(&socket_text).is_empty(),
        "podman's service of {socket_text} still runs"
    );
    let out = Command::new("podman")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=org.isobench",
            "--format",
            "{{.Names}}",
        ])
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&out.stdout);
    let ours = format!("isobench-{}-", std::process::id());
    assert!(
        !names.lines().any(|n| n.starts_with(&ours)),
        "containers left: {names}"
    );
    let out = Command::new("podman")
        .args([
            "images",
            "-a",
            "--filter",
            "dangling=true",
            "--filter",
            "label=org.isobench",
            "-q",
        ])
        .output()
        .unwrap();
    let dangling = String::from_utf8_lossy(&out.stdout);
    assert!(
        dangling.trim().is_empty(),
        "untagged isobench images left: {dangling}"
    );
}

#[test]
fn podman_runs_the_agent_like_native_and_cleans_up() {
    let _serial = serial();
    require_root_on_cgroup_v1!();
    let payload = payload();
    let dirs = dirs();
    let mut env = require_podman!(&dirs.options);
    let socket = env.socket();
    let info = env.info();
    let version = info.runtime_version.clone().unwrap_or_default();
    assert!(
        version.starts_with("podman ") && version.ends_with("runtime runc"),
        "{version}"
    );
    let prepared = env.prepare(&payload).unwrap();
    assert!(prepared.image_bytes.unwrap_or(0) > 0, "{prepared:?}");
    assert!(
        prepared
            .image_id
            .as_deref()
            .unwrap_or("")
            .starts_with("sha256:"),
        "{prepared:?}"
    );
    let again = env.prepare(&payload).unwrap();
    assert!(again.cached, "second prepare reuses the image");
    assert_eq!(again.image_id, prepared.image_id);
    let tag =
        isobench_environments::docker::image::image_tag(&PayloadFiles::collect(&payload).unwrap());
    assert!(
        env.docker().isobench_images().unwrap().contains(&tag),
        "{tag} not listed (podman lists docker.io/library/{tag})"
    );

    let run_id = unique_run_id(EnvKind::Podman);
    let run = run_agent(&mut env, run_id, 3);
    check_records(EnvKind::Podman, &run, 3, &payload);
    let native = native_reference(&payload, 3);
    assert_like_native(EnvKind::Podman, &run, &native);
    let left = env.docker().leftover_containers().unwrap();
    assert!(
        !left.contains(&container_name(&run_id)),
        "container left behind: {left:?}"
    );
    assert_no_cgroup_left(&run_id);
    env.teardown().unwrap();
    drop(env);
    assert_podman_left_nothing(&socket);
    eprintln!(
        "podman (runc): first record {:.1} ms after launch (agent ready_us {}), CPU {:.3} s",
        run.first_line.as_secs_f64() * 1e3,
        run.ready_us,
        run.running_cpu_seconds
    );
}

#[test]
fn podman_stop_while_running_applies_limits_kills_and_cleans_up() {
    let _serial = serial();
    require_root_on_cgroup_v1!();
    let payload = payload();
    let dirs = dirs();
    let mut env = require_podman!(&dirs.options);
    let socket = env.socket();
    env.prepare(&payload).unwrap();
    let run_id = unique_run_id(EnvKind::Podman);
    let mut spec = spec(&env, run_id, 1_000_000);
    if let isobench_environments::AgentInvocation::Run(run) = &mut spec.invocation {
        run.warmup = 0;
    }
    let mut instance = env.launch(&spec).unwrap();
    let first = instance.next_line(Duration::from_secs(60)).unwrap();
    assert!(first.is_some_and(|l| l.contains("\"ready\"")));
    // The container's group (next to conmon's) carries the limits.
    let group = Path::new("/sys/fs/cgroup/cpu/isobench").join(container_name(&run_id));
    let children: Vec<String> = std::fs::read_dir(&group)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let container = children
        .iter()
        .find(|c| c.starts_with("libpod-"))
        .unwrap_or_else(|| {
            panic!(
                "no libpod-<id> group under {}: {children:?}",
                group.display()
            )
        });
    let quota = read_u64(&group.join(container).join("cpu.cfs_quota_us"));
    let period = read_u64(&group.join(container).join("cpu.cfs_period_us"));
    assert_eq!(quota / period, 1, "CPU quota {quota}/{period}");
    let memory = Path::new("/sys/fs/cgroup/memory/isobench")
        .join(container_name(&run_id))
        .join(container);
    assert_eq!(read_u64(&memory.join("memory.limit_in_bytes")), 1024 << 20);
    let exit = instance.stop().unwrap();
    assert!(exit.killed, "{exit:?}");
    drop(instance);
    assert!(!env
        .docker()
        .leftover_containers()
        .unwrap()
        .contains(&container_name(&run_id)));
    assert_no_cgroup_left(&run_id);
    drop(env);
    assert_podman_left_nothing(&socket);
}

/// What a SIGKILLed run leaves (simulated: the instance is leaked, its run
/// id names a PID that cannot exist, and a process stands for the dead
/// run's service): `isobench clean`'s sweep ends the service, removes the
/// socket, the container and the cgroups.
#[test]
fn podman_clean_removes_a_dead_runs_service_container_and_cgroups() {
    let _serial = serial();
    require_root_on_cgroup_v1!();
    let payload = payload();
    let dirs = dirs();
    let mut env = require_podman!(&dirs.options);
    env.prepare(&payload).unwrap();
    let run_id = dead_run_id(EnvKind::Podman);
    let mut instance = env.launch(&spec(&env, run_id, 1_000_000)).unwrap();
    let first = instance.next_line(Duration::from_secs(60)).unwrap();
    assert!(first.is_some_and(|l| l.contains("\"ready\"")));
    std::mem::forget(instance);
    let id = container_name(&run_id);
    assert!(env.docker().leftover_containers().unwrap().contains(&id));
    assert!(!run_cgroup_leftovers(&run_id.to_string()).is_empty());
    // The dead run's service: a process naming its socket, and the socket.
    let dead_socket = "/run/isobench/isobench-4294967295-podman-7.sock";
    std::fs::write(dead_socket, b"").unwrap();
    // A shell waiting on its stdin (a builtin: no child that would outlive
    // it holding the test's output open), its argv naming the socket.
    let mut stand_in = Command::new("sh")
        .args(["-c", "read line", &format!("unix://{dead_socket}")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let swept = isobench_environments::podman::clean_leftovers(EnvKind::Podman, &dirs.options);
    let reaped = stand_in.try_wait().unwrap().is_some() || {
        std::thread::sleep(Duration::from_millis(200));
        stand_in.try_wait().unwrap().is_some()
    };
    if !reaped {
        let _ = stand_in.kill();
    }
    assert!(swept.failed.is_empty(), "{:?}", swept.failed);
    assert!(
        reaped,
        "the dead run's service was not ended: {:?}",
        swept.removed
    );
    assert!(!Path::new(dead_socket).exists(), "{:?}", swept.removed);
    assert!(
        swept
            .removed
            .contains(&format!("removed podman container {id}")),
        "{:?}",
        swept.removed
    );
    assert!(
        swept
            .removed
            .iter()
            .any(|l| l.starts_with("removed cgroup ")),
        "{:?}",
        swept.removed
    );
    assert!(!env.docker().leftover_containers().unwrap().contains(&id));
    assert_no_cgroup_left(&run_id);
    env.teardown().unwrap();
}

#[test]
fn podman_detection_explains_itself() {
    let dirs = dirs();
    let availability =
        isobench_environments::detect(EnvKind::Podman, &HostFacts::probe(), &dirs.options);
    match which("podman") {
        None => {
            assert!(!availability.available);
            assert!(
                availability.reason.contains("podman not installed"),
                "{availability:?}"
            );
            assert!(
                availability.fix.contains("isobench setup --env podman"),
                "{availability:?}"
            );
        }
        Some(_) if HostFacts::probe().root => {
            assert!(availability.available, "{availability:?}");
            assert!(
                availability.reason.starts_with("podman "),
                "{availability:?}"
            );
            // Detection stopped the service it started.
            let ours = format!("isobench-{}-podman-", std::process::id());
            assert!(
                processes_naming(&ours).is_empty(),
                "a detection's service still runs"
            );
        }
        Some(_) => assert!(
            availability.reason.contains("needs root"),
            "{availability:?}"
        ),
    }
}

// ---------------------------------------------------------------- OCI runtimes

/// The OCI environment `kind`: `Err(reason)` (a skip) only when its runtime
/// is not installed; an installed runtime must be available.
fn oci_env(kind: EnvKind, options: &EnvOptions) -> Result<Oci, String> {
    let availability = isobench_environments::detect(kind, &HostFacts::probe(), options);
    if !availability.available {
        let program = runtime_of(kind).expect("an OCI kind").program;
        // Skip only when the runtime is truly absent; anything else must work.
        assert!(
            which(program).is_none(),
            "{kind} is installed but unavailable: {availability:?}"
        );
        return Err(format!(
            "{kind}: {} (fix: {})",
            availability.reason, availability.fix
        ));
    }
    Ok(Oci::new(kind, options).unwrap())
}

/// The OCI environment `kind`, or a skip of the calling test when its
/// runtime is not installed (see [`oci_env`]).
macro_rules! require_oci_env {
    ($kind:expr, $options:expr) => {
        match oci_env($kind, $options) {
            Ok(env) => env,
            Err(reason) => skip!("{reason}"),
        }
    };
}

fn oci_case(kind: EnvKind) {
    let _serial = serial();
    require_root_on_cgroup_v1!();
    let payload = payload();
    let dirs = dirs();
    let mut env = require_oci_env!(kind, &dirs.options);
    let hugetlb_was_on_cgroup2 = kind == EnvKind::OciCrun && hugetlb_on_cgroup2();
    let prepared = env.prepare(&payload).unwrap();
    assert!(!prepared.cached);
    assert!(
        prepared.image_bytes.unwrap() >= std::fs::metadata(&payload.agent_binary).unwrap().len()
    );
    assert!(
        env.prepare(&payload).unwrap().cached,
        "second prepare reuses the rootfs"
    );

    let native = native_reference(&payload, 3);
    let run_id = unique_run_id(kind);
    let run = run_agent(&mut env, run_id, 3);
    check_records(kind, &run, 3, &payload);
    assert_like_native(kind, &run, &native);
    let id = container_name(&run_id);
    assert!(
        !env.leftover_containers().contains(&id),
        "{kind}: container state left: {:?}",
        env.leftover_containers()
    );
    let bundle = dirs.options.work_dir.join(format!("oci-{id}"));
    assert!(
        !bundle.exists(),
        "{kind}: bundle left at {}",
        bundle.display()
    );
    assert_no_cgroup_left(&run_id);
    env.teardown().unwrap();
    if kind == EnvKind::OciCrun {
        assert!(
            !isobench_environments::oci::hugetlb::HugetlbGuard::mounted_by_isobench(),
            "the hugetlb workaround is undone at teardown"
        );
    }
    if hugetlb_was_on_cgroup2 {
        // Not merely unmounted: a hierarchy unmounted too early lingers,
        // detached, and hands hugetlb back to cgroup2 seconds later, in the
        // middle of whatever crun run comes next.
        assert!(
            hugetlb_on_cgroup2(),
            "teardown gives hugetlb back to cgroup2: {:?}",
            hugetlb::hugetlb_hierarchy()
        );
    }
    eprintln!(
        "{kind}: first record {:.1} ms after launch (agent ready_us {}), CPU {:.3} s",
        run.first_line.as_secs_f64() * 1e3,
        run.ready_us,
        run.running_cpu_seconds
    );
}

#[test]
fn oci_runc_runs_the_agent_and_cleans_up() {
    oci_case(EnvKind::OciRunc);
}

#[test]
fn oci_crun_runs_the_agent_and_cleans_up() {
    oci_case(EnvKind::OciCrun);
}

#[test]
fn oci_youki_runs_the_agent_and_cleans_up() {
    oci_case(EnvKind::OciYouki);
}

/// hugetlb is bound to cgroup2 (hierarchy 0 in /proc/cgroups).
fn hugetlb_on_cgroup2() -> bool {
    hugetlb::hugetlb_hierarchy().is_some_and(|(hierarchy, _)| hierarchy == 0)
}

/// crun works: cgroup2 owns no controller, and hugetlb does not sit on an
/// unmounted v1 hierarchy (one the kernel is tearing down, which hands the
/// controller back to cgroup2 at some later moment).
fn assert_crun_can_run(when: &str) {
    let controllers = hugetlb::unified_controllers(Path::new(hugetlb::UNIFIED));
    assert!(
        controllers.is_empty(),
        "{when}: cgroup2 owns {controllers:?} and crun refuses hybrid cgroups"
    );
    let detached = hugetlb::hugetlb_hierarchy().is_some_and(|(hierarchy, _)| hierarchy != 0)
        && hugetlb::hugetlb_v1_mounts().is_empty();
    assert!(
        !detached,
        "{when}: hugetlb sits on an unmounted v1 hierarchy the kernel will hand back to cgroup2"
    );
}

/// Two crun environments in a row (as two `isobench run`s in a row): the
/// second one must not take the first one's leftover hugetlb hierarchy for
/// a working layout, and both run the agent more than once.
#[test]
fn oci_crun_back_to_back_environments() {
    let _serial = serial();
    require_root_on_cgroup_v1!();
    let payload = payload();
    let dirs = dirs();
    for round in 0..2 {
        let mut env = require_oci_env!(EnvKind::OciCrun, &dirs.options);
        env.prepare(&payload).unwrap();
        assert_crun_can_run(&format!("environment {round} after prepare"));
        for repetition in 0..2 {
            let run_id = unique_run_id(EnvKind::OciCrun);
            let run = run_agent(&mut env, run_id, 1);
            check_records(EnvKind::OciCrun, &run, 1, &payload);
            assert_no_cgroup_left(&run_id);
            assert_crun_can_run(&format!("environment {round}, repetition {repetition}"));
        }
        env.teardown().unwrap();
    }
}

#[test]
fn gvisor_runs_the_agent_and_cleans_up() {
    oci_case(EnvKind::Gvisor);
}

/// Stopped while it runs: the container's limits were applied, it is
/// killed, and nothing is left.
fn oci_stop_case(kind: EnvKind) {
    let _serial = serial();
    require_root_on_cgroup_v1!();
    let payload = payload();
    let dirs = dirs();
    let mut env = require_oci_env!(kind, &dirs.options);
    env.prepare(&payload).unwrap();
    let run_id = unique_run_id(kind);
    let spec = spec(&env, run_id, 1_000_000);
    let mut instance = env.launch(&spec).unwrap();
    let first = instance.next_line(Duration::from_secs(60)).unwrap();
    assert!(first.is_some_and(|l| l.contains("\"ready\"")));
    assert_limits_applied(&run_id);
    let exit = instance.stop().unwrap();
    assert!(exit.killed, "{exit:?}");
    drop(instance);
    let id = container_name(&run_id);
    assert!(!env.leftover_containers().contains(&id));
    assert!(!dirs.options.work_dir.join(format!("oci-{id}")).exists());
    assert_no_cgroup_left(&run_id);
    env.teardown().unwrap();
}

#[test]
fn oci_stop_while_running_kills_and_cleans_up() {
    oci_stop_case(EnvKind::OciRunc);
}

#[test]
fn oci_youki_stop_while_running_kills_and_cleans_up() {
    oci_stop_case(EnvKind::OciYouki);
}

/// A run whose isobench process died (simulated: its instance is leaked and
/// its run id names a PID that cannot exist) leaves a running container and
/// its cgroups; the backend's clean-up, through the registry, removes them.
fn oci_clean_case(kind: EnvKind) {
    let _serial = serial();
    require_root_on_cgroup_v1!();
    let payload = payload();
    let dirs = dirs();
    let mut env = require_oci_env!(kind, &dirs.options);
    env.prepare(&payload).unwrap();
    let run_id = dead_run_id(kind);
    let mut instance = env.launch(&spec(&env, run_id, 1_000_000)).unwrap();
    let first = instance.next_line(Duration::from_secs(60)).unwrap();
    assert!(first.is_some_and(|l| l.contains("\"ready\"")));
    // What a SIGKILL of isobench leaves: nothing of the instance runs its teardown.
    std::mem::forget(instance);
    let id = container_name(&run_id);
    assert!(env.leftover_containers().contains(&id));
    assert!(!run_cgroup_leftovers(&run_id.to_string()).is_empty());
    let swept: Vec<_> = isobench_environments::clean_leftovers(&dirs.options)
        .into_iter()
        .filter(|(k, _)| *k == kind)
        .collect();
    let [(_, swept)] = swept.as_slice() else {
        panic!("one sweep per backend: {swept:?}");
    };
    assert!(swept.failed.is_empty(), "{:?}", swept.failed);
    let program = runtime_of(kind).unwrap().program;
    assert!(
        swept
            .removed
            .contains(&format!("deleted {program} container {id}")),
        "{:?}",
        swept.removed
    );
    assert!(
        swept
            .removed
            .iter()
            .any(|l| l.starts_with("removed cgroup ")),
        "{:?}",
        swept.removed
    );
    assert!(!env.leftover_containers().contains(&id));
    assert_no_cgroup_left(&run_id);
    env.teardown().unwrap();
}

#[test]
fn oci_runc_clean_removes_a_dead_runs_container() {
    oci_clean_case(EnvKind::OciRunc);
}

#[test]
fn oci_youki_clean_removes_a_dead_runs_container() {
    oci_clean_case(EnvKind::OciYouki);
}

/// Without youki, `doctor` says why and how to get it; with it, it names the version.
#[test]
fn youki_detection_explains_itself() {
    let availability = isobench_environments::detect(
        EnvKind::OciYouki,
        &HostFacts::probe(),
        &EnvOptions::default(),
    );
    eprintln!("oci-youki: {availability:?}");
    if which("youki").is_none() {
        assert!(!availability.available);
        assert!(
            availability.reason.contains("youki not installed"),
            "{availability:?}"
        );
        assert!(
            availability.fix.contains("scripts/install-youki.sh"),
            "{availability:?}"
        );
    } else if availability.available {
        assert!(
            availability.reason.starts_with("youki "),
            "{availability:?}"
        );
    } else {
        assert!(!availability.fix.is_empty(), "{availability:?}");
    }
}

#[test]
fn oci_missing_agent_is_a_clear_error() {
    let dirs = dirs();
    let mut env = match Oci::new(EnvKind::OciRunc, &dirs.options) {
        Ok(env) => env,
        Err(e) if which("runc").is_none() => skip!("runc is not installed ({e})"),
        Err(e) => panic!("runc is installed but oci-runc is unavailable: {e}"),
    };
    let payload = AgentPayload {
        user_root: None,
        agent_binary: dirs.options.work_dir.join("no-agent"),
        assets_dir: dirs.options.work_dir.clone(),
        extra_files: vec![],
        env: vec![],
    };
    let err = env.prepare(&payload).unwrap_err().to_string();
    assert!(
        err.contains("agent binary not found") && err.contains("scripts/build.sh"),
        "{err}"
    );
    let err = env
        .launch(&spec(&env, unique_run_id(EnvKind::OciRunc), 1))
        .err()
        .expect("launch before prepare");
    assert!(matches!(err, EnvError::NotPrepared { .. }), "{err}");
    assert!(err.to_string().contains("before prepare"), "{err}");
}

// ---------------------------------------------------------------- figures

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Launch-to-first-record times per runtime (figures, no asserts on time).
#[test]
#[ignore = "benchmark: prints start-time figures; run with --ignored --nocapture"]
fn start_times() {
    let _serial = serial();
    require_root_on_cgroup_v1!();
    let runs: usize = std::env::var("ISOBENCH_START_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let payload = payload();
    let dirs = dirs();
    let mut envs: Vec<(String, Box<dyn Environment>)> = Vec::new();
    let dockerd = ensure_dockerd();
    match &dockerd {
        Ok(_) => {
            envs.push((
                "docker (runc)".into(),
                Box::new(Docker::new(EnvKind::Docker, &dirs.options).unwrap()),
            ));
            match Docker::with_runtime(EnvKind::Docker, &dirs.options, Some("runsc")) {
                Ok(env) => envs.push(("docker (runsc)".into(), Box::new(env))),
                Err(e) => record_skip!("docker (runsc) not timed: {e}"),
            }
        }
        Err(reason) => record_skip!("docker not timed: {reason}"),
    }
    for kind in [
        EnvKind::OciRunc,
        EnvKind::OciCrun,
        EnvKind::OciYouki,
        EnvKind::Gvisor,
    ] {
        match oci_env(kind, &dirs.options) {
            Ok(env) => envs.push((kind.name().into(), Box::new(env))),
            Err(reason) => record_skip!("{kind} not timed: {reason}"),
        }
    }
    eprintln!("start time = launch -> first record (`ready`); minus the agent's own ready_us = container start");
    eprintln!(
        "{:<16} {:>6} {:>14} {:>16}",
        "environment", "runs", "first line ms", "container ms"
    );
    for (name, env) in &mut envs {
        env.prepare(&payload).unwrap();
        // One unmeasured run warms the page cache.
        let kind = env.kind();
        let _ = run_agent(env.as_mut(), unique_run_id(kind), 1);
        let mut first = Vec::new();
        let mut start = Vec::new();
        for _ in 0..runs {
            let run = run_agent(env.as_mut(), unique_run_id(kind), 1);
            first.push(run.first_line.as_secs_f64() * 1e3);
            start.push(run.first_line.as_secs_f64() * 1e3 - run.ready_us as f64 / 1e3);
        }
        eprintln!(
            "{:<16} {:>6} {:>14.1} {:>16.1}",
            name,
            runs,
            median(first),
            median(start)
        );
        env.teardown().unwrap();
    }
    drop(envs);
    drop(dockerd);
}
