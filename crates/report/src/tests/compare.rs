//! (c), (d), (e): comparing two files.

use isobench_results::ResultsFile;
use isobench_stats::{Inconclusive, Verdict};

use crate::{compare_environments, compare_files, render_paper_table, terminal_table};

use super::fixtures::*;
use isobench_harness::summarize::{summarize_all, verdict_options};

/// Two runs of native + docker; in B docker is 20% slower.
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

#[test]
fn compare_files_flags_a_regression_and_not_its_absence() {
    let (a, same) = pair(1.0);
    let r = compare_files(&a, &same, "A.json", "B.json", &options(), false);
    assert!(!r.has_regression(), "{}", r.to_text());
    assert!(!r.outputs_differ());
    assert_eq!(r.rows.len(), 2);
    assert_eq!((r.rows[0].a_repetitions, r.rows[0].b_repetitions), (5, 5));
    assert_eq!(r.host_drift, Some(0.0));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);

    let (a, slower) = pair(1.2);
    let r = compare_files(&a, &slower, "A.json", "B.json", &options(), false);
    let names: Vec<&str> = r
        .regressions()
        .map(|row| row.b_environment.as_str())
        .collect();
    assert_eq!(names, ["docker"]);
    let text = r.to_text();
    assert!(
        text.contains("SLOWER") && text.contains("(exact)"),
        "{text}"
    );
    assert!(text.ends_with("REGRESSION in: docker\n"), "{text}");

    // Faster in B is not a regression.
    let r = compare_files(&slower, &a, "B.json", "A.json", &options(), false);
    assert!(!r.has_regression());
    assert_eq!(r.rows[1].comparison.unwrap().verdict, Verdict::Faster);

    // Different experiments are called out.
    let mut other = a.clone();
    other.experiment.workload = isobench_records::Workload::Knn;
    let r = compare_files(&a, &other, "A.json", "B.json", &options(), false);
    assert!(
        r.warnings.iter().any(|w| w.starts_with("workload differs")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn host_drift_between_files_refuses_the_verdict_unless_allowed() {
    let (a, b) = pair(1.2);
    let a = with_probe(a, 0.010);
    let b = with_probe(b, 0.012);
    let r = compare_files(&a, &b, "A.json", "B.json", &options(), false);
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
    let c = docker.comparison.unwrap();
    assert_eq!(c.verdict, Verdict::Inconclusive);
    match c.inconclusive {
        Some(Inconclusive::HostDrift { percent }) => assert!((percent - 20.0).abs() < 1e-6),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.label(),
        "inconclusive (the host ran 20.0% slower during B)"
    );
    assert!(!r.has_regression());
    assert!(r
        .to_text()
        .contains("INCONCLUSIVE (the host ran 20.0% slower during B)"));
    let json = serde_json::to_string(&r).unwrap();
    assert!(
        json.contains("\"reason\":\"host_drift\"") && json.contains("\"host_drift\":0."),
        "{json}"
    );

    // Allowed: the verdict stands, the warning stays.
    let r = compare_files(&a, &b, "A.json", "B.json", &options(), true);
    assert!(r.has_regression());
    assert!(r.warnings[0].starts_with("the host ran 20.0% slower during B"));

    // Faster host during B, within the threshold: nothing refused.
    let r = compare_files(
        &a,
        &with_probe(b.clone(), 0.0098),
        "A.json",
        "B.json",
        &options(),
        false,
    );
    assert!(r.has_regression());
    assert!(
        !r.warnings.iter().any(|w| w.starts_with("the host ran")),
        "{:?}",
        r.warnings
    );

    // A file without a probe: drift cannot be checked.
    let mut old = b.clone();
    old.host_speed = None;
    let r = compare_files(&a, &old, "A.json", "B.json", &options(), false);
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
fn different_hosts_are_named() {
    let (a, mut b) = pair(1.0);
    b.host.hostname = "jetson-nano".into();
    b.host.cpu_model = "ARMv8 Processor rev 1 (v8l)".into();
    b.host.cpus = 4;
    let r = compare_files(&a, &b, "A.json", "B.json", &options(), false);
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
    let r = compare_files(&a, &b, "A.json", "B.json", &options(), false);
    assert!(r.outputs_differ(), "{r:?}");
    assert!(
        r.output_mismatches
            .iter()
            .any(|m| m.starts_with("docker on img0.jpg")),
        "{:?}",
        r.output_mismatches
    );
    let text = r.to_text();
    assert!(
        text.lines().last().unwrap().starts_with("OUTPUTS DIFFER: "),
        "{text}"
    );
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
    assert!(terminal_table(&b).contains("  OUTPUTS DIFFER: 100 of 200"));
    assert!(render_paper_table(&[b.clone()])
        .contains("- OUTPUTS DIFFER in yolov8 (tract, yolov8-fall.onnx): 100 of 200"));
    // Identical files: no difference.
    let r = compare_files(&a, &a, "A.json", "B.json", &options(), false);
    assert!(!r.outputs_differ());
}
