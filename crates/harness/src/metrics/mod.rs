//! Host-side metering: how much CPU and memory an environment costs the
//! host, sampled at a fixed interval from a cgroup or a process tree.

pub mod faults;
pub mod process_tree;
pub mod pss;
pub mod sampler;
pub mod vmm;
pub mod window;

pub use sampler::{Meter, Reading, Sampler};
