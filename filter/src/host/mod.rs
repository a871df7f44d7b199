//! The thin adapter between Envoy (proxy-wasm host calls) and the core.

pub mod health_service;
pub mod http;
pub mod metrics;
pub mod root;
pub mod shared_data;

use proxy_wasm::hostcalls;
use std::time::UNIX_EPOCH;

/// Envoy's clock in Unix seconds (0 if the host cannot tell), for state timestamps.
pub fn now_seconds() -> u32 {
    hostcalls::get_current_time().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs() as u32)
}
