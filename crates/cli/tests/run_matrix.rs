//! `isobench run` end to end over native and every container environment
//! this host has: real agent, real metrics, nothing left behind.

mod common;

use common::{assets_ready, dockerd_up, leftovers, run, static_agent};
use isobench_results::{ResultsFile, Status};

#[test]
fn knn_in_native_and_containers_gives_real_metrics_and_leaves_nothing() {
    assert!(
        static_agent().is_some() && assets_ready(),
        "run scripts/build.sh and `isobench setup` first"
    );
    let mut envs = vec!["native"];
    if nix::unistd::geteuid().is_root() {
        envs.extend(["oci-runc", "oci-crun", "gvisor"]);
        if dockerd_up() {
            envs.push("docker");
        } else {
            eprintln!(
                "note: dockerd is not running, docker not in this run (scripts/test.sh starts it)"
            );
        }
    } else {
        eprintln!("note: not root: only native runs (the OCI runtimes need root)");
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
                rep.usage.absent.iter().any(|a| a.contains("shorter than")),
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
            assert!(
                summary.ratio_to_baseline.is_some(),
                "{}: ratio to native",
                env.name
            );
            assert!(summary.isolation_overhead_bytes.is_some(), "{}", env.name);
            let comparison = summary.comparison.as_ref().expect("a verdict");
            // 2 vs 2 repetitions can never reach p < 0.01.
            assert_eq!(comparison.verdict, isobench_stats::Verdict::Inconclusive);
        }
    }
    // Interleaved rounds: each round ran every environment once, in the
    // order results.json records, and the journal shows the same order.
    assert_eq!(results.experiment.order, "interleaved");
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
    let left = leftovers();
    assert!(left.is_empty(), "left behind: {left:#?}");
}
