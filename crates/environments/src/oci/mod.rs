//! `oci-runc`, `oci-crun`, `oci-youki`, `gvisor`: an OCI runtime driven
//! directly on a bundle, the fastest way to start a container. The runtimes
//! are a table ([`runtime::RUNTIMES`]); they differ only in their program,
//! flags and host checks.
//!
//! - [`Environment::prepare`] copies the payload into a cached read-only
//!   rootfs under `<cache>/oci/rootfs-<digest>` ([`bundle::ensure_rootfs`]).
//! - [`Environment::launch`] writes a per-run bundle (`config.json` from
//!   `oci-spec`) under the work directory and runs `<runtime> --root
//!   /run/isobench/<runtime> run --bundle DIR ID` in the foreground (gVisor:
//!   `runsc --network=none --platform=ptrace ...`): the agent's stdout is the
//!   runtime's. The container's cgroup is `/isobench/<run>/ctr`; isobench
//!   creates and meters `/isobench/<run>` so the totals survive the
//!   container (every runtime charges the container there on this host; if
//!   a runtime does not create the group, the runtime's process tree is
//!   metered instead).
//! - [`Instance::stop`] kills the container if needed, runs `<runtime>
//!   delete --force ID`, reads the final counters and removes the cgroups
//!   and the bundle directory ([`instance`]).
//! - With a user root ([`AgentPayload::user_root`], `--workload command`)
//!   the bundle's root is the user's prepared tree itself (read-only, the
//!   agent at `/isobench-agent`, a tmpfs `/tmp`); nothing is built.
//! - crun on a hybrid cgroup host needs the hugetlb workaround ([`hugetlb`]).
//! - `isobench clean` deletes the containers dead runs left in the state
//!   root, their cgroups, and crun's workaround when no live run uses it
//!   ([`clean_leftovers`]).

pub mod bundle;
pub mod hugetlb;
pub mod instance;
pub mod runtime;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::containers::{container_name, PayloadFiles, RunCgroup, ASSETS_INSIDE};
use crate::instance::{prepared, StopGuard};
use crate::lines::Deadline;
use crate::process::ChildProcess;
use crate::registry::EnvOptions;
use crate::{
    AgentPayload, Availability, Capabilities, EnvError, EnvKind, Environment, EnvironmentInfo,
    HostFacts, Instance, LaunchSpec, PayloadView, Prepared, Swept,
};

use hugetlb::HugetlbGuard;
use instance::{BundleGuard, OciRun};
use runtime::{runtime_of, HostCheck, OciRuntime};

pub use runtime::STATE_ROOT;

/// Longest wait at launch for the runtime to create the container's cgroup.
const CGROUP_APPEAR_TIMEOUT: Duration = Duration::from_secs(5);

fn not_oci(kind: EnvKind) -> (String, String) {
    (
        format!("{kind} is not an OCI runtime environment"),
        "use oci-runc, oci-crun, oci-youki or gvisor".into(),
    )
}

/// What every OCI runtime's kind can do (their registry entries'
/// [`Capabilities`]): a container with stdin, no network, metered through
/// its cgroup.
pub const CAPABILITIES: Capabilities = Capabilities::process();

/// Probes whether `kind` can run: the runtime on `PATH` and its version,
/// root, cgroup v1, and the runtime's own host check (crun's hybrid
/// cgroups, youki's compiled cgroup support).
pub fn detect(kind: EnvKind, host: &HostFacts, _options: &EnvOptions) -> Availability {
    let Some(runtime) = runtime_of(kind) else {
        let (reason, fix) = not_oci(kind);
        return Availability::no(kind, reason, fix);
    };
    let Some(binary) = runtime.find() else {
        let (reason, fix) = (runtime.missing)(runtime);
        return Availability::no(kind, reason, fix);
    };
    let version = runtime.version(&binary);
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
    match (runtime.check)(&binary, &version, host) {
        HostCheck::Ready(None) => Availability::yes(kind, version),
        HostCheck::Ready(Some(note)) => Availability::yes(kind, format!("{version}; {note}")),
        HostCheck::Refused { reason, fix } => Availability::no(kind, reason, fix),
    }
}

/// Builds the environment of `kind`.
pub fn build(kind: EnvKind, options: &EnvOptions) -> Result<Box<dyn Environment>, EnvError> {
    Ok(Box::new(Oci::new(kind, options)?))
}

/// Deletes the containers runs of `kind` whose isobench process is gone
/// left in the runtime's state root, then their cgroups, then (crun) the
/// hugetlb workaround when no live isobench process uses it.
pub fn clean_leftovers(kind: EnvKind, _options: &EnvOptions) -> Swept {
    let mut swept = Swept::default();
    let Some(runtime) = runtime_of(kind) else {
        return swept;
    };
    let root = runtime.state_root();
    let ids = container_ids(&root);
    let binary = runtime.find();
    for id in ids
        .iter()
        .filter(|id| crate::run_id::left_by_dead_run(id, kind))
    {
        let Some(binary) = &binary else {
            swept.failed.push(EnvError::Unavailable {
                env: kind.name().into(),
                reason: format!(
                    "container {id} is left in {} but {} is not installed any more",
                    root.display(),
                    runtime.program
                ),
                fix: format!(
                    "reinstall {} and run `isobench clean` again",
                    runtime.program
                ),
            });
            continue;
        };
        swept.record(
            force_delete(runtime, binary, id)
                .map(|()| format!("deleted {} container {id}", runtime.program)),
        );
    }
    // The state directories are only kept while containers exist.
    if std::fs::remove_dir(&root).is_ok() {
        let _ = root.parent().map(std::fs::remove_dir);
    }
    swept.extend(crate::cgroup::sweep_dead_runs(kind));
    if runtime.hugetlb_workaround {
        swept.removed.extend(hugetlb::release_orphaned());
    }
    swept
}

/// How long `isobench clean` keeps asking a runtime to delete a killed container.
const DELETE_PATIENCE: Duration = Duration::from_secs(5);

/// Kills container `id` and deletes it, asking again while its processes
/// are still exiting (youki gives up on a cgroup whose tasks are still
/// being torn down, where runc waits).
fn force_delete(runtime: &OciRuntime, binary: &std::path::Path, id: &str) -> Result<(), EnvError> {
    let mut kill = runtime_command(runtime, binary);
    kill.args(["kill", id, "KILL"]);
    let _ = run_quietly(kill);
    let give_up = Instant::now() + DELETE_PATIENCE;
    loop {
        let mut delete = runtime_command(runtime, binary);
        delete.args(["delete", "--force", id]);
        match run_quietly(delete) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= give_up => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The container ids a runtime keeps in `root` (runsc adds `.state`).
fn container_ids(root: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .trim_end_matches(".state")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `<binary> --root <state root> <global flags>`.
fn runtime_command(runtime: &OciRuntime, binary: &std::path::Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.arg("--root")
        .arg(runtime.state_root())
        .args(runtime.global_args);
    cmd
}

/// Runs `command`, returning its stderr as the error when it fails.
fn run_quietly(mut command: Command) -> Result<(), EnvError> {
    let program = format!(
        "{} {}",
        command.get_program().to_string_lossy(),
        command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    match command.output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(EnvError::Command {
            program,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
        Err(e) => Err(EnvError::Command {
            program,
            message: format!("cannot start: {e}"),
        }),
    }
}

/// An OCI runtime environment.
pub struct Oci {
    runtime: &'static OciRuntime,
    binary: PathBuf,
    version: String,
    cache_dir: PathBuf,
    work_dir: PathBuf,
    /// The prepared rootfs: its directory and the hold that keeps it cached
    /// (`None` with a user root, which the harness holds).
    rootfs: Option<bundle::Rootfs>,
    /// The bundle's root: the prepared rootfs, or the user's tree.
    root_dir: Option<PathBuf>,
    payload: Option<AgentPayload>,
    hugetlb: Option<HugetlbGuard>,
}

impl Oci {
    /// Finds the runtime for `kind` (`oci-runc`, `oci-crun`, `oci-youki`, `gvisor`).
    pub fn new(kind: EnvKind, options: &EnvOptions) -> Result<Oci, EnvError> {
        let runtime = runtime_of(kind).ok_or_else(|| {
            let (reason, fix) = not_oci(kind);
            EnvError::Unavailable {
                env: kind.name().into(),
                reason,
                fix,
            }
        })?;
        let binary = runtime.find().ok_or_else(|| {
            let (reason, fix) = (runtime.missing)(runtime);
            EnvError::Unavailable {
                env: kind.name().into(),
                reason,
                fix,
            }
        })?;
        Ok(Oci {
            version: runtime.version(&binary),
            runtime,
            binary,
            cache_dir: options.cache_dir.clone(),
            work_dir: options.work_dir.clone(),
            rootfs: None,
            root_dir: None,
            payload: None,
            hugetlb: None,
        })
    }

    fn command(&self) -> Command {
        runtime_command(self.runtime, &self.binary)
    }

    /// Container ids the runtime still knows under isobench's state root.
    pub fn leftover_containers(&self) -> Vec<String> {
        container_ids(&self.runtime.state_root())
    }

    /// Waits (briefly: the runtime creates it before starting the agent)
    /// for the container's cgroup `dir`, to know what to meter; false when
    /// it did not appear (the runtime's process tree is metered then).
    fn await_cgroup(&self, child: &mut ChildProcess, dir: &std::path::Path) -> bool {
        let deadline = Instant::now() + CGROUP_APPEAR_TIMEOUT;
        while Instant::now() < deadline {
            if dir.is_dir() {
                return true;
            }
            if child.try_exit().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        tracing::warn!(
            "{}: no container cgroup at {} ({}); metering the runtime's process tree",
            self.runtime.kind,
            dir.display(),
            if child.try_exit().is_some() {
                "the runtime already exited"
            } else {
                "not created in time"
            }
        );
        false
    }
}

impl Environment for Oci {
    fn kind(&self) -> EnvKind {
        self.runtime.kind
    }

    fn info(&self) -> EnvironmentInfo {
        let flags = self.runtime.global_args;
        let mut notes = vec![format!(
            "OCI bundle, read-only rootfs with the static agent, new network namespace (no network), cgroup /isobench/<run>/ctr; runtime flags: {}",
            if flags.is_empty() { "none".to_string() } else { flags.join(" ") }
        )];
        notes.extend(self.runtime.notes.iter().map(|n| n.to_string()));
        if let Some(root) = self.payload.as_ref().and_then(|p| p.user_root.as_ref()) {
            notes.push(format!(
                "the container's root is the user's root filesystem {} (read-only, tmpfs /tmp), the agent at /{}",
                root.dir.display(),
                crate::user_root::AGENT_IN_TREE
            ));
        }
        if self.runtime.hugetlb_workaround && HugetlbGuard::mounted_by_isobench() {
            notes.push(format!(
                "hybrid cgroups: hugetlb mounted as a cgroup v1 hierarchy at {} for crun",
                hugetlb::HUGETLB_MOUNT
            ));
        }
        EnvironmentInfo {
            name: self.runtime.kind.name().into(),
            runtime_version: Some(self.version.clone()),
            accel: None,
            emulated: false,
            notes,
        }
    }

    fn prepare(&mut self, payload: &AgentPayload) -> Result<Prepared, EnvError> {
        let started = Instant::now();
        if self.runtime.hugetlb_workaround && self.hugetlb.is_none() {
            self.hugetlb = Some(HugetlbGuard::acquire()?);
        }
        if let Some(root) = &payload.user_root {
            // The user's tree is the container's root as it is (read-only).
            let agent = root.dir.join(crate::user_root::AGENT_IN_TREE);
            if !agent.is_file() {
                return Err(EnvError::MissingFile {
                    what: "prepared root filesystem (its agent)".into(),
                    path: agent,
                    fix: "prepare it with user_root::ensure and keep the UserRoot while the run uses it".into(),
                });
            }
            self.payload = Some(payload.clone());
            self.rootfs = None;
            self.root_dir = Some(root.dir.clone());
            return Ok(Prepared {
                image_bytes: Some(root.bytes),
                image_id: Some(root.dir.display().to_string()),
                cached: true,
                prepare_seconds: started.elapsed().as_secs_f64(),
            });
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
        self.root_dir = Some(rootfs.dir.clone());
        self.rootfs = Some(rootfs);
        Ok(prepared)
    }

    fn assets_path_inside(&self) -> PathBuf {
        PathBuf::from(ASSETS_INSIDE)
    }

    fn payload_view(&self) -> PayloadView {
        PayloadView::container()
    }

    fn launch(&mut self, spec: &LaunchSpec) -> Result<Box<dyn Instance>, EnvError> {
        self.start(spec, None)
    }

    fn restore(
        &mut self,
        spec: &LaunchSpec,
        image: &std::path::Path,
    ) -> Result<Box<dyn Instance>, EnvError> {
        if let Some(reason) = self.snapshot_refusal() {
            return Err(EnvError::Unsupported {
                what: reason,
                fix: "use --from boot for it".into(),
            });
        }
        self.start(spec, Some(image))
    }

    fn teardown(&mut self) -> Result<(), EnvError> {
        self.hugetlb = None;
        Ok(())
    }
}

/// Why `kind` (runc, crun, docker) cannot checkpoint and restore here, or
/// `None` when it can: runc and crun go through CRIU (`<runtime>
/// checkpoint --image-path` / `restore --image-path`, the commands gVisor's
/// snapshots use; the runtime hands the restored agent new stdio pipes),
/// so they can wherever `criu check` passes. Docker's checkpoints need the
/// daemon's experimental checkpoint API, which isobench does not drive.
pub(crate) fn criu_refusal(kind: EnvKind) -> Option<String> {
    let Some(criu) = crate::host::which("criu") else {
        return Some(format!(
            "{kind} snapshots need CRIU (`checkpoint` / `restore`), which is not installed; fix: install a CRIU that passes `criu check` (Debian 12's 3.17.1 fails it on this kernel with \"vdso: Unexpected rt vDSO area bounds\"; use a newer CRIU)"
        ));
    };
    match Command::new(&criu).arg("check").output() {
        Ok(out) if out.status.success() => (kind == EnvKind::Docker).then(|| {
            "docker checkpoints need the daemon's experimental checkpoint API, which isobench does not drive; use oci-runc (the same runc, checkpointed through CRIU, which passes `criu check` here)".to_string()
        }),
        Ok(out) => Some(format!(
            "{kind} snapshots need CRIU, and `criu check` fails here: {}; fix: a newer CRIU",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .chain(String::from_utf8_lossy(&out.stdout).lines())
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no output")
                .trim()
        )),
        Err(e) => Some(format!(
            "{kind} snapshots need CRIU, and running {} failed: {e}",
            criu.display()
        )),
    }
}

impl Oci {
    /// Starts one instance: `run` from the bundle, or `restore` from the
    /// checkpoint image `restore_from`.
    fn start(
        &mut self,
        spec: &LaunchSpec,
        restore_from: Option<&std::path::Path>,
    ) -> Result<Box<dyn Instance>, EnvError> {
        let kind = self.runtime.kind;
        let (root_dir, payload) =
            prepared(self.root_dir.as_ref().zip(self.payload.as_ref()), kind)?;
        let env = self.payload_view().env(payload)?;
        let id = container_name(&spec.run_id);
        let cgroup = RunCgroup::create(&spec.run_id.to_string())?;
        let cgroups_path = format!("{}/ctr", cgroup.path());
        let ctr_cgroup = cgroup.dir_in("cpuacct").join("ctr");
        let guard = BundleGuard::new(self.work_dir.join(format!("oci-{id}")), cgroup);
        let launched_at = Instant::now();
        bundle::write_bundle(
            guard.dir(),
            &bundle::BundleConfig {
                rootfs: root_dir,
                agent_args: &spec.invocation.to_args(),
                env: &env,
                limits: &spec.limits,
                cgroups_path: &cgroups_path,
            },
        )?;
        let state_root = self.runtime.state_root();
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
        match restore_from {
            None => cmd.arg("run"),
            Some(image) => cmd.arg("restore").arg("--image-path").arg(image),
        };
        cmd.arg("--bundle").arg(guard.dir()).arg(&id);
        let mut child = ChildProcess::spawn_with_stdin(cmd, kind.name(), spec.interactive)?;
        let in_cgroup = self.await_cgroup(&mut child, &ctr_cgroup);
        let (bundle_dir, cgroup) = guard.release();
        Ok(Box::new(StopGuard::new(OciRun {
            env: kind.name().to_string(),
            command: self.command(),
            id,
            pid: child.pid(),
            child,
            bundle_dir,
            cgroup: Some(cgroup),
            in_cgroup,
            deadline: Deadline::new(kind.name(), launched_at, spec.timeout),
            killed: false,
        })))
    }
}
/// youki is built from the crates registry on demand; runc, crun and
/// runsc are Debian packages.
pub fn extras(kind: EnvKind) -> &'static [crate::Extra] {
    match kind {
        EnvKind::OciYouki => &[crate::extras::YOUKI],
        _ => &[],
    }
}
