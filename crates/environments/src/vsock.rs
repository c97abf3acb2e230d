//! The host side of a guest's vsock: how to reach a port the agent listens
//! on inside a VM ([`VsockEndpoint`]) and the connection itself
//! ([`connect`]).
//!
//! Two kinds of vsock device exist on the host side:
//! - **hybrid** vsock (Firecracker's, and `vhost-device-vsock`'s for QEMU's
//!   `vhost-user-vsock`): the VMM listens on a host Unix socket; a host
//!   client connects, writes `CONNECT <port>\n`, and gets `OK <host port>\n`
//!   once the guest accepted, after which the socket carries the stream;
//! - **kernel** vsock (`vhost-vsock`, `/dev/vhost-vsock`): the host connects
//!   an `AF_VSOCK` socket to the guest's CID and port directly.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::EnvError;

/// Longest handshake answer read (`OK 4294967295\n` is 14 bytes).
const MAX_HANDSHAKE_LINE: usize = 64;

/// Where the host reaches a guest's vsock ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VsockEndpoint {
    /// A hybrid-vsock Unix socket on the host (Firecracker, vhost-device-vsock).
    Hybrid(PathBuf),
    /// The guest's context id for a kernel `AF_VSOCK` connection (vhost-vsock).
    Kernel {
        /// The guest's CID.
        cid: u32,
    },
}

impl VsockEndpoint {
    /// A short description for messages (`hybrid /run/x/vsock.sock`, `cid 1234`).
    pub fn describe(&self) -> String {
        match self {
            VsockEndpoint::Hybrid(path) => format!("hybrid vsock {}", path.display()),
            VsockEndpoint::Kernel { cid } => format!("vsock cid {cid}"),
        }
    }
}

/// An open vsock connection to a guest port: a Unix socket after the
/// hybrid handshake, or an `AF_VSOCK` socket.
#[derive(Debug)]
pub enum VsockStream {
    /// Hybrid vsock.
    Hybrid(UnixStream),
    /// Kernel vsock.
    Kernel(File),
}

impl VsockStream {
    /// A second handle on the same connection (one reads, one writes).
    pub fn try_clone(&self) -> std::io::Result<VsockStream> {
        Ok(match self {
            VsockStream::Hybrid(s) => VsockStream::Hybrid(s.try_clone()?),
            VsockStream::Kernel(f) => VsockStream::Kernel(f.try_clone()?),
        })
    }

    /// Shuts both directions down (the reader on another handle sees EOF).
    pub fn shutdown(&self) {
        let fd = match self {
            VsockStream::Hybrid(s) => s.as_raw_fd(),
            VsockStream::Kernel(f) => f.as_raw_fd(),
        };
        let _ = nix::sys::socket::shutdown(fd, nix::sys::socket::Shutdown::Both);
    }
}

impl Read for VsockStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            VsockStream::Hybrid(s) => s.read(buf),
            VsockStream::Kernel(f) => f.read(buf),
        }
    }
}

impl Write for VsockStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            VsockStream::Hybrid(s) => s.write(buf),
            VsockStream::Kernel(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Connects to `port` of the guest behind `endpoint`, retrying (the guest
/// may still be booting or not yet listening) until `patience` runs out.
/// The error names the endpoint, the port and the last refusal.
pub fn connect(
    endpoint: &VsockEndpoint,
    port: u32,
    patience: Duration,
) -> Result<VsockStream, EnvError> {
    let deadline = Instant::now() + patience;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let attempt = match endpoint {
            VsockEndpoint::Hybrid(path) => {
                let left = deadline.saturating_duration_since(Instant::now());
                connect_hybrid(path, port, left.max(Duration::from_millis(100)))
                    .map(VsockStream::Hybrid)
                    .map_err(std::io::Error::from)
            }
            VsockEndpoint::Kernel { cid } => connect_kernel(*cid, port).map(VsockStream::Kernel),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) if Instant::now() >= deadline => {
                return Err(EnvError::Vmm {
                    vmm: "vsock".into(),
                    message: format!(
                        "no connection to guest port {port} over {} after {attempts} attempts in {:.1} s: {e}; check that the agent listens (--listen vsock:{port}) and that the guest kernel has a virtio-vsock driver",
                        endpoint.describe(),
                        patience.as_secs_f64()
                    ),
                })
            }
            Err(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    }
}

/// Why a hybrid handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The Unix socket could not be reached.
    #[error("connecting to {path}: {source}")]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The VMM closed the connection: nobody listens on that guest port (yet).
    #[error("the VMM closed the connection after `CONNECT {port}` (nothing listens on guest port {port} yet)")]
    Refused {
        /// The guest port.
        port: u32,
    },
    /// No answer to `CONNECT` within the timeout: the guest did not accept.
    #[error("no answer to `CONNECT {port}` within {seconds:.1} s (the guest did not accept the connection)")]
    NoAnswer {
        /// The guest port.
        port: u32,
        /// Seconds waited.
        seconds: f64,
    },
    /// The VMM answered something other than `OK <port>`.
    #[error("unexpected handshake answer {answer:?} (expected `OK <port>`)")]
    Unexpected {
        /// What came back (lossy UTF-8, cut).
        answer: String,
    },
    /// Reading or writing the handshake failed.
    #[error("handshake I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl From<HandshakeError> for std::io::Error {
    fn from(e: HandshakeError) -> Self {
        std::io::Error::other(e.to_string())
    }
}

/// One hybrid-vsock connection attempt: `CONNECT <port>\n`, then the
/// `OK <host port>\n` answer, read byte by byte so nothing of the stream
/// that follows is consumed. Returns the socket ready for the stream.
pub fn connect_hybrid(
    path: &Path,
    port: u32,
    timeout: Duration,
) -> Result<UnixStream, HandshakeError> {
    let mut stream = connect_unix(path).map_err(|source| HandshakeError::Socket {
        path: path.to_path_buf(),
        source,
    })?;
    stream.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
    stream.write_all(format!("CONNECT {port}\n").as_bytes())?;
    let mut answer = Vec::with_capacity(16);
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return Err(HandshakeError::Refused { port }),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) if answer.len() >= MAX_HANDSHAKE_LINE => {
                return Err(HandshakeError::Unexpected {
                    answer: String::from_utf8_lossy(&answer).into_owned(),
                })
            }
            Ok(_) => answer.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Err(HandshakeError::Refused { port })
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HandshakeError::NoAnswer {
                    port,
                    seconds: timeout.as_secs_f64(),
                })
            }
            Err(e) => return Err(HandshakeError::Io(e)),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let valid = text
        .strip_prefix("OK ")
        .is_some_and(|n| n.trim_end_matches('\r').parse::<u32>().is_ok());
    if !valid {
        return Err(HandshakeError::Unexpected {
            answer: text.into_owned(),
        });
    }
    stream.set_read_timeout(None)?;
    Ok(stream)
}

/// Connects to a Unix socket, also when its path is longer than `sun_path`
/// allows (107 bytes; a jail's socket deep in a work directory can be
/// longer): then through its directory opened with `O_PATH`, as
/// `/proc/self/fd/N/<name>`.
pub fn connect_unix(path: &Path) -> std::io::Result<UnixStream> {
    const SUN_PATH_MAX: usize = 107;
    if path.as_os_str().len() <= SUN_PATH_MAX {
        return UnixStream::connect(path);
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return UnixStream::connect(path);
    };
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)?;
    UnixStream::connect(
        Path::new("/proc/self/fd")
            .join(dir.as_raw_fd().to_string())
            .join(name),
    )
}

/// One kernel-vsock connection attempt to (`cid`, `port`).
pub fn connect_kernel(cid: u32, port: u32) -> std::io::Result<File> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, VsockAddr};
    let socket: OwnedFd = socket(
        AddressFamily::Vsock,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    connect(socket.as_raw_fd(), &VsockAddr::new(cid, port))?;
    Ok(File::from(socket))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::UnixListener;

    /// A stand-in for Firecracker's vsock muxer: answers each connection
    /// per `behaviour` and then echoes lines back.
    fn muxer(dir: &Path, behaviour: &'static [&'static str]) -> PathBuf {
        let path = dir.join("v.sock");
        let listener = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            for (conn, answer) in listener.incoming().zip(behaviour.iter()) {
                let mut conn = conn.unwrap();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                assert!(line.starts_with("CONNECT "), "{line:?}");
                if answer.is_empty() {
                    continue; // drop: nobody listens
                }
                conn.write_all(answer.as_bytes()).unwrap();
                // Echo what follows, starting with bytes sent right after the answer.
                let mut rest = String::new();
                while reader.read_line(&mut rest).unwrap_or(0) > 0 {
                    conn.write_all(rest.as_bytes()).unwrap();
                    rest.clear();
                }
            }
        });
        path
    }

    #[test]
    fn retries_until_the_guest_listens_then_carries_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = muxer(dir.path(), &["", "", "OK 1073741824\n"]);
        let endpoint = VsockEndpoint::Hybrid(path);
        let mut stream = connect(&endpoint, 7070, Duration::from_secs(5)).unwrap();
        stream.write_all(b"@ISB1 2 {}\n").unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut echoed = String::new();
        reader.read_line(&mut echoed).unwrap();
        assert_eq!(echoed, "@ISB1 2 {}\n");
        stream.shutdown();
    }

    #[test]
    fn bad_answers_and_missing_sockets_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = muxer(dir.path(), &["NOPE\n", ""]);
        let e = connect_hybrid(&path, 5, Duration::from_secs(2)).unwrap_err();
        assert!(e.to_string().contains("\"NOPE\""), "{e}");
        let e = connect_hybrid(&path, 5, Duration::from_secs(2)).unwrap_err();
        assert!(matches!(e, HandshakeError::Refused { port: 5 }), "{e}");
        let missing = dir.path().join("absent.sock");
        let e = connect(
            &VsockEndpoint::Hybrid(missing.clone()),
            9,
            Duration::from_millis(100),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("guest port 9"), "{e}");
        assert!(e.contains(&missing.display().to_string()), "{e}");
    }
}
