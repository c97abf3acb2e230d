//! `exec`: the user's own program (`--workload command`), measured like a
//! built-in workload. The agent enters the user's root filesystem (already
//! its root in a container; a `chroot` into it natively; the VM's block
//! device as PID 1), starts the program with a fixed minimal environment,
//! and turns what it sees into the agent's own records:
//!
//! - [`Measure::Records`]: the program prints one line per iteration in the
//!   format of [`isobench_records::user`]; each becomes an `iteration`
//!   record (its output digest compared across environments).
//! - [`Measure::Process`]: each iteration is one fresh invocation, timed
//!   from spawn to exit; the digest is the exit code and a hash of stdout.
//!
//! The program's own peak resident memory (`getrusage(RUSAGE_CHILDREN)`)
//! goes into the summary as the workload's peak RSS.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use isobench_records::user::{parse_user_line, ExecSpec, Measure, UserLine};
use isobench_records::{fnv1a64, Digest, Engine, Iteration, Ready, Record, Summary, Workload};
use nix::mount::{mount, MsFlags};

use crate::error::AgentError;
use crate::run::{agent_sha256, emit};

/// The environment every program starts with, whatever the host's.
pub const BASE_ENV: [(&str, &str); 4] = [
    (
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ),
    ("HOME", "/root"),
    ("LANG", "C.UTF-8"),
    ("PYTHONDONTWRITEBYTECODE", "1"),
];

/// Where the program's root filesystem is.
#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    /// The agent's own root (a container whose root is the user's tree).
    Current,
    /// A directory on the host to enter with `chroot` (native).
    Chroot(PathBuf),
    /// A block device holding an ext4 file system (a VM's root drive).
    Device(PathBuf),
}

/// Everything `exec` needs.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// The program, its environment and how it is measured.
    pub spec: ExecSpec,
    /// Where its root filesystem is.
    pub root: Root,
    /// Whether the agent is a VM's init (reported in `ready`).
    pub pid1: bool,
    /// When `main` started, for `ready_us`.
    pub started: Instant,
}

/// Mount point of a VM's root drive before the agent enters it.
const NEW_ROOT: &str = "/newroot";

/// Makes `dir` the root of this process, read-only, with fresh /proc, /dev
/// and a private /tmp, in a mount namespace of its own (so nothing it
/// mounts is visible outside, and the tree on disk is not written).
fn enter(dir: &Path) -> Result<(), AgentError> {
    let init = |what: &str, e: nix::Error| AgentError::Init(format!("{what}: {e}"));
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(|e| {
        init(
            "unshare(CLONE_NEWNS) (entering the root filesystem needs root)",
            e,
        )
    })?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| init("making mounts private", e))?;
    mount(
        Some(dir),
        dir,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| init(&format!("bind-mounting {}", dir.display()), e))?;
    mount(
        None::<&str>,
        dir,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(|e| init(&format!("making {} read-only", dir.display()), e))?;
    for (sub, fstype, source) in [
        ("proc", "proc", "proc"),
        ("dev", "devtmpfs", "devtmpfs"),
        ("tmp", "tmpfs", "tmpfs"),
    ] {
        let target = dir.join(sub);
        if !target.is_dir() {
            return Err(AgentError::Init(format!(
                "the root filesystem has no /{sub} directory; isobench adds it when it caches the tree, so {} is not a tree isobench prepared",
                dir.display()
            )));
        }
        mount(
            Some(source),
            &target,
            Some(fstype),
            MsFlags::MS_NOSUID,
            None::<&str>,
        )
        .map_err(|e| init(&format!("mounting {fstype} on {}", target.display()), e))?;
    }
    nix::unistd::chroot(dir).map_err(|e| init(&format!("chroot {}", dir.display()), e))?;
    nix::unistd::chdir("/").map_err(|e| init("chdir /", e))
}

/// Mounts a VM's root drive (ext4, read-only) and enters it.
fn enter_device(device: &Path) -> Result<(), AgentError> {
    std::fs::create_dir_all(NEW_ROOT)
        .map_err(|e| AgentError::Init(format!("cannot create {NEW_ROOT}: {e}")))?;
    mount(
        Some(device),
        NEW_ROOT,
        Some("ext4"),
        MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(|e| {
        AgentError::Init(format!(
            "mounting {} (ext4) on {NEW_ROOT}: {e}; the guest kernel needs virtio-blk and ext4 (the initramfs loads virtio_blk.ko for Debian's kernel)",
            device.display()
        ))
    })?;
    enter(Path::new(NEW_ROOT))
}

/// Keeps the last lines of the program's stderr for error messages.
#[derive(Clone, Default)]
struct Tail(Arc<Mutex<Vec<String>>>);

impl Tail {
    const KEEP: usize = 5;

    fn follow(&self, source: impl Read + Send + 'static) -> std::thread::JoinHandle<()> {
        let tail = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(source).lines().map_while(Result::ok) {
                // The program's own messages stay visible on the agent's stderr.
                eprintln!("{line}");
                let mut kept = tail.0.lock().unwrap_or_else(|p| p.into_inner());
                kept.push(line);
                if kept.len() > Self::KEEP {
                    kept.remove(0);
                }
            }
        })
    }

    fn text(&self) -> String {
        let kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.is_empty() {
            "no stderr".into()
        } else {
            kept.join(" | ")
        }
    }
}

/// The program, ready to start.
fn command(spec: &ExecSpec) -> Result<Command, AgentError> {
    let program = spec
        .argv
        .first()
        .ok_or_else(|| AgentError::Usage("--command is empty: give the program to run".into()))?;
    let mut command = Command::new(program);
    command
        .args(&spec.argv[1..])
        .env_clear()
        .envs(BASE_ENV)
        .env("ISOBENCH_ITERATIONS", spec.iterations.to_string())
        .env("ISOBENCH_WARMUP", spec.warmup.to_string())
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(spec.workdir.as_deref().unwrap_or("/"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Ok(command)
}

/// Starts the program; a missing program or interpreter is named.
fn spawn(spec: &ExecSpec) -> Result<Child, AgentError> {
    command(spec)?.spawn().map_err(|e| {
        let program = &spec.argv[0];
        let workdir = spec.workdir.as_deref().unwrap_or("/");
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "`{program}` (or its interpreter) was not found in the root filesystem (working directory {workdir}); give a path that exists in the tree or install it there"
            ),
            std::io::ErrorKind::PermissionDenied => {
                format!("`{program}` is not executable in the root filesystem")
            }
            _ => format!("cannot start `{program}`: {e}"),
        };
        AgentError::Program(why)
    })
}

/// The program ended unsuccessfully.
fn failed(spec: &ExecSpec, status: std::process::ExitStatus, tail: &Tail) -> AgentError {
    AgentError::Program(format!(
        "`{}` exited with {status}; its stderr ends: {}",
        spec.argv.join(" "),
        tail.text()
    ))
}

/// Peak resident memory of the program (the largest of its invocations).
fn children_peak_rss() -> Option<u64> {
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).ok()?;
    u64::try_from(usage.max_rss())
        .ok()
        .filter(|&kib| kib > 0)
        .map(|kib| kib * 1024)
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Runs the command: enter the root, run the program, emit the records.
pub fn exec(config: &ExecConfig, out: &mut dyn Write) -> Result<(), AgentError> {
    let spec = &config.spec;
    if spec.argv.is_empty() {
        return Err(AgentError::Usage(
            "--command is empty: give the program to run".into(),
        ));
    }
    if spec.iterations == 0 {
        return Err(AgentError::Usage(
            "--iterations 0: run at least 1 measured iteration".into(),
        ));
    }
    let agent = agent_sha256();
    match &config.root {
        Root::Current => {}
        Root::Chroot(dir) => enter(dir)?,
        Root::Device(device) => enter_device(device)?,
    }
    let ready = |out: &mut dyn Write| {
        emit(
            out,
            &Record::Ready(Ready {
                workload: Workload::Command,
                engine: Engine::Native,
                threads: 0,
                ready_us: micros(config.started.elapsed()),
                model_load_us: 0,
                pid1: config.pid1,
                agent_version: env!("CARGO_PKG_VERSION").into(),
            }),
        )
    };
    let (total_inference_us, total_wall_us) = match spec.measure {
        Measure::Records => records(spec, out, &ready)?,
        Measure::Process => {
            ready(out)?;
            processes(spec, out)?
        }
    };
    emit(
        out,
        &Record::Summary(Summary {
            workload: Workload::Command,
            engine: Engine::Native,
            threads: 0,
            iterations: spec.iterations,
            warmup: spec.warmup,
            accuracy: None,
            total_inference_us,
            total_wall_us,
            model_sha256: "none".into(),
            inputs_sha256: fnv1a64(spec.argv.join("\0").as_bytes()),
            agent_sha256: agent,
            peak_rss_bytes: children_peak_rss(),
        }),
    )
}

/// `--measure records`: one process; its record lines become iterations.
fn records(
    spec: &ExecSpec,
    out: &mut dyn Write,
    ready: &dyn Fn(&mut dyn Write) -> Result<(), AgentError>,
) -> Result<(u64, u64), AgentError> {
    let mut child = spawn(spec)?;
    let tail = Tail::default();
    let stderr = tail.follow(child.stderr.take().expect("stderr is piped"));
    let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut announced = false;
    let (mut warmups, mut measured) = (0u64, 0u64);
    let (mut total_inference, mut total_wall) = (0u64, 0u64);
    let mut last = Instant::now();
    let outcome = (|| {
        for line in stdout.lines() {
            let line = line.map_err(|e| AgentError::io(Path::new("<program stdout>"), e))?;
            match parse_user_line(&line).map_err(|e| AgentError::Program(e.to_string()))? {
                UserLine::Other => eprintln!("{line}"),
                UserLine::Ready => {
                    if !announced {
                        ready(out)?;
                        announced = true;
                        last = Instant::now();
                    }
                }
                UserLine::Iteration(it) => {
                    if !announced {
                        ready(out)?;
                        announced = true;
                    }
                    let expected = if it.warmup { warmups } else { measured };
                    if it.index != expected || (it.warmup && measured > 0) {
                        return Err(AgentError::Program(format!(
                            "the program reported {} iteration {} where isobench expected {} (warm-ups first, then measured iterations, each numbered from 0)",
                            if it.warmup { "warm-up" } else { "measured" },
                            it.index,
                            if measured > 0 || !it.warmup {
                                format!("measured iteration {measured}")
                            } else {
                                format!("warm-up {warmups}")
                            }
                        )));
                    }
                    if it.warmup {
                        warmups += 1;
                    } else {
                        measured += 1;
                        total_inference += it.inference_us;
                        total_wall += micros(last.elapsed());
                    }
                    last = Instant::now();
                    emit(
                        out,
                        &Record::Iteration(Iteration {
                            index: it.index,
                            warmup: it.warmup,
                            input: it.input,
                            preprocess_us: it.preprocess_us,
                            inference_us: it.inference_us,
                            postprocess_us: it.postprocess_us,
                            threads: 0,
                            digest: match it.output {
                                Some(checksum) => Digest::Checksum { checksum },
                                None => Digest::Nothing,
                            },
                        }),
                    )?;
                }
            }
        }
        Ok(())
    })();
    if outcome.is_err() {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|e| AgentError::io(Path::new("<program>"), e))?;
    let _ = stderr.join();
    outcome?;
    if !status.success() {
        return Err(failed(spec, status, &tail));
    }
    if warmups != spec.warmup || measured != spec.iterations {
        return Err(AgentError::Program(format!(
            "the program reported {warmups} warm-up and {measured} measured iterations, isobench asked for {} and {} (it must read ISOBENCH_WARMUP and ISOBENCH_ITERATIONS)",
            spec.warmup, spec.iterations
        )));
    }
    Ok((total_inference, total_wall))
}

/// `--measure process`: one fresh invocation per iteration.
fn processes(spec: &ExecSpec, out: &mut dyn Write) -> Result<(u64, u64), AgentError> {
    let mut total = 0u64;
    for (warmup, count) in [(true, spec.warmup), (false, spec.iterations)] {
        for index in 0..count {
            let started = Instant::now();
            let mut child = spawn(spec)?;
            let tail = Tail::default();
            let stderr = tail.follow(child.stderr.take().expect("stderr is piped"));
            let mut stdout = Vec::new();
            child
                .stdout
                .take()
                .expect("stdout is piped")
                .read_to_end(&mut stdout)
                .map_err(|e| AgentError::io(Path::new("<program stdout>"), e))?;
            let status = child
                .wait()
                .map_err(|e| AgentError::io(Path::new("<program>"), e))?;
            let wall = micros(started.elapsed());
            let _ = stderr.join();
            if !status.success() {
                return Err(failed(spec, status, &tail));
            }
            if !warmup {
                total += wall;
            }
            emit(
                out,
                &Record::Iteration(Iteration {
                    index,
                    warmup,
                    input: "invocation".into(),
                    preprocess_us: 0,
                    inference_us: wall,
                    postprocess_us: 0,
                    threads: 0,
                    digest: Digest::Checksum {
                        checksum: format!("exit 0, stdout {}", fnv1a64(&stdout)),
                    },
                }),
            )?;
        }
    }
    Ok((total, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use isobench_records::{parse_line, LineKind};

    fn spec(argv: &[&str], measure: Measure) -> ExecSpec {
        ExecSpec {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: vec![("GREETING".into(), "hi".into())],
            workdir: None,
            measure,
            iterations: 3,
            warmup: 1,
        }
    }

    fn run(spec: ExecSpec) -> (Result<(), AgentError>, Vec<Record>) {
        let mut out = Vec::new();
        let result = exec(
            &ExecConfig {
                spec,
                root: Root::Current,
                pid1: false,
                started: Instant::now(),
            },
            &mut out,
        );
        let records = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| match parse_line(l).unwrap() {
                LineKind::Record(r) => r,
                LineKind::Noise => panic!("noise: {l}"),
            })
            .collect();
        (result, records)
    }

    /// A shell script printing records the way a user's program would.
    const SCRIPT: &str = r#"
echo "loading $GREETING"
echo '{"isobench": 1, "ready": true}'
i=0; while [ $i -lt $ISOBENCH_WARMUP ]; do
  echo "{\"isobench\": 1, \"index\": $i, \"warmup\": true, \"inference_us\": 5}"; i=$((i+1)); done
i=0; while [ $i -lt $ISOBENCH_ITERATIONS ]; do
  echo "{\"isobench\": 1, \"index\": $i, \"inference_us\": 10, \"output\": \"p$i\"}"; i=$((i+1)); done
"#;

    #[test]
    fn records_of_a_program_become_iterations() {
        let (result, records) = run(spec(&["sh", "-c", SCRIPT], Measure::Records));
        result.unwrap();
        assert!(matches!(records[0], Record::Ready(_)));
        let iterations: Vec<&Iteration> = records
            .iter()
            .filter_map(|r| match r {
                Record::Iteration(it) => Some(it),
                _ => None,
            })
            .collect();
        assert_eq!(iterations.len(), 4);
        assert!(iterations[0].warmup);
        assert_eq!(
            iterations[3].digest,
            Digest::Checksum {
                checksum: "p2".into()
            }
        );
        let Some(Record::Summary(summary)) = records.last() else {
            panic!("a summary")
        };
        assert_eq!(summary.total_inference_us, 30);
        assert_eq!(summary.workload, Workload::Command);
    }

    #[test]
    fn process_mode_times_one_invocation_per_iteration() {
        let (result, records) = run(spec(&["true"], Measure::Process));
        result.unwrap();
        assert_eq!(
            records
                .iter()
                .filter(|r| matches!(r, Record::Iteration(_)))
                .count(),
            4
        );
    }

    #[test]
    fn bad_programs_get_clear_errors() {
        let (result, _) = run(spec(&["/nonexistent/python3"], Measure::Records));
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("was not found in the root filesystem"),
            "{err}"
        );
        let (result, _) = run(spec(
            &["sh", "-c", "echo oops >&2; exit 3"],
            Measure::Process,
        ));
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("exit status: 3") && err.contains("oops"),
            "{err}"
        );
        let (result, _) = run(spec(
            &["sh", "-c", r#"echo '{"isobench": 1, "index": 0}'"#],
            Measure::Records,
        ));
        let err = result.unwrap_err().to_string();
        assert!(err.contains("invalid isobench record"), "{err}");
        let (result, _) = run(spec(&["true"], Measure::Records));
        let err = result.unwrap_err().to_string();
        assert!(err.contains("0 warm-up and 0 measured"), "{err}");
    }
}
