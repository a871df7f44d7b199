//! Protocol tests without sockets: requests go straight into `handle`.

use super::*;
use clap::Parser;

fn coordinator(args: &[&str]) -> Coordinator {
    let mut argv = vec!["trino-emulator", "--coordinator-id", "abcde"];
    argv.extend_from_slice(args);
    Coordinator::new(Config::parse_from(argv)).expect("the coordinator starts")
}

struct Call<'a> {
    method: Method,
    uri: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: &'a str,
}

fn call(c: &Coordinator, call: Call<'_>) -> Reply {
    let (path, query) = match call.uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (call.uri, None),
    };
    // Tests pass absolute nextUris; keep only the path.
    let path = path.strip_prefix("http://test").unwrap_or(path);
    let mut headers = HeaderMap::new();
    headers.insert("host", http::HeaderValue::from_static("test"));
    for (name, value) in call.headers {
        if let (Ok(n), Ok(v)) = (http::HeaderName::try_from(name), http::HeaderValue::try_from(value)) {
            headers.append(n, v);
        }
    }
    let request = Request {
        method: &call.method,
        path,
        query,
        headers: &headers,
        body: call.body.as_bytes(),
        received: Instant::now(),
    };
    loop {
        match c.handle(&request) {
            Handled::Reply(reply) => return reply,
            Handled::WaitUntil(at) => std::thread::sleep(at.saturating_duration_since(Instant::now())),
        }
    }
}

fn get(c: &Coordinator, uri: &str) -> Reply {
    call(c, Call { method: Method::GET, uri, headers: vec![], body: "" })
}

fn post(c: &Coordinator, sql: &str, headers: Vec<(&str, &str)>) -> Reply {
    let mut all = vec![("x-trino-user", "alice")];
    all.extend(headers);
    call(c, Call { method: Method::POST, uri: "/v1/statement", headers: all, body: sql })
}

fn json(reply: &Reply) -> Json {
    serde_json::from_slice(&reply.body).unwrap_or(Json::Null)
}

fn next_uri(reply: &Reply) -> String {
    json(reply)["nextUri"].as_str().map(str::to_string).unwrap_or_default()
}

#[test]
fn post_only_registers_and_the_first_queued_get_dispatches() {
    let c = coordinator(&[]);
    let posted = post(&c, "SELECT 1", vec![]);
    assert_eq!(posted.status, 200);
    let body = json(&posted);
    assert_eq!(body["stats"]["state"], "QUEUED");
    assert!(body.get("data").is_none() && body.get("columns").is_none());
    assert_eq!(body["warnings"], json!([]));
    let queued = next_uri(&posted);
    assert!(queued.starts_with("http://test/v1/statement/queued/") && queued.ends_with("/1"), "{queued}");
    let id = body["id"].as_str().unwrap_or_default();
    assert!(id.ends_with("_abcde"));
    assert_eq!(body["infoUri"], format!("http://test/ui/query.html?{id}"));

    let dispatched = get(&c, &queued);
    let executing = next_uri(&dispatched);
    assert!(executing.contains("/v1/statement/executing/") && executing.ends_with("/0"), "{executing}");
    assert_eq!(json(&dispatched)["stats"]["state"], "QUEUED");
    // The queued resource accepts the current token again, recomputing the answer.
    assert_eq!(get(&c, &queued).status, 200);
}

#[test]
fn queued_tokens_out_of_sequence_are_gone() {
    let c = coordinator(&[]);
    let posted = post(&c, "SELECT 1", vec![]);
    let queued = next_uri(&posted);
    let second = next_uri(&get(&c, &queued)); // executing
    assert!(second.ends_with("/0"));
    // Token 3 with a valid slug is not current or next: 410 Invalid token.
    let id = json(&posted)["id"].as_str().unwrap_or_default().to_string();
    let state = c.lock();
    let slug = state.queries.get(&id).map(|q| q.slug.make(SlugContext::QueuedQuery, 3)).unwrap_or_default();
    drop(state);
    let stale = get(&c, &format!("/v1/statement/queued/{id}/{slug}/3"));
    assert_eq!((stale.status, stale.body.as_slice()), (410, &b"Error 410 Gone: Invalid token"[..]));
}

#[test]
fn executing_pages_tokens_and_retries() {
    let c = coordinator(&["--page-rows", "4"]);
    let executing = next_uri(&get(&c, &next_uri(&post(&c, "SELECT x FROM UNNEST(sequence(1, 10)) AS t(x)", vec![]))));
    let page0 = get(&c, &executing);
    assert_eq!(json(&page0)["data"], json!([[1], [2], [3], [4]]));
    assert_eq!(json(&page0)["columns"][0]["typeSignature"]["rawType"], "bigint");
    assert_eq!(get(&c, &executing), page0, "same token, same page");
    let page1_uri = next_uri(&page0);
    let page1 = get(&c, &page1_uri);
    assert_eq!(json(&page1)["data"], json!([[5], [6], [7], [8]]));
    assert_eq!(get(&c, &executing).status, 410, "older than the last token");
    assert_eq!(get(&c, &page1_uri.replace("/1", "/5")).status, 404);
    let page2 = get(&c, &next_uri(&page1));
    assert_eq!(json(&page2)["data"], json!([[9], [10]]));
    let last = get(&c, &next_uri(&page2));
    let last = json(&last);
    assert_eq!(last["stats"]["state"], "FINISHED");
    assert!(last.get("nextUri").is_none() && last.get("data").is_none());
    assert_eq!(last["stats"]["processedRows"], 10);
}

#[test]
fn parse_errors_fail_in_dispatch_and_analysis_errors_while_executing() {
    let c = coordinator(&[]);
    let parse_failure = get(&c, &next_uri(&post(&c, "SELECT FROM", vec![])));
    let body = json(&parse_failure);
    assert_eq!(body["stats"]["state"], "FAILED");
    assert!(body.get("nextUri").is_none());
    assert_eq!(body["error"]["errorName"], "SYNTAX_ERROR");
    assert_eq!(body["error"]["failureInfo"]["type"], "io.trino.sql.parser.ParsingException");

    let executing = next_uri(&get(&c, &next_uri(&post(&c, "SELECT nope", vec![]))));
    let body = json(&get(&c, &executing));
    assert_eq!(body["error"]["errorName"], "COLUMN_NOT_FOUND");
    assert_eq!(body["error"]["errorLocation"], json!({"lineNumber": 1, "columnNumber": 8}));
}

#[test]
fn forwarded_headers() {
    let rejecting = coordinator(&[]);
    let reply = post(&rejecting, "SELECT 1", vec![("x-forwarded-port", "443")]);
    assert_eq!(reply.status, 406);
    assert!(String::from_utf8_lossy(&reply.body).contains("processing of the X-Forwarded-Port header"));

    let processing = coordinator(&["--process-forwarded"]);
    let reply = post(
        &processing,
        "SELECT 1",
        vec![("x-forwarded-proto", "https"), ("x-forwarded-host", "gw:9"), ("x-forwarded-port", "8443")],
    );
    assert!(next_uri(&reply).starts_with("https://gw:8443/v1/statement/queued/"), "{}", next_uri(&reply));
}

#[test]
fn transactions() {
    let c = coordinator(&[]);
    let run_to_end = |sql: &str, tx: &str| {
        let mut reply = get(&c, &next_uri(&post(&c, sql, vec![("x-trino-transaction-id", tx)])));
        while !next_uri(&reply).is_empty() {
            reply = get(&c, &next_uri(&reply));
        }
        reply
    };
    let started = run_to_end("START TRANSACTION", "NONE");
    let tx = started
        .headers
        .iter()
        .find(|(n, _)| n == "X-Trino-Started-Transaction-Id")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(is_uuid(&tx), "{tx}");
    assert_eq!(json(&run_to_end("SELECT 1", &tx))["stats"]["state"], "FINISHED");
    assert_eq!(json(&run_to_end("START TRANSACTION", &tx))["error"]["errorName"], "NOT_SUPPORTED");
    let committed = run_to_end("COMMIT", &tx);
    assert!(committed.headers.contains(&("X-Trino-Clear-Transaction-Id".into(), "true".into())));
    assert_eq!(json(&run_to_end("SELECT 1", &tx))["error"]["errorName"], "UNKNOWN_TRANSACTION");
    assert_eq!(json(&run_to_end("ROLLBACK", "NONE"))["error"]["errorName"], "NOT_IN_TRANSACTION");
    // Without the header the client cannot take part in transactions.
    let no_header = get(&c, &next_uri(&post(&c, "START TRANSACTION", vec![])));
    let no_header = get(&c, &next_uri(&no_header));
    assert_eq!(json(&no_header)["error"]["errorName"], "INCOMPATIBLE_CLIENT");
}

#[test]
fn long_poll_returns_an_empty_running_page_then_the_rows() {
    let c = coordinator(&[]);
    // The runtime counts from dispatch (the first queued GET), so the clock starts before it.
    let started = Instant::now();
    let executing = next_uri(&get(&c, &next_uri(&post(&c, "/* emulator: runtime_ms=300 */ SELECT 7", vec![]))));
    let polled = Instant::now();
    let first = get(&c, &format!("{executing}?maxWait=100ms"));
    assert!(polled.elapsed() >= Duration::from_millis(100));
    assert_eq!(json(&first)["stats"]["state"], "RUNNING");
    assert!(json(&first).get("data").is_none());
    let second = get(&c, &next_uri(&first));
    assert_eq!(json(&second)["data"], json!([[7]]));
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn purge_drops_unfetched_and_abandons_unpolled_queries() {
    let c =
        coordinator(&["--query-client-timeout", "50ms", "--query-max-history", "0", "--query-min-expire-age", "0s"]);
    let unfetched = next_uri(&post(&c, "SELECT 1", vec![]));
    let abandoned = post(&c, "/* emulator: runtime_ms=10000 */ SELECT 1", vec![]);
    get(&c, &next_uri(&abandoned));
    std::thread::sleep(Duration::from_millis(80));
    c.purge();
    assert_eq!(get(&c, &unfetched).status, 404);
    // Abandoned (FAILED) and then, with no history kept, expired.
    c.purge();
    assert_eq!(c.query_count(), 0);
}

#[test]
fn users() {
    let c = coordinator(&[]);
    let none = call(&c, Call { method: Method::POST, uri: "/v1/statement", headers: vec![], body: "SELECT 1" });
    assert_eq!(none.status, 401);
    let with_password = call(
        &c,
        Call {
            method: Method::POST,
            uri: "/v1/statement",
            headers: vec![("authorization", "Basic Ym9iOnNlY3JldA==")],
            body: "SELECT 1",
        },
    );
    assert_eq!(String::from_utf8_lossy(&with_password.body), "Password not allowed for insecure authentication");
    let basic = call(
        &c,
        Call {
            method: Method::POST,
            uri: "/v1/statement",
            headers: vec![("authorization", "Basic Ym9iOg==")],
            body: "SELECT 1",
        },
    );
    assert_eq!(basic.status, 200);
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn with_max_wait(uri: &str) -> String {
    format!("{uri}?maxWait=50ms")
}

#[test]
fn the_resource_group_runs_queues_then_refuses() {
    let c = coordinator(&["--max-running", "1", "--max-queued", "1"]);
    let first = post(&c, "/* emulator: runtime_ms=60000 */ SELECT 1", vec![]);
    let first_executing = next_uri(&get(&c, &next_uri(&first)));
    assert!(first_executing.contains("/executing/"), "{first_executing}");
    // The second waits in the queue: QUEUED, and the queued resource again.
    let second = post(&c, "SELECT 2", vec![]);
    let waiting = get(&c, &with_max_wait(&next_uri(&second)));
    assert_eq!(json(&waiting)["stats"]["state"], "QUEUED");
    assert_eq!(json(&waiting)["stats"]["queued"], true);
    assert!(next_uri(&waiting).contains("/queued/") && next_uri(&waiting).ends_with("/2"));
    // The queue is full: the third fails in dispatch.
    let third = get(&c, &next_uri(&post(&c, "SELECT 3", vec![])));
    let body = json(&third);
    assert_eq!(body["stats"]["state"], "FAILED");
    assert_eq!(body["error"]["errorName"], "QUERY_QUEUE_FULL");
    assert_eq!(body["error"]["errorCode"], 131074);
    assert_eq!(body["error"]["errorType"], "INSUFFICIENT_RESOURCES");
    assert_eq!(body["error"]["message"], "Too many queued queries for \"global\"");
    assert!(body.get("nextUri").is_none());
    // The running query ends: the queued one starts.
    let canceled = call(&c, Call { method: Method::DELETE, uri: &first_executing, headers: vec![], body: "" });
    assert_eq!(canceled.status, 204);
    let started = get(&c, &with_max_wait(&next_uri(&waiting)));
    assert!(next_uri(&started).contains("/executing/"), "{}", next_uri(&started));
    let rows = get(&c, &next_uri(&started));
    assert_eq!(json(&rows)["data"], json!([[2]]));
}

#[test]
fn statement_answers_say_identity_when_query_results_compression_is_off() {
    let on = coordinator(&[]);
    assert_eq!(header(&post(&on, "SELECT 1", vec![]), "content-encoding"), None);
    let off = coordinator(&["--query-results-compression-enabled", "false"]);
    let posted = post(&off, "SELECT 1", vec![]);
    assert_eq!(header(&posted, "content-encoding"), Some("identity"));
    assert_eq!(header(&get(&off, &next_uri(&posted)), "content-encoding"), Some("identity"));
    assert_eq!(header(&get(&off, "/v1/info"), "content-encoding"), None);
}

#[test]
fn spooled_segments_in_the_coordinator_proxy_mode() {
    let c = coordinator(&[
        "--spooling",
        "--spooling-retrieval-mode",
        "COORDINATOR_PROXY",
        "--page-rows",
        "3",
        "--spooling-inlining-max-rows",
        "3",
    ]);
    let sql = "SELECT x FROM UNNEST(sequence(1, 6)) AS t(x)";
    let posted = post(&c, sql, vec![("x-trino-query-data-encoding", "json+zstd,json")]);
    assert_eq!(header(&posted, "x-trino-query-data-encoding"), Some("json+zstd"));
    let inline = get(&c, &next_uri(&get(&c, &next_uri(&posted))));
    let segment = &json(&inline)["data"]["segments"][0];
    assert_eq!(segment["type"], "inline");
    assert_eq!(crate::base64::decode(segment["data"].as_str().unwrap_or_default()), Some(b"[[1],[2],[3]]".to_vec()));
    assert_eq!(segment["metadata"], json!({"segmentSize": 13, "rowsCount": 3, "rowOffset": 0}));
    let spooled = get(&c, &next_uri(&inline));
    let segment = json(&spooled)["data"]["segments"][0].clone();
    assert_eq!(segment["type"], "spooled");
    assert_eq!(segment["metadata"]["rowOffset"], 3);
    let uri = segment["uri"].as_str().unwrap_or_default().to_string();
    let ack = segment["ackUri"].as_str().unwrap_or_default().to_string();
    let key = segment["headers"][crate::spooling::SSE_KEY][0].as_str().unwrap_or_default().to_string();
    assert!(uri.starts_with("http://test/v1/spooled/download/"), "{uri}");
    assert_eq!(c.stored_segments(), 1);
    let without_key = get(&c, &uri);
    assert_eq!(without_key.status, 500);
    let with_key = |uri: &str| {
        call(&c, Call { method: Method::GET, uri, headers: vec![(crate::spooling::SSE_KEY, &key)], body: "" })
    };
    let downloaded = with_key(&uri);
    assert_eq!((downloaded.status, downloaded.body.as_slice()), (200, &b"[[4],[5],[6]]"[..]));
    assert_eq!(with_key(&ack).status, 200);
    assert_eq!(c.stored_segments(), 0);
    assert_eq!(with_key(&ack).status, 200, "acknowledging twice is harmless");
    assert_eq!(with_key(&uri).status, 500);
    let last = get(&c, &next_uri(&spooled));
    assert_eq!(json(&last)["stats"]["state"], "FINISHED");
    assert!(json(&last).get("data").is_none());
}

#[test]
fn small_answers() {
    let c = coordinator(&["--page-rows", "1"]);
    let posted = post(&c, "SELECT x FROM UNNEST(sequence(1, 3)) AS t(x)", vec![]);
    let id = json(&posted)["id"].as_str().unwrap_or_default().to_string();
    let executing = next_uri(&get(&c, &next_uri(&posted)));
    let head = |uri: &str| call(&c, Call { method: Method::HEAD, uri, headers: vec![], body: "" }).status;
    assert_eq!(head(&executing), 404, "unknown to the executing resource before its first GET");
    assert_eq!(get(&c, &executing).status, 200);
    assert_eq!(head(&executing), 200);
    assert_eq!(get(&c, &format!("/v1/query/{id}")).status, 401);
    let alice = vec![("x-trino-user", "alice")];
    let delete = |uri: &str| call(&c, Call { method: Method::DELETE, uri, headers: alice.clone(), body: "" }).status;
    assert_eq!(delete("/v1/query/20250101_000000_00000_zzzzz"), 204);
    let put = call(
        &c,
        Call { method: Method::PUT, uri: "/v1/info/state", headers: alice.clone(), body: "\"SHUTTING_DOWN\"" },
    );
    assert_eq!((put.status, put.body.as_slice()), (403, &b"Error 403 Forbidden: Management only resource"[..]));
    let root = get(&c, "/");
    assert_eq!((root.status, header(&root, "location")), (303, Some("http://test/ui/")));
    let old = coordinator(&["--node-version", "476"]);
    let info = json(&get(&old, "/v1/info"));
    let fields: Vec<&String> = info.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(fields, ["nodeVersion", "environment", "coordinator", "starting", "uptime"]);
}

#[test]
fn canceled_and_ended_queries_expire_with_their_rows() {
    let c = coordinator(&["--page-rows", "1", "--query-max-history", "0", "--query-min-expire-age", "0s"]);
    let posted = post(&c, "SELECT x FROM UNNEST(sequence(1, 100)) AS t(x)", vec![]);
    let executing = next_uri(&get(&c, &next_uri(&posted)));
    assert_eq!(get(&c, &executing).status, 200);
    let canceled = call(&c, Call { method: Method::DELETE, uri: &executing, headers: vec![], body: "" });
    assert_eq!(canceled.status, 204);
    c.purge();
    assert_eq!(c.query_count(), 0, "a query canceled on its executing URI expires like any other");
}
