//! `native`: the agent as a plain host process, the baseline every other
//! environment is compared with; optionally inside a cgroup with the same
//! CPU and memory limits the containers get. With a user root
//! ([`AgentPayload::user_root`], `--workload command`) the agent enters the
//! user's tree itself (`exec ... --chroot <tree>`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cgroup::{self, CgroupV1};
use crate::instance::{prepared, StopGuard, Teardown};
use crate::lines::Deadline;
use crate::process::ChildProcess;
use crate::{
    AgentInvocation, AgentPayload, Availability, Capabilities, EnvError, EnvKind, EnvOptions,
    Environment, EnvironmentInfo, ExitInfo, HostFacts, Instance, LaunchSpec, MeterTarget,
    PayloadView, Prepared, Swept,
};

/// What native can do (its registry entry's [`Capabilities`]): a host
/// process on the host's network (a TCP listener binds loopback), metered
/// through its cgroup or process tree.
pub const CAPABILITIES: Capabilities = Capabilities {
    tcp: true,
    host_network: true,
    ..Capabilities::process()
};

/// Native runs anywhere; with [`EnvOptions::native_cgroup`] it needs root on
/// a cgroup v1 host.
pub fn detect(kind: EnvKind, host: &HostFacts, options: &EnvOptions) -> Availability {
    if options.native_cgroup && !(host.root && host.cgroup_v1) {
        return Availability::no(
            kind,
            format!(
                "running the native agent in a cgroup needs root on a cgroup v1 host (root={}, cgroup v1={})",
                host.root, host.cgroup_v1
            ),
            "run isobench as root on a cgroup v1 / hybrid host, or without --native-cgroup",
        );
    }
    if options.native_cgroup {
        Availability::yes(
            kind,
            "always available; in a cgroup v1 group with the run's limits",
        )
    } else {
        Availability::yes(kind, "always available")
    }
}

/// Builds the native environment.
pub fn build(_kind: EnvKind, options: &EnvOptions) -> Result<Box<dyn Environment>, EnvError> {
    Ok(Box::new(Native::new(options)))
}

/// Removes the cgroups dead native runs left (`isobench clean`); their
/// processes are found through the run's work directory by the harness.
pub fn clean_leftovers(kind: EnvKind, _options: &EnvOptions) -> Swept {
    cgroup::sweep_dead_runs(kind)
}

/// The native environment.
pub struct Native {
    use_cgroup: bool,
    payload: Option<AgentPayload>,
}

impl Native {
    /// Creates the native environment from shared options.
    pub fn new(options: &EnvOptions) -> Self {
        Native {
            use_cgroup: options.native_cgroup,
            payload: None,
        }
    }
}

impl Environment for Native {
    fn kind(&self) -> EnvKind {
        EnvKind::Native
    }

    fn info(&self) -> EnvironmentInfo {
        let mut notes = Vec::new();
        if self.use_cgroup {
            notes.push(
                "runs in a cgroup v1 group with the experiment's CPU and memory limits".into(),
            );
        }
        if let Some(root) = self.payload.as_ref().and_then(|p| p.user_root.as_ref()) {
            notes.push(format!(
                "the user's root filesystem {}: the agent chroots into it (read-only, private mount namespace with its own /proc, /dev, /tmp)",
                root.dir.display()
            ));
        }
        EnvironmentInfo {
            name: "native".into(),
            runtime_version: None,
            accel: None,
            emulated: false,
            notes,
        }
    }

    fn prepare(&mut self, payload: &AgentPayload) -> Result<Prepared, EnvError> {
        if !payload.agent_binary.is_file() {
            return Err(EnvError::MissingFile {
                what: "agent binary".into(),
                path: payload.agent_binary.clone(),
                fix: "build it with `scripts/build.sh` or pass --agent".into(),
            });
        }
        self.payload = Some(payload.clone());
        if let Some(root) = &payload.user_root {
            if !root.dir.join(crate::user_root::AGENT_IN_TREE).is_file() {
                return Err(EnvError::MissingFile {
                    what: "prepared root filesystem (its agent)".into(),
                    path: root.dir.join(crate::user_root::AGENT_IN_TREE),
                    fix: "prepare it with user_root::ensure and keep the UserRoot while the run uses it".into(),
                });
            }
            // The tree the harness prepared is the image; native builds nothing.
            return Ok(Prepared {
                image_bytes: Some(root.bytes),
                image_id: Some(format!(
                    "tree {} (sha256:{})",
                    root.dir.display(),
                    root.digest
                )),
                cached: true,
                ..Prepared::default()
            });
        }
        Ok(Prepared {
            cached: true,
            ..Prepared::default()
        })
    }

    fn assets_path_inside(&self) -> PathBuf {
        self.payload
            .as_ref()
            .map(|p| self.payload_view().assets(p))
            .unwrap_or_default()
    }

    fn payload_view(&self) -> PayloadView {
        PayloadView::Host
    }

    fn launch(&mut self, spec: &LaunchSpec) -> Result<Box<dyn Instance>, EnvError> {
        let payload = prepared(self.payload.as_ref(), EnvKind::Native)?;
        let cgroup = if self.use_cgroup {
            Some(CgroupV1::create(&spec.run_id.to_string(), &spec.limits)?)
        } else {
            None
        };
        let mut command = Command::new(&payload.agent_binary);
        command.args(agent_args(payload, &spec.invocation));
        command.envs(self.payload_view().env(payload)?);
        if let Some(group) = &cgroup {
            join_before_exec(&mut command, group)?;
        }
        let child = ChildProcess::spawn_with_stdin(command, "native", spec.interactive)?;
        Ok(Box::new(StopGuard::new(NativeRun {
            deadline: Deadline::new("native", child.spawned_at, spec.timeout),
            child,
            cgroup,
        })))
    }
}

/// The host agent's arguments: the invocation's, and with a user root
/// `exec --chroot <tree>` (the agent enters the tree itself, read-only, in
/// a private mount namespace).
pub fn agent_args(payload: &AgentPayload, invocation: &AgentInvocation) -> Vec<String> {
    let mut invocation = invocation.clone();
    if let (Some(root), AgentInvocation::Exec(exec)) = (&payload.user_root, &mut invocation) {
        exec.chroot = Some(root.dir.clone());
    }
    invocation.to_args()
}

/// Makes the child join `group` between fork and exec, so every page and
/// CPU cycle of the agent, from its first instruction, is charged to it.
fn join_before_exec(command: &mut Command, group: &CgroupV1) -> Result<(), EnvError> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    let files = group
        .procs_files()
        .into_iter()
        .map(|p| {
            CString::new(p.as_os_str().as_bytes()).map_err(|_| {
                EnvError::io(
                    format!("cgroup path {}", p.display()),
                    std::io::ErrorKind::InvalidInput.into(),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe calls are allowed: it uses open(2), write(2) and
    // close(2) on C strings prepared before the fork, and allocates nothing.
    // Writing "0" to cgroup.procs moves the calling process.
    unsafe {
        command.pre_exec(move || {
            for file in &files {
                let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    Ok(())
}

/// One native agent process (in its cgroup, if any).
struct NativeRun {
    child: ChildProcess,
    cgroup: Option<CgroupV1>,
    deadline: Deadline,
}

impl Teardown for NativeRun {
    fn teardown(&mut self) -> Result<ExitInfo, EnvError> {
        self.child.close_stdin();
        let status = self.child.finish(Duration::from_secs(2));
        let (cpu, peak) = match &self.cgroup {
            Some(group) => (group.cpu_seconds(), group.peak_memory()),
            None => (None, None),
        };
        if let Some(group) = &mut self.cgroup {
            group.remove()?;
        }
        Ok(ExitInfo {
            code: status.code().map(i64::from),
            killed: self.child.was_killed(),
            final_cpu_seconds: cpu,
            final_peak_memory_bytes: peak,
        })
    }

    fn describe(&self) -> String {
        format!("native agent {}", self.child.pid())
    }
}

impl Instance for StopGuard<NativeRun> {
    fn launched_at(&self) -> Instant {
        self.deadline.launched_at()
    }

    fn next_line(&mut self, timeout: Duration) -> Result<Option<String>, EnvError> {
        self.read(|run| run.deadline.next_line(&mut run.child.lines, timeout))
    }

    fn meter_target(&self) -> MeterTarget {
        match &self.cgroup {
            Some(group) => group.meter_target(),
            None => MeterTarget::ProcessTree(self.child.pid()),
        }
    }

    /// The agent process (in its cgroup or not).
    fn host_processes(&self) -> Vec<i32> {
        vec![self.child.pid()]
    }

    fn network_address(&self) -> Option<std::net::IpAddr> {
        // A host process shares the host's network.
        Some(std::net::Ipv4Addr::LOCALHOST.into())
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), EnvError> {
        self.child.send(bytes)
    }

    fn close_input(&mut self) -> Result<(), EnvError> {
        self.child.close_stdin();
        Ok(())
    }

    fn diagnostics(&self) -> Option<String> {
        self.child.last_words()
    }

    fn stop(&mut self) -> Result<ExitInfo, EnvError> {
        StopGuard::stop(self)
    }
}

/// Nothing to install on demand: what it needs is a Debian package.
pub fn extras(_kind: EnvKind) -> &'static [crate::Extra] {
    &[]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_root_is_entered_by_the_agent() {
        let mut payload = AgentPayload {
            agent_binary: "/a/isobench-agent".into(),
            assets_dir: "/a/assets".into(),
            extra_files: vec![],
            env: vec![],
            user_root: None,
        };
        let invocation = AgentInvocation::exec(isobench_records::user::ExecSpec::new(
            vec!["true".into()],
            isobench_records::user::Measure::Process,
            1,
            0,
        ));
        let args = invocation.to_args();
        assert_eq!(agent_args(&payload, &invocation), args);
        payload.user_root = Some(crate::UserRootRef {
            dir: "/cache/user-roots/tree-0123".into(),
            digest: "0123".repeat(16),
            bytes: 1,
        });
        let chrooted = agent_args(&payload, &invocation);
        assert_eq!(
            chrooted[args.len()..],
            ["--chroot", "/cache/user-roots/tree-0123"]
        );
    }
}
