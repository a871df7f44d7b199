//! Trino Envoy Gateway: a proxy-wasm filter that spreads new Trino queries over
//! several coordinators and sends every follow-up request of a query to the
//! coordinator that owns it.
//!
//! `core` holds everything that can be tested natively (no host calls);
//! `host` is the thin proxy-wasm adapter.
#![cfg_attr(test, allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

pub mod core;
pub mod host;

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(host::root::GatewayRoot::default())
    });
}}
