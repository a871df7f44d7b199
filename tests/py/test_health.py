"""Coordinator health through real Envoy: the health-check service (bootstrap
singleton) polls /v1/info, workers mark a failing coordinator at once, and new
queries go only where they can run. The real Python client drives the load."""

import re
import threading
import time
from collections import Counter

import pytest
import requests
import trino

from conftest import shipped_plugin
from harness import Emulator, wait_until

HEALTH = {"unknown": 0, "healthy": 1, "starting": 2, "draining": 3, "unhealthy": 4}


def health_of(gateway, cluster):
    return gateway.envoy.gateway_stats().get(f"cluster.{cluster}.health")


def wait_health(gateway, cluster, state, timeout=10.0):
    wait_until(lambda: health_of(gateway, cluster) == HEALTH[state], timeout, what=f"{cluster} {state}")


def posts(emulator):
    return sum(1 for e in emulator.log_entries() if e.method == "POST")


def run_query(gateway, sql="SELECT node_id FROM system.runtime.nodes"):
    cursor = gateway.connect().cursor()
    cursor.execute(sql)
    return cursor.query_id, cursor.fetchall()


def test_a_starting_coordinator_gets_no_queries_until_it_is_ready(start_gateway, tmp_path):
    gateway = start_gateway()
    slow = gateway.coordinators["coordinator-b"]
    slow.stop()
    slow = Emulator("coordinator-b", slow.port, tmp_path / "slow-b.log", ["--startup-ms", "4000"]).start()
    gateway.coordinators["coordinator-b"] = slow
    wait_health(gateway, "coordinator-b", "starting")
    for _ in range(6):
        assert run_query(gateway)[1] == [["coordinator-a"]]
    assert posts(slow) == 0
    wait_health(gateway, "coordinator-b", "healthy", timeout=8)
    answered = Counter(run_query(gateway)[1][0][0] for _ in range(6))
    assert answered == {"coordinator-a": 3, "coordinator-b": 3}


def test_a_killed_coordinator_is_out_of_rotation_at_once_and_rejoins_after_restart(start_gateway, tmp_path):
    gateway = start_gateway("--page-rows", "10")
    wait_health(gateway, "coordinator-a", "healthy")
    wait_health(gateway, "coordinator-b", "healthy")
    victim = gateway.coordinators["coordinator-a"]
    old_id = victim.info()["coordinatorId"]
    outcomes, stop = [], threading.Event()
    killed_at = {}

    def client():
        while not stop.is_set():
            cursor = gateway.connect().cursor()
            started = time.monotonic()
            try:
                cursor.execute("/* emulator: runtime_ms=300 */ SELECT x FROM UNNEST(sequence(1, 50)) AS t(x)")
                rows = cursor.fetchall()
                outcomes.append(("ok", cursor.query_id, started, len(rows)))
            except Exception as error:  # noqa: BLE001 - every failure is counted and checked below
                outcomes.append(("failed", cursor.query_id, started, repr(error)))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    killed_at["t"] = time.monotonic()
    victim.kill()
    time.sleep(3.0)
    stop.set()
    for t in threads:
        t.join(30)
    ok = [o for o in outcomes if o[0] == "ok"]
    failed = [o for o in outcomes if o[0] == "failed"]
    print(f"\nkill test: {len(outcomes)} queries, {len(ok)} succeeded, {len(failed)} failed")
    # Only queries already running on the killed coordinator may fail...
    for _, query_id, started, error in failed:
        assert query_id is not None and query_id.endswith(old_id), (query_id, error)
        assert started < killed_at["t"], f"a query submitted after the kill failed: {query_id} {error}"
    # ...and every submission after the kill went to the survivor and succeeded.
    after = [o for o in ok if o[2] > killed_at["t"]]
    assert after and all(not o[1].endswith(old_id) for o in after)
    assert all(o[3] == 50 for o in ok)
    assert health_of(gateway, "coordinator-a") == HEALTH["unhealthy"]
    # Restarted (a new coordinator id): back in rotation after one successful poll.
    restarted = Emulator("coordinator-a", victim.port, tmp_path / "restarted-a.log").start()
    gateway.coordinators["coordinator-a"] = restarted
    wait_health(gateway, "coordinator-a", "healthy")
    answered = Counter(run_query(gateway)[1][0][0] for _ in range(4))
    assert answered["coordinator-a"] == 2
    stats = gateway.envoy.gateway_stats()
    assert stats["coordinator_restarts"] == 1


def test_no_coordinator_means_an_immediate_failed_query_naming_each_state(start_gateway):
    gateway = start_gateway()
    for emulator in gateway.coordinators.values():
        emulator.kill()
    wait_health(gateway, "coordinator-a", "unhealthy")
    wait_health(gateway, "coordinator-b", "unhealthy")
    message = (
        "No Trino coordinator can take new queries (coordinator-a: UNHEALTHY, coordinator-b: UNHEALTHY); "
        "try again later"
    )
    started = time.monotonic()
    with pytest.raises(trino.exceptions.TrinoQueryError) as raised:
        gateway.connect().cursor().execute("SELECT 1")
    assert time.monotonic() - started < 0.5
    assert (raised.value.error_name, raised.value.message) == ("NO_NODES_AVAILABLE", message)
    # On the wire: Trino's FAILED QueryResults, so no client retries it as it would a 503.
    response = requests.post(gateway.envoy.url + "/v1/statement", data="SELECT 1", headers={"X-Trino-User": "a"}, timeout=5)
    body = response.json()
    assert response.status_code == 200 and "nextUri" not in body and body["stats"]["state"] == "FAILED"
    assert re.fullmatch(r"\d{8}_\d{6}_\d{5}_gatew", body["id"]), body["id"]
    assert body["error"]["message"] == message
    assert gateway.envoy.gateway_stats()["no_coordinator_available"] == 2


def test_a_cluster_drained_by_configuration_gets_no_new_queries(start_gateway):
    clusters = [{"name": "coordinator-a"}, {"name": "coordinator-b", "draining": True}]
    gateway = start_gateway(plugin=shipped_plugin(clusters=clusters))
    wait_health(gateway, "coordinator-b", "draining")
    assert Counter(run_query(gateway)[1][0][0] for _ in range(6)) == {"coordinator-a": 6}
    assert posts(gateway.coordinators["coordinator-b"]) == 0
    # Follow-up requests of its queries still reach it (e.g. a query started before the drain).
    direct = trino.dbapi.connect(host="127.0.0.1", port=gateway.coordinators["coordinator-b"].port, user="a").cursor()
    direct.execute("SELECT 1")
    info = requests.get(f"{gateway.envoy.url}/v1/query/{direct.query_id}", headers={"X-Trino-User": "a"}, timeout=5)
    assert info.status_code == 200 and info.json()["queryId"] == direct.query_id


def test_running_and_queued_queries_come_from_trinos_web_ui_stats_after_a_login(start_gateway):
    gateway = start_gateway(plugin=shipped_plugin(health={"interval_ms": 300, "ui_user": "gateway-health"}))

    def load():
        stats = gateway.envoy.gateway_stats()
        return {
            name: (stats.get(f"cluster.{name}.running_queries"), stats.get(f"cluster.{name}.queued_queries"))
            for name in gateway.coordinators
        }

    wait_until(lambda: load() == {"coordinator-a": (0, 0), "coordinator-b": (0, 0)}, 10, what="idle figures")
    # The client's execute() returns once rows are there, so the four run side by side.
    cursors = [gateway.connect().cursor() for _ in range(4)]
    threads = [threading.Thread(target=c.execute, args=("/* emulator: runtime_ms=4000 */ SELECT 1",)) for c in cursors]
    for thread in threads:
        thread.start()
    # Two running queries on each coordinator, as Trino itself counts them.
    wait_until(lambda: load() == {"coordinator-a": (2, 0), "coordinator-b": (2, 0)}, 3.5, what="2 running each")
    for thread in threads:
        thread.join()
    assert all(c.fetchall() == [[1]] for c in cursors)
    wait_until(lambda: load() == {"coordinator-a": (0, 0), "coordinator-b": (0, 0)}, 5, what="idle again")
    # The health service logged in once per coordinator and then reused its session.
    for emulator in gateway.coordinators.values():
        logins = [e for e in emulator.log_entries() if e.path == "/ui/login"]
        assert len(logins) == 1 and logins[0].status == 303, logins
        assert any(e.path == "/ui/api/stats" and e.status == 200 for e in emulator.log_entries())


def test_without_the_health_service_a_marked_coordinator_comes_back(start_gateway, tmp_path):
    """Under Istio no bootstrap service runs. A coordinator a failed statement
    marked UNHEALTHY must not stay out of rotation for ever: a worker polls
    (it holds the poll lease), and a mark nobody renews lapses anyway."""
    gateway = start_gateway(plugin=shipped_plugin(health={"interval_ms": 300}), health_service=False)
    victim = gateway.coordinators["coordinator-a"]
    victim.kill()
    for _ in range(4):  # those placed on a are re-sent to b; a is marked
        assert run_query(gateway)[1] == [["coordinator-b"]]
    wait_until(lambda: gateway.envoy.gateway_stats().get("cluster.coordinator-a.health") == 4, 5, what="a marked")
    restarted = Emulator("coordinator-a", victim.port, tmp_path / "restarted-a.log").start()
    gateway.coordinators["coordinator-a"] = restarted
    started = time.monotonic()
    wait_until(lambda: run_query(gateway)[1] == [["coordinator-a"]], 10, interval=0.2, what="a back in rotation")
    assert time.monotonic() - started < 6


def test_requests_that_are_not_query_bound_avoid_a_coordinator_known_to_be_down(start_gateway):
    """With coordinator-a down, a new user's /v1/info and web UI requests are
    answered by b (not 503), and a web UI session stays on one coordinator."""
    gateway = start_gateway(plugin=shipped_plugin(health={"interval_ms": 200}))
    ui = requests.Session()
    login = ui.post(gateway.envoy.url + "/ui/login", data={"username": "admin", "password": ""}, allow_redirects=False)
    assert login.status_code == 303
    for _ in range(6):  # the session cookie is signed by the coordinator that issued it: it stays there
        assert ui.get(gateway.envoy.url + "/ui/api/stats", timeout=5).status_code == 200
    gateway.coordinators["coordinator-a"].kill()
    wait_health(gateway, "coordinator-a", "unhealthy")
    infos = [requests.get(gateway.envoy.url + "/v1/info", timeout=5) for _ in range(8)]
    assert [r.status_code for r in infos] == [200] * 8
    page = requests.get(gateway.envoy.url + "/ui/", allow_redirects=False, timeout=5)
    assert page.status_code == 303 and page.headers["Location"].endswith("/ui/login.html")
    # A new login now lands on b and its session works there.
    relogin = ui.post(gateway.envoy.url + "/ui/login", data={"username": "admin", "password": ""}, allow_redirects=False)
    assert relogin.status_code == 303
    assert ui.get(gateway.envoy.url + "/ui/api/stats", timeout=5).status_code == 200


def test_without_the_health_service_one_worker_polls(start_gateway, tmp_path):
    """Istio's WasmPlugin adds HTTP filters only: no bootstrap singleton. One
    worker's root context takes the poll lease and polls; the other does not."""
    gateway = start_gateway(plugin=shipped_plugin(health={"interval_ms": 500}), health_service=False, concurrency=2)
    wait_health(gateway, "coordinator-a", "healthy")  # only a successful poll makes a cluster HEALTHY
    a = gateway.coordinators["coordinator-a"]

    def polls():
        return sum(1 for e in a.log_entries() if e.method == "GET" and e.path == "/v1/info")

    before = polls()
    time.sleep(3.0)
    during = polls() - before
    assert 4 <= during <= 8, f"{during} polls in 3 s at 500 ms: one poller, not two"
    assert "this worker polls the coordinators" in gateway.envoy.log_path.read_text()
    a.kill()
    wait_health(gateway, "coordinator-a", "unhealthy")
    restarted = Emulator("coordinator-a", a.port, tmp_path / "restarted-a.log").start()
    gateway.coordinators["coordinator-a"] = restarted
    wait_health(gateway, "coordinator-a", "healthy")
