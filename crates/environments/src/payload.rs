//! The payload every environment runs, and how each environment shows it to
//! the agent: the same bytes, under the paths that environment gives them.
//! Native runs the agent from the host's paths; containers and VMs copy the
//! payload into their root and show it under fixed paths. An environment
//! variable that names a payload file ([`EnvValue::PayloadPath`]) is resolved
//! through the environment's [`PayloadView`], so the native baseline gets the
//! host path of a library whose copy a container sees at `/runtime/...`.

use std::path::{Path, PathBuf};

use crate::EnvError;

/// The agent binary and the assets it reads: identical bytes in every environment.
#[derive(Debug, Clone)]
pub struct AgentPayload {
    /// Path of the agent executable on the host.
    pub agent_binary: PathBuf,
    /// Directory of assets (models, images, data) the agent reads (`--assets`).
    pub assets_dir: PathBuf,
    /// Extra files needed next to the agent in an environment with a root
    /// of its own (e.g. the dynamic loader and shared libraries of the `ort`
    /// engine), as (host path, path inside such an environment). Native
    /// runs on the host and needs none of them copied.
    pub extra_files: Vec<(PathBuf, PathBuf)>,
    /// Environment variables the agent needs (e.g. `ORT_DYLIB_PATH`); values
    /// that name payload files are resolved per environment ([`PayloadView::env`]).
    pub env: Vec<(String, EnvValue)>,
    /// The user's root filesystem (`--workload command`), prepared by
    /// [`crate::user_root::ensure`]: the agent (copied into it at
    /// `/isobench-agent`) runs `exec` in it, and each environment enters it
    /// its own way: native chroots into it (`--chroot DIR`), containers use it
    /// as their root (read-only), VMs attach it as a read-only ext4 drive
    /// (`--root-device /dev/vda`).
    pub user_root: Option<UserRootRef>,
}

/// A prepared user root filesystem, as the payload names it (the session
/// holds the [`crate::user_root::UserRoot`] and its cache lock).
#[derive(Debug, Clone, PartialEq)]
pub struct UserRootRef {
    /// The tree in the cache.
    pub dir: PathBuf,
    /// Its content digest (names the Docker image and the ext4 drive).
    pub digest: String,
    /// Sum of its file sizes, bytes.
    pub bytes: u64,
}

/// The value of one of the agent's environment variables.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvValue {
    /// The same text in every environment.
    Text(String),
    /// A file of the payload, by its host path: the agent binary, a file
    /// under the asset directory or one of the extra files. Each environment
    /// passes the path under which its agent sees that file.
    PayloadPath(PathBuf),
}

impl From<&str> for EnvValue {
    fn from(text: &str) -> Self {
        EnvValue::Text(text.to_string())
    }
}

/// Where an environment shows the payload to its agent.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadView {
    /// The host's own paths: the agent runs where it lies (native).
    Host,
    /// A root of the environment's own (container rootfs or image, guest
    /// initramfs): the agent at `agent`, the asset tree under `assets`, each
    /// extra file at its inside path.
    Inside {
        /// The agent executable's path inside.
        agent: PathBuf,
        /// The asset directory's path inside.
        assets: PathBuf,
    },
}

impl PayloadView {
    /// The view of a container: agent at [`crate::containers::AGENT_INSIDE`],
    /// assets at [`crate::containers::ASSETS_INSIDE`].
    pub fn container() -> Self {
        PayloadView::Inside {
            agent: crate::containers::AGENT_INSIDE.into(),
            assets: crate::containers::ASSETS_INSIDE.into(),
        }
    }

    /// The view of a VM guest: the agent is the initramfs' `/init`, assets
    /// at [`crate::vm::GUEST_ASSETS`].
    pub fn guest() -> Self {
        PayloadView::Inside {
            agent: crate::vm::GUEST_INIT.into(),
            assets: crate::vm::GUEST_ASSETS.into(),
        }
    }

    /// Where the agent sees the asset directory (its `--assets`).
    pub fn assets(&self, payload: &AgentPayload) -> PathBuf {
        match self {
            PayloadView::Host => payload.assets_dir.clone(),
            PayloadView::Inside { assets, .. } => assets.clone(),
        }
    }

    /// Where the agent sees the payload file whose host path is `host`;
    /// an error when `host` is not part of the payload.
    pub fn path_of(&self, payload: &AgentPayload, host: &Path) -> Result<PathBuf, EnvError> {
        let inside = if host == payload.agent_binary {
            match self {
                PayloadView::Host => host.to_path_buf(),
                PayloadView::Inside { agent, .. } => agent.clone(),
            }
        } else if let Ok(relative) = host.strip_prefix(&payload.assets_dir) {
            self.assets(payload).join(relative)
        } else if let Some((_, inside)) = payload.extra_files.iter().find(|(h, _)| h == host) {
            match self {
                PayloadView::Host => host.to_path_buf(),
                PayloadView::Inside { .. } => Path::new("/").join(inside),
            }
        } else {
            return Err(EnvError::Command {
                program: "payload".into(),
                message: format!(
                    "an environment variable names {}, which is not part of the payload (the agent, a file under {} or an extra file)",
                    host.display(),
                    payload.assets_dir.display()
                ),
            });
        };
        Ok(inside)
    }

    /// The agent's environment variables as this view shows them.
    pub fn env(&self, payload: &AgentPayload) -> Result<Vec<(String, String)>, EnvError> {
        payload
            .env
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    EnvValue::Text(text) => text.clone(),
                    EnvValue::PayloadPath(host) => {
                        self.path_of(payload, host)?.display().to_string()
                    }
                };
                Ok((key.clone(), value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> AgentPayload {
        AgentPayload {
            user_root: None,
            agent_binary: "/build/isobench-agent".into(),
            assets_dir: "/cache/assets".into(),
            extra_files: vec![
                (
                    "/cache/runtime/onnxruntime/libonnxruntime.so".into(),
                    "/runtime/libonnxruntime.so".into(),
                ),
                (
                    "/usr/lib/x86_64-linux-gnu/libm.so.6".into(),
                    "usr/lib/x86_64-linux-gnu/libm.so.6".into(),
                ),
            ],
            env: vec![
                (
                    "ORT_DYLIB_PATH".into(),
                    EnvValue::PayloadPath("/cache/runtime/onnxruntime/libonnxruntime.so".into()),
                ),
                (
                    "MODEL".into(),
                    EnvValue::PayloadPath("/cache/assets/m.onnx".into()),
                ),
                (
                    "AGENT".into(),
                    EnvValue::PayloadPath("/build/isobench-agent".into()),
                ),
                ("THREADS".into(), "1".into()),
            ],
        }
    }

    fn value<'a>(env: &'a [(String, String)], key: &str) -> &'a str {
        &env.iter().find(|(k, _)| k == key).unwrap().1
    }

    #[test]
    fn each_view_names_payload_files_where_its_agent_sees_them() {
        let payload = payload();
        let native = PayloadView::Host.env(&payload).unwrap();
        assert_eq!(
            value(&native, "ORT_DYLIB_PATH"),
            "/cache/runtime/onnxruntime/libonnxruntime.so"
        );
        assert_eq!(value(&native, "MODEL"), "/cache/assets/m.onnx");
        assert_eq!(value(&native, "THREADS"), "1");
        let container = PayloadView::container().env(&payload).unwrap();
        assert_eq!(
            value(&container, "ORT_DYLIB_PATH"),
            "/runtime/libonnxruntime.so"
        );
        assert_eq!(value(&container, "MODEL"), "/assets/m.onnx");
        assert_eq!(value(&container, "AGENT"), "/isobench-agent");
        let guest = PayloadView::guest().env(&payload).unwrap();
        assert_eq!(value(&guest, "AGENT"), "/init");
        assert_eq!(
            PayloadView::container()
                .path_of(&payload, Path::new("/usr/lib/x86_64-linux-gnu/libm.so.6"))
                .unwrap(),
            Path::new("/usr/lib/x86_64-linux-gnu/libm.so.6")
        );
        assert_eq!(
            PayloadView::Host.assets(&payload),
            Path::new("/cache/assets")
        );
    }

    #[test]
    fn a_file_outside_the_payload_is_refused() {
        let mut payload = payload();
        payload
            .env
            .push(("X".into(), EnvValue::PayloadPath("/etc/passwd".into())));
        let err = PayloadView::container().env(&payload).unwrap_err();
        assert!(err.to_string().contains("/etc/passwd"), "{err}");
    }
}
