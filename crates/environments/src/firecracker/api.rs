//! Firecracker's REST API on its Unix socket: a minimal HTTP/1.1 client
//! ([`ApiClient`], one request per connection) and the request and response
//! bodies as types (v1.12.1's field names). Everything isobench parses is
//! `deny_unknown_fields`: an answer that does not match what isobench
//! expects is an error naming the field, not a silently missing value.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::vsock::connect_unix;
use crate::EnvError;

use super::ENV;

/// `PATCH /vm`: pause or resume the guest (a snapshot needs it paused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmState {
    /// `Paused` or `Resumed`.
    pub state: VmStateName,
}

/// The states `PATCH /vm` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VmStateName {
    /// The vCPUs stopped.
    Paused,
    /// The vCPUs running again.
    Resumed,
}

/// `PUT /snapshot/create`: a full snapshot of a paused microVM: its device
/// and vCPU state (`snapshot_path`) and its guest memory (`mem_file_path`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotCreate {
    /// `Full` (isobench takes full snapshots only).
    pub snapshot_type: String,
    /// Where the microVM state goes.
    pub snapshot_path: PathBuf,
    /// Where the guest memory goes.
    pub mem_file_path: PathBuf,
}

/// How `PUT /snapshot/load` gets the guest memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemBackend {
    /// `File` (mapped privately from the memory file; `Uffd` is a page-fault handler).
    pub backend_type: String,
    /// The memory file.
    pub backend_path: PathBuf,
}

/// `PUT /snapshot/load`: restore a microVM into a fresh Firecracker process
/// (nothing configured yet) from a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotLoad {
    /// The microVM state file.
    pub snapshot_path: PathBuf,
    /// The guest memory.
    pub mem_backend: MemBackend,
    /// Track dirty pages (for later diff snapshots; off).
    #[serde(default)]
    pub enable_diff_snapshots: bool,
    /// Resume the guest once loaded.
    #[serde(default)]
    pub resume_vm: bool,
}

impl SnapshotCreate {
    /// A full snapshot into `dir`: `dir/vm.snap` and `dir/vm.mem`.
    pub fn full_into(dir: &Path) -> Self {
        SnapshotCreate {
            snapshot_type: "Full".into(),
            snapshot_path: dir.join("vm.snap"),
            mem_file_path: dir.join("vm.mem"),
        }
    }

    /// The load request of this snapshot, resuming the guest.
    pub fn load_resuming(&self) -> SnapshotLoad {
        SnapshotLoad {
            snapshot_path: self.snapshot_path.clone(),
            mem_backend: MemBackend {
                backend_type: "File".into(),
                backend_path: self.mem_file_path.clone(),
            },
            enable_diff_snapshots: false,
            resume_vm: true,
        }
    }
}

/// `PUT /boot-source`: the kernel, its initrd and command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootSource {
    /// ELF kernel (`vmlinux`, or a PVH ELF), as the VMM sees it.
    pub kernel_image_path: PathBuf,
    /// initrd, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd_path: Option<PathBuf>,
    /// Kernel command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_args: Option<String>,
}

/// `PUT /machine-config`: vCPUs and memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineConfig {
    /// vCPUs.
    pub vcpu_count: u32,
    /// Guest memory in MiB.
    pub mem_size_mib: u64,
    /// Simultaneous multithreading in the guest.
    #[serde(default)]
    pub smt: bool,
    /// Dirty page tracking (for snapshots); answered by `GET /vm/config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_dirty_pages: Option<bool>,
    /// Huge pages backing guest memory (`None`, `2M`); answered by `GET /vm/config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub huge_pages: Option<String>,
    /// CPU template name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_template: Option<String>,
}

/// `PUT /drives/{drive_id}`: a block device backed by a host file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drive {
    /// The drive's id (also the last path segment of the request).
    pub drive_id: String,
    /// The backing file, as the VMM sees it.
    pub path_on_host: PathBuf,
    /// The guest boots from it.
    pub is_root_device: bool,
    /// The guest cannot write to it.
    pub is_read_only: bool,
    /// Partition UUID of the root device, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partuuid: Option<String>,
    /// Host page cache use (`Unsafe`, `Writeback`); answered by `GET /vm/config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_type: Option<String>,
    /// I/O engine (`Sync`, `Async`); answered by `GET /vm/config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_engine: Option<String>,
    /// Rate limiter, passed through uninterpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limiter: Option<serde_json::Value>,
    /// vhost-user socket, for vhost-user drives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
}

/// `PUT /vsock`: the guest's vsock device and its host Unix socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vsock {
    /// Guest CID.
    pub guest_cid: u32,
    /// Host Unix socket of the device (hybrid vsock), as the VMM sees it.
    pub uds_path: PathBuf,
}

/// What `PUT /actions` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionType {
    /// Boot the configured guest.
    InstanceStart,
    /// Send Ctrl+Alt+Del to the guest's keyboard controller.
    SendCtrlAltDel,
    /// Write the metrics now.
    FlushMetrics,
}

/// `PUT /actions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceAction {
    /// The action.
    pub action_type: ActionType,
}

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionInfo {
    /// e.g. `1.12.1`.
    pub firecracker_version: String,
}

/// The body of an error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFault {
    /// What Firecracker refused and why.
    pub fault_message: String,
}

/// `GET /vm/config`: the whole configuration as the VMM holds it. The
/// devices isobench does not configure are kept uninterpreted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FullVmConfiguration {
    /// Boot source, once set.
    #[serde(rename = "boot-source", default)]
    pub boot_source: Option<BootSource>,
    /// Machine configuration.
    #[serde(rename = "machine-config", default)]
    pub machine_config: Option<MachineConfig>,
    /// Block devices.
    #[serde(default)]
    pub drives: Vec<Drive>,
    /// vsock device, once set.
    #[serde(default)]
    pub vsock: Option<Vsock>,
    /// Network interfaces (isobench configures none).
    #[serde(rename = "network-interfaces", default)]
    pub network_interfaces: Vec<serde_json::Value>,
    /// Balloon device (unused).
    #[serde(default)]
    pub balloon: Option<serde_json::Value>,
    /// CPU configuration (unused).
    #[serde(rename = "cpu-config", default)]
    pub cpu_config: Option<serde_json::Value>,
    /// Logger (configured on the command line instead).
    #[serde(default)]
    pub logger: Option<serde_json::Value>,
    /// Metrics (unused).
    #[serde(default)]
    pub metrics: Option<serde_json::Value>,
    /// MMDS (unused).
    #[serde(rename = "mmds-config", default)]
    pub mmds_config: Option<serde_json::Value>,
    /// Entropy device (unused).
    #[serde(default)]
    pub entropy: Option<serde_json::Value>,
}

/// A minimal HTTP/1.1 client for Firecracker's API socket (one request per connection).
#[derive(Debug, Clone)]
pub struct ApiClient {
    socket: PathBuf,
}

/// An API answer: status code and body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response body (JSON or empty).
    pub body: String,
}

impl ApiClient {
    /// A client for the API socket at `socket`.
    pub fn new(socket: &Path) -> Self {
        ApiClient {
            socket: socket.to_path_buf(),
        }
    }

    /// Sends one request with an optional JSON body and reads the whole response.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<ApiResponse, EnvError> {
        let what = format!("Firecracker API {method} {path}");
        let mut stream = connect_unix(&self.socket).map_err(|e| {
            EnvError::io(
                format!("{what}: connecting to {}", self.socket.display()),
                e,
            )
        })?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let body = body.unwrap_or_default();
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n");
        if !body.is_empty() {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream
            .write_all(request.as_bytes())
            .map_err(|e| EnvError::io(what.clone(), e))?;
        read_response(&mut stream).map_err(|e| EnvError::io(what, e))
    }

    /// PUT with `body` as JSON; any non-2xx status is an error carrying
    /// Firecracker's `fault_message`.
    pub fn put<T: Serialize>(&self, path: &str, body: &T) -> Result<(), EnvError> {
        let body = serde_json::to_string(body).map_err(|e| EnvError::Vmm {
            vmm: ENV.into(),
            message: format!("serialising the body of PUT {path}: {e}"),
        })?;
        let response = self.request("PUT", path, Some(&body))?;
        check(path, "PUT", response).map(|_| ())
    }

    /// PATCH with `body` as JSON; any non-2xx status is an error.
    pub fn patch<T: Serialize>(&self, path: &str, body: &T) -> Result<(), EnvError> {
        let body = serde_json::to_string(body).map_err(|e| EnvError::Vmm {
            vmm: ENV.into(),
            message: format!("serialising the body of PATCH {path}: {e}"),
        })?;
        let response = self.request("PATCH", path, Some(&body))?;
        check(path, "PATCH", response).map(|_| ())
    }

    /// `PATCH /vm` to `Paused`, `PUT /snapshot/create` (full, into
    /// `dir`), and back to `Resumed` only when `resume` (isobench stops the
    /// snapshotted instance instead). Returns the request, whose
    /// [`SnapshotCreate::load_resuming`] restores it.
    pub fn create_snapshot(&self, dir: &Path, resume: bool) -> Result<SnapshotCreate, EnvError> {
        let create = SnapshotCreate::full_into(dir);
        self.patch(
            "/vm",
            &VmState {
                state: VmStateName::Paused,
            },
        )?;
        self.put("/snapshot/create", &create)?;
        if resume {
            self.patch(
                "/vm",
                &VmState {
                    state: VmStateName::Resumed,
                },
            )?;
        }
        Ok(create)
    }

    /// `PUT /snapshot/load` into this (fresh, unconfigured) Firecracker.
    pub fn load_snapshot(&self, load: &SnapshotLoad) -> Result<(), EnvError> {
        self.put("/snapshot/load", load)
    }

    /// GET returning the body parsed as `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, EnvError> {
        let response = check(path, "GET", self.request("GET", path, None)?)?;
        serde_json::from_str(&response.body).map_err(|e| EnvError::Vmm {
            vmm: ENV.into(),
            message: format!(
                "GET {path} returned an unexpected body ({e}): {}",
                response.body
            ),
        })
    }

    /// `GET /version`.
    pub fn version(&self) -> Result<VersionInfo, EnvError> {
        self.get("/version")
    }

    /// `PUT /boot-source`.
    pub fn put_boot_source(&self, boot: &BootSource) -> Result<(), EnvError> {
        self.put("/boot-source", boot)
    }

    /// `PUT /machine-config`.
    pub fn put_machine_config(&self, machine: &MachineConfig) -> Result<(), EnvError> {
        self.put("/machine-config", machine)
    }

    /// `PUT /drives/{drive_id}`.
    pub fn put_drive(&self, drive: &Drive) -> Result<(), EnvError> {
        self.put(&format!("/drives/{}", drive.drive_id), drive)
    }

    /// `PUT /vsock`.
    pub fn put_vsock(&self, vsock: &Vsock) -> Result<(), EnvError> {
        self.put("/vsock", vsock)
    }

    /// `PUT /actions` with `action`.
    pub fn action(&self, action: ActionType) -> Result<(), EnvError> {
        self.put(
            "/actions",
            &InstanceAction {
                action_type: action,
            },
        )
    }

    /// `GET /vm/config`.
    pub fn vm_config(&self) -> Result<FullVmConfiguration, EnvError> {
        self.get("/vm/config")
    }
}

fn check(path: &str, method: &str, response: ApiResponse) -> Result<ApiResponse, EnvError> {
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    let fault = serde_json::from_str::<ApiFault>(&response.body)
        .map(|f| f.fault_message)
        .unwrap_or_else(|_| response.body.trim().to_string());
    Err(EnvError::Vmm {
        vmm: ENV.into(),
        message: format!("API {method} {path} answered {}: {fault}", response.status),
    })
}

/// Reads an HTTP/1.1 response (Content-Length framed, or until close).
fn read_response(stream: &mut UnixStream) -> std::io::Result<ApiResponse> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before the response headers",
            ));
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..header_end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "bad status line `{}`",
                head.lines().next().unwrap_or("")
            ))
        })?;
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    });
    let mut body = data[header_end..].to_vec();
    match length {
        Some(length) => {
            while body.len() < length {
                let n = stream.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&buf[..n]);
            }
            body.truncate(length);
        }
        None if status == 204 => {}
        None => {
            stream.read_to_end(&mut body)?;
        }
    }
    Ok(ApiResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::net::UnixListener;

    #[test]
    fn http_client_reads_status_and_body() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            for answer in [
                "HTTP/1.1 204 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n\r\n",
                "HTTP/1.1 400 \r\nContent-Type: application/json\r\nContent-Length: 29\r\n\r\n{\"fault_message\":\"bad thing\"}",
            ] {
                let (mut conn, _) = listener.accept().unwrap();
                let mut buf = [0u8; 1024];
                let n = conn.read(&mut buf).unwrap();
                let request = std::str::from_utf8(&buf[..n]).unwrap();
                assert!(request.starts_with("PUT /x HTTP/1.1\r\n"), "{request}");
                assert!(request.ends_with("{\"vcpu_count\":1,\"mem_size_mib\":128,\"smt\":false}"), "{request}");
                conn.write_all(answer.as_bytes()).unwrap();
            }
        });
        let api = ApiClient::new(&path);
        let machine = MachineConfig {
            vcpu_count: 1,
            mem_size_mib: 128,
            smt: false,
            track_dirty_pages: None,
            huge_pages: None,
            cpu_template: None,
        };
        api.put("/x", &machine).unwrap();
        let err = api.put("/x", &machine).unwrap_err().to_string();
        assert!(err.contains("400") && err.contains("bad thing"), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn api_client_reaches_sockets_longer_than_sun_path() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("j".repeat(60)).join("r".repeat(60));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("firecracker.socket");
        assert!(path.as_os_str().len() > 108);
        assert!(
            UnixListener::bind(&path).is_err(),
            "too long to bind directly"
        );
        let handle = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(&dir)
            .unwrap();
        let listener = UnixListener::bind(
            Path::new("/proc/self/fd")
                .join(handle.as_raw_fd().to_string())
                .join("firecracker.socket"),
        )
        .unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = conn.read(&mut buf).unwrap();
            assert!(std::str::from_utf8(&buf[..n])
                .unwrap()
                .starts_with("GET /version HTTP/1.1\r\n"));
            conn.write_all(
                b"HTTP/1.1 200 \r\nContent-Length: 32\r\n\r\n{\"firecracker_version\":\"1.12.1\"}",
            )
            .unwrap();
        });
        let got = ApiClient::new(&path).version().unwrap();
        assert_eq!(got.firecracker_version, "1.12.1");
        server.join().unwrap();
    }

    /// A fake API that answers 204 to `answers` requests and hands back
    /// each request's first line and body.
    fn fake_api(path: &Path, answers: usize) -> std::thread::JoinHandle<Vec<(String, String)>> {
        let listener = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            (0..answers)
                .map(|_| {
                    let (mut conn, _) = listener.accept().unwrap();
                    let mut data = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = conn.read(&mut buf).unwrap();
                        data.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&data).into_owned();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("Content-Length: "))
                                .map_or(0, |v| v.parse::<usize>().unwrap());
                            if body.len() >= length {
                                conn.write_all(b"HTTP/1.1 204 \r\n\r\n").unwrap();
                                let line = head.lines().next().unwrap().to_string();
                                return (line, body.to_string());
                            }
                        }
                    }
                })
                .collect()
        })
    }

    #[test]
    fn snapshots_pause_create_and_load_as_the_api_documents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        let server = fake_api(&path, 3);
        let api = ApiClient::new(&path);
        let create = api.create_snapshot(Path::new("/snap"), false).unwrap();
        api.load_snapshot(&create.load_resuming()).unwrap();
        let requests = server.join().unwrap();
        let json = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap();
        assert_eq!(requests[0].0, "PATCH /vm HTTP/1.1");
        assert_eq!(json(&requests[0].1), serde_json::json!({"state": "Paused"}));
        assert_eq!(requests[1].0, "PUT /snapshot/create HTTP/1.1");
        assert_eq!(
            json(&requests[1].1),
            serde_json::json!({"snapshot_type": "Full", "snapshot_path": "/snap/vm.snap", "mem_file_path": "/snap/vm.mem"})
        );
        assert_eq!(requests[2].0, "PUT /snapshot/load HTTP/1.1");
        assert_eq!(
            json(&requests[2].1),
            serde_json::json!({
                "snapshot_path": "/snap/vm.snap",
                "mem_backend": {"backend_type": "File", "backend_path": "/snap/vm.mem"},
                "enable_diff_snapshots": false,
                "resume_vm": true
            })
        );
    }

    #[test]
    fn a_refused_snapshot_names_the_request_and_firecrackers_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf).unwrap();
            let body = "{\"fault_message\":\"The requested operation is not supported before starting the microVM.\"}";
            conn.write_all(
                format!(
                    "HTTP/1.1 400 \r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .unwrap();
        });
        let err = ApiClient::new(&path)
            .create_snapshot(Path::new("/snap"), false)
            .unwrap_err()
            .to_string();
        server.join().unwrap();
        assert!(
            err.contains("PATCH /vm") && err.contains("400") && err.contains("before starting"),
            "{err}"
        );
    }

    #[test]
    fn bodies_match_the_api_and_refuse_unknown_fields() {
        let boot = BootSource {
            kernel_image_path: "/vmlinux".into(),
            initrd_path: None,
            boot_args: Some("console=ttyS0".into()),
        };
        assert_eq!(
            serde_json::to_value(&boot).unwrap(),
            serde_json::json!({"kernel_image_path": "/vmlinux", "boot_args": "console=ttyS0"})
        );
        assert_eq!(
            serde_json::to_value(InstanceAction {
                action_type: ActionType::InstanceStart
            })
            .unwrap(),
            serde_json::json!({"action_type": "InstanceStart"})
        );
        // What Firecracker v1.12.1 answers to GET /vm/config.
        let answer = r#"{"balloon":null,"drives":[{"drive_id":"rootfs","partuuid":null,"is_root_device":false,"cache_type":"Unsafe","is_read_only":true,"path_on_host":"/k","rate_limiter":null,"io_engine":"Sync","socket":null}],"boot-source":{"kernel_image_path":"/k","initrd_path":"/i","boot_args":"console=ttyS0"},"cpu-config":null,"logger":null,"machine-config":{"vcpu_count":2,"mem_size_mib":256,"smt":false,"track_dirty_pages":false,"huge_pages":"None"},"metrics":null,"mmds-config":null,"network-interfaces":[],"vsock":{"guest_cid":3,"uds_path":"/v.sock"},"entropy":null}"#;
        let config: FullVmConfiguration = serde_json::from_str(answer).unwrap();
        assert_eq!(config.machine_config.unwrap().vcpu_count, 2);
        assert_eq!(config.vsock.unwrap().guest_cid, 3);
        assert_eq!(config.drives[0].drive_id, "rootfs");
        assert_eq!(
            config.boot_source.unwrap().initrd_path.as_deref(),
            Some(Path::new("/i"))
        );
        let renamed = answer.replace("\"vcpu_count\"", "\"vcpus\"");
        let err = serde_json::from_str::<FullVmConfiguration>(&renamed).unwrap_err();
        assert!(err.to_string().contains("vcpus"), "{err}");
        assert!(serde_json::from_str::<ApiFault>(r#"{"fault_message":"x","extra":1}"#).is_err());
    }
}
