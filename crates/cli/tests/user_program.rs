//! Your own program in your own root filesystem (`--workload command`):
//! a NumPy KNN on the digits (the study's "KNN written from scratch" in
//! spirit, `tests/data/knn_numpy.py`) in a Debian tree made with
//! debootstrap, measured with `--measure records` in native (chroot), the
//! OCI runtimes, gVisor, Docker and QEMU microvm (TCG); the same tree with
//! `--measure process`; a Docker image as the root; and the bad inputs.
//!
//! The tree (Debian 12 minbase + python3 + python3-numpy, ~320 MB) is built
//! once per test run with debootstrap from Debian's mirror into
//! `target/isobench-test-rootfs/` (a few minutes); `ISOBENCH_TEST_ROOTFS`
//! names an existing one instead.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{dockerd_up, leftovers, run};
use isobench_results::{ResultsFile, Status};

/// The Debian tree with Python and NumPy, or why there is none.
fn python_tree() -> Result<PathBuf, String> {
    static TREE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    TREE.get_or_init(build_python_tree).clone()
}

fn build_python_tree() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("ISOBENCH_TEST_ROOTFS") {
        return Ok(PathBuf::from(dir));
    }
    if !nix::unistd::geteuid().is_root() {
        return Err("debootstrap and chroot need root".into());
    }
    if isobench_environments::host::which("debootstrap").is_none() {
        return Err(
            "debootstrap is not installed (scripts/install-deps.sh --tests installs it)".into(),
        );
    }
    let base = isobench_testkit::workspace_root().join("target/isobench-test-rootfs");
    let tree = base.join("bookworm-python3-numpy");
    let done = base.join("bookworm-python3-numpy.complete");
    if done.is_file() {
        return Ok(tree);
    }
    std::fs::create_dir_all(&base).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&tree);
    let mirror = std::env::var("ISOBENCH_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    eprintln!("building the test root filesystem with debootstrap ({mirror}); a few minutes");
    let out = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            "--include=python3-minimal,python3-numpy",
            "bookworm",
        ])
        .arg(&tree)
        .arg(&mirror)
        .output()
        .map_err(|e| format!("running debootstrap: {e}"))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&tree);
        return Err(format!(
            "debootstrap failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    std::fs::write(&done, b"").map_err(|e| e.to_string())?;
    Ok(tree)
}

/// The tree, or the test is skipped with the reason.
macro_rules! tree_or_skip {
    () => {
        match python_tree() {
            Ok(tree) => tree,
            Err(reason) => isobench_testkit::skip!("no Debian test tree: {reason}"),
        }
    };
}

/// `--mount` arguments: the KNN program and the helper in /app, the digits in /data.
fn app_mounts() -> Vec<String> {
    let root = isobench_testkit::workspace_root();
    let digits =
        isobench_assets::assets_dir(&isobench_assets::cache_dir()).join("data/digits.csv.gz");
    vec![
        format!(
            "{}:/app/knn.py:ro",
            root.join("crates/cli/tests/data/knn_numpy.py").display()
        ),
        format!(
            "{}:/app/isobench_records.py:ro",
            root.join("helpers/python/isobench_records.py").display()
        ),
        format!("{}:/data/digits.csv.gz:ro", digits.display()),
    ]
}

fn qemu_available() -> bool {
    isobench_environments::host::which("qemu-system-x86_64").is_some()
}

/// Runs isobench with `args` plus `--output OUT`; returns the output and results.
fn run_into(out: &Path, args: &[String]) -> (std::process::Output, Option<ResultsFile>) {
    let mut full: Vec<&str> = args.iter().map(String::as_str).collect();
    let out_str = out.to_str().unwrap().to_string();
    full.extend(["--output", &out_str]);
    let output = run(&full);
    let results = ResultsFile::load(&out.join("results.json")).ok();
    (output, results)
}

fn command_args(tree: &Path, envs: &str, command: &str, measure: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "run",
        "--offline",
        "--env",
        envs,
        "--workload",
        "command",
        "--command",
        command,
        "--rootfs",
        tree.to_str().unwrap(),
        "--measure",
        measure,
        "--workdir",
        "/app",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for m in app_mounts() {
        args.push("--mount".into());
        args.push(m);
    }
    args
}

#[test]
fn a_python_knn_gives_the_same_predictions_in_every_environment() {
    common::require_agent_and_assets();
    let tree = tree_or_skip!();
    let mut envs = vec!["native", "oci-runc", "oci-crun", "gvisor"];
    if dockerd_up() {
        envs.push("docker");
    } else {
        isobench_testkit::record_skip!(
            "docker part: dockerd is not running (scripts/test.sh starts it)"
        );
    }
    if qemu_available() {
        envs.push("qemu-microvm");
    } else {
        isobench_testkit::record_skip!("qemu-microvm part: qemu-system-x86_64 is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("knn");
    let mut args = command_args(&tree, &envs.join(","), "python3 /app/knn.py", "records");
    args.extend(
        [
            "--iterations",
            "2",
            "--warmup",
            "1",
            "--repetitions",
            "1",
            "--timeout",
            "900",
            "--boot-timeout",
            "600",
        ]
        .map(String::from),
    );
    let (output, results) = run_into(&out, &args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "run failed:\n{stdout}\n{stderr}");
    println!("{stdout}");
    let results = results.expect("results.json");
    assert_eq!(
        results.experiment.workload,
        isobench_records::Workload::Command
    );
    assert!(
        results
            .experiment
            .command
            .as_deref()
            .is_some_and(|c| c.contains("python3 /app/knn.py")),
        "{:?}",
        results.experiment.command
    );
    for env in &results.environments {
        assert_eq!(
            env.status,
            Status::Completed,
            "{}: {:?}",
            env.name,
            env.status
        );
        let rep = &env.repetitions[0];
        assert_eq!(rep.iterations.len(), 2, "{}", env.name);
        assert!(
            rep.iterations.iter().all(|i| i.inference_us > 0),
            "{}: in-program timings",
            env.name
        );
        let summary = rep.agent_summary.as_ref().expect("summary");
        assert!(
            summary.peak_rss_bytes.unwrap_or(0) > 10 << 20,
            "{}: the program's own peak RSS (python + numpy) {:?}",
            env.name,
            summary.peak_rss_bytes
        );
    }
    // Same predictions everywhere: the digests of the predicted labels agree.
    let check = results.outputs.as_ref().expect("outputs compared");
    assert!(check.consistent(), "{:?}", check.mismatches);
    assert_eq!(check.compared, 2 * envs.len() as u64);
    let first = check.by_input[0].outputs[0].output.clone();
    assert!(first.starts_with("checksum "), "{first}");
    for file in ["report.md", "report.html", "results.csv", "samples.csv"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("python3 /app/knn.py"),
        "the report names the program"
    );
    isobench_testkit::exercised_by(&results);
    let left = leftovers();
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert_no_mounts_under(&tree);
}

#[test]
fn process_mode_times_one_invocation_of_a_silent_program_per_iteration() {
    common::require_agent_and_assets();
    let tree = tree_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("process");
    let mut args = command_args(
        &tree,
        "native,oci-runc",
        "python3 -c 'import numpy'",
        "process",
    );
    args.extend(["--iterations", "3", "--warmup", "1", "--repetitions", "2"].map(String::from));
    let (output, results) = run_into(&out, &args);
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let results = results.unwrap();
    for env in &results.environments {
        assert_eq!(env.status, Status::Completed, "{}", env.name);
        for rep in &env.repetitions {
            assert_eq!(rep.iterations.len(), 3);
            // Python and NumPy start in tens of milliseconds at least.
            assert!(
                rep.iterations.iter().all(|i| i.inference_us > 5_000),
                "{:?}",
                rep.iterations
            );
        }
    }
    assert!(results.outputs.as_ref().unwrap().consistent());
    isobench_testkit::exercised_by(&results);
    assert_no_mounts_under(&tree);
}

#[test]
fn a_docker_image_is_a_root_filesystem_too() {
    common::require_agent_and_assets();
    let tree = tree_or_skip!();
    if !dockerd_up() {
        isobench_testkit::skip!("dockerd is not running (scripts/test.sh starts it)");
    }
    // No registry here: the test makes its image from the tree.
    let tag = "isobench-test/python-numpy:bookworm";
    let have = Command::new("docker")
        .args(["image", "inspect", tag])
        .output()
        .unwrap();
    if !have.status.success() {
        let import = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "tar -C '{}' -c . | docker import - {tag}",
                tree.display()
            ))
            .output()
            .unwrap();
        assert!(
            import.status.success(),
            "{}",
            String::from_utf8_lossy(&import.stderr)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("image");
    let mut args = vec![
        "run",
        "--offline",
        "--env",
        "native,docker",
        "--workload",
        "command",
        "--command",
        "python3 /app/knn.py",
        "--image",
        tag,
        "--workdir",
        "/app",
        "--iterations",
        "2",
        "--warmup",
        "0",
        "--repetitions",
        "1",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    for m in app_mounts() {
        args.push("--mount".into());
        args.push(m);
    }
    let (output, results) = run_into(&out, &args);
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let results = results.unwrap();
    assert!(results
        .environments
        .iter()
        .all(|e| e.status == Status::Completed));
    assert!(results.outputs.as_ref().unwrap().consistent());
    // A missing image is a clear error before anything runs.
    let (output, _) = run_into(
        &dir.path().join("missing"),
        &[
            "run",
            "--offline",
            "--env",
            "native",
            "--workload",
            "command",
            "--command",
            "true",
            "--image",
            "isobench-test/nonexistent:1",
        ]
        .map(String::from),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("isobench-test/nonexistent:1")
            && stderr.contains("not in the local Docker daemon"),
        "{stderr}"
    );
}

#[test]
fn bad_programs_and_trees_get_clear_errors() {
    common::require_agent_and_assets();
    let tree = tree_or_skip!();
    let dir = tempfile::tempdir().unwrap();
    // Refused before any environment starts: the program or its interpreter is not in the tree.
    let script = dir.path().join("run.rb");
    std::fs::write(&script, "#!/usr/bin/ruby\nputs 1\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for (command, extra_mount, expected) in [
        ("ruby -e 1", None, "program `ruby`"),
        (
            "/app/run.rb",
            Some(format!("{}:/app/run.rb:ro", script.display())),
            "interpreter `/usr/bin/ruby`",
        ),
    ] {
        let out = dir.path().join(format!("pre-{}", expected.len()));
        let mut args = command_args(&tree, "native", command, "records");
        if let Some(m) = extra_mount {
            args.push("--mount".into());
            args.push(m);
        }
        let (output, _) = run_into(&out, &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{command} ran");
        assert!(
            stderr.contains(expected),
            "{command}: expected `{expected}` in {stderr}"
        );
        assert_eq!(
            stderr
                .trim()
                .lines()
                .filter(|l| l.starts_with("error:"))
                .count(),
            1,
            "{stderr}"
        );
    }
    // Refused while running: each environment fails with the program's own words.
    for (command, measure, expected) in [
        (
            r#"python3 -c 'print("{\"isobench\": 1, \"index\": 0}")'"#,
            "records",
            "invalid isobench record",
        ),
        (
            r#"python3 -c 'import sys; sys.stderr.write("boom\n"); sys.exit(3)'"#,
            "process",
            "boom",
        ),
    ] {
        let out = dir.path().join(format!("run-{measure}"));
        let mut args = command_args(&tree, "native,oci-runc", command, measure);
        args.extend(["--iterations", "1", "--warmup", "0", "--repetitions", "1"].map(String::from));
        let (output, results) = run_into(&out, &args);
        assert!(!output.status.success(), "{command} succeeded");
        let results = results.expect("results kept");
        for env in &results.environments {
            match &env.status {
                Status::Failed { reason } => {
                    assert!(reason.contains(expected), "{}: {reason}", env.name)
                }
                other => panic!("{}: {other:?}", env.name),
            }
        }
    }
    let left = leftovers();
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert_no_mounts_under(&tree);
}

/// Nothing isobench mounted is left under the user's tree (or its cached copy).
fn assert_no_mounts_under(tree: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let user_roots = isobench_assets::cache_dir().join("user-roots");
    let left: Vec<&str> = mounts
        .lines()
        .filter(|l| {
            let target = l.split_whitespace().nth(4).unwrap_or("");
            target.starts_with(tree.to_str().unwrap())
                || target.starts_with(user_roots.to_str().unwrap())
        })
        .collect();
    assert!(left.is_empty(), "mounts left: {left:#?}");
}
