//! The thin adapter between Envoy (proxy-wasm host calls) and the core.

pub mod health_service;
pub mod http;
pub mod metrics;
pub mod root;
pub mod shared_data;
