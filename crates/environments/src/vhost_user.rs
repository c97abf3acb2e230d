//! `vhost-device-vsock` (rust-vmm): a user-space virtio-vsock device for
//! QEMU's `vhost-user-vsock`, used when the host has no `/dev/vhost-vsock`.
//! It exposes the guest's ports on a hybrid-vsock Unix socket, the same
//! `CONNECT <port>` protocol as Firecracker's ([`crate::vsock`]).
//!
//! One daemon per instance, started before QEMU in the instance's work
//! directory, stopped (and its sockets removed with the directory) when the
//! instance stops.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::ChildProcess;
use crate::registry::which;
use crate::EnvError;

/// The daemon's program name.
pub const DAEMON: &str = "vhost-device-vsock";

/// The crate version `scripts/install-vhost-device-vsock.sh` installs.
pub const DAEMON_VERSION: &str = "0.3.0";

/// How to get the daemon.
pub const INSTALL_FIX: &str = "run `isobench setup --env qemu-microvm` (scripts/install-vhost-device-vsock.sh: cargo install vhost-device-vsock into the cache), or load the kernel's vhost_vsock module (`modprobe vhost_vsock`)";

/// The guest CID the daemon gives its (only) guest.
pub const GUEST_CID: u32 = 3;

/// `CACHE/runtime/vhost-device-vsock/bin/vhost-device-vsock`.
pub fn cached_daemon(cache_dir: &Path) -> PathBuf {
    cache_dir
        .join("runtime/vhost-device-vsock/bin")
        .join(DAEMON)
}

/// The daemon on PATH or in the cache, if any.
pub fn find_daemon(cache_dir: &Path) -> Option<PathBuf> {
    which(DAEMON).or_else(|| Some(cached_daemon(cache_dir)).filter(|p| p.is_file()))
}

/// A running daemon serving one guest.
pub struct VsockDaemon {
    child: ChildProcess,
    /// The vhost-user socket QEMU connects to (`-chardev socket,path=`).
    pub vhost_user_socket: PathBuf,
    /// The hybrid-vsock socket host clients connect to.
    pub uds: PathBuf,
}

impl VsockDaemon {
    /// Starts `binary` with its sockets in `dir` and waits (up to
    /// `patience`) for its vhost-user socket to appear.
    pub fn start(binary: &Path, dir: &Path, patience: Duration) -> Result<Self, EnvError> {
        let vhost_user_socket = dir.join("vhost-user-vsock.sock");
        let uds = dir.join("vsock.sock");
        let mut command = Command::new(binary);
        command.arg("--vm").arg(format!(
            "guest-cid={GUEST_CID},socket={},uds-path={}",
            vhost_user_socket.display(),
            uds.display()
        ));
        let mut child = ChildProcess::spawn(command, DAEMON)?;
        let deadline = Instant::now() + patience;
        while !vhost_user_socket.exists() {
            if let Some(status) = child.try_exit() {
                return Err(EnvError::Command {
                    program: binary.display().to_string(),
                    message: format!(
                        "exited at start ({status}): {}",
                        child.stderr.last_line_at_end(Duration::from_millis(200))
                    ),
                });
            }
            if Instant::now() >= deadline {
                child.finish(Duration::ZERO);
                return Err(EnvError::Command {
                    program: binary.display().to_string(),
                    message: format!(
                        "did not create {} within {:.1} s",
                        vhost_user_socket.display(),
                        patience.as_secs_f64()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(VsockDaemon {
            child,
            vhost_user_socket,
            uds,
        })
    }

    /// The daemon's process id (metered with the VMM).
    pub fn pid(&self) -> i32 {
        self.child.pid()
    }

    /// Stops the daemon (it may already have exited with QEMU). Idempotent.
    pub fn stop(&mut self) {
        self.child.finish(Duration::from_millis(200));
    }
}

impl Drop for VsockDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}
