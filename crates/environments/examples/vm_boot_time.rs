//! Boot-time benchmark for the VM environments: spawn (launch) to the
//! guest's first agent record, min / median / max over N boots, for each VM
//! type with the accelerator this host offers. Prints figures, asserts nothing.
//!
//! ```text
//! cargo run --release -p isobench-environments --example vm_boot_time -- \
//!     [--boots 10] [--agent PATH] [--assets DIR] [--env qemu-microvm,qemu-q35,firecracker]
//!     [--kernel FILE | --kernel microvm] [--verbose]
//! ```
//!
//! `--kernel microvm` boots the kernel `scripts/build-microvm-kernel.sh` built.
//!
//! Defaults: agent `isobench_testkit::static_agent()` (`$ISOBENCH_AGENT_STATIC`
//! or `target/x86_64-unknown-linux-gnu/release/isobench-agent`), assets
//! `$ISOBENCH_CACHE/assets`. The guest runs `knn` with one iteration and no
//! warm-up; only the time to its first record (`ready`) is reported.
//!
//! What this host cannot boot is reported through the test kit's skips
//! (`$ISOBENCH_SKIP_LOG`), and each environment whose guest ran the agent
//! to its summary through its exercised environments
//! (`$ISOBENCH_EXERCISED_LOG`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use isobench_environments::firecracker::{self, FirecrackerVm, VmConfig};
use isobench_environments::process::ChildProcess;
use isobench_environments::{
    registry, AgentPayload, EnvKind, EnvOptions, HostFacts, LaunchSpec, Limits, RunId, RunLabel,
};
use isobench_records::{parse_line, LineKind, Record};
use isobench_testkit::record_skip;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let boots: usize = arg(&args, "--boots")
        .map(|b| b.parse().expect("--boots N"))
        .unwrap_or(10);
    let verbose = args.iter().any(|a| a == "--verbose");
    let cache = isobench_assets::cache_dir();
    let agent = arg(&args, "--agent")
        .map(PathBuf::from)
        .unwrap_or_else(isobench_testkit::require_static_agent);
    let assets = arg(&args, "--assets")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("assets"));
    let envs = arg(&args, "--env").unwrap_or_else(|| "qemu-microvm,qemu-q35,firecracker".into());
    let agent_args: Vec<String> = arg(&args, "--agent-args")
        .unwrap_or_else(|| "run --workload knn --iterations 1 --warmup 0 --assets /assets".into())
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let kernel = arg(&args, "--kernel").map(|k| {
        if k == "microvm" {
            isobench_environments::vm::kernel::built_microvm_kernel(&cache)
                .expect("no microVM kernel in the cache: run scripts/build-microvm-kernel.sh")
        } else {
            PathBuf::from(k)
        }
    });
    let host = HostFacts::probe();
    let work = tempfile::tempdir().expect("temp dir");
    println!("host KVM: {:?} ({})", host.kvm, host.kvm.explain());
    println!(
        "agent {}\nassets {}\nboots per environment: {boots}\n",
        agent.display(),
        assets.display()
    );
    for name in envs.split(',') {
        let kind: EnvKind = name.parse().expect("environment name");
        let options = EnvOptions {
            cache_dir: cache.clone(),
            work_dir: work.path().to_path_buf(),
            kernel: kernel.clone(),
            ..EnvOptions::default()
        };
        let availability = registry::detect(kind, &host, &options);
        if !availability.available {
            record_skip!(
                "{name} not booted: {} (fix: {})",
                availability.reason,
                availability.fix
            );
            continue;
        }
        let mut env = match registry::build(kind, &options) {
            Ok(env) => env,
            Err(e) => {
                record_skip!("{name} not booted: {e}");
                continue;
            }
        };
        let payload = AgentPayload {
            user_root: None,
            agent_binary: agent.clone(),
            assets_dir: assets.clone(),
            extra_files: vec![],
            env: vec![],
        };
        if let Err(e) = env.prepare(&payload) {
            println!("{name}: prepare failed: {e}");
            continue;
        }
        let info = env.info();
        let mut to_record = Vec::new();
        let mut from_start = Vec::new();
        let mut agent_ready = Vec::new();
        let mut completed = false;
        for boot in 0..boots {
            let spec = LaunchSpec {
                invocation: isobench_environments::AgentInvocation::parse(&agent_args)
                    .unwrap_or_else(|e| panic!("--agent-args {agent_args:?}: {e}")),
                limits: Limits {
                    vcpus: Some(1),
                    memory_mib: Some(1024),
                    cpuset: None,
                },
                timeout: Duration::from_secs(300),
                run_id: RunId::new(kind, RunLabel::Repetition(boot as u32)),
                interactive: false,
                vsock: false,
                network: false,
            };
            let mut instance = match env.launch(&spec) {
                Ok(i) => i,
                Err(e) => {
                    println!("{name}: launch failed: {e}");
                    break;
                }
            };
            let mut first: Option<Instant> = None;
            let mut summary = false;
            loop {
                match instance.next_line(Duration::from_secs(300)) {
                    Ok(Some(line)) => {
                        if verbose {
                            println!("  | {line}");
                        }
                        if let Ok(LineKind::Record(record)) = parse_line(&line) {
                            first.get_or_insert_with(Instant::now);
                            if let Record::Ready(ready) = &record {
                                agent_ready.push(Duration::from_micros(ready.ready_us));
                            }
                            match &record {
                                Record::Summary(_) => summary = true,
                                Record::Error(e) => println!("  agent error: {}", e.message),
                                _ => {}
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        println!("  {e}");
                        break;
                    }
                }
            }
            let stopped = instance.stop();
            // The guest ran the agent to its summary and powered off by itself.
            completed |= summary && matches!(&stopped, Ok(exit) if !exit.killed);
            match first {
                Some(at) => {
                    to_record.push(at - instance.launched_at());
                    if let Some(start) = instance.guest_started_at() {
                        from_start.push(at - start);
                    }
                }
                None => println!("  boot {boot}: no record ({stopped:?})"),
            }
        }
        let accel = info.accel.clone().unwrap_or_else(|| "-".into());
        let show = |label: &str, values: &mut Vec<Duration>| {
            show(name, &accel, info.emulated, label, values)
        };
        show("spawn -> first record", &mut to_record);
        show("InstanceStart -> first record", &mut from_start);
        show("(agent start -> ready, guest)", &mut agent_ready);
        let _ = env.teardown();
        if completed {
            isobench_testkit::exercised(kind.name());
        }
    }
    if Path::new("/dev/kvm").exists() {
        println!(
            "\ntiny PVH guest (one COM1 line, then reset; not Linux: the VMM's own start-up cost):"
        );
        pvh_boots(boots, work.path());
    } else {
        record_skip!("tiny PVH guest not booted: {}", host.kvm.explain());
    }
}

fn show(name: &str, accel: &str, emulated: bool, label: &str, values: &mut [Duration]) {
    if values.is_empty() {
        return;
    }
    values.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<13} accel={accel:<4} {label:<30} n={:<3} min {:>8.1} ms  median {:>8.1} ms  max {:>8.1} ms{}",
        values.len(),
        ms(values[0]),
        ms(values[values.len() / 2]),
        ms(values[values.len() - 1]),
        if emulated { "  (EMULATED)" } else { "" }
    );
}

/// Boots the tiny PVH guest under Firecracker and QEMU microvm with KVM.
fn pvh_boots(boots: usize, work: &Path) {
    let guest = work.join("pvh-guest.elf");
    std::fs::write(
        &guest,
        isobench_environments::vm::pvh::test_guest("isobench-pvh"),
    )
    .expect("writing the PVH guest");
    let cache = isobench_assets::cache_dir();
    if let Some(binary) = firecracker::find_binary(None, &cache) {
        let (mut spawn, mut start) = (Vec::new(), Vec::new());
        for boot in 0..boots {
            let run = || -> Result<(Duration, Duration), String> {
                let mut fc = FirecrackerVm::spawn(
                    &binary,
                    work,
                    &RunId::new(EnvKind::Firecracker, RunLabel::Repetition(boot as u32))
                        .to_string(),
                    Duration::from_secs(30),
                    Duration::from_secs(5),
                )
                .map_err(|e| e.to_string())?;
                fc.configure(&VmConfig {
                    kernel: guest.clone(),
                    initrd: None,
                    boot_args: "console=ttyS0".into(),
                    vcpus: 1,
                    mem_mib: 128,
                    vsock: None,
                })
                .map_err(|e| e.to_string())?;
                let started = fc.start().map_err(|e| e.to_string())?;
                while let Some(line) = fc
                    .vmm
                    .next_line(Duration::from_secs(30))
                    .map_err(|e| e.to_string())?
                {
                    if line.contains("isobench-pvh") {
                        let at = Instant::now();
                        let _ = fc.stop();
                        return Ok((at - fc.vmm.launched_at(), at - started));
                    }
                }
                Err("no console line".into())
            };
            match run() {
                Ok((a, b)) => {
                    spawn.push(a);
                    start.push(b);
                }
                Err(e) => println!("  firecracker PVH boot {boot}: {e}"),
            }
        }
        show(
            "firecracker",
            "kvm",
            false,
            "PVH: spawn -> line",
            &mut spawn,
        );
        show(
            "firecracker",
            "kvm",
            false,
            "PVH: InstanceStart -> line",
            &mut start,
        );
    } else {
        record_skip!(
            "firecracker PVH guest not booted: no firecracker binary in {} or on PATH (`isobench setup` installs it)",
            cache.join("runtime/firecracker").display()
        );
    }
    let mut qemu = Vec::new();
    for boot in 0..boots {
        let mut command = std::process::Command::new("qemu-system-x86_64");
        command.args([
            "-M",
            "microvm",
            "-accel",
            "kvm",
            "-m",
            "128",
            "-nodefaults",
            "-no-user-config",
            "-nographic",
        ]);
        command
            .args(["-serial", "stdio", "-no-reboot", "-kernel"])
            .arg(&guest);
        let mut child = match ChildProcess::spawn(command, "qemu-pvh") {
            Ok(c) => c,
            Err(e) => {
                println!("  qemu PVH boot {boot}: {e}");
                break;
            }
        };
        loop {
            match child.lines.next_line(Duration::from_secs(30)) {
                Ok(Some(line)) if line.contains("isobench-pvh") => {
                    qemu.push(child.spawned_at.elapsed());
                    break;
                }
                Ok(Some(_)) => {}
                other => {
                    println!(
                        "  qemu PVH boot {boot}: {other:?} {}",
                        child.stderr.last_line()
                    );
                    break;
                }
            }
        }
        child.finish(Duration::from_secs(2));
    }
    show(
        "qemu-microvm",
        "kvm",
        false,
        "PVH: spawn -> line",
        &mut qemu,
    );
}
