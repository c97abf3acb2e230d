//! Pretty JSON of the whole results file (the same schema as results.json).

use isobench_results::ResultsFile;

use super::Exporter;
use crate::ReportError;

/// Exports the results file as pretty JSON.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn serialize(&self, results: &ResultsFile) -> Result<Vec<u8>, ReportError> {
        let mut bytes = serde_json::to_vec_pretty(results)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}
