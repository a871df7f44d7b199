//! The request flow, natively, through `RecordingHost`: every path of the
//! state machine, and the exact host calls of each request kind.

use super::{Action, Flow};
use crate::call_budget::{
    self, executing, follow_up_request as follow_up, post_headers, request, routed_to, statement_answer, submit, worker,
};
use crate::call_budget::{submit_with, TX_ID as TX};
use crate::call_budget::{ID_A, ID_B, NO_PUBLIC_URI, PLUGIN, ROUTING};
use crate::mock::{Call, RecordingHost};

#[test]
fn only_statement_traffic_marks_a_coordinator_and_a_mark_nobody_renews_lapses() {
    use crate::health::{self, Health};
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    let record = |host: &RecordingHost| health::of(&health::read(&*host.shared).unwrap_or_default(), 0);
    // A 503 on /v1/info or the web UI says nothing about statements.
    for path in ["/v1/info", "/ui/api/stats"] {
        let (mut flow, _) = follow_up(&host, &w, "GET", path);
        host.respond(&[(":status", "503")], b"");
        flow.on_response_headers(&host, true);
        assert_ne!(record(&host).health, Health::Unhealthy, "{path}");
    }
    // A statement whose coordinator fails marks it.
    submit(&host, &w, "SELECT 1", "503", b"no healthy upstream");
    assert_eq!(record(&host).health, Health::Unhealthy);
    let marked_at = record(&host).updated_at;
    let expiry = w.router.unhealthy_expiry_seconds();
    assert_eq!(w.router.read_health(&*host.shared, marked_at + expiry).unwrap_or_default()[0], Health::Unhealthy);
    // Nobody renews it (no health service): it lapses and the cluster is tried again.
    assert_eq!(w.router.read_health(&*host.shared, marked_at + expiry + 1).unwrap_or_default()[0], Health::Unknown);
}

#[test]
fn a_new_query_is_placed_learned_and_its_follow_ups_stick_on_every_worker() {
    let one = RecordingHost::new();
    let two = one.sibling();
    let (w1, w2) = (worker(&one, PLUGIN), worker(&two, PLUGIN));
    let (_, first) = submit(&one, &w1, "SELECT 1", "200", &statement_answer(ID_B));
    assert_eq!(first.as_deref(), Some("a"), "the round robin starts at a; the client's value is overwritten");
    let (_, second) = submit(&two, &w2, "SELECT 2", "200", &statement_answer(ID_A));
    assert_eq!(second.as_deref(), Some("b"), "one round robin shared by the workers");
    // The query map decides, whatever an id's suffix says: ID_B was answered by a, ID_A by b.
    for (host, worker) in [(&one, &w1), (&two, &w2)] {
        let (_, action) = follow_up(host, worker, "GET", &executing(ID_B));
        assert_eq!((action, routed_to(host).as_deref()), (Action::Continue, Some("a")));
        let (_, action) = follow_up(host, worker, "GET", &executing(ID_A));
        assert_eq!((action, routed_to(host).as_deref()), (Action::Continue, Some("b")));
    }
    // A query of coordinator aaaaa this gateway never saw: routed by the coordinator id, learned from ID_A.
    let unseen = "20261125_111111_00077_aaaaa";
    let (_, action) = follow_up(&one, &w1, "GET", &executing(unseen));
    assert_eq!((action, routed_to(&one)), (Action::Continue, Some("b".to_string())));
}

#[test]
fn unknown_and_malformed_query_ids_get_trinos_404_without_a_coordinator() {
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    for path in [executing(ID_A), "/v1/statement/executing/not-a-query/y/0".into(), format!("/v1/query/{ID_B}")] {
        let (_, action) = follow_up(&host, &w, "GET", &path);
        assert_eq!(action, Action::Pause, "{path}");
        let reply = host.last_reply().unwrap();
        assert_eq!((reply.status, reply.body.as_slice()), (404, &b"Error 404 Not Found: Query not found"[..]));
        assert_eq!(routed_to(&host), None, "no upstream request: {path}");
    }
    assert_eq!(host.metric("trino_gateway.query_not_found"), 2);
    assert_eq!(host.metric("trino_gateway.malformed_query_ids"), 1);
}

#[test]
fn a_statement_whose_coordinator_fails_is_resent_and_the_answer_relayed() {
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    let sql = "SELECT 'é', x FROM t";
    let (mut flow, placed) = submit(&host, &w, sql, "503", b"no healthy upstream");
    assert_eq!(placed.as_deref(), Some("a"));
    let dispatched = host.dispatched.borrow().last().cloned().unwrap();
    assert_eq!((dispatched.cluster.as_str(), dispatched.body.as_slice()), ("b", sql.as_bytes()));
    let names: Vec<&str> = dispatched.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"x-trino-user") && !names.contains(&ROUTING) && !names.contains(&"x-forwarded-proto"));
    assert!(!names.contains(&"accept-encoding"), "a re-sent statement asks for a plain answer too");
    assert!(host.request_headers.borrow().iter().all(|(n, _)| n != "accept-encoding"), "removed from the statement");
    assert!(w.kept_bytes() > 0, "kept while the re-send is under way");
    host.call_answers(&[(":status", "200"), ("content-type", "application/json")], &statement_answer(ID_B));
    flow.on_http_call_response(&host, dispatched.token, 2, statement_answer(ID_B).len());
    let reply = host.last_reply().unwrap();
    assert_eq!((reply.status, reply.body), (200, statement_answer(ID_B)));
    assert_eq!(reply.headers, vec![("content-type".to_string(), "application/json".to_string())]);
    assert_eq!(w.kept_bytes(), 0, "the budget is given back");
    assert_eq!((host.metric("trino_gateway.submissions_resent"), host.metric("trino_gateway.failovers")), (1, 1));
    assert_eq!(host.metric("trino_gateway.passive_unhealthy_marks"), 1);
    // a is out of rotation for this worker at once, and the new query is b's.
    let (_, next) = submit(&host, &w, "SELECT 2", "200", &statement_answer(ID_B));
    assert_eq!(next.as_deref(), Some("b"));
    let (_, action) = follow_up(&host, &w, "GET", &executing(ID_B));
    assert_eq!((action, routed_to(&host).as_deref()), (Action::Continue, Some("b")));
}

#[test]
fn when_every_coordinator_fails_a_statement_it_gets_a_failed_result() {
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    let (mut flow, _) = submit(&host, &w, "SELECT 1", "503", b"");
    let token = host.dispatched.borrow().last().map(|d| d.token).unwrap();
    flow.on_http_call_response(&host, token, 0, 0); // reset / no connection
    let reply = host.last_reply().unwrap();
    let page: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!((reply.status, page["error"]["errorName"].as_str()), (200, Some("NO_NODES_AVAILABLE")));
    let id = page["id"].as_str().unwrap();
    assert!(id.ends_with("_gatew"), "{id}");
    assert_eq!(page["infoUri"], format!("http://gw:8080/ui/query.html?{id}"));
    assert!(page["error"]["message"].as_str().unwrap().contains("a: UNHEALTHY, failed this query, b: UNHEALTHY"));
}

#[test]
fn a_statement_not_kept_passes_its_coordinators_failure_on() {
    let host = RecordingHost::new();
    let w = worker(&host, r#"{"clusters": [{"name": "a"}, {"name": "b"}], "failover": {"max_statement_bytes": 1024}}"#);
    let (_, _) = submit(&host, &w, &"x".repeat(2000), "503", b"");
    assert!(host.dispatched.borrow().is_empty());
    assert_eq!(host.replies.borrow().len(), 0, "the 503 goes to the client, which retries it");
    assert_eq!(host.metric("trino_gateway.statements_too_big_to_resend"), 1);
}

#[test]
fn kept_statements_stay_within_the_workers_memory_budget() {
    let host = RecordingHost::new();
    let w = worker(
        &host,
        r#"{"clusters": [{"name": "a"}, {"name": "b"}], "failover": {"max_kept_bytes_per_worker": 10000}}"#,
    );
    let sql = "y".repeat(4000);
    // Three statements in flight at once: two fit, the third is not kept.
    let mut flows = Vec::new();
    for _ in 0..3 {
        let mut flow = Flow::new(w.clone());
        request(&host, &post_headers(sql.len()));
        flow.on_request_headers(&host, false);
        *host.request_chunk.borrow_mut() = sql.as_bytes().to_vec();
        flow.on_request_body(&host, sql.len(), true);
        flows.push(flow);
    }
    assert!(w.kept_bytes() <= 10000 && w.kept_bytes() >= 8000, "{}", w.kept_bytes());
    assert_eq!(host.metric("trino_gateway.statements_over_memory_budget"), 1);
    // Answered (or their streams gone): the budget is free again.
    for flow in &mut flows {
        host.respond(&[(":status", "400")], b"");
        flow.on_response_headers(&host, true);
    }
    assert_eq!(w.kept_bytes(), 0);
    drop(flows);
    // A chunked statement (no content-length) grows its reservation chunk by chunk.
    let mut flow = Flow::new(w.clone());
    let mut headers = post_headers(0);
    headers.retain(|(n, _)| *n != "content-length");
    request(&host, &headers);
    flow.on_request_headers(&host, false);
    for (i, chunk) in ["SELECT ", "1", " -- done"].iter().enumerate() {
        *host.request_chunk.borrow_mut() = chunk.as_bytes().to_vec();
        flow.on_request_body(&host, chunk.len(), i == 2);
    }
    assert!(w.kept_bytes() > 0);
    drop(flow);
    assert_eq!(w.kept_bytes(), 0, "a stream that ends early gives its budget back");
}

#[test]
fn a_lost_query_gets_a_failed_result_and_its_delete_a_204() {
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    submit(&host, &w, "SELECT 1", "200", &statement_answer(ID_A));
    // A failure that proves nothing (the coordinator's own 503, a full pool, the route timeout) is passed on.
    for details in ["via_upstream", "upstream_reset_before_response_started{overflow}"] {
        let (mut flow, _) = follow_up(&host, &w, "GET", &executing(ID_A));
        host.envoy_answers("503", details);
        assert_eq!(flow.on_response_headers(&host, false), Action::Continue, "{details}");
        assert!(host.last_reply().is_none(), "{details}");
    }
    assert_eq!(host.metric("trino_gateway.transient_upstream_failures"), 2);
    // The coordinator cannot be reached: the query is lost.
    let (mut flow, _) = follow_up(&host, &w, "GET", &executing(ID_A));
    host.envoy_answers(
        "503",
        "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused}",
    );
    assert_eq!(flow.on_response_headers(&host, false), Action::Pause);
    let reply = host.last_reply().unwrap();
    let page: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(page["error"]["errorName"], "REMOTE_HOST_GONE");
    assert_eq!(page["infoUri"], format!("http://gw:8080/ui/query.html?{ID_A}"), "public_uri");
    assert!(page.get("nextUri").is_none());
    let (mut flow, _) = follow_up(&host, &w, "DELETE", &executing(ID_A));
    host.envoy_answers(
        "503",
        "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_Connection_refused}",
    );
    assert_eq!(flow.on_response_headers(&host, true), Action::Pause);
    assert_eq!(host.last_reply().map(|r| (r.status, r.body)), Some((204, vec![])));
    assert_eq!(host.metric("trino_gateway.lost_queries_failed"), 2);
}

#[test]
fn without_public_uri_the_origin_comes_from_the_request() {
    let host = RecordingHost::new();
    let w = worker(&host, NO_PUBLIC_URI);
    submit(&host, &w, "SELECT 1", "200", &statement_answer(ID_A));
    let mut flow = Flow::new(w.clone());
    host.request(&[(":method", "GET"), (":path", &executing(ID_A)), (":scheme", "https"), (":authority", "t.example")]);
    flow.on_request_headers(&host, true);
    host.envoy_answers("503", "upstream_reset_before_response_started{connection_failure}");
    flow.on_response_headers(&host, true);
    let page: serde_json::Value = serde_json::from_slice(&host.last_reply().unwrap().body).unwrap();
    assert_eq!(page["infoUri"], format!("https://t.example/ui/query.html?{ID_A}"));
}

#[test]
fn a_404_from_a_restarted_coordinator_names_the_restart_and_other_404s_pass() {
    use crate::health::{publish, ClusterHealth, Health};
    use crate::query_id::CoordinatorId;
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    submit(&host, &w, "SELECT 1", "200", &statement_answer(ID_A));
    let (mut flow, _) = follow_up(&host, &w, "GET", &executing(ID_A));
    host.respond(&[(":status", "404")], b"Error 404 Not Found: Query not found");
    assert_eq!(flow.on_response_headers(&host, false), Action::Continue, "not restarted: expired, passed on");
    let record = |coordinator| ClusterHealth {
        cluster: 0,
        health: Health::Healthy,
        coordinator: CoordinatorId::parse(coordinator),
        updated_at: 1,
        running: 0,
        queued: 0,
        restarted_at: 0,
    };
    publish(&*host.shared, record("zz9zz")).unwrap();
    let (mut flow, _) = follow_up(&host, &w, "GET", &executing(ID_A));
    host.respond(&[(":status", "404")], b"");
    assert_eq!(flow.on_response_headers(&host, false), Action::Pause);
    let page: serde_json::Value = serde_json::from_slice(&host.last_reply().unwrap().body).unwrap();
    assert!(page["error"]["message"]
        .as_str()
        .unwrap()
        .contains("restarted (coordinator id aaaaa is gone, it is now zz9zz)"));
}

#[test]
fn failed_host_calls_never_panic_and_never_route_blind() {
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    host.fail("set_request_header");
    let (_, action) = follow_up(&host, &w, "GET", "/v1/info");
    assert_eq!((action, host.last_reply().map(|r| r.status)), (Action::Pause, Some(500)));
    host.pass("set_request_header");
    // Headers unreadable: the statement is still routed, just not kept for a re-send.
    host.fail("request_headers");
    let (_, placed) = submit(&host, &w, "SELECT 1", "503", b"");
    assert!(placed.is_some());
    assert!(host.dispatched.borrow().is_empty());
    host.pass("request_headers");
    // Shared data down: new statements still placed (local turn); this
    // worker still knows the queries it placed; other lookups fail closed.
    host.fail("shared_get");
    host.fail("shared_set");
    let (_, placed) = submit(&host, &w, "SELECT 1", "200", &statement_answer(ID_A));
    assert!(placed.is_some());
    let (_, action) = follow_up(&host, &w, "GET", &executing(ID_A));
    assert_eq!((action, routed_to(&host)), (Action::Continue, placed));
    let (_, action) = follow_up(&host, &w, "GET", &executing(ID_B));
    assert_eq!((action, host.last_reply().map(|r| r.status)), (Action::Pause, Some(404)));
    assert!(host.metric("trino_gateway.shared_data_errors") >= 2);
    assert!(host.metric("trino_gateway.host_call_errors") >= 2);
}

#[test]
fn follow_up_counters_are_flushed_on_tick() {
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    submit(&host, &w, "SELECT 1", "200", &statement_answer(ID_A));
    for _ in 0..3 {
        follow_up(&host, &w, "GET", &executing(ID_A));
    }
    assert_eq!(host.metric("trino_gateway.sticky_hits"), 0, "counted in the worker");
    assert_eq!(host.metric("trino_gateway.new_queries.a"), 1, "new queries are counted at once");
    w.refresh(&host);
    assert_eq!(host.metric("trino_gateway.sticky_hits"), 3);
}

/// The exact host calls per request kind (body chunk reads apart): a new
/// call on the hot path fails here. `examples/host_calls` prints the same.
mod host_call_budget {
    use super::*;

    fn header(name: &str) -> Call {
        Call::RequestHeader(name.into())
    }

    #[test]
    fn a_follow_up_request_on_the_worker_that_placed_its_query() {
        let phases = call_budget::follow_up(true);
        assert_eq!(
            phases.request,
            [header(":path"), Call::SetRequestHeader(ROUTING.into(), "a".into()), header(":method")]
        );
        assert_eq!(phases.response, [Call::ResponseHeader(":status".into())]);
        assert_eq!(phases.response_body, []);
    }

    #[test]
    fn a_follow_up_request_on_another_worker() {
        let phases = call_budget::follow_up_elsewhere();
        assert_eq!(
            phases.request,
            [
                header(":path"),
                call_budget::bucket_of(ID_A),
                Call::SetRequestHeader(ROUTING.into(), "a".into()),
                header(":method"),
            ]
        );
        assert_eq!(phases.response, [Call::ResponseHeader(":status".into())]);
        assert_eq!(phases.response_body, []);
        assert!(phases.request.len() <= 4 && phases.response.len() + phases.response_body.len() <= 1);
    }

    #[test]
    fn a_follow_up_request_without_public_uri() {
        let phases = call_budget::follow_up(false);
        assert_eq!(phases.request.len(), 5, "{:?}", phases.request);
        assert_eq!(phases.request[3..], [header(":scheme"), header(":authority")]);
        assert_eq!(phases.response.len(), 1);
    }

    #[test]
    fn a_new_statement() {
        let phases = call_budget::new_statement();
        assert_eq!(
            phases.request,
            [
                header(":path"),
                Call::RequestHeaders,
                Call::SharedGet(crate::health::KEY.into()),
                Call::SharedGet(crate::balancer::KEY.into()),
                Call::SharedSet(crate::balancer::KEY.into()),
                Call::SetRequestHeader(ROUTING.into(), "a".into()),
                Call::IncrementMetric("trino_gateway.new_queries.a".into()),
                Call::RemoveRequestHeader("accept-encoding".into()),
            ]
        );
        assert_eq!(phases.request_body, []);
        let bucket = call_budget::bucket_of(call_budget::ID_A2);
        let Call::SharedGet(key) = &bucket else { panic!() };
        assert_eq!(phases.response, [Call::ResponseHeader(":status".into())]);
        assert_eq!(phases.response_body, [Call::Now, bucket.clone(), Call::SharedSet(key.clone())]);
        assert!(phases.total() <= 12, "{}", phases.total());
    }

    #[test]
    fn requests_any_coordinator_answers_and_web_ui_requests() {
        for path in ["/v1/info", "/ui/login"] {
            let phases = call_budget::pass_through(path);
            assert_eq!(phases.request, [header(":path"), Call::SetRequestHeader(ROUTING.into(), "a".into())], "{path}");
            assert_eq!(phases.response, [], "not statement traffic: its answer is not read");
        }
    }

    #[test]
    fn an_unknown_query() {
        let phases = call_budget::unknown_query();
        assert_eq!(
            phases.request,
            [
                header(":path"),
                call_budget::bucket_of(ID_B),
                Call::SharedGet(crate::coordinator_map::KEY.into()),
                Call::IncrementMetric("trino_gateway.query_not_found".into()),
                Call::SendResponse(404),
            ]
        );
    }
}

/// `submit` with an `X-Trino-Transaction-Id`; None when the gateway answered itself.
fn submit_in_transaction(
    host: &RecordingHost,
    w: &std::rc::Rc<crate::worker::Worker>,
    sql: &str,
    transaction: &str,
    answer: &[u8],
) -> Option<String> {
    submit_with(host, w, &[("x-trino-transaction-id", transaction)], sql, "200", &[], answer)
        .and_then(|(_, cluster)| cluster)
}

#[test]
fn a_transaction_stays_on_the_coordinator_that_started_it_until_it_ends() {
    let host = RecordingHost::new();
    let other_worker = host.sibling();
    let w = worker(&host, PLUGIN);
    let w2 = worker(&other_worker, PLUGIN);
    // START TRANSACTION goes where the round robin says (a) and is learned with its flag.
    assert_eq!(
        submit_in_transaction(&host, &w, "START TRANSACTION", "NONE", &statement_answer(ID_B)).as_deref(),
        Some("a")
    );
    // Its executing page names the transaction, on whichever worker serves it.
    let (mut flow, _) = follow_up(&other_worker, &w2, "GET", &executing(ID_B));
    other_worker.take_calls();
    other_worker.respond(&[(":status", "200"), ("x-trino-started-transaction-id", TX)], b"");
    flow.on_response_headers(&other_worker, false);
    let calls = other_worker.take_calls();
    assert!(calls.contains(&Call::ResponseHeader("x-trino-started-transaction-id".into())), "{calls:?}");
    assert_eq!(other_worker.metric("trino_gateway.transactions_started"), 1);
    // Every statement of the transaction goes to a, whatever the round robin and a's health.
    for n in 0..3 {
        let sql = format!("INSERT INTO t VALUES {n}");
        assert_eq!(submit_in_transaction(&host, &w, &sql, TX, &statement_answer(ID_B)).as_deref(), Some("a"));
        assert_eq!(host.dispatched.borrow().len(), 0, "never re-sent");
    }
    assert_eq!(host.metric("trino_gateway.transaction_statements"), 3);
    // COMMIT goes there too; once accepted, the transaction no longer routes.
    assert_eq!(submit_in_transaction(&host, &w, "COMMIT", TX, &statement_answer(ID_B)).as_deref(), Some("a"));
    assert_eq!(submit_in_transaction(&host, &w, "SELECT 1", TX, b""), None);
    let page: serde_json::Value = serde_json::from_slice(&host.last_reply().unwrap().body).unwrap();
    assert_eq!(page["error"]["errorName"], "UNKNOWN_TRANSACTION");
    assert_eq!(host.metric("trino_gateway.unknown_transactions"), 1);
}

#[test]
fn unknown_and_malformed_transactions_reach_no_coordinator() {
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    assert_eq!(submit_in_transaction(&host, &w, "SELECT 1", TX, b""), None);
    let reply = host.last_reply().unwrap();
    let page: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!((reply.status, page["stats"]["state"].as_str()), (200, Some("FAILED")));
    assert_eq!(
        (page["error"]["errorName"].as_str(), page["error"]["errorCode"].as_u64(), page["error"]["errorType"].as_str()),
        (Some("UNKNOWN_TRANSACTION"), Some(20), Some("USER_ERROR"))
    );
    assert_eq!(
        page["error"]["message"],
        format!("Unknown transaction ID: {TX}. Possibly expired? Commands ignored until end of transaction block")
    );
    assert_eq!(submit_in_transaction(&host, &w, "SELECT 1", "not-a-uuid", b""), None);
    let reply = host.last_reply().unwrap();
    assert_eq!((reply.status, reply.body.as_slice()), (400, &b"Invalid UUID string: not-a-uuid"[..]));
    // A query that starts no transaction never reads the header on its follow-ups.
    submit(&host, &w, "SELECT 1", "200", &statement_answer(ID_A));
    let (mut flow, _) = follow_up(&host, &w, "GET", &executing(ID_A));
    host.take_calls();
    host.respond(&[(":status", "200"), ("x-trino-started-transaction-id", TX)], b"");
    flow.on_response_headers(&host, false);
    assert_eq!(host.take_calls(), vec![Call::ResponseHeader(":status".into())]);
}

#[test]
fn a_transaction_whose_coordinator_is_lost_fails_and_is_never_resent() {
    let host = RecordingHost::new();
    let w = worker(&host, PLUGIN);
    submit_in_transaction(&host, &w, "START TRANSACTION", "NONE", &statement_answer(ID_B));
    let (mut flow, _) = follow_up(&host, &w, "GET", &executing(ID_B));
    host.respond(&[(":status", "200"), ("x-trino-started-transaction-id", TX)], b"");
    flow.on_response_headers(&host, false);
    // A transient 503 (the coordinator's own) is passed on.
    let mut flow = Flow::new(w.clone());
    let mut headers = post_headers(8);
    headers.push(("x-trino-transaction-id", TX.to_string()));
    request(&host, &headers);
    flow.on_request_headers(&host, false);
    host.envoy_answers("503", "via_upstream");
    assert_eq!(flow.on_response_headers(&host, false), Action::Continue);
    // Refused: the transaction is gone with its coordinator.
    let mut flow = Flow::new(w.clone());
    request(&host, &headers);
    flow.on_request_headers(&host, false);
    host.envoy_answers("503", "upstream_reset_before_response_started{remote_connection_failure}");
    assert_eq!(flow.on_response_headers(&host, false), Action::Pause);
    let page: serde_json::Value = serde_json::from_slice(&host.last_reply().unwrap().body).unwrap();
    let message = page["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("Transaction {TX} was lost")) && message.contains("'a'"), "{message}");
    assert!(host.dispatched.borrow().is_empty(), "no other coordinator knows the transaction");
}

#[test]
fn a_resent_statement_carries_the_new_clusters_forwarded_prefix() {
    let host = RecordingHost::new();
    let plugin = r#"{"clusters": [{"name": "a"}, {"name": "b"}], "coordinators_process_forwarded": true,
                     "self_routing_prefix": "/_trino"}"#;
    let w = worker(&host, plugin);
    let (_, placed) = submit(&host, &w, "SELECT 1", "503", b"no healthy upstream");
    assert_eq!(placed.as_deref(), Some("a"));
    let dispatched = host.dispatched.borrow().last().cloned().unwrap();
    let prefixes: Vec<&str> =
        dispatched.headers.iter().filter(|(n, _)| n == "x-forwarded-prefix").map(|(_, v)| v.as_str()).collect();
    assert_eq!((dispatched.cluster.as_str(), prefixes), ("b", vec!["/_trino/b"]));
}

#[test]
fn spooled_segments_are_learned_from_data_pages_and_reach_their_coordinator() {
    let host = RecordingHost::new();
    let other_worker = host.sibling();
    let w = worker(&host, PLUGIN);
    let w2 = worker(&other_worker, PLUGIN);
    // A spooled query: the client asks for an encoding, the coordinator names it.
    let asked = [("x-trino-query-data-encoding", "json+zstd,json")];
    let named = [("x-trino-query-data-encoding", "json+zstd")];
    let placed = submit_with(&host, &w, &asked, "SELECT 1", "200", &named, &statement_answer(ID_B));
    assert_eq!(placed.and_then(|(_, cluster)| cluster).as_deref(), Some("a"));
    // Its data page, on another worker, in two pieces cut inside an identifier.
    let mut flow_page = Flow::new(w2.clone());
    let path = executing(ID_B);
    other_worker.request(&[
        (":method", "GET"),
        (":path", &path),
        (":authority", "gw:8080"),
        ("accept-encoding", "gzip"),
    ]);
    assert_eq!(flow_page.on_request_headers(&other_worker, true), Action::Continue);
    assert!(other_worker.request_headers.borrow().iter().all(|(n, _)| n != "accept-encoding"), "data pages plain");
    let page = br#"{"data":{"segments":[{"type":"spooled","uri":"http://g/v1/spooled/download/c2VnbWVudA==","ackUri":"http://g/v1/spooled/ack/c2VnbWVudA=="}]}}"#;
    other_worker.respond(&[(":status", "200")], page);
    flow_page.on_response_headers(&other_worker, false);
    let cut = page.len() - 30;
    *other_worker.response_body.borrow_mut() = page[..cut].to_vec();
    assert_eq!(flow_page.on_response_body(&other_worker, cut, false), Action::Continue, "never held");
    *other_worker.response_body.borrow_mut() = page[cut..].to_vec();
    flow_page.on_response_body(&other_worker, page.len() - cut, true);
    assert_eq!(other_worker.metric("trino_gateway.segments_learned"), 1);
    // Its download and acknowledgement go to a; a forged one nowhere.
    for path in ["/v1/spooled/download/c2VnbWVudA==", "/v1/spooled/ack/c2VnbWVudA=="] {
        let (_, action) = follow_up(&host, &w, "GET", path);
        assert_eq!((action, routed_to(&host).as_deref()), (Action::Continue, Some("a")), "{path}");
    }
    let (_, action) = follow_up(&host, &w, "GET", "/v1/spooled/ack/Zm9yZ2Vk");
    let reply = host.last_reply().unwrap();
    assert_eq!(
        (action, reply.status, reply.body.as_slice()),
        (Action::Pause, 404, &b"Error 404 Not Found: Segment not found"[..])
    );
    // A query without spooling never has its pages read.
    submit(&host, &w, "SELECT 1", "200", &statement_answer(ID_A));
    let (mut plain, _) = follow_up(&host, &w, "GET", &executing(ID_A));
    host.take_calls();
    host.respond(&[(":status", "200")], page);
    plain.on_response_headers(&host, false);
    plain.on_response_body(&host, page.len(), true);
    assert_eq!(host.take_calls(), vec![Call::ResponseHeader(":status".into())]);
}

#[test]
fn start_transaction_is_seen_after_a_long_comment_in_pieces_even_when_not_kept() {
    let host = RecordingHost::new();
    let w =
        worker(&host, r#"{"clusters": [{"name": "a"}, {"name": "b"}], "failover": {"max_kept_bytes_per_worker": 0}}"#);
    let sql = format!("/* {} */\nSTART TRANSACTION", "x".repeat(600));
    let mut flow = Flow::new(w.clone());
    request(&host, &post_headers(sql.len()));
    flow.on_request_headers(&host, false);
    let (first, second) = sql.as_bytes().split_at(300);
    *host.request_chunk.borrow_mut() = first.to_vec();
    flow.on_request_body(&host, first.len(), false);
    *host.request_chunk.borrow_mut() = second.to_vec();
    flow.on_request_body(&host, second.len(), true);
    let answer = statement_answer(ID_B);
    host.respond(&[(":status", "200")], &answer);
    flow.on_response_headers(&host, false);
    flow.on_response_body(&host, answer.len(), true);
    // Its follow-up reads the transaction header: the query was flagged.
    let (mut page, _) = follow_up(&host, &w, "GET", &executing(ID_B));
    host.take_calls();
    host.respond(&[(":status", "200"), ("x-trino-started-transaction-id", TX)], b"");
    page.on_response_headers(&host, false);
    assert_eq!(host.metric("trino_gateway.transactions_started"), 1);
}

/// A plugin with a state store: lookups go to cluster `etcd` under `/p/`.
const WITH_STORE: &str = r#"{"clusters": [{"name": "a"}, {"name": "b"}], "public_uri": "http://gw:8080",
    "state_store": {"cluster": "etcd", "prefix": "/p/", "lookup_timeout_ms": 300}}"#;

/// etcd's RangeResponse holding `key` = `value`.
fn etcd_answer(key: &str, value: &str) -> Vec<u8> {
    use crate::etcd::tests_support::{kv, range_answer};
    range_answer(&[kv(key, value, 7)], 0, false)
}

/// The headers of a statement in transaction `TX`, sent through a new flow.
fn statement_in_transaction(
    host: &RecordingHost,
    w: &std::rc::Rc<crate::worker::Worker>,
    extra: &[(&'static str, String)],
) -> (Flow, Action) {
    let mut headers = post_headers(8);
    headers.push(("x-trino-transaction-id", TX.into()));
    headers.extend_from_slice(extra);
    request(host, &headers);
    let mut flow = Flow::new(w.clone());
    let action = flow.on_request_headers(host, false);
    (flow, action)
}

#[test]
fn with_a_state_store_an_unknown_transaction_waits_for_etcd_and_routes_to_what_it_holds() {
    let host = RecordingHost::new();
    let w = worker(&host, WITH_STORE);
    let (mut flow, action) = statement_in_transaction(&host, &w, &[]);
    assert_eq!(action, Action::Pause, "waits for etcd");
    let call = host.grpc_calls.borrow().last().cloned().unwrap();
    assert_eq!((call.cluster.as_str(), call.method.as_str()), ("etcd", "etcdserverpb.KV/Range"));
    assert_eq!(call.message, crate::etcd::get(format!("/p/tx/{TX}").as_bytes()));
    assert_eq!(flow.on_request_body(&host, 8, true), Action::Pause, "the body is held meanwhile");
    let answer = etcd_answer(&format!("/p/tx/{TX}"), "b");
    host.call_response.borrow_mut().1 = answer.clone();
    flow.on_grpc_call_response(&host, call.token, 0, answer.len());
    assert_eq!(routed_to(&host).as_deref(), Some("b"));
    assert!(host.take_calls().contains(&Call::ResumeRequest));
    assert_eq!(host.metric("trino_gateway.state_store.remote_lookups_found"), 1);
    // Now local: the next statement of the transaction asks nobody.
    let calls_before = host.grpc_calls.borrow().len();
    assert_eq!(submit_in_transaction(&host, &w, "SELECT 2", TX, &statement_answer(ID_B)).as_deref(), Some("b"));
    assert_eq!(host.grpc_calls.borrow().len(), calls_before);
}

#[test]
fn with_a_state_store_a_lookup_that_fails_or_finds_nothing_gives_the_answer_without_it() {
    let host = RecordingHost::new();
    let w = worker(&host, WITH_STORE);
    // etcd down (status 14): Trino's UNKNOWN_TRANSACTION, from the gateway.
    let (mut flow, action) = statement_in_transaction(&host, &w, &[]);
    assert_eq!(action, Action::Pause);
    let call = host.grpc_calls.borrow().last().cloned().unwrap();
    flow.on_grpc_call_response(&host, call.token, 14, 0);
    let page: serde_json::Value = serde_json::from_slice(&host.last_reply().unwrap().body).unwrap();
    assert_eq!(page["error"]["errorName"], "UNKNOWN_TRANSACTION");
    assert!(!host.take_calls().contains(&Call::ResumeRequest), "answered, not resumed");
    // A query of an unknown coordinator, absent from etcd: Trino's 404.
    let (mut flow, action) = follow_up(&host, &w, "GET", &executing("20261125_111111_00077_zzzzz"));
    assert_eq!(action, Action::Pause);
    let call = host.grpc_calls.borrow().last().cloned().unwrap();
    host.call_response.borrow_mut().1 = Vec::new();
    flow.on_grpc_call_response(&host, call.token, 0, 0);
    let reply = host.last_reply().unwrap();
    assert_eq!((reply.status, reply.body.as_slice()), (404, &b"Error 404 Not Found: Query not found"[..]));
    assert_eq!(host.metric("trino_gateway.state_store.remote_lookups_missed"), 2);
    // Without a state store nothing is asked (the answer comes at once).
    let plain = worker(&host, PLUGIN);
    let calls_before = host.grpc_calls.borrow().len();
    let (_, action) = follow_up(&host, &plain, "GET", &executing("20261125_111111_00078_zzzzz"));
    assert_eq!((action, host.grpc_calls.borrow().len()), (Action::Pause, calls_before));
    assert_eq!(host.last_reply().unwrap().status, 404);
}

#[test]
fn while_a_lookup_decides_nothing_lets_the_request_go_and_a_client_routing_header_is_gone() {
    let host = RecordingHost::new();
    let w = worker(&host, WITH_STORE);
    let client_pick = [(ROUTING, "b".to_string())];
    let (mut flow, action) = statement_in_transaction(&host, &w, &client_pick);
    assert_eq!(action, Action::Pause);
    assert_eq!(routed_to(&host), None, "the client's routing header is removed at once");
    assert_eq!(flow.on_request_body(&host, 8, false), Action::Pause);
    assert_eq!(flow.on_request_trailers(&host), Action::Pause);
    // The worker's lookups in flight are bounded; a request that ends frees its place.
    drop(flow);
    let mut flows = Vec::new();
    for _ in 0..crate::worker::MAX_LOOKUPS_IN_FLIGHT {
        let (flow, action) = statement_in_transaction(&host, &w, &client_pick);
        assert_eq!(action, Action::Pause);
        flows.push(flow);
    }
    let calls = host.grpc_calls.borrow().len();
    let (_one_more, action) = statement_in_transaction(&host, &w, &client_pick);
    assert_eq!((action, host.grpc_calls.borrow().len()), (Action::Pause, calls), "answered without a lookup");
    let page: serde_json::Value = serde_json::from_slice(&host.last_reply().unwrap().body).unwrap();
    assert_eq!(page["error"]["errorName"], "UNKNOWN_TRANSACTION");
}

#[test]
fn an_answer_naming_a_new_transaction_is_held_until_etcd_has_it() {
    let host = RecordingHost::new();
    let w = worker(&host, WITH_STORE);
    // The sync's lease, as it shares it.
    crate::shared_data::update(&*host.shared, crate::remote_lookup::LEASE_KEY, |_| {
        Some((7i64.to_le_bytes().to_vec(), ()))
    })
    .unwrap();
    assert_eq!(
        submit_in_transaction(&host, &w, "START TRANSACTION", "NONE", &statement_answer(ID_B)).as_deref(),
        Some("a")
    );
    let (mut flow, _) = follow_up(&host, &w, "GET", &executing(ID_B));
    host.respond(&[(":status", "200"), ("x-trino-started-transaction-id", TX)], b"{}");
    assert_eq!(flow.on_response_headers(&host, false), Action::Pause, "held");
    let call = host.grpc_calls.borrow().last().cloned().unwrap();
    assert_eq!(call.method, "etcdserverpb.KV/Txn");
    let entry = crate::state_entry::Entry::Transaction {
        id: crate::transaction::TransactionId::parse(TX).unwrap(),
        cluster: "a".into(),
    };
    assert_eq!(Some(call.message), crate::remote_lookup::write_through("/p/", &entry, 7));
    assert_eq!(flow.on_response_body(&host, 2, true), Action::Pause, "its body waits too");
    assert_eq!(flow.on_response_trailers(), Action::Pause);
    host.take_calls();
    flow.on_grpc_call_response(&host, call.token, 0, 0);
    assert!(host.take_calls().contains(&Call::ResumeResponse));
    assert_eq!(flow.on_response_trailers(), Action::Continue);
    assert_eq!(host.metric("trino_gateway.state_store.write_throughs"), 1);
}

/// Routing groups whose rules may need the statement: `reads` (a) and `writes` (b).
fn rules_plugin(over_limit: &str) -> String {
    format!(
        r#"{{"clusters": [{{"name": "a"}}, {{"name": "b"}}], "public_uri": "http://gw:8080",
            "routing": {{"groups": [{{"name": "reads", "clusters": ["a"]}}, {{"name": "writes", "clusters": ["b"]}}],
                        "default_group": "reads",
                        "rules": [{{"name": "dbt", "when": {{"source": {{"exact": "dbt"}}}}, "group": "writes"}},
                                  {{"name": "w", "when": {{"statement_kind": "write"}}, "group": "writes"}}],
                        "statement": {{"max_bytes": 64, "over_limit": "{over_limit}"}}}}}}"#
    )
}

/// Headers of a new statement, then its body in `pieces` (Envoy hands a
/// held body over whole each time): the actions of each callback.
fn held_statement(
    host: &RecordingHost,
    flow: &mut Flow,
    extra: &[(&'static str, &str)],
    pieces: &[&str],
) -> Vec<Action> {
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    let mut headers = post_headers(total);
    headers.extend(extra.iter().map(|(n, v)| (*n, v.to_string())));
    request(host, &headers);
    let mut actions = vec![flow.on_request_headers(host, false)];
    let mut buffered = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        buffered.push_str(piece);
        let last = i + 1 == pieces.len();
        if actions.last() == Some(&Action::Continue) && actions.len() > 1 {
            // Routed: later chunks come one by one.
            *host.request_chunk.borrow_mut() = piece.as_bytes().to_vec();
            actions.push(flow.on_request_body(host, piece.len(), last));
        } else {
            *host.request_chunk.borrow_mut() = buffered.as_bytes().to_vec();
            actions.push(flow.on_request_body(host, buffered.len(), last));
        }
    }
    actions
}

#[test]
fn a_header_rule_routes_without_reading_the_statement() {
    let host = RecordingHost::new();
    let w = worker(&host, &rules_plugin("first_bytes"));
    let mut flow = Flow::new(w.clone());
    host.calls.borrow_mut().clear();
    let actions = held_statement(&host, &mut flow, &[("x-trino-source", "dbt")], &["SELECT 1"]);
    assert_eq!(actions, [Action::Continue, Action::Continue]);
    assert_eq!(routed_to(&host).as_deref(), Some("b"));
    assert_eq!(host.metric("trino_gateway.routing.statements_read"), 0);
    assert_eq!(host.metric("trino_gateway.group.writes.new_queries"), 1);
}

#[test]
fn a_statement_rule_holds_the_statement_until_its_body_is_read() {
    let host = RecordingHost::new();
    let w = worker(&host, &rules_plugin("first_bytes"));
    let mut flow = Flow::new(w.clone());
    let actions = held_statement(&host, &mut flow, &[], &["INSERT INTO t ", "VALUES 1"]);
    assert_eq!(actions, [Action::Pause, Action::Pause, Action::Continue]);
    assert_eq!(routed_to(&host).as_deref(), Some("b"), "routed once read; the client's pick is gone");
    assert_eq!(host.metric("trino_gateway.routing.statements_read"), 1);
    // Kept whole for failover, as if it had never been held: when b fails,
    // its group (writes: b only) falls back to the default group's a.
    host.respond(&[(":status", "503")], b"");
    assert_eq!(flow.on_response_headers(&host, false), Action::Pause);
    let dispatched = host.dispatched.borrow().last().cloned().unwrap();
    assert_eq!((dispatched.cluster.as_str(), dispatched.body.as_slice()), ("a", &b"INSERT INTO t VALUES 1"[..]));

    // A read-only statement: the default group.
    let mut flow = Flow::new(w.clone());
    let actions = held_statement(&host, &mut flow, &[], &["SELECT * FROM t"]);
    assert_eq!(actions, [Action::Pause, Action::Continue]);
    assert_eq!(routed_to(&host).as_deref(), Some("a"));
}

#[test]
fn a_statement_over_the_cap_is_routed_as_configured() {
    let long_write = format!("INSERT INTO t VALUES {}", "1, ".repeat(40));
    let (head, tail) = long_write.split_at(70);
    // (over_limit, what the rules see, the cluster or the error)
    for (over_limit, expected) in [("first_bytes", "b"), ("no_statement", "a"), ("fail", "QUERY_TEXT_TOO_LARGE")] {
        let host = RecordingHost::new();
        let w = worker(&host, &rules_plugin(over_limit));
        let mut flow = Flow::new(w.clone());
        let actions = held_statement(&host, &mut flow, &[], &[head, tail]);
        assert_eq!(host.metric("trino_gateway.routing.statements_over_limit"), 1, "{over_limit}");
        if expected == "QUERY_TEXT_TOO_LARGE" {
            assert_eq!(actions[..2], [Action::Pause, Action::Pause], "{over_limit}");
            let page: serde_json::Value = serde_json::from_slice(&host.last_reply().unwrap().body).unwrap();
            assert_eq!(page["error"]["errorName"], expected);
            assert_eq!(routed_to(&host), None);
        } else {
            // Routed at the cap, the rest passes as it comes.
            assert_eq!(actions, [Action::Pause, Action::Continue, Action::Continue], "{over_limit}");
            assert_eq!(routed_to(&host).as_deref(), Some(expected), "{over_limit}");
        }
    }
}

#[test]
fn trailers_route_a_held_statement_with_what_was_buffered() {
    let host = RecordingHost::new();
    let w = worker(&host, &rules_plugin("first_bytes"));
    let mut flow = Flow::new(w.clone());
    let actions = held_statement(&host, &mut flow, &[], &["DELETE FROM t"]);
    // The body callback saw end_of_stream in `held_statement`; start again with trailers instead.
    assert_eq!(actions, [Action::Pause, Action::Continue]);
    let mut flow = Flow::new(w.clone());
    request(&host, &post_headers(13));
    assert_eq!(flow.on_request_headers(&host, false), Action::Pause);
    *host.request_chunk.borrow_mut() = b"DELETE FROM t".to_vec();
    assert_eq!(flow.on_request_body(&host, 13, false), Action::Pause);
    assert_eq!(flow.on_request_trailers(&host), Action::Continue);
    assert_eq!(routed_to(&host).as_deref(), Some("b"));
    // Kept whole all the same: b fails, the statement is re-sent (to a, by the fallback).
    host.respond(&[(":status", "503")], b"");
    assert_eq!(flow.on_response_headers(&host, false), Action::Pause);
    let dispatched = host.dispatched.borrow().last().cloned().unwrap();
    assert_eq!((dispatched.cluster.as_str(), dispatched.body.as_slice()), ("a", &b"DELETE FROM t"[..]));
}

#[test]
fn a_statement_of_exactly_the_cap_is_not_over_it() {
    let host = RecordingHost::new();
    let w = worker(&host, &rules_plugin("fail"));
    let mut flow = Flow::new(w.clone());
    let statement = format!("INSERT INTO t VALUES {}", "1".repeat(64 - 21));
    assert_eq!(statement.len(), 64);
    // All 64 bytes, then the end of the stream in an empty last chunk.
    let actions = held_statement(&host, &mut flow, &[], &[&statement, ""]);
    assert_eq!(actions, [Action::Pause, Action::Pause, Action::Continue]);
    assert_eq!(routed_to(&host).as_deref(), Some("b"));
    assert_eq!(host.metric("trino_gateway.routing.statements_over_limit"), 0);
}

#[test]
fn routing_rules_add_no_host_call_to_follow_up_requests() {
    let rules: Vec<String> = (0..100)
        .map(|i| format!(r#"{{"name": "r{i}", "when": {{"user": {{"exact": "u{i}"}}}}, "group": "g"}}"#))
        .collect();
    let with_rules = format!(
        r#"{{"clusters": [{{"name": "a"}}, {{"name": "b"}}], "public_uri": "http://gw:8080",
            "routing": {{"groups": [{{"name": "g", "clusters": ["a", "b"]}}], "default_group": "g", "rules": [{}]}}}}"#,
        rules.join(", ")
    );
    let follow_up_calls = |plugin: &str| {
        let host = RecordingHost::new();
        let w = worker(&host, plugin);
        submit(&host, &w, "SELECT 1", "200", &statement_answer(ID_A));
        host.calls.borrow_mut().clear();
        let (mut flow, _) = follow_up(&host, &w, "GET", &executing(ID_A));
        host.respond(&[(":status", "200")], b"{}");
        flow.on_response_headers(&host, false);
        let calls = host.calls.borrow().clone();
        calls
    };
    let calls = follow_up_calls(&with_rules);
    assert!(!calls.is_empty());
    assert_eq!(calls, follow_up_calls(PLUGIN));
}

#[test]
fn a_statement_held_without_its_body_gets_a_failed_answer_naming_the_envoy_setting() {
    let host = RecordingHost::new();
    let w = worker(&host, &rules_plugin("first_bytes"));
    // The worker's tick, `seconds` later.
    let tick = |seconds: u32| {
        host.now.set(host.now.get() + seconds);
        w.refresh(&host);
        w.fail_stuck_statements(&host);
    };
    let mut flow = Flow::with_context(w.clone(), 42);
    request(&host, &post_headers(8));
    assert_eq!(flow.on_request_headers(&host, false), Action::Pause);
    // Envoy without allow_on_headers_stop_iteration: no body callback comes.
    tick(4);
    assert!(host.last_reply().is_none(), "4 s: still waiting");
    tick(1);
    assert!(host.calls.borrow().contains(&Call::EffectiveContext(42)), "answered on its own stream");
    let page: serde_json::Value = serde_json::from_slice(&host.last_reply().unwrap().body).unwrap();
    assert_eq!(page["error"]["errorName"], "GENERIC_INTERNAL_ERROR");
    assert!(page["error"]["message"].as_str().unwrap().contains("allow_on_headers_stop_iteration: true"));
    drop(flow);
    // Once a held body has arrived, the setting is on: a slow client is left alone.
    let mut fast = Flow::with_context(w.clone(), 43);
    held_statement(&host, &mut fast, &[], &["SELECT 1"]);
    let replies = host.replies.borrow().len();
    let mut slow = Flow::with_context(w.clone(), 44);
    request(&host, &post_headers(8));
    assert_eq!(slow.on_request_headers(&host, false), Action::Pause);
    tick(60);
    assert_eq!(host.replies.borrow().len(), replies);
    assert!(!host.calls.borrow().contains(&Call::EffectiveContext(44)));
}
