//! Routing groups, natively: the group a new statement gets (header, rules,
//! default), and each placement inside a group (round robin, least loaded
//! with the placed-count correction, user hash), saturation, fallback.

use super::{Choice, Router, Target};
use crate::health::{self, ClusterHealth, Health};
use crate::rules::Statement;
use crate::shared_data::{MemorySharedData, SharedData};

const ROUTED: &str = r#"{
  "clusters": [{"name": "a"}, {"name": "b"}, {"name": "c", "max_running": 2, "max_queued": 3}, {"name": "d", "weight": 3}],
  "health": {"ui_user": "gateway"},
  "routing": {
    "groups": [
      {"name": "adhoc", "clusters": ["a", "b"], "placement": "least_loaded"},
      {"name": "etl", "clusters": ["c"], "when_unavailable": "fail"},
      {"name": "bi", "clusters": ["a", "b", "d"], "placement": "user_hash"},
      {"name": "spill", "clusters": ["c"]},
      {"name": "rr", "clusters": ["b", "d"]}
    ],
    "default_group": "adhoc",
    "rules": [
      {"name": "dbt", "when": {"source": {"prefix": "dbt"}}, "group": "etl"},
      {"name": "superset", "when": {"source": {"exact": "superset"}}, "group": "bi"},
      {"name": "writes", "when": {"statement_kind": "write"}, "group": "spill"}
    ],
    "group_header": {"users": ["admin"], "sources": ["airflow"]}
  }
}"#;

fn router(store: &MemorySharedData, json: &str) -> Router {
    let config = crate::config::Config::parse(json.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    Router::new(config, store).unwrap_or_else(|e| panic!("{e:?}"))
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

/// The group's name, "(statement)" or the refusal's error name and message.
fn choose(r: &Router, pairs: &[(&str, &str)], statement: Statement<'_>) -> String {
    match r.choose_group(&headers(pairs), statement) {
        Choice::Group(g) => r.config.routing.groups[g].name.clone(),
        Choice::NeedsStatement => "(statement)".into(),
        Choice::Refuse(f) => format!("{}: {}", f.error.name, f.message),
    }
}

/// Where `group` places a statement of `user` now: a cluster, or the failure message.
fn place(r: &Router, store: &MemorySharedData, group: &str, user: &str) -> String {
    let target = Target { group: r.config.routing.group_index(group).unwrap(), user: Some(user.into()) };
    let health = r.read_health(store, 100).unwrap();
    match r.place_new_query(store, &health, &target, &[], 100).0 {
        Ok(placed) => {
            r.count_placement(store, placed.cluster).unwrap();
            let name = r.cluster_name(placed.cluster).to_string();
            if placed.group == target.group {
                name
            } else {
                format!("{name} (via {})", r.config.routing.groups[placed.group].name)
            }
        }
        Err(failure) => failure.message,
    }
}

fn polled(r: &Router, store: &MemorySharedData, cluster: usize, health: Health, running: u32, queued: u32) {
    let table_id = r.table_id(cluster).unwrap();
    let record = ClusterHealth {
        cluster: table_id,
        health,
        coordinator: None,
        updated_at: 100,
        running: 0,
        queued: 0,
        restarted_at: 0,
    };
    health::publish(store, record).unwrap();
    health::publish_load(store, table_id, running, queued).unwrap();
    crate::placed::reset(store, table_id, 100).unwrap();
}

#[test]
fn the_header_then_the_first_matching_rule_then_the_default_group() {
    let store = MemorySharedData::new();
    let r = router(&store, ROUTED);
    let text = Statement::Text;
    // (headers, statement, group or refusal)
    type Case<'a> = (&'a [(&'a str, &'a str)], Statement<'a>, &'a str);
    let table: &[Case<'_>] = &[
        (&[("x-trino-source", "dbt-trino-1.11")], Statement::NotRead, "etl"),
        (&[("x-trino-source", "superset")], Statement::NotRead, "bi"),
        // No header rule matches before the statement rule: the body is needed.
        (&[("x-trino-source", "cli")], Statement::NotRead, "(statement)"),
        (&[("x-trino-source", "cli")], text("INSERT INTO t VALUES 1"), "spill"),
        (&[("x-trino-source", "cli")], text("SELECT 1"), "adhoc"),
        (&[("x-trino-source", "cli")], Statement::Unavailable, "adhoc"),
        // The routing-group header beats the rules, for the users and sources listed.
        (&[("x-trino-user", "admin"), ("x-trino-source", "dbt"), ("x-trino-routing-group", "bi")], Statement::NotRead, "bi"),
        (&[("x-trino-user", "bob"), ("x-trino-source", "airflow"), ("x-trino-routing-group", " rr ")], Statement::NotRead, "rr"),
        (
            &[("x-trino-user", "bob"), ("x-trino-source", "cli"), ("x-trino-routing-group", "etl")],
            Statement::NotRead,
            "PERMISSION_DENIED: X-Trino-Routing-Group may not be used by user 'bob' with source 'cli'; remove the header to route by the gateway's rules",
        ),
        (
            &[("x-trino-user", "admin"), ("x-trino-routing-group", "nope\n")],
            Statement::NotRead,
            "GENERIC_USER_ERROR: X-Trino-Routing-Group names an unknown routing group 'nope' (routing groups: adhoc, etl, bi, spill, rr)",
        ),
        (
            &[("x-trino-user", "admin"), ("x-trino-routing-group", "a")],
            Statement::NotRead,
            "GENERIC_USER_ERROR: X-Trino-Routing-Group names an unknown routing group 'a' (routing groups: adhoc, etl, bi, spill, rr)",
        ),
    ];
    for (pairs, statement, expected) in table {
        assert_eq!(choose(&r, pairs, *statement), *expected, "{pairs:?} {statement:?}");
    }
    // Not configured: the header is ignored (a cluster name in it is nothing either).
    let plain = router(
        &MemorySharedData::new(),
        r#"{"clusters": [{"name": "a"}], "routing": {"groups": [{"name": "g", "clusters": ["a"]}], "default_group": "g"}}"#,
    );
    assert_eq!(choose(&plain, &[("x-trino-routing-group", "zzz")], Statement::NotRead), "g");
}

#[test]
fn least_loaded_counts_what_this_envoy_placed_since_the_poll() {
    let store = MemorySharedData::new();
    let r = router(&store, ROUTED);
    polled(&r, &store, 0, Health::Healthy, 4, 1); // a: 5
    polled(&r, &store, 1, Health::Healthy, 1, 0); // b: 1
                                                  // b gets statements until its placed count makes up the difference; then they alternate.
    let burst: Vec<String> = (0..8).map(|_| place(&r, &store, "adhoc", "u")).collect();
    assert_eq!(burst, ["b", "b", "b", "b", "a", "b", "a", "b"]);
    let placed = crate::placed::read(&store).unwrap();
    let count = |cluster: usize| placed[usize::from(r.table_id(cluster).unwrap())].count;
    assert_eq!((count(0), count(1)), (2, 6));
    // A poll replaces the estimate with the coordinator's own count.
    polled(&r, &store, 1, Health::Healthy, 9, 3);
    polled(&r, &store, 0, Health::Healthy, 2, 0);
    assert_eq!(place(&r, &store, "adhoc", "u"), "a");
    // Unhealthy clusters are skipped whatever their load.
    polled(&r, &store, 0, Health::Unhealthy, 0, 0);
    assert_eq!(place(&r, &store, "adhoc", "u"), "b");
}

#[test]
fn saturated_clusters_are_skipped_and_a_group_fails_or_falls_back() {
    let store = MemorySharedData::new();
    let r = router(&store, ROUTED);
    polled(&r, &store, 2, Health::Healthy, 1, 0);
    // c (max_queued 3): three statements placed since the poll saturate it.
    let first: Vec<String> = (0..3).map(|_| place(&r, &store, "etl", "u")).collect();
    assert_eq!(first, ["c", "c", "c"]);
    assert_eq!(
        place(&r, &store, "etl", "u"),
        "No Trino coordinator of routing group 'etl' can take new queries (c: HEALTHY, saturated: 1 running \
         (max_running 2), 0 queued + 3 sent since (max_queued 3)); try again later"
    );
    // spill falls back to the default group (least loaded of a and b).
    assert_eq!(place(&r, &store, "spill", "u"), "a (via adhoc)");
    // The next poll: c runs 2 (max_running 2): still saturated.
    polled(&r, &store, 2, Health::Healthy, 2, 0);
    assert!(place(&r, &store, "etl", "u").contains("c: HEALTHY, saturated: 2 running (max_running 2)"));
    polled(&r, &store, 2, Health::Healthy, 1, 2);
    assert_eq!(place(&r, &store, "etl", "u"), "c");
    // Down, not saturated: the message says so; spill falls back, and so
    // does its default group when a and b are down too: both named.
    polled(&r, &store, 2, Health::Unhealthy, 0, 0);
    assert_eq!(
        place(&r, &store, "etl", "u"),
        "No Trino coordinator of routing group 'etl' can take new queries (c: UNHEALTHY); try again later"
    );
    polled(&r, &store, 0, Health::Unhealthy, 0, 0);
    polled(&r, &store, 1, Health::Draining, 0, 0);
    assert_eq!(
        place(&r, &store, "spill", "u"),
        "No Trino coordinator of routing groups 'spill' then 'adhoc' can take new queries (c: UNHEALTHY, \
         a: UNHEALTHY, b: DRAINING); try again later"
    );
}

#[test]
fn a_user_hashes_to_one_cluster_while_it_is_up_and_moves_only_when_it_is_not() {
    let store = MemorySharedData::new();
    let r = router(&store, ROUTED);
    let users: Vec<String> = (0..300).map(|i| format!("user{i}")).collect();
    let before: Vec<String> = users.iter().map(|u| place(&r, &store, "bi", u)).collect();
    for (user, cluster) in users.iter().zip(&before) {
        assert_eq!(&place(&r, &store, "bi", user), cluster, "{user} is stable");
    }
    let on_d = before.iter().filter(|c| *c == "d").count();
    assert!((130..=230).contains(&on_d), "d (weight 3 of 5) has {on_d} of 300 users");
    polled(&r, &store, 3, Health::Unhealthy, 0, 0);
    for (user, cluster) in users.iter().zip(&before) {
        let now = place(&r, &store, "bi", user);
        if cluster == "d" {
            assert!(now == "a" || now == "b", "{user} moved from d to {now}");
        } else {
            assert_eq!(&now, cluster, "{user} was not on d: stays");
        }
    }
    polled(&r, &store, 3, Health::Healthy, 0, 0);
    assert!(users.iter().zip(&before).all(|(u, c)| &place(&r, &store, "bi", u) == c), "back on d");
}

#[test]
fn round_robin_stays_inside_its_group_with_its_own_counter() {
    let store = MemorySharedData::new();
    let r = router(&store, ROUTED);
    let picks: Vec<String> = (0..8).map(|_| place(&r, &store, "rr", "u")).collect();
    assert_eq!(picks, ["d", "b", "d", "d", "d", "b", "d", "d"]);
    let counter = crate::balancer::key(r.config.routing.group_index("rr").unwrap());
    assert_eq!(counter, "trino_gateway/v2/round_robin/4");
    assert!(store.get(&counter).unwrap().0.is_some());
}

#[test]
fn a_load_nobody_read_for_three_polls_is_not_used() {
    let store = MemorySharedData::new();
    let r = router(&store, ROUTED);
    let etl = Target { group: r.config.routing.group_index("etl").unwrap(), user: None };
    let at = |now: u32| {
        let health = r.read_health(&store, now).unwrap();
        r.place_new_query(&store, &health, &etl, &[], now).0.map(|placed| placed.cluster)
    };
    // Never read: limits do not apply (nothing says c is busy).
    assert_eq!(at(100), Ok(2));
    polled(&r, &store, 2, Health::Healthy, 2, 0); // c at max_running, read at 100
    assert!(at(103).is_err(), "read 3 s ago (3 polls of 1 s): still used");
    assert_eq!(at(104), Ok(2), "stats refused or no poll since: stale, not used");
}
