//! The byte channel between the load generator and a serving agent: the
//! instance's own input/output (stdio, serial) or a socket (TCP, vsock).

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use isobench_environments::lines::LineStream;
use isobench_environments::vsock::{self, VsockEndpoint, VsockStream};
use isobench_environments::{EnvError, Instance};
use isobench_records::serve::{decode_response, has_frame, Response};
use isobench_records::{parse_line, LineKind, Record};

use super::ServeError;

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
    fn send(&mut self, bytes: &[u8]) -> Result<(), ServeError>;
    /// The next response within `timeout`. Errors are fatal for the run:
    /// the agent exited, failed (its `error` record), or the stream broke.
    fn recv(&mut self, timeout: Duration) -> Result<Incoming, ServeError>;
}

/// Reads lines until a frame or an `error` record; other lines are skipped.
fn classify(line: &str) -> Option<Result<Incoming, ServeError>> {
    if has_frame(line.as_bytes()) {
        return Some(Ok(match decode_response(line.as_bytes()) {
            Ok(Some(response)) => Incoming::Response(response),
            Ok(None) => return None,
            Err(e) => Incoming::Garbled(e.to_string()),
        }));
    }
    match parse_line(line) {
        Ok(LineKind::Record(Record::Error(e))) => Some(Err(ServeError::Agent {
            kind: e.kind,
            message: e.message,
        })),
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
    fn send(&mut self, bytes: &[u8]) -> Result<(), ServeError> {
        self.instance.send(bytes).map_err(|source| ServeError::Env {
            what: "sending to the agent",
            source,
        })
    }

    fn recv(&mut self, timeout: Duration) -> Result<Incoming, ServeError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.instance.next_line(left) {
                Ok(Some(line)) => {
                    if let Some(result) = classify(&line) {
                        return result;
                    }
                }
                Ok(None) => {
                    return Err(ServeError::OutputEnded {
                        last_output: self.instance.diagnostics(),
                    })
                }
                Err(EnvError::Timeout { .. }) => return Ok(Incoming::Timeout),
                Err(source) => {
                    return Err(ServeError::Env {
                        what: "reading the agent's output",
                        source,
                    })
                }
            }
        }
    }
}

/// A socket connection to a listening agent (`serve --listen` over TCP,
/// `serve --listen vsock:PORT` over vsock): one handle writes, a thread reads lines.
pub struct StreamChannel {
    writer: Box<dyn Write + Send>,
    lines: LineStream,
    /// What the socket is, for messages (`TCP 127.0.0.1:7070`).
    what: String,
    shutdown: Box<dyn Fn() + Send>,
}

impl StreamChannel {
    /// Connects to `addr` over TCP, retrying for up to `patience`.
    pub fn tcp(addr: &str, patience: Duration) -> Result<Self, ServeError> {
        let deadline = Instant::now() + patience;
        let stream = loop {
            match TcpStream::connect(addr) {
                Ok(s) => break s,
                Err(source) if Instant::now() >= deadline => {
                    return Err(ServeError::Socket {
                        what: format!("connecting to the agent at {addr}"),
                        source,
                    })
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let _ = stream.set_nodelay(true);
        let clone = |s: &TcpStream| {
            s.try_clone().map_err(|source| ServeError::Socket {
                what: format!("cloning the TCP stream to {addr}"),
                source,
            })
        };
        let reader = clone(&stream)?;
        let closer = clone(&stream)?;
        Ok(StreamChannel {
            writer: Box::new(stream),
            lines: LineStream::spawn(reader, "tcp"),
            what: format!("TCP {addr}"),
            shutdown: Box::new(move || {
                let _ = closer.shutdown(std::net::Shutdown::Both);
            }),
        })
    }

    /// Connects to guest `port` behind `endpoint`, retrying (the guest may
    /// still be starting its listener) for up to `patience`.
    pub fn vsock(
        endpoint: &VsockEndpoint,
        port: u32,
        patience: Duration,
    ) -> Result<Self, ServeError> {
        let stream =
            vsock::connect(endpoint, port, patience).map_err(|source| ServeError::Env {
                what: "connecting over vsock",
                source,
            })?;
        let clone = |s: &VsockStream| {
            s.try_clone().map_err(|source| ServeError::Socket {
                what: format!("cloning the vsock stream ({})", endpoint.describe()),
                source,
            })
        };
        let reader = clone(&stream)?;
        let closer = clone(&stream)?;
        Ok(StreamChannel {
            writer: Box::new(stream),
            lines: LineStream::spawn(reader, "vsock"),
            what: format!("{} port {port}", endpoint.describe()),
            shutdown: Box::new(move || closer.shutdown()),
        })
    }
}

impl Channel for StreamChannel {
    fn send(&mut self, bytes: &[u8]) -> Result<(), ServeError> {
        self.writer
            .write_all(bytes)
            .map_err(|source| ServeError::Socket {
                what: format!("sending to the agent over {}", self.what),
                source,
            })
    }

    fn recv(&mut self, timeout: Duration) -> Result<Incoming, ServeError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.next_line(left) {
                Ok(Some(line)) => {
                    if let Some(result) = classify(&line) {
                        return result;
                    }
                }
                Ok(None) => {
                    return Err(ServeError::Closed {
                        what: self.what.clone(),
                    })
                }
                Err(EnvError::Timeout { .. }) => return Ok(Incoming::Timeout),
                Err(source) => {
                    return Err(ServeError::Env {
                        what: "reading from the agent",
                        source,
                    })
                }
            }
        }
    }
}

impl Drop for StreamChannel {
    fn drop(&mut self) {
        (self.shutdown)();
    }
}
