//! The list of environments: one place that knows every name.

use std::fmt;
use std::str::FromStr;

/// Every isolation environment isobench knows, in the order results list them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum EnvKind {
    /// The agent as a plain host process (the baseline).
    Native,
    /// Docker Engine with its default runtime (runc).
    Docker,
    /// Rootful podman (runc) through its Docker-compatible API.
    Podman,
    /// runc driven directly on an OCI bundle.
    OciRunc,
    /// crun driven directly on an OCI bundle.
    OciCrun,
    /// youki (the Rust OCI runtime) driven directly on an OCI bundle.
    OciYouki,
    /// gVisor (runsc) on an OCI bundle.
    Gvisor,
    /// Kata Containers through Docker's runtime option.
    Kata,
    /// A Firecracker microVM.
    Firecracker,
    /// QEMU's `microvm` machine type.
    QemuMicrovm,
    /// QEMU's `q35` machine type (a classic full VM).
    QemuQ35,
}

impl EnvKind {
    /// All kinds, in display order.
    pub const ALL: [EnvKind; 11] = [
        EnvKind::Native,
        EnvKind::Docker,
        EnvKind::Podman,
        EnvKind::OciRunc,
        EnvKind::OciCrun,
        EnvKind::OciYouki,
        EnvKind::Gvisor,
        EnvKind::Kata,
        EnvKind::Firecracker,
        EnvKind::QemuMicrovm,
        EnvKind::QemuQ35,
    ];

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            EnvKind::Native => "native",
            EnvKind::Docker => "docker",
            EnvKind::Podman => "podman",
            EnvKind::OciRunc => "oci-runc",
            EnvKind::OciCrun => "oci-crun",
            EnvKind::OciYouki => "oci-youki",
            EnvKind::Gvisor => "gvisor",
            EnvKind::Kata => "kata",
            EnvKind::Firecracker => "firecracker",
            EnvKind::QemuMicrovm => "qemu-microvm",
            EnvKind::QemuQ35 => "qemu-q35",
        }
    }

    /// One-line description for `doctor` and reports (its registry entry's).
    pub fn description(self) -> &'static str {
        crate::registry::backend(self).description
    }

    /// True for environments that boot their own guest kernel.
    pub fn is_vm(self) -> bool {
        crate::registry::capabilities(self).guest_kernel
    }

    /// Position in [`EnvKind::ALL`] (and in [`crate::registry::BACKENDS`]).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Names of all kinds, comma separated (for error messages).
    pub fn all_names() -> String {
        Self::ALL
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for EnvKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for an environment name that does not exist.
#[derive(Debug, thiserror::Error)]
#[error("unknown environment `{0}`; known environments: {known}", known = EnvKind::all_names())]
pub struct UnknownEnv(pub String);

impl FromStr for EnvKind {
    type Err = UnknownEnv;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        EnvKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownEnv(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (index, kind) in EnvKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.name().parse::<EnvKind>().unwrap(), kind);
            assert_eq!(kind.index(), index);
        }
        let err = "lxc".parse::<EnvKind>().unwrap_err().to_string();
        assert!(
            err.contains("unknown environment `lxc`") && err.contains("qemu-q35"),
            "{err}"
        );
    }
}
