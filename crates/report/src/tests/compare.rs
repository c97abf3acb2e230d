//! Comparing two files: regressions, refusal of files that measure
//! different things, environments across files, host drift, hosts,
//! outputs, and `compare --json`.

use isobench_results::ResultsFile;
use isobench_stats::{InconclusiveReason, Outcome};

use crate::{
    compare_environments, compare_files, render_paper_table, terminal_table, CompareReport,
    FileChecks, ReportError, Side,
};

use super::fixtures::*;
use isobench_harness::summarize::summarize_all;

/// Two runs of native + docker; in B docker is `b_docker` times slower.
fn pair(b_docker: f64) -> (ResultsFile, ResultsFile) {
    let a = file_of(
        "yolov8",
        vec![
            env("native", &means(10_000.0, 5), 20, 1),
            env("docker", &means(10_000.0, 5), 20, 2),
        ],
    );
    let b = file_of(
        "yolov8",
        vec![
            env("native", &means(10_000.0, 5), 20, 3),
            env("docker", &means(10_000.0 * b_docker, 5), 20, 4),
        ],
    );
    (a, b)
}

fn side<'a>(file: &'a ResultsFile, label: &'a str) -> Side<'a> {
    Side {
        file,
        label,
        env: None,
    }
}

/// B against A with the default checks.
fn compare(a: &ResultsFile, b: &ResultsFile) -> Result<CompareReport, ReportError> {
    compare_files(
        &side(a, "A.json"),
        &side(b, "B.json"),
        &options(),
        &FileChecks::default(),
    )
}

fn outcome(r: &CompareReport, name: &str) -> Option<Outcome> {
    r.rows
        .iter()
        .find(|row| row.b_environment == name)
        .and_then(|row| row.decision.map(|d| d.outcome))
}

#[test]
fn compare_files_flags_a_regression_and_not_its_absence() {
    let (a, same) = pair(1.0);
    let r = compare(&a, &same).unwrap();
    assert!(!r.has_regression(), "{}", r.to_text());
    assert!(!r.outputs_differ());
    assert_eq!(r.rows.len(), 2);
    assert_eq!((r.rows[0].a_repetitions, r.rows[0].b_repetitions), (5, 5));
    assert_eq!(
        outcome(&r, "docker"),
        Some(Outcome::Same),
        "{}",
        r.to_text()
    );
    assert_eq!(r.host_drift, Some(0.0));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(r.forced.is_empty());

    let (a, slower) = pair(1.2);
    let r = compare(&a, &slower).unwrap();
    let names: Vec<&str> = r
        .regressions()
        .map(|row| row.b_environment.as_str())
        .collect();
    assert_eq!(names, ["docker"]);
    let text = r.to_text();
    assert!(text.contains("two runs, unpaired (Welch)"), "{text}");
    let row = text.lines().find(|l| l.starts_with("docker ")).unwrap();
    assert!(row.ends_with("  slower") && row.contains("5 vs 5"), "{row}");
    assert!(text.ends_with("REGRESSION in: docker\n"), "{text}");

    // Faster in B is not a regression.
    let r = compare(&slower, &a).unwrap();
    assert!(!r.has_regression());
    assert_eq!(outcome(&r, "docker"), Some(Outcome::Faster));
}

#[test]
fn files_that_measure_different_things_are_refused_unless_forced() {
    let (a, _) = pair(1.0);
    let mut knn = a.clone();
    knn.experiment.workload = isobench_records::Workload::Knn;
    let err = compare(&a, &knn).unwrap_err();
    let ReportError::Incomparable { reasons } = &err else {
        panic!("{err}")
    };
    assert_eq!(reasons, &["workloads differ: A yolov8, B knn"]);
    assert!(err.to_string().contains("--force"), "{err}");
    // Another model or other inputs, by what the agent loaded and read.
    type Change = fn(&mut isobench_records::Summary);
    let changes: [(&str, Change); 2] = [
        ("models differ", |s| s.model_sha256 = "ee".repeat(32)),
        ("input sets differ", |s| s.inputs_sha256 = "ff".repeat(32)),
    ];
    for (what, change) in changes {
        let mut other = a.clone();
        for r in other
            .environments
            .iter_mut()
            .flat_map(|e| e.repetitions.iter_mut())
        {
            change(r.agent_summary.as_mut().unwrap());
        }
        let err = compare(&a, &other).unwrap_err();
        assert!(err.to_string().contains(what), "{err}");
    }
    let mut other = a.clone();
    other.experiment.engine = isobench_records::Engine::Ort;
    assert!(compare(&a, &other)
        .unwrap_err()
        .to_string()
        .contains("engines differ: A tract, B ort"));
    // Forced: compared, and the output says so.
    let r = compare_files(
        &side(&a, "A.json"),
        &side(&knn, "B.json"),
        &options(),
        &FileChecks {
            force: true,
            ..FileChecks::default()
        },
    )
    .unwrap();
    assert_eq!(r.forced, ["workloads differ: A yolov8, B knn"]);
    assert!(
        r.to_text()
            .contains("COMPARED ANYWAY (--force): workloads differ: A yolov8, B knn"),
        "{}",
        r.to_text()
    );
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["forced"][0], "workloads differ: A yolov8, B knn");
}

#[test]
fn an_environment_of_a_against_another_of_b() {
    let (a, b) = pair(1.2);
    let r = compare_files(
        &Side {
            env: Some("native"),
            ..side(&a, "A.json")
        },
        &Side {
            env: Some("docker"),
            ..side(&b, "B.json")
        },
        &options(),
        &FileChecks::default(),
    )
    .unwrap();
    assert_eq!(r.rows.len(), 1);
    assert_eq!(
        (
            r.rows[0].a_environment.as_str(),
            r.rows[0].b_environment.as_str()
        ),
        ("native", "docker")
    );
    assert_eq!(outcome(&r, "docker"), Some(Outcome::Slower));
    assert!(r.to_text().contains("docker vs native"), "{}", r.to_text());
    // One side named: the same environment on the other.
    let r = compare_files(
        &Side {
            env: Some("docker"),
            ..side(&a, "A.json")
        },
        &side(&b, "B.json"),
        &options(),
        &FileChecks::default(),
    )
    .unwrap();
    assert_eq!(r.rows.len(), 1);
    assert_eq!(r.rows[0].b_environment, "docker");
    let err = compare_files(
        &Side {
            env: Some("gvisor"),
            ..side(&a, "A.json")
        },
        &side(&b, "B.json"),
        &options(),
        &FileChecks::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("`gvisor` in `A.json`"), "{err}");
}

#[test]
fn host_drift_between_files_makes_verdicts_inconclusive_unless_allowed() {
    let (a, b) = pair(1.2);
    let a = with_probe(a, 0.010);
    let b = with_probe(b, 0.012);
    let r = compare(&a, &b).unwrap();
    assert!(
        (r.host_drift.unwrap() - 0.2).abs() < 1e-9,
        "{:?}",
        r.host_drift
    );
    assert!(
        r.warnings[0].starts_with("the host ran 20.0% slower during B")
            && r.warnings[0].contains("the comparison measures the host, not the configuration"),
        "{:?}",
        r.warnings
    );
    let docker = r
        .rows
        .iter()
        .find(|row| row.b_environment == "docker")
        .unwrap();
    let d = docker.decision.unwrap();
    assert_eq!(d.outcome, Outcome::Inconclusive);
    match d.inconclusive {
        Some(InconclusiveReason::HostDrift { percent }) => assert!((percent - 20.0).abs() < 1e-6),
        other => panic!("{other:?}"),
    }
    let label = docker.verdict_label();
    assert!(
        label.starts_with("inconclusive: between ")
            && label.contains("; the host ran 20.0% slower during B; could have detected ±"),
        "{label}"
    );
    assert!(!r.has_regression());
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert!((json["host_drift_percent"].as_f64().unwrap() - 20.0).abs() < 1e-6);
    assert_eq!(json["rows"][1]["outcome"], "inconclusive");
    assert_eq!(
        json["rows"][1]["inconclusive_reason"],
        "the host ran 20.0% slower during B"
    );

    // Allowed: the verdict stands, the warning stays.
    let allowed = FileChecks {
        allow_host_drift: true,
        ..FileChecks::default()
    };
    let r = compare_files(
        &side(&a, "A.json"),
        &side(&b, "B.json"),
        &options(),
        &allowed,
    )
    .unwrap();
    assert!(r.has_regression());
    assert!(r.warnings[0].starts_with("the host ran 20.0% slower during B"));

    // Faster host during B, within the threshold: nothing refused.
    let r = compare(&a, &with_probe(b.clone(), 0.0098)).unwrap();
    assert!(r.has_regression());
    assert!(
        !r.warnings.iter().any(|w| w.starts_with("the host ran")),
        "{:?}",
        r.warnings
    );

    // A file without a probe: drift cannot be checked.
    let mut old = b.clone();
    old.host_speed = None;
    let r = compare(&a, &old).unwrap();
    assert_eq!(r.host_drift, None);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.starts_with("B has no host-speed probe")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn compare_json_carries_units_and_its_version() {
    let (a, b) = pair(1.2);
    let r = compare(&a, &b).unwrap();
    let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(json["format_version"], crate::COMPARE_FORMAT_VERSION);
    assert_eq!(json["threshold_percent"], 5.0);
    assert_eq!(json["regression"], true);
    let row = &json["rows"][1];
    assert_eq!(row["outcome"], "slower");
    assert!(row["a_mean_us"].as_f64().unwrap() > 9000.0);
    assert!(row["minimum_detectable_effect_percent"].as_f64().unwrap() > 0.0);
    assert_eq!(row["interval_level_percent"], 99.0);
    // Every number's unit is in its name (or it has none: counts, ratios, α).
    let unitless = [
        "format_version",
        "alpha",
        "a_repetitions",
        "b_repetitions",
        "a_iterations",
        "b_iterations",
        "ratio",
        "interval_low",
        "interval_high",
        "rounds_to_decide",
    ];
    let mut numbers = Vec::new();
    let mut walk = vec![&json];
    while let Some(v) = walk.pop() {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    if v.is_number() {
                        numbers.push(k.clone());
                    }
                    walk.push(v);
                }
            }
            serde_json::Value::Array(items) => walk.extend(items),
            _ => {}
        }
    }
    for key in numbers {
        assert!(
            unitless.contains(&key.as_str()) || key.ends_with("_us") || key.ends_with("_percent"),
            "{key} has no unit"
        );
    }
}

#[test]
fn different_hosts_are_named() {
    let (a, mut b) = pair(1.0);
    b.host.hostname = "jetson-nano".into();
    b.host.cpu_model = "ARMv8 Processor rev 1 (v8l)".into();
    b.host.cpus = 4;
    let r = compare(&a, &b).unwrap();
    let w = r
        .warnings
        .iter()
        .find(|w| w.starts_with("A and B ran on different hosts"))
        .unwrap_or_else(|| panic!("{:?}", r.warnings));
    assert!(
        w.contains(&a.host.fingerprint()) && w.contains(&b.host.fingerprint()),
        "{w}"
    );
    assert!(
        w.contains("Test CPU × 2 CPUs, kernel 6.1.0, cgroups v1 (hybrid)"),
        "{w}"
    );
    assert!(w.contains("ARMv8 Processor rev 1 (v8l) × 4 CPUs"), "{w}");
}

#[test]
fn outputs_that_differ_fail_the_comparison() {
    let (a, mut b) = pair(1.0);
    for it in b.environments[1]
        .repetitions
        .iter_mut()
        .flat_map(|r| r.iterations.iter_mut())
    {
        it.digest = Some(detection(
            it.input[3..4].parse().unwrap(),
            0.05, // beyond the 0.001 score tolerance
        ));
    }
    summarize_all(&mut b);
    let r = compare(&a, &b).unwrap();
    assert!(r.outputs_differ(), "{r:?}");
    assert!(
        r.output_mismatches
            .iter()
            .any(|m| m.starts_with("docker on img0.jpg")),
        "{:?}",
        r.output_mismatches
    );
    let text = r.to_text();
    let last = text.lines().rev().find(|l| !l.starts_with("  ")).unwrap();
    assert!(last.starts_with("OUTPUTS DIFFER: "), "{text}");
    // Within B, docker disagrees with native too: every report says so.
    assert!(!b.outputs.as_ref().unwrap().consistent());
    let markdown = md(&b);
    assert!(
        markdown.contains("OUTPUTS DIFFER: 100 of 200 measured iterations"),
        "{markdown}"
    );
    let within = compare_environments(&b, None, None, &options()).unwrap();
    assert!(within.outputs_differ());
    assert!(html(&b).contains("<p class=\"mismatch\">OUTPUTS DIFFER: 100 of 200"));
    assert!(unwrapped(&terminal_table(&b)).contains("outputs differ: 100 of 200"));
    assert!(render_paper_table(&[b.clone()])
        .contains("- OUTPUTS DIFFER in yolov8 (tract, yolov8-fall.onnx): 100 of 200"));
    // Identical files: no difference.
    let r = compare(&a, &a).unwrap();
    assert!(!r.outputs_differ());
}
