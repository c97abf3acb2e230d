//! `isobench run` end to end over native and every container environment
//! this host has: real agent, real metrics, nothing left behind.

mod common;

use common::{dockerd_up, leftovers, podman_installed, run};
use isobench_results::{ResultsFile, Status};

#[test]
fn knn_in_native_and_containers_gives_real_metrics_and_leaves_nothing() {
    common::require_agent_and_assets();
    let mut envs = vec!["native"];
    if nix::unistd::geteuid().is_root() {
        envs.extend(["oci-runc", "oci-crun", "gvisor"]);
        if dockerd_up() {
            envs.push("docker");
        } else {
            isobench_testkit::record_skip!(
                "docker part: dockerd is not running (scripts/test.sh starts it)"
            );
        }
        if podman_installed() {
            envs.push("podman");
        } else {
            isobench_testkit::record_skip!(
                "podman part: podman is not installed (scripts/test.sh installs it)"
            );
        }
    } else {
        isobench_testkit::record_skip!(
            "container part: not root, so native only (the OCI runtimes need root)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let env_list = envs.join(",");
    let output = run(&[
        "run",
        "--offline",
        "--env",
        &env_list,
        "--workload",
        "knn",
        "--iterations",
        "5",
        "--warmup",
        "1",
        "--repetitions",
        "2",
        "--output",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The terminal table names every environment.
    for env in &envs {
        assert!(stdout.contains(env), "table lacks {env}:\n{stdout}");
    }
    let results = ResultsFile::load(&out.join("results.json")).unwrap();
    assert!(
        results.payload.agent_static,
        "the static agent runs everywhere"
    );
    assert_eq!(results.payload.agent_sha256.len(), 64);
    assert_eq!(results.environments.len(), envs.len());
    for env in &results.environments {
        assert_eq!(
            env.status,
            Status::Completed,
            "{}: {:?}",
            env.name,
            env.status
        );
        assert_eq!(env.repetitions.len(), 2);
        for rep in &env.repetitions {
            assert_eq!(rep.iterations.len(), 5, "{}", env.name);
            assert!(rep.ready_seconds.unwrap() > 0.0, "{}: start time", env.name);
            assert!(
                rep.usage.cpu_seconds.unwrap_or(0.0) > 0.0,
                "{}: CPU seconds {:?}",
                env.name,
                rep.usage.cpu_seconds
            );
            assert!(
                rep.usage.startup_cpu_seconds.unwrap_or(0.0) > 0.0,
                "{}: start-up CPU {:?}",
                env.name,
                rep.usage
            );
            assert!(
                rep.usage.host_peak_rss_bytes.unwrap_or(0) > 0,
                "{}: host memory {:?}",
                env.name,
                rep.usage
            );
            // knn's 5 iterations last far less than the CPU counters need:
            // the figure is absent with its reason, never a whole-life stand-in.
            assert_eq!(rep.usage.cpu_percent, None, "{}", env.name);
            assert!(
                rep.usage
                    .absent
                    .iter()
                    .any(|a| matches!(a, isobench_results::AbsentReason::WindowTooShort { .. })),
                "{}: {:?}",
                env.name,
                rep.usage.absent
            );
            let calibration = rep.calibration.expect("host-speed probe");
            assert!(calibration.before > 0.0 && calibration.after > 0.0);
            assert!(rep.sequence.is_some());
            assert!(
                rep.iterations.iter().all(|i| i.digest.is_some()),
                "{}: outputs recorded",
                env.name
            );
            let summary = rep.agent_summary.as_ref().expect("agent summary");
            assert!(
                summary.peak_rss_bytes.unwrap_or(0) > 0,
                "{}: the agent's own peak RSS",
                env.name
            );
            assert!(
                summary.accuracy.unwrap() >= 0.97,
                "{}: accuracy {:?}",
                env.name,
                summary.accuracy
            );
            // Byte-identical: the agent hashed itself inside the environment.
            assert_eq!(
                summary.agent_sha256, results.payload.agent_sha256,
                "{}: agent differs inside",
                env.name
            );
        }
        let summary = env.summary.as_ref().unwrap();
        assert_eq!(summary.inference_us.n, 10);
        if env.name != "native" {
            assert!(summary.isolation_overhead.is_some(), "{}", env.name);
            let decision = summary.decision.as_ref().expect("a verdict");
            assert!(decision.ratio > 0.0, "{}: ratio to native", env.name);
            // 2 rounds give one degree of freedom: usually too wide an
            // interval to decide, but two rounds that agree closely can
            // decide (CI once saw "same"). Whatever the outcome, it must be
            // what its own interval shows: never more than the data.
            assert_decision_follows_its_interval(&env.name, decision);
        }
    }
    // Interleaved rounds: each round ran every environment once, in the
    // order results.json records, and the journal shows the same order.
    assert_eq!(
        results.experiment.order,
        isobench_results::Order::Interleaved
    );
    assert_eq!(results.rounds.len(), 2);
    let planned: Vec<String> = results
        .rounds
        .iter()
        .flat_map(|r| r.order.iter().cloned())
        .collect();
    assert_eq!(planned.len(), 2 * envs.len());
    let journal = std::fs::read_to_string(out.join("journal.jsonl")).unwrap();
    let journalled: Vec<String> = journal
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            (v["entry"] == "repetition").then(|| v["env"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(journalled, planned, "journal order vs planned rounds");
    let check = results.outputs.as_ref().expect("outputs checked");
    assert!(
        check.consistent(),
        "every environment computes the same predictions: {:?}",
        check.mismatches
    );
    assert_eq!(check.compared, (2 * 5 * envs.len()) as u64);
    assert!(results.host_speed.is_some());
    for file in [
        "results.csv",
        "samples.csv",
        "report.md",
        "report.html",
        "journal.jsonl",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    isobench_testkit::exercised_by(&results);
    let left = leftovers();
    assert!(left.is_empty(), "left behind: {left:#?}");
}

/// The ort engine (the dynamic agent and the pinned ONNX Runtime) in every
/// container environment and in native, the baseline: each environment is
/// handed the library at the path it sees (issue: native used to get the
/// path the library has inside a container).
#[test]
fn yolov8_with_ort_runs_natively_and_in_every_container() {
    common::require_agent_and_assets();
    let mut envs = vec!["native"];
    if nix::unistd::geteuid().is_root() {
        envs.extend(["oci-runc", "oci-crun", "gvisor"]);
        if which("youki") {
            envs.push("oci-youki");
        } else {
            isobench_testkit::record_skip!(
                "oci-youki part: youki is not installed (scripts/install-youki.sh)"
            );
        }
        if dockerd_up() {
            envs.push("docker");
        } else {
            isobench_testkit::record_skip!(
                "docker part: dockerd is not running (scripts/test.sh starts it)"
            );
        }
    } else {
        isobench_testkit::record_skip!("container part: not root (the OCI runtimes need root)");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let env_list = envs.join(",");
    let output = run(&[
        "run",
        "--offline",
        "--env",
        &env_list,
        "--workload",
        "yolov8",
        "--engine",
        "ort",
        "--iterations",
        "2",
        "--warmup",
        "1",
        "--repetitions",
        "1",
        "--output",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Failure reasons go under the table: every table line stays short.
    for line in stdout.lines().take_while(|l| !l.starts_with("  ")) {
        assert!(
            line.chars().count() <= 200,
            "a {}-column line: {line}",
            line.chars().count()
        );
    }
    let results = ResultsFile::load(&out.join("results.json")).unwrap();
    assert!(!results.payload.agent_static, "ort needs the dynamic agent");
    for env in &results.environments {
        assert_eq!(
            env.status,
            Status::Completed,
            "{}: {:?}",
            env.name,
            env.status
        );
        let rep = &env.repetitions[0];
        let summary = rep.agent_summary.as_ref().expect("a summary");
        assert_eq!(summary.engine.name(), "ort", "{}", env.name);
    }
    let check = results.outputs.as_ref().expect("outputs compared");
    assert!(check.consistent(), "{:?}", check.mismatches);
    isobench_testkit::exercised_by(&results);
    let left = leftovers();
    assert!(left.is_empty(), "left behind: {left:#?}");
}

fn which(program: &str) -> bool {
    isobench_environments::host::which(program).is_some()
}

/// The outcome says no more than the interval printed with it: "same" only
/// with the whole interval inside the ±threshold band, "slower"/"faster" only
/// with the whole interval on one side of 1 and the estimate beyond the band,
/// "inconclusive" always with its reason.
fn assert_decision_follows_its_interval(env: &str, decision: &isobench_stats::Decision) {
    use isobench_stats::Outcome;
    let (band_low, band_high) = (1.0 - decision.threshold, 1.0 + decision.threshold);
    let interval = decision.interval.as_ref();
    let holds = match decision.outcome {
        Outcome::Inconclusive => decision.inconclusive.is_some(),
        Outcome::Same => interval.is_some_and(|i| i.low > band_low && i.high < band_high),
        Outcome::Slower => interval.is_some_and(|i| i.low > 1.0) && decision.ratio > band_high,
        Outcome::Faster => interval.is_some_and(|i| i.high < 1.0) && decision.ratio < band_low,
    };
    let reason_iff_inconclusive =
        decision.inconclusive.is_some() == (decision.outcome == Outcome::Inconclusive);
    assert!(
        holds && reason_iff_inconclusive,
        "{env}: the outcome says more than its interval, or its reason is misplaced: {decision:?}"
    );
}
