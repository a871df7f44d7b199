"""Routing groups, rules and load-aware placement through real Envoy, with
the real Python client: which coordinator each new statement reaches, told
by the coordinator id at the end of its query id."""

import threading
import time
from collections import Counter

import pytest
import requests
import trino

from conftest import shipped_plugin
from harness import Emulator, wait_until
from test_health import wait_health

A, B = "coordinator-a", "coordinator-b"


def routed(routing: dict, **changes) -> dict:
    plugin = shipped_plugin(**changes)
    plugin["routing"] = routing
    return plugin


def owner(gateway, sql: str, **connect) -> str:
    """Runs `sql` through the gateway; the coordinator that ran it."""
    cursor = gateway.connect(**connect).cursor()
    cursor.execute(sql)
    cursor.fetchall()
    return gateway.owner_of(cursor.query_id)


def refusal(gateway, sql: str = "SELECT 1", **connect):
    """Runs `sql`, which the gateway must refuse: the client's error."""
    cursor = gateway.connect(**connect).cursor()
    with pytest.raises(trino.exceptions.TrinoQueryError) as refused:
        cursor.execute(sql)
    return refused.value


def run_to_the_end(cursor, sql: str) -> None:
    """What a client does with a query (Trino, and the emulator, finish a
    query once its results are read)."""
    cursor.execute(sql)
    cursor.fetchall()


def posts(gateway) -> int:
    return sum(1 for entries in gateway.client_requests().values() for e in entries if e.method == "POST")


# Two groups of one coordinator each, so that a route is never luck.
RULES = {
    "groups": [
        {"name": "etl", "clusters": [A], "when_unavailable": "fail"},
        {"name": "adhoc", "clusters": [B], "when_unavailable": "fail"},
    ],
    "default_group": "adhoc",
    "rules": [
        {"name": "tenant", "when": {"header": {"name": "X-Tenant", "exact": "acme"}}, "group": "etl"},
        {"name": "dbt", "when": {"source": {"prefix": "dbt"}}, "group": "etl"},
        {"name": "service-users", "when": {"user": {"regex": "^svc-[a-z]+$"}}, "group": "etl"},
        {"name": "batch-tags", "when": {"client_tags": {"any_of": ["batch", "etl"]}}, "group": "etl"},
        {"name": "etl-tables", "when": {"table": {"prefix": "lake.etl."}}, "group": "etl"},
        {"name": "writes", "when": {"statement_kind": "write"}, "group": "etl"},
        {"name": "nightly", "when": {"statement": {"regex": "(?i)/\\* nightly \\*/"}}, "group": "etl"},
    ],
}


def test_header_user_source_tag_and_statement_rules_pick_the_group(start_gateway):
    gateway = start_gateway(plugin=routed(RULES), stop_iteration=True)
    # (connect arguments, statement, coordinator, whether the rules read the statement)
    cases = [
        ({}, "SELECT 1", B, True),
        ({"http_headers": {"X-Tenant": "acme"}}, "SELECT 1", A, False),
        ({"http_headers": {"X-Tenant": "acme-2"}}, "SELECT 1", B, True),
        ({"source": "dbt-trino-1.11"}, "SELECT 1", A, False),
        ({"user": "svc-loader"}, "SELECT 1", A, False),
        ({"user": "svc-loader-2"}, "SELECT 1", B, True),
        ({"client_tags": ["bi", "batch"]}, "SELECT 1", A, False),
        ({"client_tags": ["bi"]}, "SELECT 1", B, True),
        # Writes go to etl: the schema and table live in the shared lake catalog.
        ({}, "CREATE SCHEMA IF NOT EXISTS lake.etl", A, True),
        ({}, "CREATE TABLE lake.etl.orders AS SELECT 1 AS id", A, True),
        ({}, "SELECT id FROM lake.etl.orders", A, True),
        # Completed with the session's catalog and schema.
        ({"catalog": "lake", "schema": "etl"}, "SELECT id FROM orders", A, True),
        ({}, "/* nightly */ SELECT 1", A, True),
        ({}, "SHOW CATALOGS", B, True),
    ]
    for connect, sql, expected, _ in cases:
        assert owner(gateway, sql, **connect) == expected, (connect, sql)
    stats = gateway.envoy.gateway_stats()
    assert stats["routing.statements_read"] == sum(1 for c in cases if c[3])
    assert stats["group.etl.new_queries"] == sum(1 for c in cases if c[2] == A)
    assert stats["group.adhoc.new_queries"] == sum(1 for c in cases if c[2] == B)
    # Prometheus: the group is a label (envoy.yaml's stats_tags).
    prometheus = requests.get(gateway.envoy.admin + "/stats/prometheus", timeout=5).text
    assert f'trino_gateway_group_new_queries{{trino_routing_group="etl"}} {stats["group.etl.new_queries"]}' in prometheus


def test_the_routing_group_header_is_honoured_only_as_configured(start_gateway):
    allowed = dict(RULES, group_header={"users": ["admin"], "sources": ["airflow"]})
    gateway = start_gateway(plugin=routed(allowed))
    header = {"X-Trino-Routing-Group": "etl"}
    assert owner(gateway, "SELECT 1", user="admin", http_headers=header) == A
    assert owner(gateway, "SELECT 1", user="bob", source="airflow", http_headers=header) == A
    before = posts(gateway)
    denied = refusal(gateway, user="bob", http_headers=header)
    assert denied.error_name == "PERMISSION_DENIED" and "may not be used by user 'bob'" in denied.message
    unknown = refusal(gateway, user="admin", http_headers={"X-Trino-Routing-Group": "coordinator-b"})
    assert unknown.error_name == "GENERIC_USER_ERROR"
    assert "unknown routing group 'coordinator-b' (routing groups: etl, adhoc)" in unknown.message
    assert posts(gateway) == before, "refused statements reach no coordinator"
    assert gateway.envoy.gateway_stats()["routing.group_header_refused"] == 2

    # Not configured: the header is ignored, the rules decide.
    plain = start_gateway(plugin=routed(RULES), stop_iteration=True)
    assert owner(plain, "SELECT 1", user="admin", http_headers=header) == B


def test_least_loaded_avoids_a_busy_coordinator_and_spreads_a_burst(start_gateway):
    plugin = routed(
        {"groups": [{"name": "all", "clusters": [A, B], "placement": "least_loaded"}], "default_group": "all"},
        health={"interval_ms": 300, "ui_user": "gateway-health"},
    )
    gateway = start_gateway("--max-running", "2", plugin=plugin)
    busy = gateway.coordinators[B]
    # Keep b busy behind the gateway's back: 2 running, 2 queued.
    background = [trino.dbapi.connect(host="127.0.0.1", port=busy.port, user="etl").cursor() for _ in range(4)]
    threads = [threading.Thread(target=run_to_the_end, args=(c, "/* emulator: runtime_ms=6000 */ SELECT 1")) for c in background]
    for thread in threads:
        thread.start()
    stats = gateway.envoy.gateway_stats
    wait_until(lambda: (stats().get(f"cluster.{B}.running_queries"), stats().get(f"cluster.{B}.queued_queries")) == (2, 2), 5, what="b busy")
    # One at a time (a poll between two), every statement goes to the idle coordinator.
    one_at_a_time = []
    for _ in range(6):
        one_at_a_time.append(owner(gateway, "SELECT 1"))
        time.sleep(0.35)
    assert one_at_a_time == [A] * 6
    # A burst between two polls: the statements this Envoy placed count at
    # once, so a does not get all of it (b has 4; a fills up to it, then both share).
    burst = [gateway.connect().cursor() for _ in range(8)]
    runs = [threading.Thread(target=run_to_the_end, args=(c, "/* emulator: runtime_ms=1500 */ SELECT 1")) for c in burst]
    for run in runs:
        run.start()
    for run in runs:
        run.join(30)
    placed = Counter(gateway.owner_of(c.query_id) for c in burst)
    print(f"\nleast-loaded burst of 8 with b at 4: {dict(placed)}")
    assert 5 <= placed[A] <= 7 and 1 <= placed[B] <= 3, placed
    for thread in threads:
        thread.join(30)


def test_a_user_hashes_to_one_coordinator_while_it_is_healthy_and_moves_when_it_is_not(start_gateway, tmp_path):
    plugin = routed({"groups": [{"name": "all", "clusters": [A, B], "placement": "user_hash"}], "default_group": "all"})
    gateway = start_gateway(plugin=plugin)
    wait_health(gateway, A, "healthy")
    wait_health(gateway, B, "healthy")
    users = [f"analyst-{i}" for i in range(10)]
    home = {user: owner(gateway, "SELECT 1", user=user) for user in users}
    print(f"\nuser hash: {Counter(home.values())}")
    assert set(home.values()) == {A, B}, home
    assert all(owner(gateway, "SELECT 1", user=user) == home[user] for user in users), "stable"
    victim = gateway.coordinators[B]
    victim.kill()
    wait_health(gateway, B, "unhealthy")
    assert all(owner(gateway, "SELECT 1", user=user) == A for user in users), "b's users move, a's stay"
    gateway.coordinators[B] = Emulator(B, victim.port, tmp_path / "restarted-b.log").start()
    wait_health(gateway, B, "healthy")
    assert {user: owner(gateway, "SELECT 1", user=user) for user in users} == home, "and come back"


def test_saturated_coordinators_are_skipped_and_a_full_group_fails_at_once(start_gateway):
    clusters = [{"name": A, "weight": 1, "max_running": 1}, {"name": B, "weight": 1, "max_running": 1}]
    gateway = start_gateway(plugin=shipped_plugin(clusters=clusters, health={"interval_ms": 300, "ui_user": "gateway-health"}))
    stats = gateway.envoy.gateway_stats
    long_ones = [gateway.connect().cursor() for _ in range(2)]
    threads = [threading.Thread(target=run_to_the_end, args=(c, "/* emulator: runtime_ms=3000 */ SELECT 1")) for c in long_ones]
    for thread in threads:
        thread.start()
    wait_until(lambda: all(stats().get(f"cluster.{c}.running_queries") == 1 for c in (A, B)), 3, what="one running each")
    before = posts(gateway)
    started = time.monotonic()
    full = refusal(gateway)
    elapsed = time.monotonic() - started
    assert full.error_name == "NO_NODES_AVAILABLE"
    assert f"{A}: HEALTHY, saturated: 1 running (max_running 1)" in full.message, full.message
    # Answered by the gateway itself: no coordinator saw it, nothing queued it.
    assert full.query_id.endswith("_gatew") and posts(gateway) == before
    print(f"\nsaturated: FAILED in {elapsed * 1000:.0f} ms: {full.message}")
    for thread in threads:
        thread.join(30)
    assert sorted(gateway.owner_of(c.query_id) for c in long_ones) == [A, B]
    wait_until(lambda: all(stats().get(f"cluster.{c}.running_queries") == 0 for c in (A, B)), 3, what="idle")
    assert owner(gateway, "SELECT 1") in (A, B)


def test_a_held_statement_is_still_resent_when_its_coordinator_is_down(start_gateway):
    # The health service polls once a minute: the kill is noticed by the statement itself.
    routing = {
        "groups": [{"name": "etl", "clusters": [A]}, {"name": "adhoc", "clusters": [B]}],
        "default_group": "adhoc",
        "rules": [{"name": "writes", "when": {"statement_kind": "write"}, "group": "etl"}],
    }
    gateway = start_gateway(plugin=routed(routing, health={"interval_ms": 60000}), stop_iteration=True)
    wait_health(gateway, A, "healthy")
    gateway.coordinators[A].kill()
    # etl (a only) falls back to the default group: the re-send goes to b.
    assert owner(gateway, "CREATE SCHEMA IF NOT EXISTS lake.resent") == B
    stats = gateway.envoy.gateway_stats()
    assert (stats["submissions_resent"], stats["failovers"]) == (1, 1)
    assert stats["routing.statements_read"] == 1


EXAMPLES = [
    # (file in envoy/routing/, [(connect arguments, statement, routing group that places it)])
    ("etl-vs-adhoc.json", [
        ({"source": "dbt-trino-1.11"}, "SELECT 1", "etl"),
        ({"user": "svc-loader"}, "SELECT 1", "etl"),
        ({"client_tags": ["batch"]}, "SELECT 1", "etl"),
        ({}, "CREATE SCHEMA IF NOT EXISTS lake.staging", "etl"),
        ({}, "SELECT 1", "adhoc"),
        ({"source": "airflow", "http_headers": {"X-Trino-Routing-Group": "adhoc"}}, "CREATE SCHEMA IF NOT EXISTS lake.x", "adhoc"),
    ]),
    ("per-tenant.json", [
        ({"http_headers": {"X-Tenant": "globex"}}, "SELECT 1", "tenant-globex"),
        ({"user": "acme.jane"}, "SELECT 1", "tenant-acme"),
        # No group_header: a client cannot move itself to another tenant's coordinator.
        ({"user": "acme.jane", "http_headers": {"X-Trino-Routing-Group": "tenant-globex"}}, "SELECT 1", "tenant-acme"),
        ({"user": "someone"}, "SELECT 1", "shared"),
    ]),
    ("bi-by-source.json", [
        ({"source": "Superset"}, "SELECT 1", "bi"),
        ({"source": "tableau-server"}, "SHOW CATALOGS", "bi"),
        ({"source": "Superset"}, "CREATE SCHEMA IF NOT EXISTS lake.bi", "general"),
        ({"source": "cli"}, "SELECT 1", "general"),
    ]),
]


@pytest.mark.parametrize("example, cases", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_the_example_configurations_load_and_route_as_documented(start_gateway, example, cases):
    import json

    from harness import REPO

    plugin = json.loads((REPO / "envoy" / "routing" / example).read_text())
    reads = any("statement" in json.dumps(rule["when"]) for rule in plugin["routing"].get("rules", []))
    gateway = start_gateway(plugin=plugin, stop_iteration=reads)
    members = {g["name"]: g["clusters"] for g in plugin["routing"]["groups"]}
    for connect, sql, group in cases:
        counted = gateway.envoy.gateway_stats().get(f"group.{group}.new_queries", 0)
        placed = owner(gateway, sql, **connect)
        assert gateway.envoy.gateway_stats().get(f"group.{group}.new_queries", 0) == counted + 1, (example, connect, sql)
        assert placed in members[group], (example, connect, sql, placed)


def test_without_allow_on_headers_stop_iteration_a_held_statement_fails_saying_so(start_gateway):
    # As under Istio's WasmPlugin: Envoy never hands a held statement's body to the filter.
    gateway = start_gateway(plugin=routed(RULES), stop_iteration=False)
    assert owner(gateway, "SELECT 1", source="dbt-trino") == A, "header rules work without it"
    before = posts(gateway)
    started = time.monotonic()
    stuck = refusal(gateway, "SELECT 1")
    print(f"\nheld statement answered after {time.monotonic() - started:.1f} s: {stuck.message}")
    assert stuck.error_name == "GENERIC_INTERNAL_ERROR"
    assert "set allow_on_headers_stop_iteration: true" in stuck.message
    assert posts(gateway) == before, "no coordinator saw it"
    assert "allow_on_headers_stop_iteration" in gateway.envoy.log_path.read_text()
