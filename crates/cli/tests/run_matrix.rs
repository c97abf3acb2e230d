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
                rep.usage.cpu_seconds > 0.0,
                "{}: CPU seconds {}",
                env.name,
                rep.usage.cpu_seconds
            );
            assert!(rep.usage.peak_memory_bytes > 0, "{}: memory", env.name);
            let summary = rep.agent_summary.as_ref().expect("agent summary");
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
            assert!(summary.memory_overhead_bytes.is_some());
        }
    }
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
