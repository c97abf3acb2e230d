//! Bad input to `isobench run`: a clear one-line error, a non-zero exit,
//! and no output directory left behind.

mod common;

use common::{isobench, run};

fn fails_cleanly(args: &[&str], expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut full: Vec<&str> = args.to_vec();
    let out_str = out.to_str().unwrap().to_string();
    full.extend(["--output", &out_str]);
    let output = run(&full);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} succeeded");
    assert!(
        stderr.contains(expected),
        "{args:?}: expected `{expected}` in: {stderr}"
    );
    assert!(!out.exists(), "{args:?} left an output directory behind");
}

#[test]
fn unknown_environment() {
    fails_cleanly(&["run", "--env", "native,lxc"], "unknown environment `lxc`");
}

#[test]
fn unavailable_environment_requested_explicitly() {
    // Kata is in no registry reachable from these machines; where it is
    // installed this test has nothing to check.
    let facts = isobench_environments::HostFacts::probe();
    let kata = isobench_environments::detect(
        isobench_environments::EnvKind::Kata,
        &facts,
        &isobench_environments::EnvOptions::default(),
    );
    if kata.available {
        isobench_testkit::skip!(
            "Kata is installed here ({}): no unavailable environment to ask for",
            kata.reason
        );
    }
    fails_cleanly(
        &["run", "--env", "kata"],
        "environment `kata` is unavailable",
    );
}

#[test]
fn malformed_experiment_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.toml");
    std::fs::write(&file, "workload = \"knn\"\niterations = [\n").unwrap();
    fails_cleanly(
        &["run", "-c", file.to_str().unwrap()],
        "bench.toml is invalid",
    );
    std::fs::write(&file, "workload = \"knn\"\nrepetitons = 3\n").unwrap();
    fails_cleanly(
        &["run", "-c", file.to_str().unwrap()],
        "unknown key `repetitons`; did you mean `repetitions`?",
    );
}

#[test]
fn negative_and_zero_counts() {
    fails_cleanly(
        &["run", "--env", "native", "--iterations", "-3"],
        "invalid value '-3' for '--iterations <ITERATIONS>': `-3` is not a count",
    );
    fails_cleanly(
        &["run", "--env", "native", "--iterations", "0"],
        "`0` is not a count: give a whole number of at least 1",
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("neg.toml");
    std::fs::write(&file, "iterations = -5\n").unwrap();
    fails_cleanly(&["run", "-c", file.to_str().unwrap()], "iterations");
}

#[test]
fn dockerd_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = isobench()
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-such.sock", dir.path().display()),
        )
        .args(["run", "--env", "docker", "--output", out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("environment `docker` is unavailable") && stderr.contains("dockerd"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(!out.exists());
}

#[test]
fn unknown_workload_and_missing_model() {
    fails_cleanly(
        &["run", "--env", "native", "--workload", "resnet"],
        "unknown workload `resnet`",
    );
    fails_cleanly(
        &[
            "run",
            "--env",
            "native",
            "--model",
            "/nonexistent/yolov8n.onnx",
        ],
        "--model /nonexistent/yolov8n.onnx does not exist",
    );
}

#[test]
fn report_and_compare_reject_bad_results_files() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("results.json");
    std::fs::write(
        &truncated,
        "{\"results_version\":1,\"isobench_version\":\"0.1.0\",\"environ",
    )
    .unwrap();
    let output = run(&["report", truncated.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a valid isobench results file"));
    let other = dir.path().join("other.json");
    std::fs::write(&other, "{\"results_version\":99}").unwrap();
    let output = run(&[
        "compare",
        other.to_str().unwrap(),
        truncated.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("results format v99"));
}

/// A model the user gives is loaded once on the host before any
/// environment starts: a truncated one, or a text file, is one line naming
/// the user's path, with nothing launched and nothing written.
#[test]
fn a_bad_model_or_an_empty_image_folder_fails_before_any_launch_naming_the_users_path() {
    common::require_agent_and_assets();
    let dir = tempfile::tempdir().unwrap();
    let model =
        isobench_assets::assets_dir(&isobench_assets::cache_dir()).join("models/yolov8-fall.onnx");
    let bytes = std::fs::read(model).unwrap();
    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let text = dir.path().join("notes.onnx");
    std::fs::write(&text, "these are my notes, not a model\n").unwrap();
    let empty = dir.path().join("no-images");
    std::fs::create_dir(&empty).unwrap();
    let out = dir.path().join("out");
    let cases: [(&str, &std::path::Path); 3] = [
        ("--model", &truncated),
        ("--model", &text),
        ("--images", &empty),
    ];
    for (flag, path) in cases {
        let output = run(&[
            "run",
            "--offline",
            "--env",
            "native,oci-runc",
            "--workload",
            "yolov8",
            flag,
            path.to_str().unwrap(),
            "--repetitions",
            "2",
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "one message: {stderr}");
        assert!(
            errors[0].contains(&format!("{flag} {}", path.display())),
            "names the user's path: {stderr}"
        );
        assert!(!errors[0].contains(".staging"), "{stderr}");
        assert!(
            !out.join("results.json").exists(),
            "nothing launched: {stderr}"
        );
        assert!(common::leftovers().is_empty(), "{:?}", common::leftovers());
    }
}

#[test]
fn detection_looks_at_the_firecracker_binary_it_is_given() {
    fails_cleanly(
        &[
            "run",
            "--offline",
            "--env",
            "firecracker",
            "--firecracker",
            "/nonexistent/fc",
        ],
        "/nonexistent/fc",
    );
}

#[test]
fn doctor_lists_every_environment_with_a_reason() {
    let output = run(&["doctor"]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    for kind in isobench_environments::EnvKind::ALL {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(kind.name()))
            .unwrap_or_else(|| panic!("doctor does not list {kind}:\n{stdout}"));
        assert!(
            line.contains("available") || line.contains("unavailable"),
            "{line}"
        );
    }
    assert!(stdout.contains("oci-youki"), "{stdout}");
}

/// `doctor` says per environment whether its instances can start from a
/// snapshot, and why not: the same answer `cold-start --from snapshot` gives.
#[test]
fn doctor_says_which_environments_can_snapshot_and_why_not() {
    let output = run(&["doctor", "--json"]);
    assert!(output.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for row in doc["environments"].as_array().unwrap() {
        let kind: isobench_environments::EnvKind = row["name"].as_str().unwrap().parse().unwrap();
        let expected = isobench_environments::snapshot_refusal(kind);
        assert_eq!(row["snapshot"].as_str(), expected.as_deref(), "{row}");
    }
    let of = |name: &str| {
        doc["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["snapshot"]
            .clone()
    };
    assert!(of("gvisor").is_null() && of("qemu-microvm").is_null());
    assert!(of("native").as_str().unwrap().contains("only boot"));
    assert!(of("oci-runc").as_str().unwrap().contains("CRIU"));
    let text = String::from_utf8_lossy(&run(&["doctor"]).stdout).into_owned();
    assert!(
        text.contains("snapshot starts: native has no snapshot"),
        "{text}"
    );
}

/// `doctor` lists every extra that is not installed with the command that
/// installs it, and the same in `--json`; one that is installed is not listed.
#[test]
fn doctor_lists_missing_extras_with_the_command_that_installs_them() {
    let cache = tempfile::tempdir().unwrap();
    let output = isobench()
        .env("ISOBENCH_CACHE", cache.path())
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let options = isobench_environments::EnvOptions {
        cache_dir: cache.path().to_path_buf(),
        ..Default::default()
    };
    for row in doc["environments"].as_array().unwrap() {
        let kind: isobench_environments::EnvKind = row["name"].as_str().unwrap().parse().unwrap();
        let listed: Vec<&str> = row["missing_extras"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e["install"], format!("isobench setup --env {kind}"), "{e}");
                e["name"].as_str().unwrap()
            })
            .collect();
        let missing: Vec<&str> = isobench_environments::extras(kind)
            .iter()
            .filter(|x| !x.is_installed(&options))
            .map(|x| x.name)
            .collect();
        assert_eq!(listed, missing, "{kind}: {row}");
    }
    // An empty cache has no microVM kernel: qemu-microvm and firecracker say so.
    for kind in ["qemu-microvm", "firecracker"] {
        let row = doc["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == kind)
            .unwrap();
        assert!(
            row["missing_extras"].to_string().contains("microVM kernel"),
            "{row}"
        );
    }
    let text = isobench()
        .env("ISOBENCH_CACHE", cache.path())
        .arg("doctor")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("can use microVM kernel (not installed): isobench setup --env qemu-microvm"),
        "{text}"
    );
}
