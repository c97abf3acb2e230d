//! The runner against the test kit's fake backend: no process is spawned,
//! every agent is a script of (delay, line) outputs. A good run; agents
//! that exit early, hang, print garbage or report an error; environments
//! that are unavailable or fail to prepare; an interrupted run resumed;
//! interleaved and blocked orders. Each test checks what the results and
//! the fake's own log of launches say happened.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use isobench_environments::EnvKind;
use isobench_harness::config::{Order, Workload};
use isobench_harness::journal::JOURNAL_FILE;
use isobench_harness::modes::batch::schedule;
use isobench_harness::{results_path, run_experiment, RunContext, RunObserver};
use isobench_harness::{ExperimentConfig, HarnessError};
use isobench_results::{ResultsFile, Status};
use isobench_stats::Outcome;
use isobench_testkit::fake::{
    Event, FakeAgent, FakeBackend, FakeLog, FakeMeter, FakeSource, Script, CRASH_DIAGNOSTICS,
    CRASH_EXIT_CODE, FAKE_ASSETS_INSIDE, GARBAGE,
};

const ITERATIONS: u64 = 5;
const WARMUP: u64 = 1;

/// An experiment over `envs` (comma-separated) writing to `<dir>/out`:
/// `repetitions` of [`WARMUP`] + [`ITERATIONS`] records, generous time
/// limits unless `more` sets them.
fn config(
    dir: &Path,
    envs: &str,
    repetitions: u32,
    more: impl FnOnce(&mut ExperimentConfig),
) -> ExperimentConfig {
    ExperimentConfig::with(|c| {
        c.common.environments = envs.split(',').map(|e| e.parse().unwrap()).collect();
        c.common.workload = Some(Workload::Knn);
        c.batch.iterations = Some(ITERATIONS);
        c.batch.warmup = WARMUP;
        c.batch.repetitions = Some(repetitions);
        c.common.output = dir.join("out");
        c.common.timeout = 30;
        c.batch.boot_timeout = 10;
        c.batch.iteration_timeout = 10;
        c.batch.sample_interval_ms = 10;
        more(c);
    })
    .unwrap()
}

/// No further settings.
fn as_is(_: &mut ExperimentConfig) {}

/// A run context over `source`, and the source's log.
fn context(dir: &Path, config: ExperimentConfig, source: FakeSource) -> (RunContext, Arc<FakeLog>) {
    let log = source.log();
    let payload = isobench_testkit::payload(&dir.join("agent"), &dir.join("assets"));
    let ctx = isobench_testkit::run_context(config, Arc::new(source), payload, dir);
    (ctx, log)
}

/// Repetition `rep` of a steady agent: iteration `i` takes `base + 7·rep + i` µs.
fn agent(base: u64, rep: u32) -> FakeAgent {
    FakeAgent::new(
        WARMUP,
        (0..ITERATIONS).map(move |i| base + 7 * u64::from(rep) + i),
    )
}

/// A backend whose every repetition is a well-behaved [`agent`] around `base` µs.
fn steady(base: u64) -> FakeBackend {
    FakeBackend::scripted(move |launch| {
        Script::well_behaved(&agent(base, launch.repetition.unwrap()))
    })
}

/// A backend like [`steady`] whose repetition `bad` prints `broken` instead.
fn broken_at(
    base: u64,
    bad: u32,
    broken: impl Fn(&FakeAgent) -> Script + Send + Sync + 'static,
) -> FakeBackend {
    FakeBackend::scripted(move |launch| {
        let rep = launch.repetition.unwrap();
        let agent = agent(base, rep);
        if rep == bad {
            broken(&agent)
        } else {
            Script::well_behaved(&agent)
        }
    })
}

/// Records what the runner tells its observer; optionally interrupts the
/// run when the `nth` launch (0-based, counted by distinct repetitions
/// seen) reports measured iteration `index`.
#[derive(Default)]
struct Recorder {
    started: Mutex<Vec<String>>,
    finished: Mutex<Vec<(String, Status)>>,
    records: Mutex<Vec<(String, u32, u64, bool)>>,
    messages: Mutex<Vec<String>>,
    interrupt: Option<(usize, u64, Arc<AtomicBool>)>,
}

impl Recorder {
    fn interrupting(nth: usize, index: u64, flag: Arc<AtomicBool>) -> Self {
        Recorder {
            interrupt: Some((nth, index, flag)),
            ..Recorder::default()
        }
    }
}

impl RunObserver for Recorder {
    fn environment_started(&self, env: &str, _rounds: u32) {
        self.started.lock().unwrap().push(env.into());
    }

    fn iteration_done(&self, env: &str, repetition: u32, index: u64, warmup: bool) {
        let mut records = self.records.lock().unwrap();
        records.push((env.into(), repetition, index, warmup));
        if let Some((nth, at, flag)) = &self.interrupt {
            let mut launches: Vec<(&str, u32)> = Vec::new();
            for (e, r, _, _) in records.iter() {
                if !launches.contains(&(e.as_str(), *r)) {
                    launches.push((e.as_str(), *r));
                }
            }
            if launches.len() == nth + 1 && !warmup && index == *at {
                flag.store(true, Ordering::Relaxed);
            }
        }
    }

    fn environment_finished(&self, env: &str, status: &Status) {
        self.finished
            .lock()
            .unwrap()
            .push((env.into(), status.clone()));
    }

    fn message(&self, text: &str) {
        self.messages.lock().unwrap().push(text.into());
    }
}

fn env<'a>(results: &'a ResultsFile, name: &str) -> &'a isobench_results::EnvironmentResult {
    results
        .environments
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("{name} not in the results"))
}

fn failure(results: &ResultsFile, name: &str) -> String {
    match &env(results, name).status {
        Status::Failed { reason } => reason.clone(),
        other => panic!("{name}: expected a failure, got {other:?}"),
    }
}

/// `(env, repetition)` of every `repetition` entry of the journal, in order.
fn journalled(output: &Path) -> Vec<(String, u32)> {
    std::fs::read_to_string(output.join(JOURNAL_FILE))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["entry"] == "repetition").then(|| {
                (
                    v["env"].as_str().unwrap().to_string(),
                    v["repetition"]["round"].as_u64().unwrap() as u32,
                )
            })
        })
        .collect()
}

#[test]
fn a_good_run_saves_samples_summaries_verdicts_rounds_and_calibration() {
    let dir = tempfile::tempdir().unwrap();
    let source = FakeSource::new()
        .with(EnvKind::Native, steady(1000))
        // The same speed as native, give or take a microsecond.
        .with(EnvKind::Docker, steady(1001))
        // 50% slower, metered on the test process's own tree.
        .with(
            EnvKind::Gvisor,
            steady(1500).metered(FakeMeter::TestProcess),
        );
    let config = config(dir.path(), "native,docker,gvisor", 6, as_is);
    let (ctx, log) = context(dir.path(), config, source);
    let observer = Recorder::default();
    let results = run_experiment(&ctx, &observer).unwrap();

    // What was saved is what was returned.
    let saved = ResultsFile::load(&results_path(&dir.path().join("out"))).unwrap();
    assert_eq!(
        serde_json::to_value(&saved).unwrap(),
        serde_json::to_value(&results).unwrap()
    );
    assert_eq!(results.experiment.order, Order::Interleaved);
    let mut sequences = BTreeSet::new();
    for e in &results.environments {
        assert_eq!(e.status, Status::Completed, "{}", e.name);
        assert_eq!(e.runtime_version.as_deref(), Some("fake 0.0.0"));
        assert_eq!(e.image_bytes, Some(4096));
        let indices: Vec<u32> = e.repetitions.iter().map(|r| r.round).collect();
        assert_eq!(indices, [1, 2, 3, 4, 5, 6], "{}", e.name);
        let base = match e.name.as_str() {
            "native" => 1000,
            "docker" => 1001,
            _ => 1500,
        };
        for rep in &e.repetitions {
            let what = format!("{} round {}", e.name, rep.round);
            assert_eq!(rep.error, None, "{what}");
            assert_eq!(rep.exit_code, Some(0), "{what}");
            // The measured samples, as scripted; the warm-up is not kept.
            let times: Vec<u64> = rep.iterations.iter().map(|s| s.inference_us).collect();
            let expected: Vec<u64> = (0..ITERATIONS)
                .map(|i| base + 7 * u64::from(rep.round) + i)
                .collect();
            assert_eq!(times, expected, "{what}");
            assert!(rep.iterations.iter().all(|s| s.digest.is_some()), "{what}");
            assert_eq!(rep.agent_ready_us, Some(1500), "{what}");
            let ready = rep.ready_seconds.expect("ready time");
            assert!(
                ready > 0.0 && rep.first_inference_seconds.unwrap() > ready,
                "{what}"
            );
            assert_eq!(rep.agent_summary.as_ref().unwrap().iterations, ITERATIONS);
            let calibration = rep
                .calibration
                .expect("host-speed probe around every repetition");
            assert!(
                calibration.before > 0.0 && calibration.after > 0.0,
                "{what}"
            );
            assert!(sequences.insert(rep.sequence.expect("launch sequence")));
        }
    }
    assert_eq!(
        sequences,
        (0..18).collect(),
        "one launch per sequence number"
    );

    // The meter: nothing for the unavailable fake, real figures for the test process.
    let native_usage = &env(&results, "native").repetitions[0].usage;
    assert_eq!(native_usage.source, "unavailable: fake");
    assert_eq!(native_usage.cpu_seconds, None);
    let gvisor_usage = &env(&results, "gvisor").repetitions[0].usage;
    assert!(gvisor_usage.cpu_seconds.unwrap() > 0.0, "{gvisor_usage:?}");
    assert!(
        gvisor_usage.host_peak_rss_bytes.unwrap() > 0,
        "{gvisor_usage:?}"
    );

    // Summaries and verdicts against native.
    let native = env(&results, "native").summary.as_ref().unwrap();
    assert_eq!(native.inference_us.n, 30);
    assert_eq!(native.inference_us.min, 1000.0 + 7.0);
    assert_eq!(native.inference_us.max, 1000.0 + 7.0 * 6.0 + 4.0);
    assert!(native.decision.is_none(), "the baseline has no verdict");
    // docker runs 1 µs slower than native in every round: paired by round,
    // that is a tight 1.001×, well inside ±5%: the same.
    let docker = env(&results, "docker").summary.as_ref().unwrap();
    assert_eq!(docker.decision.as_ref().unwrap().outcome, Outcome::Same);
    let gvisor = env(&results, "gvisor").summary.as_ref().unwrap();
    assert_eq!(gvisor.decision.as_ref().unwrap().outcome, Outcome::Slower);
    let ratio = gvisor.decision.as_ref().unwrap().ratio;
    assert!((ratio - 1.5).abs() < 0.02, "gvisor/native {ratio}");
    let outputs = results.outputs.as_ref().unwrap();
    assert!(outputs.consistent(), "{:?}", outputs.mismatches);
    assert_eq!(outputs.compared, 3 * 6 * ITERATIONS);
    assert!(results.host_speed.is_some());

    // Interleaved rounds: every round holds every environment once; the
    // order recorded is the order the fake saw, and the journal's.
    assert_eq!(results.rounds.len(), 6);
    let planned: Vec<(String, u32)> = results
        .rounds
        .iter()
        .flat_map(|r| r.order.iter().map(move |e| (e.clone(), r.round)))
        .collect();
    for round in &results.rounds {
        let mut names = round.order.clone();
        names.sort();
        assert_eq!(
            names,
            ["docker", "gvisor", "native"],
            "round {}",
            round.round
        );
    }
    let launched: Vec<(String, u32)> = log
        .launch_order()
        .into_iter()
        .map(|(k, r)| (k.name().to_string(), r))
        .collect();
    assert_eq!(launched, planned, "launches vs recorded rounds");
    assert_eq!(journalled(&dir.path().join("out")), planned);
    let mut by_sequence: Vec<(u32, String, u32)> = results
        .environments
        .iter()
        .flat_map(|e| {
            e.repetitions
                .iter()
                .map(move |r| (r.sequence.unwrap(), e.name.clone(), r.round))
        })
        .collect();
    by_sequence.sort();
    let sequenced: Vec<(String, u32)> = by_sequence.into_iter().map(|(_, e, r)| (e, r)).collect();
    assert_eq!(sequenced, planned, "sequence numbers vs launches");

    // Every instance ended on its own and was stopped once; every
    // environment was built, prepared and torn down once.
    let stops = log.stops();
    assert_eq!(stops.len(), 18);
    assert!(stops
        .iter()
        .all(|(_, _, exit)| exit.code == Some(0) && !exit.killed));
    for kind in [EnvKind::Native, EnvKind::Docker, EnvKind::Gvisor] {
        for event in [
            Event::Built(kind),
            Event::Prepared(kind),
            Event::TornDown(kind),
        ] {
            assert_eq!(log.count(|e| *e == event), 1, "{event:?}");
        }
    }
    assert!(log.launches().iter().all(|l| {
        let model = l.invocation.model().expect("a run invocation has a model");
        model.assets.as_deref() == Some(std::path::Path::new(FAKE_ASSETS_INSIDE))
            && model.workload == isobench_records::Workload::Knn
    }));

    // The observer heard every environment start and finish, and every record.
    assert_eq!(
        *observer.started.lock().unwrap(),
        ["native", "docker", "gvisor"]
    );
    assert_eq!(observer.finished.lock().unwrap().len(), 3);
    let records = observer.records.lock().unwrap();
    assert_eq!(records.len(), 18 * (WARMUP + ITERATIONS) as usize);
    assert_eq!(records.iter().filter(|r| r.3).count(), 18);
}

#[test]
fn interleaved_and_blocked_orders_launch_as_scheduled() {
    let kinds = [EnvKind::Native, EnvKind::Docker];
    let mut orders = Vec::new();
    for order in ["interleaved", "blocked"] {
        let dir = tempfile::tempdir().unwrap();
        let source = FakeSource::new()
            .with(EnvKind::Native, steady(1000))
            .with(EnvKind::Docker, steady(1100));
        let config = config(dir.path(), "native,docker", 4, |c| {
            c.batch.order = order.parse().unwrap()
        });
        let (seed, parsed) = (config.common.seed, config.batch.order);
        let (ctx, log) = context(dir.path(), config, source);
        let results = run_experiment(&ctx, &Recorder::default()).unwrap();
        assert_eq!(results.experiment.order, parsed);
        let launched = log.launch_order();
        assert_eq!(
            launched.iter().map(|&(k, r)| (r, k)).collect::<Vec<_>>(),
            schedule(parsed, &kinds, 4, seed),
            "{order}"
        );
        // The recorded rounds list the same launches.
        let recorded: Vec<(EnvKind, u32)> = results
            .rounds
            .iter()
            .flat_map(|r| {
                r.order
                    .iter()
                    .map(move |e| (e.parse::<EnvKind>().unwrap(), r.round))
            })
            .collect();
        let mut sorted_launches = launched.clone();
        sorted_launches.sort_by_key(|&(k, r)| (r, launched.iter().position(|l| *l == (k, r))));
        assert_eq!(recorded, sorted_launches, "{order}");
        assert!(results
            .environments
            .iter()
            .all(|e| e.status == Status::Completed && e.repetitions.len() == 4));
        orders.push(launched);
    }
    let blocked: Vec<(EnvKind, u32)> = kinds
        .iter()
        .flat_map(|&k| (1..=4).map(move |r| (k, r)))
        .collect();
    assert_eq!(
        orders[1], blocked,
        "blocked: every repetition of one environment first"
    );
    assert_ne!(orders[0], blocked, "interleaved: alternating rounds");
    for round in 0..4 {
        let in_round: Vec<EnvKind> = orders[0][2 * round as usize..2 * round as usize + 2]
            .iter()
            .map(|&(k, r)| {
                assert_eq!(r, round + 1);
                k
            })
            .collect();
        assert!(in_round.contains(&EnvKind::Native) && in_round.contains(&EnvKind::Docker));
    }
    assert_eq!(Order::Blocked.name(), "blocked");
}

#[test]
fn an_agent_that_exits_early_fails_its_repetition_and_the_rest_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let source = FakeSource::new().with(EnvKind::Native, steady(1000)).with(
        EnvKind::Docker,
        broken_at(1000, 2, |agent| Script::exits_early(agent, 2)),
    );
    let config = config(dir.path(), "native,docker", 3, as_is);
    let (ctx, log) = context(dir.path(), config, source);
    let results = run_experiment(&ctx, &Recorder::default()).unwrap();

    let reason = failure(&results, "docker");
    assert!(
        reason.starts_with("repetition 2: agent exited before its summary record")
            && reason.contains(CRASH_DIAGNOSTICS),
        "{reason}"
    );
    let docker = env(&results, "docker");
    assert_eq!(docker.repetitions.len(), 3, "the other repetitions went on");
    let crashed = &docker.repetitions[1];
    assert_eq!(crashed.exit_code, Some(CRASH_EXIT_CODE));
    assert_eq!(crashed.iterations.len(), 2, "what it measured is kept");
    assert!(crashed.agent_summary.is_none());
    for rep in [&docker.repetitions[0], &docker.repetitions[2]] {
        assert_eq!(rep.error, None);
        assert_eq!(rep.iterations.len(), ITERATIONS as usize);
    }
    let summary = docker.summary.as_ref().unwrap();
    assert_eq!(summary.failed_repetitions, [2]);
    assert_eq!(env(&results, "native").status, Status::Completed);
    assert_eq!(log.launches().len(), 6, "every scheduled launch happened");
    assert_eq!(log.stops().len(), 6);
}

#[test]
fn boot_iteration_and_total_timeouts_catch_hangs_early() {
    let dir = tempfile::tempdir().unwrap();
    let slow = FakeAgent::steady(WARMUP, ITERATIONS, 1000).step(Duration::from_millis(400));
    let source = FakeSource::new()
        .with(
            EnvKind::Native,
            broken_at(1000, 1, |_| Script::hangs_before_ready()),
        )
        .with(
            EnvKind::Docker,
            broken_at(1000, 1, |agent| Script::hangs_after(agent, 2)),
        )
        // Never idle for a second, but far too slow for --timeout.
        .with(
            EnvKind::Gvisor,
            broken_at(1000, 1, move |_| Script::well_behaved(&slow)),
        );
    let config = config(dir.path(), "native,docker,gvisor", 2, |c| {
        c.common.timeout = 2;
        c.batch.boot_timeout = 1;
        c.batch.iteration_timeout = 1;
    });
    let (ctx, log) = context(dir.path(), config, source);
    let results = run_experiment(&ctx, &Recorder::default()).unwrap();

    let native = failure(&results, "native");
    assert!(
        native.starts_with("repetition 1: no ready record within 1 s of launch (--boot-timeout)"),
        "{native}"
    );
    let hung = &env(&results, "native").repetitions[0];
    assert_eq!((hung.ready_seconds, hung.iterations.len()), (None, 0));

    let docker = failure(&results, "docker");
    assert!(
        docker.starts_with(
            "repetition 1: no record for 1 s after the previous one (--iteration-timeout)"
        ),
        "{docker}"
    );
    assert_eq!(
        env(&results, "docker").repetitions[0].iterations.len(),
        2,
        "the samples before the hang are kept"
    );

    // The runner's deadline or the instance's own run limit (both --timeout)
    // ends it, whichever notices first.
    let gvisor = failure(&results, "gvisor");
    assert!(
        gvisor.starts_with("repetition 1: ") && gvisor.contains("2 s (--timeout)"),
        "{gvisor}"
    );
    // Every environment's second repetition is well-behaved and completes.
    for name in ["native", "docker", "gvisor"] {
        let second = &env(&results, name).repetitions[1];
        assert_eq!(
            (second.error.as_deref(), second.iterations.len()),
            (None, 5)
        );
    }
    // Hung and timed-out instances were killed, finished ones were not.
    let stops = log.stops();
    assert_eq!(stops.len(), 6);
    for (kind, rep, exit) in stops {
        assert_eq!(
            exit.killed,
            rep == Some(1),
            "{kind} round {rep:?}: {exit:?}"
        );
    }
    // Each hung repetition lasted its limit (launch to stop), not the
    // default 300 s limits, nor less than it was given.
    for (name, limit) in [("native", 1.0), ("docker", 1.0), ("gvisor", 2.0)] {
        let wall = env(&results, name).repetitions[0].usage.wall_seconds;
        assert!(
            (limit..limit + 1.5).contains(&wall),
            "{name}: {wall} s for a {limit} s limit"
        );
    }
}

#[test]
fn garbage_output_fails_the_repetition_naming_the_invalid_record() {
    let dir = tempfile::tempdir().unwrap();
    let source = FakeSource::new().with(
        EnvKind::Native,
        broken_at(1000, 2, |agent| Script::garbage(agent, 3)),
    );
    let config = config(dir.path(), "native", 2, as_is);
    let (ctx, _log) = context(dir.path(), config, source);
    let results = run_experiment(&ctx, &Recorder::default()).unwrap();
    let reason = failure(&results, "native");
    assert!(
        reason.starts_with("repetition 2: agent printed an invalid record: malformed agent record")
            && reason.contains(GARBAGE),
        "{reason}"
    );
    let native = env(&results, "native");
    assert_eq!(native.repetitions[1].iterations.len(), 3);
    assert_eq!(native.repetitions[0].error, None);
    assert_eq!(native.summary.as_ref().unwrap().failed_repetitions, [2]);
}

#[test]
fn an_agent_error_record_fails_the_environment_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let message = "model /assets/x.onnx: not a valid ONNX file";
    let source = FakeSource::new()
        .with(
            EnvKind::Native,
            FakeBackend::always(Script::agent_error("model", message)),
        )
        .with(EnvKind::Docker, steady(1000));
    let config = config(dir.path(), "native,docker", 2, as_is);
    let (ctx, _log) = context(dir.path(), config, source);
    let results = run_experiment(&ctx, &Recorder::default()).unwrap();
    let reason = failure(&results, "native");
    assert_eq!(
        reason,
        format!("repetition 1: agent error (model): {message}")
    );
    let native = env(&results, "native");
    assert_eq!(native.repetitions.len(), 2);
    for rep in &native.repetitions {
        assert_eq!(
            rep.error.as_deref(),
            Some(format!("agent error (model): {message}").as_str())
        );
        assert_eq!(rep.exit_code, Some(1));
        assert!(rep.iterations.is_empty() && rep.ready_seconds.is_none());
    }
    assert!(
        native.summary.is_none(),
        "nothing measured, nothing summarised"
    );
    // Docker ran, and with no native samples it is the baseline.
    let docker = env(&results, "docker");
    assert_eq!(docker.status, Status::Completed);
    assert!(docker.summary.as_ref().unwrap().decision.is_none());
}

#[test]
fn unavailable_unbuildable_and_unpreparable_environments_are_recorded_and_the_rest_run() {
    let dir = tempfile::tempdir().unwrap();
    let source = FakeSource::new()
        .with(EnvKind::Native, steady(1000))
        .with(
            EnvKind::Docker,
            FakeBackend::unavailable("dockerd is not running", "scripts/start-dockerd.sh"),
        )
        .with(
            EnvKind::OciRunc,
            steady(1000).failing_build("runc vanished"),
        )
        .with(
            EnvKind::Gvisor,
            steady(1000).failing_prepare("runsc refused the bundle"),
        );
    let config = config(dir.path(), "native,docker,oci-runc,gvisor", 2, as_is);
    let (ctx, log) = context(dir.path(), config, source);
    let results = run_experiment(&ctx, &Recorder::default()).unwrap();
    assert_eq!(env(&results, "native").status, Status::Completed);
    assert_eq!(
        env(&results, "docker").status,
        Status::Skipped {
            reason: "dockerd is not running (fix: scripts/start-dockerd.sh)".into()
        }
    );
    assert!(failure(&results, "oci-runc").contains("runc vanished"));
    let gvisor = failure(&results, "gvisor");
    assert!(
        gvisor.starts_with("prepare: ") && gvisor.contains("runsc refused the bundle"),
        "{gvisor}"
    );
    for name in ["docker", "oci-runc", "gvisor"] {
        assert!(env(&results, name).repetitions.is_empty(), "{name}");
    }
    assert_eq!(
        log.launch_order(),
        [(EnvKind::Native, 1), (EnvKind::Native, 2)],
        "only native was launched"
    );
    // The failed prepare was cleaned up.
    assert_eq!(log.count(|e| *e == Event::TornDown(EnvKind::Gvisor)), 1);
}

#[test]
fn a_resumed_run_measures_every_repetition_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out");
    let log = Arc::new(FakeLog::default());
    let source = || {
        FakeSource::new()
            .with(EnvKind::Native, steady(1000))
            .with(EnvKind::Docker, steady(1200))
            .logging_to(Arc::clone(&log))
    };
    let config = config(dir.path(), "native,docker", 3, as_is);
    let planned: Vec<(EnvKind, u32)> = schedule(
        config.batch.order,
        &[EnvKind::Native, EnvKind::Docker],
        3,
        config.common.seed,
    )
    .into_iter()
    .map(|(r, k)| (k, r))
    .collect();

    // 1. Interrupted at the third measured iteration of the fourth launch.
    let (ctx, _) = context(dir.path(), config.clone(), source());
    let observer = Recorder::interrupting(3, 2, Arc::clone(&ctx.interrupted));
    match run_experiment(&ctx, &observer) {
        Err(HarnessError::Interrupted(path)) => assert_eq!(path, results_path(&output)),
        other => panic!("expected an interrupted run, got {:?}", other.map(|_| ())),
    }
    assert_eq!(
        log.launch_order(),
        planned[..4],
        "stopped in the fourth launch"
    );
    let first: Vec<(EnvKind, u32)> = planned[..3].to_vec();
    let saved = ResultsFile::load(&results_path(&output)).unwrap();
    let kept: usize = saved.environments.iter().map(|e| e.repetitions.len()).sum();
    assert_eq!(kept, 3, "the interrupted repetition is not kept");
    assert_eq!(journalled(&output).len(), 3);

    // 2. Resumed: only what is missing is launched, the interrupted repetition again.
    let (mut ctx, _) = context(dir.path(), config, source());
    ctx.resume = true;
    let results = run_experiment(&ctx, &Recorder::default()).unwrap();
    let relaunched: Vec<(EnvKind, u32)> = log.launch_order()[4..].to_vec();
    let missing: Vec<(EnvKind, u32)> = planned
        .iter()
        .filter(|p| !first.contains(p))
        .copied()
        .collect();
    assert_eq!(relaunched, missing);
    let attempts: Vec<u32> = log.launches()[4..].iter().map(|l| l.attempt).collect();
    assert_eq!(
        attempts,
        [1, 0, 0],
        "the interrupted repetition is launched a second time"
    );

    // Every repetition exactly once, with every sample exactly once.
    for e in &results.environments {
        assert_eq!(e.status, Status::Completed, "{}", e.name);
        let indices: Vec<u32> = e.repetitions.iter().map(|r| r.round).collect();
        assert_eq!(indices, [1, 2, 3], "{}", e.name);
        for rep in &e.repetitions {
            let samples: Vec<u64> = rep.iterations.iter().map(|s| s.index).collect();
            assert_eq!(
                samples,
                (0..ITERATIONS).collect::<Vec<_>>(),
                "{} round {}",
                e.name,
                rep.round
            );
        }
    }
    let mut journal = journalled(&output);
    assert_eq!(journal.len(), 6);
    journal.sort();
    journal.dedup();
    assert_eq!(journal.len(), 6, "no repetition journalled twice");
    assert_eq!(
        ResultsFile::load(&results_path(&output))
            .unwrap()
            .environments[0]
            .repetitions
            .len(),
        3
    );
}

#[test]
fn a_meter_that_reads_nothing_gives_absent_figures_and_a_warning_never_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let source = FakeSource::new()
        .with(EnvKind::Native, steady(1000))
        .with(EnvKind::Docker, steady(1100).metered(FakeMeter::Failing));
    let config = config(dir.path(), "native,docker", 2, as_is);
    let (ctx, _log) = context(dir.path(), config, source);
    let results = run_experiment(&ctx, &Recorder::default()).unwrap();
    let docker = env(&results, "docker");
    assert_eq!(docker.status, Status::Completed, "{:?}", docker.status);
    for rep in &docker.repetitions {
        let usage = &rep.usage;
        assert_eq!(
            (usage.cpu_percent, usage.cpu_seconds_per_inference),
            (None, None),
            "round {}: {usage:?}",
            rep.round
        );
        assert!(
            usage.absent.iter().any(|a| matches!(
                a,
                isobench_results::AbsentReason::MeterReadNothing { moments, .. }
                    if moments.iter().any(|m| m == "ready")
            )),
            "round {}: {:?}",
            rep.round,
            usage.absent
        );
    }
    let summary = docker.summary.as_ref().unwrap();
    assert_eq!(summary.cpu_percent, None, "absent, never 0");
    assert!(
        results.warnings.iter().any(|w| matches!(
            w,
            isobench_results::Warning::CpuAbsent { env, rounds, .. } if env == "docker" && rounds == &[1, 2]
        )),
        "{:?}",
        results.warnings
    );
}

/// A backend whose repetition `r` runs around `base × factor(r)` µs.
fn varying(base: f64, factor: fn(u32) -> f64) -> FakeBackend {
    FakeBackend::scripted(move |launch| {
        let round = launch.repetition.unwrap();
        let level = base * factor(round);
        Script::well_behaved(&FakeAgent::new(
            WARMUP,
            (0..ITERATIONS).map(move |i| (level + i as f64) as u64),
        ))
    })
}

#[test]
fn a_modest_slowdown_is_called_and_a_noisy_one_is_inconclusive_with_what_would_decide_it() {
    let dir = tempfile::tempdir().unwrap();
    // Rounds drift together (what pairing cancels); docker is 10% slower in
    // every round; gvisor scatters ±20% around native from round to round.
    let drift = |r: u32| 1.0 + 0.3 * f64::from(r % 3);
    let source = FakeSource::new()
        .with(EnvKind::Native, varying(1000.0, drift))
        .with(
            EnvKind::Docker,
            varying(1000.0, |r| (1.0 + 0.3 * f64::from(r % 3)) * 1.10),
        )
        .with(
            EnvKind::Gvisor,
            varying(1000.0, |r| {
                (1.0 + 0.3 * f64::from(r % 3)) * if r % 2 == 0 { 1.2 } else { 0.85 }
            }),
        );
    let config = config(dir.path(), "native,docker,gvisor", 6, as_is);
    let (ctx, _log) = context(dir.path(), config, source);
    let results = run_experiment(&ctx, &Recorder::default()).unwrap();
    let decision = |name: &str| {
        env(&results, name)
            .summary
            .as_ref()
            .unwrap()
            .decision
            .unwrap()
    };
    let docker = decision("docker");
    assert_eq!(docker.outcome, Outcome::Slower, "{docker:?}");
    assert!((docker.ratio - 1.10).abs() < 0.01, "{docker:?}");
    let gvisor = decision("gvisor");
    assert_eq!(gvisor.outcome, Outcome::Inconclusive, "{gvisor:?}");
    let interval = gvisor.interval.unwrap();
    assert!(interval.low < 0.95 && interval.high > 1.05, "{interval:?}");
    assert!(
        gvisor.minimum_detectable_effect.unwrap() > 0.05,
        "{gvisor:?}"
    );
    assert!(
        gvisor.label().starts_with("inconclusive: between"),
        "{}",
        gvisor.label()
    );
}
