//! Per-request context: classify, route (or answer locally), and for new
//! statements read the answer's query id. Only the `POST /v1/statement`
//! response body is ever buffered; everything else streams through.

use super::now_seconds;
use super::root::Gateway;
use super::shared_data::HostSharedData;
use crate::core::classify::{classify, method_matters};
use crate::core::headers::{edits, HeaderEdit};
use crate::core::router::{Decision, Learned};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MapType};
use std::rc::Rc;

pub struct GatewayHttp {
    gateway: Rc<Gateway>,
    /// The cluster this request was routed to.
    routed_to: Option<usize>,
    /// The cluster a new statement went to, while its answer is awaited.
    learn_from: Option<usize>,
}

/// Statuses that say the coordinator (or the way to it) failed: Envoy answers
/// 503 itself on connect failures and resets, Trino 503 when it cannot serve.
fn is_failure(status: &str) -> bool {
    matches!(status, "502" | "503" | "504")
}

impl GatewayHttp {
    pub fn new(gateway: Rc<Gateway>) -> Self {
        GatewayHttp { gateway, routed_to: None, learn_from: None }
    }

    fn header(&self, name: &str) -> Option<String> {
        hostcalls::get_map_value(MapType::HttpRequestHeaders, name).ok().flatten()
    }

    /// Answer from the gateway; logs when even that fails.
    fn reply(&self, status: u32, content_type: &str, body: &str) -> Action {
        if let Err(status_code) =
            hostcalls::send_http_response(status, vec![("content-type", content_type)], Some(body.as_bytes()))
        {
            log::error!("trino-gateway: cannot send a local reply: {status_code:?}");
        }
        Action::Pause
    }

    fn route(&mut self, cluster: usize) -> Result<(), String> {
        let router = &self.gateway.router;
        let process_forwarded = router.config.coordinators_process_forwarded;
        let (scheme, authority) =
            if process_forwarded { (self.header(":scheme"), self.header(":authority")) } else { (None, None) };
        let plan = edits(
            &router.config.routing_header,
            router.cluster_name(cluster),
            process_forwarded,
            scheme.as_deref(),
            authority.as_deref(),
        );
        for edit in plan {
            let result = match &edit {
                HeaderEdit::Remove(name) => hostcalls::remove_map_value(MapType::HttpRequestHeaders, name),
                HeaderEdit::Set(name, value) => {
                    hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
                }
            };
            result.map_err(|s| format!("cannot apply {edit:?}: {s:?}"))?;
        }
        // Envoy clears the route cache itself when a filter of this ABI changes
        // request headers; the foreign function (Envoy >= 1.33) makes it explicit
        // should that ever change. Measured: no cost worth noting.
        let _ = hostcalls::call_foreign_function("clear_route_cache", None);
        Ok(())
    }
}

impl Context for GatewayHttp {}

impl HttpContext for GatewayHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let path = self.header(":path").unwrap_or_default();
        // Read the method only where it decides anything: one host call fewer
        // on every follow-up request.
        let method = if method_matters(&path) { self.header(":method").unwrap_or_default() } else { String::new() };
        let kind = classify(&method, &path);
        let (decision, error) = self.gateway.router.decide(&HostSharedData, kind);
        if let Some(error) = error {
            log::warn!("trino-gateway: shared data error while routing {method} {path}: {error:?}");
            self.gateway.metrics.shared_data_error();
        }
        match decision {
            Decision::Route { cluster, via, record_response } => {
                if let Err(message) = self.route(cluster) {
                    log::error!("trino-gateway: {message}");
                    return self.reply(
                        500,
                        "text/plain",
                        "Error 500 Internal Server Error: gateway could not route the request",
                    );
                }
                self.gateway.metrics.routed(cluster, via);
                self.routed_to = Some(cluster);
                self.learn_from = record_response.then_some(cluster);
                Action::Continue
            }
            Decision::Reply(local) => {
                self.gateway.metrics.replied(local.reason);
                self.reply(local.status, local.content_type, &local.body)
            }
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some(cluster) = self.routed_to else { return Action::Continue };
        let status =
            hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status").ok().flatten().unwrap_or_default();
        if is_failure(&status) {
            // Passive health: out of rotation at once; only a successful poll brings it back.
            match self.gateway.router.report_failure(&HostSharedData, cluster, now_seconds()) {
                Ok(true) => {
                    log::warn!(
                        "trino-gateway: {} answered {status}: marked UNHEALTHY",
                        self.gateway.router.cluster_name(cluster)
                    );
                    self.gateway.metrics.passive_unhealthy();
                }
                Ok(false) => {}
                Err(error) => {
                    log::warn!("trino-gateway: cannot mark a cluster unhealthy: {error:?}");
                    self.gateway.metrics.shared_data_error();
                }
            }
        }
        // Only a 200 carries QueryResults; errors (401, 400, 406, 503...) teach nothing.
        if status != "200" || end_of_stream {
            self.learn_from = None;
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(cluster) = self.learn_from else {
            return Action::Continue;
        };
        if !end_of_stream {
            // Hold the (small) QueryResults until it is complete; it is passed on unchanged.
            return Action::Pause;
        }
        self.learn_from = None;
        let body = match hostcalls::get_buffer(BufferType::HttpResponseBody, 0, body_size) {
            Ok(body) => body.unwrap_or_default(),
            Err(status) => {
                log::warn!("trino-gateway: cannot read the statement response: {status:?}");
                return Action::Continue;
            }
        };
        match self.gateway.router.learn_statement_response(&HostSharedData, cluster, &body, now_seconds()) {
            Ok(Learned::Query(_)) => {}
            Ok(Learned::Unparseable) => self.gateway.metrics.unparseable_response(),
            Err(error) => {
                log::warn!("trino-gateway: cannot record a new query: {error:?}");
                self.gateway.metrics.shared_data_error();
            }
        }
        Action::Continue
    }
}
