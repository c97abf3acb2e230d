//! The isobench test kit: what the workspace's tests share, so that every
//! test finds the agent the same way, drives the runner the same way and
//! says the same way what it could not test.
//!
//! - [`static_agent`] / [`dynamic_agent`]: the one lookup of the agent
//!   builds ([`require_static_agent`] for tests that cannot do without it).
//! - [`skip()`] / [`skip!`] / [`record_skip!`]: a test that cannot run here
//!   says so on stderr *and* in the file named by `$ISOBENCH_SKIP_LOG`,
//!   which `scripts/test.sh` lists under its summary; [`exercised`] /
//!   [`exercised_by`] name the environments that really ran
//!   (`$ISOBENCH_EXERCISED_LOG`), so the script can name those that did not.
//!   [`assert_truly_unavailable`] keeps skips honest: an environment whose
//!   tool is installed may not be skipped as "unavailable".
//! - With the `backend` feature: [`payload`], [`run_context`] and the
//!   [`fake`] backend: a scripted [`fake::FakeEnvironment`] and
//!   [`fake::FakeSource`] that drive `isobench_harness::run_experiment`
//!   with no process spawned (hyperfine's `MockExecutor` idea).
//!
//! A dev-dependency only: nothing here ships in a binary.

#![warn(missing_docs)]

mod agents;
mod skips;
mod unavailable;

#[cfg(feature = "backend")]
mod context;
#[cfg(feature = "backend")]
pub mod fake;

pub use agents::{
    dynamic_agent, require_static_agent, static_agent, workspace_root, DYNAMIC_AGENT_VAR,
    STATIC_AGENT_VAR,
};
pub use skips::{exercised, skip, test_name_in, EXERCISED_LOG_VAR, SKIP_LOG_VAR};
pub use unavailable::{assert_truly_unavailable, installed, tool_of};

#[cfg(feature = "backend")]
pub use context::{exercised_by, payload, run_context};
