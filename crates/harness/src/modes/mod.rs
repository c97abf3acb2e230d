//! What an experiment does with running instances: one module per mode,
//! each with its subcommand. Instances come from [`crate::lifecycle`].

pub mod batch;
pub mod cold_start;
pub mod serving;
