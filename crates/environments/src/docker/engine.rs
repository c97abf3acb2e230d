//! Which daemon answers the Docker Engine API, and what differs between
//! them: Docker's dockerd, or podman's Docker-compatible API service
//! ([`crate::podman`]). Everything else (images built from a tar context,
//! containers attached before they start, cgroup parents, networks, clean-up
//! by label) is the same code for both.

use bollard::models::ResourcesUlimits;

use crate::EnvError;

/// The daemon behind the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Docker Engine (`docker`, `kata`).
    Dockerd,
    /// podman's Docker-compatible API (`podman system service`).
    Podman,
}

impl Engine {
    /// The name errors and clean-up lines start with (`docker: ...`,
    /// `removed podman container ...`).
    pub fn label(self) -> &'static str {
        match self {
            Engine::Dockerd => "docker",
            Engine::Podman => "podman",
        }
    }

    /// The daemon's name in versions and notes (`dockerd 20.10.24`, `podman 4.3.1`).
    pub fn daemon(self) -> &'static str {
        match self {
            Engine::Dockerd => "dockerd",
            Engine::Podman => "podman",
        }
    }

    /// The directory under the cache where the lock files of this engine's
    /// images live (each engine has its own image store).
    pub fn image_locks_dir(self) -> &'static str {
        match self {
            Engine::Dockerd => "docker-images",
            Engine::Podman => "podman-images",
        }
    }

    /// An error of this engine's API.
    pub fn error(self, message: impl Into<String>) -> EnvError {
        EnvError::Engine {
            engine: self.label(),
            message: message.into(),
        }
    }

    /// An error of this engine's API while doing `what`.
    pub fn err(self, what: &str, e: bollard::errors::Error) -> EnvError {
        self.error(format!("{what}: {e}"))
    }
}

/// A repository tag as the engine lists it, without the registry part
/// podman adds to short names (`docker.io/library/isobench-agent:ab` and
/// `localhost/isobench-cmd:cd` are `isobench-agent:ab` and `isobench-cmd:cd`;
/// dockerd lists short names as given).
pub fn short_tag(tag: &str) -> &str {
    ["docker.io/library/", "localhost/"]
        .iter()
        .find_map(|prefix| tag.strip_prefix(prefix))
        .unwrap_or(tag)
}

/// What every container of an environment is created with beyond the
/// launch's own settings.
#[derive(Debug, Clone, Default)]
pub struct ContainerDefaults {
    /// The OCI runtime (`None`: the daemon's default).
    pub runtime: Option<String>,
    /// Resource limits (`ulimit`s) to set; empty: the engine's defaults.
    /// podman sets `nofile` and `nproc` to 1048576 / 4194304 for rootful
    /// containers by default, which a host without `CAP_SYS_RESOURCE`
    /// refuses (`setrlimit RLIMIT_NOFILE: Operation not permitted`); it gets
    /// the limits its service process has, as dockerd's containers do.
    pub ulimits: Vec<ResourcesUlimits>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_lose_the_registry_podman_adds() {
        assert_eq!(
            short_tag("docker.io/library/isobench-agent:00ff"),
            "isobench-agent:00ff"
        );
        assert_eq!(short_tag("localhost/isobench-cmd:11"), "isobench-cmd:11");
        assert_eq!(short_tag("isobench-agent:00ff"), "isobench-agent:00ff");
        assert_eq!(short_tag("quay.io/x/y:1"), "quay.io/x/y:1");
        let e = Engine::Podman.error("creating container x: 500");
        assert_eq!(e.to_string(), "podman: creating container x: 500");
    }
}
