//! What routing rules cost a new statement, natively (the core as the filter
//! runs it, without Envoy): the routing-group choice of a statement that no
//! rule matches (every rule is evaluated), with 0, 10 and 100 header rules,
//! and with 10 header rules and one statement rule (a regex over a ~1 KB
//! statement, and the read-only/write classification). Prints one JSON line
//! per configuration: `cargo run -q --release -p trino-gateway-core --example rule_cost`.
//! bench/rules.py runs it next to the same configurations measured in Envoy.

use std::hint::black_box;
use std::time::Instant;
use trino_gateway_core::config::Config;
use trino_gateway_core::router::{Choice, Router};
use trino_gateway_core::rules::Statement;
use trino_gateway_core::shared_data::MemorySharedData;

/// `n` header rules of every kind, none of which matches the request below.
fn header_rules(n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| {
            let when = match i % 5 {
                0 => serde_json::json!({"header": {"name": "X-Tenant", "exact": format!("tenant-{i}")}}),
                1 => serde_json::json!({"source": {"prefix": format!("tool-{i}")}}),
                2 => serde_json::json!({"user": {"regex": format!("^svc-{i}-[a-z]+$")}}),
                3 => serde_json::json!({"client_tags": {"any_of": [format!("team-{i}"), "nightly"]}}),
                _ => serde_json::json!({"all": [{"catalog": {"exact": "lake"}}, {"schema": {"prefix": format!("s{i}")}}]}),
            };
            serde_json::json!({"name": format!("rule-{i}"), "when": when, "group": "etl"})
        })
        .collect()
}

fn plugin(rules: Vec<serde_json::Value>) -> String {
    serde_json::json!({
        "clusters": [{"name": "a"}, {"name": "b"}],
        "routing": {
            "groups": [{"name": "adhoc", "clusters": ["a"]}, {"name": "etl", "clusters": ["b"]}],
            "default_group": "adhoc",
            "rules": rules
        }
    })
    .to_string()
}

fn main() {
    let headers: Vec<(String, String)> = [
        (":method", "POST"),
        (":path", "/v1/statement"),
        (":authority", "gateway:8080"),
        (":scheme", "http"),
        ("content-type", "text/plain"),
        ("x-trino-user", "analyst"),
        ("x-trino-source", "trino-python-client"),
        ("x-trino-catalog", "hive"),
        ("x-trino-schema", "web"),
        ("x-trino-client-tags", "bi,adhoc"),
        ("x-trino-time-zone", "UTC"),
        ("user-agent", "trino-python-client/0.336.0"),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let statement = format!(
        "/* dbt: {{\"app\": \"dbt\", \"node_id\": \"model.shop.orders\"}} */ SELECT {} FROM hive.web.orders o JOIN hive.web.customers c ON o.customer = c.id WHERE o.day > DATE '2026-01-01'",
        (0..60).map(|i| format!("o.column_{i}")).collect::<Vec<_>>().join(", ")
    );
    let mut with_statement = header_rules(10);
    with_statement.push(serde_json::json!({"name": "audit-writes", "when": {"statement": {"regex": "(?i)\\binsert\\s+into\\s+audit\\."}}, "group": "etl"}));
    with_statement.push(serde_json::json!({"name": "writes", "when": {"statement_kind": "write"}, "group": "etl"}));
    let cases = [
        ("0 rules", header_rules(0), false),
        ("10 header rules", header_rules(10), false),
        ("100 header rules", header_rules(100), false),
        ("1000 header rules", header_rules(1000), false),
        ("10 header + 2 statement rules", with_statement, true),
    ];
    for (name, rules, reads) in cases {
        let store = MemorySharedData::new();
        let Ok(config) = Config::parse(plugin(rules).as_bytes()) else { return eprintln!("{name}: bad config") };
        let Ok(router) = Router::new(config, &store) else { return eprintln!("{name}: no router") };
        let text = if reads { Statement::Text(&statement) } else { Statement::NotRead };
        let choose = || match router.choose_group(black_box(&headers), black_box(text)) {
            Choice::Group(g) => g,
            _ => usize::MAX,
        };
        if choose() != 0 {
            return eprintln!("{name}: a rule matched; the benchmark wants every rule evaluated");
        }
        // Median of 7 rounds of 20,000.
        let mut rounds: Vec<f64> = (0..7)
            .map(|_| {
                let started = Instant::now();
                for _ in 0..20_000 {
                    black_box(choose());
                }
                started.elapsed().as_nanos() as f64 / 20_000.0
            })
            .collect();
        rounds.sort_by(f64::total_cmp);
        println!(
            r#"{{"case": "{name}", "ns_per_statement": {:.0}, "statement_bytes": {}}}"#,
            rounds.get(3).copied().unwrap_or(f64::NAN),
            if reads { statement.len() } else { 0 }
        );
    }
}
