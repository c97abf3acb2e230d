//! A fake environment backend, scripted per launch, that drives the runner
//! with no process spawned (hyperfine's `MockExecutor` idea).
//!
//! A [`FakeSource`] answers the runner's `detect` and `build` for the kinds
//! it was given a [`FakeBackend`] for; each build is a [`FakeEnvironment`]
//! whose launches are [`FakeInstance`]s printing the [`Script`] the
//! backend chose for that launch. Everything that happens (builds,
//! prepares, launches, stops, teardowns) is appended, in order, to a
//! shared [`FakeLog`] the test reads afterwards.
//!
//! ```
//! use std::sync::Arc;
//! use isobench_environments::EnvKind;
//! use isobench_testkit::fake::{FakeAgent, FakeBackend, FakeSource, Script};
//!
//! let agent = FakeAgent::steady(1, 5, 1000);
//! let source = FakeSource::new()
//!     .with(EnvKind::Native, FakeBackend::always(Script::well_behaved(&agent)))
//!     .with(EnvKind::Docker, FakeBackend::scripted(move |launch| {
//!         // The second repetition of docker hangs between iterations.
//!         if launch.repetition == Some(1) {
//!             Script::hangs_after(&agent, 2)
//!         } else {
//!             Script::well_behaved(&agent)
//!         }
//!     }));
//! let log = source.log();
//! let source: Arc<dyn isobench_harness::EnvironmentSource> = Arc::new(source);
//! # let _ = (log, source);
//! ```

mod script;

pub use script::{End, FakeAgent, Script, CRASH_DIAGNOSTICS, CRASH_EXIT_CODE, GARBAGE};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use isobench_environments::{
    AgentPayload, Availability, EnvError, EnvKind, EnvOptions, Environment, EnvironmentInfo,
    ExitInfo, HostFacts, Instance, LaunchSpec, MeterTarget, PayloadView, Prepared, RunLabel,
};
use isobench_harness::EnvironmentSource;

/// Where a fake environment says the assets are inside it.
pub const FAKE_ASSETS_INSIDE: &str = "/fake/assets";
/// Where a fake environment says the agent is inside it.
pub const FAKE_AGENT_INSIDE: &str = "/fake/isobench-agent";

/// What a fake instance offers the meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FakeMeter {
    /// Nothing to meter: [`MeterTarget::Unavailable`]`("fake")`.
    #[default]
    Unavailable,
    /// The test process's own tree ([`MeterTarget::ProcessTree`]), so the
    /// sampler and the meter have real figures to read.
    TestProcess,
    /// A cgroup that is not there: every reading fails, as when a
    /// container's cgroup vanishes under the meter.
    Failing,
}

impl FakeMeter {
    /// The meter target a fake instance reports.
    pub fn target(self) -> MeterTarget {
        match self {
            FakeMeter::Unavailable => MeterTarget::Unavailable("fake".into()),
            FakeMeter::TestProcess => MeterTarget::ProcessTree(std::process::id() as i32),
            FakeMeter::Failing => MeterTarget::CgroupV1 {
                cpuacct: "/nonexistent/isobench-fake/cpuacct".into(),
                memory: "/nonexistent/isobench-fake/memory".into(),
            },
        }
    }
}

/// One launch a fake environment saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The environment launched.
    pub kind: EnvKind,
    /// The repetition, from the launch's run id (`None` for a serving instance).
    pub repetition: Option<u32>,
    /// Launches of the same kind and repetition before this one, in this
    /// log (0 for the first; a resumed repetition's relaunch counts 1).
    pub attempt: u32,
    /// What the agent was asked to do.
    pub invocation: isobench_environments::AgentInvocation,
    /// Whether the launch asked for an input channel.
    pub interactive: bool,
}

/// Something that happened to a fake environment or instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// [`FakeSource`] built an environment of this kind.
    Built(EnvKind),
    /// An environment was prepared (successfully or not).
    Prepared(EnvKind),
    /// An instance was launched.
    Launched(Launch),
    /// An instance was stopped (the first time), with what it answered.
    Stopped {
        /// The environment.
        kind: EnvKind,
        /// The repetition, from the run id.
        repetition: Option<u32>,
        /// What [`Instance::stop`] returned.
        exit: ExitInfo,
    },
    /// An environment was torn down.
    TornDown(EnvKind),
}

/// The ordered record of everything fake environments did, shared by a
/// [`FakeSource`], its environments and their instances.
#[derive(Debug, Default)]
pub struct FakeLog {
    events: Mutex<Vec<Event>>,
}

impl FakeLog {
    /// Every event so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// Every launch so far, in order.
    pub fn launches(&self) -> Vec<Launch> {
        self.lock()
            .iter()
            .filter_map(|e| match e {
                Event::Launched(launch) => Some(launch.clone()),
                _ => None,
            })
            .collect()
    }

    /// `(kind, repetition)` of every launch so far, in order.
    pub fn launch_order(&self) -> Vec<(EnvKind, u32)> {
        self.launches()
            .into_iter()
            .filter_map(|l| Some((l.kind, l.repetition?)))
            .collect()
    }

    /// `(kind, repetition, exit)` of every stop so far, in order.
    pub fn stops(&self) -> Vec<(EnvKind, Option<u32>, ExitInfo)> {
        self.lock()
            .iter()
            .filter_map(|e| match e {
                Event::Stopped {
                    kind,
                    repetition,
                    exit,
                } => Some((*kind, *repetition, exit.clone())),
                _ => None,
            })
            .collect()
    }

    /// How many events match `pred`.
    pub fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.lock().iter().filter(|e| pred(e)).count()
    }

    fn push(&self, event: Event) {
        self.lock().push(event);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Event>> {
        // A test that panicked while holding the log leaves it readable.
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Chooses the script of each launch.
type Scripter = Arc<dyn Fn(&Launch) -> Script + Send + Sync>;

/// How one kind of fake environment behaves: whether it is available,
/// whether building or preparing it fails, what each launch prints and
/// what it offers the meter.
#[derive(Clone)]
pub struct FakeBackend {
    /// `Err((reason, fix))` when unavailable.
    availability: Result<(), (String, String)>,
    build_error: Option<String>,
    prepare_error: Option<String>,
    scripter: Scripter,
    meter: FakeMeter,
}

impl std::fmt::Debug for FakeBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeBackend")
            .field("availability", &self.availability)
            .field("build_error", &self.build_error)
            .field("prepare_error", &self.prepare_error)
            .field("meter", &self.meter)
            .finish_non_exhaustive()
    }
}

impl FakeBackend {
    /// An available backend whose launches print `script(launch)`.
    pub fn scripted(script: impl Fn(&Launch) -> Script + Send + Sync + 'static) -> Self {
        FakeBackend {
            availability: Ok(()),
            build_error: None,
            prepare_error: None,
            scripter: Arc::new(script),
            meter: FakeMeter::default(),
        }
    }

    /// An available backend whose every launch prints `script`.
    pub fn always(script: Script) -> Self {
        Self::scripted(move |_| script.clone())
    }

    /// A backend that is not available here, for `reason` (fix: `fix`).
    pub fn unavailable(reason: &str, fix: &str) -> Self {
        FakeBackend {
            availability: Err((reason.into(), fix.into())),
            ..Self::always(Script::new())
        }
    }

    /// The same backend, whose build fails with `message`.
    pub fn failing_build(mut self, message: &str) -> Self {
        self.build_error = Some(message.into());
        self
    }

    /// The same backend, whose prepare fails with `message`.
    pub fn failing_prepare(mut self, message: &str) -> Self {
        self.prepare_error = Some(message.into());
        self
    }

    /// The same backend, offering `meter` to the meter.
    pub fn metered(mut self, meter: FakeMeter) -> Self {
        self.meter = meter;
        self
    }
}

/// An [`EnvironmentSource`] of fake environments: the runner's `detect`
/// and `build` answered from [`FakeBackend`]s, one per kind. A kind with
/// no backend is unavailable.
#[derive(Debug, Default)]
pub struct FakeSource {
    backends: BTreeMap<EnvKind, FakeBackend>,
    log: Arc<FakeLog>,
}

impl FakeSource {
    /// A source with no environment (every kind unavailable) and a fresh log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same source, with `kind` behaving as `backend`.
    pub fn with(mut self, kind: EnvKind, backend: FakeBackend) -> Self {
        self.backends.insert(kind, backend);
        self
    }

    /// The same source, writing to `log` (to follow several sources, or
    /// several runs, in one log).
    pub fn logging_to(mut self, log: Arc<FakeLog>) -> Self {
        self.log = log;
        self
    }

    /// The log of everything this source's environments did.
    pub fn log(&self) -> Arc<FakeLog> {
        Arc::clone(&self.log)
    }
}

impl EnvironmentSource for FakeSource {
    fn detect(&self, kind: EnvKind, _facts: &HostFacts, _options: &EnvOptions) -> Availability {
        match self.backends.get(&kind).map(|b| &b.availability) {
            Some(Ok(())) => Availability::yes(kind, "fake"),
            Some(Err((reason, fix))) => Availability::no(kind, reason.as_str(), fix.as_str()),
            None => Availability::no(
                kind,
                "no fake backend for it in this test",
                "give the FakeSource a backend for it",
            ),
        }
    }

    fn build(
        &self,
        kind: EnvKind,
        _options: &EnvOptions,
    ) -> Result<Box<dyn Environment>, EnvError> {
        let backend = self
            .backends
            .get(&kind)
            .ok_or_else(|| EnvError::Unavailable {
                env: kind.name().into(),
                reason: "no fake backend for it in this test".into(),
                fix: "give the FakeSource a backend for it".into(),
            })?;
        if let Some(message) = &backend.build_error {
            return Err(fake_error(kind, message));
        }
        self.log.push(Event::Built(kind));
        Ok(Box::new(FakeEnvironment::new(
            kind,
            backend.clone(),
            self.log(),
        )))
    }
}

fn fake_error(kind: EnvKind, message: &str) -> EnvError {
    EnvError::Command {
        program: format!("fake {kind}"),
        message: message.into(),
    }
}

/// A fake [`Environment`]: prepares instantly (or fails as its backend
/// says) and launches [`FakeInstance`]s.
pub struct FakeEnvironment {
    kind: EnvKind,
    backend: FakeBackend,
    log: Arc<FakeLog>,
    prepared: bool,
}

impl FakeEnvironment {
    /// A fake environment of `kind` behaving as `backend`, logging to `log`.
    pub fn new(kind: EnvKind, backend: FakeBackend, log: Arc<FakeLog>) -> Self {
        FakeEnvironment {
            kind,
            backend,
            log,
            prepared: false,
        }
    }
}

impl Environment for FakeEnvironment {
    fn kind(&self) -> EnvKind {
        self.kind
    }

    fn info(&self) -> EnvironmentInfo {
        EnvironmentInfo {
            name: self.kind.name().into(),
            runtime_version: Some("fake 0.0.0".into()),
            accel: None,
            emulated: false,
            notes: vec!["fake environment (isobench-testkit)".into()],
        }
    }

    fn prepare(&mut self, _payload: &AgentPayload) -> Result<Prepared, EnvError> {
        self.log.push(Event::Prepared(self.kind));
        if let Some(message) = &self.backend.prepare_error {
            return Err(fake_error(self.kind, message));
        }
        self.prepared = true;
        Ok(Prepared {
            image_bytes: Some(4096),
            image_id: Some(format!("fake-{}", self.kind)),
            cached: false,
            prepare_seconds: 0.0,
        })
    }

    fn assets_path_inside(&self) -> PathBuf {
        PathBuf::from(FAKE_ASSETS_INSIDE)
    }

    fn payload_view(&self) -> PayloadView {
        PayloadView::Inside {
            agent: FAKE_AGENT_INSIDE.into(),
            assets: FAKE_ASSETS_INSIDE.into(),
        }
    }

    fn launch(&mut self, spec: &LaunchSpec) -> Result<Box<dyn Instance>, EnvError> {
        if !self.prepared {
            return Err(EnvError::not_prepared(self.kind));
        }
        let repetition = match spec.run_id.label {
            RunLabel::Repetition(n) => Some(n),
            _ => None,
        };
        let attempt = self
            .log
            .launches()
            .iter()
            .filter(|l| l.kind == self.kind && l.repetition == repetition)
            .count() as u32;
        let launch = Launch {
            kind: self.kind,
            repetition,
            attempt,
            invocation: spec.invocation.clone(),
            interactive: spec.interactive,
        };
        let script = (self.backend.scripter)(&launch);
        self.log.push(Event::Launched(launch));
        Ok(Box::new(
            FakeInstance::new(
                self.kind,
                repetition,
                script,
                self.backend.meter,
                Arc::clone(&self.log),
            )
            .run_limit(spec.timeout),
        ))
    }

    fn teardown(&mut self) -> Result<(), EnvError> {
        self.log.push(Event::TornDown(self.kind));
        Ok(())
    }
}

/// A fake [`Instance`]: prints its [`Script`] on time, then ends or hangs.
/// Like a real instance, it answers [`EnvError::Timeout`] when nothing is
/// due within a read's wait, and [`EnvError::RunDeadline`] (and stops) once
/// its run limit ([`LaunchSpec::timeout`]) has passed since launch.
pub struct FakeInstance {
    kind: EnvKind,
    repetition: Option<u32>,
    script: Script,
    meter: FakeMeter,
    log: Arc<FakeLog>,
    launched_at: Instant,
    /// When the last line given out was due (the launch, before any).
    last_due: Instant,
    /// Index of the next line to give out.
    next: usize,
    /// The run limit, and when it is reached (none: no limit).
    deadline: Option<(Duration, Instant)>,
    /// What the first stop answered.
    stopped: Option<ExitInfo>,
}

impl FakeInstance {
    /// An instance of `kind` (repetition `repetition`) launched now,
    /// printing `script` and logging its stop to `log`.
    pub fn new(
        kind: EnvKind,
        repetition: Option<u32>,
        script: Script,
        meter: FakeMeter,
        log: Arc<FakeLog>,
    ) -> Self {
        let now = Instant::now();
        FakeInstance {
            kind,
            repetition,
            script,
            meter,
            log,
            launched_at: now,
            last_due: now,
            next: 0,
            deadline: None,
            stopped: None,
        }
    }

    /// The same instance, stopped with [`EnvError::RunDeadline`] once
    /// `limit` has passed since its launch.
    pub fn run_limit(mut self, limit: Duration) -> Self {
        self.deadline = Some((limit, self.launched_at + limit));
        self
    }

    /// Waits `wait`, the longest a read may wait, for nothing: a
    /// [`EnvError::Timeout`], or [`EnvError::RunDeadline`] (and a stop)
    /// when the run limit ends the wait.
    fn nothing_within(&mut self, wait: Duration, limited: bool) -> EnvError {
        std::thread::sleep(wait);
        match self.deadline {
            Some((limit, _)) if limited => {
                let _ = self.stop();
                EnvError::RunDeadline {
                    env: self.kind.name().into(),
                    seconds: limit.as_secs_f64(),
                }
            }
            _ => self.timeout(wait),
        }
    }

    fn timeout(&self, waited: Duration) -> EnvError {
        EnvError::Timeout {
            env: self.kind.name().into(),
            seconds: waited.as_secs_f64(),
        }
    }

    /// True once every line is out and the script ends by exiting.
    fn exited(&self) -> bool {
        self.next >= self.script.lines.len() && matches!(self.script.end, End::Exit(_))
    }
}

impl Instance for FakeInstance {
    fn launched_at(&self) -> Instant {
        self.launched_at
    }

    fn next_line(&mut self, timeout: Duration) -> Result<Option<String>, EnvError> {
        if self.stopped.is_some() {
            return Ok(None);
        }
        // The longest this read may wait, and whether the run limit sets it.
        let (longest, limited) = match self.deadline {
            Some((_, at)) => {
                let left = at.saturating_duration_since(Instant::now());
                (timeout.min(left), left <= timeout)
            }
            None => (timeout, false),
        };
        let Some((delay, line)) = self.script.lines.get(self.next) else {
            return match self.script.end {
                End::Exit(_) => Ok(None),
                End::Hang => Err(self.nothing_within(longest, limited)),
            };
        };
        let due = self.last_due + *delay;
        let wait = due.saturating_duration_since(Instant::now());
        if wait > longest {
            return Err(self.nothing_within(longest, limited));
        }
        std::thread::sleep(wait);
        let line = line.clone();
        self.last_due = due;
        self.next += 1;
        Ok(Some(line))
    }

    fn meter_target(&self) -> MeterTarget {
        self.meter.target()
    }

    fn diagnostics(&self) -> Option<String> {
        self.script.diagnostics.clone()
    }

    fn stop(&mut self) -> Result<ExitInfo, EnvError> {
        if let Some(exit) = &self.stopped {
            return Ok(exit.clone());
        }
        let exit = match self.script.end {
            End::Exit(code) if self.exited() => ExitInfo {
                code: Some(code),
                killed: false,
                final_cpu_seconds: None,
                final_peak_memory_bytes: None,
            },
            // Still printing, or hung: killed.
            _ => ExitInfo {
                code: None,
                killed: true,
                final_cpu_seconds: None,
                final_peak_memory_bytes: None,
            },
        };
        self.stopped = Some(exit.clone());
        self.log.push(Event::Stopped {
            kind: self.kind,
            repetition: self.repetition,
            exit: exit.clone(),
        });
        Ok(exit)
    }
}

impl Drop for FakeInstance {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isobench_environments::{Limits, RunId};

    fn spec(kind: EnvKind, repetition: u32) -> LaunchSpec {
        LaunchSpec {
            invocation: isobench_environments::AgentInvocation::run(
                isobench_records::ModelSpec::new(isobench_records::Workload::Knn),
                1,
                0,
            ),
            limits: Limits::default(),
            timeout: Duration::from_secs(5),
            run_id: RunId::new(kind, RunLabel::Repetition(repetition)),
            interactive: false,
            vsock: false,
            network: false,
        }
    }

    fn payload() -> AgentPayload {
        crate::payload("/fake/agent".as_ref(), "/fake/assets".as_ref())
    }

    #[test]
    fn lines_come_out_on_time_then_the_script_ends() {
        let script = Script::new()
            .line(Duration::from_millis(30), "one")
            .line(Duration::from_millis(30), "two")
            .exit(3);
        let log = Arc::new(FakeLog::default());
        let mut instance = FakeInstance::new(
            EnvKind::Native,
            Some(0),
            script,
            FakeMeter::Unavailable,
            Arc::clone(&log),
        );
        // Not due within 5 ms: a timeout, as from a real instance.
        assert!(matches!(
            instance.next_line(Duration::from_millis(5)),
            Err(EnvError::Timeout { .. })
        ));
        assert_eq!(
            instance.next_line(Duration::from_secs(1)).unwrap(),
            Some("one".into())
        );
        assert!(instance.launched_at().elapsed() >= Duration::from_millis(30));
        // A line whose time has passed is there at once.
        std::thread::sleep(Duration::from_millis(40));
        let before = Instant::now();
        assert_eq!(
            instance.next_line(Duration::from_millis(1)).unwrap(),
            Some("two".into())
        );
        assert!(before.elapsed() < Duration::from_millis(20));
        assert_eq!(instance.next_line(Duration::from_secs(1)).unwrap(), None);
        let exit = instance.stop().unwrap();
        assert_eq!((exit.code, exit.killed), (Some(3), false));
        assert_eq!(
            instance.meter_target(),
            MeterTarget::Unavailable("fake".into())
        );
        drop(instance);
        assert_eq!(log.stops().len(), 1, "stopped once, not again on drop");
    }

    #[test]
    fn a_hang_times_out_and_the_instance_is_killed() {
        let mut instance = FakeInstance::new(
            EnvKind::Docker,
            Some(1),
            Script::hangs_before_ready(),
            FakeMeter::TestProcess,
            Arc::new(FakeLog::default()),
        );
        assert!(instance
            .next_line(Duration::from_secs(1))
            .unwrap()
            .is_some());
        let before = Instant::now();
        assert!(matches!(
            instance.next_line(Duration::from_millis(20)),
            Err(EnvError::Timeout { .. })
        ));
        assert!(before.elapsed() >= Duration::from_millis(20));
        let exit = instance.stop().unwrap();
        assert_eq!((exit.code, exit.killed), (None, true));
        assert_eq!(
            instance.meter_target(),
            MeterTarget::ProcessTree(std::process::id() as i32)
        );
    }

    #[test]
    fn the_run_limit_stops_the_instance() {
        let agent = FakeAgent::steady(0, 3, 1000).step(Duration::from_millis(40));
        let log = Arc::new(FakeLog::default());
        let mut instance = FakeInstance::new(
            EnvKind::Native,
            Some(0),
            Script::well_behaved(&agent),
            FakeMeter::Unavailable,
            Arc::clone(&log),
        )
        .run_limit(Duration::from_millis(100));
        let mut lines = 0;
        let ended = loop {
            match instance.next_line(Duration::from_secs(1)) {
                Ok(Some(_)) => lines += 1,
                other => break other,
            }
        };
        // Records at 40 and 80 ms; the third would be due at 120 ms.
        assert_eq!(lines, 2);
        assert!(
            matches!(ended, Err(EnvError::RunDeadline { seconds, .. }) if (seconds - 0.1).abs() < 1e-9),
            "{ended:?}"
        );
        assert!(instance.launched_at().elapsed() >= Duration::from_millis(100));
        assert_eq!(instance.next_line(Duration::from_secs(1)).unwrap(), None);
        let stops = log.stops();
        assert_eq!(stops.len(), 1, "stopped at the deadline");
        assert!(stops[0].2.killed);
    }

    #[test]
    fn the_source_builds_what_it_was_given_and_logs_every_step() {
        let agent = FakeAgent::steady(0, 1, 1000);
        let source = FakeSource::new()
            .with(
                EnvKind::Native,
                FakeBackend::scripted(move |launch| {
                    if launch.attempt == 0 {
                        Script::hangs_before_ready()
                    } else {
                        Script::well_behaved(&agent)
                    }
                }),
            )
            .with(
                EnvKind::Docker,
                FakeBackend::unavailable("no dockerd", "start it"),
            )
            .with(
                EnvKind::Gvisor,
                FakeBackend::always(Script::new()).failing_prepare("no runsc"),
            );
        let facts = HostFacts::probe();
        let options = EnvOptions::default();
        assert!(source.detect(EnvKind::Native, &facts, &options).available);
        let docker = source.detect(EnvKind::Docker, &facts, &options);
        assert_eq!(
            (docker.available, docker.reason.as_str()),
            (false, "no dockerd")
        );
        assert!(!source.detect(EnvKind::Kata, &facts, &options).available);
        assert!(source.build(EnvKind::Kata, &options).is_err());

        let mut gvisor = source.build(EnvKind::Gvisor, &options).unwrap();
        let err = gvisor.prepare(&payload()).unwrap_err().to_string();
        assert!(err.contains("no runsc"), "{err}");
        assert!(gvisor.launch(&spec(EnvKind::Gvisor, 0)).is_err());

        let mut native = source.build(EnvKind::Native, &options).unwrap();
        native.prepare(&payload()).unwrap();
        assert_eq!(
            native.assets_path_inside(),
            PathBuf::from(FAKE_ASSETS_INSIDE)
        );
        let first = native.launch(&spec(EnvKind::Native, 2)).unwrap();
        let mut second = native.launch(&spec(EnvKind::Native, 2)).unwrap();
        assert!(second
            .next_line(Duration::from_secs(1))
            .unwrap()
            .unwrap()
            .contains("\"ready\""));
        drop((first, second));
        native.teardown().unwrap();
        let log = source.log();
        let attempts: Vec<u32> = log.launches().iter().map(|l| l.attempt).collect();
        assert_eq!(attempts, [0, 1]);
        assert_eq!(
            log.launch_order(),
            [(EnvKind::Native, 2), (EnvKind::Native, 2)]
        );
        assert_eq!(log.stops().len(), 2);
        assert_eq!(log.events().last(), Some(&Event::TornDown(EnvKind::Native)));
    }
}
