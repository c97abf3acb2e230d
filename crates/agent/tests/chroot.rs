//! The static agent build runs from an empty chroot holding only itself and
//! its assets, and (in a fresh PID + mount namespace, where it is PID 1 with
//! no /proc) does its VM-init duties: mounts, runs, and halts, also after an
//! error. Needs root; uses the test kit's static agent
//! (`$ISOBENCH_AGENT_STATIC`, else the build in target/), else builds it
//! with the static command from the team notes.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output};

use isobench_records::Record;
use sha2::Digest as _;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// True when the ELF file has no PT_INTERP program header (no dynamic loader).
fn has_no_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not a 64-bit ELF");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) != 3
    })
}

/// An empty root holding only `/isobench-agent` and `/assets/data/digits.csv.gz`.
fn chroot_dir(agent: &Path) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::copy(agent, root.path().join("isobench-agent")).unwrap();
    std::fs::create_dir_all(root.path().join("assets/data")).unwrap();
    std::fs::copy(
        common::assets().join("data/digits.csv.gz"),
        root.path().join("assets/data/digits.csv.gz"),
    )
    .unwrap();
    root
}

fn chroot_cmd(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("chroot");
    cmd.arg(root)
        .arg("/isobench-agent")
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    cmd
}

fn summary(out: &Output) -> isobench_records::Summary {
    let records = common::records(&out.stdout);
    match records.last() {
        Some(Record::Summary(s)) => s.clone(),
        _ => panic!(
            "no summary; stdout {records:?}, stderr {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn mounted_under(root: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    mounts.contains(root.to_str().unwrap())
}

#[test]
fn static_agent_runs_knn_from_an_empty_chroot() {
    if !is_root() {
        isobench_testkit::skip!("chroot needs root");
    }
    let agent = common::static_agent_or_build();
    let bytes = std::fs::read(&agent).unwrap();
    assert!(
        has_no_interpreter(&bytes),
        "{} is not static (it has a PT_INTERP header)",
        agent.display()
    );
    let root = chroot_dir(&agent);
    let out = chroot_cmd(
        root.path(),
        &[
            "run",
            "--workload",
            "knn",
            "--iterations",
            "2",
            "--warmup",
            "0",
            "--assets",
            "/assets",
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    assert!(s.accuracy.unwrap() >= 0.97, "{s:?}");
    // No /proc in the chroot: the hash comes from argv[0].
    assert_eq!(s.agent_sha256, hex::encode(sha2::Sha256::digest(&bytes)));
}

/// Runs the static agent as PID 1 of a new PID and mount namespace inside
/// the chroot: the closest a host test gets to a VM's init.
fn as_pid1(root: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount", "--kill-child", "chroot"])
        .arg(root)
        .arg("/isobench-agent")
        .args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    cmd.output().expect("run unshare (util-linux)")
}

/// `reboot()` in a child PID namespace kills its init with SIGINT
/// (power off) or SIGHUP (restart); unshare passes that on.
fn ended_by(out: &Output, signal: i32) -> bool {
    out.status.signal() == Some(signal) || out.status.code() == Some(128 + signal)
}

#[test]
fn static_agent_as_pid1_mounts_runs_and_halts_also_on_error() {
    if !is_root() {
        isobench_testkit::skip!("PID and mount namespaces need root");
    }
    if Command::new("unshare").arg("--version").output().is_err() {
        isobench_testkit::skip!("util-linux `unshare` is not installed");
    }
    let agent = common::static_agent_or_build();
    let root = chroot_dir(&agent);

    let out = as_pid1(
        root.path(),
        &[
            "run",
            "--workload",
            "knn",
            "--iterations",
            "1",
            "--assets",
            "/assets",
            "--halt",
            "poweroff",
        ],
    );
    assert!(
        ended_by(&out, libc::SIGINT),
        "powered off: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let records = common::records(&out.stdout);
    let Some(Record::Ready(ready)) = records.first() else {
        panic!("{records:?}")
    };
    assert!(ready.pid1, "the agent saw itself as VM init: {ready:?}");
    assert!(summary(&out).accuracy.unwrap() >= 0.97);
    // It mounted proc, so it could hash itself through /proc/self/exe.
    assert_eq!(
        summary(&out).agent_sha256,
        hex::encode(sha2::Sha256::digest(std::fs::read(&agent).unwrap()))
    );

    let out = as_pid1(
        root.path(),
        &[
            "run",
            "--workload",
            "knn",
            "--iterations",
            "1",
            "--assets",
            "/assets",
            "--halt",
            "reboot",
        ],
    );
    assert!(ended_by(&out, libc::SIGHUP), "rebooted: {:?}", out.status);
    summary(&out);

    // Errors still end in a halt, after the error record.
    let out = as_pid1(
        root.path(),
        &[
            "run",
            "--workload",
            "knn",
            "--modules",
            "/lib/missing.ko",
            "--halt",
            "poweroff",
        ],
    );
    assert!(
        ended_by(&out, libc::SIGINT),
        "halted after error: {:?}",
        out.status
    );
    let records = common::records(&out.stdout);
    match records.as_slice() {
        [Record::Error(e)] => {
            assert_eq!(e.kind, "init");
            assert!(e.message.contains("/lib/missing.ko"), "{}", e.message);
        }
        other => panic!("expected one init error record: {other:?}"),
    }
    let out = as_pid1(
        root.path(),
        &["run", "--workload", "nope", "--halt", "reboot"],
    );
    assert!(
        ended_by(&out, libc::SIGHUP),
        "halted after usage error: {:?}",
        out.status
    );
    assert!(
        matches!(common::records(&out.stdout).as_slice(), [Record::Error(e)] if e.kind == "usage")
    );

    assert!(
        !mounted_under(root.path()),
        "the agent's mounts died with its namespace"
    );
}
