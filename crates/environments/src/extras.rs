//! What an environment uses that is neither a Debian package nor in the
//! pinned cache: built or installed on demand by one of the repository's
//! scripts (`isobench setup --env NAME` runs them; `doctor` lists what is
//! missing and that command). Each backend module declares its own in an
//! `extras(kind)` function the registry lists.

use std::path::Path;

use crate::host::which;
use crate::EnvOptions;

/// One extra: what it is, what it is for, which script installs it.
#[derive(Debug, Clone, Copy)]
pub struct Extra {
    /// What it is (`youki`, `vhost-device-vsock`, `microVM kernel`).
    pub name: &'static str,
    /// What the environment uses it for, in a few words.
    pub purpose: &'static str,
    /// The script that installs it, relative to the source tree's root.
    pub script: &'static str,
    /// Without it the environment cannot run at all (`run` installs it
    /// when asked for the environment); otherwise only some features need it.
    pub required: bool,
    /// About how long the script takes on a 2-core machine, in minutes
    /// (measured on one; said before it starts).
    pub minutes: u32,
    /// Whether it is installed now (on PATH, in the cache, or not needed on this host).
    pub installed: fn(&EnvOptions) -> bool,
}

impl Extra {
    /// Whether it is installed now.
    pub fn is_installed(&self, options: &EnvOptions) -> bool {
        (self.installed)(options)
    }
}

/// youki, built from the crates registry (it is not packaged in Debian).
pub const YOUKI: Extra = Extra {
    name: "youki",
    purpose: "the OCI runtime itself",
    script: "scripts/install-youki.sh",
    required: true,
    minutes: 4,
    installed: |_| which("youki").is_some(),
};

/// The user-space vsock device QEMU guests use when the host has no
/// `/dev/vhost-vsock` (`serve-bench --transport vsock`).
pub const VHOST_DEVICE_VSOCK: Extra = Extra {
    name: "vhost-device-vsock",
    purpose:
        "the guest's vsock device (serve-bench --transport vsock) on hosts without /dev/vhost-vsock",
    script: "scripts/install-vhost-device-vsock.sh",
    required: false,
    minutes: 3,
    installed: |options| {
        Path::new("/dev/vhost-vsock").exists()
            || crate::vhost_user::find_daemon(&options.cache_dir).is_some()
    },
};

/// The minimal guest kernel with virtio-mmio, vsock, ext4 and virtio-blk
/// built in (Firecracker's devices, QEMU microvm's vsock, the root drive of
/// `--workload command`).
pub const MICROVM_KERNEL: Extra = Extra {
    name: "microVM kernel",
    purpose: "a guest kernel with virtio-mmio vsock and block built in (Firecracker; vsock and --rootfs in QEMU microvm)",
    script: "scripts/build-microvm-kernel.sh",
    required: false,
    minutes: 6,
    installed: |options| crate::vm::kernel::built_microvm_kernel(&options.cache_dir).is_some(),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_extra_names_a_script_of_the_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for extra in [YOUKI, VHOST_DEVICE_VSOCK, MICROVM_KERNEL] {
            assert!(
                root.join(extra.script).is_file(),
                "{}: no {}",
                extra.name,
                extra.script
            );
            assert!(extra.minutes > 0 && !extra.purpose.is_empty());
        }
    }

    #[test]
    fn an_empty_cache_has_no_microvm_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let options = EnvOptions {
            cache_dir: dir.path().to_path_buf(),
            ..EnvOptions::default()
        };
        assert!(!MICROVM_KERNEL.is_installed(&options));
        let kernel = dir.path().join("kernels/microvm-6.1.0");
        std::fs::create_dir_all(&kernel).unwrap();
        std::fs::write(kernel.join("vmlinux"), b"\x7fELF").unwrap();
        assert!(MICROVM_KERNEL.is_installed(&options));
    }
}
