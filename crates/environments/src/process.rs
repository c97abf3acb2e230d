//! A child process whose stdout carries agent records: spawn, stream, kill,
//! reap. Shared by the backends that run a host process (native, runc,
//! crun, runsc, QEMU, Firecracker).

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::lines::LineStream;
use crate::EnvError;

/// Keeps the last bytes of a process' stderr for error messages.
#[derive(Clone, Default)]
pub struct StderrTail {
    kept: Arc<Mutex<Vec<u8>>>,
    ended: Arc<AtomicBool>,
}

impl StderrTail {
    /// Bytes kept.
    pub const KEEP: usize = 65536;

    /// An empty tail, fed with [`StderrTail::push`] (a stream that is not a
    /// pipe: Docker's attach stream) and closed with [`StderrTail::end`].
    pub fn new() -> Self {
        StderrTail::default()
    }

    /// Drains `source` on a thread, keeping the tail.
    pub fn spawn<R: Read + Send + 'static>(source: R) -> Self {
        let tail = StderrTail::new();
        let sink = tail.clone();
        std::thread::spawn(move || {
            let mut source = source;
            let mut buf = [0u8; 4096];
            while let Ok(n) = source.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.push(&buf[..n]);
            }
            sink.end();
        });
        tail
    }

    /// Adds bytes written to the stream, keeping the last [`Self::KEEP`].
    pub fn push(&self, bytes: &[u8]) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.extend_from_slice(bytes);
        if kept.len() > Self::KEEP {
            let cut = kept.len() - Self::KEEP;
            kept.drain(..cut);
        }
    }

    /// Marks the end of the stream (see [`StderrTail::last_line_at_end`]).
    pub fn end(&self) {
        self.ended.store(true, Ordering::Release);
    }

    /// The last non-empty line written, for one-line error messages (see
    /// [`telling_line`]: a Go program's panic message rather than the end
    /// of its stack trace).
    pub fn last_line(&self) -> String {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        telling_line(&String::from_utf8_lossy(&kept))
    }

    /// Like [`StderrTail::last_line`], after waiting up to `wait` for the
    /// end of the stream, so that the last words of a process that has just
    /// exited are read.
    pub fn last_line_at_end(&self, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        while !self.ended.load(Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.last_line()
    }

    /// The last non-empty line for which `wanted` holds (e.g. the error
    /// line a panicking Rust program writes before its backtrace note).
    pub fn last_line_where(&self, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&kept)
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty() && wanted(l))
            .map(str::to_string)
    }
}

/// The line of a process's last words that says what went wrong: the last
/// `panic:` or `fatal error:` line of a Go program (runsc, dockerd) that
/// died with a stack trace, else the last line before the trace's first
/// `goroutine N [...]:` header, else the last non-empty line.
pub fn telling_line(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    if let Some(panic) = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("panic:") || l.starts_with("fatal error:"))
    {
        return panic.to_string();
    }
    let before_trace = lines
        .iter()
        .position(|l| l.starts_with("goroutine ") && l.ends_with(':'))
        .unwrap_or(lines.len());
    lines[..before_trace]
        .iter()
        .rev()
        .find(|l| !l.is_empty())
        .or_else(|| lines.iter().rev().find(|l| !l.is_empty()))
        .unwrap_or(&"")
        .to_string()
}

/// Longest wait for the rest of an ended process' stderr (diagnostics).
pub const STDERR_SETTLE: Duration = Duration::from_millis(500);

/// A spawned child in its own process group, with its stdout as a line stream.
pub struct ChildProcess {
    child: Child,
    /// Lines of the child's stdout.
    pub lines: LineStream,
    /// Tail of the child's stderr.
    pub stderr: StderrTail,
    /// The child's stdin, when spawned with [`ChildProcess::spawn_interactive`].
    pub stdin: Option<ChildStdin>,
    /// When spawn was called.
    pub spawned_at: Instant,
    name: String,
    reaped: Option<std::process::ExitStatus>,
    killed: bool,
}

impl ChildProcess {
    /// Spawns `command` in a new process group (so the whole tree can be
    /// killed at once) with stdout and stderr piped.
    pub fn spawn(command: Command, name: &str) -> Result<Self, EnvError> {
        Self::spawn_with_stdin(command, name, false)
    }

    /// Like [`ChildProcess::spawn`], with the child's stdin a pipe kept in
    /// [`ChildProcess::stdin`] (write with [`ChildProcess::send`]).
    pub fn spawn_interactive(command: Command, name: &str) -> Result<Self, EnvError> {
        Self::spawn_with_stdin(command, name, true)
    }

    /// Spawns with stdin piped (`interactive`) or empty.
    pub fn spawn_with_stdin(
        mut command: Command,
        name: &str,
        interactive: bool,
    ) -> Result<Self, EnvError> {
        command
            .stdin(if interactive {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let program = command.get_program().to_string_lossy().into_owned();
        let spawned_at = Instant::now();
        let mut child = command.spawn().map_err(|e| EnvError::Command {
            program: program.clone(),
            message: format!("cannot start: {e}"),
        })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let stdin = child.stdin.take();
        Ok(ChildProcess {
            stdin,
            lines: LineStream::spawn(stdout, name),
            stderr: StderrTail::spawn(stderr),
            child,
            spawned_at,
            name: name.to_string(),
            reaped: None,
            killed: false,
        })
    }

    /// Writes `bytes` to the child's stdin and flushes.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), EnvError> {
        use std::io::Write;
        let stdin = self.stdin.as_mut().ok_or_else(|| EnvError::Unsupported {
            what: format!(
                "writing to the stdin of `{}` (spawned without a stdin pipe)",
                self.name
            ),
            fix: "launch with LaunchSpec::interactive = true".into(),
        })?;
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .map_err(|e| EnvError::io(format!("writing to the stdin of `{}`", self.name), e))
    }

    /// The last non-empty line of its stderr, once the stream has ended
    /// (waiting up to [`STDERR_SETTLE`] for it): an instance's diagnostics.
    pub fn last_words(&self) -> Option<String> {
        let line = self.stderr.last_line_at_end(STDERR_SETTLE);
        (!line.is_empty()).then_some(line)
    }

    /// Closes the child's stdin (the child reads end of stream).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The name it was spawned under (the environment's, in errors).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child's PID.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Non-blocking check whether the child has exited.
    pub fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        if self.reaped.is_none() {
            self.reaped = self.child.try_wait().ok().flatten();
        }
        self.reaped
    }

    /// Waits up to `grace` for the child to exit by itself, then kills its
    /// process group (SIGTERM, then SIGKILL) and reaps it. Idempotent.
    pub fn finish(&mut self, grace: Duration) -> std::process::ExitStatus {
        if let Some(status) = self.reaped {
            return status;
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.try_exit() {
                self.kill_group(Signal::SIGKILL);
                return status;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.killed = true;
        self.kill_group(Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            if let Some(status) = self.try_exit() {
                self.kill_group(Signal::SIGKILL);
                return status;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill_group(Signal::SIGKILL);
        let status = self.child.wait().unwrap_or_else(|e| {
            tracing::warn!("waiting for {}: {e}", self.name);
            std::os::unix::process::ExitStatusExt::from_raw(9)
        });
        self.reaped = Some(status);
        status
    }

    /// True when [`ChildProcess::finish`] had to kill the child.
    pub fn was_killed(&self) -> bool {
        self.killed
    }

    fn kill_group(&self, signal: Signal) {
        // The child leads its own process group (process_group(0) above).
        let _ = killpg(Pid::from_raw(self.pid()), signal);
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            self.finish(Duration::ZERO);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_go_stack_trace_gives_its_panic_line_not_its_last_frame() {
        let trace = "W1206 restore starting\npanic: loading state: unexpected EOF\n\ngoroutine 1 [running]:\nmain.main()\n\tgvisor.dev/gvisor/pkg/urpc/urpc.go:451 +0x79\n";
        assert_eq!(telling_line(trace), "panic: loading state: unexpected EOF");
        let no_panic =
            "error: restore failed: bad image\ngoroutine 7 [chan receive]:\nx.go:1 +0x1\n";
        assert_eq!(telling_line(no_panic), "error: restore failed: bad image");
        assert_eq!(telling_line("first\nlast\n\n"), "last");
        assert_eq!(telling_line(""), "");
    }
}
