//! Two `isobench run`s using crun at the same time: on a hybrid-cgroup host
//! crun needs hugetlb mounted as a cgroup v1 hierarchy, and the run that
//! finishes first must not unmount it under the other's containers. The
//! last one out unmounts it, and hugetlb is back on cgroup2.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{isobench, leftovers};
use isobench_environments::oci::hugetlb::{self, HybridState};
use isobench_results::{ResultsFile, Status};
use isobench_testkit::require_static_agent;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The tests watch one host-wide mount: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// True when this host runs crun through the hugetlb workaround; records
/// why the test is skipped otherwise.
fn workaround_testable() -> bool {
    common::require_agent_and_assets();
    let skip = if !nix::unistd::geteuid().is_root() {
        "crun needs root".to_string()
    } else if isobench_environments::registry::which("crun").is_none() {
        "crun is not installed (scripts/install-deps.sh installs it)".to_string()
    } else if hugetlb::hybrid_state() != HybridState::NeedsHugetlbMount {
        format!(
            "this host's cgroup layout needs no hugetlb workaround for crun ({:?})",
            hugetlb::hybrid_state()
        )
    } else {
        return true;
    };
    isobench_testkit::record_skip!("{skip}");
    false
}

/// An `isobench run` child: if a test fails while it runs, it is
/// interrupted (SIGINT, so it cleans up after itself) and waited for, so no
/// run outlives its test and holds the workaround for the next one.
struct RunningIsobench(Option<Child>);

impl RunningIsobench {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.0.as_ref().expect("running").id() as i32)
    }

    fn take(mut self) -> Child {
        self.0.take().expect("running")
    }
}

impl Drop for RunningIsobench {
    fn drop(&mut self) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGCONT);
        let _ = kill(pid, Signal::SIGINT);
        let ended = wait_until(Duration::from_secs(30), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        if !ended {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_crun_run(out: &Path, iterations: &str, repetitions: &str) -> RunningIsobench {
    let agent = require_static_agent();
    let child = isobench()
        .args(["run", "--offline", "--env", "oci-crun", "--workload", "knn"])
        .args(["--iterations", iterations, "--warmup", "0"])
        .args(["--repetitions", repetitions, "--output"])
        .arg(out)
        .arg("--agent")
        .arg(agent)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting isobench");
    RunningIsobench(Some(child))
}

/// Polls `done` every 20 ms for at most `limit`.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

fn users() -> usize {
    std::fs::read_dir(Path::new(hugetlb::SHARED_DIR).join("users"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// True when no process holds the workaround's shared lock.
fn shared_lock_free() -> bool {
    let Ok(file) = std::fs::File::open(Path::new(hugetlb::SHARED_DIR).join("lock")) else {
        return true;
    };
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok()
}

fn finish(run: RunningIsobench, out: &Path, what: &str) -> ResultsFile {
    let output = run.take().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{what} failed: {stderr}");
    let results = ResultsFile::load(&out.join("results.json")).unwrap();
    let env = &results.environments[0];
    assert_eq!(env.status, Status::Completed, "{what}: {:?}", env.status);
    isobench_testkit::exercised_by(&results);
    results
}

#[test]
fn overlapping_crun_runs_share_the_hugetlb_workaround() {
    let _one = exclusive();
    if !workaround_testable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (out_a, out_b) = (dir.path().join("a"), dir.path().join("b"));

    // A mounts the hierarchy; it is then held still while B starts using it.
    let a = start_crun_run(&out_a, "40", "1");
    assert!(
        wait_until(Duration::from_secs(120), || {
            hugetlb::HugetlbGuard::mounted_by_isobench()
        }),
        "run A never mounted the hugetlb hierarchy"
    );
    let a_pid = a.pid();
    // Stopped only outside the shared lock, or B would wait for it forever.
    let stopped_unlocked = wait_until(Duration::from_secs(60), || {
        kill(a_pid, Signal::SIGSTOP).unwrap();
        if shared_lock_free() {
            return true;
        }
        kill(a_pid, Signal::SIGCONT).unwrap();
        std::thread::sleep(Duration::from_millis(10));
        false
    });
    assert!(stopped_unlocked, "run A kept the shared lock for a minute");
    let b = start_crun_run(&out_b, "300", "3");
    let b_joined = wait_until(Duration::from_secs(120), || users() >= 2);
    kill(a_pid, Signal::SIGCONT).unwrap();
    assert!(
        b_joined,
        "run B never registered as a user of the workaround"
    );

    // A ends while B still has repetitions to launch.
    let results_a = finish(a, &out_a, "run A");
    let b_running = Path::new(&format!("/proc/{}", b.pid())).exists();
    if b_running {
        assert!(
            hugetlb::HugetlbGuard::mounted_by_isobench(),
            "run A unmounted the hierarchy while run B uses it"
        );
    } else {
        isobench_testkit::record_skip!(
            "the mount was not checked while run B ran: run B ended before run A"
        );
    }
    let results_b = finish(b, &out_b, "run B");
    assert_eq!(results_a.environments[0].repetitions.len(), 1);
    assert_eq!(results_b.environments[0].repetitions.len(), 3);

    // The last one out undid the workaround.
    assert!(!hugetlb::HugetlbGuard::mounted_by_isobench());
    assert_eq!(users(), 0, "user files left in {}", hugetlb::SHARED_DIR);
    assert_eq!(
        hugetlb::hybrid_state(),
        HybridState::NeedsHugetlbMount,
        "hugetlb is back on cgroup2"
    );
    assert!(hugetlb::hugetlb_hierarchy().is_some_and(|(hierarchy, _)| hierarchy == 0));
    let left = leftovers();
    assert!(left.is_empty(), "left behind: {left:#?}");
}

/// A crun run killed with SIGKILL leaves the hierarchy mounted; `isobench
/// clean` sees that no live run uses it and unmounts it.
#[test]
fn clean_undoes_the_workaround_of_a_killed_run() {
    let _one = exclusive();
    if !workaround_testable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = start_crun_run(&dir.path().join("killed"), "2000", "1");
    assert!(
        wait_until(Duration::from_secs(120), || {
            hugetlb::HugetlbGuard::mounted_by_isobench()
        }),
        "the run never mounted the hugetlb hierarchy"
    );
    let mut run = run.take();
    run.kill().unwrap();
    run.wait().unwrap();
    assert!(
        hugetlb::HugetlbGuard::mounted_by_isobench(),
        "a SIGKILLed run cannot undo anything"
    );
    let output = common::run(&["clean"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("unmounted the hugetlb cgroup v1 hierarchy"),
        "{stdout}"
    );
    assert!(!hugetlb::HugetlbGuard::mounted_by_isobench());
    assert!(
        wait_until(Duration::from_secs(5), || hugetlb::hugetlb_hierarchy()
            .is_some_and(|(hierarchy, _)| hierarchy == 0)),
        "hugetlb is back on cgroup2"
    );
    let left = leftovers();
    assert!(left.is_empty(), "left behind: {left:#?}");
}
