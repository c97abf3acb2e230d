//! Boot-time benchmark for the VM environments: spawn (launch) to the
//! guest's first agent record, min / median / max over N boots, for each VM
//! type with the accelerator this host offers. Prints figures, asserts nothing.
//!
//! ```text
//! cargo run --release -p isobench-environments --example vm_boot_time -- \
//!     [--boots 10] [--agent PATH] [--assets DIR] [--env qemu-microvm,qemu-q35,firecracker] [--verbose]
//! ```
//!
//! Defaults: agent `$ISOBENCH_AGENT_STATIC` or
//! `target/x86_64-unknown-linux-gnu/release/isobench-agent`, assets
//! `$ISOBENCH_CACHE/assets`. The guest runs `knn` with one iteration and no
//! warm-up; only the time to its first record (`ready`) is reported.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use isobench_environments::{
    registry, AgentPayload, EnvKind, EnvOptions, HostFacts, LaunchSpec, Limits,
};
use isobench_records::{parse_line, LineKind, Record};

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
    let cache = isobench_environments::vm::default_cache_dir();
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let agent = arg(&args, "--agent")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("ISOBENCH_AGENT_STATIC").map(PathBuf::from))
        .unwrap_or_else(|| {
            workspace.join("target/x86_64-unknown-linux-gnu/release/isobench-agent")
        });
    let assets = arg(&args, "--assets")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("assets"));
    let envs = arg(&args, "--env").unwrap_or_else(|| "qemu-microvm,qemu-q35,firecracker".into());
    let agent_args: Vec<String> = arg(&args, "--agent-args")
        .unwrap_or_else(|| "run --workload knn --iterations 1 --warmup 0 --assets /assets".into())
        .split_whitespace()
        .map(str::to_string)
        .collect();
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
        let availability = registry::detect(kind, &host);
        if !availability.available {
            println!(
                "{name}: not run: {} (fix: {})",
                availability.reason, availability.fix
            );
            continue;
        }
        let options = EnvOptions {
            cache_dir: cache.clone(),
            work_dir: work.path().to_path_buf(),
            ..EnvOptions::default()
        };
        let mut env = match registry::build(kind, &options) {
            Ok(env) => env,
            Err(e) => {
                println!("{name}: not run: {e}");
                continue;
            }
        };
        let payload = AgentPayload {
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
        for boot in 0..boots {
            let spec = LaunchSpec {
                agent_args: agent_args.clone(),
                limits: Limits {
                    vcpus: Some(1),
                    memory_mib: Some(1024),
                    cpuset: None,
                },
                timeout: Duration::from_secs(300),
                run_id: format!("boot{boot}"),
            };
            let mut instance = match env.launch(&spec) {
                Ok(i) => i,
                Err(e) => {
                    println!("{name}: launch failed: {e}");
                    break;
                }
            };
            let mut first: Option<Instant> = None;
            loop {
                match instance.next_line(Duration::from_secs(300)) {
                    Ok(Some(line)) => {
                        if verbose {
                            println!("  | {line}");
                        }
                        if let Ok(LineKind::Record(record)) = parse_line(&line) {
                            first.get_or_insert_with(Instant::now);
                            if matches!(record, Record::Summary(_) | Record::Error(_)) {
                                if let Record::Error(e) = &record {
                                    println!("  agent error: {}", e.message);
                                }
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
        let show = |label: &str, values: &mut Vec<Duration>| {
            if values.is_empty() {
                return;
            }
            values.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            println!(
                "{name:<13} accel={:<4} {label:<28} n={:<3} min {:>8.1} ms  median {:>8.1} ms  max {:>8.1} ms{}",
                info.accel.as_deref().unwrap_or("-"),
                values.len(),
                ms(values[0]),
                ms(values[values.len() / 2]),
                ms(values[values.len() - 1]),
                if info.emulated { "  (EMULATED)" } else { "" }
            );
        };
        show("spawn -> first record", &mut to_record);
        show("InstanceStart -> first record", &mut from_start);
        let _ = env.teardown();
    }
}
