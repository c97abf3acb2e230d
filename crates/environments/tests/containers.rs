//! The container environments with the real static agent: docker (runc),
//! oci-runc, oci-crun and gVisor prepare, launch, stream records, meter, and
//! leave nothing behind.
//!
//! Needs root, cgroup v1, the static agent (`scripts/build.sh`, or
//! `ISOBENCH_AGENT_STATIC`) and the assets (`isobench setup`; `$ISOBENCH_CACHE`,
//! `$XDG_CACHE_HOME/isobench` or `~/.cache/isobench`). A test skips (with the
//! reason printed) only when its runtime is not installed; dockerd is started
//! with scripts/start-dockerd.sh when it is installed but not running, and
//! stopped again by the test that started it.
//!
//! Start-time figures (launch to first record) per runtime:
//! `cargo test --release -p isobench-environments --test containers -- --ignored --nocapture start_times`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use isobench_environments::containers::{
    container_name, run_cgroup_leftovers, sanitize_id, PayloadFiles,
};
use isobench_environments::docker::{self, Docker};
use isobench_environments::oci::{hugetlb, Oci};
use isobench_environments::registry::which;
use isobench_environments::{
    AgentPayload, EnvError, EnvKind, EnvOptions, Environment, HostFacts, LaunchSpec, Limits,
    MeterTarget,
};
use isobench_records::{parse_line, LineKind, Record};
use sha2::{Digest, Sha256};

/// Containers run one at a time: figures stay meaningful and a dockerd
/// started by one test is not stopped under another.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ISOBENCH_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("isobench");
    }
    PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/isobench")
}

/// The static agent and the cached assets; panics with the fix when missing.
fn payload() -> AgentPayload {
    let agent = std::env::var_os("ISOBENCH_AGENT_STATIC")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            repo_root().join("target/x86_64-unknown-linux-gnu/release/isobench-agent")
        });
    assert!(
        agent.is_file(),
        "static agent not found at {} (build it with scripts/build.sh or set ISOBENCH_AGENT_STATIC)",
        agent.display()
    );
    let assets = cache_dir().join("assets");
    assert!(
        assets.join("data").is_dir(),
        "assets not found at {} (run `isobench setup`)",
        assets.display()
    );
    AgentPayload {
        agent_binary: agent,
        assets_dir: assets,
        extra_files: vec![],
        env: vec![],
    }
}

fn root_on_cgroup_v1() -> bool {
    let host = HostFacts::probe();
    if !host.root || !host.cgroup_v1 {
        eprintln!(
            "SKIP: needs root on a cgroup v1 host (root={}, cgroup v1={})",
            host.root, host.cgroup_v1
        );
        return false;
    }
    true
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

fn unique_run_id(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("test-{tag}-{}-{nanos}", std::process::id())
}

fn spec(env: &dyn Environment, run_id: &str, iterations: u32) -> LaunchSpec {
    let assets = env.assets_path_inside().display().to_string();
    LaunchSpec {
        agent_args: [
            "run",
            "--workload",
            "knn",
            "--iterations",
            &iterations.to_string(),
            "--assets",
            &assets,
        ]
        .map(String::from)
        .to_vec(),
        limits: Limits {
            vcpus: Some(1),
            memory_mib: Some(1024),
            cpuset: None,
        },
        timeout: Duration::from_secs(120),
        run_id: run_id.to_string(),
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
fn run_agent(env: &mut dyn Environment, run_id: &str, iterations: u32) -> Run {
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
    assert_eq!(summary.workload, "knn", "{kind}");
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
fn assert_limits_applied(run_id: &str) {
    let run = Path::new("/sys/fs/cgroup/cpu/isobench").join(sanitize_id(run_id));
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
        .join(sanitize_id(run_id))
        .join(name);
    assert_eq!(read_u64(&memory.join("memory.limit_in_bytes")), 1024 << 20);
}

fn assert_no_cgroup_left(run_id: &str) {
    let left = run_cgroup_leftovers(run_id);
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
            let status = Command::new(repo_root().join("scripts/stop-dockerd.sh")).status();
            if !matches!(status, Ok(s) if s.success()) {
                eprintln!("scripts/stop-dockerd.sh failed: {status:?}");
            }
        }
    }
}

fn docker_answers() -> bool {
    isobench_environments::docker::detect(EnvKind::Docker, &HostFacts::probe()).available
}

/// Makes sure dockerd answers: `None` (skip) only when docker.io is not installed.
fn ensure_dockerd() -> Option<DockerdGuard> {
    if docker_answers() {
        return Some(DockerdGuard { started: false });
    }
    if which("dockerd").is_none() {
        eprintln!("SKIP: docker.io is not installed (no dockerd on PATH)");
        return None;
    }
    let status = Command::new(repo_root().join("scripts/start-dockerd.sh"))
        .status()
        .expect("running scripts/start-dockerd.sh");
    assert!(status.success(), "scripts/start-dockerd.sh failed");
    assert!(docker_answers(), "dockerd started but does not answer");
    Some(DockerdGuard { started: true })
}

fn docker_case(runtime: Option<&str>, tag: &str) {
    let _serial = serial();
    if !root_on_cgroup_v1() {
        return;
    }
    let Some(_dockerd) = ensure_dockerd() else {
        return;
    };
    let payload = payload();
    let dirs = dirs();
    let mut env = match Docker::with_runtime(EnvKind::Docker, &dirs.options, runtime) {
        Ok(env) => env,
        Err(EnvError::Unavailable { reason, .. }) if runtime.is_some() => {
            eprintln!("SKIP: {reason}");
            return;
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

    let run_id = unique_run_id(tag);
    let run = run_agent(&mut env, &run_id, 3);
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
    docker_case(None, "docker");
}

#[test]
fn docker_runsc_runtime_runs_the_agent() {
    if which("runsc").is_none() {
        eprintln!("SKIP: runsc is not installed");
        return;
    }
    docker_case(Some("runsc"), "docker-runsc");
}

/// A payload of `n` small files: builds a distinct (tiny) image per `n`.
fn fake_payload(dir: &Path, n: usize) -> AgentPayload {
    let root = dir.join(format!("payload-{n}"));
    std::fs::create_dir_all(root.join("assets/data")).unwrap();
    std::fs::write(root.join("agent"), format!("not an agent {n}")).unwrap();
    AgentPayload {
        agent_binary: root.join("agent"),
        assets_dir: root.join("assets"),
        extra_files: vec![],
        env: vec![],
    }
}

#[test]
fn docker_prunes_old_images_but_not_one_in_use() {
    let _serial = serial();
    let Some(_dockerd) = ensure_dockerd() else {
        return;
    };
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
    if !root_on_cgroup_v1() {
        return;
    }
    let Some(_dockerd) = ensure_dockerd() else {
        return;
    };
    let payload = payload();
    let dirs = dirs();
    let mut env = Docker::new(EnvKind::Docker, &dirs.options).unwrap();
    env.prepare(&payload).unwrap();
    let run_id = unique_run_id("docker-kill");
    let mut spec = spec(&env, &run_id, 1_000_000);
    spec.agent_args
        .extend(["--warmup".to_string(), "0".to_string()]);
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
    if !root_on_cgroup_v1() {
        return;
    }
    let Some(_dockerd) = ensure_dockerd() else {
        return;
    };
    let availability = isobench_environments::detect(EnvKind::Kata, &HostFacts::probe());
    if availability.available {
        eprintln!(
            "SKIP: this host has a Kata runtime: {}",
            availability.reason
        );
        return;
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

// ---------------------------------------------------------------- OCI runtimes

fn oci_env(kind: EnvKind, options: &EnvOptions) -> Option<Oci> {
    let availability = isobench_environments::detect(kind, &HostFacts::probe());
    if !availability.available {
        let program = match kind {
            EnvKind::OciCrun => "crun",
            EnvKind::Gvisor => "runsc",
            _ => "runc",
        };
        // Skip only when the runtime is truly absent; anything else must work.
        assert!(
            which(program).is_none(),
            "{kind} is installed but unavailable: {availability:?}"
        );
        eprintln!("SKIP: {}", availability.reason);
        return None;
    }
    Some(Oci::new(kind, options).unwrap())
}

fn oci_case(kind: EnvKind) {
    let _serial = serial();
    if !root_on_cgroup_v1() {
        return;
    }
    let payload = payload();
    let dirs = dirs();
    let Some(mut env) = oci_env(kind, &dirs.options) else {
        return;
    };
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

    let run_id = unique_run_id(kind.name());
    let run = run_agent(&mut env, &run_id, 3);
    check_records(kind, &run, 3, &payload);
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
    if !root_on_cgroup_v1() {
        return;
    }
    let payload = payload();
    let dirs = dirs();
    for round in 0..2 {
        let Some(mut env) = oci_env(EnvKind::OciCrun, &dirs.options) else {
            return;
        };
        env.prepare(&payload).unwrap();
        assert_crun_can_run(&format!("environment {round} after prepare"));
        for repetition in 0..2 {
            let run_id = unique_run_id(&format!("crun-{round}-{repetition}"));
            let run = run_agent(&mut env, &run_id, 1);
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

#[test]
fn oci_stop_while_running_kills_and_cleans_up() {
    let _serial = serial();
    if !root_on_cgroup_v1() {
        return;
    }
    let payload = payload();
    let dirs = dirs();
    let Some(mut env) = oci_env(EnvKind::OciRunc, &dirs.options) else {
        return;
    };
    env.prepare(&payload).unwrap();
    let run_id = unique_run_id("runc-kill");
    let spec = spec(&env, &run_id, 1_000_000);
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
}

#[test]
fn oci_missing_agent_is_a_clear_error() {
    let dirs = dirs();
    let Ok(mut env) = Oci::new(EnvKind::OciRunc, &dirs.options) else {
        eprintln!("SKIP: runc is not installed");
        return;
    };
    let payload = AgentPayload {
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
        .launch(&spec(&env, "never", 1))
        .err()
        .expect("launch before prepare")
        .to_string();
    assert!(err.contains("before prepare"), "{err}");
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
    if !root_on_cgroup_v1() {
        return;
    }
    let runs: usize = std::env::var("ISOBENCH_START_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let payload = payload();
    let dirs = dirs();
    let mut envs: Vec<(String, Box<dyn Environment>)> = Vec::new();
    let dockerd = ensure_dockerd();
    if dockerd.is_some() {
        envs.push((
            "docker (runc)".into(),
            Box::new(Docker::new(EnvKind::Docker, &dirs.options).unwrap()),
        ));
        if let Ok(env) = Docker::with_runtime(EnvKind::Docker, &dirs.options, Some("runsc")) {
            envs.push(("docker (runsc)".into(), Box::new(env)));
        }
    }
    for kind in [EnvKind::OciRunc, EnvKind::OciCrun, EnvKind::Gvisor] {
        if let Some(env) = oci_env(kind, &dirs.options) {
            envs.push((kind.name().into(), Box::new(env)));
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
        let _ = run_agent(env.as_mut(), &unique_run_id("warm"), 1);
        let mut first = Vec::new();
        let mut start = Vec::new();
        for _ in 0..runs {
            let run = run_agent(
                env.as_mut(),
                &unique_run_id(&format!("start-{}", sanitize_id(name))),
                1,
            );
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
