//! QEMU's machine protocol (QMP): JSON lines over the Unix socket of one
//! QEMU process, used to negotiate at launch and to `quit` on stop.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::process::ChildProcess;
use crate::EnvError;

/// A QMP connection (JSON lines over a Unix socket).
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects to QEMU's QMP socket once it appears, reads the greeting and
    /// negotiates capabilities. Fails early with QEMU's own message if it exits.
    pub fn connect(
        socket: &Path,
        child: &mut ChildProcess,
        within: Duration,
    ) -> Result<Qmp, EnvError> {
        let deadline = Instant::now() + within;
        let stream = loop {
            if let Some(status) = child.try_exit() {
                let last = child.stderr.last_line();
                return Err(EnvError::Vmm {
                    vmm: "qemu".into(),
                    message: format!("exited at start ({status}): {last}"),
                });
            }
            match UnixStream::connect(socket) {
                Ok(stream) => break stream,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => {
                    return Err(EnvError::Vmm {
                        vmm: "qemu".into(),
                        message: format!(
                            "QMP socket {} not ready within {:.0} s: {e}",
                            socket.display(),
                            within.as_secs_f64()
                        ),
                    })
                }
            }
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let writer = stream
            .try_clone()
            .map_err(|e| EnvError::io("cloning the QMP socket", e))?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = qmp.read_message()?;
        if greeting.get("QMP").is_none() {
            return Err(EnvError::Vmm {
                vmm: "qemu".into(),
                message: format!("unexpected QMP greeting: {greeting}"),
            });
        }
        qmp.execute("qmp_capabilities")?;
        Ok(qmp)
    }

    fn read_message(&mut self) -> Result<serde_json::Value, EnvError> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| EnvError::io("reading from QMP", e))?;
        if n == 0 {
            return Err(EnvError::Vmm {
                vmm: "qemu".into(),
                message: "QMP connection closed".into(),
            });
        }
        serde_json::from_str(&line).map_err(|e| EnvError::Vmm {
            vmm: "qemu".into(),
            message: format!("bad QMP message `{}`: {e}", line.trim()),
        })
    }

    /// Runs a QMP command and returns its `return` value (events before it are skipped).
    pub fn execute(&mut self, command: &str) -> Result<serde_json::Value, EnvError> {
        self.execute_with(command, None)
    }

    /// Runs a QMP command with `arguments` and returns its `return` value.
    pub fn execute_with(
        &mut self,
        command: &str,
        arguments: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, EnvError> {
        let request = match arguments {
            Some(arguments) => serde_json::json!({ "execute": command, "arguments": arguments }),
            None => serde_json::json!({ "execute": command }),
        };
        writeln!(self.writer, "{request}")
            .map_err(|e| EnvError::io(format!("sending QMP `{command}`"), e))?;
        loop {
            let mut message = self.read_message()?;
            if let Some(value) = message.get_mut("return") {
                return Ok(value.take());
            }
            if let Some(error) = message.get("error") {
                return Err(EnvError::Vmm {
                    vmm: "qemu".into(),
                    message: format!("QMP `{command}` failed: {error}"),
                });
            }
        }
    }
}
