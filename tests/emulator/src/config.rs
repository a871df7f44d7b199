//! Command-line configuration, mirroring the Trino settings it emulates.

use crate::spooling::RetrievalMode;
use clap::Parser;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Parser, Clone, Debug)]
#[command(
    name = "trino-emulator",
    version,
    about = "A Trino coordinator emulator that speaks the real client protocol"
)]
pub struct Config {
    /// Address to listen on (Trino's http-server.http.port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// node.id of this coordinator.
    #[arg(long, default_value = "trino-emulator")]
    pub node_id: String,
    /// The 5-character coordinator id that ends every query id. Trino draws a
    /// new random one at each start; so does the emulator unless this is set.
    #[arg(long, value_parser = parse_coordinator_id)]
    pub coordinator_id: Option<String>,
    /// node.environment.
    #[arg(long, default_value = "test")]
    pub environment: String,
    /// Version reported in /v1/info.
    #[arg(long, default_value = "480")]
    pub node_version: String,
    /// http-server.process-forwarded=true: honour X-Forwarded-* instead of
    /// rejecting such requests with 406 (Trino's default).
    #[arg(long)]
    pub process_forwarded: bool,
    /// Report `starting: true` and refuse queries for this long after start.
    #[arg(long, default_value_t = 0)]
    pub startup_ms: u64,
    /// Rows per result page (Trino pages by bytes; tests want many pages).
    #[arg(long, default_value_t = 1000)]
    pub page_rows: usize,
    /// query.client.timeout: a query whose results nobody fetched for this long
    /// is abandoned (Airlift duration, e.g. 5m, 30s, 500ms).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub query_client_timeout: Duration,
    /// query.min-expire-age: how long finished queries stay visible.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub query_min_expire_age: Duration,
    /// query.max-history: finished queries kept beyond min-expire-age.
    #[arg(long, default_value_t = 100)]
    pub query_max_history: usize,
    /// Do not log a line per request (benchmarks: the log would be gigabytes).
    #[arg(long)]
    pub no_request_log: bool,
    /// Catalogs this coordinator has besides `system` and `tpch`, which are always there.
    #[arg(long, value_delimiter = ',')]
    pub catalogs: Vec<String>,
    /// A catalog kept in a directory that several emulators can share, as
    /// clusters share a metastore and an object store: `NAME=DIR` (repeatable,
    /// e.g. `--catalog-dir lake=.run/lake`). Created when missing.
    #[arg(long = "catalog-dir", value_parser = parse_catalog_dir)]
    pub catalog_dirs: Vec<(String, std::path::PathBuf)>,
    /// query-results.compression-enabled: when false, the statement resources
    /// answer `Content-Encoding: identity` and are never gzipped.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub query_results_compression_enabled: bool,
    /// protocol.v1.alternate-header-name (e.g. Presto): also accept
    /// `X-Presto-*` headers and answer with that prefix. Unset: Trino ignores them.
    #[arg(long)]
    pub alternate_header_name: Option<String>,
    /// The `global` resource group's hard concurrency limit (query.max-concurrent-queries).
    #[arg(long, default_value_t = 1000, value_parser = at_least_one)]
    pub max_running: usize,
    /// The `global` resource group's queue size (query.max-queued-queries);
    /// beyond it queries fail QUERY_QUEUE_FULL.
    #[arg(long, default_value_t = 5000, value_parser = at_least_one)]
    pub max_queued: usize,
    /// protocol.spooling.enabled: answer clients that send
    /// X-Trino-Query-Data-Encoding with segments instead of row arrays.
    #[arg(long)]
    pub spooling: bool,
    /// protocol.spooling.retrieval-mode.
    #[arg(long, value_enum, default_value = "STORAGE", ignore_case = true)]
    pub spooling_retrieval_mode: RetrievalMode,
    /// Where the segment storage (the object store pre-signed URLs point at) listens.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub spooling_storage_listen: SocketAddr,
    /// protocol.spooling.inlining.max-rows: rows sent inline before segments are spooled.
    #[arg(long, default_value_t = 50_000)]
    pub spooling_inlining_max_rows: usize,
    /// Fault injection (no Trino setting): every Nth GET of an executing URI
    /// is answered 503, as a proxy or an overloaded server in front might.
    #[arg(long, default_value_t = 0)]
    pub fail_every: u64,
    /// protocol.spooling.shared-secret-key (base64 of 32 bytes): encrypts
    /// segment identifiers. Random at each start when not set.
    #[arg(long, value_parser = parse_secret_key)]
    pub spooling_shared_secret_key: Option<SecretKey>,
}

/// `NAME=DIR` for `--catalog-dir`: a lower-case catalog name Trino would accept.
fn parse_catalog_dir(value: &str) -> Result<(String, std::path::PathBuf), String> {
    let (name, dir) = value.split_once('=').ok_or("expected NAME=DIR")?;
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !matches!(name, "system" | "tpch" | "main" | "temp");
    if !valid || dir.is_empty() {
        return Err(format!("invalid catalog '{name}' (lower-case letters, digits, _; not system, tpch, main, temp)"));
    }
    Ok((name.to_string(), dir.into()))
}

/// Trino's `@Min(1)` on `query.max-concurrent-queries` and `query.max-queued-queries`.
fn at_least_one(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{value}' must be a whole number of at least 1")),
    }
}

/// A 256-bit AES key.
#[derive(Clone, Copy, Debug)]
pub struct SecretKey(pub [u8; 32]);

fn parse_secret_key(value: &str) -> Result<SecretKey, String> {
    let bytes = crate::base64::decode(value.trim()).ok_or("not base64")?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| "the key must be 256 bits (32 bytes)".to_string())?;
    Ok(SecretKey(key))
}

fn parse_coordinator_id(value: &str) -> Result<String, String> {
    if crate::ids::is_valid_coordinator_id(value) {
        Ok(value.to_string())
    } else {
        Err(format!("'{value}' is not 5 characters of abcdefghijkmnpqrstuvwxyz23456789"))
    }
}

/// Airlift `Duration` syntax: a number and a unit (ns, us, ms, s, m, h, d).
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split =
        value.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(|| format!("duration '{value}' has no unit"))?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.trim().parse().map_err(|_| format!("invalid duration '{value}'"))?;
    let seconds = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(format!("unknown unit '{unit}' in duration '{value}'")),
    };
    if !(number >= 0.0 && number.is_finite()) {
        return Err(format!("invalid duration '{value}'"));
    }
    Ok(Duration::from_secs_f64(number * seconds))
}

/// Airlift's succinct duration text, e.g. `1.52m`, as /v1/info shows uptime.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    let (value, unit) = if seconds >= 86_400.0 {
        (seconds / 86_400.0, "d")
    } else if seconds >= 3600.0 {
        (seconds / 3600.0, "h")
    } else if seconds >= 60.0 {
        (seconds / 60.0, "m")
    } else if seconds >= 1.0 {
        (seconds, "s")
    } else {
        (seconds * 1000.0, "ms")
    };
    format!("{value:.2}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(format_duration(Duration::from_secs(90)), "1.50m");
    }
}
