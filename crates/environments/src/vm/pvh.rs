//! A tiny hand-written PVH guest for checking a VMM's life cycle where a
//! Linux guest cannot boot (kvm-pvm hosts): it writes one line to COM1 and
//! resets the machine. Firecracker boots it and exits in ~10 ms here.

/// A PVH ELF guest: 32-bit code that writes `message` to COM1 and resets
/// the machine through the i8042 controller (Firecracker then exits), or,
/// where there is none (QEMU microvm), by a triple fault a moment later.
pub fn test_guest(message: &str) -> Vec<u8> {
    build(message, true)
}

/// Like [`test_guest`], but the guest then idles forever (`cli; hlt`):
/// the VM keeps running until the VMM is stopped, so its devices (a vsock
/// socket) can be exercised from the host. It has no drivers: nothing in
/// it ever answers a device.
pub fn idle_test_guest(message: &str) -> Vec<u8> {
    build(message, false)
}

fn build(message: &str, reset: bool) -> Vec<u8> {
    const BASE: u64 = 0x10_0000; // loaded at 1 MiB
    const CODE: usize = 0x100;
    const CODE_LEN: usize = 40;
    let mut code: Vec<u8> = Vec::new();
    let msg_addr = (BASE as usize + CODE + CODE_LEN) as u32;
    code.extend([0xBA, 0xF8, 0x03, 0x00, 0x00]); // mov edx, 0x3f8
    code.push(0xBE); // mov esi, msg
    code.extend(msg_addr.to_le_bytes());
    code.extend([0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB, 0xF8]); // lodsb; test al,al; jz done; out dx,al; jmp loop
    if reset {
        code.extend([0xB0, 0xFE, 0xE6, 0x64]); // done: mov al, 0xfe; out 0x64, al (i8042 reset: Firecracker)
                                               // Give the VMM time to act on the reset before the fallback below (a
                                               // triple fault right away races Firecracker's reset handling).
        code.extend([0xB9, 0x00, 0x00, 0x00, 0x08, 0xE2, 0xFE]); // mov ecx, 0x8000000; spin: loop spin
        let idtr_addr = msg_addr + message.len() as u32 + 2;
        code.extend([0x0F, 0x01, 0x1D]); // lidt [idtr] (an empty IDT) ...
        code.extend(idtr_addr.to_le_bytes());
        code.push(0xCC); // ... then int3: triple fault, a reset on machines without i8042 (QEMU microvm)
        code.extend([0xF4, 0xEB, 0xFD]); // hlt; jmp hlt
    } else {
        code.extend([0xFA, 0xF4, 0xEB, 0xFD]); // done: cli; hlt; jmp hlt
        code.resize(CODE_LEN, 0x90); // nop padding
    }
    assert_eq!(code.len(), CODE_LEN);
    code.extend(message.as_bytes());
    code.extend(b"\n\0");
    code.extend([0u8; 6]); // idtr: limit 0, base 0

    let mut elf = vec![0u8; CODE];
    let total = (CODE + code.len()) as u64;
    // ELF header.
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2; // 64-bit
    elf[5] = 1; // little endian
    elf[6] = 1; // version
    elf[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    elf[20..24].copy_from_slice(&1u32.to_le_bytes());
    elf[24..32].copy_from_slice(&(BASE + CODE as u64).to_le_bytes()); // e_entry
    elf[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    elf[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    elf[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    elf[56..58].copy_from_slice(&2u16.to_le_bytes()); // e_phnum
    elf[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
    let phdr = |elf: &mut Vec<u8>,
                at: usize,
                p_type: u32,
                flags: u32,
                offset: u64,
                addr: u64,
                size: u64,
                align: u64| {
        let mut h = Vec::new();
        h.extend(p_type.to_le_bytes());
        h.extend(flags.to_le_bytes());
        h.extend(offset.to_le_bytes());
        h.extend(addr.to_le_bytes()); // vaddr
        h.extend(addr.to_le_bytes()); // paddr
        h.extend(size.to_le_bytes()); // filesz
        h.extend(size.to_le_bytes()); // memsz
        h.extend(align.to_le_bytes());
        elf[at..at + 56].copy_from_slice(&h);
    };
    // PVH entry note: name "Xen", type XEN_ELFNOTE_PHYS32_ENTRY (18), 4-byte entry.
    let note_at = 0xB0usize;
    let mut note = Vec::new();
    note.extend(4u32.to_le_bytes());
    note.extend(4u32.to_le_bytes());
    note.extend(18u32.to_le_bytes());
    note.extend(b"Xen\0");
    note.extend(((BASE as usize + CODE) as u32).to_le_bytes());
    elf[note_at..note_at + note.len()].copy_from_slice(&note);
    phdr(&mut elf, 64, 1, 7, 0, BASE, total, 0x1000); // PT_LOAD RWX
    phdr(
        &mut elf,
        120,
        4,
        4,
        note_at as u64,
        BASE + note_at as u64,
        note.len() as u64,
        4,
    ); // PT_NOTE
    elf.extend(code);
    elf
}
