//! A VMM's own memory overhead: its resident memory minus the guest's RAM,
//! measured as Firecracker's memory test does, from the process' mappings
//! (the guest RAM is the VMM's largest anonymous mapping).

use std::path::Path;

/// Smallest mapping taken for guest RAM (a guest has at least this much).
const MIN_GUEST_RAM: u64 = 32 << 20;

/// Resident bytes of `pid` outside its guest-RAM mapping, and the guest
/// mapping's size; `None` when the process is gone or has no such mapping.
pub fn vmm_overhead(pid: i32) -> Option<(u64, u64)> {
    let text =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("smaps")).ok()?;
    overhead_from_smaps(&text)
}

/// Parses smaps text (testable).
pub fn overhead_from_smaps(text: &str) -> Option<(u64, u64)> {
    // (size, rss, anonymous) per mapping
    let mut mappings: Vec<(u64, u64, bool)> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if let Some((start, end)) = first.split_once('-') {
            if let (Ok(start), Ok(end)) =
                (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
            {
                // header: range perms offset dev inode [path]
                let path = fields.nth(4);
                mappings.push((end.saturating_sub(start), 0, path.is_none()));
                continue;
            }
        }
        if first == "Rss:" {
            if let (Some(kb), Some(last)) = (
                fields.next().and_then(|v| v.parse::<u64>().ok()),
                mappings.last_mut(),
            ) {
                last.1 = kb * 1024;
            }
        }
    }
    let guest = mappings
        .iter()
        .enumerate()
        .filter(|(_, (size, _, anon))| *anon && *size >= MIN_GUEST_RAM)
        .max_by_key(|(_, (size, _, _))| *size)?;
    let overhead: u64 = mappings
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != guest.0)
        .map(|(_, (_, rss, _))| rss)
        .sum();
    Some((overhead, guest.1 .0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_the_largest_anonymous_mapping() {
        let smaps = "\
55d0c0000000-55d0c0200000 r-xp 00000000 fd:01 123 /usr/bin/qemu-system-x86_64
Size:               2048 kB
Rss:                1500 kB
7f0000000000-7f0040000000 rw-p 00000000 00:00 0
Size:            1048576 kB
Rss:              300000 kB
7f1000000000-7f1000100000 rw-p 00000000 00:00 0
Size:               1024 kB
Rss:                 500 kB
";
        let (overhead, guest) = overhead_from_smaps(smaps).unwrap();
        assert_eq!(overhead, (1500 + 500) * 1024);
        assert_eq!(guest, 1 << 30);
        assert!(overhead_from_smaps("").is_none());
    }
}
