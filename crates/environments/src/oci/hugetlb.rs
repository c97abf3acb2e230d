//! crun and hybrid cgroups.
//!
//! crun 1.8 refuses a hybrid cgroup layout ("cgroups in hybrid mode not
//! supported, drop all controllers from cgroupv2") whenever the cgroup2 tree
//! at `/sys/fs/cgroup/unified` still owns a controller. On these machines the
//! only such controller is `hugetlb`, because no v1 hierarchy mounts it.
//! Mounting a v1 hierarchy for it (`mount -t cgroup -o hugetlb cgroup
//! /sys/fs/cgroup/hugetlb`) moves it off cgroup2 and crun works.
//!
//! What isobench does: the `oci-crun` environment mounts that hierarchy in
//! `prepare` when (and only when) it is needed, and unmounts it when the last
//! crun environment of the process is torn down or dropped, which gives the
//! controller back to cgroup2 (the kernel does so a moment after the
//! unmount). A hierarchy that was already mounted is left alone. If crun
//! left groups in it, it stays mounted (unmounting would keep the controller
//! away from cgroup2 anyway) and a warning says so.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::EnvError;

/// Where the cgroup2 tree of a hybrid layout is mounted.
pub const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// Where isobench mounts the hugetlb v1 hierarchy.
pub const HUGETLB_MOUNT: &str = "/sys/fs/cgroup/hugetlb";

/// Controllers the cgroup2 tree of a hybrid layout still owns.
pub fn unified_controllers(unified: &Path) -> Vec<String> {
    std::fs::read_to_string(unified.join("cgroup.controllers"))
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// What crun needs on this host.
#[derive(Debug, Clone, PartialEq)]
pub enum HybridState {
    /// Not a hybrid layout with controllers on cgroup2: crun works as is.
    Fine,
    /// Only hugetlb sits on cgroup2: isobench can move it (needs root).
    NeedsHugetlbMount,
    /// Other controllers sit on cgroup2: isobench cannot fix this.
    Unfixable(Vec<String>),
}

/// Inspects the cgroup layout.
pub fn hybrid_state() -> HybridState {
    let v1 = Path::new("/sys/fs/cgroup/cpuacct").exists()
        || Path::new("/sys/fs/cgroup/cpu,cpuacct").exists();
    let controllers = unified_controllers(Path::new(UNIFIED));
    if !v1 || controllers.is_empty() {
        HybridState::Fine
    } else if controllers.iter().all(|c| c == "hugetlb") {
        HybridState::NeedsHugetlbMount
    } else {
        HybridState::Unfixable(controllers)
    }
}

#[derive(Default)]
struct State {
    users: usize,
    mounted_by_us: Option<PathBuf>,
}

static STATE: Mutex<State> = Mutex::new(State {
    users: 0,
    mounted_by_us: None,
});

/// Keeps the hugetlb workaround in place while it lives (see the module docs).
#[derive(Debug)]
pub struct HugetlbGuard {
    _private: (),
}

impl HugetlbGuard {
    /// Applies the workaround if this host needs it.
    pub fn acquire() -> Result<Self, EnvError> {
        let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
        match hybrid_state() {
            HybridState::Fine => {}
            HybridState::Unfixable(controllers) => {
                return Err(EnvError::Unavailable {
                    env: "oci-crun".into(),
                    reason: format!(
                        "crun refuses hybrid cgroups and cgroup2 owns controllers isobench cannot move: {}",
                        controllers.join(", ")
                    ),
                    fix: "boot with all controllers on cgroup v1 (or pure cgroup v2), or use oci-runc".into(),
                });
            }
            HybridState::NeedsHugetlbMount => {
                let target = Path::new(HUGETLB_MOUNT);
                std::fs::create_dir_all(target).map_err(|e| {
                    EnvError::io(
                        format!("creating {HUGETLB_MOUNT} for crun's hugetlb workaround"),
                        e,
                    )
                })?;
                nix::mount::mount(
                    Some("cgroup"),
                    target,
                    Some("cgroup"),
                    nix::mount::MsFlags::empty(),
                    Some("hugetlb"),
                )
                .map_err(|e| {
                    EnvError::io(
                        format!(
                            "mounting the hugetlb cgroup v1 hierarchy at {HUGETLB_MOUNT} (crun's hybrid-cgroup workaround; run as root)"
                        ),
                        std::io::Error::from(e),
                    )
                })?;
                state.mounted_by_us = Some(target.to_path_buf());
                tracing::info!(
                    "mounted the hugetlb cgroup v1 hierarchy at {HUGETLB_MOUNT} for crun"
                );
            }
        }
        state.users += 1;
        Ok(HugetlbGuard { _private: () })
    }

    /// True when this process mounted the hierarchy and still holds it.
    pub fn mounted_by_isobench() -> bool {
        STATE
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .mounted_by_us
            .is_some()
    }
}

impl Drop for HugetlbGuard {
    fn drop(&mut self) {
        let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
        state.users = state.users.saturating_sub(1);
        if state.users > 0 {
            return;
        }
        let Some(target) = state.mounted_by_us.take() else {
            return;
        };
        // Runtimes leave the empty shared `isobench` parent behind.
        let _ = std::fs::remove_dir(target.join(crate::cgroup::PARENT));
        let has_groups = std::fs::read_dir(&target)
            .map(|entries| entries.flatten().any(|e| e.path().is_dir()))
            .unwrap_or(false);
        if has_groups {
            tracing::warn!(
                "{} still holds cgroups; leaving the hugetlb hierarchy mounted",
                target.display()
            );
            return;
        }
        match nix::mount::umount(&target) {
            Ok(()) => {
                let _ = std::fs::remove_dir(&target);
            }
            Err(e) => tracing::warn!("unmounting {}: {e}", target.display()),
        }
    }
}
