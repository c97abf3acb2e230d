//! Isolation environments behind one trait.
//!
//! The experiment's path through this crate:
//! [`registry`] says which environments exist and whether this host can run
//! them ([`Availability`]) → an [`Environment`] is built for one kind →
//! [`Environment::prepare`] builds its image / bundle / guest image once
//! (cached) → [`Environment::launch`] starts one fresh instance running the
//! agent → the [`Instance`] streams the agent's output lines, says what to
//! meter ([`MeterTarget`]) and is stopped and cleaned up by
//! [`Instance::stop`] (and on drop).
//!
//! Every backend runs the *same* agent binary and asset directory
//! ([`AgentPayload`]), each under its own paths ([`PayloadView`]); their
//! sha256 go into the results. With `--workload command` the payload also
//! names the user's root filesystem ([`user_root`], prepared in the cache
//! by content) and every backend runs the agent's `exec` in it: native
//! chroots, containers take it as their root, VMs mount it as a read-only
//! ext4 drive.
//!
//! Adding a backend: a module of its own implementing [`Environment`] and
//! [`Instance`] (composing [`instance::StopGuard`], [`lines::Deadline`] and
//! [`instance::prepared`]) and declaring its `CAPABILITIES`, `detect`,
//! `build` and `clean_leftovers` (what its dead runs left), an [`EnvKind`]
//! variant, and one line in [`registry::BACKENDS`]. An OCI runtime that takes
//! runc's command line is only an entry in [`oci::runtime::RUNTIMES`] and
//! that line (`oci-youki` is).

pub mod cache_lock;
pub mod capabilities;
pub mod cgroup;
pub mod containers;
pub mod docker;
pub mod error;
pub mod extras;
pub mod firecracker;
pub mod host;
pub mod instance;
pub mod kind;
pub mod lines;
pub mod native;
pub mod oci;
pub mod payload;
pub mod podman;
pub mod process;
pub mod qemu;
pub mod registry;
pub mod run_id;
pub mod user_root;
pub mod vhost_user;
pub mod vm;
pub mod vsock;

pub use capabilities::{Capabilities, InputChannel, Metering};
pub use error::EnvError;
pub use extras::Extra;
pub use host::{Availability, EnvOptions, HostFacts, KvmKind};
pub use kind::EnvKind;
pub use payload::{AgentPayload, EnvValue, PayloadView, UserRootRef};
pub use registry::{
    build, capabilities, clean_leftovers, detect, extras, snapshot_refusal, Backend, Swept,
};
pub use run_id::{RunId, RunLabel};

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use isobench_records::AgentInvocation;

/// Resource limits applied to an instance, the same for every environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// Number of CPUs (container CPU quota, VM vCPUs). `None`: unlimited / backend default.
    pub vcpus: Option<u32>,
    /// Memory in MiB (container limit, VM RAM). `None`: unlimited / backend default.
    pub memory_mib: Option<u64>,
    /// Host CPUs to pin to (`cpuset`), if any.
    pub cpuset: Option<String>,
}

/// What to launch: the agent's invocation with paths as seen inside the environment.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// What the agent is asked to do. Asset paths refer to
    /// [`AgentPayload::assets_dir`] as mounted inside, which is given by
    /// [`Environment::assets_path_inside`]; the environment adds what only
    /// it knows (a chroot, a VM init's modules and halt, a root device)
    /// and writes the argv with [`AgentInvocation::to_args`].
    pub invocation: AgentInvocation,
    /// Resource limits.
    pub limits: Limits,
    /// Time allowed from launch to the end of the instance before it is killed.
    pub timeout: Duration,
    /// This launch's id; every container, cgroup and socket it creates is named after it.
    pub run_id: RunId,
    /// Keep a pipe to the agent's stdin open so the host can write to it
    /// with [`Instance::send`] (the `serve` command's stdio transport).
    /// False: the agent's stdin is empty (`/dev/null`).
    pub interactive: bool,
    /// Give the guest a vsock device the host can reach
    /// ([`Instance::vsock`]); VM environments only.
    pub vsock: bool,
    /// Give the instance a network the host can reach it on
    /// ([`Instance::network_address`]): native shares the host's, docker
    /// gets a bridge network of the run's own. False: no network.
    pub network: bool,
}

/// What [`Environment::prepare`] built, for the results' metadata.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Prepared {
    /// Size in bytes of the image / bundle / guest image, if the backend has one.
    pub image_bytes: Option<u64>,
    /// Identifier of the image (docker image id, bundle path, initramfs sha256).
    pub image_id: Option<String>,
    /// Whether the image came from the cache.
    pub cached: bool,
    /// Seconds spent preparing.
    pub prepare_seconds: f64,
}

/// Static facts about an environment, recorded with its results.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct EnvironmentInfo {
    /// Environment name as given to `--env`.
    pub name: String,
    /// Runtime / VMM version string (e.g. `runc 1.1.5`, `QEMU 7.2.0`).
    pub runtime_version: Option<String>,
    /// Acceleration (`kvm`, `tcg`) for VMs.
    pub accel: Option<String>,
    /// True when figures come from software emulation and must not be compared with hardware results.
    pub emulated: bool,
    /// Free-form notes (e.g. kernel used).
    pub notes: Vec<String>,
}

/// What the harness samples to charge host CPU and memory to an instance.
#[derive(Debug, Clone, PartialEq)]
pub enum MeterTarget {
    /// A cgroup v1 hierarchy: paths of the `cpuacct` and `memory` controllers' directories.
    CgroupV1 {
        /// Directory holding `cpuacct.usage`.
        cpuacct: PathBuf,
        /// Directory holding `memory.usage_in_bytes` / `memory.max_usage_in_bytes`.
        memory: PathBuf,
    },
    /// A process and all its descendants (utime + stime, summed RSS).
    ProcessTree(i32),
    /// Several process trees charged together (a VMM and its device
    /// daemons); the first is the main one.
    ProcessTrees(Vec<i32>),
    /// Nothing can be metered (the reason is recorded).
    Unavailable(String),
}

impl MeterTarget {
    /// The processes whose trees are metered (none for a cgroup).
    pub fn root_pids(&self) -> Vec<i32> {
        match self {
            MeterTarget::ProcessTree(pid) => vec![*pid],
            MeterTarget::ProcessTrees(pids) => pids.clone(),
            MeterTarget::CgroupV1 { .. } | MeterTarget::Unavailable(_) => Vec::new(),
        }
    }
}

/// How an instance ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExitInfo {
    /// Exit code, when the backend reports one.
    pub code: Option<i64>,
    /// True when isobench had to kill the instance (timeout, early stop).
    pub killed: bool,
    /// Final counters read at exit (cgroup totals survive the processes).
    pub final_cpu_seconds: Option<f64>,
    /// Peak memory the backend reported at exit, in bytes.
    pub final_peak_memory_bytes: Option<u64>,
}

/// One isolation technology. Implementations: one module per backend.
pub trait Environment: Send {
    /// Which environment this is.
    fn kind(&self) -> EnvKind;

    /// What it can do (its registry entry's answers).
    fn capabilities(&self) -> Capabilities {
        registry::capabilities(self.kind())
    }

    /// Facts recorded with the results (versions, acceleration, emulation).
    fn info(&self) -> EnvironmentInfo;

    /// Builds what launching needs (image, bundle, guest image), cached
    /// across runs where the inputs did not change.
    fn prepare(&mut self, payload: &AgentPayload) -> Result<Prepared, EnvError>;

    /// Where the asset directory appears inside the environment (the agent's `--assets`).
    fn assets_path_inside(&self) -> PathBuf;

    /// Where this environment shows the payload to the agent (host paths,
    /// or its own root's): how payload paths in the agent's environment
    /// variables are resolved.
    fn payload_view(&self) -> PayloadView;

    /// Starts one fresh instance running the agent.
    fn launch(&mut self, spec: &LaunchSpec) -> Result<Box<dyn Instance>, EnvError>;

    /// Why instances of this environment cannot be snapshotted and
    /// restored here, or `None` when [`Instance::checkpoint`] and
    /// [`Environment::restore`] work (one sentence with the fix).
    fn snapshot_refusal(&self) -> Option<String> {
        registry::snapshot_refusal(self.kind())
    }

    /// Starts one instance from the snapshot in `image` (see
    /// [`Instance::checkpoint`]); `spec` names it and gives its limits
    /// and channels (its invocation is the one the snapshot was taken of).
    fn restore(
        &mut self,
        spec: &LaunchSpec,
        image: &std::path::Path,
    ) -> Result<Box<dyn Instance>, EnvError> {
        let _ = (spec, image);
        Err(EnvError::Unsupported {
            what: format!("snapshots of {}", self.kind()),
            fix: "use --from boot for it".into(),
        })
    }

    /// Removes everything [`Environment::prepare`] created that is not
    /// meant to be cached (called once at the end of an experiment).
    fn teardown(&mut self) -> Result<(), EnvError> {
        Ok(())
    }
}

/// A running instance of an environment.
pub trait Instance: Send {
    /// When the launch request was issued (before spawn / API call).
    fn launched_at(&self) -> Instant;

    /// The next line of agent output. `Ok(None)` at end of stream.
    /// Fails with [`EnvError::Timeout`] when nothing arrives within
    /// `timeout` (waiting again is allowed), and with
    /// [`EnvError::RunDeadline`] when [`LaunchSpec::timeout`] has passed
    /// since launch (the instance is then stopped).
    fn next_line(&mut self, timeout: Duration) -> Result<Option<String>, EnvError>;

    /// When the guest itself was started, for VMMs that start it separately
    /// from the process (Firecracker's `InstanceStart` call); `None` when
    /// that is the launch itself.
    fn guest_started_at(&self) -> Option<Instant> {
        None
    }

    /// What to meter for host CPU and memory.
    fn meter_target(&self) -> MeterTarget;

    /// The host processes this instance owns, as roots (each counts with
    /// its descendants): the runtime or VMM process the backend started and
    /// the processes its meter target names. A cgroup's own processes are
    /// read from the cgroup by whoever needs them. Used to account the
    /// host memory an instance really costs (`isobench density`). Default:
    /// the meter target's root processes.
    fn host_processes(&self) -> Vec<i32> {
        self.meter_target().root_pids()
    }

    /// Writes `bytes` to the agent's input (its stdin, or the serial port
    /// the agent serves on), for instances launched with
    /// [`LaunchSpec::interactive`]. Backends without an input channel
    /// answer [`EnvError::Unsupported`].
    fn send(&mut self, bytes: &[u8]) -> Result<(), EnvError> {
        let _ = bytes;
        Err(EnvError::Unsupported {
            what: "sending input to the agent".into(),
            fix: "use an environment whose capabilities have an input channel (native, the containers, the qemu VMs) or a TCP transport".into(),
        })
    }

    /// Closes the agent's input (end of stream: a serving agent exits
    /// cleanly). Default: nothing to close.
    fn close_input(&mut self) -> Result<(), EnvError> {
        Ok(())
    }

    /// The address the host reaches the instance's listening sockets at,
    /// for instances launched with [`LaunchSpec::network`]: loopback for
    /// native, the container's address on its bridge for docker. `None`:
    /// no network the host can reach.
    fn network_address(&self) -> Option<std::net::IpAddr> {
        None
    }

    /// Where the host reaches the guest's vsock ports, for VM instances
    /// launched with [`LaunchSpec::vsock`]; `None` otherwise.
    fn vsock(&self) -> Option<vsock::VsockEndpoint> {
        None
    }

    /// The last meaningful line the instance wrote outside the record
    /// stream (the runtime's or VMM's error, the agent's stderr), for the
    /// message of a run that ended early. `None` when there is none.
    fn diagnostics(&self) -> Option<String> {
        None
    }

    /// Saves the state of this running instance into the directory
    /// `image` (created empty by the caller), for
    /// [`Environment::restore`]; the instance ends or stays paused (stop
    /// it afterwards). Default: [`EnvError::Unsupported`].
    fn checkpoint(&mut self, image: &std::path::Path) -> Result<(), EnvError> {
        let _ = image;
        Err(EnvError::Unsupported {
            what: "snapshots of this environment".into(),
            fix: "use --from boot for it".into(),
        })
    }

    /// Stops the instance (killing it if still running) and removes every
    /// resource it created. Idempotent; also called on drop.
    fn stop(&mut self) -> Result<ExitInfo, EnvError>;
}
