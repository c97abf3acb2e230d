//! Session assembly, shared by `isobench run` and `isobench serve-bench`:
//! which environments run, the options every backend gets, the agent
//! payload, the signal handlers and the per-run directories. A [`Session`]
//! owns its work and staging directories and removes them when dropped,
//! whatever way the run ends.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use isobench_environments::user_root::{self, RootSource, TreeMount, UserRoot, UserRootSpec};
use isobench_environments::{EnvKind, EnvOptions, HostFacts};

use crate::config::{CommandWorkload, RootChoice};
use crate::context::{EnvironmentSource, Registry, RunContext};
use crate::{payload, ExperimentConfig, HarnessError};

/// What a session needs beyond the experiment itself.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// The cache directory (`--cache`, else [`isobench_assets::cache_dir`]).
    pub cache: PathBuf,
    /// An explicit agent binary (`--agent`).
    pub agent: Option<PathBuf>,
    /// Continue the experiment journalled in the output directory.
    pub resume: bool,
}

/// The options every backend is detected and built with.
pub fn env_options(
    config: &ExperimentConfig,
    facts: &HostFacts,
    options: &SessionOptions,
) -> EnvOptions {
    EnvOptions {
        cache_dir: options.cache.clone(),
        work_dir: work_dir(),
        native_cgroup: !config.common.no_native_cgroup && facts.root && facts.cgroup_v1,
        kernel: config.common.kernel.clone(),
        firecracker: config.common.firecracker.clone().or_else(|| {
            let bundled = isobench_assets::firecracker_bin(&options.cache);
            bundled.is_file().then_some(bundled)
        }),
        jailer: config.common.jailer,
        docker_host: std::env::var("DOCKER_HOST").ok(),
    }
}

/// This process's work directory: `<tmp>/isobench-<pid>` (its name lets
/// `isobench clean` tell a dead run's from a live one's).
pub fn work_dir() -> PathBuf {
    std::env::temp_dir().join(format!(
        "{}{}",
        isobench_environments::run_id::PREFIX,
        std::process::id()
    ))
}

/// The environments to run: the requested ones, each of which must be
/// available, or else every available one except those that would run
/// under software emulation (slow; they must be asked for).
pub fn choose_environments(
    requested: &[EnvKind],
    facts: &HostFacts,
    options: &EnvOptions,
    source: &dyn EnvironmentSource,
) -> Result<Vec<EnvKind>, HarnessError> {
    if !requested.is_empty() {
        for &kind in requested {
            let availability = source.detect(kind, facts, options);
            if !availability.available {
                return Err(HarnessError::Unavailable {
                    env: kind.name().into(),
                    reason: availability.reason,
                    fix: availability.fix,
                });
            }
        }
        return Ok(requested.to_vec());
    }
    Ok(EnvKind::ALL
        .into_iter()
        .filter(|&kind| {
            let emulated = source.capabilities(kind).may_be_emulated && !facts.kvm.can_boot_linux();
            !emulated && source.detect(kind, facts, options).available
        })
        .collect())
}

/// Replaces `config`'s environments with the ones to run
/// ([`choose_environments`] with the options this config builds).
pub fn resolve_environments(
    config: &mut ExperimentConfig,
    facts: &HostFacts,
    options: &SessionOptions,
    source: &dyn EnvironmentSource,
) -> Result<(), HarnessError> {
    let env_options = env_options(config, facts, options);
    config.common.environments =
        choose_environments(&config.common.environments, facts, &env_options, source)?;
    Ok(())
}

/// A directory removed when its guard is dropped.
#[derive(Debug)]
pub struct DirGuard(PathBuf);

impl DirGuard {
    /// Creates `path` (and its parents) and guards it.
    pub fn create(path: PathBuf) -> Result<Self, HarnessError> {
        std::fs::create_dir_all(&path).map_err(|source| HarnessError::Io {
            what: "creating",
            path: path.clone(),
            source,
        })?;
        Ok(DirGuard(path))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One run's context and the directories it owns.
pub struct Session {
    /// What the runner and the serving benchmark take.
    pub ctx: RunContext,
    _work_dir: DirGuard,
    _staging: DirGuard,
    /// The user's root filesystem (`--workload command`), held in the cache while the run uses it.
    _user_root: Option<UserRoot>,
}

/// Prepares the user's root filesystem of a command workload: their tree
/// (or image) with the `--mount` paths and the agent, in the cache by
/// content; checks that the program (and its interpreter) is in it.
pub fn prepare_user_root(
    command: &CommandWorkload,
    agent: &Path,
    cache: &Path,
) -> Result<UserRoot, HarnessError> {
    if !payload::is_static_elf(agent) {
        return Err(HarnessError::Invalid(format!(
            "--workload command needs the static agent (it runs inside any root filesystem, and as a VM's init); {} is dynamically linked: build it with scripts/build.sh",
            agent.display()
        )));
    }
    let spec = UserRootSpec {
        source: match &command.root {
            RootChoice::Dir(dir) => RootSource::Dir(dir.clone()),
            RootChoice::Image(name) => RootSource::Image(name.clone()),
        },
        mounts: command
            .mounts
            .iter()
            .map(|m| TreeMount {
                host: m.host.clone(),
                guest: m.guest.clone(),
            })
            .collect(),
        agent: agent.to_path_buf(),
    };
    let root = user_root::ensure(cache, &spec).map_err(HarnessError::UserRoot)?;
    user_root::check_program(&root.dir, &command.argv[0], command.workdir.as_deref())
        .map_err(HarnessError::UserRoot)?;
    Ok(root)
}

impl Session {
    /// Assembles a session for `config` (whose environments are already
    /// chosen): stages the assets, identifies the payload, installs the
    /// SIGINT / SIGTERM handlers (they set [`RunContext::interrupted`]) and
    /// creates the work directory.
    pub fn open(
        config: ExperimentConfig,
        facts: HostFacts,
        options: &SessionOptions,
    ) -> Result<Session, HarnessError> {
        Self::open_with(config, facts, options, Arc::new(Registry))
    }

    /// [`Session::open`] with another source of environments (tests).
    pub fn open_with(
        config: ExperimentConfig,
        facts: HostFacts,
        options: &SessionOptions,
        source: Arc<dyn EnvironmentSource>,
    ) -> Result<Session, HarnessError> {
        let agent = payload::find_agent(options.agent.as_deref(), config.common.engine.name())?;
        let onnxruntime = (config.common.engine == crate::config::Engine::Ort)
            .then(|| isobench_assets::onnxruntime_lib(&options.cache));
        let cached_assets = isobench_assets::assets_dir(&options.cache);
        payload::check_user_inputs(&agent, &config, &cached_assets, onnxruntime.as_deref())?;
        let staging = DirGuard::create(config.common.output.join(".staging"))?;
        let assets = payload::stage_assets(&config, &cached_assets, staging.path())?;
        let user_root = match &config.command() {
            Some(command) => Some(prepare_user_root(command, &agent, &options.cache)?),
            None => None,
        };
        let (mut payload, mut identity) =
            payload::build_payload(agent, assets, onnxruntime.as_deref())?;
        if let Some(root) = &user_root {
            payload.user_root = Some(root.reference());
            // What runs is the user's tree (with the agent in it), not the assets.
            identity.assets_sha256 = root.digest.clone();
        }
        let interrupted = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, interrupted.clone()).map_err(|e| {
                HarnessError::Invalid(format!("installing the signal handler: {e}"))
            })?;
        }
        let env_options = env_options(&config, &facts, options);
        let work_dir = DirGuard::create(env_options.work_dir.clone())?;
        let ctx = RunContext {
            source,
            host: crate::host::host_info(&facts),
            env_options,
            host_facts: facts,
            config,
            payload,
            identity,
            interrupted,
            resume: options.resume,
        };
        Ok(Session {
            ctx,
            _work_dir: work_dir,
            _staging: staging,
            _user_root: user_root,
        })
    }
}
