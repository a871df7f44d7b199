//! Protocol tests without sockets: requests go straight into `handle`.

use super::*;
use clap::Parser;

fn coordinator(args: &[&str]) -> Coordinator {
    let mut argv = vec!["trino-emulator", "--coordinator-id", "abcde"];
    argv.extend_from_slice(args);
    Coordinator::new(Config::parse_from(argv))
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
    let executing = next_uri(&get(&c, &next_uri(&post(&c, "/* emulator: runtime_ms=300 */ SELECT 7", vec![]))));
    let started = Instant::now();
    let first = get(&c, &format!("{executing}?maxWait=100ms"));
    assert!(started.elapsed() >= Duration::from_millis(100));
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
