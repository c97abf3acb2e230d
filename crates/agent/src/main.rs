//! `isobench-agent`: the guest-side program. See the crate docs
//! (`isobench_agent`) and `isobench-agent --help`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use isobench_agent::exec;
use isobench_agent::noise;
use isobench_agent::pid1;
use isobench_agent::run::{self, RunConfig};
use isobench_agent::serve;
use isobench_agent::workloads::{mlp, WorkloadOptions};
use isobench_agent::AgentError;
use isobench_records::{AgentInvocation, GuestInit, Halt, ModelSpec, Record};

/// Runs one inference workload and writes JSON-lines records to stdout.
#[derive(Debug, Parser)]
#[command(name = "isobench-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// What the host starts the agent with: run, serve, exec or noise
    /// (`isobench_records::AgentInvocation`, the one definition both sides share).
    #[command(flatten)]
    Invocation(AgentInvocation),
    /// Train the digits MLP and write ASSETS/models/mlp-digits.json.
    TrainMlp {
        /// Assets directory (default: $ISOBENCH_ASSETS, else /assets).
        #[arg(long, value_name = "DIR")]
        assets: Option<PathBuf>,
    },
    /// Print the agent version and the engines compiled in.
    Version,
}

fn main() -> ExitCode {
    let started = Instant::now();
    let vm_init = pid1::is_vm_init();
    // A VM init loads its modules and halts the asked way even when the
    // rest of its command line does not parse.
    let guest = GuestInit::scan(&std::env::args().collect::<Vec<_>>());
    let halt = guest.halt.unwrap_or(Halt::Poweroff);
    if vm_init {
        install_halting_panic_hook(halt);
        if let Err(e) = pid1::init(&guest.modules) {
            fail(&e);
            pid1::halt(halt);
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
        pid1::halt(halt);
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
        Command::Invocation(invocation) => {
            if !vm_init && !invocation.guest().is_empty() {
                return Err(AgentError::Usage(
                    "--modules and --halt apply only when the agent is a VM's init (PID 1 without /proc); remove them"
                        .into(),
                )
                .into());
            }
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            match invocation {
                AgentInvocation::Exec(exec) => {
                    let root = match (exec.chroot, exec.root_device) {
                        (Some(dir), _) => exec::Root::Chroot(dir),
                        (None, Some(_)) if !vm_init => {
                            return Err(AgentError::Usage(
                                "--root-device applies only when the agent is a VM's init (PID 1 without /proc); remove it"
                                    .into(),
                            )
                            .into())
                        }
                        (None, Some(device)) => exec::Root::Device(device),
                        (None, None) => exec::Root::Current,
                    };
                    let config = exec::ExecConfig {
                        spec: exec.spec,
                        root,
                        pid1: vm_init,
                        started,
                    };
                    exec::exec(&config, &mut out)?;
                }
                AgentInvocation::Serve(serve) => {
                    let config = serve::ServeConfig {
                        workload: serve.model.workload,
                        options: workload_options(&serve.model),
                        pid1: vm_init,
                        started,
                        transport: serve.listen,
                    };
                    serve::serve(&config, &mut out)?;
                }
                AgentInvocation::Noise(spec) => {
                    let config = noise::NoiseConfig {
                        load: spec.load,
                        mib: spec.mib,
                        pid1: vm_init,
                        started,
                    };
                    let stop = noise::stop_at_end_of_input();
                    noise::noise(&config, &mut out, &stop)?;
                }
                AgentInvocation::Run(run) => {
                    let config = RunConfig {
                        workload: run.model.workload,
                        options: workload_options(&run.model),
                        iterations: run.iterations,
                        warmup: run.warmup,
                        pid1: vm_init,
                        started,
                    };
                    run::run(&config, &mut out)?;
                }
            }
            Ok(())
        }
    }
}

/// The workload's options from the invocation's model settings.
fn workload_options(model: &ModelSpec) -> WorkloadOptions {
    WorkloadOptions {
        assets: model.assets.clone().unwrap_or_else(default_assets),
        model: model.model.clone(),
        images: model.images.clone(),
        engine: model.engine(),
        threads: model.threads,
        k: model.k,
        ort_lib: model.ort_lib.clone(),
        busy_ms: model.busy_ms,
        touch_mib: model.touch_mib,
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
