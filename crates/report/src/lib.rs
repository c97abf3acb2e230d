//! Reports of isobench results: exports (JSON, CSV, Markdown, a self-contained
//! HTML page with SVG charts), the terminal table, the studies' table
//! (`--style paper`), reports across hosts, and A/B comparisons.
//!
//! There is one verdict: every table reads the file's
//! [`isobench_results::EnvironmentSummary::comparison`] (a permutation test
//! on repetition means, significant when p < alpha and |change| >
//! threshold), and [`compare_environments`] computes the same one with the
//! same options. Every figure is defined once, in the results' doc comments,
//! and the reports' "Definitions" repeat it; an absent figure reads `—`
//! with its reason, never 0.
//!
//! Typical use after a run: [`terminal_table`], then [`write_reports`] next to
//! `results.json`; for `isobench compare`: [`compare::compare_files`] then
//! [`compare::CompareReport::has_regression`] and
//! [`compare::CompareReport::outputs_differ`]; for several hosts:
//! [`merged_markdown`] / [`merged_html`].

#![deny(missing_docs)]

pub mod charts;
pub mod compare;
pub mod export;
mod format;
pub mod merged;
pub mod paper;
pub mod words;

pub use compare::{
    compare_environments, compare_files, CompareReport, CompareRow, HOST_DRIFT_THRESHOLD,
};
pub use export::{
    raw_csv, terminal_table, write_reports, CsvExporter, ExportFormat, Exporter, HtmlExporter,
    JsonExporter, MarkdownExporter,
};
pub use merged::{merged_html, merged_markdown};
pub use paper::render_paper_table;

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
}

#[cfg(test)]
mod tests;
