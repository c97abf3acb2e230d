//! `docker` (and `kata`): containers through the Docker Engine API
//! (bollard), never the CLI.
//!
//! - The API version is negotiated (Debian's dockerd 20.10 speaks 1.41).
//! - [`Environment::prepare`] builds `isobench-agent:<payload digest>` `FROM
//!   scratch` (see [`image`]), once: an existing tag is reused.
//! - [`Environment::launch`] creates a container with `--network none`,
//!   NanoCPUs / Memory / cpuset from the limits, a read-only root with a
//!   tmpfs `/tmp`, the runtime of the environment (daemon default for
//!   `docker`, Kata's for `kata`, any registered one through
//!   [`Docker::with_runtime`]) and the cgroup parent `/isobench/<run>` that
//!   isobench creates itself (cgroupfs driver), so the container's CPU and
//!   memory totals survive its exit and are metered there. It attaches to
//!   the container's output before starting it, so no line is lost.
//! - The Engine API is async; the trait is not: the backend owns a small
//!   tokio runtime and blocks on it.

pub mod image;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, BuildImageOptionsBuilder, CreateContainerOptionsBuilder,
    KillContainerOptionsBuilder, ListContainersOptionsBuilder, ListImagesOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::runtime::Runtime;

use crate::cache_lock::CacheLock;
use crate::containers::{container_name, PayloadFiles, RunCgroup, ASSETS_INSIDE};
use crate::lines::LineStream;
use crate::registry::{which, EnvOptions};
use crate::{
    AgentPayload, Availability, EnvError, EnvKind, Environment, EnvironmentInfo, ExitInfo,
    HostFacts, Instance, LaunchSpec, MeterTarget, Prepared,
};

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
const FIX_NOT_RUNNING: &str = "run scripts/start-dockerd.sh or `dockerd &`";

/// Fix text when no Kata runtime is registered.
const FIX_KATA: &str = "Kata Containers is in no registry reachable from this machine (not in Debian 12, crates.io or \
                        PyPI): install it from the Kata Containers project's release tarball, register it in \
                        /etc/docker/daemon.json as {\"runtimes\": {\"kata\": {\"runtimeType\": \
                        \"io.containerd.kata.v2\"}}} and restart dockerd (scripts/stop-dockerd.sh && \
                        scripts/start-dockerd.sh); it also needs hardware KVM";

/// Where the daemon is: a unix socket path or an http(s)/tcp URL.
#[derive(Debug, Clone, PartialEq)]
enum Endpoint {
    Unix(String),
    Tcp(String),
}

impl Endpoint {
    fn from_options(docker_host: Option<&str>) -> Self {
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

    fn describe(&self) -> &str {
        match self {
            Endpoint::Unix(p) | Endpoint::Tcp(p) => p,
        }
    }
}

/// A connected, version-negotiated Engine API client and its runtime.
struct Connection {
    rt: Arc<Runtime>,
    client: bollard::Docker,
    server_version: String,
    api_version: String,
    runtimes: Vec<String>,
    default_runtime: String,
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
fn not_reachable(endpoint: &Endpoint, detail: &str) -> (String, String) {
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

fn connect(kind: EnvKind, endpoint: &Endpoint) -> Result<Connection, EnvError> {
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
        api_version: client.client_version().to_string(),
        rt: Arc::new(rt),
        client,
        server_version: version.version.unwrap_or_else(|| "?".into()),
        runtimes,
        default_runtime: info.default_runtime.unwrap_or_else(|| "runc".into()),
    })
}

/// Removes a network; one already gone is not an error.
fn remove_network(rt: &Runtime, client: &bollard::Docker, name: &str) -> Result<(), EnvError> {
    match rt.block_on(client.remove_network(name)) {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(docker_err(&format!("removing network {name}"), e)),
    }
}

fn docker_err(what: &str, e: bollard::errors::Error) -> EnvError {
    EnvError::Docker(format!("{what}: {e}"))
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The Kata runtime name registered in the daemon, if any.
fn kata_runtime(runtimes: &[String]) -> Option<String> {
    KATA_RUNTIMES
        .iter()
        .find(|k| runtimes.iter().any(|r| r == *k))
        .map(|k| k.to_string())
}

/// Probes whether `kind` (`docker` or `kata`) can run: dockerd must answer
/// (on `DOCKER_HOST` or [`DEFAULT_SOCKET`]); `kata` also needs a Kata runtime
/// registered in the daemon.
pub fn detect(kind: EnvKind, _host: &HostFacts, _options: &crate::EnvOptions) -> Availability {
    let endpoint = Endpoint::from_options(None);
    let conn = match connect(kind, &endpoint) {
        Ok(c) => c,
        Err(EnvError::Unavailable { reason, fix, .. }) => {
            return Availability::no(kind, reason, fix)
        }
        Err(e) => return Availability::no(kind, e.to_string(), FIX_NOT_RUNNING),
    };
    let daemon = format!("dockerd {} (API {})", conn.server_version, conn.api_version);
    match kind {
        EnvKind::Kata => match kata_runtime(&conn.runtimes) {
            Some(rt) => Availability::yes(kind, format!("{daemon}, runtime {rt}")),
            None => Availability::no(
                kind,
                format!(
                    "no Kata runtime registered in dockerd (runtimes: {})",
                    conn.runtimes.join(", ")
                ),
                FIX_KATA,
            ),
        },
        _ => Availability::yes(kind, format!("{daemon}, runtime {}", conn.default_runtime)),
    }
}

/// The Docker Engine environment (`docker`, `kata`, or any registered runtime).
pub struct Docker {
    kind: EnvKind,
    runtime: Option<String>,
    conn: Connection,
    image: Option<String>,
    /// Keeps [`Docker::image`] from being pruned by other isobench processes.
    image_in_use: Option<CacheLock>,
    payload: Option<AgentPayload>,
    /// Where the images' lock files live (`<cache>/docker-images/`).
    image_locks: PathBuf,
}

/// How many isobench images the daemon keeps (most recently used first);
/// each holds the agent and every asset (~90 MB), and every agent rebuild
/// makes a new one. One in use by a live isobench process (its lock under
/// `<cache>/docker-images/` held), or by any container, is never removed.
pub const KEEP_IMAGES: usize = 4;

impl Docker {
    /// Connects to dockerd (`options.docker_host`, else `DOCKER_HOST`, else
    /// [`DEFAULT_SOCKET`]) for `kind`: `docker` uses the daemon's default
    /// runtime, `kata` the registered Kata runtime.
    pub fn new(kind: EnvKind, options: &EnvOptions) -> Result<Docker, EnvError> {
        Self::with_runtime(kind, options, None)
    }

    /// As [`Docker::new`] with an explicit docker runtime name (e.g. `runsc`
    /// for gVisor through Docker); it must be registered in the daemon.
    pub fn with_runtime(
        kind: EnvKind,
        options: &EnvOptions,
        runtime: Option<&str>,
    ) -> Result<Docker, EnvError> {
        let endpoint = Endpoint::from_options(options.docker_host.as_deref());
        let conn = connect(kind, &endpoint)?;
        let runtime = match (kind, runtime) {
            (_, Some(rt)) => Some(rt.to_string()),
            (EnvKind::Kata, None) => {
                Some(
                    kata_runtime(&conn.runtimes).ok_or_else(|| EnvError::Unavailable {
                        env: kind.name().into(),
                        reason: format!(
                            "no Kata runtime registered in dockerd (runtimes: {})",
                            conn.runtimes.join(", ")
                        ),
                        fix: FIX_KATA.into(),
                    })?,
                )
            }
            (_, None) => None,
        };
        if let Some(rt) = &runtime {
            if !conn.runtimes.iter().any(|r| r == rt) {
                return Err(EnvError::Unavailable {
                    env: kind.name().into(),
                    reason: format!("docker runtime `{rt}` is not registered (runtimes: {})", conn.runtimes.join(", ")),
                    fix: format!("add `{rt}` under \"runtimes\" in /etc/docker/daemon.json and restart dockerd"),
                });
            }
        }
        Ok(Docker {
            kind,
            runtime,
            conn,
            image: None,
            image_in_use: None,
            payload: None,
            image_locks: options.cache_dir.join("docker-images"),
        })
    }

    /// The runtime containers are created with (the daemon default when `None`).
    pub fn runtime(&self) -> &str {
        self.runtime
            .as_deref()
            .unwrap_or(&self.conn.default_runtime)
    }

    /// Tags of the isobench images in the daemon, sorted.
    pub fn isobench_images(&self) -> Result<Vec<String>, EnvError> {
        let mut tags: Vec<String> = self
            .list_isobench_images()?
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .collect();
        tags.sort();
        Ok(tags)
    }

    fn list_isobench_images(&self) -> Result<Vec<bollard::models::ImageSummary>, EnvError> {
        let options = ListImagesOptionsBuilder::new()
            .filters(&HashMap::from([("label", vec![image::LABEL])]))
            .build();
        self.conn
            .rt
            .block_on(self.conn.client.list_images(Some(options)))
            .map_err(|e| docker_err("listing images", e))
    }

    /// Names of isobench containers that exist in the daemon (tests, `isobench clean`).
    pub fn leftover_containers(&self) -> Result<Vec<String>, EnvError> {
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&HashMap::from([("label", vec![image::LABEL])]))
            .build();
        let list = self
            .conn
            .rt
            .block_on(self.conn.client.list_containers(Some(options)))
            .map_err(|e| docker_err("listing containers", e))?;
        Ok(list
            .into_iter()
            .flat_map(|c| c.names.unwrap_or_default())
            .map(|n| n.trim_start_matches('/').to_string())
            .collect())
    }

    /// Force-removes the isobench containers and networks whose name
    /// satisfies `remove` (`isobench clean` passes "belongs to a dead run");
    /// returns their names.
    pub fn remove_containers(
        &self,
        remove: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, EnvError> {
        let mut removed = Vec::new();
        for name in self
            .leftover_containers()?
            .into_iter()
            .filter(|n| remove(n))
        {
            let options = bollard::query_parameters::RemoveContainerOptionsBuilder::new()
                .force(true)
                .build();
            self.conn
                .rt
                .block_on(self.conn.client.remove_container(&name, Some(options)))
                .map_err(|e| docker_err(&format!("removing container {name}"), e))?;
            removed.push(name);
        }
        for name in self.leftover_networks()?.into_iter().filter(|n| remove(n)) {
            remove_network(&self.conn.rt, &self.conn.client, &name)?;
            removed.push(format!("network {name}"));
        }
        Ok(removed)
    }

    /// Creates the bridge network `name` for one run (labelled, so
    /// `isobench clean` finds it after a crash).
    fn create_network(&self, name: &str, run_id: &str) -> Result<(), EnvError> {
        let request = bollard::models::NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([
                (image::LABEL.to_string(), "1".to_string()),
                (format!("{}.run", image::LABEL), run_id.to_string()),
            ])),
            ..Default::default()
        };
        self.conn
            .rt
            .block_on(self.conn.client.create_network(request))
            .map(|_| ())
            .map_err(|e| {
                docker_err(
                    &format!("creating network {name} (needs a daemon with bridge networking)"),
                    e,
                )
            })
    }

    /// The container's IPv4 address on `network`.
    fn container_address(
        &self,
        container: &str,
        network: &str,
    ) -> Result<std::net::IpAddr, EnvError> {
        let info = self
            .conn
            .rt
            .block_on(self.conn.client.inspect_container(
                container,
                None::<bollard::query_parameters::InspectContainerOptions>,
            ))
            .map_err(|e| docker_err(&format!("inspecting container {container}"), e))?;
        let address = info
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(network))
            .and_then(|endpoint| endpoint.ip_address)
            .unwrap_or_default();
        address.parse().map_err(|_| {
            EnvError::Docker(format!(
                "container {container} has no address on network {network} (got {address:?})"
            ))
        })
    }

    /// The isobench networks (label `org.isobench`) left on the daemon.
    pub fn leftover_networks(&self) -> Result<Vec<String>, EnvError> {
        let options = bollard::query_parameters::ListNetworksOptionsBuilder::new()
            .filters(&HashMap::from([("label", vec![image::LABEL])]))
            .build();
        let list = self
            .conn
            .rt
            .block_on(self.conn.client.list_networks(Some(options)))
            .map_err(|e| docker_err("listing networks", e))?;
        Ok(list.into_iter().filter_map(|n| n.name).collect())
    }

    fn build_image(&self, files: &PayloadFiles, tag: &str) -> Result<(), EnvError> {
        let context = image::build_context(files)?;
        let options = BuildImageOptionsBuilder::new()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .forcerm(true)
            .networkmode("none")
            .build();
        let client = &self.conn.client;
        self.conn.rt.block_on(async {
            let mut stream =
                client.build_image(options, None, Some(bollard::body_full(context.into())));
            let mut last = String::new();
            while let Some(item) = stream.next().await {
                match item {
                    Ok(info) => {
                        if let Some(err) = info.error.or(info.error_detail.and_then(|d| d.message))
                        {
                            return Err(EnvError::Docker(format!(
                                "building image {tag} failed: {err}"
                            )));
                        }
                        if let Some(s) = info.stream.filter(|s| !s.trim().is_empty()) {
                            last = s.trim().to_string();
                        }
                    }
                    Err(e) => {
                        return Err(docker_err(
                            &format!("building image {tag} failed (last step: {last})"),
                            e,
                        ))
                    }
                }
            }
            Ok(())
        })
    }
}

impl Docker {
    /// Removes all but the [`KEEP_IMAGES`] most recently used isobench
    /// images (never `current`), skipping those another isobench process
    /// holds; dockerd itself refuses to remove an image a container uses.
    /// Best effort: failures are logged, never fatal.
    fn prune_images(&self, current: &str) {
        let images = match self.list_isobench_images() {
            Ok(images) => images,
            Err(e) => {
                tracing::warn!("{e} (to prune old images)");
                return;
            }
        };
        let prefix = format!("{}:", image::IMAGE_REPO);
        let mut tags: Vec<((Option<std::time::SystemTime>, i64), String)> = images
            .into_iter()
            .flat_map(|image| {
                let created = image.created;
                image.repo_tags.into_iter().map(move |tag| (created, tag))
            })
            .filter(|(_, tag)| tag.starts_with(&prefix) && tag != current)
            .map(|(created, tag)| {
                let used = CacheLock::last_used(&image_lock(&self.image_locks, &tag));
                ((used, created), tag)
            })
            .collect();
        // Most recently used first (images without a lock file: by age, last).
        tags.sort_by_key(|(order, _)| std::cmp::Reverse(*order));
        for (_, tag) in tags.into_iter().skip(KEEP_IMAGES.saturating_sub(1)) {
            let Some(held) = CacheLock::try_exclusive(&image_lock(&self.image_locks, &tag)) else {
                tracing::debug!("keeping image {tag}: an isobench process uses it");
                continue;
            };
            let options = RemoveImageOptionsBuilder::new().force(false).build();
            match self
                .conn
                .rt
                .block_on(self.conn.client.remove_image(&tag, Some(options), None))
            {
                Ok(_) => tracing::debug!("pruned image {tag}"),
                Err(e) => tracing::debug!("keeping image {tag}: {e}"),
            }
            held.remove();
        }
    }
}

/// The lock file of image `tag` in `dir`.
fn image_lock(dir: &Path, tag: &str) -> PathBuf {
    let name = tag.rsplit(':').next().unwrap_or(tag);
    dir.join(format!("{name}.lock"))
}

impl Environment for Docker {
    fn kind(&self) -> EnvKind {
        self.kind
    }

    fn info(&self) -> EnvironmentInfo {
        EnvironmentInfo {
            name: self.kind.name().into(),
            runtime_version: Some(format!(
                "dockerd {} (API {}), runtime {}",
                self.conn.server_version,
                self.conn.api_version,
                self.runtime()
            )),
            accel: None,
            emulated: false,
            notes: vec![
                "image FROM scratch with the static agent; --network none; read-only root; cgroup parent /isobench/<run> (cgroupfs)".into(),
            ],
        }
    }

    fn prepare(&mut self, payload: &AgentPayload) -> Result<Prepared, EnvError> {
        let started = Instant::now();
        let files = PayloadFiles::collect(payload)?;
        let tag = image::image_tag(&files);
        std::fs::create_dir_all(&self.image_locks)
            .map_err(|e| EnvError::io(format!("creating {}", self.image_locks.display()), e))?;
        // Held before looking: an image pruned before this is built again.
        let in_use = CacheLock::shared(&image_lock(&self.image_locks, &tag))?;
        in_use.mark_used();
        let client = &self.conn.client;
        let existing = self.conn.rt.block_on(client.inspect_image(&tag));
        let cached = match existing {
            Ok(_) => true,
            Err(e) if is_not_found(&e) => false,
            Err(e) => return Err(docker_err(&format!("inspecting image {tag}"), e)),
        };
        if !cached {
            self.build_image(&files, &tag)?;
        }
        let inspect = self
            .conn
            .rt
            .block_on(client.inspect_image(&tag))
            .map_err(|e| docker_err(&format!("inspecting image {tag} after the build"), e))?;
        if !cached {
            self.prune_images(&tag);
        }
        self.image = Some(tag);
        self.image_in_use = Some(in_use);
        self.payload = Some(payload.clone());
        Ok(Prepared {
            image_bytes: inspect.size.map(|s| s.max(0) as u64),
            image_id: inspect.id,
            cached,
            prepare_seconds: started.elapsed().as_secs_f64(),
        })
    }

    fn assets_path_inside(&self) -> PathBuf {
        PathBuf::from(ASSETS_INSIDE)
    }

    fn launch(&mut self, spec: &LaunchSpec) -> Result<Box<dyn Instance>, EnvError> {
        let (Some(image), Some(payload)) = (self.image.clone(), self.payload.as_ref()) else {
            return Err(EnvError::Docker("launch called before prepare".into()));
        };
        let name = container_name(&spec.run_id);
        // With LaunchSpec::network, a bridge network of the run's own (same
        // name as the container), removed with the container.
        let network = if spec.network {
            self.create_network(&name, &spec.run_id.to_string())?;
            Some(name.clone())
        } else {
            None
        };
        let cgroup = match RunCgroup::create(&spec.run_id.to_string()) {
            Ok(cgroup) => cgroup,
            Err(e) => {
                if let Some(network) = &network {
                    let _ = remove_network(&self.conn.rt, &self.conn.client, network);
                }
                return Err(e);
            }
        };
        let limits = &spec.limits;
        let host_config = HostConfig {
            network_mode: Some(network.clone().unwrap_or_else(|| "none".into())),
            nano_cpus: limits.vcpus.map(|v| i64::from(v) * 1_000_000_000),
            memory: limits.memory_mib.map(|m| (m << 20) as i64),
            // Same as the memory limit: no swap on top.
            memory_swap: limits.memory_mib.map(|m| (m << 20) as i64),
            cpuset_cpus: limits.cpuset.clone(),
            runtime: self.runtime.clone(),
            cgroup_parent: Some(cgroup.path()),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([(
                "/tmp".to_string(),
                "rw,nosuid,nodev,size=64m".to_string(),
            )])),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(image),
            cmd: Some(spec.agent_args.clone()),
            env: Some(
                payload
                    .env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
            labels: Some(HashMap::from([
                (image::LABEL.to_string(), "1".to_string()),
                (format!("{}.run", image::LABEL), spec.run_id.to_string()),
            ])),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(spec.interactive),
            open_stdin: Some(spec.interactive),
            stdin_once: Some(spec.interactive),
            tty: Some(false),
            network_disabled: Some(network.is_none()),
            host_config: Some(host_config),
            ..Default::default()
        };
        let (reader, writer) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| EnvError::io("creating the pipe for container output", e))?;
        let stderr_tail: Arc<Mutex<Vec<u8>>> = Arc::default();

        let mut instance = DockerInstance {
            env: self.kind.name().to_string(),
            rt: self.conn.rt.clone(),
            client: self.conn.client.clone(),
            name: name.clone(),
            created: false,
            lines: LineStream::spawn(reader, self.kind.name()),
            stderr: stderr_tail.clone(),
            cgroup: Some(cgroup),
            launched_at: Instant::now(),
            timeout_at: Instant::now() + spec.timeout,
            forward: None,
            input: None,
            result: None,
            killed: false,
            network,
            address: None,
        };
        let client = self.conn.client.clone();
        let started = self.conn.rt.block_on(async {
            let options = CreateContainerOptionsBuilder::new().name(&name).build();
            client
                .create_container(Some(options), body)
                .await
                .map_err(|e| docker_err(&format!("creating container {name}"), e))?;
            Ok::<_, EnvError>(())
        });
        if let Err(e) = started {
            // A half-created container (name taken, daemon error) is removed by stop().
            instance.created = true;
            let _ = instance.stop();
            return Err(e);
        }
        instance.created = true;
        let attached = self.conn.rt.block_on(async {
            let options = AttachContainerOptionsBuilder::new()
                .stream(true)
                .logs(true)
                .stdout(true)
                .stderr(true)
                .stdin(spec.interactive)
                .build();
            let attach = client
                .attach_container(&name, Some(options))
                .await
                .map_err(|e| docker_err(&format!("attaching to container {name}"), e))?;
            client
                .start_container(
                    &name,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .map_err(|e| docker_err(&format!("starting container {name}"), e))?;
            Ok::<_, EnvError>(attach)
        });
        let attach = match attached {
            Ok(a) => a,
            Err(e) => {
                let _ = instance.stop();
                return Err(e);
            }
        };
        if spec.interactive {
            instance.input = Some(attach.input);
        }
        if let Some(network) = instance.network.clone() {
            match self.container_address(&name, &network) {
                Ok(address) => instance.address = Some(address),
                Err(e) => {
                    let _ = instance.stop();
                    return Err(e);
                }
            }
        }
        let mut output = attach.output;
        instance.forward = Some(self.conn.rt.spawn(async move {
            use tokio::io::AsyncWriteExt;
            let Ok(mut writer) = writer
                .set_nonblocking(true)
                .and_then(|()| tokio::net::UnixStream::from_std(writer))
            else {
                return;
            };
            while let Some(item) = output.next().await {
                match item {
                    Ok(bollard::container::LogOutput::StdOut { message })
                    | Ok(bollard::container::LogOutput::Console { message }) => {
                        if writer.write_all(&message).await.is_err() {
                            break;
                        }
                    }
                    Ok(bollard::container::LogOutput::StdErr { message }) => {
                        let mut tail = stderr_tail.lock().unwrap_or_else(|p| p.into_inner());
                        tail.extend_from_slice(&message);
                        let len = tail.len();
                        if len > 8192 {
                            tail.drain(..len - 8192);
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            // Dropping the writer ends the line stream.
        }));
        Ok(Box::new(instance))
    }
}

/// One running container.
struct DockerInstance {
    env: String,
    rt: Arc<Runtime>,
    client: bollard::Docker,
    name: String,
    created: bool,
    lines: LineStream,
    stderr: Arc<Mutex<Vec<u8>>>,
    cgroup: Option<RunCgroup>,
    launched_at: Instant,
    timeout_at: Instant,
    forward: Option<tokio::task::JoinHandle<()>>,
    /// The attached stdin, for interactive launches ([`Instance::send`]).
    input: Option<std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
    result: Option<ExitInfo>,
    killed: bool,
    /// The run's own bridge network, when launched with one.
    network: Option<String>,
    /// The container's address on that network.
    address: Option<std::net::IpAddr>,
}

impl DockerInstance {
    fn stderr_line(&self) -> String {
        let tail = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&tail)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string()
    }

    /// Kills the container if it still runs, waits for it to be gone, and
    /// returns its exit code.
    fn end_container(&mut self) -> Result<Option<i64>, EnvError> {
        let client = self.client.clone();
        let name = self.name.clone();
        let killed = &mut self.killed;
        self.rt.block_on(async {
            let mut code = None;
            // A finishing agent gets 2 s to exit by itself, then SIGKILL
            // (it is PID 1 of its namespace) and up to 10 s more.
            let grace = Instant::now() + Duration::from_secs(2);
            let give_up = grace + Duration::from_secs(10);
            while Instant::now() < give_up {
                match client
                    .inspect_container(
                        &name,
                        None::<bollard::query_parameters::InspectContainerOptions>,
                    )
                    .await
                {
                    Ok(info) => {
                        let state = info.state.unwrap_or_default();
                        if state.running == Some(true) {
                            if !*killed && Instant::now() >= grace {
                                *killed = true;
                                let options =
                                    KillContainerOptionsBuilder::new().signal("KILL").build();
                                let _ = client.kill_container(&name, Some(options)).await;
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                        code = state.exit_code;
                        break;
                    }
                    Err(e) if is_not_found(&e) => break,
                    Err(e) => return Err(docker_err(&format!("inspecting container {name}"), e)),
                }
            }
            let options = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            match client.remove_container(&name, Some(options)).await {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(docker_err(&format!("removing container {name}"), e)),
            }
            Ok(code)
        })
    }
}

impl Instance for DockerInstance {
    fn launched_at(&self) -> Instant {
        self.launched_at
    }

    fn next_line(&mut self, timeout: Duration) -> Result<Option<String>, EnvError> {
        let left = self.timeout_at.saturating_duration_since(Instant::now());
        match self.lines.next_line(timeout.min(left)) {
            Err(EnvError::Timeout { .. }) if left <= timeout => Err(EnvError::Timeout {
                env: self.env.clone(),
                seconds: (self.timeout_at - self.launched_at).as_secs_f64(),
                during: "the whole run (--timeout)".into(),
            }),
            other => other,
        }
    }

    fn meter_target(&self) -> MeterTarget {
        match &self.cgroup {
            Some(group) => group.meter_target(),
            None => MeterTarget::Unavailable("the container was already stopped".into()),
        }
    }

    fn network_address(&self) -> Option<std::net::IpAddr> {
        self.address
    }

    fn diagnostics(&self) -> Option<String> {
        // The log stream forwards stderr before it ends stdout, so the tail
        // is complete once the record stream has ended.
        let line = self.stderr_line();
        (!line.is_empty()).then_some(line)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), EnvError> {
        use tokio::io::AsyncWriteExt;
        let input = self.input.as_mut().ok_or_else(|| EnvError::Unsupported {
            what: format!("writing to the stdin of container {}", self.name),
            fix: "launch with LaunchSpec::interactive = true".into(),
        })?;
        self.rt
            .block_on(async {
                input.write_all(bytes).await?;
                input.flush().await
            })
            .map_err(|e| {
                EnvError::io(
                    format!("writing to the stdin of container {}", self.name),
                    e,
                )
            })
    }

    fn close_input(&mut self) -> Result<(), EnvError> {
        use tokio::io::AsyncWriteExt;
        if let Some(mut input) = self.input.take() {
            // Half-closes the attach connection: the agent reads end of stream.
            let _ = self.rt.block_on(input.shutdown());
        }
        Ok(())
    }

    fn stop(&mut self) -> Result<ExitInfo, EnvError> {
        if let Some(result) = &self.result {
            return Ok(result.clone());
        }
        let _ = self.close_input();
        let code = if self.created {
            self.end_container()
        } else {
            Ok(None)
        };
        if let Some(task) = self.forward.take() {
            task.abort();
        }
        let (cpu, peak) = match &self.cgroup {
            Some(g) => (g.cpu_seconds(), g.peak_memory()),
            None => (None, None),
        };
        let removed = match self.cgroup.as_mut() {
            Some(g) => g.remove(),
            None => Ok(()),
        };
        self.cgroup = None;
        let network_removed = match self.network.take() {
            Some(network) => remove_network(&self.rt, &self.client, &network),
            None => Ok(()),
        };
        let code = code?;
        removed?;
        network_removed?;
        if code.is_some_and(|c| c != 0) {
            let line = self.stderr_line();
            if !line.is_empty() {
                tracing::warn!("container {} exited with {code:?}: {line}", self.name);
            }
        }
        let result = ExitInfo {
            code,
            killed: self.killed,
            final_cpu_seconds: cpu,
            final_peak_memory_bytes: peak,
        };
        self.result = Some(result.clone());
        Ok(result)
    }
}

impl Drop for DockerInstance {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!("cleaning up container {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn missing_socket_is_a_clear_unavailable_error() {
        let options = EnvOptions {
            docker_host: Some("unix:///nonexistent/isobench-test/docker.sock".into()),
            ..EnvOptions::default()
        };
        let err = Docker::new(EnvKind::Docker, &options)
            .err()
            .expect("no daemon there");
        let text = err.to_string();
        assert!(matches!(err, EnvError::Unavailable { .. }), "{text}");
        assert!(
            text.contains("/nonexistent/isobench-test/docker.sock"),
            "{text}"
        );
        assert!(
            text.contains("not running") || text.contains("not installed"),
            "{text}"
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
