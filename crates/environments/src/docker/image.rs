//! The agent image: `FROM scratch` with the static agent at
//! [`AGENT_INSIDE`] and the assets at
//! [`ASSETS_INSIDE`](crate::containers::ASSETS_INSIDE), built by the daemon's
//! legacy builder from a tar build context made in memory (no registry, no
//! BuildKit on these machines), once per payload (`ensure`); the daemon
//! keeps the [`KEEP_IMAGES`] most recently used ones (`prune`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, ListImagesOptionsBuilder,
    RemoveImageOptionsBuilder,
};
use bytes::Bytes;
use futures_util::StreamExt;

use super::connection::{is_not_found, Connection};
use super::engine::short_tag;
use crate::cache_lock::CacheLock;
use crate::containers::{PayloadFiles, AGENT_INSIDE};
use crate::{EnvError, UserRootRef};

/// How many isobench images the daemon keeps (most recently used first);
/// each holds the agent and every asset (~90 MB), and every agent rebuild
/// makes a new one. One in use by a live isobench process (its lock under
/// `<cache>/docker-images/` held), or by any container, is never removed.
pub const KEEP_IMAGES: usize = 4;

/// Repository part of every isobench agent image tag.
pub const IMAGE_REPO: &str = "isobench-agent";

/// Repository part of the tag of a user's root filesystem imported as an
/// image (`--workload command`): `isobench-cmd:<first 16 hex of its digest>`.
pub const COMMAND_REPO: &str = "isobench-cmd";

/// Label put on every isobench image (and container), for `isobench clean`.
pub const LABEL: &str = "org.isobench";

/// The tag of the image holding exactly these files.
pub fn image_tag(files: &PayloadFiles) -> String {
    format!("{IMAGE_REPO}:{}", files.short_digest())
}

/// The tag of the image of a user's prepared root filesystem.
pub fn command_image_tag(root: &UserRootRef) -> String {
    format!(
        "{COMMAND_REPO}:{}",
        &root.digest[..16.min(root.digest.len())]
    )
}

/// The instructions applied to an imported tree (`docker import -c`): the
/// isobench label (pruning, `isobench clean`), the tree's digest and the
/// agent as entry point.
pub fn import_changes(root: &UserRootRef) -> Vec<String> {
    vec![
        format!("LABEL {LABEL}=1 {LABEL}.tree={}", root.digest),
        format!("ENTRYPOINT [\"{AGENT_INSIDE}\"]"),
    ]
}

/// The Dockerfile of the build context: everything under `rootfs/` is the
/// image's root.
pub fn dockerfile(files: &PayloadFiles) -> String {
    format!(
        "FROM scratch\nCOPY rootfs/ /\nLABEL {LABEL}=\"1\" {LABEL}.payload=\"{}\"\nENTRYPOINT [\"{AGENT_INSIDE}\"]\n",
        files.digest
    )
}

fn header(size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    // Fixed times: the same payload gives the same context bytes.
    h.set_mtime(0);
    h
}

/// Builds the build context (a tar archive) in memory.
pub fn build_context(files: &PayloadFiles) -> Result<Vec<u8>, EnvError> {
    let io = |what: &str, e: std::io::Error| {
        EnvError::io(format!("building the docker build context ({what})"), e)
    };
    let mut builder =
        tar::Builder::new(Vec::with_capacity(files.total_bytes() as usize + (1 << 20)));
    let dockerfile = dockerfile(files);
    let mut h = header(dockerfile.len() as u64, 0o644, tar::EntryType::Regular);
    builder
        .append_data(&mut h, "Dockerfile", dockerfile.as_bytes())
        .map_err(|e| io("Dockerfile", e))?;
    let mut h = header(0, 0o755, tar::EntryType::Directory);
    builder
        .append_data(&mut h, "rootfs/", std::io::empty())
        .map_err(|e| io("rootfs/", e))?;
    for dir in &files.dirs {
        let name = format!("rootfs/{}/", dir.display());
        let mut h = header(0, 0o755, tar::EntryType::Directory);
        builder
            .append_data(&mut h, &name, std::io::empty())
            .map_err(|e| io(&name, e))?;
    }
    for f in &files.files {
        let name = format!("rootfs/{}", f.inside.display());
        let src = std::fs::File::open(&f.host).map_err(|e| io(&f.host.display().to_string(), e))?;
        let mut h = header(f.size, f.mode, tar::EntryType::Regular);
        builder
            .append_data(&mut h, &name, src)
            .map_err(|e| io(&name, e))?;
    }
    builder
        .into_inner()
        .map_err(|e| io("finishing the archive", e))
}

/// The image of one payload, ready in the daemon.
pub(super) struct Ensured {
    /// Its tag.
    pub(super) tag: String,
    /// The shared hold that keeps other isobench processes from pruning it.
    pub(super) in_use: CacheLock,
    /// Its size in bytes.
    pub(super) bytes: Option<u64>,
    /// Its id (`sha256:...`).
    pub(super) id: Option<String>,
    /// True when it was already in the daemon.
    pub(super) cached: bool,
}

/// Makes sure the image of `files` is in the daemon (building it when
/// missing, then pruning old ones), holding its lock under `locks` so that
/// no other isobench process prunes it while this one uses it.
pub(super) fn ensure(
    conn: &Connection,
    files: &PayloadFiles,
    locks: &Path,
) -> Result<Ensured, EnvError> {
    ensure_tag(conn, &image_tag(files), locks, || {
        build(conn, files, &image_tag(files))
    })
}

/// Makes sure the image of the user's tree `root` is in the daemon
/// (importing it when missing, then pruning old ones of its repository),
/// held like [`ensure`]'s.
pub(super) fn ensure_command_image(
    conn: &Connection,
    root: &UserRootRef,
    locks: &Path,
) -> Result<Ensured, EnvError> {
    let tag = command_image_tag(root);
    ensure_tag(conn, &tag, locks, || import(conn, root, &tag))
}

/// Makes sure image `tag` is in the daemon, making it with `make` when
/// missing, then pruning old images of its repository.
fn ensure_tag(
    conn: &Connection,
    tag: &str,
    locks: &Path,
    make: impl FnOnce() -> Result<(), EnvError>,
) -> Result<Ensured, EnvError> {
    let tag = tag.to_string();
    std::fs::create_dir_all(locks)
        .map_err(|e| EnvError::io(format!("creating {}", locks.display()), e))?;
    // Held before looking: an image pruned before this is built again.
    let in_use = CacheLock::shared(&lock_path(locks, &tag))?;
    in_use.mark_used();
    let cached = match conn.block_on(conn.client.inspect_image(&tag)) {
        Ok(_) => true,
        Err(e) if is_not_found(&e) => false,
        Err(e) => return Err(conn.engine.err(&format!("inspecting image {tag}"), e)),
    };
    if !cached {
        make()?;
    }
    let inspect = conn
        .block_on(conn.client.inspect_image(&tag))
        .map_err(|e| {
            conn.engine
                .err(&format!("inspecting image {tag} after making it"), e)
        })?;
    if !cached {
        prune(conn, locks, &tag);
    }
    Ok(Ensured {
        tag,
        in_use,
        bytes: inspect.size.map(|s| s.max(0) as u64),
        id: inspect.id,
        cached,
    })
}

/// Size of the pieces the tar stream of an imported tree is sent in.
const IMPORT_CHUNK: usize = 1 << 20;

/// The write side of the import stream: a tar archive written on a thread
/// of its own, sent to the request body in chunks.
struct ChunkSender {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChunkSender {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(IMPORT_CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the daemon stopped reading the import"))
    }
}

impl std::io::Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= IMPORT_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Writes the tar archive of the tree `dir` (links kept as links, owners,
/// modes, device nodes) to `out`.
pub fn tree_archive(dir: &Path, out: impl std::io::Write) -> std::io::Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Complete);
    builder.append_dir_all(".", dir)?;
    builder.into_inner()?.flush()
}

/// Imports the user's tree as image `tag` (`POST /images/create?fromSrc=-`,
/// `docker import`), streaming its tar archive.
fn import(conn: &Connection, root: &UserRootRef, tag: &str) -> Result<(), EnvError> {
    let (repo, version) = tag.split_once(':').unwrap_or((tag, "latest"));
    let options = CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repo)
        .tag(version)
        .changes(import_changes(root))
        .build();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let dir = root.dir.clone();
    let writer = std::thread::spawn(move || {
        let mut sender = ChunkSender {
            tx: tx.clone(),
            buf: Vec::with_capacity(IMPORT_CHUNK),
        };
        if let Err(e) = tree_archive(&dir, &mut sender) {
            let _ = tx.blocking_send(Err(std::io::Error::other(format!(
                "archiving {}: {e}",
                dir.display()
            ))));
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let client = &conn.client;
    let imported = conn.block_on(async {
        let mut stream =
            client.create_image(Some(options), Some(bollard::body_try_stream(body)), None);
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(err) = info.error.or(info.error_detail.and_then(|d| d.message)) {
                        return Err(conn.engine.error(format!(
                            "importing {} as image {tag} failed: {err}",
                            root.dir.display()
                        )));
                    }
                }
                Err(e) => {
                    return Err(conn.engine.err(
                        &format!("importing {} as image {tag}", root.dir.display()),
                        e,
                    ))
                }
            }
        }
        Ok(())
    });
    let _ = writer.join();
    imported
}

/// Builds image `tag` from `files` with the daemon's legacy builder.
fn build(conn: &Connection, files: &PayloadFiles, tag: &str) -> Result<(), EnvError> {
    let context = build_context(files)?;
    let options = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .networkmode("none")
        .build();
    let client = &conn.client;
    conn.block_on(async {
        let mut stream =
            client.build_image(options, None, Some(bollard::body_full(context.into())));
        let mut last = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(err) = info.error.or(info.error_detail.and_then(|d| d.message)) {
                        return Err(conn
                            .engine
                            .error(format!("building image {tag} failed: {err}")));
                    }
                    if let Some(s) = info.stream.filter(|s| !s.trim().is_empty()) {
                        last = s.trim().to_string();
                    }
                }
                Err(e) => {
                    return Err(conn.engine.err(
                        &format!("building image {tag} failed (last step: {last})"),
                        e,
                    ))
                }
            }
        }
        Ok(())
    })
}

/// The isobench images (label [`LABEL`]) in the daemon.
pub(super) fn list(conn: &Connection) -> Result<Vec<bollard::models::ImageSummary>, EnvError> {
    let options = ListImagesOptionsBuilder::new()
        .filters(&HashMap::from([("label", vec![LABEL])]))
        .build();
    conn.block_on(conn.client.list_images(Some(options)))
        .map_err(|e| conn.engine.err("listing images", e))
}

/// Removes all but the [`KEEP_IMAGES`] most recently used isobench images
/// of `current`'s repository (agent images and imported trees are counted
/// apart; never `current`), skipping those another isobench process holds (their
/// lock under `locks`); the daemon itself refuses to remove an image a
/// container uses. Best effort: failures are logged, never fatal. podman
/// lists short names with the registry it resolved them to
/// (`docker.io/library/isobench-agent:...`), hence [`short_tag`]; its
/// builder keeps each step's layer as an untagged image, which removing the
/// tagged image removes too.
fn prune(conn: &Connection, locks: &Path, current: &str) {
    let images = match list(conn) {
        Ok(images) => images,
        Err(e) => {
            tracing::warn!("{e} (to prune old images)");
            return;
        }
    };
    // Each repository keeps its own most recent images.
    let repo = current.split(':').next().unwrap_or(IMAGE_REPO);
    let prefix = format!("{repo}:");
    let mut tags: Vec<((Option<std::time::SystemTime>, i64), String)> = images
        .into_iter()
        .flat_map(|image| {
            let created = image.created;
            image
                .repo_tags
                .into_iter()
                .map(move |tag| (created, short_tag(&tag).to_string()))
        })
        .filter(|(_, tag)| tag.starts_with(&prefix) && tag != current)
        .map(|(created, tag)| {
            let used = CacheLock::last_used(&lock_path(locks, &tag));
            ((used, created), tag)
        })
        .collect();
    // Most recently used first (images without a lock file: by age, last).
    tags.sort_by_key(|(order, _)| std::cmp::Reverse(*order));
    for (_, tag) in tags.into_iter().skip(KEEP_IMAGES.saturating_sub(1)) {
        let Some(held) = CacheLock::try_exclusive(&lock_path(locks, &tag)) else {
            tracing::debug!("keeping image {tag}: an isobench process uses it");
            continue;
        };
        let options = RemoveImageOptionsBuilder::new().force(false).build();
        match conn.block_on(conn.client.remove_image(&tag, Some(options), None)) {
            Ok(_) => tracing::debug!("pruned image {tag}"),
            Err(e) => tracing::debug!("keeping image {tag}: {e}"),
        }
        held.remove();
    }
}

/// The lock file of image `tag` in `dir`: `<hex>.lock` for agent images,
/// `<repo>-<hex>.lock` for the others.
fn lock_path(dir: &Path, tag: &str) -> PathBuf {
    match tag.split_once(':') {
        Some((IMAGE_REPO, hex)) => dir.join(format!("{hex}.lock")),
        Some((repo, hex)) => dir.join(format!("{repo}-{hex}.lock")),
        None => dir.join(format!("{tag}.lock")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AgentPayload;
    use std::io::Read;
    use std::path::PathBuf;

    #[test]
    fn context_holds_dockerfile_agent_and_assets() {
        let dir = tempfile::tempdir().unwrap();
        let agent = dir.path().join("agent");
        std::fs::write(&agent, b"ELF").unwrap();
        let assets = dir.path().join("assets");
        std::fs::create_dir_all(assets.join("images")).unwrap();
        std::fs::write(assets.join("images/a.png"), b"png").unwrap();
        let files = PayloadFiles::collect(&AgentPayload {
            user_root: None,
            agent_binary: agent,
            assets_dir: assets,
            extra_files: vec![],
            env: vec![],
        })
        .unwrap();
        let tar_bytes = build_context(&files).unwrap();
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path: PathBuf = entry.path().unwrap().into_owned();
            let mut body = String::new();
            entry.read_to_string(&mut body).unwrap();
            if path.as_path() == std::path::Path::new("Dockerfile") {
                assert!(body.starts_with("FROM scratch\nCOPY rootfs/ /\n"), "{body}");
            }
            if path.as_path() == std::path::Path::new("rootfs/isobench-agent") {
                assert_eq!(body, "ELF");
            }
            seen.push(path.display().to_string());
        }
        for want in [
            "Dockerfile",
            "rootfs/isobench-agent",
            "rootfs/assets/images/a.png",
            "rootfs/assets/images",
        ] {
            assert!(
                seen.iter().any(|s| s.trim_end_matches('/') == want),
                "{want} missing from {seen:?}"
            );
        }
        assert!(
            image_tag(&files).starts_with("isobench-agent:") && image_tag(&files).len() == 15 + 16
        );
    }

    #[test]
    fn a_user_tree_is_imported_with_links_modes_and_the_agent_entry_point() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("usr/bin")).unwrap();
        std::fs::write(tree.join("usr/bin/python3"), b"py").unwrap();
        std::os::unix::fs::symlink("usr/bin", tree.join("bin")).unwrap();
        std::fs::write(tree.join("isobench-agent"), b"ELF").unwrap();
        std::fs::set_permissions(
            tree.join("isobench-agent"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let mut archive = Vec::new();
        tree_archive(&tree, &mut archive).unwrap();
        let mut seen = std::collections::BTreeMap::new();
        for entry in tar::Archive::new(&archive[..]).entries().unwrap() {
            let entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let path = path
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string();
            let link = entry.link_name().unwrap().map(|l| l.display().to_string());
            seen.insert(path, (entry.header().mode().unwrap(), link));
        }
        assert_eq!(seen["isobench-agent"].0 & 0o7777, 0o755);
        assert_eq!(
            seen["bin"].1.as_deref(),
            Some("usr/bin"),
            "a link stays a link"
        );
        assert!(seen.contains_key("usr/bin/python3"));
        let root = UserRootRef {
            dir: tree,
            digest: "0123456789abcdef".repeat(4),
            bytes: 5,
        };
        assert_eq!(command_image_tag(&root), "isobench-cmd:0123456789abcdef");
        assert_eq!(
            import_changes(&root),
            [
                format!("LABEL org.isobench=1 org.isobench.tree={}", root.digest),
                "ENTRYPOINT [\"/isobench-agent\"]".to_string()
            ]
        );
        let locks = Path::new("/locks");
        assert_eq!(
            lock_path(locks, "isobench-agent:00aa"),
            Path::new("/locks/00aa.lock")
        );
        assert_eq!(
            lock_path(locks, "isobench-cmd:00aa"),
            Path::new("/locks/isobench-cmd-00aa.lock")
        );
    }
}
