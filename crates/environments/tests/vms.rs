//! VM environments against the real things: Debian's cloud kernel and the
//! isobench initramfs booted by QEMU (TCG here, KVM on hardware hosts), and
//! the real Firecracker binary driven through its API.
//!
//! Run with `cargo test --release -p isobench-environments --test vms`.
//! Needs: qemu-system-x86_64 (apt-get install qemu-system-x86), apt access
//! for the kernel (first run), the static agent
//! (`isobench_testkit::require_static_agent`: `scripts/build.sh`, or
//! `ISOBENCH_AGENT_STATIC`), the cache's assets (`isobench setup`), and the
//! Firecracker binary in the cache's runtime dir or on PATH. What this host
//! cannot do (no /dev/kvm, no hardware KVM for a Linux guest, no root for
//! the jailer, no microVM kernel) is skipped through the test kit, so
//! `scripts/test.sh` lists why; every VM that ran the agent to its summary
//! is recorded as exercised.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use isobench_environments::firecracker::{
    self, Firecracker, FirecrackerVm, JailerConfig, VmConfig,
};
use isobench_environments::qemu::Qemu;
use isobench_environments::vm;
use isobench_environments::{
    AgentPayload, EnvError, EnvKind, EnvOptions, Environment, HostFacts, Instance, KvmKind,
    LaunchSpec, Limits, RunId, RunLabel,
};
use isobench_records::{parse_line, Digest, LineKind, Record};
use isobench_testkit::skip;

const KNN_ARGS: &[&str] = &[
    "run",
    "--workload",
    "knn",
    "--iterations",
    "2",
    "--warmup",
    "0",
];

/// The tool's cache directory (the one `isobench` uses).
fn cache_dir() -> PathBuf {
    isobench_assets::cache_dir()
}

/// The run id of this process's launch number `n` of `kind`: each test
/// uses its own `n`, so the markers of tests running at once differ.
fn rid(kind: EnvKind, n: u32) -> RunId {
    RunId::new(kind, RunLabel::Repetition(n))
}

/// The cache's asset directory (knn reads `data/digits.csv.gz`).
fn assets() -> PathBuf {
    let dir = cache_dir().join("assets");
    assert!(
        dir.join("data/digits.csv.gz").is_file(),
        "assets missing at {}: run `isobench setup` first",
        dir.display()
    );
    dir
}

fn payload() -> AgentPayload {
    AgentPayload {
        user_root: None,
        agent_binary: isobench_testkit::require_static_agent(),
        assets_dir: assets(),
        extra_files: vec![],
        env: vec![],
    }
}

fn options(work: &Path) -> EnvOptions {
    EnvOptions {
        cache_dir: cache_dir(),
        work_dir: work.to_path_buf(),
        ..EnvOptions::default()
    }
}

fn spec(run_id: RunId, assets_inside: &Path, timeout: Duration) -> LaunchSpec {
    let mut agent_args: Vec<String> = KNN_ARGS.iter().map(|s| s.to_string()).collect();
    agent_args.push("--assets".into());
    agent_args.push(assets_inside.display().to_string());
    LaunchSpec {
        invocation: isobench_environments::AgentInvocation::parse(&agent_args).unwrap(),
        limits: Limits {
            vcpus: Some(1),
            memory_mib: Some(1024),
            cpuset: None,
        },
        timeout,
        run_id,
        interactive: false,
        vsock: false,
        network: false,
    }
}

/// Reads every record until the stream ends.
fn records(instance: &mut dyn Instance) -> Result<(Vec<Record>, usize), EnvError> {
    let mut out = Vec::new();
    let mut noise = 0;
    while let Some(line) = instance.next_line(Duration::from_secs(600))? {
        match parse_line(&line) {
            Ok(LineKind::Record(r)) => out.push(r),
            Ok(LineKind::Noise) => noise += 1,
            Err(e) => panic!("bad record line: {e}"),
        }
    }
    Ok((out, noise))
}

/// The agent's records when run natively (the reference).
fn native_records(payload: &AgentPayload) -> Vec<Record> {
    let output = Command::new(&payload.agent_binary)
        .args(KNN_ARGS)
        .arg("--assets")
        .arg(&payload.assets_dir)
        .output()
        .expect("running the agent natively");
    assert!(
        output.status.success(),
        "native agent failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| match parse_line(l) {
            Ok(LineKind::Record(r)) => Some(r),
            _ => None,
        })
        .collect()
}

/// Same record sequence, predictions and accuracy as native; `pid1` set in the guest.
fn assert_same_as_native(vm: &[Record], native: &[Record]) {
    let kinds = |rs: &[Record]| {
        rs.iter()
            .map(|r| match r {
                Record::Ready(_) => "ready",
                Record::Iteration(_) => "iteration",
                Record::Summary(_) => "summary",
                Record::Error(_) => "error",
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(vm),
        kinds(native),
        "record sequence differs; guest records: {vm:?}"
    );
    assert_eq!(kinds(vm), ["ready", "iteration", "iteration", "summary"]);
    for (v, n) in vm.iter().zip(native) {
        match (v, n) {
            (Record::Ready(v), Record::Ready(n)) => {
                assert!(v.pid1 && !n.pid1, "guest agent must run as PID 1");
                assert_eq!(
                    (&v.workload, &v.engine, v.threads),
                    (&n.workload, &n.engine, n.threads)
                );
            }
            (Record::Iteration(v), Record::Iteration(n)) => {
                assert_eq!((v.index, v.warmup, &v.input), (n.index, n.warmup, &n.input));
                match (&v.digest, &n.digest) {
                    (
                        Digest::Labels {
                            samples: vs,
                            correct: vc,
                            predictions_hash: vh,
                        },
                        Digest::Labels {
                            samples: ns,
                            correct: nc,
                            predictions_hash: nh,
                        },
                    ) => {
                        assert_eq!(
                            (vs, vc, vh),
                            (ns, nc, nh),
                            "guest predictions differ from native"
                        );
                        assert!(*vs > 0);
                    }
                    other => panic!("knn digests must be labels: {other:?}"),
                }
            }
            (Record::Summary(v), Record::Summary(n)) => {
                assert_eq!(v.accuracy, n.accuracy);
                assert!(v.accuracy.unwrap() > 0.9, "knn accuracy {:?}", v.accuracy);
                assert_eq!(
                    (&v.model_sha256, &v.inputs_sha256, &v.agent_sha256),
                    (&n.model_sha256, &n.inputs_sha256, &n.agent_sha256)
                );
                assert_eq!((v.iterations, v.warmup), (2, 0));
            }
            other => panic!("unexpected pair {other:?}"),
        }
    }
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

/// Nothing of an instance left: no process naming `marker`, an empty work dir.
fn assert_nothing_left(marker: &str, work: &Path) {
    assert_eq!(
        processes_with(marker),
        Vec::<i32>::new(),
        "VMM processes left for {marker}"
    );
    let left: Vec<_> = std::fs::read_dir(work)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in the work dir: {left:?}");
}

fn qemu_runs_knn_like_native(kind: EnvKind, run_id: RunId) {
    let _notes = qemu_with_kernel_runs_knn_like_native(kind, run_id, None);
}

/// Runs knn in a fresh guest like native does; returns the environment's notes.
fn qemu_with_kernel_runs_knn_like_native(
    kind: EnvKind,
    run_id: RunId,
    kernel: Option<&Path>,
) -> Vec<String> {
    let work = tempfile::tempdir().unwrap();
    let payload = payload();
    let native = native_records(&payload);
    let mut options = options(work.path());
    options.kernel = kernel.map(Path::to_path_buf);
    let mut env =
        Qemu::new(kind, &options).expect("qemu-system-x86_64 (apt-get install qemu-system-x86)");
    let prepared = env.prepare(&payload).unwrap();
    let info = env.info();
    assert_eq!(info.emulated, info.accel.as_deref() == Some("tcg"));
    assert!(
        info.notes.iter().any(|n| n.contains("guest kernel")),
        "{:?}",
        info.notes
    );
    eprintln!("{kind}: {:?}; {:?}; {prepared:?}", info.accel, info.notes);
    let started = Instant::now();
    let mut instance = env
        .launch(&spec(
            run_id,
            &env.assets_path_inside(),
            Duration::from_secs(600),
        ))
        .unwrap();
    let (records, noise) = records(instance.as_mut()).unwrap();
    let exit = instance.stop().unwrap();
    eprintln!(
        "{kind}: {} records, {noise} noise lines, {:.2} s, exit {exit:?}",
        records.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(!exit.killed, "the guest must power off by itself");
    assert_same_as_native(&records, &native);
    isobench_testkit::exercised(kind.name());
    drop(instance);
    assert_nothing_left(&run_id.to_string(), work.path());
    info.notes
}

#[test]
fn qemu_microvm_runs_knn_like_native() {
    qemu_runs_knn_like_native(EnvKind::QemuMicrovm, rid(EnvKind::QemuMicrovm, 1));
}

#[test]
fn qemu_q35_runs_knn_like_native() {
    qemu_runs_knn_like_native(EnvKind::QemuQ35, rid(EnvKind::QemuQ35, 1));
}

/// The kernel `scripts/build-microvm-kernel.sh` built (scripts/test.sh
/// builds it), or a skip of the calling test when the cache has none.
macro_rules! require_microvm_kernel {
    () => {
        match vm::kernel::built_microvm_kernel(&cache_dir()) {
            Some(kernel) => kernel,
            None => skip!(
                "no microVM kernel in {} (scripts/build-microvm-kernel.sh builds it)",
                cache_dir().join("kernels").display()
            ),
        }
    };
}

/// isobench's microVM kernel (everything built in, no modules) under
/// microvm: ACPI off and the devices on the kernel command line, as under
/// Firecracker; the agent ends the machine with a reset.
#[test]
fn qemu_microvm_with_the_microvm_kernel_runs_knn_like_native() {
    let kernel = require_microvm_kernel!();
    let notes = qemu_with_kernel_runs_knn_like_native(
        EnvKind::QemuMicrovm,
        rid(EnvKind::QemuMicrovm, 2),
        Some(&kernel),
    )
    .join("; ");
    assert!(notes.contains("acpi=off"), "{notes}");
    assert!(
        notes.contains("seen (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y"),
        "{notes}"
    );
}

/// The same kernel booted by q35 through its PVH entry (ACPI, PCI).
#[test]
fn qemu_q35_with_the_microvm_kernel_runs_knn_like_native() {
    let kernel = require_microvm_kernel!();
    qemu_with_kernel_runs_knn_like_native(
        EnvKind::QemuQ35,
        rid(EnvKind::QemuQ35, 2),
        Some(&kernel),
    );
}

#[test]
fn qemu_timeout_kills_the_vm_and_removes_its_sockets() {
    let work = tempfile::tempdir().unwrap();
    let mut env = Qemu::new(EnvKind::QemuMicrovm, &options(work.path())).unwrap();
    env.prepare(&payload()).unwrap();
    // Far less than a boot takes, even under KVM plus 2 knn iterations' start-up.
    let timeout = Duration::from_millis(300);
    let run_id = rid(EnvKind::QemuMicrovm, 3);
    let mut instance = env
        .launch(&spec(run_id, &env.assets_path_inside(), timeout))
        .unwrap();
    let error = loop {
        match instance.next_line(Duration::from_secs(60)) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the guest ended before the timeout"),
            Err(e) => break e,
        }
    };
    assert!(matches!(error, EnvError::RunDeadline { .. }), "{error}");
    assert!(error.to_string().contains("--timeout"), "{error}");
    // Killed and cleaned by the deadline itself, before stop/drop.
    assert_nothing_left(&run_id.to_string(), work.path());
    let exit = instance.stop().unwrap();
    assert!(exit.killed);
}

#[test]
fn qemu_bad_kernel_fails_clearly_and_leaves_nothing() {
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let bogus = files.path().join("not-a-kernel");
    std::fs::write(&bogus, vec![0x5a; 4096]).unwrap();
    let mut opts = options(work.path());
    opts.kernel = Some(bogus.clone());
    let mut env = Qemu::new(EnvKind::QemuMicrovm, &opts).unwrap();
    env.prepare(&payload()).unwrap();
    let started = Instant::now();
    let run_id = rid(EnvKind::QemuMicrovm, 4);
    let error = match env.launch(&spec(
        run_id,
        &env.assets_path_inside(),
        Duration::from_secs(60),
    )) {
        Ok(mut instance) => {
            // Some QEMU versions accept the file and fail later: the stream must end.
            let (records, _) = records(instance.as_mut()).unwrap_or_default();
            assert!(records.is_empty());
            instance.stop().unwrap();
            None
        }
        Err(e) => Some(e),
    };
    let error = error.expect("QEMU must refuse a kernel that is not one");
    eprintln!(
        "bad kernel: {error} ({:.2} s)",
        started.elapsed().as_secs_f64()
    );
    assert!(matches!(error, EnvError::Vmm { .. }), "{error}");
    assert!(error.to_string().contains("exited at start"), "{error}");
    assert_nothing_left(&run_id.to_string(), work.path());
}

/// The Firecracker binary (cache runtime dir or PATH); the test fails when
/// absent, since `isobench setup` installs it.
fn firecracker_binary() -> PathBuf {
    firecracker::find_binary(None, &cache_dir())
        .expect("firecracker not found: run `isobench setup` or put firecracker on PATH")
}

fn host_kvm() -> KvmKind {
    HostFacts::probe().kvm
}

/// Skips the calling test when there is no /dev/kvm: Firecracker cannot
/// start any guest, not even the tiny PVH one.
macro_rules! require_dev_kvm {
    () => {
        if !Path::new("/dev/kvm").exists() {
            skip!(
                "{} (Firecracker cannot start any guest)",
                host_kvm().explain()
            );
        }
    };
}

/// Skips the calling test unless the host has hardware KVM: Firecracker
/// boots its Linux guest with nothing else (on kvm-pvm it refuses it).
macro_rules! require_hardware_kvm {
    () => {
        let kvm = host_kvm();
        if !kvm.can_boot_linux() {
            skip!("{}", kvm.explain());
        }
    };
}

/// Skips the calling test unless it runs as root: the jailer makes device
/// nodes, a chroot and cgroups.
macro_rules! require_root_for_the_jailer {
    () => {
        if !HostFacts::probe().root {
            skip!(
                "the jailer needs root (device nodes, a chroot and cgroups); not running as root"
            );
        }
    };
}

#[test]
fn firecracker_api_configuration_round_trips() {
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let kernel = files.path().join("kernel.elf");
    std::fs::write(&kernel, vm::pvh::test_guest("unused")).unwrap();
    let initrd = files.path().join("initrd");
    std::fs::write(&initrd, b"070701").unwrap();
    let mut fc = FirecrackerVm::spawn(
        &firecracker_binary(),
        work.path(),
        &rid(EnvKind::Firecracker, 1).to_string(),
        Duration::from_secs(30),
        Duration::from_secs(5),
    )
    .unwrap();
    let vsock = fc.work_path().join("vsock.sock");
    let config = VmConfig {
        kernel: kernel.clone(),
        initrd: Some(initrd.clone()),
        boot_args: "console=ttyS0 reboot=k panic=1 pci=off -- run --workload knn".into(),
        vcpus: 2,
        mem_mib: 256,
        vsock: Some((7, vsock.clone())),
    };
    fc.configure(&config).unwrap();
    fc.api
        .put_drive(&firecracker::api::Drive {
            drive_id: "scratch".into(),
            path_on_host: initrd.clone(),
            is_root_device: false,
            is_read_only: true,
            partuuid: None,
            cache_type: None,
            io_engine: None,
            rate_limiter: None,
            socket: None,
        })
        .unwrap();
    // Parsed with deny_unknown_fields: Firecracker's whole answer is understood.
    let got = fc.vm_config().unwrap();
    let boot = got.boot_source.expect("boot source");
    assert_eq!(boot.kernel_image_path, kernel);
    assert_eq!(boot.initrd_path.as_deref(), Some(initrd.as_path()));
    assert_eq!(boot.boot_args.as_deref(), Some(config.boot_args.as_str()));
    let machine = got.machine_config.expect("machine config");
    assert_eq!((machine.vcpu_count, machine.mem_size_mib), (2, 256));
    let device = got.vsock.expect("vsock");
    assert_eq!((device.guest_cid, device.uds_path), (7, vsock.clone()));
    assert_eq!(got.drives.len(), 1);
    assert_eq!(got.drives[0].path_on_host, initrd);
    assert!(got.drives[0].is_read_only);
    assert_eq!(fc.vsock_socket(), Some(vsock.as_path()));
    let exit = fc.stop().unwrap();
    assert!(exit.killed, "an idle Firecracker is killed on stop");
    assert_nothing_left(&rid(EnvKind::Firecracker, 1).to_string(), work.path());
}

#[test]
fn firecracker_bad_kernel_path_fails_clearly_and_leaves_nothing() {
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut fc = FirecrackerVm::spawn(
        &firecracker_binary(),
        work.path(),
        &rid(EnvKind::Firecracker, 2).to_string(),
        Duration::from_secs(30),
        Duration::from_secs(5),
    )
    .unwrap();
    let missing = work.path().join("no-such-vmlinux");
    let error = fc
        .configure(&VmConfig {
            kernel: missing.clone(),
            initrd: None,
            boot_args: "console=ttyS0".into(),
            vcpus: 1,
            mem_mib: 128,
            vsock: None,
        })
        .unwrap_err();
    fc.stop().unwrap();
    let message = error.to_string();
    eprintln!(
        "bad kernel path: {message} ({:.2} s)",
        started.elapsed().as_secs_f64()
    );
    assert!(
        message.contains("/boot-source") && message.contains("400"),
        "{message}"
    );
    drop(fc);
    assert_nothing_left(&rid(EnvKind::Firecracker, 2).to_string(), work.path());

    // Through the environment: a missing --kernel is refused at prepare.
    let mut opts = options(work.path());
    opts.kernel = Some(missing);
    let mut env = Firecracker::new(&opts).unwrap();
    let error = env.prepare(&payload()).unwrap_err();
    assert!(
        matches!(error, EnvError::MissingFile { .. }) && error.to_string().contains("--kernel"),
        "{error}"
    );
}

#[test]
fn firecracker_refuses_linux_guest_without_hardware_kvm_at_once() {
    let work = tempfile::tempdir().unwrap();
    let kvm = match host_kvm() {
        KvmKind::Hardware => KvmKind::Pvm, // simulate the kvm-pvm host
        other => other,
    };
    let mut env = Firecracker::new(&options(work.path()))
        .unwrap()
        .with_kvm(kvm);
    // prepare works on any host: it fetches the kernel and extracts its ELF vmlinux.
    env.prepare(&payload()).unwrap();
    let info = env.info();
    assert!(
        info.notes
            .iter()
            .any(|n| n.contains("cannot boot Linux here")),
        "{:?}",
        info.notes
    );
    let started = Instant::now();
    let error = match env.launch(&spec(
        rid(EnvKind::Firecracker, 5),
        &env.assets_path_inside(),
        Duration::from_secs(300),
    )) {
        Ok(_) => panic!("a Linux guest must not be started without hardware KVM"),
        Err(e) => e,
    };
    eprintln!("refusal after {:?}: {error}", started.elapsed());
    assert!(matches!(error, EnvError::Unavailable { .. }), "{error}");
    if kvm == KvmKind::Pvm {
        assert!(error.to_string().contains("/dev/kvm is kvm-pvm"), "{error}");
    }
    assert_nothing_left(&rid(EnvKind::Firecracker, 5).to_string(), work.path());
}

#[test]
fn firecracker_vmlinux_is_a_whole_elf_with_the_pvh_note() {
    let kernel = vm::kernel::resolve(&cache_dir(), None).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let vmlinux = kernel.vmlinux(scratch.path()).unwrap();
    let bytes = std::fs::read(&vmlinux).unwrap();
    vm::kernel::check_elf(&bytes).unwrap();
    // Xen notes (PVH entry among them) are what Firecracker looks for.
    assert!(
        bytes.windows(4).any(|w| w == b"Xen\0"),
        "no Xen ELF note in {}",
        vmlinux.display()
    );
    assert!(kernel.describe().contains("VIRTIO_MMIO_CMDLINE_DEVICES"));
}

#[test]
fn firecracker_guest_start_and_stop_life_cycle() {
    require_dev_kvm!();
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let kernel = files.path().join("pvh-guest.elf");
    std::fs::write(&kernel, vm::pvh::test_guest("isobench-pvh-guest-ok")).unwrap();
    let mut fc = FirecrackerVm::spawn(
        &firecracker_binary(),
        work.path(),
        &rid(EnvKind::Firecracker, 3).to_string(),
        Duration::from_secs(30),
        Duration::from_secs(5),
    )
    .unwrap();
    let vsock = fc.work_path().join("vsock.sock");
    fc.configure(&VmConfig {
        kernel,
        initrd: None,
        boot_args: "console=ttyS0".into(),
        vcpus: 1,
        mem_mib: 128,
        vsock: Some((3, vsock)),
    })
    .unwrap();
    let start = fc.start().unwrap();
    let mut seen = None;
    while let Some(line) = fc.vmm.next_line(Duration::from_secs(30)).unwrap() {
        if line.contains("isobench-pvh-guest-ok") {
            seen = Some(start.elapsed());
        }
    }
    let exit = fc.stop().unwrap();
    eprintln!(
        "PVH guest line after {seen:?} from InstanceStart; exit {exit:?}; boot timer {:?}",
        fc.boot_timer_line()
    );
    assert!(seen.is_some(), "the guest's console line never arrived");
    assert!(
        !exit.killed,
        "the guest's reset must end Firecracker by itself"
    );
    assert_eq!(
        exit.code,
        Some(0),
        "{exit:?}, firecracker stderr: {}",
        fc.vmm.child.stderr.last_line()
    );
    drop(fc);
    assert_nothing_left(&rid(EnvKind::Firecracker, 3).to_string(), work.path());
}

/// Firecracker's real vsock muxer with a guest that has no vsock driver:
/// the host side connects to the device's Unix socket, Firecracker takes
/// the `CONNECT <port>` line, nobody in the guest answers, and the client
/// gives up with a message naming the port and socket instead of hanging.
/// The socket goes with the VM.
#[test]
fn firecracker_vsock_socket_refuses_when_the_guest_does_not_listen() {
    use isobench_environments::vsock::{self, VsockEndpoint};
    require_dev_kvm!();
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let kernel = files.path().join("pvh-idle.elf");
    std::fs::write(&kernel, vm::pvh::idle_test_guest("isobench-pvh-idle")).unwrap();
    let mut fc = FirecrackerVm::spawn(
        &firecracker_binary(),
        work.path(),
        &rid(EnvKind::Firecracker, 4).to_string(),
        Duration::from_secs(60),
        Duration::from_secs(5),
    )
    .unwrap();
    let uds = fc.work_path().join("vsock.sock");
    fc.configure(&VmConfig {
        kernel,
        initrd: None,
        boot_args: "console=ttyS0".into(),
        vcpus: 1,
        mem_mib: 128,
        vsock: Some((3, uds.clone())),
    })
    .unwrap();
    fc.start().unwrap();
    let line = fc.vmm.next_line(Duration::from_secs(20)).unwrap();
    assert!(
        line.as_deref().unwrap_or("").contains("isobench-pvh-idle"),
        "{line:?}"
    );
    assert!(uds.exists(), "Firecracker did not create {}", uds.display());
    let started = Instant::now();
    let error = vsock::connect(
        &VsockEndpoint::Hybrid(uds.clone()),
        7070,
        Duration::from_secs(3),
    )
    .expect_err("a guest without a vsock driver cannot accept");
    let message = error.to_string();
    eprintln!(
        "vsock refusal after {:.2} s: {message}",
        started.elapsed().as_secs_f64()
    );
    assert!(message.contains("guest port 7070"), "{message}");
    assert!(message.contains("vsock.sock"), "{message}");
    assert!(message.contains("CONNECT 7070"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(30), "connect hung");
    assert!(
        fc.vmm.child.try_exit().is_none(),
        "Firecracker died on the connection: {}",
        fc.vmm.child.stderr.last_line()
    );
    fc.stop().unwrap();
    assert!(!uds.exists(), "{} left behind", uds.display());
    drop(fc);
    assert_nothing_left(&rid(EnvKind::Firecracker, 4).to_string(), work.path());
}

#[test]
fn firecracker_runs_knn_like_native_on_hardware_kvm() {
    require_hardware_kvm!();
    let work = tempfile::tempdir().unwrap();
    let payload = payload();
    let native = native_records(&payload);
    let mut env = Firecracker::new(&options(work.path())).unwrap();
    env.prepare(&payload).unwrap();
    let mut instance = env
        .launch(&spec(
            rid(EnvKind::Firecracker, 6),
            &env.assets_path_inside(),
            Duration::from_secs(120),
        ))
        .unwrap();
    assert!(instance.guest_started_at().is_some());
    let (records, _) = records(instance.as_mut()).unwrap();
    instance.stop().unwrap();
    assert_same_as_native(&records, &native);
    isobench_testkit::exercised(EnvKind::Firecracker.name());
    drop(instance);
    assert_nothing_left(&rid(EnvKind::Firecracker, 6).to_string(), work.path());
}

/// The jailer (cache runtime dir, next to firecracker, PATH); the test
/// fails when absent, since `isobench setup` installs it.
fn jailer_binary() -> PathBuf {
    firecracker::find_jailer(&cache_dir(), &firecracker_binary())
        .expect("jailer not found: run `isobench setup` (installs it next to firecracker)")
}

/// A jail with cgroup settings (1 CPU of quota, pinned to CPU 0), so that
/// the jailer's cgroups are made and must be removed.
fn jail_config() -> JailerConfig {
    JailerConfig::new(&jailer_binary()).with_limits(&Limits {
        vcpus: Some(1),
        memory_mib: None,
        cpuset: Some("0".into()),
    })
}

/// While running: Firecracker is the copy in the chroot, exec'd by the
/// jailer with the id, and sits in its cgroups with the settings applied.
fn assert_jailed(fc: &FirecrackerVm, run_id: &str) -> (PathBuf, Vec<PathBuf>) {
    let chroot = fc
        .chroot()
        .expect("spawned through the jailer")
        .to_path_buf();
    assert!(chroot.ends_with(format!("jail/firecracker/{run_id}/root")));
    for made in ["firecracker", "run/firecracker.socket", "dev/kvm"] {
        assert!(
            chroot.join(made).exists(),
            "no {made} in {}",
            chroot.display()
        );
    }
    let pid = fc.vmm.child.pid();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    assert_eq!(
        args[..3],
        ["/firecracker", "--id", run_id],
        "the jailer must exec the chroot's copy of Firecracker: {args:?}"
    );
    let groups = fc.jail_cgroups().to_vec();
    let read = |p: PathBuf| std::fs::read_to_string(&p).unwrap().trim().to_string();
    let cpu = groups
        .iter()
        .find(|g| g.join("cpu.cfs_quota_us").exists())
        .expect("a cpu cgroup");
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "100000");
    let cpuset = groups
        .iter()
        .find(|g| g.join("cpuset.cpus").exists())
        .expect("a cpuset cgroup");
    assert_eq!(read(cpuset.join("cpuset.cpus")), "0");
    for group in &groups {
        let tasks = read(group.join("tasks"));
        assert!(
            tasks.lines().any(|t| t == pid.to_string()),
            "Firecracker ({pid}) is not in {}: {tasks}",
            group.display()
        );
    }
    (chroot, groups)
}

/// After stop: no jailer / Firecracker process, empty work dir (so no
/// chroot), and no cgroup of this id in any cgroup v1 hierarchy.
fn assert_jail_gone(run_id: &str, work: &Path, chroot: &Path, groups: &[PathBuf]) {
    let id = run_id;
    assert_nothing_left(id, work);
    assert!(!chroot.exists(), "chroot left: {}", chroot.display());
    let mut left: Vec<PathBuf> = groups.iter().filter(|g| g.exists()).cloned().collect();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for parent in ["isobench", "firecracker"] {
            let group = hierarchy.path().join(parent).join(id);
            if group.exists() {
                left.push(group);
            }
        }
    }
    assert!(left.is_empty(), "jailer cgroups left: {left:?}");
}

#[test]
fn firecracker_jailer_api_configuration_round_trips() {
    require_root_for_the_jailer!();
    let run_id = &rid(EnvKind::Firecracker, 7).to_string();
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let kernel = files.path().join("kernel.elf");
    std::fs::write(&kernel, vm::pvh::test_guest("unused")).unwrap();
    let initrd = files.path().join("initrd.cpio");
    std::fs::write(&initrd, b"070701").unwrap();
    let mut fc = FirecrackerVm::spawn_jailed(
        &firecracker_binary(),
        &jail_config(),
        work.path(),
        run_id,
        Duration::from_secs(30),
        Duration::from_secs(5),
        false,
    )
    .unwrap();
    let (chroot, groups) = assert_jailed(&fc, run_id);
    assert_eq!(groups.len(), 2, "cpu and cpuset groups: {groups:?}");

    // A socket outside the chroot cannot be reached by the jailed VMM: refused clearly.
    let mut config = VmConfig {
        kernel: kernel.clone(),
        initrd: Some(initrd.clone()),
        boot_args: "console=ttyS0 reboot=k panic=1 pci=off -- run --workload knn".into(),
        vcpus: 2,
        mem_mib: 256,
        vsock: Some((7, fc.work_path().join("vsock.sock"))),
    };
    let error = fc.configure(&config).unwrap_err().to_string();
    assert!(error.contains("outside the jail's chroot"), "{error}");

    config.vsock = Some((7, fc.socket_dir().join("vsock.sock")));
    fc.configure(&config).unwrap();
    let got = fc.vm_config().unwrap();
    let boot = got.boot_source.expect("boot source");
    assert_eq!(boot.kernel_image_path, Path::new("/vmlinux"));
    assert_eq!(boot.initrd_path.as_deref(), Some(Path::new("/initrd")));
    assert_eq!(boot.boot_args.as_deref(), Some(config.boot_args.as_str()));
    let machine = got.machine_config.expect("machine config");
    assert_eq!((machine.vcpu_count, machine.mem_size_mib), (2, 256));
    let device = got.vsock.expect("vsock");
    assert_eq!(device.guest_cid, 7);
    assert_eq!(device.uds_path, Path::new("/vsock.sock"));
    // What the VMM sees in its chroot is what was given.
    assert_eq!(
        std::fs::read(chroot.join("vmlinux")).unwrap(),
        std::fs::read(&kernel).unwrap()
    );
    assert_eq!(std::fs::read(chroot.join("initrd")).unwrap(), b"070701");

    let exit = fc.stop().unwrap();
    assert!(exit.killed, "an idle Firecracker is killed on stop");
    assert!(kernel.is_file() && initrd.is_file(), "the originals stay");
    drop(fc);
    assert_jail_gone(run_id, work.path(), &chroot, &groups);
}

#[test]
fn firecracker_jailer_guest_start_and_stop_life_cycle() {
    require_dev_kvm!();
    require_root_for_the_jailer!();
    let run_id = &rid(EnvKind::Firecracker, 8).to_string();
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let kernel = files.path().join("pvh-guest.elf");
    std::fs::write(&kernel, vm::pvh::test_guest("isobench-jailed-pvh-guest-ok")).unwrap();
    let mut fc = FirecrackerVm::spawn_jailed(
        &firecracker_binary(),
        &jail_config(),
        work.path(),
        run_id,
        Duration::from_secs(30),
        Duration::from_secs(5),
        false,
    )
    .unwrap();
    let (chroot, groups) = assert_jailed(&fc, run_id);
    let vsock = fc.socket_dir().join("vsock.sock");
    fc.configure(&VmConfig {
        kernel,
        initrd: None,
        boot_args: "console=ttyS0".into(),
        vcpus: 1,
        mem_mib: 128,
        vsock: Some((3, vsock)),
    })
    .unwrap();
    let start = fc.start().unwrap();
    let mut seen = None;
    while let Some(line) = fc.vmm.next_line(Duration::from_secs(30)).unwrap() {
        if line.contains("isobench-jailed-pvh-guest-ok") {
            seen = Some(start.elapsed());
        }
    }
    let exit = fc.stop().unwrap();
    eprintln!(
        "jailed PVH guest line after {seen:?} from InstanceStart; exit {exit:?}; boot timer {:?}",
        fc.boot_timer_line()
    );
    assert!(seen.is_some(), "the guest's console line never arrived");
    assert!(
        !exit.killed,
        "the guest's reset must end the jailed Firecracker by itself"
    );
    assert_eq!(
        exit.code,
        Some(0),
        "{exit:?}, stderr: {}",
        fc.vmm.child.stderr.last_line()
    );
    drop(fc);
    assert_jail_gone(run_id, work.path(), &chroot, &groups);
}

#[test]
fn firecracker_jailer_failing_at_start_fails_clearly_and_leaves_nothing() {
    require_root_for_the_jailer!();
    let run_id = &rid(EnvKind::Firecracker, 9).to_string();
    let work = tempfile::tempdir().unwrap();
    let mut config = jail_config();
    // The jailer makes the group, then cannot write this file and exits.
    config
        .cgroups
        .push(("cpu.no_such_setting".into(), "1".into()));
    let started = Instant::now();
    let error = match FirecrackerVm::spawn_jailed(
        &firecracker_binary(),
        &config,
        work.path(),
        run_id,
        Duration::from_secs(30),
        Duration::from_secs(5),
        false,
    ) {
        Ok(_) => panic!("the jailer must refuse a cgroup file that does not exist"),
        Err(e) => e,
    };
    let message = error.to_string();
    eprintln!(
        "jailer failure: {message} ({:.2} s)",
        started.elapsed().as_secs_f64()
    );
    assert!(message.contains("exited at start"), "{message}");
    assert!(message.contains("cpu.no_such_setting"), "{message}");
    let chroot = work.path().join("never-inspected");
    let groups: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| h.path().join("isobench").join(run_id))
        .collect();
    assert_jail_gone(run_id, work.path(), &chroot, &groups);
}

#[test]
fn firecracker_env_with_jailer_notes_it_and_still_refuses_linux_without_hardware_kvm() {
    require_root_for_the_jailer!();
    let work = tempfile::tempdir().unwrap();
    let mut opts = options(work.path());
    opts.jailer = true;
    let kvm = match host_kvm() {
        KvmKind::Hardware => KvmKind::Pvm, // simulate the kvm-pvm host
        other => other,
    };
    let mut env = Firecracker::new(&opts).unwrap().with_kvm(kvm);
    let notes = env.info().notes;
    let jailer = notes
        .iter()
        .find(|n| n.starts_with("jailer: "))
        .unwrap_or_else(|| panic!("no jailer note in {notes:?}"));
    assert!(
        jailer.contains("Jailer v")
            && jailer.contains("chroot ")
            && jailer.contains("uid 0 gid 0, cgroup v1"),
        "{jailer}"
    );
    env.prepare(&payload()).unwrap();
    let error = match env.launch(&spec(
        rid(EnvKind::Firecracker, 10),
        &env.assets_path_inside(),
        Duration::from_secs(300),
    )) {
        Ok(_) => panic!("a Linux guest must not be started without hardware KVM"),
        Err(e) => e,
    };
    assert!(matches!(error, EnvError::Unavailable { .. }), "{error}");
    assert_nothing_left(&rid(EnvKind::Firecracker, 10).to_string(), work.path());
}

#[test]
fn firecracker_runs_knn_like_native_through_the_jailer_on_hardware_kvm() {
    require_hardware_kvm!();
    require_root_for_the_jailer!();
    let work = tempfile::tempdir().unwrap();
    let payload = payload();
    let native = native_records(&payload);
    let mut opts = options(work.path());
    opts.jailer = true;
    let mut env = Firecracker::new(&opts).unwrap();
    env.prepare(&payload).unwrap();
    let mut instance = env
        .launch(&spec(
            rid(EnvKind::Firecracker, 11),
            &env.assets_path_inside(),
            Duration::from_secs(120),
        ))
        .unwrap();
    let (records, _) = records(instance.as_mut()).unwrap();
    instance.stop().unwrap();
    assert_same_as_native(&records, &native);
    isobench_testkit::exercised(EnvKind::Firecracker.name());
    drop(instance);
    let groups: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|h| {
            h.path()
                .join("isobench")
                .join(rid(EnvKind::Firecracker, 11).to_string())
        })
        .collect();
    assert_jail_gone(
        &rid(EnvKind::Firecracker, 11).to_string(),
        work.path(),
        &work.path().join("never-inspected"),
        &groups,
    );
}
