//! Trino Envoy Gateway: a proxy-wasm filter that spreads new Trino queries over
//! several coordinators and sends every follow-up request of a query to the
//! coordinator that owns it.
//!
//! This crate is the thin adapter: it implements the core's `Host` seam over
//! proxy-wasm host calls (`wasm_host`) and forwards Envoy's callbacks to the
//! core (`trino-gateway-core`, filter/core), which holds all the logic.

pub mod http;
pub mod root;
pub mod wasm_host;

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::GatewayRoot::default())
    });
}}
