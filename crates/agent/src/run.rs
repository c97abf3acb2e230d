//! The `run` command: build the workload, emit `ready`, W warm-up and N
//! measured `iteration` records, then the `summary`.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use isobench_records::{
    Digest, Engine, Iteration, Ready, Record, Summary, Workload as WorkloadKind,
};
use sha2::{Digest as _, Sha256};

use crate::error::AgentError;
use crate::workloads::{
    busy::Busy, knn::Knn, mlp::Mlp, ocr_det::OcrDet, yolov8::Yolov8, Workload, WorkloadOptions,
};

/// Everything the `run` command needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The workload.
    pub workload: WorkloadKind,
    /// Options handed to the workload constructor.
    pub options: WorkloadOptions,
    /// Measured iterations (at least 1).
    pub iterations: u64,
    /// Warm-up iterations.
    pub warmup: u64,
    /// Whether the agent is a VM's init (reported in `ready`).
    pub pid1: bool,
    /// When `main` started, for `ready_us`.
    pub started: Instant,
}

/// Checks the option values that do not depend on files.
pub fn validate(config: &RunConfig) -> Result<(), AgentError> {
    if config.options.engine == Engine::Native && config.workload.runs_onnx() {
        return Err(AgentError::Usage(format!(
            "--engine native: the {} workload runs an ONNX model; use --engine tract or --engine ort",
            config.workload
        )));
    }
    if config.options.threads == 0 {
        return Err(AgentError::Usage(
            "--threads 0: use at least 1 thread".into(),
        ));
    }
    if config.iterations == 0 {
        return Err(AgentError::Usage(
            "--iterations 0: run at least 1 measured iteration".into(),
        ));
    }
    Ok(())
}

/// Builds the workload.
pub fn build_workload(
    kind: WorkloadKind,
    opts: &WorkloadOptions,
) -> Result<Box<dyn Workload>, AgentError> {
    Ok(match kind {
        WorkloadKind::Knn => Box::new(Knn::load(opts)?),
        WorkloadKind::Mlp => Box::new(Mlp::load(opts)?),
        WorkloadKind::Yolov8 => Box::new(Yolov8::load(opts)?),
        WorkloadKind::OcrDet => Box::new(OcrDet::load(opts)?),
        WorkloadKind::Busy => Box::new(Busy::load(opts)?),
        WorkloadKind::Command => {
            return Err(AgentError::Usage(
                "the command workload runs with `isobench-agent exec`, not `run` or `serve`".into(),
            ))
        }
    })
}

/// Runs the whole command, writing one record per line to `out` and
/// flushing after each. On error nothing more is written; the caller
/// writes the `error` record.
pub fn run(config: &RunConfig, out: &mut dyn Write) -> Result<(), AgentError> {
    validate(config)?;
    let load_start = Instant::now();
    let mut workload = build_workload(config.workload, &config.options)?;
    let model_load_us = micros(load_start.elapsed());
    let threads = workload.engine_threads().unwrap_or(config.options.threads);
    emit(
        out,
        &Record::Ready(Ready {
            workload: workload.name(),
            engine: workload.engine(),
            threads,
            ready_us: micros(config.started.elapsed()),
            model_load_us,
            pid1: config.pid1,
            agent_version: env!("CARGO_PKG_VERSION").into(),
        }),
    )?;

    let (mut samples, mut correct, mut labelled) = (0u64, 0u64, false);
    let (mut total_inference_us, mut total_wall_us) = (0u64, 0u64);
    for (warmup, count) in [(true, config.warmup), (false, config.iterations)] {
        for index in 0..count {
            let t0 = Instant::now();
            let outcome = workload.run_once(index)?;
            let wall = micros(t0.elapsed());
            if !warmup {
                total_inference_us += outcome.inference_us;
                total_wall_us += wall;
                if let Digest::Labels {
                    samples: s,
                    correct: c,
                    ..
                } = &outcome.digest
                {
                    labelled = true;
                    samples += u64::from(*s);
                    correct += u64::from(*c);
                }
            }
            emit(
                out,
                &Record::Iteration(Iteration {
                    index,
                    warmup,
                    input: outcome.input,
                    preprocess_us: outcome.preprocess_us,
                    inference_us: outcome.inference_us,
                    postprocess_us: outcome.postprocess_us,
                    threads,
                    digest: outcome.digest,
                }),
            )?;
        }
    }
    let accuracy = (labelled && samples > 0).then(|| correct as f64 / samples as f64);
    emit(
        out,
        &Record::Summary(Summary {
            workload: workload.name(),
            engine: workload.engine(),
            threads,
            iterations: config.iterations,
            warmup: config.warmup,
            accuracy,
            total_inference_us,
            total_wall_us,
            model_sha256: workload.model_sha256(),
            inputs_sha256: workload.inputs_sha256(),
            agent_sha256: agent_sha256(),
            peak_rss_bytes: peak_rss_bytes(),
        }),
    )
}

/// Writes one record line and flushes.
pub fn emit(out: &mut dyn Write, record: &Record) -> Result<(), AgentError> {
    let path = Path::new("<stdout>");
    writeln!(out, "{}", record.to_line()).map_err(|e| AgentError::io(path, e))?;
    out.flush().map_err(|e| AgentError::io(path, e))
}

/// sha256 of the running executable (`/proc/self/exe`, else `argv[0]`),
/// or `unknown` when neither is readable (e.g. a chroot without /proc and
/// a bare program name).
pub fn agent_sha256() -> String {
    let candidates = [
        Some(std::path::PathBuf::from("/proc/self/exe")),
        std::env::args_os()
            .next()
            .map(std::path::PathBuf::from)
            .filter(|p| p.components().count() > 1),
    ];
    for path in candidates.into_iter().flatten() {
        if let Ok(file) = std::fs::File::open(&path) {
            let mut hasher = Sha256::new();
            if std::io::copy(&mut std::io::BufReader::new(file), &mut hasher).is_ok() {
                return hex::encode(hasher.finalize());
            }
        }
    }
    "unknown".into()
}

/// Peak resident memory of this process, bytes: `VmHWM` in
/// `/proc/self/status`, else `getrusage`'s `ru_maxrss` (the same kernel
/// counter; gVisor's /proc has no `VmHWM` line but implements getrusage);
/// `None` when neither is available.
pub fn peak_rss_bytes() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| parse_vm_hwm(&status))
        .or_else(|| {
            let usage =
                nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).ok()?;
            u64::try_from(usage.max_rss())
                .ok()
                .filter(|&kib| kib > 0)
                .map(|kib| kib * 1024)
        })
}

/// The `VmHWM:` line of a `/proc/<pid>/status` text, in bytes.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
