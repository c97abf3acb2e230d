//! `isobench density`: native, runc and gVisor (where available) serving
//! knn, k = 1, 2, 3 instances alive at once, each driven by its own load
//! generator: every environment gets a limit with its reason, a curve of
//! p99 and memory per instance against k, and nothing is left behind; a
//! bound no instance can meet is density 0 with the reason, not an error;
//! bad counts are one-line errors.

mod common;

use std::path::Path;

use common::{leftovers, require_agent_and_assets, run};
use isobench_results::{DensityResults, LimitKind, ResultsFile};
use isobench_testkit::static_agent;

/// Runs density with `extra` flags; returns (exit code, stderr, stdout, results).
fn density(out: &Path, extra: &[&str]) -> (i32, String, String, Option<DensityResults>) {
    require_agent_and_assets();
    let agent = static_agent().unwrap();
    let mut args = vec![
        "density",
        "--offline",
        "--agent",
        agent.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--workload",
        "knn",
    ];
    args.extend_from_slice(extra);
    let output = run(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{stdout}\n{stderr}");
    let results = ResultsFile::load(&out.join("results.json"))
        .ok()
        .and_then(|f| f.density);
    (output.status.code().unwrap_or(-1), stderr, stdout, results)
}

/// native, plus runc and gVisor where this host can run them (runc is required).
fn environments() -> Vec<&'static str> {
    let mut envs = vec!["native"];
    envs.extend(common::runc_and_gvisor_where_available());
    envs
}

#[test]
fn native_runc_and_gvisor_each_get_a_limit_and_leave_nothing_behind() {
    let envs = environments();
    let dir = tempfile::tempdir().unwrap();
    let list = envs.join(",");
    let (code, stderr, stdout, results) = density(
        dir.path(),
        &[
            "--env",
            &list,
            "--latency-bound-ms",
            "50",
            "--max-instances",
            "3",
            "--duration",
            "2",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let results = results.expect("a density section in results.json");
    assert_eq!(results.settings.max_instances, 3);
    assert_eq!(results.environments.len(), envs.len());
    for (env, r) in envs.iter().zip(&results.environments) {
        assert_eq!(r.env, *env);
        assert!(!r.limit_reason.is_empty(), "{r:?}");
        assert!(r.max_instances <= 3, "{r:?}");
        // The steps are k = 1, 2, … up to the limit (or 3), each met up to
        // the density, and the one after it (if any) not.
        let ks: Vec<u32> = r.steps.iter().map(|s| s.instances).collect();
        assert_eq!(ks, (1..=ks.len() as u32).collect::<Vec<_>>(), "{r:?}");
        for step in &r.steps {
            assert_eq!(step.met, step.instances <= r.max_instances, "{step:?}");
            let trial = &step.trials[0];
            if trial.failure.is_some() {
                continue;
            }
            assert_eq!(trial.started, step.instances);
            assert_eq!(trial.per_instance.len(), step.instances as usize);
            assert!(trial.latency.count > 0 && trial.latency.p99_us > 0.0);
            // Every instance had its own load and its own memory reading.
            for i in &trial.per_instance {
                assert!(i.counts.answered > 0, "{env}: {i:?}");
                assert!(i.pss_bytes.is_some_and(|b| b > 1 << 20), "{env}: {i:?}");
                assert!(i.processes >= 1, "{env}: {i:?}");
                // Pages shared between instances are split: PSS ≤ RSS.
                assert!(i.pss_bytes <= i.rss_bytes, "{env}: {i:?}");
            }
            assert!(trial.calibration.is_some());
        }
        match r.limit {
            LimitKind::MaxInstances => assert_eq!(r.max_instances, 3),
            LimitKind::Bound => assert!(r.limit_reason.contains("bound broken at k="), "{r:?}"),
            LimitKind::Errors | LimitKind::Start => {}
            other => panic!("{env}: unexpected limit {other:?}: {}", r.limit_reason),
        }
        if r.max_instances > 0 {
            assert!(r.pss_per_instance_bytes.is_some(), "{r:?}");
        }
        // Metered through a cgroup (native's own, runc's, gVisor's): a charge.
        if r.steps[0].trials[0].failure.is_none() {
            assert!(r.steps[0].cgroup_usage_mean_bytes.is_some(), "{r:?}");
        }
        isobench_testkit::exercised(env);
    }
    assert!(results.host_speed.is_some());
    for env in &envs {
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("{env}: "))),
            "{stdout}"
        );
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("{env} "))),
            "a row of {env}: {stdout}"
        );
    }
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains("**Density**") && md.contains("**PSS MiB**"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        html.contains("id=\"density-p99\"") && html.contains("id=\"density-memory\""),
        "the two density charts"
    );
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

#[test]
fn a_bound_one_instance_cannot_meet_is_density_zero_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr, stdout, results) = density(
        dir.path(),
        &[
            "--env",
            "native",
            "--latency-bound-ms",
            "0.001",
            "--max-instances",
            "3",
            "--duration",
            "1",
        ],
    );
    assert_eq!(code, 0, "density 0 is a result, not an error: {stderr}");
    let results = results.expect("a density section");
    let native = &results.environments[0];
    assert_eq!(native.max_instances, 0, "{native:?}");
    assert_eq!(native.limit, LimitKind::Bound, "{native:?}");
    assert!(
        native.limit_reason.starts_with("bound broken at k=1: p99 ")
            && native.limit_reason.ends_with("> 0.001 ms"),
        "{}",
        native.limit_reason
    );
    assert_eq!(native.steps.len(), 1, "the search stops at k = 1");
    assert!(native.pss_per_instance_bytes.is_none());
    assert!(
        stdout.contains("native: 0 instance(s) within p99 0.001 ms; limit: bound broken at k=1")
            || stdout
                .contains("native: 0 instance(s) within p99 0.001 ms; limit: bound broken at\n"),
        "{stdout}"
    );
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

#[test]
fn bad_counts_and_bounds_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for (flags, expected) in [
        (
            &["--latency-bound-ms", "50", "--max-instances", "0"][..],
            "--max-instances 0",
        ),
        (&["--latency-bound-ms", "-3"][..], "--latency-bound-ms -3"),
        (
            &["--latency-bound-ms", "50", "--trials", "0"][..],
            "--trials 0",
        ),
        (&["--max-instances", "2"][..], "--latency-bound-ms"),
    ] {
        let mut args = vec!["density", "--offline", "--output", out];
        args.extend_from_slice(flags);
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(expected),
            "{flags:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{flags:?}: {err}");
    }
    assert!(!dir.path().join("results.json").exists());
}
