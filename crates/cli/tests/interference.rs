//! `isobench interference`: a serving victim measured with 0 … K busy
//! neighbours of its own environment, with the real agent: CPU spinners
//! slow a runc victim (and gVisor's, where available), a memory streamer
//! runs natively under a `--memory` limit it respects, the results land in
//! results.json, the terminal, report.md and report.html, nothing is left
//! behind, and bad flags are one-line errors.

mod common;

use std::path::Path;

use common::{leftovers, require_agent_and_assets, run};
use isobench_results::{InterferenceResult, NeighbourLoad, ResultsFile};
use isobench_testkit::static_agent;

/// Runs interference with `extra` flags; returns (exit code, stderr, stdout, results).
fn interference(out: &Path, extra: &[&str]) -> (i32, String, String, Vec<InterferenceResult>) {
    require_agent_and_assets();
    let agent = static_agent().unwrap();
    let mut args = vec![
        "interference",
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
        .map(|f| f.interference)
        .unwrap_or_default();
    (output.status.code().unwrap_or(-1), stderr, stdout, results)
}

/// Every level of every trial measured, in a seeded order, with answers
/// and nothing lost.
fn check_levels(r: &InterferenceResult, trials: u32, max: u32) {
    assert!(r.absent.is_none(), "{r:?}");
    assert!(r.refusals.is_empty(), "{}: {:?}", r.env, r.refusals);
    assert!(r.failures.is_empty(), "{}: {:?}", r.env, r.failures);
    assert_eq!(r.samples.len() as u32, trials * (max + 1), "{r:?}");
    assert_eq!(r.probes.len() as u32, trials, "{r:?}");
    for trial in 1..=trials {
        let mut ks: Vec<u32> = r
            .samples
            .iter()
            .filter(|s| s.trial == trial)
            .map(|s| s.neighbours)
            .collect();
        ks.sort_unstable();
        assert_eq!(ks, (0..=max).collect::<Vec<_>>(), "trial {trial}: {r:?}");
    }
    for s in &r.samples {
        assert!(s.counts.answered > 0 && s.counts.lost == 0, "{s:?}");
        assert!(s.latency.p99_us >= s.latency.p50_us && s.latency.p50_us > 0.0);
    }
    assert_eq!(r.levels.len() as u32, max + 1);
    assert!(r.target_qps.is_some_and(|q| q > 0.0) && r.qps_estimated);
    assert!(r.capacity_qps.is_some_and(|c| c > r.target_qps.unwrap()));
}

#[test]
fn cpu_neighbours_slow_a_runc_victim_more_as_k_grows() {
    let envs = common::runc_and_gvisor_where_available();
    let dir = tempfile::tempdir().unwrap();
    let list = envs.join(",");
    let (code, stderr, stdout, results) = interference(
        dir.path(),
        &[
            "--env",
            &list,
            "--neighbours",
            "2",
            "--neighbour-load",
            "cpu",
            "--duration",
            "2",
            "--trials",
            "2",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(results.len(), envs.len(), "{results:?}");
    for r in &results {
        check_levels(r, 2, 2);
        assert_eq!(r.load, Some(NeighbourLoad::Cpu));
        isobench_testkit::exercised(&r.env);
        // The spinners ran: their meters counted CPU while the victim was driven.
        for k in 1..=2 {
            let cores = r.level(k).and_then(|l| l.neighbour_cores).unwrap();
            assert!(cores > 0.2 * f64::from(k), "{}: K={k}: {cores}", r.env);
        }
        // Two trials on each side: a verdict (unpaired below 3 trials).
        assert!(r.level(2).unwrap().p99_slowdown.is_some(), "{r:?}");
    }
    // On a host of few cores, two spinners beside a runc victim take CPU
    // from it: its p99 with 2 neighbours is above its p99 alone.
    let runc = results.iter().find(|r| r.env == "oci-runc").unwrap();
    let p99 = |k: u32| runc.level(k).unwrap().p99_us.as_ref().unwrap().mean;
    if std::thread::available_parallelism().map_or(1, |n| n.get()) <= 2 {
        assert!(p99(2) > p99(0), "K=2 {} µs vs K=0 {} µs", p99(2), p99(0));
    } else {
        isobench_testkit::record_skip!(
            "slowdown ordering: {} cores here, the ordering is certain on 2",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    }
    // The terminal, report.md and report.html show it.
    assert!(
        stdout.contains("oci-runc cpu K=2 vs K=0: p99 ")
            && stdout.contains("chosen from its capacity"),
        "{stdout}"
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains("**Interference**") && md.contains("p99 ×K0"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        html.contains("id=\"interference-p99\"") && html.contains("id=\"interference-table\""),
        "no interference chart or table in report.html"
    );
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

#[test]
fn a_memory_streamer_neighbour_runs_natively_within_the_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr, _, results) = interference(
        dir.path(),
        &[
            "--env",
            "native",
            "--neighbours",
            "1",
            "--neighbour-load",
            "memory",
            "--memory",
            "256",
            "--duration",
            "1",
            "--trials",
            "1",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let [r] = &results[..] else {
        panic!("{results:?}")
    };
    check_levels(r, 1, 1);
    // Three buffers of 256 / 8 MiB: within the instance's 256 MiB limit.
    assert_eq!(r.noise_mib, Some(32));
    assert_eq!(r.memory_mib, Some(256));
    assert!(
        r.level(1)
            .and_then(|l| l.neighbour_cores)
            .is_some_and(|c| c > 0.1),
        "{r:?}"
    );
    // One trial: figures, no verdict.
    assert!(r.level(1).unwrap().p99_slowdown.is_none());
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

#[test]
fn bad_flags_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for (flags, expected) in [
        (&["--qps", "0"][..], "--qps 0"),
        (&["--trials", "0"][..], "--trials 0"),
        (&["--neighbours", "0"][..], "--neighbours 0"),
        (&["--neighbour-load", "disk"][..], "disk"),
        (&["--duration", "0"][..], "--duration 0"),
    ] {
        let mut args = vec!["interference", "--offline", "--output", out];
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
