//! p99 marks, partly failed environments and baselines, absent figures,
//! interrupted runs.

use isobench_results::ResultsFile;

use crate::{compare_environments, compare_files, terminal_table, FileChecks, Side};

use super::fixtures::*;

#[test]
fn p99_is_labelled_below_100_samples_only() {
    let small = standard("yolov8", 3, 20); // 60 samples
    let large = standard("yolov8", 5, 30); // 150 samples
    let p99_cell = |file: &ResultsFile| md_cells(md_row(&md(file), "native"))[4].clone();
    assert!(p99_cell(&small).ends_with('*'), "{}", p99_cell(&small));
    assert!(!p99_cell(&large).ends_with('*'), "{}", p99_cell(&large));
    assert!(md(&small).contains("* p99 from fewer than 100 iterations (native n = 60"));
    assert!(!md(&large).contains("p99 from fewer than 100"));
    assert!(terminal_table(&small).contains("  * p99 from fewer than 100 iterations"));
    let wide = crate::terminal_table_with(&small, &crate::TerminalOptions { wide: true });
    assert!(terminal_row(&wide, "native").contains(" ms*"));
    assert!(html(&small).contains("* p99 from fewer than 100 iterations"));
}

#[test]
fn partly_failed_environments_are_marked_everywhere() {
    let mut docker = env("docker", &means(10_000.0, 5), 20, 2);
    fail_repetition(&mut docker, 2, "container exited with 137");
    let file = file_of(
        "yolov8",
        vec![env("native", &means(10_000.0, 5), 20, 1), docker],
    );
    let mark = "docker (partly failed: 1 of 5 repetitions)";
    assert!(md(&file).contains(&format!("| {mark} |")), "{}", md(&file));
    assert!(html(&file).contains(&format!("<td>{mark}</td>")));
    let terminal = terminal_table(&file);
    assert!(
        terminal_row(&terminal, "docker (partly failed)").len() > 20,
        "{terminal}"
    );
    assert!(
        unwrapped(&terminal).contains(
            "docker: partly failed: 1 of 5 repetitions failed (round 3: container exited with 137)"
        ),
        "{terminal}"
    );
    let row = csv_row(&csv(&file), "docker");
    assert_eq!(row["status"], "failed: container exited with 137");
    assert_eq!(row["failed_repetitions"], "3");
    assert_eq!(row["repetitions"], "5");
    let r = compare_environments(&file, None, None, &options()).unwrap();
    assert!(r.rows[0].b_failed && !r.rows[0].a_failed);
    assert_eq!(r.rows[0].b_repetitions, 4);
    assert!(r
        .warnings
        .iter()
        .any(|w| w.starts_with("docker is partly failed: 1 of 5")));
    assert!(
        r.to_text().contains("\ndocker (B partly failed) "),
        "{}",
        r.to_text()
    );
    let side = Side {
        file: &file,
        label: "A.json",
        env: None,
    };
    let r = compare_files(&side, &side, &options(), &FileChecks::default()).unwrap();
    assert!(r.rows[1].a_failed && r.rows[1].b_failed);
    assert!(r
        .warnings
        .iter()
        .any(|w| w.starts_with("docker is partly failed in B")));
}

#[test]
fn a_partly_failed_baseline_marks_every_ratio() {
    let mut native = env("native", &means(10_000.0, 5), 20, 1);
    fail_repetition(&mut native, 0, "killed");
    let file = file_of(
        "yolov8",
        vec![
            native,
            env("docker", &means(10_000.0, 5), 20, 2),
            env("firecracker", &means(11_200.0, 5), 20, 3),
        ],
    );
    let markdown = md(&file);
    for name in ["docker", "firecracker"] {
        let ratio = &md_cells(md_row(&markdown, name))[11];
        assert!(ratio.ends_with("]†"), "{ratio}");
        assert!(terminal_row(&terminal_table(&file), name).contains("]†"));
    }
    assert!(
        markdown.contains("- † the baseline native is partly failed (1 of 5 repetitions failed)")
    );
    assert!(html(&file).contains("† the baseline native is partly failed"));
    let r = compare_environments(&file, None, None, &options()).unwrap();
    assert!(r.rows.iter().all(|row| row.a_failed));
    for name in ["docker", "firecracker"] {
        assert!(
            r.warnings.iter().any(|w| w.starts_with(&format!(
                "{name}: compared with the partly failed baseline native"
            ))),
            "{:?}",
            r.warnings
        );
    }
}

#[test]
fn absent_cpu_figures_read_dash_with_the_reason_never_zero() {
    let mut docker = env("docker", &means(10_000.0, 5), 20, 2);
    absent_cpu(
        &mut docker,
        isobench_results::AbsentReason::MeterReadNothing {
            meter: "cgroup-v1 /isobench/gone".into(),
            moments: vec!["ready".into()],
        },
    );
    let file = file_of(
        "yolov8",
        vec![env("native", &means(10_000.0, 5), 20, 1), docker],
    );
    let markdown = md(&file);
    let cells = md_cells(md_row(&markdown, "docker"));
    assert_eq!(&cells[5..8], ["—", "—", "—"], "{cells:?}");
    assert!(
        markdown.contains("docker: CPU %, CPU s/inference, start-up CPU absent (—): rounds 1–5: the meter (cgroup-v1 /isobench/gone) read nothing at ready"),
        "{markdown}"
    );
    let terminal = terminal_table(&file);
    assert!(
        unwrapped(&terminal).contains("the meter (cgroup-v1 /isobench/gone) read nothing at ready")
    );
    assert!(html(&file).contains("CPU figures absent in docker (rounds 1–5): the meter (cgroup-v1 /isobench/gone) read nothing at ready"));
    let row = csv_row(&csv(&file), "docker");
    assert_eq!(row["cpu_percent"], "");
    assert_eq!(row["cpu_seconds_per_inference"], "");
    assert_eq!(row["startup_cpu_seconds"], "");
    // The CPU chart leaves the environment out rather than drawing 0.
    let chart = crate::charts::cpu_per_inference(&file).unwrap().unwrap();
    assert!(
        !chart.svg.contains(">docker<"),
        "docker drawn in the CPU chart"
    );
}

#[test]
fn an_interrupted_run_says_so_in_every_report() {
    let mut file = standard("yolov8", 5, 20);
    for env in file.environments.iter_mut().take(2) {
        env.status = isobench_results::Status::Interrupted;
        env.planned_repetitions = 12;
    }
    isobench_harness::summarize::summarize_all(&mut file);
    let banner = "PARTIAL RUN: interrupted before its plan was done (repetitions done of planned: native 5 of 12, docker 5 of 12)";
    assert!(
        unwrapped(&terminal_table(&file)).starts_with(banner),
        "{}",
        terminal_table(&file)
    );
    assert!(
        md(&file).contains(&format!("> **{banner}")),
        "{}",
        md(&file)
    );
    assert!(html(&file).contains(&format!("<p class=\"banner\" id=\"partial\">{banner}")));
    assert!(md(&file).contains("- native: interrupted after 5 of 12 repetitions"));
}
