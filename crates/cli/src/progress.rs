//! Progress while a run goes: bars on a terminal (indicatif), plain lines
//! when stderr is a file or a pipe (CI, `nohup`, `tee`): one line per
//! finished repetition with its mean and the environment's running verdict,
//! a line per round, and for long repetitions a line at most every
//! [`HEARTBEAT`] with the iterations done.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use isobench_harness::RunObserver;
use isobench_results::{Repetition, ResultsFile, Status};

/// Shortest time between two plain lines about one long repetition.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// The observer `isobench run` reports progress to.
pub fn for_stderr() -> Box<dyn RunObserver> {
    if std::io::stderr().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(Lines::default())
    }
}

/// The running verdict of each environment, from the last round's summaries.
fn verdicts(results: &ResultsFile) -> HashMap<String, String> {
    results
        .environments
        .iter()
        .filter_map(|e| {
            let text = if results.is_baseline(&e.name) {
                "baseline".to_string()
            } else {
                let d = e.summary.as_ref()?.decision.as_ref()?;
                format!("{:.2}× {}", d.ratio, d.outcome)
            };
            Some((e.name.clone(), text))
        })
        .collect()
}

/// `12.3 ms` for a repetition's mean in-agent inference time.
fn mean_text(rep: &Repetition) -> String {
    if rep.iterations.is_empty() {
        return "no samples".into();
    }
    let mean = rep
        .iterations
        .iter()
        .map(|i| i.inference_us as f64)
        .sum::<f64>()
        / rep.iterations.len() as f64;
    if mean >= 1e6 {
        format!("{:.2} s", mean / 1e6)
    } else if mean >= 1e3 {
        format!("{:.2} ms", mean / 1e3)
    } else {
        format!("{mean:.0} µs")
    }
}

/// Plain lines, for a stderr that is not a terminal.
#[derive(Default)]
pub struct Lines {
    state: Mutex<LineState>,
}

#[derive(Default)]
struct LineState {
    verdicts: HashMap<String, String>,
    /// When the last line about a repetition in progress was printed.
    last_heartbeat: Option<Instant>,
}

impl RunObserver for Lines {
    fn iteration_done(&self, env: &str, round: u32, index: u64, warmup: bool) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match state.last_heartbeat {
            None => state.last_heartbeat = Some(now),
            Some(last) if now - last >= HEARTBEAT => {
                state.last_heartbeat = Some(now);
                let what = if warmup { "warm-up" } else { "iteration" };
                eprintln!("{env:<14} round {round:>3}  {what} {} done", index + 1);
            }
            Some(_) => {}
        }
    }

    fn repetition_finished(&self, env: &str, rep: &Repetition) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.last_heartbeat = None;
        let verdict = state.verdicts.get(env).cloned().unwrap_or_default();
        let outcome = match &rep.error {
            Some(error) => format!("FAILED: {}", truncate(error, 60)),
            None => format!("{:>10}  {verdict}", mean_text(rep)),
        };
        eprintln!("{env:<14} round {:>3}  {outcome}", rep.round);
    }

    fn round_finished(&self, round: u32, results: &ResultsFile) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.verdicts = verdicts(results);
        let looked = results
            .design
            .as_ref()
            .and_then(|d| d.looks.last())
            .is_some_and(|l| l.rounds == round as usize);
        if looked {
            let mut line = format!("round {round} done; verdicts:");
            for e in &results.environments {
                if let Some(v) = state.verdicts.get(&e.name) {
                    line.push_str(&format!(" {} {v};", e.name));
                }
            }
            eprintln!("{}", truncate(line.trim_end_matches(';'), 100));
        } else {
            eprintln!("round {round} done");
        }
    }

    fn environment_finished(&self, env: &str, status: &Status) {
        match status {
            Status::Completed => {}
            Status::Interrupted => eprintln!("{env}: interrupted"),
            Status::Failed { reason } => eprintln!("{env}: FAILED: {}", truncate(reason, 80)),
            Status::Skipped { reason } => eprintln!("{env}: skipped: {}", truncate(reason, 80)),
        }
    }

    fn message(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// A bar per environment on a terminal: rounds done of the most planned,
/// the last repetition's mean and the running verdict.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    verdicts: Mutex<HashMap<String, String>>,
}

impl Bars {
    /// Bars on stderr.
    pub fn new() -> Self {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
            verdicts: Mutex::new(HashMap::new()),
        }
    }

    fn with_bar(&self, env: &str, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).get(env) {
            f(bar);
        }
    }
}

impl RunObserver for Bars {
    fn environment_started(&self, env: &str, rounds: u32) {
        let bar = self.multi.add(ProgressBar::new(u64::from(rounds)));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>14} [{bar:20}] round {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(env.to_string());
        bar.set_message("starting");
        self.bars
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(env.to_string(), bar);
    }

    fn iteration_done(&self, env: &str, round: u32, index: u64, warmup: bool) {
        self.with_bar(env, |bar| {
            let what = if warmup { "warm-up" } else { "iteration" };
            bar.set_message(format!("(round {round}: {what} {})", index + 1));
        });
    }

    fn repetition_finished(&self, env: &str, rep: &Repetition) {
        let verdict = self
            .verdicts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(env)
            .cloned()
            .unwrap_or_default();
        self.with_bar(env, |bar| {
            bar.set_position(u64::from(rep.round));
            match &rep.error {
                Some(error) => bar.set_message(format!("FAILED: {}", truncate(error, 50))),
                None => bar.set_message(format!("{}  {verdict}", mean_text(rep))),
            }
        });
    }

    fn round_finished(&self, _round: u32, results: &ResultsFile) {
        *self.verdicts.lock().unwrap_or_else(|p| p.into_inner()) = verdicts(results);
    }

    fn environment_finished(&self, env: &str, status: &Status) {
        self.with_bar(env, |bar| match status {
            Status::Completed => bar.finish_with_message("done"),
            Status::Interrupted => bar.abandon_with_message("interrupted"),
            Status::Failed { reason } => {
                bar.abandon_with_message(format!("FAILED: {}", truncate(reason, 60)))
            }
            Status::Skipped { reason } => {
                bar.abandon_with_message(format!("skipped: {}", truncate(reason, 60)))
            }
        });
    }

    fn message(&self, text: &str) {
        let _ = self.multi.println(text);
    }
}

/// At most `max` characters, with `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() > max {
        format!(
            "{}…",
            s.chars().take(max.saturating_sub(1)).collect::<String>()
        )
    } else {
        s.to_string()
    }
}
