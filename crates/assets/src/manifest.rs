//! `assets/MANIFEST.json`: the sha256 of every file in the assets directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component as PathComponent, Path};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fsutil::{sha256_file, write_atomic};
use crate::AssetsError;

/// File name of the manifest inside the assets directory.
pub const MANIFEST_FILE: &str = "MANIFEST.json";

/// The content of `assets/MANIFEST.json`: `{"files": {"models/yolov8-fall.onnx": "<sha256>", ...}}`,
/// paths relative to the assets directory, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Relative path -> lower-case hex sha256.
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    /// Reads `DIR/MANIFEST.json`; a missing file gives an empty manifest.
    pub fn load(assets_dir: &Path) -> Result<Manifest, AssetsError> {
        let path = assets_dir.join(MANIFEST_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| AssetsError::BadManifest { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(AssetsError::Io {
                action: "cannot read",
                path,
                source: e,
            }),
        }
    }

    /// Writes `DIR/MANIFEST.json` atomically (pretty JSON, trailing newline).
    pub fn save(&self, assets_dir: &Path) -> Result<(), AssetsError> {
        let mut text = serde_json::to_string_pretty(self).expect("a manifest always serializes");
        text.push('\n');
        let path = assets_dir.join(MANIFEST_FILE);
        write_atomic(&path, text.as_bytes(), 0o644, None, MANIFEST_FILE)?;
        Ok(())
    }

    /// One digest for the whole assets directory: sha256 over the lines
    /// `"<sha256>  <path>\n"` (the `sha256sum` format) of every entry, sorted by path.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for (path, sha) in &self.files {
            h.update(sha.as_bytes());
            h.update(b"  ");
            h.update(path.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }
}

/// The digest of an assets directory's manifest ([`Manifest::digest`]): identifies
/// the exact set of models, images and data a run used.
pub fn assets_sha256(assets_dir: &Path) -> Result<String, AssetsError> {
    Ok(Manifest::load(assets_dir)?.digest())
}

/// Checks that `rel` is a plain relative path (no `..`, not absolute, not the manifest).
pub(crate) fn check_relative(rel: &str) -> Result<(), AssetsError> {
    let p = Path::new(rel);
    let ok = !rel.is_empty()
        && rel != MANIFEST_FILE
        && p.components()
            .all(|c| matches!(c, PathComponent::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(AssetsError::BadRelativePath {
            path: rel.to_string(),
        })
    }
}

/// Hashes `DIR/rel` and adds (or updates) its entry in `DIR/MANIFEST.json`, for files
/// written after setup (e.g. `models/mlp-digits.json` from `isobench-agent train-mlp`).
/// Returns the file's sha256. Setup keeps such entries when it rewrites the manifest.
pub fn record_file(assets_dir: &Path, rel: &str) -> Result<String, AssetsError> {
    check_relative(rel)?;
    let sha = sha256_file(&assets_dir.join(rel))?;
    let mut m = Manifest::load(assets_dir)?;
    m.files.insert(rel.to_string(), sha.clone());
    m.save(assets_dir)?;
    Ok(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256sum_of_sorted_lines() {
        let mut m = Manifest::default();
        m.files.insert("b".into(), "22".into());
        m.files.insert("a".into(), "11".into());
        let expected = hex::encode(Sha256::digest(b"11  a\n22  b\n"));
        assert_eq!(m.digest(), expected);
    }

    #[test]
    fn record_file_adds_and_keeps_entries() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Manifest::default();
        m.files.insert("images/x.jpg".into(), "ab".repeat(32));
        m.save(dir.path()).unwrap();
        fs::create_dir(dir.path().join("models")).unwrap();
        fs::write(dir.path().join("models/mlp-digits.json"), b"{}").unwrap();
        let sha = record_file(dir.path(), "models/mlp-digits.json").unwrap();
        assert_eq!(sha, hex::encode(Sha256::digest(b"{}")));
        let back = Manifest::load(dir.path()).unwrap();
        assert_eq!(back.files.len(), 2);
        assert_eq!(back.files["models/mlp-digits.json"], sha);
        assert_eq!(back.files["images/x.jpg"], "ab".repeat(32));
    }

    #[test]
    fn record_file_rejects_escaping_paths() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../x", "/etc/passwd", "", "MANIFEST.json", "a/../../b"] {
            assert!(
                matches!(
                    record_file(dir.path(), bad),
                    Err(AssetsError::BadRelativePath { .. })
                ),
                "{bad} accepted"
            );
        }
    }
}
