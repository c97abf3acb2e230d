//! Exporters, the terminal table, comparisons and merged reports on synthetic
//! results files whose summaries, outputs check and warnings are computed by
//! the production code (`isobench_harness::summarize::summarize_all`), so the
//! reports are tested on what a run really writes.

mod fixtures;

mod compare;
mod exporters;
mod failures;
mod merged;
mod terminal;
mod verdicts;
