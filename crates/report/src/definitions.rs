//! The "Definitions" every report carries: one sentence per figure, the
//! same words as the results' doc comments, for the paired design, the
//! four outcomes, the sequential looks and the budget.

use isobench_results::ResultsFile;

use crate::design::final_level;
use crate::verdict::{level, outcomes_definition, Rule};

/// The level of the memory differences' intervals (descriptive).
const MEMORY_LEVEL: &str = "95%";

/// The design's terms: round, repetition, looks and budget, ratio, verdict.
fn design_terms(results: &ResultsFile) -> Vec<(&'static str, String)> {
    let rule = Rule::of(results);
    let x = &results.experiment;
    vec![
        (
            "Round",
            "one fresh instance (process, container or VM) of every environment, launched in an order shuffled per round with the run's seed; the round is the block of the analysis".into(),
        ),
        (
            "Repetition",
            format!(
                "one instance running {} warm-up and {} measured iterations; the repetition, not the iteration, is the unit of replication of every interval and verdict",
                x.warmup,
                x.iterations.map_or_else(|| "the design's number of".into(), |i| i.to_string())
            ),
        ),
        (
            "Looks and budget",
            "unless --repetitions fixes the rounds, the run looks at every comparison after each round from --min-rounds on, and stops once every one is decided (slower, faster or same), when another round would not fit the --budget, or after --max-rounds; an early look's interval is wider (a repeated confidence interval with Lan–DeMets alpha spending of O'Brien–Fleming type), so looking after every round does not raise the chance of a false verdict above α".into(),
        ),
        (
            "Ratio to baseline",
            format!(
                "the geometric mean over rounds of this environment's repetition mean divided by the baseline's in the same round (paired: whatever slowed a whole round cancels; unpaired, Welch's interval, where the rounds are incomplete), with the interval the verdict used: Student's t interval of the log ratio at the last look's nominal level ({} here)",
                level(final_level(results))
            ),
        ),
        ("Verdict", outcomes_definition(&rule)),
    ]
}

/// The measured figures' terms.
fn figure_terms() -> Vec<(&'static str, String)> {
    [
        ("Start", "launch to the agent's `ready` record (runtime start or boot, plus model load), mean over repetitions"),
        ("Inference", "in-agent model execution time of one measured iteration; mean ± sample standard deviation and median over every measured iteration of every repetition"),
        ("Percentiles", "nearest rank (the smallest sample with at least p% of the samples at or below it), the same definition as the serving histograms; p99 marked * comes from fewer than 100 samples and is close to the maximum"),
        ("CPU %", "host CPU seconds (user + system) charged to the instance over the measured iterations only, divided by their wall time, in % of one core (2 busy cores = 200%); mean over repetitions"),
        ("CPU s/inference", "the same measured-window host CPU seconds divided by the number of measured iterations; mean over repetitions"),
        ("Start-up CPU", "host CPU seconds from launch to `ready` (boot, runtime start, model load), kept apart from inference; mean over repetitions"),
        ("Workload peak RSS", "the agent's own peak resident memory as the kernel it runs on counts it (VmHWM; getrusage maxrss in gVisor, whose kernel counts whole faulted ranges); mean over repetitions"),
        ("Host peak RSS", "host memory held by the instance, one formula everywhere: the larger of the sum of its host processes' peak RSS (VmHWM of agent, runtime, VMM and device daemons; a VM's guest memory as the host holds it) and its cgroup's peak resident charge (anonymous + shared memory + mapped files); mean over repetitions"),
    ]
    .into_iter()
    .map(|(term, text)| (term, text.to_string()))
    .collect()
}

/// The "Definitions" list: (term, its definition in one sentence).
pub fn definitions(results: &ResultsFile) -> Vec<(&'static str, String)> {
    let mut terms = design_terms(results);
    terms.extend(figure_terms());
    terms.push((
        "Isolation overhead",
        format!(
            "the mean over rounds of this environment's host peak RSS minus the baseline's in the same round, both from the same host-side meter: the host memory the isolation itself costs (runtime, sandbox kernel, guest kernel and page cache, VMM), with its {MEMORY_LEVEL} interval [low, high]; \
             the meter's noise is judged by that interval: when it holds 0, the difference is within what the meter varies from round to round and reads `≈ 0 [low, high]`, never a negative cost; \
             a VM's VMM's own resident memory outside guest RAM is shown as (VMM …)"
        ),
    ));
    terms.push((
        "—",
        "the figure could not be measured; the reason is given under the table (never shown as 0)"
            .into(),
    ));
    terms
}
