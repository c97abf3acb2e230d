//! `native`: the agent as a plain host process, the baseline every other
//! environment is compared with; optionally inside a cgroup with the same
//! CPU and memory limits the containers get.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cgroup::CgroupV1;
use crate::process::ChildProcess;
use crate::registry::EnvOptions;
use crate::{
    AgentPayload, EnvError, EnvKind, Environment, EnvironmentInfo, ExitInfo, Instance, LaunchSpec,
    MeterTarget, Prepared,
};

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
        EnvironmentInfo {
            name: "native".into(),
            runtime_version: None,
            accel: None,
            emulated: false,
            notes: if self.use_cgroup {
                vec!["runs in a cgroup v1 group with the experiment's CPU and memory limits".into()]
            } else {
                vec![]
            },
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
        Ok(Prepared {
            cached: true,
            ..Prepared::default()
        })
    }

    fn assets_path_inside(&self) -> PathBuf {
        self.payload
            .as_ref()
            .map(|p| p.assets_dir.clone())
            .unwrap_or_default()
    }

    fn launch(&mut self, spec: &LaunchSpec) -> Result<Box<dyn Instance>, EnvError> {
        let payload = self.payload.as_ref().ok_or_else(|| EnvError::Command {
            program: "native".into(),
            message: "launch called before prepare".into(),
        })?;
        let cgroup = if self.use_cgroup {
            Some(CgroupV1::create(&spec.run_id.to_string(), &spec.limits)?)
        } else {
            None
        };
        let mut command = Command::new(&payload.agent_binary);
        command.args(&spec.agent_args);
        for (key, value) in &payload.env {
            command.env(key, value);
        }
        if let Some(group) = &cgroup {
            join_before_exec(&mut command, group)?;
        }
        let child = ChildProcess::spawn_with_stdin(command, "native", spec.interactive)?;
        Ok(Box::new(NativeInstance {
            launched_at: child.spawned_at,
            child,
            cgroup,
            timeout_at: Instant::now() + spec.timeout,
        }))
    }
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

/// Longest wait for the rest of an ended process' stderr (diagnostics).
const STDERR_SETTLE: Duration = Duration::from_millis(500);

struct NativeInstance {
    child: ChildProcess,
    cgroup: Option<CgroupV1>,
    launched_at: Instant,
    timeout_at: Instant,
}

impl Instance for NativeInstance {
    fn launched_at(&self) -> Instant {
        self.launched_at
    }

    fn next_line(&mut self, timeout: Duration) -> Result<Option<String>, EnvError> {
        let left = self.timeout_at.saturating_duration_since(Instant::now());
        match self.child.lines.next_line(timeout.min(left)) {
            Err(EnvError::Timeout { .. }) if left <= timeout => Err(EnvError::Timeout {
                env: "native".into(),
                seconds: (self.timeout_at - self.launched_at).as_secs_f64(),
                during: "the whole run (--timeout)".into(),
            }),
            other => other,
        }
    }

    fn meter_target(&self) -> MeterTarget {
        match &self.cgroup {
            Some(group) => group.meter_target(),
            None => MeterTarget::ProcessTree(self.child.pid()),
        }
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
        let line = self.child.stderr.last_line_at_end(STDERR_SETTLE);
        (!line.is_empty()).then_some(line)
    }

    fn stop(&mut self) -> Result<ExitInfo, EnvError> {
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
}

impl Drop for NativeInstance {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
