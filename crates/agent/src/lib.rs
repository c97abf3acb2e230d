//! The isobench agent: the guest-side program that runs inside every
//! environment. It loads a model, runs a [`workloads::Workload`] for N
//! iterations after W warm-ups and writes JSON-lines records
//! ([`isobench_records`]) to stdout (or the console when it is PID 1).
//!
//! Modules: [`workloads`] (one per workload), [`engine`] (ONNX engines:
//! tract, ort), [`image_ops`] (decode, letterbox), [`data`] (the digits data
//! set), [`run`] (the iteration loop and record emission), [`pid1`] (init
//! duties inside a VM), [`noise`] (a noisy neighbour's load), [`error`].

pub mod data;
pub mod engine;
pub mod error;
pub mod exec;
pub mod image_ops;
pub mod noise;
pub mod pid1;
pub mod run;
pub mod serve;
pub mod workloads;

pub use error::AgentError;
