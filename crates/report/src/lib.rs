//! Reports of isobench results: exports (JSON, CSV, Markdown, a self-contained
//! HTML page with SVG charts), the studies' table (`--style paper`), and A/B
//! comparisons with a permutation test.
//!
//! Typical use after a run: [`write_reports`] next to `results.json`; for
//! `isobench compare`: [`compare::compare_files`] then
//! [`compare::CompareReport::has_regression`].

#![deny(missing_docs)]

pub mod charts;
pub mod compare;
pub mod export;
mod format;
pub mod paper;

pub use compare::{compare_environments, compare_files, CompareReport, CompareRow};
pub use export::{
    raw_csv, write_reports, CsvExporter, ExportFormat, Exporter, HtmlExporter, JsonExporter,
    MarkdownExporter,
};
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
