//! Several hosts: the merged report and the paper table.

use crate::{merged_html, merged_markdown, render_paper_table};

use super::fixtures::*;

#[test]
fn merged_report_groups_columns_by_host() {
    let mut pi = with_probe(standard("yolov8", 5, 20), 0.020);
    pi.host.hostname = "rpi4".into();
    pi.host.cpu_model = "Cortex-A72".into();
    pi.host.cpus = 4;
    let mut jetson = with_probe(standard("yolov8", 5, 20), 0.015);
    jetson.host.hostname = "jetson-nano".into();
    jetson.host.cpu_model = "Cortex-A57".into();
    jetson.host.cpus = 4;
    jetson.host.cgroup_version = "v2".into();
    let files = vec![
        ("pi/results.json".to_string(), pi.clone()),
        ("jetson/results.json".to_string(), jetson.clone()),
    ];
    let text = merged_markdown(&files);
    for needle in [
        "Cortex-A72 × 4 CPUs, kernel 6.1.0, cgroups v1 (hybrid)",
        "Cortex-A57 × 4 CPUs, kernel 6.1.0, cgroups v2",
        "| pi/results.json | rpi4 |",
        "rpi4 · mean ± σ (ms)",
        "jetson-nano · verdict",
        "figures are compared across different machines",
        "the host-speed probes differ: the same reference computation took 15.00 ms on jetson-nano and 20.00 ms on rpi4 (33.3% longer)",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    let row = md_row(&text, "firecracker");
    assert_eq!(md_cells(row).len(), 1 + 2 * 3, "{row}");
    assert_eq!(row.matches("| slower |").count(), 2, "{row}");

    let page = merged_html(&files).unwrap();
    assert!(page.contains("<th rowspan=\"2\">Environment</th><th colspan=\"3\">rpi4</th><th colspan=\"3\">jetson-nano</th>"), "{page}");
    assert!(page.contains("Cortex-A57 × 4 CPUs"));
    assert!(!page.contains("<script"));
    // The verdicts' forest plot, one row per environment and host.
    let start = page
        .find("<figure class=\"chart\" id=\"verdicts-0\">")
        .expect("a forest plot");
    let figure = &page[start..start + page[start..].find("</figure>").unwrap()];
    assert_eq!(figure.matches("<circle").count(), 2 * 4, "{figure}");
    for label in ["firecracker · rpi4", "docker · jetson-nano"] {
        assert!(figure.contains(label), "{label}");
    }
    // The warnings under the hosts table, before the workloads' tables.
    assert!(page.find("id=\"warnings\"").unwrap() < page.find("id=\"merged-0\"").unwrap());

    let paper = render_paper_table(&[pi, jetson]);
    let header = paper.lines().next().unwrap();
    assert!(
        header.contains("| rpi4 · native |") && header.contains("| jetson-nano · firecracker |"),
        "{header}"
    );
    assert!(paper.contains("- rpi4: Cortex-A72 × 4 CPUs, kernel 6.1.0, cgroups v1 (hybrid); host-speed probe median 20.00 ms"), "{paper}");
    assert!(
        paper.contains("- jetson-nano: Cortex-A57 × 4 CPUs"),
        "{paper}"
    );
}
