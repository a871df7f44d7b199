//! The plugin configuration: one JSON document (Envoy's plugin `configuration`,
//! Istio's `pluginConfig`), strictly validated. Every error names the field.

use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;

/// Records per bucket of the query map (see `query_map`).
pub const SLOTS_PER_BUCKET: usize = 16;
pub const DEFAULT_MAX_TRACKED_QUERIES: usize = 16_384;
const MAX_MAX_TRACKED_QUERIES: usize = 1 << 20;
/// Cluster table ids are stored in one byte in shared data, whose top two
/// bits the query map uses as flags (see `query_map::LEARN_TRANSACTION`).
pub const MAX_CLUSTERS: usize = 63;
const MAX_WEIGHT: u32 = 1000;
pub const DEFAULT_ROUTING_HEADER: &str = "x-trino-gateway-cluster";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    clusters: Vec<RawCluster>,
    #[serde(default)]
    routing_header: Option<String>,
    #[serde(default)]
    coordinators_process_forwarded: bool,
    #[serde(default)]
    max_tracked_queries: Option<usize>,
    #[serde(default)]
    health: Option<RawHealth>,
    #[serde(default)]
    failover: Option<RawFailover>,
    #[serde(default)]
    public_uri: Option<String>,
    #[serde(default)]
    transactions: Option<RawTransactions>,
    #[serde(default)]
    self_routing_prefix: Option<String>,
    #[serde(default)]
    max_tracked_segments: Option<usize>,
    #[serde(default)]
    state_store: Option<crate::store_config::RawStateStore>,
    #[serde(default)]
    routing: Option<crate::routing_config::RawRouting>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransactions {
    #[serde(default)]
    max_tracked: Option<usize>,
    #[serde(default)]
    idle_timeout_seconds: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: String,
    #[serde(default)]
    weight: Option<u32>,
    #[serde(default)]
    draining: bool,
    #[serde(default)]
    max_running: Option<u32>,
    #[serde(default)]
    max_queued: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    #[serde(default)]
    interval_ms: Option<u64>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    ui_user: Option<String>,
    #[serde(default)]
    ui_password: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFailover {
    #[serde(default)]
    resend_timeout_ms: Option<u64>,
    #[serde(default)]
    max_statement_bytes: Option<usize>,
    #[serde(default)]
    max_kept_bytes_per_worker: Option<usize>,
}

/// One coordinator: the Envoy cluster that reaches it and its share of new queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub name: String,
    pub weight: u32,
    /// Drained: no new queries; queries already there run to the end.
    pub draining: bool,
    /// Saturated (skipped for new statements) at this many running queries (polled).
    pub max_running: Option<u32>,
    /// Saturated at this many queued queries: polled, plus the statements
    /// this Envoy sent it since that poll.
    pub max_queued: Option<u32>,
}

impl Cluster {
    /// A cluster with only a name and a weight (tests, examples).
    pub fn named(name: &str, weight: u32) -> Cluster {
        Cluster { name: name.to_string(), weight, draining: false, max_running: None, max_queued: None }
    }

    pub fn has_limits(&self) -> bool {
        self.max_running.is_some() || self.max_queued.is_some()
    }
}

/// The health-check service's polling of every coordinator's `/v1/info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    pub interval_ms: u64,
    /// Shorter than the interval, so polls never overlap.
    pub timeout_ms: u64,
    /// Web UI login for `/ui/api/stats` (running/queued queries); None: not polled.
    pub ui_login: Option<UiLogin>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct UiLogin {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for UiLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UiLogin {{ user: {:?}, password: <{} bytes> }}", self.user, self.password.len())
    }
}

pub const DEFAULT_HEALTH: HealthConfig = HealthConfig { interval_ms: 1000, timeout_ms: 800, ui_login: None };

/// Re-sending a new statement whose coordinator failed before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailoverConfig {
    /// Time allowed to each re-send (one per other cluster at most).
    pub resend_timeout_ms: u64,
    /// Statements with a longer body are not kept, so cannot be re-sent.
    pub max_statement_bytes: usize,
    /// Memory one worker may hold in kept statements at once (wasm memory
    /// never shrinks, so this caps what bursts of big statements cost Envoy
    /// for good); a statement that does not fit is not re-sendable.
    pub max_kept_bytes_per_worker: usize,
}

/// Routing statements of a transaction to the coordinator that started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionsConfig {
    /// Bound of the transaction → cluster map in shared data.
    pub max_tracked: usize,
    /// A transaction no statement used for this long is forgotten. Longer
    /// than Trino's `transaction.idle-timeout` (5 minutes) plus the longest
    /// statement inside a transaction: the gateway counts from a statement's
    /// submission, Trino from its end, and a transaction Trino has expired
    /// still gets Trino's own answer from its coordinator.
    pub idle_timeout_seconds: u32,
}

pub const DEFAULT_TRANSACTIONS: TransactionsConfig =
    TransactionsConfig { max_tracked: 4096, idle_timeout_seconds: 3600 };
const MAX_MAX_TRACKED_TRANSACTIONS: usize = 1 << 18;

pub const DEFAULT_FAILOVER: FailoverConfig =
    FailoverConfig { resend_timeout_ms: 5000, max_statement_bytes: 1 << 20, max_kept_bytes_per_worker: 4 << 20 };
const MAX_KEPT_BYTES_PER_WORKER: usize = 1 << 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub clusters: Vec<Cluster>,
    /// Request header the route's `cluster_header` reads; always set by the filter.
    pub routing_header: String,
    /// Coordinators run with `http-server.process-forwarded=true`.
    pub coordinators_process_forwarded: bool,
    /// Bound of the query → cluster map in shared data.
    pub max_tracked_queries: usize,
    pub health: HealthConfig,
    pub failover: FailoverConfig,
    /// `scheme://host[:port][/prefix]` clients use to reach the gateway, for the
    /// `infoUri` of answers the gateway makes itself. None: read from each
    /// request that may need it (two more header reads per follow-up request).
    pub public_uri: Option<String>,
    pub transactions: TransactionsConfig,
    /// Self-routing URIs: each new statement gets `X-Forwarded-Prefix:
    /// {prefix}/{cluster}`, so every URI its coordinator builds (nextUri,
    /// infoUri, segment and ack URIs) names the cluster, and Envoy routes
    /// those paths natively (see envoy/envoy-self-routing.yaml). Needs
    /// `coordinators_process_forwarded`.
    pub self_routing_prefix: Option<String>,
    /// Bound of the spooled segment → cluster map in shared data.
    pub max_tracked_segments: usize,
    /// The etcd every Envoy of the gateway syncs its routing state with; None:
    /// this Envoy's shared data only.
    pub state_store: Option<crate::store_config::StoreConfig>,
    /// Routing groups and the rules that pick them (one implicit group of
    /// every cluster when not configured).
    pub routing: crate::routing_config::Routing,
}

pub const DEFAULT_MAX_TRACKED_SEGMENTS: usize = 8192;
const MAX_MAX_TRACKED_SEGMENTS: usize = 1 << 20;

/// A configuration error: the JSON path of the offending field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

pub(crate) fn error(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError { field: field.into(), message: message.into() }
}

/// Envoy cluster names and header names: keep to a conservative character set
/// so that a value can never smuggle anything into a header.
pub(crate) fn is_token(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// A configured name (`field`) that is a token and not in `seen` yet, added
/// to it. `valid`: what it must be ("Envoy cluster name"); `kind`: what a
/// duplicate is ("cluster").
pub(crate) fn unique_name(
    field: &str,
    name: &str,
    seen: &mut HashSet<String>,
    valid: &str,
    kind: &str,
) -> Result<(), ConfigError> {
    if !is_token(name) {
        return Err(error(field, format!("{name:?} is not a valid {valid} (letters, digits, - _ . :)")));
    }
    if !seen.insert(name.to_string()) {
        return Err(error(field, format!("duplicate {kind} {name:?}")));
    }
    Ok(())
}

/// `http(s)://authority[/prefix]`, printable ASCII without spaces or quotes;
/// returned without a trailing '/', ready to have `/ui/query.html?...` appended.
fn validate_public_uri(uri: &str) -> Result<String, String> {
    let rest = uri.strip_prefix("http://").or_else(|| uri.strip_prefix("https://"));
    let Some(rest) = rest else {
        return Err(format!("{uri:?} must start with http:// or https://"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("{uri:?} has no host"));
    }
    if !uri.bytes().all(|b| b.is_ascii_graphic() && !b"\"'<>\\`{}|^?#".contains(&b)) {
        return Err(format!("{uri:?} may hold only printable ASCII without spaces, quotes, '?' or '#'"));
    }
    Ok(uri.trim_end_matches('/').to_string())
}

/// The bound of a bucketed map in shared data: whole buckets, within `max`.
fn bucket_bound(field: &str, value: usize, max: usize) -> Result<usize, ConfigError> {
    if (SLOTS_PER_BUCKET..=max).contains(&value) && value.is_multiple_of(SLOTS_PER_BUCKET) {
        return Ok(value);
    }
    Err(error(field, format!("{value} must be a multiple of {SLOTS_PER_BUCKET} between {SLOTS_PER_BUCKET} and {max}")))
}

impl Config {
    pub fn parse(json: &[u8]) -> Result<Config, ConfigError> {
        if json.iter().all(u8::is_ascii_whitespace) {
            return Err(error(
                "(configuration)",
                "is empty: the plugin needs a JSON object with at least \"clusters\"",
            ));
        }
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        let raw: RawConfig = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = e.path().to_string();
            let field = if matches!(path.as_str(), "." | "?" | "") { "(configuration)".to_string() } else { path };
            error(field, e.into_inner().to_string())
        })?;
        deserializer.end().map_err(|e| error("(configuration)", e.to_string()))?;
        Config::validate(raw)
    }

    fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
        if raw.clusters.is_empty() {
            return Err(error("clusters", "must list at least one coordinator cluster"));
        }
        if raw.clusters.len() > MAX_CLUSTERS {
            return Err(error("clusters", format!("at most {MAX_CLUSTERS} clusters are supported")));
        }
        let mut seen = HashSet::new();
        let mut clusters = Vec::with_capacity(raw.clusters.len());
        for (i, cluster) in raw.clusters.into_iter().enumerate() {
            unique_name(&format!("clusters[{i}].name"), &cluster.name, &mut seen, "Envoy cluster name", "cluster")?;
            let weight = cluster.weight.unwrap_or(1);
            if !(1..=MAX_WEIGHT).contains(&weight) {
                return Err(error(
                    format!("clusters[{i}].weight"),
                    format!("{weight} is out of range 1..={MAX_WEIGHT}"),
                ));
            }
            for (field, limit) in [("max_running", cluster.max_running), ("max_queued", cluster.max_queued)] {
                if limit == Some(0) {
                    return Err(error(format!("clusters[{i}].{field}"), "must be at least 1"));
                }
            }
            clusters.push(Cluster {
                name: cluster.name,
                weight,
                draining: cluster.draining,
                max_running: cluster.max_running,
                max_queued: cluster.max_queued,
            });
        }
        let routing_header =
            raw.routing_header.unwrap_or_else(|| DEFAULT_ROUTING_HEADER.to_string()).to_ascii_lowercase();
        if !is_token(&routing_header) || routing_header.contains(':') || routing_header.contains('.') {
            return Err(error("routing_header", format!("{routing_header:?} is not a valid header name")));
        }
        let trino_header = routing_header.starts_with("x-trino-") && !routing_header.starts_with("x-trino-gateway-");
        if trino_header || routing_header.starts_with("x-forwarded-") || routing_header == "host" {
            return Err(error(
                "routing_header",
                format!("{routing_header:?} is a header clients or Trino use; pick a dedicated one"),
            ));
        }
        let max_tracked_queries = bucket_bound(
            "max_tracked_queries",
            raw.max_tracked_queries.unwrap_or(DEFAULT_MAX_TRACKED_QUERIES),
            MAX_MAX_TRACKED_QUERIES,
        )?;
        let health = match raw.health {
            None => DEFAULT_HEALTH,
            Some(h) => {
                let interval_ms = h.interval_ms.unwrap_or(DEFAULT_HEALTH.interval_ms);
                if !(100..=60_000).contains(&interval_ms) {
                    return Err(error("health.interval_ms", format!("{interval_ms} is out of range 100..=60000")));
                }
                let timeout_ms = h.timeout_ms.unwrap_or(interval_ms * 4 / 5);
                if timeout_ms == 0 || timeout_ms >= interval_ms {
                    return Err(error(
                        "health.timeout_ms",
                        format!("{timeout_ms} must be above 0 and below interval_ms ({interval_ms})"),
                    ));
                }
                let ui_login = match (h.ui_user, h.ui_password) {
                    (Some(user), password) if !user.is_empty() && !user.contains(char::is_control) => {
                        Some(UiLogin { user, password: password.unwrap_or_default() })
                    }
                    (Some(_), _) => return Err(error("health.ui_user", "must be a non-empty user name")),
                    (None, Some(_)) => return Err(error("health.ui_password", "needs health.ui_user")),
                    (None, None) => None,
                };
                HealthConfig { interval_ms, timeout_ms, ui_login }
            }
        };
        let raw_failover = raw.failover.unwrap_or(RawFailover {
            resend_timeout_ms: None,
            max_statement_bytes: None,
            max_kept_bytes_per_worker: None,
        });
        let resend_timeout_ms = raw_failover.resend_timeout_ms.unwrap_or(DEFAULT_FAILOVER.resend_timeout_ms);
        if !(100..=60_000).contains(&resend_timeout_ms) {
            return Err(error(
                "failover.resend_timeout_ms",
                format!("{resend_timeout_ms} is out of range 100..=60000"),
            ));
        }
        let max_statement_bytes = raw_failover.max_statement_bytes.unwrap_or(DEFAULT_FAILOVER.max_statement_bytes);
        if !(1024..=16 << 20).contains(&max_statement_bytes) {
            return Err(error(
                "failover.max_statement_bytes",
                format!("{max_statement_bytes} is out of range 1024..=16777216"),
            ));
        }
        let max_kept_bytes_per_worker =
            raw_failover.max_kept_bytes_per_worker.unwrap_or(DEFAULT_FAILOVER.max_kept_bytes_per_worker);
        if max_kept_bytes_per_worker > MAX_KEPT_BYTES_PER_WORKER {
            return Err(error(
                "failover.max_kept_bytes_per_worker",
                format!("{max_kept_bytes_per_worker} is out of range 0..={MAX_KEPT_BYTES_PER_WORKER}"),
            ));
        }
        let public_uri = match raw.public_uri {
            None => None,
            Some(uri) => Some(validate_public_uri(&uri).map_err(|message| error("public_uri", message))?),
        };
        let raw_transactions =
            raw.transactions.unwrap_or(RawTransactions { max_tracked: None, idle_timeout_seconds: None });
        let max_tracked = bucket_bound(
            "transactions.max_tracked",
            raw_transactions.max_tracked.unwrap_or(DEFAULT_TRANSACTIONS.max_tracked),
            MAX_MAX_TRACKED_TRANSACTIONS,
        )?;
        let idle_timeout_seconds =
            raw_transactions.idle_timeout_seconds.unwrap_or(DEFAULT_TRANSACTIONS.idle_timeout_seconds);
        if !(60..=7 * 86_400).contains(&idle_timeout_seconds) {
            return Err(error(
                "transactions.idle_timeout_seconds",
                format!("{idle_timeout_seconds} is out of range 60..=604800"),
            ));
        }
        let self_routing_prefix = match raw.self_routing_prefix {
            None => None,
            Some(prefix) => {
                let segments_ok = prefix.strip_prefix('/').is_some_and(|rest| {
                    rest.split('/')
                        .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)))
                });
                if !segments_ok {
                    return Err(error(
                        "self_routing_prefix",
                        format!("{prefix:?} must be a path like \"/_trino\" (segments of letters, digits, - _ . ~; no trailing /)"),
                    ));
                }
                if let Some(i) = clusters.iter().position(|c| c.name.bytes().all(|b| b == b'.')) {
                    // `/_trino/..` would be resolved away by Envoy's path normalization.
                    return Err(error(
                        format!("clusters[{i}].name"),
                        "a name of only dots cannot be a self-routing path segment",
                    ));
                }
                if !raw.coordinators_process_forwarded {
                    return Err(error(
                        "self_routing_prefix",
                        "needs \"coordinators_process_forwarded\": true (Trino builds URIs with X-Forwarded-Prefix only then)",
                    ));
                }
                Some(prefix)
            }
        };
        let max_tracked_segments = bucket_bound(
            "max_tracked_segments",
            raw.max_tracked_segments.unwrap_or(DEFAULT_MAX_TRACKED_SEGMENTS),
            MAX_MAX_TRACKED_SEGMENTS,
        )?;
        let polls_load = health.ui_login.is_some();
        if let Some(i) = clusters.iter().position(|c| c.has_limits() && !polls_load) {
            let field =
                if clusters.get(i).is_some_and(|c| c.max_running.is_some()) { "max_running" } else { "max_queued" };
            return Err(error(
                format!("clusters[{i}].{field}"),
                "needs health.ui_user (running and queued queries are read from each coordinator's /ui/api/stats)",
            ));
        }
        let routing = match raw.routing {
            None => crate::routing_config::Routing::implicit(&clusters),
            Some(raw_routing) => crate::routing_config::Routing::validate(raw_routing, &clusters, polls_load)?,
        };
        Ok(Config {
            routing,
            clusters,
            routing_header,
            coordinators_process_forwarded: raw.coordinators_process_forwarded,
            max_tracked_queries,
            health,
            failover: FailoverConfig { resend_timeout_ms, max_statement_bytes, max_kept_bytes_per_worker },
            public_uri,
            transactions: TransactionsConfig { max_tracked, idle_timeout_seconds },
            self_routing_prefix,
            max_tracked_segments,
            state_store: raw.state_store.map(crate::store_config::validate).transpose()?,
        })
    }

    pub fn bucket_count(&self) -> usize {
        self.max_tracked_queries / SLOTS_PER_BUCKET
    }

    pub fn segment_bucket_count(&self) -> usize {
        self.max_tracked_segments / SLOTS_PER_BUCKET
    }

    /// The statements placed on each cluster are counted (`placed`): some
    /// group places by load, or some cluster has limits.
    pub fn tracks_placements(&self) -> bool {
        self.health.ui_login.is_some()
            && (self.clusters.iter().any(Cluster::has_limits)
                || self.routing.groups.iter().any(|g| g.placement == crate::routing_config::Placement::LeastLoaded))
    }

    pub fn transaction_bucket_count(&self) -> usize {
        self.transactions.max_tracked / SLOTS_PER_BUCKET
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_configuration() {
        let config = Config::parse(
            br#"{"clusters": [{"name": "coordinator-a", "weight": 3}, {"name": "coordinator-b", "draining": true}],
                 "routing_header": "X-Gateway-Cluster", "coordinators_process_forwarded": true, "max_tracked_queries": 32,
                 "health": {"interval_ms": 500, "ui_user": "gateway"}, "failover": {"resend_timeout_ms": 2000},
                 "public_uri": "https://trino.example.com:8443/gw/",
                 "transactions": {"max_tracked": 64, "idle_timeout_seconds": 600}, "self_routing_prefix": "/_trino",
                 "max_tracked_segments": 256,
                 "state_store": {"cluster": "etcd", "prefix": "/gw1/", "sync_interval_ms": 100, "entry_ttl_seconds": 60,
                                 "timeout_ms": 500, "max_backlog": 1000, "user": "gw", "password": "s3cret"}}"#,
        );
        assert_eq!(
            config,
            Ok(Config {
                clusters: vec![
                    Cluster::named("coordinator-a", 3),
                    Cluster { draining: true, ..Cluster::named("coordinator-b", 1) }
                ],
                routing_header: "x-gateway-cluster".into(),
                coordinators_process_forwarded: true,
                max_tracked_queries: 32,
                health: HealthConfig {
                    interval_ms: 500,
                    timeout_ms: 400,
                    ui_login: Some(UiLogin { user: "gateway".into(), password: String::new() })
                },
                failover: FailoverConfig {
                    resend_timeout_ms: 2000,
                    max_statement_bytes: 1 << 20,
                    max_kept_bytes_per_worker: 4 << 20
                },
                public_uri: Some("https://trino.example.com:8443/gw".into()),
                transactions: TransactionsConfig { max_tracked: 64, idle_timeout_seconds: 600 },
                self_routing_prefix: Some("/_trino".into()),
                max_tracked_segments: 256,
                routing: crate::routing_config::Routing::implicit(&[
                    Cluster::named("coordinator-a", 3),
                    Cluster { draining: true, ..Cluster::named("coordinator-b", 1) }
                ]),
                state_store: Some(crate::store_config::StoreConfig {
                    cluster: "etcd".into(),
                    prefix: "/gw1/".into(),
                    sync_interval_ms: 100,
                    entry_ttl_seconds: 60,
                    timeout_ms: 500,
                    max_backlog: 1000,
                    lookup_timeout_ms: 500,
                    user: Some("gw".into()),
                    password: "s3cret".into(),
                }),
            })
        );
    }

    #[test]
    fn defaults() {
        let config = Config::parse(br#"{"clusters": [{"name": "a"}]}"#).map_err(|e| e.to_string());
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.routing_header, DEFAULT_ROUTING_HEADER);
        assert!(!config.coordinators_process_forwarded);
        assert_eq!(config.max_tracked_queries, DEFAULT_MAX_TRACKED_QUERIES);
        assert_eq!(config.bucket_count(), DEFAULT_MAX_TRACKED_QUERIES / SLOTS_PER_BUCKET);
    }

    /// (configuration, field named in the error, part of the message)
    #[test]
    fn errors_name_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            ("", "(configuration)", "is empty"),
            ("[]", "(configuration)", "expected struct"),
            ("{", "(configuration)", "EOF"),
            (r#"{"clusters": [{"name": "a"}]} x"#, "(configuration)", "trailing"),
            (r#"{}"#, "(configuration)", "missing field `clusters`"),
            (r#"{"clusters": []}"#, "clusters", "at least one"),
            (r#"{"clusters": [{"name": "a"}], "clustrs": 1}"#, "clustrs", "unknown field `clustrs`"),
            (r#"{"clusters": [{"name": "a", "wieght": 2}]}"#, "clusters[0].wieght", "unknown field"),
            (r#"{"clusters": [{"name": "a"}, {"name": "a"}]}"#, "clusters[1].name", "duplicate"),
            (r#"{"clusters": [{"name": ""}]}"#, "clusters[0].name", "not a valid"),
            (r#"{"clusters": [{"name": "a\nb"}]}"#, "clusters[0].name", "not a valid"),
            (r#"{"clusters": [{"name": "a", "weight": 0}]}"#, "clusters[0].weight", "out of range"),
            (r#"{"clusters": [{"name": "a", "weight": "2"}]}"#, "clusters[0].weight", "invalid type"),
            (
                r#"{"clusters": [{"name": "a"}], "routing_header": "x-trino-user"}"#,
                "routing_header",
                "clients or Trino",
            ),
            (r#"{"clusters": [{"name": "a"}], "routing_header": "bad header"}"#, "routing_header", "not a valid"),
            (r#"{"clusters": [{"name": "a"}], "max_tracked_queries": 10}"#, "max_tracked_queries", "multiple of 16"),
            (r#"{"clusters": [{"name": "a"}], "state_store": {}}"#, "state_store", "missing field `cluster`"),
            (
                r#"{"clusters": [{"name": "a"}], "state_store": {"cluster": "e t"}}"#,
                "state_store.cluster",
                "not a valid",
            ),
            (
                r#"{"clusters": [{"name": "a"}], "state_store": {"cluster": "e", "prefix": "/x"}}"#,
                "state_store.prefix",
                "ending in /",
            ),
            (
                r#"{"clusters": [{"name": "a"}], "state_store": {"cluster": "e", "sync_interval_ms": 10}}"#,
                "state_store.sync_interval_ms",
                "out of range",
            ),
            (
                r#"{"clusters": [{"name": "a"}], "state_store": {"cluster": "e", "entry_ttl_seconds": 2}}"#,
                "state_store.entry_ttl_seconds",
                "out of range",
            ),
            (
                r#"{"clusters": [{"name": "a"}], "state_store": {"cluster": "e", "max_backlog": 1}}"#,
                "state_store.max_backlog",
                "out of range",
            ),
            (
                r#"{"clusters": [{"name": "a"}], "state_store": {"cluster": "e", "password": "p"}}"#,
                "state_store.password",
                "needs state_store.user",
            ),
            (
                r#"{"clusters": [{"name": "a"}], "state_store": {"cluster": "e", "ttl": 5}}"#,
                "state_store.ttl",
                "unknown field",
            ),
            (
                r#"{"clusters": [{"name": "a"}], "transactions": {"max_tracked": 8}}"#,
                "transactions.max_tracked",
                "multiple of 16",
            ),
            (
                r#"{"clusters": [{"name": "a"}], "transactions": {"idle_timeout_seconds": 5}}"#,
                "transactions.idle_timeout_seconds",
                "out of range",
            ),
            (r#"{"clusters": [{"name": "a"}], "transactions": {"idle": 5}}"#, "transactions.idle", "unknown field"),
            (
                r#"{"clusters": [{"name": "a"}], "coordinators_process_forwarded": true, "self_routing_prefix": "_trino/"}"#,
                "self_routing_prefix",
                "must be a path",
            ),
            (r#"{"clusters": [{"name": "a"}], "self_routing_prefix": "/_trino"}"#, "self_routing_prefix", "needs"),
            (r#"{"clusters": [{"name": "a"}], "max_tracked_segments": 17}"#, "max_tracked_segments", "multiple of 16"),
            (
                r#"{"clusters": [{"name": "a"}], "coordinators_process_forwarded": "yes"}"#,
                "coordinators_process_forwarded",
                "invalid type",
            ),
            (r#"{"clusters": [{"name": "a"}], "health": {"interval_ms": 50}}"#, "health.interval_ms", "out of range"),
            (
                r#"{"clusters": [{"name": "a"}], "health": {"interval_ms": 1000, "timeout_ms": 1000}}"#,
                "health.timeout_ms",
                "below interval_ms",
            ),
            (r#"{"clusters": [{"name": "a"}], "health": {"path": "/"}}"#, "health.path", "unknown field"),
            (r#"{"clusters": [{"name": "a"}], "health": {"ui_user": ""}}"#, "health.ui_user", "non-empty"),
            (r#"{"clusters": [{"name": "a"}], "health": {"ui_password": "x"}}"#, "health.ui_password", "needs"),
            (r#"{"clusters": [{"name": "a", "draining": 1}]}"#, "clusters[0].draining", "invalid type"),
            (
                r#"{"clusters": [{"name": "a"}], "failover": {"resend_timeout_ms": 0}}"#,
                "failover.resend_timeout_ms",
                "out of range",
            ),
            (
                r#"{"clusters": [{"name": "a"}], "failover": {"max_statement_bytes": 10}}"#,
                "failover.max_statement_bytes",
                "out of range",
            ),
            (r#"{"clusters": [{"name": "a"}], "failover": {"retries": 3}}"#, "failover.retries", "unknown field"),
            (
                r#"{"clusters": [{"name": "a"}], "failover": {"max_kept_bytes_per_worker": 2000000000}}"#,
                "failover.max_kept_bytes_per_worker",
                "out of range",
            ),
            (r#"{"clusters": [{"name": "a"}], "public_uri": "ftp://x"}"#, "public_uri", "http:// or https://"),
            (r#"{"clusters": [{"name": "a"}], "public_uri": "http://"}"#, "public_uri", "no host"),
            (r#"{"clusters": [{"name": "a"}], "public_uri": "http://a b"}"#, "public_uri", "printable"),
            (r#"{"clusters": [{"name": "a"}], "public_uri": "http://a/\"x"}"#, "public_uri", "printable"),
            (r#"{"clusters": [{"name": "a"}], "public_uri": 5}"#, "public_uri", "invalid type"),
        ];
        for (json, field, message) in cases {
            match Config::parse(json.as_bytes()) {
                Ok(config) => panic!("{json} was accepted: {config:?}"),
                Err(e) => {
                    assert_eq!(e.field, *field, "{json}: {e}");
                    assert!(e.message.contains(message), "{json}: {e}");
                }
            }
        }
    }
}
