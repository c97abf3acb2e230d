//! The user's root filesystem for `--workload command`: their directory
//! tree (`--rootfs DIR`) or a Docker image exported through the Engine API
//! (`--image NAME`), plus read-only copies of the `--mount` paths and the
//! agent, copied once into the cache and named by content
//! (`<cache>/user-roots/tree-<digest>`). Every environment then runs the
//! same bytes: native chroots into the tree, containers use it as their
//! root, Docker imports it as an image, VMs get it as an ext4 block device
//! built from it without mounting anything (`mkfs.ext4 -d`).
//!
//! The tree is never written by a run: native mounts it read-only in a
//! private mount namespace; containers get it read-only; the VM's drive is
//! attached read-only. Each entry is held with a shared [`CacheLock`] while
//! in use and the 4 most recently used are kept, like the OCI root
//! filesystems.

mod ext4;
mod tree;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::cache_lock::CacheLock;
use crate::payload::UserRootRef;
use crate::EnvError;

pub use ext4::{ext4_image, Ext4Image};
pub use tree::{check_program, tree_digest};
use tree::{copy, place_in_tree};

/// Version of the prepared tree's layout (agent path, mount points, what the
/// digest covers); part of the digest, so a change rebuilds every cached tree.
const LAYOUT_VERSION: &str = "isobench-user-root-1";

/// Where the agent sits in the user's tree (the entry point of containers and VMs).
pub const AGENT_IN_TREE: &str = "isobench-agent";
/// Directories isobench makes sure exist (mount points of /proc, /dev, /sys, /tmp).
pub const MOUNT_POINTS: [&str; 4] = ["proc", "dev", "sys", "tmp"];
/// How many prepared trees (and, separately, exported Docker images) the cache keeps.
pub const KEEP: usize = 4;
/// Name prefix of a prepared tree in `<cache>/user-roots/`.
const TREE_PREFIX: &str = "tree-";
/// Name prefix of an exported Docker image in `<cache>/user-roots/`.
pub(crate) const IMAGE_PREFIX: &str = "image-";

/// Where the user's tree comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum RootSource {
    /// A directory tree on the host.
    Dir(PathBuf),
    /// A Docker image in the local daemon, exported into a directory first.
    Image(String),
}

/// A host path copied read-only into the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeMount {
    /// The file or directory on the host.
    pub host: PathBuf,
    /// Where it appears in the tree (absolute).
    pub guest: PathBuf,
}

/// What to prepare.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRootSpec {
    /// The tree.
    pub source: RootSource,
    /// Extra host paths, read-only.
    pub mounts: Vec<TreeMount>,
    /// The static agent, copied to `/isobench-agent`.
    pub agent: PathBuf,
}

/// A prepared tree, held (shared lock) for as long as this value lives.
#[derive(Debug)]
pub struct UserRoot {
    /// The tree.
    pub dir: PathBuf,
    /// sha256 over the tree's paths, modes, link targets and contents.
    pub digest: String,
    /// Sum of the file sizes, bytes.
    pub bytes: u64,
    /// True when it came from the cache.
    pub cached: bool,
    _lock: CacheLock,
}

impl UserRoot {
    /// The first 16 hex digits of the digest (cache and image names).
    pub fn short_digest(&self) -> &str {
        &self.digest[..16]
    }

    /// How the payload names this tree ([`crate::AgentPayload::user_root`]).
    pub fn reference(&self) -> UserRootRef {
        UserRootRef {
            dir: self.dir.clone(),
            digest: self.digest.clone(),
            bytes: self.bytes,
        }
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EnvError {
    let context = context.into();
    move |source| EnvError::io(context, source)
}

/// The tree a source names, held for as long as it is read.
#[derive(Debug)]
pub struct SourceTree {
    /// The directory.
    pub dir: PathBuf,
    /// For an exported image: the shared hold that keeps other isobench
    /// processes from pruning the export while it is read.
    _hold: Option<CacheLock>,
}

/// The tree a source names: the directory itself, or a Docker image
/// exported into `<cache>/user-roots/image-<id>` (once per image id).
pub fn source_dir(cache_dir: &Path, source: &RootSource) -> Result<SourceTree, EnvError> {
    match source {
        RootSource::Dir(dir) => {
            if !dir.exists() {
                return Err(EnvError::MissingFile {
                    what: "root filesystem (--rootfs)".into(),
                    path: dir.clone(),
                    fix: "give a directory tree (made with debootstrap, or unpacked from a tarball), or --image NAME for a Docker image".into(),
                });
            }
            if !dir.is_dir() {
                return Err(EnvError::Input(format!(
                    "--rootfs {} is not a directory: give the root directory of a tree (unpack a tarball first: mkdir DIR && tar -xf FILE -C DIR)",
                    dir.display()
                )));
            }
            Ok(SourceTree {
                dir: dir.clone(),
                _hold: None,
            })
        }
        RootSource::Image(name) => {
            let (dir, hold) = crate::docker::export::export_image_held(cache_dir, name)?;
            Ok(SourceTree {
                dir,
                _hold: Some(hold),
            })
        }
    }
}

/// Checks a `--mount`: an existing host path and an absolute path inside
/// the tree that stays inside it.
fn check_mount(m: &TreeMount) -> Result<(), EnvError> {
    if !m.host.exists() {
        return Err(EnvError::MissingFile {
            what: "--mount source".into(),
            path: m.host.clone(),
            fix: "give an existing host file or directory (HOST:GUEST:ro)".into(),
        });
    }
    let inside = m
        .guest
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .count();
    let escapes = m
        .guest
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir));
    if !m.guest.is_absolute() || escapes || inside == 0 {
        return Err(EnvError::Input(format!(
            "--mount target {} must be an absolute path below / without `..` (e.g. /data/models)",
            m.guest.display()
        )));
    }
    Ok(())
}

/// Prepares (or finds in the cache) the tree for `spec`: the source tree,
/// the `--mount` paths copied in, the agent at [`AGENT_IN_TREE`] and the
/// [`MOUNT_POINTS`], under `<cache>/user-roots/tree-<digest>`. Never writes
/// the source tree.
pub fn ensure(cache_dir: &Path, spec: &UserRootSpec) -> Result<UserRoot, EnvError> {
    let source = source_dir(cache_dir, &spec.source)?;
    for m in &spec.mounts {
        check_mount(m)?;
    }
    let mut hasher = Sha256::new();
    hasher.update(LAYOUT_VERSION.as_bytes());
    hasher.update(b"\0tree\0");
    let mut bytes = tree_digest(&source.dir, &mut hasher)?;
    // The agent replaces a file the source has at its path (an exported
    // image of a prepared tree): counted once.
    if let Ok(meta) = std::fs::symlink_metadata(source.dir.join(AGENT_IN_TREE)) {
        if meta.is_file() {
            bytes -= meta.len();
        }
    }
    for m in &spec.mounts {
        hasher.update(b"\0mount\0");
        hasher.update(m.guest.as_os_str().as_encoded_bytes());
        hasher.update([0]);
        if m.host.is_dir() {
            hasher.update(b"dir\0");
            bytes += tree_digest(&m.host, &mut hasher)?;
        } else {
            let data =
                std::fs::read(&m.host).map_err(io(format!("reading {}", m.host.display())))?;
            let mode = std::fs::metadata(&m.host)
                .map_err(io(format!("reading {}", m.host.display())))?
                .mode();
            hasher.update(b"file\0");
            hasher.update(mode.to_le_bytes());
            bytes += data.len() as u64;
            hasher.update(&data);
        }
    }
    let agent = std::fs::read(&spec.agent)
        .map_err(io(format!("reading the agent {}", spec.agent.display())))?;
    bytes += agent.len() as u64;
    hasher.update(b"\0agent\0");
    hasher.update(&agent);
    let digest = hex::encode(hasher.finalize());

    let base = cache_dir.join("user-roots");
    std::fs::create_dir_all(&base).map_err(io(format!("creating {}", base.display())))?;
    let base = base
        .canonicalize()
        .map_err(io(format!("resolving {}", base.display())))?;
    let name = format!("{TREE_PREFIX}{}", &digest[..16]);
    let dir = base.join(&name);
    let marker = base.join(format!("{name}.complete"));
    let lock = CacheLock::shared(&base.join(format!("{name}.lock")))?;
    lock.mark_used();
    let done = |cached, lock| UserRoot {
        dir: dir.clone(),
        digest: digest.clone(),
        bytes,
        cached,
        _lock: lock,
    };
    if dir.is_dir() && marker.is_file() {
        return Ok(done(true, lock));
    }
    lock.make_exclusive()?;
    // Another process may have built it while this one waited.
    if dir.is_dir() && marker.is_file() {
        lock.make_shared()?;
        return Ok(done(true, lock));
    }
    let tmp = base.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let built = build_tree(&source.dir, spec, &agent, &tmp).and_then(|()| {
        // Under the exclusive lock, a tree without its marker is a crashed
        // build's: no one can be using it.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(format!(
                "removing the incomplete tree {}",
                dir.display()
            )))?;
        }
        std::fs::rename(&tmp, &dir)
            .map_err(io(format!("moving the tree into {}", dir.display())))?;
        std::fs::write(&marker, &digest).map_err(io(format!("writing {}", marker.display())))
    });
    if built.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    built?;
    lock.make_shared()?;
    prune(&base, TREE_PREFIX, &name);
    Ok(done(false, lock))
}

/// Assembles the tree in `tmp`: a copy of `source`, the mounts, the agent
/// and the mount points.
fn build_tree(
    source: &Path,
    spec: &UserRootSpec,
    agent: &[u8],
    tmp: &Path,
) -> Result<(), EnvError> {
    copy(source, tmp)?;
    for m in &spec.mounts {
        let target = place_in_tree(tmp, &m.guest)?;
        copy(&m.host, &target)?;
    }
    let agent_path = tmp.join(AGENT_IN_TREE);
    if std::fs::symlink_metadata(&agent_path).is_ok() {
        // Replace whatever is there (a link would be followed by the write).
        std::fs::remove_file(&agent_path)
            .map_err(io(format!("replacing {}", agent_path.display())))?;
    }
    std::fs::write(&agent_path, agent).map_err(io(format!("writing {}", agent_path.display())))?;
    std::fs::set_permissions(&agent_path, std::fs::Permissions::from_mode(0o755))
        .map_err(io(format!("making {} executable", agent_path.display())))?;
    for d in MOUNT_POINTS {
        let p = tmp.join(d);
        match std::fs::symlink_metadata(&p) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(EnvError::Input(format!(
                    "the root filesystem's /{d} is not a directory (a link or a file), and every environment mounts /{d} there: make it a plain directory in the tree"
                )))
            }
            Err(_) => {
                std::fs::create_dir(&p).map_err(io(format!("creating {}", p.display())))?;
                std::fs::set_permissions(
                    &p,
                    std::fs::Permissions::from_mode(if d == "tmp" { 0o1777 } else { 0o755 }),
                )
                .map_err(io(format!("setting the mode of {}", p.display())))?;
            }
        }
    }
    Ok(())
}

/// True for the name of a temporary file or directory (`....tmp-<pid>[-n]`)
/// whose builder process is gone.
fn stale_tmp(file: &str) -> bool {
    let Some((_, rest)) = file.rsplit_once(".tmp-") else {
        return false;
    };
    let pid = rest.split('-').next().unwrap_or_default();
    !pid.is_empty()
        && pid.chars().all(|c| c.is_ascii_digit())
        && !Path::new("/proc").join(pid).exists()
}

/// Removes all but the [`KEEP`] most recently used entries named
/// `<prefix>...` in `base` (with their markers and ext4 images), never one
/// in use (its lock held shared by some process) nor `keep`; and the
/// leftovers of builds whose process died.
pub(crate) fn prune(base: &Path, prefix: &str, keep: &str) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let mut names: Vec<(std::time::SystemTime, String)> = Vec::new();
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let bare = file.trim_start_matches('.');
        if bare.starts_with(prefix) && stale_tmp(&file) {
            let _ = std::fs::remove_dir_all(entry.path());
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        if let Some(stem) = file.strip_suffix(".lock").filter(|s| s.starts_with(prefix)) {
            let used = CacheLock::last_used(&entry.path()).unwrap_or(std::time::UNIX_EPOCH);
            names.push((used, stem.to_string()));
        }
    }
    names.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    for (_, name) in names.into_iter().skip(KEEP) {
        if name == keep {
            continue;
        }
        let Some(lock) = CacheLock::try_exclusive(&base.join(format!("{name}.lock"))) else {
            continue;
        };
        // The marker first: a half-removed entry is never taken as complete.
        let _ = std::fs::remove_file(base.join(format!("{name}.complete")));
        let _ = std::fs::remove_file(base.join(format!("{name}.ext4.complete")));
        let _ = std::fs::remove_file(base.join(format!("{name}.ext4")));
        let _ = std::fs::remove_dir_all(base.join(&name));
        lock.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small tree of a user's: python3 (a link), a script, an app.
    pub(super) fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::create_dir_all(root.join("app")).unwrap();
        std::fs::write(root.join("usr/bin/python3.11"), b"\x7fELF fake").unwrap();
        std::os::unix::fs::symlink("python3.11", root.join("usr/bin/python3")).unwrap();
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        std::fs::write(root.join("app/infer.py"), b"print(1)\n").unwrap();
        std::fs::write(root.join("app/run.sh"), b"#!/bin/bash\necho hi\n").unwrap();
        dir
    }

    #[test]
    fn trees_are_cached_by_content_with_mounts_and_the_agent() {
        let t = tree();
        let cache = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        std::fs::write(data.path().join("digits.csv.gz"), b"data").unwrap();
        let agent = data.path().join("agent");
        std::fs::write(&agent, b"agent bytes").unwrap();
        let spec = UserRootSpec {
            source: RootSource::Dir(t.path().to_path_buf()),
            mounts: vec![TreeMount {
                host: data.path().join("digits.csv.gz"),
                guest: "/data/digits.csv.gz".into(),
            }],
            agent: agent.clone(),
        };
        let first = ensure(cache.path(), &spec).unwrap();
        assert!(!first.cached);
        assert!(first.dir.join("data/digits.csv.gz").is_file());
        assert!(first.dir.join(AGENT_IN_TREE).is_file());
        assert!(first.dir.join("proc").is_dir() && first.dir.join("tmp").is_dir());
        assert_eq!(
            std::fs::read_link(first.dir.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        let again = ensure(cache.path(), &spec).unwrap();
        assert!(again.cached);
        assert_eq!(again.dir, first.dir);
        std::fs::write(t.path().join("app/infer.py"), b"print(2)\n").unwrap();
        let changed = ensure(cache.path(), &spec).unwrap();
        assert_ne!(changed.digest, first.digest);
        let missing = UserRootSpec {
            source: RootSource::Dir("/nonexistent/tree".into()),
            ..spec
        };
        let err = ensure(cache.path(), &missing).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/tree"), "{err}");
    }

    pub(super) fn spec_of(tree: &Path, agent: &Path, mounts: Vec<TreeMount>) -> UserRootSpec {
        UserRootSpec {
            source: RootSource::Dir(tree.to_path_buf()),
            mounts,
            agent: agent.to_path_buf(),
        }
    }

    #[test]
    fn mounts_land_inside_the_tree_through_its_links() {
        let t = tree();
        std::fs::create_dir_all(t.path().join("usr/lib64")).unwrap();
        // An absolute link: the tree's /usr/lib64, never the host's.
        std::os::unix::fs::symlink("/usr/lib64", t.path().join("lib64")).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(data.path().join("models")).unwrap();
        std::fs::write(data.path().join("models/m.onnx"), b"model").unwrap();
        let host_marker = format!("isobench-test-{}", std::process::id());
        let agent = data.path().join("agent");
        std::fs::write(&agent, b"agent").unwrap();
        let root = ensure(
            cache.path(),
            &spec_of(
                t.path(),
                &agent,
                vec![
                    TreeMount {
                        host: data.path().join("models"),
                        guest: format!("/lib64/{host_marker}/models").into(),
                    },
                    TreeMount {
                        host: data.path().join("models/m.onnx"),
                        guest: "/bin/m.onnx".into(),
                    },
                ],
            ),
        )
        .unwrap();
        assert_eq!(
            std::fs::read(
                root.dir
                    .join(format!("usr/lib64/{host_marker}/models/m.onnx"))
            )
            .unwrap(),
            b"model"
        );
        assert!(!Path::new("/usr/lib64").join(&host_marker).exists());
        assert_eq!(
            std::fs::read(root.dir.join("usr/bin/m.onnx")).unwrap(),
            b"model"
        );
        assert!(root.dir.is_absolute());
        let reference = root.reference();
        assert_eq!(
            (reference.dir, reference.bytes),
            (root.dir.clone(), root.bytes)
        );
        // The source tree was not written.
        assert!(!t.path().join("isobench-agent").exists() && !t.path().join("proc").exists());

        for (guest, wanted) in [
            ("data/x", "absolute path"),
            ("/data/../../x", "without `..`"),
            ("/", "absolute path below /"),
        ] {
            let err = ensure(
                cache.path(),
                &spec_of(
                    t.path(),
                    &agent,
                    vec![TreeMount {
                        host: data.path().join("models"),
                        guest: guest.into(),
                    }],
                ),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(wanted), "{guest}: {err}");
        }
        let left: Vec<String> = std::fs::read_dir(cache.path().join("user-roots"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(left.is_empty(), "failed builds leave nothing: {left:?}");
    }

    #[test]
    fn a_mount_replaces_what_the_tree_has_there_and_changes_the_digest() {
        let t = tree();
        let cache = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(data.path().join("app")).unwrap();
        std::fs::write(data.path().join("app/infer.py"), b"print(2)\n").unwrap();
        let agent = data.path().join("agent");
        std::fs::write(&agent, b"agent").unwrap();
        let plain = ensure(cache.path(), &spec_of(t.path(), &agent, vec![])).unwrap();
        let mounted = ensure(
            cache.path(),
            &spec_of(
                t.path(),
                &agent,
                vec![TreeMount {
                    host: data.path().join("app"),
                    guest: "/app".into(),
                }],
            ),
        )
        .unwrap();
        // The tree's /app (infer.py and run.sh) is replaced by the mount's.
        assert_eq!(
            std::fs::read(mounted.dir.join("app/infer.py")).unwrap(),
            b"print(2)\n"
        );
        assert!(!mounted.dir.join("app/run.sh").exists());
        assert_ne!(plain.digest, mounted.digest);
        // The user's own tree is untouched.
        assert_eq!(
            std::fs::read(t.path().join("app/infer.py")).unwrap(),
            b"print(1)\n"
        );
        assert!(t.path().join("app/run.sh").exists());
    }

    #[test]
    fn a_rootfs_that_is_not_a_directory_is_named() {
        let cache = tempfile::tempdir().unwrap();
        let file = cache.path().join("rootfs.tar");
        std::fs::write(&file, b"tar").unwrap();
        let err = ensure(cache.path(), &spec_of(&file, &file, vec![]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is not a directory") && err.contains("tar -xf"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn the_cache_keeps_the_recent_trees_and_those_in_use() {
        let t = tree();
        let cache = tempfile::tempdir().unwrap();
        let agent = cache.path().join("agent");
        let build = |n: usize| {
            std::fs::write(&agent, format!("agent {n}")).unwrap();
            ensure(cache.path(), &spec_of(t.path(), &agent, vec![])).unwrap()
        };
        let in_use = build(0);
        std::fs::write(
            in_use.dir.with_file_name(format!(
                "{}.ext4",
                in_use.dir.file_name().unwrap().to_string_lossy()
            )),
            b"img",
        )
        .unwrap();
        let stale = cache
            .path()
            .join("user-roots/.tree-0123456789abcdef.tmp-4194304");
        std::fs::create_dir_all(&stale).unwrap();
        let mut names = Vec::new();
        for n in 1..=KEEP + 2 {
            let root = build(n);
            names.push(root.dir.file_name().unwrap().to_string_lossy().into_owned());
            // Later lock mtimes order them.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let base = cache.path().join("user-roots");
        assert!(in_use.dir.is_dir(), "in use: kept");
        assert!(!stale.exists(), "a dead build's leftovers go");
        for gone in &names[..2] {
            assert!(!base.join(gone).exists(), "{gone} pruned");
            assert!(!base.join(format!("{gone}.lock")).exists());
        }
        for kept in &names[2..] {
            assert!(
                base.join(format!("{kept}.complete")).is_file(),
                "{kept} kept"
            );
        }
        let first = in_use.dir.clone();
        drop(in_use);
        build(KEEP + 3);
        assert!(!first.exists(), "no longer in use: pruned");
        assert!(
            !first
                .with_file_name(format!(
                    "{}.ext4",
                    first.file_name().unwrap().to_string_lossy()
                ))
                .exists(),
            "with its ext4 image"
        );
    }
}
