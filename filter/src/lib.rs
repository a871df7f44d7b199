//! Trino Envoy Gateway: a proxy-wasm filter that routes Trino client requests
//! across several coordinators and keeps every follow-up request of a query on
//! the coordinator that owns it.
//!
//! This first version is only the module skeleton: it loads into Envoy, accepts
//! any plugin configuration and lets every request through unchanged. Routing
//! arrives with the end-to-end gateway issue.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(GatewayRoot) });
}}

/// Root context: one per worker VM.
pub struct GatewayRoot;

impl Context for GatewayRoot {}

impl RootContext for GatewayRoot {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        log::info!("trino-gateway-filter {} loaded", env!("CARGO_PKG_VERSION"));
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(PassThrough))
    }
}

/// Per-request context: passes everything through for now.
pub struct PassThrough;

impl Context for PassThrough {}

impl HttpContext for PassThrough {}
