//! The measured window of a repetition: meter readings taken at the
//! moments that matter (`ready`, the first measured iteration's start, the
//! last one's end) and the CPU figures computed from them alone.

use std::time::Instant;

use isobench_results::AbsentReason;

use super::sampler::{Meter, Reading, Sampler, MIN_CPU_WINDOW_SECONDS};

/// A meter reading taken at a moment that matters, with its time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marked {
    /// Seconds since launch (the middle of the read).
    pub(crate) t: f64,
    pub(crate) reading: Reading,
}

/// Readings the record loop takes itself: at `ready`, and at both ends of
/// the measured window.
#[derive(Debug, Default)]
pub(crate) struct Marks {
    pub(crate) ready: Option<Marked>,
    pub(crate) window_start: Option<Marked>,
    pub(crate) window_end: Option<Marked>,
    /// Readings that returned nothing, by moment.
    pub(crate) missed: Vec<&'static str>,
}

/// Reads `meter` now; records the moment in `missed` when it reads nothing.
pub(crate) fn mark(
    meter: &Meter,
    sampler: &Sampler,
    origin: Instant,
    missed: &mut Vec<&'static str>,
    what: &'static str,
) -> Option<Marked> {
    let before = origin.elapsed().as_secs_f64();
    let Some(reading) = meter.read() else {
        missed.push(what);
        return None;
    };
    let after = origin.elapsed().as_secs_f64();
    sampler.add(&reading, origin);
    Some(Marked {
        t: (before + after) / 2.0,
        reading,
    })
}

/// The CPU figures of the measured window.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Window {
    pub(crate) cpu_seconds: Option<f64>,
    pub(crate) wall_seconds: Option<f64>,
    pub(crate) per_inference: Option<f64>,
    pub(crate) percent: Option<f64>,
    pub(crate) absent: Vec<AbsentReason>,
}

/// CPU over the measured iterations only, from the readings at both ends
/// of the window; absent (with the reason) when a reading is missing or the
/// window is shorter than [`MIN_CPU_WINDOW_SECONDS`].
pub(crate) fn measured_cpu(marks: &Marks, iterations: u64) -> Window {
    let (Some(start), Some(end)) = (marks.window_start, marks.window_end) else {
        return Window {
            absent: vec![AbsentReason::NoWindow],
            ..Window::default()
        };
    };
    let wall = end.t - start.t;
    let cpu = (end.reading.cpu_seconds - start.reading.cpu_seconds).max(0.0);
    if wall < MIN_CPU_WINDOW_SECONDS {
        // Iterations that would fill the shortest window, at this window's pace.
        let per_iteration = wall / iterations.max(1) as f64;
        let iterations_needed = if per_iteration > 0.0 {
            (MIN_CPU_WINDOW_SECONDS / per_iteration).ceil() as u64
        } else {
            iterations.max(1)
        };
        return Window {
            wall_seconds: Some(wall),
            absent: vec![AbsentReason::WindowTooShort {
                seconds: wall,
                minimum_seconds: MIN_CPU_WINDOW_SECONDS,
                iterations_needed,
            }],
            ..Window::default()
        };
    }
    Window {
        cpu_seconds: Some(cpu),
        wall_seconds: Some(wall),
        per_inference: (iterations > 0).then(|| cpu / iterations as f64),
        percent: Some(100.0 * cpu / wall),
        absent: Vec::new(),
    }
}

/// Moments of a repetition at which the record loop asks for a meter reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Moment {
    /// The agent's `ready` record arrived (start-up is over).
    Ready,
    /// The last warm-up record (or `ready`, without warm-ups) arrived: the
    /// first measured iteration starts.
    WindowStart,
    /// The last measured iteration's record arrived.
    WindowEnd,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(t: f64, cpu: f64) -> Option<Marked> {
        Some(Marked {
            t,
            reading: Reading {
                cpu_seconds: cpu,
                memory_bytes: 0,
                peak_bytes: None,
                peak_rss_bytes: None,
                resident_charge_bytes: None,
            },
        })
    }

    #[test]
    fn cpu_comes_from_the_measured_window_only() {
        // Start-up burnt 3 s of CPU before the window; the window is 2 s at one core.
        let marks = Marks {
            ready: marked(0.5, 3.0),
            window_start: marked(1.0, 3.2),
            window_end: marked(3.0, 5.2),
            missed: vec![],
        };
        let w = measured_cpu(&marks, 10);
        assert!((w.cpu_seconds.unwrap() - 2.0).abs() < 1e-12, "{w:?}");
        assert!((w.percent.unwrap() - 100.0).abs() < 1e-9);
        assert!((w.per_inference.unwrap() - 0.2).abs() < 1e-12);
        assert!(w.absent.is_empty());
        // Too short a window: absent with a reason, never a silent whole-life figure.
        let short = Marks {
            window_end: marked(1.1, 3.3),
            ..marks
        };
        let w = measured_cpu(&short, 10);
        assert_eq!((w.cpu_seconds, w.percent), (None, None));
        // 0.1 s for 10 iterations: 0.4 s needs 40.
        assert!(
            matches!(
                w.absent[0],
                AbsentReason::WindowTooShort {
                    iterations_needed: 40,
                    ..
                }
            ),
            "{:?}",
            w.absent
        );
        // No reading at the end: absent.
        let missing = Marks {
            window_end: None,
            ..Marks::default()
        };
        assert_eq!(measured_cpu(&missing, 10).percent, None);
    }
}
