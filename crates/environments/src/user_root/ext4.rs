//! A prepared tree as an ext4 file system image: a VM's read-only root
//! drive, built next to the tree once with `mkfs.ext4 -d` (no mounting, no
//! root needed).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::io;
use crate::payload::UserRootRef;
use crate::EnvError;

/// A tree as an ext4 file system image (a VM's root drive).
#[derive(Debug, Clone, PartialEq)]
pub struct Ext4Image {
    /// The image file, next to the tree (`tree-<digest>.ext4`).
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// True when it was already built.
    pub cached: bool,
}

/// Blocks (4 KiB) and inodes a tree needs in an ext4 file system.
fn measure(root: &Path) -> Result<(u64, u64), EnvError> {
    let (mut blocks, mut inodes) = (1u64, 1u64);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries = 0u64;
        for entry in std::fs::read_dir(&dir).map_err(io(format!("reading {}", dir.display())))? {
            let entry = entry.map_err(io(format!("reading {}", dir.display())))?;
            let meta = std::fs::symlink_metadata(entry.path())
                .map_err(io(format!("reading {}", entry.path().display())))?;
            entries += 1 + entry.file_name().len() as u64 / 8;
            inodes += 1;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                // Data blocks plus extent tree blocks for large files.
                let data = meta.len().div_ceil(4096);
                blocks += data + data / 32768;
            } else if meta.file_type().is_symlink() && meta.len() > 59 {
                blocks += 1;
            }
        }
        // Directory blocks: ~16-byte entries on average.
        blocks += (entries * 16).div_ceil(4096).max(1);
    }
    Ok((blocks, inodes))
}

/// A program's stderr on one line, for an error message.
fn one_line(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The tree as an ext4 image (a VM's read-only root drive), built next to it
/// once with `mkfs.ext4 -d` (no mounting, no root needed); later calls find it.
pub fn ext4_image(root: &UserRootRef) -> Result<Ext4Image, EnvError> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static BUILD: AtomicU32 = AtomicU32::new(0);
    let name = root
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let image = root.dir.with_file_name(format!("{name}.ext4"));
    let done = root.dir.with_file_name(format!("{name}.ext4.complete"));
    let size = |path: &Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if image.is_file() && std::fs::read_to_string(&done).is_ok_and(|d| d == root.digest) {
        return Ok(Ext4Image {
            bytes: size(&image),
            path: image,
            cached: true,
        });
    }
    if !root.dir.is_dir() {
        return Err(EnvError::MissingFile {
            what: "prepared root filesystem".into(),
            path: root.dir.clone(),
            fix: "prepare it with user_root::ensure (and keep the returned UserRoot while it is used)".into(),
        });
    }
    let (blocks, inodes) = measure(&root.dir)?;
    let inodes = inodes + inodes / 4 + 1024;
    // Data and directory blocks, inode tables (256 bytes each), and slack
    // for bitmaps, group descriptors and the allocator's rounding.
    let needed = blocks * 4096 + inodes * 256;
    let size_kib = (needed + needed / 8) / 1024 + 32 * 1024;
    let tmp = root.dir.with_file_name(format!(
        "{name}.ext4.tmp-{}-{}",
        std::process::id(),
        BUILD.fetch_add(1, Ordering::Relaxed)
    ));
    let out = Command::new("mkfs.ext4")
        .args([
            "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-m", "0",
        ])
        .args(["-O", "^has_journal,^resize_inode", "-L", "isobench"])
        .args(["-E", "root_owner=0:0", "-N"])
        .arg(inodes.to_string())
        .arg("-d")
        .arg(&root.dir)
        .arg(&tmp)
        .arg(format!("{size_kib}k"))
        .output()
        .map_err(|e| EnvError::Command {
            program: "mkfs.ext4".into(),
            message: format!(
                "cannot start it ({e}); it builds the VMs' root drive: apt-get install e2fsprogs"
            ),
        })?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(EnvError::Command {
            program: "mkfs.ext4".into(),
            message: format!(
                "building the root drive of {} ({} KiB, {inodes} inodes): {}; check the space free in {} (e2fsprogs 1.43 or newer is needed for -d)",
                root.dir.display(),
                size_kib,
                one_line(&out.stderr),
                root.dir.parent().unwrap_or(Path::new("/")).display()
            ),
        });
    }
    std::fs::rename(&tmp, &image).map_err(io(format!("moving {}", image.display())))?;
    std::fs::write(&done, &root.digest).map_err(io(format!("writing {}", done.display())))?;
    Ok(Ext4Image {
        bytes: size(&image),
        path: image,
        cached: false,
    })
}

#[cfg(test)]
mod tests {
    use super::super::ensure;
    use super::super::tests::{spec_of, tree};
    use super::*;

    fn tool(name: &str) -> bool {
        ["/sbin", "/usr/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(name).is_file())
    }

    #[test]
    fn the_ext4_image_holds_the_tree_and_is_built_once() {
        if !tool("mkfs.ext4") || !tool("debugfs") {
            isobench_testkit::skip!("no mkfs.ext4 / debugfs (apt-get install e2fsprogs)");
        }
        let t = tree();
        std::fs::write(t.path().join("app/big.bin"), vec![7u8; 3 << 20]).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let agent = cache.path().join("agent");
        std::fs::write(&agent, b"\x7fELF agent").unwrap();
        let root = ensure(cache.path(), &spec_of(t.path(), &agent, vec![])).unwrap();
        let image = ext4_image(&root.reference()).unwrap();
        assert!(!image.cached && image.bytes > 3 << 20);
        assert_eq!(
            image.path,
            root.dir.with_file_name(format!(
                "{}.ext4",
                root.dir.file_name().unwrap().to_string_lossy()
            ))
        );
        let debugfs = |request: &str| {
            let out = Command::new("debugfs")
                .args(["-R", request])
                .arg(&image.path)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert_eq!(debugfs("cat /app/infer.py"), "print(1)\n");
        assert_eq!(debugfs("cat /isobench-agent"), "\x7fELF agent");
        assert!(debugfs("stat /isobench-agent").contains("Mode:  0755"));
        assert!(debugfs("stat /usr/bin/python3").contains("Type: symlink"));
        assert!(debugfs("ls /").contains("proc"));
        let again = ext4_image(&root.reference()).unwrap();
        assert!(again.cached);
        assert_eq!(again.path, image.path);

        let bad = UserRootRef {
            dir: cache.path().join("user-roots/tree-missing"),
            digest: "0".repeat(64),
            bytes: 0,
        };
        let err = ext4_image(&bad).unwrap_err().to_string();
        assert!(err.contains("tree-missing"), "{err}");
    }
}
