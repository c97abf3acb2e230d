//! One repetition of a batch run: a fresh instance running the workload's
//! warm-up and measured iterations, its records journalled as they arrive,
//! and the host CPU and memory it cost, metered over its life and over the
//! measured window.

use isobench_environments::{EnvKind, RunLabel};
use isobench_records::Record;
use isobench_results::{AbsentReason, IterationSample, Repetition, Usage};

use crate::context::{RunContext, RunObserver};
use crate::journal::{Entry, Journal};
use crate::lifecycle::{Channels, Lab, LaunchRequest, LiveInstance, ReadError};
use crate::metrics::window::{mark, measured_cpu, Marks, Moment};
use crate::RepetitionError;

/// Runs one fresh instance and collects its records and usage.
pub fn run_repetition(
    lab: &mut Lab<'_>,
    kind: EnvKind,
    repetition: u32,
    iterations: u64,
    journal: &mut Journal,
    observer: &dyn RunObserver,
) -> Repetition {
    let ctx = lab.context();
    let config = &ctx.config;
    let mut rep = Repetition {
        round: repetition,
        ..Repetition::default()
    };
    let Some(assets) = lab.prepared(kind).map(|p| p.assets_inside()) else {
        rep.error = Some(format!("{kind} is not prepared"));
        return rep;
    };
    let request = LaunchRequest {
        invocation: config.run_invocation(&assets, iterations),
        label: RunLabel::Repetition(repetition),
        channels: Channels::default(),
        sample: true,
    };
    let mut instance = match lab.launch(kind, request) {
        Ok(instance) => instance,
        Err(e) => {
            rep.error = Some(RepetitionError::Launch(e).to_string());
            return rep;
        }
    };
    let mut marks = Marks::default();
    let outcome = collect_records(
        ctx,
        &mut instance,
        &mut rep,
        iterations,
        journal,
        observer,
        &mut marks,
    );
    let vmm_overhead = instance.vmm_overhead_bytes();
    if let Some(ready) = rep.ready_seconds {
        rep.guest_start_to_ready_seconds = instance.guest_start_to(ready);
    }
    let stopped = instance.stop();
    let sampled = stopped.sampled.expect("the launch asked for sampling");
    let mut cpu_seconds = sampled.samples.last().map(|s| s.cpu);
    let mut cgroup_peak = sampled.cgroup_peak_bytes;
    match stopped.exit {
        Ok(exit) => {
            rep.exit_code = exit.code;
            if let Some(last) = exit.final_cpu_seconds {
                cpu_seconds = Some(cpu_seconds.unwrap_or(0.0).max(last));
            }
            if let Some(peak) = exit.final_peak_memory_bytes {
                cgroup_peak = Some(cgroup_peak.unwrap_or(0).max(peak));
            }
        }
        Err(e) => {
            observer.message(&format!("{kind}: stopping repetition {repetition}: {e}"));
            rep.stop_error = Some(e.to_string());
        }
    }
    if let Err(error) = outcome {
        rep.error = Some(error.to_string());
    }
    let window = measured_cpu(&marks, rep.iterations.len() as u64);
    let mut absent = window.absent;
    if !marks.missed.is_empty() {
        absent.push(AbsentReason::MeterReadNothing {
            meter: sampled.source.clone(),
            moments: marks.missed.iter().map(|m| m.to_string()).collect(),
        });
    }
    rep.usage = Usage {
        source: sampled.source,
        cpu_seconds,
        wall_seconds: stopped.wall_seconds,
        startup_cpu_seconds: marks.ready.map(|m| m.reading.cpu_seconds),
        measured_cpu_seconds: window.cpu_seconds,
        measured_wall_seconds: window.wall_seconds,
        cpu_seconds_per_inference: window.per_inference,
        cpu_percent: window.percent,
        absent,
        host_peak_rss_bytes: sampled.peak_rss_bytes,
        cgroup_peak_bytes: cgroup_peak,
        vmm_overhead_bytes: vmm_overhead,
        interval_ms: sampled.interval.as_millis() as u64,
        samples: sampled.samples,
    };
    rep
}

/// Reads the instance's records into `rep` up to the agent's summary,
/// taking meter readings at the moments that bound the measured window.
fn collect_records(
    ctx: &RunContext,
    instance: &mut LiveInstance,
    rep: &mut Repetition,
    iterations: u64,
    journal: &mut Journal,
    observer: &dyn RunObserver,
    marks: &mut Marks,
) -> Result<(), RepetitionError> {
    let config = &ctx.config;
    let kind = instance.kind();
    let repetition = rep.round;
    let origin = instance.origin();
    let mut on_moment = |instance: &LiveInstance, moment: Moment| {
        let what = match moment {
            Moment::Ready => "ready",
            Moment::WindowStart => "start of the measured iterations",
            Moment::WindowEnd => "end of the measured iterations",
        };
        let sampler = instance.sampler().expect("the launch asked for sampling");
        let marked = mark(instance.meter(), sampler, origin, &mut marks.missed, what);
        match moment {
            Moment::Ready => marks.ready = marked,
            Moment::WindowStart => marks.window_start = marked,
            Moment::WindowEnd => marks.window_end = marked,
        }
    };
    loop {
        let arrival = match instance.next_record() {
            Ok(arrival) => arrival,
            Err(ReadError::Ended { last_output }) => {
                return Err(RepetitionError::EarlyExit { last_output })
            }
            Err(e) => return Err(RepetitionError::Records(e)),
        };
        match arrival.record {
            Record::Ready(ready) => {
                rep.ready_seconds = Some(arrival.since_launch);
                rep.agent_ready_us = Some(ready.ready_us);
                on_moment(instance, Moment::Ready);
                if config.batch.warmup == 0 {
                    on_moment(instance, Moment::WindowStart);
                }
            }
            Record::Iteration(it) => {
                if rep.first_inference_seconds.is_none() {
                    rep.first_inference_seconds = Some(arrival.since_launch);
                }
                observer.iteration_done(kind.name(), repetition, it.index, it.warmup);
                if !it.warmup {
                    if rep.measured_start_seconds.is_none() {
                        rep.measured_start_seconds =
                            Some((arrival.previous - origin).as_secs_f64());
                    }
                    rep.measured_end_seconds = Some(arrival.since_launch);
                    let sample = IterationSample {
                        index: it.index,
                        input: it.input,
                        preprocess_us: it.preprocess_us,
                        inference_us: it.inference_us,
                        postprocess_us: it.postprocess_us,
                        end_to_end_us: (arrival.at - arrival.previous).as_micros() as u64,
                        digest: Some(it.digest),
                    };
                    journal
                        .append(
                            &Entry::Sample {
                                env: kind.name().to_string(),
                                repetition,
                                sample: sample.clone(),
                            },
                            false,
                        )
                        .map_err(|e| RepetitionError::Journal(Box::new(e)))?;
                    rep.iterations.push(sample);
                    if it.index + 1 == iterations {
                        on_moment(instance, Moment::WindowEnd);
                    }
                } else if it.index + 1 == config.batch.warmup {
                    on_moment(instance, Moment::WindowStart);
                }
            }
            Record::Summary(summary) => {
                rep.agent_summary = Some(summary);
                return Ok(());
            }
            // The reader turns error records into errors; should one get through:
            Record::Error(error) => {
                return Err(RepetitionError::Records(ReadError::Agent {
                    kind: error.kind,
                    message: error.message,
                }))
            }
        }
    }
}
