//! What the host asks the agent to do, as one type.
//!
//! The harness builds an [`AgentInvocation`] (run a workload, serve
//! requests, or run the user's program), the environment completes what only
//! it knows (the user's tree to chroot into, a VM's root device, the kernel
//! modules its init loads, how the machine halts), and
//! [`AgentInvocation::to_args`] turns it into the agent's command line: the
//! one place that writes argv. The agent reads it back with clap, whose
//! definitions are these same structs (their `#[arg]` attributes), so a
//! field exists once on both sides of the isolation boundary; a round-trip
//! test (`to_args`, then parse) keeps writer and reader in step.
//!
//! Argv rather than a JSON document: it travels unchanged through every
//! backend (a process's arguments, an OCI `process.args`, Docker's `Cmd`, a
//! guest kernel's command line after `--`), and a person can read and type
//! it. The user's program specification, which holds arbitrary strings, is
//! the one field carried as hex-encoded JSON ([`ExecSpec::encode`]).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use crate::kinds::{Engine, Workload};
use crate::user::ExecSpec;

/// Default neighbours of the knn workload.
pub const DEFAULT_K: usize = 3;
/// Default CPU milliseconds per iteration of the `busy` workload.
pub const DEFAULT_BUSY_MS: u64 = 100;
/// Default MiB the `busy` workload writes once and holds.
pub const DEFAULT_TOUCH_MIB: u64 = 64;
/// Default MiB of each of the three buffers the `noise --load memory`
/// streamer sweeps (3 × 64 MiB: larger than any last-level cache).
pub const DEFAULT_NOISE_MIB: u64 = 64;

/// One agent command with everything it needs: what `isobench-agent` is
/// started with in every environment.
#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum AgentInvocation {
    /// Run a workload: ready, warm-up and measured iteration records, summary.
    Run(RunSpec),
    /// Serve inference requests (`@ISB1` frames) on stdin/stdout, a TCP
    /// listener, a vsock port or a serial device, with the model loaded once.
    Serve(ServeSpec),
    /// Run the user's own program (`--workload command`) and report its
    /// iterations as records: in the current root, a chroot or a VM's root drive.
    Exec(ExecCommand),
    /// Be a noisy neighbour: report `ready`, then load the CPU or the memory
    /// bus until the input ends or the agent is stopped.
    Noise(NoiseSpec),
}

/// `noise`: a neighbour's load, until stopped.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct NoiseSpec {
    /// The load: cpu (one thread in a busy loop, no system calls) or memory
    /// (one thread streaming a triad `a = b + s·c` over three buffers).
    #[arg(long)]
    pub load: NoiseLoad,
    /// memory: MiB of each of the three buffers (written once before `ready`).
    #[arg(long, default_value_t = DEFAULT_NOISE_MIB)]
    pub mib: u64,
    /// A VM init's duties.
    #[command(flatten)]
    pub guest: GuestInit,
}

/// What a `noise` agent loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum NoiseLoad {
    /// A busy loop: one core's worth of integer arithmetic, no system calls.
    Cpu,
    /// A STREAM-triad-like streamer over buffers larger than the last-level
    /// cache: memory bandwidth.
    Memory,
}

impl NoiseLoad {
    /// The argument value (`cpu`, `memory`).
    pub fn name(self) -> &'static str {
        match self {
            NoiseLoad::Cpu => "cpu",
            NoiseLoad::Memory => "memory",
        }
    }
}

impl fmt::Display for NoiseLoad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The model an agent loads and how: shared by `run` and `serve`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ModelSpec {
    /// Workload: knn, mlp, yolov8, ocr-det, busy (a calibration workload of known CPU and memory cost).
    #[arg(long)]
    pub workload: Workload,
    /// Engine: tract or ort (default: tract for ONNX models); knn, mlp and busy always run `native`.
    #[arg(long)]
    pub engine: Option<Engine>,
    /// Intra-op threads.
    #[arg(long, default_value_t = 1)]
    pub threads: u32,
    /// Assets directory (default: $ISOBENCH_ASSETS, else /assets).
    #[arg(long, value_name = "DIR")]
    pub assets: Option<PathBuf>,
    /// Model file instead of the workload's default under ASSETS/models.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Image directory (or file) instead of the workload's default images.
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Neighbours for knn.
    #[arg(long, default_value_t = DEFAULT_K)]
    pub k: usize,
    /// libonnxruntime.so for the ort engine (default: $ORT_DYLIB_PATH).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// busy workload: CPU milliseconds per iteration.
    #[arg(long, default_value_t = DEFAULT_BUSY_MS)]
    pub busy_ms: u64,
    /// busy workload: MiB of memory written once and held.
    #[arg(long, default_value_t = DEFAULT_TOUCH_MIB)]
    pub touch_mib: u64,
}

impl ModelSpec {
    /// `workload` with every other setting at its default.
    pub fn new(workload: Workload) -> Self {
        ModelSpec {
            workload,
            engine: None,
            threads: 1,
            assets: None,
            model: None,
            images: None,
            k: DEFAULT_K,
            ort_lib: None,
            busy_ms: DEFAULT_BUSY_MS,
            touch_mib: DEFAULT_TOUCH_MIB,
        }
    }

    /// The engine that runs: the one asked for, else the workload's default.
    pub fn engine(&self) -> Engine {
        self.engine
            .unwrap_or_else(|| self.workload.default_engine())
    }

    fn write(&self, args: &mut Args) {
        args.value("--workload", self.workload);
        args.option("--engine", self.engine);
        args.default("--threads", self.threads, 1);
        args.path("--assets", self.assets.as_ref());
        args.path("--model", self.model.as_ref());
        args.path("--images", self.images.as_ref());
        args.default("--k", self.k, DEFAULT_K);
        args.path("--ort-lib", self.ort_lib.as_ref());
        args.default("--busy-ms", self.busy_ms, DEFAULT_BUSY_MS);
        args.default("--touch-mib", self.touch_mib, DEFAULT_TOUCH_MIB);
    }
}

/// `run`: a workload's warm-up and measured iterations.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct RunSpec {
    /// The model and engine.
    #[command(flatten)]
    pub model: ModelSpec,
    /// Measured iterations.
    #[arg(long, default_value_t = 10)]
    pub iterations: u64,
    /// Warm-up iterations (reported with warmup=true, not measured).
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// A VM init's duties.
    #[command(flatten)]
    pub guest: GuestInit,
}

/// `serve`: answer requests until the input ends.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ServeSpec {
    /// The model and engine.
    #[command(flatten)]
    pub model: ModelSpec,
    /// Where requests come from: `stdio` (default), `tcp:ADDR:PORT` (TCP
    /// clients, one after another), `vsock:PORT` (vsock clients on this port
    /// of the guest, any CID: Firecracker's vsock, QEMU's vhost-vsock), or
    /// `device:PATH` (a serial or virtio-serial device).
    #[arg(long, default_value_t = Listen::Stdio)]
    pub listen: Listen,
    /// A VM init's duties.
    #[command(flatten)]
    pub guest: GuestInit,
}

/// `exec`: the user's program, measured as `spec` says.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ExecCommand {
    /// The program and how to measure it (hex-encoded JSON written by isobench).
    #[arg(long, value_parser = parse_exec_spec)]
    pub spec: ExecSpec,
    /// Enter this directory first (chroot, read-only, private /proc, /dev, /tmp).
    #[arg(long, value_name = "DIR", conflicts_with = "root_device")]
    pub chroot: Option<PathBuf>,
    /// VM init only: mount this ext4 block device and enter it first.
    #[arg(long, value_name = "DEVICE")]
    pub root_device: Option<PathBuf>,
    /// A VM init's duties.
    #[command(flatten)]
    pub guest: GuestInit,
}

fn parse_exec_spec(text: &str) -> Result<ExecSpec, crate::user::BadSpec> {
    ExecSpec::decode(text)
}

/// What the agent does first, and last, when it is a VM's init (PID 1
/// without /proc); refused elsewhere.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct GuestInit {
    /// VM init only: kernel modules to load first, in order (a.ko,b.ko).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub modules: Vec<PathBuf>,
    /// VM init only: how to end the machine (default poweroff).
    #[arg(long, value_enum)]
    pub halt: Option<Halt>,
}

impl GuestInit {
    /// True when nothing is asked of a VM init.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty() && self.halt.is_none()
    }

    /// The VM init's duties read from raw arguments, before (and whether
    /// or not) the whole command line parses: init loads its modules and
    /// must halt the asked way even when the rest is wrong.
    pub fn scan(args: &[String]) -> GuestInit {
        let value = |flag: &str| {
            let with_equals = format!("{flag}=");
            args.iter().enumerate().find_map(|(i, a)| {
                a.strip_prefix(&with_equals)
                    .map(str::to_string)
                    .or_else(|| (a == flag).then(|| args.get(i + 1).cloned()).flatten())
            })
        };
        GuestInit {
            modules: value("--modules")
                .map(|list| {
                    list.split(',')
                        .filter(|m| !m.is_empty())
                        .map(PathBuf::from)
                        .collect()
                })
                .unwrap_or_default(),
            halt: value("--halt").and_then(|h| h.parse().ok()),
        }
    }

    fn write(&self, args: &mut Args) {
        if !self.modules.is_empty() {
            let list: Vec<String> = self
                .modules
                .iter()
                .map(|m| m.display().to_string())
                .collect();
            args.push("--modules", list.join(","));
        }
        args.option("--halt", self.halt);
    }
}

/// How a VM's init ends the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Halt {
    /// `reboot(RB_POWER_OFF)`: QEMU (ACPI) exits.
    Poweroff,
    /// `reboot(RB_AUTOBOOT)`: Firecracker with `reboot=k`, or QEMU with `-no-reboot`, exits on the reset.
    Reboot,
}

impl Halt {
    /// The argument value (`poweroff`, `reboot`).
    pub fn name(self) -> &'static str {
        match self {
            Halt::Poweroff => "poweroff",
            Halt::Reboot => "reboot",
        }
    }
}

impl fmt::Display for Halt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Halt {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "poweroff" => Ok(Halt::Poweroff),
            "reboot" => Ok(Halt::Reboot),
            other => Err(format!("unknown halt `{other}`; use poweroff or reboot")),
        }
    }
}

/// Where a serving agent takes its requests from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// Its stdin (or a VM's serial console).
    Stdio,
    /// TCP clients, one after another, on this address.
    Tcp(SocketAddr),
    /// vsock clients on this port of the guest (any CID).
    Vsock(u32),
    /// A serial or virtio-serial device.
    Device(PathBuf),
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Stdio => f.write_str("stdio"),
            Listen::Tcp(addr) => write!(f, "tcp:{addr}"),
            Listen::Vsock(port) => write!(f, "vsock:{port}"),
            Listen::Device(path) => write!(f, "device:{}", path.display()),
        }
    }
}

impl FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("--listen {s}: give stdio, tcp:ADDR:PORT, vsock:PORT or device:PATH");
        match s.split_once(':') {
            None if s == "stdio" => Ok(Listen::Stdio),
            Some(("tcp", addr)) => addr.parse().map(Listen::Tcp).map_err(|_| bad()),
            Some(("vsock", port)) => port.parse().map(Listen::Vsock).map_err(|_| bad()),
            Some(("device", path)) if !path.is_empty() => Ok(Listen::Device(PathBuf::from(path))),
            _ => Err(bad()),
        }
    }
}

impl AgentInvocation {
    /// `run` of `model`: `warmup` then `iterations` measured iterations.
    pub fn run(model: ModelSpec, iterations: u64, warmup: u64) -> Self {
        AgentInvocation::Run(RunSpec {
            model,
            iterations,
            warmup,
            guest: GuestInit::default(),
        })
    }

    /// `serve` of `model`, taking requests from `listen`.
    pub fn serve(model: ModelSpec, listen: Listen) -> Self {
        AgentInvocation::Serve(ServeSpec {
            model,
            listen,
            guest: GuestInit::default(),
        })
    }

    /// `noise` with `load` (`mib`: the memory streamer's buffer size).
    pub fn noise(load: NoiseLoad, mib: u64) -> Self {
        AgentInvocation::Noise(NoiseSpec {
            load,
            mib,
            guest: GuestInit::default(),
        })
    }

    /// `exec` of the user's program in the current root.
    pub fn exec(spec: ExecSpec) -> Self {
        AgentInvocation::Exec(ExecCommand {
            spec,
            chroot: None,
            root_device: None,
            guest: GuestInit::default(),
        })
    }

    /// The subcommand's name (`run`, `serve`, `exec`, `noise`).
    pub fn name(&self) -> &'static str {
        match self {
            AgentInvocation::Run(_) => "run",
            AgentInvocation::Serve(_) => "serve",
            AgentInvocation::Exec(_) => "exec",
            AgentInvocation::Noise(_) => "noise",
        }
    }

    /// The VM init's duties of this invocation.
    pub fn guest(&self) -> &GuestInit {
        match self {
            AgentInvocation::Run(r) => &r.guest,
            AgentInvocation::Serve(s) => &s.guest,
            AgentInvocation::Exec(e) => &e.guest,
            AgentInvocation::Noise(n) => &n.guest,
        }
    }

    /// The VM init's duties, for the environment to fill in.
    pub fn guest_mut(&mut self) -> &mut GuestInit {
        match self {
            AgentInvocation::Run(r) => &mut r.guest,
            AgentInvocation::Serve(s) => &mut s.guest,
            AgentInvocation::Exec(e) => &mut e.guest,
            AgentInvocation::Noise(n) => &mut n.guest,
        }
    }

    /// The model, for `run` and `serve`.
    pub fn model(&self) -> Option<&ModelSpec> {
        match self {
            AgentInvocation::Run(r) => Some(&r.model),
            AgentInvocation::Serve(s) => Some(&s.model),
            AgentInvocation::Exec(_) | AgentInvocation::Noise(_) => None,
        }
    }

    /// The model, for `run` and `serve`, for the environment to fill in.
    pub fn model_mut(&mut self) -> Option<&mut ModelSpec> {
        match self {
            AgentInvocation::Run(r) => Some(&mut r.model),
            AgentInvocation::Serve(s) => Some(&mut s.model),
            AgentInvocation::Exec(_) | AgentInvocation::Noise(_) => None,
        }
    }

    /// True for `serve`.
    pub fn is_serving(&self) -> bool {
        matches!(self, AgentInvocation::Serve(_))
    }

    /// The agent's arguments (after its program name): the one place argv
    /// is written. Settings at their defaults are left out, so command
    /// lines stay short (a guest kernel's command line is limited).
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Args(vec![self.name().to_string()]);
        match self {
            AgentInvocation::Run(run) => {
                run.model.write(&mut args);
                args.push("--iterations", run.iterations);
                args.push("--warmup", run.warmup);
                run.guest.write(&mut args);
            }
            AgentInvocation::Serve(serve) => {
                serve.model.write(&mut args);
                if serve.listen != Listen::Stdio {
                    args.push("--listen", &serve.listen);
                }
                serve.guest.write(&mut args);
            }
            AgentInvocation::Exec(exec) => {
                args.push("--spec", exec.spec.encode());
                args.path("--chroot", exec.chroot.as_ref());
                args.path("--root-device", exec.root_device.as_ref());
                exec.guest.write(&mut args);
            }
            AgentInvocation::Noise(noise) => {
                args.value("--load", noise.load);
                args.default("--mib", noise.mib, DEFAULT_NOISE_MIB);
                noise.guest.write(&mut args);
            }
        }
        args.0
    }

    /// Reads [`AgentInvocation::to_args`]'s output (the agent's own parser,
    /// for tests and tools; the agent parses with its whole command set).
    pub fn parse(args: &[String]) -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        #[command(name = "isobench-agent")]
        struct Only {
            #[command(subcommand)]
            invocation: AgentInvocation,
        }
        let argv = std::iter::once("isobench-agent".to_string()).chain(args.iter().cloned());
        <Only as clap::Parser>::try_parse_from(argv).map(|o| o.invocation)
    }
}

/// An argument list being written.
struct Args(Vec<String>);

impl Args {
    fn push(&mut self, flag: &str, value: impl fmt::Display) {
        self.0.push(flag.to_string());
        self.0.push(value.to_string());
    }

    fn value(&mut self, flag: &str, value: impl fmt::Display) {
        self.push(flag, value);
    }

    fn option(&mut self, flag: &str, value: Option<impl fmt::Display>) {
        if let Some(value) = value {
            self.push(flag, value);
        }
    }

    fn default<T: fmt::Display + PartialEq>(&mut self, flag: &str, value: T, default: T) {
        if value != default {
            self.push(flag, value);
        }
    }

    fn path(&mut self, flag: &str, value: Option<&PathBuf>) {
        if let Some(path) = value {
            self.push(flag, path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::Measure;

    fn model() -> ModelSpec {
        ModelSpec {
            engine: Some(Engine::Ort),
            threads: 2,
            assets: Some("/assets".into()),
            model: Some("/assets/user/model.onnx".into()),
            images: Some("/assets/user/images".into()),
            k: 5,
            ort_lib: Some("/lib/libonnxruntime.so".into()),
            busy_ms: 7,
            touch_mib: 9,
            ..ModelSpec::new(Workload::Yolov8)
        }
    }

    fn every_invocation() -> Vec<AgentInvocation> {
        let guest = GuestInit {
            modules: vec!["/lib/modules/a.ko".into(), "/lib/modules/b.ko".into()],
            halt: Some(Halt::Reboot),
        };
        let spec = ExecSpec {
            argv: vec!["python3".into(), "-c".into(), "print('a b')".into()],
            env: vec![("K".into(), "v w".into())],
            workdir: Some("/app".into()),
            measure: Measure::Process,
            iterations: 4,
            warmup: 1,
        };
        let mut all = vec![
            AgentInvocation::Run(RunSpec {
                model: ModelSpec::new(Workload::Knn),
                iterations: 10,
                warmup: 1,
                guest: GuestInit::default(),
            }),
            AgentInvocation::Run(RunSpec {
                model: model(),
                iterations: 3,
                warmup: 0,
                guest: guest.clone(),
            }),
            AgentInvocation::Exec(ExecCommand {
                spec: spec.clone(),
                chroot: Some("/var/cache/tree".into()),
                root_device: None,
                guest: GuestInit::default(),
            }),
            AgentInvocation::Exec(ExecCommand {
                spec,
                chroot: None,
                root_device: Some("/dev/vda".into()),
                guest: guest.clone(),
            }),
        ];
        all.push(AgentInvocation::noise(NoiseLoad::Cpu, DEFAULT_NOISE_MIB));
        all.push(AgentInvocation::Noise(NoiseSpec {
            load: NoiseLoad::Memory,
            mib: 8,
            guest: guest.clone(),
        }));
        for listen in [
            Listen::Stdio,
            Listen::Tcp("127.0.0.1:7070".parse().unwrap()),
            Listen::Tcp("[::1]:80".parse().unwrap()),
            Listen::Vsock(7070),
            Listen::Device("/dev/hvc1".into()),
        ] {
            all.push(AgentInvocation::Serve(ServeSpec {
                model: model(),
                listen,
                guest: guest.clone(),
            }));
        }
        all
    }

    #[test]
    fn every_invocation_reads_back_as_written() {
        for invocation in every_invocation() {
            let args = invocation.to_args();
            let back = AgentInvocation::parse(&args)
                .unwrap_or_else(|e| panic!("{args:?} does not parse: {e}"));
            assert_eq!(back, invocation, "{args:?}");
            assert_eq!(GuestInit::scan(&args), *invocation.guest(), "{args:?}");
        }
    }

    #[test]
    fn defaults_are_left_out() {
        let run = AgentInvocation::Run(RunSpec {
            model: ModelSpec::new(Workload::Knn),
            iterations: 20,
            warmup: 3,
            guest: GuestInit::default(),
        });
        assert_eq!(
            run.to_args().join(" "),
            "run --workload knn --iterations 20 --warmup 3"
        );
    }

    #[test]
    fn listen_values_are_checked() {
        assert_eq!("stdio".parse::<Listen>(), Ok(Listen::Stdio));
        assert_eq!("vsock:52".parse::<Listen>(), Ok(Listen::Vsock(52)));
        for bad in [
            "tcp:nowhere",
            "vsock:x",
            "device:",
            "udp:1.2.3.4:5",
            "stdin",
        ] {
            let err = bad.parse::<Listen>().unwrap_err();
            assert!(err.contains("tcp:ADDR:PORT"), "{bad}: {err}");
        }
    }

    #[test]
    fn scanning_finds_the_init_duties_of_unparsable_lines() {
        let args: Vec<String> = [
            "run",
            "--workload",
            "nope",
            "--halt",
            "reboot",
            "--modules=a.ko,b.ko",
        ]
        .map(String::from)
        .to_vec();
        assert!(AgentInvocation::parse(&args).is_err());
        let guest = GuestInit::scan(&args);
        assert_eq!(guest.halt, Some(Halt::Reboot));
        assert_eq!(guest.modules, vec![PathBuf::from("a.ko"), "b.ko".into()]);
        assert!(GuestInit::scan(&["run".into()]).is_empty());
    }
}
