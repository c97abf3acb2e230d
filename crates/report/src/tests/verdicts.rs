//! One verdict everywhere: the terminal table (default and wide), report.md,
//! report.html, the paper table, the merged report, `compare` and `compare
//! --json` give the same outcome word per environment, on summaries the
//! production code computed; four outcomes only, with what the run could
//! have detected next to `same` and `inconclusive`.

use isobench_results::{Plan, ResultsFile, RunDesign, Stop};
use isobench_stats::{
    Boundaries, Clamp, DesignCosts, IterationsChoice, Look, Looks, Outcome, SpendingFunction,
};

use crate::verdict::{percent, Verdict};
use crate::{
    compare_environments, merged_html, merged_markdown, render_paper_table, terminal_table,
    terminal_table_with, TerminalOptions,
};

use super::fixtures::*;
use isobench_harness::summarize::{decision_options, summarize_all};

/// The verdict cell of a terminal row (its last column), footnote marks removed.
fn terminal_verdict(row: &str) -> String {
    let cell = row.rsplit("  ").next().unwrap_or_default().trim();
    cell.trim_end_matches(|c: char| "⁰¹²³⁴⁵⁶⁷⁸⁹".contains(c))
        .to_string()
}

/// The word every report must show for `env`, from its decision (not
/// through the code under test).
fn expected_word(file: &ResultsFile, name: &str) -> &'static str {
    let env = file.environments.iter().find(|e| e.name == name).unwrap();
    match (&env.summary, file.is_baseline(name)) {
        (None, _) => "failed",
        (Some(_), true) => "baseline",
        (Some(s), false) => s.decision.map_or("not compared", |d| d.outcome.as_str()),
    }
}

/// Every report shows the file's verdict, in the same words, for every environment.
fn assert_one_verdict_everywhere(file: &ResultsFile) {
    let terminal = terminal_table(file);
    let wide = terminal_table_with(file, &TerminalOptions { wide: true });
    let markdown = md(file);
    let page = html(file);
    let paper = render_paper_table(std::slice::from_ref(file));
    let files = [("a/results.json".to_string(), file.clone())];
    let merged = merged_markdown(&files);
    let merged_page = merged_html(&files).unwrap();
    let compared = compare_environments(file, None, None, &options()).unwrap();
    let compared_text = unwrapped(&compared.to_text());
    let json: serde_json::Value = serde_json::from_str(&compared.to_json()).unwrap();
    for env in &file.environments {
        let Some(s) = &env.summary else { continue };
        let word = expected_word(file, &env.name);
        let label = Verdict::of(file, env).label();
        assert!(label.starts_with(word), "{label}");
        // Markdown and HTML: the whole verdict in the Verdict cell.
        let row = md_cells(md_row(&markdown, &env.name));
        assert_eq!(row.last().unwrap(), &label, "markdown {}", env.name);
        let cell = format!(">{}</td></tr>", crate::format::esc(&label));
        assert!(
            html_row(&page, &env.name).contains(&cell),
            "html {}",
            env.name
        );
        if word != "baseline" && word != "not compared" {
            assert!(
                html_row(&page, &env.name).contains(&format!("<td class=\"{word}\">")),
                "html class {}",
                env.name
            );
        }
        // Terminal: the word in the row; the whole verdict in it or in a footnote.
        assert_eq!(
            terminal_verdict(terminal_row(&terminal, &env.name)),
            if terminal_row(&terminal, &env.name).ends_with(&label) {
                label.clone()
            } else {
                word.to_string()
            },
            "terminal {}:\n{terminal}",
            env.name
        );
        assert!(unwrapped(&terminal).contains(&label), "{label}\n{terminal}");
        assert!(
            terminal_row(&wide, &env.name).ends_with(&label),
            "wide {}",
            env.name
        );
        // Paper: the word in the cell, the whole verdict in a numbered note.
        let in_cell = paper.match_indices(&format!("; {word}")).any(|(at, m)| {
            paper[at + m.len()..]
                .chars()
                .next()
                .is_some_and(|c| c == ')' || "¹²³⁴⁵⁶⁷⁸⁹".contains(c))
        });
        assert!(in_cell, "paper {word}: {paper}");
        assert!(paper.contains(&label), "paper {label}:\n{paper}");
        // Merged report (one file): the whole verdict in the cell.
        assert!(merged.contains(&format!("| {label} |")), "merged {label}");
        assert!(merged_page.contains(&cell), "merged html {label}");
        if file.is_baseline(&env.name) {
            continue;
        }
        // compare: the same decision, computed again with the same options.
        let row = compared
            .rows
            .iter()
            .find(|r| r.b_environment == env.name)
            .unwrap();
        assert_eq!(row.decision, s.decision, "compare {}", env.name);
        assert_eq!(row.verdict_label(), label, "compare {}", env.name);
        assert!(
            compared_text.contains(&unwrapped(&label)),
            "{label} in\n{compared_text}"
        );
        let json_row = json["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["b_environment"] == env.name.as_str())
            .unwrap();
        let json_word = json_row["outcome"].as_str().unwrap_or("not compared");
        assert_eq!(json_word, word, "compare --json {}", env.name);
        assert_eq!(
            json_row["verdict"],
            label.as_str(),
            "compare --json {}",
            env.name
        );
    }
    for (name, text) in [
        ("terminal", &terminal),
        ("markdown", &markdown),
        ("html", &page),
        ("paper", &paper),
        ("merged", &merged),
        ("compare", &compared_text),
    ] {
        assert!(
            !text.contains("significant"),
            "{name} still speaks of significance:\n{text}"
        );
    }
}

#[test]
fn one_verdict_in_every_report_and_in_compare() {
    let file = four_outcomes();
    let outcome = |name: &str| {
        let e = file.environments.iter().find(|e| e.name == name).unwrap();
        e.summary.as_ref().unwrap().decision.map(|d| d.outcome)
    };
    assert_eq!(outcome("docker"), Some(Outcome::Same));
    assert_eq!(outcome("firecracker"), Some(Outcome::Slower));
    assert_eq!(outcome("oci-runc"), Some(Outcome::Faster));
    assert_eq!(outcome("gvisor"), Some(Outcome::Inconclusive));
    assert_one_verdict_everywhere(&file);
    assert_one_verdict_everywhere(&standard("yolov8", 5, 30));
    let markdown = md(&file);
    assert!(md_row(&markdown, "firecracker").ends_with("| slower |"));
    assert!(html(&file).contains("<td class=\"slower\">slower</td>"));
    assert!(html(&file).contains("<td class=\"faster\">faster</td>"));
}

#[test]
fn same_and_inconclusive_say_what_the_run_could_have_detected() {
    let file = four_outcomes();
    let decision = |name: &str| {
        let e = file.environments.iter().find(|e| e.name == name).unwrap();
        e.summary.as_ref().unwrap().decision.unwrap()
    };
    let docker = decision("docker");
    let mde = docker.minimum_detectable_effect.unwrap();
    let same = format!("same (could have detected ±{})", percent(mde));
    assert!(md(&file).contains(&format!("| {same} |")), "{same}");
    assert!(terminal_table(&file).contains(&same), "{same}");
    let gvisor = decision("gvisor");
    let i = gvisor.interval.unwrap();
    let label = format!(
        "inconclusive: between {:.2}× and {:.2}×; about {} more rounds would decide; could have detected ±{}",
        i.low,
        i.high,
        gvisor.rounds_to_decide.unwrap(),
        percent(gvisor.minimum_detectable_effect.unwrap())
    );
    assert!(
        md(&file).contains(&format!("| {label} |")),
        "{label}\n{}",
        md(&file)
    );
    // The terminal keeps the word in the row and the reason under the table, once.
    let terminal = terminal_table(&file);
    assert!(
        terminal_row(&terminal, "gvisor").ends_with("inconclusive¹"),
        "{terminal}"
    );
    assert!(
        unwrapped(&terminal).contains(&format!("¹ gvisor: {label}")),
        "{terminal}"
    );
    // The interval next to the verdict is the decision's, and the headers say its level.
    let ratio = &md_cells(md_row(&md(&file), "gvisor"))[11];
    assert_eq!(
        ratio,
        &format!("{:.3}× [{:.3}, {:.3}]", gvisor.ratio, i.low, i.high)
    );
    assert!((i.level - 0.99).abs() < 1e-6, "{i:?}");
    assert!(md(&file).contains("Ratio to baseline [99% interval, the verdict's]"));
    assert!(
        terminal.lines().next().unwrap().contains("vs native [99%]"),
        "{terminal}"
    );
    // Slower and faster carry no reason.
    assert_eq!(Verdict::Decided(&decision("firecracker")).label(), "slower");
}

#[test]
fn too_few_rounds_is_inconclusive_everywhere() {
    let file = file_of(
        "yolov8",
        vec![
            env("native", &means(10_000.0, 1), 20, 1),
            env("docker", &means(11_000.0, 1), 20, 2),
        ],
    );
    let docker = &file.environments[1];
    let d = docker.summary.as_ref().unwrap().decision.unwrap();
    assert_eq!(d.outcome, Outcome::Inconclusive);
    assert_eq!(
        Verdict::of(&file, docker).label(),
        "inconclusive: too few rounds: 1, at least 2 needed"
    );
    assert_one_verdict_everywhere(&file);
    let report = compare_environments(&file, None, None, &options()).unwrap();
    assert!(!report.has_regression());
    assert!(report.to_text().ends_with("no regression\n"));
}

/// `file` as a sequential run that stopped after `rounds` rounds, every
/// comparison decided, with its looks from round 5 on.
fn sequential(mut file: ResultsFile, rounds: usize) -> ResultsFile {
    let max_rounds = 12;
    let looks = Looks::new(
        (5..=rounds)
            .map(|r| Look {
                rounds: r,
                spending_time: r as f64 / max_rounds as f64,
            })
            .collect(),
    )
    .unwrap();
    file.experiment.iterations = None;
    file.experiment.repetitions = None;
    file.design = Some(RunDesign {
        plan: Plan::Sequential {
            min_rounds: 5,
            max_rounds: max_rounds as u32,
            budget_seconds: 180.0,
        },
        decision: decision_options(),
        looks,
        pilot_iterations: 3,
        pilot_rounds: 3,
        chosen: Some(IterationsChoice {
            iterations: 12,
            optimum: 11.6,
            clamped: Some(Clamp::ToMinimum),
            costs: DesignCosts {
                instance_seconds: 1.5,
                iteration_seconds: 0.02,
            },
            within: 0.0004,
            between: 0.0001,
        }),
        cpu_window_iterations: Some(4),
        stopped: Some(Stop::AllDecided),
    });
    summarize_all(&mut file);
    file
}

#[test]
fn the_design_and_its_reason_are_in_every_report() {
    let file = sequential(
        file_of(
            "yolov8",
            vec![
                env("native", &means(10_000.0, 7), 20, 1),
                env("docker", &means(10_000.0, 7), 20, 2),
                env("firecracker", &means(11_200.0, 7), 20, 3),
            ],
        ),
        7,
    );
    assert_one_verdict_everywhere(&file);
    // Every verdict's interval is at the last look's nominal level, stricter than 99%.
    let design = file.design.as_ref().unwrap();
    let boundaries =
        Boundaries::compute(&design.looks, 0.01, SpendingFunction::OBrienFleming).unwrap();
    let level = 1.0 - boundaries.last().nominal_alpha;
    assert!(level > 0.995, "{level}");
    let d = file.environments[2]
        .summary
        .as_ref()
        .unwrap()
        .decision
        .unwrap();
    assert!((d.interval.unwrap().level - level).abs() < 1e-9);
    let shown = crate::verdict::level(level);
    let markdown = md(&file);
    let chosen = design.chosen.unwrap().to_string();
    for needle in [
        "7 rounds (sequential; stopped: every comparison decided) × 20 iterations".to_string(),
        "- **Rounds**: 7 (sequential: a look after every round from round 5 on, until every comparison is decided, the budget of 180 s is spent, or 12 rounds ran).".into(),
        "- **Stopped**: every comparison decided.".into(),
        format!("- **Looks**: 3 looks, after rounds 5–7; the last at the nominal level {shown}"),
        format!("- **Iterations**: 3 per instance in the first 3 rounds (the pilot); then {chosen}; never fewer than 4"),
        "- **Analysis**: paired on 7 rounds".into(),
        "O'Brien-Fleming-type alpha spending".into(),
        format!("Ratio to baseline [{shown} interval, the verdict's]"),
    ] {
        assert!(markdown.contains(&needle), "{needle} missing from\n{markdown}");
    }
    assert!(chosen.contains("raised to the minimum"), "{chosen}");
    let page = html(&file);
    assert!(page.contains("<dl class=\"definitions\" id=\"design\">"));
    assert!(page.contains(&crate::format::esc(&chosen)));
    let terminal = unwrapped(&terminal_table(&file));
    assert!(
        terminal.contains(&format!(
            "design: 7 rounds (sequential; stopped: every comparison decided) × 20 iterations; 3 looks, verdict intervals at {shown}"
        )),
        "{terminal}"
    );
}
