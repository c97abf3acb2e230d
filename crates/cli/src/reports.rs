//! `isobench report`, `isobench compare`, and the reports written after a run.

use std::path::Path;

use anyhow::{bail, Context, Result};
use isobench_report::{
    compare_environments, compare_files, merged_html, merged_markdown, render_paper_table,
    terminal_table_with, write_reports, CompareOptions, ExportFormat, FileChecks, ReportError,
    Side, TerminalOptions,
};
use isobench_results::ResultsFile;
use isobench_stats::Statistic;

use crate::cli::{CompareArgs, ReportArgs, ReportStyle};

/// Writes report.html, report.md, results.csv and samples.csv next to results.json.
pub fn write_all(results: &ResultsFile, dir: &Path) -> Result<()> {
    write_reports(results, dir).with_context(|| format!("writing reports to {}", dir.display()))?;
    Ok(())
}

/// `isobench report RESULTS... [--style ...] [-o FILE]`: one results file
/// gives its reports; several are merged (a column group per host).
pub fn report(args: ReportArgs) -> Result<i32> {
    let files: Vec<(String, ResultsFile)> = args
        .results
        .iter()
        .map(|path| Ok((path.display().to_string(), ResultsFile::load(path)?)))
        .collect::<Result<_>>()?;
    if files.len() > 1 {
        return report_merged(&files, &args);
    }
    let results = &files[0].1;
    let format = match args.style {
        ReportStyle::Paper => {
            let table = render_paper_table(std::slice::from_ref(results));
            return emit(table.as_bytes(), args.output.as_deref()).map(|_| 0);
        }
        ReportStyle::Terminal => {
            let layout = TerminalOptions { wide: args.wide };
            let table = terminal_table_with(results, &layout);
            return emit(table.as_bytes(), args.output.as_deref()).map(|_| 0);
        }
        ReportStyle::Html if args.output.is_none() => {
            let dir = args.results[0]
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            for path in write_reports(results, dir)? {
                say(&format!("wrote {}", path.display()))?;
            }
            return Ok(0);
        }
        ReportStyle::Html => ExportFormat::Html,
        ReportStyle::Markdown => ExportFormat::Markdown,
        ReportStyle::Csv => ExportFormat::Csv,
        ReportStyle::Json => ExportFormat::Json,
    };
    let bytes = format.exporter().serialize(results)?;
    emit(&bytes, args.output.as_deref())?;
    Ok(0)
}

/// Several results files (from different hosts, say) in one report.
fn report_merged(files: &[(String, ResultsFile)], args: &ReportArgs) -> Result<i32> {
    match args.style {
        ReportStyle::Paper => {
            let all: Vec<ResultsFile> = files.iter().map(|(_, r)| r.clone()).collect();
            emit(render_paper_table(&all).as_bytes(), args.output.as_deref())?;
        }
        ReportStyle::Markdown => emit(merged_markdown(files).as_bytes(), args.output.as_deref())?,
        ReportStyle::Html => match &args.output {
            Some(path) => emit(merged_html(files)?.as_bytes(), Some(path))?,
            None => {
                for (name, text) in [
                    ("merged-report.html", merged_html(files)?),
                    ("merged-report.md", merged_markdown(files)),
                ] {
                    std::fs::write(name, text).with_context(|| format!("writing {name}"))?;
                    say(&format!("wrote {name}"))?;
                }
            }
        },
        other @ (ReportStyle::Csv | ReportStyle::Json | ReportStyle::Terminal) => bail!(
            "--style {} takes one results file; with several, use html, markdown or paper",
            match other {
                ReportStyle::Csv => "csv",
                ReportStyle::Json => "json",
                _ => "terminal",
            }
        ),
    }
    Ok(0)
}

/// Writes `bytes` (text) to stdout; a closed pipe ends it quietly ([`crate::out::print`]).
fn stdout(bytes: &[u8]) -> Result<()> {
    crate::out::print(&String::from_utf8_lossy(bytes)).context("writing to stdout")
}

/// One line on stdout (see [`stdout`]).
fn say(line: &str) -> Result<()> {
    crate::out::print(&format!("{line}\n")).context("writing to stdout")
}

/// Writes `bytes` to `output`, or to stdout when it is absent or `-`.
fn emit(bytes: &[u8], output: Option<&Path>) -> Result<()> {
    match output {
        Some(path) if path != Path::new("-") => {
            std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
            Ok(())
        }
        _ => stdout(bytes),
    }
}

/// Exit code of `isobench compare` when the files measure different
/// things (workloads, engines, models or input sets differ) and `--force`
/// was not given; also clap's code for usage errors.
pub const INCOMPARABLE_EXIT: i32 = 2;
/// Exit code of `isobench compare` when a regression is found (B slower
/// than A; errors exit 1).
pub const REGRESSION_EXIT: i32 = 3;
/// Exit code of `isobench compare` when the two sides computed different
/// outputs for the same inputs (the comparison does not compare like with like).
pub const OUTPUTS_DIFFER_EXIT: i32 = 4;

/// The decision options of `args`, checked.
fn compare_options(args: &CompareArgs) -> Result<CompareOptions> {
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        bail!("--alpha {} must be between 0 and 1", args.alpha);
    }
    if !(args.threshold > 0.0 && args.threshold < 100.0) {
        bail!(
            "--threshold {} must be a percentage between 0 and 100",
            args.threshold
        );
    }
    Ok(CompareOptions {
        statistic: Statistic::from(args.statistic),
        decision: isobench_stats::DecisionOptions {
            alpha: args.alpha,
            threshold: args.threshold / 100.0,
            ..isobench_harness::summarize::decision_options()
        },
    })
}

/// `isobench compare A.json [B.json]`: exit 0 when no regression,
/// [`REGRESSION_EXIT`] when B (or the candidate environment) is slower,
/// [`OUTPUTS_DIFFER_EXIT`] when outputs differ, [`INCOMPARABLE_EXIT`] when
/// the files measure different things.
pub fn compare(args: CompareArgs) -> Result<i32> {
    let options = compare_options(&args)?;
    let a = ResultsFile::load(&args.a)?;
    let report = match &args.b {
        Some(b_path) => {
            let b = ResultsFile::load(b_path)?;
            let (a_label, b_label) = (args.a.display().to_string(), b_path.display().to_string());
            let checks = FileChecks {
                allow_host_drift: args.allow_host_drift,
                force: args.force,
            };
            let compared = compare_files(
                &Side {
                    file: &a,
                    label: &a_label,
                    env: args.env_a.as_deref(),
                },
                &Side {
                    file: &b,
                    label: &b_label,
                    env: args.env_b.as_deref(),
                },
                &options,
                &checks,
            );
            match compared {
                Err(e @ ReportError::Incomparable { .. }) => {
                    eprintln!("error: {e}");
                    return Ok(INCOMPARABLE_EXIT);
                }
                other => other?,
            }
        }
        None => {
            let others = args.env_b.clone().map(|e| vec![e]);
            compare_environments(&a, args.env_a.as_deref(), others.as_deref(), &options)?
        }
    };
    if args.json {
        say(&report.to_json())?;
    } else {
        stdout(report.to_text().as_bytes())?;
    }
    Ok(if report.outputs_differ() {
        OUTPUTS_DIFFER_EXIT
    } else if report.has_regression() {
        REGRESSION_EXIT
    } else {
        0
    })
}
