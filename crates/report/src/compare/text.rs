//! `isobench compare`'s terminal output: the table of pairs (the same
//! formatter and the same verdict words as the run's table), fitted to 100
//! columns, then footnotes, warnings and the closing lines.

use super::CompareReport;
use crate::format::{num, tick, TimeUnit, DASH};
use crate::text_table::{fitted_table, wrapped, Align, LastCell};
use crate::verdict::{decision_ratio, level};

impl CompareReport {
    /// A plain-text report for the terminal: what was compared and how, the
    /// table (environment, A, B, ratio with the interval the verdict used,
    /// repetitions compared (`reps`, A vs B), verdict; long verdicts in
    /// footnotes), the
    /// environments only in one side, warnings, and the closing line(s):
    /// `REGRESSION in: ...` or `no regression`, and `OUTPUTS DIFFER: ...`.
    /// Every line fits 100 columns.
    pub fn to_text(&self) -> String {
        let mut out = self.head();
        out.push_str(&self.table());
        for name in &self.only_in_a {
            out.push_str(&wrapped(&format!("only in A: {name}"), "", "  "));
        }
        for name in &self.only_in_b {
            out.push_str(&wrapped(&format!("only in B: {name}"), "", "  "));
        }
        for w in &self.warnings {
            out.push_str(&wrapped(w, "warning: ", "  "));
        }
        let regressions: Vec<&str> = self
            .regressions()
            .map(|r| r.b_environment.as_str())
            .collect();
        if regressions.is_empty() {
            out.push_str("no regression\n");
        } else {
            out.push_str(&wrapped(
                &format!("REGRESSION in: {}", regressions.join(", ")),
                "",
                "  ",
            ));
        }
        if self.outputs_differ() {
            out.push_str(&wrapped(
                &format!("OUTPUTS DIFFER: {}", self.output_mismatches.join("; ")),
                "",
                "  ",
            ));
        }
        out
    }

    /// A, B, what was forced, and the rule.
    fn head(&self) -> String {
        let o = &self.options;
        let mut out = wrapped(&format!("A: {}", self.a_label), "", "   ");
        out.push_str(&wrapped(&format!("B: {}", self.b_label), "", "   "));
        if !self.forced.is_empty() {
            out.push_str(&wrapped(
                &format!("COMPARED ANYWAY (--force): {}", self.forced.join("; ")),
                "",
                "  ",
            ));
        }
        let t = tick(o.decision.threshold * 100.0);
        out.push_str(&wrapped(
            &format!(
                "in-agent inference time, {} of each repetition; {}; slower/faster when the {} interval excludes 1 and the change is beyond ±{t}%, same when it lies within ±{t}% (α {})",
                o.statistic.as_str(),
                if self.paired {
                    "paired by round"
                } else {
                    "two runs, unpaired (Welch)"
                },
                level(self.interval_level()),
                o.decision.alpha
            ),
            "",
            "  ",
        ));
        out.push('\n');
        out
    }

    /// The table of pairs and its footnotes.
    fn table(&self) -> String {
        let typical = self
            .rows
            .iter()
            .filter_map(|r| r.a_mean_us)
            .fold(0.0f64, f64::max);
        let unit = TimeUnit::for_us(typical);
        let u = unit.label();
        let columns = vec![
            ("environment".to_string(), Align::Left),
            (format!("A ({u})"), Align::Right),
            (format!("B ({u})"), Align::Right),
            (
                format!("B / A [{}]", level(self.interval_level())),
                Align::Right,
            ),
            ("reps".into(), Align::Right),
            ("verdict".into(), Align::Left),
        ];
        let mean = |m: Option<f64>| m.map_or_else(|| DASH.to_string(), |v| num(unit.conv(v)));
        let mut rows = Vec::new();
        let mut last = Vec::new();
        for r in &self.rows {
            rows.push(vec![
                r.shown_name(self.baseline.as_deref()),
                mean(r.a_mean_us),
                mean(r.b_mean_us),
                r.decision
                    .as_ref()
                    .map_or_else(|| DASH.to_string(), |d| decision_ratio(d, 3)),
                format!("{} vs {}", r.a_repetitions, r.b_repetitions),
            ]);
            let verdict = r.verdict();
            last.push(LastCell {
                who: r.b_environment.clone(),
                short: verdict.word().to_string(),
                long: verdict.label(),
            });
        }
        let (table, footnotes) = fitted_table(&columns, rows, last, false);
        let mut out = table.render();
        for line in footnotes.lines() {
            out.push_str(&wrapped(&line, "  ", "    "));
        }
        out
    }
}
