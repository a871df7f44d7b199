//! The host-independent core of the Trino Envoy Gateway: Trino protocol
//! knowledge, configuration, routing decisions, the encoding of routing state
//! in shared data, and the request flow as a state machine. Nothing here calls
//! proxy-wasm: the host is reached only through the `host::Host` trait, so all
//! of it runs natively under `cargo test` (with `mock::RecordingHost`).
#![cfg_attr(test, allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod balancer;
pub mod bucket_map;
#[cfg(any(test, feature = "testing"))]
pub mod call_budget;
pub mod checksum;
pub mod classify;
pub mod cluster_table;
pub mod config;
pub mod coordinator_map;
pub mod etcd;
pub mod failed_query;
pub mod flow;
pub mod hash;
pub mod headers;
pub mod health;
pub mod health_lease;
pub mod health_service;
pub mod held_statements;
pub mod host;
pub mod metrics;
#[cfg(any(test, feature = "testing"))]
pub mod mock;
pub mod owner_cache;
pub mod placed;
pub mod placement;
pub mod query_id;
pub mod query_map;
pub mod remote_lookup;
pub mod router;
pub mod routing_config;
pub mod rules;
pub mod segment_map;
pub mod shared_data;
pub mod state_entry;
pub mod state_sync;
pub mod statement_kind;
pub mod store_config;
pub mod table_names;
pub mod transaction;
pub mod transaction_map;
pub mod upstream_failure;
pub mod usage;
pub mod worker;
