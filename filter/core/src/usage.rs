//! How much shared data the routing state holds, for gauges and benchmarks.

use super::config::Config;
use super::query_map::{bucket_key, records};
use super::shared_data::{SharedData, SharedDataError};
use super::{balancer, cluster_table, coordinator_map, health, health_lease};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Keys the gateway has created.
    pub keys: usize,
    /// Bytes of those keys and their values (what Envoy stores, without its own overhead).
    pub bytes: usize,
    /// Query → cluster records currently held.
    pub tracked_queries: usize,
}

/// Every shared-data key the gateway owns with this configuration: all are
/// created at configure time (see `shared_data::create_if_absent`), and
/// nothing else is ever written. The `v2/` in their names is the record
/// format (v2: a check byte per record): a build with another format uses
/// other keys, so builds sharing a vm_id during an upgrade never misread
/// each other's records.
pub fn owned_keys(config: &Config) -> impl Iterator<Item = String> {
    // What the state sync shares with workers (see `remote_lookup`).
    let store_keys =
        config.state_store.as_ref().map(|_| [super::remote_lookup::TOKEN_KEY, super::remote_lookup::LEASE_KEY]);
    [cluster_table::KEY, coordinator_map::KEY, balancer::KEY, health::KEY, health_lease::KEY]
        .into_iter()
        .map(str::to_string)
        .chain((0..config.bucket_count()).map(bucket_key))
        .chain((0..config.transaction_bucket_count()).map(super::transaction_map::bucket_key))
        .chain((0..config.segment_bucket_count()).map(super::segment_map::bucket_key))
        .chain(store_keys.into_iter().flatten().map(str::to_string))
        // Group 0's counter is balancer::KEY, above; placed counts only when read.
        .chain((1..config.routing.groups.len()).map(balancer::key))
        .chain(config.tracks_placements().then(|| super::placed::KEY.to_string()))
}

/// Reads every owned key: for the health service's gauges (off the request
/// path) and benchmarks, never on a worker.
pub fn measure(store: &dyn SharedData, config: &Config) -> Result<Usage, SharedDataError> {
    let mut usage = Usage::default();
    let mut tracked = 0;
    for key in owned_keys(config) {
        let (value, cas) = store.get(&key)?;
        if cas.is_none() {
            continue; // not created (yet)
        }
        let value = value.unwrap_or_default();
        usage.keys += 1;
        usage.bytes += key.len() + value.len();
        if key.starts_with(super::query_map::BUCKET_PREFIX) {
            tracked += records(&value).count();
        }
    }
    usage.tracked_queries = tracked;
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::super::query_id::QueryId;
    use super::super::router::Router;
    use super::super::shared_data::MemorySharedData;
    use super::*;

    #[test]
    fn counts_what_the_router_stored() {
        let store = MemorySharedData::new();
        let config = Config::parse(br#"{"clusters": [{"name": "a"}], "max_tracked_queries": 64}"#).unwrap();
        let router = Router::new(config.clone(), &store).unwrap();
        for n in 0..1000 {
            let id = format!("20261125_101305_{n:05}_abcde");
            let body = format!(r#"{{"id": "{id}"}}"#);
            assert_eq!(
                router.learn_statement_response(&store, 0, body.as_bytes(), n, &[], 0),
                Ok(super::super::router::Learned::Query(QueryId::parse(&id).unwrap()))
            );
        }
        let usage = measure(&store, &config).unwrap();
        assert_eq!(usage.keys, store.keys());
        assert_eq!(usage.bytes, store.bytes());
        assert!(usage.tracked_queries <= 64 && usage.tracked_queries >= 48, "{usage:?}");
    }
}
