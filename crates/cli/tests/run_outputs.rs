//! What a run leaves and prints: a finished run is never changed by
//! accident (an existing results directory is refused without
//! `--overwrite`; `--resume` of a finished run changes no byte, twice), and
//! every line a knn run on three environments prints, with its output
//! redirected, is at most 100 columns, carries no colour escape, and shows
//! progress per repetition.

mod common;

use common::{leftovers, run};

fn knn_run(out: &std::path::Path, envs: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        "--offline",
        "--env",
        envs,
        "--workload",
        "knn",
        "--output",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn a_finished_run_is_never_changed_by_accident() {
    common::require_agent_and_assets();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = knn_run(&out, "native", &["--repetitions", "2", "--iterations", "5"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let read = |name: &str| std::fs::read(out.join(name)).unwrap();
    let (results, journal) = (read("results.json"), read("journal.jsonl"));

    // A new run into the same directory is refused; nothing is touched.
    let again = knn_run(&out, "native", &["--repetitions", "3", "--iterations", "5"]);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("--overwrite") && stderr.contains("--resume"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert_eq!(read("results.json"), results);
    assert_eq!(read("journal.jsonl"), journal);

    // Resuming a finished run says so and changes no byte, twice.
    for _ in 0..2 {
        let resumed = run(&["run", "--offline", "--resume", out.to_str().unwrap()]);
        assert!(resumed.status.success());
        let stderr = String::from_utf8_lossy(&resumed.stderr);
        assert!(stderr.contains("nothing to resume"), "{stderr}");
        assert_eq!(read("results.json"), results, "results.json changed");
        assert_eq!(read("journal.jsonl"), journal, "journal.jsonl changed");
    }

    // --overwrite replaces it.
    let replaced = knn_run(
        &out,
        "native",
        &["--repetitions", "3", "--iterations", "5", "--overwrite"],
    );
    assert!(
        replaced.status.success(),
        "{}",
        String::from_utf8_lossy(&replaced.stderr)
    );
    let after = isobench_results::ResultsFile::load(&out.join("results.json")).unwrap();
    assert_eq!(after.environments[0].repetitions.len(), 3);
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

#[test]
fn every_line_of_a_knn_run_on_three_environments_fits_100_columns() {
    common::require_agent_and_assets();
    let envs = if nix::unistd::geteuid().is_root() {
        "native,oci-runc,gvisor"
    } else {
        isobench_testkit::record_skip!("not root: native only (OCI runtimes need root)");
        "native"
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // The default design, with a short budget so the test stays short.
    let output = knn_run(&out, envs, &["--budget", "20s", "--min-rounds", "3"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    for line in stdout.lines().chain(stderr.lines()) {
        assert!(
            line.chars().count() <= 100,
            "{} columns: {line}",
            line.chars().count()
        );
        assert!(
            !line.contains('\u{1b}'),
            "a colour escape in a redirected output: {line:?}"
        );
    }
    // Progress while it ran: a line per finished repetition.
    let results = isobench_results::ResultsFile::load(&out.join("results.json")).unwrap();
    let repetitions: usize = results
        .environments
        .iter()
        .map(|e| e.repetitions.len())
        .sum();
    let progress = stderr.lines().filter(|l| l.contains(" round ")).count();
    assert!(
        progress >= repetitions,
        "{progress} progress lines for {repetitions} repetitions:\n{stderr}"
    );
    isobench_testkit::exercised_by(&results);
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}
