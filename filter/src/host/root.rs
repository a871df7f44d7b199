//! Root context: reads and validates the plugin configuration (a bad one makes
//! Envoy refuse the filter), prepares the router and the metrics, and then
//! plays one of two roles, chosen by its root_id:
//! - `trino_gateway` (the HTTP filter): one `GatewayHttp` per request;
//! - `trino_gateway_health` (the bootstrap singleton service, same vm_id):
//!   polls every coordinator (`HealthService`).

use super::health_service::HealthService;
use super::http::GatewayHttp;
use super::metrics::Metrics;
use super::shared_data::HostSharedData;
use crate::core::config::Config;
use crate::core::router::Router;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};
use std::rc::Rc;
use std::time::Duration;

/// How often workers refresh the cluster health gauges (one shared-data read).
const GAUGE_PERIOD: Duration = Duration::from_secs(1);
/// Every how many gauge periods the state-usage gauges are refreshed (reads every bucket key once).
const USAGE_EVERY: u32 = 5;
/// The root_id of the health-check service.
pub const HEALTH_ROOT_ID: &str = "trino_gateway_health";

pub struct Gateway {
    pub router: Router,
    pub metrics: Metrics,
}

#[derive(Default)]
pub struct GatewayRoot {
    gateway: Option<Rc<Gateway>>,
    health: Option<HealthService>,
    ticks: u32,
}

impl Context for GatewayRoot {
    fn on_http_call_response(&mut self, token_id: u32, num_headers: usize, body_size: usize, _num_trailers: usize) {
        if let Some(health) = &mut self.health {
            health.on_response(token_id, num_headers, body_size);
        }
    }
}

fn root_id() -> String {
    hostcalls::get_property(vec!["plugin_root_id"])
        .ok()
        .flatten()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default()
}

impl RootContext for GatewayRoot {
    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let bytes = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, plugin_configuration_size) {
            Ok(bytes) => bytes.unwrap_or_default(),
            Err(status) => {
                log::error!("trino-gateway: cannot read the plugin configuration: {status:?}");
                return false;
            }
        };
        let config = match Config::parse(&bytes) {
            Ok(config) => config,
            Err(error) => {
                log::error!("trino-gateway: invalid plugin configuration: {error}");
                return false;
            }
        };
        let router = match Router::new(config, &HostSharedData) {
            Ok(router) => router,
            Err(error) => {
                log::error!("trino-gateway: cannot register clusters in shared data: {error:?}");
                return false;
            }
        };
        let names: Vec<&str> = router.config.clusters.iter().map(|c| c.name.as_str()).collect();
        let metrics = Metrics::define(&names);
        if root_id() == HEALTH_ROOT_ID {
            let interval = Duration::from_millis(router.config.health.interval_ms);
            log::info!("trino-gateway: health checks of {} every {interval:?}", names.join(", "));
            if let Err(status) = hostcalls::set_tick_period(interval) {
                log::error!("trino-gateway: cannot schedule health checks: {status:?}");
                return false;
            }
            self.health = Some(HealthService::new(router, metrics));
            return true;
        }
        log::info!(
            "trino-gateway {}: {} clusters ({}), draining: [{}], routing header {}, max tracked queries {}",
            env!("CARGO_PKG_VERSION"),
            names.len(),
            names.join(", "),
            router
                .config
                .clusters
                .iter()
                .filter(|c| c.draining)
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            router.config.routing_header,
            router.config.max_tracked_queries
        );
        self.gateway = Some(Rc::new(Gateway { router, metrics }));
        if let Err(status) = hostcalls::set_tick_period(GAUGE_PERIOD) {
            log::warn!("trino-gateway: no state gauges (set_tick_period: {status:?})");
        }
        true
    }

    fn on_tick(&mut self) {
        if let Some(health) = &mut self.health {
            health.poll_all();
            return;
        }
        let Some(gateway) = &self.gateway else { return };
        // The health as this filter configuration sees it (its `draining` flags applied).
        match crate::core::health::read(&HostSharedData) {
            Ok(records) => {
                for (cluster, health) in gateway.router.cluster_health(&records).into_iter().enumerate() {
                    gateway.metrics.cluster_health(cluster, health);
                }
            }
            Err(error) => log::warn!("trino-gateway: cannot read cluster health: {error:?}"),
        }
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks % USAGE_EVERY != 1 {
            return;
        }
        match crate::core::usage::measure(&HostSharedData, &gateway.router.config) {
            Ok(usage) => gateway.metrics.state_usage(&usage),
            Err(error) => log::warn!("trino-gateway: cannot measure the routing state: {error:?}"),
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Without a configuration on_configure failed and Envoy never runs us.
        self.gateway.clone().map(|gateway| Box::new(GatewayHttp::new(gateway)) as Box<dyn HttpContext>)
    }
}
