//! Firecracker's jailer: how to start Firecracker through it
//! ([`JailerConfig`]) and what a jailed Firecracker leaves on the host
//! (`Jail`: the chroot tree and the cgroups), made before the jailer runs
//! and removed after the VMM is gone.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{EnvError, Limits};

use super::discovery::INSTALL_FIX;
use super::ENV;

/// The API socket's path inside the jail's chroot.
pub(super) const JAIL_API_SOCKET: &str = "/run/firecracker.socket";
/// Firecracker's log file inside the jail's chroot.
pub(super) const JAIL_LOG: &str = "/firecracker.log";

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
pub(super) struct Jail {
    config: JailerConfig,
    id: String,
    dir: PathBuf,
    /// The chroot (`<dir>/root`).
    pub(super) root: PathBuf,
    /// The cgroup v1 directories the jailer makes.
    pub(super) cgroups: Vec<PathBuf>,
    removed: bool,
}

impl Jail {
    /// The jail's tree and its log file, made before the jailer runs
    /// (Firecracker opens `--log-path` without creating it).
    pub(super) fn prepare(
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

    /// The jailer's command line: it copies `binary` into the chroot and
    /// execs it there with the API socket and log inside.
    pub(super) fn command(&self, binary: &Path, work: &Path) -> Result<Command, EnvError> {
        let (jail, config) = (self, &self.config);
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

    /// The path inside the chroot of `host`, when `host` is in the chroot.
    pub(super) fn inside(&self, host: &Path) -> Option<PathBuf> {
        host.strip_prefix(&self.root)
            .ok()
            .map(|rel| Path::new("/").join(rel))
    }

    /// Makes `host` visible in the chroot (as `/<name>` unless it already is
    /// inside): a hard link, or a copy when linking fails (another file
    /// system). Returns the path inside.
    pub(super) fn stage(&self, host: &Path, name: &str) -> Result<PathBuf, EnvError> {
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
    pub(super) fn remove(&mut self) -> Result<(), EnvError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
