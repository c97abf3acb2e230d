//! The `serve` command: load the workload once, emit `ready`, then answer
//! inference requests ([`isobench_records::serve`] frames) until the
//! request stream ends.
//!
//! Transports: stdin/stdout (default; responses share stdout with the
//! records), a TCP or vsock listener (one client after another; a client
//! that goes away mid-request does not stop the agent), or a serial device
//! (a VM's serial port or a virtio-serial port; set raw when it is a tty).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

use isobench_records::serve::{
    decode_request, encode_response, read_line_bounded, salvage_id, BoundedLine, FrameError,
    Request, Response, MAX_REQUEST_BYTES,
};
use isobench_records::{Ready, Record};

use crate::error::AgentError;
use crate::run::{build_workload, emit, validate, RunConfig};
use crate::workloads::{Workload, WorkloadOptions};

/// Longest request line read: the largest payload plus the frame header.
pub const MAX_REQUEST_LINE: usize = MAX_REQUEST_BYTES + 32;

/// Where requests come from and responses go: the invocation's `--listen`.
pub use isobench_records::Listen as Transport;

/// Everything the `serve` command needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The workload.
    pub workload: isobench_records::Workload,
    /// Options handed to the workload constructor.
    pub options: WorkloadOptions,
    /// Whether the agent is a VM's init (reported in `ready`).
    pub pid1: bool,
    /// When `main` started, for `ready_us`.
    pub started: Instant,
    /// Where requests arrive.
    pub transport: Transport,
}

/// Runs the command: `ready` on `records`, then serves until the request
/// stream ends (stdin or device EOF). A TCP listener serves until the
/// process is stopped.
pub fn serve(config: &ServeConfig, records: &mut dyn Write) -> Result<(), AgentError> {
    validate(&RunConfig {
        workload: config.workload,
        options: config.options.clone(),
        iterations: 1,
        warmup: 0,
        pid1: config.pid1,
        started: config.started,
    })?;
    let load_start = Instant::now();
    let workload = build_workload(config.workload, &config.options)?;
    let model_load_us = micros(load_start.elapsed());
    let mut server = Server::new(workload);
    // Bind (or open) before `ready`, so `ready` means "requests accepted".
    let listener = match &config.transport {
        Transport::Tcp(addr) => Some(TcpListener::bind(addr).map_err(|e| {
            AgentError::Usage(format!(
                "--listen tcp:{addr}: cannot listen: {e}; choose a free address:port"
            ))
        })?),
        _ => None,
    };
    let device = match &config.transport {
        Transport::Device(path) => Some(open_device(path)?),
        _ => None,
    };
    let vsock = match &config.transport {
        Transport::Vsock(port) => Some(VsockListener::bind(*port)?),
        _ => None,
    };
    if config.transport == Transport::Stdio {
        quiet_console_input();
    }
    emit(
        records,
        &Record::Ready(Ready {
            workload: server.workload.name(),
            engine: server.workload.engine(),
            threads: config.options.threads,
            ready_us: micros(config.started.elapsed()),
            model_load_us,
            pid1: config.pid1,
            agent_version: env!("CARGO_PKG_VERSION").into(),
        }),
    )?;
    match &config.transport {
        Transport::Stdio => {
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            server
                .serve_stream(&mut input, records)
                .map_err(|e| AgentError::io(Path::new("<stdin/stdout>"), e))
        }
        Transport::Device(path) => {
            let file = device.expect("opened above");
            let mut writer = file
                .try_clone()
                .map_err(|e| AgentError::io(path.as_path(), e))?;
            let mut reader = BufReader::new(file);
            server
                .serve_stream(&mut reader, &mut writer)
                .map_err(|e| AgentError::io(path.as_path(), e))
        }
        Transport::Tcp(addr) => {
            let listener = listener.expect("bound above");
            serve_clients(&mut server, &format!("tcp {addr}"), || {
                let (stream, peer) = listener.accept()?;
                let _ = stream.set_nodelay(true);
                Ok((stream.try_clone()?, stream, peer.to_string()))
            })
        }
        Transport::Vsock(port) => {
            let listener = vsock.expect("bound above");
            serve_clients(&mut server, &format!("vsock port {port}"), || {
                let (stream, peer) = listener.accept()?;
                Ok((stream.try_clone()?, stream, peer))
            })
        }
    }
}

/// Serves clients one after another until the process is stopped: a
/// client that goes away (mid-request or not) or a failed accept is
/// reported on stderr and the next client is served.
fn serve_clients<R, W, A>(server: &mut Server, what: &str, mut accept: A) -> !
where
    R: Read,
    W: Write,
    A: FnMut() -> std::io::Result<(R, W, String)>,
{
    loop {
        let (reader, mut writer, peer) = match accept() {
            Ok(client) => client,
            Err(e) => {
                eprintln!("isobench-agent: serve: accepting on {what}: {e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
        };
        let mut reader = BufReader::new(reader);
        if let Err(e) = server.serve_stream(&mut reader, &mut writer) {
            eprintln!("isobench-agent: serve: client {peer} on {what} dropped: {e}");
        }
    }
}

/// A listening `AF_VSOCK` stream socket (any CID, one port).
struct VsockListener {
    socket: OwnedFd,
}

impl VsockListener {
    /// Binds and listens on `port` for every CID of this machine.
    fn bind(port: u32) -> Result<Self, AgentError> {
        use nix::sys::socket::VsockAddr;
        use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType};
        use std::os::fd::AsRawFd;
        let fail = |step: &str, e: nix::Error| {
            AgentError::Usage(format!(
                "--listen vsock:{port}: {step}: {e}; the machine needs a vsock device and its driver (modules vsock, vmw_vsock_virtio_transport)"
            ))
        };
        let socket = socket(
            AddressFamily::Vsock,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(|e| fail("cannot create an AF_VSOCK socket", e))?;
        bind(
            socket.as_raw_fd(),
            &VsockAddr::new(libc::VMADDR_CID_ANY, port),
        )
        .map_err(|e| fail("cannot bind", e))?;
        listen(&socket, Backlog::new(4).expect("4 is a valid backlog"))
            .map_err(|e| fail("cannot listen", e))?;
        Ok(VsockListener { socket })
    }

    /// The next client's connection and its address (`cid:port`).
    fn accept(&self) -> std::io::Result<(File, String)> {
        use nix::sys::socket::{accept4, getpeername, SockFlag, VsockAddr};
        use std::os::fd::AsRawFd;
        let fd = accept4(self.socket.as_raw_fd(), SockFlag::SOCK_CLOEXEC)?;
        // SAFETY: accept4 just returned this descriptor; nothing else owns
        // it, so the OwnedFd (then the File) is its only owner and closes it.
        let stream = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let peer = getpeername::<VsockAddr>(fd)
            .map(|a| format!("{}:{}", a.cid(), a.port()))
            .unwrap_or_else(|_| "vsock peer".into());
        Ok((stream, peer))
    }
}

/// When stdin is a terminal (a VM's serial console), stops it echoing the
/// requests back into the output. Canonical mode stays on, so the host's
/// Ctrl-D still ends the stream.
fn quiet_console_input() {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    if let Ok(mut termios) = tcgetattr(&stdin) {
        termios
            .local_flags
            .remove(LocalFlags::ECHO | LocalFlags::ECHONL);
        if let Err(e) = tcsetattr(&stdin, SetArg::TCSANOW, &termios) {
            eprintln!("isobench-agent: serve: cannot turn off console echo: {e}");
        }
    }
}

/// Opens a serial or virtio-serial device read-write; a tty is set raw
/// (no echo, no line editing, no CR/LF translation).
fn open_device(path: &Path) -> Result<std::fs::File, AgentError> {
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| AgentError::io(path, e))?;
    // Not a tty (a virtio-serial port): nothing to configure.
    if let Ok(mut termios) = tcgetattr(&file) {
        cfmakeraw(&mut termios);
        tcsetattr(&file, SetArg::TCSANOW, &termios)
            .map_err(|e| AgentError::io(path, std::io::Error::from_raw_os_error(e as i32)))?;
    }
    Ok(file)
}

/// A loaded workload answering requests.
pub struct Server {
    workload: Box<dyn Workload>,
    inputs: Vec<String>,
    next_default: usize,
}

impl Server {
    /// Serves `workload`.
    pub fn new(workload: Box<dyn Workload>) -> Self {
        let inputs = workload.inputs();
        Server {
            workload,
            inputs,
            next_default: 0,
        }
    }

    /// Answers every request line of `reader` on `writer` (one response
    /// per request line, also for malformed ones; lines without a frame
    /// are ignored) until end of stream. Fails only on I/O errors.
    pub fn serve_stream(
        &mut self,
        reader: &mut dyn BufRead,
        writer: &mut dyn Write,
    ) -> std::io::Result<()> {
        let mut line = Vec::new();
        loop {
            let response = match read_line_bounded(reader, MAX_REQUEST_LINE, &mut line)? {
                BoundedLine::Eof => return Ok(()),
                BoundedLine::TooLong(len) => Response::failure(
                    0,
                    FrameError::Oversize {
                        len,
                        max: MAX_REQUEST_BYTES,
                    }
                    .to_string(),
                ),
                BoundedLine::Line => match decode_request(&line) {
                    Ok(None) => continue,
                    Ok(Some(request)) => self.answer(&request),
                    Err(e) => Response::failure(salvage_id(&line), e.to_string()),
                },
            };
            writer.write_all(encode_response(&response).as_bytes())?;
            writer.flush()?;
        }
    }

    /// Answers one decoded request.
    pub fn answer(&mut self, request: &Request) -> Response {
        if request.empty {
            return Response::empty(request.id);
        }
        let input = if request.input.is_empty() {
            if self.inputs.is_empty() {
                return Response::failure(request.id, "the workload has no inputs to serve");
            }
            let name = self.inputs[self.next_default % self.inputs.len()].clone();
            self.next_default = self.next_default.wrapping_add(1);
            name
        } else {
            request.input.clone()
        };
        match self.workload.run_input(&input) {
            Ok(outcome) => Response {
                id: request.id,
                ok: true,
                error: None,
                input: outcome.input,
                preprocess_us: outcome.preprocess_us,
                inference_us: outcome.inference_us,
                postprocess_us: outcome.postprocess_us,
                digest: Some(outcome.digest),
            },
            Err(e) => Response::failure(request.id, e.to_string()),
        }
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use crate::data::{Digits, Samples, FEATURES};
    use crate::workloads::knn::Knn;
    use isobench_records::serve::{decode_response, encode_frame, encode_request};
    use isobench_records::Digest;

    /// Synthetic digits: 60 training and 20 test samples of 10 classes.
    fn tiny_digits() -> Digits {
        let samples = |rows: usize, offset: usize| {
            let mut s = Samples {
                features: Vec::new(),
                labels: Vec::new(),
            };
            for r in 0..rows {
                let label = (r % 10) as u8;
                s.features.extend(
                    (0..FEATURES).map(|i| ((i * (label as usize + 1) + r + offset) % 17) as u8),
                );
                s.labels.push(label);
            }
            s
        };
        Digits {
            train: samples(60, 0),
            test: samples(20, 3),
            file_sha256: String::new(),
            path: PathBuf::from("synthetic"),
        }
    }

    fn server() -> Server {
        Server::new(Box::new(Knn::new(tiny_digits(), 1, 1).unwrap()))
    }

    fn exchange(server: &mut Server, input: &[u8]) -> Vec<Response> {
        let mut out = Vec::new();
        server.serve_stream(&mut &input[..], &mut out).unwrap();
        out.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| decode_response(l).unwrap().expect("a frame"))
            .collect()
    }

    #[test]
    fn answers_each_request_and_errors_without_stopping() {
        let mut server = server();
        let n = server.inputs.len();
        let mut input = String::new();
        input += &encode_request(&Request {
            id: 1,
            input: String::new(),
            empty: true,
        });
        input += "kernel noise line\n";
        input += &encode_request(&Request {
            id: 2,
            input: "0".into(),
            empty: false,
        });
        input += &encode_request(&Request {
            id: 3,
            input: "nope.jpg".into(),
            empty: false,
        });
        input += &encode_frame("{\"id\":4,\"input\":[]}");
        input += "@ISB1 9 {}\n";
        input += &"x".repeat(MAX_REQUEST_LINE + 10);
        input += "\n";
        input += &encode_request(&Request {
            id: 5,
            input: format!("0..{n}"),
            empty: false,
        });
        input += &encode_request(&Request {
            id: 6,
            input: String::new(),
            empty: false,
        });
        let responses = exchange(&mut server, input.as_bytes());
        let ids: Vec<u64> = responses.iter().map(|r| r.id).collect();
        assert_eq!(ids, [1, 2, 3, 4, 0, 0, 5, 6]);
        assert!(responses[0].ok && responses[0].digest.is_none());
        assert!(responses[1].ok);
        assert!(matches!(
            responses[1].digest,
            Some(Digest::Labels { samples: 1, .. })
        ));
        let unknown = responses[2].error.as_deref().unwrap();
        assert!(unknown.contains("unknown input `nope.jpg`"), "{unknown}");
        assert!(responses[3].error.as_deref().unwrap().contains("payload"));
        assert!(responses[4]
            .error
            .as_deref()
            .unwrap()
            .contains("declares 9"));
        assert!(responses[5].error.as_deref().unwrap().contains("exceeds"));
        match &responses[6].digest {
            Some(Digest::Labels { samples, .. }) => assert_eq!(*samples as usize, n),
            other => panic!("{other:?}"),
        }
        // The default input cycles from the first test sample.
        assert_eq!(responses[7].input, "0");
    }

    #[test]
    fn single_samples_agree_with_the_whole_split() {
        let mut server = server();
        let n = server.inputs.len();
        let whole = server.answer(&Request {
            id: 1,
            input: "test-split".into(),
            empty: false,
        });
        let Some(Digest::Labels { correct, .. }) = whole.digest else {
            panic!("{whole:?}")
        };
        let mut sum = 0;
        for i in 0..n {
            let r = server.answer(&Request {
                id: 2,
                input: i.to_string(),
                empty: false,
            });
            if let Some(Digest::Labels { correct, .. }) = r.digest {
                sum += correct;
            }
        }
        assert_eq!(sum, correct);
        for bad in ["", "x", "5..2", "0..999999", "-1"] {
            if bad.is_empty() {
                continue;
            }
            let r = server.answer(&Request {
                id: 9,
                input: bad.into(),
                empty: false,
            });
            assert!(!r.ok, "{bad}");
        }
    }
}
