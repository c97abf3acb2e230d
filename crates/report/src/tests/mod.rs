//! Exporters, the terminal table, comparisons and merged reports on synthetic
//! v2 results files whose summaries are computed the way the harness
//! computes them (`crates/harness/src/summarize.rs`, mirrored by [`summaries::summarize_all`]).

mod fixtures;
mod summaries;

mod compare;
mod exporters;
mod failures;
mod merged;
mod verdicts;
