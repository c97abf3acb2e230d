//! Two results files (`isobench compare A.json B.json`): the same
//! environments of both, or env X of A with env Y of B, unpaired (two
//! sessions). Refused when the files measure different things; checked for
//! the host's speed, the host itself, the experiments' settings, partly
//! failed environments and the outputs.

use isobench_results::{EnvironmentResult, IterationSample, ResultsFile};
use isobench_stats::InconclusiveReason;

use super::pair::{compare_pair, failure_detail, Pairing};
use super::{CompareOptions, CompareReport, CompareRow, HOST_DRIFT_THRESHOLD};
use crate::format::num;
use crate::ReportError;

/// One side of a comparison of two files.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// The results.
    pub file: &'a ResultsFile,
    /// How it is named in the output (its path).
    pub label: &'a str,
    /// The environment of this side to compare (`--env-a` / `--env-b`);
    /// `None`: the other side's choice, or every environment both files have.
    pub env: Option<&'a str>,
}

/// What a comparison of two files may override.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileChecks {
    /// Keep decided verdicts when the host's speed differs between the files
    /// by more than [`HOST_DRIFT_THRESHOLD`] (`--allow-host-drift`).
    pub allow_host_drift: bool,
    /// Compare files that measure different things (`--force`); the output says so.
    pub force: bool,
}

/// The first non-empty value of `f` over the repetitions of `file`.
fn agent_fact(
    file: &ResultsFile,
    f: impl Fn(&isobench_results::Repetition) -> Option<&str>,
) -> Option<String> {
    file.environments
        .iter()
        .flat_map(|e| e.repetitions.iter())
        .filter_map(f)
        .find(|v| !v.is_empty())
        .map(str::to_string)
}

/// The sha256 of the model the agent loaded, from `file`'s repetitions.
fn model_sha(file: &ResultsFile) -> Option<String> {
    agent_fact(file, |r| {
        r.agent_summary.as_ref().map(|s| s.model_sha256.as_str())
    })
}

/// The sha256 of the inputs the agent read, from `file`'s repetitions.
fn inputs_sha(file: &ResultsFile) -> Option<String> {
    agent_fact(file, |r| {
        r.agent_summary.as_ref().map(|s| s.inputs_sha256.as_str())
    })
}

/// `abcdef123456…` (a hash, shortened).
fn short_hash(hash: &str) -> String {
    format!("sha256 {}…", hash.chars().take(12).collect::<String>())
}

/// Why two files do not measure the same thing (empty when they do):
/// different workloads, engines, models (their sha256, else their file
/// names) or input sets (their sha256, else the image directories).
fn differences(a: &ResultsFile, b: &ResultsFile) -> Vec<String> {
    let (xa, xb) = (&a.experiment, &b.experiment);
    let mut out = Vec::new();
    if xa.workload != xb.workload {
        out.push(format!(
            "workloads differ: A {}, B {}",
            xa.workload, xb.workload
        ));
    }
    if xa.engine != xb.engine {
        out.push(format!("engines differ: A {}, B {}", xa.engine, xb.engine));
    }
    let file_name = |m: &Option<String>| {
        m.as_deref()
            .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
    };
    match (model_sha(a), model_sha(b)) {
        (Some(ma), Some(mb)) if ma != mb => out.push(format!(
            "models differ: A {} ({}), B {} ({})",
            file_name(&xa.model).unwrap_or_default(),
            short_hash(&ma),
            file_name(&xb.model).unwrap_or_default(),
            short_hash(&mb)
        )),
        (Some(_), Some(_)) => {}
        _ if file_name(&xa.model) != file_name(&xb.model) => {
            out.push(format!("models differ: A {:?}, B {:?}", xa.model, xb.model))
        }
        _ => {}
    }
    match (inputs_sha(a), inputs_sha(b)) {
        (Some(ia), Some(ib)) if ia != ib => out.push(format!(
            "input sets differ: A {}, B {}",
            short_hash(&ia),
            short_hash(&ib)
        )),
        (Some(_), Some(_)) => {}
        _ if xa.images != xb.images => out.push(format!(
            "input sets differ: A {:?}, B {:?}",
            xa.images, xb.images
        )),
        _ => {}
    }
    out
}

/// Environments of A and B compared with each other.
type Pairs<'a> = Vec<(&'a EnvironmentResult, &'a EnvironmentResult)>;

/// The pairs to compare (the chosen environments, or every name in both
/// files), and the names only in A and only in B.
fn pairs<'a>(
    a: &Side<'a>,
    b: &Side<'a>,
) -> Result<(Pairs<'a>, Vec<String>, Vec<String>), ReportError> {
    let find = |side: &Side<'a>, name: &str| {
        side.file
            .environments
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| ReportError::UnknownEnvironment {
                name: format!("{name}` in `{}", side.label),
                available: side
                    .file
                    .environments
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    };
    if let (Some(ea), Some(eb)) = (a.env.or(b.env), b.env.or(a.env)) {
        return Ok((vec![(find(a, ea)?, find(b, eb)?)], vec![], vec![]));
    }
    let mut matched = Vec::new();
    let mut only_in_a = Vec::new();
    for ea in &a.file.environments {
        match b.file.environments.iter().find(|eb| eb.name == ea.name) {
            Some(eb) => matched.push((ea, eb)),
            None => only_in_a.push(ea.name.clone()),
        }
    }
    let only_in_b = b
        .file
        .environments
        .iter()
        .filter(|eb| !a.file.environments.iter().any(|ea| ea.name == eb.name))
        .map(|e| e.name.clone())
        .collect();
    Ok((matched, only_in_a, only_in_b))
}

/// The host's speed during each run: the drift, a warning, and decided
/// verdicts downgraded to inconclusive beyond the threshold unless allowed.
fn host_drift(
    a: &ResultsFile,
    b: &ResultsFile,
    rows: &mut [CompareRow],
    allow: bool,
    warnings: &mut Vec<String>,
) -> Option<f64> {
    let (Some(sa), Some(sb)) = (&a.host_speed, &b.host_speed) else {
        let missing: Vec<&str> = [("A", a.host_speed.is_none()), ("B", b.host_speed.is_none())]
            .iter()
            .filter(|(_, m)| *m)
            .map(|(side, _)| *side)
            .collect();
        warnings.push(format!(
            "{} has no host-speed probe (written before it existed, or the probe failed): whether the host ran at the same speed during both runs cannot be checked",
            missing.join(" and ")
        ));
        return None;
    };
    if sa.median_seconds <= 0.0 {
        return None;
    }
    let drift = sb.median_seconds / sa.median_seconds - 1.0;
    if drift.abs() > HOST_DRIFT_THRESHOLD {
        let percent = drift * 100.0;
        let direction = if drift < 0.0 { "faster" } else { "slower" };
        let consequence = if allow {
            "verdicts kept as computed, as asked (host drift allowed)"
        } else {
            "slower/faster/same verdicts are reported as inconclusive (--allow-host-drift keeps them)"
        };
        warnings.push(format!(
            "the host ran {:.1}% {direction} during B (host-speed probe median {} ms, {} ms during A): the comparison measures the host, not the configuration; {consequence}",
            percent.abs(),
            num(sb.median_seconds * 1e3),
            num(sa.median_seconds * 1e3),
        ));
        if !allow {
            for d in rows.iter_mut().filter_map(|r| r.decision.as_mut()) {
                d.downgrade(InconclusiveReason::HostDrift { percent });
            }
        }
    }
    Some(drift)
}

/// Settings that differ without making the comparison meaningless, and the hosts.
fn setting_warnings(a: &ResultsFile, b: &ResultsFile) -> Vec<String> {
    let mut warnings = Vec::new();
    let (fa, fb) = (a.host.fingerprint(), b.host.fingerprint());
    if fa != fb {
        warnings.push(format!(
            "A and B ran on different hosts: A on {} ({fa}), B on {} ({fb}): the comparison measures the machines as much as the configurations",
            a.host.hostname, b.host.hostname
        ));
    }
    let (xa, xb) = (&a.experiment, &b.experiment);
    let mut differs = |what: &str, va: String, vb: String| {
        if va != vb {
            warnings.push(format!("{what} differs: A {va}, B {vb}"));
        }
    };
    differs("threads", xa.threads.to_string(), xb.threads.to_string());
    differs(
        "vcpus",
        format!("{:?}", xa.vcpus),
        format!("{:?}", xb.vcpus),
    );
    differs(
        "memory limit (MiB)",
        format!("{:?}", xa.memory_mib),
        format!("{:?}", xb.memory_mib),
    );
    differs("order", xa.order.to_string(), xb.order.to_string());
    differs(
        "program",
        format!("{:?}", xa.command),
        format!("{:?}", xb.command),
    );
    differs(
        "agent sha256",
        a.payload.agent_sha256.clone(),
        b.payload.agent_sha256.clone(),
    );
    warnings
}

/// The first measured iteration with an output digest for each input, in order of appearance.
fn first_outputs(env: &EnvironmentResult) -> Vec<&IterationSample> {
    let mut firsts: Vec<&IterationSample> = Vec::new();
    for it in env.repetitions.iter().flat_map(|r| r.iterations.iter()) {
        if it.digest.is_some() && !firsts.iter().any(|f| f.input == it.input) {
            firsts.push(it);
        }
    }
    firsts
}

/// Outputs that differ: between the two sides of each pair for the same
/// input, and within either file.
fn output_mismatches(
    a: &ResultsFile,
    b: &ResultsFile,
    pairs: &[(&EnvironmentResult, &EnvironmentResult)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (ea, eb) in pairs {
        let fb = first_outputs(eb);
        for ia in first_outputs(ea) {
            let Some(ib) = fb.iter().find(|i| i.input == ia.input) else {
                continue;
            };
            if let (Some(da), Some(db)) = (&ia.digest, &ib.digest) {
                if let Some(reason) = da.differs_from(db) {
                    out.push(format!(
                        "{} on {}: A computed {}, B {} ({reason})",
                        eb.name,
                        ia.input,
                        da.describe(),
                        db.describe()
                    ));
                }
            }
        }
    }
    for (side, file) in [("A", a), ("B", b)] {
        if let Some(check) = file.outputs.as_ref().filter(|c| !c.consistent()) {
            out.push(format!(
                "in {side}, {} of {} iterations differ from {}'s output{}",
                check.mismatch_count,
                check.compared,
                check.reference,
                check
                    .mismatches
                    .first()
                    .map(|m| format!(" (first: {} on {}: {})", m.env, m.input, m.reason))
                    .unwrap_or_default()
            ));
        }
    }
    out
}

/// Compares the environments of two files (B against A, unpaired): those
/// named by [`Side::env`], else every environment both have. Refused with
/// [`ReportError::Incomparable`] when the files measure different things
/// (see [`differences`]) unless [`FileChecks::force`]; when the host-speed
/// probes differ by more than [`HOST_DRIFT_THRESHOLD`], decided verdicts
/// become inconclusive unless [`FileChecks::allow_host_drift`].
pub fn compare_files(
    a: &Side<'_>,
    b: &Side<'_>,
    options: &CompareOptions,
    checks: &FileChecks,
) -> Result<CompareReport, ReportError> {
    let differences = differences(a.file, b.file);
    if !differences.is_empty() && !checks.force {
        return Err(ReportError::Incomparable {
            reasons: differences,
        });
    }
    let (pairs, only_in_a, only_in_b) = pairs(a, b)?;
    let mut rows: Vec<CompareRow> = pairs
        .iter()
        .map(|(ea, eb)| compare_pair(ea, eb, options, &Pairing::Unpaired))
        .collect();
    let mut warnings = Vec::new();
    let host_drift = host_drift(
        a.file,
        b.file,
        &mut rows,
        checks.allow_host_drift,
        &mut warnings,
    );
    warnings.extend(setting_warnings(a.file, b.file));
    for (ea, eb) in &pairs {
        for (side, env) in [("A", ea), ("B", eb)] {
            if env.partly_failed() {
                warnings.push(format!(
                    "{} is partly failed in {side}: {}; the comparison rests on the repetitions that completed",
                    env.name,
                    failure_detail(env)
                ));
            }
        }
    }
    let output_mismatches = output_mismatches(a.file, b.file, &pairs);
    if !output_mismatches.is_empty() {
        warnings.push(format!(
            "outputs differ ({} difference(s)): the runs did not compute the same thing, so their times are not comparable",
            output_mismatches.len()
        ));
    }
    Ok(CompareReport {
        a_label: a.label.to_string(),
        b_label: b.label.to_string(),
        options: *options,
        paired: false,
        baseline: None,
        rows,
        only_in_a,
        only_in_b,
        warnings,
        forced: differences,
        host_drift,
        output_mismatches,
    })
}
