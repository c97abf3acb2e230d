//! One exporter per format behind [`Exporter`], as hyperfine does, and the
//! terminal table ([`terminal_table`]).
//!
//! Markdown, HTML and the terminal table are built from the same pieces:
//! figure cells (`crate::cells`), verdict words (`crate::verdict`), notes
//! and footnotes (`crate::notes`), warnings (`crate::words`), the design
//! (`crate::design`), definitions (`crate::definitions`) and the details
//! sections (`crate::sections`): one definition per figure, one verdict
//! (the file's [`isobench_results::EnvironmentSummary::decision`]), the
//! same words.

pub(crate) mod csv;
pub(crate) mod html;
mod json;
pub(crate) mod markdown;
mod terminal;

use std::path::{Path, PathBuf};

use isobench_results::ResultsFile;

pub use self::csv::{raw_csv, CsvExporter};
pub use self::html::HtmlExporter;
pub use self::json::JsonExporter;
pub use self::markdown::MarkdownExporter;
pub use self::terminal::{terminal_table, terminal_table_with, TerminalOptions};
use crate::ReportError;

/// Turns a results file into the bytes of one format.
pub trait Exporter {
    /// Serialises `results`.
    fn serialize(&self, results: &ResultsFile) -> Result<Vec<u8>, ReportError>;
}

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Pretty JSON of the whole results file.
    Json,
    /// One row per environment with the summary columns.
    Csv,
    /// The summary table with its definitions and details, ready to paste.
    Markdown,
    /// Self-contained HTML page with charts.
    Html,
}

impl ExportFormat {
    /// The exporter of this format.
    pub fn exporter(self) -> Box<dyn Exporter> {
        match self {
            ExportFormat::Json => Box::new(JsonExporter),
            ExportFormat::Csv => Box::new(CsvExporter),
            ExportFormat::Markdown => Box::new(MarkdownExporter),
            ExportFormat::Html => Box::new(HtmlExporter),
        }
    }

    /// File extension (no dot).
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Csv => "csv",
            ExportFormat::Markdown => "md",
            ExportFormat::Html => "html",
        }
    }
}

/// Writes `report.html`, `report.md`, `results.csv` (summary) and `samples.csv`
/// (one row per iteration) into `dir` (next to results.json, which the harness
/// writes itself). Returns the paths written.
pub fn write_reports(results: &ResultsFile, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let outputs: [(&str, Vec<u8>); 4] = [
        ("report.html", HtmlExporter.serialize(results)?),
        ("report.md", MarkdownExporter.serialize(results)?),
        ("results.csv", CsvExporter.serialize(results)?),
        ("samples.csv", raw_csv(results)),
    ];
    let mut written = Vec::new();
    for (name, bytes) in outputs {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let io = |source| ReportError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        written.push(path);
    }
    Ok(written)
}
