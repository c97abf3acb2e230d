//! Facts about the host recorded with every experiment.

use std::collections::BTreeMap;
use std::process::Command;

use isobench_environments::HostFacts;
use isobench_results::HostInfo;
use procfs::Current;

/// Gathers host metadata and the versions of the tools involved.
pub fn host_info(facts: &HostFacts) -> HostInfo {
    let uname = nix::sys::utsname::uname().ok();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_string();
    let memory_bytes = procfs::Meminfo::current().map(|m| m.mem_total).unwrap_or(0);
    let load_average = procfs::LoadAverage::current()
        .map(|l| f64::from(l.one))
        .unwrap_or(0.0);
    HostInfo {
        hostname: uname
            .as_ref()
            .map(|u| u.nodename().to_string_lossy().into_owned())
            .unwrap_or_default(),
        kernel: uname
            .as_ref()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        cpu_model,
        cpus: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        memory_bytes,
        kvm: serde_json::to_value(facts.kvm)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        load_average,
        tool_versions: tool_versions(),
        cgroup_version: if facts.cgroup_v1 {
            "v1 (hybrid)".into()
        } else {
            "v2".into()
        },
    }
}

/// First line of `program args` (stdout or stderr), if the program exists.
pub fn version_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = if out.stdout.is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// Versions of dockerd, runc, crun, runsc, QEMU and Firecracker, where installed.
pub fn tool_versions() -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    for (name, program, args) in [
        ("dockerd", "dockerd", &["--version"][..]),
        ("runc", "runc", &["--version"][..]),
        ("crun", "crun", &["--version"][..]),
        ("runsc", "runsc", &["--version"][..]),
        ("qemu", "qemu-system-x86_64", &["--version"][..]),
        ("firecracker", "firecracker", &["--version"][..]),
    ] {
        if let Some(version) = version_of(program, args) {
            versions.insert(name.to_string(), version);
        }
    }
    versions
}

/// The git revision isobench was built from, when the source tree is at hand.
pub fn git_revision() -> Option<String> {
    option_env!("ISOBENCH_GIT_REVISION")
        .map(str::to_string)
        .or_else(|| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
            let out = Command::new("git")
                .arg("-C")
                .arg(dir)
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        })
}
