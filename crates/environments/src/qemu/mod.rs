//! `qemu-microvm` and `qemu-q35`: the agent as PID 1 of a Linux guest under
//! Debian's `qemu-system-x86_64`, with KVM when the host has hardware KVM and
//! TCG (software emulation, labelled `emulated`) otherwise.
//!
//! The guest's serial console is QEMU's stdout (`-serial stdio`); the agent's
//! records arrive there mixed with kernel text. With
//! [`LaunchSpec::interactive`], QEMU's stdin is a pipe and what
//! [`Instance::send`] writes arrives on the guest's console input. QEMU is controlled through
//! QMP on a Unix socket in a per-instance work directory (`qmp_capabilities`
//! at launch, `quit` on stop).
//!
//! With a user root ([`AgentPayload::user_root`], `--workload command`) the
//! tree's ext4 image is the guest's read-only virtio block device
//! ([`devices::root_drive_args`]), which the agent mounts and enters.
//!
//! With [`LaunchSpec::vsock`] the guest gets a virtio-vsock device
//! ([`QemuVsock`]): the kernel's `vhost-vsock` when the host has
//! `/dev/vhost-vsock` (host clients connect to the guest's CID), else
//! `vhost-user-vsock` backed by a [`crate::vhost_user::VsockDaemon`] (host
//! clients use its hybrid-vsock Unix socket, as with Firecracker).

pub mod devices;
pub mod qmp;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::instance::{prepared, StopGuard, Teardown};
use crate::process::ChildProcess;
use crate::registry::{which, EnvOptions};
use crate::vhost_user::{self, VsockDaemon};
use crate::vm::{self, Compression, GuestImage, Halt, VmmProcess, WorkDir};
use crate::vsock::VsockEndpoint;
use crate::{
    AgentPayload, Availability, Capabilities, EnvError, EnvKind, Environment, EnvironmentInfo,
    ExitInfo, HostFacts, Instance, KvmKind, LaunchSpec, MeterTarget, PayloadView, Prepared, Swept,
};

pub use devices::{microvm_mmio_device_param, QemuVsock, VirtioBus, VHOST_VSOCK_DEVICE};
pub use qmp::Qmp;

use devices::kernel_guest_cid;

/// The QEMU binary looked up on PATH.
pub const QEMU_BINARY: &str = "qemu-system-x86_64";

const INSTALL_FIX: &str = "apt-get install qemu-system-x86";

/// How QEMU runs guest code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware KVM.
    Kvm,
    /// Tiny Code Generator: software emulation (figures are not comparable with KVM).
    Tcg,
}

impl Accel {
    /// The accelerator for a host: KVM only when it can boot a Linux guest.
    pub fn for_host(kvm: KvmKind) -> Self {
        if kvm.can_boot_linux() {
            Accel::Kvm
        } else {
            Accel::Tcg
        }
    }

    /// Name as passed to `-accel`.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

fn machine(kind: EnvKind) -> &'static str {
    match kind {
        EnvKind::QemuQ35 => "q35",
        _ => "microvm",
    }
}

/// `QEMU 7.2.22` from `qemu-system-x86_64 --version`.
fn qemu_version(binary: &Path) -> Result<String, EnvError> {
    let line = crate::registry::version_line(binary, "QEMU", INSTALL_FIX)?;
    Ok(
        match line
            .split_whitespace()
            .skip_while(|w| *w != "version")
            .nth(1)
        {
            Some(v) => format!("QEMU {v}"),
            None => line,
        },
    )
}

/// What the QEMU machines can do (their registry entries' [`Capabilities`]):
/// VMs with a serial console and vsock, under TCG (labelled emulated)
/// without hardware KVM.
pub const CAPABILITIES: Capabilities = Capabilities::virtual_machine();

/// Whether `kind` (qemu-microvm / qemu-q35) can run here, and with which
/// accelerator; the guest kernel is `--kernel` (which must exist) or the cache's.
pub fn detect(kind: EnvKind, host: &HostFacts, options: &EnvOptions) -> Availability {
    let Some(binary) = which(QEMU_BINARY) else {
        return Availability::no(
            kind,
            format!("{QEMU_BINARY} not found on PATH"),
            INSTALL_FIX,
        );
    };
    let version = match qemu_version(&binary) {
        Ok(v) => v,
        Err(e) => return Availability::no(kind, e.to_string(), INSTALL_FIX),
    };
    let accel = match Accel::for_host(host.kvm) {
        Accel::Kvm => "accel kvm".to_string(),
        Accel::Tcg => format!(
            "accel tcg, results labelled emulated: {}",
            host.kvm.explain()
        ),
    };
    let kernel = match vm::kernel_detail(options) {
        Ok(detail) => detail,
        Err((reason, fix)) => return Availability::no(kind, reason, fix),
    };
    Availability::yes(
        kind,
        format!(
            "{version}, machine {}, {accel}; {kernel}; {}",
            machine(kind),
            vsock_backend_note(&options.cache_dir)
        ),
    )
}

/// Builds the environment of `kind`.
pub fn build(kind: EnvKind, options: &EnvOptions) -> Result<Box<dyn Environment>, EnvError> {
    Ok(Box::new(Qemu::new(kind, options)?))
}

/// Nothing of a QEMU run lives outside its work directory (QMP socket,
/// vsock daemon sockets), whose processes and files the harness removes.
pub fn clean_leftovers(_kind: EnvKind, _options: &EnvOptions) -> Swept {
    Swept::default()
}

/// True when a QEMU guest can get a vsock device here: the kernel's
/// vhost-vsock, or vhost-device-vsock on PATH or in the cache.
pub fn vsock_backend_available(cache: &Path) -> bool {
    Path::new(VHOST_VSOCK_DEVICE).exists() || vhost_user::find_daemon(cache).is_some()
}

/// Which vsock device a serving guest would get (for `isobench doctor`).
fn vsock_backend_note(cache: &Path) -> String {
    if Path::new(VHOST_VSOCK_DEVICE).exists() {
        return format!("vsock: kernel vhost-vsock ({VHOST_VSOCK_DEVICE})");
    }
    match vhost_user::find_daemon(cache) {
        Some(daemon) => format!("vsock: vhost-user-vsock via {}", daemon.display()),
        None => format!(
            "vsock: unavailable (no {VHOST_VSOCK_DEVICE}, no {}; fix: {})",
            vhost_user::DAEMON,
            vhost_user::INSTALL_FIX
        ),
    }
}

/// A QEMU environment (one machine type).
pub struct Qemu {
    kind: EnvKind,
    binary: PathBuf,
    version: String,
    accel: Accel,
    kvm: KvmKind,
    options: EnvOptions,
    image: Option<GuestImage>,
}

impl Qemu {
    /// Finds QEMU and picks the accelerator for this host.
    pub fn new(kind: EnvKind, options: &EnvOptions) -> Result<Qemu, EnvError> {
        let binary = which(QEMU_BINARY).ok_or_else(|| EnvError::Unavailable {
            env: kind.name().into(),
            reason: format!("{QEMU_BINARY} not found on PATH"),
            fix: INSTALL_FIX.into(),
        })?;
        let kvm = HostFacts::probe().kvm;
        Ok(Qemu {
            kind,
            version: qemu_version(&binary)?,
            binary,
            accel: Accel::for_host(kvm),
            kvm,
            options: options.clone(),
            image: None,
        })
    }

    /// Forces an accelerator (tests; `Accel::Kvm` only works with hardware KVM).
    pub fn with_accel(mut self, accel: Accel) -> Self {
        self.accel = accel;
        self
    }

    /// The accelerator in use.
    pub fn accel(&self) -> Accel {
        self.accel
    }

    /// True when a microvm guest finds its virtio-mmio devices the way a
    /// Firecracker guest does: on the kernel command line, with ACPI off
    /// (QEMU then boots it with qboot instead of SeaBIOS). Only for a kernel
    /// whose config says it sees such devices ([`vm::MMIO_CMDLINE_OPTION`]);
    /// other kernels keep ACPI. isobench writes the parameters itself
    /// (`auto-kernel-cmdline=off`): QEMU would append them after the `--`
    /// that starts the agent's arguments, where the kernel no longer reads.
    pub fn cmdline_mmio_devices(&self, image: &GuestImage) -> bool {
        self.kind == EnvKind::QemuMicrovm && image.kernel.sees_cmdline_mmio_devices() == Some(true)
    }

    /// The full QEMU command line for one launch (program first).
    pub fn command_line(
        &self,
        spec: &LaunchSpec,
        image: &GuestImage,
        qmp_socket: &Path,
        vsock: Option<&QemuVsock>,
    ) -> Result<Vec<String>, EnvError> {
        let memory = spec.limits.memory_mib.unwrap_or(vm::DEFAULT_MEMORY_MIB);
        let vcpus = spec.limits.vcpus.unwrap_or(vm::DEFAULT_VCPUS);
        let mut base: Vec<String> = ["console=ttyS0", "quiet", "panic=-1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if self.kind == EnvKind::QemuMicrovm {
            // microvm has no PCI bus; without this the kernel logs a PCI error.
            base.push("pci=off".into());
        }
        if self.accel == Accel::Tcg {
            if let Some(khz) = vm::host_cpu_khz() {
                base.push(format!("tsc_early_khz={khz}"));
            }
        }
        let cmdline_devices = self.cmdline_mmio_devices(image);
        let bus = VirtioBus::of(self.kind, cmdline_devices);
        let halt = if cmdline_devices {
            // No ACPI, no power-off: the agent resets the machine (a triple
            // fault with `reboot=t`), which `-no-reboot` turns into QEMU's exit.
            base.push("reboot=t".into());
            base.extend(bus.kernel_params(vsock.is_some(), image.root_drive.is_some()));
            Halt::Reboot
        } else {
            Halt::Poweroff
        };
        let append = vm::kernel_cmdline(&base, image, &spec.invocation, halt)?;
        let mut args: Vec<String> = vec![self.binary.display().to_string()];
        let mut push = |items: &[&str]| args.extend(items.iter().map(|s| s.to_string()));
        push(&["-name", &spec.run_id.to_string()]);
        let mut machine_arg = machine(self.kind).to_string();
        if cmdline_devices {
            machine_arg.push_str(",acpi=off,auto-kernel-cmdline=off");
        }
        if let Some(QemuVsock::VhostUser { .. }) = vsock {
            // vhost-user devices map guest RAM: it must be shareable memory.
            machine_arg.push_str(",memory-backend=isobench-ram");
            push(&[
                "-object",
                &format!("memory-backend-memfd,id=isobench-ram,size={memory}M,share=on"),
            ]);
        }
        push(&["-M", &machine_arg, "-accel", self.accel.name()]);
        if self.accel == Accel::Kvm {
            // `-cpu host` alone aborts on some hosts (MSR 0x10a, arch-capabilities).
            push(&["-cpu", "host,-arch-capabilities"]);
        }
        push(&["-m", &memory.to_string(), "-smp", &vcpus.to_string()]);
        push(&[
            "-nodefaults",
            "-no-user-config",
            "-nographic",
            "-serial",
            "stdio",
            "-no-reboot",
        ]);
        push(&["-kernel", &image.kernel.image.display().to_string()]);
        push(&["-initrd", &image.initramfs.path.display().to_string()]);
        push(&["-append", &append]);
        push(&[
            "-qmp",
            &format!("unix:{},server=on,wait=off", qmp_socket.display()),
        ]);
        // microvm has virtio-mmio transports only; q35 has PCI.
        if let Some(drive) = &image.root_drive {
            args.extend(devices::root_drive_args(bus, &drive.path));
        }
        if let Some(vsock) = vsock {
            args.extend(devices::vsock_args(bus, vsock));
        }
        Ok(args)
    }
}

impl Environment for Qemu {
    fn kind(&self) -> EnvKind {
        self.kind
    }

    fn info(&self) -> EnvironmentInfo {
        let cmdline_devices = self
            .image
            .as_ref()
            .is_some_and(|image| self.cmdline_mmio_devices(image));
        let mut notes = vec![format!(
            "machine {}{}, -accel {}",
            machine(self.kind),
            if cmdline_devices {
                ",acpi=off: virtio-mmio devices announced on the kernel command line, as Firecracker does (qboot firmware)"
            } else {
                ""
            },
            self.accel.name()
        )];
        if self.accel == Accel::Tcg {
            notes.push(format!(
                "EMULATED (TCG): {}; CPU work runs ~90x slower than native, figures are not comparable with KVM",
                self.kvm.explain()
            ));
        }
        if let Some(image) = &self.image {
            notes.push(image.kernel.describe());
            notes.push(format!(
                "initramfs {} ({} bytes, uncompressed newc cpio)",
                image.initramfs.path.display(),
                image.initramfs.bytes
            ));
        }
        notes.push(format!(
            "defaults without limits: {} vCPU, {} MiB",
            vm::DEFAULT_VCPUS,
            vm::DEFAULT_MEMORY_MIB
        ));
        EnvironmentInfo {
            name: self.kind.name().into(),
            runtime_version: Some(self.version.clone()),
            accel: Some(self.accel.name().into()),
            emulated: self.accel == Accel::Tcg,
            notes,
        }
    }

    fn prepare(&mut self, payload: &AgentPayload) -> Result<Prepared, EnvError> {
        let (image, prepared) = vm::prepare_guest(
            &self.options.cache_dir,
            self.options.kernel.as_deref(),
            payload,
            Compression::None,
        )?;
        self.image = Some(image);
        Ok(prepared)
    }

    fn assets_path_inside(&self) -> PathBuf {
        PathBuf::from(vm::GUEST_ASSETS)
    }

    fn payload_view(&self) -> PayloadView {
        PayloadView::guest()
    }

    fn launch(&mut self, spec: &LaunchSpec) -> Result<Box<dyn Instance>, EnvError> {
        self.start(spec, None)
    }

    /// The same VM as a launch, with `-incoming` from the migration
    /// stream [`Instance::checkpoint`] wrote; QEMU resumes the guest once
    /// the state is loaded.
    fn restore(&mut self, spec: &LaunchSpec, image: &Path) -> Result<Box<dyn Instance>, EnvError> {
        if spec.vsock {
            return Err(EnvError::Unsupported {
                what: "restoring a QEMU snapshot with a vsock device".into(),
                fix: "use the stdio (serial) transport".into(),
            });
        }
        self.start(spec, Some(image))
    }
}

/// The migration stream's file in a snapshot's image directory.
const MIGRATION_FILE: &str = "vm.migration";

impl Qemu {
    /// Starts one VM: booted, or `incoming` from a snapshot's directory.
    fn start(
        &mut self,
        spec: &LaunchSpec,
        incoming: Option<&Path>,
    ) -> Result<Box<dyn Instance>, EnvError> {
        let image = prepared(self.image.as_ref(), self.kind)?;
        let launched_at = Instant::now();
        let workdir = WorkDir::create(&self.options.work_dir, &spec.run_id.to_string())?;
        let qmp_socket = workdir.path().join("qmp.sock");
        let mut daemon = None;
        let (vsock, endpoint) = if spec.vsock {
            if Path::new(VHOST_VSOCK_DEVICE).exists() {
                let cid = kernel_guest_cid();
                (
                    Some(QemuVsock::Kernel { cid }),
                    Some(VsockEndpoint::Kernel { cid }),
                )
            } else {
                let binary = vhost_user::find_daemon(&self.options.cache_dir).ok_or_else(|| {
                    EnvError::Unavailable {
                        env: self.kind.name().into(),
                        reason: format!(
                            "vsock needs {VHOST_VSOCK_DEVICE} (absent on this host) or `{}` (not on PATH nor at {})",
                            vhost_user::DAEMON,
                            vhost_user::cached_daemon(&self.options.cache_dir).display()
                        ),
                        fix: vhost_user::INSTALL_FIX.into(),
                    }
                })?;
                let started = VsockDaemon::start(&binary, workdir.path(), Duration::from_secs(5))?;
                let vsock = QemuVsock::VhostUser {
                    socket: started.vhost_user_socket.clone(),
                };
                let endpoint = VsockEndpoint::Hybrid(started.uds.clone());
                daemon = Some(started);
                (Some(vsock), Some(endpoint))
            }
        } else {
            (None, None)
        };
        let mut args = self.command_line(spec, image, &qmp_socket, vsock.as_ref())?;
        if let Some(dir) = incoming {
            let file = dir.join(MIGRATION_FILE);
            if !file.is_file() {
                return Err(EnvError::MissingFile {
                    what: "QEMU snapshot".into(),
                    path: file,
                    fix: "take the snapshot first (cold-start --from snapshot does)".into(),
                });
            }
            args.push("-incoming".into());
            args.push(format!("exec:cat {}", shell_quote(&file.to_string_lossy())));
        }
        tracing::debug!("starting {}", args.join(" "));
        let mut command = Command::new(&args[0]);
        command.args(&args[1..]);
        let child = ChildProcess::spawn_with_stdin(command, self.kind.name(), spec.interactive)?;
        let mut instance = StopGuard::new(QemuRun {
            vmm: VmmProcess::new(child, self.kind.name(), launched_at, spec.timeout),
            qmp: None,
            workdir,
            daemon,
            vsock: endpoint,
        });
        match Qmp::connect(
            &qmp_socket,
            &mut instance.vmm.child,
            Duration::from_secs(10).min(spec.timeout),
        ) {
            Ok(mut qmp) => {
                if incoming.is_some() {
                    // Input sent before the state is loaded would be lost
                    // (the serial port's state is replaced): return once
                    // the guest runs again.
                    wait_running(&mut qmp, &mut instance.vmm.child, spec.timeout)?;
                }
                instance.qmp = Some(qmp)
            }
            Err(e) => {
                // QEMU may open the QMP socket and then die (e.g. on a kernel
                // it cannot load): its own message is the useful one.
                let child = &mut instance.vmm.child;
                let deadline = Instant::now() + Duration::from_secs(1);
                while child.try_exit().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let error = match child.try_exit() {
                    Some(status) => EnvError::Vmm {
                        vmm: self.kind.name().into(),
                        message: format!(
                            "exited at start ({status}): {}",
                            child.stderr.last_line()
                        ),
                    },
                    None => e,
                };
                // Dropping the guard stops QEMU and removes its work directory.
                return Err(error);
            }
        }
        Ok(Box::new(instance))
    }
}

/// `text` in single quotes for `sh -c` (QEMU runs `exec:` URIs through the shell).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Waits until the guest of an `-incoming` QEMU runs (`query-status`),
/// within `timeout`; fails when QEMU exits or the migration failed.
fn wait_running(
    qmp: &mut Qmp,
    child: &mut crate::process::ChildProcess,
    timeout: Duration,
) -> Result<(), EnvError> {
    let deadline = Instant::now() + timeout.min(MIGRATION_TIMEOUT);
    loop {
        if let Some(status) = child.try_exit() {
            return Err(EnvError::Vmm {
                vmm: "qemu".into(),
                message: format!(
                    "exited while restoring the snapshot ({status}): {}; the snapshot may be corrupt or truncated: take it again",
                    child.stderr.last_line()
                ),
            });
        }
        let state = match qmp.execute("query-status") {
            Ok(state) => state,
            Err(e) => {
                // QEMU closes QMP when the restore fails and it exits: its
                // own message is the useful one.
                let deadline = Instant::now() + Duration::from_secs(1);
                while child.try_exit().is_none() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if child.try_exit().is_some() {
                    continue;
                }
                return Err(e);
            }
        };
        match state.get("status").and_then(|s| s.as_str()) {
            Some("running") => return Ok(()),
            Some("inmigrate") | Some("prelaunch") | None => {}
            Some(other) => {
                return Err(EnvError::Vmm {
                    vmm: "qemu".into(),
                    message: format!(
                        "restoring the snapshot left the guest `{other}` instead of running; the snapshot file may be corrupt or truncated"
                    ),
                })
            }
        }
        if Instant::now() > deadline {
            return Err(EnvError::Vmm {
                vmm: "qemu".into(),
                message: format!(
                    "the guest did not run within {} s of restoring the snapshot",
                    timeout.min(MIGRATION_TIMEOUT).as_secs()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Longest wait for QEMU to write a snapshot.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(120);

/// One QEMU process, its QMP connection, work directory and vsock daemon.
struct QemuRun {
    vmm: VmmProcess,
    qmp: Option<Qmp>,
    workdir: WorkDir,
    /// The user-space vsock device, when the guest has one that way.
    daemon: Option<VsockDaemon>,
    /// Where host clients reach the guest's vsock.
    vsock: Option<VsockEndpoint>,
}

impl Teardown for QemuRun {
    fn teardown(&mut self) -> Result<ExitInfo, EnvError> {
        let mut asked_to_quit = false;
        if self.vmm.child.try_exit().is_none() {
            if let Some(qmp) = &mut self.qmp {
                asked_to_quit = qmp.execute("quit").is_ok();
            }
        }
        self.qmp = None;
        let status = self.vmm.child.finish(Duration::from_secs(2));
        if let Some(daemon) = &mut self.daemon {
            daemon.stop();
        }
        self.workdir.remove()?;
        Ok(ExitInfo {
            code: status.code().map(i64::from),
            killed: asked_to_quit || self.vmm.child.was_killed(),
            final_cpu_seconds: None,
            final_peak_memory_bytes: None,
        })
    }

    fn describe(&self) -> String {
        format!("{} VM {}", self.vmm.child.name(), self.vmm.child.pid())
    }
}

impl Instance for StopGuard<QemuRun> {
    fn launched_at(&self) -> Instant {
        self.vmm.launched_at()
    }

    fn next_line(&mut self, timeout: Duration) -> Result<Option<String>, EnvError> {
        self.read(|run| run.vmm.next_line(timeout))
    }

    fn meter_target(&self) -> MeterTarget {
        match &self.daemon {
            // The vsock device's work is the VM's cost too.
            Some(daemon) => MeterTarget::ProcessTrees(vec![self.vmm.child.pid(), daemon.pid()]),
            None => MeterTarget::ProcessTree(self.vmm.child.pid()),
        }
    }

    fn vsock(&self) -> Option<VsockEndpoint> {
        self.vsock.clone()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), EnvError> {
        self.vmm.child.send(bytes)
    }

    fn close_input(&mut self) -> Result<(), EnvError> {
        vm::close_serial_input(&mut self.vmm.child)
    }

    /// QMP `migrate` to `exec:cat > IMAGE/vm.migration`, waited for with
    /// `query-migrate`; the guest stays paused afterwards.
    fn checkpoint(&mut self, image: &Path) -> Result<(), EnvError> {
        let file = image.join(MIGRATION_FILE);
        let qmp = self.qmp.as_mut().ok_or_else(|| EnvError::Vmm {
            vmm: "qemu".into(),
            message: "no QMP connection to take a snapshot through".into(),
        })?;
        qmp.execute_with(
            "migrate",
            Some(serde_json::json!({
                "uri": format!("exec:cat > {}", shell_quote(&file.to_string_lossy()))
            })),
        )?;
        let deadline = Instant::now() + MIGRATION_TIMEOUT;
        loop {
            let state = qmp.execute("query-migrate")?;
            match state.get("status").and_then(|s| s.as_str()) {
                Some("completed") => return Ok(()),
                Some(status @ ("failed" | "cancelled")) => {
                    return Err(EnvError::Vmm {
                        vmm: "qemu".into(),
                        message: format!(
                            "snapshot (migrate to {}) {status}: {}",
                            file.display(),
                            state
                                .get("error-desc")
                                .and_then(|e| e.as_str())
                                .unwrap_or("no reason given")
                        ),
                    })
                }
                _ if Instant::now() > deadline => {
                    return Err(EnvError::Vmm {
                        vmm: "qemu".into(),
                        message: format!(
                            "snapshot (migrate to {}) not finished after {} s",
                            file.display(),
                            MIGRATION_TIMEOUT.as_secs()
                        ),
                    })
                }
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    fn stop(&mut self) -> Result<ExitInfo, EnvError> {
        StopGuard::stop(self)
    }
}

/// vsock needs vhost-device-vsock where the host has no `/dev/vhost-vsock`;
/// the microvm machine's vsock and root drive want the microVM kernel.
pub fn extras(kind: EnvKind) -> &'static [crate::Extra] {
    match kind {
        EnvKind::QemuMicrovm => &[
            crate::extras::VHOST_DEVICE_VSOCK,
            crate::extras::MICROVM_KERNEL,
        ],
        _ => &[crate::extras::VHOST_DEVICE_VSOCK],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_paths_are_quoted_for_the_shell_of_exec_uris() {
        assert_eq!(shell_quote("/tmp/a b/vm"), "'/tmp/a b/vm'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    fn qemu(kind: EnvKind, accel: Accel) -> Qemu {
        Qemu {
            kind,
            binary: PathBuf::from("/usr/bin/qemu-system-x86_64"),
            version: "QEMU 7.2.22".into(),
            accel,
            kvm: KvmKind::Hardware,
            options: EnvOptions::default(),
            image: None,
        }
    }

    fn image() -> GuestImage {
        GuestImage {
            kernel: vm::GuestKernel {
                source: vm::KernelSource::User("/k/vmlinuz".into()),
                image: "/k/vmlinuz".into(),
                modules: vec![],
                dir: None,
                config: None,
            },
            initramfs: vm::Initramfs {
                path: "/c/i.cpio".into(),
                key: "k".into(),
                bytes: 1,
                cached: true,
                in_use: None,
            },
            modules_inside: vec!["/lib/modules/virtio.ko".into()],
            env: vec![],
            root_drive: None,
        }
    }

    fn spec() -> LaunchSpec {
        LaunchSpec {
            invocation: crate::AgentInvocation::run(
                isobench_records::ModelSpec::new(isobench_records::Workload::Knn),
                10,
                1,
            ),
            limits: crate::Limits {
                vcpus: Some(2),
                memory_mib: Some(512),
                cpuset: None,
            },
            timeout: Duration::from_secs(5),
            run_id: crate::RunId::new(EnvKind::QemuMicrovm, crate::RunLabel::Repetition(1)),
            interactive: false,
            vsock: false,
            network: false,
        }
    }

    #[test]
    fn command_line_for_kvm_and_tcg() {
        let sock = Path::new("/w/qmp.sock");
        let kvm = qemu(EnvKind::QemuQ35, Accel::Kvm)
            .command_line(&spec(), &image(), sock, None)
            .unwrap();
        let joined = kvm.join(" ");
        assert!(
            joined.contains("-M q35 -accel kvm -cpu host,-arch-capabilities -m 512 -smp 2"),
            "{joined}"
        );
        assert!(
            joined.contains("-kernel /k/vmlinuz -initrd /c/i.cpio"),
            "{joined}"
        );
        assert!(
            joined.contains("-qmp unix:/w/qmp.sock,server=on,wait=off"),
            "{joined}"
        );
        let append = &kvm[kvm.iter().position(|a| a == "-append").unwrap() + 1];
        assert_eq!(
            append,
            "console=ttyS0 quiet panic=-1 -- run --workload knn --iterations 10 --warmup 1 --modules /lib/modules/virtio.ko --halt poweroff"
        );
        let tcg = qemu(EnvKind::QemuMicrovm, Accel::Tcg)
            .command_line(&spec(), &image(), sock, None)
            .unwrap();
        let joined = tcg.join(" ");
        assert!(joined.contains("-M microvm -accel tcg -m 512"), "{joined}");
        assert!(!joined.contains("-cpu"), "{joined}");
        let append = &tcg[tcg.iter().position(|a| a == "-append").unwrap() + 1];
        assert!(
            append.contains("pci=off") && append.contains("tsc_early_khz="),
            "{append}"
        );
    }

    #[test]
    fn vsock_devices_follow_the_machine_and_backend() {
        let sock = Path::new("/w/qmp.sock");
        let kernel = QemuVsock::Kernel { cid: 77 };
        let q35 = qemu(EnvKind::QemuQ35, Accel::Kvm)
            .command_line(&spec(), &image(), sock, Some(&kernel))
            .unwrap()
            .join(" ");
        assert!(
            q35.contains("-device vhost-vsock-pci,id=isobench-vsock,guest-cid=77"),
            "{q35}"
        );
        assert!(!q35.contains("memory-backend"), "{q35}");
        let user = QemuVsock::VhostUser {
            socket: PathBuf::from("/w/vhu.sock"),
        };
        let microvm = qemu(EnvKind::QemuMicrovm, Accel::Tcg)
            .command_line(&spec(), &image(), sock, Some(&user))
            .unwrap()
            .join(" ");
        for wanted in [
            "-object memory-backend-memfd,id=isobench-ram,size=512M,share=on",
            "-M microvm,memory-backend=isobench-ram -accel tcg",
            "-chardev socket,id=isobench-vsock-chr,path=/w/vhu.sock",
            "-device vhost-user-vsock-device,id=isobench-vsock,chardev=isobench-vsock-chr",
        ] {
            assert!(microvm.contains(wanted), "{wanted} missing: {microvm}");
        }
        let a = kernel_guest_cid();
        let b = kernel_guest_cid();
        assert!(a > 2 && b > 2 && a != b);
    }

    #[test]
    fn a_kernel_that_reads_cmdline_devices_gets_firecrackers_device_model() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(&config, "CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y\n").unwrap();
        let mut image = image();
        image.kernel.config = Some(config);
        let sock = Path::new("/w/qmp.sock");
        let user = QemuVsock::VhostUser {
            socket: PathBuf::from("/w/vhu.sock"),
        };
        let microvm = qemu(EnvKind::QemuMicrovm, Accel::Tcg);
        assert!(microvm.cmdline_mmio_devices(&image));
        let args = microvm
            .command_line(&spec(), &image, sock, Some(&user))
            .unwrap();
        let joined = args.join(" ");
        assert!(
            joined.contains(
                "-M microvm,acpi=off,auto-kernel-cmdline=off,memory-backend=isobench-ram"
            ),
            "{joined}"
        );
        assert!(
            joined.contains(
                "-device vhost-user-vsock-device,bus=virtio-mmio-bus.0,id=isobench-vsock"
            ),
            "{joined}"
        );
        let append = &args[args.iter().position(|a| a == "-append").unwrap() + 1];
        let (kernel_part, init_part) = append.split_once(" -- ").unwrap();
        assert!(
            kernel_part.ends_with("reboot=t virtio_mmio.device=512@0xfeb00000:5"),
            "the device is announced before `--`, where the kernel reads: {append}"
        );
        assert!(init_part.ends_with("--halt reboot"), "{append}");
        // Without vsock nothing is announced; q35 keeps ACPI and PCI.
        let plain = microvm.command_line(&spec(), &image, sock, None).unwrap();
        assert!(!plain.join(" ").contains("virtio_mmio.device"));
        let q35 = qemu(EnvKind::QemuQ35, Accel::Tcg);
        assert!(!q35.cmdline_mmio_devices(&image));
        assert_eq!(
            microvm_mmio_device_param(7),
            "virtio_mmio.device=512@0xfeb00e00:12"
        );
        // The Debian-style kernel without the option keeps ACPI.
        std::fs::write(
            image.kernel.config.as_ref().unwrap(),
            "# CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES is not set\n",
        )
        .unwrap();
        assert!(!microvm.cmdline_mmio_devices(&image));
    }

    #[test]
    fn a_root_drive_is_attached_read_only_and_named_to_the_agent() {
        let sock = Path::new("/w/qmp.sock");
        let mut image = image();
        image.root_drive = Some(crate::user_root::Ext4Image {
            path: "/c/user-roots/tree-0123.ext4".into(),
            bytes: 1 << 20,
            cached: true,
        });
        let mut spec = spec();
        let exec_spec = isobench_records::user::ExecSpec::new(
            vec!["true".into()],
            isobench_records::user::Measure::Process,
            1,
            0,
        );
        let encoded = exec_spec.encode();
        spec.invocation = crate::AgentInvocation::exec(exec_spec);
        let append =
            |args: &[String]| args[args.iter().position(|a| a == "-append").unwrap() + 1].clone();
        let drive = "-drive file=/c/user-roots/tree-0123.ext4,format=raw,if=none,id=isobench-root,readonly=on";
        let q35 = qemu(EnvKind::QemuQ35, Accel::Tcg)
            .command_line(&spec, &image, sock, None)
            .unwrap();
        let joined = q35.join(" ");
        assert!(
            joined.contains(&format!(
                "{drive} -device virtio-blk-pci,drive=isobench-root"
            )),
            "{joined}"
        );
        assert!(
            append(&q35).contains(&format!(
                "-- exec --spec {encoded} --root-device /dev/vda --modules"
            )),
            "{}",
            append(&q35)
        );
        // microvm with ACPI (Debian's kernel): QEMU picks the transport.
        let microvm = qemu(EnvKind::QemuMicrovm, Accel::Tcg);
        let joined = microvm
            .command_line(&spec, &image, sock, None)
            .unwrap()
            .join(" ");
        assert!(
            joined.contains("-device virtio-blk-device,drive=isobench-root"),
            "{joined}"
        );
        // The microVM kernel: a fixed transport, announced before `--`.
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(&config, "CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y\n").unwrap();
        image.kernel.config = Some(config);
        let user = QemuVsock::VhostUser {
            socket: PathBuf::from("/w/vhu.sock"),
        };
        let args = microvm
            .command_line(&spec, &image, sock, Some(&user))
            .unwrap();
        let joined = args.join(" ");
        assert!(
            joined.contains("-device virtio-blk-device,bus=virtio-mmio-bus.1,drive=isobench-root"),
            "{joined}"
        );
        assert!(
            joined.contains(
                "-device vhost-user-vsock-device,bus=virtio-mmio-bus.0,id=isobench-vsock"
            ),
            "{joined}"
        );
        let (kernel_part, init_part) = append(&args)
            .split_once(" -- ")
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .unwrap();
        assert!(
            kernel_part.ends_with(
                "reboot=t virtio_mmio.device=512@0xfeb00000:5 virtio_mmio.device=512@0xfeb00200:6"
            ),
            "{kernel_part}"
        );
        assert!(
            init_part.starts_with(&format!("exec --spec {encoded} --root-device /dev/vda")),
            "{init_part}"
        );
    }

    #[test]
    fn accel_follows_kvm_kind() {
        assert_eq!(Accel::for_host(KvmKind::Hardware), Accel::Kvm);
        for kind in [KvmKind::Pvm, KvmKind::NoAccess, KvmKind::Absent] {
            assert_eq!(Accel::for_host(kind), Accel::Tcg);
        }
    }
}
