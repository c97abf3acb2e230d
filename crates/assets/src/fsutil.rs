//! File helpers: hashing, atomic writes, private directories.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::AssetsError;

/// Lower-case hex sha256 of a file's content.
pub fn sha256_file(path: &Path) -> Result<String, AssetsError> {
    let mut f = fs::File::open(path).map_err(AssetsError::io("cannot open", path))?;
    let mut hasher = Sha256::new();
    io::copy(&mut f, &mut hasher).map_err(AssetsError::io("cannot read", path))?;
    Ok(hex::encode(hasher.finalize()))
}

/// A writer that hashes and counts what goes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Copies `reader` into `dest` atomically (temporary file in the same directory, then
/// rename), with the given mode, after checking the content's sha256 against `expected`
/// when given. On a mismatch nothing is left behind. Returns (size, sha256).
pub fn write_atomic(
    dest: &Path,
    mut reader: impl Read,
    mode: u32,
    expected: Option<&str>,
    name: &str,
) -> Result<(u64, String), AssetsError> {
    let dir = dest.parent().expect("destination has a parent directory");
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(AssetsError::io("cannot create a temporary file in", dir))?;
    let (len, hasher) = {
        let mut w = HashingWriter {
            inner: io::BufWriter::new(tmp.as_file()),
            hasher: Sha256::new(),
            len: 0,
        };
        io::copy(&mut reader, &mut w).map_err(AssetsError::io("cannot write", dest))?;
        w.flush().map_err(AssetsError::io("cannot write", dest))?;
        (w.len, w.hasher)
    };
    let actual = hex::encode(hasher.finalize());
    if let Some(expected) = expected {
        if expected != actual {
            // `tmp` is deleted on drop.
            return Err(AssetsError::ChecksumMismatch {
                name: name.to_string(),
                expected: expected.to_string(),
                actual,
            });
        }
    }
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(AssetsError::io("cannot set permissions of", dest))?;
    tmp.as_file()
        .sync_all()
        .map_err(AssetsError::io("cannot sync", dest))?;
    tmp.persist(dest).map_err(|e| AssetsError::Io {
        action: "cannot rename into",
        path: dest.to_path_buf(),
        source: e.error,
    })?;
    Ok((len, actual))
}

/// Fails when `dir` is writable by every user.
pub fn check_not_world_writable(dir: &Path) -> Result<(), AssetsError> {
    let meta = fs::metadata(dir).map_err(AssetsError::io("cannot stat", dir))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Err(AssetsError::WorldWritable {
            path: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Creates `dir` (and its parents) with mode 0755 if missing, then checks that it is
/// not world-writable.
pub fn private_dir(dir: &Path) -> Result<(), AssetsError> {
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(AssetsError::io("cannot create directory", dir))?;
    }
    check_not_world_writable(dir)
}
