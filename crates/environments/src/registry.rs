//! The backends, as a table: one [`Backend`] entry per environment kind
//! says what it is, what it can do, whether this host can run it, how to
//! build it and how to remove what its dead runs left. Everything else asks
//! the table ([`detect`], [`build`], [`capabilities`], [`clean_leftovers`])
//! instead of matching on [`EnvKind`].

use crate::{Capabilities, EnvError, EnvKind, Environment, Extra};

pub use crate::host::{
    probe_kvm, version_line, which, Availability, EnvOptions, HostFacts, KvmKind,
};

/// What removing a backend's leftovers did: one line per thing removed,
/// and what could not be removed (best effort: one failure does not stop
/// the rest).
#[derive(Debug, Default)]
pub struct Swept {
    /// One line per thing removed (`deleted runc container isobench-...`).
    pub removed: Vec<String>,
    /// What could not be removed.
    pub failed: Vec<EnvError>,
}

impl Swept {
    /// Adds another sweep's lines and failures.
    pub fn extend(&mut self, other: Swept) {
        self.removed.extend(other.removed);
        self.failed.extend(other.failed);
    }

    /// Records one step: its line on success, its error otherwise.
    pub fn record(&mut self, outcome: Result<String, EnvError>) {
        match outcome {
            Ok(line) => self.removed.push(line),
            Err(e) => self.failed.push(e),
        }
    }
}

/// Probes whether a kind can run on this host with these options.
pub type DetectFn = fn(EnvKind, &HostFacts, &EnvOptions) -> Availability;

/// Builds the environment of a kind.
pub type BuildFn = fn(EnvKind, &EnvOptions) -> Result<Box<dyn Environment>, EnvError>;

/// Removes what runs of a kind whose isobench process is gone left on the
/// host (containers, cgroups, mounts; resource names carry the run id, see
/// [`crate::run_id`]). Work directories and the processes named in them
/// are the harness's.
pub type CleanFn = fn(EnvKind, &EnvOptions) -> Swept;

/// What a kind uses that the repository's scripts install on demand.
pub type ExtrasFn = fn(EnvKind) -> &'static [Extra];

/// One backend: everything the rest of the tool asks about a kind.
#[derive(Debug, Clone, Copy)]
pub struct Backend {
    /// The kind (its name is [`EnvKind::name`]).
    pub kind: EnvKind,
    /// One-line description for `doctor` and reports.
    pub description: &'static str,
    /// What it can do.
    pub capabilities: Capabilities,
    /// Whether this host can run it, with these options.
    pub detect: DetectFn,
    /// Builds it.
    pub build: BuildFn,
    /// Removes its dead runs' leftovers.
    pub clean_leftovers: CleanFn,
    /// What it uses that `isobench setup --env` installs on demand.
    pub extras: ExtrasFn,
}

impl Backend {
    /// An entry (in a backend module's `backend` function).
    pub const fn new(
        kind: EnvKind,
        description: &'static str,
        capabilities: Capabilities,
        detect: DetectFn,
        build: BuildFn,
        clean_leftovers: CleanFn,
        extras: ExtrasFn,
    ) -> Self {
        Backend {
            kind,
            description,
            capabilities,
            detect,
            build,
            clean_leftovers,
            extras,
        }
    }
}

/// The entry of a backend module: its [`Capabilities`] (`CAPABILITIES`)
/// and its `detect`, `build`, `clean_leftovers` and `extras` functions.
macro_rules! backend {
    ($kind:expr, $description:expr, $module:path) => {{
        use $module as m;
        Backend::new(
            $kind,
            $description,
            m::CAPABILITIES,
            m::detect,
            m::build,
            m::clean_leftovers,
            m::extras,
        )
    }};
}

/// Every backend, in [`EnvKind::ALL`]'s order: one line each. The backend's
/// module says what it can do and how it detects, builds and cleans up;
/// this table only lists them.
pub const BACKENDS: [Backend; EnvKind::ALL.len()] = [
    backend!(EnvKind::Native, "host process (baseline)", crate::native),
    backend!(
        EnvKind::Docker,
        "Docker Engine container (runc)",
        crate::docker
    ),
    backend!(
        EnvKind::Podman,
        "podman container (runc) through its Docker-compatible API",
        crate::podman
    ),
    backend!(EnvKind::OciRunc, "runc on an OCI bundle", crate::oci),
    backend!(EnvKind::OciCrun, "crun on an OCI bundle", crate::oci),
    backend!(
        EnvKind::OciYouki,
        "youki (Rust OCI runtime) on an OCI bundle",
        crate::oci
    ),
    backend!(EnvKind::Gvisor, "gVisor runsc sandbox", crate::oci),
    backend!(
        EnvKind::Kata,
        "Kata Containers (Docker runtime)",
        crate::docker
    ),
    backend!(
        EnvKind::Firecracker,
        "Firecracker microVM",
        crate::firecracker
    ),
    backend!(EnvKind::QemuMicrovm, "QEMU microvm machine", crate::qemu),
    backend!(EnvKind::QemuQ35, "QEMU q35 full VM", crate::qemu),
];

/// The entry of `kind`.
pub fn backend(kind: EnvKind) -> &'static Backend {
    // BACKENDS follows EnvKind::ALL's order (checked by a test).
    &BACKENDS[kind.index()]
}

/// Probes whether `kind` can run on this host with these options (the
/// binaries, kernel and cache directory `build` would use).
pub fn detect(kind: EnvKind, host: &HostFacts, options: &EnvOptions) -> Availability {
    (backend(kind).detect)(kind, host, options)
}

/// What `kind` can do.
pub fn capabilities(kind: EnvKind) -> Capabilities {
    backend(kind).capabilities
}

/// Builds the environment for `kind`.
pub fn build(kind: EnvKind, options: &EnvOptions) -> Result<Box<dyn Environment>, EnvError> {
    (backend(kind).build)(kind, options)
}

/// Why instances of `kind` cannot be snapshotted and restored on this host
/// (one sentence with the fix), or `None` when they can: the one answer
/// `isobench doctor`, `isobench cold-start --from snapshot` and the
/// backends give ([`Environment::snapshot_refusal`]).
pub fn snapshot_refusal(kind: EnvKind) -> Option<String> {
    match kind {
        EnvKind::Gvisor | EnvKind::QemuMicrovm | EnvKind::QemuQ35 => None,
        EnvKind::Native => {
            Some("native has no snapshot: a host process can only boot (start it again)".into())
        }
        EnvKind::Docker | EnvKind::OciRunc | EnvKind::OciCrun => crate::oci::criu_refusal(kind),
        EnvKind::Firecracker => crate::firecracker::snapshot_refusal(),
        EnvKind::Podman | EnvKind::OciYouki | EnvKind::Kata => Some(format!(
            "{kind} cannot snapshot instances in this isobench (no checkpoint/restore path for it yet); use --from boot"
        )),
    }
}

/// What `kind` uses that the repository's scripts install on demand
/// (`isobench setup --env`).
pub fn extras(kind: EnvKind) -> &'static [Extra] {
    (backend(kind).extras)(kind)
}

/// Asks every backend, in turn, to remove what runs whose isobench process
/// is gone left behind (`isobench clean`); one sweep per backend.
pub fn clean_leftovers(options: &EnvOptions) -> Vec<(EnvKind, Swept)> {
    BACKENDS
        .iter()
        .map(|backend| {
            (
                backend.kind,
                (backend.clean_leftovers)(backend.kind, options),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_kind_in_order() {
        for (kind, entry) in EnvKind::ALL.iter().zip(&BACKENDS) {
            assert_eq!(*kind, entry.kind);
            assert_eq!(backend(*kind).kind, *kind);
            assert!(!entry.description.is_empty());
        }
    }

    #[test]
    fn capabilities_come_from_the_entries() {
        assert!(capabilities(EnvKind::Native).host_network);
        assert!(capabilities(EnvKind::OciYouki).input == crate::InputChannel::Stdin);
        assert!(capabilities(EnvKind::QemuQ35).guest_kernel);
        assert!(!capabilities(EnvKind::Docker).guest_kernel);
        assert_eq!(
            EnvKind::OciYouki.description(),
            "youki (Rust OCI runtime) on an OCI bundle"
        );
    }
}
