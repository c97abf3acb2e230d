//! The experiment harness: the instance lifecycle every experiment shares
//! ([`lifecycle`]: environments detected, prepared and torn down once,
//! instances launched from a typed invocation, their records read within
//! limits, stopped and cleaned up), and the modes built on it ([`modes`]:
//! batch runs for `isobench run`, serving for `isobench serve-bench`, cold
//! starts for `isobench cold-start`). It
//! meters what each instance costs the host ([`metrics`]), computes
//! statistics ([`summarize`]) and writes `results.json` as results arrive.
//!
//! The path of an experiment: config → session → lab (prepare, launch) →
//! agent records → metrics → statistics → results file → reports.

pub mod calibration;
pub mod cleanup;
pub mod config;
pub mod context;
pub mod error;
pub mod host;
pub mod journal;
pub mod lifecycle;
pub mod metrics;
pub mod modes;
pub mod outputs;
pub mod payload;
pub mod session;
pub mod summarize;

pub use config::ExperimentConfig;
pub use context::{results_path, EnvironmentSource, Registry, RunContext, RunObserver};
pub use error::{HarnessError, RepetitionError};
pub use modes::batch::run_experiment;
pub use modes::cold_start;
pub use modes::density;
pub use modes::interference;
pub use modes::serving;
