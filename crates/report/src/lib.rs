//! Reports of isobench results: exports (JSON, CSV, Markdown, a self-contained
//! HTML page with SVG charts), the terminal table, the studies' table
//! (`--style paper`), reports across hosts, and A/B comparisons.
//!
//! There is one verdict: every table reads the file's
//! [`isobench_results::EnvironmentSummary::decision`] and words it the same
//! way ([`verdict::Verdict`]): one of four outcomes (slower, faster, same,
//! inconclusive), with the change the run could have detected next to
//! `same` and `inconclusive`, and for `inconclusive` the interval and what
//! would decide it. [`compare_environments`] computes the same decisions
//! with the same options. Every figure is defined once, in the results' doc
//! comments, and the reports' "Definitions" repeat it; an absent figure
//! reads `—` with its reason, never 0.
//!
//! The crate is laid out by what each part does: [`verdict`] (verdict
//! words), [`words`] (warnings and absent reasons), `cells` (figure cells),
//! `notes` (notes and footnotes under a table), [`design`] (the run's
//! design), `definitions`, `sections` (the details of Markdown and HTML),
//! [`text_table`] (the one terminal table formatter), [`export`] (one module
//! per format), [`charts`] (SVG, with the verdicts' forest plot),
//! [`compare`], [`merged`], [`paper`], [`serving`], [`cold_start`], [`density`]
//! and [`interference`].
//!
//! Typical use after a run: [`terminal_table`], then [`write_reports`] next to
//! `results.json`; for `isobench compare`: [`compare_files`] or
//! [`compare_environments`], then [`CompareReport::has_regression`] and
//! [`CompareReport::outputs_differ`]; for several hosts:
//! [`merged_markdown`] / [`merged_html`].

#![deny(missing_docs)]

mod cells;
pub mod charts;
pub mod cold_start;
pub mod compare;
mod definitions;
pub mod density;
pub mod design;
pub mod export;
mod format;
pub mod interference;
pub mod merged;
mod notes;
pub mod paper;
mod sections;
pub mod serving;
pub mod text_table;
pub mod verdict;
pub mod words;

pub use cold_start::cold_start_table;
pub use compare::{
    compare_environments, compare_files, CompareOptions, CompareReport, CompareRow, FileChecks,
    Side, COMPARE_FORMAT_VERSION, HOST_DRIFT_THRESHOLD,
};
pub use density::density_table;
pub use export::{
    raw_csv, terminal_table, terminal_table_with, write_reports, CsvExporter, ExportFormat,
    Exporter, HtmlExporter, JsonExporter, MarkdownExporter, TerminalOptions,
};
pub use interference::interference_table;
pub use merged::{merged_html, merged_markdown};
pub use paper::render_paper_table;
pub use serving::serving_table;

/// Errors producing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A report file could not be written.
    #[error("cannot write {path}: {source}; check that the directory exists and is writable")]
    Io {
        /// The file.
        path: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// JSON serialisation failed.
    #[error("cannot serialise results to JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A chart could not be drawn.
    #[error("cannot draw chart `{chart}`: {reason}")]
    Chart {
        /// Chart id.
        chart: String,
        /// Plotting library message.
        reason: String,
    },
    /// An environment named for a comparison is not in the results.
    #[error("environment `{name}` has no measured samples in the results (measured: {available}); pick one of those")]
    UnknownEnvironment {
        /// Name asked for.
        name: String,
        /// Comma-separated measured environments.
        available: String,
    },
    /// No environment to compare.
    #[error("nothing to compare: {0}")]
    NothingToCompare(String),
    /// Two results files measure different things (workloads, engines,
    /// models or input sets differ); `--force` compares them anyway.
    #[error("A and B measure different things: {}; compare runs of the same workload, engine, model and inputs, or pass --force to compare anyway", reasons.join("; "))]
    Incomparable {
        /// What differs, one entry per difference.
        reasons: Vec<String>,
    },
}

#[cfg(test)]
mod tests;
