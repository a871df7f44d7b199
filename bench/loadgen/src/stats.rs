//! Latency histograms per request kind and the report.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The requests of the Trino protocol, measured separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// POST /v1/statement
    Submit,
    /// GET /v1/statement/queued/...
    Queued,
    /// GET /v1/statement/executing/...
    Executing,
    /// DELETE of a nextUri
    Cancel,
}

impl Kind {
    pub fn of_uri(uri: &str) -> Kind {
        if uri.contains("/v1/statement/queued/") {
            Kind::Queued
        } else {
            Kind::Executing
        }
    }
}

#[derive(Default)]
pub struct Recorder {
    histograms: BTreeMap<Kind, Histogram<u64>>,
    errors: BTreeMap<String, u64>,
    pub queries: u64,
    pub failed_queries: u64,
    pub canceled_queries: u64,
    pub rows: u64,
}

impl Recorder {
    pub fn record(&mut self, kind: Kind, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).max(1);
        let histogram = self.histograms.entry(kind).or_insert_with(new_histogram);
        let _ = histogram.record(micros.min(MAX_MICROS));
    }

    pub fn error(&mut self, what: String) {
        *self.errors.entry(what).or_default() += 1;
    }

    pub fn merge(&mut self, other: Recorder) {
        for (kind, h) in other.histograms {
            match self.histograms.get_mut(&kind) {
                Some(mine) => {
                    let _ = mine.add(&h);
                }
                None => {
                    self.histograms.insert(kind, h);
                }
            }
        }
        for (e, n) in other.errors {
            *self.errors.entry(e).or_default() += n;
        }
        self.queries += other.queries;
        self.failed_queries += other.failed_queries;
        self.canceled_queries += other.canceled_queries;
        self.rows += other.rows;
    }

    pub fn report(&self, elapsed: Duration) -> Report {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let kinds: BTreeMap<Kind, KindReport> = self
            .histograms
            .iter()
            .map(|(kind, h)| {
                let q = |p: f64| h.value_at_quantile(p);
                (
                    *kind,
                    KindReport {
                        requests: h.len(),
                        per_second: h.len() as f64 / seconds,
                        p50_us: q(0.5),
                        p90_us: q(0.9),
                        p99_us: q(0.99),
                        p999_us: q(0.999),
                        max_us: h.max(),
                        mean_us: h.mean(),
                    },
                )
            })
            .collect();
        let mut all = new_histogram();
        for h in self.histograms.values() {
            let _ = all.add(h);
        }
        let requests = all.len();
        Report {
            seconds,
            queries: self.queries,
            failed_queries: self.failed_queries,
            canceled_queries: self.canceled_queries,
            rows: self.rows,
            requests,
            requests_per_second: requests as f64 / seconds,
            queries_per_second: self.queries as f64 / seconds,
            all: KindReport {
                requests,
                per_second: requests as f64 / seconds,
                p50_us: all.value_at_quantile(0.5),
                p90_us: all.value_at_quantile(0.9),
                p99_us: all.value_at_quantile(0.99),
                p999_us: all.value_at_quantile(0.999),
                max_us: all.max(),
                mean_us: all.mean(),
            },
            kinds,
            errors: self.errors.clone(),
        }
    }
}

const MAX_MICROS: u64 = 60_000_000;

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("constant bounds are valid")
}

#[derive(Debug, Serialize)]
pub struct KindReport {
    pub requests: u64,
    pub per_second: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub seconds: f64,
    pub queries: u64,
    pub failed_queries: u64,
    pub canceled_queries: u64,
    pub rows: u64,
    pub requests: u64,
    pub requests_per_second: f64,
    pub queries_per_second: f64,
    pub all: KindReport,
    pub kinds: BTreeMap<Kind, KindReport>,
    pub errors: BTreeMap<String, u64>,
}

impl Report {
    pub fn print(&self) {
        println!(
            "{:.1} s: {} queries ({:.0}/s, {} failed, {} canceled), {} requests ({:.0}/s), {} rows",
            self.seconds,
            self.queries,
            self.queries_per_second,
            self.failed_queries,
            self.canceled_queries,
            self.requests,
            self.requests_per_second,
            self.rows
        );
        println!(
            "{:<10} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9}",
            "kind", "requests", "per s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs"
        );
        let rows = self
            .kinds
            .iter()
            .map(|(k, r)| (format!("{k:?}").to_lowercase(), r))
            .chain([("all".to_string(), &self.all)]);
        for (name, r) in rows {
            println!(
                "{:<10} {:>9} {:>9.0} {:>8} {:>8} {:>8} {:>8} {:>9}",
                name, r.requests, r.per_second, r.p50_us, r.p90_us, r.p99_us, r.p999_us, r.max_us
            );
        }
        for (error, n) in &self.errors {
            println!("error x{n}: {error}");
        }
    }
}
