//! Model serving across the isolation boundary (`isobench serve-bench`):
//! the agent runs `serve` inside an environment, the host drives it with
//! the MLPerf LoadGen scenarios ([`scenario`]) through a [`channel`], the
//! [`loadgen`] matches every response to its request and records latencies
//! in HDR histograms, and the results go into `results.json` (`serving`).
//!
//! Per environment: launch one instance, wait for `ready`, warm up, measure
//! the transport's own round trip with empty requests, then run each
//! scenario on the same instance (the model stays loaded), metering the
//! host CPU the instance costs during each scenario.

pub mod channel;
pub mod error;
pub mod loadgen;
pub mod scenario;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use isobench_environments::{EnvKind, RunLabel};
use isobench_records::Listen;
use isobench_results::{PeakStep, ServingResult};

use crate::context::{results_path, RunContext, RunObserver};
use crate::lifecycle::{Channels, Lab, LaunchRequest, LiveInstance};
use crate::metrics::Meter;
use crate::HarnessError;

use channel::{Channel, InstanceChannel, StreamChannel};
pub use error::ServeError;
use loadgen::{run_load, summarize, Load, LoadOutcome, Session};
pub use scenario::{Scenario, ServeSettings, TransportKind};

/// The guest port the agent listens on with the vsock transport.
pub const VSOCK_PORT: u32 = 7070;

/// Runs the serving benchmark on every environment of the experiment, then
/// adds the results to `results.json` in the output directory (replacing
/// earlier serving results of the same environment, scenario and transport).
pub fn serve_bench(
    ctx: &RunContext,
    settings: &ServeSettings,
    observer: &dyn RunObserver,
) -> Result<Vec<ServingResult>, HarnessError> {
    settings.validate()?;
    let mut all = Vec::new();
    let mut lab = Lab::open(ctx);
    for &kind in &ctx.config.common.environments {
        if lab.interrupted() {
            break;
        }
        observer.message(&format!(
            "{kind}: serving {} ({})",
            ctx.config.workload(),
            settings.transport.name()
        ));
        let results = bench_environment(&mut lab, kind, settings, observer);
        for r in &results {
            observer.message(&format!(
                "{kind}: {} done: {} queries, {}",
                r.scenario,
                r.queries,
                r.failure.as_deref().unwrap_or("ok")
            ));
        }
        all.extend(results);
    }
    add_ratios(&mut all, ctx.config.baseline().name());
    save(ctx, &all)?;
    if ctx.interrupted.load(Ordering::Relaxed) {
        return Err(HarnessError::Interrupted(results_path(
            &ctx.config.common.output,
        )));
    }
    Ok(all)
}

fn failed(
    kind: EnvKind,
    settings: &ServeSettings,
    ctx: &RunContext,
    reason: String,
) -> Vec<ServingResult> {
    settings
        .scenarios
        .iter()
        .map(|s| ServingResult {
            env: kind.name().into(),
            scenario: s.name().into(),
            transport: transport_name(ctx, kind, settings.transport).into(),
            workload: ctx.config.workload().to_string(),
            failure: Some(reason.clone()),
            ..ServingResult::default()
        })
        .collect()
}

fn transport_name(ctx: &RunContext, kind: EnvKind, transport: TransportKind) -> &'static str {
    match transport {
        TransportKind::Tcp => "tcp",
        TransportKind::Vsock => "vsock",
        TransportKind::Stdio => ctx.source.capabilities(kind).input.transport_name(),
    }
}

/// Why `kind` cannot serve over `transport`, if it cannot: a phrase that
/// follows the environment's name (`` `oci-runc` has no network ... ``).
pub fn transport_refusal(
    can: isobench_environments::Capabilities,
    transport: TransportKind,
) -> Option<String> {
    match transport {
        TransportKind::Tcp if !can.tcp => Some(format!(
            "has no network the host reaches ({TCP_ENVIRONMENTS}); use --transport stdio for it"
        )),
        TransportKind::Vsock if !can.vsock => Some(
            "is not a VM (vsock works with firecracker, qemu-microvm, qemu-q35); use --transport stdio for it".into(),
        ),
        TransportKind::Stdio if can.input == isobench_environments::InputChannel::None => Some(
            "gives the host no input channel to the agent; use --transport tcp for it".into(),
        ),
        _ => None,
    }
}

fn bench_environment(
    lab: &mut Lab<'_>,
    kind: EnvKind,
    settings: &ServeSettings,
    observer: &dyn RunObserver,
) -> Vec<ServingResult> {
    let ctx = lab.context();
    if let Some(reason) = transport_refusal(ctx.source.capabilities(kind), settings.transport) {
        return failed(kind, settings, ctx, format!("`{kind}` {reason}"));
    }
    let emulated = match lab.prepare(kind) {
        Ok(prepared) => prepared.facts().emulated,
        Err(unready @ crate::lifecycle::Unready::Unavailable { .. }) => {
            return failed(kind, settings, ctx, format!("unavailable: {unready}"))
        }
        Err(unready) => return failed(kind, settings, ctx, unready.to_string()),
    };
    let results = match bench_instance(lab, kind, settings, observer) {
        Ok(mut results) => {
            for r in &mut results {
                r.emulated = emulated;
            }
            results
        }
        Err(reason) => failed(kind, settings, ctx, reason.to_string()),
    };
    if let Err(e) = lab.teardown(kind) {
        observer.message(&format!("{kind}: clean-up: {e}"));
    }
    results
}

/// What the tcp transport works with.
pub const TCP_ENVIRONMENTS: &str =
    "the tcp transport needs a network the host reaches: native (loopback) or docker/kata (a bridge network of the run's own)";

/// The port the agent listens on inside a container with its own network.
pub const CONTAINER_TCP_PORT: u16 = 7070;

/// A free TCP port on the loopback interface.
fn free_port() -> Result<u16, ServeError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| ServeError::Socket {
            what: "finding a free TCP port".into(),
            source,
        })
}

fn bench_instance(
    lab: &mut Lab<'_>,
    kind: EnvKind,
    settings: &ServeSettings,
    observer: &dyn RunObserver,
) -> Result<Vec<ServingResult>, ServeError> {
    let ctx = lab.context();
    let host_network = ctx.source.capabilities(kind).host_network;
    let listen = match settings.transport {
        TransportKind::Tcp if host_network => {
            Listen::Tcp(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), free_port()?))
        }
        TransportKind::Tcp => Listen::Tcp(SocketAddr::new(
            Ipv4Addr::UNSPECIFIED.into(),
            CONTAINER_TCP_PORT,
        )),
        TransportKind::Vsock => Listen::Vsock(VSOCK_PORT),
        TransportKind::Stdio => Listen::Stdio,
    };
    let assets = lab
        .prepared(kind)
        .map(|p| p.assets_inside())
        .unwrap_or_default();
    let request = LaunchRequest {
        invocation: ctx.config.serve_invocation(&assets, listen.clone()),
        label: RunLabel::Serve,
        channels: Channels {
            input: settings.transport == TransportKind::Stdio,
            vsock: settings.transport == TransportKind::Vsock,
            network: settings.transport == TransportKind::Tcp,
        },
        sample: false,
    };
    let mut instance = lab.launch(kind, request).map_err(ServeError::Launch)?;
    let outcome = serve_on(ctx, &mut instance, &listen, settings, observer);
    let stopped = instance.stop();
    if let Err(e) = stopped.exit {
        observer.message(&format!("{kind}: stopping the instance: {e}"));
    }
    outcome
}

/// Waits for the agent, connects to it over `listen`, and runs the scenarios.
fn serve_on(
    ctx: &RunContext,
    instance: &mut LiveInstance,
    listen: &Listen,
    settings: &ServeSettings,
    observer: &dyn RunObserver,
) -> Result<Vec<ServingResult>, ServeError> {
    let kind = instance.kind();
    let (arrival, ready) = instance.wait_ready().map_err(ServeError::Start)?;
    let ready_seconds = arrival.since_launch;
    observer.message(&format!("{kind}: agent ready after {ready_seconds:.3} s"));
    let meter = Meter::new(instance.meter_target().clone());
    let mut socket;
    let mut stdio;
    let channel: &mut dyn Channel = match listen {
        Listen::Tcp(listening) => {
            let ip: IpAddr =
                instance
                    .instance()
                    .network_address()
                    .ok_or_else(|| ServeError::Unreachable {
                        env: kind.to_string(),
                        what: "network",
                    })?;
            let addr = SocketAddr::new(ip, listening.port());
            socket = StreamChannel::tcp(&addr.to_string(), Duration::from_secs(10))?;
            &mut socket
        }
        Listen::Vsock(port) => {
            let endpoint = instance
                .instance()
                .vsock()
                .ok_or_else(|| ServeError::Unreachable {
                    env: kind.to_string(),
                    what: "vsock device",
                })?;
            observer.message(&format!("{kind}: connecting over {}", endpoint.describe()));
            socket = StreamChannel::vsock(&endpoint, *port, Duration::from_secs(30))?;
            &mut socket
        }
        Listen::Stdio | Listen::Device(_) => {
            stdio = InstanceChannel::new(instance.instance());
            &mut stdio
        }
    };
    let mut session = Session::new(channel, &ctx.interrupted);
    session.input = settings.input.clone();
    session.response_timeout = settings.response_timeout;
    let bench = Bench {
        kind,
        settings,
        ctx,
        meter: &meter,
        ready_seconds,
        engine: ready.engine.to_string(),
        observer,
    };
    bench.run(&mut session)
}

struct Bench<'a> {
    kind: EnvKind,
    settings: &'a ServeSettings,
    ctx: &'a RunContext,
    meter: &'a Meter,
    ready_seconds: f64,
    engine: String,
    observer: &'a dyn RunObserver,
}

/// One scenario run with the CPU it cost.
struct Measured {
    outcome: LoadOutcome,
    cpu_seconds: Option<f64>,
    target_qps: Option<f64>,
}

impl Bench<'_> {
    fn load(&self, scenario: Scenario, qps: f64, bound: Option<Duration>) -> Load {
        Load {
            scenario,
            min_duration: self.settings.min_duration,
            min_queries: self.settings.min_queries,
            samples_per_query: self.settings.samples_per_query,
            qps,
            bound,
            seed: self.settings.seed,
            empty: false,
        }
    }

    fn measure(&self, session: &mut Session<'_>, load: &Load) -> Result<Measured, ServeError> {
        let before = self.meter.read();
        let outcome = run_load(session, load)?;
        let after = self.meter.read();
        let cpu_seconds = match (before, after) {
            (Some(a), Some(b)) => Some((b.cpu_seconds - a.cpu_seconds).max(0.0)),
            _ => None,
        };
        Ok(Measured {
            outcome,
            cpu_seconds,
            target_qps: (load.scenario == Scenario::Server).then_some(load.qps),
        })
    }

    fn run(&self, session: &mut Session<'_>) -> Result<Vec<ServingResult>, ServeError> {
        let settings = self.settings;
        let mut warm = self.load(Scenario::SingleStream, 0.0, None);
        warm.min_duration = Duration::ZERO;
        warm.min_queries = settings.warmup_requests.max(1);
        let warm = run_load(session, &warm)?;
        if warm.counts.answered > 0 && warm.counts.errors == warm.counts.answered {
            return Err(ServeError::WarmupFailed {
                first_error: warm.first_errors.first().cloned().unwrap_or_default(),
            });
        }
        if warm.counts.answered == 0 || warm.counts.lost > 0 {
            return Err(ServeError::WarmupUnanswered {
                answered: warm.counts.answered,
                sent: warm.counts.sent,
            });
        }
        let mut rt = self.load(Scenario::SingleStream, 0.0, None);
        rt.min_duration = Duration::ZERO;
        rt.min_queries = settings.round_trip_requests.max(1);
        rt.empty = true;
        let round_trip = summarize(&run_load(session, &rt)?.histogram);
        self.observer.message(&format!(
            "{}: empty-request round trip p50 {:.0} µs, p99 {:.0} µs",
            self.kind, round_trip.p50_us, round_trip.p99_us
        ));
        // Service time of one request, from the warm-up.
        let service_us = (warm.histogram.value_at_quantile(0.5) as f64).max(1.0);
        let bound = settings
            .latency_bound
            .unwrap_or_else(|| Duration::from_micros((5.0 * service_us).max(1000.0) as u64));
        let capacity_qps = 1e6 / service_us;
        let mut results = Vec::new();
        for &scenario in &settings.scenarios {
            let mut steps = Vec::new();
            let measured = match scenario {
                Scenario::Server if settings.find_peak => {
                    self.find_peak(session, bound, capacity_qps, &mut steps)?
                }
                Scenario::Server => {
                    let qps = settings.qps.unwrap_or(capacity_qps * 0.5);
                    self.measure(session, &self.load(scenario, qps, Some(bound)))?
                }
                _ => self.measure(session, &self.load(scenario, 0.0, None))?,
            };
            let mut result = self.result_of(scenario, &measured, round_trip.clone());
            if scenario == Scenario::Server {
                result.latency_bound_ms = Some(bound.as_secs_f64() * 1e3);
                result.bound_met = Some(met(&measured.outcome, bound));
                if settings.find_peak {
                    result.peak_qps = steps
                        .iter()
                        .filter(|s| s.met)
                        .map(|s| s.target_qps)
                        .reduce(f64::max);
                    result.peak_search = steps;
                }
            }
            results.push(result);
        }
        Ok(results)
    }

    /// Searches the highest Server QPS meeting `bound`: grows the target
    /// from 80% of the capacity estimate until a run fails, then bisects,
    /// for at most `max_peak_steps` runs. Returns the best passing run (or
    /// the last one when none passed).
    fn find_peak(
        &self,
        session: &mut Session<'_>,
        bound: Duration,
        capacity_qps: f64,
        steps: &mut Vec<PeakStep>,
    ) -> Result<Measured, ServeError> {
        let mut lo: Option<f64> = None;
        let mut hi: Option<f64> = None;
        let mut qps = self.settings.qps.unwrap_or(capacity_qps * 0.8);
        let mut best: Option<Measured> = None;
        let mut last: Option<Measured> = None;
        for _ in 0..self.settings.max_peak_steps.max(1) {
            let m = self.measure(session, &self.load(Scenario::Server, qps, Some(bound)))?;
            let ok = met(&m.outcome, bound);
            let p99 = m.outcome.histogram.value_at_quantile(0.99) as f64;
            self.observer.message(&format!(
                "{}: server at {qps:.2} QPS: p99 {:.1} ms, bound {:.1} ms {}",
                self.kind,
                p99 / 1e3,
                bound.as_secs_f64() * 1e3,
                if ok { "met" } else { "missed" }
            ));
            steps.push(PeakStep {
                target_qps: qps,
                achieved_qps: m.outcome.qps(),
                p99_us: p99,
                met: ok,
            });
            if ok {
                // Targets only grow between passing steps: this one is the best so far.
                lo = Some(qps);
                best = Some(m);
            } else {
                hi = Some(qps);
                last = Some(m);
            }
            qps = match (lo, hi) {
                (Some(l), Some(h)) => {
                    if (h - l) / h < 0.05 {
                        break;
                    }
                    (l + h) / 2.0
                }
                (Some(l), None) => l * 1.5,
                (None, Some(h)) => h / 2.0,
                (None, None) => qps,
            };
        }
        Ok(best.or(last).expect("at least one step ran"))
    }

    fn result_of(
        &self,
        scenario: Scenario,
        m: &Measured,
        round_trip: isobench_results::LatencySummary,
    ) -> ServingResult {
        let o = &m.outcome;
        let latency = summarize(&o.histogram);
        let percentile = scenario.reported_percentile();
        let requests = o.counts.answered.max(1) as f64;
        let failure = if o.counts.lost > 0 {
            Some(format!("{} request(s) never answered", o.counts.lost))
        } else if o.counts.answered == 0 {
            Some("no request answered".into())
        } else if o.counts.errors > 0 {
            Some(format!(
                "{} request(s) answered with an error: {}",
                o.counts.errors,
                o.first_errors.first().cloned().unwrap_or_default()
            ))
        } else if o.counts.duplicated + o.counts.unexpected > 0 {
            Some(format!(
                "{} duplicated and {} unexpected answer(s)",
                o.counts.duplicated, o.counts.unexpected
            ))
        } else {
            None
        };
        ServingResult {
            env: self.kind.name().into(),
            scenario: scenario.name().into(),
            transport: transport_name(self.ctx, self.kind, self.settings.transport).into(),
            workload: self.ctx.config.workload().to_string(),
            engine: self.engine.clone(),
            emulated: false,
            ready_seconds: Some(self.ready_seconds),
            round_trip: Some(round_trip),
            target_qps: m.target_qps,
            samples_per_query: if scenario == Scenario::MultiStream {
                self.settings.samples_per_query
            } else {
                1
            },
            queries: o.queries,
            counts: o.counts.clone(),
            duration_seconds: o.duration.as_secs_f64(),
            achieved_qps: o.qps(),
            samples_per_second: o.samples_per_second(),
            reported_percentile: percentile,
            reported_latency_us: o.histogram.value_at_quantile(percentile / 100.0) as f64,
            latency,
            agent_time_mean_us: o.agent_time_mean_us(),
            latency_bound_ms: None,
            bound_met: None,
            peak_qps: None,
            peak_search: Vec::new(),
            cpu_seconds: m.cpu_seconds,
            cpu_seconds_per_request: m.cpu_seconds.map(|c| c / requests),
            cpu_source: self.meter.describe(),
            latency_ratio_to_native: None,
            throughput_ratio_to_native: None,
            first_errors: o.first_errors.clone(),
            failure,
        }
    }
}

/// The Server criterion: p99 within the bound, nothing lost or failed, not stopped early.
fn met(o: &LoadOutcome, bound: Duration) -> bool {
    !o.overloaded
        && o.counts.lost == 0
        && o.counts.errors == 0
        && o.queries > 0
        && o.histogram.value_at_quantile(0.99) <= bound.as_micros() as u64
}

/// Fills each result's ratios to the baseline's result of the same scenario.
pub fn add_ratios(results: &mut [ServingResult], baseline: &str) {
    let natives: Vec<ServingResult> = results
        .iter()
        .filter(|r| r.env == baseline && r.failure.is_none())
        .cloned()
        .collect();
    for r in results.iter_mut() {
        if r.env == baseline || r.failure.is_some() {
            continue;
        }
        let Some(base) = natives
            .iter()
            .filter(|n| n.scenario == r.scenario)
            .max_by_key(|n| n.transport == r.transport)
        else {
            continue;
        };
        if base.reported_latency_us > 0.0 {
            r.latency_ratio_to_native = Some(r.reported_latency_us / base.reported_latency_us);
        }
        let throughput = |x: &ServingResult| match x.scenario.as_str() {
            "offline" => x.samples_per_second,
            _ => x.peak_qps.unwrap_or(x.achieved_qps),
        };
        if throughput(base) > 0.0 {
            r.throughput_ratio_to_native = Some(throughput(r) / throughput(base));
        }
    }
}

/// Adds `results` to `results.json` in the output directory (creating it
/// when absent), replacing entries of the same environment, scenario and transport.
fn save(ctx: &RunContext, results: &[ServingResult]) -> Result<(), HarnessError> {
    crate::modes::update_results(ctx, |file| {
        file.serving.retain(|old| {
            !results.iter().any(|new| {
                new.env == old.env
                    && new.scenario == old.scenario
                    && new.transport == old.transport
                    && new.workload == old.workload
            })
        });
        file.serving.extend(results.iter().cloned());
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(env: &str, scenario: &str, latency: f64, qps: f64) -> ServingResult {
        ServingResult {
            env: env.into(),
            scenario: scenario.into(),
            transport: "stdio".into(),
            reported_latency_us: latency,
            achieved_qps: qps,
            samples_per_second: qps,
            ..ServingResult::default()
        }
    }

    #[test]
    fn ratios_compare_with_native_of_the_same_scenario() {
        let mut results = vec![
            result("native", "server", 100.0, 50.0),
            result("native", "offline", 1000.0, 200.0),
            result("docker", "server", 150.0, 40.0),
            result("docker", "offline", 1000.0, 100.0),
            result("docker", "multi-stream", 1.0, 1.0),
        ];
        results[0].peak_qps = Some(80.0);
        results[2].peak_qps = Some(60.0);
        add_ratios(&mut results, "native");
        assert_eq!(results[2].latency_ratio_to_native, Some(1.5));
        assert_eq!(results[2].throughput_ratio_to_native, Some(0.75));
        assert_eq!(results[3].throughput_ratio_to_native, Some(0.5));
        assert_eq!(results[4].latency_ratio_to_native, None);
        assert_eq!(results[0].latency_ratio_to_native, None);
    }
}
