//! Honest skips: a test may skip an environment detection calls
//! unavailable only when the tool behind it is really absent from this
//! host. When the tool is installed, detection saying "unavailable" is a
//! finding (a broken install, or a detection bug), and the test fails with
//! detection's reason instead of passing quietly.

/// The program an environment needs on the host, when it needs one
/// (`None`: nothing to install, or the tool is fetched into the cache).
pub fn tool_of(env: &str) -> Option<&'static str> {
    match env {
        "oci-runc" => Some("runc"),
        "oci-crun" => Some("crun"),
        "oci-youki" => Some("youki"),
        "gvisor" => Some("runsc"),
        "docker" => Some("dockerd"),
        "podman" => Some("podman"),
        "kata" => Some("kata-runtime"),
        "qemu-microvm" | "qemu-q35" => Some("qemu-system-x86_64"),
        _ => None,
    }
}

/// True when `program` is an executable on `$PATH` (or in the sbin
/// directories root's tools live in).
pub fn installed(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(Into::into))
        .any(|dir| dir.join(program).is_file())
}

/// Panics when `env`'s tool is installed although detection called `env`
/// unavailable for `reason`; returns normally (the caller then records its
/// skip) when the tool is absent, or when `env` needs no tool of its own.
pub fn assert_truly_unavailable(env: &str, reason: &str) {
    if let Some(tool) = tool_of(env).filter(|t| installed(t)) {
        panic!(
            "{env}: detection says unavailable ({reason}) although {tool} is installed: fix the install or the detection instead of skipping"
        );
    }
}
