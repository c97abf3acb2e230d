//! The root drive of `--workload command` in a VM: the user's prepared tree
//! as an ext4 image ([`crate::user_root::ext4_image`]) attached read-only as
//! the guest's first virtio block device, which the agent (the
//! initramfs' `/init`) mounts and enters (`exec --root-device /dev/vda`).
//! Here: whether a guest kernel can do that, and the modules it loads for it.

use std::path::{Path, PathBuf};

use super::kernel::{self, config_value, GuestKernel, KernelSource, ROOT_DRIVE_MODULES};
use crate::EnvError;

/// The root drive inside the guest: the only virtio block device.
pub const GUEST_ROOT_DEVICE: &str = "/dev/vda";

/// Kernel options mounting the root drive needs, with the values that do.
const NEEDED: [(&str, &[&str]); 3] = [
    ("CONFIG_BLOCK", &["y"]),
    ("CONFIG_VIRTIO_BLK", &["y", "m"]),
    ("CONFIG_EXT4_FS", &["y"]),
];

/// Why `kernel` cannot mount the root drive, when its config says so:
/// (the option, its value); `None` when it can or its config is unknown.
fn missing_option(kernel: &GuestKernel) -> Option<(String, String)> {
    let text = std::fs::read_to_string(kernel.config.as_ref()?).ok()?;
    NEEDED.iter().find_map(|(option, good)| {
        let value = config_value(&text, option).unwrap_or_else(|| "n".into());
        // A module only helps when isobench puts it into the initramfs
        // (Debian's kernel); a user's kernel comes without modules.
        let usable = good.contains(&value.as_str()) && (value == "y" || kernel.dir.is_some());
        (!usable).then(|| (option.to_string(), value))
    })
}

/// Checks that `kernel` can mount the root drive and returns the modules
/// the guest loads, in load order: the kernel's own plus, for Debian's
/// kernel, the virtio block driver (fetched into an older cache on first
/// use). A kernel whose config lacks ext4 or virtio-blk is a one-line error
/// with the fix.
pub fn modules_for_root_drive(kernel: &GuestKernel) -> Result<Vec<PathBuf>, EnvError> {
    if let Some((option, value)) = missing_option(kernel) {
        let (name, fix) = match &kernel.source {
            KernelSource::User(path) => (
                path.display().to_string(),
                "rebuild the microVM kernel with scripts/build-microvm-kernel.sh (it builds ext4 and virtio-blk in) and pass its vmlinux with --kernel, or leave out --kernel to use Debian's cloud kernel",
            ),
            KernelSource::Debian(version) => (
                format!("Debian's {version}"),
                "pass a kernel with ext4 and virtio-blk built in with --kernel (scripts/build-microvm-kernel.sh builds one)",
            ),
        };
        let config = kernel
            .config
            .as_deref()
            .map(Path::display)
            .map(|p| p.to_string())
            .unwrap_or_default();
        return Err(EnvError::Input(format!(
            "the guest kernel {name} cannot mount the root drive of --workload command: its config {config} has {option}={value}, it needs {}; {fix}",
            NEEDED
                .iter()
                .find(|(o, _)| *o == option)
                .map(|(_, good)| if kernel.dir.is_some() { good.join(" or ") } else { "y".into() })
                .unwrap_or_default()
        )));
    }
    let (KernelSource::Debian(version), Some(dir)) = (&kernel.source, &kernel.dir) else {
        return Ok(kernel.modules.clone());
    };
    let paths: Vec<PathBuf> = ROOT_DRIVE_MODULES
        .iter()
        .map(|m| {
            dir.join("modules").join(
                Path::new(m)
                    .file_name()
                    .expect("module paths have file names"),
            )
        })
        .collect();
    if paths.iter().any(|p| !p.is_file()) {
        kernel::fetch_modules(version, dir, ROOT_DRIVE_MODULES)?;
    }
    let mut all = kernel.modules.clone();
    all.extend(paths);
    kernel::module_load_order(&all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(dir: &Path, config: &str, debian: bool) -> GuestKernel {
        std::fs::write(dir.join("config"), config).unwrap();
        GuestKernel {
            source: if debian {
                KernelSource::Debian("6.1.0-57-cloud-amd64".into())
            } else {
                KernelSource::User(dir.join("vmlinux"))
            },
            image: dir.join("vmlinux"),
            modules: vec![],
            dir: debian.then(|| dir.to_path_buf()),
            config: Some(dir.join("config")),
        }
    }

    #[test]
    fn a_kernel_without_ext4_is_told_how_to_get_one() {
        let dir = tempfile::tempdir().unwrap();
        let old = kernel(
            dir.path(),
            "CONFIG_BLOCK=y\nCONFIG_VIRTIO_BLK=y\n# CONFIG_EXT4_FS is not set\n",
            false,
        );
        let err = modules_for_root_drive(&old).unwrap_err().to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(
            err.contains("CONFIG_EXT4_FS=n")
                && err.contains("scripts/build-microvm-kernel.sh")
                && err.contains("Debian's cloud kernel"),
            "{err}"
        );
        // virtio-blk as a module cannot be loaded from a user's kernel.
        let modular = kernel(
            dir.path(),
            "CONFIG_BLOCK=y\nCONFIG_VIRTIO_BLK=m\nCONFIG_EXT4_FS=y\n",
            false,
        );
        let err = modules_for_root_drive(&modular).unwrap_err().to_string();
        assert!(err.contains("CONFIG_VIRTIO_BLK=m, it needs y"), "{err}");
        let good = kernel(
            dir.path(),
            "CONFIG_BLOCK=y\nCONFIG_VIRTIO_BLK=y\nCONFIG_EXT4_FS=y\n",
            false,
        );
        assert_eq!(
            modules_for_root_drive(&good).unwrap(),
            Vec::<PathBuf>::new()
        );
        // No config: nothing to tell, the agent's mount error explains.
        let unknown = GuestKernel {
            config: None,
            ..good
        };
        assert!(modules_for_root_drive(&unknown).is_ok());
    }

    #[test]
    fn debians_kernel_loads_virtio_blk_after_the_virtio_core() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("modules")).unwrap();
        let module = |name: &str, deps: &str| {
            let path = dir.path().join(format!("modules/{name}.ko"));
            std::fs::write(&path, format!("\x7fELF\0depends={deps}\0name={name}\0")).unwrap();
            path
        };
        let ring = module("virtio_ring", "");
        let virtio = module("virtio", "virtio_ring");
        let blk = module("virtio_blk", "virtio,virtio_ring");
        let mut debian = kernel(
            dir.path(),
            "CONFIG_BLOCK=y\nCONFIG_VIRTIO_BLK=m\nCONFIG_EXT4_FS=y\n",
            true,
        );
        debian.modules = vec![ring.clone(), virtio.clone()];
        assert_eq!(
            modules_for_root_drive(&debian).unwrap(),
            vec![ring, virtio, blk]
        );
    }
}
