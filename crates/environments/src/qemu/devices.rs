//! The guest's devices on QEMU's command line: the vsock device, the root
//! drive of `--workload command`, and where microvm puts its virtio-mmio
//! transports (and how a kernel that reads them from its command line is
//! told about them, as Firecracker tells its guests).

use std::path::{Path, PathBuf};

use crate::EnvKind;

/// The kernel's vhost-vsock device node.
pub const VHOST_VSOCK_DEVICE: &str = "/dev/vhost-vsock";

/// The vsock device of one QEMU launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QemuVsock {
    /// The kernel's vhost-vsock (`/dev/vhost-vsock`) with this guest CID.
    Kernel {
        /// Guest CID, unique on the host.
        cid: u32,
    },
    /// vhost-user-vsock: the vhost-user socket of a `vhost-device-vsock` daemon.
    VhostUser {
        /// The daemon's vhost-user socket.
        socket: PathBuf,
    },
}

/// A guest CID for the kernel's vhost-vsock, unique among this host's
/// isobench processes (CIDs 0-2 are reserved).
pub(super) fn kernel_guest_cid() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let sequence = NEXT.fetch_add(1, Ordering::Relaxed) % 64;
    0x1000_0000 + (std::process::id() % 0x100_0000) * 64 + sequence
}

/// Where QEMU's microvm places its virtio-mmio transports: transport `n`
/// (bus `virtio-mmio-bus.<n>`) at `BASE + n * SLOT` with GSI `IRQ_BASE + n`
/// when ACPI (and with it the second IOAPIC) is off.
pub const MICROVM_MMIO_BASE: u64 = 0xfeb0_0000;
/// The size of one microvm virtio-mmio transport.
pub const MICROVM_MMIO_SLOT: u64 = 512;
/// The GSI of microvm's transport 0 without ACPI.
pub const MICROVM_MMIO_IRQ_BASE: u64 = 5;

/// The microvm transport isobench puts its vsock device on.
pub const VSOCK_TRANSPORT: u64 = 0;

/// The microvm transport isobench puts the root drive on.
pub const ROOT_DRIVE_TRANSPORT: u64 = 1;

/// The drive id of the root drive on QEMU's command line.
const ROOT_DRIVE_ID: &str = "isobench-root";

/// The kernel parameter announcing microvm transport `n`, as Firecracker
/// announces its devices (`virtio_mmio.device=<size>@<base>:<irq>`).
pub fn microvm_mmio_device_param(n: u64) -> String {
    format!(
        "virtio_mmio.device={MICROVM_MMIO_SLOT}@{:#x}:{}",
        MICROVM_MMIO_BASE + n * MICROVM_MMIO_SLOT,
        MICROVM_MMIO_IRQ_BASE + n
    )
}

/// How a machine attaches virtio devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtioBus {
    /// q35: PCI (`virtio-...-pci`).
    Pci,
    /// microvm with ACPI: virtio-mmio transports the guest finds in the
    /// ACPI tables; QEMU picks the transport.
    Mmio,
    /// microvm without ACPI: each device on a fixed transport, announced on
    /// the kernel command line.
    AnnouncedMmio,
}

impl VirtioBus {
    /// The bus of `kind`'s machine; `announced`: the guest kernel reads
    /// virtio-mmio devices from its command line (microvm only).
    pub fn of(kind: EnvKind, announced: bool) -> Self {
        match (kind, announced) {
            (EnvKind::QemuQ35, _) => VirtioBus::Pci,
            (_, true) => VirtioBus::AnnouncedMmio,
            (_, false) => VirtioBus::Mmio,
        }
    }

    /// Kernel parameters announcing the transports of the devices a launch
    /// has (none unless [`VirtioBus::AnnouncedMmio`]).
    pub fn kernel_params(self, vsock: bool, root_drive: bool) -> Vec<String> {
        if self != VirtioBus::AnnouncedMmio {
            return Vec::new();
        }
        [(vsock, VSOCK_TRANSPORT), (root_drive, ROOT_DRIVE_TRANSPORT)]
            .into_iter()
            .filter(|(has, _)| *has)
            .map(|(_, n)| microvm_mmio_device_param(n))
            .collect()
    }

    /// The device model's suffix and bus option for a device on `transport`:
    /// `pci`, `device`, or `device,bus=virtio-mmio-bus.<n>`.
    fn device(self, transport: u64) -> String {
        match self {
            VirtioBus::Pci => "pci".into(),
            VirtioBus::Mmio => "device".into(),
            VirtioBus::AnnouncedMmio => format!("device,bus=virtio-mmio-bus.{transport}"),
        }
    }
}

/// QEMU's arguments for the vsock device.
pub fn vsock_args(bus: VirtioBus, vsock: &QemuVsock) -> Vec<String> {
    let device = bus.device(VSOCK_TRANSPORT);
    match vsock {
        QemuVsock::Kernel { cid } => vec![
            "-device".into(),
            format!("vhost-vsock-{device},id=isobench-vsock,guest-cid={cid}"),
        ],
        QemuVsock::VhostUser { socket } => vec![
            "-chardev".into(),
            format!("socket,id=isobench-vsock-chr,path={}", socket.display()),
            "-device".into(),
            format!("vhost-user-vsock-{device},id=isobench-vsock,chardev=isobench-vsock-chr"),
        ],
    }
}

/// QEMU's arguments for the root drive: the ext4 image, read-only, as the
/// guest's virtio block device (its only one: `/dev/vda`).
pub fn root_drive_args(bus: VirtioBus, image: &Path) -> Vec<String> {
    // QEMU's option syntax doubles a comma inside a value.
    let file = image.display().to_string().replace(',', ",,");
    vec![
        "-drive".into(),
        format!("file={file},format=raw,if=none,id={ROOT_DRIVE_ID},readonly=on"),
        "-device".into(),
        format!(
            "virtio-blk-{},drive={ROOT_DRIVE_ID}",
            bus.device(ROOT_DRIVE_TRANSPORT)
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_drive_follows_the_machine() {
        let image = Path::new("/c/user-roots/tree-01,23.ext4");
        assert_eq!(
            root_drive_args(VirtioBus::Pci, image),
            [
                "-drive",
                "file=/c/user-roots/tree-01,,23.ext4,format=raw,if=none,id=isobench-root,readonly=on",
                "-device",
                "virtio-blk-pci,drive=isobench-root"
            ]
        );
        assert_eq!(
            root_drive_args(VirtioBus::Mmio, image)[3],
            "virtio-blk-device,drive=isobench-root"
        );
        assert_eq!(
            root_drive_args(VirtioBus::AnnouncedMmio, image)[3],
            "virtio-blk-device,bus=virtio-mmio-bus.1,drive=isobench-root"
        );
        assert_eq!(
            VirtioBus::AnnouncedMmio.kernel_params(true, true),
            [
                "virtio_mmio.device=512@0xfeb00000:5",
                "virtio_mmio.device=512@0xfeb00200:6"
            ]
        );
        assert_eq!(
            VirtioBus::AnnouncedMmio.kernel_params(false, true),
            ["virtio_mmio.device=512@0xfeb00200:6"]
        );
        assert!(VirtioBus::Mmio.kernel_params(true, true).is_empty());
        assert_eq!(VirtioBus::of(EnvKind::QemuQ35, true), VirtioBus::Pci);
        assert_eq!(VirtioBus::of(EnvKind::QemuMicrovm, false), VirtioBus::Mmio);
    }
}
