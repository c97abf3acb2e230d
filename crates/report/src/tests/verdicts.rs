//! (a), (b): one verdict everywhere.

use isobench_results::ResultsFile;
use isobench_stats::Verdict;

use crate::{compare_environments, render_paper_table, terminal_table};

use super::fixtures::*;
use isobench_harness::summarize::verdict_options;

/// Every table shows the file's verdict, in the same words, for every environment.
fn assert_one_verdict_everywhere(file: &ResultsFile) {
    let terminal = terminal_table(file);
    let markdown = md(file);
    let page = html(file);
    let paper = render_paper_table(std::slice::from_ref(file));
    let options = verdict_options(file.experiment.seed);
    let compared = compare_environments(file, None, None, &options).unwrap();
    let compared_text = compared.to_text();
    for env in &file.environments {
        let Some(s) = &env.summary else { continue };
        let expected = match (&s.comparison, &s.not_compared) {
            _ if env.name == "native" => "baseline".to_string(),
            (Some(c), _) => c.label(),
            (None, Some(why)) => format!("not compared ({why})"),
            (None, None) => panic!("{} has no verdict", env.name),
        };
        let head = expected.split(" (").next().unwrap();
        // Markdown and HTML: the whole label in the Verdict cell.
        let row = md_cells(md_row(&markdown, &env.name));
        assert_eq!(row.last().unwrap(), &expected, "markdown {}", env.name);
        assert!(
            html_row(&page, &env.name)
                .contains(&format!(">{}</td></tr>", crate::format::esc(&expected))),
            "html {}: {}",
            env.name,
            html_row(&page, &env.name)
        );
        // Terminal: the verdict's words in the row, any reason under the table.
        let row = terminal_row(&terminal, &env.name);
        assert!(row.contains(head), "terminal {}: {row}", env.name);
        assert!(
            terminal.contains(&expected),
            "terminal {expected}:\n{terminal}"
        );
        assert!(
            !terminal.contains(" *\n") && !terminal.contains("excludes 1"),
            "{terminal}"
        );
        // Paper: the verdict's words in the cell, any reason in a note.
        assert!(
            paper.contains(&format!("; {head}")),
            "paper {}: {paper}",
            env.name
        );
        assert!(paper.contains(&expected), "paper {expected}:\n{paper}");
        // compare: the same comparison, computed again with the same options.
        if env.name != "native" {
            let row = compared
                .rows
                .iter()
                .find(|r| r.b_environment == env.name)
                .unwrap();
            assert_eq!(row.comparison, s.comparison, "compare {}", env.name);
            assert_eq!(row.verdict_label(), expected, "compare {}", env.name);
            let shouted = format!("{}{}", head.to_uppercase(), &expected[head.len()..]);
            assert!(
                compared_text.contains(&shouted),
                "{shouted} in\n{compared_text}"
            );
        }
    }
}

#[test]
fn one_verdict_in_every_report_and_in_compare() {
    let file = standard("yolov8", 5, 30);
    let verdict = |name: &str| {
        let e = file.environments.iter().find(|e| e.name == name).unwrap();
        e.summary.as_ref().unwrap().comparison.map(|c| c.verdict)
    };
    assert_eq!(verdict("docker"), Some(Verdict::NoDifference));
    assert_eq!(verdict("firecracker"), Some(Verdict::Slower));
    assert_eq!(verdict("oci-runc"), Some(Verdict::Faster));
    assert_eq!(verdict("qemu-q35"), None);
    assert_one_verdict_everywhere(&file);
    let markdown = md(&file);
    assert!(md_row(&markdown, "firecracker").ends_with("| slower |"));
    assert!(html(&file).contains("<td class=\"slower\">slower</td>"));
    assert!(html(&file).contains("<td class=\"faster\">faster</td>"));
}

#[test]
fn too_few_repetitions_is_inconclusive_everywhere() {
    let file = standard("yolov8", 3, 20);
    let firecracker = file
        .environments
        .iter()
        .find(|e| e.name == "firecracker")
        .unwrap();
    let c = firecracker.summary.as_ref().unwrap().comparison.unwrap();
    assert_eq!(c.label(), INCONCLUSIVE_3V3);
    assert_one_verdict_everywhere(&file);
    // The terminal cell stays short; the reason is under the table, once.
    let terminal = terminal_table(&file);
    assert!(terminal_row(&terminal, "firecracker").contains("inconclusive (see below)"));
    assert!(
        terminal.contains(&format!(
            "  docker, firecracker, oci-runc: {INCONCLUSIVE_3V3}"
        )),
        "{terminal}"
    );
    // compare --json carries the verdict and the reason.
    let report = compare_environments(&file, None, None, &verdict_options(42)).unwrap();
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"verdict\":\"inconclusive\""), "{json}");
    assert!(
        json.contains(
            r#""inconclusive":{"reason":"too_few_repetitions","a":3,"b":3,"needed":5,"alpha":0.01}"#
        ),
        "{json}"
    );
    let back: crate::CompareReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    assert!(!report.has_regression());
    let text = report.to_text();
    assert!(
        text.contains(
            "INCONCLUSIVE (too few repetitions: 3 vs 3; at least 5 vs 5 needed for p < 0.01)"
        ),
        "{text}"
    );
    assert!(text.contains("3 vs 3"), "{text}");
    assert!(text.ends_with("no regression\n"), "{text}");
}
