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
//! controller back to cgroup2. A hierarchy that was already mounted is left
//! alone. If crun left groups in it, it stays mounted (unmounting would keep
//! the controller away from cgroup2 anyway) and a warning says so.
//!
//! "Needed" is decided from where the kernel binds hugetlb
//! (`/proc/cgroups`) and whether that hierarchy is mounted
//! (`/proc/self/mountinfo`), not from `cgroup.controllers` alone: a v1
//! hierarchy unmounted while some of its removed groups were still being
//! freed survives, detached, and the kernel hands hugetlb back to cgroup2
//! only when it finally goes away, seconds later. While that lasts
//! `cgroup.controllers` is empty, yet crun fails as soon as the controller
//! comes back. Such a detached hierarchy is mounted again (the kernel
//! re-attaches it), and isobench itself unmounts only once its groups are
//! freed, so the controller is back on cgroup2 when teardown returns.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::EnvError;

/// Where the cgroup2 tree of a hybrid layout is mounted.
pub const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// Where isobench mounts the hugetlb v1 hierarchy.
pub const HUGETLB_MOUNT: &str = "/sys/fs/cgroup/hugetlb";

/// Longest wait at teardown for the hugetlb groups runtimes removed to be
/// freed (so the unmount really detaches the hierarchy), and again for the
/// controller to be back on cgroup2.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(3);

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

/// The `hugetlb` line of `/proc/cgroups`: (hierarchy id, number of groups
/// including the root and groups still being freed). Hierarchy 0 is
/// cgroup2. `None` when the kernel has no (enabled) hugetlb controller.
pub fn hugetlb_hierarchy() -> Option<(u32, u64)> {
    parse_proc_cgroups(&std::fs::read_to_string("/proc/cgroups").ok()?, "hugetlb")
}

fn parse_proc_cgroups(text: &str, controller: &str) -> Option<(u32, u64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && f[0] == controller && f[3] == "1")
        .and_then(|f| Some((f[1].parse().ok()?, f[2].parse().ok()?)))
}

/// Mount points of cgroup v1 hierarchies that hold `hugetlb`, from
/// `/proc/self/mountinfo`.
pub fn hugetlb_v1_mounts() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|text| parse_v1_mounts(&text, "hugetlb"))
        .unwrap_or_default()
}

fn parse_v1_mounts(mountinfo: &str, controller: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            // `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS`
            let (head, tail) = line.split_once(" - ")?;
            let mut tail = tail.split_whitespace();
            let (fstype, _source, superopts) = (tail.next()?, tail.next()?, tail.next()?);
            let mount_point = head.split_whitespace().nth(4)?;
            (fstype == "cgroup" && superopts.split(',').any(|o| o == controller))
                .then(|| PathBuf::from(mount_point.replace("\\040", " ")))
        })
        .collect()
}

/// Inspects the cgroup layout.
pub fn hybrid_state() -> HybridState {
    let v1 = Path::new("/sys/fs/cgroup/cpuacct").exists()
        || Path::new("/sys/fs/cgroup/cpu,cpuacct").exists();
    if !v1 || !Path::new(UNIFIED).join("cgroup.controllers").exists() {
        return HybridState::Fine;
    }
    let controllers = unified_controllers(Path::new(UNIFIED));
    if controllers.iter().any(|c| c != "hugetlb") {
        return HybridState::Unfixable(controllers);
    }
    if !controllers.is_empty() {
        return HybridState::NeedsHugetlbMount;
    }
    match hugetlb_hierarchy() {
        // On a v1 hierarchy nobody has mounted: a detached hierarchy the
        // kernel is about to destroy, handing hugetlb back to cgroup2.
        Some((hierarchy, _)) if hierarchy != 0 && hugetlb_v1_mounts().is_empty() => {
            HybridState::NeedsHugetlbMount
        }
        _ => HybridState::Fine,
    }
}

/// Polls `done` every 10 ms until it holds or `timeout` passes.
fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
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
                if unified_controllers(Path::new(UNIFIED))
                    .iter()
                    .any(|c| c == "hugetlb")
                {
                    let _ = nix::mount::umount(target);
                    return Err(EnvError::Unavailable {
                        env: "oci-crun".into(),
                        reason: format!(
                            "hugetlb stayed on cgroup2 after mounting it at {HUGETLB_MOUNT}, and crun refuses hybrid cgroups"
                        ),
                        fix: "move hugetlb to a cgroup v1 hierarchy by hand, or use oci-runc".into(),
                    });
                }
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
        // Unmounting while removed groups are still being freed leaves the
        // hierarchy alive, detached, and hugetlb off cgroup2 for an
        // unpredictable while: wait until only the root group is left.
        let freed = wait_for(SETTLE_TIMEOUT, || {
            hugetlb_hierarchy().is_none_or(|(hierarchy, groups)| hierarchy == 0 || groups <= 1)
        });
        if !freed {
            tracing::warn!(
                "hugetlb groups under {} are still being freed; unmounting anyway (crun's next start mounts it again)",
                target.display()
            );
        }
        match nix::mount::umount(&target) {
            Ok(()) => {
                let _ = std::fs::remove_dir(&target);
                let back = wait_for(SETTLE_TIMEOUT, || {
                    hugetlb_hierarchy().is_none_or(|(hierarchy, _)| hierarchy == 0)
                });
                if !back {
                    tracing::warn!(
                        "hugetlb is not back on cgroup2 {} s after unmounting {}",
                        SETTLE_TIMEOUT.as_secs(),
                        target.display()
                    );
                }
            }
            Err(e) => tracing::warn!("unmounting {}: {e}", target.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hugetlb_binding_from_proc_cgroups() {
        let text = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n\
                    cpuset\t3\t5\t1\nhugetlb\t27\t2\t1\npids\t8\t5\t1\n";
        assert_eq!(parse_proc_cgroups(text, "hugetlb"), Some((27, 2)));
        assert_eq!(parse_proc_cgroups(text, "cpuset"), Some((3, 5)));
        assert_eq!(parse_proc_cgroups("hugetlb\t0\t3\t0\n", "hugetlb"), None);
        assert_eq!(parse_proc_cgroups(text, "rdma"), None);
    }

    #[test]
    fn finds_v1_mounts_of_a_controller() {
        let text = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
41 31 0:38 / /sys/fs/cgroup/huge\\040tlb rw,relatime shared:9 - cgroup cgroup rw,hugetlb
42 31 0:39 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
";
        assert_eq!(
            parse_v1_mounts(text, "hugetlb"),
            [PathBuf::from("/sys/fs/cgroup/huge tlb")]
        );
        assert_eq!(
            parse_v1_mounts(text, "net_prio"),
            [PathBuf::from("/sys/fs/cgroup/net_cls,net_prio")]
        );
        assert!(parse_v1_mounts(text, "memory").is_empty());
    }
}
