//! One container of a run: the steps of a launch, each its own unit (the
//! run's network, its cgroup, the container's configuration, create, attach
//! and start, the output forwarder), and the teardown that undoes all of
//! them. A launch that fails half-way is torn down by the [`StopGuard`] it
//! is built in, so every step only has to succeed or fail.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HostConfig, ResourcesUlimits};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, KillContainerOptionsBuilder,
};
use futures_util::StreamExt;
use tokio::runtime::Runtime;

use super::connection::{is_exit_in_progress, is_not_found, remove_network, Connection};
use super::engine::Engine;
use super::image::LABEL;
use crate::containers::{container_name, RunCgroup};
use crate::instance::{StopGuard, Teardown};
use crate::lines::{Deadline, LineStream};
use crate::process::StderrTail;
use crate::{EnvError, EnvKind, ExitInfo, Instance, LaunchSpec, MeterTarget, RunId};

/// The attached stdin of an interactive container.
type Input = std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>;

/// What a container is created with, apart from its name.
pub(super) struct ContainerConfig<'a> {
    /// Image tag.
    pub(super) image: &'a str,
    /// The agent's arguments and limits.
    pub(super) spec: &'a LaunchSpec,
    /// The agent's environment, as the container sees it.
    pub(super) env: Vec<(String, String)>,
    /// Docker runtime (`None`: the daemon's default).
    pub(super) runtime: Option<String>,
    /// `ulimit`s to set (empty: the engine's defaults).
    pub(super) ulimits: Vec<ResourcesUlimits>,
    /// The entry point, when not the image's own (`None`: the image's).
    pub(super) entrypoint: Option<Vec<String>>,
}

/// One container and everything its launch created.
pub(super) struct DockerRun {
    engine: Engine,
    env: String,
    rt: Arc<Runtime>,
    client: bollard::Docker,
    name: String,
    /// The container may exist (create was asked for).
    created: bool,
    lines: LineStream,
    /// The write end of the pipe `lines` reads, until the forwarder takes it.
    writer: Option<std::os::unix::net::UnixStream>,
    stderr: StderrTail,
    cgroup: Option<RunCgroup>,
    /// The whole run's time limit ([`LaunchSpec::timeout`]).
    timeout: Duration,
    deadline: Deadline,
    forward: Option<tokio::task::JoinHandle<()>>,
    input: Option<Input>,
    killed: bool,
    /// The run's own bridge network, when launched with one.
    network: Option<String>,
    /// The container's address on that network.
    address: Option<std::net::IpAddr>,
}

impl DockerRun {
    /// A run of `kind` named after `run_id`; nothing is created yet.
    pub(super) fn new(
        conn: &Connection,
        kind: EnvKind,
        run_id: &RunId,
        timeout: Duration,
    ) -> Result<Self, EnvError> {
        let (reader, writer) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| EnvError::io("creating the pipe for container output", e))?;
        Ok(DockerRun {
            engine: conn.engine,
            env: kind.name().to_string(),
            rt: conn.rt.clone(),
            client: conn.client.clone(),
            name: container_name(run_id),
            created: false,
            lines: LineStream::spawn(reader, kind.name()),
            writer: Some(writer),
            stderr: StderrTail::new(),
            cgroup: None,
            timeout,
            deadline: Deadline::new(kind.name(), Instant::now(), timeout),
            forward: None,
            input: None,
            killed: false,
            network: None,
            address: None,
        })
    }

    /// Creates a bridge network of the run's own (named like the container,
    /// labelled so `isobench clean` finds it after a crash).
    pub(super) fn create_network(&mut self) -> Result<(), EnvError> {
        let name = self.name.clone();
        let request = bollard::models::NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            labels: Some(labels(&name)),
            ..Default::default()
        };
        self.rt
            .block_on(self.client.create_network(request))
            .map_err(|e| {
                self.engine.err(
                    &format!("creating network {name} (needs a daemon with bridge networking)"),
                    e,
                )
            })?;
        self.network = Some(name);
        Ok(())
    }

    /// Creates the cgroup parent `/isobench/<run>` the container runs under.
    pub(super) fn create_cgroup(&mut self) -> Result<(), EnvError> {
        self.cgroup = Some(RunCgroup::create(&self.name)?);
        Ok(())
    }

    /// The container's configuration: `--network none` (or the run's
    /// network), the limits, a read-only root with a tmpfs `/tmp`, the
    /// runtime and the run's cgroup parent.
    pub(super) fn container_body(&self, config: ContainerConfig<'_>) -> ContainerCreateBody {
        let limits = &config.spec.limits;
        let interactive = config.spec.interactive;
        let host_config = HostConfig {
            network_mode: Some(self.network.clone().unwrap_or_else(|| "none".into())),
            nano_cpus: limits.vcpus.map(|v| i64::from(v) * 1_000_000_000),
            memory: limits.memory_mib.map(|m| (m << 20) as i64),
            // Same as the memory limit: no swap on top.
            memory_swap: limits.memory_mib.map(|m| (m << 20) as i64),
            cpuset_cpus: limits.cpuset.clone(),
            runtime: config.runtime,
            ulimits: (!config.ulimits.is_empty()).then_some(config.ulimits),
            cgroup_parent: self.cgroup.as_ref().map(RunCgroup::path),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([(
                "/tmp".to_string(),
                "rw,nosuid,nodev,size=64m".to_string(),
            )])),
            ..Default::default()
        };
        ContainerCreateBody {
            image: Some(config.image.to_string()),
            entrypoint: config.entrypoint,
            cmd: Some(config.spec.invocation.to_args()),
            env: Some(config.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels(&self.name)),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(interactive),
            open_stdin: Some(interactive),
            stdin_once: Some(interactive),
            tty: Some(false),
            network_disabled: Some(self.network.is_none()),
            host_config: Some(host_config),
            ..Default::default()
        }
    }

    /// Creates the container, attaches to its output (before it starts, so
    /// no line is lost), starts it, learns its address on the run's network
    /// and forwards its output to the line stream.
    pub(super) fn start(
        &mut self,
        body: ContainerCreateBody,
        interactive: bool,
    ) -> Result<(), EnvError> {
        self.deadline = Deadline::new(&self.env, Instant::now(), self.timeout);
        // From here a half-created container (name taken, daemon error) is removed by teardown.
        self.created = true;
        let (client, name, engine) = (self.client.clone(), self.name.clone(), self.engine);
        let attach = self.rt.block_on(async {
            let options = CreateContainerOptionsBuilder::new().name(&name).build();
            client
                .create_container(Some(options), body)
                .await
                .map_err(|e| engine.err(&format!("creating container {name}"), e))?;
            let options = AttachContainerOptionsBuilder::new()
                .stream(true)
                .logs(true)
                .stdout(true)
                .stderr(true)
                .stdin(interactive)
                .build();
            let attach = client
                .attach_container(&name, Some(options))
                .await
                .map_err(|e| engine.err(&format!("attaching to container {name}"), e))?;
            client
                .start_container(
                    &name,
                    None::<bollard::query_parameters::StartContainerOptions>,
                )
                .await
                .map_err(|e| engine.err(&format!("starting container {name}"), e))?;
            Ok::<_, EnvError>(attach)
        })?;
        if interactive {
            self.input = Some(attach.input);
        }
        if self.network.is_some() {
            self.address = Some(self.network_address_of_container()?);
        }
        self.forward_output(attach.output);
        Ok(())
    }

    /// The container's IPv4 address on the run's network.
    fn network_address_of_container(&self) -> Result<std::net::IpAddr, EnvError> {
        let (container, network) = (&self.name, self.network.as_deref().unwrap_or_default());
        let info = self
            .rt
            .block_on(self.client.inspect_container(
                container,
                None::<bollard::query_parameters::InspectContainerOptions>,
            ))
            .map_err(|e| {
                self.engine
                    .err(&format!("inspecting container {container}"), e)
            })?;
        let address = info
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(network))
            .and_then(|endpoint| endpoint.ip_address)
            .unwrap_or_default();
        address.parse().map_err(|_| {
            self.engine.error(format!(
                "container {container} has no address on network {network} (got {address:?})"
            ))
        })
    }

    /// Forwards the attach stream: stdout to the line stream (dropping the
    /// writer at its end ends the stream), stderr to the tail.
    fn forward_output(
        &mut self,
        mut output: std::pin::Pin<
            Box<
                dyn futures_util::Stream<
                        Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
                    > + Send,
            >,
        >,
    ) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        let stderr = self.stderr.clone();
        self.forward = Some(self.rt.spawn(async move {
            use tokio::io::AsyncWriteExt;
            let Ok(mut writer) = writer
                .set_nonblocking(true)
                .and_then(|()| tokio::net::UnixStream::from_std(writer))
            else {
                stderr.end();
                return;
            };
            while let Some(item) = output.next().await {
                match item {
                    Ok(bollard::container::LogOutput::StdOut { message })
                    | Ok(bollard::container::LogOutput::Console { message }) => {
                        if writer.write_all(&message).await.is_err() {
                            break;
                        }
                    }
                    Ok(bollard::container::LogOutput::StdErr { message }) => stderr.push(&message),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            stderr.end();
        }));
    }

    /// Kills the container if it still runs, waits for it to be gone, and
    /// returns its exit code.
    fn end_container(&mut self) -> Result<Option<i64>, EnvError> {
        let client = self.client.clone();
        let name = self.name.clone();
        let killed = &mut self.killed;
        let engine = self.engine;
        self.rt.block_on(async {
            let mut code = None;
            // A finishing agent gets 2 s to exit by itself, then SIGKILL
            // (it is PID 1 of its namespace) and up to 10 s more.
            let grace = Instant::now() + Duration::from_secs(2);
            let give_up = grace + Duration::from_secs(10);
            while Instant::now() < give_up {
                match client
                    .inspect_container(
                        &name,
                        None::<bollard::query_parameters::InspectContainerOptions>,
                    )
                    .await
                {
                    Ok(info) => {
                        let state = info.state.unwrap_or_default();
                        if state.running == Some(true) {
                            if !*killed && Instant::now() >= grace {
                                *killed = true;
                                let options =
                                    KillContainerOptionsBuilder::new().signal("KILL").build();
                                let _ = client.kill_container(&name, Some(options)).await;
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                        code = state.exit_code;
                        break;
                    }
                    Err(e) if is_not_found(&e) => break,
                    Err(e) if is_exit_in_progress(&e) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(e) => return Err(engine.err(&format!("inspecting container {name}"), e)),
                }
            }
            Ok(code)
        })
    }

    fn remove_container(&self) -> Result<(), EnvError> {
        let options = bollard::query_parameters::RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self
            .rt
            .block_on(self.client.remove_container(&self.name, Some(options)))
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self
                .engine
                .err(&format!("removing container {}", self.name), e)),
        }
    }

    fn close_stdin(&mut self) {
        use tokio::io::AsyncWriteExt;
        if let Some(mut input) = self.input.take() {
            // Half-closes the attach connection: the agent reads end of stream.
            let _ = self.rt.block_on(input.shutdown());
        }
    }
}

/// The labels of every isobench container and network: `isobench clean`
/// lists them by [`LABEL`] and reads the run back from the name.
fn labels(run: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL.to_string(), "1".to_string()),
        (format!("{LABEL}.run"), run.to_string()),
    ])
}

impl Teardown for DockerRun {
    fn teardown(&mut self) -> Result<ExitInfo, EnvError> {
        self.close_stdin();
        let code = if self.created {
            self.end_container()
                .and_then(|code| self.remove_container().map(|()| code))
        } else {
            Ok(None)
        };
        if let Some(task) = self.forward.take() {
            task.abort();
        }
        let (cpu, peak) = match &self.cgroup {
            Some(g) => (g.cpu_seconds(), g.peak_memory()),
            None => (None, None),
        };
        // podman's conmon (and the clean-up command it runs when the
        // container exits) live in the run's cgroup too: they are given a
        // moment to leave before the group is removed.
        let removed = self.cgroup.take().map_or(Ok(()), |mut g| {
            g.end_processes(Duration::from_secs(5));
            g.remove()
        });
        let network_removed = match self.network.take() {
            Some(network) => remove_network(self.engine, &self.rt, &self.client, &network),
            None => Ok(()),
        };
        let code = code?;
        removed?;
        network_removed?;
        if code.is_some_and(|c| c != 0) {
            let line = self.stderr.last_line();
            if !line.is_empty() {
                tracing::warn!("container {} exited with {code:?}: {line}", self.name);
            }
        }
        Ok(ExitInfo {
            code,
            killed: self.killed,
            final_cpu_seconds: cpu,
            final_peak_memory_bytes: peak,
        })
    }

    fn describe(&self) -> String {
        format!("container {}", self.name)
    }
}

impl Instance for StopGuard<DockerRun> {
    fn launched_at(&self) -> Instant {
        self.deadline.launched_at()
    }

    fn next_line(&mut self, timeout: Duration) -> Result<Option<String>, EnvError> {
        self.read(|run| run.deadline.next_line(&mut run.lines, timeout))
    }

    fn meter_target(&self) -> MeterTarget {
        match &self.cgroup {
            Some(group) => group.meter_target(),
            None => MeterTarget::Unavailable("the container was already stopped".into()),
        }
    }

    fn network_address(&self) -> Option<std::net::IpAddr> {
        self.address
    }

    fn diagnostics(&self) -> Option<String> {
        // The log stream forwards stderr before it ends stdout, so the tail
        // is complete once the record stream has ended.
        let line = self.stderr.last_line();
        (!line.is_empty()).then_some(line)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), EnvError> {
        use tokio::io::AsyncWriteExt;
        let run = &mut **self;
        let input = run.input.as_mut().ok_or_else(|| EnvError::Unsupported {
            what: format!("writing to the stdin of container {}", run.name),
            fix: "launch with LaunchSpec::interactive = true".into(),
        })?;
        run.rt
            .block_on(async {
                input.write_all(bytes).await?;
                input.flush().await
            })
            .map_err(|e| EnvError::io(format!("writing to the stdin of container {}", run.name), e))
    }

    fn close_input(&mut self) -> Result<(), EnvError> {
        self.close_stdin();
        Ok(())
    }

    fn stop(&mut self) -> Result<ExitInfo, EnvError> {
        StopGuard::stop(self)
    }
}
