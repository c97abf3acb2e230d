//! Experiment configuration: an optional TOML file, overridden by
//! command-line flags, resolved into an [`ExperimentConfig`] with defaults.

use std::path::{Path, PathBuf};

use isobench_environments::EnvKind;
use serde::{Deserialize, Serialize};

use crate::HarnessError;

pub use isobench_records::user::{ExecSpec, Measure};
use isobench_records::{AgentInvocation, Listen, ModelSpec};
pub use isobench_records::{Engine, Workload};

/// Default measured iterations per repetition.
pub const DEFAULT_ITERATIONS: u64 = 20;
/// Default repetitions (fresh instances) per environment: the smallest
/// n-vs-n design whose exact permutation test reaches p < 0.01 is 5 vs 5,
/// and only with complete separation; 6 vs 6 leaves room for overlap.
pub const DEFAULT_REPETITIONS: u32 = 6;

/// How repetitions are scheduled (the results' own type).
pub use isobench_results::Order;

/// Default limit for boot and for each iteration, seconds.
pub const DEFAULT_STEP_TIMEOUT: u64 = 300;

fn default_step_timeout() -> u64 {
    DEFAULT_STEP_TIMEOUT
}

/// Every setting of an experiment, each optional: what a TOML file or the
/// command line gives. Later layers override earlier ones ([`Overrides::merge`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Environments to run (`env = ["native", "docker"]`).
    pub env: Option<Vec<String>>,
    /// Workload name.
    pub workload: Option<String>,
    /// Model file.
    pub model: Option<PathBuf>,
    /// Image directory.
    pub images: Option<PathBuf>,
    /// Inference engine.
    pub engine: Option<String>,
    /// Measured iterations per repetition.
    pub iterations: Option<u64>,
    /// Warm-up iterations per repetition.
    pub warmup: Option<u64>,
    /// Fresh environments per environment kind.
    pub repetitions: Option<u32>,
    /// vCPUs / CPU quota.
    pub vcpus: Option<u32>,
    /// Memory limit / VM RAM in MiB.
    pub memory: Option<u64>,
    /// Engine threads.
    pub threads: Option<u32>,
    /// Output directory.
    pub output: Option<PathBuf>,
    /// Seconds allowed per repetition (boot + all iterations).
    pub timeout: Option<u64>,
    /// Seconds allowed from launch to the agent's ready record.
    pub boot_timeout: Option<u64>,
    /// Seconds allowed between two records once the agent is ready.
    pub iteration_timeout: Option<u64>,
    /// Seed of the statistics' random procedures.
    pub seed: Option<u64>,
    /// Run `native` inside a cgroup with the same limits as the containers.
    pub native_cgroup: Option<bool>,
    /// Guest kernel for the VM environments.
    pub kernel: Option<PathBuf>,
    /// Firecracker binary.
    pub firecracker: Option<PathBuf>,
    /// Host-side metering interval in milliseconds.
    pub sample_interval_ms: Option<u64>,
    /// Repetition schedule: `interleaved` (default) or `blocked`.
    pub order: Option<String>,
    /// CPU milliseconds per iteration of the `busy` calibration workload.
    pub busy_ms: Option<u64>,
    /// MiB of memory the `busy` calibration workload holds.
    pub touch_mib: Option<u64>,
    /// `--workload command`: the program and its arguments, split like a
    /// shell would split them but run without one.
    pub command: Option<String>,
    /// `--workload command`: the root filesystem, a directory tree.
    pub rootfs: Option<PathBuf>,
    /// `--workload command`: the root filesystem, a Docker image in the local daemon.
    pub image: Option<String>,
    /// `--workload command`: `records` (default) or `process`.
    pub measure: Option<String>,
    /// `--workload command`: the working directory inside the tree.
    pub workdir: Option<String>,
    /// `--workload command`: environment variables, `KEY=VALUE`.
    pub setenv: Option<Vec<String>>,
    /// `--workload command`: host paths shown read-only in the tree, `HOST:GUEST:ro`.
    pub mount: Option<Vec<String>>,
}

impl Overrides {
    /// Reads a TOML experiment file.
    pub fn from_file(path: &Path) -> Result<Self, HarnessError> {
        let text = std::fs::read_to_string(path).map_err(|source| HarnessError::ConfigRead {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| HarnessError::ConfigParse {
            path: path.to_path_buf(),
            message: e
                .to_string()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
                .join(" | "),
        })
    }

    /// `self` with every setting that `over` has replaced by `over`'s.
    pub fn merge(self, over: Overrides) -> Overrides {
        macro_rules! pick {
            ($($field:ident),*) => { Overrides { $($field: over.$field.or(self.$field)),* } };
        }
        pick!(
            env,
            workload,
            model,
            images,
            engine,
            iterations,
            warmup,
            repetitions,
            vcpus,
            memory,
            threads,
            output,
            timeout,
            boot_timeout,
            iteration_timeout,
            seed,
            native_cgroup,
            kernel,
            firecracker,
            sample_interval_ms,
            order,
            busy_ms,
            touch_mib,
            command,
            rootfs,
            image,
            measure,
            workdir,
            setenv,
            mount
        )
    }
}

/// A resolved experiment: every setting has a value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExperimentConfig {
    /// Environments to run, in order. Empty: every available one (resolved by the CLI).
    pub environments: Vec<EnvKind>,
    /// The workload.
    pub workload: Workload,
    /// Model file (default: the workload's default model in the assets).
    pub model: Option<PathBuf>,
    /// Image directory (default: the workload's default images).
    pub images: Option<PathBuf>,
    /// The ONNX engine (hand-written workloads run `native` whatever this says).
    pub engine: Engine,
    /// Measured iterations per repetition.
    pub iterations: u64,
    /// Warm-up iterations per repetition.
    pub warmup: u64,
    /// Fresh environments per kind.
    pub repetitions: u32,
    /// vCPUs / CPU quota (None: backend default, 2 for VMs).
    pub vcpus: Option<u32>,
    /// Memory in MiB (None: unlimited for processes and containers, 1024 for VMs).
    pub memory_mib: Option<u64>,
    /// Engine threads.
    pub threads: u32,
    /// Output directory.
    pub output: PathBuf,
    /// Seconds allowed per repetition.
    pub timeout_seconds: u64,
    /// Seconds allowed from launch to ready.
    #[serde(default = "default_step_timeout")]
    pub boot_timeout_seconds: u64,
    /// Seconds allowed between two records.
    #[serde(default = "default_step_timeout")]
    pub iteration_timeout_seconds: u64,
    /// Statistics seed.
    pub seed: u64,
    /// Put `native` in a cgroup with the same limits and the same metering as
    /// the containers (default; falls back to the process tree where the host
    /// has no writable cgroup v1).
    pub native_cgroup: bool,
    /// Guest kernel.
    pub kernel: Option<PathBuf>,
    /// Firecracker binary.
    pub firecracker: Option<PathBuf>,
    /// Metering interval, ms.
    pub sample_interval_ms: u64,
    /// Repetition schedule.
    #[serde(default = "blocked")]
    pub order: Order,
    /// CPU milliseconds per iteration of the `busy` workload.
    #[serde(default = "default_busy_ms")]
    pub busy_ms: u64,
    /// MiB the `busy` workload holds.
    #[serde(default = "default_touch_mib")]
    pub touch_mib: u64,
    /// The user's own program (`--workload command`).
    #[serde(default)]
    pub command: Option<CommandWorkload>,
}

/// Where the user's root filesystem comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub enum RootChoice {
    /// A directory tree (`--rootfs`).
    Dir(PathBuf),
    /// A Docker image in the local daemon (`--image`).
    Image(String),
}

/// A host path shown read-only in the user's tree (`--mount HOST:GUEST:ro`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MountSpec {
    /// The host file or directory.
    pub host: PathBuf,
    /// Where it appears in the tree.
    pub guest: PathBuf,
}

/// The user's own program, run the same way in every environment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommandWorkload {
    /// The program and its arguments (no shell unless it names one).
    pub argv: Vec<String>,
    /// Its root filesystem.
    pub root: RootChoice,
    /// How it is measured.
    pub measure: Measure,
    /// Working directory inside the tree.
    pub workdir: Option<String>,
    /// Environment variables on top of the fixed minimal environment.
    pub env: Vec<(String, String)>,
    /// Host paths shown read-only in the tree.
    pub mounts: Vec<MountSpec>,
}

impl CommandWorkload {
    /// From the `--command` family of settings (`None` when no command was given).
    fn resolve(o: &Overrides) -> Result<Option<Self>, HarnessError> {
        let Some(text) = &o.command else {
            return Ok(None);
        };
        let argv = shlex::split(text)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                HarnessError::Invalid(format!(
                "--command `{text}`: unbalanced quotes or empty; give the program and its arguments"
            ))
            })?;
        let root = match (&o.rootfs, &o.image) {
            (Some(dir), None) => {
                if !dir.is_dir() {
                    return Err(HarnessError::Invalid(format!(
                        "--rootfs {} is not a directory; give a root filesystem tree (e.g. made with debootstrap)",
                        dir.display()
                    )));
                }
                RootChoice::Dir(dir.clone())
            }
            (None, Some(image)) => RootChoice::Image(image.clone()),
            (Some(_), Some(_)) => {
                return Err(HarnessError::Invalid(
                    "--rootfs and --image both given: choose one root filesystem".into(),
                ))
            }
            (None, None) => {
                return Err(HarnessError::Invalid(
                    "--workload command needs a root filesystem: --rootfs DIR or --image NAME"
                        .into(),
                ))
            }
        };
        let measure = match o.measure.as_deref() {
            None | Some("records") => Measure::Records,
            Some("process") => Measure::Process,
            Some(other) => {
                return Err(HarnessError::Invalid(format!(
                    "--measure {other}: use records (the program prints one record per iteration) or process (one invocation per iteration)"
                )))
            }
        };
        let env = o
            .setenv
            .iter()
            .flatten()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                _ => Err(HarnessError::Invalid(format!(
                    "--setenv {kv}: give KEY=VALUE"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mounts = o
            .mount
            .iter()
            .flatten()
            .map(|m| {
                let parts: Vec<&str> = m.split(':').collect();
                match parts.as_slice() {
                    [host, guest] | [host, guest, "ro"] if guest.starts_with('/') => {
                        let host = PathBuf::from(host);
                        if !host.exists() {
                            return Err(HarnessError::Invalid(format!(
                                "--mount {m}: {} does not exist",
                                host.display()
                            )));
                        }
                        Ok(MountSpec {
                            host,
                            guest: PathBuf::from(guest),
                        })
                    }
                    [_, _, mode] if *mode != "ro" => Err(HarnessError::Invalid(format!(
                        "--mount {m}: only read-only mounts are supported (HOST:GUEST:ro)"
                    ))),
                    _ => Err(HarnessError::Invalid(format!(
                        "--mount {m}: give HOST:GUEST:ro with an absolute GUEST path"
                    ))),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(CommandWorkload {
            argv,
            root,
            measure,
            workdir: o.workdir.clone(),
            env,
            mounts,
        }))
    }

    /// The agent's `exec` specification for `iterations` after `warmup`.
    pub fn exec_spec(&self, iterations: u64, warmup: u64) -> ExecSpec {
        ExecSpec {
            argv: self.argv.clone(),
            env: self.env.clone(),
            workdir: self.workdir.clone(),
            measure: self.measure,
            iterations,
            warmup,
        }
    }
}

/// A journal written before rounds existed ran its environments in blocks.
fn blocked() -> Order {
    Order::Blocked
}

fn default_busy_ms() -> u64 {
    100
}

fn default_touch_mib() -> u64 {
    64
}

impl ExperimentConfig {
    /// Defaults: the YOLOv8 fall detector with tract, 1 thread,
    /// [`DEFAULT_ITERATIONS`] iterations after 3 warm-ups,
    /// [`DEFAULT_REPETITIONS`] repetitions in interleaved rounds.
    pub fn resolve(o: Overrides) -> Result<Self, HarnessError> {
        let command = CommandWorkload::resolve(&o)?;
        let environments = o
            .env
            .unwrap_or_default()
            .iter()
            .flat_map(|s| s.split(','))
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.parse::<EnvKind>()
                    .map_err(|e| HarnessError::Invalid(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut unique = Vec::new();
        for kind in environments {
            if !unique.contains(&kind) {
                unique.push(kind);
            }
        }
        let workload: Workload = match &o.workload {
            Some(name) => name.parse()?,
            None => Workload::Yolov8,
        };
        let engine: Engine = match &o.engine {
            Some(name) => name.parse()?,
            None => Engine::Tract,
        };
        if engine == Engine::Native {
            return Err(HarnessError::Invalid(
                "--engine native: hand-written workloads use it by themselves; give tract or ort (the engine for ONNX models)".into(),
            ));
        }
        let iterations = o.iterations.unwrap_or(DEFAULT_ITERATIONS);
        if iterations == 0 {
            return Err(HarnessError::Invalid(
                "--iterations must be at least 1".into(),
            ));
        }
        let repetitions = o.repetitions.unwrap_or(DEFAULT_REPETITIONS);
        if repetitions == 0 {
            return Err(HarnessError::Invalid(
                "--repetitions must be at least 1".into(),
            ));
        }
        let threads = o.threads.unwrap_or(1);
        if threads == 0 {
            return Err(HarnessError::Invalid("--threads must be at least 1".into()));
        }
        if o.vcpus == Some(0) {
            return Err(HarnessError::Invalid("--vcpus must be at least 1".into()));
        }
        if let Some(mib) = o.memory {
            if mib < 64 {
                return Err(HarnessError::Invalid(format!(
                    "--memory {mib} MiB is too small; give at least 64"
                )));
            }
        }
        for (flag, path) in [
            ("--model", &o.model),
            ("--images", &o.images),
            ("--kernel", &o.kernel),
        ] {
            if let Some(path) = path {
                if !path.exists() {
                    return Err(HarnessError::Invalid(format!(
                        "{flag} {} does not exist",
                        path.display()
                    )));
                }
            }
        }
        let order = match &o.order {
            Some(text) => text.parse().map_err(HarnessError::Invalid)?,
            None => Order::default(),
        };
        match (&command, workload) {
            (None, Workload::Command) => {
                return Err(HarnessError::Invalid(
                    "--workload command needs --command \"PROGRAM ARGS\" and --rootfs DIR or --image NAME".into(),
                ))
            }
            (Some(_), w) if w != Workload::Command => {
                return Err(HarnessError::Invalid(format!(
                    "--command runs with --workload command, not {w}"
                )))
            }
            _ => {}
        }
        if command.is_none()
            && (o.rootfs.is_some()
                || o.image.is_some()
                || o.measure.is_some()
                || o.workdir.is_some()
                || o.setenv.is_some()
                || o.mount.is_some())
        {
            return Err(HarnessError::Invalid(
                "--rootfs, --image, --measure, --workdir, --setenv and --mount go with --workload command".into(),
            ));
        }
        if command.is_some() && (o.model.is_some() || o.images.is_some() || engine == Engine::Ort) {
            return Err(HarnessError::Invalid(
                "--model, --images and --engine ort are for the built-in workloads; a command brings its own".into(),
            ));
        }
        let busy_ms = o.busy_ms.unwrap_or_else(default_busy_ms);
        if busy_ms == 0 {
            return Err(HarnessError::Invalid("--busy-ms must be at least 1".into()));
        }
        Ok(ExperimentConfig {
            environments: unique,
            workload,
            model: o.model,
            images: o.images,
            engine,
            iterations,
            warmup: o.warmup.unwrap_or(3),
            repetitions,
            vcpus: o.vcpus,
            memory_mib: o.memory,
            threads,
            output: o
                .output
                .unwrap_or_else(|| PathBuf::from("isobench-results")),
            timeout_seconds: o.timeout.unwrap_or(600).max(1),
            boot_timeout_seconds: o.boot_timeout.unwrap_or(DEFAULT_STEP_TIMEOUT).max(1),
            iteration_timeout_seconds: o.iteration_timeout.unwrap_or(DEFAULT_STEP_TIMEOUT).max(1),
            seed: o.seed.unwrap_or(0x15_0BE7C4),
            native_cgroup: o.native_cgroup.unwrap_or(true),
            kernel: o.kernel,
            firecracker: o.firecracker,
            sample_interval_ms: o.sample_interval_ms.unwrap_or(50).clamp(5, 10_000),
            order,
            busy_ms,
            touch_mib: o.touch_mib.unwrap_or_else(default_touch_mib),
            command,
        })
    }

    /// The model the agent loads for this experiment; `assets` is the asset
    /// directory as seen inside the environment (the user's model and
    /// images are staged under it, in `user/`).
    pub fn model_spec(&self, assets: &Path) -> ModelSpec {
        ModelSpec {
            // Hand-written workloads run their own code whatever --engine says.
            engine: self.workload.runs_onnx().then_some(self.engine),
            threads: self.threads,
            assets: Some(assets.to_path_buf()),
            model: self.model.as_ref().map(|_| assets.join("user/model.onnx")),
            images: self.images.as_ref().map(|_| assets.join("user/images")),
            busy_ms: self.busy_ms,
            touch_mib: self.touch_mib,
            ..ModelSpec::new(self.workload)
        }
    }

    /// What the agent does in one repetition of this experiment: `run` the
    /// workload, or `exec` the user's program.
    pub fn run_invocation(&self, assets: &Path) -> AgentInvocation {
        match &self.command {
            Some(command) => AgentInvocation::exec(command.exec_spec(self.iterations, self.warmup)),
            None => AgentInvocation::run(self.model_spec(assets), self.iterations, self.warmup),
        }
    }

    /// What a serving agent of this experiment does: `serve` the workload's
    /// model, taking requests from `listen`.
    pub fn serve_invocation(&self, assets: &Path, listen: Listen) -> AgentInvocation {
        AgentInvocation::serve(self.model_spec(assets), listen)
    }

    /// The environment every other one is compared with: `native` when it
    /// is in the run, else the first environment.
    pub fn baseline(&self) -> EnvKind {
        if self.environments.contains(&EnvKind::Native) || self.environments.is_empty() {
            EnvKind::Native
        } else {
            self.environments[0]
        }
    }

    /// A warning when this design cannot reach significance at `alpha`
    /// whatever the data: with n vs n repetitions, the exact permutation
    /// test's smallest p-value is `2 / C(2n, n)`.
    pub fn design_warning(&self, alpha: f64) -> Option<String> {
        let n = self.repetitions as usize;
        let floor = isobench_stats::min_attainable_p(n, n, isobench_stats::DEFAULT_PERMUTATIONS);
        (floor >= alpha).then(|| {
            format!(
                "with {n} repetitions per environment no difference can reach p < {alpha} (the smallest p-value of {n} vs {n} repetitions is {floor:.3}): every verdict will be inconclusive; ask for --repetitions {} or more",
                isobench_stats::repetitions_needed(alpha)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_defaults_fill_the_rest() {
        let file: Overrides =
            toml::from_str("env = [\"native\", \"docker\"]\nworkload = \"knn\"\niterations = 5\n")
                .unwrap();
        let flags = Overrides {
            iterations: Some(7),
            ..Overrides::default()
        };
        let config = ExperimentConfig::resolve(file.merge(flags)).unwrap();
        assert_eq!(config.environments, vec![EnvKind::Native, EnvKind::Docker]);
        assert_eq!(config.workload, Workload::Knn);
        assert_eq!(config.iterations, 7);
        assert_eq!(config.warmup, 3);
        assert_eq!(config.engine, Engine::Tract);
        assert_eq!(config.order, Order::Interleaved);
        assert_eq!(config.design_warning(0.01), None);
        let few = ExperimentConfig {
            repetitions: 3,
            ..config
        };
        let warning = few.design_warning(0.01).unwrap();
        assert!(warning.contains("--repetitions 5"), "{warning}");
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let bad = |o: Overrides| ExperimentConfig::resolve(o).unwrap_err().to_string();
        assert!(bad(Overrides {
            env: Some(vec!["native,podman".into()]),
            ..Default::default()
        })
        .contains("unknown environment `podman`"));
        assert!(bad(Overrides {
            workload: Some("resnet".into()),
            ..Default::default()
        })
        .contains("unknown workload `resnet`"));
        assert!(bad(Overrides {
            iterations: Some(0),
            ..Default::default()
        })
        .contains("--iterations"));
        assert!(bad(Overrides {
            model: Some("/nonexistent.onnx".into()),
            ..Default::default()
        })
        .contains("does not exist"));
    }

    #[test]
    fn malformed_and_negative_toml_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.toml");
        std::fs::write(&path, "iterations = -3\n").unwrap();
        let err = Overrides::from_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("bench.toml") && err.contains("iterations"),
            "{err}"
        );
        std::fs::write(&path, "workload = \"knn\"\nbogus = 1\n").unwrap();
        let err = Overrides::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("unknown field `bogus`"), "{err}");
        std::fs::write(&path, "workload = [\n").unwrap();
        assert!(Overrides::from_file(&path).is_err());
    }
}
