//! Per-request context: classify, route (or answer locally), and for new
//! statements read the answer's query id. Only the `POST /v1/statement`
//! response body is ever buffered; everything else streams through.
//!
//! Failover lives here too. A new statement is kept (headers as forwarded,
//! body up to `failover.max_statement_bytes`) until its answer: if its
//! coordinator fails first (connect failure, reset, 502/503/504), the filter
//! re-sends it to another healthy coordinator with an HTTP call and answers
//! the client with that coordinator's response. Trino only registers a query
//! on POST, so this cannot run a query twice. A protocol request of a query
//! whose coordinator fails it, or no longer knows it after a restart, gets a
//! FAILED result naming the lost coordinator.

use super::now_seconds;
use super::root::Gateway;
use super::shared_data::HostSharedData;
use crate::core::classify::{classify, method_matters};
use crate::core::failed_query::{self, Loss};
use crate::core::headers::{edits, relayed_response_headers, resend_headers, HeaderEdit};
use crate::core::query_id;
use crate::core::router::{Decision, Failure, Learned, ReplyReason, Then};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MapType};
use std::rc::Rc;
use std::time::Duration;

pub struct GatewayHttp {
    gateway: Rc<Gateway>,
    /// The cluster this request was routed to.
    routed_to: Option<usize>,
    /// What to do with the answer.
    then: Then,
    /// The cluster a new statement went to, while its answer is awaited.
    learn_from: Option<usize>,
    /// A new statement, kept until answered so it can be re-sent.
    statement: Option<KeptStatement>,
    /// A re-send under way: call token and the cluster it went to.
    resend: Option<(u32, usize)>,
    /// Kept for a FAILED answer from a response callback, where neither
    /// request headers nor request properties can be read.
    origin: Option<Origin>,
}

/// What a FAILED answer needs from the request it answers.
struct Origin {
    /// A DELETE of a lost query gets 204, as for a query that ended.
    is_delete: bool,
    /// `scheme://authority` as the client called the gateway, for `infoUri`.
    base_uri: String,
}

struct KeptStatement {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The whole body has been seen.
    complete: bool,
    /// Clusters that failed this statement.
    tried: Vec<usize>,
}

/// Statuses that say the coordinator (or the way to it) failed: Envoy answers
/// 503 itself on connect failures and resets, Trino 503 when it cannot serve.
fn is_failure(status: &str) -> bool {
    matches!(status, "502" | "503" | "504")
}

/// Header pairs as the host calls take them.
fn borrowed(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

impl GatewayHttp {
    pub fn new(gateway: Rc<Gateway>) -> Self {
        GatewayHttp {
            gateway,
            routed_to: None,
            then: Then::PassThrough,
            learn_from: None,
            statement: None,
            resend: None,
            origin: None,
        }
    }

    fn header(&self, name: &str) -> Option<String> {
        hostcalls::get_map_value(MapType::HttpRequestHeaders, name).ok().flatten()
    }

    /// Read in a request callback only (`read_method`: whether it can be a DELETE).
    fn read_origin(&self, read_method: bool) -> Origin {
        let is_delete = read_method && self.header(":method").as_deref() == Some("DELETE");
        let base_uri = match (self.header(":scheme"), self.header(":authority")) {
            (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
            _ => String::new(),
        };
        Origin { is_delete, base_uri }
    }

    /// Answer from the gateway; logs when even that fails.
    fn reply(&self, status: u32, headers: Vec<(&str, &str)>, body: Option<&[u8]>) -> Action {
        if let Err(status_code) = hostcalls::send_http_response(status, headers, body) {
            log::error!("trino-gateway: cannot send a local reply: {status_code:?}");
        }
        Action::Pause
    }

    /// End a query with the gateway's FAILED `QueryResults` (204 for a DELETE
    /// of a lost query: there is nothing left to cancel).
    fn fail(&mut self, failure: Failure) -> Action {
        self.gateway.metrics.replied(failure.reason);
        let origin = match self.origin.take() {
            Some(origin) => origin,
            None => self.read_origin(true), // a request callback: the headers are there
        };
        if failure.reason == ReplyReason::LostQuery {
            log::info!("trino-gateway: {}", failure.message);
            if origin.is_delete {
                return self.reply(204, vec![], None);
            }
        } else {
            log::warn!("trino-gateway: {}", failure.message);
        }
        let id = match failure.query_id {
            Some(id) => id.as_str().to_string(),
            // Numbered by the worker's turn counter: these ids only need to
            // look like Trino's, never to be routed.
            None => query_id::made_by_gateway(u64::from(now_seconds()), self.gateway.router.next_local_turn() as u32),
        };
        let body = failed_query::failed_results(&id, &origin.base_uri, failure.error, &failure.message);
        self.reply(200, vec![("content-type", "application/json")], Some(body.as_bytes()))
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

    /// Keep a new statement's headers (as forwarded) for a possible re-send.
    fn keep_statement(&mut self, end_of_stream: bool) {
        match hostcalls::get_map(MapType::HttpRequestHeaders) {
            Ok(headers) => {
                let config = &self.gateway.router.config;
                let headers = resend_headers(headers, &config.routing_header, config.coordinators_process_forwarded);
                self.statement =
                    Some(KeptStatement { headers, body: Vec::new(), complete: end_of_stream, tried: Vec::new() });
            }
            Err(status) => log::warn!("trino-gateway: cannot keep a statement for failover: {status:?}"),
        }
    }

    /// The coordinator of a new statement (`failed`) failed before answering:
    /// re-send it to the next healthy cluster it has not failed on, or end it
    /// with a FAILED result when none is left. Without a complete kept
    /// statement, the failure is passed on (clients retry 502/503/504).
    fn resend_or_fail(&mut self, failed: usize) -> Action {
        let Some(mut statement) = self.statement.take().filter(|s| s.complete) else {
            return Action::Continue;
        };
        statement.tried.push(failed);
        let router = &self.gateway.router;
        let timeout = Duration::from_millis(router.config.failover.resend_timeout_ms);
        loop {
            let (placed, error) = router.place_new_query(&HostSharedData, &statement.tried);
            if let Some(error) = error {
                log::warn!("trino-gateway: shared data error while re-sending a statement: {error:?}");
                self.gateway.metrics.shared_data_error();
            }
            let cluster = match placed {
                Ok(cluster) => cluster,
                Err(failure) => return self.fail(failure),
            };
            let name = router.cluster_name(cluster);
            match hostcalls::dispatch_http_call(
                name,
                borrowed(&statement.headers),
                Some(&statement.body),
                vec![],
                timeout,
            ) {
                Ok(token) => {
                    log::info!(
                        "trino-gateway: re-sending a new statement to {name} after {} failed",
                        router.cluster_name(failed)
                    );
                    self.gateway.metrics.submission_resent();
                    self.resend = Some((token, cluster));
                    self.statement = Some(statement);
                    return Action::Pause;
                }
                Err(status) => {
                    log::warn!("trino-gateway: cannot re-send a statement to {name}: {status:?}");
                    statement.tried.push(cluster);
                }
            }
        }
    }

    fn mark_failed(&self, cluster: usize, status: &str) {
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

    fn learn(&self, cluster: usize, body: &[u8]) {
        match self.gateway.router.learn_statement_response(&HostSharedData, cluster, body, now_seconds()) {
            Ok(Learned::Query(_)) => {}
            Ok(Learned::Unparseable) => self.gateway.metrics.unparseable_response(),
            Err(error) => {
                log::warn!("trino-gateway: cannot record a new query: {error:?}");
                self.gateway.metrics.shared_data_error();
            }
        }
    }
}

impl Context for GatewayHttp {
    /// The answer to a re-sent statement.
    fn on_http_call_response(&mut self, token_id: u32, num_headers: usize, body_size: usize, _num_trailers: usize) {
        let Some((token, cluster)) = self.resend else { return };
        if token != token_id {
            return;
        }
        self.resend = None;
        // No headers: reset, timeout or no connection. An answer that cannot
        // be read counts as none: relaying it would hand the client nothing.
        let answer = if num_headers == 0 {
            None
        } else {
            match (
                hostcalls::get_map(MapType::HttpCallResponseHeaders),
                hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size),
            ) {
                (Ok(headers), Ok(body)) => Some((headers, body.unwrap_or_default())),
                (headers, body) => {
                    log::warn!("trino-gateway: cannot read the answer to a re-sent statement: {headers:?} {body:?}");
                    None
                }
            }
        };
        let status = answer
            .as_ref()
            .and_then(|(headers, _)| headers.iter().find(|(name, _)| name == ":status"))
            .map_or(String::new(), |(_, value)| value.clone());
        let Some((headers, body)) = answer.filter(|_| !is_failure(&status) && !status.is_empty()) else {
            self.mark_failed(cluster, if status.is_empty() { "no answer" } else { &status });
            if self.resend_or_fail(cluster) == Action::Continue {
                // Pass the first coordinator's failure on (clients retry 502/503/504).
                if let Err(status) = hostcalls::resume_http_response() {
                    log::error!("trino-gateway: cannot resume a response after a failed re-send: {status:?}");
                }
            }
            return;
        };
        if status == "200" {
            self.learn(cluster, &body);
        }
        self.statement = None;
        self.gateway.metrics.failover();
        let code = status.parse::<u32>().unwrap_or(502);
        let headers = relayed_response_headers(headers);
        self.reply(code, borrowed(&headers), Some(&body));
    }
}

impl HttpContext for GatewayHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
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
            Decision::Route { cluster, via, then } => {
                if let Err(message) = self.route(cluster) {
                    log::error!("trino-gateway: {message}");
                    let body = b"Error 500 Internal Server Error: gateway could not route the request";
                    return self.reply(500, vec![("content-type", "text/plain")], Some(body));
                }
                self.gateway.metrics.routed(cluster, via);
                self.routed_to = Some(cluster);
                self.then = then;
                // A request the gateway may end itself keeps what that answer needs.
                if then != Then::PassThrough {
                    self.origin = Some(self.read_origin(matches!(then, Then::FailFastIfLost(_))));
                }
                if then == Then::LearnOrResend {
                    self.learn_from = Some(cluster);
                    self.keep_statement(end_of_stream);
                }
                Action::Continue
            }
            Decision::Reply(local) => {
                self.gateway.metrics.replied(local.reason);
                self.reply(local.status, vec![("content-type", local.content_type)], Some(local.body.as_bytes()))
            }
            Decision::Fail(failure) => self.fail(failure),
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(statement) = self.statement.as_mut().filter(|s| !s.complete) else { return Action::Continue };
        if statement.body.len() + body_size > self.gateway.router.config.failover.max_statement_bytes {
            // Too long to keep: this statement cannot be re-sent.
            self.statement = None;
            self.gateway.metrics.statement_too_big_to_resend();
            return Action::Continue;
        }
        match hostcalls::get_buffer(BufferType::HttpRequestBody, 0, body_size) {
            Ok(chunk) => {
                statement.body.extend_from_slice(&chunk.unwrap_or_default());
                statement.complete = end_of_stream;
            }
            Err(status) => {
                log::warn!("trino-gateway: cannot keep a statement body for failover: {status:?}");
                self.statement = None;
            }
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        let Some(cluster) = self.routed_to else { return Action::Continue };
        let status =
            hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status").ok().flatten().unwrap_or_default();
        if is_failure(&status) {
            self.mark_failed(cluster, &status);
            match self.then {
                Then::LearnOrResend => {
                    self.learn_from = None;
                    return self.resend_or_fail(cluster);
                }
                Then::FailFastIfLost(query_id) => {
                    return self.fail(self.gateway.router.lost_query(cluster, query_id, Loss::Unreachable));
                }
                Then::PassThrough => {}
            }
        }
        if let (Then::FailFastIfLost(query_id), "404") = (self.then, status.as_str()) {
            // "Query not found" from its own coordinator: a restart took it, or
            // it expired. Only a restart is named; anything else passes on.
            match self.gateway.router.restarted(&HostSharedData, cluster, &query_id) {
                Ok(Some(loss)) => return self.fail(self.gateway.router.lost_query(cluster, query_id, loss)),
                Ok(None) => {}
                Err(error) => {
                    log::warn!("trino-gateway: cannot read the health of a coordinator: {error:?}");
                    self.gateway.metrics.shared_data_error();
                }
            }
        }
        // Answered: nothing to re-send any more.
        self.statement = None;
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
        self.learn(cluster, &body);
        Action::Continue
    }
}
