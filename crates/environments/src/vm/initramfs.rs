//! The guest's initramfs: a newc cpio archive (the format the kernel unpacks
//! into its root tmpfs) holding the agent as `/init`, the asset directory
//! byte for byte under `/assets`, the kernel modules under `/lib/modules`,
//! the payload's extra files and a `/dev/console` node (the kernel opens it
//! before init can mount devtmpfs).
//!
//! Archives are cached under `<cache>/initramfs/<key>.cpio[.gz]`, where the
//! key is the sha256 over every entry's path, mode and content: the same
//! inputs give the same file, any change gives a new one.

use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cache_lock::CacheLock;
use crate::EnvError;

/// Version of the archive layout; part of the cache key.
const LAYOUT_VERSION: &str = "isobench-initramfs-1";

/// The agent's path inside the guest: the kernel runs it as PID 1.
pub const GUEST_INIT: &str = "/init";

/// Where the assets appear inside the guest.
pub const GUEST_ASSETS: &str = "/assets";

/// Directory of kernel modules inside the guest.
pub const GUEST_MODULES_DIR: &str = "/lib/modules";

/// How the archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain cpio: the kernel copies it without decompressing (fastest boot,
    /// notably under TCG where gzip inflation runs emulated).
    None,
    /// gzip (smaller cache files, slower to unpack).
    Gzip,
}

/// One file of the archive.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// A host file copied byte for byte.
    File(PathBuf),
    /// A character device node (major, minor).
    CharDev(u32, u32),
}

/// What goes into the archive, keyed by absolute guest path.
#[derive(Debug, Default)]
pub struct InitramfsSpec {
    entries: BTreeMap<String, (u32, Source)>,
}

/// A built (or cached) archive.
#[derive(Debug, Clone)]
pub struct Initramfs {
    /// The archive file.
    pub path: PathBuf,
    /// Content key (sha256 of entries), also the file stem.
    pub key: String,
    /// Archive size in bytes.
    pub bytes: u64,
    /// True when it came from the cache.
    pub cached: bool,
    /// Keeps the archive from being pruned by other isobench processes while
    /// this one may still boot it (`None` for archives not from the cache).
    pub in_use: Option<std::sync::Arc<CacheLock>>,
}

impl InitramfsSpec {
    /// The standard guest: `agent` as `/init`, `assets_dir` under [`GUEST_ASSETS`],
    /// `modules` under [`GUEST_MODULES_DIR`], `extra` (host path, guest path) files.
    pub fn for_agent(
        agent: &Path,
        assets_dir: &Path,
        modules: &[PathBuf],
        extra: &[(PathBuf, PathBuf)],
    ) -> Result<Self, EnvError> {
        let mut spec = InitramfsSpec::default();
        spec.add_node("/dev/console", 0o600, 5, 1);
        spec.add_file(GUEST_INIT, agent, 0o755)?;
        for module in modules {
            let name = module.file_name().unwrap_or_default().to_string_lossy();
            spec.add_file(&format!("{GUEST_MODULES_DIR}/{name}"), module, 0o644)?;
        }
        spec.add_tree(GUEST_ASSETS, assets_dir)?;
        for (host, guest) in extra {
            let mode = std::fs::metadata(host)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
                .map_err(|e| EnvError::io(format!("reading extra file {}", host.display()), e))?;
            let guest = Path::new("/").join(guest);
            spec.add_file(&guest.to_string_lossy(), host, mode)?;
        }
        Ok(spec)
    }

    /// The guest of `--workload command`: `agent` as `/init` and `modules`
    /// under [`GUEST_MODULES_DIR`], nothing else (the program, its files and
    /// the agent's copy are on the root drive the agent mounts).
    pub fn for_exec(agent: &Path, modules: &[PathBuf]) -> Result<Self, EnvError> {
        let mut spec = InitramfsSpec::default();
        spec.add_node("/dev/console", 0o600, 5, 1);
        spec.add_file(GUEST_INIT, agent, 0o755)?;
        for module in modules {
            let name = module.file_name().unwrap_or_default().to_string_lossy();
            spec.add_file(&format!("{GUEST_MODULES_DIR}/{name}"), module, 0o644)?;
        }
        Ok(spec)
    }

    /// Adds a host file (must exist) at `guest`.
    pub fn add_file(&mut self, guest: &str, host: &Path, mode: u32) -> Result<(), EnvError> {
        if !host.is_file() {
            return Err(EnvError::MissingFile {
                what: format!("file for the initramfs ({guest})"),
                path: host.to_path_buf(),
                fix: "build or fetch it first (`isobench setup`, `scripts/build.sh`)".into(),
            });
        }
        self.entries.insert(
            guest.to_string(),
            (0o100000 | mode, Source::File(host.to_path_buf())),
        );
        Ok(())
    }

    /// Adds a character device node.
    pub fn add_node(&mut self, guest: &str, mode: u32, major: u32, minor: u32) {
        self.entries.insert(
            guest.to_string(),
            (0o020000 | mode, Source::CharDev(major, minor)),
        );
    }

    /// Adds every regular file below `host` (symlinks followed) under `guest`.
    pub fn add_tree(&mut self, guest: &str, host: &Path) -> Result<(), EnvError> {
        if !host.is_dir() {
            return Err(EnvError::MissingFile {
                what: "asset directory".into(),
                path: host.to_path_buf(),
                fix: "run `isobench setup` to fetch the assets, or pass --assets".into(),
            });
        }
        let mut stack = vec![(host.to_path_buf(), guest.to_string())];
        while let Some((dir, inside)) = stack.pop() {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| EnvError::io(format!("listing {}", dir.display()), e))?;
            for entry in entries {
                let entry =
                    entry.map_err(|e| EnvError::io(format!("listing {}", dir.display()), e))?;
                let path = entry.path();
                let name = format!("{inside}/{}", entry.file_name().to_string_lossy());
                let meta = std::fs::metadata(&path)
                    .map_err(|e| EnvError::io(format!("reading {}", path.display()), e))?;
                if meta.is_dir() {
                    stack.push((path, name));
                } else if meta.is_file() {
                    self.add_file(&name, &path, 0o644)?;
                }
            }
        }
        Ok(())
    }

    /// Every directory that must precede the entries, plus the fixed mount points.
    fn directories(&self) -> Vec<String> {
        let mut dirs: std::collections::BTreeSet<String> =
            ["/dev", "/proc", "/sys", "/tmp", "/run", "/lib"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        for name in self.entries.keys() {
            let mut path = Path::new(name).parent();
            while let Some(p) = path {
                if p != Path::new("/") {
                    dirs.insert(p.to_string_lossy().into_owned());
                }
                path = p.parent();
            }
        }
        dirs.into_iter().collect()
    }

    /// The content key: sha256 over the layout version and every entry's path, mode and bytes.
    pub fn key(&self) -> Result<String, EnvError> {
        let mut hasher = Sha256::new();
        hasher.update(LAYOUT_VERSION.as_bytes());
        for (name, (mode, source)) in &self.entries {
            hasher.update(format!("\n{name}\0{mode:o}\0").as_bytes());
            match source {
                Source::File(path) => {
                    let mut file = std::fs::File::open(path)
                        .map_err(|e| EnvError::io(format!("reading {}", path.display()), e))?;
                    let mut buf = vec![0u8; 1 << 20];
                    loop {
                        let n = file
                            .read(&mut buf)
                            .map_err(|e| EnvError::io(format!("reading {}", path.display()), e))?;
                        if n == 0 {
                            break;
                        }
                        hasher.update(&buf[..n]);
                    }
                }
                Source::CharDev(major, minor) => {
                    hasher.update(format!("c{major}:{minor}").as_bytes())
                }
            }
        }
        Ok(hex::encode(hasher.finalize()))
    }

    /// Writes the archive into `cache_dir/initramfs/` unless an archive with
    /// the same content key is there already.
    pub fn build(&self, cache_dir: &Path, compression: Compression) -> Result<Initramfs, EnvError> {
        let key = self.key()?;
        let dir = cache_dir.join("initramfs");
        std::fs::create_dir_all(&dir)
            .map_err(|e| EnvError::io(format!("creating {}", dir.display()), e))?;
        let ext = match compression {
            Compression::None => "cpio",
            Compression::Gzip => "cpio.gz",
        };
        let path = dir.join(format!("{key}.{ext}"));
        // Held before looking: an archive pruned before this is built again.
        let in_use = Some(std::sync::Arc::new(CacheLock::shared(
            &dir.join(format!("{key}.lock")),
        )?));
        if let Ok(meta) = std::fs::metadata(&path) {
            // Mark as recently used, so pruning keeps it.
            if let Ok(file) = std::fs::File::options().append(true).open(&path) {
                let _ = file.set_modified(std::time::SystemTime::now());
            }
            return Ok(Initramfs {
                path,
                key,
                bytes: meta.len(),
                cached: true,
                in_use,
            });
        }
        let tmp = tempfile::NamedTempFile::new_in(&dir)
            .map_err(|e| EnvError::io(format!("creating a file in {}", dir.display()), e))?;
        {
            let out = BufWriter::with_capacity(1 << 20, tmp.as_file());
            match compression {
                Compression::None => self.write(out)?,
                Compression::Gzip => {
                    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
                    self.write(&mut gz)?;
                    gz.finish()
                        .map_err(|e| EnvError::io("compressing the initramfs", e))?;
                }
            }
        }
        std::fs::set_permissions(
            tmp.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .map_err(|e| {
            EnvError::io(
                format!("setting permissions of {}", tmp.path().display()),
                e,
            )
        })?;
        tmp.persist(&path)
            .map_err(|e| EnvError::io(format!("saving {}", path.display()), e.error))?;
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        prune(&dir, KEEP_ARCHIVES);
        Ok(Initramfs {
            path,
            key,
            bytes,
            cached: false,
            in_use,
        })
    }

    /// Writes the newc archive to `out`.
    pub fn write<W: Write>(&self, out: W) -> Result<(), EnvError> {
        let mut cpio = CpioWriter::new(out);
        let io = |e| EnvError::io("writing the initramfs", e);
        for dir in self.directories() {
            cpio.entry(&dir, 0o040755, 0, 0, &mut std::io::empty(), 0)
                .map_err(io)?;
        }
        for (name, (mode, source)) in &self.entries {
            match source {
                Source::File(path) => {
                    let file = std::fs::File::open(path)
                        .map_err(|e| EnvError::io(format!("reading {}", path.display()), e))?;
                    let size = file
                        .metadata()
                        .map_err(|e| EnvError::io(format!("reading {}", path.display()), e))?
                        .len();
                    cpio.entry(name, *mode, 0, 0, &mut std::io::BufReader::new(file), size)
                        .map_err(io)?;
                }
                Source::CharDev(major, minor) => {
                    cpio.entry(name, *mode, *major, *minor, &mut std::io::empty(), 0)
                        .map_err(io)?;
                }
            }
        }
        cpio.finish().map_err(io)
    }
}

/// How many archives the cache keeps (most recently used first); each
/// holds the agent and every asset (~90 MB), and every agent rebuild makes a new one.
pub const KEEP_ARCHIVES: usize = 4;

/// Removes all but the `keep` most recently used archives in `dir`, except
/// those a live isobench process holds (their lock taken shared).
fn prune(dir: &Path, keep: usize) {
    let mut archives: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".cpio"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    archives.sort_by_key(|a| std::cmp::Reverse(a.0));
    for (_, path) in archives.into_iter().skip(keep) {
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        let key = file.split('.').next().unwrap_or_default();
        let Some(held) = CacheLock::try_exclusive(&dir.join(format!("{key}.lock"))) else {
            continue;
        };
        let _ = std::fs::remove_file(&path);
        held.remove();
    }
}

/// A minimal writer of the "newc" cpio format (`070701` headers, 4-byte alignment).
pub struct CpioWriter<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
}

impl<W: Write> CpioWriter<W> {
    /// Starts an archive on `out`.
    pub fn new(out: W) -> Self {
        CpioWriter {
            out,
            written: 0,
            next_ino: 1,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> std::io::Result<()> {
        let pad = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0u8; 3][..pad])
    }

    fn header(
        &mut self,
        name: &str,
        mode: u32,
        rdev: (u32, u32),
        size: u64,
    ) -> std::io::Result<()> {
        let size = u32::try_from(size).map_err(|_| {
            std::io::Error::other(format!("{name}: newc cpio entries are limited to 4 GiB"))
        })?;
        let name = name.trim_start_matches('/');
        let ino = self.next_ino;
        self.next_ino += 1;
        let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
        let fields = [
            ino,
            mode,
            0,
            0,
            nlink,
            0,
            size,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        let mut header = String::with_capacity(110);
        header.push_str("070701");
        for field in fields {
            header.push_str(&format!("{field:08x}"));
        }
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()
    }

    /// Writes one entry; `data` must yield exactly `size` bytes.
    pub fn entry(
        &mut self,
        name: &str,
        mode: u32,
        major: u32,
        minor: u32,
        data: &mut dyn Read,
        size: u64,
    ) -> std::io::Result<()> {
        self.header(name, mode, (major, minor), size)?;
        let copied = std::io::copy(&mut data.take(size), &mut self.out)?;
        if copied != size {
            return Err(std::io::Error::other(format!(
                "{name}: file changed while archiving ({copied} of {size} bytes)"
            )));
        }
        self.written += copied;
        self.pad()
    }

    /// Writes the trailer and flushes.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.header("TRAILER!!!", 0, (0, 0), 0)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One parsed entry: (name, mode, rdev, data).
    type Entry = (String, u32, (u32, u32), Vec<u8>);

    /// Parses a newc archive back into entries for checks.
    fn parse(archive: &[u8]) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut pos = 0;
        let field = |pos: usize, i: usize| {
            u32::from_str_radix(
                std::str::from_utf8(&archive[pos + 6 + i * 8..pos + 14 + i * 8]).unwrap(),
                16,
            )
            .unwrap()
        };
        loop {
            assert_eq!(&archive[pos..pos + 6], b"070701");
            let (mode, size, rmaj, rmin, namesize) = (
                field(pos, 1),
                field(pos, 6),
                field(pos, 9),
                field(pos, 10),
                field(pos, 11),
            );
            let name = std::str::from_utf8(&archive[pos + 110..pos + 110 + namesize as usize - 1])
                .unwrap()
                .to_string();
            pos += 110 + namesize as usize;
            pos = pos.div_ceil(4) * 4;
            let data = archive[pos..pos + size as usize].to_vec();
            pos += size as usize;
            pos = pos.div_ceil(4) * 4;
            if name == "TRAILER!!!" {
                assert_eq!(pos, archive.len());
                return out;
            }
            out.push((name, mode, (rmaj, rmin), data));
        }
    }

    #[test]
    fn writes_a_newc_archive_with_parents_first() {
        let dir = tempfile::tempdir().unwrap();
        let assets = dir.path().join("assets");
        std::fs::create_dir_all(assets.join("data/deep")).unwrap();
        std::fs::write(assets.join("data/deep/x.bin"), b"12345").unwrap();
        std::fs::write(assets.join("MANIFEST.json"), b"{}").unwrap();
        let agent = dir.path().join("agent");
        std::fs::write(&agent, b"\x7fELF agent").unwrap();
        let module = dir.path().join("virtio.ko");
        std::fs::write(&module, b"ko").unwrap();
        let spec = InitramfsSpec::for_agent(&agent, &assets, &[module], &[]).unwrap();
        let mut archive = Vec::new();
        spec.write(&mut archive).unwrap();
        let entries = parse(&archive);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        let at = |n: &str| {
            names
                .iter()
                .position(|x| *x == n)
                .unwrap_or_else(|| panic!("{n} missing from {names:?}"))
        };
        assert!(
            at("assets") < at("assets/data")
                && at("assets/data/deep") < at("assets/data/deep/x.bin")
        );
        let init = &entries[at("init")];
        assert_eq!(
            (init.1, init.3.as_slice()),
            (0o100755, &b"\x7fELF agent"[..])
        );
        let console = &entries[at("dev/console")];
        assert_eq!((console.1, console.2), (0o020600, (5, 1)));
        assert_eq!(entries[at("assets/data/deep/x.bin")].3, b"12345");
        assert_eq!(entries[at("lib/modules/virtio.ko")].3, b"ko");
        assert!(names.contains(&"proc") && names.contains(&"sys"));
    }

    #[test]
    fn prunes_least_recently_used_archives() {
        let dir = tempfile::tempdir().unwrap();
        let base = std::time::SystemTime::now() - std::time::Duration::from_secs(100);
        for i in 0..6u64 {
            let path = dir.path().join(format!("{i}.cpio"));
            std::fs::write(&path, b"x").unwrap();
            let file = std::fs::File::options().append(true).open(&path).unwrap();
            file.set_modified(base + std::time::Duration::from_secs(i))
                .unwrap();
        }
        // The oldest is in use by another run: kept, though beyond `keep`.
        let in_use = CacheLock::shared(&dir.path().join("0.lock")).unwrap();
        prune(dir.path(), 4);
        drop(in_use);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["0.cpio", "0.lock", "2.cpio", "3.cpio", "4.cpio", "5.cpio"]
        );
    }

    #[test]
    fn caches_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let assets = dir.path().join("assets");
        std::fs::create_dir_all(&assets).unwrap();
        std::fs::write(assets.join("a"), b"one").unwrap();
        let agent = dir.path().join("agent");
        std::fs::write(&agent, b"agent").unwrap();
        let cache = dir.path().join("cache");
        let build = || {
            InitramfsSpec::for_agent(&agent, &assets, &[], &[])
                .unwrap()
                .build(&cache, Compression::Gzip)
                .unwrap()
        };
        let first = build();
        assert!(!first.cached && first.path.is_file());
        let second = build();
        assert!(second.cached);
        assert_eq!(first.key, second.key);
        std::fs::write(assets.join("a"), b"two").unwrap();
        let third = build();
        assert!(!third.cached);
        assert_ne!(third.key, first.key);
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&third.path).unwrap())
            .read_to_end(&mut plain)
            .unwrap();
        let entries = parse(&plain);
        assert!(entries.iter().any(|e| e.0 == "assets/a" && e.3 == b"two"));
    }
}
