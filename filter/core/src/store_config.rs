//! The `state_store` section of the plugin configuration: the etcd (v3 API)
//! every Envoy of a gateway syncs its routing state with (see `state_sync`).
//! Absent, the gateway keeps its state in this Envoy only, as before.

use crate::config::{error, is_token, ConfigError};
use crate::state_entry::DEFAULT_PREFIX;
use serde::Deserialize;
use std::fmt;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStateStore {
    cluster: String,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    sync_interval_ms: Option<u64>,
    #[serde(default)]
    entry_ttl_seconds: Option<u32>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    max_backlog: Option<usize>,
    #[serde(default)]
    lookup_timeout_ms: Option<u64>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The Envoy cluster (HTTP/2) that reaches etcd's client port.
    pub cluster: String,
    /// Every key the gateway reads or writes starts with it: several gateways
    /// share one etcd under different prefixes.
    pub prefix: String,
    /// How often entries are pushed and pulled.
    pub sync_interval_ms: u64,
    /// The lease TTL of the entries this Envoy writes: an entry lives between
    /// half of it and all of it after it was written (leases rotate at half).
    pub entry_ttl_seconds: u32,
    /// Timeout of each call to etcd.
    pub timeout_ms: u64,
    /// Entries waiting to be written (etcd down or slow); beyond it the
    /// oldest are dropped, counted and logged.
    pub max_backlog: usize,
    /// How long a request without a local answer waits for etcd's (see
    /// `remote_lookup`); then it gets the answer it would have had without.
    pub lookup_timeout_ms: u64,
    /// etcd authentication (`Auth/Authenticate`), if etcd has it enabled.
    pub user: Option<String>,
    pub password: String,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("cluster", &self.cluster)
            .field("prefix", &self.prefix)
            .field("sync_interval_ms", &self.sync_interval_ms)
            .field("entry_ttl_seconds", &self.entry_ttl_seconds)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_backlog", &self.max_backlog)
            .field("lookup_timeout_ms", &self.lookup_timeout_ms)
            .field("user", &self.user)
            .field("password", &format_args!("<{} bytes>", self.password.len()))
            .finish()
    }
}

pub const DEFAULT_SYNC_INTERVAL_MS: u64 = 250;
pub const DEFAULT_ENTRY_TTL_SECONDS: u32 = 600;
pub const DEFAULT_TIMEOUT_MS: u64 = 1000;
pub const DEFAULT_MAX_BACKLOG: usize = 50_000;
pub const DEFAULT_LOOKUP_TIMEOUT_MS: u64 = 500;

pub(crate) fn validate(raw: RawStateStore) -> Result<StoreConfig, ConfigError> {
    if !is_token(&raw.cluster) {
        return Err(error("state_store.cluster", format!("{:?} is not a valid Envoy cluster name", raw.cluster)));
    }
    let prefix = raw.prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_string());
    if prefix.is_empty() || prefix.len() > 200 || prefix.contains(char::is_control) || !prefix.ends_with('/') {
        return Err(error("state_store.prefix", format!("{prefix:?} must be 1-200 printable characters ending in /")));
    }
    let sync_interval_ms = raw.sync_interval_ms.unwrap_or(DEFAULT_SYNC_INTERVAL_MS);
    if !(50..=10_000).contains(&sync_interval_ms) {
        return Err(error("state_store.sync_interval_ms", format!("{sync_interval_ms} is out of range 50..=10000")));
    }
    let entry_ttl_seconds = raw.entry_ttl_seconds.unwrap_or(DEFAULT_ENTRY_TTL_SECONDS);
    // etcd refuses leases shorter than about 1.5 election timeouts (a few seconds).
    if !(10..=7 * 86_400).contains(&entry_ttl_seconds) {
        return Err(error("state_store.entry_ttl_seconds", format!("{entry_ttl_seconds} is out of range 10..=604800")));
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(50..=60_000).contains(&timeout_ms) {
        return Err(error("state_store.timeout_ms", format!("{timeout_ms} is out of range 50..=60000")));
    }
    let max_backlog = raw.max_backlog.unwrap_or(DEFAULT_MAX_BACKLOG);
    if !(128..=1_000_000).contains(&max_backlog) {
        return Err(error("state_store.max_backlog", format!("{max_backlog} is out of range 128..=1000000")));
    }
    let lookup_timeout_ms = raw.lookup_timeout_ms.unwrap_or(DEFAULT_LOOKUP_TIMEOUT_MS);
    if !(10..=10_000).contains(&lookup_timeout_ms) {
        return Err(error("state_store.lookup_timeout_ms", format!("{lookup_timeout_ms} is out of range 10..=10000")));
    }
    let user = match (raw.user, &raw.password) {
        (Some(user), _) if user.is_empty() || user.contains(char::is_control) => {
            return Err(error("state_store.user", "must be a non-empty user name"))
        }
        (None, Some(_)) => return Err(error("state_store.password", "needs state_store.user")),
        (user, _) => user,
    };
    Ok(StoreConfig {
        cluster: raw.cluster,
        prefix,
        sync_interval_ms,
        entry_ttl_seconds,
        timeout_ms,
        max_backlog,
        lookup_timeout_ms,
        user,
        password: raw.password.unwrap_or_default(),
    })
}
