//! `isobench cold-start`: fresh instances of native, one container runtime
//! (runc) and gVisor where available, timed phase by phase from the launch
//! request to the first inference's answer with the real agent; gVisor also
//! restored from a checkpoint; the phases are ordered, add up to the total,
//! every start computes the same first answer, runc says why it has no
//! snapshot (CRIU), and nothing is left behind (snapshot files included).

mod common;

use std::path::Path;

use common::{leftovers, require_agent_and_assets, run};
use isobench_environments::EnvKind;
use isobench_results::{ColdStartResult, Phase, ResultsFile, StartType};
use isobench_testkit::static_agent;

/// Runs cold-start with `extra` flags; returns (exit code, stderr, stdout, results).
fn cold_start(out: &Path, extra: &[&str]) -> (i32, String, String, Vec<ColdStartResult>) {
    require_agent_and_assets();
    let agent = static_agent().unwrap();
    let mut args = vec![
        "cold-start",
        "--offline",
        "--agent",
        agent.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = run(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{stdout}\n{stderr}");
    let results = ResultsFile::load(&out.join("results.json"))
        .map(|f| f.cold_start)
        .unwrap_or_default();
    (output.status.code().unwrap_or(-1), stderr, stdout, results)
}

/// Every start's phases are in order, none negative, the ones every start
/// has are positive, and they add up to the time to first inference.
fn check_starts(r: &ColdStartResult, starts: usize) {
    assert_eq!(r.start, Some(StartType::Boot), "{r:?}");
    assert!(r.failures.is_empty(), "{}: {:?}", r.env, r.failures);
    assert_eq!(r.samples.len(), starts, "{r:?}");
    let rounds: Vec<u32> = r.samples.iter().map(|s| s.round).collect();
    assert_eq!(rounds, (1..=starts as u32).collect::<Vec<_>>());
    for s in &r.samples {
        let phases: Vec<Phase> = s.phases.iter().map(|p| p.phase).collect();
        let mut sorted = phases.clone();
        sorted.sort();
        assert_eq!(phases, sorted, "phases out of order: {s:?}");
        assert!(s.phases.iter().all(|p| p.seconds >= 0.0), "{s:?}");
        for phase in [Phase::Runtime, Phase::ModelLoad, Phase::FirstInference] {
            assert!(
                s.phase(phase).is_some_and(|x| x > 0.0),
                "{}: {phase} not positive: {s:?}",
                r.env
            );
        }
        let sum: f64 = s.phases.iter().map(|p| p.seconds).sum();
        assert!(
            (sum - s.time_to_first_inference_seconds).abs() < 1e-9,
            "{sum} vs {s:?}"
        );
        assert!(s.time_to_first_inference_seconds < 60.0, "{s:?}");
        let warm = s.warm_seconds.expect("a warm reference");
        assert!(
            warm > 0.0 && warm < s.time_to_first_inference_seconds,
            "{s:?}"
        );
        assert!(s.digest.is_some(), "{s:?}");
    }
    let total = r.time_to_first_inference.as_ref().expect("a summary");
    assert_eq!(total.n, starts);
    let means: f64 = r.phase_means.iter().map(|p| p.seconds).sum();
    assert!((means - total.mean).abs() < 1e-6, "{means} vs {total:?}");
}

#[test]
fn native_runc_and_gvisor_boot_to_the_first_answer_phase_by_phase() {
    let mut envs = vec!["native"];
    envs.extend(common::runc_and_gvisor_where_available());
    let dir = tempfile::tempdir().unwrap();
    let list = envs.join(",");
    let (code, stderr, stdout, results) = cold_start(
        dir.path(),
        &[
            "--env",
            &list,
            "--workload",
            "knn",
            "--starts",
            "3",
            "--from",
            "boot,snapshot",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(results.len(), envs.len() * 2, "{results:?}");
    for env in &envs {
        let boot = results
            .iter()
            .find(|r| r.env == *env && r.start == Some(StartType::Boot))
            .unwrap();
        check_starts(boot, 3);
        for s in &boot.samples {
            assert!(s.host_memory_bytes.is_some_and(|b| b > 0), "{s:?}");
            assert!(s.first_request_faults.is_some(), "{s:?}");
            let probe = s
                .calibration
                .expect("the host-speed probe around the start");
            assert!(probe.before > 0.0 && probe.after > 0.0, "{probe:?}");
        }
        isobench_testkit::exercised(env);
        let snapshot = results
            .iter()
            .find(|r| r.env == *env && r.start == Some(StartType::Snapshot))
            .unwrap();
        let kind: EnvKind = env.parse().unwrap();
        if isobench_environments::snapshot_refusal(kind).is_none() {
            // gVisor (and runc where CRIU passes `criu check`): restored
            // from one checkpoint of a warmed-up agent, three times.
            assert!(snapshot.absent.is_none(), "{snapshot:?}");
            assert!(snapshot.failures.is_empty(), "{:?}", snapshot.failures);
            assert_eq!(snapshot.samples.len(), 3);
            assert!(snapshot.snapshot_bytes.is_some_and(|b| b > 0));
            assert!(snapshot.snapshot_create_seconds.is_some_and(|s| s > 0.0));
            // A restored sandbox's host memory and the faults of its first request.
            assert!(snapshot.host_memory.is_some(), "{snapshot:?}");
            assert!(snapshot.first_request_faults.is_some(), "{snapshot:?}");
            for s in &snapshot.samples {
                let phases: Vec<Phase> = s.phases.iter().map(|p| p.phase).collect();
                assert_eq!(phases, [Phase::Restore, Phase::FirstInference]);
                assert!(s.phases.iter().all(|p| p.seconds > 0.0), "{s:?}");
                let sum: f64 = s.phases.iter().map(|p| p.seconds).sum();
                assert!((sum - s.time_to_first_inference_seconds).abs() < 1e-9);
            }
            continue;
        }
        assert!(snapshot.samples.is_empty());
        let why = snapshot.absent.as_deref().expect("a reason");
        assert!(why.contains(env), "{why}");
        if *env == "oci-runc" {
            assert!(why.contains("CRIU"), "{why}");
        }
        assert_eq!(
            Some(why),
            isobench_environments::snapshot_refusal(kind).as_deref()
        );
    }
    // Every environment computed the same first answer, booted or restored.
    let digests: Vec<_> = results
        .iter()
        .flat_map(|r| r.samples.iter().map(|s| s.digest.clone()))
        .collect();
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
    // The terminal table and report.md show every environment.
    for env in &envs {
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("{env} "))),
            "{stdout}"
        );
    }
    assert!(stdout.contains("native has no snapshot"), "{stdout}");
    // Verdicts on time to first inference: every boot but the baseline's
    // against native's boot, gVisor's snapshot also against its own boot.
    for r in results.iter().filter(|r| !r.samples.is_empty()) {
        let is_baseline = r.env == "native" && r.start == Some(StartType::Boot);
        assert_eq!(r.versus_baseline.is_none(), is_baseline, "{r:?}");
        assert_eq!(
            r.versus_boot.is_some(),
            r.start == Some(StartType::Snapshot),
            "{r:?}"
        );
    }
    assert!(
        stdout.contains("verdicts on time to first inference")
            && stdout.contains("gvisor boot vs native boot: "),
        "{stdout}"
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains("**Cold starts**") && md.contains("model load and optimisation"),
        "{md}"
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("id=\"cold-start-waterfall\""));
    assert!(leftovers().is_empty(), "{:?}", leftovers());
    assert!(
        !std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .any(|e| e.path().join("snapshot-gvisor").exists()),
        "a snapshot was left behind"
    );
}

/// A snapshot damaged after it was taken (its largest file cut to half,
/// through the fault-injection hook): every restore of it fails with the
/// sandbox's own reason, the other environments' starts go on, the exit
/// is 1 with a one-line error, `--keep-snapshots` keeps the (damaged)
/// files where asked, and nothing else is left behind.
#[test]
fn a_truncated_snapshot_fails_its_restores_clearly_and_the_other_starts_go_on() {
    let facts = isobench_environments::HostFacts::probe();
    let gvisor = isobench_environments::detect(
        EnvKind::Gvisor,
        &facts,
        &isobench_environments::EnvOptions::default(),
    );
    if !gvisor.available {
        isobench_testkit::skip!("gvisor: {} (fix: {})", gvisor.reason, gvisor.fix);
    }
    require_agent_and_assets();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let keep = dir.path().join("kept");
    let agent = static_agent().unwrap();
    let output = common::isobench()
        .env("ISOBENCH_FAULT_SNAPSHOT", "truncate")
        .args([
            "cold-start",
            "--offline",
            "--agent",
            agent.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--env",
            "native,gvisor",
            "--workload",
            "knn",
            "--starts",
            "2",
            "--from",
            "boot,snapshot",
            "--keep-snapshots",
            keep.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{}\n{stderr}", String::from_utf8_lossy(&output.stdout));
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        error.contains("gvisor snapshot") && error.contains("restor"),
        "{error}"
    );
    let results = ResultsFile::load(&out.join("results.json"))
        .unwrap()
        .cold_start;
    let of = |env: &str, start: StartType| {
        results
            .iter()
            .find(|r| r.env == env && r.start == Some(start))
            .unwrap_or_else(|| panic!("no {env} {start}: {results:?}"))
    };
    check_starts(of("native", StartType::Boot), 2);
    check_starts(of("gvisor", StartType::Boot), 2);
    let damaged = of("gvisor", StartType::Snapshot);
    assert!(damaged.samples.is_empty(), "{damaged:?}");
    assert_eq!(damaged.failures.len(), 2, "{:?}", damaged.failures);
    assert!(
        damaged.failures.iter().all(|f| f.contains("restor")),
        "{:?}",
        damaged.failures
    );
    let kept = keep.join("gvisor");
    assert_eq!(
        damaged.kept_snapshot.as_deref(),
        Some(kept.to_str().unwrap())
    );
    assert!(
        std::fs::read_dir(&kept).is_ok_and(|mut e| e.next().is_some()),
        "nothing kept in {}",
        kept.display()
    );
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

#[test]
fn bad_counts_and_start_types_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let o = run(&["cold-start", "--offline", "--output", out, "--starts", "0"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--starts 0"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let o = run(&["cold-start", "--offline", "--output", out, "--from", "warm"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("warm"), "{err}");
    assert!(!dir.path().join("results.json").exists());
}

/// QEMU (TCG here, labelled emulated): booted starts, and starts restored
/// from one `migrate`-to-file snapshot of a warmed-up guest, answer the
/// first request with the same prediction.
#[test]
fn qemu_microvm_restores_from_a_migration_snapshot_with_the_same_answer() {
    if isobench_environments::registry::which("qemu-system-x86_64").is_none() {
        isobench_testkit::skip!(
            "qemu-system-x86_64 is not installed (scripts/install-deps.sh installs it)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr, _, results) = cold_start(
        dir.path(),
        &[
            "--env",
            "qemu-microvm",
            "--workload",
            "knn",
            "--starts",
            "2",
            "--from",
            "boot,snapshot",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let [boot, snapshot] = &results[..] else {
        panic!("{results:?}")
    };
    assert_eq!(boot.start, Some(StartType::Boot));
    assert_eq!(boot.samples.len(), 2, "{boot:?}");
    assert_eq!(snapshot.start, Some(StartType::Snapshot));
    assert!(snapshot.failures.is_empty(), "{:?}", snapshot.failures);
    assert_eq!(snapshot.samples.len(), 2, "{snapshot:?}");
    assert!(snapshot.snapshot_bytes.is_some_and(|b| b > 1 << 20));
    for s in &snapshot.samples {
        assert!(s.phase(Phase::Restore).is_some_and(|x| x > 0.0), "{s:?}");
        assert_eq!(s.digest, boot.samples[0].digest, "{s:?}");
    }
    isobench_testkit::exercised("qemu-microvm");
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}
