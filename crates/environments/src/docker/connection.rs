//! The connection to dockerd (or podman's compatible service): where it is
//! (`Endpoint`), a version-negotiated Engine API client on a small tokio
//! runtime of its own (`Connection`), and the error mapping every call shares.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;

use super::engine::Engine;
use crate::registry::which;
use crate::{EnvError, EnvKind};

/// Socket used when neither `EnvOptions::docker_host` nor `DOCKER_HOST` says otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Names under which Kata Containers is commonly registered in `daemon.json`.
pub const KATA_RUNTIMES: [&str; 6] = [
    "kata",
    "kata-runtime",
    "io.containerd.kata.v2",
    "kata-qemu",
    "kata-clh",
    "kata-fc",
];

/// Seconds to wait for dockerd to answer a ping.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Fix text when dockerd does not answer.
pub(super) const FIX_NOT_RUNNING: &str = "run scripts/start-dockerd.sh or `dockerd &`";

/// Fix text when no Kata runtime is registered.
pub(super) const FIX_KATA: &str = "Kata Containers is in no registry reachable from this machine (not in Debian 12, crates.io or \
                        PyPI): install it from the Kata Containers project's release tarball, register it in \
                        /etc/docker/daemon.json as {\"runtimes\": {\"kata\": {\"runtimeType\": \
                        \"io.containerd.kata.v2\"}}} and restart dockerd (scripts/stop-dockerd.sh && \
                        scripts/start-dockerd.sh); it also needs hardware KVM";

/// Where the daemon is: a unix socket path or an http(s)/tcp URL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Endpoint {
    Unix(String),
    Tcp(String),
}

impl Endpoint {
    /// dockerd's: `docker_host`, else `DOCKER_HOST`, else [`DEFAULT_SOCKET`].
    pub(crate) fn from_options(docker_host: Option<&str>) -> Self {
        let host = docker_host
            .map(str::to_string)
            .or_else(|| {
                std::env::var("DOCKER_HOST")
                    .ok()
                    .filter(|h| !h.trim().is_empty())
            })
            .unwrap_or_else(|| DEFAULT_SOCKET.to_string());
        if let Some(path) = host.strip_prefix("unix://") {
            Endpoint::Unix(path.to_string())
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Endpoint::Tcp(host.replacen("tcp://", "http://", 1))
        } else {
            Endpoint::Unix(host)
        }
    }

    /// The socket path or URL.
    pub(crate) fn describe(&self) -> &str {
        match self {
            Endpoint::Unix(p) | Endpoint::Tcp(p) => p,
        }
    }
}

/// A connected, version-negotiated Engine API client and its runtime.
pub(crate) struct Connection {
    pub(super) engine: Engine,
    pub(super) rt: Arc<Runtime>,
    pub(super) client: bollard::Docker,
    pub(super) server_version: String,
    pub(super) api_version: String,
    pub(super) runtimes: Vec<String>,
    pub(super) default_runtime: String,
}

fn new_runtime() -> Result<Runtime, EnvError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("isobench-docker")
        .enable_all()
        .build()
        .map_err(|e| EnvError::io("starting the tokio runtime for the Docker API", e))
}

/// Why dockerd cannot be used, with the fix, as an [`Availability`]-ready pair.
impl Connection {
    /// Runs a future of the Engine API to completion.
    pub(super) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }

    /// Names of the isobench containers (label [`super::image::LABEL`]) in the daemon.
    pub(super) fn isobench_containers(&self) -> Result<Vec<String>, EnvError> {
        let options = bollard::query_parameters::ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&HashMap::from([("label", vec![super::image::LABEL])]))
            .build();
        let list = self
            .block_on(self.client.list_containers(Some(options)))
            .map_err(|e| self.engine.err("listing containers", e))?;
        Ok(list
            .into_iter()
            .flat_map(|c| c.names.unwrap_or_default())
            .map(|n| n.trim_start_matches('/').to_string())
            .collect())
    }

    /// Names of the isobench networks (label [`super::image::LABEL`]) in the daemon.
    pub(super) fn isobench_networks(&self) -> Result<Vec<String>, EnvError> {
        let options = bollard::query_parameters::ListNetworksOptionsBuilder::new()
            .filters(&HashMap::from([("label", vec![super::image::LABEL])]))
            .build();
        let list = self
            .block_on(self.client.list_networks(Some(options)))
            .map_err(|e| self.engine.err("listing networks", e))?;
        Ok(list.into_iter().filter_map(|n| n.name).collect())
    }

    /// Force-removes a container; one already gone is not an error.
    pub(super) fn remove_container(&self, name: &str) -> Result<(), EnvError> {
        let options = bollard::query_parameters::RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.block_on(self.client.remove_container(name, Some(options))) {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.engine.err(&format!("removing container {name}"), e)),
        }
    }

    /// Removes a network; one already gone is not an error.
    pub(super) fn remove_network(&self, name: &str) -> Result<(), EnvError> {
        remove_network(self.engine, &self.rt, &self.client, name)
    }
}

pub(super) fn not_reachable(endpoint: &Endpoint, detail: &str) -> (String, String) {
    let installed = which("dockerd").is_some();
    if !installed && matches!(endpoint, Endpoint::Unix(_)) {
        return (
            format!(
                "docker.io not installed (no dockerd on PATH, no answer on {})",
                endpoint.describe()
            ),
            "apt-get install -y docker.io, then scripts/start-dockerd.sh".into(),
        );
    }
    let mut reason = format!("dockerd not running (no answer on {})", endpoint.describe());
    if !detail.is_empty() {
        reason.push_str(&format!(": {detail}"));
    }
    (reason, FIX_NOT_RUNNING.into())
}

/// Connects to dockerd at `endpoint` for `kind`.
pub(super) fn connect(kind: EnvKind, endpoint: &Endpoint) -> Result<Connection, EnvError> {
    connect_to(Engine::Dockerd, kind, endpoint, &not_reachable)
}

/// Why a daemon does not answer and the fix, from the endpoint and the
/// client's error.
pub(crate) type NotReachable = dyn Fn(&Endpoint, &str) -> (String, String);

/// Connects to `engine` at `endpoint` for `kind`; a daemon that does not
/// answer is [`EnvError::Unavailable`] with `not_reachable`'s words.
pub(crate) fn connect_to(
    engine: Engine,
    kind: EnvKind,
    endpoint: &Endpoint,
    not_reachable: &NotReachable,
) -> Result<Connection, EnvError> {
    let unavailable = |detail: &str| {
        let (reason, fix) = not_reachable(endpoint, detail);
        EnvError::Unavailable {
            env: kind.name().into(),
            reason,
            fix,
        }
    };
    let rt = new_runtime()?;
    let client = match endpoint {
        Endpoint::Unix(path) => {
            if !std::path::Path::new(path).exists() {
                return Err(unavailable(""));
            }
            bollard::Docker::connect_with_unix(path, 120, bollard::API_DEFAULT_VERSION)
        }
        Endpoint::Tcp(url) => {
            bollard::Docker::connect_with_http(url, 120, bollard::API_DEFAULT_VERSION)
        }
    }
    .map_err(|e| unavailable(&e.to_string()))?;
    let (client, version, info) = rt.block_on(async {
        let client = tokio::time::timeout(CONNECT_TIMEOUT, client.negotiate_version())
            .await
            .map_err(|_| unavailable("timed out"))?
            .map_err(|e| unavailable(&e.to_string()))?;
        let version = client
            .version()
            .await
            .map_err(|e| unavailable(&e.to_string()))?;
        let info = client
            .info()
            .await
            .map_err(|e| unavailable(&e.to_string()))?;
        Ok::<_, EnvError>((client, version, info))
    })?;
    let mut runtimes: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
    runtimes.sort();
    Ok(Connection {
        engine,
        api_version: client.client_version().to_string(),
        rt: Arc::new(rt),
        client,
        server_version: version.version.unwrap_or_else(|| "?".into()),
        runtimes,
        default_runtime: info.default_runtime.unwrap_or_else(|| "runc".into()),
    })
}

/// Removes a network; one already gone is not an error (also from a
/// running instance, which holds the runtime and client only).
pub(super) fn remove_network(
    engine: Engine,
    rt: &Runtime,
    client: &bollard::Docker,
    name: &str,
) -> Result<(), EnvError> {
    match rt.block_on(client.remove_network(name)) {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(engine.err(&format!("removing network {name}"), e)),
    }
}

pub(super) fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// An inspection that raced the container's exit, to be asked again: podman's
/// compatible API calls a container that has exited but whose clean-up
/// (conmon's exit command) has not run yet `stopped`, a state Docker's API
/// lacks and bollard refuses; and while that process is going, podman can
/// answer 500 "read /proc/<pid>/cgroup: no such process". Both are `exited`
/// a moment later.
pub(super) fn is_exit_in_progress(e: &bollard::errors::Error) -> bool {
    match e {
        bollard::errors::Error::JsonDataError { .. } => true,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 500,
            message,
        } => message.contains("no such process"),
        _ => false,
    }
}

/// The Kata runtime name registered in the daemon, if any.
pub(super) fn kata_runtime(runtimes: &[String]) -> Option<String> {
    KATA_RUNTIMES
        .iter()
        .find(|k| runtimes.iter().any(|r| r == *k))
        .map(|k| k.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_exit_race_is_asked_again() {
        let server =
            |status_code, message: &str| bollard::errors::Error::DockerResponseServerError {
                status_code,
                message: message.into(),
            };
        // What podman answered in CI while the agent's process was going.
        assert!(is_exit_in_progress(&server(
            500,
            "read /proc/2768/cgroup: no such process"
        )));
        assert!(is_exit_in_progress(
            &bollard::errors::Error::JsonDataError {
                message: "unknown variant `stopped`".into(),
                column: 1,
            }
        ));
        assert!(!is_exit_in_progress(&server(500, "mount failed")));
        assert!(!is_exit_in_progress(&server(404, "no such container")));
        assert!(is_not_found(&server(404, "no such container")));
    }

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            Endpoint::from_options(Some("unix:///x/d.sock")),
            Endpoint::Unix("/x/d.sock".into())
        );
        assert_eq!(
            Endpoint::from_options(Some("/x/d.sock")),
            Endpoint::Unix("/x/d.sock".into())
        );
        assert_eq!(
            Endpoint::from_options(Some("tcp://h:2375")),
            Endpoint::Tcp("http://h:2375".into())
        );
    }

    #[test]
    fn finds_kata_under_common_names() {
        assert_eq!(
            kata_runtime(&["runc".into(), "kata-qemu".into()]).as_deref(),
            Some("kata-qemu")
        );
        assert_eq!(kata_runtime(&["runc".into(), "runsc".into()]), None);
    }
}
