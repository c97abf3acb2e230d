//! One Firecracker process: spawn it (directly or through the jailer), wait
//! for its API, configure and start the guest, and tear it all down.

use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::instance::{StopGuard, Teardown};
use crate::process::ChildProcess;
use crate::vm::{VmmProcess, WorkDir};
use crate::{EnvError, ExitInfo};

use super::api::{
    ActionType, ApiClient, BootSource, Drive, FullVmConfiguration, MachineConfig, MemBackend,
    SnapshotCreate, SnapshotLoad, Vsock,
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
    /// A restored, unjailed VM: the directory its vsock socket was
    /// re-created in (the snapshotted VM's, gone with it), removed at teardown.
    restored_socket_dir: Option<PathBuf>,
}

/// The file of a snapshot's directory naming the vsock socket (host path)
/// the snapshotted VM had: a restored VM binds the same path.
const SNAPSHOT_VSOCK_FILE: &str = "vsock-path";

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
            restored_socket_dir: None,
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

    /// Pauses the guest and writes a full snapshot into the host directory
    /// `dir`: `vm.snap` (device and vCPU state) and `vm.mem` (guest memory),
    /// as Firecracker's snapshot documentation describes (`PATCH /vm`
    /// Paused, `PUT /snapshot/create` Full). Jailed, Firecracker writes into
    /// its chroot and the files are moved out. The VM stays paused: stop it.
    pub fn snapshot_into(&mut self, dir: &Path) -> Result<(), EnvError> {
        match &self.jail {
            None => {
                self.api.create_snapshot(dir, false)?;
            }
            Some(jail) => {
                let inside = SnapshotCreate::full_into(Path::new("/"));
                self.api.create_snapshot(Path::new("/"), false)?;
                for file in [&inside.snapshot_path, &inside.mem_file_path] {
                    let name = file.file_name().unwrap_or_default();
                    let from = jail.root.join(name);
                    let to = dir.join(name);
                    if std::fs::rename(&from, &to).is_err() {
                        std::fs::copy(&from, &to)
                            .and_then(|_| std::fs::remove_file(&from))
                            .map_err(|e| {
                                EnvError::io(
                                    format!("moving {} out of the jail", from.display()),
                                    e,
                                )
                            })?;
                    }
                }
            }
        }
        if let (None, Some(uds)) = (&self.jail, &self.vsock_uds) {
            std::fs::write(
                dir.join(SNAPSHOT_VSOCK_FILE),
                uds.as_os_str().as_encoded_bytes(),
            )
            .map_err(|e| EnvError::io(format!("writing {}", dir.display()), e))?;
        }
        Ok(())
    }

    /// Loads the snapshot [`FirecrackerVm::snapshot_into`] wrote in `dir`
    /// into this fresh, unconfigured VMM (`PUT /snapshot/load`, memory from
    /// the file, resumed); returns when Firecracker answered, the guest
    /// running again. The vsock device comes back with the socket path it
    /// had: unjailed, its directory (the snapshotted VM's work directory,
    /// removed with it) is created again for this VM and removed with it;
    /// jailed, the path is inside this VM's own chroot.
    pub fn restore_from(&mut self, dir: &Path) -> Result<Instant, EnvError> {
        let on_host = SnapshotCreate::full_into(dir);
        for file in [&on_host.snapshot_path, &on_host.mem_file_path] {
            if !file.is_file() {
                return Err(EnvError::MissingFile {
                    what: "Firecracker snapshot".into(),
                    path: file.clone(),
                    fix: "take the snapshot first (cold-start --from snapshot does)".into(),
                });
            }
        }
        let (snapshot_path, mem_path) = match &self.jail {
            None => (on_host.snapshot_path, on_host.mem_file_path),
            Some(jail) => (
                jail.stage(&on_host.snapshot_path, "vm.snap")?,
                jail.stage(&on_host.mem_file_path, "vm.mem")?,
            ),
        };
        if self.jail.is_none() {
            if let Ok(uds) = std::fs::read(dir.join(SNAPSHOT_VSOCK_FILE)) {
                let uds = PathBuf::from(std::ffi::OsString::from_vec(uds));
                if let Some(parent) = uds.parent().filter(|p| !p.exists()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| EnvError::io(format!("creating {}", parent.display()), e))?;
                    self.restored_socket_dir = Some(parent.to_path_buf());
                }
                let _ = std::fs::remove_file(&uds);
                self.vsock_uds = Some(uds);
            }
        }
        let at = Instant::now();
        self.started_at = Some(at);
        self.api.load_snapshot(&SnapshotLoad {
            snapshot_path,
            mem_backend: MemBackend {
                backend_type: "File".into(),
                backend_path: mem_path,
            },
            enable_diff_snapshots: false,
            resume_vm: true,
        })?;
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
        if let Some(dir) = self.restored_socket_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for Firecracker (python3, on every machine here): serves
    /// the API on `--api-sock`, logs every request's line and body, answers
    /// `GET /version`, and writes the files `PUT /snapshot/create` names.
    const FAKE_FIRECRACKER: &str = r#"#!/usr/bin/env python3
import json, os, socket, sys
args = sys.argv[1:]
sock = args[args.index("--api-sock") + 1]
log = os.path.join(os.path.dirname(sock), "requests.log")
server = socket.socket(socket.AF_UNIX)
server.bind(sock)
server.listen(8)
while True:
    conn, _ = server.accept()
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(4096)
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.decode().split("\r\n"):
        if line.lower().startswith("content-length:"):
            length = int(line.split(":")[1])
    while len(body) < length:
        body += conn.recv(4096)
    line = head.decode().split("\r\n")[0]
    with open(log, "a") as f:
        f.write(json.dumps([line, body.decode()]) + "\n")
    if line.startswith("GET /version"):
        payload = b'{"firecracker_version": "1.12.1"}'
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload))
    else:
        if line.startswith("PUT /snapshot/create"):
            request = json.loads(body)
            for key in ("snapshot_path", "mem_file_path"):
                with open(request[key], "w") as f:
                    f.write(key)
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
    conn.close()
"#;

    fn fake_binary(dir: &Path) -> PathBuf {
        let path = dir.join("firecracker");
        std::fs::write(&path, FAKE_FIRECRACKER).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        path
    }

    fn requests(vm: &FirecrackerVm) -> Vec<(String, serde_json::Value)> {
        std::fs::read_to_string(vm.work_path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (line, body): (String, String) = serde_json::from_str(l).unwrap();
                let body = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                (line, body)
            })
            .filter(|(line, _)| !line.starts_with("GET /version"))
            .collect()
    }

    #[test]
    fn a_snapshot_is_written_then_loaded_into_a_fresh_vmm_with_its_vsock_path() {
        if crate::host::which("python3").is_none() {
            eprintln!("skipped: no python3 for the Firecracker stand-in");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let binary = fake_binary(dir.path());
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let snapshot = dir.path().join("snapshot");
        std::fs::create_dir_all(&snapshot).unwrap();
        let (timeout, within) = (Duration::from_secs(30), Duration::from_secs(10));
        let mut source = FirecrackerVm::spawn(&binary, &work, "run-0", timeout, within).unwrap();
        let uds = source.socket_dir().join("vsock.sock");
        source
            .configure(&VmConfig {
                kernel: "/k".into(),
                initrd: None,
                boot_args: "console=ttyS0".into(),
                vcpus: 1,
                mem_mib: 128,
                vsock: Some((3, uds.clone())),
            })
            .unwrap();
        source.snapshot_into(&snapshot).unwrap();
        let sent = requests(&source);
        let tail: Vec<&str> = sent[sent.len() - 2..]
            .iter()
            .map(|(l, _)| l.as_str())
            .collect();
        assert_eq!(
            tail,
            ["PATCH /vm HTTP/1.1", "PUT /snapshot/create HTTP/1.1"],
            "{sent:?}"
        );
        assert_eq!(sent[sent.len() - 2].1["state"], "Paused");
        for file in ["vm.snap", "vm.mem"] {
            assert!(snapshot.join(file).is_file(), "no {file}");
        }
        source.stop().unwrap();
        assert!(
            !uds.parent().unwrap().exists(),
            "the source's work dir stays"
        );

        let mut restored = FirecrackerVm::spawn(&binary, &work, "run-1", timeout, within).unwrap();
        restored.restore_from(&snapshot).unwrap();
        let sent = requests(&restored);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].0, "PUT /snapshot/load HTTP/1.1");
        assert_eq!(
            sent[0].1,
            serde_json::json!({
                "snapshot_path": snapshot.join("vm.snap"),
                "mem_backend": {"backend_type": "File", "backend_path": snapshot.join("vm.mem")},
                "enable_diff_snapshots": false,
                "resume_vm": true
            })
        );
        // The vsock device comes back bound to the source's path: its
        // directory exists again while the restored VM lives, not after.
        assert_eq!(restored.vsock_socket(), Some(uds.as_path()));
        assert!(uds.parent().unwrap().is_dir());
        assert!(restored.started_at.is_some());
        restored.stop().unwrap();
        assert!(
            !uds.parent().unwrap().exists(),
            "the re-created socket dir stays"
        );

        let mut empty = FirecrackerVm::spawn(&binary, &work, "run-2", timeout, within).unwrap();
        let missing = empty.restore_from(dir.path()).unwrap_err().to_string();
        assert!(missing.contains("vm.snap"), "{missing}");
        empty.stop().unwrap();
        assert!(
            std::fs::read_dir(&work).unwrap().next().is_none(),
            "work dirs left in {}",
            work.display()
        );
    }
}
