//! Live progress bars, one per environment (indicatif).

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use isobench_harness::RunObserver;
use isobench_results::Status;

/// Draws a bar per environment on stderr.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    /// Bars on stderr (hidden when stderr is not a terminal).
    pub fn new() -> Self {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }
}

impl RunObserver for Bars {
    fn environment_started(&self, env: &str, repetitions: u32, iterations: u64) {
        let bar = self
            .multi
            .add(ProgressBar::new(u64::from(repetitions) * iterations));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
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

    fn iteration_done(&self, env: &str, repetition: u32, _index: u64, warmup: bool) {
        if let Some(bar) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).get(env) {
            bar.inc(1);
            bar.set_message(format!(
                "rep {}{}",
                repetition + 1,
                if warmup { " warm-up" } else { "" }
            ));
        }
    }

    fn environment_finished(&self, env: &str, status: &Status) {
        if let Some(bar) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).get(env) {
            match status {
                Status::Completed => bar.finish_with_message("done"),
                Status::Interrupted => bar.abandon_with_message("interrupted"),
                Status::Failed { reason } => {
                    bar.abandon_with_message(format!("FAILED: {}", truncate(reason)))
                }
                Status::Skipped { reason } => {
                    bar.abandon_with_message(format!("skipped: {}", truncate(reason)))
                }
            }
        }
    }

    fn message(&self, text: &str) {
        let _ = self.multi.println(text);
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 100 {
        format!("{}…", s.chars().take(100).collect::<String>())
    } else {
        s.to_string()
    }
}
