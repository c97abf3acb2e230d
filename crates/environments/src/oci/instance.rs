//! One container run by an OCI runtime in the foreground: its output, its
//! meter target, and its teardown (kill, `delete --force`, final counters,
//! cgroups and bundle removed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::containers::RunCgroup;
use crate::instance::{StopGuard, Teardown};
use crate::lines::Deadline;
use crate::process::ChildProcess;
use crate::{EnvError, ExitInfo, Instance, MeterTarget};

/// Removes the bundle directory and the run cgroup when launch fails half-way.
pub(super) struct BundleGuard {
    dir: PathBuf,
    cgroup: Option<RunCgroup>,
}

impl BundleGuard {
    /// Guards the bundle directory `dir` (not created yet) and `cgroup`.
    pub(super) fn new(dir: PathBuf, cgroup: RunCgroup) -> Self {
        BundleGuard {
            dir,
            cgroup: Some(cgroup),
        }
    }

    /// The bundle directory.
    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The launch succeeded: the instance owns both from now on.
    pub(super) fn release(mut self) -> (PathBuf, RunCgroup) {
        let dir = std::mem::take(&mut self.dir);
        let cgroup = self.cgroup.take().expect("released once");
        (dir, cgroup)
    }
}

impl Drop for BundleGuard {
    fn drop(&mut self) {
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One container run by an OCI runtime in the foreground.
pub(super) struct OciRun {
    pub(super) env: String,
    /// `<runtime> --root <state root> <global flags>`.
    pub(super) command: Command,
    pub(super) id: String,
    pub(super) pid: i32,
    pub(super) child: ChildProcess,
    pub(super) bundle_dir: PathBuf,
    pub(super) cgroup: Option<RunCgroup>,
    pub(super) in_cgroup: bool,
    pub(super) deadline: Deadline,
    pub(super) killed: bool,
}

impl OciRun {
    /// Runs `<runtime> <global flags> ARGS...`, returning stderr on failure.
    fn runtime(&self, args: &[&str]) -> Result<(), String> {
        let mut cmd = Command::new(self.command.get_program());
        cmd.args(self.command.get_args()).args(args);
        match cmd.output() {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The state root this runtime was given (`--root`).
    fn state_root(&self) -> Option<&Path> {
        self.command
            .get_args()
            .skip_while(|a| *a != "--root")
            .nth(1)
            .map(Path::new)
    }

    /// Ends the agent: a finishing one gets 2 s to exit by itself, then the
    /// container is killed (the agent is PID 1 of its namespace: only
    /// SIGKILL ends it).
    fn end_agent(&mut self) -> std::process::ExitStatus {
        // A serving agent ends at the end of its input.
        self.child.close_stdin();
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.child.try_exit().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.child.try_exit().is_none() {
            self.killed = true;
            let _ = self.runtime(&["kill", &self.id, "KILL"]);
        }
        let status = self.child.finish(Duration::from_secs(5));
        self.killed |= self.child.was_killed();
        status
    }

    /// `<runtime> delete --force ID`; a container already gone is fine.
    fn delete_container(&self) -> Result<(), EnvError> {
        // `--force`: runc, crun and youki also take `-f`, runsc only the long form.
        let Err(message) = self.runtime(&["delete", "--force", &self.id]) else {
            return Ok(());
        };
        let gone = [
            "does not exist",
            "not exist",
            "no such",
            "not found",
            "cannot find",
        ]
        .iter()
        .any(|m| message.to_lowercase().contains(m));
        if gone {
            return Ok(());
        }
        Err(EnvError::Command {
            program: format!(
                "{} delete --force {}",
                self.command.get_program().to_string_lossy(),
                self.id
            ),
            message,
        })
    }
}

impl Teardown for OciRun {
    fn teardown(&mut self) -> Result<ExitInfo, EnvError> {
        let status = self.end_agent();
        let mut first_err = self.delete_container().err();
        let (cpu, peak) = match &self.cgroup {
            Some(g) if self.in_cgroup => (g.cpu_seconds(), g.peak_memory()),
            _ => (None, None),
        };
        if let Some(mut group) = self.cgroup.take() {
            if let Err(e) = group.remove() {
                first_err.get_or_insert(e);
            }
        }
        if self.bundle_dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.bundle_dir) {
                first_err.get_or_insert(EnvError::io(
                    format!("removing bundle {}", self.bundle_dir.display()),
                    e,
                ));
            }
        }
        // The state directories are only kept while containers exist.
        if let Some(root) = self.state_root() {
            if std::fs::remove_dir(root).is_ok() {
                let _ = root.parent().map(std::fs::remove_dir);
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        if !status.success() {
            let line = self.child.stderr.last_line();
            if !line.is_empty() {
                tracing::warn!(
                    "{} container {} ended with {status}: {line}",
                    self.env,
                    self.id
                );
            }
        }
        Ok(ExitInfo {
            code: status.code().map(i64::from),
            killed: self.killed,
            final_cpu_seconds: cpu,
            final_peak_memory_bytes: peak,
        })
    }

    fn describe(&self) -> String {
        format!("{} container {}", self.env, self.id)
    }
}

impl Instance for StopGuard<OciRun> {
    fn launched_at(&self) -> Instant {
        self.deadline.launched_at()
    }

    /// `<runtime> checkpoint --image-path IMAGE <id>`: the container ends
    /// with it (the environment refuses restores where this cannot work).
    fn checkpoint(&mut self, image: &Path) -> Result<(), EnvError> {
        let image_arg = image.to_string_lossy().into_owned();
        let id = self.id.clone();
        self.runtime(&["checkpoint", "--image-path", &image_arg, &id])
            .map_err(|message| EnvError::Command {
                program: format!("{} checkpoint {id}", self.env),
                message: format!("{message} (image {image_arg})"),
            })
    }

    fn next_line(&mut self, timeout: Duration) -> Result<Option<String>, EnvError> {
        self.read(|run| run.deadline.next_line(&mut run.child.lines, timeout))
    }

    fn meter_target(&self) -> MeterTarget {
        match (&self.cgroup, self.in_cgroup) {
            (Some(group), true) => group.meter_target(),
            (Some(_), false) => MeterTarget::ProcessTree(self.pid),
            (None, _) => MeterTarget::Unavailable("the container was already stopped".into()),
        }
    }

    /// The runtime's foreground process (`runc run`, `runsc run`: its
    /// descendants are the container's init, gVisor's sandbox and gofer)
    /// and the container's init.
    fn host_processes(&self) -> Vec<i32> {
        vec![self.child.pid(), self.pid]
    }

    fn diagnostics(&self) -> Option<String> {
        // The runtime's own errors ("cgroups in hybrid mode not supported")
        // and the agent's stderr share this stream.
        self.child.last_words()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), EnvError> {
        self.child.send(bytes)
    }

    fn close_input(&mut self) -> Result<(), EnvError> {
        self.child.close_stdin();
        Ok(())
    }

    fn stop(&mut self) -> Result<ExitInfo, EnvError> {
        StopGuard::stop(self)
    }
}
