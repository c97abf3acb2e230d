//! The byte channel between the load generator and a serving agent: the
//! instance's own input/output (stdio, serial) or a TCP connection.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use isobench_environments::lines::LineStream;
use isobench_environments::{EnvError, Instance};
use isobench_records::serve::{decode_response, has_frame, Response};
use isobench_records::{parse_line, LineKind, Record};

/// What arrived from the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A response frame.
    Response(Response),
    /// A frame that did not decode (cut, interleaved, bad JSON).
    Garbled(String),
    /// Nothing within the timeout.
    Timeout,
}

/// Sends request frames and receives response frames.
pub trait Channel {
    /// Writes request bytes (whole frames).
    fn send(&mut self, bytes: &[u8]) -> Result<(), String>;
    /// The next response within `timeout`. Errors are fatal for the run:
    /// the agent exited, failed (its `error` record), or the stream broke.
    fn recv(&mut self, timeout: Duration) -> Result<Incoming, String>;
}

/// Reads lines until a frame or an `error` record; other lines are skipped.
fn classify(line: &str) -> Option<Result<Incoming, String>> {
    if has_frame(line.as_bytes()) {
        return Some(Ok(match decode_response(line.as_bytes()) {
            Ok(Some(response)) => Incoming::Response(response),
            Ok(None) => return None,
            Err(e) => Incoming::Garbled(e.to_string()),
        }));
    }
    match parse_line(line) {
        Ok(LineKind::Record(Record::Error(e))) => {
            Some(Err(format!("agent error ({}): {}", e.kind, e.message)))
        }
        _ => None,
    }
}

/// Requests on the instance's input ([`Instance::send`]), responses among
/// its output lines.
pub struct InstanceChannel<'a> {
    instance: &'a mut dyn Instance,
}

impl<'a> InstanceChannel<'a> {
    /// A channel over an interactive instance.
    pub fn new(instance: &'a mut dyn Instance) -> Self {
        InstanceChannel { instance }
    }
}

impl Channel for InstanceChannel<'_> {
    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.instance.send(bytes).map_err(|e| e.to_string())
    }

    fn recv(&mut self, timeout: Duration) -> Result<Incoming, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.instance.next_line(left) {
                Ok(Some(line)) => {
                    if let Some(result) = classify(&line) {
                        return result;
                    }
                }
                Ok(None) => return Err("the agent's output ended (it exited)".into()),
                Err(EnvError::Timeout { .. }) => return Ok(Incoming::Timeout),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

/// A TCP connection to `isobench-agent serve --listen`.
pub struct TcpChannel {
    stream: TcpStream,
    lines: LineStream,
}

impl TcpChannel {
    /// Connects to `addr`, retrying for up to `patience`.
    pub fn connect(addr: &str, patience: Duration) -> Result<Self, String> {
        let deadline = Instant::now() + patience;
        let stream = loop {
            match TcpStream::connect(addr) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("connecting to the agent at {addr}: {e}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let _ = stream.set_nodelay(true);
        let reader = stream
            .try_clone()
            .map_err(|e| format!("cloning the TCP stream to {addr}: {e}"))?;
        Ok(TcpChannel {
            stream,
            lines: LineStream::spawn(reader, "tcp"),
        })
    }
}

impl Channel for TcpChannel {
    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("sending to the agent over TCP: {e}"))
    }

    fn recv(&mut self, timeout: Duration) -> Result<Incoming, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.next_line(left) {
                Ok(Some(line)) => {
                    if let Some(result) = classify(&line) {
                        return result;
                    }
                }
                Ok(None) => return Err("the agent closed the TCP connection".into()),
                Err(EnvError::Timeout { .. }) => return Ok(Incoming::Timeout),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

impl Drop for TcpChannel {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}
