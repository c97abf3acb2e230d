//! The instance lifecycle every experiment mode shares: getting running
//! instances and getting rid of them.
//!
//! A [`Lab`] holds the environments of one experiment: each is detected
//! once (when the lab opens), built and prepared once (the first time a
//! mode asks for it, [`Lab::prepare`]) and torn down once (by the mode, or
//! when the lab is dropped, whatever way the experiment ends).
//! [`Lab::launch`] starts one fresh instance from a typed
//! [`AgentInvocation`] and returns a [`LiveInstance`]: the instance under a
//! stop-once guard, its meter (and, when asked, a sampling thread from the
//! launch on), and the one deadline-aware reader of its records
//! ([`LiveInstance::next_record`]). [`LiveInstance::stop`] stops it and hands
//! back what the meter saw.
//!
//! A mode (`batch` for `isobench run`, `serving` for `isobench
//! serve-bench`, and the ones after them) says what it does with running
//! instances, never how to get them. Several instances of one environment
//! may be alive at once: launching borrows the lab only for the launch;
//! [`Lab::launch_many`] starts several at once (see there for what
//! "concurrent start" means), [`wait_ready_all`] waits for their `ready`
//! together and [`stop_all`] stops them together.

pub mod records;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use isobench_environments::{
    AgentInvocation, Availability, Capabilities, EnvError, EnvKind, Environment, ExitInfo,
    Instance, LaunchSpec, Limits, MeterTarget, RunId, RunLabel,
};

use crate::context::RunContext;
use crate::metrics::sampler::{Meter, Sampled, Sampler};

pub use records::{Arrival, ReadError, StepLimits};

/// What an environment's preparation recorded, for the results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvironmentFacts {
    /// Runtime / VMM version.
    pub runtime_version: Option<String>,
    /// `kvm` / `tcg` for VMs.
    pub accel: Option<String>,
    /// True for software-emulated figures.
    pub emulated: bool,
    /// Notes (kernel used, cgroup, runtime options).
    pub notes: Vec<String>,
    /// Image / bundle / guest image size, bytes.
    pub image_bytes: Option<u64>,
    /// Seconds spent preparing.
    pub prepare_seconds: f64,
}

/// Why an environment of the experiment cannot launch instances.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unready {
    /// Detection says it cannot run here.
    #[error("{reason} (fix: {fix})")]
    Unavailable {
        /// Why.
        reason: String,
        /// What to do about it.
        fix: String,
    },
    /// Building it failed.
    #[error("{0}")]
    Build(String),
    /// Preparing it (image, bundle, guest image) failed.
    #[error("prepare: {0}")]
    Prepare(String),
    /// It was torn down already.
    #[error("torn down")]
    TornDown,
}

/// How the host talks to an instance besides its record stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Channels {
    /// A pipe to the agent's stdin (the stdio transport).
    pub input: bool,
    /// A vsock device the host reaches (VMs).
    pub vsock: bool,
    /// A network the host reaches.
    pub network: bool,
}

/// One launch: what the agent does, under which label, with which channels.
#[derive(Debug, Clone)]
pub struct LaunchRequest {
    /// What the agent is asked to do (paths as seen inside the environment:
    /// build it with [`PreparedEnvironment::assets_inside`]).
    pub invocation: AgentInvocation,
    /// The launch's label (repetition, serving, ...), part of its run id.
    pub label: RunLabel,
    /// The channels besides the record stream.
    pub channels: Channels,
    /// Start a sampling thread from the launch on (CPU and memory over the
    /// instance's life); without it only explicit readings are taken.
    pub sample: bool,
}

/// A prepared environment.
pub struct PreparedEnvironment {
    kind: EnvKind,
    env: Box<dyn Environment>,
    capabilities: Capabilities,
    facts: EnvironmentFacts,
}

impl PreparedEnvironment {
    /// Which environment this is.
    pub fn kind(&self) -> EnvKind {
        self.kind
    }

    /// What it can do.
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// What preparing it recorded.
    pub fn facts(&self) -> &EnvironmentFacts {
        &self.facts
    }

    /// Where the assets appear inside it (the agent's `--assets`).
    pub fn assets_inside(&self) -> PathBuf {
        self.env.assets_path_inside()
    }
}

enum Slot {
    /// Detected, not prepared yet.
    Detected(Availability),
    /// Ready to launch.
    Prepared(Box<PreparedEnvironment>),
    /// Cannot launch.
    Unready(Unready),
}

/// The environments of one experiment (see the module documentation).
pub struct Lab<'c> {
    ctx: &'c RunContext,
    slots: BTreeMap<EnvKind, Slot>,
}

impl<'c> Lab<'c> {
    /// Detects every environment of the experiment, once.
    pub fn open(ctx: &'c RunContext) -> Self {
        let slots = ctx
            .config
            .common
            .environments
            .iter()
            .map(|&kind| {
                let availability = ctx.source.detect(kind, &ctx.host_facts, &ctx.env_options);
                (kind, Slot::Detected(availability))
            })
            .collect();
        Lab { ctx, slots }
    }

    /// The experiment's context.
    pub fn context(&self) -> &'c RunContext {
        self.ctx
    }

    /// True once SIGINT / SIGTERM arrived.
    pub fn interrupted(&self) -> bool {
        self.ctx.interrupted.load(Ordering::Relaxed)
    }

    /// Builds and prepares `kind` (once; later calls return the same
    /// environment), or says why it cannot launch instances.
    pub fn prepare(&mut self, kind: EnvKind) -> Result<&mut PreparedEnvironment, Unready> {
        let ctx = self.ctx;
        let slot = self.slots.entry(kind).or_insert_with(|| {
            Slot::Detected(ctx.source.detect(kind, &ctx.host_facts, &ctx.env_options))
        });
        if let Slot::Detected(availability) = slot {
            *slot = match prepare(ctx, kind, availability) {
                Ok(prepared) => Slot::Prepared(Box::new(prepared)),
                Err(unready) => Slot::Unready(unready),
            };
        }
        match slot {
            Slot::Prepared(prepared) => Ok(prepared),
            Slot::Unready(unready) => Err(unready.clone()),
            Slot::Detected(_) => unreachable!("prepared above"),
        }
    }

    /// The prepared environment of `kind`, if it is prepared.
    pub fn prepared(&mut self, kind: EnvKind) -> Option<&mut PreparedEnvironment> {
        match self.slots.get_mut(&kind) {
            Some(Slot::Prepared(prepared)) => Some(prepared),
            _ => None,
        }
    }

    /// Launches one fresh instance of `kind` (prepared first if need be).
    pub fn launch(
        &mut self,
        kind: EnvKind,
        request: LaunchRequest,
    ) -> Result<LiveInstance, LaunchError> {
        self.start(kind, request, None)
    }

    /// Starts several instances of `kind` at once, for any mode; one result
    /// per request, in order.
    ///
    /// **Concurrent start**, exactly: [`Environment::launch`] takes the
    /// environment mutably, so the backend calls are made one after the
    /// other, but each returns as soon as the runtime / VMM process runs
    /// (it does not wait for the agent), so the instances' boots and model
    /// loads overlap; wait for their `ready` together with
    /// [`wait_ready_all`]. Launching stops at the first refusal: the
    /// requests after it are answered with [`LaunchError::NotTried`] (the
    /// mode decides whether to stop the ones already running; dropping
    /// them stops them).
    pub fn launch_many(
        &mut self,
        kind: EnvKind,
        requests: Vec<LaunchRequest>,
    ) -> Vec<Result<LiveInstance, LaunchError>> {
        let mut launched = Vec::with_capacity(requests.len());
        let mut refused = false;
        for (index, request) in requests.into_iter().enumerate() {
            if refused || self.interrupted() {
                launched.push(Err(LaunchError::NotTried { index }));
                continue;
            }
            let result = self.launch(kind, request);
            refused = result.is_err();
            launched.push(result);
        }
        launched
    }

    /// Why `kind` cannot snapshot and restore instances here (`None`: it can).
    pub fn snapshot_refusal(&mut self, kind: EnvKind) -> Option<String> {
        match self.prepare(kind) {
            Ok(prepared) => prepared.env.snapshot_refusal(),
            Err(unready) => Some(unready.to_string()),
        }
    }

    /// Saves the state of `instance` into the empty directory `image`; the
    /// instance ends or stays paused (stop it afterwards).
    pub fn checkpoint(
        &mut self,
        instance: &mut LiveInstance,
        image: &std::path::Path,
    ) -> Result<(), LaunchError> {
        instance
            .instance
            .checkpoint(image)
            .map_err(LaunchError::Launch)
    }

    /// Starts one instance of `kind` from the snapshot in `image` (taken
    /// by [`Lab::checkpoint`]); the request names it and gives its channels.
    pub fn restore(
        &mut self,
        kind: EnvKind,
        request: LaunchRequest,
        image: &std::path::Path,
    ) -> Result<LiveInstance, LaunchError> {
        self.start(kind, request, Some(image))
    }

    fn start(
        &mut self,
        kind: EnvKind,
        request: LaunchRequest,
        restore_from: Option<&std::path::Path>,
    ) -> Result<LiveInstance, LaunchError> {
        let ctx = self.ctx;
        let prepared = self.prepare(kind).map_err(LaunchError::Unready)?;
        let config = &ctx.config;
        let spec = LaunchSpec {
            invocation: request.invocation,
            limits: Limits {
                vcpus: config.common.vcpus,
                memory_mib: config.common.memory,
                cpuset: None,
            },
            timeout: Duration::from_secs(config.common.timeout),
            run_id: RunId::new(kind, request.label),
            interactive: request.channels.input,
            vsock: request.channels.vsock,
            network: request.channels.network,
        };
        let instance = match restore_from {
            None => prepared.env.launch(&spec),
            Some(image) => prepared.env.restore(&spec, image),
        }
        .map_err(LaunchError::Launch)?;
        let launch_returned = Instant::now();
        let origin = instance.launched_at();
        let target = instance.meter_target();
        // A run killed before it stops its instances leaves their processes
        // named in its work directory for `isobench clean`.
        for pid in target.root_pids() {
            crate::cleanup::register_process(&ctx.env_options.work_dir, pid);
        }
        let sampler = request.sample.then(|| {
            Sampler::start(
                target.clone(),
                Duration::from_millis(config.batch.sample_interval_ms),
                origin,
            )
        });
        Ok(LiveInstance {
            kind,
            run_id: spec.run_id,
            instance,
            origin,
            launch_returned,
            meter: Meter::new(target.clone()),
            target,
            sampler,
            vmm_overhead: prepared.capabilities.vmm_overhead,
            reader: records::RecordReader::new(
                StepLimits::of(config),
                prepared.capabilities.guest_kernel,
                ctx.interrupted.clone(),
            ),
        })
    }

    /// Tears `kind` down (idempotent); the next [`Lab::prepare`] of it fails.
    pub fn teardown(&mut self, kind: EnvKind) -> Result<(), EnvError> {
        match self.slots.insert(kind, Slot::Unready(Unready::TornDown)) {
            Some(Slot::Prepared(mut prepared)) => prepared.env.teardown(),
            Some(Slot::Unready(unready)) => {
                self.slots.insert(kind, Slot::Unready(unready));
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl Drop for Lab<'_> {
    fn drop(&mut self) {
        for slot in self.slots.values_mut() {
            if let Slot::Prepared(prepared) = slot {
                let _ = prepared.env.teardown();
            }
        }
    }
}

/// Builds and prepares one environment.
fn prepare(
    ctx: &RunContext,
    kind: EnvKind,
    availability: &Availability,
) -> Result<PreparedEnvironment, Unready> {
    if !availability.available {
        return Err(Unready::Unavailable {
            reason: availability.reason.clone(),
            fix: availability.fix.clone(),
        });
    }
    let mut env = ctx
        .source
        .build(kind, &ctx.env_options)
        .map_err(|e| Unready::Build(e.to_string()))?;
    let started = Instant::now();
    let prepared = env.prepare(&ctx.payload);
    let info = env.info();
    match prepared {
        Ok(prepared) => Ok(PreparedEnvironment {
            kind,
            capabilities: ctx.source.capabilities(kind),
            env,
            facts: EnvironmentFacts {
                runtime_version: info.runtime_version,
                accel: info.accel,
                emulated: info.emulated,
                notes: info.notes,
                image_bytes: prepared.image_bytes,
                prepare_seconds: started.elapsed().as_secs_f64(),
            },
        }),
        Err(e) => {
            let _ = env.teardown();
            Err(Unready::Prepare(e.to_string()))
        }
    }
}

/// Why a launch did not give a running instance.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The environment cannot launch instances.
    #[error("{0}")]
    Unready(Unready),
    /// The backend refused or failed the launch.
    #[error("launch: {0}")]
    Launch(#[source] EnvError),
    /// [`Lab::launch_many`] did not try this launch: an earlier one of the
    /// same call was refused (or SIGINT arrived).
    #[error("instance {index} not launched: an earlier launch of the same start was refused")]
    NotTried {
        /// The request's position in the call, from 0.
        index: usize,
    },
}

/// Waits for the `ready` record of every instance at once (one thread per
/// instance, each with the reader's own limits), so instances launched by
/// [`Lab::launch_many`] boot and load their models concurrently. One
/// result per instance, in order.
pub fn wait_ready_all(
    instances: &mut [LiveInstance],
) -> Vec<Result<(Arrival, isobench_records::Ready), ReadError>> {
    std::thread::scope(|scope| {
        let waiting: Vec<_> = instances
            .iter_mut()
            .map(|live| scope.spawn(move || live.wait_ready()))
            .collect();
        waiting
            .into_iter()
            .map(|thread| match thread.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Stops every instance at once (one thread each: a container's or VM's
/// stop takes a while) and hands back what each left, in order.
pub fn stop_all(instances: Vec<LiveInstance>) -> Vec<Stopped> {
    std::thread::scope(|scope| {
        let stopping: Vec<_> = instances
            .into_iter()
            .map(|live| scope.spawn(move || live.stop()))
            .collect();
        stopping
            .into_iter()
            .map(|thread| match thread.join() {
                Ok(stopped) => stopped,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// A running instance: stopped by [`LiveInstance::stop`], or on drop.
pub struct LiveInstance {
    kind: EnvKind,
    run_id: RunId,
    instance: Box<dyn Instance>,
    origin: Instant,
    launch_returned: Instant,
    target: MeterTarget,
    meter: Meter,
    sampler: Option<Sampler>,
    vmm_overhead: bool,
    reader: records::RecordReader,
}

/// What a stopped instance left: how it ended and what the meter saw.
pub struct Stopped {
    /// How it ended, or why stopping it failed.
    pub exit: Result<ExitInfo, EnvError>,
    /// The sampling thread's record (when the launch asked for one).
    pub sampled: Option<Sampled>,
    /// Seconds from launch to stop.
    pub wall_seconds: f64,
}

impl LiveInstance {
    /// Which environment it belongs to.
    pub fn kind(&self) -> EnvKind {
        self.kind
    }

    /// Its run id (every resource it created is named after it).
    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// When the launch request was issued.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// When the backend's launch call returned: the runtime / VMM process
    /// is running (spawned, container created and started, VMM configured);
    /// the agent inside may or may not have started yet.
    pub fn launch_returned(&self) -> Instant {
        self.launch_returned
    }

    /// The meter of its host resources.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// The sampling thread, when the launch asked for one.
    pub fn sampler(&self) -> Option<&Sampler> {
        self.sampler.as_ref()
    }

    /// What is metered (its cgroup or process trees).
    pub fn meter_target(&self) -> &MeterTarget {
        &self.target
    }

    /// The host processes the instance owns, as roots of process trees
    /// ([`Instance::host_processes`]: runtime / VMM process and the meter
    /// target's roots; a cgroup's members are read from the cgroup).
    pub fn host_processes(&self) -> Vec<i32> {
        self.instance.host_processes()
    }

    /// The backend's instance: input, network address, vsock endpoint.
    pub fn instance(&mut self) -> &mut dyn Instance {
        self.instance.as_mut()
    }

    /// The next record, within the step limits (see [`records`]).
    pub fn next_record(&mut self) -> Result<Arrival, ReadError> {
        self.reader.next(self.instance.as_mut(), self.origin)
    }

    /// Reads records up to `ready`; returns its arrival and the record.
    pub fn wait_ready(&mut self) -> Result<(Arrival, isobench_records::Ready), ReadError> {
        loop {
            let arrival = self.next_record()?;
            if let isobench_records::Record::Ready(ready) = &arrival.record {
                let ready = ready.clone();
                return Ok((arrival, ready));
            }
        }
    }

    /// Seconds from the guest's start (Firecracker's `InstanceStart`) to
    /// `ready_seconds` after the launch, for VMMs that start the guest apart
    /// from their process.
    pub fn guest_start_to(&self, ready_seconds: f64) -> Option<f64> {
        let started = self.instance.guest_started_at()?;
        Some(ready_seconds - started.saturating_duration_since(self.origin).as_secs_f64())
    }

    /// For VMs: the VMM's resident memory outside guest RAM, bytes.
    pub fn vmm_overhead_bytes(&self) -> Option<u64> {
        if !self.vmm_overhead {
            return None;
        }
        let pid = *self.target.root_pids().first()?;
        crate::metrics::vmm::vmm_overhead(pid).map(|(bytes, _)| bytes)
    }

    /// Stops the instance (closing its input first, so a serving agent ends
    /// cleanly) and hands back what the meter saw: a last reading goes into
    /// the samples before the stop.
    pub fn stop(mut self) -> Stopped {
        let _ = self.instance.close_input();
        if let (Some(sampler), Some(reading)) = (&self.sampler, self.meter.read()) {
            sampler.add(&reading, self.origin);
        }
        let exit = self.instance.stop();
        let sampled = self.sampler.take().map(Sampler::finish);
        Stopped {
            exit,
            sampled,
            wall_seconds: self.origin.elapsed().as_secs_f64(),
        }
    }
}
