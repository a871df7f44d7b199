//! The coordinator's protocol state machine, independent of the HTTP server:
//! statement submission and paging (Trino's QueuedStatementResource and
//! ExecutingStatementResource), transactions, abandonment, and the status and
//! web-UI resources. Handlers return a `Reply`, or ask the server to call again
//! later so it can long-poll (`maxWait`, at most 1 s) as Trino does.

use crate::base64;
use crate::config::{format_duration, parse_duration, Config};
use crate::ids::{
    format_instant, random_bytes, random_coordinator_id, unix_millis, QueryIdGenerator, Slug, SlugContext,
};
use crate::reply::{jetty_error, Handled, Reply};
use crate::results::{columns_json, error_json, query_results, rows_json, statement_stats, Page, Progress, QueryState};
use crate::session::{url_encode, Protocol, SessionContext};
use crate::spooling::{Encoding, SegmentCipher, SegmentStore};
use crate::sql::error::{self as codes, QueryError};
use crate::sql::types::Value;
use crate::sql::{self, Column, Environment, Outcome};
use crate::sql::{Engine, Statement};
use crate::web_ui::{percent_decode, WebUi};
use http::{HeaderMap, Method};
use serde_json::{json, Value as Json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// query.max-length default.
const MAX_QUERY_LENGTH: usize = 1_000_000;
/// Longest long-poll of the statement resources (and the default).
const MAX_WAIT: Duration = Duration::from_secs(1);
/// How often a long-polling queued request looks for a free running slot.
const QUEUE_POLL: Duration = Duration::from_millis(20);

/// A request as the coordinator sees it.
pub struct Request<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// When the server received it; a long poll ends at `received + maxWait`.
    pub received: Instant,
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn max_wait(&self) -> Duration {
        self.query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|kv| kv.strip_prefix("maxWait="))
            .and_then(|v| parse_duration(&percent_decode(v)).ok())
            .map_or(MAX_WAIT, |d| d.min(MAX_WAIT))
    }

    /// The user, from `X-Trino-User` or Basic credentials without a password
    /// (Trino's insecure authenticator).
    fn user(&self) -> Result<String, Reply> {
        self.user_for(&Protocol::trino())
    }

    /// `InsecureAuthenticator`: the original user, else the user header, else
    /// Basic credentials without a password.
    fn user_for(&self, protocol: &Protocol) -> Result<String, Reply> {
        // The session user is the user header's; the original user alone also authenticates.
        for name in ["user", "original-user"] {
            if let Some(user) = self.header(&protocol.request_header(name)).map(str::trim).filter(|u| !u.is_empty()) {
                return Ok(user.to_string());
            }
        }
        let basic =
            self.header("authorization").and_then(|a| a.strip_prefix("Basic ")).and_then(|b| base64::decode(b.trim()));
        if let Some(credentials) = basic.and_then(|b| String::from_utf8(b).ok()) {
            let (user, password) = credentials.split_once(':').unwrap_or((&credentials, ""));
            if !password.is_empty() {
                return Err(unauthenticated("Password not allowed for insecure authentication"));
            }
            if !user.is_empty() {
                return Ok(user.to_string());
            }
        }
        Err(unauthenticated("Basic authentication or X-Trino-Original-User or X-Trino-User must be sent"))
    }
}

fn unauthenticated(message: &str) -> Reply {
    Reply::with_body(401, "text/plain; charset=utf-8", message).header("WWW-Authenticate", "Basic realm=\"Trino\"")
}

/// What a dispatched query produces.
enum Work {
    Rows {
        columns: Vec<Column>,
        rows: Vec<Vec<Value>>,
        /// INSERT, DELETE, CREATE TABLE AS: `updateType` and `updateCount`.
        update: Option<(&'static str, u64)>,
    },
    /// A statement without rows; `headers` go on every executing page.
    Update { update_type: &'static str, headers: Vec<(String, String)> },
}

struct Query {
    id: String,
    slug: Slug,
    sql: String,
    user: String,
    source: Option<String>,
    /// The session the headers carried, as SET/RESET/USE/PREPARE change it for the next statement.
    session: SessionContext,
    /// `X-Trino-*`, or the configured alternate (`X-Presto-*`) family.
    protocol: Protocol,
    catalog: Option<String>,
    schema: Option<String>,
    /// `X-Trino-Transaction-Id` was sent (Trino's clientTransactionSupport).
    client_transaction_support: bool,
    transaction_id: Option<String>,
    created: Instant,
    created_ms: u128,
    /// The `/* emulator: runtime_ms=N */` hint.
    runtime: Duration,
    /// A write (DDL, INSERT, DELETE…) slowed by the runtime hint runs when
    /// that time is up, as Trino commits a write when the query finishes: a
    /// query killed or canceled before then leaves the catalog untouched.
    deferred: Option<Statement>,
    state: QueryState,
    /// Last token served by the queued resource (the POST is token 0).
    queued_token: u64,
    /// In the resource group's queue, waiting for a running slot.
    waiting: bool,
    /// The statement to run once it leaves the queue.
    statement: Option<Statement>,
    /// The negotiated spooling encoding (None: plain row arrays).
    encoding: Option<Encoding>,
    dispatched_at: Option<Instant>,
    work: Option<Work>,
    error: Option<QueryError>,
    /// Rows already handed out.
    next_row: usize,
    /// Paging state of the executing resource (Trino's `Query`).
    last_token: Option<u64>,
    last_page: Option<Reply>,
    next_token: Option<u64>,
    last_heartbeat: Instant,
    last_heartbeat_ms: u128,
    finished_at: Option<Instant>,
}

impl Query {
    /// Dispatched and not done: it holds a slot of the resource group.
    fn active(&self) -> bool {
        self.dispatched_at.is_some() && !self.state.is_done()
    }

    /// When its results are ready (the runtime hint counts from dispatch).
    fn ready_at(&self) -> Instant {
        self.dispatched_at.unwrap_or(self.created) + self.runtime
    }

    fn heartbeat(&mut self) {
        self.last_heartbeat = Instant::now();
        self.last_heartbeat_ms = unix_millis();
    }

    fn fail(&mut self, error: QueryError) {
        if !self.state.is_done() {
            self.state = QueryState::Failed;
            self.error = Some(error);
        }
    }

    fn progress(&self) -> Progress {
        let queued = self.dispatched_at.map_or(self.created.elapsed(), |d| d - self.created);
        let rows = self.next_row as u64;
        Progress {
            elapsed_ms: self.created.elapsed().as_millis() as u64,
            queued_ms: queued.as_millis() as u64,
            processed_rows: rows,
            processed_bytes: rows * 8,
        }
    }
}

struct State {
    ids: QueryIdGenerator,
    queries: HashMap<String, Query>,
    /// Finished queries, oldest first, for expiry.
    history: VecDeque<String>,
    transactions: HashSet<String>,
    /// The `global` resource group's queue, oldest first.
    waiting: VecDeque<String>,
    /// Spooled segments at rest (the object storage).
    segments: SegmentStore,
}

impl State {
    /// Queries holding a running slot of the resource group.
    fn running(&self) -> usize {
        self.queries.values().filter(|q| q.active()).count()
    }
}

pub struct Coordinator {
    config: Config,
    coordinator_id: String,
    started: Instant,
    web_ui: WebUi,
    cipher: SegmentCipher,
    /// Where the segment storage listens (set once it is bound).
    storage_address: OnceLock<SocketAddr>,
    /// GETs of executing URIs so far (for `--fail-every`).
    executing_gets: AtomicU64,
    /// The SQL engine and its catalogs (shared ones live in `--catalog-dir`).
    engine: Arc<Engine>,
    state: Mutex<State>,
}

impl Coordinator {
    /// Fails when a catalog cannot be opened (e.g. a damaged `--catalog-dir`).
    pub fn new(config: Config) -> Result<Coordinator, String> {
        let coordinator_id = config.coordinator_id.clone().unwrap_or_else(random_coordinator_id);
        let engine = Arc::new(Engine::open(&config.catalogs, &config.catalog_dirs)?);
        Ok(Coordinator {
            engine,
            started: Instant::now(),
            web_ui: WebUi::new(),
            state: Mutex::new(State {
                ids: QueryIdGenerator::new(coordinator_id.clone()),
                queries: HashMap::new(),
                history: VecDeque::new(),
                transactions: HashSet::new(),
                waiting: VecDeque::new(),
                segments: SegmentStore::new(),
            }),
            cipher: SegmentCipher::new(&config.spooling_shared_secret_key.map_or_else(random_bytes, |k| k.0)),
            storage_address: OnceLock::new(),
            executing_gets: AtomicU64::new(0),
            coordinator_id,
            config,
        })
    }

    pub fn coordinator_id(&self) -> &str {
        &self.coordinator_id
    }

    /// Fault injection for one incoming request (once per request, before
    /// any long poll): every `--fail-every`th GET of an executing URI is
    /// answered 503.
    pub fn injected_fault(&self, method: &Method, path: &str) -> Option<Reply> {
        let fail = self.config.fail_every;
        if fail == 0 || method != Method::GET || !path.starts_with("/v1/statement/executing/") {
            return None;
        }
        let n = self.executing_gets.fetch_add(1, Ordering::Relaxed) + 1;
        n.is_multiple_of(fail).then(|| Reply::text(503, "Service Unavailable"))
    }

    /// Records where the segment storage listens (pre-signed URLs name it).
    pub fn set_storage_address(&self, address: SocketAddr) {
        let _ = self.storage_address.set(address);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn starting(&self) -> bool {
        self.started.elapsed() < Duration::from_millis(self.config.startup_ms)
    }

    pub fn handle(&self, request: &Request<'_>) -> Handled {
        let handled = self.route(request);
        // query-results.compression-enabled=false: the statement resources
        // answer with an explicit identity encoding, which the HTTP layer honours.
        match handled {
            Handled::Reply(reply)
                if !self.config.query_results_compression_enabled
                    && reply.status == 200
                    && request.path.starts_with("/v1/statement") =>
            {
                Handled::Reply(reply.header("Content-Encoding", "identity"))
            }
            other => other,
        }
    }

    fn route(&self, request: &Request<'_>) -> Handled {
        let base = self.base_uri(request);
        // Jetty refuses ambiguous paths before anything else runs.
        let resolved = match crate::path::resolve(request.path) {
            Ok(segments) => segments,
            Err(reason) => {
                return Handled::Reply(jetty_error(
                    400,
                    reason,
                    &format!("{base}{}", request.path),
                    request.header("accept"),
                ))
            }
        };
        if !self.config.process_forwarded {
            // airlift's RejectForwardedRequestCustomizer, before any resource runs.
            if let Some(name) = request.headers.keys().find(|n| n.as_str().starts_with("x-forwarded-")) {
                let message = format!(
                    "Server configuration does not allow processing of the {} header",
                    canonical_header(name.as_str())
                );
                return Handled::Reply(jetty_error(
                    406,
                    &message,
                    &format!("{base}{}", request.path),
                    request.header("accept"),
                ));
            }
        }
        let segments: Vec<&str> = resolved.iter().map(String::as_str).collect();
        let reply = match (request.method, segments.as_slice()) {
            (&Method::POST, ["v1", "statement"]) => self.submit(request, &base),
            (_, ["v1", "statement", "queued", id, slug, token]) => return self.queued(request, &base, id, slug, token),
            (&Method::DELETE, ["v1", "statement", "executing", "partialCancel", id, _stage, slug, token]) => {
                self.partial_cancel(id, slug, token)
            }
            (_, ["v1", "statement", "executing", id, slug, token]) => {
                return self.executing(request, &base, id, slug, token)
            }
            (&Method::GET, ["v1", "spooled", "download", id]) => self.download_segment(request, id),
            (&Method::GET, ["v1", "spooled", "ack", id]) => self.acknowledge_segment(request, id),
            (&Method::GET, ["v1", "info"]) => Reply::json(200, &self.info()),
            (&Method::GET, ["v1", "info", "state"]) => Reply::json(200, &json!("ACTIVE")),
            // MANAGEMENT_WRITE: authenticated, then refused by the default access control.
            (&Method::PUT, ["v1", "info", "state"]) => match request.user() {
                Ok(_) => Reply::mapped_error(403, "Management only resource"),
                Err(reply) => reply,
            },
            // `WebUiStaticResource`: the root and `/ui` redirect to `/ui/`, whose
            // page needs a login (the form login redirects to it without one).
            (&Method::GET, ["ui"]) if request.path.ends_with('/') => self.ui_page(request, &base, ""),
            (&Method::GET, [] | ["ui"]) => Reply::empty(303).header("Location", format!("{base}/ui/")),
            (&Method::GET, ["v1", "info", "coordinator"]) => Reply::empty(200),
            (&Method::GET | &Method::HEAD, ["v1", "status"]) => Reply::json(200, &self.status()),
            (&Method::GET, ["v1", "query", id]) => match request.user() {
                Ok(_) => self.query_info(id, &base),
                Err(reply) => reply,
            },
            (&Method::DELETE, ["v1", "query", id]) => match request.user() {
                Ok(_) => self.cancel_by_id(id),
                Err(reply) => reply,
            },
            (&Method::POST, ["ui", "login"]) => self.web_ui.login(&String::from_utf8_lossy(request.body), &base),
            (&Method::GET, ["ui", "api", "stats"]) => {
                self.with_ui_user(request, || Reply::json(200, &self.cluster_stats()))
            }
            (&Method::GET, ["ui", "api", "query", id]) => self.with_ui_user(request, || self.query_info(id, &base)),
            (&Method::GET, ["ui", "query.html"]) => self.query_page(request, &base),
            _ => Reply::mapped_error(404, "HTTP 404 Not Found"),
        };
        Handled::Reply(reply)
    }

    /// `{scheme}://{host}{prefix}`, built as Trino's ExternalUriInfo does: from
    /// the request, rewritten by X-Forwarded-* only when forwarding is processed.
    fn base_uri(&self, request: &Request<'_>) -> String {
        let host = request.header("host").unwrap_or("localhost").to_string();
        if !self.config.process_forwarded {
            return format!("http://{host}");
        }
        let first = |name: &str| {
            request
                .header(name)
                .and_then(|v| v.split(',').next())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let scheme = first("x-forwarded-proto").unwrap_or_else(|| "http".into());
        let mut authority = first("x-forwarded-host").unwrap_or(host);
        if let Some(port) = first("x-forwarded-port") {
            authority = format!("{}:{port}", strip_port(&authority));
        }
        let prefix = first("x-forwarded-prefix").map(|p| p.trim_end_matches('/').to_string()).unwrap_or_default();
        format!("{scheme}://{authority}{prefix}")
    }

    fn environment(&self, query: &Query) -> Environment {
        Environment {
            engine: self.engine.clone(),
            node_id: self.config.node_id.clone(),
            http_uri: format!("http://{}", self.config.listen),
            node_version: self.config.node_version.clone(),
            session_catalog: query.catalog.clone(),
            session_schema: query.schema.clone(),
            prepared: query.session.prepared.clone(),
            time_zone: query.session.time_zone.clone(),
            start_ms: query.created_ms,
        }
    }

    // ---- POST /v1/statement: registers the query, nothing more -------------

    fn submit(&self, request: &Request<'_>, base: &str) -> Reply {
        let protocol = match Protocol::detect(request.headers, self.config.alternate_header_name.as_deref()) {
            Ok(protocol) => protocol,
            Err(reply) => return reply,
        };
        let header = |name: &str| request.header(&protocol.request_header(name));
        let user = match request.user_for(&protocol) {
            Ok(user) => user,
            Err(reply) => return reply,
        };
        if request.body.is_empty() {
            return Reply::mapped_error(400, "SQL statement is empty");
        }
        let transaction_header = header("transaction-id").map(str::trim);
        let transaction_id =
            transaction_header.filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("none")).map(str::to_string);
        if let Some(id) = &transaction_id {
            if !is_uuid(id) {
                return Reply::text(400, &format!("Invalid UUID string: {id}"));
            }
        }
        let catalog = header("catalog").map(|c| c.trim().to_lowercase()).filter(|c| !c.is_empty());
        let schema = header("schema").map(|c| c.trim().to_lowercase()).filter(|c| !c.is_empty());
        if schema.is_some() && catalog.is_none() {
            return Reply::mapped_error(400, "Schema is set but catalog is not");
        }
        let session = match SessionContext::from_headers(request.headers, &protocol) {
            Ok(session) => session,
            Err(reply) => return reply,
        };
        // Spooling only when enabled and the client names an encoding this
        // server knows; otherwise the direct protocol, without an error.
        let encoding = request
            .header("x-trino-query-data-encoding")
            .filter(|_| self.config.spooling)
            .and_then(Encoding::negotiate);
        let source = header("source").map(str::to_string);
        let now = Instant::now();
        let mut state = self.lock();
        let id = state.ids.next_id();
        let sql = String::from_utf8_lossy(request.body).into_owned();
        let query = Query {
            id: id.clone(),
            slug: Slug::random(),
            runtime: runtime_hint(&sql),
            deferred: None,
            sql,
            user,
            source,
            session,
            protocol,
            catalog,
            schema,
            client_transaction_support: transaction_header.is_some(),
            transaction_id,
            created: now,
            created_ms: unix_millis(),
            state: QueryState::Queued,
            queued_token: 0,
            waiting: false,
            statement: None,
            encoding,
            dispatched_at: None,
            work: None,
            error: None,
            next_row: 0,
            last_token: None,
            last_page: None,
            next_token: Some(0),
            last_heartbeat: now,
            last_heartbeat_ms: unix_millis(),
            finished_at: None,
        };
        let body = queued_results(&query, base, 1, None);
        let reply = with_encoding(Reply::json(200, &body).for_query(&id), &query);
        state.queries.insert(id.clone(), query);
        reply
    }

    // ---- /v1/statement/queued/{queryId}/{slug}/{token} ---------------------

    fn queued(&self, request: &Request<'_>, base: &str, id: &str, slug: &str, token: &str) -> Handled {
        let not_found = || Handled::Reply(Reply::mapped_error(404, "Query not found").for_query(id));
        let mut guard = self.lock();
        self.start_waiting(&mut guard);
        // Counted only for a query about to enter the resource group, not on every poll.
        let submitting =
            guard.queries.get(id).is_some_and(|q| q.dispatched_at.is_none() && !q.waiting && !q.state.is_done());
        let running = if submitting { guard.running() } else { 0 };
        let State { queries, transactions, history, waiting, .. } = &mut *guard;
        let Some(query) = queries.get_mut(id) else {
            return not_found();
        };
        let Some(token) = token.parse::<u64>().ok().filter(|t| query.slug.is_valid(SlugContext::QueuedQuery, slug, *t))
        else {
            return not_found();
        };
        match *request.method {
            Method::DELETE => {
                // Only a submitted query can be canceled; an unsubmitted one expires.
                if query.dispatched_at.is_some() || query.waiting {
                    query.fail(QueryError::new(codes::USER_CANCELED, "Query was canceled"));
                    finish(query, waiting, history);
                }
                return Handled::Reply(Reply::empty(204).for_query(id));
            }
            Method::GET => {}
            _ => return Handled::Reply(Reply::mapped_error(405, "HTTP 405 Method Not Allowed").for_query(id)),
        }
        if token != query.queued_token && token != query.queued_token + 1 {
            return Handled::Reply(Reply::mapped_error(410, "Invalid token").for_query(id));
        }
        query.queued_token = token;
        query.heartbeat();
        if query.dispatched_at.is_none() && !query.waiting && !query.state.is_done() {
            self.submit_to_resource_group(query, running, waiting, transactions);
            if query.state == QueryState::Failed {
                finish(query, waiting, history);
            }
        }
        if query.waiting {
            // Still queued: long-poll, then answer QUEUED with the next queued URI.
            let deadline = request.received + request.max_wait();
            let now = Instant::now();
            if now < deadline {
                return Handled::WaitUntil((now + QUEUE_POLL).min(deadline));
            }
            let body = queued_results(query, base, token + 1, None);
            return Handled::Reply(with_encoding(Reply::json(200, &body).for_query(id), query));
        }
        // Failures of dispatch (parsing, session, transactions, start-up, a
        // full queue) are reported here; the query never gets an executing resource.
        let failed_in_dispatch = query.state == QueryState::Failed && query.work.is_none();
        let body = if failed_in_dispatch {
            queued_results(query, base, token + 1, query.error.as_ref())
        } else {
            let mut body = queued_results(query, base, token + 1, None);
            body["nextUri"] = json!(executing_uri(base, query, 0));
            body
        };
        Handled::Reply(with_encoding(Reply::json(200, &body).for_query(id), query))
    }

    /// What Trino's DispatchManager does before a query reaches its resource
    /// group (start-up, text length, transaction, parsing, prepared statements,
    /// session properties), then the group's hard limits: run now, wait in the
    /// queue, or fail QUERY_QUEUE_FULL.
    fn submit_to_resource_group(
        &self,
        query: &mut Query,
        running: usize,
        waiting: &mut VecDeque<String>,
        transactions: &mut HashSet<String>,
    ) {
        let statement = match self.check_dispatch(query, transactions) {
            Ok(statement) => statement,
            Err(error) => {
                query.dispatched_at = Some(Instant::now());
                return query.fail(error);
            }
        };
        if running < self.config.max_running && waiting.is_empty() {
            return self.start(query, statement, transactions);
        }
        if waiting.len() >= self.config.max_queued {
            query.dispatched_at = Some(Instant::now());
            return query.fail(QueryError::new(codes::QUERY_QUEUE_FULL, "Too many queued queries for \"global\""));
        }
        query.waiting = true;
        query.statement = Some(statement);
        waiting.push_back(query.id.clone());
    }

    /// Starts queued queries while the group has running slots, oldest first.
    fn start_waiting(&self, state: &mut State) {
        if state.waiting.is_empty() {
            return;
        }
        while state.running() < self.config.max_running {
            let Some(id) = state.waiting.pop_front() else { break };
            let State { queries, transactions, .. } = state;
            let Some(query) = queries.get_mut(&id).filter(|q| q.waiting) else { continue };
            query.waiting = false;
            match query.statement.take() {
                Some(statement) => self.start(query, statement, transactions),
                None => query.dispatched_at = Some(Instant::now()),
            }
        }
    }

    fn check_dispatch(&self, query: &Query, transactions: &HashSet<String>) -> Result<Statement, QueryError> {
        if self.starting() {
            return Err(QueryError::new(codes::SERVER_STARTING_UP, "Trino server is still initializing"));
        }
        if query.sql.len() > MAX_QUERY_LENGTH {
            let message =
                format!("Query text length ({}) exceeds the maximum length ({MAX_QUERY_LENGTH})", query.sql.len());
            return Err(QueryError::new(codes::QUERY_TEXT_TOO_LARGE, message));
        }
        if let Some(tx) = query.transaction_id.as_ref().filter(|tx| !transactions.contains(*tx)) {
            let message = format!(
                "Unknown transaction ID: {tx}. Possibly expired? Commands ignored until end of transaction block"
            );
            return Err(QueryError::new(codes::UNKNOWN_TRANSACTION, message));
        }
        sql::clock::check_time_zone(&query.session.time_zone)?;
        let environment = self.environment(query);
        for (name, value) in &query.session.properties {
            sql::session_properties::check_header_property(name, value, &environment.catalogs())?;
        }
        let statement = sql::parse(&query.sql)?;
        sql::prepare(statement, &environment)
    }

    /// The query leaves the queue and runs: planning and execution errors come
    /// out of the executing resource.
    fn start(&self, query: &mut Query, statement: Statement, transactions: &mut HashSet<String>) {
        query.dispatched_at = Some(Instant::now());
        query.state = QueryState::Running;
        if statement.writes() && !query.runtime.is_zero() {
            query.deferred = Some(statement);
            query.work = Some(Work::Update { update_type: "", headers: Vec::new() });
            return;
        }
        self.run(query, statement, transactions);
    }

    /// Executes the statement; its outcome becomes the query's work.
    fn run(&self, query: &mut Query, statement: Statement, transactions: &mut HashSet<String>) {
        let outcome = sql::execute(&statement, &self.environment(query))
            .and_then(|outcome| self.transaction_step(query, outcome, transactions));
        match outcome {
            Ok(work) => query.work = Some(work),
            Err(error) => {
                query.work = Some(Work::Update { update_type: "", headers: Vec::new() });
                query.fail(error);
            }
        }
    }

    /// What a statement's outcome hands back: rows, or an update whose
    /// response headers change the client's session (transactions, SET/RESET
    /// SESSION, USE, PREPARE, DEALLOCATE).
    fn transaction_step(
        &self,
        query: &Query,
        outcome: Outcome,
        transactions: &mut HashSet<String>,
    ) -> Result<Work, QueryError> {
        let header = |name: &str, value: String| vec![(query.protocol.response_header(name), value)];
        Ok(match outcome {
            Outcome::Rows(result) => Work::Rows { columns: result.columns, rows: result.rows, update: None },
            Outcome::Modified { update_type, count } => Work::Rows {
                columns: vec![Column { name: "rows".into(), ty: sql::types::Type::Bigint }],
                rows: vec![vec![Value::Int(count as i64)]],
                update: Some((update_type, count)),
            },
            Outcome::Ddl(update_type) => Work::Update { update_type, headers: Vec::new() },
            Outcome::StartTransaction => {
                if !query.client_transaction_support {
                    return Err(QueryError::new(codes::INCOMPATIBLE_CLIENT, "Client does not support transactions"));
                }
                if query.transaction_id.is_some() {
                    return Err(QueryError::new(codes::NOT_SUPPORTED, "Nested transactions not supported"));
                }
                let tx = new_uuid();
                transactions.insert(tx.clone());
                Work::Update { update_type: "START TRANSACTION", headers: header("Started-Transaction-Id", tx) }
            }
            Outcome::Commit | Outcome::Rollback => {
                let Some(tx) = &query.transaction_id else {
                    return Err(QueryError::new(codes::NOT_IN_TRANSACTION, "No transaction in progress"));
                };
                transactions.remove(tx);
                let update_type = if outcome == Outcome::Commit { "COMMIT" } else { "ROLLBACK" };
                Work::Update { update_type, headers: header("Clear-Transaction-Id", "true".into()) }
            }
            Outcome::SetSession { name, value } => Work::Update {
                update_type: "SET SESSION",
                headers: header("Set-Session", format!("{name}={}", url_encode(&value))),
            },
            Outcome::ResetSession { name } => {
                Work::Update { update_type: "RESET SESSION", headers: header("Clear-Session", name) }
            }
            Outcome::Use { catalog, schema } => {
                let mut headers = catalog.map(|c| header("Set-Catalog", c)).unwrap_or_default();
                headers.extend(header("Set-Schema", schema));
                Work::Update { update_type: "USE", headers }
            }
            Outcome::Prepare { name, sql } => Work::Update {
                update_type: "PREPARE",
                headers: header("Added-Prepare", format!("{}={}", url_encode(&name), url_encode(&sql))),
            },
            Outcome::Deallocate { name } => {
                Work::Update { update_type: "DEALLOCATE", headers: header("Deallocated-Prepare", url_encode(&name)) }
            }
        })
    }

    // ---- /v1/statement/executing/{queryId}/{slug}/{token} ------------------

    fn executing(&self, request: &Request<'_>, base: &str, id: &str, slug: &str, token: &str) -> Handled {
        let not_found = || Handled::Reply(Reply::mapped_error(404, "Query not found").for_query(id));
        let mut guard = self.lock();
        let State { queries, history, segments, waiting, transactions, .. } = &mut *guard;
        let Some(query) = queries.get_mut(id).filter(|q| q.work.is_some()) else {
            return not_found();
        };
        let Some(token) =
            token.parse::<u64>().ok().filter(|t| query.slug.is_valid(SlugContext::ExecutingQuery, slug, *t))
        else {
            return not_found();
        };
        query.heartbeat();
        match *request.method {
            // The executing resource knows a query only from its first GET on (Trino 475+).
            Method::HEAD if query.last_token.is_none() => return not_found(),
            Method::HEAD => return Handled::Reply(Reply::empty(200).for_query(id)),
            Method::DELETE => {
                query.fail(QueryError::new(codes::USER_CANCELED, "Query was canceled"));
                finish(query, waiting, history);
                return Handled::Reply(Reply::empty(204).for_query(id));
            }
            Method::GET => {}
            _ => return Handled::Reply(Reply::mapped_error(405, "HTTP 405 Method Not Allowed").for_query(id)),
        }
        // The same token again: the same page again (a safe retry).
        if query.last_token == Some(token) {
            if let Some(page) = &query.last_page {
                return Handled::Reply(page.clone());
            }
        }
        if query.last_token.is_some_and(|last| token < last) {
            return Handled::Reply(Reply::empty(410).for_query(id));
        }
        if query.next_token != Some(token) {
            return Handled::Reply(Reply::empty(404).for_query(id));
        }
        // Long-poll while the query is still running (the runtime hint).
        let ready_at = query.ready_at();
        let poll_deadline = request.received + request.max_wait();
        let now = Instant::now();
        let running = query.state == QueryState::Running && now < ready_at;
        if running && now < poll_deadline {
            return Handled::WaitUntil(ready_at.min(poll_deadline));
        }
        if !running && query.state == QueryState::Running {
            if let Some(statement) = query.deferred.take() {
                self.run(query, statement, transactions);
            }
        }
        let page = self.next_page(query, segments, base, token, running);
        query.last_token = Some(token);
        query.last_page = Some(page.clone());
        if query.next_token.is_none() {
            finish(query, waiting, history);
        }
        Handled::Reply(page)
    }

    fn partial_cancel(&self, id: &str, slug: &str, token: &str) -> Reply {
        let state = self.lock();
        let valid = state.queries.get(id).is_some_and(|q| {
            token.parse::<u64>().ok().is_some_and(|t| q.slug.is_valid(SlugContext::ExecutingQuery, slug, t))
        });
        if valid {
            Reply::empty(204).for_query(id)
        } else {
            Reply::mapped_error(404, "Query not found").for_query(id)
        }
    }

    /// `DELETE /v1/query/{id}`: 204 whether or not the query is known (`QueryResource`).
    fn cancel_by_id(&self, id: &str) -> Reply {
        let mut guard = self.lock();
        let State { queries, waiting, history, .. } = &mut *guard;
        if let Some(query) = queries.get_mut(id) {
            if query.dispatched_at.is_some() || query.waiting {
                query.fail(QueryError::new(codes::USER_CANCELED, "Query was canceled"));
                finish(query, waiting, history);
            }
        }
        Reply::empty(204).for_query(id)
    }

    /// The page for `token`: rows, an update result, the error, or (still running) nothing.
    fn next_page(
        &self,
        query: &mut Query,
        segments: &mut SegmentStore,
        base: &str,
        token: u64,
        running: bool,
    ) -> Reply {
        let page_rows = self.config.page_rows.max(1);
        let mut headers = Vec::new();
        let (mut columns, mut data, mut update_type) = (None, None, None);
        let mut update_count = None;
        let mut has_more = true;
        if running {
            // Nothing yet: an empty page pointing at the next token.
        } else if query.state == QueryState::Failed {
            has_more = false;
        } else {
            let mut failure = None;
            match &query.work {
                Some(Work::Rows { columns: cols, rows, update }) => {
                    if let Some((kind, count)) = update {
                        update_type = Some(*kind);
                        update_count = Some(*count);
                    }
                    columns = Some(columns_json(cols));
                    let end = (query.next_row + page_rows).min(rows.len());
                    if query.next_row < end {
                        let page = rows_json(cols, &rows[query.next_row..end]);
                        let encoded = match query.encoding {
                            Some(encoding) => {
                                let count = end - query.next_row;
                                self.segments(segments, &query.id, encoding, page, count, query.next_row, base)
                            }
                            None => Ok(page),
                        };
                        match encoded {
                            Ok(page) => data = Some(page),
                            Err(error) => failure = Some(error),
                        }
                        query.next_row = end;
                    } else {
                        has_more = false;
                        query.state = QueryState::Finished;
                    }
                }
                Some(Work::Update { update_type: kind, headers: session_headers }) => {
                    update_type = Some(*kind);
                    headers.extend(session_headers.iter().cloned());
                    has_more = false;
                    query.state = QueryState::Finished;
                }
                None => has_more = false,
            }
            // Rows that cannot be handed out fail the query rather than vanish.
            if let Some(error) = failure {
                query.fail(error);
                data = None;
                has_more = false;
            }
        }
        query.next_token = has_more.then_some(token + 1);
        if !has_more {
            // Every row has been handed out: keep only what the final page needs.
            if let Some(Work::Rows { rows, .. }) = &mut query.work {
                *rows = Vec::new();
            }
        }
        let next_uri = query.next_token.map(|t| executing_uri(base, query, t));
        let body = query_results(Page {
            id: &query.id,
            info_uri: info_uri(base, &query.id),
            partial_cancel_uri: None,
            next_uri,
            columns,
            data,
            stats: statement_stats(query.state, query.progress()),
            error: if query.state == QueryState::Failed { query.error.as_ref() } else { None },
            update_type,
            update_count,
        });
        let mut reply = with_encoding(Reply::json(200, &body).for_query(&query.id), query);
        reply.headers.extend(headers);
        reply
    }

    // ---- housekeeping ------------------------------------------------------

    /// Run every second: drop never-fetched registrations and fail abandoned
    /// queries after query.client.timeout; expire finished queries after
    /// query.min-expire-age once more than query.max-history are kept.
    pub fn purge(&self) {
        let timeout = self.config.query_client_timeout;
        let mut guard = self.lock();
        let State { queries, transactions, history, waiting, segments, .. } = &mut *guard;
        queries.retain(|_, q| q.dispatched_at.is_some() || q.waiting || q.last_heartbeat.elapsed() <= timeout);
        for query in queries.values_mut() {
            // Ended (e.g. failed on leaving the queue) but nobody fetched the end.
            if query.state.is_done() && query.finished_at.is_none() && query.last_heartbeat.elapsed() > timeout {
                finish(query, waiting, history);
                continue;
            }
            if !query.state.is_done() && query.last_heartbeat.elapsed() > timeout {
                let message = format!(
                    "Query {} was abandoned by the client, as it may have exited or stopped checking for query results. Query results have not been accessed since {}: currentTime {}",
                    query.id,
                    format_instant(query.last_heartbeat_ms),
                    format_instant(unix_millis())
                );
                query.fail(QueryError::new(codes::ABANDONED_QUERY, message));
                if let Some(tx) = &query.transaction_id {
                    transactions.remove(tx);
                }
                finish(query, waiting, history);
            }
        }
        while history.len() > self.config.query_max_history {
            let Some(oldest) = history.front() else { break };
            let finished = queries.get(oldest).and_then(|q| q.finished_at);
            if finished.is_some_and(|at| at.elapsed() <= self.config.query_min_expire_age) {
                break;
            }
            if let Some(id) = history.pop_front() {
                queries.remove(&id);
            }
        }
        segments.retain(|query_id| queries.contains_key(query_id));
        self.start_waiting(&mut guard);
    }

    /// Live queries, for tests and logs.
    pub fn query_count(&self) -> usize {
        self.lock().queries.len()
    }

    // ---- status resources --------------------------------------------------

    /// `ServerInfo`: Trino 477 added `nodeId`, `state` and `coordinatorId`;
    /// 470–476 answer only the five older fields (`ServerInfoResource`).
    fn info(&self) -> Json {
        let uptime = format_duration(self.started.elapsed());
        if release_number(&self.config.node_version).is_some_and(|n| n < 477) {
            return json!({
                "nodeVersion": {"version": self.config.node_version},
                "environment": self.config.environment,
                "coordinator": true,
                "starting": self.starting(),
                "uptime": uptime,
            });
        }
        json!({
            "nodeId": self.config.node_id,
            "state": "ACTIVE",
            "nodeVersion": {"version": self.config.node_version},
            "environment": self.config.environment,
            "coordinator": true,
            "coordinatorId": self.coordinator_id,
            "starting": self.starting(),
            "uptime": uptime,
        })
    }

    fn status(&self) -> Json {
        let address = self.config.listen.ip().to_string();
        json!({
            "nodeId": self.config.node_id,
            "nodeVersion": {"version": self.config.node_version},
            "environment": self.config.environment,
            "coordinator": true,
            "uptime": format_duration(self.started.elapsed()),
            "externalAddress": address,
            "internalAddress": address,
            "memoryInfo": {"pool": {"maxBytes": 0, "reservedBytes": 0, "reservedRevocableBytes": 0,
                "queryMemoryReservations": {}, "queryMemoryAllocations": {}, "queryMemoryRevocableReservations": {},
                "taskMemoryReservations": {}, "taskMemoryRevocableReservations": {}}},
            "processors": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "processCpuLoad": 0.0,
            "systemCpuLoad": 0.0,
            "heapUsed": 0,
            "heapAvailable": 0,
            "nonHeapUsed": 0,
        })
    }

    fn cluster_stats(&self) -> Json {
        let state = self.lock();
        // ClusterStatsResource: QUEUED queries are those the dispatcher holds
        // in the resource group's queue; registered but never fetched ones are
        // not known to it yet.
        let queued = state.waiting.len();
        // A running query whose results are ready but not yet fetched is
        // fully blocked on its output buffer: Trino counts it as blocked, not
        // running (a client that never fetches the last page, like the Python
        // client's `EXECUTE IMMEDIATE 'SELECT 1'` probe, leaves one so until
        // query.client.timeout abandons it).
        let now = Instant::now();
        let (mut running, mut blocked) = (0, 0);
        for query in state.queries.values().filter(|q| q.active()) {
            if now < query.ready_at() || query.deferred.is_some() {
                running += 1;
            } else {
                blocked += 1;
            }
        }
        json!({
            "runningQueries": running,
            "blockedQueries": blocked,
            "queuedQueries": queued,
            "activeCoordinators": 1,
            "activeWorkers": 1,
            "runningDrivers": 0,
            "totalAvailableProcessors": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "reservedMemory": 0.0,
            "totalInputRows": 0,
            "totalInputBytes": 0,
            "totalCpuTimeSecs": 0,
        })
    }

    /// `GET /v1/query/{id}`: a basic QueryInfo; 410 for a query this coordinator does not know.
    fn query_info(&self, id: &str, base: &str) -> Reply {
        let state = self.lock();
        let Some(query) = state.queries.get(id) else {
            return Reply::mapped_error(410, "HTTP 410 Gone").for_query(id);
        };
        let mut info = json!({
            "queryId": query.id,
            "session": {
                "queryId": query.id,
                "user": query.user,
                "source": query.source,
                "catalog": query.catalog,
                "schema": query.schema,
                "transactionId": query.transaction_id,
                "clientTransactionSupport": query.client_transaction_support,
            },
            "state": query.state.as_str(),
            "self": format!("{base}/v1/query/{}", query.id),
            "query": query.sql,
            "queryStats": {
                "createTime": format_instant(query.created_ms),
                "elapsedTime": format_duration(query.created.elapsed()),
            },
            "scheduled": query.dispatched_at.is_some(),
            "finalQueryInfo": query.state.is_done(),
        });
        if let Some(error) = &query.error {
            info["errorType"] = json!(error.code.error_type.as_str());
            info["errorCode"] =
                json!({"code": error.code.code, "name": error.code.name, "type": error.code.error_type.as_str()});
            info["failureInfo"] = error_json(error)["failureInfo"].clone();
        }
        Reply::json(200, &info).for_query(id)
    }

    // ---- web UI ------------------------------------------------------------

    fn with_ui_user(&self, request: &Request<'_>, ok: impl FnOnce() -> Reply) -> Reply {
        match self.web_ui.user(request.headers) {
            Some(_) => ok(),
            None => WebUi::unauthorized(),
        }
    }

    /// `/ui/query.html?{id}`: other UI pages redirect to the login form.
    fn query_page(&self, request: &Request<'_>, base: &str) -> Reply {
        let id = request.query.unwrap_or_default();
        self.ui_page(request, base, id).for_query(id)
    }

    /// A web UI page: the login form without a session cookie of this coordinator.
    fn ui_page(&self, request: &Request<'_>, base: &str, query_id: &str) -> Reply {
        match self.web_ui.user(request.headers) {
            None => Reply::empty(303).header("Location", format!("{base}/ui/login.html")),
            Some(_) if query_id.is_empty() => Reply::with_body(
                200,
                "text/html",
                "<!DOCTYPE html><html><head><title>Cluster Overview - Trino</title></head><body><div id=\"content\"></div></body></html>",
            ),
            Some(_) => Reply::with_body(
                200,
                "text/html",
                format!("<!DOCTYPE html><html><head><title>Query details - {query_id}</title></head><body><div id=\"content\" data-query-id=\"{query_id}\"></div></body></html>"),
            ),
        }
    }
}

/// A query that ended (canceled, abandoned, failed): it leaves the resource
/// group's queue if it waited there, drops the rows nobody will fetch, and
/// enters the history that expiry walks (once).
fn finish(query: &mut Query, waiting: &mut VecDeque<String>, history: &mut VecDeque<String>) {
    if query.waiting {
        query.waiting = false;
        query.statement = None;
        waiting.retain(|id| *id != query.id);
        query.dispatched_at = Some(Instant::now());
    }
    if let Some(Work::Rows { rows, .. }) = &mut query.work {
        *rows = Vec::new();
    }
    if query.finished_at.is_none() {
        query.finished_at = Some(Instant::now());
        history.push_back(query.id.clone());
    }
}

/// `X-Trino-Query-Data-Encoding` on every statement answer of a spooling query.
fn with_encoding(reply: Reply, query: &Query) -> Reply {
    match query.encoding {
        Some(encoding) => reply.header("X-Trino-Query-Data-Encoding", encoding.name()),
        None => reply,
    }
}

fn queued_results(query: &Query, base: &str, next_token: u64, error: Option<&QueryError>) -> Json {
    let state = if error.is_some() { QueryState::Failed } else { QueryState::Queued };
    let next_uri = error.is_none().then(|| {
        format!(
            "{base}/v1/statement/queued/{}/{}/{next_token}",
            query.id,
            query.slug.make(SlugContext::QueuedQuery, next_token)
        )
    });
    query_results(Page {
        id: &query.id,
        info_uri: info_uri(base, &query.id),
        partial_cancel_uri: None,
        next_uri,
        columns: None,
        data: None,
        stats: statement_stats(state, query.progress()),
        error,
        update_type: None,
        update_count: None,
    })
}

fn executing_uri(base: &str, query: &Query, token: u64) -> String {
    format!(
        "{base}/v1/statement/executing/{}/{}/{token}",
        query.id,
        query.slug.make(SlugContext::ExecutingQuery, token)
    )
}

fn info_uri(base: &str, id: &str) -> String {
    format!("{base}/ui/query.html?{id}")
}

/// The `/* emulator: runtime_ms=N */` comment hint (Trino ignores comments).
pub fn runtime_hint(sql: &str) -> Duration {
    let ms = sql
        .match_indices("/*")
        .filter_map(|(start, _)| {
            let rest = &sql[start + 2..];
            let comment = &rest[..rest.find("*/")?];
            let hint = comment.trim().strip_prefix("emulator:")?;
            hint.split_whitespace().find_map(|kv| kv.strip_prefix("runtime_ms=")?.parse::<u64>().ok())
        })
        .next()
        .unwrap_or(0);
    Duration::from_millis(ms)
}

/// The release number of a Trino version string (`476`, `480-e.1`, `477-SNAPSHOT`).
fn release_number(version: &str) -> Option<u32> {
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn strip_port(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) && !host.is_empty() => host,
        _ => authority,
    }
}

fn is_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn new_uuid() -> String {
    let mut b: [u8; 16] = random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// `x-forwarded-proto` → `X-Forwarded-Proto`, as Jetty names the header in its error.
fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

mod spooled;
#[cfg(test)]
mod tests;
