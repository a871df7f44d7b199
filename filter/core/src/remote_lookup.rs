//! What workers ask of the state store themselves, on the request path.
//!
//! **Write-through of a new transaction.** The answer that tells a client its
//! transaction id is held until etcd has the transaction (one Txn, bounded by
//! `lookup_timeout_ms`), so the client's next statement finds it through any
//! Envoy, however soon it comes. One etcd round trip per transaction; queries
//! need none (their ids name their coordinator).
//!
//! **The miss path**: a query- or transaction-bound request
//! this Envoy has no local answer for asks etcd for the one key that would
//! route it, while the request waits (bounded by `lookup_timeout_ms`). So
//! cross-Envoy stickiness never depends on the sync having pulled the entry
//! yet: a transaction started through another Envoy a moment ago, or a query
//! whose coordinator this Envoy has not learned, still routes.
//!
//! Order for a query: this Envoy's map, its coordinator-id map (local and
//! exact: a query id ends with its coordinator's id), then etcd, then Trino's
//! not-found answer. A transaction id carries no coordinator, so its order is
//! the local map, etcd, then UNKNOWN_TRANSACTION.

use crate::classify::RequestKind;
use crate::etcd;
use crate::host::{Host, HostError};
use crate::query_id::QueryId;
use crate::state_entry::Entry;
use crate::store_config::StoreConfig;
use crate::transaction::TransactionId;
use std::time::Duration;

/// etcd's auth token, written by the state sync once it has authenticated,
/// read by workers for their lookups (shared data never leaves the process).
pub const TOKEN_KEY: &str = "trino_gateway/v2/store_token";
/// The state sync's current lease (i64, little-endian), for write-throughs.
pub const LEASE_KEY: &str = "trino_gateway/v2/store_lease";

/// A worker's call to etcd's KV service (`Range` for a lookup, `Txn` for a
/// write-through), with the sync's auth token when there is one, bounded by
/// `lookup_timeout_ms`; the answer comes to the calling context.
pub fn call(host: &dyn Host, store: &StoreConfig, method: &str, message: &[u8]) -> Result<u32, HostError> {
    let token = match host.get(TOKEN_KEY) {
        Ok((Some(token), _)) if !token.is_empty() => Some(token),
        _ => None,
    };
    let metadata: Vec<(&str, &[u8])> = token.as_deref().map(|t| vec![("token", t)]).unwrap_or_default();
    let timeout = Duration::from_millis(store.lookup_timeout_ms);
    host.dispatch_grpc(&store.cluster, etcd::KV_SERVICE, method, &metadata, message, timeout)
}

/// The Txn that writes `entry` under `prefix` with `lease` (a write-through).
pub fn write_through(prefix: &str, entry: &Entry, lease: i64) -> Option<Vec<u8>> {
    let (key, value) = entry.key_and_value();
    let key = format!("{prefix}{key}").into_bytes();
    Some(etcd::txn(&[etcd::Op::Put { key, value: value?.into_bytes(), lease }]))
}

/// The lease in `LEASE_KEY`'s value.
pub fn lease_of(value: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(value.try_into().ok()?)).filter(|lease| *lease != 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// `kind`: the request, to decide again once the entry is known.
    Query {
        id: QueryId,
        kind: RequestKind,
    },
    Transaction {
        id: TransactionId,
    },
}

impl Lookup {
    /// The key below the prefix (as `state_entry` names it).
    fn key(&self) -> String {
        match self {
            Lookup::Query { id, .. } => format!("q/{}", id.as_str()),
            Lookup::Transaction { id } => format!("tx/{}", id.as_string()),
        }
    }

    /// The `RangeRequest` for exactly this key under `prefix`.
    pub fn request(&self, prefix: &str) -> Vec<u8> {
        etcd::get(format!("{prefix}{}", self.key()).as_bytes())
    }

    /// The entry etcd's answer holds: None when the key is absent, or what
    /// is there is not this lookup's kind of entry (garbage routes nothing).
    pub fn entry(&self, prefix: &str, answer: &[u8]) -> Option<Entry> {
        let range = etcd::range_response(answer).ok()?;
        let kv = range.kvs.first()?;
        let key = std::str::from_utf8(kv.key.strip_prefix(prefix.as_bytes())?).ok()?;
        let value = std::str::from_utf8(&kv.value).ok()?;
        if key != self.key() {
            return None;
        }
        match (self, Entry::from_key_value(key, Some(value)).ok()?) {
            (Lookup::Query { .. }, entry @ Entry::Query { .. }) => Some(entry),
            (Lookup::Transaction { .. }, entry @ Entry::Transaction { .. }) => Some(entry),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::QueryResource;
    use crate::etcd::tests_support::{kv, range_answer};

    fn answer(key: &str, value: &str) -> Vec<u8> {
        range_answer(&[kv(key, value, 9)], 0, false)
    }

    #[test]
    fn an_answer_routes_only_when_it_is_this_lookups_entry() {
        let id = QueryId::parse("20261126_101305_00001_abcde").unwrap();
        let lookup =
            Lookup::Query { id, kind: RequestKind::QueryBound { query_id: id, resource: QueryResource::Statement } };
        assert_eq!(lookup.request("/p/"), etcd::get(b"/p/q/20261126_101305_00001_abcde"));
        let found = lookup.entry("/p/", &answer("/p/q/20261126_101305_00001_abcde", "coordinator-b"));
        assert_eq!(found, Some(Entry::Query { id, cluster: "coordinator-b".into(), flags: 0 }));
        assert_eq!(lookup.entry("/p/", &[]), None, "absent");
        assert_eq!(lookup.entry("/p/", &answer("/p/q/20261126_101305_00002_abcde", "coordinator-b")), None);
        assert_eq!(lookup.entry("/p/", &answer("/p/q/20261126_101305_00001_abcde", "bad name")), None);
        assert_eq!(lookup.entry("/p/", &[0xff, 0xff]), None);
        let transaction = TransactionId::parse("3f1e1a52-5a8b-4a4c-9a51-0c1d2e3f4a5b").unwrap();
        let lookup = Lookup::Transaction { id: transaction };
        let found = lookup.entry("/p/", &answer("/p/tx/3f1e1a52-5a8b-4a4c-9a51-0c1d2e3f4a5b", "coordinator-a"));
        assert_eq!(found, Some(Entry::Transaction { id: transaction, cluster: "coordinator-a".into() }));
    }
}
