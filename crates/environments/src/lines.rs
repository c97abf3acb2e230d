//! Turning a byte stream (pipe, serial console, socket) into agent lines
//! that can be awaited with a timeout.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::EnvError;

/// Longest line kept; longer lines are cut (a broken agent cannot exhaust memory).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Reads lines from any byte stream on a background thread.
pub struct LineStream {
    rx: Receiver<std::io::Result<String>>,
    env: String,
    _reader: JoinHandle<()>,
}

impl LineStream {
    /// Starts reading `source` line by line; `env` names the environment in errors.
    pub fn spawn<R: Read + Send + 'static>(source: R, env: &str) -> Self {
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::Builder::new()
            .name(format!("{env}-lines"))
            .spawn(move || {
                let mut reader = BufReader::new(source);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match (&mut reader)
                        .take(MAX_LINE_BYTES as u64)
                        .read_until(b'\n', &mut buf)
                    {
                        Ok(0) => break,
                        Ok(_) => {
                            let line = String::from_utf8_lossy(&buf)
                                .trim_end_matches(['\n', '\r'])
                                .to_string();
                            if tx.send(Ok(line)).is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            break;
                        }
                    }
                }
            })
            .expect("spawning a thread");
        LineStream {
            rx,
            env: env.to_string(),
            _reader: reader,
        }
    }

    /// Waits up to `timeout` for the next line; `Ok(None)` at end of stream.
    pub fn next_line(&mut self, timeout: Duration) -> Result<Option<String>, EnvError> {
        match self.rx.recv_timeout(timeout) {
            Ok(Ok(line)) => Ok(Some(line)),
            Ok(Err(e)) => Err(EnvError::io(format!("reading output of `{}`", self.env), e)),
            Err(RecvTimeoutError::Disconnected) => Ok(None),
            Err(RecvTimeoutError::Timeout) => Err(EnvError::Timeout {
                env: self.env.clone(),
                seconds: timeout.as_secs_f64(),
            }),
        }
    }
}

/// A launch's whole-run deadline ([`crate::LaunchSpec::timeout`]), applied
/// to every wait for a line: the one deadline-aware reader every backend uses.
#[derive(Debug, Clone)]
pub struct Deadline {
    env: String,
    launched_at: Instant,
    at: Instant,
}

impl Deadline {
    /// The deadline `timeout` after `launched_at`; `env` names the environment in errors.
    pub fn new(env: &str, launched_at: Instant, timeout: Duration) -> Self {
        Deadline {
            env: env.to_string(),
            launched_at,
            at: launched_at + timeout,
        }
    }

    /// When the launch started.
    pub fn launched_at(&self) -> Instant {
        self.launched_at
    }

    /// The next line of `lines`, waiting at most `silence` and never past
    /// the deadline: [`EnvError::Timeout`] when nothing came within
    /// `silence`, [`EnvError::RunDeadline`] when the deadline came first.
    pub fn next_line(
        &self,
        lines: &mut LineStream,
        silence: Duration,
    ) -> Result<Option<String>, EnvError> {
        let left = self.at.saturating_duration_since(Instant::now());
        match lines.next_line(silence.min(left)) {
            Err(EnvError::Timeout { .. }) if left <= silence => Err(EnvError::RunDeadline {
                env: self.env.clone(),
                seconds: (self.at - self.launched_at).as_secs_f64(),
            }),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_ends() {
        let mut s = LineStream::spawn(&b"a\r\nb\nc"[..], "test");
        let t = Duration::from_secs(5);
        assert_eq!(s.next_line(t).unwrap().as_deref(), Some("a"));
        assert_eq!(s.next_line(t).unwrap().as_deref(), Some("b"));
        assert_eq!(s.next_line(t).unwrap().as_deref(), Some("c"));
        assert_eq!(s.next_line(t).unwrap(), None);
    }

    #[test]
    fn times_out_on_silence() {
        let (reader, _writer) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut s = LineStream::spawn(reader, "silent");
        let err = s.next_line(Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err, EnvError::Timeout { .. }), "{err}");
    }

    #[test]
    fn tells_the_whole_runs_deadline_from_silence() {
        let (reader, _writer) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut lines = LineStream::spawn(reader, "silent");
        let deadline = Deadline::new("silent", Instant::now(), Duration::from_millis(300));
        let quiet = deadline
            .next_line(&mut lines, Duration::from_millis(20))
            .unwrap_err();
        assert!(matches!(quiet, EnvError::Timeout { .. }), "{quiet}");
        let late = deadline
            .next_line(&mut lines, Duration::from_secs(60))
            .unwrap_err();
        assert!(
            matches!(late, EnvError::RunDeadline { seconds, .. } if (seconds - 0.3).abs() < 1e-6),
            "{late}"
        );
        assert!(late.to_string().contains("--timeout"), "{late}");
    }
}
