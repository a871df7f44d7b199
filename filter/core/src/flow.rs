//! The request flow of one HTTP stream through the gateway, as an explicit
//! state machine over the `Host` seam. The wasm adapter forwards Envoy's
//! callbacks here one to one; the tests drive it with `mock::RecordingHost`.
//!
//! ```text
//!  request headers ──classify──decide──┬─ Reply/Fail ─────────────────────────> (answered by the gateway)
//!                                      ├─ (pass-through: /v1/info, web UI, /v1/query; its answer is not looked at)
//!                                      ├─ Watched ── response headers ─┬─────> pass
//!                                      │                               └─────> FAILED (owner failed / restarted)
//!                                      └─ Submitted (statement kept) ── response headers
//!                                             ├─ 200 ──> Learning ── body complete ──> learn query id → owner
//!                                             ├─ other ─> pass
//!                                             └─ 502/503/504 ──> Resending ── call answer ─┬─> relay the answer
//!                                                                     ^                    └─> next cluster / FAILED
//!                                                                     └────────────────────────┘
//! ```
//!
//! The hot path is short on purpose (see `tests::host_call_budget`): a
//! follow-up request reads `:path` and `:method`, reads one query-map bucket
//! and sets the routing header (plus `:scheme` and `:authority` when no
//! `public_uri` is configured); its answer costs one read of `:status`.
//! Forwarded-header edits are static in the Envoy route, counters of the
//! follow-up path are flushed on tick, and only new statements read health.
//!
//! Failover: a new statement is kept (headers as received, body up to
//! `failover.max_statement_bytes`, within the worker's memory budget) until
//! answered. If its coordinator fails first (connect failure, reset,
//! 502/503/504), it is re-sent to another eligible coordinator with an HTTP
//! call and the client gets that answer. Trino only registers a query on
//! POST, so this cannot run a query twice. A protocol request of a query
//! whose coordinator fails it, or no longer knows it after a restart, gets a
//! FAILED result naming the lost coordinator.

use crate::classify::{classify, method_matters, RequestKind};
use crate::coordinator_map::Entry;
use crate::failed_query::{self, Loss};
use crate::headers::{relayed_response_headers, resend_headers, ACCEPT_ENCODING};
use crate::health::Health;
use crate::host::{error, info, warn, Headers, Host};
use crate::query_id::{self, QueryId};
use crate::query_map::{LEARN_SEGMENTS, LEARN_TRANSACTION};
use crate::remote_lookup::{self, Lookup, LEASE_KEY};
use crate::router::{Choice, Decision, Failure, Learned, ReplyReason, Target, Then, Via};
use crate::routing_config::OverLimit;
use crate::rules::Statement;
use crate::segment_map::Scanner;
use crate::state_entry::Entry as StateEntry;
use crate::transaction::{
    self, Control, InTransaction, TransactionId, STARTED_TRANSACTION_ID_HEADER, TRANSACTION_ID_HEADER,
};
use crate::upstream_failure;
use crate::worker::{Reservation, Worker};
use std::rc::Rc;
use std::time::Duration;

/// What the host does after a callback: go on, or hold the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
}

/// What a FAILED answer needs from its request. Response callbacks cannot
/// read request headers (Envoy drops them once the request went upstream),
/// so it is taken in the request callback.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    /// A DELETE of a lost query gets 204, as for a query that ended.
    is_delete: bool,
    /// `scheme://authority` as the client called the gateway; None: the
    /// configured `public_uri`.
    base_uri: Option<String>,
}

/// A new statement kept for a possible re-send.
struct Kept {
    headers: Headers,
    body: Vec<u8>,
    /// The whole body has been seen.
    complete: bool,
    /// Clusters that failed this statement.
    tried: Vec<usize>,
    /// Its routing group (a re-send stays in it).
    target: Target,
    /// Its share of the worker's memory budget, given back on drop.
    reservation: Reservation,
}

/// What the answer to a new statement teaches besides its owner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Lesson {
    /// A `START TRANSACTION`: its follow-ups read the transaction it starts.
    starts_transaction: bool,
    /// A `COMMIT` or `ROLLBACK` of this transaction: it ends once accepted.
    ends: Option<TransactionId>,
    /// Its results are spooled: its data pages name segments.
    spooled: bool,
    /// A `START TRANSACTION` under self-routing URIs: its answer's URIs lose
    /// their prefix, so that its follow-ups (whose answers name the
    /// transaction) come through the filter rather than past it.
    unprefix: bool,
}

impl Lesson {
    fn of(control: Option<Control>, transaction: Option<TransactionId>) -> Lesson {
        match (control, transaction) {
            (Some(Control::Start), None) => Lesson { starts_transaction: true, ..Lesson::default() },
            (Some(Control::End), Some(id)) => Lesson { ends: Some(id), ..Lesson::default() },
            _ => Lesson::default(),
        }
    }
}

enum State {
    /// Nothing routed, or nothing left to do.
    Idle,
    /// A protocol request of `query_id`, watched for the loss of its
    /// coordinator; `learn`: the query's flags (`query_map::LEARN_*`), what
    /// its answer may teach.
    Watched { cluster: usize, query_id: QueryId, origin: Origin, learn: u8 },
    /// The 200 answer of a spooled query's page, read as it passes for the
    /// segments it names (never held: a page with inline data can be large).
    Scanning { cluster: usize, scanner: Scanner },
    /// A new statement sent to `cluster`, kept (when it fits) until answered.
    /// `transaction`: the one it runs in (never re-sent); `head`: the first
    /// `SNIFFED_BYTES` of its body, kept or not, for its transaction control.
    Submitted {
        cluster: usize,
        kept: Option<Kept>,
        origin: Origin,
        transaction: Option<TransactionId>,
        head: Vec<u8>,
        /// The client asked for spooled results (`X-Trino-Query-Data-Encoding`).
        asks_spooling: bool,
    },
    /// The 200 answer of a new statement, held until complete to learn its query id.
    Learning { cluster: usize, lesson: Lesson },
    /// Re-sent with an HTTP call (`token`) to `cluster`.
    Resending { token: u32, cluster: usize, kept: Kept, origin: Origin },
    /// A new statement held (headers paused, body buffered) until routing
    /// rules have read enough of it to pick its group; `buffered`: the body
    /// bytes Envoy holds so far.
    Choosing { headers: Headers, buffered: usize },
    /// Paused while the state store is asked (gRPC call `token`) for the
    /// entry that routes it; `fallback`: the decision without it.
    LookingUp { token: u32, lookup: Lookup, fallback: Decision, headers: Option<Headers>, end_of_stream: bool },
}

pub struct Flow {
    worker: Rc<Worker>,
    /// Envoy's id of this HTTP stream (0 in tests).
    context_id: u32,
    state: State,
    /// The routing group of the new statement being routed, for its `Kept`.
    target: Option<Target>,
    /// A new transaction's write-through to the state store (gRPC call),
    /// while the answer that names the transaction is held.
    write_through: Option<u32>,
}

/// Statuses that say the coordinator (or the way to it) failed: Envoy answers
/// 503 itself on connect failures and resets, Trino 503 when it cannot serve.
/// How much of a statement's start is looked at for its transaction control
/// (`START TRANSACTION`, `COMMIT`, `ROLLBACK`), after blanks and comments
/// such as dbt's query comment.
const SNIFFED_BYTES: usize = 4096;

/// Set on the follow-ups of a `START TRANSACTION` query under self-routing
/// URIs: the route that matches it adds no `X-Forwarded-Prefix` (see
/// envoy/envoy-self-routing.yaml). A client sending it only keeps its own
/// requests coming through the filter.
pub const UNPREFIXED_HEADER: &str = "x-trino-gateway-unprefixed";

/// Asked by a client for spooled results, and named by Trino on every answer of such a query.
const QUERY_DATA_ENCODING: &str = "x-trino-query-data-encoding";

fn is_failure(status: &str) -> bool {
    matches!(status, "502" | "503" | "504")
}

fn find<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Header pairs as the host calls take them.
fn borrowed(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

fn base_uri(scheme: Option<&str>, authority: Option<&str>) -> String {
    match (scheme, authority) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
        _ => String::new(),
    }
}

impl Flow {
    pub fn new(worker: Rc<Worker>) -> Flow {
        Flow::with_context(worker, 0)
    }

    pub fn with_context(worker: Rc<Worker>, context_id: u32) -> Flow {
        Flow { worker, context_id, state: State::Idle, target: None, write_through: None }
    }

    pub fn on_request_headers(&mut self, host: &dyn Host, end_of_stream: bool) -> Action {
        let worker = self.worker.clone();
        let router = &worker.router;
        let path = self.read(host, host.request_header(":path")).flatten().unwrap_or_default();
        // Only `/v1/statement` needs the method to classify, and a new
        // statement needs every header (to keep it): one call for both.
        let headers = if method_matters(&path) { self.read(host, host.request_headers()) } else { None };
        let method = headers.as_ref().and_then(|h| find(h, ":method")).unwrap_or_default();
        let kind = classify(method, &path);
        let in_transaction = match (kind, headers.as_ref()) {
            (RequestKind::NewStatement, Some(h)) => transaction::of_header(find(h, TRANSACTION_ID_HEADER)),
            _ => InTransaction::No,
        };
        let (decision, shared_error) = match &in_transaction {
            InTransaction::Yes(id) => router.transaction_owner(host, id, host.now_seconds()),
            InTransaction::Malformed(value) => (router.malformed_transaction(value), None),
            InTransaction::No if matches!(kind, RequestKind::NewStatement) => {
                match self.route_new_statement(host, headers.as_ref(), Statement::NotRead) {
                    Some(decided) => decided,
                    None if !end_of_stream => {
                        // Rules need the statement: hold it until its body is read
                        // (see `on_request_body`); nothing leaves with a client's
                        // routing header meanwhile.
                        if let Err(e) = host.remove_request_header(&router.config.routing_header) {
                            error(host, format_args!("trino-gateway: cannot clear the routing header: {e}"));
                            worker.metrics.host_call_error(host);
                        }
                        self.state = State::Choosing { headers: headers.unwrap_or_default(), buffered: 0 };
                        worker.held.hold(self.context_id, worker.clock());
                        return Action::Pause;
                    }
                    None => self
                        .route_new_statement(host, headers.as_ref(), Statement::Text(""))
                        .unwrap_or_else(|| router.decide(host, kind, &worker.current_health(host))),
                }
            }
            InTransaction::No => {
                // Placing a new query reads the health now: a cluster another worker
                // just saw failing must not get this statement too.
                // Pass-through requests use the snapshot of the last tick (no host call).
                let health = match kind {
                    RequestKind::NewStatement => worker.current_health(host),
                    RequestKind::AnyCoordinator | RequestKind::Other => worker.health_snapshot(),
                    _ => Vec::new(),
                };
                router.decide(host, kind, &health)
            }
        };
        if let Some(e) = shared_error {
            warn(host, format_args!("trino-gateway: shared data error while routing {path}: {e:?}"));
            worker.metrics.shared_data_error(host);
        }
        if let Some(lookup) = self.remote_lookup(&decision, kind, &in_transaction) {
            // Whatever happens meanwhile, the request never leaves with a
            // routing header a client sent.
            if let Err(e) = host.remove_request_header(&router.config.routing_header) {
                error(host, format_args!("trino-gateway: cannot clear the routing header: {e}"));
                worker.metrics.host_call_error(host);
            } else if let Some(token) = self.look_up(host, &lookup) {
                self.state = State::LookingUp { token, lookup, fallback: decision, headers, end_of_stream };
                return Action::Pause;
            }
        }
        self.act(host, decision, headers, end_of_stream)
    }

    /// A new statement outside a transaction: its routing group (the
    /// routing-group header, else the rules, else the default group) and a
    /// cluster of that group. None: the rules need the statement, not read yet.
    fn route_new_statement(
        &mut self,
        host: &dyn Host,
        headers: Option<&Headers>,
        statement: Statement<'_>,
    ) -> Option<(Decision, Option<crate::shared_data::SharedDataError>)> {
        let worker = self.worker.clone();
        let router = &worker.router;
        let routing = &router.config.routing;
        let choice = match headers {
            Some(headers) => router.choose_group(headers, statement),
            None => Choice::Group(routing.default_group),
        };
        let group = match choice {
            Choice::Group(group) => group,
            Choice::NeedsStatement => return None,
            Choice::Refuse(failure) => return Some((Decision::Fail(failure), None)),
        };
        let user = headers.and_then(|h| find(h, "x-trino-user")).map(str::to_string);
        let target = Target { group, user };
        // Placing a new query reads the health now: a cluster another worker
        // just saw failing must not get this statement too.
        let (placed, mut shared_error) =
            router.place_new_query(host, &worker.current_health(host), &target, &[], worker.clock());
        let decision = match placed {
            Ok(placed) => {
                if routing.configured {
                    worker.metrics.placed_in_group(host, placed.group, placed.group != group);
                }
                if let Err(e) = router.count_placement(host, placed.cluster) {
                    shared_error = Some(e);
                }
                self.target = Some(target);
                Decision::Route { cluster: placed.cluster, via: Via::NewQuery, then: Then::LearnOrResend }
            }
            Err(failure) => Decision::Fail(failure),
        };
        Some((decision, shared_error))
    }

    /// A held new statement (`State::Choosing`) has `body_size` bytes
    /// buffered, all of it (`end_of_stream`, or trailers came) or more than
    /// the cap: the rules read it, the statement is routed, and what Envoy
    /// holds is kept and sniffed as if it had never been held.
    fn route_held_statement(&mut self, host: &dyn Host, body_size: usize, end_of_stream: bool) -> Action {
        let State::Choosing { headers, .. } = std::mem::replace(&mut self.state, State::Idle) else {
            return Action::Continue;
        };
        let worker = self.worker.clone();
        worker.held.release(self.context_id);
        let router = &worker.router;
        let limit = router.config.routing.statement;
        let over_limit = body_size > limit.max_bytes;
        let text = match host.request_body(body_size.min(limit.max_bytes)) {
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) => {
                warn(host, format_args!("trino-gateway: cannot read a statement for routing rules: {e}"));
                worker.metrics.host_call_error(host);
                None
            }
        };
        worker.metrics.statement_read(host, over_limit);
        let statement = match (&text, over_limit, limit.over_limit) {
            (_, true, OverLimit::Fail) => None,
            (Some(text), false, _) | (Some(text), true, OverLimit::FirstBytes) => Some(Statement::Text(text)),
            _ => Some(Statement::Unavailable),
        };
        let (decision, shared_error) = match statement {
            None => (Decision::Fail(router.statement_too_large()), None),
            Some(statement) => self
                .route_new_statement(host, Some(&headers), statement)
                .unwrap_or_else(|| router.decide(host, RequestKind::NewStatement, &worker.current_health(host))),
        };
        if let Some(e) = shared_error {
            warn(host, format_args!("trino-gateway: shared data error while routing a statement: {e:?}"));
            worker.metrics.shared_data_error(host);
        }
        let action = self.act(host, decision, Some(headers), false);
        if action == Action::Continue {
            // What Envoy holds goes on now: kept and sniffed as usual.
            self.on_request_body_routed(host, body_size, end_of_stream);
        }
        action
    }

    /// The lookup that could route a request the local state cannot: with a
    /// state store, an unknown query (coordinator id unknown too) or an
    /// unknown transaction.
    fn remote_lookup(&self, decision: &Decision, kind: RequestKind, in_transaction: &InTransaction) -> Option<Lookup> {
        self.worker.router.config.state_store.as_ref()?;
        match (decision, kind, in_transaction) {
            (Decision::Reply(reply), RequestKind::QueryBound { query_id, .. }, _)
                if reply.reason == ReplyReason::UnknownQuery =>
            {
                Some(Lookup::Query { id: query_id, kind })
            }
            (Decision::Fail(failure), _, InTransaction::Yes(id))
                if failure.reason == ReplyReason::UnknownTransaction =>
            {
                Some(Lookup::Transaction { id: *id })
            }
            _ => None,
        }
    }

    /// Asks etcd for the lookup's key; None (after a log) if the call cannot be
    /// made, or this worker has `MAX_LOOKUPS_IN_FLIGHT` already (unknown ids
    /// sent in bulk must not turn into as many calls to the shared store).
    fn look_up(&self, host: &dyn Host, lookup: &Lookup) -> Option<u32> {
        let worker = &self.worker;
        let store = worker.router.config.state_store.as_ref()?;
        if !worker.lookup_started() {
            worker.metrics.remote_lookup(host, false);
            return None;
        }
        match remote_lookup::call(host, store, "Range", &lookup.request(&store.prefix)) {
            Ok(token) => Some(token),
            Err(e) => {
                warn(host, format_args!("trino-gateway: state store lookup not sent: {e}"));
                worker.metrics.host_call_error(host);
                worker.lookup_ended();
                None
            }
        }
    }

    /// Writes `entry` to etcd now (see `remote_lookup`); None when there is no
    /// store, no lease yet, or the call cannot be made (the sync writes it).
    fn write_through(&self, host: &dyn Host, entry: &StateEntry) -> Option<u32> {
        let worker = &self.worker;
        let store = worker.router.config.state_store.as_ref()?;
        let lease = match host.get(LEASE_KEY) {
            Ok((Some(value), _)) => remote_lookup::lease_of(&value)?,
            _ => return None,
        };
        let message = remote_lookup::write_through(&store.prefix, entry, lease)?;
        match remote_lookup::call(host, store, "Txn", &message) {
            Ok(token) => Some(token),
            Err(e) => {
                warn(host, format_args!("trino-gateway: state store write-through not sent: {e}"));
                worker.metrics.host_call_error(host);
                None
            }
        }
    }

    /// etcd answered a lookup (`status` 0) or did not: route with what it
    /// holds, else as without it, and let the request go on. Or it answered
    /// a write-through: let the held answer go on, whatever the outcome.
    pub fn on_grpc_call_response(&mut self, host: &dyn Host, token: u32, status: u32, size: usize) {
        if self.write_through == Some(token) {
            self.write_through = None;
            self.worker.metrics.write_through(host, status == 0);
            if let Err(e) = host.resume_response() {
                error(host, format_args!("trino-gateway: cannot resume an answer after a write-through: {e}"));
                self.worker.metrics.host_call_error(host);
            }
            return;
        }
        if !matches!(&self.state, State::LookingUp { token: t, .. } if *t == token) {
            return;
        }
        let State::LookingUp { lookup, fallback, headers, end_of_stream, .. } =
            std::mem::replace(&mut self.state, State::Idle)
        else {
            return;
        };
        let worker = self.worker.clone();
        worker.lookup_ended();
        let router = &worker.router;
        let prefix = router.config.state_store.as_ref().map_or("", |s| s.prefix.as_str());
        let now = host.now_seconds();
        let entry =
            if status == 0 { host.grpc_response(size).ok().and_then(|m| lookup.entry(prefix, &m)) } else { None };
        let recorded = entry.map(|entry| router.apply_remote(host, &entry, now));
        let decision = match recorded {
            Some(Ok(true)) => {
                worker.metrics.remote_lookup(host, true);
                match lookup {
                    Lookup::Query { kind, .. } => router.decide(host, kind, &[]).0,
                    Lookup::Transaction { id } => router.transaction_owner(host, &id, now).0,
                }
            }
            other => {
                if let Some(Err(e)) = other {
                    warn(host, format_args!("trino-gateway: cannot record a looked-up entry: {e:?}"));
                    worker.metrics.shared_data_error(host);
                }
                worker.metrics.remote_lookup(host, false);
                fallback
            }
        };
        if let Action::Continue = self.act(host, decision, headers, end_of_stream) {
            if let Err(e) = host.resume_request() {
                error(host, format_args!("trino-gateway: cannot resume a request after a lookup: {e}"));
                worker.metrics.host_call_error(host);
            }
        }
    }

    /// Carries out a routing decision for the request whose headers are being
    /// processed (now, or after a remote lookup).
    fn act(&mut self, host: &dyn Host, decision: Decision, headers: Option<Headers>, end_of_stream: bool) -> Action {
        let worker = self.worker.clone();
        let router = &worker.router;
        match decision {
            Decision::Route { cluster, via, then } => {
                // Set replaces every value a client may have sent: clients never pick a cluster.
                if let Err(e) = host.set_request_header(&router.config.routing_header, router.cluster_name(cluster)) {
                    error(host, format_args!("trino-gateway: cannot set the routing header: {e}"));
                    worker.metrics.host_call_error(host);
                    let body = b"Error 500 Internal Server Error: gateway could not route the request";
                    return self.reply(host, 500, &[("content-type", "text/plain")], Some(body));
                }
                worker.metrics.routed(host, cluster, via);
                self.state = match then {
                    // Not statement traffic: its answer marks nothing, so it is not even read.
                    Then::PassThrough => State::Idle,
                    Then::FailFastIfLost(query_id) => {
                        State::Watched { cluster, query_id, origin: self.read_origin(host), learn: 0 }
                    }
                    Then::FailFastAndLearn(query_id, learn) => {
                        if learn & LEARN_TRANSACTION != 0 && router.forwarded_prefix(cluster).is_some() {
                            // Its answers must keep coming through the filter until
                            // one names the transaction: no self-routing prefix.
                            if let Err(e) = host.set_request_header(UNPREFIXED_HEADER, "true") {
                                warn(host, format_args!("trino-gateway: cannot mark a request unprefixed: {e}"));
                                worker.metrics.host_call_error(host);
                            }
                        }
                        if learn & LEARN_SEGMENTS != 0 {
                            // Its data pages are read for segments: plain, please.
                            if let Err(e) = host.remove_request_header(ACCEPT_ENCODING) {
                                warn(host, format_args!("trino-gateway: cannot remove accept-encoding: {e}"));
                                worker.metrics.host_call_error(host);
                            }
                        }
                        State::Watched { cluster, query_id, origin: self.read_origin(host), learn }
                    }
                    Then::LearnOrResend | Then::InTransaction(_) => {
                        // Trino gzips the QueryResults of a client that accepts
                        // it (query-results.compression-enabled, on by default):
                        // ask for a plain answer, the one the filter must read.
                        if headers.as_ref().is_some_and(|h| find(h, ACCEPT_ENCODING).is_some()) {
                            if let Err(e) = host.remove_request_header(ACCEPT_ENCODING) {
                                warn(host, format_args!("trino-gateway: cannot remove accept-encoding: {e}"));
                                worker.metrics.host_call_error(host);
                            }
                        }
                        let origin = self.origin_of(host, headers.as_ref());
                        let transaction = match then {
                            Then::InTransaction(id) => Some(id),
                            _ => None,
                        };
                        // Segments route themselves under a self-routing prefix.
                        let asks_spooling = router.config.self_routing_prefix.is_none()
                            && headers.as_ref().is_some_and(|h| find(h, QUERY_DATA_ENCODING).is_some());
                        // A statement of a transaction is never re-sent: not kept.
                        let target = self
                            .target
                            .take()
                            .unwrap_or(Target { group: router.config.routing.default_group, user: None });
                        let kept = headers
                            .filter(|_| transaction.is_none())
                            .and_then(|h| self.keep(host, h, end_of_stream, target));
                        State::Submitted { cluster, kept, origin, transaction, head: Vec::new(), asks_spooling }
                    }
                };
                Action::Continue
            }
            Decision::Reply(local) => {
                worker.metrics.replied(host, local.reason);
                let headers = [("content-type", local.content_type)];
                self.reply(host, local.status, &headers, Some(local.body.as_bytes()))
            }
            Decision::Fail(failure) => {
                let origin = self.origin_of(host, headers.as_ref());
                self.fail(host, failure, &origin)
            }
        }
    }

    pub fn on_request_body(&mut self, host: &dyn Host, body_size: usize, end_of_stream: bool) -> Action {
        match &mut self.state {
            State::LookingUp { .. } => Action::Pause, // Held (buffered) until the lookup decides.
            State::Choosing { buffered, .. } => {
                // Envoy hands a paused body over whole each time (`body_size`
                // is all it holds): read once, when complete or at the cap.
                *buffered = body_size;
                self.worker.held.body_arrived();
                if !end_of_stream && body_size <= self.worker.router.config.routing.statement.max_bytes {
                    return Action::Pause;
                }
                self.route_held_statement(host, body_size, end_of_stream)
            }
            _ => self.on_request_body_routed(host, body_size, end_of_stream),
        }
    }

    /// Trailers must not let a request go on while a lookup decides where it
    /// goes; a statement held for the rules is routed with what was buffered.
    pub fn on_request_trailers(&mut self, host: &dyn Host) -> Action {
        match self.state {
            State::LookingUp { .. } => Action::Pause,
            State::Choosing { buffered, .. } => self.route_held_statement(host, buffered, true),
            _ => Action::Continue,
        }
    }

    /// Nor an answer that names a new transaction before etcd has it, nor a
    /// failed answer while its statement is re-sent.
    pub fn on_response_trailers(&mut self) -> Action {
        if self.write_through.is_some() || matches!(self.state, State::Resending { .. }) {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    fn on_request_body_routed(&mut self, host: &dyn Host, body_size: usize, end_of_stream: bool) -> Action {
        let State::Submitted { kept: slot, head, .. } = &mut self.state else { return Action::Continue };
        let Some(kept) = slot.as_mut().filter(|k| !k.complete) else {
            let wanted = SNIFFED_BYTES.saturating_sub(head.len()).min(body_size);
            if wanted > 0 {
                // Not kept: only the first bytes, for its transaction control.
                match host.request_body(wanted) {
                    Ok(first) => head.extend_from_slice(&first),
                    Err(e) => {
                        warn(host, format_args!("trino-gateway: cannot read a statement's first bytes: {e}"));
                        self.worker.metrics.host_call_error(host);
                    }
                }
            }
            return Action::Continue;
        };
        let failover = &self.worker.router.config.failover;
        let length = kept.body.len() + body_size;
        if length > failover.max_statement_bytes {
            *slot = None;
            self.worker.metrics.statement_too_big_to_resend(host);
            return Action::Continue;
        }
        if length > kept.body.capacity() {
            // Grow like Vec would, but only within the budget, and exactly.
            let capacity = length.max(kept.body.capacity() * 2).min(failover.max_statement_bytes);
            if !kept.reservation.grow(capacity - kept.body.capacity(), failover.max_kept_bytes_per_worker) {
                *slot = None;
                self.worker.metrics.statement_over_memory_budget(host);
                return Action::Continue;
            }
            kept.body.reserve_exact(capacity - kept.body.len());
        }
        match host.request_body(body_size) {
            Ok(chunk) => {
                let wanted = SNIFFED_BYTES.saturating_sub(head.len()).min(chunk.len());
                head.extend_from_slice(chunk.get(..wanted).unwrap_or_default());
                kept.body.extend_from_slice(&chunk);
                kept.complete = end_of_stream;
            }
            Err(e) => {
                warn(host, format_args!("trino-gateway: cannot keep a statement body for failover: {e}"));
                self.worker.metrics.host_call_error(host);
                *slot = None;
            }
        }
        Action::Continue
    }

    pub fn on_response_headers(&mut self, host: &dyn Host, end_of_stream: bool) -> Action {
        if !matches!(self.state, State::Watched { .. } | State::Submitted { .. }) {
            return Action::Continue;
        }
        let status = self.read(host, host.response_header(":status")).flatten().unwrap_or_default();
        let worker = self.worker.clone();
        let router = &worker.router;
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Watched { cluster, query_id, origin, learn } => {
                if is_failure(&status) {
                    // Proof of a lost query: the coordinator cannot be reached
                    // or dropped the request, or it is known to be down.
                    // Anything else (its own or a proxy's 503, a full pool, the
                    // route timeout) is passed on for the client to retry:
                    // failing the query would have it submitted again while it
                    // may still run.
                    if !self.confirmed_loss(host, cluster) {
                        worker.metrics.transient_failure(host);
                        return Action::Continue;
                    }
                    worker.mark_failed(host, cluster, &status);
                    return self.fail(host, router.lost_query(cluster, query_id, Loss::Unreachable), &origin);
                }
                if status == "404" {
                    // "Query not found" from its own coordinator: a restart took
                    // it, or it expired. Only a restart is named; anything else passes on.
                    match router.restarted(host, cluster, &query_id) {
                        Ok(Some(loss)) => return self.fail(host, router.lost_query(cluster, query_id, loss), &origin),
                        Ok(None) => {}
                        Err(e) => {
                            warn(host, format_args!("trino-gateway: cannot read the health of a coordinator: {e:?}"));
                            worker.metrics.shared_data_error(host);
                        }
                    }
                }
                if learn & LEARN_SEGMENTS != 0 && status == "200" && !end_of_stream {
                    self.state = State::Scanning { cluster, scanner: Scanner::default() };
                }
                if learn & LEARN_TRANSACTION != 0 && status == "200" {
                    self.write_through = self.learn_transaction(host, cluster);
                    if self.write_through.is_some() {
                        return Action::Pause; // Until etcd has it (see `remote_lookup`).
                    }
                }
            }
            State::Submitted { cluster, kept, origin, transaction, head, asks_spooling } => {
                if is_failure(&status) {
                    if let Some(id) = transaction {
                        // No other coordinator knows the transaction: only a
                        // confirmed loss ends it, anything else is passed on.
                        if !self.confirmed_loss(host, cluster) {
                            worker.metrics.transient_failure(host);
                            return Action::Continue;
                        }
                        worker.mark_failed(host, cluster, &status);
                        // Gone with its coordinator: its ROLLBACK must not fail as lost too.
                        if let Err(e) = router.end_transaction(host, &id) {
                            warn(host, format_args!("trino-gateway: cannot forget a transaction: {e:?}"));
                            worker.metrics.shared_data_error(host);
                        }
                        return self.fail(host, router.lost_transaction(cluster, &id), &origin);
                    }
                    worker.mark_failed(host, cluster, &status);
                    return self.resend_or_fail(host, kept, cluster, origin);
                }
                // Answered: the kept statement (and its budget) goes. Only a
                // 200 carries QueryResults; errors (400, 401, 406...) teach nothing.
                if status == "200" && !end_of_stream {
                    let mut lesson = Lesson::of(Some(transaction::control_of(&head)), transaction);
                    if lesson.starts_transaction && router.forwarded_prefix(cluster).is_some() {
                        // The body will change length: no content-length (chunked).
                        match host.remove_response_header("content-length") {
                            Ok(()) => lesson.unprefix = true,
                            Err(e) => {
                                warn(host, format_args!("trino-gateway: cannot remove content-length: {e}"));
                                worker.metrics.host_call_error(host);
                            }
                        }
                    }
                    // Trino names the encoding on every answer of a spooled query.
                    lesson.spooled =
                        asks_spooling && self.read(host, host.response_header(QUERY_DATA_ENCODING)).flatten().is_some();
                    self.state = State::Learning { cluster, lesson };
                }
            }
            other => self.state = other,
        }
        Action::Continue
    }

    pub fn on_response_body(&mut self, host: &dyn Host, body_size: usize, end_of_stream: bool) -> Action {
        if matches!(self.state, State::Resending { .. }) {
            // The failed coordinator's answer stays held while another one
            // answers (with allow_on_headers_stop_iteration, Envoy hands its
            // body over while the headers are stopped).
            return Action::Pause;
        }
        let action = self.on_response_body_seen(host, body_size, end_of_stream);
        // A body that goes on would let the held answer go too (Envoy continues
        // stopped headers with it): held until the write-through is answered.
        if self.write_through.is_some() {
            return Action::Pause;
        }
        action
    }

    fn on_response_body_seen(&mut self, host: &dyn Host, body_size: usize, end_of_stream: bool) -> Action {
        if let State::Scanning { cluster, scanner } = &mut self.state {
            let cluster = *cluster;
            let found = match host.response_body(body_size) {
                Ok(piece) => scanner.scan(&piece, end_of_stream),
                Err(e) => {
                    warn(host, format_args!("trino-gateway: cannot read a data page: {e}"));
                    self.worker.metrics.host_call_error(host);
                    Vec::new()
                }
            };
            if end_of_stream {
                self.state = State::Idle;
            }
            if !found.is_empty() {
                let worker = &self.worker;
                match worker.router.learn_segments(host, cluster, &found, host.now_seconds()) {
                    Ok(()) => worker.metrics.segments_learned(host, found.len()),
                    Err(e) => {
                        warn(host, format_args!("trino-gateway: cannot record spooled segments: {e:?}"));
                        worker.metrics.shared_data_error(host);
                    }
                }
            }
            return Action::Continue;
        }
        let State::Learning { cluster, lesson } = self.state else { return Action::Continue };
        if !end_of_stream {
            // Hold the (small) QueryResults until it is complete; it is passed on unchanged.
            return Action::Pause;
        }
        self.state = State::Idle;
        if let Some(body) = self.read(host, host.response_body(body_size)) {
            self.learn(host, cluster, &body, lesson);
            if lesson.unprefix {
                let unprefixed = self.worker.router.unprefixed(cluster, &body);
                if let Err(e) = host.set_response_body(body_size, &unprefixed) {
                    error(host, format_args!("trino-gateway: cannot rewrite a START TRANSACTION answer: {e}"));
                    self.worker.metrics.host_call_error(host);
                }
            }
        }
        Action::Continue
    }

    /// The answer to a re-sent statement (`num_headers` 0: reset, timeout or no connection).
    pub fn on_http_call_response(&mut self, host: &dyn Host, token: u32, num_headers: usize, body_size: usize) {
        if !matches!(self.state, State::Resending { token: t, .. } if t == token) {
            return;
        }
        let State::Resending { cluster, kept, origin, .. } = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        // An answer that cannot be read counts as none: relaying it would hand the client nothing.
        let answer = if num_headers == 0 {
            None
        } else {
            match (host.call_response_headers(), host.call_response_body(body_size)) {
                (Ok(headers), Ok(body)) => Some((headers, body)),
                (headers, body) => {
                    warn(
                        host,
                        format_args!("trino-gateway: cannot read a re-sent statement's answer: {headers:?} {body:?}"),
                    );
                    self.worker.metrics.host_call_error(host);
                    None
                }
            }
        };
        let status = answer.as_ref().and_then(|(h, _)| find(h, ":status")).unwrap_or_default().to_string();
        let Some((headers, body)) = answer.filter(|_| !is_failure(&status) && !status.is_empty()) else {
            self.worker.mark_failed(host, cluster, if status.is_empty() { "no answer" } else { &status });
            if self.resend_or_fail(host, Some(kept), cluster, origin) == Action::Continue {
                // Pass the first coordinator's failure on (clients retry 502/503/504).
                if let Err(e) = host.resume_response() {
                    error(host, format_args!("trino-gateway: cannot resume a response after a failed re-send: {e}"));
                }
            }
            return;
        };
        let body = if status == "200" {
            // Only statements outside a transaction are re-sent.
            let mut lesson = Lesson::of(Some(transaction::control_of(&kept.body)), None);
            lesson.spooled = self.worker.router.config.self_routing_prefix.is_none()
                && find(&kept.headers, QUERY_DATA_ENCODING).is_some()
                && find(&headers, QUERY_DATA_ENCODING).is_some();
            self.learn(host, cluster, &body, lesson);
            // A START TRANSACTION's answer loses its self-routing prefix, as when not re-sent.
            if lesson.starts_transaction {
                self.worker.router.unprefixed(cluster, &body)
            } else {
                body
            }
        } else {
            body
        };
        drop(kept);
        self.worker.metrics.failover(host);
        let code = status.parse::<u32>().unwrap_or(502);
        let headers = relayed_response_headers(headers);
        self.reply(host, code, &borrowed(&headers), Some(&body));
    }

    /// A host read; a failure is logged, counted and read as nothing.
    fn read<T>(&self, host: &dyn Host, result: Result<T, crate::host::HostError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                warn(host, format_args!("trino-gateway: host call failed: {e}"));
                self.worker.metrics.host_call_error(host);
                None
            }
        }
    }

    /// The origin of a follow-up request: its method, and `:scheme` and
    /// `:authority` only when no `public_uri` is configured.
    fn read_origin(&self, host: &dyn Host) -> Origin {
        let is_delete = self.read(host, host.request_header(":method")).flatten().as_deref() == Some("DELETE");
        let base_uri = if self.worker.router.config.public_uri.is_some() {
            None
        } else {
            let scheme = self.read(host, host.request_header(":scheme")).flatten();
            let authority = self.read(host, host.request_header(":authority")).flatten();
            Some(base_uri(scheme.as_deref(), authority.as_deref()))
        };
        Origin { is_delete, base_uri }
    }

    /// The origin of a new statement, from the headers already read (or read now if they could not be).
    fn origin_of(&self, host: &dyn Host, headers: Option<&Headers>) -> Origin {
        let Some(headers) = headers else { return self.read_origin(host) };
        let base_uri = match self.worker.router.config.public_uri {
            Some(_) => None,
            None => Some(base_uri(find(headers, ":scheme"), find(headers, ":authority"))),
        };
        Origin { is_delete: find(headers, ":method") == Some("DELETE"), base_uri }
    }

    /// Keep a new statement's headers for a possible re-send, within the
    /// statement size limit and the worker's memory budget.
    fn keep(&self, host: &dyn Host, headers: Headers, end_of_stream: bool, target: Target) -> Option<Kept> {
        let worker = &self.worker;
        let config = &worker.router.config;
        let length = find(&headers, "content-length").and_then(|l| l.parse::<usize>().ok());
        if length.is_some_and(|l| l > config.failover.max_statement_bytes) {
            worker.metrics.statement_too_big_to_resend(host);
            return None;
        }
        let headers = resend_headers(headers, &config.routing_header, config.coordinators_process_forwarded);
        let header_bytes: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
        let body_bytes = if end_of_stream { 0 } else { length.unwrap_or(0) };
        let Some(reservation) = worker.reserve(header_bytes + body_bytes) else {
            worker.metrics.statement_over_memory_budget(host);
            return None;
        };
        Some(Kept {
            headers,
            body: Vec::with_capacity(body_bytes),
            complete: end_of_stream,
            tried: Vec::new(),
            target,
            reservation,
        })
    }

    /// The coordinator of a new statement (`failed`) failed before answering:
    /// re-send it to the next eligible cluster it has not failed on, or end it
    /// with a FAILED result when none is left. Without a complete kept
    /// statement, the failure is passed on (clients retry 502/503/504).
    fn resend_or_fail(&mut self, host: &dyn Host, kept: Option<Kept>, failed: usize, origin: Origin) -> Action {
        let Some(mut kept) = kept.filter(|k| k.complete) else { return Action::Continue };
        kept.tried.push(failed);
        let worker = self.worker.clone();
        let router = &worker.router;
        let timeout = Duration::from_millis(router.config.failover.resend_timeout_ms);
        loop {
            let (placed, shared_error) =
                router.place_new_query(host, &worker.current_health(host), &kept.target, &kept.tried, worker.clock());
            if let Some(e) = shared_error {
                warn(host, format_args!("trino-gateway: shared data error while re-sending a statement: {e:?}"));
                worker.metrics.shared_data_error(host);
            }
            let cluster = match placed {
                Ok(placed) => placed.cluster,
                Err(failure) => return self.fail(host, failure, &origin),
            };
            let name = router.cluster_name(cluster);
            // The route adds the cluster's X-Forwarded-Prefix to what it sends
            // (self-routing URIs); an HTTP call gets no route edits, so here.
            let mut headers = borrowed(&kept.headers);
            if let Some(prefix) = router.forwarded_prefix(cluster) {
                headers.push(("x-forwarded-prefix", prefix));
            }
            match host.dispatch_http(name, &headers, Some(&kept.body), timeout) {
                Ok(token) => {
                    if let Err(e) = router.count_placement(host, cluster) {
                        warn(host, format_args!("trino-gateway: cannot count a re-sent statement: {e:?}"));
                        worker.metrics.shared_data_error(host);
                    }
                    let failed_name = router.cluster_name(failed);
                    info(
                        host,
                        format_args!("trino-gateway: re-sending a new statement to {name} after {failed_name} failed"),
                    );
                    worker.metrics.submission_resent(host);
                    self.state = State::Resending { token, cluster, kept, origin };
                    return Action::Pause;
                }
                Err(e) => {
                    warn(host, format_args!("trino-gateway: cannot re-send a statement to {name}: {e}"));
                    kept.tried.push(cluster);
                }
            }
        }
    }

    /// Whether a 502/503/504 answer of `cluster` proves the coordinator is
    /// lost: Envoy could not reach it or it dropped the request, or it is
    /// known to be down. Anything else (its own or a proxy's 503, a full
    /// pool, the route timeout) is passed on for the client to retry: failing
    /// the query would have it submitted again while it may still run.
    fn confirmed_loss(&self, host: &dyn Host, cluster: usize) -> bool {
        let details = self.read(host, host.response_code_details()).flatten().unwrap_or_default();
        let known_down = self.worker.health_snapshot().get(cluster) == Some(&Health::Unhealthy);
        upstream_failure::is_confirmed_loss(&details) || known_down
    }

    /// An answer of a `START TRANSACTION` query: record the transaction it
    /// names. With a state store, write it through: the token of that call.
    fn learn_transaction(&self, host: &dyn Host, cluster: usize) -> Option<u32> {
        let worker = &self.worker;
        let value = self.read(host, host.response_header(STARTED_TRANSACTION_ID_HEADER)).flatten()?;
        let id = TransactionId::parse(value.trim())?;
        match worker.router.learn_transaction(host, cluster, id, host.now_seconds()) {
            Ok(true) => {
                worker.metrics.transaction_started(host);
                let cluster = worker.router.cluster_name(cluster).to_string();
                let entry = StateEntry::Transaction { id, cluster };
                worker.publish(host, &entry);
                self.write_through(host, &entry)
            }
            Ok(false) => None,
            Err(e) => {
                warn(host, format_args!("trino-gateway: cannot record a transaction: {e:?}"));
                worker.metrics.shared_data_error(host);
                None
            }
        }
    }

    fn learn(&self, host: &dyn Host, cluster: usize, body: &[u8], lesson: Lesson) {
        let worker = &self.worker;
        let router = &worker.router;
        let now = host.now_seconds();
        let flags = if lesson.starts_transaction { LEARN_TRANSACTION } else { 0 }
            | if lesson.spooled { LEARN_SEGMENTS } else { 0 };
        let learned = router.learn_statement_response(host, cluster, body, now, &worker.coordinators(), flags);
        match learned {
            Ok(Learned::Query(query_id)) => {
                let name = router.cluster_name(cluster).to_string();
                worker.publish(host, &StateEntry::Query { id: query_id, cluster: name, flags });
                if let Some(id) = lesson.ends {
                    if let Err(e) = router.end_transaction(host, &id) {
                        warn(host, format_args!("trino-gateway: cannot forget a transaction: {e:?}"));
                        worker.metrics.shared_data_error(host);
                    }
                    worker.publish(host, &StateEntry::TransactionEnded { id });
                }
                if let Some(table_id) = router.table_id(cluster) {
                    let coordinator = query_id.coordinator_id();
                    if !crate::coordinator_map::is_fresh(&worker.coordinators(), coordinator, table_id, now) {
                        worker.note_coordinator(Entry { coordinator, cluster: table_id, seen_at: now });
                    }
                }
            }
            Ok(Learned::Unparseable) => worker.metrics.unparseable_response(host),
            Err(e) => {
                warn(host, format_args!("trino-gateway: cannot record a new query: {e:?}"));
                worker.metrics.shared_data_error(host);
            }
        }
    }

    /// End a query with the gateway's FAILED `QueryResults` (204 for a DELETE
    /// of a lost query: there is nothing left to cancel).
    fn fail(&mut self, host: &dyn Host, failure: Failure, origin: &Origin) -> Action {
        let worker = self.worker.clone();
        worker.metrics.replied(host, failure.reason);
        if matches!(failure.reason, ReplyReason::LostQuery | ReplyReason::LostTransaction) {
            info(host, format_args!("trino-gateway: {}", failure.message));
            if failure.reason == ReplyReason::LostQuery && origin.is_delete {
                return self.reply(host, 204, &[], None);
            }
        } else {
            warn(host, format_args!("trino-gateway: {}", failure.message));
        }
        let id = match failure.query_id {
            Some(id) => id.as_str().to_string(),
            // Numbered by the worker's turn counter: these ids only need to
            // look like Trino's, never to be routed.
            None => query_id::made_by_gateway(u64::from(host.now_seconds()), worker.router.next_local_turn() as u32),
        };
        let base = origin.base_uri.as_deref().or(worker.router.config.public_uri.as_deref()).unwrap_or_default();
        let body = failed_query::failed_results(&id, base, failure.error, &failure.message);
        self.reply(host, 200, &[("content-type", "application/json")], Some(body.as_bytes()))
    }

    /// Answer from the gateway; logs when even that fails.
    fn reply(&mut self, host: &dyn Host, status: u32, headers: &[(&str, &str)], body: Option<&[u8]>) -> Action {
        self.state = State::Idle;
        if let Err(e) = host.send_response(status, headers, body) {
            error(host, format_args!("trino-gateway: cannot send a local reply: {e}"));
            self.worker.metrics.host_call_error(host);
        }
        Action::Pause
    }
}

/// A request that ends (the client went away) while its lookup is out
/// frees its place among the worker's lookups in flight.
impl Drop for Flow {
    fn drop(&mut self) {
        match self.state {
            State::LookingUp { .. } => self.worker.lookup_ended(),
            State::Choosing { .. } => self.worker.held.release(self.context_id),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
