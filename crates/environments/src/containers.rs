//! Pieces the container backends ([`crate::docker`], [`crate::oci`]) share:
//! the payload's file list and digest (what goes into an image or a rootfs),
//! container names, and the per-run parent cgroup that keeps a container's
//! CPU and memory totals after the runtime removed the container's own group.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cgroup::{self, CgroupV1};
use crate::{AgentPayload, EnvError, Limits, MeterTarget};

/// Path of the agent executable inside every container.
pub const AGENT_INSIDE: &str = "/isobench-agent";

/// Path of the asset directory inside every container.
pub const ASSETS_INSIDE: &str = "/assets";

/// Bumped when the layout of images / rootfs changes, so caches are rebuilt.
const LAYOUT_VERSION: &str = "isobench-container-layout-1";

/// One regular file of the payload: where it is on the host and where it goes inside.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadFile {
    /// Path on the host.
    pub host: PathBuf,
    /// Path inside the container, relative to `/` (no leading slash).
    pub inside: PathBuf,
    /// Unix permission bits.
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
}

/// Every file of an [`AgentPayload`], in a stable order, with its digest.
#[derive(Debug, Clone)]
pub struct PayloadFiles {
    /// The files, sorted by inside path.
    pub files: Vec<PayloadFile>,
    /// Directories to create inside (relative, sorted), including empty asset directories.
    pub dirs: Vec<PathBuf>,
    /// sha256 (hex) over the layout version, every inside path, mode and content.
    pub digest: String,
}

fn missing(what: &str, path: &Path, fix: &str) -> EnvError {
    EnvError::MissingFile {
        what: what.into(),
        path: path.to_path_buf(),
        fix: fix.into(),
    }
}

/// `/a/b` -> `a/b`, refusing `..` so nothing lands outside the root.
fn relative_inside(inside: &Path) -> Result<PathBuf, EnvError> {
    let mut out = PathBuf::new();
    for part in inside.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(EnvError::Command {
                    program: "payload".into(),
                    message: format!(
                        "extra file destination {} leaves the container root; use an absolute path without `..`",
                        inside.display()
                    ),
                })
            }
        }
    }
    Ok(out)
}

impl PayloadFiles {
    /// Lists the agent (at [`AGENT_INSIDE`]), the asset tree (under
    /// [`ASSETS_INSIDE`]) and the extra files, and hashes their contents.
    pub fn collect(payload: &AgentPayload) -> Result<Self, EnvError> {
        use std::os::unix::fs::PermissionsExt;
        if !payload.agent_binary.is_file() {
            return Err(missing(
                "agent binary",
                &payload.agent_binary,
                "build the static agent with `scripts/build.sh` (or pass --agent)",
            ));
        }
        if !payload.assets_dir.is_dir() {
            return Err(missing(
                "asset directory",
                &payload.assets_dir,
                "run `isobench setup` to download the assets",
            ));
        }
        let mut files = Vec::new();
        let mut dirs = vec![PathBuf::from("assets")];
        let push =
            |host: &Path, inside: PathBuf, files: &mut Vec<PayloadFile>| -> Result<(), EnvError> {
                let meta = std::fs::metadata(host)
                    .map_err(|e| EnvError::io(format!("reading {}", host.display()), e))?;
                files.push(PayloadFile {
                    host: host.to_path_buf(),
                    inside,
                    mode: meta.permissions().mode() & 0o7777,
                    size: meta.len(),
                });
                Ok(())
            };
        push(
            &payload.agent_binary,
            relative_inside(Path::new(AGENT_INSIDE))?,
            &mut files,
        )?;
        let mut stack = vec![payload.assets_dir.clone()];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| EnvError::io(format!("listing assets in {}", dir.display()), e))?;
            for entry in entries {
                let entry = entry
                    .map_err(|e| EnvError::io(format!("listing assets in {}", dir.display()), e))?;
                let path = entry.path();
                let rel = path.strip_prefix(&payload.assets_dir).unwrap_or(&path);
                let inside = Path::new("assets").join(rel);
                // Follow symlinks: the container gets the bytes, not a link to the host.
                if path.is_dir() {
                    dirs.push(inside);
                    stack.push(path);
                } else if path.is_file() {
                    push(&path, inside, &mut files)?;
                }
            }
        }
        for (host, inside) in &payload.extra_files {
            if !host.is_file() {
                return Err(missing(
                    "extra payload file",
                    host,
                    "check the agent's runtime files (scripts/build.sh)",
                ));
            }
            let inside = relative_inside(inside)?;
            let mut parent = inside.parent();
            while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
                dirs.push(p.to_path_buf());
                parent = p.parent();
            }
            push(host, inside, &mut files)?;
        }
        files.sort_by(|a, b| a.inside.cmp(&b.inside));
        files.dedup_by(|a, b| a.inside == b.inside);
        dirs.sort();
        dirs.dedup();

        let mut hasher = Sha256::new();
        hasher.update(LAYOUT_VERSION.as_bytes());
        for d in &dirs {
            hasher.update(b"\0dir\0");
            hasher.update(d.to_string_lossy().as_bytes());
        }
        let mut buf = vec![0u8; 1 << 16];
        for f in &files {
            hasher.update(b"\0file\0");
            hasher.update(f.inside.to_string_lossy().as_bytes());
            hasher.update(f.mode.to_le_bytes());
            let mut src = std::fs::File::open(&f.host)
                .map_err(|e| EnvError::io(format!("reading {}", f.host.display()), e))?;
            loop {
                let n = src
                    .read(&mut buf)
                    .map_err(|e| EnvError::io(format!("reading {}", f.host.display()), e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
        }
        Ok(PayloadFiles {
            files,
            dirs,
            digest: hex::encode(hasher.finalize()),
        })
    }

    /// Sum of the file sizes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The first 16 hex digits of the digest (image tags, cache directory names).
    pub fn short_digest(&self) -> &str {
        &self.digest[..16]
    }
}

/// A name usable as a container name / id and a cgroup directory:
/// `[A-Za-z0-9_.-]`, starting with an alphanumeric, at most 60 characters.
pub fn sanitize_id(run_id: &str) -> String {
    let mut out: String = run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(60)
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        out.insert(0, 'r');
    }
    out
}

/// The container name isobench uses for a launch: its run id
/// (`isobench-<pid>-<env>-<label>`), made safe for runtimes and cgroups.
pub fn container_name(run_id: &crate::RunId) -> String {
    sanitize_id(&run_id.to_string())
}

/// Every mounted cgroup v1 hierarchy (and the hybrid cgroup2 one) under `root`.
fn hierarchies(root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                // `cpu` may be a symlink to `cpu,cpuacct`: count each hierarchy once.
                .filter(|p| p.is_dir() && !p.is_symlink() && p.join("cgroup.procs").exists())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Adds the PIDs in `dir/cgroup.procs` and in every group below `dir` to `pids`.
fn collect_procs(dir: &Path, pids: &mut Vec<i32>) {
    if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                collect_procs(&path, pids);
            }
        }
    }
}

/// Removes `dir` and every group below it, deepest first.
fn remove_tree(dir: &Path) -> Result<(), EnvError> {
    if !dir.is_dir() {
        return Ok(());
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                remove_tree(&path)?;
            }
        }
    }
    cgroup::remove_group_dir(dir)
}

/// The parent cgroup `/isobench/<run>` a container runs under. isobench
/// creates it (cpuacct, memory, cpuset) before the runtime starts the
/// container below it, meters it while the container runs, reads its totals
/// after the runtime removed the container's own group, and removes it in
/// every hierarchy (runtimes create it in all of them) at the end.
#[derive(Debug)]
pub struct RunCgroup {
    group: Option<CgroupV1>,
    root: PathBuf,
    relative: PathBuf,
}

impl RunCgroup {
    /// Creates `/isobench/<sanitized run_id>` in the metered controllers.
    pub fn create(run_id: &str) -> Result<Self, EnvError> {
        let name = sanitize_id(run_id);
        // Limits are the container's own (applied by the runtime one level
        // below): the parent only accounts.
        let group = CgroupV1::create(&name, &Limits::default())?;
        Ok(RunCgroup {
            relative: group.relative.clone(),
            group: Some(group),
            root: PathBuf::from(cgroup::CGROUP_ROOT),
        })
    }

    /// The path runtimes take as cgroup parent (`/isobench/<run>`).
    pub fn path(&self) -> String {
        format!("/{}", self.relative.display())
    }

    /// The directory of this group in the hierarchy mounted at `hierarchy`.
    pub fn dir_in(&self, hierarchy: &str) -> PathBuf {
        self.root.join(hierarchy).join(&self.relative)
    }

    /// What the harness meters.
    pub fn meter_target(&self) -> MeterTarget {
        match &self.group {
            Some(g) => g.meter_target(),
            None => MeterTarget::Unavailable("the run's cgroup was already removed".into()),
        }
    }

    /// CPU seconds charged so far (survives the container's exit).
    pub fn cpu_seconds(&self) -> Option<f64> {
        self.group.as_ref().and_then(CgroupV1::cpu_seconds)
    }

    /// Peak memory charged, in bytes.
    pub fn peak_memory(&self) -> Option<u64> {
        self.group.as_ref().and_then(CgroupV1::peak_memory)
    }

    /// Waits up to `wait` for the processes still in the run's group or
    /// below it (in any hierarchy) to leave, then kills those that remain,
    /// so that [`RunCgroup::remove`] finds the groups empty. An engine's
    /// per-container monitor (podman's conmon, in `<group>/conmon`) ends a
    /// moment after its container is removed.
    pub fn end_processes(&self, wait: std::time::Duration) {
        if self.group.is_none() {
            return;
        }
        let deadline = std::time::Instant::now() + wait;
        loop {
            let pids = self.processes();
            if pids.is_empty() {
                return;
            }
            if std::time::Instant::now() >= deadline {
                tracing::warn!(
                    "processes {pids:?} still in cgroup {} after {wait:?}: killing them",
                    self.path()
                );
                for pid in pids {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The processes in the run's group and below it, in every hierarchy.
    fn processes(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        for hierarchy in hierarchies(&self.root) {
            collect_procs(&hierarchy.join(&self.relative), &mut pids);
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Removes the run's group and everything a runtime left below it in
    /// every hierarchy, then the shared `isobench` parent wherever it is
    /// empty (runtimes create it in every hierarchy). Idempotent.
    pub fn remove(&mut self) -> Result<(), EnvError> {
        let Some(mut group) = self.group.take() else {
            return Ok(());
        };
        let mut first_err = None;
        for hierarchy in hierarchies(&self.root) {
            if let Err(e) = remove_tree(&hierarchy.join(&self.relative)) {
                first_err.get_or_insert(e);
            }
        }
        if let Err(e) = group.remove() {
            first_err.get_or_insert(e);
        }
        for hierarchy in hierarchies(&self.root) {
            // Fails harmlessly (EBUSY) while another run still uses it.
            let _ = std::fs::remove_dir(hierarchy.join(cgroup::PARENT));
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            tracing::warn!("container cgroup clean-up: {e}");
        }
    }
}

/// Groups of a run still present in any hierarchy (tests, `isobench clean`).
pub fn run_cgroup_leftovers(run_id: &str) -> Vec<PathBuf> {
    let relative = Path::new(cgroup::PARENT).join(sanitize_id(run_id));
    hierarchies(Path::new(cgroup::CGROUP_ROOT))
        .into_iter()
        .map(|h| h.join(&relative))
        .filter(|p| p.exists())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_ids() {
        assert_eq!(sanitize_id("knn/rep 1"), "knn-rep-1");
        assert_eq!(sanitize_id("-x"), "r-x");
        let id = crate::RunId {
            pid: 42,
            env: crate::EnvKind::OciRunc,
            label: crate::RunLabel::Repetition(1),
        };
        assert_eq!(container_name(&id), "isobench-42-oci-runc-1");
        assert!(sanitize_id(&"y".repeat(100)).len() <= 60);
    }

    #[test]
    fn payload_lists_files_and_changes_digest_with_content() {
        let dir = tempfile::tempdir().unwrap();
        let agent = dir.path().join("agent");
        std::fs::write(&agent, b"binary").unwrap();
        let assets = dir.path().join("assets");
        std::fs::create_dir_all(assets.join("models")).unwrap();
        std::fs::create_dir_all(assets.join("empty")).unwrap();
        std::fs::write(assets.join("models/m.onnx"), b"model").unwrap();
        let extra = dir.path().join("lib.so");
        std::fs::write(&extra, b"lib").unwrap();
        let payload = AgentPayload {
            user_root: None,
            agent_binary: agent,
            assets_dir: assets.clone(),
            extra_files: vec![(extra, PathBuf::from("/opt/ort/lib.so"))],
            env: vec![],
        };
        let a = PayloadFiles::collect(&payload).unwrap();
        let inside: Vec<_> = a
            .files
            .iter()
            .map(|f| f.inside.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            inside,
            ["assets/models/m.onnx", "isobench-agent", "opt/ort/lib.so"]
        );
        assert!(
            a.dirs.contains(&PathBuf::from("assets/empty"))
                && a.dirs.contains(&PathBuf::from("opt/ort"))
        );
        assert_eq!(a.total_bytes(), 14);
        std::fs::write(assets.join("models/m.onnx"), b"model2").unwrap();
        let b = PayloadFiles::collect(&payload).unwrap();
        assert_ne!(a.digest, b.digest);

        let bad = AgentPayload {
            user_root: None,
            extra_files: vec![(payload.agent_binary.clone(), PathBuf::from("/../etc/x"))],
            ..payload
        };
        assert!(PayloadFiles::collect(&bad)
            .unwrap_err()
            .to_string()
            .contains("leaves the container root"));
    }
}
