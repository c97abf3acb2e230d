//! One Firecracker process: spawn it (directly or through the jailer), wait
//! for its API, configure and start the guest, and tear it all down.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::instance::{StopGuard, Teardown};
use crate::process::ChildProcess;
use crate::vm::{VmmProcess, WorkDir};
use crate::{EnvError, ExitInfo};

use super::api::{
    ActionType, ApiClient, BootSource, Drive, FullVmConfiguration, MachineConfig, Vsock,
};
use super::jailer::{Jail, JailerConfig, JAIL_API_SOCKET, JAIL_LOG};
use super::ENV;

/// What to boot.
#[derive(Debug, Clone, PartialEq)]
pub struct VmConfig {
    /// ELF kernel (`vmlinux`, or a PVH ELF).
    pub kernel: PathBuf,
    /// initrd, if any.
    pub initrd: Option<PathBuf>,
    /// Kernel command line.
    pub boot_args: String,
    /// vCPUs.
    pub vcpus: u32,
    /// Guest memory in MiB.
    pub mem_mib: u64,
    /// Guest CID and host Unix socket of the vsock device, if any.
    pub vsock: Option<(u32, PathBuf)>,
}

/// The `PUT /drives/rootfs` body of the root drive at `path` (as the VMM
/// sees it): not the boot device (the initramfs is; the agent mounts the
/// drive itself), read-only. The guest's only block device: `/dev/vda`.
pub fn root_drive(path: &Path) -> Drive {
    Drive {
        drive_id: "rootfs".into(),
        path_on_host: path.to_path_buf(),
        is_root_device: false,
        is_read_only: true,
        partuuid: None,
        cache_type: None,
        io_engine: None,
        rate_limiter: None,
        socket: None,
    }
}

/// One Firecracker process and its API: spawn, configure, start. Spawned
/// inside a [`StopGuard`]: everything it creates lives in its [`WorkDir`]
/// (and, jailed, in its cgroups), removed on stop and drop.
pub struct FirecrackerVm {
    /// The VMM process and console lines.
    pub vmm: VmmProcess,
    /// The API client.
    pub api: ApiClient,
    /// When `InstanceStart` was sent (None before start).
    pub started_at: Option<Instant>,
    workdir: WorkDir,
    jail: Option<Jail>,
    log: PathBuf,
    boot_timer: Option<String>,
    /// The vsock device's host socket, once configured.
    vsock_uds: Option<PathBuf>,
}

impl FirecrackerVm {
    /// Spawns `binary --api-sock <workdir>/api.sock` and waits (up to
    /// `within`) for the API to answer `GET /version`. The guest's serial
    /// input is empty.
    pub fn spawn(
        binary: &Path,
        work_dir: &Path,
        run_id: &str,
        timeout: Duration,
        within: Duration,
    ) -> Result<StopGuard<Self>, EnvError> {
        Self::spawn_process(binary, None, work_dir, run_id, timeout, within, false)
    }

    /// Like [`FirecrackerVm::spawn`], through the jailer: the
    /// chroot is `<work dir>/fc-<run_id>-XXXX/jail/<exec name>/<run_id>/root`,
    /// the API socket `<chroot>/run/firecracker.socket`, the log
    /// `<chroot>/firecracker.log`. Kernel and initrd are linked into the
    /// chroot by [`FirecrackerVm::configure`]; sockets the VM creates (vsock)
    /// must be in [`FirecrackerVm::socket_dir`].
    pub fn spawn_jailed(
        binary: &Path,
        jailer: &JailerConfig,
        work_dir: &Path,
        run_id: &str,
        timeout: Duration,
        within: Duration,
        interactive: bool,
    ) -> Result<StopGuard<Self>, EnvError> {
        Self::spawn_process(
            binary,
            Some(jailer),
            work_dir,
            run_id,
            timeout,
            within,
            interactive,
        )
    }

    /// Spawns Firecracker, through `jailer` when given, for launch `run_id`
    /// (whole-run `timeout`), and waits up to `within` for its API; with
    /// `interactive`, Firecracker's stdin (the guest's serial input) is a
    /// pipe written by [`ChildProcess::send`].
    pub fn spawn_process(
        binary: &Path,
        jailer: Option<&JailerConfig>,
        work_dir: &Path,
        run_id: &str,
        timeout: Duration,
        within: Duration,
        interactive: bool,
    ) -> Result<StopGuard<Self>, EnvError> {
        let launched_at = Instant::now();
        let workdir = WorkDir::create(work_dir, &format!("fc-{run_id}"))?;
        let id: String = run_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .take(64)
            .collect();
        let (command, socket, log, mut jail) = match jailer {
            None => Self::direct_command(binary, &workdir, &id)?,
            Some(config) => {
                let jail = Jail::prepare(binary, config, workdir.path(), &id)?;
                let socket = jail.root.join(JAIL_API_SOCKET.trim_start_matches('/'));
                let log = jail.root.join(JAIL_LOG.trim_start_matches('/'));
                let command = jail.command(binary, workdir.path());
                match command {
                    Ok(command) => (command, socket, log, Some(jail)),
                    Err(e) => {
                        let mut jail = jail;
                        let _ = jail.remove();
                        return Err(e);
                    }
                }
            }
        };
        let child = match ChildProcess::spawn_with_stdin(command, ENV, interactive) {
            Ok(child) => child,
            Err(e) => {
                if let Some(jail) = &mut jail {
                    let _ = jail.remove();
                }
                return Err(e);
            }
        };
        // From here on, the guard removes the jail and its cgroups (stop, error, drop).
        let mut vm = StopGuard::new(FirecrackerVm {
            vmm: VmmProcess::new(child, ENV, launched_at, timeout),
            api: ApiClient::new(&socket),
            started_at: None,
            workdir,
            jail,
            log,
            boot_timer: None,
            vsock_uds: None,
        });
        vm.await_api(&socket, within)?;
        Ok(vm)
    }

    /// `binary --api-sock ... --log-path ...` with both in the work directory.
    fn direct_command(
        binary: &Path,
        workdir: &WorkDir,
        id: &str,
    ) -> Result<(Command, PathBuf, PathBuf, Option<Jail>), EnvError> {
        let socket = workdir.path().join("api.sock");
        let log = workdir.path().join("firecracker.log");
        // Firecracker opens `--log-path` without creating it.
        std::fs::write(&log, b"")
            .map_err(|e| EnvError::io(format!("creating {}", log.display()), e))?;
        let mut command = Command::new(binary);
        command
            .arg("--api-sock")
            .arg(&socket)
            .args(["--id", id, "--level", "Info", "--boot-timer", "--log-path"])
            .arg(&log);
        Ok((command, socket, log, None))
    }

    /// Waits up to `within` for the API on `socket` to answer; fails with
    /// Firecracker's (or the jailer's) own reason when it exits first.
    fn await_api(&mut self, socket: &Path, within: Duration) -> Result<(), EnvError> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.vmm.child.try_exit() {
                // Let the stderr reader take in the last words (the jailer's error).
                let _ = self
                    .vmm
                    .child
                    .stderr
                    .last_line_at_end(Duration::from_secs(1));
                return Err(EnvError::Vmm {
                    vmm: ENV.into(),
                    message: format!("exited at start ({status}): {}", self.failure_reason()),
                });
            }
            if socket.exists() && self.api.version().is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(EnvError::Vmm {
                    vmm: ENV.into(),
                    message: format!(
                        "API socket did not answer within {:.0} s",
                        within.as_secs_f64()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// A host path as Firecracker sees it: unchanged, or inside the jail's chroot.
    fn vmm_path(&self, host: &Path, what: &str) -> Result<PathBuf, EnvError> {
        match &self.jail {
            None => Ok(host.to_path_buf()),
            Some(jail) => jail.inside(host).ok_or_else(|| EnvError::Vmm {
                vmm: ENV.into(),
                message: format!(
                    "{what} {} is outside the jail's chroot {}; put it in FirecrackerVm::socket_dir()",
                    host.display(),
                    jail.root.display()
                ),
            }),
        }
    }

    /// Applies `config` through the API (boot source, machine config, vsock).
    /// Jailed, the kernel and initrd are first linked into the chroot (as
    /// `/vmlinux` and `/initrd`) and passed with paths inside it.
    pub fn configure(&mut self, config: &VmConfig) -> Result<(), EnvError> {
        let (kernel, initrd) = match &self.jail {
            None => (config.kernel.clone(), config.initrd.clone()),
            Some(jail) => (
                jail.stage(&config.kernel, "vmlinux")?,
                config
                    .initrd
                    .as_deref()
                    .map(|i| jail.stage(i, "initrd"))
                    .transpose()?,
            ),
        };
        self.api.put_boot_source(&BootSource {
            kernel_image_path: kernel,
            initrd_path: initrd,
            boot_args: Some(config.boot_args.clone()),
        })?;
        self.api.put_machine_config(&MachineConfig {
            vcpu_count: config.vcpus,
            mem_size_mib: config.mem_mib,
            smt: false,
            track_dirty_pages: None,
            huge_pages: None,
            cpu_template: None,
        })?;
        if let Some((cid, uds)) = &config.vsock {
            // A stale socket makes Firecracker fail with "Address in use".
            let _ = std::fs::remove_file(uds);
            self.api.put_vsock(&Vsock {
                guest_cid: *cid,
                uds_path: self.vmm_path(uds, "vsock socket")?,
            })?;
            self.vsock_uds = Some(uds.clone());
        }
        Ok(())
    }

    /// Attaches `image` (the user's tree as ext4, `--workload command`) as
    /// the guest's read-only virtio block device ([`root_drive`]); jailed,
    /// it is first linked into the chroot (as `/rootfs.ext4`). Before
    /// [`FirecrackerVm::start`].
    pub fn attach_root_drive(&mut self, image: &Path) -> Result<(), EnvError> {
        let path = match &self.jail {
            None => image.to_path_buf(),
            Some(jail) => jail.stage(image, "rootfs.ext4")?,
        };
        self.api.put_drive(&root_drive(&path))
    }

    /// Sends `InstanceStart`; returns when Firecracker accepted it.
    pub fn start(&mut self) -> Result<Instant, EnvError> {
        let at = Instant::now();
        self.started_at = Some(at);
        self.api.action(ActionType::InstanceStart)?;
        Ok(at)
    }

    /// The VMM's view of the configuration (`GET /vm/config`).
    pub fn vm_config(&self) -> Result<FullVmConfiguration, EnvError> {
        self.api.vm_config()
    }

    /// The per-instance work directory (sockets, log; the jail when jailed).
    pub fn work_path(&self) -> &Path {
        self.workdir.path()
    }

    /// Where sockets the VM creates (vsock) must go: the work directory, or
    /// the chroot when jailed.
    pub fn socket_dir(&self) -> &Path {
        match &self.jail {
            Some(jail) => &jail.root,
            None => self.workdir.path(),
        }
    }

    /// The vsock device's host Unix socket, once [`FirecrackerVm::configure`] set one.
    pub fn vsock_socket(&self) -> Option<&Path> {
        self.vsock_uds.as_deref()
    }

    /// The jail's chroot (`<chroot-base>/<exec name>/<id>/root`), when jailed.
    pub fn chroot(&self) -> Option<&Path> {
        self.jail.as_ref().map(|j| j.root.as_path())
    }

    /// The cgroup v1 directories the jailer makes for this VM (empty when
    /// not jailed or when no cgroup setting was asked for).
    pub fn jail_cgroups(&self) -> &[PathBuf] {
        self.jail.as_ref().map_or(&[], |j| j.cgroups.as_slice())
    }

    /// Firecracker's `Guest-boot-time` log line, once the VM has stopped (if the guest triggered it).
    pub fn boot_timer_line(&self) -> Option<&str> {
        self.boot_timer.as_deref()
    }

    /// A one-line reason for a failure: Firecracker's last error log line, else its stderr.
    pub fn failure_reason(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .rev()
            .find(|l| l.contains("ERROR") || l.contains("Error") || l.contains("error"))
            .map(|l| l.trim().to_string())
            .or_else(|| {
                // The jailer panics with `Jailer error: ...`, then a backtrace note.
                let stderr = &self.vmm.child.stderr;
                stderr
                    .last_line_where(|l| l.contains("Jailer error"))
                    .or_else(|| {
                        stderr.last_line_where(|l| l.to_ascii_lowercase().contains("error"))
                    })
            })
            .unwrap_or_else(|| self.vmm.child.stderr.last_line())
    }
}

impl Teardown for FirecrackerVm {
    /// Kills the VMM (there is no graceful shutdown for a Linux guest on
    /// x86 besides the guest's own reset), reaps it and removes the work
    /// directory, and when jailed the jail's tree and cgroups.
    fn teardown(&mut self) -> Result<ExitInfo, EnvError> {
        let status = self.vmm.child.finish(Duration::from_millis(200));
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains("Guest-boot-time")) {
            self.boot_timer = Some(line.trim().to_string());
        }
        let jail_removed = self.jail.as_mut().map_or(Ok(()), Jail::remove);
        self.workdir.remove().and(jail_removed)?;
        Ok(ExitInfo {
            code: status.code().map(i64::from),
            killed: self.vmm.child.was_killed(),
            final_cpu_seconds: None,
            final_peak_memory_bytes: None,
        })
    }

    fn describe(&self) -> String {
        format!("Firecracker VM {}", self.vmm.child.pid())
    }
}
