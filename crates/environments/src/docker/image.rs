//! The agent image: `FROM scratch` with the static agent at
//! [`AGENT_INSIDE`](crate::containers::AGENT_INSIDE) and the assets at
//! [`ASSETS_INSIDE`](crate::containers::ASSETS_INSIDE), built by the daemon's
//! legacy builder from a tar build context made in memory (no registry, no
//! BuildKit on these machines).

use crate::containers::{PayloadFiles, AGENT_INSIDE};
use crate::EnvError;

/// Repository part of every isobench image tag.
pub const IMAGE_REPO: &str = "isobench-agent";

/// Label put on every isobench image (and container), for `isobench clean`.
pub const LABEL: &str = "org.isobench";

/// The tag of the image holding exactly these files.
pub fn image_tag(files: &PayloadFiles) -> String {
    format!("{IMAGE_REPO}:{}", files.short_digest())
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
}
