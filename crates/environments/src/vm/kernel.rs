//! The guest kernel: Debian's cloud kernel fetched with `apt-get download`
//! and cached under `<cache>/kernels/<version>/`, or the user's `--kernel`.
//!
//! Cache layout of one Debian kernel:
//!
//! ```text
//! kernels/6.1.0-56-cloud-amd64/
//!   vmlinuz            the bzImage (QEMU boots it directly)
//!   vmlinux            ELF extracted from the bzImage's LZ4 payload (Firecracker), made on demand
//!   config             the kernel's build config
//!   modules/*.ko       the virtio / vsock modules the guest loads
//!   package            the .deb file name it came from
//! ```
//!
//! The directory is assembled in a temporary sibling and renamed into place,
//! so a cached kernel is always complete.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::EnvError;

/// Debian metapackage whose dependency names the current cloud kernel.
pub const CLOUD_METAPACKAGE: &str = "linux-image-cloud-amd64";

/// Modules the guest needs, as file names below the kernel's module tree:
/// the virtio core and transports (mmio for microVMs, pci for q35) and
/// virtio vsock. Loaded in dependency order (see [`module_load_order`]).
pub const GUEST_MODULES: &[&str] = &[
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_mmio.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "net/vmw_vsock/vsock.ko",
    "net/vmw_vsock/vmw_vsock_virtio_transport_common.ko",
    "net/vmw_vsock/vmw_vsock_virtio_transport.ko",
];

/// Modules a guest with a root drive (`--workload command`) loads on top
/// of [`GUEST_MODULES`]: the virtio block driver (ext4 is built into
/// Debian's cloud kernel). Fetched with the kernel; added to older caches
/// on first use ([`fetch_modules`]).
pub const ROOT_DRIVE_MODULES: &[&str] = &["drivers/block/virtio_blk.ko"];

/// Where a guest kernel came from.
#[derive(Debug, Clone, PartialEq)]
pub enum KernelSource {
    /// Debian's cloud kernel package of this version (e.g. `6.1.0-56-cloud-amd64`).
    Debian(String),
    /// A kernel image given by the user (`--kernel`).
    User(PathBuf),
}

/// A guest kernel ready to boot.
#[derive(Debug, Clone)]
pub struct GuestKernel {
    /// Where it came from.
    pub source: KernelSource,
    /// The image as given (bzImage for Debian's kernel; whatever the user passed).
    pub image: PathBuf,
    /// Kernel modules to put into the initramfs, in load order.
    pub modules: Vec<PathBuf>,
    /// The directory holding the cached kernel (Debian kernels only).
    pub dir: Option<PathBuf>,
    /// The kernel's build config, when known: Debian's `config`, or a
    /// `config` / `.config` file next to a user's image (what
    /// `scripts/build-microvm-kernel.sh` leaves there).
    pub config: Option<PathBuf>,
}

/// The option that lets a kernel see virtio-mmio devices announced on its
/// command line (`virtio_mmio.device=<size>@<base>:<irq>`), the way
/// Firecracker announces its devices (and QEMU's microvm without ACPI).
pub const MMIO_CMDLINE_OPTION: &str = "CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES";

/// The value of `option` (`CONFIG_...`) in a kernel config: `Some("y")`,
/// `Some("m")`, ...; `Some("n")` for `# CONFIG_X is not set`; `None` when
/// the config does not mention it.
pub fn config_value(config: &str, option: &str) -> Option<String> {
    config.lines().find_map(|line| {
        let line = line.trim();
        if let Some(value) = line
            .strip_prefix(option)
            .and_then(|rest| rest.strip_prefix('='))
        {
            return Some(value.trim_matches('"').to_string());
        }
        (line == format!("# {option} is not set")).then(|| "n".to_string())
    })
}

impl GuestKernel {
    /// One line for [`crate::EnvironmentInfo::notes`].
    pub fn describe(&self) -> String {
        match &self.source {
            KernelSource::Debian(version) => format!(
                "guest kernel: Debian {CLOUD_METAPACKAGE} -> linux-image-{version} ({}), {} modules loaded by the agent (virtio, virtio-mmio, virtio-pci, vsock); {}",
                self.image.display(),
                self.modules.len(),
                if self.sees_cmdline_mmio_devices() == Some(true) {
                    format!("{MMIO_CMDLINE_OPTION}=y: it sees command-line virtio-mmio devices (Firecracker's)")
                } else {
                    format!("{MMIO_CMDLINE_OPTION} is not built in, so command-line virtio-mmio devices (Firecracker's) are invisible to it")
                }
            ),
            KernelSource::User(path) => format!(
                "guest kernel: user-supplied {} (no modules added); virtio-mmio devices on the command line (Firecracker's): {}",
                path.display(),
                match (self.sees_cmdline_mmio_devices(), &self.config) {
                    (Some(true), Some(config)) => format!("seen ({MMIO_CMDLINE_OPTION}=y in {})", config.display()),
                    (Some(false), Some(config)) => format!("not seen ({MMIO_CMDLINE_OPTION} is not built in, {})", config.display()),
                    _ => "unknown (no config or .config next to the image)".to_string(),
                }
            ),
        }
    }

    /// Whether this kernel sees virtio-mmio devices announced on its
    /// command line ([`MMIO_CMDLINE_OPTION`] built in); `None` when its
    /// config is unknown.
    pub fn sees_cmdline_mmio_devices(&self) -> Option<bool> {
        let text = std::fs::read_to_string(self.config.as_ref()?).ok()?;
        Some(config_value(&text, MMIO_CMDLINE_OPTION).is_some_and(|v| v == "y"))
    }

    /// An ELF `vmlinux` for VMMs that cannot boot a bzImage (Firecracker):
    /// the image itself when it is already ELF, else extracted from the
    /// bzImage payload (cached next to a Debian kernel, or in `scratch`).
    pub fn vmlinux(&self, scratch: &Path) -> Result<PathBuf, EnvError> {
        if is_elf(&self.image)? {
            return Ok(self.image.clone());
        }
        let target = match &self.dir {
            Some(dir) => dir.join("vmlinux"),
            None => {
                // Keyed by the image's content: another --kernel later gets its own.
                use sha2::{Digest, Sha256};
                let bytes = std::fs::read(&self.image)
                    .map_err(|e| EnvError::io(format!("reading {}", self.image.display()), e))?;
                let key = hex::encode(&Sha256::digest(&bytes)[..12]);
                std::fs::create_dir_all(scratch)
                    .map_err(|e| EnvError::io(format!("creating {}", scratch.display()), e))?;
                scratch.join(format!("{key}.vmlinux"))
            }
        };
        if target.is_file() && is_elf(&target)? {
            return Ok(target);
        }
        let tmp = target.with_extension("partial");
        extract_vmlinux(&self.image, &tmp)?;
        std::fs::rename(&tmp, &target)
            .map_err(|e| EnvError::io(format!("renaming {} into place", tmp.display()), e))?;
        Ok(target)
    }
}

/// The kernel for a VM: the user's `--kernel` when given, else Debian's
/// cloud kernel from the cache (fetched with apt when missing).
pub fn resolve(cache_dir: &Path, user_kernel: Option<&Path>) -> Result<GuestKernel, EnvError> {
    if let Some(path) = user_kernel {
        if !path.is_file() {
            return Err(EnvError::MissingFile {
                what: "guest kernel (--kernel)".into(),
                path: path.to_path_buf(),
                fix: "pass a bzImage or ELF vmlinux, or omit --kernel to use Debian's cloud kernel"
                    .into(),
            });
        }
        let config = path.parent().and_then(|dir| {
            ["config", ".config"]
                .iter()
                .map(|name| dir.join(name))
                .find(|candidate| candidate.is_file())
        });
        return Ok(GuestKernel {
            source: KernelSource::User(path.to_path_buf()),
            image: path.to_path_buf(),
            modules: Vec::new(),
            dir: None,
            config,
        });
    }
    let kernels = cache_dir.join("kernels");
    match debian_cloud_version() {
        Ok(version) => {
            let dir = kernels.join(&version);
            if !is_complete(&dir) {
                fetch_debian(&version, &dir)?;
            }
            load_cached(&dir, &version)
        }
        // Offline, but a kernel was fetched earlier: use the newest cached one.
        Err(apt_error) => match cached_versions(cache_dir).pop() {
            Some(version) => load_cached(&kernels.join(&version), &version),
            None => Err(apt_error),
        },
    }
}

/// Versions of Debian kernels complete in the cache, oldest first.
pub fn cached_versions(cache_dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(cache_dir.join("kernels"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| is_complete(&e.path()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    found.sort();
    found
}

/// The ELF `vmlinux` of the newest microVM kernel `scripts/build-microvm-kernel.sh`
/// built into the cache (`kernels/microvm-<version>/`), if any.
pub fn built_microvm_kernel(cache_dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir(cache_dir.join("kernels"))
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = name.strip_prefix("microvm-")?;
            let vmlinux = e.path().join("vmlinux");
            let key = version
                .split('.')
                .map(|part| part.parse().unwrap_or(0))
                .collect();
            vmlinux.is_file().then_some((key, vmlinux))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, path)| path)
}

fn is_complete(dir: &Path) -> bool {
    dir.join("vmlinuz").is_file() && dir.join("package").is_file()
}

fn load_cached(dir: &Path, version: &str) -> Result<GuestKernel, EnvError> {
    let modules_dir = dir.join("modules");
    let paths: Vec<PathBuf> = GUEST_MODULES
        .iter()
        .map(|m| {
            modules_dir.join(
                Path::new(m)
                    .file_name()
                    .expect("module paths have file names"),
            )
        })
        .collect();
    for path in &paths {
        if !path.is_file() {
            return Err(EnvError::MissingFile {
                what: "guest kernel module".into(),
                path: path.clone(),
                fix: format!(
                    "remove {} so isobench fetches the kernel again",
                    dir.display()
                ),
            });
        }
    }
    Ok(GuestKernel {
        source: KernelSource::Debian(version.to_string()),
        image: dir.join("vmlinuz"),
        modules: module_load_order(&paths)?,
        dir: Some(dir.to_path_buf()),
        config: Some(dir.join("config")).filter(|c| c.is_file()),
    })
}

/// Runs a program without a shell and returns its stdout, or a one-line error.
fn run(program: &str, args: &[&str], cwd: Option<&Path>, fix: &str) -> Result<String, EnvError> {
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null());
    if let Some(dir) = cwd {
        command.current_dir(dir);
    }
    let output = command.output().map_err(|e| EnvError::Command {
        program: program.into(),
        message: format!("cannot start: {e} ({fix})"),
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
        return Err(EnvError::Command {
            program: format!("{program} {}", args.join(" ")),
            message: format!(
                "{} ({fix})",
                if last.is_empty() {
                    output.status.to_string()
                } else {
                    last
                }
            ),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The kernel version the cloud metapackage currently depends on, from
/// `apt-cache depends linux-image-cloud-amd64` (e.g. `6.1.0-56-cloud-amd64`).
pub fn debian_cloud_version() -> Result<String, EnvError> {
    let out = run(
        "apt-cache",
        &["depends", CLOUD_METAPACKAGE],
        None,
        "run `apt-get update`, or pass your own guest kernel with --kernel",
    )?;
    parse_depends(&out).ok_or_else(|| EnvError::Command {
        program: format!("apt-cache depends {CLOUD_METAPACKAGE}"),
        message:
            "names no linux-image-<version> dependency (run `apt-get update`, or pass --kernel)"
                .into(),
    })
}

fn parse_depends(out: &str) -> Option<String> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .filter_map(|p| p.strip_prefix("linux-image-"))
        .find(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(str::to_string)
}

/// Downloads `linux-image-<version>` with apt into a temporary directory
/// under `parent` and unpacks it: (the temporary directory, the unpacked
/// tree, the `.deb` file).
fn download_package(
    version: &str,
    parent: &Path,
) -> Result<(tempfile::TempDir, PathBuf, PathBuf), EnvError> {
    std::fs::create_dir_all(parent)
        .map_err(|e| EnvError::io(format!("creating {}", parent.display()), e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(parent)
        .map_err(|e| {
            EnvError::io(
                format!("creating a temporary directory in {}", parent.display()),
                e,
            )
        })?;
    let package = format!("linux-image-{version}");
    tracing::info!("downloading {package} with apt-get");
    run(
        "apt-get",
        &["download", &package],
        Some(tmp.path()),
        "check network access to the Debian mirrors, or pass --kernel",
    )?;
    let deb = std::fs::read_dir(tmp.path())
        .map_err(|e| EnvError::io(format!("listing {}", tmp.path().display()), e))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| EnvError::Command {
            program: format!("apt-get download {package}"),
            message: "left no .deb file".into(),
        })?;
    let tree = tmp.path().join("tree");
    let deb_str = deb.to_string_lossy().into_owned();
    let tree_str = tree.to_string_lossy().into_owned();
    run(
        "dpkg-deb",
        &["-x", &deb_str, &tree_str],
        None,
        "install dpkg",
    )?;
    Ok((tmp, tree, deb))
}

/// Adds `modules` (paths below the kernel's module tree) to the cached
/// Debian kernel `dir` of `version`, downloading its package again: for
/// caches made before isobench needed them. Each lands atomically.
pub fn fetch_modules(version: &str, dir: &Path, modules: &[&str]) -> Result<(), EnvError> {
    let parent = dir.parent().expect("kernel dir has a parent");
    let (_tmp, tree, _) = download_package(version, parent)?;
    let module_root = tree.join(format!("lib/modules/{version}/kernel"));
    for module in modules {
        let name = Path::new(module)
            .file_name()
            .expect("module paths have file names");
        let target = dir.join("modules").join(name);
        let partial = target.with_extension("ko.partial");
        std::fs::copy(module_root.join(module), &partial)
            .and_then(|_| std::fs::rename(&partial, &target))
            .map_err(|e| {
                EnvError::io(
                    format!(
                        "copying {module} of linux-image-{version} into {}",
                        target.display()
                    ),
                    e,
                )
            })?;
    }
    Ok(())
}

/// Downloads `linux-image-<version>` with apt and assembles the cache directory `dir`.
fn fetch_debian(version: &str, dir: &Path) -> Result<(), EnvError> {
    let parent = dir.parent().expect("kernel dir has a parent");
    let (tmp, tree, deb) = download_package(version, parent)?;
    let package = format!("linux-image-{version}");
    let staging = tmp.path().join("kernel");
    let modules = staging.join("modules");
    std::fs::create_dir_all(&modules)
        .map_err(|e| EnvError::io(format!("creating {}", modules.display()), e))?;
    let copy = |from: &Path, to: &Path| {
        std::fs::copy(from, to)
            .map(|_| ())
            .map_err(|e| EnvError::io(format!("copying {} from {package}", from.display()), e))
    };
    copy(
        &tree.join(format!("boot/vmlinuz-{version}")),
        &staging.join("vmlinuz"),
    )?;
    copy(
        &tree.join(format!("boot/config-{version}")),
        &staging.join("config"),
    )?;
    let module_root = tree.join(format!("lib/modules/{version}/kernel"));
    for module in GUEST_MODULES.iter().chain(ROOT_DRIVE_MODULES) {
        let name = Path::new(module)
            .file_name()
            .expect("module paths have file names");
        copy(&module_root.join(module), &modules.join(name))?;
    }
    std::fs::write(
        staging.join("package"),
        deb.file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .as_bytes(),
    )
    .map_err(|e| EnvError::io("writing the kernel package name", e))?;
    std::fs::rename(&staging, dir)
        .map_err(|e| EnvError::io(format!("moving the kernel into {}", dir.display()), e))?;
    Ok(())
}

/// The `depends=` entry of a module's `.modinfo` section (names without `.ko`).
pub fn module_depends(bytes: &[u8]) -> Vec<String> {
    let key = b"depends=";
    bytes
        .windows(key.len())
        .enumerate()
        // The entry is NUL-terminated and preceded by the previous entry's NUL.
        .find(|(i, w)| *w == key && (*i == 0 || bytes[i - 1] == 0))
        .map(|(i, _)| {
            let rest = &bytes[i + key.len()..];
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end])
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Orders module files so every module follows the modules it depends on
/// (read from each file's `.modinfo`). Dependencies outside the set are
/// assumed built in.
pub fn module_load_order(paths: &[PathBuf]) -> Result<Vec<PathBuf>, EnvError> {
    let name = |p: &Path| {
        p.file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .replace('-', "_")
    };
    let mut pending: Vec<(PathBuf, Vec<String>)> = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path)
            .map_err(|e| EnvError::io(format!("reading module {}", path.display()), e))?;
        let own: Vec<String> = paths.iter().map(|p| name(p)).collect();
        let deps = module_depends(&bytes)
            .into_iter()
            .filter(|d| own.contains(d))
            .collect();
        pending.push((path.clone(), deps));
    }
    let mut done: Vec<PathBuf> = Vec::new();
    while !pending.is_empty() {
        let loaded: Vec<String> = done.iter().map(|p| name(p)).collect();
        let Some(i) = pending
            .iter()
            .position(|(_, deps)| deps.iter().all(|d| loaded.contains(d)))
        else {
            return Err(EnvError::Command {
                program: "module ordering".into(),
                message: format!(
                    "circular dependencies among {:?}",
                    pending.iter().map(|(p, _)| name(p)).collect::<Vec<_>>()
                ),
            });
        };
        done.push(pending.remove(i).0);
    }
    Ok(done)
}

fn is_elf(path: &Path) -> Result<bool, EnvError> {
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(path)
        .map_err(|e| EnvError::io(format!("opening kernel {}", path.display()), e))?;
    Ok(file.read_exact(&mut magic).is_ok() && magic == *b"\x7fELF")
}

/// Where a bzImage's compressed kernel sits: (offset in file, length).
pub fn bzimage_payload(image: &[u8]) -> Result<(usize, usize), String> {
    if image.len() < 0x250 || &image[0x202..0x206] != b"HdrS" {
        return Err("not a bzImage (no `HdrS` boot header at 0x202)".into());
    }
    let setup_sects = match image[0x1f1] {
        0 => 4,
        n => usize::from(n),
    };
    let u32_at =
        |o: usize| u32::from_le_bytes(image[o..o + 4].try_into().expect("4 bytes")) as usize;
    let (offset, length) = (u32_at(0x248), u32_at(0x24c));
    let start = (setup_sects + 1) * 512 + offset;
    if length == 0 || start + length > image.len() {
        return Err(format!(
            "boot header payload {start}+{length} lies outside the {}-byte image",
            image.len()
        ));
    }
    Ok((start, length))
}

/// Extracts the ELF `vmlinux` from a bzImage: the payload named by the boot
/// header, decompressed by its format's tool (`lz4 -dc`, `xz -dc`, `zstd -dc`)
/// or in process (gzip). The result is checked to be a whole ELF file.
pub fn extract_vmlinux(bzimage: &Path, out: &Path) -> Result<(), EnvError> {
    let image = std::fs::read(bzimage)
        .map_err(|e| EnvError::io(format!("reading kernel {}", bzimage.display()), e))?;
    let bad = |message: String| EnvError::Command {
        program: format!("extracting vmlinux from {}", bzimage.display()),
        message,
    };
    let (start, length) = bzimage_payload(&image)
        .map_err(|m| bad(format!("{m}; pass an ELF vmlinux with --kernel")))?;
    let payload = &image[start..start + length];
    let elf = if payload.starts_with(&[0x1f, 0x8b]) {
        let mut elf = Vec::new();
        // gzip's trailer may be followed by the kernel's 4-byte size: read_to_end stops at the member end.
        flate2::read::GzDecoder::new(payload)
            .read_to_end(&mut elf)
            .map_err(|e| bad(format!("gzip payload: {e}")))?;
        elf
    } else {
        let tool = if payload.starts_with(&[0x02, 0x21, 0x4c, 0x18]) {
            ("lz4", "install lz4 (apt-get install lz4)")
        } else if payload.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            ("xz", "install xz-utils")
        } else if payload.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            ("zstd", "install zstd")
        } else {
            return Err(bad(format!(
                "unknown payload compression (magic {:02x?}); pass an ELF vmlinux with --kernel",
                &payload[..4.min(payload.len())]
            )));
        };
        pipe_through(tool.0, payload).map_err(|m| bad(format!("{m} ({})", tool.1)))?
    };
    check_elf(&elf).map_err(bad)?;
    std::fs::write(out, &elf).map_err(|e| EnvError::io(format!("writing {}", out.display()), e))
}

/// Feeds `input` to `<tool> -dc` and returns its stdout. The exit status is
/// not trusted: the kernel appends its size after the compressed stream,
/// which `lz4` reports as an error after writing the whole output; the
/// caller checks the output instead.
fn pipe_through(tool: &str, input: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let mut child = Command::new(tool)
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start `{tool}`: {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_end(&mut out)
        .map_err(|e| format!("reading `{tool} -dc` output: {e}"))?;
    let _ = writer.join();
    let _ = child.wait();
    Ok(out)
}

/// Checks that `elf` is a complete 64-bit ELF file (its section header table fits).
pub fn check_elf(elf: &[u8]) -> Result<(), String> {
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 {
        return Err("decompressed payload is not a 64-bit ELF file".into());
    }
    let shoff = u64::from_le_bytes(elf[0x28..0x30].try_into().expect("8 bytes")) as usize;
    let shentsize = usize::from(u16::from_le_bytes([elf[0x3a], elf[0x3b]]));
    let shnum = usize::from(u16::from_le_bytes([elf[0x3c], elf[0x3d]]));
    if shoff + shentsize * shnum > elf.len() {
        return Err(format!(
            "decompressed ELF is truncated ({} bytes, section headers end at {})",
            elf.len(),
            shoff + shentsize * shnum
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_options_of_a_kernel_config() {
        let config = "CONFIG_VIRTIO_MMIO=y\n\
                      # CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES is not set\n\
                      CONFIG_VSOCKETS=m\nCONFIG_LOCALVERSION=\"-isobench\"\n";
        assert_eq!(
            config_value(config, "CONFIG_VIRTIO_MMIO").as_deref(),
            Some("y")
        );
        assert_eq!(
            config_value(config, MMIO_CMDLINE_OPTION).as_deref(),
            Some("n")
        );
        assert_eq!(
            config_value(config, "CONFIG_VSOCKETS").as_deref(),
            Some("m")
        );
        assert_eq!(
            config_value(config, "CONFIG_LOCALVERSION").as_deref(),
            Some("-isobench")
        );
        assert_eq!(
            config_value(config, "CONFIG_VIRTIO"),
            None,
            "a prefix is not a match"
        );
    }

    #[test]
    fn finds_the_newest_built_microvm_kernel() {
        let cache = tempfile::tempdir().unwrap();
        assert_eq!(built_microvm_kernel(cache.path()), None);
        for (version, complete) in [("6.1.9", true), ("6.1.192", true), ("6.1.200", false)] {
            let dir = cache.path().join(format!("kernels/microvm-{version}"));
            std::fs::create_dir_all(&dir).unwrap();
            if complete {
                std::fs::write(dir.join("vmlinux"), b"\x7fELF").unwrap();
            }
        }
        std::fs::create_dir_all(cache.path().join("kernels/6.1.0-57-cloud-amd64")).unwrap();
        assert_eq!(
            built_microvm_kernel(cache.path()),
            Some(cache.path().join("kernels/microvm-6.1.192/vmlinux")),
            "numeric order, complete builds only"
        );
    }

    #[test]
    fn a_config_next_to_a_user_kernel_tells_what_it_sees() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("vmlinux");
        std::fs::write(&image, b"\x7fELF").unwrap();
        let kernel = resolve(dir.path(), Some(&image)).unwrap();
        assert_eq!(kernel.config, None);
        assert_eq!(
            kernel.sees_cmdline_mmio_devices(),
            None,
            "no config: unknown"
        );
        std::fs::write(
            dir.path().join("config"),
            "CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y\n",
        )
        .unwrap();
        let kernel = resolve(dir.path(), Some(&image)).unwrap();
        assert_eq!(kernel.sees_cmdline_mmio_devices(), Some(true));
        std::fs::write(dir.path().join("config"), "CONFIG_VIRTIO_MMIO=m\n").unwrap();
        let kernel = resolve(dir.path(), Some(&image)).unwrap();
        assert_eq!(kernel.sees_cmdline_mmio_devices(), Some(false));
        assert!(
            kernel.describe().contains("not seen"),
            "{}",
            kernel.describe()
        );
    }

    #[test]
    fn parses_the_metapackage_dependency() {
        let out = "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n";
        assert_eq!(parse_depends(out).as_deref(), Some("6.1.0-56-cloud-amd64"));
        assert_eq!(
            parse_depends("linux-image-cloud-amd64\n  Depends: libc6\n"),
            None
        );
    }

    #[test]
    fn orders_modules_by_their_depends() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, deps: &str| {
            let path = dir.path().join(format!("{name}.ko"));
            let body = format!("\x7fELF junk\0license=GPL\0depends={deps}\0name={name}\0");
            std::fs::write(&path, body).unwrap();
            path
        };
        let pci = write("virtio_pci", "virtio_ring,virtio");
        let virtio = write("virtio", "virtio_ring");
        let ring = write("virtio_ring", "");
        let vsock = write("vsock", "");
        let order =
            module_load_order(&[pci.clone(), virtio.clone(), vsock.clone(), ring.clone()]).unwrap();
        assert_eq!(order, vec![vsock, ring, virtio, pci]);
        let a = write("a", "b");
        let b = write("b", "a");
        assert!(module_load_order(&[a, b]).is_err());
    }

    #[test]
    fn finds_the_bzimage_payload() {
        let mut image = vec![0u8; 4096];
        image[0x1f1] = 3;
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x248..0x24c].copy_from_slice(&100u32.to_le_bytes());
        image[0x24c..0x250].copy_from_slice(&200u32.to_le_bytes());
        assert_eq!(bzimage_payload(&image).unwrap(), (4 * 512 + 100, 200));
        image[0x24c..0x250].copy_from_slice(&9000u32.to_le_bytes());
        assert!(bzimage_payload(&image).unwrap_err().contains("outside"));
        assert!(bzimage_payload(&[0u8; 100])
            .unwrap_err()
            .contains("not a bzImage"));
    }

    #[test]
    fn rejects_truncated_elf() {
        let mut elf = vec![0u8; 128];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[0x28..0x30].copy_from_slice(&64u64.to_le_bytes());
        elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3c..0x3e].copy_from_slice(&1u16.to_le_bytes());
        assert!(check_elf(&elf).is_ok());
        elf[0x3c..0x3e].copy_from_slice(&2u16.to_le_bytes());
        assert!(check_elf(&elf).unwrap_err().contains("truncated"));
    }
}
