//! `firecracker`: the agent as PID 1 of a Firecracker microVM, configured
//! through Firecracker's REST API on a Unix socket (boot source, machine
//! config, vsock), started with `InstanceStart`. The guest's serial console
//! is Firecracker's stdout; Firecracker's own log goes to a file in the
//! per-instance work directory (its `Guest-boot-time` line, when the guest
//! triggers the boot timer, is kept in [`FirecrackerVm::boot_timer_line`]).
//!
//! With a user root ([`AgentPayload::user_root`], `--workload command`) the
//! tree's ext4 image is a read-only drive (`PUT /drives/rootfs`,
//! [`root_drive`]) the agent mounts and enters.
//!
//! On kvm-pvm hosts a Linux guest cannot boot: launch refuses at once with
//! that reason instead of letting the guest grind. The lower-level
//! [`FirecrackerVm`] has no such check, so non-Linux guests can still be run.
//!
//! With `--jailer` ([`EnvOptions::jailer`]) Firecracker is started through
//! its jailer ([`JailerConfig`], [`FirecrackerVm::spawn_jailed`]): a chroot
//! under the instance's work directory, a uid/gid, and, when the limits ask
//! for it, cgroup v1 groups of its own; all removed on stop, error and drop.
//!
//! One job per file: [`discovery`] (binaries, versions, KVM), [`api`] (the
//! REST client and its bodies), [`jailer`] (the jail), [`vm`] (one VMM
//! process), and here the [`Environment`] and its instances.

pub mod api;
pub mod discovery;
pub mod jailer;
pub mod vm;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::instance::{prepared, StopGuard};
use crate::vm::{Compression, GuestImage, Halt, KernelSource};
use crate::vsock::VsockEndpoint;
use crate::{
    AgentInvocation, AgentPayload, Availability, Capabilities, EnvError, EnvKind, EnvOptions,
    Environment, EnvironmentInfo, ExitInfo, HostFacts, Instance, KvmKind, LaunchSpec, MeterTarget,
    PayloadView, Prepared, Swept,
};

pub use api::ApiClient;
pub use discovery::{find_binary, find_jailer, jailer_version, kvm_refusal, version};
pub use jailer::JailerConfig;
pub use vm::{root_drive, FirecrackerVm, VmConfig};

/// The environment's name in errors.
const ENV: &str = "firecracker";

/// What Firecracker can do (its registry entry's [`Capabilities`]): a VM
/// with a serial console and a vsock device.
pub const CAPABILITIES: Capabilities = Capabilities {
    vmm_from_cache: true,
    ..Capabilities::virtual_machine()
};

/// Whether Firecracker can run a Linux guest here with these options: the
/// binary (`--firecracker`, which must exist when given, else the cache or
/// PATH), the jailer with `--jailer`, hardware KVM, and the guest kernel
/// (`--kernel`, else the cache's).
pub fn detect(kind: EnvKind, host: &HostFacts, options: &EnvOptions) -> Availability {
    let found = match discovery::binaries(options, host) {
        Ok(found) => found,
        Err(EnvError::Unavailable { reason, fix, .. }) => {
            return Availability::no(kind, reason, fix)
        }
        Err(e) => return Availability::no(kind, e.to_string(), discovery::INSTALL_FIX),
    };
    let version = &found.version;
    if let Some((reason, fix)) = kvm_refusal(host.kvm) {
        return Availability::no(kind, format!("{version} found, but {reason}"), fix);
    }
    let mut kernel = match crate::vm::kernel_detail(options) {
        Ok(detail) => detail,
        Err((reason, fix)) => return Availability::no(kind, reason, fix),
    };
    if options.kernel.is_none() {
        kernel.push_str(
            &match crate::vm::kernel::built_microvm_kernel(&options.cache_dir) {
                Some(vmlinux) => format!(
                    "; for vsock (serve-bench --transport vsock) pass --kernel {}",
                    vmlinux.display()
                ),
                None => "; vsock needs a microVM kernel (scripts/build-microvm-kernel.sh)".into(),
            },
        );
    }
    let jailer = match &found.jailer {
        Some((_, jailer)) => format!(", through the jailer ({jailer})"),
        None => String::new(),
    };
    Availability::yes(
        kind,
        format!(
            "{version} ({}){jailer}, hardware KVM; {kernel}",
            found.firecracker.display()
        ),
    )
}

/// Why Firecracker snapshot starts cannot run here (`None`: they can): the
/// same reason launches cannot (a Linux guest needs hardware KVM).
pub fn snapshot_refusal() -> Option<String> {
    kvm_refusal(HostFacts::probe().kvm).map(|(reason, fix)| {
        format!("firecracker snapshots need a guest that boots: {reason}; fix: {fix}")
    })
}

/// Builds the environment.
pub fn build(_kind: EnvKind, options: &EnvOptions) -> Result<Box<dyn Environment>, EnvError> {
    Ok(Box::new(Firecracker::new(options)?))
}

/// Removes the jailer cgroups dead Firecracker runs left (`isobench
/// clean`); their VMMs and jails are found through the run's work
/// directory by the harness.
pub fn clean_leftovers(kind: EnvKind, _options: &EnvOptions) -> Swept {
    crate::cgroup::sweep_dead_runs(kind)
}

/// The Firecracker environment.
pub struct Firecracker {
    binary: PathBuf,
    version: String,
    kvm: KvmKind,
    options: EnvOptions,
    /// The jailer and its version, when `--jailer` was given.
    jailer: Option<(PathBuf, String)>,
    image: Option<GuestImage>,
    vmlinux: Option<PathBuf>,
}

impl Firecracker {
    /// Finds the binary (`--firecracker`, cache, PATH) and reads its version;
    /// with [`EnvOptions::jailer`] also the jailer (cache, next to the
    /// binary, PATH), which needs root.
    pub fn new(options: &EnvOptions) -> Result<Firecracker, EnvError> {
        let host = HostFacts::probe();
        let found = discovery::binaries(options, &host)?;
        Ok(Firecracker {
            binary: found.firecracker,
            version: found.version,
            kvm: host.kvm,
            options: options.clone(),
            jailer: found.jailer,
            image: None,
            vmlinux: None,
        })
    }

    /// The binary in use.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Overrides the detected KVM kind (tests).
    pub fn with_kvm(mut self, kvm: KvmKind) -> Self {
        self.kvm = kvm;
        self
    }

    /// The boot arguments for one launch.
    pub fn boot_args(image: &GuestImage, invocation: &AgentInvocation) -> Result<String, EnvError> {
        let base: Vec<String> = ["console=ttyS0", "reboot=k", "panic=1", "pci=off", "quiet"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        crate::vm::kernel_cmdline(&base, image, invocation, Halt::Reboot)
    }

    /// Refuses vsock with a kernel that cannot see Firecracker's virtio-mmio devices.
    fn check_vsock(image: &GuestImage) -> Result<(), EnvError> {
        Self::check_mmio(
            image,
            "vsock",
            "or serve over the serial console (--transport stdio)",
        )
    }

    /// Refuses a device (`what`) with a kernel that cannot see Firecracker's
    /// virtio-mmio devices (announced on its command line).
    fn check_mmio(image: &GuestImage, what: &str, alternative: &str) -> Result<(), EnvError> {
        if image.kernel.sees_cmdline_mmio_devices() != Some(false) {
            return Ok(());
        }
        let kernel = match &image.kernel.source {
            KernelSource::Debian(version) => format!("Debian's kernel {version}"),
            KernelSource::User(path) => format!("the kernel {}", path.display()),
        };
        Err(EnvError::Unsupported {
            what: format!(
                "{what} with {kernel} under Firecracker (it lacks {}, so Firecracker's virtio-mmio {what} device is invisible to it)",
                crate::vm::MMIO_CMDLINE_OPTION
            ),
            fix: format!("build a microVM kernel with `scripts/build-microvm-kernel.sh` and pass its vmlinux with --kernel, {alternative}"),
        })
    }

    /// Spawns the VMM for `spec`, directly or through the jailer.
    fn spawn(&self, spec: &LaunchSpec) -> Result<StopGuard<FirecrackerVm>, EnvError> {
        let jailer = self
            .jailer
            .as_ref()
            .map(|(jailer, _)| JailerConfig::new(jailer).with_limits(&spec.limits));
        FirecrackerVm::spawn_process(
            &self.binary,
            jailer.as_ref(),
            &self.options.work_dir,
            &spec.run_id.to_string(),
            spec.timeout,
            Duration::from_secs(5),
            spec.interactive,
        )
    }
}

impl Environment for Firecracker {
    fn kind(&self) -> EnvKind {
        EnvKind::Firecracker
    }

    fn info(&self) -> EnvironmentInfo {
        let mut notes = vec![format!("binary {}", self.binary.display())];
        if let Some((reason, _)) = kvm_refusal(self.kvm) {
            notes.push(format!("cannot boot Linux here: {reason}"));
        }
        if let Some(image) = &self.image {
            notes.push(image.kernel.describe());
            if let Some(vmlinux) = &self.vmlinux {
                notes.push(format!("booted as ELF {}", vmlinux.display()));
            }
        }
        if let Some((jailer, version)) = &self.jailer {
            notes.push(format!(
                "jailer: {version} ({}); chroot {}/fc-<run>-XXXX/jail/{}/<run>/root, uid 0 gid 0, cgroup v1 (isobench/<run>: cpu.cfs_quota_us = --cpus, cpuset.cpus = --cpuset, when set)",
                jailer.display(),
                self.options.work_dir.display(),
                self.binary
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
            ));
        }
        notes.push("boot time: Instance::guest_started_at() is the InstanceStart call; launched_at() is before process spawn".into());
        EnvironmentInfo {
            name: ENV.into(),
            runtime_version: Some(self.version.clone()),
            accel: Some("kvm".into()),
            emulated: false,
            notes,
        }
    }

    fn prepare(&mut self, payload: &AgentPayload) -> Result<Prepared, EnvError> {
        let (image, prepared) = crate::vm::prepare_guest(
            &self.options.cache_dir,
            self.options.kernel.as_deref(),
            payload,
            Compression::None,
        )?;
        if image.root_drive.is_some() {
            Self::check_mmio(
                &image,
                "the root drive of --workload command",
                "or run the command in qemu-microvm / qemu-q35",
            )?;
        }
        self.vmlinux = Some(
            image
                .kernel
                .vmlinux(&self.options.cache_dir.join("kernels/user"))?,
        );
        self.image = Some(image);
        Ok(prepared)
    }

    fn assets_path_inside(&self) -> PathBuf {
        PathBuf::from(crate::vm::GUEST_ASSETS)
    }

    fn payload_view(&self) -> PayloadView {
        PayloadView::guest()
    }

    fn launch(&mut self, spec: &LaunchSpec) -> Result<Box<dyn Instance>, EnvError> {
        if let Some((reason, fix)) = kvm_refusal(self.kvm) {
            return Err(EnvError::Unavailable {
                env: ENV.into(),
                reason,
                fix,
            });
        }
        let (image, vmlinux) = prepared(
            self.image.as_ref().zip(self.vmlinux.as_ref()),
            EnvKind::Firecracker,
        )?;
        if spec.vsock {
            Self::check_vsock(image)?;
        }
        let mut vm = self.spawn(spec)?;
        let vsock = vm.socket_dir().join("vsock.sock");
        vm.configure(&VmConfig {
            kernel: vmlinux.clone(),
            initrd: Some(image.initramfs.path.clone()),
            boot_args: Self::boot_args(image, &spec.invocation)?,
            vcpus: spec.limits.vcpus.unwrap_or(crate::vm::DEFAULT_VCPUS),
            mem_mib: spec
                .limits
                .memory_mib
                .unwrap_or(crate::vm::DEFAULT_MEMORY_MIB),
            vsock: Some((3, vsock)),
        })?;
        if let Some(drive) = &image.root_drive {
            vm.attach_root_drive(&drive.path)?;
        }
        vm.start()?;
        Ok(Box::new(vm))
    }

    /// A fresh Firecracker process loading the snapshot in `image` (see
    /// [`FirecrackerVm::restore_from`]); its serial console is the new
    /// process's stdio, as for a booted VM.
    fn restore(&mut self, spec: &LaunchSpec, image: &Path) -> Result<Box<dyn Instance>, EnvError> {
        if let Some((reason, fix)) = kvm_refusal(self.kvm) {
            return Err(EnvError::Unavailable {
                env: ENV.into(),
                reason,
                fix,
            });
        }
        let mut vm = self.spawn(spec)?;
        vm.restore_from(image)?;
        Ok(Box::new(vm))
    }
}

impl Instance for StopGuard<FirecrackerVm> {
    fn launched_at(&self) -> Instant {
        self.vmm.launched_at()
    }

    fn guest_started_at(&self) -> Option<Instant> {
        self.started_at
    }

    fn next_line(&mut self, timeout: Duration) -> Result<Option<String>, EnvError> {
        self.read(|vm| vm.vmm.next_line(timeout))
    }

    fn meter_target(&self) -> MeterTarget {
        MeterTarget::ProcessTree(self.vmm.child.pid())
    }

    fn vsock(&self) -> Option<VsockEndpoint> {
        self.vsock_socket()
            .map(|uds| VsockEndpoint::Hybrid(uds.to_path_buf()))
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), EnvError> {
        self.vmm.child.send(bytes)
    }

    /// Pauses the guest and writes a full snapshot into `image`
    /// ([`FirecrackerVm::snapshot_into`]); stop the instance afterwards.
    fn checkpoint(&mut self, image: &Path) -> Result<(), EnvError> {
        self.snapshot_into(image)
    }

    fn close_input(&mut self) -> Result<(), EnvError> {
        crate::vm::close_serial_input(&mut self.vmm.child)
    }

    fn stop(&mut self) -> Result<ExitInfo, EnvError> {
        StopGuard::stop(self)
    }
}

/// Firecracker's virtio-mmio devices need the microVM kernel (the VMM
/// itself comes from the pinned cache, `isobench setup`).
pub fn extras(_kind: EnvKind) -> &'static [crate::Extra] {
    &[crate::extras::MICROVM_KERNEL]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_names_the_firecracker_binary_it_was_given() {
        let options = EnvOptions {
            firecracker: Some("/nonexistent/fc".into()),
            ..EnvOptions::default()
        };
        let availability = detect(EnvKind::Firecracker, &HostFacts::probe(), &options);
        assert!(!availability.available, "{availability:?}");
        assert!(
            availability.reason.contains("/nonexistent/fc"),
            "{availability:?}"
        );
        let through_registry = crate::detect(EnvKind::Firecracker, &HostFacts::probe(), &options);
        assert_eq!(through_registry, availability);
    }

    #[test]
    fn detection_looks_for_the_kernel_it_was_given() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("firecracker");
        std::fs::write(&fake, "#!/bin/sh\necho 'Firecracker v1.12.1'\n").unwrap();
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(&fake).unwrap().permissions(),
            0o755,
        );
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let options = EnvOptions {
            firecracker: Some(fake),
            kernel: Some("/nonexistent/vmlinux".into()),
            cache_dir: dir.path().join("cache"),
            ..EnvOptions::default()
        };
        let host = HostFacts {
            kvm: KvmKind::Hardware,
            ..HostFacts::probe()
        };
        let availability = detect(EnvKind::Firecracker, &host, &options);
        assert!(!availability.available, "{availability:?}");
        assert!(
            availability.reason.contains("/nonexistent/vmlinux"),
            "{availability:?}"
        );
    }

    fn exec_image(config: &str) -> (tempfile::TempDir, GuestImage) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config"), config).unwrap();
        let image = GuestImage {
            kernel: crate::vm::GuestKernel {
                source: KernelSource::User(dir.path().join("vmlinux")),
                image: dir.path().join("vmlinux"),
                modules: vec![],
                dir: None,
                config: Some(dir.path().join("config")),
            },
            initramfs: crate::vm::Initramfs {
                path: "/c/i.cpio".into(),
                key: "k".into(),
                bytes: 1,
                cached: true,
                in_use: None,
            },
            modules_inside: vec![],
            env: vec![],
            root_drive: Some(crate::user_root::Ext4Image {
                path: "/c/user-roots/tree-0123.ext4".into(),
                bytes: 1,
                cached: true,
            }),
        };
        (dir, image)
    }

    #[test]
    fn the_root_drive_is_a_read_only_drive_named_to_the_agent() {
        use std::io::{Read, Write};
        let (_dir, image) = exec_image("CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y\n");
        let spec = isobench_records::user::ExecSpec::new(
            vec!["true".into()],
            isobench_records::user::Measure::Process,
            1,
            0,
        );
        let encoded = spec.encode();
        let boot = Firecracker::boot_args(&image, &AgentInvocation::exec(spec)).unwrap();
        assert!(
            boot.ends_with(&format!(
                "-- exec --spec {encoded} --root-device /dev/vda --halt reboot"
            )),
            "{boot}"
        );
        assert!(Firecracker::check_mmio(&image, "the root drive", "").is_ok());
        // The body Firecracker v1.12 takes, sent where its API wants it.
        let drive = root_drive(Path::new("/c/user-roots/tree-0123.ext4"));
        assert_eq!(
            serde_json::to_value(&drive).unwrap(),
            serde_json::json!({
                "drive_id": "rootfs",
                "path_on_host": "/c/user-roots/tree-0123.ext4",
                "is_root_device": false,
                "is_read_only": true
            })
        );
        let sockets = tempfile::tempdir().unwrap();
        let socket = sockets.path().join("api.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&request).contains("\"is_read_only\":true}") {
                let n = conn.read(&mut buf).unwrap();
                request.extend_from_slice(&buf[..n]);
            }
            conn.write_all(b"HTTP/1.1 204 \r\n\r\n").unwrap();
            String::from_utf8(request).unwrap()
        });
        ApiClient::new(&socket).put_drive(&drive).unwrap();
        let request = server.join().unwrap();
        assert!(
            request.starts_with("PUT /drives/rootfs HTTP/1.1\r\n"),
            "{request}"
        );
    }

    #[test]
    fn a_kernel_blind_to_firecrackers_devices_is_refused_for_the_root_drive() {
        let (_dir, image) = exec_image("# CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES is not set\n");
        let err = Firecracker::check_mmio(
            &image,
            "the root drive of --workload command",
            "or run the command in qemu-microvm / qemu-q35",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("the root drive of --workload command with the kernel")
                && err.contains("scripts/build-microvm-kernel.sh")
                && err.contains("qemu-microvm"),
            "{err}"
        );
    }
}
