//! Reading and writing a user's tree: its content digest, finding a
//! program in it, resolving paths the way its own root would, and copying
//! into it.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

use super::io;
use crate::EnvError;

/// Hashes a tree into `hasher`: every entry's relative path, kind, mode,
/// owner and (for files) contents, (for links) target, (for device nodes)
/// device number, in a fixed order. Returns the total size of its regular files.
pub fn tree_digest(root: &Path, hasher: &mut Sha256) -> Result<u64, EnvError> {
    let mut bytes = 0u64;
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        let path = root.join(&relative);
        let mut entries: Vec<_> = std::fs::read_dir(&path)
            .map_err(io(format!("reading {}", path.display())))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        entries.sort();
        for name in entries.into_iter().rev() {
            let rel = relative.join(&name);
            let full = root.join(&rel);
            let meta = std::fs::symlink_metadata(&full)
                .map_err(io(format!("reading {}", full.display())))?;
            hasher.update(rel.as_os_str().as_encoded_bytes());
            hasher.update([0]);
            hasher.update(meta.mode().to_le_bytes());
            hasher.update(meta.uid().to_le_bytes());
            hasher.update(meta.gid().to_le_bytes());
            {
                use std::os::unix::fs::FileTypeExt;
                let kind = meta.file_type();
                if kind.is_char_device() || kind.is_block_device() {
                    hasher.update(meta.rdev().to_le_bytes());
                }
            }
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&full)
                    .map_err(io(format!("reading the link {}", full.display())))?;
                hasher.update(target.as_os_str().as_encoded_bytes());
            } else if meta.is_dir() {
                stack.push(rel);
            } else if meta.is_file() {
                bytes += meta.len();
                let mut file = std::fs::File::open(&full)
                    .map_err(io(format!("reading {}", full.display())))?;
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = file
                        .read(&mut buf)
                        .map_err(io(format!("reading {}", full.display())))?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                }
            }
            hasher.update([0xff]);
        }
    }
    Ok(bytes)
}

/// Checks that the program exists in the tree (and its `#!` interpreter,
/// for a script), so a run fails before any environment starts.
pub fn check_program(tree: &Path, program: &str, workdir: Option<&str>) -> Result<(), EnvError> {
    const PATH: [&str; 6] = [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ];
    let inside = |p: &Path| tree.join(p.strip_prefix("/").unwrap_or(p));
    let candidates: Vec<PathBuf> = if program.contains('/') {
        let base = Path::new(workdir.unwrap_or("/"));
        vec![base.join(program)]
    } else {
        PATH.iter().map(|d| Path::new(d).join(program)).collect()
    };
    let found = candidates.iter().find(|c| {
        // Follow links within the tree (an absolute link target is the tree's, not the host's).
        resolve_in_tree(tree, c).is_some_and(|p| p.is_file())
    });
    let Some(found) = found else {
        return Err(EnvError::MissingFile {
            what: format!("program `{program}`"),
            path: if program.contains('/') {
                inside(&candidates[0])
            } else {
                tree.to_path_buf()
            },
            fix: format!(
                "the root filesystem {} has no `{program}`{}; install it in the tree or give its path inside the tree",
                tree.display(),
                if program.contains('/') {
                    String::new()
                } else {
                    format!(" on PATH ({})", PATH.join(":"))
                }
            ),
        });
    };
    let real = resolve_in_tree(tree, found).expect("found above");
    let mut head = [0u8; 256];
    let n = std::fs::File::open(&real)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    if head[..n].starts_with(b"#!") {
        let line = String::from_utf8_lossy(&head[2..n]);
        let interpreter = line.lines().next().unwrap_or("").split_whitespace().next();
        if let Some(interpreter) = interpreter {
            if resolve_in_tree(tree, Path::new(interpreter)).is_none_or(|p| !p.is_file()) {
                return Err(EnvError::MissingFile {
                    what: format!("interpreter `{interpreter}` of `{program}`"),
                    path: inside(Path::new(interpreter)),
                    fix: format!(
                        "the root filesystem {} lacks the interpreter the script names; install it in the tree",
                        tree.display()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// `path` (absolute, as seen inside the tree) on the host, following
/// symbolic links the way the tree's root would (an absolute link target is
/// the tree's, not the host's); `None` when it does not exist.
fn resolve_in_tree(tree: &Path, path: &Path) -> Option<PathBuf> {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    let parts = |p: &Path| -> VecDeque<OsString> {
        p.components()
            .filter_map(|c| match c {
                std::path::Component::Normal(n) => Some(n.to_os_string()),
                std::path::Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect()
    };
    let mut pending = parts(path);
    let mut resolved: Vec<OsString> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = tree.join(resolved.iter().collect::<PathBuf>()).join(&part);
        let meta = std::fs::symlink_metadata(&candidate).ok()?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = std::fs::read_link(&candidate).ok()?;
            if target.is_absolute() {
                resolved.clear();
            }
            let mut next = parts(&target);
            next.extend(pending.drain(..));
            pending = next;
        } else {
            resolved.push(part);
        }
    }
    Some(tree.join(resolved.iter().collect::<PathBuf>()))
}

/// Copies `from` (a file or a directory's contents) to `to` with `cp -a`
/// (no shell; `--reflink=auto` shares blocks where the file system can).
pub(super) fn copy(from: &Path, to: &Path) -> Result<(), EnvError> {
    let source = if from.is_dir() {
        let mut s = from.as_os_str().to_owned();
        s.push("/.");
        PathBuf::from(s)
    } else {
        from.to_path_buf()
    };
    if from.is_dir() {
        std::fs::create_dir_all(to).map_err(io(format!("creating {}", to.display())))?;
    } else if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    }
    let out = Command::new("cp")
        .args(["-a", "--reflink=auto"])
        .arg(&source)
        .arg(to)
        .output()
        .map_err(io("running cp"))?;
    if !out.status.success() {
        return Err(EnvError::Command {
            program: "cp".into(),
            message: format!(
                "copying {} to {}: {}",
                from.display(),
                to.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}

/// Where `guest` (absolute, inside the tree) lies on the host: its parent
/// resolved the way the tree's root would resolve it (so a link such as
/// `/lib64 -> /usr/lib64` leads into the tree, never out to the host's),
/// the missing directories below it appended. What the (staged copy of
/// the) tree already has at `guest` is removed first: a mount replaces it,
/// as `docker run -v` does, and the copy stays part of the tree's digest.
pub(super) fn place_in_tree(tree: &Path, guest: &Path) -> Result<PathBuf, EnvError> {
    let parts: Vec<&std::ffi::OsStr> = guest
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let (file, parents) = parts.split_last().ok_or_else(|| {
        EnvError::Input(format!(
            "--mount target {} names the root itself; give a path below /",
            guest.display()
        ))
    })?;
    let prefix =
        |n: usize| -> PathBuf { Path::new("/").join(parents[..n].iter().collect::<PathBuf>()) };
    let mut existing = parents.len();
    let base = loop {
        if let Some(found) = resolve_in_tree(tree, &prefix(existing)) {
            break found;
        }
        // `/` always resolves, so this ends.
        existing -= 1;
    };
    let target = base
        .join(parents[existing..].iter().collect::<PathBuf>())
        .join(file);
    if let Ok(meta) = std::fs::symlink_metadata(&target) {
        // `target` lies in the staging copy (its parent resolved inside the
        // tree; a link at `target` itself is removed, never followed).
        let removed = if meta.is_dir() {
            std::fs::remove_dir_all(&target)
        } else {
            std::fs::remove_file(&target)
        };
        removed.map_err(io(format!(
            "--mount onto {}: removing what the tree had there",
            guest.display()
        )))?;
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::super::tests::tree;
    use super::*;

    #[test]
    fn programs_and_interpreters_are_found_inside_the_tree() {
        let t = tree();
        check_program(t.path(), "python3", None).unwrap();
        check_program(t.path(), "/bin/python3", None).unwrap();
        check_program(t.path(), "app/infer.py", Some("/")).unwrap();
        let err = check_program(t.path(), "perl", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("program `perl`") && err.contains("on PATH"),
            "{err}"
        );
        let err = check_program(t.path(), "/app/run.sh", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("interpreter `/bin/bash`"), "{err}");
    }
}
