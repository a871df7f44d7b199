//! What the state sync exchanges with the store, and how it is named there.
//!
//! Keys under the configured prefix (default `/trino-gateway/`), values
//! readable with `etcdctl get --prefix`:
//!
//! | key | value | written |
//! | --- | --- | --- |
//! | `q/<query id>` | cluster name, then `;t` (a START TRANSACTION) and/or `;s` (spooled) | with the sync's lease |
//! | `tx/<transaction id>` | cluster name | with the lease; deleted at COMMIT/ROLLBACK |
//! | `co/<coordinator id>` | cluster name | with the lease |
//! | `drain/<cluster>` | anything | by an operator (`etcdctl put`), no lease |
//!
//! Values carry cluster *names*: each Envoy maps names to its own cluster
//! table ids, which need not agree between Envoys. An entry naming a
//! cluster this Envoy does not have, or any key it cannot parse, is skipped
//! (counted), never guessed.
//!
//! Workers hand entries to the syncing context through a shared queue, one
//! message per entry: the key's suffix, a newline, the value (a delete:
//! `-` before the suffix, no value).

use crate::query_id::{CoordinatorId, QueryId};
use crate::query_map::{CLUSTER_MASK, LEARN_SEGMENTS, LEARN_TRANSACTION};
use crate::transaction::TransactionId;

pub const DEFAULT_PREFIX: &str = "/trino-gateway/";
pub const DRAIN: &str = "drain/";

/// One routing fact, as workers learn it and the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `flags`: `query_map::LEARN_TRANSACTION` / `LEARN_SEGMENTS`.
    Query {
        id: QueryId,
        cluster: String,
        flags: u8,
    },
    Transaction {
        id: TransactionId,
        cluster: String,
    },
    TransactionEnded {
        id: TransactionId,
    },
    Coordinator {
        id: CoordinatorId,
        cluster: String,
    },
}

/// Why a key or value under the prefix was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// Not a key this format knows (another tool's key, another version's).
    UnknownKey,
    /// A known kind whose id or value does not parse.
    Malformed,
    /// Well formed, but names a cluster this Envoy's configuration lacks.
    UnknownCluster,
}

impl Entry {
    /// The key below the prefix, and the value (None: a delete).
    pub fn key_and_value(&self) -> (String, Option<String>) {
        match self {
            Entry::Query { id, cluster, flags } => {
                let mut value = cluster.clone();
                if flags & LEARN_TRANSACTION != 0 {
                    value.push_str(";t");
                }
                if flags & LEARN_SEGMENTS != 0 {
                    value.push_str(";s");
                }
                (format!("q/{}", id.as_str()), Some(value))
            }
            Entry::Transaction { id, cluster } => (format!("tx/{}", id.as_string()), Some(cluster.clone())),
            Entry::TransactionEnded { id } => (format!("tx/{}", id.as_string()), None),
            Entry::Coordinator { id, cluster } => (format!("co/{}", id.as_str()), Some(cluster.clone())),
        }
    }

    /// The shared-queue message of this entry.
    pub fn to_message(&self) -> Vec<u8> {
        match self.key_and_value() {
            (key, Some(value)) => format!("{key}\n{value}").into_bytes(),
            (key, None) => format!("-{key}").into_bytes(),
        }
    }

    pub fn from_message(message: &[u8]) -> Option<Entry> {
        let text = std::str::from_utf8(message).ok()?;
        if let Some(key) = text.strip_prefix('-') {
            return match Entry::from_key_value(key, None) {
                Ok(entry @ Entry::TransactionEnded { .. }) => Some(entry),
                _ => None,
            };
        }
        let (key, value) = text.split_once('\n')?;
        Entry::from_key_value(key, Some(value)).ok()
    }

    /// An entry from its key below the prefix and its value (None: deleted).
    pub fn from_key_value(key: &str, value: Option<&str>) -> Result<Entry, Skipped> {
        let (kind, id) = key.split_once('/').ok_or(Skipped::UnknownKey)?;
        let cluster = |value: Option<&str>| -> Result<String, Skipped> {
            let name = value.ok_or(Skipped::Malformed)?;
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) {
                return Err(Skipped::Malformed);
            }
            Ok(name.to_string())
        };
        match kind {
            "q" => {
                let id = QueryId::parse(id).ok_or(Skipped::Malformed)?;
                let mut parts = value.ok_or(Skipped::Malformed)?.split(';');
                let name = cluster(parts.next())?;
                let mut flags = 0;
                for flag in parts {
                    flags |= match flag {
                        "t" => LEARN_TRANSACTION,
                        "s" => LEARN_SEGMENTS,
                        _ => return Err(Skipped::Malformed),
                    };
                }
                Ok(Entry::Query { id, cluster: name, flags: flags & !CLUSTER_MASK })
            }
            "tx" => {
                let id = TransactionId::parse(id).ok_or(Skipped::Malformed)?;
                match value {
                    None => Ok(Entry::TransactionEnded { id }),
                    Some(_) => Ok(Entry::Transaction { id, cluster: cluster(value)? }),
                }
            }
            "co" => {
                let id = CoordinatorId::parse(id).ok_or(Skipped::Malformed)?;
                Ok(Entry::Coordinator { id, cluster: cluster(value)? })
            }
            _ => Err(Skipped::UnknownKey),
        }
    }
}

/// Between the entries of one queue message (a worker's batch): no key or
/// value can contain it (ids and cluster names are printable ASCII).
const SEPARATOR: u8 = 0x1e;

/// Adds `entry` to a batch message.
pub fn append_message(batch: &mut Vec<u8>, entry: &Entry) {
    if !batch.is_empty() {
        batch.push(SEPARATOR);
    }
    batch.extend_from_slice(&entry.to_message());
}

/// The entries' messages of a batch.
pub fn messages(batch: &[u8]) -> impl Iterator<Item = &[u8]> {
    batch.split(|b| *b == SEPARATOR).filter(|m| !m.is_empty())
}

/// The cluster a `drain/<cluster>` key names (below the prefix), if it is one.
pub fn drained_cluster(key: &str) -> Option<&str> {
    key.strip_prefix(DRAIN).filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(n: u32) -> QueryId {
        QueryId::parse(&format!("20261126_101305_{n:05}_abcde")).unwrap()
    }

    fn transaction() -> TransactionId {
        TransactionId::parse("3f1e1a52-5a8b-4a4c-9a51-0c1d2e3f4a5b").unwrap()
    }

    #[test]
    fn entries_round_trip_through_keys_and_queue_messages() {
        let entries = [
            Entry::Query { id: query(1), cluster: "coordinator-a".into(), flags: 0 },
            Entry::Query { id: query(2), cluster: "b".into(), flags: LEARN_TRANSACTION | LEARN_SEGMENTS },
            Entry::Transaction { id: transaction(), cluster: "coordinator-b".into() },
            Entry::TransactionEnded { id: transaction() },
            Entry::Coordinator { id: CoordinatorId::parse("x7k2p").unwrap(), cluster: "c.1:x".into() },
        ];
        for entry in entries {
            let (key, value) = entry.key_and_value();
            assert_eq!(Entry::from_key_value(&key, value.as_deref()), Ok(entry.clone()), "{key}");
            assert_eq!(Entry::from_message(&entry.to_message()), Some(entry));
        }
        assert_eq!(
            Entry::Query { id: query(2), cluster: "b".into(), flags: LEARN_TRANSACTION | LEARN_SEGMENTS }
                .key_and_value(),
            ("q/20261126_101305_00002_abcde".to_string(), Some("b;t;s".to_string()))
        );
    }

    #[test]
    fn foreign_and_corrupt_data_is_skipped() {
        for (key, value, why) in [
            ("config", Some("x"), Skipped::UnknownKey),
            ("v9/q/x", Some("x"), Skipped::UnknownKey),
            ("q/not-a-query-id", Some("coordinator-a"), Skipped::Malformed),
            ("q/20261126_101305_00002_abcde", Some(""), Skipped::Malformed),
            ("q/20261126_101305_00002_abcde", Some("a;z"), Skipped::Malformed),
            ("q/20261126_101305_00002_abcde", Some("bad name"), Skipped::Malformed),
            ("q/20261126_101305_00002_abcde", None, Skipped::Malformed),
            ("tx/nope", Some("a"), Skipped::Malformed),
            ("co/toolong", Some("a"), Skipped::Malformed),
        ] {
            assert_eq!(Entry::from_key_value(key, value), Err(why), "{key}");
        }
        assert_eq!(Entry::from_message(b"\xff\xfe"), None);
        assert_eq!(Entry::from_message(b"-q/20261126_101305_00002_abcde"), None, "only transactions are deleted");
    }

    #[test]
    fn batches_of_entries() {
        let entries = [
            Entry::Query { id: query(1), cluster: "a".into(), flags: 0 },
            Entry::TransactionEnded { id: transaction() },
            Entry::Transaction { id: transaction(), cluster: "b".into() },
        ];
        let mut batch = Vec::new();
        entries.iter().for_each(|e| append_message(&mut batch, e));
        let back: Vec<Option<Entry>> = messages(&batch).map(Entry::from_message).collect();
        assert_eq!(back, entries.iter().cloned().map(Some).collect::<Vec<_>>());
        assert_eq!(messages(b"").count(), 0);
    }

    #[test]
    fn drain_keys() {
        assert_eq!(drained_cluster("drain/coordinator-a"), Some("coordinator-a"));
        assert_eq!(drained_cluster("drain/"), None);
        assert_eq!(drained_cluster("q/x"), None);
    }
}
