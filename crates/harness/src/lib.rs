//! The experiment harness: takes an [`config::ExperimentConfig`], runs the
//! agent in each requested environment ([`runner`]), meters what each one
//! costs the host ([`metrics`]), computes statistics ([`summarize`]) and
//! writes `results.json` as results arrive.
//!
//! The path of an experiment: config → environment (prepare, launch) →
//! agent records → metrics → statistics → results file → reports.

pub mod calibration;
pub mod cleanup;
pub mod config;
pub mod error;
pub mod host;
pub mod journal;
pub mod metrics;
pub mod outputs;
pub mod payload;
pub mod runner;
pub mod serving;
pub mod session;
pub mod summarize;

pub use config::ExperimentConfig;
pub use error::{HarnessError, RepetitionError};
pub use runner::{run_experiment, RunObserver};
