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
//! crun environment of the last isobench process using it on the host is
//! torn down or dropped ([`SharedUsers`] keeps count across processes),
//! which gives the controller back to cgroup2. A hierarchy that was already
//! mounted by someone else is left alone. If crun left groups in it, it stays mounted (unmounting would keep
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

/// This process's share of the workaround.
struct State {
    /// Live [`HugetlbGuard`]s of this process.
    users: usize,
}

static STATE: Mutex<State> = Mutex::new(State { users: 0 });

/// Where isobench processes coordinate the workaround (see [`SharedUsers`]).
pub const SHARED_DIR: &str = "/run/isobench/hugetlb";

/// The workaround's bookkeeping shared by every isobench process on the
/// host, so that one process does not unmount the hierarchy under another
/// one's crun containers.
///
/// In `dir`: `lock` (held with `flock` while a process changes the
/// workaround), `users/<pid>-<starttime>` (one file per process holding a
/// guard; a file whose process is gone is stale and pruned), and `mounted`
/// (present while a hierarchy isobench mounted is in place; it holds the
/// mount point). The last live user unmounts what any isobench process
/// mounted, so a run killed with SIGKILL is made good by the next one, or by
/// `isobench clean` ([`release_orphaned`]).
#[derive(Debug, Clone)]
pub struct SharedUsers {
    dir: PathBuf,
}

/// A process, told apart from a later one with the same PID by its start
/// time (clock ticks since boot, `/proc/<pid>/stat` field 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessId {
    /// The PID.
    pub pid: u32,
    /// Its start time.
    pub start: u64,
}

impl ProcessId {
    /// This process.
    pub fn current() -> Option<ProcessId> {
        Self::of(std::process::id())
    }

    /// The live process `pid`, if any.
    pub fn of(pid: u32) -> Option<ProcessId> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ...`: comm may hold spaces and parentheses.
        let after_comm = &stat[stat.rfind(')')? + 1..];
        let start = after_comm.split_whitespace().nth(19)?.parse().ok()?;
        Some(ProcessId { pid, start })
    }

    fn alive(&self) -> bool {
        ProcessId::of(self.pid).is_some_and(|p| p == *self)
    }

    fn file_name(&self) -> String {
        format!("{}-{}", self.pid, self.start)
    }

    fn parse(name: &str) -> Option<ProcessId> {
        let (pid, start) = name.split_once('-')?;
        Some(ProcessId {
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
        })
    }
}

/// An exclusive hold on [`SharedUsers`]' lock file; released on drop.
pub struct SharedLock {
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl SharedUsers {
    /// The host's shared state ([`SHARED_DIR`]).
    pub fn host() -> SharedUsers {
        SharedUsers::at(Path::new(SHARED_DIR))
    }

    /// Shared state kept in `dir` (tests use a temporary one).
    pub fn at(dir: &Path) -> SharedUsers {
        SharedUsers {
            dir: dir.to_path_buf(),
        }
    }

    fn users_dir(&self) -> PathBuf {
        self.dir.join("users")
    }

    fn marker(&self) -> PathBuf {
        self.dir.join("mounted")
    }

    /// Waits for the lock file (creating the directory when absent).
    pub fn lock(&self) -> std::io::Result<SharedLock> {
        std::fs::create_dir_all(self.users_dir())?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("lock"))?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, errno)| std::io::Error::from(errno))?;
        Ok(SharedLock { _lock: lock })
    }

    /// Records `user` as holding the workaround.
    pub fn register(&self, _held: &SharedLock, user: ProcessId) -> std::io::Result<()> {
        std::fs::write(self.users_dir().join(user.file_name()), b"")
    }

    /// Forgets `user`.
    pub fn unregister(&self, _held: &SharedLock, user: ProcessId) {
        let _ = std::fs::remove_file(self.users_dir().join(user.file_name()));
    }

    /// The users still alive; stale files are removed.
    pub fn live_users(&self, _held: &SharedLock) -> Vec<ProcessId> {
        let Ok(entries) = std::fs::read_dir(self.users_dir()) else {
            return Vec::new();
        };
        let mut live = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            match ProcessId::parse(&name) {
                Some(user) if user.alive() => live.push(user),
                _ => {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        live
    }

    /// Records that isobench mounted the hierarchy at `mount_point`.
    pub fn mark_mounted(&self, _held: &SharedLock, mount_point: &Path) -> std::io::Result<()> {
        std::fs::write(self.marker(), mount_point.display().to_string())
    }

    /// Where isobench mounted the hierarchy, if it did and it is still recorded.
    pub fn mounted(&self) -> Option<PathBuf> {
        std::fs::read_to_string(self.marker())
            .ok()
            .map(|s| PathBuf::from(s.trim()))
            .filter(|p| !p.as_os_str().is_empty())
    }

    /// Forgets the mount record.
    pub fn clear_mounted(&self, _held: &SharedLock) {
        let _ = std::fs::remove_file(self.marker());
    }
}

/// Keeps the hugetlb workaround in place while it lives (see the module docs).
#[derive(Debug)]
pub struct HugetlbGuard {
    _private: (),
}

impl HugetlbGuard {
    /// Applies the workaround if this host needs it.
    pub fn acquire() -> Result<Self, EnvError> {
        let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
        let shared = SharedUsers::host();
        // Without the shared directory (not root) nothing can be mounted
        // anyway: a host that needs the workaround fails below.
        let held = shared.lock().ok();
        if let (Some(held), 0) = (&held, state.users) {
            if let Some(me) = ProcessId::current() {
                let _ = shared.register(held, me);
            }
        }
        let outcome = Self::apply(&shared, held.as_ref());
        if outcome.is_err() && state.users == 0 {
            if let (Some(held), Some(me)) = (&held, ProcessId::current()) {
                shared.unregister(held, me);
            }
        }
        outcome?;
        state.users += 1;
        Ok(HugetlbGuard { _private: () })
    }

    fn apply(shared: &SharedUsers, held: Option<&SharedLock>) -> Result<(), EnvError> {
        match hybrid_state() {
            HybridState::Fine => Ok(()),
            HybridState::Unfixable(controllers) => Err(EnvError::Unavailable {
                env: "oci-crun".into(),
                reason: format!(
                    "crun refuses hybrid cgroups and cgroup2 owns controllers isobench cannot move: {}",
                    controllers.join(", ")
                ),
                fix: "boot with all controllers on cgroup v1 (or pure cgroup v2), or use oci-runc"
                    .into(),
            }),
            HybridState::NeedsHugetlbMount => {
                let Some(held) = held else {
                    return Err(EnvError::Unavailable {
                        env: "oci-crun".into(),
                        reason: format!(
                            "crun's hybrid-cgroup workaround needs {SHARED_DIR} to coordinate with other isobench runs, and it cannot be created"
                        ),
                        fix: "run isobench as root".into(),
                    });
                };
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
                shared.mark_mounted(held, target).map_err(|e| {
                    EnvError::io(format!("recording the hugetlb mount in {SHARED_DIR}"), e)
                })?;
                tracing::info!(
                    "mounted the hugetlb cgroup v1 hierarchy at {HUGETLB_MOUNT} for crun"
                );
                Ok(())
            }
        }
    }

    /// True while a hierarchy isobench mounted is in place.
    pub fn mounted_by_isobench() -> bool {
        SharedUsers::host()
            .mounted()
            .is_some_and(|p| hugetlb_v1_mounts().contains(&p))
    }
}

impl Drop for HugetlbGuard {
    fn drop(&mut self) {
        let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
        state.users = state.users.saturating_sub(1);
        if state.users > 0 {
            return;
        }
        let shared = SharedUsers::host();
        let Ok(held) = shared.lock() else {
            return;
        };
        if let Some(me) = ProcessId::current() {
            shared.unregister(&held, me);
        }
        let others = shared.live_users(&held);
        if !others.is_empty() {
            tracing::debug!(
                "hugetlb workaround still used by isobench process(es) {:?}",
                others.iter().map(|p| p.pid).collect::<Vec<_>>()
            );
            return;
        }
        undo(&shared, &held);
    }
}

/// Undoes the workaround when no live isobench process uses it any more
/// (after a run killed with SIGKILL); returns what was done.
pub fn release_orphaned() -> Option<String> {
    let shared = SharedUsers::host();
    shared.mounted()?;
    let held = shared.lock().ok()?;
    if !shared.live_users(&held).is_empty() {
        return None;
    }
    let target = shared.mounted()?;
    undo(&shared, &held).then(|| {
        format!(
            "unmounted the hugetlb cgroup v1 hierarchy at {} (crun's workaround)",
            target.display()
        )
    })
}

/// Unmounts the hierarchy isobench mounted (if any); true when it did.
fn undo(shared: &SharedUsers, held: &SharedLock) -> bool {
    let Some(target) = shared.mounted() else {
        return false;
    };
    if !hugetlb_v1_mounts().contains(&target) {
        // Unmounted by someone else: nothing of ours is left.
        shared.clear_mounted(held);
        return false;
    }
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
        return false;
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
            shared.clear_mounted(held);
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
            true
        }
        Err(e) => {
            tracing::warn!("unmounting {}: {e}", target.display());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_ids_tell_a_reused_pid_apart() {
        let me = ProcessId::current().expect("/proc/self/stat");
        assert_eq!(me.pid, std::process::id());
        assert!(me.alive());
        let earlier = ProcessId {
            start: me.start.wrapping_sub(1),
            ..me
        };
        assert!(
            !earlier.alive(),
            "same PID, other start time: not the same process"
        );
        assert_eq!(ProcessId::parse(&me.file_name()), Some(me));
        assert_eq!(ProcessId::parse("12-x"), None);
    }

    #[test]
    fn shared_users_count_live_processes_only() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedUsers::at(dir.path());
        let held = shared.lock().unwrap();
        let me = ProcessId::current().unwrap();
        let init = ProcessId::of(1).expect("pid 1 is alive");
        let dead = ProcessId {
            pid: me.pid,
            start: me.start + 1,
        };
        for user in [me, init, dead] {
            shared.register(&held, user).unwrap();
        }
        let mut live = shared.live_users(&held);
        live.sort_by_key(|p| p.pid);
        assert_eq!(live, [init, me]);
        assert!(
            !shared.users_dir().join(dead.file_name()).exists(),
            "a stale user file is pruned"
        );
        shared.unregister(&held, me);
        assert_eq!(shared.live_users(&held), [init]);

        assert_eq!(shared.mounted(), None);
        shared
            .mark_mounted(&held, Path::new("/sys/fs/cgroup/hugetlb"))
            .unwrap();
        assert_eq!(
            shared.mounted(),
            Some(PathBuf::from("/sys/fs/cgroup/hugetlb"))
        );
        shared.clear_mounted(&held);
        assert_eq!(shared.mounted(), None);
    }

    #[test]
    fn the_shared_lock_excludes_other_processes() {
        // flock locks belong to the open file: a second open of the same
        // file (as another process would do) cannot take it while held.
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedUsers::at(dir.path());
        let held = shared.lock().unwrap();
        let other = std::fs::File::open(dir.path().join("lock")).unwrap();
        let attempt = nix::fcntl::Flock::lock(other, nix::fcntl::FlockArg::LockExclusiveNonblock);
        assert!(attempt.is_err(), "the lock is exclusive");
        drop(held);
        let other = std::fs::File::open(dir.path().join("lock")).unwrap();
        assert!(
            nix::fcntl::Flock::lock(other, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok(),
            "released on drop"
        );
    }

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
