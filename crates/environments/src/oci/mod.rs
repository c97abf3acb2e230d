//! `oci-runc`, `oci-crun`, `gvisor`: an OCI runtime driven directly on a
//! bundle, the fastest way to start a container.
//!
//! - [`Environment::prepare`] copies the payload into a cached read-only
//!   rootfs under `<cache>/oci/rootfs-<digest>` ([`bundle::ensure_rootfs`]).
//! - [`Environment::launch`] writes a per-run bundle (`config.json` from
//!   `oci-spec`) under the work directory and runs `<runtime> --root
//!   /run/isobench/<runtime> run --bundle DIR ID` in the foreground (gVisor:
//!   `runsc --network=none --platform=ptrace ...`): the agent's stdout is the
//!   runtime's. The container's cgroup is `/isobench/<run>/ctr`; isobench
//!   creates and meters `/isobench/<run>` so the totals survive the
//!   container (all three runtimes charge the container there on this
//!   host; if a runtime does not create the group, the runtime's process
//!   tree is metered instead).
//! - [`Instance::stop`] kills the container if needed, runs `<runtime>
//!   delete -f ID`, reads the final counters and removes the cgroups and
//!   the bundle directory.
//! - crun on a hybrid cgroup host needs the hugetlb workaround ([`hugetlb`]).

pub mod bundle;
pub mod hugetlb;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::containers::{container_name, PayloadFiles, RunCgroup, ASSETS_INSIDE};
use crate::process::ChildProcess;
use crate::registry::{which, EnvOptions};
use crate::{
    AgentPayload, Availability, EnvError, EnvKind, Environment, EnvironmentInfo, ExitInfo,
    HostFacts, Instance, LaunchSpec, MeterTarget, Prepared,
};

use hugetlb::{HugetlbGuard, HybridState};

/// Directory under which each runtime keeps its container state (`--root`).
pub const STATE_ROOT: &str = "/run/isobench";

/// Longest wait at launch for the runtime to create the container's cgroup.
const CGROUP_APPEAR_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait for the rest of an ended runtime's stderr (diagnostics).
const STDERR_SETTLE: Duration = Duration::from_millis(500);

/// The runtime program of a kind, and its fixed global flags.
fn runtime_of(kind: EnvKind) -> Option<(&'static str, &'static [&'static str])> {
    match kind {
        EnvKind::OciRunc => Some(("runc", &[])),
        EnvKind::OciCrun => Some(("crun", &[])),
        // No network stack at all (the agent needs none); ptrace platform:
        // the kvm platform hangs on these machines.
        EnvKind::Gvisor => Some(("runsc", &["--network=none", "--platform=ptrace"])),
        _ => None,
    }
}

fn install_fix(program: &str) -> String {
    format!("apt-get install -y {program}")
}

/// `runc version 1.1.5+ds1` / `crun version 1.8.1` / `runsc version 0.0~20221219.0`.
fn runtime_version(binary: &Path) -> Option<String> {
    let out = Command::new(binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next()?.trim();
    Some(first.replace(" version ", " "))
}

/// Probes whether `kind` can run: the runtime on `PATH` and its version,
/// root, cgroup v1, and for crun the hybrid-cgroup situation.
pub fn detect(kind: EnvKind, host: &HostFacts, _options: &crate::EnvOptions) -> Availability {
    let Some((program, _)) = runtime_of(kind) else {
        return Availability::no(
            kind,
            "not an OCI runtime environment",
            "use oci-runc, oci-crun or gvisor",
        );
    };
    let Some(binary) = which(program) else {
        return Availability::no(
            kind,
            format!("{program} not installed (not on PATH)"),
            install_fix(program),
        );
    };
    let version =
        runtime_version(&binary).unwrap_or_else(|| format!("{program} (version unknown)"));
    if !host.root {
        return Availability::no(
            kind,
            format!("{version}: isobench drives it as root only"),
            "run isobench as root",
        );
    }
    if !host.cgroup_v1 {
        return Availability::no(
            kind,
            format!(
                "{version}: isobench's container metering needs cgroup v1 (this host is cgroup v2)"
            ),
            "boot with cgroup v1 / hybrid (systemd.unified_cgroup_hierarchy=0)",
        );
    }
    if kind == EnvKind::OciCrun {
        match hugetlb::hybrid_state() {
            HybridState::Fine => {}
            HybridState::NeedsHugetlbMount => {
                return Availability::yes(
                    kind,
                    format!(
                        "{version}; hybrid cgroups: crun refuses them while cgroup2 owns hugetlb, so isobench mounts \
                         hugetlb as a cgroup v1 hierarchy at {} while crun runs and unmounts it afterwards",
                        hugetlb::HUGETLB_MOUNT
                    ),
                )
            }
            HybridState::Unfixable(controllers) => {
                return Availability::no(
                    kind,
                    format!(
                        "{version} refuses hybrid cgroups (\"cgroups in hybrid mode not supported\"); cgroup2 owns {}",
                        controllers.join(", ")
                    ),
                    "move those controllers to cgroup v1 hierarchies or use oci-runc",
                )
            }
        }
    }
    Availability::yes(kind, version)
}

/// An OCI runtime environment.
pub struct Oci {
    kind: EnvKind,
    program: &'static str,
    binary: PathBuf,
    global_args: &'static [&'static str],
    version: String,
    cache_dir: PathBuf,
    work_dir: PathBuf,
    /// The prepared rootfs: its directory and the hold that keeps it cached.
    rootfs: Option<bundle::Rootfs>,
    payload: Option<AgentPayload>,
    hugetlb: Option<HugetlbGuard>,
}

impl Oci {
    /// Finds the runtime for `kind` (`oci-runc`, `oci-crun`, `gvisor`).
    pub fn new(kind: EnvKind, options: &EnvOptions) -> Result<Oci, EnvError> {
        let (program, global_args) = runtime_of(kind).ok_or_else(|| EnvError::Unavailable {
            env: kind.name().into(),
            reason: "not an OCI runtime environment".into(),
            fix: "use oci-runc, oci-crun or gvisor".into(),
        })?;
        let binary = which(program).ok_or_else(|| EnvError::Unavailable {
            env: kind.name().into(),
            reason: format!("{program} not installed (not on PATH)"),
            fix: install_fix(program),
        })?;
        let version = runtime_version(&binary).unwrap_or_else(|| program.to_string());
        Ok(Oci {
            kind,
            program,
            binary,
            global_args,
            version,
            cache_dir: options.cache_dir.clone(),
            work_dir: options.work_dir.clone(),
            rootfs: None,
            payload: None,
            hugetlb: None,
        })
    }

    fn state_root(&self) -> PathBuf {
        Path::new(STATE_ROOT).join(self.program)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root")
            .arg(self.state_root())
            .args(self.global_args);
        cmd
    }

    /// Container ids the runtime still knows under isobench's state root.
    pub fn leftover_containers(&self) -> Vec<String> {
        std::fs::read_dir(self.state_root())
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Environment for Oci {
    fn kind(&self) -> EnvKind {
        self.kind
    }

    fn info(&self) -> EnvironmentInfo {
        let mut notes = vec![format!(
            "OCI bundle, read-only rootfs with the static agent, new network namespace (no network), cgroup /isobench/<run>/ctr; runtime flags: {}",
            if self.global_args.is_empty() { "none".to_string() } else { self.global_args.join(" ") }
        )];
        if self.kind == EnvKind::Gvisor {
            notes.push("gVisor platform ptrace (the kvm platform hangs on kvm-pvm hosts)".into());
        }
        if self.kind == EnvKind::OciCrun && HugetlbGuard::mounted_by_isobench() {
            notes.push(format!(
                "hybrid cgroups: hugetlb mounted as a cgroup v1 hierarchy at {} for crun",
                hugetlb::HUGETLB_MOUNT
            ));
        }
        EnvironmentInfo {
            name: self.kind.name().into(),
            runtime_version: Some(self.version.clone()),
            accel: None,
            emulated: false,
            notes,
        }
    }

    fn prepare(&mut self, payload: &AgentPayload) -> Result<Prepared, EnvError> {
        let started = Instant::now();
        if self.kind == EnvKind::OciCrun && self.hugetlb.is_none() {
            self.hugetlb = Some(HugetlbGuard::acquire()?);
        }
        let files = PayloadFiles::collect(payload)?;
        let rootfs = bundle::ensure_rootfs(&self.cache_dir, &files)?;
        let prepared = Prepared {
            image_bytes: Some(rootfs.bytes),
            image_id: Some(rootfs.dir.display().to_string()),
            cached: rootfs.cached,
            prepare_seconds: started.elapsed().as_secs_f64(),
        };
        self.payload = Some(payload.clone());
        self.rootfs = Some(rootfs);
        Ok(prepared)
    }

    fn assets_path_inside(&self) -> PathBuf {
        PathBuf::from(ASSETS_INSIDE)
    }

    fn launch(&mut self, spec: &LaunchSpec) -> Result<Box<dyn Instance>, EnvError> {
        let (Some(rootfs), Some(payload)) = (
            self.rootfs.as_ref().map(|r| r.dir.clone()),
            self.payload.as_ref(),
        ) else {
            return Err(EnvError::Command {
                program: self.program.into(),
                message: "launch called before prepare".into(),
            });
        };
        let id = container_name(&spec.run_id);
        let cgroup = RunCgroup::create(&spec.run_id.to_string())?;
        let cgroups_path = format!("{}/ctr", cgroup.path());
        let ctr_cgroup = cgroup.dir_in("cpuacct").join("ctr");
        let bundle_dir = self.work_dir.join(format!("oci-{id}"));
        let mut guard = BundleGuard {
            dir: bundle_dir.clone(),
            cgroup: Some(cgroup),
        };
        let launched_at = Instant::now();
        bundle::write_bundle(
            &bundle_dir,
            &bundle::BundleConfig {
                rootfs: &rootfs,
                agent_args: &spec.agent_args,
                env: &payload.env,
                limits: &spec.limits,
                cgroups_path: &cgroups_path,
            },
        )?;
        let state_root = self.state_root();
        std::fs::create_dir_all(&state_root).map_err(|e| {
            EnvError::io(
                format!(
                    "creating the runtime state directory {}",
                    state_root.display()
                ),
                e,
            )
        })?;
        let mut cmd = self.command();
        cmd.arg("run").arg("--bundle").arg(&bundle_dir).arg(&id);
        let mut child = ChildProcess::spawn_with_stdin(cmd, self.kind.name(), spec.interactive)?;
        // Wait (briefly: the runtime creates it before starting the agent)
        // for the container's cgroup, to know what to meter.
        let deadline = Instant::now() + CGROUP_APPEAR_TIMEOUT;
        let mut in_cgroup = false;
        while Instant::now() < deadline {
            if ctr_cgroup.is_dir() {
                in_cgroup = true;
                break;
            }
            if child.try_exit().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let cgroup = guard.cgroup.take();
        let bundle_dir = std::mem::take(&mut guard.dir);
        if !in_cgroup {
            let exited = child.try_exit().is_some();
            tracing::warn!(
                "{}: no container cgroup at {} ({}); metering the runtime's process tree",
                self.kind,
                ctr_cgroup.display(),
                if exited {
                    "the runtime already exited"
                } else {
                    "not created in time"
                }
            );
        }
        Ok(Box::new(OciInstance {
            env: self.kind.name().to_string(),
            command: self.command(),
            id,
            pid: child.pid(),
            child,
            bundle_dir,
            cgroup,
            in_cgroup,
            launched_at,
            timeout_at: launched_at + spec.timeout,
            result: None,
            killed: false,
        }))
    }

    fn teardown(&mut self) -> Result<(), EnvError> {
        self.hugetlb = None;
        Ok(())
    }
}

/// Removes the bundle directory and the run cgroup when launch fails half-way.
struct BundleGuard {
    dir: PathBuf,
    cgroup: Option<RunCgroup>,
}

impl Drop for BundleGuard {
    fn drop(&mut self) {
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One container run by an OCI runtime in the foreground.
struct OciInstance {
    env: String,
    command: Command,
    id: String,
    pid: i32,
    child: ChildProcess,
    bundle_dir: PathBuf,
    cgroup: Option<RunCgroup>,
    in_cgroup: bool,
    launched_at: Instant,
    timeout_at: Instant,
    result: Option<ExitInfo>,
    killed: bool,
}

impl OciInstance {
    /// Runs `<runtime> <global flags> ARGS...`, returning stderr on failure.
    fn runtime(&self, args: &[&str]) -> Result<(), String> {
        let mut cmd = Command::new(self.command.get_program());
        cmd.args(self.command.get_args()).args(args);
        match cmd.output() {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Instance for OciInstance {
    fn launched_at(&self) -> Instant {
        self.launched_at
    }

    fn next_line(&mut self, timeout: Duration) -> Result<Option<String>, EnvError> {
        let left = self.timeout_at.saturating_duration_since(Instant::now());
        match self.child.lines.next_line(timeout.min(left)) {
            Err(EnvError::Timeout { .. }) if left <= timeout => Err(EnvError::Timeout {
                env: self.env.clone(),
                seconds: (self.timeout_at - self.launched_at).as_secs_f64(),
                during: "the whole run (--timeout)".into(),
            }),
            other => other,
        }
    }

    fn meter_target(&self) -> MeterTarget {
        match (&self.cgroup, self.in_cgroup) {
            (Some(group), true) => group.meter_target(),
            (Some(_), false) => MeterTarget::ProcessTree(self.pid),
            (None, _) => MeterTarget::Unavailable("the container was already stopped".into()),
        }
    }

    fn diagnostics(&self) -> Option<String> {
        // The runtime's own errors ("cgroups in hybrid mode not supported")
        // and the agent's stderr share this stream.
        let line = self.child.stderr.last_line_at_end(STDERR_SETTLE);
        (!line.is_empty()).then_some(line)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), EnvError> {
        self.child.send(bytes)
    }

    fn close_input(&mut self) -> Result<(), EnvError> {
        self.child.close_stdin();
        Ok(())
    }

    fn stop(&mut self) -> Result<ExitInfo, EnvError> {
        if let Some(result) = &self.result {
            return Ok(result.clone());
        }
        // A serving agent ends at the end of its input.
        self.child.close_stdin();
        // Let an agent that is finishing exit by itself.
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.child.try_exit().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.child.try_exit().is_none() {
            self.killed = true;
            // The agent is PID 1 of its namespace: only SIGKILL ends it.
            let _ = self.runtime(&["kill", &self.id, "KILL"]);
        }
        let status = self.child.finish(Duration::from_secs(5));
        self.killed |= self.child.was_killed();
        let mut first_err: Option<EnvError> = None;
        // `--force`: runc and crun also take `-f`, runsc only the long form.
        if let Err(message) = self.runtime(&["delete", "--force", &self.id]) {
            let gone = [
                "does not exist",
                "not exist",
                "no such",
                "not found",
                "cannot find",
            ]
            .iter()
            .any(|m| message.to_lowercase().contains(m));
            if !gone {
                first_err = Some(EnvError::Command {
                    program: format!(
                        "{} delete --force {}",
                        self.command.get_program().to_string_lossy(),
                        self.id
                    ),
                    message,
                });
            }
        }
        let (cpu, peak) = match &self.cgroup {
            Some(g) if self.in_cgroup => (g.cpu_seconds(), g.peak_memory()),
            _ => (None, None),
        };
        if let Some(mut group) = self.cgroup.take() {
            if let Err(e) = group.remove() {
                first_err.get_or_insert(e);
            }
        }
        if self.bundle_dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.bundle_dir) {
                first_err.get_or_insert(EnvError::io(
                    format!("removing bundle {}", self.bundle_dir.display()),
                    e,
                ));
            }
        }
        // The state directories are only kept while containers exist.
        if let Some(root) = self
            .command
            .get_args()
            .skip_while(|a| *a != "--root")
            .nth(1)
        {
            let root = Path::new(root);
            if std::fs::remove_dir(root).is_ok() {
                let _ = root.parent().map(std::fs::remove_dir);
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        if !status.success() {
            let line = self.child.stderr.last_line();
            if !line.is_empty() {
                tracing::warn!(
                    "{} container {} ended with {status}: {line}",
                    self.env,
                    self.id
                );
            }
        }
        let result = ExitInfo {
            code: status.code().map(i64::from),
            killed: self.killed,
            final_cpu_seconds: cpu,
            final_peak_memory_bytes: peak,
        };
        self.result = Some(result.clone());
        Ok(result)
    }
}

impl Drop for OciInstance {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!("cleaning up {} container {}: {e}", self.env, self.id);
        }
    }
}
