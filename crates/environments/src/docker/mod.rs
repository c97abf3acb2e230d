//! `docker` (and `kata`): containers through the Docker Engine API
//! (bollard), never the CLI.
//!
//! - The API version is negotiated (Debian's dockerd 20.10 speaks 1.41)
//!   ([`connection`]).
//! - [`Environment::prepare`] builds `isobench-agent:<payload digest>` `FROM
//!   scratch` (see [`image`]), once: an existing tag is reused.
//! - [`Environment::launch`] creates a container with `--network none`,
//!   NanoCPUs / Memory / cpuset from the limits, a read-only root with a
//!   tmpfs `/tmp`, the runtime of the environment (daemon default for
//!   `docker`, Kata's for `kata`, any registered one through
//!   [`Docker::with_runtime`]) and the cgroup parent `/isobench/<run>` that
//!   isobench creates itself (cgroupfs driver), so the container's CPU and
//!   memory totals survive its exit and are metered there. It attaches to
//!   the container's output before starting it, so no line is lost
//!   ([`instance`]).
//! - With a user root ([`AgentPayload::user_root`], `--workload command`)
//!   the image is the user's tree imported as `isobench-cmd:<digest>`
//!   (`POST /images/create?fromSrc=-`, once; pruned like the agent images)
//!   and the container runs `/isobench-agent exec ...` in it. `--image`
//!   goes the other way: an image of the daemon exported into a tree
//!   ([`export`]).
//! - The Engine API is async; the trait is not: the backend owns a small
//!   tokio runtime and blocks on it.
//! - `isobench clean` removes the containers and networks of dead runs and
//!   their cgroups ([`clean_leftovers`]).
//! - The same code drives podman through its Docker-compatible API
//!   ([`crate::podman`]); what differs is the [`Engine`] and the
//!   [`ContainerDefaults`] a [`Docker`] is made with ([`Docker::on_engine`]).

pub mod connection;
pub mod engine;
pub mod export;
pub mod image;
pub mod instance;

use std::path::PathBuf;
use std::time::Instant;

use crate::cache_lock::CacheLock;
use crate::containers::{PayloadFiles, ASSETS_INSIDE};
use crate::instance::{prepared, StopGuard};
use crate::registry::EnvOptions;
use crate::run_id::left_by_dead_run;
use crate::{
    AgentPayload, Availability, Capabilities, EnvError, EnvKind, Environment, EnvironmentInfo,
    HostFacts, Instance, LaunchSpec, PayloadView, Prepared, Swept,
};

use bollard::models::ResourcesUlimits;
use connection::{connect, kata_runtime, Connection, Endpoint, FIX_KATA, FIX_NOT_RUNNING};
use instance::{ContainerConfig, DockerRun};

pub use connection::{DEFAULT_SOCKET, KATA_RUNTIMES};
pub use engine::{short_tag, ContainerDefaults, Engine};
pub use image::KEEP_IMAGES;

/// What `docker` / `kata` can do (their registry entries' [`Capabilities`]):
/// containers with stdin over the attach stream and, on request, a bridge
/// network of the run's own that the host reaches.
pub const CAPABILITIES: Capabilities = Capabilities {
    tcp: true,
    ..Capabilities::process()
};

/// Probes whether `kind` (`docker` or `kata`) can run: dockerd must answer
/// (on `options.docker_host`, else `DOCKER_HOST`, else [`DEFAULT_SOCKET`]);
/// `kata` also needs a Kata runtime registered in the daemon.
pub fn detect(kind: EnvKind, _host: &HostFacts, options: &EnvOptions) -> Availability {
    let endpoint = Endpoint::from_options(options.docker_host.as_deref());
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
            None => Availability::no(kind, no_kata_reason(&conn), FIX_KATA),
        },
        _ => Availability::yes(kind, format!("{daemon}, runtime {}", conn.default_runtime)),
    }
}

/// Builds the environment of `kind`.
pub fn build(kind: EnvKind, options: &EnvOptions) -> Result<Box<dyn Environment>, EnvError> {
    Ok(Box::new(Docker::new(kind, options)?))
}

/// Removes the containers and networks runs of `kind` whose isobench
/// process is gone left in the daemon (when one answers), then their cgroups.
pub fn clean_leftovers(kind: EnvKind, options: &EnvOptions) -> Swept {
    let mut swept = Swept::default();
    let endpoint = Endpoint::from_options(options.docker_host.as_deref());
    // No daemon: nothing of Docker's can be left but cgroups.
    if let Ok(conn) = connect(kind, &endpoint) {
        swept.extend(remove_dead(&conn, kind));
    }
    swept.extend(crate::cgroup::sweep_dead_runs(kind));
    swept
}

/// Removes the isobench containers and networks of `kind`'s dead runs.
pub(crate) fn remove_dead(conn: &Connection, kind: EnvKind) -> Swept {
    let engine = conn.engine.label();
    let mut swept = Swept::default();
    let dead = |names: Result<Vec<String>, EnvError>, swept: &mut Swept| match names {
        Ok(names) => names
            .into_iter()
            .filter(|n| left_by_dead_run(n, kind))
            .collect(),
        Err(e) => {
            swept.failed.push(e);
            Vec::new()
        }
    };
    let containers = conn.isobench_containers().map(|names| {
        // The temporary containers of `--image` exports of dead processes.
        let (exports, runs): (Vec<String>, Vec<String>) = names
            .into_iter()
            .partition(|n| n.contains(export::EXPORT_MARK));
        if kind == EnvKind::Docker {
            for name in exports
                .into_iter()
                .filter(|n| crate::run_id::belongs_to_dead_run(n))
            {
                swept.record(
                    conn.remove_container(&name)
                        .map(|()| format!("removed docker export container {name}")),
                );
            }
        }
        runs
    });
    for name in dead(containers, &mut swept) {
        swept.record(
            conn.remove_container(&name)
                .map(|()| format!("removed {engine} container {name}")),
        );
    }
    for name in dead(conn.isobench_networks(), &mut swept) {
        swept.record(
            conn.remove_network(&name)
                .map(|()| format!("removed {engine} network {name}")),
        );
    }
    swept
}

fn no_kata_reason(conn: &Connection) -> String {
    format!(
        "no Kata runtime registered in dockerd (runtimes: {})",
        conn.runtimes.join(", ")
    )
}

/// The agent image a prepared environment launches.
struct PreparedImage {
    tag: String,
    /// Keeps the image from being pruned by other isobench processes.
    _in_use: CacheLock,
}

/// The Docker Engine environment (`docker`, `kata`, or any registered runtime).
pub struct Docker {
    kind: EnvKind,
    runtime: Option<String>,
    ulimits: Vec<ResourcesUlimits>,
    conn: Connection,
    image: Option<PreparedImage>,
    payload: Option<AgentPayload>,
    /// Where the images' lock files live (`<cache>/docker-images/`).
    image_locks: PathBuf,
}

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
                        reason: no_kata_reason(&conn),
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
        Ok(Self::on_engine(
            kind,
            conn,
            ContainerDefaults {
                runtime,
                ulimits: Vec::new(),
            },
            options,
        ))
    }

    /// The environment of `kind` on an engine already connected (podman's
    /// service), whose containers get `defaults`.
    pub(crate) fn on_engine(
        kind: EnvKind,
        conn: Connection,
        defaults: ContainerDefaults,
        options: &EnvOptions,
    ) -> Docker {
        Docker {
            kind,
            runtime: defaults.runtime,
            ulimits: defaults.ulimits,
            image_locks: options.cache_dir.join(conn.engine.image_locks_dir()),
            conn,
            image: None,
            payload: None,
        }
    }

    /// The daemon, its version and API version (`dockerd 20.10.24 (API 1.41)`).
    pub fn daemon_version(&self) -> String {
        format!(
            "{} {} (API {})",
            self.conn.engine.daemon(),
            self.conn.server_version,
            self.conn.api_version
        )
    }

    /// The runtime containers are created with (the daemon default when `None`).
    pub fn runtime(&self) -> &str {
        self.runtime
            .as_deref()
            .unwrap_or(&self.conn.default_runtime)
    }

    /// Tags of the isobench images in the daemon, sorted.
    pub fn isobench_images(&self) -> Result<Vec<String>, EnvError> {
        let mut tags: Vec<String> = image::list(&self.conn)?
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .map(|tag| short_tag(&tag).to_string())
            .collect();
        tags.sort();
        Ok(tags)
    }

    /// Names of isobench containers that exist in the daemon (tests, `isobench clean`).
    pub fn leftover_containers(&self) -> Result<Vec<String>, EnvError> {
        self.conn.isobench_containers()
    }

    /// The isobench networks (label `org.isobench`) left on the daemon.
    pub fn leftover_networks(&self) -> Result<Vec<String>, EnvError> {
        self.conn.isobench_networks()
    }
}

impl Environment for Docker {
    fn kind(&self) -> EnvKind {
        self.kind
    }

    fn info(&self) -> EnvironmentInfo {
        EnvironmentInfo {
            name: self.kind.name().into(),
            runtime_version: Some(format!("{}, runtime {}", self.daemon_version(), self.runtime())),
            accel: None,
            emulated: false,
            notes: vec![match self.payload.as_ref().and_then(|p| p.user_root.as_ref()) {
                Some(root) => format!(
                    "the user's root filesystem {} imported as image {} (entry point /isobench-agent); --network none; read-only root, tmpfs /tmp; cgroup parent /isobench/<run> (cgroupfs)",
                    root.dir.display(),
                    image::command_image_tag(root)
                ),
                None => "image FROM scratch with the static agent; --network none; read-only root; cgroup parent /isobench/<run> (cgroupfs)".into(),
            }],
        }
    }

    fn prepare(&mut self, payload: &AgentPayload) -> Result<Prepared, EnvError> {
        let started = Instant::now();
        let image = match &payload.user_root {
            // The user's tree, imported as `isobench-cmd:<digest>`.
            Some(root) => image::ensure_command_image(&self.conn, root, &self.image_locks)?,
            None => {
                let files = PayloadFiles::collect(payload)?;
                image::ensure(&self.conn, &files, &self.image_locks)?
            }
        };
        self.image = Some(PreparedImage {
            tag: image.tag,
            _in_use: image.in_use,
        });
        self.payload = Some(payload.clone());
        Ok(Prepared {
            image_bytes: image.bytes,
            image_id: image.id,
            cached: image.cached,
            prepare_seconds: started.elapsed().as_secs_f64(),
        })
    }

    fn assets_path_inside(&self) -> PathBuf {
        PathBuf::from(ASSETS_INSIDE)
    }

    fn payload_view(&self) -> PayloadView {
        PayloadView::container()
    }

    fn launch(&mut self, spec: &LaunchSpec) -> Result<Box<dyn Instance>, EnvError> {
        let (image, payload) = prepared(self.image.as_ref().zip(self.payload.as_ref()), self.kind)?;
        let env = self.payload_view().env(payload)?;
        // Everything created below is removed by the guard if a later step fails.
        let mut run = StopGuard::new(DockerRun::new(
            &self.conn,
            self.kind,
            &spec.run_id,
            spec.timeout,
        )?);
        if spec.network {
            run.create_network()?;
        }
        run.create_cgroup()?;
        let body = run.container_body(ContainerConfig {
            image: &image.tag,
            spec,
            env,
            runtime: self.runtime.clone(),
            ulimits: self.ulimits.clone(),
            // An imported tree carries the entry point too; said again so a
            // tag made by other means still runs the agent.
            entrypoint: payload
                .user_root
                .as_ref()
                .map(|_| vec![crate::containers::AGENT_INSIDE.to_string()]),
        });
        run.start(body, spec.interactive)?;
        Ok(Box::new(run))
    }
}

/// Nothing to install on demand: what it needs is a Debian package.
pub fn extras(_kind: EnvKind) -> &'static [crate::Extra] {
    &[]
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let availability = detect(EnvKind::Docker, &HostFacts::probe(), &options);
        assert!(!availability.available);
        assert!(
            availability
                .reason
                .contains("/nonexistent/isobench-test/docker.sock"),
            "detect asks the daemon the options name: {availability:?}"
        );
    }
}
