//! `isobench-agent`: the guest-side program. See the crate docs
//! (`isobench_agent`) and `isobench-agent --help`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use isobench_agent::exec;
use isobench_agent::pid1::{self, Halt};
use isobench_agent::run::{self, RunConfig};
use isobench_agent::serve;
use isobench_agent::workloads::{mlp, WorkloadOptions};
use isobench_agent::AgentError;
use isobench_records::{Engine, Record, Workload};

/// Runs one inference workload and writes JSON-lines records to stdout.
#[derive(Debug, Parser)]
#[command(name = "isobench-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workload: ready, warm-up and measured iteration records, summary.
    Run(RunArgs),
    /// Serve inference requests (`@ISB1` frames) on stdin/stdout, a TCP
    /// listener or a serial device, with the model loaded once.
    Serve(ServeArgs),
    /// Run the user's own program (`--workload command`) and report its
    /// iterations as records: in the current root, a chroot or a VM's root drive.
    Exec(ExecArgs),
    /// Train the digits MLP and write ASSETS/models/mlp-digits.json.
    TrainMlp {
        /// Assets directory (default: $ISOBENCH_ASSETS, else /assets).
        #[arg(long, value_name = "DIR")]
        assets: Option<PathBuf>,
    },
    /// Print the agent version and the engines compiled in.
    Version,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Workload: knn, mlp, yolov8, ocr-det, busy (a calibration workload of known CPU and memory cost).
    #[arg(long)]
    workload: Workload,
    /// Engine: tract or ort (default tract); knn, mlp and busy always run `native`.
    #[arg(long)]
    engine: Option<Engine>,
    /// Intra-op threads.
    #[arg(long, default_value_t = 1)]
    threads: u32,
    /// Measured iterations.
    #[arg(long, default_value_t = 10)]
    iterations: u64,
    /// Warm-up iterations (reported with warmup=true, not measured).
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Assets directory (default: $ISOBENCH_ASSETS, else /assets).
    #[arg(long, value_name = "DIR")]
    assets: Option<PathBuf>,
    /// Model file instead of the workload's default under ASSETS/models.
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Image directory (or file) instead of the workload's default images.
    #[arg(long, value_name = "DIR")]
    images: Option<PathBuf>,
    /// Neighbours for knn.
    #[arg(long, default_value_t = 3)]
    k: usize,
    /// libonnxruntime.so for the ort engine (default: $ORT_DYLIB_PATH).
    #[arg(long, value_name = "PATH")]
    ort_lib: Option<PathBuf>,
    /// busy workload: CPU milliseconds per iteration.
    #[arg(long, default_value_t = isobench_agent::workloads::busy::DEFAULT_BUSY_MS)]
    busy_ms: u64,
    /// busy workload: MiB of memory written once and held.
    #[arg(long, default_value_t = isobench_agent::workloads::busy::DEFAULT_TOUCH_MIB)]
    touch_mib: u64,
    /// VM init only: kernel modules to load first, in order (a.ko,b.ko).
    #[arg(long, value_name = "LIST")]
    modules: Option<String>,
    /// VM init only: how to end the machine (default poweroff).
    #[arg(long, value_enum)]
    halt: Option<Halt>,
}

#[derive(Debug, clap::Args)]
struct ExecArgs {
    /// The program and how to measure it (hex-encoded JSON written by isobench).
    #[arg(long)]
    spec: String,
    /// Enter this directory first (chroot, read-only, private /proc, /dev, /tmp).
    #[arg(long, value_name = "DIR", conflicts_with = "root_device")]
    chroot: Option<PathBuf>,
    /// VM init only: mount this ext4 block device and enter it first.
    #[arg(long, value_name = "DEVICE")]
    root_device: Option<PathBuf>,
    /// VM init only: kernel modules to load first, in order (a.ko,b.ko).
    #[arg(long, value_name = "LIST")]
    modules: Option<String>,
    /// VM init only: how to end the machine (default poweroff).
    #[arg(long, value_enum)]
    halt: Option<Halt>,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Workload: knn, mlp, yolov8, ocr-det, busy (a calibration workload of known CPU and memory cost).
    #[arg(long)]
    workload: Workload,
    /// Engine: tract or ort (default tract); knn, mlp and busy always run `native`.
    #[arg(long)]
    engine: Option<Engine>,
    /// Intra-op threads.
    #[arg(long, default_value_t = 1)]
    threads: u32,
    /// Assets directory (default: $ISOBENCH_ASSETS, else /assets).
    #[arg(long, value_name = "DIR")]
    assets: Option<PathBuf>,
    /// Model file instead of the workload's default under ASSETS/models.
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Image directory (or file) instead of the workload's default images.
    #[arg(long, value_name = "DIR")]
    images: Option<PathBuf>,
    /// Neighbours for knn.
    #[arg(long, default_value_t = 3)]
    k: usize,
    /// libonnxruntime.so for the ort engine (default: $ORT_DYLIB_PATH).
    #[arg(long, value_name = "PATH")]
    ort_lib: Option<PathBuf>,
    /// busy workload: CPU milliseconds per iteration.
    #[arg(long, default_value_t = isobench_agent::workloads::busy::DEFAULT_BUSY_MS)]
    busy_ms: u64,
    /// busy workload: MiB of memory written once and held.
    #[arg(long, default_value_t = isobench_agent::workloads::busy::DEFAULT_TOUCH_MIB)]
    touch_mib: u64,
    /// Serve TCP clients (one after another) on ADDR:PORT instead of stdin.
    #[arg(long, value_name = "ADDR:PORT", conflicts_with_all = ["device", "vsock_port"])]
    listen: Option<String>,
    /// Serve requests from a serial / virtio-serial device instead of stdin.
    #[arg(long, value_name = "PATH", conflicts_with = "vsock_port")]
    device: Option<PathBuf>,
    /// Serve vsock clients (one after another) on this port of the guest
    /// (any CID): Firecracker's vsock, QEMU's vhost-vsock / vhost-user-vsock.
    #[arg(long, value_name = "PORT")]
    vsock_port: Option<u32>,
    /// VM init only: kernel modules to load first, in order (a.ko,b.ko).
    #[arg(long, value_name = "LIST")]
    modules: Option<String>,
    /// VM init only: how to end the machine (default poweroff).
    #[arg(long, value_enum)]
    halt: Option<Halt>,
}

fn main() -> ExitCode {
    let started = Instant::now();
    let vm_init = pid1::is_vm_init();
    if vm_init {
        install_halting_panic_hook(halt_from_argv());
        if let Err(e) = pid1::init(&modules_from_argv()) {
            fail(&e);
            pid1::halt(halt_from_argv());
        }
    } else {
        install_reporting_panic_hook();
    }
    let result = Cli::try_parse()
        .map_err(clap_error)
        .and_then(|cli| dispatch(cli, started, vm_init));
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Shown(code)) => code,
        Err(Failure::Agent(e)) => {
            fail(&e);
            if matches!(e, AgentError::Usage(_)) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    };
    if vm_init {
        pid1::halt(halt_from_argv());
    }
    code
}

/// Why `main` stops early.
enum Failure {
    /// An agent error: becomes an `error` record.
    Agent(AgentError),
    /// Already printed (help, version): exit with this code.
    Shown(ExitCode),
}

impl From<AgentError> for Failure {
    fn from(e: AgentError) -> Self {
        Failure::Agent(e)
    }
}

fn clap_error(e: clap::Error) -> Failure {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
        || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    {
        let _ = e.print();
        return Failure::Shown(ExitCode::from(if e.use_stderr() { 2 } else { 0 }));
    }
    let text = e.to_string();
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    Failure::Agent(AgentError::Usage(format!(
        "{first}; see `isobench-agent --help`"
    )))
}

fn dispatch(cli: Cli, started: Instant, vm_init: bool) -> Result<(), Failure> {
    match cli.command {
        Command::Version => {
            let mut engines = vec!["native"];
            if cfg!(feature = "tract") {
                engines.push("tract");
            }
            if cfg!(feature = "ort") {
                engines.push("ort");
            }
            println!(
                "isobench-agent {} (record format v{}, engines: {})",
                env!("CARGO_PKG_VERSION"),
                isobench_records::FORMAT_VERSION,
                engines.join(", ")
            );
            Ok(())
        }
        Command::TrainMlp { assets } => {
            let assets = assets.unwrap_or_else(default_assets);
            let t0 = Instant::now();
            let (model, path) = mlp::train_and_save(&assets)?;
            println!(
                "wrote {} (test accuracy {:.4}, weights sha256 {}, trained in {:.1} s)",
                path.display(),
                model.test_accuracy,
                model.weights_sha256,
                t0.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Exec(args) => {
            if !vm_init
                && (args.modules.is_some() || args.halt.is_some() || args.root_device.is_some())
            {
                return Err(AgentError::Usage(
                    "--modules, --halt and --root-device apply only when the agent is a VM's init (PID 1 without /proc); remove them"
                        .into(),
                )
                .into());
            }
            let spec = isobench_records::user::ExecSpec::decode(&args.spec)
                .map_err(|e| AgentError::Usage(e.to_string()))?;
            let root = match (args.chroot, args.root_device) {
                (Some(dir), _) => exec::Root::Chroot(dir),
                (None, Some(device)) => exec::Root::Device(device),
                (None, None) => exec::Root::Current,
            };
            let config = exec::ExecConfig {
                spec,
                root,
                pid1: vm_init,
                started,
            };
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            exec::exec(&config, &mut out)?;
            Ok(())
        }
        Command::Serve(args) => {
            if !vm_init && (args.modules.is_some() || args.halt.is_some()) {
                return Err(AgentError::Usage(
                    "--modules and --halt apply only when the agent is a VM's init (PID 1 without /proc); remove them"
                        .into(),
                )
                .into());
            }
            let transport = match (args.listen, args.device, args.vsock_port) {
                (Some(addr), _, _) => serve::Transport::Tcp(addr),
                (None, Some(path), _) => serve::Transport::Device(path),
                (None, None, Some(port)) => serve::Transport::Vsock(port),
                (None, None, None) => serve::Transport::Stdio,
            };
            let engine = args
                .engine
                .unwrap_or_else(|| args.workload.default_engine());
            let config = serve::ServeConfig {
                workload: args.workload,
                options: WorkloadOptions {
                    assets: args.assets.unwrap_or_else(default_assets),
                    model: args.model,
                    images: args.images,
                    engine,
                    threads: args.threads,
                    k: args.k,
                    ort_lib: args.ort_lib,
                    busy_ms: args.busy_ms,
                    touch_mib: args.touch_mib,
                },
                pid1: vm_init,
                started,
                transport,
            };
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            serve::serve(&config, &mut out)?;
            Ok(())
        }
        Command::Run(args) => {
            if !vm_init && (args.modules.is_some() || args.halt.is_some()) {
                return Err(AgentError::Usage(
                    "--modules and --halt apply only when the agent is a VM's init (PID 1 without /proc); remove them"
                        .into(),
                )
                .into());
            }
            let engine = args
                .engine
                .unwrap_or_else(|| args.workload.default_engine());
            let config = RunConfig {
                workload: args.workload,
                options: WorkloadOptions {
                    assets: args.assets.unwrap_or_else(default_assets),
                    model: args.model,
                    images: args.images,
                    engine,
                    threads: args.threads,
                    k: args.k,
                    ort_lib: args.ort_lib,
                    busy_ms: args.busy_ms,
                    touch_mib: args.touch_mib,
                },
                iterations: args.iterations,
                warmup: args.warmup,
                pid1: vm_init,
                started,
            };
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            run::run(&config, &mut out)?;
            Ok(())
        }
    }
}

fn default_assets() -> PathBuf {
    std::env::var_os("ISOBENCH_ASSETS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/assets"))
}

/// Writes the `error` record to stdout and a plain line to stderr.
fn fail(e: &AgentError) {
    report(e.kind(), &e.to_string());
}

fn report(kind: &str, message: &str) {
    let record = Record::Error(isobench_records::AgentError {
        kind: kind.into(),
        message: message.into(),
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", record.to_line());
    let _ = out.flush();
    eprintln!("isobench-agent: error: {message}");
}

/// The value of `--halt` scanned from the raw arguments, so the machine
/// halts the requested way even when the arguments do not parse.
fn halt_from_argv() -> Halt {
    let args: Vec<String> = std::env::args().collect();
    let value = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--halt=")
            .map(str::to_string)
            .or_else(|| (a == "--halt").then(|| args.get(i + 1).cloned()).flatten())
    });
    match value.as_deref() {
        Some("reboot") => Halt::Reboot,
        _ => Halt::Poweroff,
    }
}

/// The `--modules` list scanned from the raw arguments (init runs before
/// argument parsing so that errors can reach the console).
fn modules_from_argv() -> Vec<PathBuf> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .enumerate()
        .find_map(|(i, a)| {
            a.strip_prefix("--modules=")
                .map(str::to_string)
                .or_else(|| {
                    (a == "--modules")
                        .then(|| args.get(i + 1).cloned())
                        .flatten()
                })
        })
        .map(|list| pid1::parse_modules(&list))
        .unwrap_or_default()
}

fn panic_message(
    payload: &(dyn std::any::Any + Send),
    location: Option<&std::panic::Location<'_>>,
) -> String {
    let payload = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    let at = location
        .map(|l| format!(" at {}:{}", l.file(), l.line()))
        .unwrap_or_default();
    format!("agent bug: panicked{at}: {payload}; please report it with the command line used")
}

/// Outside a VM: a panic still leaves an `error` record (kind `internal`).
fn install_reporting_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        report("internal", &panic_message(info.payload(), info.location()))
    }));
}

/// As VM init: report the panic, then halt (PID 1 must never exit).
fn install_halting_panic_hook(how: Halt) {
    std::panic::set_hook(Box::new(move |info| {
        report("internal", &panic_message(info.payload(), info.location()));
        pid1::halt(how);
    }));
}
