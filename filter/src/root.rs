//! Root context: reads the plugin configuration (a bad one makes Envoy refuse
//! the filter) and plays one of two roles, chosen by its root_id:
//! - `trino_gateway` (the HTTP filter): a `Worker` per VM, one `Flow` per request,
//!   and a `HealthService` that polls while this worker holds the poll lease
//!   (only when no bootstrap service runs, e.g. under Istio);
//! - `trino_gateway_health` (the bootstrap singleton service, same vm_id):
//!   polls every coordinator (`HealthService`) and keeps the lease.
//!
//! With a `state_store`, the state sync (`StateSync`) runs where the polls
//! run: in the bootstrap service, else in the worker holding the lease.

use crate::http::GatewayHttp;
use crate::wasm_host::WasmHost;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};
use std::rc::Rc;
use std::time::Duration;
use trino_gateway_core::flow::Flow;
use trino_gateway_core::health_service::HealthService;
use trino_gateway_core::host::Host;
use trino_gateway_core::state_sync::StateSync;
use trino_gateway_core::worker::{Worker, TICK};

/// The bootstrap service's tick with a state store: the health polls and the
/// sync each run when their own period is due.
const SERVICE_TICK: Duration = Duration::from_millis(50);

/// The root_id of the health-check service.
pub const HEALTH_ROOT_ID: &str = "trino_gateway_health";

#[derive(Default)]
pub struct GatewayRoot {
    worker: Option<Rc<Worker>>,
    health: Option<HealthService>,
    /// A worker's poller (see `health_lease`).
    poller: Option<HealthService>,
    sync: Option<StateSync>,
    /// The bootstrap service's next health poll (ms), with a state store.
    next_poll_ms: u64,
}

impl Context for GatewayRoot {
    fn on_http_call_response(&mut self, token_id: u32, num_headers: usize, body_size: usize, _num_trailers: usize) {
        if let Some(health) = self.health.as_mut().or(self.poller.as_mut()) {
            health.on_response(&WasmHost, token_id, num_headers, body_size);
        }
    }

    fn on_grpc_call_response(&mut self, token_id: u32, status_code: u32, response_size: usize) {
        let (Some(sync), Some(health)) = (self.sync.as_mut(), self.health.as_mut().or(self.poller.as_mut())) else {
            return;
        };
        sync.on_response(&WasmHost, &health.router, token_id, status_code, response_size);
        if let Some(drained) = sync.take_drains() {
            // A worker that lost the poll lease meanwhile publishes nothing.
            if health.is_bootstrap() || health.holds_lease(&WasmHost) {
                health.set_store_drains(&WasmHost, &drained);
            }
        }
    }
}

impl GatewayRoot {
    fn run_sync(&mut self) {
        let (Some(sync), Some(health)) = (self.sync.as_mut(), self.health.as_mut().or(self.poller.as_mut())) else {
            return;
        };
        if sync.due(WasmHost.now_millis()) {
            sync.run(&WasmHost, &health.router);
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
        if root_id() == HEALTH_ROOT_ID {
            let Some(health) = HealthService::configure(&WasmHost, &bytes) else { return false };
            let mut tick = health.tick_period();
            if let Some(store) = health.router.config.state_store.clone() {
                let mut sync = StateSync::new(&WasmHost, store);
                // Registered now, so workers' first entries already queue.
                sync.register_queue(&WasmHost);
                self.sync = Some(sync);
                tick = SERVICE_TICK;
            }
            if let Err(status) = hostcalls::set_tick_period(tick) {
                log::error!("trino-gateway: cannot schedule health checks: {status:?}");
                return false;
            }
            self.health = Some(health);
            return true;
        }
        let Some(worker) = Worker::configure(&WasmHost, &bytes) else { return false };
        worker.log_start(&WasmHost);
        self.poller = HealthService::configure_in_worker(&WasmHost, &bytes);
        self.sync = worker.router.config.state_store.clone().map(|store| StateSync::new(&WasmHost, store));
        if let Err(status) = hostcalls::set_tick_period(TICK) {
            log::warn!("trino-gateway: no snapshot refresh or gauges (set_tick_period: {status:?})");
        }
        self.worker = Some(Rc::new(worker));
        true
    }

    fn on_tick(&mut self) {
        if self.sync.is_some() && self.health.is_some() {
            // Bootstrap service with a state store: a short tick, each job on its own period.
            let now = WasmHost.now_millis();
            if let Some(health) = self.health.as_mut().filter(|_| now >= self.next_poll_ms) {
                health.poll_all(&WasmHost);
                self.next_poll_ms = now + health.tick_period().as_millis() as u64;
            }
            self.run_sync();
        } else if let Some(health) = &mut self.health {
            let period = health.tick_period();
            health.poll_all(&WasmHost);
            if health.tick_period() != period {
                if let Err(status) = hostcalls::set_tick_period(health.tick_period()) {
                    log::error!("trino-gateway: cannot schedule health checks: {status:?}");
                }
            }
        } else if let Some(worker) = self.worker.clone() {
            worker.refresh(&WasmHost);
            if let Some(poller) = &mut self.poller {
                poller.on_worker_tick(&WasmHost);
                // The sync runs in the worker that holds the poll lease (no bootstrap service).
                if self.sync.is_some() {
                    if poller.holds_lease(&WasmHost) {
                        self.run_sync();
                    } else if let Some(sync) = &mut self.sync {
                        sync.release(&WasmHost);
                    }
                }
            }
            // Last: it switches the effective context to the streams it answers.
            worker.fail_stuck_statements(&WasmHost);
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Without a configuration on_configure failed and Envoy never runs us.
        self.worker.clone().map(|worker| {
            Box::new(GatewayHttp { flow: Flow::with_context(worker, context_id) }) as Box<dyn HttpContext>
        })
    }
}
