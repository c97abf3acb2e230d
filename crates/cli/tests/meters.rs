//! Known-answer checks of the meters: the `busy` calibration workload keeps
//! one core busy for a known CPU time per iteration and holds a known
//! amount of touched memory, natively and in a container; the host-side
//! figures must show both.

mod common;

use common::{leftovers, run};
use isobench_results::{ResultsFile, Status};

/// CPU milliseconds each iteration burns.
const BUSY_MS: u64 = 150;
/// Iterations: a 1.5 s measured window, well above the counters' 0.4 s minimum.
const ITERATIONS: u64 = 10;
/// MiB the workload writes once and holds.
const TOUCH_MIB: u64 = 256;

#[test]
fn busy_workload_shows_its_known_cpu_and_memory_natively_and_in_a_container() {
    common::require_agent_and_assets();
    let mut envs = vec!["native"];
    if nix::unistd::geteuid().is_root() {
        envs.push("oci-runc");
        if common::dockerd_up() {
            envs.push("docker");
        } else {
            isobench_testkit::record_skip!(
                "docker part: dockerd is not running (scripts/test.sh starts it)"
            );
        }
    } else {
        isobench_testkit::record_skip!(
            "container part: not root, so native only (oci-runc needs root)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = run(&[
        "run",
        "--offline",
        "--env",
        &envs.join(","),
        "--workload",
        "busy",
        "--busy-ms",
        &BUSY_MS.to_string(),
        "--touch-mib",
        &TOUCH_MIB.to_string(),
        "--iterations",
        &ITERATIONS.to_string(),
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
    let results = ResultsFile::load(&out.join("results.json")).unwrap();
    let touched = (TOUCH_MIB << 20) as f64;
    for env in &results.environments {
        assert_eq!(env.status, Status::Completed, "{}", env.name);
        for rep in &env.repetitions {
            let usage = &rep.usage;
            let label = format!("{} repetition {}: {usage:#?}", env.name, rep.round);
            // CPU: the workload burns exactly BUSY_MS of its thread's CPU per
            // iteration; the host adds the record writes (microseconds).
            let per_inference = usage.cpu_seconds_per_inference.expect(&label);
            let expected = BUSY_MS as f64 / 1e3;
            println!(
                "{}: CPU per inference {:.4} s (expected {expected:.3}), CPU {:.1}% of a core, workload peak RSS {:.1} MiB, host peak RSS {:.1} MiB",
                env.name,
                per_inference,
                usage.cpu_percent.unwrap_or(f64::NAN),
                rep.agent_summary.as_ref().and_then(|s| s.peak_rss_bytes).unwrap_or(0) as f64 / 1048576.0,
                usage.host_peak_rss_bytes.unwrap_or(0) as f64 / 1048576.0,
            );
            assert!(
                (per_inference / expected - 1.0).abs() <= 0.05,
                "CPU per inference {per_inference} vs {expected}: {label}"
            );
            // One core busy: 100% of one core, unless the host took the core
            // away for a while; the agent's own wall time per iteration says
            // how much, so the expected figure is CPU time / wall time.
            let wall_per_iteration = rep
                .iterations
                .iter()
                .map(|i| i.inference_us as f64 / 1e6)
                .sum::<f64>()
                / rep.iterations.len() as f64;
            let expected_percent = 100.0 * expected / wall_per_iteration;
            let percent = usage.cpu_percent.expect(&label);
            assert!(
                (percent - expected_percent).abs() <= 5.0,
                "CPU {percent:.1}% vs {expected_percent:.1}% (100% of a core unless preempted): {label}"
            );
            assert!(
                (95.0..=105.0).contains(&percent) || expected_percent < 95.0,
                "CPU {percent:.1}% of a core on a quiet core: {label}"
            );
            // Memory: the agent's own peak RSS holds the touched MiB plus its
            // binary's pages; the host's view of the instance's processes too.
            let workload = rep
                .agent_summary
                .as_ref()
                .and_then(|s| s.peak_rss_bytes)
                .expect(&label) as f64;
            assert!(
                workload >= touched && workload <= touched * 1.05,
                "workload peak RSS {workload} vs {touched} touched: {label}"
            );
            let host = usage.host_peak_rss_bytes.expect(&label) as f64;
            assert!(
                (host / workload - 1.0).abs() <= 0.05,
                "host peak RSS {host} vs the workload's own {workload}: {label}"
            );
        }
    }
    isobench_testkit::exercised_by(&results);
    let left = leftovers();
    assert!(left.is_empty(), "left behind: {left:#?}");
}
