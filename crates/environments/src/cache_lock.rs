//! Locks on cache entries shared between isobench processes (OCI root
//! filesystems, Docker images): a process using an entry holds its lock
//! shared, a process building it holds it exclusive, and pruning removes only
//! entries whose lock it can take exclusive without waiting, i.e. that no
//! live process uses. `flock` locks go away with their process, so a crashed
//! run never keeps an entry locked.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::EnvError;

/// A `flock` held on one cache entry's lock file; released on drop.
#[derive(Debug)]
pub struct CacheLock {
    lock: Flock<File>,
    path: PathBuf,
}

impl CacheLock {
    /// Waits for a shared hold on `path` (created if missing): the entry is in use.
    pub fn shared(path: &Path) -> Result<CacheLock, EnvError> {
        Self::take(path, FlockArg::LockShared)
    }

    /// An exclusive hold on `path` if no one else holds it, for pruning the
    /// entry; `None` when it is in use (or cannot be opened).
    pub fn try_exclusive(path: &Path) -> Option<CacheLock> {
        Self::take(path, FlockArg::LockExclusiveNonblock).ok()
    }

    /// Turns a shared hold exclusive (waiting for the other holders to let
    /// go), to build the entry. Like `flock(2)` it may let go briefly on the way.
    pub fn make_exclusive(&self) -> Result<(), EnvError> {
        self.relock(FlockArg::LockExclusive)
    }

    /// Turns an exclusive hold back into a shared one once the entry is built.
    pub fn make_shared(&self) -> Result<(), EnvError> {
        self.relock(FlockArg::LockShared)
    }

    /// Marks the entry as used now (its lock file's mtime), for pruning the
    /// least recently used entries first.
    pub fn mark_used(&self) {
        let _ = self.lock.set_modified(std::time::SystemTime::now());
    }

    /// When the entry whose lock file is `path` was last marked used; `None`
    /// without a lock file.
    pub fn last_used(path: &Path) -> Option<std::time::SystemTime> {
        std::fs::metadata(path).ok()?.modified().ok()
    }

    /// Removes the lock file while holding it, with the entry it guards.
    /// Processes waiting on the removed file notice and lock the new one.
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }

    fn relock(&self, arg: FlockArg) -> Result<(), EnvError> {
        self.lock
            .relock(arg)
            .map_err(|errno| EnvError::io(format!("locking {}", self.path.display()), errno.into()))
    }

    /// Opens (creating) and locks `path`. [`CacheLock::remove`] unlinks lock
    /// files, so a lock taken on a file that is no longer the one at `path`
    /// is dropped and taken again.
    fn take(path: &Path, arg: FlockArg) -> Result<CacheLock, EnvError> {
        use std::os::unix::fs::MetadataExt;
        loop {
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)
                .map_err(|e| {
                    EnvError::io(format!("opening the lock file {}", path.display()), e)
                })?;
            let lock = Flock::lock(file, arg).map_err(|(_, errno)| {
                EnvError::io(format!("locking {}", path.display()), errno.into())
            })?;
            let held = lock
                .metadata()
                .map_err(|e| EnvError::io(format!("reading {}", path.display()), e))?;
            match std::fs::metadata(path) {
                Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                    return Ok(CacheLock {
                        lock,
                        path: path.to_path_buf(),
                    })
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(EnvError::io(format!("reading {}", path.display()), e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_share_and_keep_pruning_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entry.lock");
        let first = CacheLock::shared(&path).unwrap();
        let second = CacheLock::shared(&path).unwrap();
        assert!(CacheLock::try_exclusive(&path).is_none(), "in use");
        drop(first);
        assert!(CacheLock::try_exclusive(&path).is_none(), "still in use");
        drop(second);
        let pruner = CacheLock::try_exclusive(&path).expect("unused");
        pruner.remove();
        assert!(!path.exists());
    }

    #[test]
    fn a_waiter_on_a_removed_lock_file_locks_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entry.lock");
        let pruner = CacheLock::try_exclusive(&path).unwrap();
        let waiter = std::thread::spawn({
            let path = path.clone();
            move || CacheLock::shared(&path).unwrap()
        });
        // Whether the waiter opened the old file or not, it ends up on the
        // file that is at `path`.
        std::thread::sleep(std::time::Duration::from_millis(50));
        pruner.remove();
        let user = waiter.join().unwrap();
        assert!(path.exists());
        assert!(
            CacheLock::try_exclusive(&path).is_none(),
            "{user:?} holds it"
        );
    }

    #[test]
    fn marks_use_on_the_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entry.lock");
        assert_eq!(CacheLock::last_used(&path), None);
        let lock = CacheLock::shared(&path).unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(CacheLock::last_used(&path), Some(old));
        lock.mark_used();
        assert!(CacheLock::last_used(&path).unwrap() > old);
    }

    #[test]
    fn exclusive_while_building_then_shared() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entry.lock");
        let builder = CacheLock::shared(&path).unwrap();
        builder.make_exclusive().unwrap();
        let other = File::open(&path).unwrap();
        assert!(Flock::lock(other, FlockArg::LockSharedNonblock).is_err());
        builder.make_shared().unwrap();
        let other = File::open(&path).unwrap();
        assert!(Flock::lock(other, FlockArg::LockSharedNonblock).is_ok());
    }
}
