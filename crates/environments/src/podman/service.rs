//! podman's Docker-compatible API service, started by isobench for one
//! environment and stopped with it: `podman --runtime runc --cgroup-manager
//! cgroupfs system service --time=0 unix:///run/isobench/isobench-<pid>-podman-<n>.sock`.
//!
//! - Its own process group, so the Ctrl-C the terminal sends to isobench
//!   does not stop it before isobench has removed its containers.
//! - `PR_SET_PDEATHSIG`: the kernel sends it SIGTERM when the thread that
//!   started it ends, and that thread lives exactly as long as the
//!   [`Service`] (it only waits for it to be stopped), so a SIGKILLed
//!   isobench does not leave it running. `isobench clean` also ends the
//!   services of dead runs found by their socket's name ([`end_dead`]).
//! - Stopped with SIGTERM (then SIGKILL after [`STOP_GRACE`]) by
//!   [`Service::stop`] or on drop; its socket is removed either way.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bollard::models::ResourcesUlimits;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::docker::connection::Endpoint;
use crate::process::StderrTail;
use crate::run_id::{belongs_to_dead_run, PREFIX};
use crate::EnvError;

/// Where the services' sockets are (`isobench-<pid>-podman-<n>.sock`).
pub const SOCKET_DIR: &str = "/run/isobench";

/// Middle of every service socket's name, after the isobench PID.
const SOCKET_MARK: &str = "-podman-";

/// The OCI runtime the service runs containers with: runc, the one docker
/// uses here, so that docker against podman compares the engines only; and
/// Debian's podman default, crun 1.8, refuses hybrid cgroup hosts ("cgroups
/// in hybrid mode not supported"), which `oci-crun` works around by
/// remounting hugetlb, a host change podman should not need.
pub const RUNTIME: &str = "runc";

/// Longest wait for a new service to answer on its socket.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Time a stopping service gets after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// One running `podman system service`.
pub struct Service {
    child: Option<Child>,
    socket: PathBuf,
    stderr: StderrTail,
    /// Dropping it ends the thread that started the service (its
    /// parent-death signal's anchor); joined after the service is reaped.
    anchor: Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

/// The socket of this process's `n`-th service.
fn socket_path(n: u32) -> PathBuf {
    Path::new(SOCKET_DIR).join(format!(
        "{PREFIX}{}{SOCKET_MARK}{n}.sock",
        std::process::id()
    ))
}

impl Service {
    /// Starts `podman` (the binary) as an API service on a socket of this
    /// process's and waits until it answers. A service that exits or does
    /// not answer in time is an error quoting podman's last stderr line.
    pub fn start(podman: &Path) -> Result<Service, EnvError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        std::fs::create_dir_all(SOCKET_DIR)
            .map_err(|e| EnvError::io(format!("creating {SOCKET_DIR}"), e))?;
        let socket = socket_path(NEXT.fetch_add(1, Ordering::Relaxed));
        let _ = std::fs::remove_file(&socket);
        let mut command = Command::new(podman);
        command
            .args(["--runtime", RUNTIME, "--cgroup-manager", "cgroupfs"])
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let (child_tx, child_rx) = mpsc::channel();
        let (hold_tx, hold_rx) = mpsc::channel::<()>();
        let anchor = std::thread::Builder::new()
            .name("isobench-podman-service".into())
            .spawn(move || {
                let _ = child_tx.send(command.spawn());
                // Until the service is stopped: the sender is dropped then.
                let _ = hold_rx.recv();
            })
            .map_err(|e| EnvError::io("starting the thread of podman's API service", e))?;
        let spawned = child_rx.recv().map_err(|_| EnvError::Command {
            program: podman.display().to_string(),
            message: "the thread starting `podman system service` ended early".into(),
        })?;
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                drop(hold_tx);
                let _ = anchor.join();
                return Err(EnvError::Command {
                    program: podman.display().to_string(),
                    message: format!("cannot start `podman system service`: {e}"),
                });
            }
        };
        let stderr = child
            .stderr
            .take()
            .map_or_else(StderrTail::new, StderrTail::spawn);
        let mut service = Service {
            child: Some(child),
            socket,
            stderr,
            anchor: Some((hold_tx, anchor)),
        };
        service.wait_until_it_answers()?;
        Ok(service)
    }

    /// Polls the socket until a connection succeeds; fails when the
    /// service exits first or [`START_TIMEOUT`] passes.
    fn wait_until_it_answers(&mut self) -> Result<(), EnvError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() >= deadline {
                let what = match exited {
                    Some(status) => format!("exited ({status})"),
                    None => format!("did not answer within {}s", START_TIMEOUT.as_secs()),
                };
                let last = self.stderr.last_line_at_end(Duration::from_millis(500));
                let _ = self.stop();
                return Err(EnvError::Command {
                    program: "podman system service".into(),
                    message: format!(
                        "{what} on {}{}",
                        self.socket.display(),
                        if last.is_empty() {
                            String::new()
                        } else {
                            format!(": {last}")
                        }
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Where the service answers.
    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint::Unix(self.socket.display().to_string())
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The `nofile` and `nproc` limits the service itself runs with, for
    /// its containers (see [`crate::docker::ContainerDefaults::ulimits`]).
    pub fn ulimits(&self) -> Vec<ResourcesUlimits> {
        let Some(pid) = self.child.as_ref().map(Child::id) else {
            return Vec::new();
        };
        let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
        [("nofile", "Max open files"), ("nproc", "Max processes")]
            .into_iter()
            .filter_map(|(name, row)| {
                let (soft, hard) = limit_row(&text, row)?;
                Some(ResourcesUlimits {
                    name: Some(name.into()),
                    soft: Some(soft),
                    hard: Some(hard),
                })
            })
            .collect()
    }

    /// The last line the service wrote to stderr (empty when none).
    pub fn last_error(&self) -> String {
        self.stderr.last_line()
    }

    /// Stops the service (SIGTERM, SIGKILL after [`STOP_GRACE`]), reaps it
    /// and removes its socket. Idempotent.
    pub fn stop(&mut self) -> Result<(), EnvError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = killpg(pid, Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        let mut reaped = None;
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(status)) => {
                    reaped = Some(status);
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => break,
            }
        }
        if reaped.is_none() {
            tracing::warn!(
                "podman's API service {} ignored SIGTERM for {}s: killing it",
                child.id(),
                STOP_GRACE.as_secs()
            );
            let _ = killpg(pid, Signal::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some((hold, thread)) = self.anchor.take() {
            drop(hold);
            let _ = thread.join();
        }
        match std::fs::remove_file(&self.socket) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(EnvError::io(
                format!("removing podman's socket {}", self.socket.display()),
                e,
            )),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!("stopping podman's API service: {e}");
        }
    }
}

/// The soft and hard values of one row of `/proc/<pid>/limits`
/// (`Max open files  20000  20000  files`); `unlimited` is `-1`.
fn limit_row(limits: &str, row: &str) -> Option<(i64, i64)> {
    let rest = limits.lines().find_map(|l| l.strip_prefix(row))?;
    let mut values = rest.split_whitespace().map(|v| match v {
        "unlimited" => Some(-1),
        v => v.parse().ok(),
    });
    Some((values.next()??, values.next()??))
}

/// True when `name` (a file name in [`SOCKET_DIR`], or an argument naming
/// it) is the socket of a service of an isobench process that is gone.
fn dead_socket(name: &str) -> bool {
    name.contains(SOCKET_MARK) && name.ends_with(".sock") && belongs_to_dead_run(name)
}

/// Ends the services of isobench processes that are gone (found by the
/// socket their command line names) and removes their sockets; one line per
/// thing done.
pub fn end_dead() -> Vec<String> {
    let mut done = Vec::new();
    let socket_dir = format!("unix://{SOCKET_DIR}/");
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let dead = cmdline
            .split(|b| *b == 0)
            .filter_map(|arg| std::str::from_utf8(arg).ok())
            .any(|arg| arg.starts_with(&socket_dir) && dead_socket(arg));
        if dead {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            done.push(format!("killed podman API service {pid} of a dead run"));
        }
    }
    for entry in std::fs::read_dir(SOCKET_DIR)
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if dead_socket(&name) && std::fs::remove_file(entry.path()).is_ok() {
            done.push(format!("removed podman socket {}", entry.path().display()));
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_rows_parse() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             32768                32768                processes \n\
                    Max open files            1024                 20000                files     \n\
                    Max locked memory         unlimited            unlimited            bytes     \n";
        assert_eq!(limit_row(text, "Max open files"), Some((1024, 20000)));
        assert_eq!(limit_row(text, "Max processes"), Some((32768, 32768)));
        assert_eq!(limit_row(text, "Max locked memory"), Some((-1, -1)));
        assert_eq!(limit_row(text, "Max nice priority"), None);
    }

    #[test]
    fn sockets_carry_the_pid_of_their_run() {
        let mine = socket_path(3);
        assert!(mine.starts_with(SOCKET_DIR));
        assert!(!dead_socket(&mine.display().to_string()));
        assert!(dead_socket("isobench-4294967295-podman-0.sock"));
        assert!(dead_socket(
            "unix:///run/isobench/isobench-4294967295-podman-12.sock"
        ));
        assert!(!dead_socket("isobench-4294967295-docker-0"));
    }
}
