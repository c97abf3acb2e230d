//! The OCI runtimes isobench drives directly on its bundles, as a table: the
//! program, its fixed flags, how to install it, and what it needs from the
//! host beyond "installed, root, cgroup v1". A new runtime that takes runc's
//! command line (`--root DIR run --bundle DIR ID`, `kill ID KILL`, `delete
//! --force ID`) is one entry here plus one in [`crate::registry::BACKENDS`].

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::registry::which;
use crate::{EnvKind, HostFacts};

use super::hugetlb::{self, HybridState};

/// Directory under which each runtime keeps its container state (`--root`).
pub const STATE_ROOT: &str = "/run/isobench";

/// What a runtime's host check found.
#[derive(Debug, Clone, PartialEq)]
pub enum HostCheck {
    /// It can run here; an optional note for `doctor` (e.g. a workaround isobench applies).
    Ready(Option<String>),
    /// It cannot: why, and what to do.
    Refused {
        /// Why, in one line.
        reason: String,
        /// What the user can do.
        fix: String,
    },
}

/// One OCI runtime.
#[derive(Debug)]
pub struct OciRuntime {
    /// The environment it backs.
    pub kind: EnvKind,
    /// Program name, looked up on `PATH`.
    pub program: &'static str,
    /// Flags put before every subcommand (after `--root`).
    pub global_args: &'static [&'static str],
    /// Notes recorded with the results.
    pub notes: &'static [&'static str],
    /// Why it is missing and how to get it (`doctor`'s answer when it is not on `PATH`).
    pub missing: fn(&OciRuntime) -> (String, String),
    /// What the host must offer this runtime, given the binary, its version line and the host.
    pub check: fn(&Path, &str, &HostFacts) -> HostCheck,
    /// It needs crun's hybrid-cgroup workaround while it runs ([`hugetlb`]).
    pub hugetlb_workaround: bool,
}

/// The runtimes, one per OCI environment kind.
pub const RUNTIMES: [OciRuntime; 4] = [
    OciRuntime {
        kind: EnvKind::OciRunc,
        program: "runc",
        global_args: &[],
        notes: &[],
        missing: apt_package,
        check: no_check,
        hugetlb_workaround: false,
    },
    OciRuntime {
        kind: EnvKind::OciCrun,
        program: "crun",
        global_args: &[],
        notes: &[],
        missing: apt_package,
        check: crun_check,
        hugetlb_workaround: true,
    },
    OciRuntime {
        kind: EnvKind::OciYouki,
        program: "youki",
        global_args: &[],
        notes: &[
            "youki 0.7 (Rust), built with cgroup v1 + v2 and seccomp (scripts/install-youki.sh)",
        ],
        missing: youki_missing,
        check: youki_check,
        hugetlb_workaround: false,
    },
    OciRuntime {
        kind: EnvKind::Gvisor,
        // No network stack at all (the agent needs none); ptrace platform:
        // the kvm platform hangs on these machines.
        program: "runsc",
        global_args: &["--network=none", "--platform=ptrace"],
        notes: &["gVisor platform ptrace (the kvm platform hangs on kvm-pvm hosts)"],
        missing: apt_package,
        check: no_check,
        hugetlb_workaround: false,
    },
];

/// The runtime of `kind`, if it is an OCI environment.
pub fn runtime_of(kind: EnvKind) -> Option<&'static OciRuntime> {
    RUNTIMES.iter().find(|r| r.kind == kind)
}

impl OciRuntime {
    /// Where isobench keeps this runtime's container state (`--root`).
    pub fn state_root(&self) -> PathBuf {
        Path::new(STATE_ROOT).join(self.program)
    }

    /// The binary on `PATH`.
    pub fn find(&self) -> Option<PathBuf> {
        which(self.program)
    }

    /// `runc 1.1.5+ds1` / `crun 1.8.1` / `runsc 0.0~20221219.0` / `youki 0.7.0`
    /// from `--version`'s first line.
    pub fn version(&self, binary: &Path) -> String {
        Command::new(binary)
            .arg("--version")
            .output()
            .ok()
            .and_then(|out| {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let first = text.lines().next()?.trim().to_string();
                Some(first.replace(" version: ", " ").replace(" version ", " "))
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| format!("{} (version unknown)", self.program))
    }
}

fn apt_package(runtime: &OciRuntime) -> (String, String) {
    (
        format!("{} not installed (not on PATH)", runtime.program),
        format!("apt-get install -y {}", runtime.program),
    )
}

fn no_check(_binary: &Path, _version: &str, _host: &HostFacts) -> HostCheck {
    HostCheck::Ready(None)
}

/// crun refuses hybrid cgroups while cgroup2 owns a controller.
fn crun_check(_binary: &Path, version: &str, _host: &HostFacts) -> HostCheck {
    match hugetlb::hybrid_state() {
        HybridState::Fine => HostCheck::Ready(None),
        HybridState::NeedsHugetlbMount => HostCheck::Ready(Some(format!(
            "hybrid cgroups: crun refuses them while cgroup2 owns hugetlb, so isobench mounts \
             hugetlb as a cgroup v1 hierarchy at {} while crun runs and unmounts it afterwards",
            hugetlb::HUGETLB_MOUNT
        ))),
        HybridState::Unfixable(controllers) => HostCheck::Refused {
            reason: format!(
                "{version} refuses hybrid cgroups (\"cgroups in hybrid mode not supported\"); cgroup2 owns {}",
                controllers.join(", ")
            ),
            fix: "move those controllers to cgroup v1 hierarchies or use oci-runc".into(),
        },
    }
}

/// How `scripts/install-youki.sh` builds youki.
const YOUKI_BUILD: &str =
    "cargo install youki --version 0.7.0 --locked --no-default-features --features v1,v2,seccomp";

/// youki is not in Debian: it is built from the crates registry, which
/// needs cargo, pkg-config and libseccomp's headers.
fn youki_missing(runtime: &OciRuntime) -> (String, String) {
    let mut cannot_build = Vec::new();
    if which("cargo").is_none() {
        cannot_build.push("cargo is not on PATH (install Rust with rustup)");
    }
    let seccomp = Command::new("pkg-config")
        .args(["--exists", "libseccomp"])
        .status();
    match seccomp {
        Err(_) => cannot_build.push("pkg-config is not installed (apt-get install -y pkg-config)"),
        Ok(status) if !status.success() => cannot_build
            .push("libseccomp's headers are missing (apt-get install -y libseccomp-dev)"),
        Ok(_) => {}
    }
    let mut reason = format!(
        "{} not installed (not on PATH; it is not packaged in Debian, isobench builds it from the crates registry)",
        runtime.program
    );
    if !cannot_build.is_empty() {
        reason.push_str(&format!(
            "; it cannot be built here yet: {}",
            cannot_build.join("; ")
        ));
    }
    (
        reason,
        format!("run `isobench setup --env oci-youki` as root (scripts/install-youki.sh: installs libseccomp-dev and pkg-config, then {YOUKI_BUILD}; ~3-4 min)"),
    )
}

/// youki's default build lacks cgroup v1 and then fails on v1 / hybrid
/// hosts ("v1 cgroup feature is required, but was not enabled during
/// compile time"): `youki features` says which cgroup versions it has.
fn youki_check(binary: &Path, version: &str, host: &HostFacts) -> HostCheck {
    if !host.cgroup_v1 {
        return HostCheck::Ready(None);
    }
    match youki_cgroup_v1(binary) {
        Ok(true) => HostCheck::Ready(None),
        Ok(false) => HostCheck::Refused {
            reason: format!(
                "{version} was built without cgroup v1 support (youki's default features), and this host's cgroups are v1 / hybrid: \
                 it would fail with \"v1 cgroup feature is required, but was not enabled during compile time\""
            ),
            fix: format!("rebuild it with scripts/install-youki.sh ({YOUKI_BUILD} --force)"),
        },
        Err(why) => HostCheck::Refused {
            reason: format!("{version}: `{} features` failed: {why}", binary.display()),
            fix: format!("reinstall it with scripts/install-youki.sh ({YOUKI_BUILD} --force)"),
        },
    }
}

/// `linux.cgroup.v1` of `youki features` (the OCI runtime features document).
fn youki_cgroup_v1(binary: &Path) -> Result<bool, String> {
    let out = Command::new(binary)
        .arg("features")
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    cgroup_v1_feature(&out.stdout)
}

/// Reads `linux.cgroup.v1` from an OCI features document.
fn cgroup_v1_feature(json: &[u8]) -> Result<bool, String> {
    #[derive(serde::Deserialize)]
    struct Features {
        linux: Option<Linux>,
    }
    #[derive(serde::Deserialize)]
    struct Linux {
        cgroup: Option<Cgroup>,
    }
    #[derive(serde::Deserialize)]
    struct Cgroup {
        v1: Option<bool>,
    }
    let features: Features =
        serde_json::from_slice(json).map_err(|e| format!("unreadable features document: {e}"))?;
    Ok(features
        .linux
        .and_then(|l| l.cgroup)
        .and_then(|c| c.v1)
        .unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runtime_per_oci_kind() {
        for kind in [
            EnvKind::OciRunc,
            EnvKind::OciCrun,
            EnvKind::OciYouki,
            EnvKind::Gvisor,
        ] {
            assert_eq!(runtime_of(kind).unwrap().kind, kind);
        }
        assert!(runtime_of(EnvKind::Docker).is_none());
        assert_eq!(
            runtime_of(EnvKind::OciYouki).unwrap().state_root(),
            Path::new("/run/isobench/youki")
        );
    }

    #[test]
    fn reads_youkis_cgroup_features() {
        let with = br#"{"ociVersionMin":"1.0.0","linux":{"cgroup":{"v1":true,"v2":true,"systemd":false}}}"#;
        assert_eq!(cgroup_v1_feature(with), Ok(true));
        let without = br#"{"linux":{"cgroup":{"v1":false,"v2":true}}}"#;
        assert_eq!(cgroup_v1_feature(without), Ok(false));
        assert_eq!(cgroup_v1_feature(br#"{"linux":{}}"#), Ok(false));
        assert!(cgroup_v1_feature(b"not json").is_err());
    }

    #[test]
    fn a_missing_youki_says_how_to_build_it() {
        let (reason, fix) = youki_missing(runtime_of(EnvKind::OciYouki).unwrap());
        assert!(reason.contains("youki not installed"), "{reason}");
        assert!(fix.contains("scripts/install-youki.sh"), "{fix}");
        assert!(fix.contains("--features v1,v2,seccomp"), "{fix}");
    }
}
