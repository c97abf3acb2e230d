//! `podman`: rootful podman containers through podman's Docker-compatible
//! REST API, driven by the docker backend's code ([`crate::docker`]).
//!
//! Why the API and not the CLI: the docker backend already does everything
//! a container run needs through that API (an image built `FROM scratch`
//! from a tar context, attach before start so no line is lost, stdin for
//! serving, cgroup parents, a network of the run's own, clean-up by label),
//! and podman 4.3 answers it; one client means docker and podman run the
//! same requests, so their figures differ by the engine only.
//!
//! What podman needs beyond dockerd, all here:
//! - A service of the run's own ([`service::Service`]), started when the
//!   environment is built and stopped at its teardown or drop (success,
//!   failure, timeout, Ctrl-C), or by the kernel when isobench is killed;
//!   `isobench clean` ends those of dead runs. isobench does not use a
//!   system socket (`/run/podman/podman.sock`) even when one answers: the
//!   service's runtime and cgroup manager below are isobench's choice, and
//!   starting one takes well under a second.
//! - runc as OCI runtime ([`service::RUNTIME`] says why) and the cgroupfs
//!   cgroup manager (the cgroup parent `/isobench/<run>` is a cgroupfs path).
//! - The `nofile` / `nproc` limits of the service for every container
//!   ([`crate::docker::ContainerDefaults::ulimits`]).
//! - Image tags listed with a registry (`docker.io/library/...`) and the
//!   builder's per-step layer images ([`crate::docker::short_tag`]).
//!
//! Metering: podman puts each container's conmon (its monitor process) in
//! `<cgroup parent>/conmon`, so the run's cgroup charges conmon with the
//! container (docker's containerd-shim is not charged); the results' notes
//! say so. The images are podman's own (`/var/lib/containers`), built once
//! per payload and pruned like docker's (locks under `<cache>/podman-images/`).

pub mod service;

use std::path::PathBuf;

use crate::docker::connection::{connect_to, Connection, Endpoint};
use crate::docker::{ContainerDefaults, Docker, Engine};
use crate::registry::{which, EnvOptions};
use crate::{
    AgentPayload, Availability, Capabilities, EnvError, EnvKind, Environment, EnvironmentInfo,
    HostFacts, Instance, LaunchSpec, PayloadView, Prepared, Swept,
};

use service::Service;

/// What `podman` can do: what `docker` can ([`crate::docker::CAPABILITIES`]).
pub const CAPABILITIES: Capabilities = crate::docker::CAPABILITIES;

/// The fix when podman is not installed.
pub const FIX_INSTALL: &str =
    "install it with `isobench setup --env podman` (scripts/install-podman.sh)";

/// The fix when podman's service does not answer.
const FIX_SERVICE: &str = "check that `podman info` works as root, then `isobench setup --env podman` (scripts/install-podman.sh)";

/// Probes whether `podman` can run: root, podman and runc installed, and a
/// service of its own that answers (started and stopped here).
pub fn detect(kind: EnvKind, host: &HostFacts, options: &EnvOptions) -> Availability {
    match Podman::new(kind, host, options) {
        Ok(podman) => Availability::yes(
            kind,
            format!(
                "{}, runtime {}",
                podman.docker.daemon_version(),
                service::RUNTIME
            ),
        ),
        Err(EnvError::Unavailable { reason, fix, .. }) => Availability::no(kind, reason, fix),
        Err(e) => Availability::no(kind, e.to_string(), FIX_SERVICE),
    }
}

/// Builds the environment (starting its API service).
pub fn build(kind: EnvKind, options: &EnvOptions) -> Result<Box<dyn Environment>, EnvError> {
    Ok(Box::new(Podman::new(kind, &HostFacts::probe(), options)?))
}

/// Ends the API services of dead runs, removes their containers and
/// networks (through a service started for the purpose, when podman is
/// installed), then their cgroups: what lives inside a thing before the thing.
pub fn clean_leftovers(kind: EnvKind, _options: &EnvOptions) -> Swept {
    let mut swept = Swept {
        removed: service::end_dead(),
        ..Swept::default()
    };
    if let Some(podman) = which("podman") {
        match Service::start(&podman).and_then(|service| {
            let conn = connect(kind, &service)?;
            Ok((service, conn))
        }) {
            Ok((mut service, conn)) => {
                swept.extend(crate::docker::remove_dead(&conn, kind));
                drop(conn);
                if let Err(e) = service.stop() {
                    swept.failed.push(e);
                }
            }
            Err(e) => swept.failed.push(e),
        }
    }
    swept.extend(crate::cgroup::sweep_dead_runs(kind));
    swept
}

/// podman itself, from Debian 12, installed on demand (`isobench setup --env
/// podman`, or a run that asks for `podman`).
pub const PODMAN: crate::Extra = crate::Extra {
    name: "podman",
    purpose: "the container engine itself (rootful, with conmon)",
    script: "scripts/install-podman.sh",
    required: true,
    minutes: 1,
    installed: |_| which("podman").is_some(),
};

/// What `isobench setup --env podman` installs: [`PODMAN`].
pub fn extras(_kind: EnvKind) -> &'static [crate::Extra] {
    &[PODMAN]
}

/// Connects to `service` (podman's wording when it does not answer).
fn connect(kind: EnvKind, service: &Service) -> Result<Connection, EnvError> {
    let last = service.last_error();
    connect_to(
        Engine::Podman,
        kind,
        &service.endpoint(),
        &move |endpoint: &Endpoint, detail: &str| {
            let mut reason = format!(
                "podman's API service does not answer on {}: {detail}",
                endpoint.describe()
            );
            if !last.is_empty() {
                reason.push_str(&format!(" (podman: {last})"));
            }
            (reason, FIX_SERVICE.into())
        },
    )
}

/// The podman environment: the docker backend on a service of its own.
pub struct Podman {
    /// Dropped before the service it talks to.
    docker: Docker,
    service: Service,
}

impl Podman {
    /// Checks the host, starts the API service and connects to it.
    pub fn new(kind: EnvKind, host: &HostFacts, options: &EnvOptions) -> Result<Podman, EnvError> {
        let unavailable = |reason: String, fix: &str| EnvError::Unavailable {
            env: kind.name().into(),
            reason,
            fix: fix.into(),
        };
        let podman = which("podman").ok_or_else(|| {
            unavailable(
                "podman not installed (no podman on PATH)".into(),
                FIX_INSTALL,
            )
        })?;
        if !host.root {
            return Err(unavailable(
                "rootful podman needs root (isobench's cgroups are cgroup v1 as root)".into(),
                "run isobench as root",
            ));
        }
        if which(service::RUNTIME).is_none() {
            return Err(unavailable(
                format!(
                    "{} not installed (podman runs isobench's containers with it)",
                    service::RUNTIME
                ),
                "apt-get install -y runc",
            ));
        }
        let service =
            Service::start(&podman).map_err(|e| unavailable(e.to_string(), FIX_SERVICE))?;
        let conn = connect(kind, &service)?;
        let defaults = ContainerDefaults {
            runtime: None,
            ulimits: service.ulimits(),
        };
        Ok(Podman {
            docker: Docker::on_engine(kind, conn, defaults, options),
            service,
        })
    }

    /// The socket of the environment's API service.
    pub fn socket(&self) -> PathBuf {
        self.service.socket().to_path_buf()
    }

    /// The environment on the docker backend (images, leftovers).
    pub fn docker(&self) -> &Docker {
        &self.docker
    }
}

impl Environment for Podman {
    fn kind(&self) -> EnvKind {
        self.docker.kind()
    }

    fn info(&self) -> EnvironmentInfo {
        let mut info = self.docker.info();
        info.notes.push(format!(
            "podman's Docker-compatible API service of the run's own ({}); OCI runtime {}; cgroupfs; conmon runs in the run's cgroup and is metered with the container",
            self.service.socket().display(),
            service::RUNTIME
        ));
        info
    }

    fn prepare(&mut self, payload: &AgentPayload) -> Result<Prepared, EnvError> {
        self.docker.prepare(payload)
    }

    fn assets_path_inside(&self) -> PathBuf {
        self.docker.assets_path_inside()
    }

    fn payload_view(&self) -> PayloadView {
        self.docker.payload_view()
    }

    fn launch(&mut self, spec: &LaunchSpec) -> Result<Box<dyn Instance>, EnvError> {
        self.docker.launch(spec)
    }

    fn teardown(&mut self) -> Result<(), EnvError> {
        let docker = self.docker.teardown();
        let service = self.service.stop();
        docker.and(service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extra_names_its_script() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        assert!(root.join(PODMAN.script).is_file(), "no {}", PODMAN.script);
        assert_eq!(extras(EnvKind::Podman).len(), 1);
        assert!(FIX_INSTALL.contains("isobench setup --env podman"));
    }

    #[test]
    fn without_root_it_says_so() {
        let host = HostFacts {
            root: false,
            ..HostFacts::probe()
        };
        let availability = detect(EnvKind::Podman, &host, &EnvOptions::default());
        assert!(!availability.available);
        if which("podman").is_some() {
            assert!(
                availability.reason.contains("needs root"),
                "{availability:?}"
            );
        } else {
            assert!(
                availability.reason.contains("podman not installed")
                    && availability.fix.contains("isobench setup --env podman"),
                "{availability:?}"
            );
        }
    }
}
