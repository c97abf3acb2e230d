//! What isobench knows about the host before choosing an environment: KVM,
//! cgroups, root ([`HostFacts`]); the options every backend's detection and
//! construction share ([`EnvOptions`]); the answer of a detection
//! ([`Availability`]); and the small lookups backends use (`which`,
//! `--version` lines).

use std::path::{Path, PathBuf};

use crate::EnvKind;

/// Whether an environment can run here.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Availability {
    /// The environment.
    pub kind: EnvKind,
    /// True when `isobench run` can use it now.
    pub available: bool,
    /// Why it is (un)available, in one line (e.g. "runc 1.1.5", "dockerd not running").
    pub reason: String,
    /// What to do to make it available (empty when available).
    pub fix: String,
}

impl Availability {
    /// An available environment, with a detail such as the runtime version.
    pub fn yes(kind: EnvKind, detail: impl Into<String>) -> Self {
        Availability {
            kind,
            available: true,
            reason: detail.into(),
            fix: String::new(),
        }
    }

    /// An unavailable environment with its reason and fix.
    pub fn no(kind: EnvKind, reason: impl Into<String>, fix: impl Into<String>) -> Self {
        Availability {
            kind,
            available: false,
            reason: reason.into(),
            fix: fix.into(),
        }
    }
}

/// What kind of KVM this host offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KvmKind {
    /// Hardware virtualisation (VT-x / AMD-V) behind /dev/kvm.
    Hardware,
    /// kvm-pvm: a pagetable-based software hypervisor that cannot boot an unmodified Linux guest.
    Pvm,
    /// /dev/kvm exists but cannot be opened by this user.
    NoAccess,
    /// No /dev/kvm.
    Absent,
}

impl KvmKind {
    /// One-line explanation for `doctor`.
    pub fn explain(self) -> &'static str {
        match self {
            KvmKind::Hardware => "hardware KVM",
            KvmKind::Pvm => "/dev/kvm is kvm-pvm (software pagetable virtualisation, no vmx/svm): an unmodified Linux guest cannot boot under it",
            KvmKind::NoAccess => "/dev/kvm exists but is not readable and writable by this user",
            KvmKind::Absent => "no /dev/kvm (KVM module not loaded or not exposed to this machine)",
        }
    }

    /// True when a normal Linux guest can boot with KVM acceleration.
    pub fn can_boot_linux(self) -> bool {
        self == KvmKind::Hardware
    }
}

/// Facts about the host every detection needs, gathered once.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct HostFacts {
    /// The kind of KVM available.
    pub kvm: KvmKind,
    /// True when /sys/fs/cgroup is cgroup v1 (or hybrid).
    pub cgroup_v1: bool,
    /// True when running as root.
    pub root: bool,
}

impl HostFacts {
    /// Reads the facts from this host.
    pub fn probe() -> Self {
        HostFacts {
            kvm: probe_kvm(
                Path::new("/dev/kvm"),
                Path::new("/sys/module"),
                Path::new("/proc/cpuinfo"),
            ),
            cgroup_v1: Path::new("/sys/fs/cgroup/cpuacct").exists()
                || Path::new("/sys/fs/cgroup/cpu,cpuacct").exists(),
            root: nix::unistd::geteuid().is_root(),
        }
    }
}

/// Tells hardware KVM from kvm-pvm and from none, from the given paths (testable).
pub fn probe_kvm(dev_kvm: &Path, sys_module: &Path, cpuinfo: &Path) -> KvmKind {
    if !dev_kvm.exists() {
        return KvmKind::Absent;
    }
    if sys_module.join("kvm_pvm").exists() {
        return KvmKind::Pvm;
    }
    let flags = std::fs::read_to_string(cpuinfo).unwrap_or_default();
    let has_hw = flags
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    // A nested or paravirtualised host may hide the flag but still offer KVM;
    // only kvm-pvm is known not to boot Linux, so without the flag we still
    // trust the kvm_intel / kvm_amd modules.
    let hw_module = sys_module.join("kvm_intel").exists() || sys_module.join("kvm_amd").exists();
    if !(has_hw || hw_module) {
        return KvmKind::Pvm;
    }
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dev_kvm)
    {
        Ok(_) => KvmKind::Hardware,
        Err(_) => KvmKind::NoAccess,
    }
}

/// Options shared by environment constructors.
#[derive(Debug, Clone, Default)]
pub struct EnvOptions {
    /// The tool's cache directory (images, bundles, guest kernels and
    /// images, runtime binaries): `isobench_assets::cache_dir()`, passed in;
    /// this crate never resolves it itself. Detection looks there too.
    pub cache_dir: PathBuf,
    /// Directory for per-run temporary state (removed by teardown).
    pub work_dir: PathBuf,
    /// Run the native agent inside a cgroup with the same limits as containers.
    pub native_cgroup: bool,
    /// Guest kernel given by the user (`--kernel`).
    pub kernel: Option<PathBuf>,
    /// Firecracker binary given by the user (`--firecracker`).
    pub firecracker: Option<PathBuf>,
    /// Start Firecracker through its jailer.
    pub jailer: bool,
    /// Docker data root / socket overrides are taken from `DOCKER_HOST`.
    pub docker_host: Option<String>,
}

/// Runs `binary --version` and returns the first stdout line that starts
/// with `prefix`; `fix` tells the user what to do when it cannot.
pub fn version_line(binary: &Path, prefix: &str, fix: &str) -> Result<String, crate::EnvError> {
    let output = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| crate::EnvError::Command {
            program: binary.display().to_string(),
            message: format!("cannot start: {e} (fix: {fix})"),
        })?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find(|l| l.starts_with(prefix))
        .map(|l| l.trim().to_string())
        .ok_or_else(|| crate::EnvError::Command {
            program: format!("{} --version", binary.display()),
            message: format!("printed no `{prefix}...` line ({fix})"),
        })
}

/// Finds an executable on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            use std::os::unix::fs::PermissionsExt;
            candidate
                .metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvm_kinds_from_fake_sysfs() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("kvm");
        let sys = dir.path().join("module");
        let cpu = dir.path().join("cpuinfo");
        std::fs::create_dir_all(&sys).unwrap();
        assert_eq!(probe_kvm(&dev, &sys, &cpu), KvmKind::Absent);
        std::fs::write(&dev, "").unwrap();
        std::fs::write(&cpu, "flags\t: fpu sse2 svm\n").unwrap();
        assert_eq!(probe_kvm(&dev, &sys, &cpu), KvmKind::Hardware);
        std::fs::create_dir_all(sys.join("kvm_pvm")).unwrap();
        assert_eq!(probe_kvm(&dev, &sys, &cpu), KvmKind::Pvm);
        std::fs::remove_dir(sys.join("kvm_pvm")).unwrap();
        std::fs::write(&cpu, "flags\t: fpu sse2\n").unwrap();
        assert_eq!(probe_kvm(&dev, &sys, &cpu), KvmKind::Pvm);
    }
}
