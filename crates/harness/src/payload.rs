//! The payload every environment runs: the agent binary and the asset
//! directory, located, staged and fingerprinted.

use std::io::Read;
use std::path::{Path, PathBuf};

use isobench_environments::{AgentPayload, EnvValue};
use isobench_results::PayloadIdentity;
use sha2::{Digest, Sha256};

use crate::{ExperimentConfig, HarnessError};

/// File name of the agent build with ONNX Runtime, next to the CLI
/// (`scripts/build.sh --ort`, run by `isobench setup --engine ort`).
pub const ORT_AGENT: &str = "isobench-agent-ort";

/// Where the agent binary for `engine` is looked for, in order.
///
/// `tract` uses the static build (it drops into scratch containers and
/// initramfs as is); `ort` needs the dynamic build with ONNX Runtime,
/// [`ORT_AGENT`], built on demand.
pub fn agent_candidates(engine: &str) -> Vec<PathBuf> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let mut candidates = Vec::new();
    if engine == "ort" {
        if let Some(p) = std::env::var_os("ISOBENCH_AGENT_DYNAMIC") {
            candidates.push(PathBuf::from(p));
        }
        candidates.push(exe_dir.join(ORT_AGENT));
        // Test binaries live in target/release/deps.
        candidates.push(exe_dir.join("..").join(ORT_AGENT));
    } else {
        if let Some(p) = std::env::var_os("ISOBENCH_AGENT_STATIC") {
            candidates.push(PathBuf::from(p));
        }
        candidates.push(exe_dir.join("isobench-agent-static"));
        candidates.push(exe_dir.join("../x86_64-unknown-linux-gnu/release/isobench-agent"));
        candidates.push(exe_dir.join("../../x86_64-unknown-linux-gnu/release/isobench-agent"));
    }
    candidates
}

/// Finds the agent binary (an explicit path wins).
pub fn find_agent(explicit: Option<&Path>, engine: &str) -> Result<PathBuf, HarnessError> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(HarnessError::AgentMissing {
                searched: path.display().to_string(),
            })
        };
    }
    let candidates = agent_candidates(engine);
    candidates
        .iter()
        .find(|p| p.is_file())
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
        .ok_or_else(|| HarnessError::AgentMissing {
            searched: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// sha256 over every file under `dir` (relative path and content, sorted by path).
pub fn sha256_tree(dir: &Path) -> std::io::Result<String> {
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for rel in files {
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(sha256_file(&dir.join(&rel))?.as_bytes());
    }
    Ok(hex::encode(hasher.finalize()))
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// True when the ELF file has no program interpreter (statically linked).
pub fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    // PT_INTERP present => dynamic. Parse the 64-bit ELF program headers.
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u64_at =
        |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap_or([0; 8])) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let off = phoff + i * phentsize;
        off + 4 > bytes.len()
            || u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap_or([0; 4])) != 3
    })
}

/// Stages the asset directory for this experiment: the cache's assets,
/// plus the user's model and images under `user/` when given. Returns the
/// directory to hand to environments.
pub fn stage_assets(
    config: &ExperimentConfig,
    cache_assets: &Path,
    staging: &Path,
) -> Result<PathBuf, HarnessError> {
    if !cache_assets.join("MANIFEST.json").is_file() {
        return Err(HarnessError::Assets(format!(
            "assets not found in {} (no MANIFEST.json); run `isobench setup`",
            cache_assets.display()
        )));
    }
    if config.common.model.is_none() && config.common.images.is_none() {
        return Ok(cache_assets.to_path_buf());
    }
    let out = staging.join("assets");
    let io = |what: &'static str, source: std::io::Error| HarnessError::Io {
        what,
        path: out.clone(),
        source,
    };
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| io("clearing staged assets", e))?;
    }
    link_tree(cache_assets, &out).map_err(|e| io("staging assets", e))?;
    if let Some(model) = &config.common.model {
        std::fs::create_dir_all(out.join("user")).map_err(|e| io("creating user/", e))?;
        std::fs::copy(model, out.join("user/model.onnx")).map_err(|source| HarnessError::Io {
            what: "copying the model (--model)",
            path: model.clone(),
            source,
        })?;
    }
    if let Some(images) = &config.common.images {
        link_tree(images, &out.join("user/images")).map_err(|source| HarnessError::Io {
            what: "copying the images (--images)",
            path: images.clone(),
            source,
        })?;
    }
    Ok(out)
}

/// Copies a tree using hard links where possible.
fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            link_tree(&entry.path(), &target)?;
        } else if std::fs::hard_link(entry.path(), &target).is_err() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Files to place in an environment: (host path, path inside).
pub type FileMap = Vec<(PathBuf, PathBuf)>;

/// Extra files and variables the dynamic (ort) agent needs: its dynamic
/// loader and libraries (from `ldd`) and libonnxruntime.so at
/// `/runtime/libonnxruntime.so` inside an environment with a root of its
/// own; `ORT_DYLIB_PATH` names the library as a payload file, so each
/// environment passes the path its agent sees (the host's for native).
pub fn ort_runtime_files(
    agent: &Path,
    onnxruntime: &Path,
) -> Result<(FileMap, Vec<(String, EnvValue)>), HarnessError> {
    let mut files = Vec::new();
    for binary in [agent, onnxruntime] {
        let out = std::process::Command::new("ldd")
            .arg(binary)
            .output()
            .map_err(|e| {
                HarnessError::Assets(format!("running ldd on {}: {e}", binary.display()))
            })?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // "libm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
            let path = line
                .split("=>")
                .last()
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("");
            if path.starts_with('/') {
                let host = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
                let inside = PathBuf::from(path);
                if !files.iter().any(|(_, i): &(PathBuf, PathBuf)| i == &inside) {
                    files.push((host, inside));
                }
            }
        }
    }
    if !onnxruntime.is_file() {
        return Err(HarnessError::Assets(format!(
            "libonnxruntime.so not found at {}; run `isobench setup`",
            onnxruntime.display()
        )));
    }
    files.push((
        onnxruntime.to_path_buf(),
        PathBuf::from("/runtime/libonnxruntime.so"),
    ));
    Ok((
        files,
        vec![(
            "ORT_DYLIB_PATH".into(),
            EnvValue::PayloadPath(onnxruntime.to_path_buf()),
        )],
    ))
}

/// Builds the payload and its identity for the results.
pub fn build_payload(
    agent: PathBuf,
    assets: PathBuf,
    onnxruntime: Option<&Path>,
) -> Result<(AgentPayload, PayloadIdentity), HarnessError> {
    let agent_sha256 = sha256_file(&agent).map_err(|e| HarnessError::AgentMissing {
        searched: format!("{}: {e}", agent.display()),
    })?;
    let assets_sha256 = sha256_tree(&assets)
        .map_err(|e| HarnessError::Assets(format!("hashing {}: {e}", assets.display())))?;
    let agent_static = is_static_elf(&agent);
    let (extra_files, env) = match onnxruntime {
        Some(lib) => ort_runtime_files(&agent, lib)?,
        None => (vec![], vec![]),
    };
    Ok((
        AgentPayload {
            user_root: None,
            agent_binary: agent,
            assets_dir: assets,
            extra_files,
            env,
        },
        PayloadIdentity {
            agent_sha256,
            agent_static,
            assets_sha256,
        },
    ))
}

/// Loads the user's model and images (`--model`, `--images`) once with the
/// agent on the host, before any environment starts: a file that is not a
/// model, or a folder without images, is one error naming the user's path
/// instead of one failure per repetition naming a staging copy. A no-op
/// for the built-in inputs. The check runs one iteration, within
/// `--boot-timeout`.
pub fn check_user_inputs(
    agent: &Path,
    config: &ExperimentConfig,
    assets: &Path,
    onnxruntime: Option<&Path>,
) -> Result<(), HarnessError> {
    let (model, images) = (&config.common.model, &config.common.images);
    if model.is_none() && images.is_none() {
        return Ok(());
    }
    let mut spec = config.model_spec(assets);
    spec.model = model.clone();
    spec.images = images.clone();
    spec.ort_lib = onnxruntime.map(Path::to_path_buf);
    let args = isobench_records::AgentInvocation::run(spec, 1, 0).to_args();
    let what = [("--model", model), ("--images", images)]
        .iter()
        .filter_map(|(flag, path)| Some(format!("{flag} {}", path.as_ref()?.display())))
        .collect::<Vec<_>>()
        .join(", ");
    let invalid = |why: String| HarnessError::BadInput(format!("{what}: {why}"));
    let mut child = std::process::Command::new(agent)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            invalid(format!(
                "cannot run the agent {} to check them: {e}",
                agent.display()
            ))
        })?;
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_secs(config.batch.boot_timeout);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(invalid(format!(
                    "loading them took over {} s (--boot-timeout)",
                    config.batch.boot_timeout
                )));
            }
        }
    }
    let lines = reader.join().unwrap_or_default();
    let records: Vec<_> = lines
        .iter()
        .filter_map(|l| match isobench_records::parse_line(l) {
            Ok(isobench_records::LineKind::Record(r)) => Some(r),
            _ => None,
        })
        .collect();
    if let Some(isobench_records::Record::Error(e)) = records
        .iter()
        .find(|r| matches!(r, isobench_records::Record::Error(_)))
    {
        // The agent's message names the path it read: the user's own.
        return Err(invalid(e.message.clone()));
    }
    if !records
        .iter()
        .any(|r| matches!(r, isobench_records::Record::Summary(_)))
    {
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut stderr);
        }
        return Err(invalid(format!(
            "the agent did not finish loading them ({})",
            stderr.lines().last().unwrap_or("no message")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_hash_changes_with_content_and_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/x"), "1").unwrap();
        let first = sha256_tree(dir.path()).unwrap();
        std::fs::write(dir.path().join("a/x"), "2").unwrap();
        let second = sha256_tree(dir.path()).unwrap();
        assert_ne!(first, second);
        std::fs::rename(dir.path().join("a/x"), dir.path().join("a/y")).unwrap();
        assert_ne!(second, sha256_tree(dir.path()).unwrap());
    }

    #[test]
    fn this_test_binary_is_dynamic() {
        assert!(!is_static_elf(&std::env::current_exe().unwrap()));
        assert!(!is_static_elf(Path::new("/nonexistent")));
    }
}
