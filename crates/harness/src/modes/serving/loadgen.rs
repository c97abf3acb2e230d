//! The load generator: issues requests on a [`Channel`] following a
//! [`Scenario`], matches responses to requests by id, and records query
//! latencies in an HDR histogram.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use isobench_records::serve::{encode_request, Request, Response};
use isobench_results::{LatencySummary, RequestCounts};

use super::channel::{Channel, Incoming};
use super::scenario::{Arrivals, Scenario};
use super::ServeError;

/// Longest latency the histogram holds (one hour), µs.
const MAX_LATENCY_US: u64 = 3_600_000_000;
/// Error messages kept per run.
const KEEP_ERRORS: usize = 5;

/// A new latency histogram (1 µs to one hour, 3 significant digits).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Summarises a histogram.
pub fn summarize(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    let q = |p: f64| h.value_at_quantile(p) as f64;
    LatencySummary {
        count: h.len(),
        min_us: h.min() as f64,
        mean_us: h.mean(),
        p50_us: q(0.50),
        p90_us: q(0.90),
        p95_us: q(0.95),
        p99_us: q(0.99),
        p999_us: q(0.999),
        max_us: h.max() as f64,
    }
}

/// Issues request ids (unique per agent instance) and talks to the channel.
pub struct Session<'a> {
    channel: &'a mut dyn Channel,
    next_id: u64,
    interrupted: &'a AtomicBool,
    /// Input each request asks for (empty: the workload's default cycle).
    pub input: String,
    /// Longest wait for progress before outstanding requests count as lost.
    pub response_timeout: Duration,
}

impl<'a> Session<'a> {
    /// A session on `channel`; ids start at 1.
    pub fn new(channel: &'a mut dyn Channel, interrupted: &'a AtomicBool) -> Self {
        Session {
            channel,
            next_id: 1,
            interrupted,
            input: String::new(),
            response_timeout: Duration::from_secs(60),
        }
    }
}

struct Query {
    origin: Instant,
    remaining: u32,
}

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct LoadOutcome {
    /// Query latencies, µs.
    pub histogram: Histogram<u64>,
    /// Request bookkeeping.
    pub counts: RequestCounts,
    /// Queries completed (every sample answered).
    pub queries: u64,
    /// First request sent to last answer.
    pub duration: Duration,
    /// Sum and count of in-agent times of answered requests.
    pub agent_time_us: (u64, u64),
    /// First error messages.
    pub first_errors: Vec<String>,
    /// The Server run stopped early: the bound could no longer be met.
    pub overloaded: bool,
}

impl LoadOutcome {
    /// Queries per second.
    pub fn qps(&self) -> f64 {
        rate(self.queries, self.duration)
    }

    /// Answered samples per second.
    pub fn samples_per_second(&self) -> f64 {
        rate(self.counts.answered, self.duration)
    }

    /// Mean in-agent time per answered request, µs.
    pub fn agent_time_mean_us(&self) -> f64 {
        let (sum, n) = self.agent_time_us;
        if n == 0 {
            0.0
        } else {
            sum as f64 / n as f64
        }
    }
}

fn rate(n: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

/// One run's bookkeeping.
struct Run {
    pending: HashMap<u64, usize>,
    answered: HashSet<u64>,
    queries: Vec<Query>,
    histogram: Histogram<u64>,
    counts: RequestCounts,
    completed: u64,
    first_sent: Option<Instant>,
    last_answer: Option<Instant>,
    agent_time_us: (u64, u64),
    first_errors: Vec<String>,
    late: u64,
    bound_us: Option<u64>,
}

impl Run {
    fn new(bound: Option<Duration>) -> Self {
        Run {
            pending: HashMap::new(),
            answered: HashSet::new(),
            queries: Vec::new(),
            histogram: new_histogram(),
            counts: RequestCounts::default(),
            completed: 0,
            first_sent: None,
            last_answer: None,
            agent_time_us: (0, 0),
            first_errors: Vec::new(),
            late: 0,
            bound_us: bound.map(|b| b.as_micros() as u64),
        }
    }

    /// Sends one query of `samples` requests (one write), timed from `origin`.
    fn issue(
        &mut self,
        session: &mut Session<'_>,
        samples: u32,
        origin: Instant,
        empty: bool,
    ) -> Result<(), ServeError> {
        let query = self.queries.len();
        self.queries.push(Query {
            origin,
            remaining: samples,
        });
        let mut bytes = String::new();
        for _ in 0..samples {
            let id = session.next_id;
            session.next_id += 1;
            bytes += &encode_request(&Request {
                id,
                input: session.input.clone(),
                empty,
            });
            self.pending.insert(id, query);
        }
        self.counts.sent += u64::from(samples);
        self.first_sent.get_or_insert_with(Instant::now);
        session.channel.send(bytes.as_bytes())
    }

    fn note_error(&mut self, message: String) {
        if self.first_errors.len() < KEEP_ERRORS && !self.first_errors.contains(&message) {
            self.first_errors.push(message);
        }
    }

    fn handle(&mut self, response: Response, now: Instant) {
        if self.answered.contains(&response.id) {
            self.counts.duplicated += 1;
            return;
        }
        let Some(query) = self.pending.remove(&response.id) else {
            self.counts.unexpected += 1;
            if let Some(e) = response.error {
                self.note_error(format!("request id {}: {e}", response.id));
            }
            return;
        };
        self.answered.insert(response.id);
        self.counts.answered += 1;
        self.last_answer = Some(now);
        if response.ok {
            self.agent_time_us.0 +=
                response.preprocess_us + response.inference_us + response.postprocess_us;
            self.agent_time_us.1 += 1;
        } else {
            self.counts.errors += 1;
            let e = response
                .error
                .unwrap_or_else(|| "error without message".into());
            self.note_error(e);
        }
        let q = &mut self.queries[query];
        q.remaining -= 1;
        if q.remaining == 0 {
            let us = (now - q.origin).as_micros().max(1) as u64;
            self.histogram.saturating_record(us);
            self.completed += 1;
            if self.bound_us.is_some_and(|b| us > b) {
                self.late += 1;
            }
        }
    }

    /// Queries still pending that are already past the bound.
    fn pending_late(&self, now: Instant) -> u64 {
        let Some(bound) = self.bound_us else { return 0 };
        let late: HashSet<usize> = self
            .pending
            .values()
            .copied()
            .filter(|&q| (now - self.queries[q].origin).as_micros() as u64 > bound)
            .collect();
        late.len() as u64
    }

    fn finish(mut self, overloaded: bool) -> LoadOutcome {
        self.counts.lost = self.pending.len() as u64;
        let duration = match (self.first_sent, self.last_answer) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => Duration::ZERO,
        };
        LoadOutcome {
            histogram: self.histogram,
            counts: self.counts,
            queries: self.completed,
            duration,
            agent_time_us: self.agent_time_us,
            first_errors: self.first_errors,
            overloaded,
        }
    }
}

/// Parameters of one load run.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// The scenario.
    pub scenario: Scenario,
    /// Minimum duration.
    pub min_duration: Duration,
    /// Minimum number of queries.
    pub min_queries: u64,
    /// Samples per query (MultiStream; 1 for the others).
    pub samples_per_query: u32,
    /// Target QPS (Server).
    pub qps: f64,
    /// Latency bound (Server: stop early once more than 1% of the planned
    /// queries exceeded it, since the 99th percentile can no longer meet it).
    pub bound: Option<Duration>,
    /// Seed of the arrivals.
    pub seed: u64,
    /// Empty requests (transport round trip) instead of inferences.
    pub empty: bool,
}

/// Runs one load run to completion: issues until both the minimum duration
/// and query count are reached, then waits for every answer (or the
/// response timeout).
pub fn run_load(session: &mut Session<'_>, load: &Load) -> Result<LoadOutcome, ServeError> {
    let mut run = Run::new(load.bound);
    let start = Instant::now();
    let mut issued: u64 = 0;
    let mut issuing = true;
    let mut overloaded = false;
    let mut last_progress = start;
    let mut arrivals = Arrivals::new(load.qps.max(1e-9), load.seed);
    let mut next_arrival = start;
    let planned = load
        .min_queries
        .max((load.qps * load.min_duration.as_secs_f64()).ceil() as u64);
    let mut next_overload_check = start;
    let samples = match load.scenario {
        Scenario::MultiStream => load.samples_per_query,
        _ => 1,
    };
    let enough = |at: Instant, issued: u64| {
        at.duration_since(start) >= load.min_duration && issued >= load.min_queries
    };
    loop {
        if session.interrupted.load(Ordering::Relaxed) {
            return Err(ServeError::Interrupted);
        }
        let now = Instant::now();
        if issuing {
            match load.scenario {
                Scenario::SingleStream | Scenario::MultiStream => {
                    if run.pending.is_empty() {
                        if enough(now, issued) {
                            issuing = false;
                        } else {
                            run.issue(session, samples, now, load.empty)?;
                            issued += 1;
                            last_progress = now;
                        }
                    }
                }
                Scenario::Offline => {
                    if run.pending.is_empty() {
                        if issued > 0 && enough(now, issued) {
                            issuing = false;
                        } else {
                            // One batch: every query at once, in one write.
                            let batch = load.min_queries;
                            let origin = Instant::now();
                            let query_base = run.queries.len();
                            let mut bytes = String::new();
                            for q in 0..batch {
                                run.queries.push(Query {
                                    origin,
                                    remaining: 1,
                                });
                                let id = session.next_id;
                                session.next_id += 1;
                                bytes += &encode_request(&Request {
                                    id,
                                    input: session.input.clone(),
                                    empty: load.empty,
                                });
                                run.pending.insert(id, query_base + q as usize);
                            }
                            run.counts.sent += batch;
                            run.first_sent.get_or_insert(origin);
                            session.channel.send(bytes.as_bytes())?;
                            issued += batch;
                            last_progress = now;
                        }
                    }
                }
                Scenario::Server => {
                    while next_arrival <= now {
                        if enough(next_arrival, issued) {
                            issuing = false;
                            break;
                        }
                        if run.pending.is_empty() {
                            last_progress = now;
                        }
                        run.issue(session, 1, next_arrival, load.empty)?;
                        issued += 1;
                        next_arrival = start + Duration::from_secs_f64(arrivals.next_arrival());
                    }
                    if issuing && load.bound.is_some() && now >= next_overload_check {
                        next_overload_check = now + Duration::from_millis(100);
                        let late = run.late + run.pending_late(now);
                        if late * 100 > planned {
                            issuing = false;
                            overloaded = true;
                        }
                    }
                }
            }
        }
        if !issuing && run.pending.is_empty() {
            break;
        }
        if !run.pending.is_empty() && now.duration_since(last_progress) > session.response_timeout {
            // Nothing answered for too long: what is pending is lost.
            break;
        }
        let wait = if issuing && load.scenario == Scenario::Server {
            next_arrival.saturating_duration_since(now)
        } else {
            Duration::from_millis(250)
        };
        match session.channel.recv(wait.min(Duration::from_millis(250)))? {
            Incoming::Response(response) => {
                let at = Instant::now();
                last_progress = at;
                run.handle(response, at);
            }
            Incoming::Garbled(message) => {
                run.counts.unexpected += 1;
                run.note_error(format!("garbled response: {message}"));
            }
            Incoming::Timeout => {}
        }
    }
    Ok(run.finish(overloaded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// An in-process agent: answers each request after `service` of virtual
    /// work, optionally dropping or duplicating some ids.
    struct FakeAgent {
        queue: VecDeque<Response>,
        drop_id: Option<u64>,
        duplicate_id: Option<u64>,
    }

    impl Channel for FakeAgent {
        fn send(&mut self, bytes: &[u8]) -> Result<(), ServeError> {
            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let request = isobench_records::serve::decode_request(line)
                    .map_err(ServeError::Frame)?
                    .expect("a frame");
                if Some(request.id) == self.drop_id {
                    continue;
                }
                let response = if request.input == "bad" {
                    Response::failure(request.id, "unknown input `bad`")
                } else {
                    Response::empty(request.id)
                };
                if Some(request.id) == self.duplicate_id {
                    self.queue.push_back(response.clone());
                }
                self.queue.push_back(response);
            }
            Ok(())
        }

        fn recv(&mut self, timeout: Duration) -> Result<Incoming, ServeError> {
            match self.queue.pop_front() {
                Some(r) => Ok(Incoming::Response(r)),
                None => {
                    std::thread::sleep(timeout.min(Duration::from_millis(1)));
                    Ok(Incoming::Timeout)
                }
            }
        }
    }

    fn fake() -> FakeAgent {
        FakeAgent {
            queue: VecDeque::new(),
            drop_id: None,
            duplicate_id: None,
        }
    }

    fn load(scenario: Scenario) -> Load {
        Load {
            scenario,
            min_duration: Duration::ZERO,
            min_queries: 20,
            samples_per_query: 4,
            qps: 2000.0,
            bound: None,
            seed: 1,
            empty: false,
        }
    }

    #[test]
    fn every_scenario_counts_queries_and_samples() {
        let stop = AtomicBool::new(false);
        for (scenario, samples) in [
            (Scenario::SingleStream, 20),
            (Scenario::MultiStream, 80),
            (Scenario::Server, 20),
            (Scenario::Offline, 20),
        ] {
            let mut agent = fake();
            let mut session = Session::new(&mut agent, &stop);
            let out = run_load(&mut session, &load(scenario)).unwrap();
            assert_eq!(out.queries, 20, "{scenario}");
            assert_eq!(out.counts.sent, samples, "{scenario}");
            assert_eq!(out.counts.answered, samples, "{scenario}");
            assert_eq!(out.histogram.len(), 20, "{scenario}");
            assert_eq!(
                (
                    out.counts.lost,
                    out.counts.duplicated,
                    out.counts.unexpected
                ),
                (0, 0, 0)
            );
        }
    }

    #[test]
    fn lost_duplicated_and_failed_requests_are_counted() {
        let stop = AtomicBool::new(false);
        let mut agent = FakeAgent {
            drop_id: Some(3),
            duplicate_id: Some(5),
            ..fake()
        };
        let mut session = Session::new(&mut agent, &stop);
        session.response_timeout = Duration::from_millis(300);
        let out = run_load(&mut session, &load(Scenario::Offline)).unwrap();
        assert_eq!(out.counts.lost, 1);
        assert_eq!(out.counts.duplicated, 1);
        assert_eq!(out.counts.answered, 19);

        let mut agent = fake();
        let mut session = Session::new(&mut agent, &stop);
        session.input = "bad".into();
        let out = run_load(&mut session, &load(Scenario::SingleStream)).unwrap();
        assert_eq!(out.counts.errors, 20);
        assert_eq!(out.first_errors, vec!["unknown input `bad`".to_string()]);
    }

    #[test]
    fn ids_stay_unique_across_runs_of_a_session() {
        let stop = AtomicBool::new(false);
        let mut agent = fake();
        let mut session = Session::new(&mut agent, &stop);
        run_load(&mut session, &load(Scenario::SingleStream)).unwrap();
        let first = session.next_id;
        run_load(&mut session, &load(Scenario::Offline)).unwrap();
        assert_eq!(session.next_id, first + 20);
    }

    #[test]
    fn summaries_come_from_the_histogram() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let s = summarize(&h);
        assert_eq!(s.count, 1000);
        assert!(
            (s.p50_us - 500.0).abs() <= 1.0 && (s.p99_us - 990.0).abs() <= 1.0,
            "{s:?}"
        );
        assert_eq!(summarize(&new_histogram()), LatencySummary::default());
    }
}
