//! The name of one launch, and of every resource it creates (container,
//! cgroup, socket, VM): `isobench-<pid>-<environment>-<label>`, where
//! `<pid>` is the isobench process that launched it. `isobench clean`
//! reads the PID back to tell a dead run's leftovers from a live run's.

use std::fmt;
use std::str::FromStr;

use crate::EnvKind;

/// Prefix of every run-scoped resource name (and of a run's work directory,
/// `isobench-<pid>`).
pub const PREFIX: &str = "isobench-";

/// What a launch is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunLabel {
    /// Repetition `n` of a batch experiment.
    Repetition(u32),
    /// A serving benchmark's instance.
    Serve,
    /// Start `n` of a cold-start experiment (`isobench cold-start`).
    ColdStart(u32),
    /// Instance `instance` (from 0) of turn `turn` (from 1) of a density
    /// experiment (`isobench density`): the instances of one turn live at once.
    Density {
        /// The turn: one environment at one instance count in one trial.
        turn: u32,
        /// The instance within the turn.
        instance: u32,
    },
    /// An instance of trial `trial` of an interference experiment
    /// (`isobench interference`): `slot` 0 is the victim, `slot` j ≥ 1 the
    /// j-th neighbour started for the level of `level` neighbours.
    Interference {
        /// The trial, from 1.
        trial: u32,
        /// The level (number of neighbours) the neighbour was started for; 0 for the victim.
        level: u32,
        /// 0 for the victim, j ≥ 1 for neighbour j.
        slot: u32,
    },
}

/// One launch: the isobench process, the environment and what it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunId {
    /// PID of the isobench process that launched it.
    pub pid: u32,
    /// The environment.
    pub env: EnvKind,
    /// What the launch is for.
    pub label: RunLabel,
}

impl RunId {
    /// A launch of this process.
    pub fn new(env: EnvKind, label: RunLabel) -> Self {
        RunId {
            pid: std::process::id(),
            env,
            label,
        }
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}-{}-", self.pid, self.env.name())?;
        match self.label {
            RunLabel::Repetition(n) => write!(f, "{n}"),
            RunLabel::Serve => f.write_str("serve"),
            RunLabel::ColdStart(n) => write!(f, "cold{n}"),
            RunLabel::Density { turn, instance } => write!(f, "dens{turn}i{instance}"),
            RunLabel::Interference { trial, slot: 0, .. } => write!(f, "i{trial}v"),
            RunLabel::Interference { trial, level, slot } => write!(f, "i{trial}k{level}n{slot}"),
        }
    }
}

/// A name that is not a run id.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "`{0}` is not an isobench run id (isobench-<pid>-<environment>-<repetition|serve|cold<n>|dens<turn>i<n>|i<trial>v|i<trial>k<level>n<slot>>)"
)]
pub struct NotARunId(pub String);

impl FromStr for RunId {
    type Err = NotARunId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || NotARunId(s.to_string());
        let rest = s.strip_prefix(PREFIX).ok_or_else(bad)?;
        let (pid, rest) = rest.split_once('-').ok_or_else(bad)?;
        let pid: u32 = pid.parse().map_err(|_| bad())?;
        // Environment names contain dashes (`oci-runc`): the label is after the last one.
        let (env, label) = rest.rsplit_once('-').ok_or_else(bad)?;
        let env: EnvKind = env.parse().map_err(|_| bad())?;
        let label = match label {
            "serve" => RunLabel::Serve,
            cold if cold.starts_with("cold") => {
                RunLabel::ColdStart(cold["cold".len()..].parse().map_err(|_| bad())?)
            }
            dens if dens.starts_with("dens") => {
                let (turn, instance) = dens["dens".len()..].split_once('i').ok_or_else(bad)?;
                RunLabel::Density {
                    turn: turn.parse().map_err(|_| bad())?,
                    instance: instance.parse().map_err(|_| bad())?,
                }
            }
            i if i.starts_with('i') => parse_interference(&i[1..]).ok_or_else(bad)?,
            n => RunLabel::Repetition(n.parse().map_err(|_| bad())?),
        };
        Ok(RunId { pid, env, label })
    }
}

/// `<trial>v` (the victim) or `<trial>k<level>n<slot>` (a neighbour).
fn parse_interference(s: &str) -> Option<RunLabel> {
    if let Some(trial) = s.strip_suffix('v') {
        return Some(RunLabel::Interference {
            trial: trial.parse().ok()?,
            level: 0,
            slot: 0,
        });
    }
    let (trial, rest) = s.split_once('k')?;
    let (level, slot) = rest.split_once('n')?;
    let slot: u32 = slot.parse().ok()?;
    (slot > 0).then_some(())?;
    Some(RunLabel::Interference {
        trial: trial.parse().ok()?,
        level: level.parse().ok()?,
        slot,
    })
}

/// The isobench PID a resource name carries (`isobench-<pid>` or
/// `isobench-<pid>-...`, anywhere in the name, e.g. behind a path or another prefix).
pub fn run_pid_of(name: &str) -> Option<u32> {
    name.match_indices(PREFIX).find_map(|(at, prefix)| {
        let rest = &name[at + prefix.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = &rest[digits.len()..];
        let ends = after.is_empty() || after.starts_with('-') || after.starts_with('/');
        (!digits.is_empty() && ends)
            .then(|| digits.parse().ok())
            .flatten()
    })
}

/// True when `name` carries the PID of an isobench process that is gone.
pub fn belongs_to_dead_run(name: &str) -> bool {
    run_pid_of(name).is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// True when `name` is the run id of a launch of `env` whose isobench
/// process is gone: what a backend's clean-up may remove.
pub fn left_by_dead_run(name: &str, env: EnvKind) -> bool {
    name.parse::<RunId>().is_ok_and(|id| id.env == env) && belongs_to_dead_run(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_prefixed_once() {
        for id in [
            RunId {
                pid: 1234,
                env: EnvKind::OciRunc,
                label: RunLabel::Repetition(3),
            },
            RunId {
                pid: 7,
                env: EnvKind::QemuMicrovm,
                label: RunLabel::Serve,
            },
            RunId {
                pid: 9,
                env: EnvKind::Gvisor,
                label: RunLabel::ColdStart(12),
            },
            RunId {
                pid: 11,
                env: EnvKind::OciRunc,
                label: RunLabel::Density {
                    turn: 4,
                    instance: 2,
                },
            },
            RunId {
                pid: 9,
                env: EnvKind::OciRunc,
                label: RunLabel::Interference {
                    trial: 2,
                    level: 0,
                    slot: 0,
                },
            },
            RunId {
                pid: 9,
                env: EnvKind::Docker,
                label: RunLabel::Interference {
                    trial: 3,
                    level: 2,
                    slot: 1,
                },
            },
        ] {
            let text = id.to_string();
            assert_eq!(text.matches(PREFIX).count(), 1, "{text}");
            assert_eq!(text.parse::<RunId>().unwrap(), id);
            assert_eq!(run_pid_of(&text), Some(id.pid));
        }
        assert_eq!(
            RunId {
                pid: 1234,
                env: EnvKind::OciRunc,
                label: RunLabel::Repetition(3)
            }
            .to_string(),
            "isobench-1234-oci-runc-3"
        );
        assert!("isobench-12-lxc-0".parse::<RunId>().is_err());
        assert!("isobench-12-docker-i1k2n0".parse::<RunId>().is_err());
        assert!("isobench-12-docker-i1k2".parse::<RunId>().is_err());
        assert_eq!(
            "isobench-12-podman-0".parse::<RunId>().unwrap().env,
            EnvKind::Podman
        );
        assert!("docker-0".parse::<RunId>().is_err());
    }

    #[test]
    fn run_pids_are_found_behind_prefixes() {
        assert_eq!(run_pid_of("isobench-1234-docker-0"), Some(1234));
        assert_eq!(run_pid_of("/tmp/isobench-99/fc.sock"), Some(99));
        assert_eq!(run_pid_of("k8s-isobench-5-native-1"), Some(5));
        assert_eq!(run_pid_of("isobench-agent:abcd"), None);
        assert_eq!(run_pid_of("isobench-12x"), None);
        assert!(!belongs_to_dead_run(&format!(
            "isobench-{}-native-0",
            std::process::id()
        )));
    }

    #[test]
    fn leftovers_belong_to_their_environment() {
        // PIDs above the kernel's maximum (2^22) are never alive.
        let dead = "isobench-4294967295-oci-youki-2";
        assert!(belongs_to_dead_run(dead));
        assert!(left_by_dead_run(dead, EnvKind::OciYouki));
        assert!(!left_by_dead_run(dead, EnvKind::OciRunc));
        assert!(!left_by_dead_run("isobench-4294967295", EnvKind::Native));
        let live = format!("isobench-{}-oci-youki-2", std::process::id());
        assert!(!left_by_dead_run(&live, EnvKind::OciYouki));
    }
}
