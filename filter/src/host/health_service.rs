//! The health-check service: runs once per Envoy process (bootstrap wasm
//! service, `singleton: true`, same vm_id as the filter so it shares its data).
//! Every `health.interval_ms` it asks each coordinator's `/v1/info` and
//! publishes what it finds; it also learns each coordinator's id, so queries
//! can be routed by their id's suffix from the very first one.

use super::metrics::Metrics;
use super::now_seconds;
use super::shared_data::HostSharedData;
use crate::core::coordinator_map;
use crate::core::health::{self, ClusterHealth, Health};
use crate::core::router::Router;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType};
use std::collections::HashMap;
use std::time::Duration;

pub struct HealthService {
    pub router: Router,
    pub metrics: Metrics,
    /// Call token → cluster index of polls under way.
    pending: HashMap<u32, usize>,
}

impl HealthService {
    pub fn new(router: Router, metrics: Metrics) -> Self {
        HealthService { router, metrics, pending: HashMap::new() }
    }

    pub fn poll_all(&mut self) {
        let timeout = Duration::from_millis(self.router.config.health.timeout_ms);
        for cluster in 0..self.router.config.clusters.len() {
            if self.pending.values().any(|c| *c == cluster) {
                continue; // The timeout is shorter than the interval; this is only defensive.
            }
            let name = self.router.cluster_name(cluster).to_string();
            let headers = vec![
                (":method", "GET"),
                (":path", "/v1/info"),
                (":authority", name.as_str()),
                ("user-agent", "trino-gateway-health"),
            ];
            match hostcalls::dispatch_http_call(&name, headers, None, vec![], timeout) {
                Ok(token) => {
                    self.pending.insert(token, cluster);
                }
                Err(status) => {
                    log::warn!("trino-gateway: cannot poll {name}: {status:?}");
                    self.record(cluster, None, &[]);
                }
            }
        }
    }

    /// A poll's answer arrived (`num_headers` 0: reset, timeout or no connection).
    pub fn on_response(&mut self, token: u32, num_headers: usize, body_size: usize) {
        let Some(cluster) = self.pending.remove(&token) else { return };
        let status = if num_headers == 0 {
            None
        } else {
            hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
                .ok()
                .flatten()
                .and_then(|s| s.parse::<u16>().ok())
        };
        let body =
            hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size).ok().flatten().unwrap_or_default();
        self.record(cluster, status, &body);
    }

    fn record(&mut self, cluster: usize, status: Option<u16>, body: &[u8]) {
        let Some(table_id) = self.router.table_id(cluster) else { return };
        let name = self.router.cluster_name(cluster).to_string();
        let (observed, coordinator) = health::judge_info(status, body);
        if observed == Health::Unhealthy {
            self.metrics.health_check_failed();
        }
        // What the coordinator says, never the `draining` flag of this
        // service's (bootstrap, static) configuration: workers apply their own
        // filter configuration, which xDS/ECDS (e.g. an Istio WasmPlugin) can change.
        let store = HostSharedData;
        let old = health::read(&store).map(|records| health::of(&records, table_id)).ok();
        let old_coordinator = old.and_then(|o| o.coordinator);
        if let (Some(new), Some(previous)) = (coordinator, old_coordinator) {
            if new != previous {
                log::warn!("trino-gateway: {name} restarted: coordinator id {previous:?} -> {new:?}; its earlier queries are gone");
                self.metrics.coordinator_restart();
            }
        }
        if old.map(|o| o.health) != Some(observed) {
            log::info!("trino-gateway: {name} is {observed:?}");
        }
        let now = now_seconds();
        let record = ClusterHealth {
            cluster: table_id,
            health: observed,
            coordinator: coordinator.or(old_coordinator),
            updated_at: now,
            running: old.map_or(0, |o| o.running),
            queued: old.map_or(0, |o| o.queued),
        };
        if let Err(error) = health::publish(&store, record) {
            log::warn!("trino-gateway: cannot publish the health of {name}: {error:?}");
            self.metrics.shared_data_error();
        }
        if let Some(coordinator) = coordinator {
            if let Err(error) = coordinator_map::learn(&store, coordinator, table_id, now) {
                log::warn!("trino-gateway: cannot record the coordinator id of {name}: {error:?}");
                self.metrics.shared_data_error();
            }
        }
    }
}
