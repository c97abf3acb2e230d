//! Init duties when the agent is a VM's PID 1: mount /proc, /sys and /dev,
//! make sure stdout/stderr reach the console, load kernel modules, and halt
//! the machine at the end (also after an error or a panic), because PID 1
//! must never exit.
//!
//! "VM init" means PID 1 *and* no procfs mounted yet: a container's PID 1
//! always finds /proc mounted by its runtime, so the agent as a container
//! entrypoint does not try to mount, load modules or power off.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

use crate::error::AgentError;

/// How to end the machine (the invocation's `--halt`).
pub use isobench_records::Halt;

/// True when the agent runs as a VM's init: PID 1 with no procfs at `/proc`.
pub fn is_vm_init() -> bool {
    std::process::id() == 1 && !Path::new("/proc/self").exists()
}

/// The file systems init mounts, relative to the root: (dir, fstype).
pub const MOUNTS: [(&str, &str); 3] = [("proc", "proc"), ("sys", "sysfs"), ("dev", "devtmpfs")];

/// Mounts proc, sysfs and devtmpfs under `root` (creating the directories);
/// a file system already mounted there (EBUSY) is fine.
pub fn mount_all(root: &Path) -> Result<(), AgentError> {
    for (dir, fstype) in MOUNTS {
        let target = root.join(dir);
        std::fs::create_dir_all(&target)
            .map_err(|e| AgentError::Init(format!("cannot create {}: {e}", target.display())))?;
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
        match mount(Some(fstype), &target, Some(fstype), flags, None::<&str>) {
            Ok(()) | Err(Errno::EBUSY) => {}
            Err(e) => {
                return Err(AgentError::Init(format!(
                    "cannot mount {fstype} on {}: {e}; the guest kernel needs CONFIG_PROC_FS, CONFIG_SYSFS and CONFIG_DEVTMPFS",
                    target.display()
                )))
            }
        }
    }
    Ok(())
}

/// Makes fds 0, 1 and 2 point at `console` when they are not open (the
/// kernel opens /dev/console for init only if the node exists).
pub fn ensure_console(console: &Path) -> Result<(), AgentError> {
    let closed = |fd| nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_err();
    if ![0, 1, 2].into_iter().any(closed) {
        return Ok(());
    }
    let file = File::options()
        .read(true)
        .write(true)
        .open(console)
        .map_err(|e| {
            AgentError::Init(format!(
                "cannot open {}: {e}; the initramfs needs a console node (mknod c 5 1)",
                console.display()
            ))
        })?;
    for fd in [0, 1, 2] {
        if closed(fd) {
            // SAFETY: dup2 onto a standard descriptor number that is closed;
            // no Rust object owns fds 0-2 at this point, and `file` stays
            // open for the duration of the call.
            if unsafe { libc::dup2(file.as_raw_fd(), fd) } < 0 {
                return Err(AgentError::Init(format!(
                    "cannot attach fd {fd} to {}: {}",
                    console.display(),
                    std::io::Error::last_os_error()
                )));
            }
        }
    }
    Ok(())
}

/// Loads kernel modules in order with `finit_module`; a module already
/// loaded (EEXIST) is fine.
pub fn load_modules(modules: &[PathBuf]) -> Result<(), AgentError> {
    for path in modules {
        let file = File::open(path).map_err(|e| {
            AgentError::Init(format!(
                "cannot open kernel module {}: {e}; put it into the initramfs or fix --modules",
                path.display()
            ))
        })?;
        match nix::kmod::finit_module(&file, c"", nix::kmod::ModuleInitFlags::empty()) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                return Err(AgentError::Init(format!(
                    "cannot load kernel module {}: {e}; it must be built for the running kernel and its dependencies listed before it in --modules",
                    path.display()
                )))
            }
        }
    }
    Ok(())
}

/// All init duties before the workload: mounts, console, modules.
pub fn init(modules: &[PathBuf]) -> Result<(), AgentError> {
    mount_all(Path::new("/"))?;
    ensure_console(Path::new("/dev/console"))?;
    load_modules(modules)
}

/// Syncs and ends the machine. Never returns. `reboot` fails only without
/// CAP_SYS_BOOT, i.e. not in a VM (a container whose runtime mounted no
/// /proc); the agent then says so and exits with status 1 rather than hang.
pub fn halt(how: Halt) -> ! {
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    nix::unistd::sync();
    let mode = match how {
        Halt::Poweroff => nix::sys::reboot::RebootMode::RB_POWER_OFF,
        Halt::Reboot => nix::sys::reboot::RebootMode::RB_AUTOBOOT,
    };
    let err = nix::sys::reboot::reboot(mode).unwrap_err();
    eprintln!(
        "isobench-agent: cannot halt the machine ({how:?}): {err}; exiting instead (run the agent as a VM's init, or mount /proc in the container)"
    );
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_module_is_a_clear_init_error() {
        let err = load_modules(&[PathBuf::from("/nonexistent/virtio_mmio.ko")]).unwrap_err();
        assert_eq!(err.kind(), "init");
        assert!(
            err.to_string().contains("/nonexistent/virtio_mmio.ko"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_module_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bogus.ko");
        std::fs::write(&path, b"not an ELF module").unwrap();
        let err = load_modules(std::slice::from_ref(&path)).unwrap_err();
        assert!(
            err.to_string().contains("cannot load kernel module"),
            "{err}"
        );
    }

    #[test]
    fn open_console_is_left_alone() {
        // fds 0-2 are open in the test harness, so the console is not touched.
        ensure_console(Path::new("/nonexistent/console")).unwrap();
    }

    #[test]
    fn mounts_into_a_private_root_when_root() {
        if !nix::unistd::geteuid().is_root() {
            isobench_testkit::skip!("mounting needs root");
        }
        // Run in a child with its own mount namespace so nothing leaks to
        // the host even if the test fails half-way.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let status = std::thread::spawn(move || {
            nix::sched::unshare(
                nix::sched::CloneFlags::CLONE_FS | nix::sched::CloneFlags::CLONE_NEWNS,
            )
            .map_err(|e| e.to_string())?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .map_err(|e| e.to_string())?;
            mount_all(&root).map_err(|e| e.to_string())?;
            // A second call finds everything mounted (EBUSY or stacked) and succeeds.
            mount_all(&root).map_err(|e| e.to_string())?;
            let ok = root.join("proc/self/stat").exists()
                && root.join("sys/kernel").is_dir()
                && root.join("dev/null").exists();
            for (dir, _) in MOUNTS.iter().rev() {
                while nix::mount::umount(&root.join(dir)).is_ok() {}
            }
            Ok::<bool, String>(ok)
        })
        .join()
        .unwrap();
        assert_eq!(status, Ok(true));
    }
}
