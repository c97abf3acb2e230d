//! The density mode against the test kit's fake backend (no process
//! spawned): instances that never become ready, or that fail once requests
//! are sent (a fake instance takes no input), end the search at k = 1 with
//! density 0 and the reason,
//! not an error; every instance launched is stopped and the environment
//! torn down; an environment that cannot run here is density 0 with why.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use isobench_environments::EnvKind;
use isobench_harness::config::Workload;
use isobench_harness::density::{density, DensityOptions};
use isobench_harness::{ExperimentConfig, RunObserver};
use isobench_results::{LimitKind, ResultsFile};
use isobench_testkit::fake::{Event, FakeAgent, FakeBackend, FakeLog, FakeSource, Script};

struct Quiet;

impl RunObserver for Quiet {
    fn message(&self, text: &str) {
        eprintln!("{text}");
    }
}

fn options(max_instances: u32) -> DensityOptions {
    DensityOptions {
        latency_bound: Duration::from_millis(50),
        max_instances,
        qps_per_instance: None,
        duration: Duration::from_millis(200),
        trials: 1,
        warmup_requests: 2,
        response_timeout: Duration::from_secs(2),
        input: String::new(),
    }
}

fn run(
    dir: &Path,
    envs: &str,
    source: FakeSource,
) -> (isobench_results::DensityResults, Arc<FakeLog>) {
    let config = ExperimentConfig::with(|c| {
        c.common.environments = envs.split(',').map(|e| e.parse().unwrap()).collect();
        c.common.workload = Some(Workload::Knn);
        c.common.output = dir.join("out");
        c.common.timeout = 30;
        c.batch.boot_timeout = 1;
        c.batch.iteration_timeout = 5;
    })
    .unwrap();
    let log = source.log();
    let payload = isobench_testkit::payload(&dir.join("agent"), &dir.join("assets"));
    let ctx = isobench_testkit::run_context(config, Arc::new(source), payload, dir);
    let results = density(&ctx, &options(3), &Quiet).expect("density 0 is a result");
    let saved = ResultsFile::load(&dir.join("out/results.json")).unwrap();
    assert_eq!(saved.density.as_ref(), Some(&results));
    (results, log)
}

/// Every launch was stopped once, and every environment torn down.
fn all_stopped(log: &FakeLog, kinds: &[EnvKind]) {
    let launched = log.launches().len();
    let stopped = log.count(|e| matches!(e, Event::Stopped { .. }));
    assert!(launched > 0);
    assert_eq!(launched, stopped, "{:?}", log.events());
    for kind in kinds {
        assert_eq!(
            log.count(|e| *e == Event::TornDown(*kind)),
            1,
            "{:?}",
            log.events()
        );
    }
}

#[test]
fn an_instance_that_never_becomes_ready_is_a_start_limit_at_k_1() {
    let dir = tempfile::tempdir().unwrap();
    let source = FakeSource::new()
        .with(
            EnvKind::Native,
            FakeBackend::always(Script::hangs_before_ready()),
        )
        .with(
            EnvKind::Docker,
            FakeBackend::unavailable("dockerd is not running", "start dockerd"),
        );
    let (results, log) = run(dir.path(), "native,docker", source);
    let native = &results.environments[0];
    assert_eq!(native.max_instances, 0);
    assert_eq!(native.limit, LimitKind::Start);
    assert!(
        native.limit_reason.starts_with(
            "start failed at k=1: instance 1 of 1 never became ready: no ready record within 1 s"
        ),
        "{}",
        native.limit_reason
    );
    assert_eq!(native.steps.len(), 1);
    assert!(!native.steps[0].met);
    assert!(native.steps[0].trials[0].calibration.is_some());
    let docker = &results.environments[1];
    assert_eq!(
        (docker.max_instances, docker.limit),
        (0, LimitKind::Unavailable)
    );
    assert!(
        docker.limit_reason.contains("dockerd is not running"),
        "{}",
        docker.limit_reason
    );
    assert!(docker.steps.is_empty());
    all_stopped(&log, &[EnvKind::Native]);
}

#[test]
fn an_instance_that_fails_under_load_ends_the_search_and_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let agent = FakeAgent::steady(0, 1, 1000);
    let source = FakeSource::new().with(
        EnvKind::Native,
        FakeBackend::always(Script::well_behaved(&agent)),
    );
    let (results, log) = run(dir.path(), "native", source);
    let native = &results.environments[0];
    assert_eq!(native.max_instances, 0);
    assert_eq!(native.limit, LimitKind::Errors, "{}", native.limit_reason);
    assert!(
        native
            .limit_reason
            .starts_with("an instance failed at k=1: under load: "),
        "{}",
        native.limit_reason
    );
    assert_eq!(native.steps[0].trials[0].started, 1);
    all_stopped(&log, &[EnvKind::Native]);
}
