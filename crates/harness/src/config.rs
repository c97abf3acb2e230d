//! Experiment configuration: one definition per option.
//!
//! Each option is one field of [`CommonOptions`] (what `isobench run` and
//! `isobench serve-bench` share) or [`BatchOptions`] (`run` only). The same
//! field is the command-line flag (clap; its doc comment is the help, its
//! default is shown there), the experiment file's key (TOML, the flag's name
//! in kebab-case or snake_case) and the journal's copy (serde). Layering
//! (defaults, then the file, then the flags given on the command line) is
//! generic ([`ExperimentConfig::layered`]): adding an option is one field
//! and its use.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::parser::ValueSource;
use isobench_environments::EnvKind;
use serde::{Deserialize, Serialize};

use crate::HarnessError;

pub use isobench_records::user::{ExecSpec, Measure};
use isobench_records::{AgentInvocation, Listen, ModelSpec};
pub use isobench_records::{Engine, Workload};
/// How repetitions are scheduled (the results' own type).
pub use isobench_results::Order;

/// Default seed of every random procedure.
pub const DEFAULT_SEED: u64 = 0x15_0BE7C4;

/// Options `isobench run` and `isobench serve-bench` share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct CommonOptions {
    /// Environments, comma separated (see `isobench doctor`). Default: every
    /// available one except software-emulated VMs (run); native (serve-bench).
    #[arg(long = "env", id = "env", value_delimiter = ',', value_name = "LIST")]
    #[serde(rename = "env")]
    pub environments: Vec<EnvKind>,
    /// The environment every other one is compared with. Default: native
    /// when it is in the run, else the first environment.
    #[arg(long)]
    pub baseline: Option<EnvKind>,
    /// Workload: knn, mlp, yolov8, ocr-det, busy (a calibration workload of
    /// known CPU and memory cost), command (your own program: --command and
    /// --rootfs or --image). Default: yolov8 (run); knn (serve-bench).
    #[arg(long)]
    pub workload: Option<Workload>,
    /// Model file (an Ultralytics YOLOv8 detection ONNX export for yolov8).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Directory of images for the model.
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Inference engine of ONNX models: tract (in the static agent) or ort
    /// (ONNX Runtime, in the dynamic agent).
    #[arg(long, default_value_t = Engine::Tract)]
    pub engine: Engine,
    /// Engine threads.
    #[arg(long, default_value_t = 1, value_parser = count_u32, allow_negative_numbers = true)]
    pub threads: u32,
    /// vCPUs (VMs) / CPU quota (containers, native in its cgroup). Default:
    /// unlimited for processes and containers, 2 for VMs.
    #[arg(long, value_parser = count_u32, allow_negative_numbers = true)]
    pub vcpus: Option<u32>,
    /// Memory in MiB (VM RAM / container limit). Default: unlimited for
    /// processes and containers, 1024 for VMs.
    #[arg(long, value_name = "MIB", value_parser = count_u64, allow_negative_numbers = true)]
    pub memory: Option<u64>,
    /// Output directory for results.json, the CSV files and the reports.
    #[arg(long, value_name = "DIR", default_value = "isobench-results")]
    pub output: PathBuf,
    /// Seconds allowed per instance (run: boot and every iteration;
    /// serve-bench: boot and model load).
    #[arg(long, value_name = "SECONDS", default_value_t = 600, value_parser = count_u64, allow_negative_numbers = true)]
    pub timeout: u64,
    /// Seed of every random procedure (round order, Poisson arrivals).
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Run `native` as a plain process (metered through its process tree)
    /// instead of in a cgroup with the containers' limits and metering.
    #[arg(long)]
    pub no_native_cgroup: bool,
    /// Guest kernel for the VM environments: a bzImage or an ELF vmlinux.
    /// `scripts/build-microvm-kernel.sh` builds one Firecracker's vsock needs.
    #[arg(long, value_name = "FILE")]
    pub kernel: Option<PathBuf>,
    /// Firecracker binary (default: the one `isobench setup` fetched).
    #[arg(long, value_name = "FILE")]
    pub firecracker: Option<PathBuf>,
    /// Start Firecracker through its jailer (chroot, uid/gid 0, a cgroup v1
    /// CPU quota of --vcpus; needs root).
    #[arg(long)]
    pub jailer: bool,
}

impl Default for CommonOptions {
    fn default() -> Self {
        defaults::<CommonOptions>()
    }
}

/// Options of `isobench run` only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct BatchOptions {
    /// Measured iterations per instance. Default: chosen from the variance
    /// after the first rounds (more instances, fewer iterations each, when
    /// instances differ more than iterations).
    #[arg(long, value_parser = count_u64, allow_negative_numbers = true)]
    pub iterations: Option<u64>,
    /// Warm-up iterations per instance (not measured).
    #[arg(long, default_value_t = 3, value_parser = whole_u64, allow_negative_numbers = true)]
    pub warmup: u64,
    /// A fixed design of N rounds (repetitions per environment). Default:
    /// sequential rounds until every comparison is decided or --budget is spent.
    #[arg(long, value_name = "N", value_parser = count_u32, allow_negative_numbers = true)]
    pub repetitions: Option<u32>,
    /// Measuring time of a sequential run (e.g. 150s, 3m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "150s")]
    pub budget: Budget,
    /// Sequential runs: the first look at the verdicts after this many rounds.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = count_u32, allow_negative_numbers = true)]
    pub min_rounds: u32,
    /// Sequential runs: at most this many rounds.
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = count_u32, allow_negative_numbers = true)]
    pub max_rounds: u32,
    /// How rounds are scheduled: interleaved (one fresh instance of every
    /// environment per round, in a seeded shuffled order) or blocked (all
    /// repetitions of one environment, then the next; needs --repetitions).
    #[arg(long, default_value_t = Order::Interleaved)]
    pub order: Order,
    /// Seconds allowed from launch to the agent's ready record (boot / start).
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = count_u64, allow_negative_numbers = true)]
    pub boot_timeout: u64,
    /// Seconds allowed between two agent records (one iteration).
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = count_u64, allow_negative_numbers = true)]
    pub iteration_timeout: u64,
    /// Host metering interval, milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 50, value_parser = count_u64, allow_negative_numbers = true)]
    pub sample_interval_ms: u64,
    /// busy workload: CPU milliseconds per iteration.
    #[arg(long, value_name = "MS", default_value_t = isobench_records::invocation::DEFAULT_BUSY_MS)]
    pub busy_ms: u64,
    /// busy workload: MiB of memory written once and held.
    #[arg(long, value_name = "MIB", default_value_t = isobench_records::invocation::DEFAULT_TOUCH_MIB)]
    pub touch_mib: u64,
    /// Your own program (with --workload command): the program and its
    /// arguments, split as a shell would split them but run without one
    /// (write `sh -c '...'` for a shell).
    #[arg(long, value_name = "\"PROGRAM ARGS\"")]
    pub command: Option<String>,
    /// The root filesystem your program runs in: a directory tree (made with
    /// debootstrap, or unpacked from a tarball). Native chroots into it,
    /// containers use it as their root, VMs get it as a read-only ext4 drive.
    #[arg(long, value_name = "DIR", conflicts_with = "image")]
    pub rootfs: Option<PathBuf>,
    /// The root filesystem from a Docker image already in the local daemon
    /// (exported through the Engine API; no registry is reachable).
    #[arg(long, value_name = "NAME")]
    pub image: Option<String>,
    /// How your program is measured: records (it prints one JSON line per
    /// iteration, see helpers/python/isobench_records.py) or process (each
    /// iteration is one fresh invocation, timed from start to exit).
    #[arg(long, value_enum, default_value_t = Measure::Records)]
    pub measure: Measure,
    /// Working directory of your program inside the tree.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// An environment variable for your program, KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub setenv: Vec<String>,
    /// A host path shown read-only in the tree at GUEST, HOST:GUEST:ro
    /// (repeatable; copied into the tree isobench caches, so every
    /// environment, VMs included, sees the same bytes).
    #[arg(long, value_name = "HOST:GUEST:ro")]
    pub mount: Vec<String>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        defaults::<BatchOptions>()
    }
}

/// A type's defaults are its flags' defaults (one definition: the `#[arg]`
/// attributes): parsed from an empty command line.
fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults").no_binary_name(true));
    let matches = command
        .try_get_matches_from(Vec::<String>::new())
        .expect("every option has a default or is optional");
    T::from_arg_matches(&matches).expect("the defaults parse")
}

/// A resolved experiment: every option with its value (a default, the
/// experiment file's, or the flag's). The journal keeps it, so
/// `isobench run --resume` runs the same experiment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct ExperimentConfig {
    /// What `run` and `serve-bench` share.
    #[command(flatten)]
    #[serde(flatten)]
    pub common: CommonOptions,
    /// What only `run` has.
    #[command(flatten)]
    #[serde(flatten)]
    pub batch: BatchOptions,
}

/// A count of at least 1, with a message that says so (`-1`, `x`).
pub fn count_u64(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "`{s}` is not a count: give a whole number of at least 1"
        )),
    }
}

/// [`count_u64`] for 32-bit counts.
pub fn count_u32(s: &str) -> Result<u32, String> {
    count_u64(s).and_then(|n| u32::try_from(n).map_err(|_| format!("`{s}` is too large")))
}

/// A whole number of at least 0 (`--warmup`).
pub fn whole_u64(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| format!("`{s}` is not a count: give a whole number (0 or more)"))
}

/// `--budget`: a measuring time, written `150s`, `2m 30s`, `3m`, `1h` (or plain seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget(pub Duration);

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl FromStr for Budget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let duration = match text.parse::<u64>() {
            Ok(seconds) => Duration::from_secs(seconds),
            Err(_) => humantime::parse_duration(text)
                .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. 150s, 3m or 1h"))?,
        };
        if duration.is_zero() {
            return Err(format!("`{s}`: the budget must be positive"));
        }
        Ok(Budget(duration))
    }
}

impl Serialize for Budget {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Budget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Text {
            Seconds(u64),
            Words(String),
        }
        match Text::deserialize(deserializer)? {
            Text::Seconds(s) => Ok(Budget(Duration::from_secs(s.max(1)))),
            Text::Words(w) => w.parse().map_err(serde::de::Error::custom),
        }
    }
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

fn invalid(message: String) -> HarnessError {
    HarnessError::Invalid(message)
}

impl CommandWorkload {
    /// From the `--command` family of options (`None` when no command was given).
    fn resolve(o: &BatchOptions) -> Result<Option<Self>, HarnessError> {
        let Some(text) = &o.command else {
            return Ok(None);
        };
        let argv = shlex::split(text)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "--command `{text}`: unbalanced quotes or empty; give the program and its arguments"
                ))
            })?;
        let root = match (&o.rootfs, &o.image) {
            (Some(dir), None) => {
                if !dir.is_dir() {
                    return Err(invalid(format!(
                        "--rootfs {} is not a directory; give a root filesystem tree (e.g. made with debootstrap)",
                        dir.display()
                    )));
                }
                RootChoice::Dir(dir.clone())
            }
            (None, Some(image)) => RootChoice::Image(image.clone()),
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "--rootfs and --image both given: choose one root filesystem".into(),
                ))
            }
            (None, None) => {
                return Err(invalid(
                    "--workload command needs a root filesystem: --rootfs DIR or --image NAME"
                        .into(),
                ))
            }
        };
        let env = o
            .setenv
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                _ => Err(invalid(format!("--setenv {kv}: give KEY=VALUE"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mounts = o
            .mount
            .iter()
            .map(|m| parse_mount(m))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(CommandWorkload {
            argv,
            root,
            measure: o.measure,
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

/// `HOST:GUEST[:ro]` with an absolute GUEST and an existing HOST.
fn parse_mount(m: &str) -> Result<MountSpec, HarnessError> {
    let parts: Vec<&str> = m.split(':').collect();
    match parts.as_slice() {
        [host, guest] | [host, guest, "ro"] if guest.starts_with('/') => {
            let host = PathBuf::from(host);
            if !host.exists() {
                return Err(invalid(format!(
                    "--mount {m}: {} does not exist",
                    host.display()
                )));
            }
            Ok(MountSpec {
                host,
                guest: PathBuf::from(guest),
            })
        }
        [_, _, mode] if *mode != "ro" => Err(invalid(format!(
            "--mount {m}: only read-only mounts are supported (HOST:GUEST:ro)"
        ))),
        _ => Err(invalid(format!(
            "--mount {m}: give HOST:GUEST:ro with an absolute GUEST path"
        ))),
    }
}

impl ExperimentConfig {
    /// The experiment from `matches` (the command line parsed with this
    /// type's flags) over an experiment `file` over the defaults: a flag
    /// given on the command line wins, then the file's key, then the default.
    /// Checked with [`ExperimentConfig::validate`].
    pub fn layered(matches: &clap::ArgMatches, file: Option<&Path>) -> Result<Self, HarnessError> {
        use clap::FromArgMatches;
        let flags =
            ExperimentConfig::from_arg_matches(matches).map_err(|e| invalid(e.to_string()))?;
        let Some(file) = file else {
            flags.validate()?;
            return Ok(flags);
        };
        let mut merged = serde_json::to_value(&flags).expect("a configuration serialises");
        let table = read_experiment_file(file)?;
        let object = merged
            .as_object_mut()
            .expect("a configuration is an object");
        for (key, value) in table {
            let from_command_line = matches!(
                matches.value_source(&key),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            );
            if !from_command_line {
                object.insert(key, value);
            }
        }
        let config: ExperimentConfig =
            serde_json::from_value(merged).map_err(|e| HarnessError::ConfigParse {
                path: file.to_path_buf(),
                message: e.to_string(),
            })?;
        config.validate()?;
        Ok(config)
    }

    /// An experiment `file` over the defaults, as `isobench run -c FILE`
    /// with no other flag reads it (checked).
    pub fn from_experiment_file(file: &Path) -> Result<Self, HarnessError> {
        use clap::Args;
        let matches =
            ExperimentConfig::augment_args(clap::Command::new("run").no_binary_name(true))
                .try_get_matches_from(Vec::<&str>::new())
                .map_err(|e| invalid(e.to_string()))?;
        ExperimentConfig::layered(&matches, Some(file))
    }

    /// The defaults with `f` applied (tests, and the commands that build a
    /// configuration in code), checked.
    pub fn with(f: impl FnOnce(&mut ExperimentConfig)) -> Result<Self, HarnessError> {
        let mut config = ExperimentConfig::default();
        f(&mut config);
        config.validate()?;
        Ok(config)
    }

    /// Checks every value and their combinations; a clear one-line error
    /// naming the option and the fix.
    pub fn validate(&self) -> Result<(), HarnessError> {
        let (c, b) = (&self.common, &self.batch);
        if c.engine == Engine::Native {
            return Err(invalid(
                "--engine native: hand-written workloads use it by themselves; give tract or ort (the engine for ONNX models)".into(),
            ));
        }
        for (flag, value) in [
            ("--threads", Some(u64::from(c.threads))),
            ("--vcpus", c.vcpus.map(u64::from)),
            ("--iterations", b.iterations),
            ("--repetitions", b.repetitions.map(u64::from)),
            ("--busy-ms", Some(b.busy_ms)),
        ] {
            if value == Some(0) {
                return Err(invalid(format!("{flag} must be at least 1")));
            }
        }
        if let Some(mib) = c.memory.filter(|&m| m < 64) {
            return Err(invalid(format!(
                "--memory {mib} MiB is too small; give at least 64"
            )));
        }
        if b.min_rounds < 2 {
            return Err(invalid(format!(
                "--min-rounds {}: a verdict needs at least 2 rounds",
                b.min_rounds
            )));
        }
        if b.max_rounds < b.min_rounds {
            return Err(invalid(format!(
                "--max-rounds {} is below --min-rounds {}",
                b.max_rounds, b.min_rounds
            )));
        }
        if b.order == Order::Blocked && b.repetitions.is_none() {
            return Err(invalid(
                "--order blocked runs a fixed design: give --repetitions N (sequential rounds must interleave)".into(),
            ));
        }
        for (flag, path) in [
            ("--model", &c.model),
            ("--images", &c.images),
            ("--kernel", &c.kernel),
        ] {
            if let Some(path) = path.as_ref().filter(|p| !p.exists()) {
                return Err(invalid(format!("{flag} {} does not exist", path.display())));
            }
        }
        if let Some(baseline) = c.baseline {
            if !c.environments.is_empty() && !c.environments.contains(&baseline) {
                return Err(invalid(format!(
                    "--baseline {baseline} is not among --env {}; add it or choose one of them",
                    names(&c.environments)
                )));
            }
        }
        let command = CommandWorkload::resolve(b)?;
        match (&command, self.workload()) {
            (None, Workload::Command) => {
                return Err(invalid(
                    "--workload command needs --command \"PROGRAM ARGS\" and --rootfs DIR or --image NAME".into(),
                ))
            }
            (Some(_), w) if w != Workload::Command => {
                return Err(invalid(format!(
                    "--command runs with --workload command, not {w}"
                )))
            }
            _ => {}
        }
        if command.is_none()
            && (b.rootfs.is_some()
                || b.image.is_some()
                || b.workdir.is_some()
                || !b.setenv.is_empty()
                || !b.mount.is_empty())
        {
            return Err(invalid(
                "--rootfs, --image, --workdir, --setenv and --mount go with --workload command"
                    .into(),
            ));
        }
        if command.is_some() && (c.model.is_some() || c.images.is_some() || c.engine == Engine::Ort)
        {
            return Err(invalid(
                "--model, --images and --engine ort are for the built-in workloads; a command brings its own".into(),
            ));
        }
        Ok(())
    }

    /// The workload (default yolov8).
    pub fn workload(&self) -> Workload {
        self.common.workload.unwrap_or(Workload::Yolov8)
    }

    /// The user's program (`--workload command`), resolved from its options.
    pub fn command(&self) -> Option<CommandWorkload> {
        CommandWorkload::resolve(&self.batch).ok().flatten()
    }

    /// The engine that runs: hand-written workloads run `native` whatever --engine says.
    pub fn engine_run(&self) -> Engine {
        if self.workload().runs_onnx() {
            self.common.engine
        } else {
            Engine::Native
        }
    }

    /// The environment every other one is compared with: `--baseline`, else
    /// `native` when it is in the run, else the first environment.
    pub fn baseline(&self) -> EnvKind {
        let envs = &self.common.environments;
        self.common.baseline.unwrap_or_else(|| {
            if envs.contains(&EnvKind::Native) || envs.is_empty() {
                EnvKind::Native
            } else {
                envs[0]
            }
        })
    }

    /// The measuring budget of a sequential run.
    pub fn budget(&self) -> Duration {
        self.batch.budget.0
    }

    /// The model the agent loads for this experiment; `assets` is the asset
    /// directory as seen inside the environment (the user's model and
    /// images are staged under it, in `user/`).
    pub fn model_spec(&self, assets: &Path) -> ModelSpec {
        let c = &self.common;
        ModelSpec {
            // Hand-written workloads run their own code whatever --engine says.
            engine: self.workload().runs_onnx().then_some(c.engine),
            threads: c.threads,
            assets: Some(assets.to_path_buf()),
            model: c.model.as_ref().map(|_| assets.join("user/model.onnx")),
            images: c.images.as_ref().map(|_| assets.join("user/images")),
            busy_ms: self.batch.busy_ms,
            touch_mib: self.batch.touch_mib,
            ..ModelSpec::new(self.workload())
        }
    }

    /// What the agent does in one repetition of `iterations` measured
    /// iterations: `run` the workload, or `exec` the user's program.
    pub fn run_invocation(&self, assets: &Path, iterations: u64) -> AgentInvocation {
        let warmup = self.batch.warmup;
        match self.command() {
            Some(command) => AgentInvocation::exec(command.exec_spec(iterations, warmup)),
            None => AgentInvocation::run(self.model_spec(assets), iterations, warmup),
        }
    }

    /// What a serving agent of this experiment does: `serve` the workload's
    /// model, taking requests from `listen`.
    pub fn serve_invocation(&self, assets: &Path, listen: Listen) -> AgentInvocation {
        AgentInvocation::serve(self.model_spec(assets), listen)
    }
}

/// `native, docker`.
fn names(kinds: &[EnvKind]) -> String {
    kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
}

/// Every key an experiment file may hold (snake_case): the options' names.
fn known_keys() -> Vec<String> {
    match serde_json::to_value(ExperimentConfig::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Reads an experiment file into `key → value`, keys in snake_case (the
/// file may write the flags' kebab-case names); an unknown key is an error
/// naming the nearest known one.
fn read_experiment_file(
    path: &Path,
) -> Result<serde_json::Map<String, serde_json::Value>, HarnessError> {
    let text = std::fs::read_to_string(path).map_err(|source| HarnessError::ConfigRead {
        path: path.to_path_buf(),
        source,
    })?;
    let parse_error = |message: String| HarnessError::ConfigParse {
        path: path.to_path_buf(),
        message,
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        let span = e
            .span()
            .map(|s| format!("line {}: ", text[..s.start].lines().count().max(1)))
            .unwrap_or_default();
        let message: Vec<&str> = e.message().lines().map(str::trim).collect();
        parse_error(format!("{span}{}", message.join("; ")))
    })?;
    let known = known_keys();
    let mut out = serde_json::Map::new();
    for (key, value) in table {
        let normal = key.replace('-', "_");
        if !known.contains(&normal) {
            let nearest = known
                .iter()
                .map(|k| (strsim::levenshtein(k, &normal), k))
                .min()
                .filter(|(distance, _)| *distance <= 3)
                .map(|(_, k)| format!("; did you mean `{}`?", k.replace('_', "-")))
                .unwrap_or_else(|| "; see `isobench run --help` for the options".into());
            return Err(parse_error(format!("unknown key `{key}`{nearest}")));
        }
        let value = serde_json::to_value(value).map_err(|e| parse_error(e.to_string()))?;
        // Each key on its own over the defaults, so a bad value names its key.
        let mut alone = serde_json::to_value(ExperimentConfig::default())
            .map_err(|e| parse_error(e.to_string()))?;
        alone[&normal] = value.clone();
        if let Err(e) = serde_json::from_value::<ExperimentConfig>(alone) {
            return Err(parse_error(format!("`{key}`: {e}")));
        }
        out.insert(normal, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, FromArgMatches};

    fn command() -> clap::Command {
        ExperimentConfig::augment_args(clap::Command::new("run").no_binary_name(true))
    }

    fn parse(args: &[&str], file: Option<&Path>) -> Result<ExperimentConfig, HarnessError> {
        let matches = command()
            .try_get_matches_from(args)
            .map_err(|e| invalid(e.to_string()))?;
        ExperimentConfig::layered(&matches, file)
    }

    #[test]
    fn an_experiment_file_alone_is_read_over_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bench.toml");
        std::fs::write(&file, "workload = \"knn\"\nrepetitions = 4\n").unwrap();
        let config = ExperimentConfig::from_experiment_file(&file).unwrap();
        assert_eq!(config.workload(), Workload::Knn);
        assert_eq!(config.batch.repetitions, Some(4));
        assert_eq!(config.batch.warmup, 3);
        std::fs::write(&file, "repetitons = 4\n").unwrap();
        let err = ExperimentConfig::from_experiment_file(&file)
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean `repetitions`"), "{err}");
    }

    #[test]
    fn defaults_are_the_flags_defaults() {
        let config = ExperimentConfig::default();
        assert_eq!(config.batch.warmup, 3);
        assert_eq!(config.common.threads, 1);
        assert_eq!(config.batch.budget, Budget(Duration::from_secs(150)));
        assert_eq!(config.batch.order, Order::Interleaved);
        assert_eq!(config.common.seed, DEFAULT_SEED);
        assert_eq!(config.workload(), Workload::Yolov8);
        let from_flags =
            ExperimentConfig::from_arg_matches(&command().get_matches_from(Vec::<&str>::new()))
                .unwrap();
        assert_eq!(from_flags, config);
    }

    #[test]
    fn flags_override_the_file_which_overrides_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.toml");
        std::fs::write(
            &path,
            "env = [\"native\", \"docker\"]\nworkload = \"knn\"\niterations = 5\nmin-rounds = 6\nbudget = \"2m\"\n",
        )
        .unwrap();
        let config = parse(&["--iterations", "7"], Some(&path)).unwrap();
        assert_eq!(
            config.common.environments,
            vec![EnvKind::Native, EnvKind::Docker]
        );
        assert_eq!(config.workload(), Workload::Knn);
        assert_eq!(config.batch.iterations, Some(7), "the flag wins");
        assert_eq!(config.batch.min_rounds, 6, "kebab-case keys work");
        assert_eq!(config.budget(), Duration::from_secs(120));
        assert_eq!(config.batch.warmup, 3, "the default fills the rest");
        // The journal's copy reads back the same.
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(
            serde_json::from_str::<ExperimentConfig>(&json).unwrap(),
            config
        );
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let bad = |args: &[&str]| parse(args, None).unwrap_err().to_string();
        assert!(bad(&["--env", "native,nowhere"]).contains("unknown environment `nowhere`"));
        assert!(bad(&["--workload", "resnet"]).contains("unknown workload `resnet`"));
        assert!(bad(&["--iterations", "0"]).contains("--iterations"));
        assert!(bad(&["--model", "/nonexistent.onnx"]).contains("does not exist"));
        assert!(bad(&["--budget", "soon"]).contains("not a duration"));
        assert!(bad(&["--order", "blocked"]).contains("--repetitions"));
        assert!(
            bad(&["--env", "docker,gvisor", "--baseline", "native"]).contains("not among --env")
        );
    }

    #[test]
    fn file_errors_name_the_file_the_line_and_the_nearest_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.toml");
        std::fs::write(&path, "workload = \"knn\"\niteratons = 1\n").unwrap();
        let err = parse(&[], Some(&path)).unwrap_err().to_string();
        assert!(err.contains("bench.toml"), "{err}");
        assert!(err.contains("did you mean `iterations`"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
        std::fs::write(&path, "iterations = -3\n").unwrap();
        let err = parse(&[], Some(&path)).unwrap_err().to_string();
        assert!(err.contains("bench.toml") && err.contains("-3"), "{err}");
        std::fs::write(&path, "workload = [\n").unwrap();
        let err = parse(&[], Some(&path)).unwrap_err().to_string();
        assert!(err.contains("line"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
}
