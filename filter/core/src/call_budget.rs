//! Test support (compiled for tests and with the `testing` feature, never
//! into the filter): request scenarios driven through `RecordingHost`, and the
//! host calls each request kind costs, phase by phase. The budget tests in
//! `flow::tests` assert these exactly; `examples/host_calls` prints them for
//! BENCHMARKS.md.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::flow::{Action, Flow};
use crate::mock::{Call, RecordingHost};
use crate::worker::Worker;
use std::rc::Rc;

pub const PLUGIN: &str = r#"{"clusters": [{"name": "a"}, {"name": "b"}], "public_uri": "http://gw:8080"}"#;
pub const NO_PUBLIC_URI: &str = r#"{"clusters": [{"name": "a"}, {"name": "b"}]}"#;
pub const ID_A: &str = "20261125_101305_00001_aaaaa";
pub const ID_A2: &str = "20261125_101307_00003_aaaaa";
pub const ID_B: &str = "20261125_101306_00002_bbbbb";
pub const ROUTING: &str = "x-trino-gateway-cluster";
pub const TX_ID: &str = "7f0c3a7e-5d4b-4c0e-9a3e-1b2c3d4e5f60";
const ENCODING: &str = "x-trino-query-data-encoding";

pub fn worker(host: &RecordingHost, plugin: &str) -> Rc<Worker> {
    Rc::new(Worker::configure(host, plugin.as_bytes()).unwrap_or_else(|| panic!("{:?}", host.logs.borrow())))
}

pub fn statement_answer(id: &str) -> Vec<u8> {
    format!(r#"{{"id":"{id}","infoUri":"http://gw:8080/ui/query.html?{id}","nextUri":"http://gw:8080/v1/statement/queued/{id}/y1/1","stats":{{"state":"QUEUED"}}}}"#).into_bytes()
}

pub fn post_headers(length: usize) -> Vec<(&'static str, String)> {
    vec![
        (":method", "POST".into()),
        (":path", "/v1/statement".into()),
        (":scheme", "http".into()),
        (":authority", "gw:8080".into()),
        ("x-trino-user", "alice".into()),
        ("accept-encoding", "gzip, deflate".into()),
        ("content-length", length.to_string()),
        ("x-forwarded-proto", "http".into()),
        (ROUTING, "attacker-chosen".into()),
    ]
}

pub fn request(host: &RecordingHost, headers: &[(&str, String)]) {
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    host.request(&pairs);
}

pub fn routed_to(host: &RecordingHost) -> Option<String> {
    host.request_headers.borrow().iter().find(|(n, _)| n == ROUTING).map(|(_, v)| v.clone())
}

/// Submit `sql` through a new flow; the coordinator answers `answer` with `status`.
pub fn submit(
    host: &RecordingHost,
    worker: &Rc<Worker>,
    sql: &str,
    status: &str,
    answer: &[u8],
) -> (Flow, Option<String>) {
    submit_with(host, worker, &[], sql, status, &[], answer)
        .unwrap_or_else(|| panic!("the gateway answered {sql:?} itself"))
}

/// `submit` with `extra` request headers, and `answer_headers` on the
/// coordinator's answer. None when the gateway answered the statement itself.
pub fn submit_with(
    host: &RecordingHost,
    worker: &Rc<Worker>,
    extra: &[(&'static str, &str)],
    sql: &str,
    status: &str,
    answer_headers: &[(&str, &str)],
    answer: &[u8],
) -> Option<(Flow, Option<String>)> {
    let mut flow = Flow::new(worker.clone());
    let mut headers = post_headers(sql.len());
    headers.extend(extra.iter().map(|(n, v)| (*n, v.to_string())));
    request(host, &headers);
    if flow.on_request_headers(host, false) == Action::Pause {
        return None;
    }
    let cluster = routed_to(host);
    *host.request_chunk.borrow_mut() = sql.as_bytes().to_vec();
    assert_eq!(flow.on_request_body(host, sql.len(), true), Action::Continue);
    let mut response = vec![(":status", status), ("content-type", "application/json")];
    response.extend_from_slice(answer_headers);
    host.respond(&response, answer);
    if flow.on_response_headers(host, false) == Action::Continue && status == "200" {
        assert_eq!(flow.on_response_body(host, answer.len() / 2, false), Action::Pause, "held until complete");
        assert_eq!(flow.on_response_body(host, answer.len(), true), Action::Continue);
    }
    Some((flow, cluster))
}

pub fn follow_up_request(host: &RecordingHost, worker: &Rc<Worker>, method: &str, path: &str) -> (Flow, Action) {
    let mut flow = Flow::new(worker.clone());
    host.request(&[(":method", method), (":path", path), (":scheme", "http"), (":authority", "gw:8080")]);
    let action = flow.on_request_headers(host, true);
    (flow, action)
}

pub fn executing(id: &str) -> String {
    format!("/v1/statement/executing/{id}/y2/5")
}

/// The query-map bucket read of a query id (with `PLUGIN`'s bound).
pub fn bucket_of(id: &str) -> Call {
    let config = crate::config::Config::parse(PLUGIN.as_bytes()).unwrap();
    let bucket = crate::query_id::QueryId::parse(id).unwrap().bucket(config.bucket_count());
    Call::SharedGet(crate::query_map::bucket_key(bucket))
}

/// The host calls of one request, by callback; body chunk reads left out.
#[derive(Debug, Default)]
pub struct Phases {
    pub kind: &'static str,
    pub request: Vec<Call>,
    pub request_body: Vec<Call>,
    pub response: Vec<Call>,
    pub response_body: Vec<Call>,
}

impl Phases {
    pub fn total(&self) -> usize {
        self.request.len() + self.request_body.len() + self.response.len() + self.response_body.len()
    }
}

fn calls(host: &RecordingHost) -> Vec<Call> {
    host.take_calls().into_iter().filter(|c| !c.is_body_read()).collect()
}

/// `GET /v1/statement/executing/...` of a query this worker placed, answered 200.
pub fn follow_up(public_uri: bool) -> Phases {
    let host = RecordingHost::new();
    let w = worker(&host, if public_uri { PLUGIN } else { NO_PUBLIC_URI });
    submit(&host, &w, "SELECT 1", "200", &statement_answer(ID_A));
    let kind = if public_uri { "follow-up (`public_uri` set)" } else { "follow-up (no `public_uri`)" };
    follow_up_phases(&host, &w, kind)
}

/// The same, on a worker that has not seen the query before (its first request there).
pub fn follow_up_elsewhere() -> Phases {
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    submit(&host, &w, "SELECT 1", "200", &statement_answer(ID_A));
    let other = host.sibling();
    let w2 = worker(&other, PLUGIN);
    follow_up_phases(&other, &w2, "follow-up, first on another worker")
}

fn follow_up_phases(host: &RecordingHost, w: &Rc<Worker>, kind: &'static str) -> Phases {
    host.take_calls();
    let (mut flow, _) = follow_up_request(host, w, "GET", &executing(ID_A));
    let request = calls(host);
    host.respond(&[(":status", "200")], b"{}");
    flow.on_response_headers(host, false);
    let response = calls(host);
    flow.on_response_body(host, 2, true);
    Phases { kind, request, request_body: vec![], response, response_body: calls(host) }
}

/// The host calls of `SELECT 1` with `extra` request headers, answered 200,
/// by callback, on a worker the caller has prepared.
fn statement_phases(
    host: &RecordingHost,
    w: &Rc<Worker>,
    kind: &'static str,
    extra: &[(&'static str, &str)],
) -> Phases {
    host.take_calls();
    let mut flow = Flow::new(w.clone());
    let mut headers = post_headers(8);
    headers.extend(extra.iter().map(|(n, v)| (*n, v.to_string())));
    request(host, &headers);
    flow.on_request_headers(host, false);
    let request_side = calls(host);
    *host.request_chunk.borrow_mut() = b"SELECT 1".to_vec();
    flow.on_request_body(host, 8, true);
    let request_body = calls(host);
    let answer = statement_answer(ID_A2);
    host.respond(&[(":status", "200")], &answer);
    flow.on_response_headers(host, false);
    let response = calls(host);
    flow.on_response_body(host, answer.len(), true);
    Phases { kind, request: request_side, request_body, response, response_body: calls(host) }
}

/// `POST /v1/statement` in the steady state (both coordinators known), answered 200.
pub fn new_statement() -> Phases {
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    submit(&host, &w, "SELECT 0", "200", &statement_answer(ID_A));
    submit(&host, &w, "SELECT 0", "200", &statement_answer(ID_B));
    w.refresh(&host);
    statement_phases(&host, &w, "new statement", &[])
}

/// A statement inside a transaction (the transaction learned), answered 200.
pub fn transaction_statement() -> Phases {
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    submit(&host, &w, "START TRANSACTION", "200", &statement_answer(ID_A));
    let (mut flow, _) = follow_up_request(&host, &w, "GET", &executing(ID_A));
    host.respond(&[(":status", "200"), ("x-trino-started-transaction-id", TX_ID)], b"{}");
    flow.on_response_headers(&host, false);
    statement_phases(&host, &w, "statement in a transaction", &[("x-trino-transaction-id", TX_ID)])
}

/// A data page of a query whose results are spooled (its page read as it passes), and a
/// download of a segment it named.
pub fn spooled() -> [Phases; 2] {
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    let encoding = [(ENCODING, "json+zstd")];
    submit_with(&host, &w, &encoding, "SELECT 1", "200", &encoding, &statement_answer(ID_A));
    host.take_calls();
    let (mut flow, _) = follow_up_request(&host, &w, "GET", &executing(ID_A));
    let request_side = calls(&host);
    let page = br#"{"data":{"segments":[{"type":"spooled","ackUri":"http://gw/v1/spooled/ack/c2VnbWVudA=="}]}}"#;
    host.respond(&[(":status", "200")], page);
    flow.on_response_headers(&host, false);
    let response = calls(&host);
    flow.on_response_body(&host, page.len(), true);
    let page_phases = Phases {
        kind: "data page of a spooled query",
        request: request_side,
        request_body: vec![],
        response,
        response_body: calls(&host),
    };
    let (_, _) = follow_up_request(&host, &w, "GET", "/v1/spooled/download/c2VnbWVudA==");
    let download = Phases { kind: "segment download or ack", request: calls(&host), ..Phases::default() };
    [page_phases, download]
}

/// A request any coordinator answers (`/v1/info`) or one of the web UI (`/ui/login`).
pub fn pass_through(path: &'static str) -> Phases {
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    host.take_calls();
    let (mut flow, _) = follow_up_request(&host, &w, "GET", path);
    let request = calls(&host);
    host.respond(&[(":status", "200")], b"");
    flow.on_response_headers(&host, true);
    Phases { kind: path, request, request_body: vec![], response: calls(&host), response_body: vec![] }
}

/// A follow-up of a query no coordinator is known for: Trino's 404 from the gateway.
pub fn unknown_query() -> Phases {
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    host.take_calls();
    follow_up_request(&host, &w, "GET", &executing(ID_B));
    Phases { kind: "unknown query (404 from the gateway)", request: calls(&host), ..Phases::default() }
}

pub fn all() -> Vec<Phases> {
    vec![follow_up(true), follow_up_elsewhere(), follow_up(false), new_statement(), transaction_statement()]
        .into_iter()
        .chain(spooled())
        .chain([pass_through("/v1/info"), pass_through("/ui/login"), unknown_query()])
        .collect()
}

/// A markdown table of `all()`.
pub fn table() -> String {
    let list = |calls: &[Call]| -> String {
        if calls.is_empty() {
            return "-".into();
        }
        calls
            .iter()
            .map(|c| match c {
                Call::RequestHeader(n) | Call::ResponseHeader(n) => format!("get {n}"),
                Call::SetRequestHeader(n, _) => format!("set {n}"),
                Call::SharedGet(k) => format!("shared get {k}"),
                Call::SharedSet(k) => format!("shared set {k}"),
                Call::IncrementMetric(m) => format!("increment {m}"),
                other => other.kind().replace('_', " "),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::from(
        "| request kind | request headers | request body | response headers | response body | total |\n\
         | --- | --- | --- | --- | --- | ---: |\n",
    );
    for p in all() {
        out += &format!(
            "| {} | {} ({}) | {} | {} ({}) | {} | {} |\n",
            p.kind,
            p.request.len(),
            list(&p.request),
            p.request_body.len(),
            p.response.len(),
            list(&p.response),
            if p.response_body.is_empty() {
                "0".into()
            } else {
                format!("{} ({})", p.response_body.len(), list(&p.response_body))
            },
            p.total()
        );
    }
    out + "\nBody chunk reads (one per chunk of the statement, one for the buffered answer of a new statement, one per \
           piece of a spooled query's data page) are not counted. A new statement whose client asks for spooled results \
           (`X-Trino-Query-Data-Encoding`, sent by the Python client by default) reads one response header more.\n"
}
