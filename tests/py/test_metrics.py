"""The filter's stats as a platform team reads them (Prometheus, cluster as a
label), and the per-worker memory budget for statements kept for a re-send,
through real Envoy."""

import re

import requests

from conftest import shipped_plugin


def prometheus(gateway) -> str:
    return requests.get(gateway.envoy.admin + "/stats/prometheus", timeout=5).text


def test_prometheus_shows_the_cluster_as_a_label(start_gateway):
    gateway = start_gateway()
    for _ in range(4):
        cursor = gateway.connect().cursor()
        cursor.execute("SELECT 1")
        cursor.fetchall()
    text = prometheus(gateway)
    counts = {m[0]: int(m[1]) for m in re.findall(r'^trino_gateway_new_queries\{trino_cluster="([^"]+)"\} (\d+)$', text, re.M)}
    assert counts == {"coordinator-a": 2, "coordinator-b": 2}, text[:2000]
    assert re.search(r'^trino_gateway_cluster_health\{trino_cluster="coordinator-b"\} \d+$', text, re.M), text[:2000]
    # No metric name carries a cluster name: one series per cluster, one name per counter.
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line.startswith("trino_gateway_")}
    assert not [n for n in names if re.search(r"coordinator_[ab](_|$)", n)], names
    assert "trino_gateway_sticky_hits" in names


def test_statements_beyond_the_workers_memory_budget_are_not_kept(start_gateway):
    plugin = shipped_plugin(health={"interval_ms": 60000}, failover={"max_kept_bytes_per_worker": 2048})
    gateway = start_gateway(plugin=plugin, concurrency=1)
    gateway.coordinators["coordinator-a"].kill()  # not polled yet: still in rotation
    sql = "SELECT 1 -- " + "x" * 4000
    statuses = [requests.post(gateway.envoy.url + "/v1/statement", data=sql, headers={"X-Trino-User": "a"}, timeout=10).status_code
                for _ in range(2)]
    # The round robin sends one to the dead coordinator: not kept, so not re-sent; its 503 goes to the client.
    assert sorted(statuses) == [200, 503]
    stats = gateway.envoy.gateway_stats()
    assert stats["statements_over_memory_budget"] == 2
    assert stats.get("submissions_resent", 0) == 0
