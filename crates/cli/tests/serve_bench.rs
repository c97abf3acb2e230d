//! `isobench serve-bench`: every LoadGen scenario against the real agent in
//! native, OCI (runc, crun, gVisor), docker, podman and the QEMU-TCG guest, with
//! request ids checked (none lost, none duplicated), and bad input: an
//! unknown input, an oversized frame, TCP clients that disconnect
//! mid-request.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::{assets_ready, dockerd_up, leftovers, podman_installed, run};
use isobench_environments::EnvKind;
use isobench_records::serve::{
    decode_response, encode_frame, encode_request, Request, Response, MAX_REQUEST_BYTES,
};
use isobench_results::{ResultsFile, ServingResult};
use isobench_testkit::static_agent;

fn agent() -> String {
    assert!(assets_ready(), "assets missing: run `isobench setup` first");
    let agent = static_agent().expect("static agent missing: build it with `scripts/build.sh`");
    agent.to_str().unwrap().to_string()
}

/// Runs serve-bench with `extra` flags; returns (exit success, stderr, serving results).
fn serve_bench(out: &Path, extra: &[&str]) -> (bool, String, Vec<ServingResult>) {
    let agent = agent();
    let mut args = vec![
        "serve-bench",
        "--offline",
        "--agent",
        &agent,
        "--output",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = run(&args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{stdout}\n{stderr}");
    let serving = ResultsFile::load(&out.join("results.json"))
        .map(|f| f.serving)
        .unwrap_or_default();
    (output.status.success(), stderr, serving)
}

/// The tests start agents and check that none is left behind: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn exclusive() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// True when QEMU is there; records why the test is skipped otherwise.
fn qemu_installed() -> bool {
    let found = isobench_environments::registry::which("qemu-system-x86_64").is_some();
    if !found {
        isobench_testkit::record_skip!(
            "qemu-system-x86_64 is not installed (scripts/install-deps.sh installs it)"
        );
    }
    found
}

const ALL: &str = "single-stream,multi-stream,server,offline";

/// Every scenario ran, every id came back exactly once, and figures are sane.
fn check_all_scenarios(env: &str, transport: &str, results: &[ServingResult]) {
    let names: Vec<&str> = results.iter().map(|r| r.scenario.as_str()).collect();
    assert_eq!(
        names,
        ["single-stream", "multi-stream", "server", "offline"],
        "{env}"
    );
    for r in results {
        let what = format!("{env} {}", r.scenario);
        assert_eq!(r.env, env);
        assert_eq!(r.transport, transport, "{what}");
        assert_eq!(r.failure, None, "{what}");
        let c = &r.counts;
        assert_eq!(c.answered, c.sent, "{what}: answered");
        assert_eq!(
            (c.lost, c.duplicated, c.unexpected, c.errors),
            (0, 0, 0, 0),
            "{what}"
        );
        assert!(r.queries >= 12, "{what}: {} queries", r.queries);
        assert_eq!(r.latency.count, r.queries, "{what}");
        let per_query = if r.scenario == "multi-stream" { 3 } else { 1 };
        assert_eq!(c.sent, r.queries * per_query, "{what}: samples per query");
        assert!(
            r.latency.p99_us >= r.latency.p50_us && r.latency.p50_us > 0.0,
            "{what}"
        );
        let rtt = r.round_trip.as_ref().expect("round trip measured");
        assert_eq!(rtt.count, 10, "{what}");
        assert!(r.agent_time_mean_us > 0.0, "{what}");
        assert!(
            r.cpu_seconds_per_request.unwrap_or(0.0) > 0.0,
            "{what}: host CPU per request"
        );
    }
    let server = &results[2];
    assert_eq!(server.target_qps, Some(20.0));
    assert_eq!(server.latency_bound_ms, Some(2000.0));
    assert!(server.bound_met.is_some());
    isobench_testkit::exercised(env);
}

fn scenario_flags() -> Vec<&'static str> {
    vec![
        "--workload",
        "knn",
        "--scenario",
        ALL,
        "--duration",
        "0.5",
        "--min-queries",
        "12",
        "--samples-per-query",
        "3",
        "--qps",
        "20",
        "--latency-bound-ms",
        "2000",
        "--round-trip-requests",
        "10",
        "--warmup-requests",
        "2",
    ]
}

#[test]
fn native_every_scenario_over_stdio_and_tcp() {
    let _one = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let mut flags = scenario_flags();
    flags.extend(["--env", "native"]);
    let (ok, stderr, results) = serve_bench(dir.path(), &flags);
    assert!(ok, "{stderr}");
    check_all_scenarios("native", "stdio", &results);
    // A batch run into the same directory keeps the serving results.
    let agent = agent();
    let batch = run(&[
        "run",
        "--offline",
        "--agent",
        &agent,
        "--env",
        "native",
        "--workload",
        "knn",
        "--iterations",
        "2",
        "--warmup",
        "0",
        "--repetitions",
        "1",
        "--output",
        dir.path().to_str().unwrap(),
    ]);
    assert!(
        batch.status.success(),
        "{}",
        String::from_utf8_lossy(&batch.stderr)
    );
    let file = ResultsFile::load(&dir.path().join("results.json")).unwrap();
    assert_eq!(file.environments.len(), 1);
    assert_eq!(
        file.serving, results,
        "serving results lost by `isobench run`"
    );

    let tcp_dir = tempfile::tempdir().unwrap();
    flags.extend(["--transport", "tcp"]);
    let (ok, stderr, results) = serve_bench(tcp_dir.path(), &flags);
    assert!(ok, "{stderr}");
    check_all_scenarios("native", "tcp", &results);
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

/// runc, and crun and gVisor where this host runs them, against native
/// in one run (so each gets its ratio to native).
#[test]
fn oci_runtimes_every_scenario_with_ratio_to_native() {
    let _one = exclusive();
    let facts = isobench_environments::HostFacts::probe();
    let mut envs = vec!["native"];
    for kind in [EnvKind::OciRunc, EnvKind::OciCrun, EnvKind::Gvisor] {
        let availability = isobench_environments::detect(
            kind,
            &facts,
            &isobench_environments::EnvOptions::default(),
        );
        if availability.available {
            envs.push(kind.name());
        } else {
            isobench_testkit::assert_truly_unavailable(kind.name(), &availability.reason);
            isobench_testkit::record_skip!(
                "{kind} part: {} (fix: {})",
                availability.reason,
                availability.fix
            );
        }
    }
    assert!(
        envs.contains(&"oci-runc"),
        "runc is required for this test: apt-get install runc"
    );
    let dir = tempfile::tempdir().unwrap();
    let list = envs.join(",");
    let mut flags = scenario_flags();
    flags.extend(["--env", &list]);
    let (ok, stderr, results) = serve_bench(dir.path(), &flags);
    assert!(ok, "{stderr}");
    for (i, env) in envs.iter().enumerate() {
        check_all_scenarios(env, "stdio", &results[i * 4..(i + 1) * 4]);
    }
    assert!(results[4..]
        .iter()
        .all(|r| r.latency_ratio_to_native.is_some_and(|x| x > 0.0)));
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

#[test]
fn docker_every_scenario() {
    let _one = exclusive();
    if !dockerd_up() {
        isobench_testkit::skip!("dockerd is not running (scripts/start-dockerd.sh starts it)");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut flags = scenario_flags();
    flags.extend(["--env", "docker"]);
    let (ok, stderr, results) = serve_bench(dir.path(), &flags);
    assert!(ok, "{stderr}");
    check_all_scenarios("docker", "stdio", &results);
    assert!(leftovers().is_empty(), "{:?}", leftovers());
    // Over TCP: the container gets a bridge network of its own, removed after.
    let tcp_dir = tempfile::tempdir().unwrap();
    flags.extend(["--transport", "tcp"]);
    let (ok, stderr, results) = serve_bench(tcp_dir.path(), &flags);
    assert!(ok, "{stderr}");
    check_all_scenarios("docker", "tcp", &results);
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

/// podman (its own API service, stopped after) against native, over
/// stdin and over a network of the run's own made through the compatible API.
#[test]
fn podman_every_scenario_over_stdio_and_tcp() {
    let _one = exclusive();
    if !nix::unistd::geteuid().is_root() {
        isobench_testkit::skip!("rootful podman needs root");
    }
    if !podman_installed() {
        isobench_testkit::skip!("podman is not installed (scripts/install-podman.sh)");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut flags = scenario_flags();
    flags.extend(["--env", "native,podman"]);
    let (ok, stderr, results) = serve_bench(dir.path(), &flags);
    assert!(ok, "{stderr}");
    check_all_scenarios("native", "stdio", &results[..4]);
    check_all_scenarios("podman", "stdio", &results[4..]);
    assert!(results[4..]
        .iter()
        .all(|r| r.latency_ratio_to_native.is_some_and(|x| x > 0.0)));
    assert!(leftovers().is_empty(), "{:?}", leftovers());
    let tcp_dir = tempfile::tempdir().unwrap();
    let mut flags = scenario_flags();
    flags.extend(["--env", "podman", "--transport", "tcp"]);
    let (ok, stderr, results) = serve_bench(tcp_dir.path(), &flags);
    assert!(ok, "{stderr}");
    check_all_scenarios("podman", "tcp", &results);
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

/// The QEMU-TCG guest: the agent is PID 1 and serves over the serial
/// console (knn, few requests: TCG runs ~90x slower than native).
#[test]
fn qemu_tcg_guest_every_scenario_over_serial() {
    let _one = exclusive();
    if !qemu_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut flags = scenario_flags();
    flags.extend(["--env", "qemu-microvm", "--timeout", "300"]);
    let (ok, stderr, results) = serve_bench(dir.path(), &flags);
    assert!(ok, "{stderr}");
    check_all_scenarios("qemu-microvm", "serial", &results);
    assert!(
        results.iter().all(|r| r.emulated),
        "TCG results must be labelled emulated"
    );
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

/// The QEMU-TCG guest serving over vsock: the agent listens on AF_VSOCK
/// inside the guest; the host reaches it through the kernel's vhost-vsock
/// or, without /dev/vhost-vsock (this kind of host), vhost-device-vsock's
/// hybrid socket with Firecracker's `CONNECT <port>` handshake.
#[test]
fn qemu_tcg_guest_every_scenario_over_vsock() {
    let _one = exclusive();
    if !qemu_installed() {
        return;
    }
    let cache = isobench_assets::cache_dir();
    let backend = isobench_environments::qemu::vsock_backend_available(&cache);
    let dir = tempfile::tempdir().unwrap();
    let mut flags = scenario_flags();
    flags.extend([
        "--env",
        "qemu-microvm",
        "--timeout",
        "300",
        "--transport",
        "vsock",
    ]);
    let (ok, stderr, results) = serve_bench(dir.path(), &flags);
    if !backend {
        // Without a vsock backend the run must say which one to install.
        assert!(!ok);
        assert!(stderr.contains("vhost-device-vsock"), "{stderr}");
        isobench_testkit::record_skip!(
            "serving over vsock: no vsock backend (scripts/install-vhost-device-vsock.sh installs one); checked the error only"
        );
        return;
    }
    assert!(ok, "{stderr}");
    check_all_scenarios("qemu-microvm", "vsock", &results);
    assert!(results.iter().all(|r| r.emulated));
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

/// Firecracker's way to a vsock device, under QEMU: isobench's microVM
/// kernel finds the device on its command line (`virtio_mmio.device=`,
/// microvm with ACPI off), the agent listens on AF_VSOCK, the host connects
/// through the hybrid socket with `CONNECT <port>`.
#[test]
fn qemu_tcg_microvm_kernel_serves_over_vsock_announced_on_the_command_line() {
    let _one = exclusive();
    if !qemu_installed() {
        return;
    }
    let cache = isobench_assets::cache_dir();
    let Some(kernel) = isobench_environments::vm::kernel::built_microvm_kernel(&cache) else {
        isobench_testkit::skip!(
            "no microVM kernel in the cache (scripts/build-microvm-kernel.sh builds it)"
        );
    };
    if !isobench_environments::qemu::vsock_backend_available(&cache) {
        isobench_testkit::skip!(
            "no vsock backend (scripts/install-vhost-device-vsock.sh installs one)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let mut flags = scenario_flags();
    let kernel = kernel.to_str().unwrap().to_string();
    flags.extend([
        "--env",
        "qemu-microvm",
        "--timeout",
        "300",
        "--transport",
        "vsock",
        "--kernel",
        &kernel,
    ]);
    let (ok, stderr, results) = serve_bench(dir.path(), &flags);
    assert!(ok, "{stderr}");
    check_all_scenarios("qemu-microvm", "vsock", &results);
    let file = ResultsFile::load(&dir.path().join("results.json")).unwrap();
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(report.contains("vsock"), "{report}");
    assert!(file.serving.iter().all(|r| r.emulated));
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}

#[test]
fn unknown_input_is_reported_and_fails_the_run() {
    let _one = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr, results) = serve_bench(
        dir.path(),
        &[
            "--env",
            "native",
            "--workload",
            "knn",
            "--input",
            "nope.jpg",
            "--duration",
            "0",
            "--min-queries",
            "5",
        ],
    );
    assert!(!ok, "serve-bench succeeded with an unknown input");
    assert!(stderr.contains("unknown input `nope.jpg`"), "{stderr}");
    // The warm-up already fails: nothing was served.
    assert_eq!(results.len(), 1);
    assert!(
        results[0].failure.as_deref().unwrap().contains("warm-up"),
        "{:?}",
        results[0].failure
    );
}

#[test]
fn bad_flags_are_clear_errors() {
    let _one = exclusive();
    let dir = tempfile::tempdir().unwrap();
    for (flags, expected) in [
        (
            vec!["--scenario", "batch"],
            "invalid value 'batch' for '--scenario <SCENARIO>' [possible values: single-stream, multi-stream, server, offline]",
        ),
        (
            vec!["--transport", "udp"],
            "invalid value 'udp' for '--transport <TRANSPORT>' [possible values: stdio, tcp, vsock]",
        ),
        (
            vec!["--find-peak"],
            "--find-peak applies to the server scenario",
        ),
        (vec!["--qps", "0", "--scenario", "server"], "--qps 0"),
        (
            vec!["--env", "oci-runc", "--transport", "tcp"],
            "--transport tcp: `oci-runc` has no network",
        ),
        (
            vec!["--env", "native", "--transport", "vsock"],
            "--transport vsock: `native` is not a VM",
        ),
    ] {
        let mut args = vec![
            "serve-bench",
            "--offline",
            "--output",
            dir.path().to_str().unwrap(),
        ];
        args.extend(flags);
        let output = run(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// A serving agent on TCP: survives clients that disconnect mid-request,
/// answers an oversized frame and an unknown input with errors, and keeps
/// serving the next client.
#[test]
fn agent_keeps_serving_after_bad_tcp_clients() {
    let _one = exclusive();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let assets = isobench_assets::assets_dir(&isobench_assets::cache_dir());
    let mut child = Command::new(agent())
        .args([
            "serve",
            "--workload",
            "knn",
            "--assets",
            assets.to_str().unwrap(),
            "--listen",
            &format!("tcp:{addr}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    assert!(ready.contains("\"type\":\"ready\""), "{ready}");

    let request = |id: u64, input: &str| {
        encode_request(&Request {
            id,
            input: input.into(),
            empty: false,
        })
    };
    let read_response = |reader: &mut BufReader<TcpStream>| -> Response {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        decode_response(line.as_bytes())
            .unwrap()
            .expect("a response frame")
    };

    // 1. Half a frame, then gone.
    let mut c = TcpStream::connect(&addr).unwrap();
    let whole = request(1, "0");
    c.write_all(&whole.as_bytes()[..whole.len() / 2]).unwrap();
    drop(c);
    // 2. A whole request of the slowest kind, then gone before the answer.
    let mut c = TcpStream::connect(&addr).unwrap();
    c.write_all(request(2, "test-split").as_bytes()).unwrap();
    drop(c);
    // 3. A client sending bad frames, then a good one.
    let c = TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut writer = c.try_clone().unwrap();
    let mut reader = BufReader::new(c);
    let oversized = encode_frame(&format!(
        "{{\"id\":3,\"input\":\"{}\"}}",
        "x".repeat(MAX_REQUEST_BYTES)
    ));
    writer.write_all(oversized.as_bytes()).unwrap();
    let r = read_response(&mut reader);
    assert!(
        !r.ok && r.error.as_deref().unwrap().contains("exceeds"),
        "{r:?}"
    );
    writer.write_all(request(4, "nope.jpg").as_bytes()).unwrap();
    let r = read_response(&mut reader);
    assert_eq!(r.id, 4);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("unknown input `nope.jpg`"),
        "{r:?}"
    );
    writer.write_all(b"@ISB1 12 {\"id\":5}\n").unwrap();
    let r = read_response(&mut reader);
    assert!(
        !r.ok && r.error.as_deref().unwrap().contains("declares 12"),
        "{r:?}"
    );
    writer.write_all(request(6, "7").as_bytes()).unwrap();
    let r = read_response(&mut reader);
    assert_eq!((r.id, r.ok, r.input.as_str()), (6, true, "7"), "{r:?}");
    drop((writer, reader));

    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "the agent exited after bad clients"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `serve --device`: the transport a VM uses on a second serial port,
/// here on a pseudo-terminal. The agent sets the tty raw (no echo), so the
/// host reads back responses only.
#[test]
fn agent_serves_on_a_serial_device() {
    let _one = exclusive();
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&pty.slave)
    ))
    .unwrap();
    let assets = isobench_assets::assets_dir(&isobench_assets::cache_dir());
    let mut child = Command::new(agent())
        .args([
            "serve",
            "--workload",
            "knn",
            "--assets",
            assets.to_str().unwrap(),
            "--listen",
        ])
        .arg(format!("device:{}", slave.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    assert!(ready.contains("\"type\":\"ready\""), "{ready}");
    let master = std::fs::File::from(pty.master);
    let mut writer = master.try_clone().unwrap();
    let mut reader = BufReader::new(master);
    for (id, input) in [(1u64, "3"), (2, "nope.jpg"), (3, "0..10")] {
        writer
            .write_all(
                encode_request(&Request {
                    id,
                    input: input.into(),
                    empty: false,
                })
                .as_bytes(),
            )
            .unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let r = decode_response(line.as_bytes())
            .unwrap()
            .expect("a response frame, not an echo");
        assert_eq!(r.id, id, "{line}");
        assert_eq!(r.ok, input != "nope.jpg", "{r:?}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(pty.slave);
}

/// The README's `--find-peak` example, shortened: the search grows the
/// target from the capacity estimate until the bound is missed, then
/// bisects; the peak it reports is the best step that met the bound, and
/// every step is recorded.
#[test]
fn find_peak_searches_the_highest_qps_that_meets_the_bound() {
    let _one = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr, results) = serve_bench(
        dir.path(),
        &[
            "--env",
            "native",
            "--workload",
            "knn",
            "--scenario",
            "server",
            "--find-peak",
            "--latency-bound-ms",
            "25",
            "--duration",
            "1",
            "--min-queries",
            "50",
            "--peak-steps",
            "5",
        ],
    );
    assert!(ok, "{stderr}");
    let server = results
        .iter()
        .find(|r| r.scenario == "server")
        .expect("a server result");
    let steps = &server.peak_search;
    assert!(steps.len() >= 2, "a search takes several steps: {steps:?}");
    assert!(steps.len() <= 5, "at most --peak-steps: {steps:?}");
    let best_met = steps
        .iter()
        .filter(|s| s.met)
        .map(|s| s.target_qps)
        .reduce(f64::max);
    assert_eq!(server.peak_qps, best_met, "{steps:?}");
    if let Some(peak) = server.peak_qps {
        // No passing step below a failing one would have been tried higher.
        assert!(steps.iter().filter(|s| !s.met).all(|s| s.target_qps > peak));
    }
    assert_eq!(server.latency_bound_ms, Some(25.0));
    assert!(leftovers().is_empty(), "{:?}", leftovers());
}
