"""Failover through real Envoy with the real Python client: a new statement
whose coordinator fails before answering is re-sent to another one, and the
requests of a query whose coordinator is gone get a FAILED result at once.

The health poll is slowed to once a minute here, so that nothing but the
failed request itself tells the gateway a coordinator is gone."""

import signal
import threading
import time

import pytest
import requests
import trino

from conftest import shipped_plugin
from harness import Emulator, wait_until

SLOW_POLLS = {"interval_ms": 60000}


def stats(gateway):
    return gateway.envoy.gateway_stats()


def running_query_on(gateway, name, runtime_ms):
    """A cursor whose query (`runtime_ms` long) runs on coordinator `name`,
    once the gateway has it healthy (the round robin decides where queries go)."""
    coordinator = gateway.coordinators[name]
    wait_until(lambda: stats(gateway).get(f"cluster.{name}.health") == 1, 10, what=f"{name} healthy")
    while True:
        cursor = gateway.connect().cursor()
        cursor.execute(f"/* emulator: runtime_ms={runtime_ms} */ SELECT 1")
        # Its log says who took it (Trino 470–476 do not name their coordinator id in /v1/info).
        if any(e.query == cursor.query_id for e in coordinator.log_entries()):
            return cursor


def test_a_statement_whose_coordinator_is_down_is_resent_and_answered(start_gateway):
    gateway = start_gateway(plugin=shipped_plugin(health=SLOW_POLLS))
    gateway.coordinators["coordinator-a"].kill()  # not polled yet: still in rotation
    answered = []
    for _ in range(4):
        cursor = gateway.connect().cursor()
        cursor.execute("SELECT node_id FROM system.runtime.nodes")
        answered.append(cursor.fetchall()[0][0])
    assert answered == ["coordinator-b"] * 4
    s = stats(gateway)
    # The round robin picked the dead one once; that statement was re-sent, then it was out of rotation.
    assert (s["submissions_resent"], s["failovers"], s["passive_unhealthy_marks"]) == (1, 1, 1)
    posts = [e for e in gateway.coordinators["coordinator-b"].log_entries() if e.method == "POST"]
    assert len(posts) == 4 and all(e.status == 200 for e in posts)
    assert s["new_queries.coordinator-a"] == 1 and s["new_queries.coordinator-b"] == 3


def test_a_resent_statement_keeps_its_body_headers_and_next_uri(start_gateway):
    gateway = start_gateway(plugin=shipped_plugin(health=SLOW_POLLS))
    gateway.coordinators["coordinator-a"].kill()
    sql = "SELECT 'é' AS y, x FROM UNNEST(sequence(1, 3)) AS t(x)  -- " + "padding " * 2000
    headers = {"X-Trino-User": "carol", "X-Trino-Source": "failover-test", "Content-Type": "text/plain; charset=utf-8"}
    for _ in range(2):  # one of the two is placed on the dead coordinator
        response = requests.post(gateway.envoy.url + "/v1/statement", data=sql.encode(), headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["nextUri"].startswith(gateway.envoy.url + "/v1/statement/queued/" + body["id"])
        assert body["id"].endswith(gateway.coordinators["coordinator-b"].info()["coordinatorId"])
        assert response.headers["content-type"].startswith("application/json")
        # The query runs to the end through the gateway, with the resent text.
        rows, uri = [], body["nextUri"]
        while uri:
            page = requests.get(uri, headers={"X-Trino-User": "carol"}, timeout=10).json()
            rows += page.get("data", [])
            uri = page.get("nextUri")
            assert "error" not in page, page
        assert rows == [["é", 1], ["é", 2], ["é", 3]]
    assert stats(gateway)["failovers"] == 1


def test_requests_of_a_query_on_a_killed_coordinator_fail_at_once_with_a_clear_error(start_gateway):
    gateway = start_gateway(plugin=shipped_plugin(health=SLOW_POLLS))
    victim = gateway.coordinators["coordinator-a"]
    victim_id = victim.info()["coordinatorId"]
    cursors = []
    for _ in range(2):  # one query on each coordinator
        cursor = gateway.connect().cursor()
        cursor.execute("/* emulator: runtime_ms=4000 */ SELECT 1")
        cursors.append(cursor)
    lost = next(c for c in cursors if c.query_id.endswith(victim_id))
    survivor = next(c for c in cursors if not c.query_id.endswith(victim_id))
    victim.kill()
    started = time.monotonic()
    with pytest.raises(trino.exceptions.TrinoQueryError) as raised:
        lost.fetchall()
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, elapsed
    error = raised.value
    assert error.error_name == "REMOTE_HOST_GONE" and error.error_type == "INTERNAL_ERROR"
    assert error.query_id == lost.query_id
    assert f"coordinator 'coordinator-a' (coordinator id {victim_id}) is unreachable" in error.message
    assert survivor.fetchall() == [[1]]
    assert stats(gateway)["lost_queries_failed"] >= 1
    # Cancelling a lost query: nothing to cancel, 204 as for a query that ended.
    uri = f"{gateway.envoy.url}/v1/statement/executing/{lost.query_id}/y0/1"
    assert requests.delete(uri, headers={"X-Trino-User": "alice"}, timeout=5).status_code == 204
    page = requests.get(uri, headers={"X-Trino-User": "alice"}, timeout=5).json()
    assert page["stats"]["state"] == "FAILED" and "nextUri" not in page
    assert page["infoUri"] == f"{gateway.envoy.url}/ui/query.html?{lost.query_id}"


@pytest.mark.parametrize("version", ["480", "475"])
def test_a_query_of_a_restarted_coordinator_fails_with_the_restart_named(start_gateway, tmp_path, version):
    """477+ name the coordinator id in /v1/info; 470–476 do not, and the
    restart shows as the uptime going back."""
    gateway = start_gateway("--node-version", version, plugin=shipped_plugin(health={"interval_ms": 200}))
    victim = gateway.coordinators["coordinator-a"]
    cursor = running_query_on(gateway, "coordinator-a", runtime_ms=8000)
    old_id = cursor.query_id[-5:]
    time.sleep(0.5)  # polled a few times: a known uptime
    victim.kill()
    restarted = Emulator("coordinator-a", victim.port, tmp_path / "restarted-a.log", ["--node-version", version]).start()
    gateway.coordinators["coordinator-a"] = restarted
    wait_until(lambda: stats(gateway).get("coordinator_restarts") == 1, 10, what="restart noticed")
    wait_until(lambda: stats(gateway).get("cluster.coordinator-a.health") == 1, 10, what="a healthy again")
    with pytest.raises(trino.exceptions.TrinoQueryError) as raised:
        cursor.fetchall()
    if version == "480":
        new_id = restarted.info()["coordinatorId"]
        assert f"restarted (coordinator id {old_id} is gone, it is now {new_id})" in raised.value.message
    else:
        assert "coordinatorId" not in restarted.info()
        assert f"restarted (coordinator id {old_id} is gone)." in raised.value.message
    # The restarted coordinator was asked and did not know the query (Trino's
    # 404); the gateway named the restart instead of passing that on.
    asked = [e.status for e in restarted.log_entries() if e.query == cursor.query_id]
    assert asked and set(asked) == {404}, asked
    assert stats(gateway)["lost_queries_failed"] == 1


def test_a_paused_coordinator_keeps_its_running_queries(start_gateway):
    """A GC pause or a network blip fails the polls: the coordinator leaves the
    rotation, but its running queries are not ended for it. Their requests
    still go to it and are answered when it is back."""
    gateway = start_gateway(plugin=shipped_plugin(health={"interval_ms": 200}))
    victim = gateway.coordinators["coordinator-a"]
    cursor = running_query_on(gateway, "coordinator-a", runtime_ms=3000)
    victim.process.send_signal(signal.SIGSTOP)
    resume = threading.Timer(1.5, victim.process.send_signal, [signal.SIGCONT])
    try:
        wait_until(lambda: stats(gateway).get("cluster.coordinator-a.health") == 4, 5, what="a unhealthy")
        resume.start()  # the query's next request reaches the gateway while a is UNHEALTHY
        assert cursor.fetchall() == [[1]]
    finally:
        resume.cancel()
        victim.process.send_signal(signal.SIGCONT)
    assert stats(gateway)["lost_queries_failed"] == 0
    wait_until(lambda: stats(gateway).get("cluster.coordinator-a.health") == 1, 10, what="a healthy again")


def test_a_503_of_a_live_coordinator_does_not_fail_its_queries(start_gateway):
    """Every 4th page request of both coordinators is answered 503 (as a proxy
    or an overloaded server in front of Trino would). The coordinators are
    alive: no query may be declared lost (it would be submitted again while it
    may still run). The 503 is passed on and the client repeats the request."""
    gateway = start_gateway("--page-rows", "10", "--fail-every", "4")
    for _ in range(6):
        cursor = gateway.connect().cursor()
        cursor.execute("SELECT x FROM UNNEST(sequence(1, 60)) AS t(x)")
        assert [row[0] for row in cursor.fetchall()] == list(range(1, 61))
    stats = gateway.envoy.gateway_stats()
    assert stats["lost_queries_failed"] == 0
    injected = [e for c in gateway.coordinators.values() for e in c.log_entries() if e.status == 503]
    assert len(injected) >= 4, "the faults were injected"
    assert stats["transient_upstream_failures"] >= 4
