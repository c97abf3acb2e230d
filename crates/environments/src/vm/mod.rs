//! What the VM backends (QEMU, Firecracker) share: the guest image (a kernel
//! and an initramfs with the agent as `/init`), the kernel command line that
//! carries the agent's arguments, and the host side of a running VMM process
//! (serial console lines, overall timeout, per-instance work directory
//! removed on stop). With a user root the guest also gets the tree as a
//! read-only ext4 drive ([`root_drive`]).

pub mod initramfs;
pub mod kernel;
pub mod pvh;
pub mod root_drive;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::lines::Deadline;
use crate::process::ChildProcess;
use crate::{AgentInvocation, AgentPayload, EnvError, EnvOptions, PayloadView, Prepared};

pub use initramfs::{
    Compression, Initramfs, InitramfsSpec, GUEST_ASSETS, GUEST_INIT, GUEST_MODULES_DIR,
};
pub use kernel::{GuestKernel, KernelSource, MMIO_CMDLINE_OPTION};
pub use root_drive::GUEST_ROOT_DEVICE;

/// Longest kernel command line x86 Linux accepts (`COMMAND_LINE_SIZE`), minus the terminating NUL.
pub const MAX_CMDLINE: usize = 2047;

/// Guest memory when [`crate::Limits::memory_mib`] is not set. The initramfs
/// (agent + every asset) is unpacked into RAM, so this must hold it twice
/// during boot plus the model.
pub const DEFAULT_MEMORY_MIB: u64 = 1024;

/// vCPUs when [`crate::Limits::vcpus`] is not set.
pub const DEFAULT_VCPUS: u32 = 1;

/// What detection says about the guest kernel `options` lead to: the one
/// given with `--kernel` (which must exist), else the cache's; an error
/// (reason, fix) when the given one is missing.
pub fn kernel_detail(options: &EnvOptions) -> Result<String, (String, String)> {
    if let Some(kernel) = &options.kernel {
        if !kernel.is_file() {
            return Err((
                format!("the guest kernel {} (--kernel) does not exist", kernel.display()),
                "pass an existing kernel file with --kernel, or leave it out to use Debian's cloud kernel (fetched into the cache)".into(),
            ));
        }
        return Ok(format!("guest kernel {} (--kernel)", kernel.display()));
    }
    Ok(match kernel::cached_versions(&options.cache_dir).pop() {
        Some(v) => format!("guest kernel {v} cached"),
        None => "guest kernel not cached yet (prepare fetches Debian's cloud kernel with apt-get download)".into(),
    })
}

/// How the agent (PID 1) ends the VM when done: ACPI power-off (QEMU
/// exits) or a reset (Firecracker with `reboot=k` exits).
pub use isobench_records::Halt;

/// A kernel and initramfs ready to boot the agent.
#[derive(Debug, Clone)]
pub struct GuestImage {
    /// The kernel.
    pub kernel: GuestKernel,
    /// The initramfs.
    pub initramfs: Initramfs,
    /// Module paths inside the guest, in load order.
    pub modules_inside: Vec<String>,
    /// Environment variables for the agent as the guest sees them (passed
    /// on the kernel command line).
    pub env: Vec<(String, String)>,
    /// The user's root filesystem as an ext4 image (`--workload command`),
    /// attached read-only as the guest's [`GUEST_ROOT_DEVICE`].
    pub root_drive: Option<crate::user_root::Ext4Image>,
}

/// Resolves the kernel and builds (or finds cached) the initramfs for
/// `payload`; with a user root ([`AgentPayload::user_root`]) an initramfs
/// of the agent and modules only, and the tree's ext4 image as root drive.
pub fn prepare_guest(
    cache_dir: &Path,
    user_kernel: Option<&Path>,
    payload: &AgentPayload,
    compression: Compression,
) -> Result<(GuestImage, Prepared), EnvError> {
    let started = Instant::now();
    if !payload.agent_binary.is_file() {
        return Err(EnvError::MissingFile {
            what: "static agent binary (the VM's /init)".into(),
            path: payload.agent_binary.clone(),
            fix: "build it with `scripts/build.sh` (static, tract only) or pass --agent".into(),
        });
    }
    let kernel = kernel::resolve(cache_dir, user_kernel)?;
    let (initramfs, modules, root_drive) = match &payload.user_root {
        Some(root) => {
            let modules = root_drive::modules_for_root_drive(&kernel)?;
            let spec = InitramfsSpec::for_exec(&payload.agent_binary, &modules)?;
            let drive = crate::user_root::ext4_image(root)?;
            (spec.build(cache_dir, compression)?, modules, Some(drive))
        }
        None => {
            let spec = InitramfsSpec::for_agent(
                &payload.agent_binary,
                &payload.assets_dir,
                &kernel.modules,
                &payload.extra_files,
            )?;
            (
                spec.build(cache_dir, compression)?,
                kernel.modules.clone(),
                None,
            )
        }
    };
    let modules_inside = modules
        .iter()
        .map(|m| {
            format!(
                "{GUEST_MODULES_DIR}/{}",
                m.file_name().unwrap_or_default().to_string_lossy()
            )
        })
        .collect();
    let prepared = match &root_drive {
        Some(drive) => Prepared {
            image_bytes: Some(initramfs.bytes + drive.bytes),
            image_id: Some(format!(
                "initramfs sha256:{}; root drive {} ({} bytes)",
                initramfs.key,
                drive.path.display(),
                drive.bytes
            )),
            cached: initramfs.cached && drive.cached,
            prepare_seconds: started.elapsed().as_secs_f64(),
        },
        None => Prepared {
            image_bytes: Some(initramfs.bytes),
            image_id: Some(format!("initramfs sha256:{}", initramfs.key)),
            cached: initramfs.cached,
            prepare_seconds: started.elapsed().as_secs_f64(),
        },
    };
    Ok((
        GuestImage {
            kernel,
            initramfs,
            modules_inside,
            env: PayloadView::guest().env(payload)?,
            root_drive,
        },
        prepared,
    ))
}

/// Builds the kernel command line: the VMM's `base` parameters, the agent's
/// environment (`KEY=VALUE` words the kernel hands to init as environment),
/// then ` -- ` and the agent's argv: the invocation completed with what a
/// VM's init needs (the image's modules, `halt`, and `--root-device
/// /dev/vda` for an `exec` with a root drive). Words cannot contain
/// whitespace or quotes.
pub fn kernel_cmdline(
    base: &[String],
    image: &GuestImage,
    invocation: &AgentInvocation,
    halt: Halt,
) -> Result<String, EnvError> {
    let mut invocation = invocation.clone();
    let guest = invocation.guest_mut();
    guest.modules = image.modules_inside.iter().map(PathBuf::from).collect();
    guest.halt = Some(halt);
    if let (Some(_), AgentInvocation::Exec(exec)) = (&image.root_drive, &mut invocation) {
        exec.root_device = Some(PathBuf::from(GUEST_ROOT_DEVICE));
    }
    let mut words: Vec<String> = base.to_vec();
    for (key, value) in &image.env {
        words.push(format!("{key}={value}"));
    }
    words.push("--".into());
    words.extend(invocation.to_args());
    if let Some(bad) = words
        .iter()
        .find(|w| w.is_empty() || w.chars().any(|c| c.is_whitespace() || c == '"'))
    {
        return Err(EnvError::Command {
            program: "guest kernel command line".into(),
            message: format!("argument `{bad}` is empty or holds whitespace or quotes, which the kernel command line cannot carry; use paths without spaces"),
        });
    }
    let line = words.join(" ");
    if line.len() > MAX_CMDLINE {
        return Err(EnvError::Command {
            program: "guest kernel command line".into(),
            message: format!(
                "{} bytes exceed the kernel's limit of {MAX_CMDLINE}; shorten the agent arguments",
                line.len()
            ),
        });
    }
    Ok(line)
}

/// The host's TSC frequency estimate in kHz (from `/proc/cpuinfo`'s `cpu MHz`),
/// for `tsc_early_khz=` under TCG, without which the guest can hang at
/// "Marking TSC unstable".
pub fn host_cpu_khz() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|mhz| (mhz * 1000.0).round() as u64)
}

/// Ends the guest's console input: a serial line has no end of stream, so
/// this sends Ctrl-D, which a console tty in canonical mode (the kernel's
/// default) turns into end of file for the reader, then closes the pipe.
/// An agent that puts its console in raw mode sees a 0x04 byte instead.
pub fn close_serial_input(child: &mut ChildProcess) -> Result<(), EnvError> {
    if child.stdin.is_some() {
        // The VMM may have exited already: nothing left to close then.
        let _ = child.send(b"\x04");
    }
    child.close_stdin();
    Ok(())
}

/// A per-instance directory for sockets and logs, removed by [`WorkDir::remove`] and on drop.
#[derive(Debug)]
pub struct WorkDir {
    path: Option<PathBuf>,
}

impl WorkDir {
    /// Longest path allowed for Unix sockets inside (sun_path is 108 bytes).
    const MAX_SOCKET_DIR: usize = 80;

    /// Creates `<work_dir>/<prefix>-XXXX` (or under the system temp dir when
    /// `work_dir` is empty or too long for Unix socket paths).
    pub fn create(work_dir: &Path, prefix: &str) -> Result<Self, EnvError> {
        let base = if work_dir.as_os_str().is_empty()
            || work_dir.as_os_str().len() > Self::MAX_SOCKET_DIR - 20
        {
            std::env::temp_dir()
        } else {
            work_dir.to_path_buf()
        };
        std::fs::create_dir_all(&base)
            .map_err(|e| EnvError::io(format!("creating {}", base.display()), e))?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}-"))
            .tempdir_in(&base)
            .map_err(|e| {
                EnvError::io(
                    format!("creating a VM work directory in {}", base.display()),
                    e,
                )
            })?;
        Ok(WorkDir {
            path: Some(dir.keep()),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("work dir used after removal")
    }

    /// Removes the directory and everything in it. Idempotent.
    pub fn remove(&mut self) -> Result<(), EnvError> {
        if let Some(path) = self.path.take() {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(EnvError::io(
                        format!("removing VM work directory {}", path.display()),
                        e,
                    ))
                }
            }
        }
        Ok(())
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

/// The host side of one running VMM process: its serial console as lines
/// under the launch's whole-run deadline.
pub struct VmmProcess {
    /// The VMM process (own process group).
    pub child: ChildProcess,
    /// The deadline from [`crate::LaunchSpec::timeout`].
    pub deadline: Deadline,
}

impl VmmProcess {
    /// The VMM `child` of environment `env`, launched at `launched_at`,
    /// allowed `timeout` in all.
    pub fn new(child: ChildProcess, env: &str, launched_at: Instant, timeout: Duration) -> Self {
        VmmProcess {
            child,
            deadline: Deadline::new(env, launched_at, timeout),
        }
    }

    /// When the launch started (before spawn).
    pub fn launched_at(&self) -> Instant {
        self.deadline.launched_at()
    }

    /// The next console line, bounded by `timeout` and the overall
    /// deadline ([`EnvError::Timeout`] / [`EnvError::RunDeadline`]; the
    /// caller stops the VM at the deadline). At the end of the console, the
    /// VMM is reaped and a failure is logged.
    pub fn next_line(&mut self, timeout: Duration) -> Result<Option<String>, EnvError> {
        match self.deadline.next_line(&mut self.child.lines, timeout) {
            Ok(None) => {
                // Console closed: the VMM exited. Report how, if it failed.
                let status = self.child.finish(Duration::from_secs(2));
                if !status.success() && !self.child.was_killed() {
                    let last = self.child.stderr.last_line();
                    if !last.is_empty() {
                        tracing::warn!("{} exited with {status}: {last}", self.child.name());
                    }
                }
                Ok(None)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(env: Vec<(String, String)>) -> GuestImage {
        GuestImage {
            kernel: GuestKernel {
                source: KernelSource::User("/k".into()),
                image: "/k".into(),
                modules: vec![],
                dir: None,
                config: None,
            },
            initramfs: Initramfs {
                path: "/i".into(),
                key: "k".into(),
                bytes: 0,
                cached: true,
                in_use: None,
            },
            modules_inside: vec![
                "/lib/modules/virtio_ring.ko".into(),
                "/lib/modules/virtio.ko".into(),
            ],
            env,
            root_drive: None,
        }
    }

    fn knn() -> AgentInvocation {
        AgentInvocation::run(
            isobench_records::ModelSpec::new(isobench_records::Workload::Knn),
            10,
            1,
        )
    }

    #[test]
    fn cmdline_carries_env_modules_halt_and_args() {
        let line = kernel_cmdline(
            &["console=ttyS0".into()],
            &image(vec![(
                "ORT_DYLIB_PATH".into(),
                "/lib/libonnxruntime.so".into(),
            )]),
            &knn(),
            Halt::Poweroff,
        )
        .unwrap();
        assert_eq!(
            line,
            "console=ttyS0 ORT_DYLIB_PATH=/lib/libonnxruntime.so -- run --workload knn --iterations 10 --warmup 1 --modules /lib/modules/virtio_ring.ko,/lib/modules/virtio.ko --halt poweroff"
        );
        let mut spaced = knn();
        spaced.model_mut().unwrap().assets = Some("/a b".into());
        let err = kernel_cmdline(&[], &image(vec![]), &spaced, Halt::Reboot).unwrap_err();
        assert!(err.to_string().contains("`/a b`"), "{err}");
        let mut long = knn();
        long.model_mut().unwrap().assets = Some("x".repeat(3000).into());
        assert!(kernel_cmdline(&[], &image(vec![]), &long, Halt::Reboot)
            .unwrap_err()
            .to_string()
            .contains("limit"));
    }

    #[test]
    fn a_root_drive_is_named_to_the_agent() {
        let mut image = image(vec![]);
        image.root_drive = Some(crate::user_root::Ext4Image {
            path: "/c/user-roots/tree-0123.ext4".into(),
            bytes: 1,
            cached: true,
        });
        let exec = AgentInvocation::exec(isobench_records::user::ExecSpec::new(
            vec!["true".into()],
            isobench_records::user::Measure::Process,
            1,
            0,
        ));
        let line = kernel_cmdline(&["console=ttyS0".into()], &image, &exec, Halt::Reboot).unwrap();
        let spec = match &exec {
            AgentInvocation::Exec(e) => e.spec.encode(),
            _ => unreachable!(),
        };
        assert_eq!(
            line,
            format!("console=ttyS0 -- exec --spec {spec} --root-device /dev/vda --modules /lib/modules/virtio_ring.ko,/lib/modules/virtio.ko --halt reboot")
        );
    }

    #[test]
    fn work_dir_is_removed() {
        let base = tempfile::tempdir().unwrap();
        let mut dir = WorkDir::create(base.path(), "vm").unwrap();
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("sock"), b"").unwrap();
        dir.remove().unwrap();
        assert!(!path.exists());
        dir.remove().unwrap();
    }
}
