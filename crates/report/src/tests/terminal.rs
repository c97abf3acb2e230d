//! The terminal: 100 columns by default, every column with `--wide`,
//! reasons and warnings under the table, grouped per cause, one entry each,
//! with the number to ask for.

use isobench_results::AbsentReason;

use crate::text_table::TERMINAL_COLUMNS;
use crate::{compare_environments, terminal_table, terminal_table_with, TerminalOptions};

use super::fixtures::*;

/// Too-short CPU windows (different numbers per environment), slow first
/// iterations, an emulated VM, a partly failed environment with a long
/// reason, a failed one, a skipped one, an inconclusive one.
fn crowded() -> isobench_results::ResultsFile {
    let short = |needed: u64, seconds: f64| AbsentReason::WindowTooShort {
        seconds,
        minimum_seconds: 0.4,
        iterations_needed: needed,
    };
    let mut native = env("native", &means(10_000.0, 5), 30, 1);
    absent_cpu(&mut native, short(40, 0.12));
    let mut docker = env("docker", &means(10_000.0, 5), 30, 2);
    absent_cpu(&mut docker, short(55, 0.09));
    for e in [&mut native, &mut docker] {
        for r in &mut e.repetitions {
            r.iterations[0].inference_us *= 4;
        }
    }
    let mut crun = env("oci-crun", &means(10_100.0, 5), 30, 6);
    fail_repetition(
        &mut crun,
        4,
        "crun: cannot mount proc on /proc: operation not permitted (the container's user namespace lacks CAP_SYS_ADMIN), see the runtime's log for the whole story",
    );
    let base = means(10_000.0, 5);
    let gvisor: Vec<f64> = base.iter().zip(WIDE_RATIOS).map(|(m, r)| m * r).collect();
    file_of(
        "yolov8",
        vec![
            native,
            docker,
            crun,
            env("gvisor", &gvisor, 30, 7),
            env("firecracker", &means(11_200.0, 5), 30, 3),
            with_vmm(emulated(env("qemu-q35", &means(50_000.0, 5), 30, 5))),
            failed("kata", "kata: the hypervisor did not start within the boot timeout of 60 s; check `isobench doctor`"),
            skipped("oci-youki", "youki is not installed: `apt-get install youki` or put it on PATH, then check with `isobench doctor`"),
        ],
    )
}

#[test]
fn every_line_fits_100_columns_by_default() {
    let file = crowded();
    let text = terminal_table(&file);
    let wide: Vec<&str> = text
        .lines()
        .filter(|l| l.chars().count() > TERMINAL_COLUMNS)
        .collect();
    assert!(
        wide.is_empty(),
        "wider than {TERMINAL_COLUMNS}: {wide:#?}\n{text}"
    );
    // The five columns, the verdicts' words in the rows, the reasons under them.
    let header = text.lines().next().unwrap();
    for column in [
        "environment",
        "start",
        "inference mean ± σ",
        "vs native [99%]",
        "verdict",
    ] {
        assert!(header.contains(column), "{column}: {header}");
    }
    assert!(!header.contains("CPU"), "{header}");
    let marked = |row: &str, word: &str| {
        let cell = row.rsplit("  ").next().unwrap();
        cell.strip_prefix(word)
            .is_some_and(|mark| !mark.is_empty() && mark.chars().all(|c| "¹²³⁴⁵⁶⁷⁸⁹".contains(c)))
    };
    assert!(
        marked(terminal_row(&text, "gvisor"), "inconclusive"),
        "{text}"
    );
    assert!(
        marked(
            terminal_row(&text, "qemu-q35 (emulated, TCG)"),
            "not compared"
        ),
        "{text}"
    );
    let flat = unwrapped(&text);
    assert!(
        flat.contains(
            " qemu-q35: not compared (one side is emulated (TCG), the other hardware-accelerated)"
        ),
        "{text}"
    );
    assert!(flat.contains(" gvisor: inconclusive: between "), "{text}");
    assert!(terminal_row(&text, "kata").ends_with("failed"), "{text}");
    assert!(
        flat.contains("kata: FAILED: kata: the hypervisor did not start"),
        "{text}"
    );
    assert!(
        flat.contains("oci-youki: skipped: youki is not installed"),
        "{text}"
    );
    assert!(
        flat.contains(
            "oci-crun: partly failed: 1 of 5 repetitions failed (round 5: crun: cannot mount proc"
        ),
        "{text}"
    );
    // compare's table fits too.
    let compared = compare_environments(&file, None, None, &options())
        .unwrap()
        .to_text();
    for line in compared.lines() {
        assert!(
            line.chars().count() <= TERMINAL_COLUMNS,
            "{line}\n{compared}"
        );
    }
}

#[test]
fn warnings_are_grouped_per_cause_with_the_number_to_ask_for() {
    let file = crowded();
    let text = terminal_table(&file);
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    let count = |needle: &str| warnings.iter().filter(|w| w.contains(needle)).count();
    assert_eq!(count("CPU figures absent"), 1, "{text}");
    assert_eq!(count("first measured iteration"), 1, "{text}");
    assert_eq!(count("software emulation"), 1, "{text}");
    let flat = unwrapped(&text);
    assert!(
        flat.contains("CPU figures absent in native (rounds 1–5) and docker (rounds 1–5): the measured iterations lasted as little as 0.090 s, under the 0.4 s the CPU counters need for ±5%; ask for --iterations 55 or more"),
        "{text}"
    );
    assert!(
        flat.contains("the first measured iteration was over twice the others in native (rounds 1–5) and docker (rounds 1–5) (caches?); ask for --warmup 4 or more"),
        "{text}"
    );
    // The same warnings, grouped the same way, in the Markdown and HTML reports.
    let markdown = md(&file);
    assert_eq!(
        markdown.matches("> ⚠ CPU figures absent").count(),
        1,
        "{markdown}"
    );
    let page = html(&file);
    assert_eq!(page.matches("<li>CPU figures absent").count(), 1);
}

#[test]
fn wide_shows_every_column_and_whole_verdicts() {
    let file = crowded();
    let wide = terminal_table_with(&file, &TerminalOptions { wide: true });
    let header = wide.lines().next().unwrap();
    for column in [
        "min … max",
        "p99",
        "CPU %",
        "CPU s/inf",
        "RSS wl / host",
        "overhead MiB",
    ] {
        assert!(header.contains(column), "{column}: {header}");
    }
    assert!(header.chars().count() > TERMINAL_COLUMNS);
    assert!(
        terminal_row(&wide, "gvisor").contains("inconclusive: between"),
        "{wide}"
    );
    assert!(!wide.contains('¹'), "{wide}");
    // CPU figures absent read — with their reason, never 0.
    let row = terminal_row(&wide, "docker");
    assert!(row.contains("  —  ") && !row.contains(" 0.0 "), "{row}");
}

#[test]
fn memory_within_the_meters_noise_reads_about_zero_never_a_negative_cost() {
    // docker's host RSS is 1 MiB under native's in some rounds and over in others.
    let mut docker = env("docker", &means(10_000.0, 5), 30, 2);
    for (r, delta) in docker
        .repetitions
        .iter_mut()
        .zip([-1.5, 1.0, -0.5, 1.2, -0.8])
    {
        let rss = r.usage.host_peak_rss_bytes.unwrap() as f64 + delta * 1048576.0;
        r.usage.host_peak_rss_bytes = Some(rss as u64);
    }
    // gvisor holds 60 MiB more, every round.
    let mut gvisor = env("gvisor", &means(10_000.0, 5), 30, 7);
    for r in &mut gvisor.repetitions {
        r.usage.host_peak_rss_bytes = r.usage.host_peak_rss_bytes.map(|b| b + (60 << 20));
    }
    let file = file_of(
        "yolov8",
        vec![env("native", &means(10_000.0, 5), 30, 1), docker, gvisor],
    );
    let noise = file.environments[1]
        .summary
        .as_ref()
        .unwrap()
        .isolation_overhead
        .unwrap();
    assert!(noise.within_noise && noise.mean_bytes < 0.0, "{noise:?}");
    let markdown = md(&file);
    let cell = &md_cells(md_row(&markdown, "docker"))[10];
    assert!(cell.starts_with("≈ 0 [−") && cell.contains(", +"), "{cell}");
    let cell = &md_cells(md_row(&markdown, "gvisor"))[10];
    assert!(cell.starts_with("+60.0 [+"), "{cell}");
    let wide = terminal_table_with(&file, &TerminalOptions { wide: true });
    assert!(terminal_row(&wide, "docker").contains("≈ 0 [−"), "{wide}");
    assert!(markdown.contains("the meter's noise is judged by that interval"));
}
