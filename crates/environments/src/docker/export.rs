//! `--image NAME`: a Docker image of the local daemon as a directory tree,
//! through the Engine API (no CLI, no registry): a container is created from
//! the image without starting it, its file system is exported as a tar
//! stream and unpacked (modes, owners, links, device nodes kept) into
//! `<cache>/user-roots/image-<first 16 hex of the image id>/`, and the
//! container is removed. Once per image id: a later call finds the export
//! (a marker file says it is complete; a [`CacheLock`] keeps concurrent
//! isobench processes from building it twice or pruning it while in use).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::CreateContainerOptionsBuilder;
use bytes::Bytes;
use futures_util::StreamExt;

use super::connection::{connect, is_not_found, Connection, Endpoint};
use super::image::LABEL;
use crate::cache_lock::CacheLock;
use crate::user_root::{self, IMAGE_PREFIX};
use crate::{EnvError, EnvKind};

/// Middle part of the name of an export's temporary container
/// (`isobench-<pid>-export-<id>`): `isobench clean` removes those of dead
/// processes.
pub const EXPORT_MARK: &str = "-export-";

/// The one-line error for an image the daemon does not have.
pub fn not_in_daemon(name: &str) -> EnvError {
    EnvError::Input(format!(
        "--image {name} is not in the local Docker daemon (docker images lists what is); build or load it first: no registry is reachable here"
    ))
}

/// The cache directory name of the export of image `id` (`sha256:...`).
pub fn export_name(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    format!("{IMAGE_PREFIX}{}", &hex[..hex.len().min(16)])
}

/// Exports the daemon's image `name` into
/// `<cache_dir>/user-roots/image-<first 16 hex of its id>/` unless that is
/// done already, and returns the directory. A dead daemon is the docker
/// backend's "dockerd not running" error; an image the daemon lacks is
/// [`not_in_daemon`].
pub fn export_image(cache_dir: &Path, name: &str) -> Result<PathBuf, EnvError> {
    export_image_held(cache_dir, name).map(|(dir, _)| dir)
}

/// [`export_image`], also returning the shared hold on the export that keeps
/// other isobench processes from pruning it while the caller reads it.
pub fn export_image_held(cache_dir: &Path, name: &str) -> Result<(PathBuf, CacheLock), EnvError> {
    let conn = connect(EnvKind::Docker, &Endpoint::from_options(None))?;
    let inspect = match conn.block_on(conn.client.inspect_image(name)) {
        Ok(inspect) => inspect,
        Err(e) if is_not_found(&e) => return Err(not_in_daemon(name)),
        Err(e) => return Err(conn.engine.err(&format!("inspecting image {name}"), e)),
    };
    let id = inspect.id.ok_or_else(|| {
        conn.engine
            .error(format!("image {name} has no id in the daemon's answer"))
    })?;
    let base = cache_dir.join("user-roots");
    std::fs::create_dir_all(&base)
        .map_err(|e| EnvError::io(format!("creating {}", base.display()), e))?;
    let base = base
        .canonicalize()
        .map_err(|e| EnvError::io(format!("resolving {}", base.display()), e))?;
    let dir_name = export_name(&id);
    let dir = base.join(&dir_name);
    let marker = base.join(format!("{dir_name}.complete"));
    let lock = CacheLock::shared(&base.join(format!("{dir_name}.lock")))?;
    lock.mark_used();
    if dir.is_dir() && marker.is_file() {
        return Ok((dir, lock));
    }
    lock.make_exclusive()?;
    if dir.is_dir() && marker.is_file() {
        lock.make_shared()?;
        return Ok((dir, lock));
    }
    let tmp = base.join(format!(".{dir_name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let built = export_into(&conn, name, &id, &tmp).and_then(|()| {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| {
                EnvError::io(
                    format!("removing the incomplete export {}", dir.display()),
                    e,
                )
            })?;
        }
        std::fs::rename(&tmp, &dir)
            .map_err(|e| EnvError::io(format!("moving the export into {}", dir.display()), e))?;
        std::fs::write(&marker, &id)
            .map_err(|e| EnvError::io(format!("writing {}", marker.display()), e))
    });
    if built.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    built?;
    lock.make_shared()?;
    user_root::prune(&base, IMAGE_PREFIX, &dir_name);
    Ok((dir, lock))
}

/// The temporary container of one export: removed on drop.
struct ExportContainer<'a> {
    conn: &'a Connection,
    name: String,
}

impl Drop for ExportContainer<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.conn.remove_container(&self.name) {
            tracing::warn!("removing the export container {}: {e}", self.name);
        }
    }
}

/// Creates a container of `image` (never started), streams its file
/// system into `dest` and removes it.
fn export_into(conn: &Connection, image: &str, id: &str, dest: &Path) -> Result<(), EnvError> {
    let name = format!(
        "{}{}{EXPORT_MARK}{}",
        crate::run_id::PREFIX,
        std::process::id(),
        &export_name(id)[IMAGE_PREFIX.len()..]
    );
    // A crashed export of this process' predecessor with the same pid.
    conn.remove_container(&name)?;
    let body = ContainerCreateBody {
        image: Some(id.to_string()),
        // Never run: a command only so images without one can be created.
        cmd: Some(vec!["/isobench-export".into()]),
        labels: Some(HashMap::from([(LABEL.to_string(), "1".to_string())])),
        network_disabled: Some(true),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    let container = ExportContainer { conn, name };
    conn.block_on(conn.client.create_container(Some(options), body))
        .map_err(|e| {
            conn.engine
                .err(&format!("creating a container of {image} to export it"), e)
        })?;
    std::fs::create_dir_all(dest)
        .map_err(|e| EnvError::io(format!("creating {}", dest.display()), e))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(16);
    let client = conn.client.clone();
    let exported = container.name.clone();
    let pump = conn.rt.spawn(async move {
        let mut stream = client.export_container(&exported);
        while let Some(item) = stream.next().await {
            let failed = item.is_err();
            if tx.send(item.map_err(|e| e.to_string())).await.is_err() || failed {
                break;
            }
        }
    });
    let unpacked = unpack(
        ChannelReader {
            rx,
            current: Bytes::new(),
        },
        dest,
    )
    .map_err(|e| {
        EnvError::io(
            format!(
                "unpacking the file system of image {image} into {}",
                dest.display()
            ),
            e,
        )
    });
    // The reader is gone: the pump ends at its next send.
    let _ = conn.block_on(pump);
    unpacked?;
    drop(container);
    Ok(())
}

/// The blocking side of the export stream.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(e)) => {
                    return Err(std::io::Error::other(format!(
                        "the export stream failed: {e}"
                    )))
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Unpacks a tar stream into `dest` keeping modes, owners, times, links
/// and (which the `tar` crate writes as plain files) device nodes and FIFOs.
pub fn unpack(source: impl Read, dest: &Path) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(source);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(nix::unistd::geteuid().is_root());
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            make_node(&entry, dest)?;
        } else {
            // `false`: a path leaving `dest` (`..`), skipped.
            entry.unpack_in(dest)?;
        }
    }
    Ok(())
}

/// Creates the device node or FIFO of `entry` below `dest`.
fn make_node<R: Read>(entry: &tar::Entry<'_, R>, dest: &Path) -> std::io::Result<()> {
    let path = entry.path()?;
    let mut relative = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => relative.push(p),
            Component::CurDir | Component::RootDir => {}
            // Leaves `dest`: skipped, as `unpack_in` does.
            Component::ParentDir | Component::Prefix(_) => return Ok(()),
        }
    }
    let target = dest.join(&relative);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let _ = std::fs::remove_file(&target);
    let header = entry.header();
    let kind = header.entry_type();
    let mode = header.mode()? & 0o7777;
    let file_type = if kind.is_character_special() {
        libc::S_IFCHR
    } else if kind.is_block_special() {
        libc::S_IFBLK
    } else {
        libc::S_IFIFO
    };
    // Archivers leave the device fields of FIFOs empty: 0 then.
    let dev = libc::makedev(
        header.device_major().ok().flatten().unwrap_or(0),
        header.device_minor().ok().flatten().unwrap_or(0),
    );
    let c_path = std::ffi::CString::new(target.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::other(format!("{} holds a NUL byte", target.display())))?;
    // SAFETY: mknod(2) on a NUL-terminated path this function owns.
    if unsafe { libc::mknod(c_path.as_ptr(), file_type | mode, dev) } != 0 {
        let error = std::io::Error::last_os_error();
        // Without CAP_MKNOD (not root) only FIFOs can be made: a device
        // node of the image is left out, as the runtimes recreate /dev.
        if kind.is_fifo() || nix::unistd::geteuid().is_root() {
            return Err(std::io::Error::other(format!(
                "creating {}: {error}",
                target.display()
            )));
        }
        return Ok(());
    }
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::lchown(
            &target,
            Some(header.uid()? as u32),
            Some(header.gid()? as u32),
        )?;
    }
    // mknod applies the umask: set the mode exactly.
    std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_000_000);
        h
    }

    #[test]
    fn unpacks_files_modes_links_and_fifos() {
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_data(
                &mut header(tar::EntryType::Directory, 0, 0o755),
                "usr/bin/",
                std::io::empty(),
            )
            .unwrap();
        builder
            .append_data(
                &mut header(tar::EntryType::Regular, 5, 0o750),
                "usr/bin/tool",
                &b"hello"[..],
            )
            .unwrap();
        let mut link = header(tar::EntryType::Symlink, 0, 0o777);
        builder.append_link(&mut link, "bin", "usr/bin").unwrap();
        let mut abs = header(tar::EntryType::Symlink, 0, 0o777);
        builder
            .append_link(&mut abs, "etc/localtime", "/usr/share/zoneinfo/UTC")
            .unwrap();
        builder
            .append_data(
                &mut header(tar::EntryType::Fifo, 0, 0o600),
                "run/pipe",
                std::io::empty(),
            )
            .unwrap();
        builder
            .append_data(
                &mut header(tar::EntryType::Regular, 1, 0o644),
                "../escape",
                &b"x"[..],
            )
            .ok();
        let archive = builder.into_inner().unwrap();
        let dest = tempfile::tempdir().unwrap();
        // The same bytes through the channel reader, in small chunks.
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let feeder = std::thread::spawn(move || {
            for chunk in archive.chunks(700) {
                tx.blocking_send(Ok(Bytes::copy_from_slice(chunk))).unwrap();
            }
        });
        unpack(
            ChannelReader {
                rx,
                current: Bytes::new(),
            },
            dest.path(),
        )
        .unwrap();
        feeder.join().unwrap();
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let tool = dest.path().join("usr/bin/tool");
        assert_eq!(std::fs::read(&tool).unwrap(), b"hello");
        assert_eq!(
            std::fs::metadata(&tool).unwrap().permissions().mode() & 0o7777,
            0o750
        );
        assert_eq!(
            std::fs::read_link(dest.path().join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        assert_eq!(
            std::fs::read_link(dest.path().join("etc/localtime")).unwrap(),
            Path::new("/usr/share/zoneinfo/UTC")
        );
        let pipe = std::fs::symlink_metadata(dest.path().join("run/pipe")).unwrap();
        assert!(pipe.file_type().is_fifo());
        assert!(!dest.path().parent().unwrap().join("escape").exists());
    }

    #[test]
    fn a_failed_stream_is_an_error() {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.blocking_send(Err("connection reset".to_string()))
            .unwrap();
        drop(tx);
        let dest = tempfile::tempdir().unwrap();
        let err = unpack(
            ChannelReader {
                rx,
                current: Bytes::new(),
            },
            dest.path(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("connection reset"), "{err}");
    }

    #[test]
    fn names_and_errors() {
        assert_eq!(
            export_name("sha256:0123456789abcdef0123456789abcdef"),
            "image-0123456789abcdef"
        );
        let text = not_in_daemon("myapp:1").to_string();
        assert_eq!(
            text,
            "--image myapp:1 is not in the local Docker daemon (docker images lists what is); build or load it first: no registry is reachable here"
        );
    }

    #[test]
    fn a_dead_daemon_is_the_backends_error() {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = Endpoint::Unix(dir.path().join("no-docker.sock").display().to_string());
        let text = connect(EnvKind::Docker, &endpoint)
            .err()
            .unwrap()
            .to_string();
        assert!(
            text.contains("not running") || text.contains("not installed"),
            "{text}"
        );
    }
}
