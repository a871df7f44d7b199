//! trino-loadgen: many Trino clients at once. Each query is what a real client
//! does: POST /v1/statement, then GET every nextUri until there is none
//! (optionally DELETE part-way to cancel). Closed loop (`--concurrency`) or
//! open loop (`--rate` queries per second). Reports throughput and latency
//! percentiles per request kind, as text and as JSON (`--json`).

mod stats;

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use stats::{Kind, Recorder};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

#[derive(Parser, Debug, Clone)]
#[command(version, about)]
struct Args {
    /// Base URL of a coordinator or gateway; repeat to spread clients over several (round robin).
    #[arg(long = "target", required = true)]
    targets: Vec<String>,
    /// Closed loop: this many clients, each running one query after another (ignored with --rate).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Open loop: start this many queries per second (at most --max-in-flight at once).
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Stop after this long (seconds).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Or stop after this many queries in total.
    #[arg(long)]
    queries: Option<u64>,
    /// Not measured: run this long first (seconds).
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    #[arg(long, default_value = "SELECT x FROM UNNEST(sequence(1, 100)) AS t(x)")]
    sql: String,
    #[arg(long, default_value = "loadgen")]
    user: String,
    /// Share of queries (0..1) canceled with DELETE after their first executing page.
    #[arg(long, default_value_t = 0.0)]
    cancel_share: f64,
    /// Only POST (register) queries, never fetch them: fills a gateway's query map fastest.
    #[arg(long)]
    submit_only: bool,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Print the report as text (default on when --json is not given).
    #[arg(long)]
    quiet: bool,
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

#[derive(Deserialize)]
struct Page {
    #[serde(rename = "nextUri")]
    next_uri: Option<String>,
    data: Option<Vec<serde::de::IgnoredAny>>,
    error: Option<serde::de::IgnoredAny>,
}

struct Shared {
    args: Args,
    client: HttpClient,
    started_queries: AtomicU64,
    measure_from: Instant,
    stop_at: Instant,
}

impl Shared {
    fn measuring(&self) -> bool {
        Instant::now() >= self.measure_from
    }

    /// Reserve the next query, unless the run is over.
    fn next_query(&self) -> Option<u64> {
        if Instant::now() >= self.stop_at {
            return None;
        }
        let n = self.started_queries.fetch_add(1, Ordering::Relaxed);
        match self.args.queries {
            Some(limit) if n >= limit => None,
            _ => Some(n),
        }
    }
}

async fn request(
    client: &HttpClient,
    method: hyper::Method,
    uri: &str,
    user: &str,
    body: Option<&str>,
) -> Result<(u16, Bytes), String> {
    let request = hyper::Request::builder()
        .method(method)
        .uri(uri)
        .header("X-Trino-User", user)
        .header("X-Trino-Source", "trino-loadgen")
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_string())))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| format!("{e:?}").chars().take(120).collect::<String>())?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, body))
}

/// One query, start to end, recording each request.
async fn run_query(shared: &Shared, target: &str, recorder: &mut Recorder) {
    let measured = shared.measuring();
    let cancel = shared.args.cancel_share > 0.0 && fastrand::f64() < shared.args.cancel_share;
    let note = |recorder: &mut Recorder, kind, started: Instant| {
        if measured {
            recorder.record(kind, started.elapsed());
        }
    };
    let started = Instant::now();
    let submitted = request(
        &shared.client,
        hyper::Method::POST,
        &format!("{target}/v1/statement"),
        &shared.args.user,
        Some(&shared.args.sql),
    )
    .await;
    note(recorder, Kind::Submit, started);
    let mut next = match submitted.and_then(|(status, body)| parse(status, &body)) {
        Ok(page) => page.next_uri,
        Err(e) => return fail(recorder, measured, format!("submit: {e}")),
    };
    if shared.args.submit_only {
        if measured {
            recorder.queries += 1;
        }
        return;
    }
    let mut rows = 0u64;
    let mut saw_data = false;
    while let Some(uri) = next {
        if cancel && saw_data {
            let started = Instant::now();
            let result = request(&shared.client, hyper::Method::DELETE, &uri, &shared.args.user, None).await;
            note(recorder, Kind::Cancel, started);
            match result {
                Ok((204, _)) => {
                    if measured {
                        recorder.canceled_queries += 1;
                        recorder.queries += 1;
                    }
                }
                Ok((status, _)) => fail(recorder, measured, format!("cancel: HTTP {status}")),
                Err(e) => fail(recorder, measured, format!("cancel: {e}")),
            }
            return;
        }
        let kind = Kind::of_uri(&uri);
        let started = Instant::now();
        let fetched = request(&shared.client, hyper::Method::GET, &uri, &shared.args.user, None).await;
        note(recorder, kind, started);
        match fetched.and_then(|(status, body)| parse(status, &body)) {
            Ok(page) => {
                if page.error.is_some() {
                    return fail(recorder, measured, "query FAILED".into());
                }
                let n = page.data.map_or(0, |d| d.len() as u64);
                rows += n;
                saw_data |= n > 0;
                next = page.next_uri;
            }
            Err(e) => return fail(recorder, measured, format!("{kind:?}: {e}")),
        }
    }
    if measured {
        recorder.queries += 1;
        recorder.rows += rows;
    }
}

fn parse(status: u16, body: &[u8]) -> Result<Page, String> {
    if status != 200 {
        return Err(format!("HTTP {status} {}", String::from_utf8_lossy(&body[..body.len().min(60)])));
    }
    serde_json::from_slice(body).map_err(|e| format!("bad JSON: {e}"))
}

fn fail(recorder: &mut Recorder, measured: bool, what: String) {
    if measured {
        recorder.failed_queries += 1;
        recorder.error(what);
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(4096).build(connector);
    let now = Instant::now();
    let measure_from = now + Duration::from_secs_f64(args.warmup);
    let shared = Arc::new(Shared {
        stop_at: measure_from + Duration::from_secs_f64(args.duration),
        measure_from,
        client,
        started_queries: AtomicU64::new(0),
        args: args.clone(),
    });
    let mut handles = Vec::new();
    if let Some(rate) = args.rate {
        // Open loop: a ticker starts queries on schedule; a semaphore caps those in flight.
        let permits = Arc::new(Semaphore::new(args.max_in_flight));
        let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Recorder>();
        let collector = tokio::spawn(async move {
            let mut total = Recorder::default();
            while let Some(r) = receiver.recv().await {
                total.merge(r);
            }
            total
        });
        loop {
            ticker.tick().await;
            let Some(n) = shared.next_query() else { break };
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let shared = shared.clone();
            let sender = sender.clone();
            tokio::spawn(async move {
                let mut recorder = Recorder::default();
                let target = &shared.args.targets[(n as usize) % shared.args.targets.len()];
                run_query(&shared, target, &mut recorder).await;
                let _ = sender.send(recorder);
                drop(permit);
            });
        }
        let _ = permits.acquire_many(args.max_in_flight as u32).await;
        drop(sender);
        let total = collector.await.unwrap_or_default();
        return finish(&args, total, shared.measure_from.elapsed());
    }
    for client_index in 0..args.concurrency {
        let shared = shared.clone();
        handles.push(tokio::spawn(async move {
            let mut recorder = Recorder::default();
            let target = shared.args.targets[client_index % shared.args.targets.len()].clone();
            while shared.next_query().is_some() {
                run_query(&shared, &target, &mut recorder).await;
            }
            recorder
        }));
    }
    let mut total = Recorder::default();
    for handle in handles {
        if let Ok(recorder) = handle.await {
            total.merge(recorder);
        }
    }
    finish(&args, total, shared.measure_from.elapsed())
}

fn finish(args: &Args, total: Recorder, elapsed: Duration) -> std::process::ExitCode {
    let report = total.report(elapsed);
    if args.json.is_none() || !args.quiet {
        report.print();
    }
    if let Some(path) = &args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => {
                if let Err(e) = std::fs::write(path, text) {
                    eprintln!("cannot write {}: {e}", path.display());
                    return std::process::ExitCode::FAILURE;
                }
            }
            Err(e) => eprintln!("cannot encode the report: {e}"),
        }
    }
    std::process::ExitCode::SUCCESS
}
