//! A known answer for the density mode's memory accounting
//! (`metrics::pss`): K processes that each map the same S MiB file (every
//! page read) and write N MiB of private anonymous memory must each cost
//! about N + S/K MiB more than an idle process of the same program, run
//! at the same time. Their summed RSS (S counted whole in each) would give
//! N + S: the test tells PSS from RSS.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use isobench_environments::MeterTarget;
use isobench_harness::metrics::pss::instance_memory;

const K: usize = 4;
const SHARED_MIB: u64 = 64;
const PRIVATE_MIB: u64 = 24;

/// Maps `file` (every page read) and writes `private` MiB, says `ready`,
/// then waits for its stdin to close.
const PROGRAM: &str = r#"
import mmap, sys
path, private = sys.argv[1], int(sys.argv[2])
keep = []
if path != "-":
    f = open(path, "rb")
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    total = 0
    for i in range(0, len(m), 4096):
        total += m[i]
    keep.append(m)
b = bytearray(private << 20)
for i in range(0, len(b), 4096):
    b[i] = 1
keep.append(b)
print("ready", flush=True)
sys.stdin.read()
"#;

fn spawn(file: &str, private_mib: u64) -> Child {
    Command::new("python3")
        .args(["-c", PROGRAM, file, &private_mib.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawning python3")
}

fn wait_ready(child: &mut Child) {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the child did not get ready");
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[test]
fn k_processes_sharing_a_file_each_cost_their_private_memory_plus_a_kth_of_the_file() {
    if isobench_environments::registry::which("python3").is_none() {
        isobench_testkit::skip!("python3 is not installed (apt-get install python3)");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shared.bin");
    {
        let mut f = std::fs::File::create(&file).unwrap();
        let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8 + 1).collect();
        for _ in 0..SHARED_MIB {
            f.write_all(&chunk).unwrap();
        }
    }
    let path = file.to_str().unwrap();
    // K loaded processes and K idle ones, alive together, so the
    // interpreter's own shared pages split the same way in both.
    let mut loaded: Vec<Child> = (0..K).map(|_| spawn(path, PRIVATE_MIB)).collect();
    let mut idle: Vec<Child> = (0..K).map(|_| spawn("-", 0)).collect();
    for child in loaded.iter_mut().chain(idle.iter_mut()) {
        wait_ready(child);
    }
    let measure = |children: &[Child]| -> Vec<(f64, f64)> {
        children
            .iter()
            .map(|c| {
                let m = instance_memory(&MeterTarget::ProcessTree(c.id() as i32), &[]);
                assert_eq!(m.processes, vec![c.id() as i32]);
                (mib(m.pss_bytes.unwrap()), mib(m.rss_bytes.unwrap()))
            })
            .collect()
    };
    let loaded_mem = measure(&loaded);
    let idle_mem = measure(&idle);
    for child in loaded.iter_mut().chain(idle.iter_mut()) {
        drop(child.stdin.take());
        child.wait().unwrap();
    }
    let base = idle_mem.iter().map(|m| m.0).sum::<f64>() / K as f64;
    let expected = PRIVATE_MIB as f64 + SHARED_MIB as f64 / K as f64;
    eprintln!(
        "idle PSS {base:.1} MiB; expected extra per loaded process {expected:.1} MiB (N {PRIVATE_MIB} + S {SHARED_MIB} / K {K})"
    );
    for (i, (pss, rss)) in loaded_mem.iter().enumerate() {
        let extra = pss - base;
        eprintln!("process {i}: PSS {pss:.1} MiB (extra {extra:.1}), RSS {rss:.1} MiB");
        // The interpreter's heap and the page tables of the mappings differ a
        // little between a loaded and an idle process: 3 MiB of slack.
        assert!(
            (extra - expected).abs() < 3.0,
            "process {i}: PSS above an idle one {extra:.1} MiB, expected {expected:.1} ± 3"
        );
        // RSS counts the whole file in every process: far above the PSS.
        assert!(
            rss - pss > SHARED_MIB as f64 * 0.5,
            "RSS {rss:.1} vs PSS {pss:.1}"
        );
    }
}
