//! Skips a script can collect, and the environments tests really ran.
//!
//! cargo counts a test that returns early as passed and hides what it
//! printed; `scripts/test.sh` points `$ISOBENCH_SKIP_LOG` and
//! `$ISOBENCH_EXERCISED_LOG` at files, and lists their lines under its
//! summary.

use std::io::Write;

/// Environment variable naming the file skips are appended to (`<test>\t<reason>` lines).
pub const SKIP_LOG_VAR: &str = "ISOBENCH_SKIP_LOG";
/// Environment variable naming the file exercised environments are appended to (one name a line).
pub const EXERCISED_LOG_VAR: &str = "ISOBENCH_EXERCISED_LOG";

/// Records that `test` (or a part of it) was skipped for `reason`: prints
/// `SKIPPED <test>: <reason>` to stderr and appends `<test>\t<reason>` to
/// the file named by `$ISOBENCH_SKIP_LOG` when it is set. Tabs and line
/// breaks in either become spaces (one record, one line).
///
/// The test itself still passes: return from it after a whole skip (the
/// [`skip!`](crate::skip!) macro does both).
pub fn skip(test: &str, reason: &str) {
    let (test, reason) = (one_field(test), one_field(reason));
    eprintln!("SKIPPED {test}: {reason}");
    append(SKIP_LOG_VAR, &format!("{test}\t{reason}\n"));
}

/// Records that environment `env` (its `--env` name) really ran here:
/// appends it to the file named by `$ISOBENCH_EXERCISED_LOG` when set.
/// Call it only after the environment ran the agent for real (e.g. a
/// results file shows it completed with samples), never for fakes.
pub fn exercised(env: &str) {
    append(EXERCISED_LOG_VAR, &format!("{}\n", one_field(env)));
}

/// The name of the test running on this thread, for a skip record:
/// `<test crate>::<test path>` (libtest names each test's thread after the
/// test); `module_path` (the caller's `module_path!()`) alone when the
/// thread has no test name. [`test_name!`](crate::test_name!) passes the caller's module path.
pub fn test_name_in(module_path: &str) -> String {
    let krate = module_path.split("::").next().unwrap_or(module_path);
    match std::thread::current().name() {
        Some(name) if name != "main" && !name.is_empty() => format!("{krate}::{name}"),
        _ => module_path.to_string(),
    }
}

/// The name of the running test, as [`test_name_in`] gives it for the
/// calling module.
#[macro_export]
macro_rules! test_name {
    () => {
        $crate::test_name_in(::std::module_path!())
    };
}

/// Skips the rest of the calling test: records the reason (a `format!`
/// string) under the test's name with [`skip()`](crate::skip()) and returns from
/// the calling function (which must return `()`).
///
/// ```
/// fn needs_root() {
///     if !am_i_root() {
///         isobench_testkit::skip!("needs root (uid {})", 1000);
///     }
///     unreachable!();
/// }
/// # fn am_i_root() -> bool { false }
/// # // Not logged: this example's skip is not a test's.
/// # std::env::remove_var(isobench_testkit::SKIP_LOG_VAR);
/// # needs_root();
/// ```
#[macro_export]
macro_rules! skip {
    ($($reason:tt)+) => {{
        $crate::skip(&$crate::test_name!(), &::std::format!($($reason)+));
        return;
    }};
}

/// Records a skipped *part* of the calling test (a `format!` string) under
/// the test's name with [`skip()`](crate::skip()), and goes on: for a test
/// that checks less than it could on this machine, or a helper that
/// answers "not testable here" to its test.
#[macro_export]
macro_rules! record_skip {
    ($($reason:tt)+) => {
        $crate::skip(&$crate::test_name!(), &::std::format!($($reason)+))
    };
}

/// `text` on one line with no tab: a field of a tab-separated record.
fn one_field(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| {
            if c == '\t' || c == '\n' || c == '\r' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Appends `line` to the file named by `$var`, when set. A log that is set
/// but cannot be written fails the test: a skip must never go unrecorded.
fn append(var: &str, line: &str) {
    let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
        return;
    };
    // One write of a short line to an O_APPEND file: lines of tests running
    // at the same time do not interleave.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(line.as_bytes()));
    if let Err(e) = written {
        panic!("cannot append to ${var} ({}): {e}", path.to_string_lossy());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_tab_separated_line() {
        assert_eq!(
            one_field(" no\tdockerd\r\nhere "),
            "no dockerd  here",
            "tabs and line breaks become spaces"
        );
    }

    #[test]
    fn the_test_name_comes_from_the_test_thread() {
        assert_eq!(
            test_name_in("isobench_testkit::skips::tests"),
            "isobench_testkit::skips::tests::the_test_name_comes_from_the_test_thread"
        );
        assert_eq!(crate::test_name!(), test_name_in(module_path!()));
        let unnamed = std::thread::spawn(|| test_name_in("run_matrix::helpers"))
            .join()
            .unwrap();
        assert_eq!(unnamed, "run_matrix::helpers");
    }
}
