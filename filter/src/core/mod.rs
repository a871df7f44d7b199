//! The host-independent core: Trino protocol knowledge, configuration, routing
//! decisions and the encoding of routing state. No proxy-wasm calls here; all
//! of it runs natively under `cargo test`.

pub mod balancer;
pub mod classify;
pub mod cluster_table;
pub mod config;
pub mod coordinator_map;
pub mod failed_query;
pub mod headers;
pub mod health;
pub mod query_id;
pub mod query_map;
pub mod router;
pub mod shared_data;
pub mod usage;
