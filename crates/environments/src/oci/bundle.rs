//! OCI bundles: a cached root filesystem holding exactly the payload, and a
//! per-run `config.json` generated with the `oci-spec` crate.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxMemoryBuilder,
    LinuxResourcesBuilder, MountBuilder, ProcessBuilder, RootBuilder, Spec,
};

use crate::cache_lock::CacheLock;
use crate::containers::{PayloadFiles, AGENT_INSIDE};
use crate::{EnvError, Limits};

/// Mount points created in every rootfs (the runtime mounts over them; the
/// root itself is read-only, so they must exist beforehand).
const MOUNT_POINTS: [&str; 4] = ["proc", "dev", "sys", "tmp"];

/// How many root filesystems the cache keeps (most recently used first);
/// each holds the agent and every asset (~90 MB), and every agent rebuild
/// makes a new one. One in use by a live process is never removed.
pub const KEEP_ROOTFS: usize = 4;

/// A root filesystem in the cache.
#[derive(Debug)]
pub struct Rootfs {
    /// Its directory (absolute).
    pub dir: PathBuf,
    /// Bytes of payload it holds.
    pub bytes: u64,
    /// True when it was already in the cache.
    pub cached: bool,
    /// Keeps it from being pruned while it is used.
    pub in_use: RootfsInUse,
}

/// A shared hold on a cached rootfs' lock: while one is held (by any
/// process), pruning leaves that rootfs alone. Released on drop.
#[derive(Debug)]
pub struct RootfsInUse {
    _lock: CacheLock,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> EnvError {
    move |e| EnvError::io(context, e)
}

/// Returns the cached rootfs for `files` under `cache_dir/oci/`, building it
/// first when missing: a copy (not hard links, so later edits of the assets
/// cannot change a cached rootfs behind its digest) of the payload plus the
/// mount points. Built in a temporary directory and renamed into place.
///
/// Several isobench processes may want the same rootfs at once (two runs
/// started together). Each rootfs has a lock file: users hold it shared for
/// as long as they use the rootfs, a builder holds it exclusive, so a second
/// process waits for the first one's build and then uses it, and nobody
/// removes a rootfs another process is using. A new build prunes the cache
/// down to [`KEEP_ROOTFS`] root filesystems.
pub fn ensure_rootfs(cache_dir: &Path, files: &PayloadFiles) -> Result<Rootfs, EnvError> {
    let base = cache_dir.join("oci");
    std::fs::create_dir_all(&base).map_err(io(format!(
        "creating the cache directory {}",
        base.display()
    )))?;
    let base = base.canonicalize().map_err(io(format!(
        "resolving the cache directory {}",
        base.display()
    )))?;
    let name = format!("rootfs-{}", files.short_digest());
    let dir = base.join(&name);
    let marker = base.join(format!("{name}.complete"));
    let lock_path = base.join(format!("{name}.lock"));
    let lock = CacheLock::shared(&lock_path)?;
    lock.mark_used();
    let rootfs = |cached, lock| Rootfs {
        dir: dir.clone(),
        bytes: files.total_bytes(),
        cached,
        in_use: RootfsInUse { _lock: lock },
    };
    if dir.is_dir() && marker.is_file() {
        return Ok(rootfs(true, lock));
    }
    lock.make_exclusive()?;
    // Another process may have built it while this one waited.
    if dir.is_dir() && marker.is_file() {
        lock.make_shared()?;
        return Ok(rootfs(true, lock));
    }
    let tmp = base.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let built = build_rootfs(&tmp, files).and_then(|()| {
        // Under the exclusive lock, a rootfs without its marker is a
        // crashed build's: no one can be using it.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io(format!(
                "removing the incomplete rootfs {}",
                dir.display()
            )))?;
        }
        std::fs::rename(&tmp, &dir)
            .map_err(io(format!("moving the rootfs into {}", dir.display())))?;
        std::fs::write(&marker, &files.digest).map_err(io(format!("writing {}", marker.display())))
    });
    if built.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    built?;
    lock.make_shared()?;
    prune(&base, KEEP_ROOTFS, &name);
    Ok(rootfs(false, lock))
}

/// Copies the payload into `root` and creates the mount points.
fn build_rootfs(root: &Path, files: &PayloadFiles) -> Result<(), EnvError> {
    use std::os::unix::fs::PermissionsExt;
    for d in MOUNT_POINTS
        .iter()
        .map(PathBuf::from)
        .chain(files.dirs.iter().cloned())
    {
        let path = root.join(d);
        std::fs::create_dir_all(&path).map_err(io(format!("creating {}", path.display())))?;
    }
    for f in &files.files {
        let dest = root.join(&f.inside);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io(format!("creating {}", parent.display())))?;
        }
        std::fs::copy(&f.host, &dest)
            .map_err(io(format!("copying {} into the rootfs", f.host.display())))?;
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(f.mode))
            .map_err(io(format!("setting the mode of {}", dest.display())))?;
    }
    Ok(())
}

/// Removes all but the `keep` most recently used root filesystems in `base`
/// (and never `current`), with their markers, lock files and the leftovers
/// of crashed builds. One whose lock someone holds is in use: left alone.
fn prune(base: &Path, keep: usize, current: &str) {
    let mut names: std::collections::BTreeMap<String, Option<std::time::SystemTime>> =
        Default::default();
    for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = rootfs_name(&file) else {
            continue;
        };
        let used = names.entry(name.to_string()).or_default();
        if file.ends_with(".complete") {
            *used = CacheLock::last_used(&base.join(format!("{name}.lock")));
        }
    }
    let mut by_use: Vec<(Option<std::time::SystemTime>, String)> =
        names.into_iter().map(|(name, used)| (used, name)).collect();
    // Complete ones, most recently used first; then incomplete ones.
    by_use.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    let complete_kept = by_use
        .iter()
        .filter(|(used, name)| used.is_some() && name != current)
        .take(keep.saturating_sub(1))
        .map(|(_, name)| name.clone())
        .collect::<Vec<_>>();
    for (_, name) in by_use {
        if name == current || complete_kept.contains(&name) {
            continue;
        }
        remove_unused(base, &name);
    }
}

/// `rootfs-<digest>` from any of the cache's file names for it.
fn rootfs_name(file: &str) -> Option<&str> {
    let name = file.strip_prefix('.').unwrap_or(file);
    let name = name.split('.').next()?;
    (name.starts_with("rootfs-") && name.len() > "rootfs-".len()).then_some(name)
}

/// Removes rootfs `name` from `base` unless someone holds its lock.
fn remove_unused(base: &Path, name: &str) {
    let Some(held) = CacheLock::try_exclusive(&base.join(format!("{name}.lock"))) else {
        return;
    };
    // The marker first: a half-removed rootfs is never taken as complete.
    let _ = std::fs::remove_file(base.join(format!("{name}.complete")));
    let _ = std::fs::remove_dir_all(base.join(name));
    for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with(&format!(".{name}.tmp-")) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    held.remove();
}

fn spec_err(e: oci_spec::OciSpecError) -> EnvError {
    EnvError::Command {
        program: "oci-spec".into(),
        message: format!("building the OCI runtime spec: {e}"),
    }
}

/// What one container runs with.
#[derive(Debug, Clone)]
pub struct BundleConfig<'a> {
    /// The (read-only) root filesystem.
    pub rootfs: &'a Path,
    /// Agent arguments (after the program name).
    pub agent_args: &'a [String],
    /// Extra environment variables.
    pub env: &'a [(String, String)],
    /// CPU / memory / cpuset limits.
    pub limits: &'a Limits,
    /// `linux.cgroupsPath` (e.g. `/isobench/<run>/ctr`).
    pub cgroups_path: &'a str,
}

/// The runtime spec: the agent as the process, no terminal, read-only root
/// plus a tmpfs `/tmp`, the default namespaces (a new network namespace holds
/// only loopback: no network), deny-all device rules (the runtime adds the
/// standard devices), the limits as CPU quota / cpuset / memory limit, and
/// the cgroup path below isobench's own run group.
pub fn spec(config: &BundleConfig<'_>) -> Result<Spec, EnvError> {
    let mut spec = Spec::default();
    let mut env =
        vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()];
    env.extend(config.env.iter().map(|(k, v)| format!("{k}={v}")));
    let mut args = vec![AGENT_INSIDE.to_string()];
    args.extend(config.agent_args.iter().cloned());
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(args)
        .env(env)
        .cwd("/")
        .no_new_privileges(true)
        .build()
        .map_err(spec_err)?;
    // Keep the defaults the builder does not set (user root, capabilities, rlimits).
    let mut full_process = spec.process().clone().unwrap_or_default();
    full_process.set_terminal(process.terminal());
    full_process.set_args(process.args().clone());
    full_process.set_env(process.env().clone());
    full_process.set_cwd(process.cwd().clone());
    full_process.set_no_new_privileges(process.no_new_privileges());
    spec.set_process(Some(full_process));
    spec.set_hostname(Some("isobench".into()));
    spec.set_root(Some(
        RootBuilder::default()
            .path(config.rootfs.to_path_buf())
            .readonly(true)
            .build()
            .map_err(spec_err)?,
    ));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(
        MountBuilder::default()
            .destination("/tmp")
            .typ("tmpfs")
            .source("tmpfs")
            .options(vec![
                "nosuid".to_string(),
                "nodev".into(),
                "mode=1777".into(),
                "size=65536k".into(),
            ])
            .build()
            .map_err(spec_err)?,
    );
    spec.set_mounts(Some(mounts));

    let mut cpu = LinuxCpuBuilder::default();
    if let Some(vcpus) = config.limits.vcpus {
        cpu = cpu.period(100_000u64).quota(i64::from(vcpus) * 100_000);
    }
    if let Some(cpus) = &config.limits.cpuset {
        cpu = cpu.cpus(cpus.clone());
    }
    let mut resources = LinuxResourcesBuilder::default()
        .devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .map_err(spec_err)?])
        .cpu(cpu.build().map_err(spec_err)?);
    if let Some(mib) = config.limits.memory_mib {
        let bytes = (mib << 20) as i64;
        resources = resources.memory(
            LinuxMemoryBuilder::default()
                .limit(bytes)
                .swap(bytes)
                .build()
                .map_err(spec_err)?,
        );
    }
    let default_linux = spec.linux().clone().unwrap_or_default();
    let mut linux = LinuxBuilder::default()
        .resources(resources.build().map_err(spec_err)?)
        .cgroups_path(PathBuf::from(config.cgroups_path))
        .build()
        .map_err(spec_err)?;
    linux.set_namespaces(default_linux.namespaces().clone());
    linux.set_masked_paths(default_linux.masked_paths().clone());
    linux.set_readonly_paths(default_linux.readonly_paths().clone());
    spec.set_linux(Some(linux));
    Ok(spec)
}

/// Writes `config.json` for `config` into a new bundle directory `dir`.
pub fn write_bundle(dir: &Path, config: &BundleConfig<'_>) -> Result<(), EnvError> {
    std::fs::create_dir_all(dir).map_err(io(format!(
        "creating the bundle directory {}",
        dir.display()
    )))?;
    let spec = spec(config)?;
    let json = serde_json::to_vec_pretty(&spec).map_err(|e| EnvError::Command {
        program: "oci-spec".into(),
        message: format!("serialising config.json: {e}"),
    })?;
    let path = dir.join("config.json");
    std::fs::write(&path, json).map_err(io(format!("writing {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AgentPayload;

    #[test]
    fn spec_carries_agent_limits_and_cgroup() {
        let limits = Limits {
            vcpus: Some(2),
            memory_mib: Some(512),
            cpuset: Some("0-1".into()),
        };
        let args = vec!["run".to_string(), "--workload".into(), "knn".into()];
        let env = vec![("ORT_DYLIB_PATH".to_string(), "/opt/lib.so".to_string())];
        let spec = spec(&BundleConfig {
            rootfs: Path::new("/cache/rootfs-x"),
            agent_args: &args,
            env: &env,
            limits: &limits,
            cgroups_path: "/isobench/r1/ctr",
        })
        .unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["process"]["args"][0], "/isobench-agent");
        assert_eq!(json["process"]["args"][3], "knn");
        assert_eq!(json["process"]["terminal"], false);
        assert!(json["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "ORT_DYLIB_PATH=/opt/lib.so"));
        assert_eq!(json["root"]["path"], "/cache/rootfs-x");
        assert_eq!(json["root"]["readonly"], true);
        assert_eq!(json["linux"]["cgroupsPath"], "/isobench/r1/ctr");
        assert_eq!(json["linux"]["resources"]["cpu"]["quota"], 200_000);
        assert_eq!(json["linux"]["resources"]["cpu"]["cpus"], "0-1");
        assert_eq!(json["linux"]["resources"]["memory"]["limit"], 512i64 << 20);
        let namespaces: Vec<_> = json["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap().to_string())
            .collect();
        assert!(
            namespaces.contains(&"network".to_string()) && namespaces.contains(&"pid".to_string())
        );
        assert!(json["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["destination"] == "/tmp"));
    }

    #[test]
    fn a_user_tree_is_the_root_as_it_is() {
        assert_eq!(
            AGENT_INSIDE,
            format!("/{}", crate::user_root::AGENT_IN_TREE),
            "the agent is where the prepared tree has it"
        );
        let args = vec!["exec".to_string(), "--spec".into(), "7b7d".into()];
        let spec = spec(&BundleConfig {
            rootfs: Path::new("/cache/user-roots/tree-0123456789abcdef"),
            agent_args: &args,
            env: &[],
            limits: &Limits::default(),
            cgroups_path: "/isobench/r1/ctr",
        })
        .unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            json["root"],
            serde_json::json!({"path": "/cache/user-roots/tree-0123456789abcdef", "readonly": true})
        );
        assert_eq!(
            json["process"]["args"],
            serde_json::json!(["/isobench-agent", "exec", "--spec", "7b7d"])
        );
        let mounts: Vec<&str> = json["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        for wanted in ["/proc", "/dev", "/sys", "/tmp"] {
            assert!(mounts.contains(&wanted), "{wanted} missing: {mounts:?}");
        }
        assert!(
            !mounts.iter().any(|m| m.starts_with("/assets")),
            "{mounts:?}"
        );
    }

    /// The payload of `dir/agent` and `dir/assets/models/m.onnx`, written first.
    fn payload_files(dir: &Path, agent: &[u8], model: &[u8]) -> PayloadFiles {
        std::fs::write(dir.join("agent"), agent).unwrap();
        let assets = dir.join("assets");
        std::fs::create_dir_all(assets.join("models")).unwrap();
        std::fs::write(assets.join("models/m.onnx"), model).unwrap();
        PayloadFiles::collect(&AgentPayload {
            user_root: None,
            agent_binary: dir.join("agent"),
            assets_dir: assets,
            extra_files: vec![],
            env: vec![],
        })
        .unwrap()
    }

    #[test]
    fn rootfs_is_built_once_and_holds_the_payload() {
        let dir = tempfile::tempdir().unwrap();
        let files = payload_files(dir.path(), b"ELF", b"model");
        let cache = dir.path().join("cache");
        let first = ensure_rootfs(&cache, &files).unwrap();
        assert!(!first.cached);
        assert_eq!(
            std::fs::read(first.dir.join("isobench-agent")).unwrap(),
            b"ELF"
        );
        assert_eq!(
            std::fs::read(first.dir.join("assets/models/m.onnx")).unwrap(),
            b"model"
        );
        assert!(first.dir.join("proc").is_dir() && first.dir.join("tmp").is_dir());
        let second = ensure_rootfs(&cache, &files).unwrap();
        assert!(second.cached);
        assert_eq!(first.dir, second.dir);
        let leftovers: Vec<_> = std::fs::read_dir(cache.join("oci"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn concurrent_builders_all_get_a_complete_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        let files = payload_files(dir.path(), &vec![7u8; 1 << 20], &vec![1u8; 1 << 20]);
        for round in 0..5 {
            let cache = dir.path().join(format!("cache-{round}"));
            let barrier = std::sync::Barrier::new(6);
            let built = std::thread::scope(|scope| {
                let workers: Vec<_> = (0..6)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            let rootfs = ensure_rootfs(&cache, &files).unwrap();
                            // Read while the other builders may still be at work.
                            let agent = std::fs::read(rootfs.dir.join("isobench-agent"));
                            (rootfs.cached, agent.map(|a| a.len()).ok())
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|w| w.join().unwrap())
                    .collect::<Vec<_>>()
            });
            assert_eq!(
                built.iter().filter(|(cached, _)| !cached).count(),
                1,
                "built exactly once: {built:?}"
            );
            assert!(
                built.iter().all(|(_, agent)| *agent == Some(1 << 20)),
                "every caller saw the whole agent: {built:?}"
            );
        }
    }

    fn cached_names(cache: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(cache.join("oci"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn builds_prune_unused_root_filesystems_but_not_one_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let stale_tmp = cache.join("oci/.rootfs-0123456789abcdef.tmp-4194304");
        std::fs::create_dir_all(&stale_tmp).unwrap();
        let in_use =
            ensure_rootfs(&cache, &payload_files(dir.path(), b"agent 0", b"model")).unwrap();
        let mut dropped = Vec::new();
        for n in 1..=6 {
            let files = payload_files(dir.path(), format!("agent {n}").as_bytes(), b"model");
            let rootfs = ensure_rootfs(&cache, &files).unwrap();
            assert!(!rootfs.cached);
            dropped.push(format!("rootfs-{}", files.short_digest()));
        }
        let names = cached_names(&cache);
        let has = |name: &str| names.iter().any(|n| n == name);
        let name_of = |r: &Rootfs| r.dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(has(&name_of(&in_use)), "in use, so kept: {names:?}");
        for kept in &dropped[2..] {
            assert!(has(kept) && has(&format!("{kept}.complete")), "{names:?}");
        }
        for gone in &dropped[..2] {
            assert!(
                !names.iter().any(|n| n.contains(gone.as_str())),
                "{gone} pruned with its marker and lock: {names:?}"
            );
        }
        assert!(!stale_tmp.exists(), "a crashed build's leftovers go too");
        assert_eq!(
            names.iter().filter(|n| n.ends_with(".complete")).count(),
            KEEP_ROOTFS + 1
        );

        let first = name_of(&in_use);
        drop(in_use);
        ensure_rootfs(&cache, &payload_files(dir.path(), b"agent 7", b"model")).unwrap();
        let names = cached_names(&cache);
        assert!(
            !names.iter().any(|n| n.contains(first.as_str())),
            "{names:?}"
        );
        assert_eq!(
            names.iter().filter(|n| n.ends_with(".complete")).count(),
            KEEP_ROOTFS
        );
    }

    #[test]
    fn a_used_rootfs_counts_as_recent() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let oldest = payload_files(dir.path(), b"agent 0", b"model");
        let name = format!("rootfs-{}", oldest.short_digest());
        drop(ensure_rootfs(&cache, &oldest).unwrap());
        for n in 1..=KEEP_ROOTFS {
            drop(
                ensure_rootfs(
                    &cache,
                    &payload_files(dir.path(), format!("agent {n}").as_bytes(), b"model"),
                )
                .unwrap(),
            );
            // Used again: the most recent of the cache.
            assert!(ensure_rootfs(&cache, &oldest).unwrap().cached);
        }
        assert!(cached_names(&cache).contains(&name));
    }
}
