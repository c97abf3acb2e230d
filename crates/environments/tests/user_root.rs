//! `--workload command` against the real things: the user's own program in
//! the user's own root filesystem, prepared in the cache
//! (`user_root::ensure`) and run by the agent's `exec` through native (a
//! chroot), the OCI runtimes and gVisor (the tree as the container's
//! root), Docker (the tree imported as an image; an image exported back
//! into a tree) and QEMU under TCG here (the tree as a read-only ext4
//! drive). Each run must bring back the agent's records and leave nothing
//! behind: no mounts under the tree, no containers, cgroups or VMs, and
//! the tree unchanged.
//!
//! The program is the agent itself (`/isobench-agent version`, measured as
//! one process per iteration): the only program every tree has, and its
//! output is the same everywhere, so the digests must agree.
//!
//! Run with `cargo test -p isobench-environments --test user_root`. Needs
//! root on a cgroup v1 host and the static agent; what else is missing
//! (a runtime, dockerd, QEMU) is skipped through the test kit with its
//! reason. `python_tree_runs_numpy` (ignored) runs a real Python tree
//! (`ISOBENCH_PYTHON_ROOTFS`, default `/work/rootfs-py`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use isobench_environments::containers::{container_name, run_cgroup_leftovers};
use isobench_environments::docker::{export, Docker};
use isobench_environments::oci::Oci;
use isobench_environments::user_root::{self, RootSource, UserRoot, UserRootSpec};
use isobench_environments::{
    AgentPayload, EnvKind, EnvOptions, Environment, ExitInfo, HostFacts, LaunchSpec, Limits,
    Prepared, RunId, RunLabel,
};
use isobench_records::user::{ExecSpec, Measure};
use isobench_records::{parse_line, Digest, LineKind, Record, Workload};
use isobench_testkit::{record_skip, skip};

/// One environment at a time: the figures of a TCG guest are not disturbed
/// and no two tests build the same tree at once.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Skips the calling test unless it runs as root on a cgroup v1 host.
macro_rules! require_root {
    () => {{
        let host = HostFacts::probe();
        if !host.root || !host.cgroup_v1 {
            skip!(
                "the user's root filesystem needs root on cgroup v1 (root={}, cgroup v1={})",
                host.root,
                host.cgroup_v1
            );
        }
    }};
}

/// Skips the calling test when `kind` cannot run here, with detection's reason.
macro_rules! require_available {
    ($kind:expr, $options:expr) => {{
        let availability = isobench_environments::detect($kind, &HostFacts::probe(), $options);
        if !availability.available {
            isobench_testkit::assert_truly_unavailable($kind.name(), &availability.reason);
            skip!(
                "{} unavailable: {} (fix: {})",
                $kind,
                availability.reason,
                availability.fix
            );
        }
    }};
}

const ITERATIONS: u64 = 2;
const WARMUP: u64 = 1;

/// A tree of the user's: nearly empty (the prepared tree adds the agent,
/// which is the program), with a file and a link of its own.
struct Tree {
    tmp: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("rootfs");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("etc/os-release"), "ID=isobench-test\n").unwrap();
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        Tree { tmp }
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("rootfs")
    }

    /// Where the prepared trees of this test go.
    fn cache(&self) -> PathBuf {
        self.tmp.path().join("cache")
    }
}

fn agent() -> PathBuf {
    isobench_testkit::require_static_agent()
}

fn prepare_tree(cache: &Path, source: RootSource) -> UserRoot {
    user_root::ensure(
        cache,
        &UserRootSpec {
            source,
            mounts: vec![],
            agent: agent(),
        },
    )
    .unwrap()
}

fn payload(root: &UserRoot, assets: &Path) -> AgentPayload {
    AgentPayload {
        agent_binary: agent(),
        assets_dir: assets.to_path_buf(),
        extra_files: vec![],
        env: vec![],
        user_root: Some(root.reference()),
    }
}

fn exec_spec(argv: &[&str]) -> ExecSpec {
    ExecSpec {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: vec![],
        workdir: None,
        measure: Measure::Process,
        iterations: ITERATIONS,
        warmup: WARMUP,
    }
}

fn launch_spec(run_id: RunId, spec: &ExecSpec, timeout: Duration) -> LaunchSpec {
    LaunchSpec {
        invocation: isobench_environments::AgentInvocation::exec(spec.clone()),
        limits: Limits {
            vcpus: Some(1),
            memory_mib: Some(512),
            cpuset: None,
        },
        timeout,
        run_id,
        interactive: false,
        vsock: false,
        network: false,
    }
}

fn run_id(kind: EnvKind, n: u32) -> RunId {
    RunId::new(kind, RunLabel::Repetition(n))
}

/// What one run gave back.
struct Outcome {
    records: Vec<Record>,
    exit: ExitInfo,
    prepared: Prepared,
    /// The instance's last words when the records fell short.
    diagnostics: Option<String>,
}

/// Prepares `env` for `payload`, runs `spec` once and stops it.
fn run(
    env: &mut dyn Environment,
    payload: &AgentPayload,
    run_id: RunId,
    spec: &ExecSpec,
    timeout: Duration,
) -> Outcome {
    let prepared = env.prepare(payload).unwrap();
    let started = Instant::now();
    let mut instance = env.launch(&launch_spec(run_id, spec, timeout)).unwrap();
    let mut records = Vec::new();
    while let Some(line) = instance.next_line(timeout).unwrap() {
        match parse_line(&line) {
            Ok(LineKind::Record(record)) => records.push(record),
            Ok(LineKind::Noise) => {}
            Err(e) => panic!("bad record line from {}: {e}", env.kind()),
        }
    }
    let diagnostics = instance.diagnostics();
    let exit = instance.stop().unwrap();
    eprintln!(
        "{}: {} records in {:.2} s, exit {exit:?}, prepared {prepared:?}",
        env.kind(),
        records.len(),
        started.elapsed().as_secs_f64()
    );
    drop(instance);
    env.teardown().unwrap();
    Outcome {
        records,
        exit,
        prepared,
        diagnostics,
    }
}

/// The digest every environment must report: `/isobench-agent version`'s
/// output, run here.
fn version_digest() -> String {
    let out = Command::new(agent()).arg("version").output().unwrap();
    assert!(out.status.success());
    format!("exit 0, stdout {}", isobench_records::fnv1a64(&out.stdout))
}

/// The records of a successful `exec` of `/isobench-agent version`: ready,
/// the warm-up and measured invocations with the host's digest, a summary.
fn assert_exec_records(kind: EnvKind, outcome: &Outcome, pid1: bool) {
    let records = &outcome.records;
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| match r {
            Record::Ready(_) => "ready",
            Record::Iteration(_) => "iteration",
            Record::Summary(_) => "summary",
            Record::Error(_) => "error",
        })
        .collect();
    assert_eq!(
        kinds,
        ["ready", "iteration", "iteration", "iteration", "summary"],
        "{kind}: {records:?}; last words: {:?}",
        outcome.diagnostics
    );
    let digest = version_digest();
    for record in records {
        match record {
            Record::Ready(ready) => {
                assert_eq!(ready.workload, Workload::Command);
                assert_eq!(ready.pid1, pid1, "{kind}: agent as PID 1");
            }
            Record::Iteration(it) => {
                assert_eq!(
                    it.digest,
                    Digest::Checksum {
                        checksum: digest.clone()
                    },
                    "{kind}: the program's output differs from the host's"
                );
                assert!(it.inference_us > 0);
            }
            Record::Summary(summary) => {
                assert_eq!(summary.workload, Workload::Command);
                assert_eq!((summary.iterations, summary.warmup), (ITERATIONS, WARMUP));
            }
            Record::Error(e) => panic!("{kind}: {e:?}"),
        }
    }
    assert_eq!(outcome.exit.code, Some(0), "{kind}: {:?}", outcome.exit);
    assert!(!outcome.exit.killed, "{kind}: ended by itself");
}

/// Mount points at or below `dir` in this mount namespace.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&dir))
        .collect()
}

/// The tree's digest (what a run must not change).
fn digest_of(dir: &Path) -> String {
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    user_root::tree_digest(dir, &mut hasher).unwrap();
    hex::encode(hasher.finalize())
}

/// Nothing of run `id` left: no mounts under the tree, no cgroups, no
/// process naming it, the tree unchanged.
fn assert_nothing_left(root: &UserRoot, before: &str, id: RunId) {
    assert_eq!(mounts_under(&root.dir), Vec::<String>::new(), "mounts left");
    assert_eq!(
        run_cgroup_leftovers(&id.to_string()),
        Vec::<PathBuf>::new(),
        "cgroups left"
    );
    assert_eq!(
        processes_with(&id.to_string()),
        Vec::<i32>::new(),
        "processes left"
    );
    assert_eq!(digest_of(&root.dir), before, "the run wrote the tree");
}

/// PIDs of processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

fn options(tree: &Tree, native_cgroup: bool) -> EnvOptions {
    let work = tree.tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    EnvOptions {
        cache_dir: tree.cache(),
        work_dir: work,
        native_cgroup,
        ..EnvOptions::default()
    }
}

#[test]
fn native_chroots_into_the_tree() {
    require_root!();
    let _serial = serial();
    let tree = Tree::new();
    let root = prepare_tree(&tree.cache(), RootSource::Dir(tree.root()));
    let before = digest_of(&root.dir);
    let options = options(&tree, true);
    let mut env = isobench_environments::build(EnvKind::Native, &options).unwrap();
    let id = run_id(EnvKind::Native, 1);
    let outcome = run(
        env.as_mut(),
        &payload(&root, &tree.root()),
        id,
        &exec_spec(&["/isobench-agent", "version"]),
        Duration::from_secs(60),
    );
    assert_exec_records(EnvKind::Native, &outcome, false);
    assert_eq!(outcome.prepared.image_bytes, Some(root.bytes));
    isobench_testkit::exercised("native");
    assert_nothing_left(&root, &before, id);
}

/// A program the tree does not have fails with the agent's message, not a hang.
#[test]
fn native_names_a_program_missing_from_the_tree() {
    require_root!();
    let _serial = serial();
    let tree = Tree::new();
    let root = prepare_tree(&tree.cache(), RootSource::Dir(tree.root()));
    let options = options(&tree, false);
    let mut env = isobench_environments::build(EnvKind::Native, &options).unwrap();
    let outcome = run(
        env.as_mut(),
        &payload(&root, &tree.root()),
        run_id(EnvKind::Native, 2),
        &exec_spec(&["/usr/bin/python3", "-c", "1"]),
        Duration::from_secs(60),
    );
    let error = outcome
        .records
        .iter()
        .find_map(|r| match r {
            Record::Error(e) => Some(format!("{e:?}")),
            _ => None,
        })
        .expect("an error record");
    assert!(
        error.contains("was not found in the root filesystem"),
        "{error}"
    );
    assert_ne!(outcome.exit.code, Some(0));
    assert_eq!(mounts_under(&root.dir), Vec::<String>::new());
}

fn oci_runs_the_tree_as_its_root(kind: EnvKind, n: u32) {
    let tree = Tree::new();
    let options = options(&tree, false);
    require_available!(kind, &options);
    let root = prepare_tree(&tree.cache(), RootSource::Dir(tree.root()));
    let before = digest_of(&root.dir);
    let mut env = Oci::new(kind, &options).unwrap();
    let id = run_id(kind, n);
    let outcome = run(
        &mut env,
        &payload(&root, &tree.root()),
        id,
        &exec_spec(&["/isobench-agent", "version"]),
        Duration::from_secs(120),
    );
    assert_exec_records(kind, &outcome, false);
    assert_eq!(
        outcome.prepared.image_id.as_deref(),
        Some(root.dir.to_str().unwrap())
    );
    assert!(
        env.info()
            .notes
            .iter()
            .any(|n| n.contains("user's root filesystem")),
        "{:?}",
        env.info().notes
    );
    isobench_testkit::exercised(kind.name());
    assert!(
        !env.leftover_containers().contains(&container_name(&id)),
        "container left"
    );
    assert_nothing_left(&root, &before, id);
}

#[test]
fn oci_runc_runs_the_tree_as_its_root() {
    require_root!();
    let _serial = serial();
    oci_runs_the_tree_as_its_root(EnvKind::OciRunc, 1);
}

#[test]
fn oci_crun_runs_the_tree_as_its_root() {
    require_root!();
    let _serial = serial();
    oci_runs_the_tree_as_its_root(EnvKind::OciCrun, 1);
}

#[test]
fn oci_youki_runs_the_tree_as_its_root() {
    require_root!();
    let _serial = serial();
    oci_runs_the_tree_as_its_root(EnvKind::OciYouki, 1);
}

#[test]
fn gvisor_runs_the_tree_as_its_root() {
    require_root!();
    let _serial = serial();
    oci_runs_the_tree_as_its_root(EnvKind::Gvisor, 1);
}

/// Docker imports the tree as `isobench-cmd:<digest>` and runs it; the
/// image then comes back out as a tree (`--image`), which runs natively.
#[test]
fn docker_imports_the_tree_and_exports_an_image_back() {
    require_root!();
    let _serial = serial();
    let tree = Tree::new();
    let options = options(&tree, false);
    require_available!(EnvKind::Docker, &options);
    let root = prepare_tree(&tree.cache(), RootSource::Dir(tree.root()));
    let before = digest_of(&root.dir);
    let mut env = Docker::new(EnvKind::Docker, &options).unwrap();
    let id = run_id(EnvKind::Docker, 1);
    let outcome = run(
        &mut env,
        &payload(&root, &tree.root()),
        id,
        &exec_spec(&["/isobench-agent", "version"]),
        Duration::from_secs(120),
    );
    assert_exec_records(EnvKind::Docker, &outcome, false);
    let tag = format!("isobench-cmd:{}", root.short_digest());
    assert!(env.isobench_images().unwrap().contains(&tag), "{tag}");
    isobench_testkit::exercised("docker");
    assert!(
        !env.leftover_containers()
            .unwrap()
            .contains(&container_name(&id)),
        "container left"
    );
    assert_nothing_left(&root, &before, id);
    // Prepared again: the image is reused.
    let again = env.prepare(&payload(&root, &tree.root())).unwrap();
    assert!(again.cached, "{again:?}");

    // `--image`: the image as a tree, through the Engine API.
    let exported = export::export_image(&tree.cache(), &tag).unwrap();
    assert!(exported.join("isobench-agent").is_file());
    assert_eq!(
        std::fs::read_link(exported.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
    assert_eq!(
        std::fs::read_to_string(exported.join("etc/os-release")).unwrap(),
        "ID=isobench-test\n"
    );
    assert_eq!(
        export::export_image(&tree.cache(), &tag).unwrap(),
        exported,
        "exported once per image id"
    );
    assert!(
        !env.leftover_containers()
            .unwrap()
            .iter()
            .any(|c| c.contains(export::EXPORT_MARK)),
        "export container left"
    );
    let from_image = prepare_tree(&tree.cache(), RootSource::Image(tag.clone()));
    let mut native = isobench_environments::build(EnvKind::Native, &options).unwrap();
    let outcome = run(
        native.as_mut(),
        &payload(&from_image, &tree.root()),
        run_id(EnvKind::Native, 3),
        &exec_spec(&["/isobench-agent", "version"]),
        Duration::from_secs(60),
    );
    assert_exec_records(EnvKind::Native, &outcome, false);

    // The export container of a process that died mid-export goes with
    // `isobench clean` (no PID can be u32::MAX).
    let dead = format!(
        "isobench-{}{}0123456789abcdef",
        u32::MAX,
        export::EXPORT_MARK
    );
    let created = Command::new("docker")
        .args([
            "create",
            "--name",
            &dead,
            "--label",
            "org.isobench=1",
            &tag,
            "/x",
        ])
        .output();
    match created {
        Ok(out) if out.status.success() => {
            let swept = isobench_environments::docker::clean_leftovers(EnvKind::Docker, &options);
            assert!(
                swept.removed.iter().any(|r| r.contains(&dead)),
                "{:?}",
                swept.removed
            );
            assert!(!env.leftover_containers().unwrap().contains(&dead));
        }
        other => record_skip!("no docker CLI to leave a dead export container: {other:?}"),
    }

    let err = export::export_image(&tree.cache(), "isobench-no-such-image:0")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "--image isobench-no-such-image:0 is not in the local Docker daemon (docker images lists what is); build or load it first: no registry is reachable here"
    );
}

/// The tool's cache (the guest kernel and initramfs live there).
fn real_cache() -> PathBuf {
    isobench_assets::cache_dir()
}

fn qemu_runs_the_tree_from_its_drive(kind: EnvKind, n: u32, kernel: Option<PathBuf>) {
    let tree = Tree::new();
    let mut options = options(&tree, false);
    options.cache_dir = real_cache();
    options.kernel = kernel;
    require_available!(kind, &options);
    let root = prepare_tree(&tree.cache(), RootSource::Dir(tree.root()));
    let before = digest_of(&root.dir);
    let mut env = isobench_environments::qemu::Qemu::new(kind, &options).unwrap();
    let id = run_id(kind, n);
    let outcome = run(
        &mut env,
        &payload(&root, &tree.root()),
        id,
        &exec_spec(&["/isobench-agent", "version"]),
        Duration::from_secs(600),
    );
    assert_exec_records(kind, &outcome, true);
    let image_id = outcome.prepared.image_id.clone().unwrap_or_default();
    assert!(
        image_id.contains("root drive") && image_id.contains(".ext4"),
        "{image_id}"
    );
    isobench_testkit::exercised(kind.name());
    assert_nothing_left(&root, &before, id);
    let left: Vec<_> = std::fs::read_dir(&options.work_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in the work dir: {left:?}");
}

#[test]
fn qemu_microvm_runs_the_tree_from_a_read_only_drive() {
    require_root!();
    let _serial = serial();
    qemu_runs_the_tree_from_its_drive(EnvKind::QemuMicrovm, 1, None);
}

#[test]
fn qemu_q35_runs_the_tree_from_a_read_only_drive() {
    require_root!();
    let _serial = serial();
    qemu_runs_the_tree_from_its_drive(EnvKind::QemuQ35, 1, None);
}

/// isobench's microVM kernel (ext4 and virtio-blk built in; under microvm
/// the drive announced on the command line), from the cache or
/// `$ISOBENCH_MICROVM_KERNEL_CACHE`; one built before ext4 was added is
/// refused with the fix.
#[test]
fn qemu_microvm_with_the_microvm_kernel_runs_the_tree_or_names_the_fix() {
    require_root!();
    let _serial = serial();
    let cache = std::env::var_os("ISOBENCH_MICROVM_KERNEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(real_cache);
    let Some(kernel) = isobench_environments::vm::kernel::built_microvm_kernel(&cache) else {
        skip!(
            "no microVM kernel in {} (scripts/build-microvm-kernel.sh builds it)",
            cache.join("kernels").display()
        );
    };
    let config = std::fs::read_to_string(kernel.with_file_name("config")).unwrap_or_default();
    if config.contains("CONFIG_EXT4_FS=y") {
        // microvm: ACPI off, the drive on a transport the command line announces.
        qemu_runs_the_tree_from_its_drive(EnvKind::QemuMicrovm, 2, Some(kernel.clone()));
        // q35: the drive on PCI, the kernel booted through PVH.
        qemu_runs_the_tree_from_its_drive(EnvKind::QemuQ35, 2, Some(kernel));
        return;
    }
    let tree = Tree::new();
    let mut options = options(&tree, false);
    options.cache_dir = real_cache();
    options.kernel = Some(kernel.clone());
    let root = prepare_tree(&tree.cache(), RootSource::Dir(tree.root()));
    let mut env = isobench_environments::qemu::Qemu::new(EnvKind::QemuMicrovm, &options).unwrap();
    let err = env
        .prepare(&payload(&root, &tree.root()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot mount the root drive")
            && err.contains("CONFIG_EXT4_FS")
            && err.contains("scripts/build-microvm-kernel.sh"),
        "{err}"
    );
    record_skip!(
        "{} predates ext4 in the microVM kernel (refused with the fix); rebuild it with scripts/build-microvm-kernel.sh to run the tree there",
        kernel.display()
    );
}

/// A real Debian tree with Python and NumPy (debootstrap): `python3 -c
/// "import numpy"` through native, runc, gVisor, Docker and QEMU microvm,
/// the same output everywhere. Manual: large (the tree is copied into the
/// cache, imported into Docker, made an ext4 image), and slow under TCG.
#[test]
#[ignore = "manual: needs a Python tree (ISOBENCH_PYTHON_ROOTFS, default /work/rootfs-py)"]
fn python_tree_runs_numpy() {
    require_root!();
    let _serial = serial();
    let source = std::env::var_os("ISOBENCH_PYTHON_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/rootfs-py"));
    if !source.join("usr/bin/python3").exists() {
        skip!("no Python tree at {}", source.display());
    }
    let tree = Tree::new();
    let started = Instant::now();
    let root = prepare_tree(&tree.cache(), RootSource::Dir(source.clone()));
    eprintln!(
        "python tree: {} bytes prepared in {:.1} s",
        root.bytes,
        started.elapsed().as_secs_f64()
    );
    user_root::check_program(&root.dir, "python3", None).unwrap();
    let spec = exec_spec(&["python3", "-c", "import numpy; print(numpy.__version__)"]);
    let mut digests = Vec::new();
    for kind in [
        EnvKind::Native,
        EnvKind::OciRunc,
        EnvKind::Gvisor,
        EnvKind::Docker,
        EnvKind::QemuMicrovm,
    ] {
        let mut options = options(&tree, false);
        if kind == EnvKind::QemuMicrovm {
            options.cache_dir = real_cache();
        }
        let availability = isobench_environments::detect(kind, &HostFacts::probe(), &options);
        if !availability.available {
            isobench_testkit::assert_truly_unavailable(kind.name(), &availability.reason);
            record_skip!("{kind}: {}", availability.reason);
            continue;
        }
        let mut env = isobench_environments::build(kind, &options).unwrap();
        let started = Instant::now();
        let outcome = run(
            env.as_mut(),
            &payload(&root, &source),
            run_id(kind, 9),
            &spec,
            Duration::from_secs(900),
        );
        let iterations: Vec<(u64, String)> = outcome
            .records
            .iter()
            .filter_map(|r| match r {
                Record::Iteration(it) => Some((it.inference_us, format!("{:?}", it.digest))),
                _ => None,
            })
            .collect();
        eprintln!(
            "python/{kind}: {:.1} s, prepared {:?}, iterations (us, digest) {iterations:?}, last words {:?}",
            started.elapsed().as_secs_f64(),
            outcome.prepared,
            outcome.diagnostics
        );
        assert_eq!(iterations.len(), 3, "{kind}: {:?}", outcome.records);
        assert_eq!(outcome.exit.code, Some(0), "{kind}");
        digests.push(iterations[1].1.clone());
    }
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
}
