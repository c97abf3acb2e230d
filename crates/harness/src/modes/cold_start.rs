//! Cold starts (`isobench cold-start`): how long a user waits from "start
//! it" to "the first answer", phase by phase.
//!
//! Every environment is prepared once (image, bundle, guest image: not part
//! of a start), then started `--starts` times in rounds: each round starts
//! every environment once, in an order shuffled with the experiment's seed,
//! so the host's drift spreads over every environment alike. One start is
//! one fresh serving agent (`serve`, requests on its input): launch → the
//! agent's `ready` → one request → its answer, then a second request (the
//! warm reference: an agent already serving), then stop. The phases are
//! defined by [`Phase::definition`] and computed in [`phases_of`].
//!
//! Snapshot starts (`--from snapshot`, where the environment can:
//! [`Lab::snapshot_refusal`]): one serving agent per environment, its model
//! loaded and one request answered, is checkpointed once into the run's
//! work directory ([`Lab::checkpoint`]); each snapshot start restores it
//! ([`Lab::restore`]) and asks for the same input as a booted instance's
//! first request, so both compute the same answer. The image is removed
//! after the experiment (and with the work directory if the run dies).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use isobench_environments::{EnvKind, RunLabel};
use isobench_records::serve::{encode_request, Request, Response};
use isobench_records::Listen;
use isobench_results::{ColdStartResult, ColdStartSample, Phase, PhaseTime, StartType};

use crate::calibration;
use crate::context::{results_path, RunContext, RunObserver};
use crate::lifecycle::{Channels, Lab, LaunchRequest, LiveInstance, Unready};
use crate::metrics::{faults, Meter};
use crate::modes::batch::round_order;
use crate::modes::serving::channel::{Channel, Incoming, InstanceChannel};
use crate::modes::serving::ServeError;
use crate::HarnessError;

/// What a cold-start experiment does besides the common options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdStartSettings {
    /// Starts per environment and start type (`--starts`).
    pub starts: u32,
    /// Start types (`--from`), in order.
    pub from: Vec<StartType>,
    /// Longest wait for one answer.
    pub response_timeout: Duration,
    /// Keep every snapshot under this directory (one subdirectory per
    /// environment) instead of removing it after the experiment
    /// (`--keep-snapshots`).
    pub keep_snapshots: Option<PathBuf>,
}

impl ColdStartSettings {
    /// Checks the values: at least one start, at least one start type.
    pub fn validate(&self) -> Result<(), HarnessError> {
        if self.starts == 0 {
            return Err(HarnessError::Invalid(
                "--starts 0: give at least 1 start per environment".into(),
            ));
        }
        if self.from.is_empty() {
            return Err(HarnessError::Invalid(
                "--from: give boot, snapshot or boot,snapshot".into(),
            ));
        }
        if let Some(dir) = &self.keep_snapshots {
            let occupied = std::fs::read_dir(dir)
                .map(|mut entries| entries.next().is_some())
                .unwrap_or(false);
            if occupied || dir.is_file() {
                return Err(HarnessError::Invalid(format!(
                    "--keep-snapshots {}: it is not an empty directory; give a new or empty one",
                    dir.display()
                )));
            }
        }
        Ok(())
    }
}

/// A snapshot taken once per environment, restored by every snapshot start.
struct Snapshot {
    /// Its image directory (under the run's work directory).
    dir: PathBuf,
    /// The input its first request asked for (restored starts ask for the
    /// same, so they compute what a booted instance's first request does).
    input: String,
}

/// Runs the cold starts of every environment of the experiment, then adds
/// the results to `results.json` in the output directory (replacing
/// earlier cold-start results of the same environment, start type and workload).
pub fn cold_start(
    ctx: &RunContext,
    settings: &ColdStartSettings,
    observer: &dyn RunObserver,
) -> Result<Vec<ColdStartResult>, HarnessError> {
    settings.validate()?;
    let workload = ctx.config.workload().to_string();
    let mut lab = Lab::open(ctx);
    let mut results: Vec<ColdStartResult> = Vec::new();
    let mut runnable = Vec::new();
    let mut snapshots: Vec<(EnvKind, Snapshot)> = Vec::new();
    for &kind in &ctx.config.common.environments {
        let transport = ctx.source.capabilities(kind).input.transport_name();
        let base = ColdStartResult {
            env: kind.name().into(),
            workload: workload.clone(),
            transport: transport.into(),
            ..ColdStartResult::default()
        };
        let prepared = lab.prepare(kind).map(|p| p.facts().emulated);
        for &start in &settings.from {
            let mut result = ColdStartResult {
                start: Some(start),
                ..base.clone()
            };
            match (&prepared, start) {
                (Err(unready @ Unready::Unavailable { .. }), _) => {
                    result.absent = Some(format!("unavailable: {unready}"))
                }
                (Err(unready), _) => result.absent = Some(unready.to_string()),
                (Ok(emulated), StartType::Snapshot) => {
                    result.emulated = *emulated;
                    match lab.snapshot_refusal(kind) {
                        Some(refusal) => result.absent = Some(refusal),
                        None => match take_snapshot(&mut lab, kind, settings, &mut result) {
                            Ok(snapshot) => {
                                observer.message(&format!(
                                    "{kind}: snapshot of {} taken in {:.3} s",
                                    human_bytes(result.snapshot_bytes.unwrap_or(0)),
                                    result.snapshot_create_seconds.unwrap_or(0.0)
                                ));
                                snapshots.push((kind, snapshot));
                            }
                            Err(e) => {
                                result.absent = Some(format!("taking the snapshot failed: {e}"))
                            }
                        },
                    }
                }
                (Ok(emulated), StartType::Boot) => {
                    result.emulated = *emulated;
                    runnable.push(kind);
                }
            }
            if let Some(absent) = &result.absent {
                observer.message(&format!("{kind}: no {start} starts: {absent}"));
            }
            results.push(result);
        }
    }
    let mut units: Vec<EnvKind> = runnable.clone();
    for (kind, _) in &snapshots {
        if !units.contains(kind) {
            units.push(*kind);
        }
    }
    'rounds: for round in 1..=settings.starts {
        for kind in round_order(&units, round, ctx.config.common.seed) {
            // An environment's boot and snapshot starts follow each other in its turn.
            for start in [StartType::Boot, StartType::Snapshot] {
                if lab.interrupted() {
                    break 'rounds;
                }
                let snapshot = snapshots.iter().find(|(k, _)| *k == kind);
                match start {
                    StartType::Boot if !runnable.contains(&kind) => continue,
                    StartType::Snapshot if snapshot.is_none() => continue,
                    _ => {}
                }
                // The host-speed probe, outside the timed window.
                let before = calibration::probe();
                let outcome = match (start, snapshot) {
                    (StartType::Snapshot, Some((_, snapshot))) => {
                        restore_once(&mut lab, kind, round, settings, snapshot)
                    }
                    _ => boot_once(&mut lab, kind, round, settings),
                };
                let probed = calibration::calibration(before, calibration::probe());
                let outcome = outcome.map(|sample| ColdStartSample {
                    calibration: Some(probed),
                    ..sample
                });
                let result = results
                    .iter_mut()
                    .find(|r| r.env == kind.name() && r.start == Some(start))
                    .expect("every started environment has a result of the start type");
                match outcome {
                    Ok(sample) => {
                        observer.message(&format!(
                            "{kind}: {start} {round}/{}: first inference after {:.3} s (warm {})",
                            settings.starts,
                            sample.time_to_first_inference_seconds,
                            sample
                                .warm_seconds
                                .map_or_else(|| "—".into(), |w| format!("{:.4} s", w))
                        ));
                        result.samples.push(sample);
                    }
                    Err(e) => {
                        observer.message(&format!("{kind}: {start} {round} failed: {e}"));
                        result.failures.push(format!("round {round}: {e}"));
                    }
                }
            }
        }
    }
    for (kind, snapshot) in &snapshots {
        if let Some(keep) = &settings.keep_snapshots {
            let kept = keep.join(kind.name());
            match move_dir(&snapshot.dir, &kept) {
                Ok(()) => {
                    for r in results
                        .iter_mut()
                        .filter(|r| r.env == kind.name() && r.start == Some(StartType::Snapshot))
                    {
                        r.kept_snapshot = Some(kept.display().to_string());
                    }
                    observer.message(&format!("{kind}: snapshot kept in {}", kept.display()));
                }
                Err(e) => observer.message(&format!(
                    "{kind}: keeping the snapshot in {} failed: {e}; it is removed",
                    kept.display()
                )),
            }
        }
        let _ = std::fs::remove_dir_all(&snapshot.dir);
    }
    for &kind in &units {
        if let Err(e) = lab.teardown(kind) {
            observer.message(&format!("{kind}: clean-up: {e}"));
        }
    }
    drop(lab);
    for r in &mut results {
        r.summarize(ctx.config.common.seed);
    }
    isobench_results::cold_start::decide_all(
        &mut results,
        ctx.config.baseline().name(),
        &isobench_stats::DecisionOptions::default(),
    );
    let host_speed = calibration::host_speed_of(
        results
            .iter()
            .flat_map(|r| {
                let unit = format!("{} {}", r.env, r.start.map_or("", StartType::name));
                r.samples.iter().filter_map(move |s| {
                    s.calibration
                        .map(|c| ((unit.clone(), s.round), c.seconds()))
                })
            })
            .collect(),
    );
    if let Some(speed) = &host_speed {
        observer.message(&format!(
            "host speed over the starts: drifted {:.0}% (probe {:.1}–{:.1} ms)",
            speed.drift * 100.0,
            speed.min_seconds * 1e3,
            speed.max_seconds * 1e3
        ));
    }
    save(ctx, &results, host_speed)?;
    if lab_interrupted(ctx) {
        return Err(HarnessError::Interrupted(results_path(
            &ctx.config.common.output,
        )));
    }
    Ok(results)
}

fn lab_interrupted(ctx: &RunContext) -> bool {
    ctx.interrupted.load(std::sync::atomic::Ordering::Relaxed)
}

/// The instants of one booted start, as the host sees them (the agent's
/// own durations placed on the host's clock).
#[derive(Debug, Clone, Copy)]
pub struct BootTimeline {
    /// The launch request.
    pub launched: Instant,
    /// The backend's launch call returned.
    pub launch_returned: Instant,
    /// The host read `ready`.
    pub ready_read: Instant,
    /// The agent's `ready_us`: start of its `main` to model loaded.
    pub ready_us: u64,
    /// The agent's `model_load_us`.
    pub model_load_us: u64,
    /// The host read the first answer.
    pub answered: Instant,
}

/// The phases of a booted start (see [`Phase::definition`] for each):
/// consecutive, none negative, adding up to launch → first answer.
pub fn phases_of(t: &BootTimeline) -> Vec<PhaseTime> {
    let since = |at: Instant| at.saturating_duration_since(t.launched).as_secs_f64();
    let ready = since(t.ready_read);
    let answered = since(t.answered).max(ready);
    let agent_started = (ready - t.ready_us as f64 / 1e6).max(0.0);
    let runtime_running = since(t.launch_returned).min(agent_started);
    let load_began =
        (ready - t.model_load_us.min(t.ready_us) as f64 / 1e6).clamp(agent_started, ready);
    vec![
        PhaseTime {
            phase: Phase::Runtime,
            seconds: runtime_running,
        },
        PhaseTime {
            phase: Phase::Boot,
            seconds: agent_started - runtime_running,
        },
        PhaseTime {
            phase: Phase::AgentInit,
            seconds: load_began - agent_started,
        },
        PhaseTime {
            phase: Phase::ModelLoad,
            seconds: ready - load_began,
        },
        PhaseTime {
            phase: Phase::FirstInference,
            seconds: answered - ready,
        },
    ]
}

/// One booted start of `kind`: launch, `ready`, the first answer, the warm
/// reference, stop.
fn boot_once(
    lab: &mut Lab<'_>,
    kind: EnvKind,
    round: u32,
    settings: &ColdStartSettings,
) -> Result<ColdStartSample, ServeError> {
    let request = serve_request(lab, kind, RunLabel::ColdStart(round));
    let mut live = lab.launch(kind, request).map_err(ServeError::Launch)?;
    let outcome = (|| {
        let (arrival, ready) = live.wait_ready().map_err(ServeError::Start)?;
        let launched = live.origin();
        let launch_returned = live.launch_returned();
        let mut watch = FirstRequestWatch::start(Meter::new(live.meter_target().clone()));
        let mut channel = InstanceChannel::new(live.instance());
        let (first, answered, warm_seconds) =
            first_and_warm(&mut channel, "", settings.response_timeout, &mut watch)?;
        let timeline = BootTimeline {
            launched,
            launch_returned,
            ready_read: arrival.at,
            ready_us: ready.ready_us,
            model_load_us: ready.model_load_us,
            answered,
        };
        Ok(watch.into_sample(sample(round, phases_of(&timeline), warm_seconds, first)))
    })();
    stopped_after(live, outcome, "stopping the instance")
}

/// One start's sample: its phases, their sum (the time to first
/// inference), the warm reference and the first answer's digest.
fn sample(
    round: u32,
    phases: Vec<PhaseTime>,
    warm_seconds: Option<f64>,
    first: Response,
) -> ColdStartSample {
    ColdStartSample {
        round,
        time_to_first_inference_seconds: phases.iter().map(|p| p.seconds).sum(),
        phases,
        warm_seconds,
        digest: first.digest,
        calibration: None,
        host_memory_bytes: None,
        first_request_faults: None,
    }
}

/// The instance's page faults over its first request and its host memory
/// once answered (see [`ColdStartSample::first_request_faults`] and
/// [`ColdStartSample::host_memory_bytes`]).
struct FirstRequestWatch {
    meter: Meter,
    faults_before: isobench_results::PageFaults,
    faults: Option<isobench_results::PageFaults>,
    memory_bytes: Option<u64>,
}

impl FirstRequestWatch {
    /// Reads the fault counters now (the first request is about to be sent).
    fn start(meter: Meter) -> Self {
        FirstRequestWatch {
            faults_before: faults::of_pids(&meter.pids()),
            meter,
            faults: None,
            memory_bytes: None,
        }
    }

    /// Reads them again and the memory (the first answer was just read).
    fn answered(&mut self) {
        let pids = self.meter.pids();
        if !pids.is_empty() {
            self.faults = Some(faults::between(self.faults_before, faults::of_pids(&pids)));
        }
        self.memory_bytes = self.meter.read().map(|r| r.memory_bytes);
    }

    /// `sample` with what was read.
    fn into_sample(self, sample: ColdStartSample) -> ColdStartSample {
        ColdStartSample {
            first_request_faults: self.faults,
            host_memory_bytes: self.memory_bytes,
            ..sample
        }
    }
}

/// Stops the instance a start measured; a failure to stop fails a start
/// that had succeeded (`what` names the step).
fn stopped_after(
    live: LiveInstance,
    outcome: Result<ColdStartSample, ServeError>,
    what: &'static str,
) -> Result<ColdStartSample, ServeError> {
    let stopped = live.stop();
    if let (Ok(_), Err(e)) = (&outcome, stopped.exit) {
        return Err(ServeError::Env { what, source: e });
    }
    outcome
}

/// The first request for `input`, with when its answer was read, then the
/// warm reference: the seconds a second request to the same, now serving,
/// agent took (when it was answered).
fn first_and_warm(
    channel: &mut dyn Channel,
    input: &str,
    timeout: Duration,
    watch: &mut FirstRequestWatch,
) -> Result<(Response, Instant, Option<f64>), ServeError> {
    let first = ask(channel, 1, input, timeout)?;
    let answered = Instant::now();
    watch.answered();
    let warm_from = Instant::now();
    let warm = ask(channel, 2, input, timeout)?;
    Ok((
        first,
        answered,
        warm.ok.then(|| warm_from.elapsed().as_secs_f64()),
    ))
}

/// The serving launch of `kind` every start uses (requests on the agent's input).
fn serve_request(lab: &mut Lab<'_>, kind: EnvKind, label: RunLabel) -> LaunchRequest {
    let assets = lab
        .prepared(kind)
        .map(|p| p.assets_inside())
        .unwrap_or_default();
    LaunchRequest {
        invocation: lab
            .context()
            .config
            .serve_invocation(&assets, Listen::Stdio),
        label,
        channels: Channels {
            input: true,
            ..Channels::default()
        },
        sample: false,
    }
}

/// Takes the snapshot of `kind` once: a serving agent with its model
/// loaded and one request answered (the warm-up), checkpointed into the
/// run's work directory; records its size and the time the checkpoint took.
fn take_snapshot(
    lab: &mut Lab<'_>,
    kind: EnvKind,
    settings: &ColdStartSettings,
    result: &mut ColdStartResult,
) -> Result<Snapshot, ServeError> {
    let dir = lab
        .context()
        .env_options
        .work_dir
        .join(format!("snapshot-{}", kind.name()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|source| ServeError::Socket {
        what: format!("creating the snapshot directory {}", dir.display()),
        source,
    })?;
    let request = serve_request(lab, kind, RunLabel::ColdStart(0));
    let mut live = lab.launch(kind, request).map_err(ServeError::Launch)?;
    let taken = (|| {
        live.wait_ready().map_err(ServeError::Start)?;
        let mut channel = InstanceChannel::new(live.instance());
        let warm_up = ask(&mut channel, 1, "", settings.response_timeout)?;
        let started = Instant::now();
        lab.checkpoint(&mut live, &dir)
            .map_err(ServeError::Launch)?;
        result.snapshot_create_seconds = Some(started.elapsed().as_secs_f64());
        result.snapshot_bytes = Some(dir_bytes(&dir));
        damage_for_tests(&dir);
        Ok(Snapshot {
            dir: dir.clone(),
            input: warm_up.input,
        })
    })();
    let _ = live.stop();
    if taken.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    taken
}

/// The fault-injection hook of the tests: with `ISOBENCH_FAULT_SNAPSHOT`
/// set to `truncate`, the snapshot's largest file is cut to half its size
/// right after it is taken, so every restore meets a truncated snapshot
/// (what a full disk or a killed copy leaves).
fn damage_for_tests(dir: &std::path::Path) {
    if std::env::var("ISOBENCH_FAULT_SNAPSHOT").as_deref() != Ok("truncate") {
        return;
    }
    let largest = walk_files(dir).into_iter().max_by_key(|(_, bytes)| *bytes);
    if let Some((path, bytes)) = largest {
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(bytes / 2));
    }
}

/// Every file under `dir` with its size.
fn walk_files(dir: &std::path::Path) -> Vec<(PathBuf, u64)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        match entry.file_type() {
            Ok(t) if t.is_dir() => files.extend(walk_files(&entry.path())),
            _ => files.push((entry.path(), entry.metadata().map(|m| m.len()).unwrap_or(0))),
        }
    }
    files
}

/// Moves directory `from` to `to` (a rename, or a copy and removal across
/// file systems); `to`'s parent is created.
fn move_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    copy_dir(from, to)?;
    std::fs::remove_dir_all(from)
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    walk_files(dir).iter().map(|(_, bytes)| bytes).sum()
}

/// `1.2 MiB`.
fn human_bytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// One snapshot start of `kind`: restore, the first answer (for the input
/// the snapshot's warm-up asked for), the warm reference, stop. Phases:
/// [`Phase::Restore`] (restore requested → the restore call returned) and
/// [`Phase::FirstInference`] (→ the first answer read).
fn restore_once(
    lab: &mut Lab<'_>,
    kind: EnvKind,
    round: u32,
    settings: &ColdStartSettings,
    snapshot: &Snapshot,
) -> Result<ColdStartSample, ServeError> {
    let restore_failed = |source: ServeError| match source {
        ServeError::Interrupted => source,
        source => ServeError::Restore {
            snapshot: snapshot.dir.clone(),
            source: Box::new(source),
        },
    };
    let request = serve_request(lab, kind, RunLabel::ColdStart(round));
    let mut live = lab
        .restore(kind, request, &snapshot.dir)
        .map_err(|e| restore_failed(ServeError::Launch(e)))?;
    let launched = live.origin();
    let returned = live.launch_returned();
    let outcome = (|| {
        let mut watch = FirstRequestWatch::start(Meter::new(live.meter_target().clone()));
        let mut channel = InstanceChannel::new(live.instance());
        let (first, answered, warm_seconds) = first_and_warm(
            &mut channel,
            &snapshot.input,
            settings.response_timeout,
            &mut watch,
        )
        .map_err(restore_failed)?;
        let restore = returned.saturating_duration_since(launched).as_secs_f64();
        let phases = vec![
            PhaseTime {
                phase: Phase::Restore,
                seconds: restore,
            },
            PhaseTime {
                phase: Phase::FirstInference,
                seconds: answered.saturating_duration_since(returned).as_secs_f64(),
            },
        ];
        Ok(watch.into_sample(sample(round, phases, warm_seconds, first)))
    })();
    stopped_after(live, outcome, "stopping the restored instance")
}

/// Sends request `id` for `input` (empty: the workload's next default
/// input) and waits for its answer.
fn ask(
    channel: &mut dyn Channel,
    id: u64,
    input: &str,
    timeout: Duration,
) -> Result<Response, ServeError> {
    channel.send(
        encode_request(&Request {
            id,
            input: input.to_string(),
            empty: false,
        })
        .as_bytes(),
    )?;
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ServeError::NoAnswer {
                id,
                seconds: timeout.as_secs(),
            });
        }
        match channel.recv(left)? {
            Incoming::Response(r) if r.id == id && r.ok => return Ok(r),
            Incoming::Response(r) if r.id == id => {
                return Err(ServeError::Agent {
                    kind: "request".into(),
                    message: r.error.unwrap_or_else(|| "failed".into()),
                })
            }
            Incoming::Response(_) => {}
            Incoming::Garbled(why) => {
                return Err(ServeError::Agent {
                    kind: "garbled answer".into(),
                    message: why,
                })
            }
            Incoming::Timeout => {}
        }
    }
}

/// Adds `results` to `results.json` in the output directory (creating it
/// when absent), replacing entries of the same environment, start type and workload.
fn save(
    ctx: &RunContext,
    results: &[ColdStartResult],
    host_speed: Option<isobench_results::HostSpeed>,
) -> Result<(), HarnessError> {
    crate::modes::update_results(ctx, |file| {
        file.cold_start_host_speed = host_speed;
        file.cold_start.retain(|old| {
            !results.iter().any(|new| {
                new.env == old.env && new.start == old.start && new.workload == old.workload
            })
        });
        file.cold_start.extend(results.iter().cloned());
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(returned_ms: u64, ready_ms: u64, ready_us: u64, load_us: u64) -> BootTimeline {
        let launched = Instant::now();
        let ms = Duration::from_millis;
        BootTimeline {
            launched,
            launch_returned: launched + ms(returned_ms),
            ready_read: launched + ms(ready_ms),
            ready_us,
            model_load_us: load_us,
            answered: launched + ms(ready_ms + 40),
        }
    }

    fn seconds(phases: &[PhaseTime]) -> Vec<f64> {
        phases
            .iter()
            .map(|p| (p.seconds * 1e6).round() / 1e6)
            .collect()
    }

    #[test]
    fn phases_follow_each_other_and_add_up_to_the_first_answer() {
        // Runtime 10 ms, agent started at 100 ms, 20 ms of set-up, 180 ms of load.
        let phases = phases_of(&timeline(10, 300, 200_000, 180_000));
        let names: Vec<Phase> = phases.iter().map(|p| p.phase).collect();
        assert_eq!(
            names,
            [
                Phase::Runtime,
                Phase::Boot,
                Phase::AgentInit,
                Phase::ModelLoad,
                Phase::FirstInference
            ]
        );
        assert_eq!(seconds(&phases), [0.01, 0.09, 0.02, 0.18, 0.04]);
        let total: f64 = phases.iter().map(|p| p.seconds).sum();
        assert!((total - 0.34).abs() < 1e-9, "{total}");
    }

    #[test]
    fn a_launch_call_returning_after_the_agent_started_ends_the_runtime_phase_there() {
        // Docker: the start call returns after the agent is already running.
        let phases = phases_of(&timeline(150, 300, 200_000, 180_000));
        assert_eq!(seconds(&phases), [0.1, 0.0, 0.02, 0.18, 0.04]);
    }

    #[test]
    fn agent_clocks_longer_than_the_host_saw_never_give_negative_phases() {
        let phases = phases_of(&timeline(10, 100, 500_000, 900_000));
        assert!(phases.iter().all(|p| p.seconds >= 0.0), "{phases:?}");
        let total: f64 = phases.iter().map(|p| p.seconds).sum();
        assert!((total - 0.14).abs() < 1e-9, "{total}");
    }

    #[test]
    fn settings_need_a_start_and_a_start_type() {
        let ok = ColdStartSettings {
            starts: 1,
            from: vec![StartType::Boot],
            response_timeout: Duration::from_secs(1),
            keep_snapshots: None,
        };
        assert!(ok.validate().is_ok());
        let none = ColdStartSettings {
            starts: 0,
            ..ok.clone()
        };
        assert!(none
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--starts 0"));
        let no_type = ColdStartSettings {
            from: vec![],
            ..ok.clone()
        };
        assert!(no_type
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--from"));
        let occupied = tempfile::tempdir().unwrap();
        std::fs::write(occupied.path().join("x"), "x").unwrap();
        let keep_into_occupied = ColdStartSettings {
            keep_snapshots: Some(occupied.path().to_path_buf()),
            ..ok.clone()
        };
        let refused = keep_into_occupied.validate().unwrap_err().to_string();
        assert!(refused.contains("not an empty directory"), "{refused}");
        let keep_into_new = ColdStartSettings {
            keep_snapshots: Some(occupied.path().join("new")),
            ..ok
        };
        assert!(keep_into_new.validate().is_ok());
    }
}
