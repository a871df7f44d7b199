"""Several gateway Envoys sharing their routing state through a real etcd
(Debian's etcd-server on loopback): entries one Envoy learns reach the others,
drains written to etcd reach every Envoy, a restarted Envoy loads what is
there, an etcd outage costs no routing and its entries are written afterwards,
and foreign data under the prefix is skipped."""

from __future__ import annotations

import subprocess
import time

import pytest
import requests

from harness import Emulator, Envoy, Etcd, free_port, wait_until

PREFIX = "/trino-gateway/"


@pytest.fixture
def etcd(tmp_path):
    return Etcd("etcd0", free_port(), free_port(), tmp_path / "etcd-data", tmp_path / "etcd.log").start()


@pytest.fixture
def coordinators(tmp_path):
    return {
        name: Emulator(name, free_port(), tmp_path / f"{name}.log", ["--page-rows", "5"]).start()
        for name in ("coordinator-a", "coordinator-b")
    }


def start_envoy(tmp_path, name: str, etcd: Etcd, coordinators: dict, port: int | None = None, **changes) -> Envoy:
    envoy = Envoy(
        port or free_port(), free_port(), {n: e.port for n, e in coordinators.items()}, tmp_path / f"envoy-{name}.log",
        etcd_port=etcd.client_port, store_changes=changes,
    )
    return envoy.start()


def store(envoy: Envoy) -> dict:
    stats = envoy.gateway_stats()
    return {k[len("state_store."):]: v for k, v in stats.items() if k.startswith("state_store.")}


def submit(envoy: Envoy, sql: str, headers: dict | None = None) -> dict:
    answer = requests.post(envoy.url + "/v1/statement", data=sql, headers={"X-Trino-User": "alice", **(headers or {})}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def follow(envoy, page: dict, headers: dict | None = None) -> tuple:
    """Fetches every nextUri through `envoy` (or a list of Envoys, in turn), whatever gateway the URI names;
    rows, last page, answer headers."""
    envoys = envoy if isinstance(envoy, list) else [envoy]
    rows, seen, n = list(page.get("data") or []), {}, 0
    while page.get("nextUri"):
        path = page["nextUri"].split("/", 3)[3]
        through = envoys[n % len(envoys)]
        n += 1
        answer = requests.get(f"{through.url}/{path}", headers={"X-Trino-User": "alice", **(headers or {})}, timeout=10)
        assert answer.status_code == 200, answer.text
        seen.update({k.lower(): v for k, v in answer.headers.items()})
        page = answer.json()
        rows += page.get("data") or []
    return rows, page, seen


def owner(coordinators: dict, query_id: str) -> str:
    [name] = [n for n, e in coordinators.items() if query_id.endswith("_" + e.info()["coordinatorId"])]
    return name


def test_a_query_submitted_through_one_envoy_continues_through_another_from_the_pulled_entry(tmp_path, etcd, coordinators):
    a = start_envoy(tmp_path, "a", etcd, coordinators)
    b = start_envoy(tmp_path, "b", etcd, coordinators)
    c = start_envoy(tmp_path, "c", etcd, coordinators)
    for _ in range(2):  # one on each coordinator
        page = submit(a, "SELECT x FROM UNNEST(sequence(1, 40)) AS t(x)")
        query_id = page["id"]
        key = f"{PREFIX}q/{query_id}"
        wait_until(lambda: key in etcd.get_prefix(PREFIX + "q/"), 5, what="the entry in etcd")
        assert etcd.get_prefix(key)[key] == owner(coordinators, query_id)
        for envoy in (b, c):
            wait_until(lambda: store(envoy).get("entries_pulled", 0) > 0, 5, what="pulled")
        rows, last, _ = follow([b, c], page)  # every other page through B, the rest through C
        assert [r[0] for r in rows] == list(range(1, 41)) and last["stats"]["state"] == "FINISHED"
    # B and C routed every follow-up by the entry they pulled, not by the coordinator-id fallback.
    for envoy in (b, c):
        stats = envoy.gateway_stats()
        assert stats.get("sticky_hits", 0) > 0 and stats.get("coordinator_id_routes", 0) == 0, stats
        assert 0 <= stats["state_store.sync_age_ms"] < 2000
    assert store(a)["entries_pushed"] >= 2 and store(a)["up"] == 1


def test_a_transaction_started_through_one_envoy_is_continued_and_committed_through_another(tmp_path, etcd, coordinators):
    a = start_envoy(tmp_path, "a", etcd, coordinators)
    b = start_envoy(tmp_path, "b", etcd, coordinators)
    start = submit(a, "START TRANSACTION", {"X-Trino-Transaction-Id": "NONE"})
    _, _, headers = follow(a, start)
    transaction = headers["x-trino-started-transaction-id"]
    started_on = owner(coordinators, start["id"])
    key = f"{PREFIX}tx/{transaction}"
    wait_until(lambda: etcd.get_prefix(key).get(key) == started_on, 5, what="the transaction in etcd")
    wait_until(lambda: store(b).get("entries_pulled", 0) >= 2, 5, what="B pulled it")
    for sql in ("SELECT 1", "SELECT 2", "COMMIT"):
        page = submit(b, sql, {"X-Trino-Transaction-Id": transaction})
        assert owner(coordinators, page["id"]) == started_on, sql
        _, last, _ = follow(b, page, {"X-Trino-Transaction-Id": transaction})
        assert last["stats"]["state"] == "FINISHED", last
    # COMMIT ended it: gone from etcd too.
    wait_until(lambda: key not in etcd.get_prefix(PREFIX + "tx/"), 5, what="the ended transaction deleted")



def test_a_transaction_continued_through_an_envoy_that_has_not_pulled_it_yet_waits_for_etcd(tmp_path, etcd, coordinators):
    """The miss path: B pulls only every 10 s, so its first statement of the
    transaction has no local answer and asks etcd for that one key; it is
    there already, because A held the answer naming the transaction until
    etcd had it (write-through), so no wait is needed anywhere."""
    a = start_envoy(tmp_path, "a", etcd, coordinators)
    b = start_envoy(tmp_path, "b", etcd, coordinators, sync_interval_ms=10_000)
    wait_until(lambda: store(b).get("up") == 1, 5, what="B connected")
    start = submit(a, "START TRANSACTION", {"X-Trino-Transaction-Id": "NONE"})
    _, _, headers = follow(a, start)
    transaction = headers["x-trino-started-transaction-id"]
    assert a.gateway_stats().get("state_store.write_throughs") == 1
    started = time.monotonic()
    page = submit(b, "SELECT 1", {"X-Trino-Transaction-Id": transaction})
    took = time.monotonic() - started
    assert owner(coordinators, page["id"]) == owner(coordinators, start["id"])
    _, last, _ = follow(b, page, {"X-Trino-Transaction-Id": transaction})
    assert last["stats"]["state"] == "FINISHED"
    stats = b.gateway_stats()
    assert stats.get("state_store.remote_lookups_found") == 1 and stats.get("unknown_transactions", 0) == 0, stats
    # A transaction nobody knows: etcd is asked, then Trino's UNKNOWN_TRANSACTION.
    unknown = submit(b, "SELECT 1", {"X-Trino-Transaction-Id": "3f1e1a52-5a8b-4a4c-9a51-0c1d2e3f4a5b"})
    assert unknown["error"]["errorName"] == "UNKNOWN_TRANSACTION"
    assert b.gateway_stats().get("state_store.remote_lookups_missed") == 1
    print(f"\nfirst statement through B, with its etcd lookup: {took * 1000:.1f} ms")


def placements(envoy: Envoy, coordinators: dict, n: int = 4) -> set:
    return {owner(coordinators, submit(envoy, "SELECT 1")["id"]) for _ in range(n)}


def test_a_drain_written_to_etcd_reaches_every_envoy_within_a_period(tmp_path, etcd, coordinators):
    envoys = [start_envoy(tmp_path, name, etcd, coordinators) for name in ("a", "b")]
    for envoy in envoys:
        wait_until(lambda: envoy.gateway_stats().get("cluster.coordinator-a.health") == 1, 5, what="healthy")
    etcd.put(f"{PREFIX}drain/coordinator-a", "rolling restart")
    started = time.monotonic()
    for envoy in envoys:
        wait_until(lambda: envoy.gateway_stats().get("cluster.coordinator-a.health") == 3, 3, what="draining")
    took = time.monotonic() - started
    for envoy in envoys:
        assert placements(envoy, coordinators) == {"coordinator-b"}
    etcd.delete(f"{PREFIX}drain/coordinator-a")
    for envoy in envoys:
        wait_until(lambda: "coordinator-a" in placements(envoy, coordinators), 3, what="a takes queries again")
    print(f"\ndrain applied by both Envoys {took * 1000:.0f} ms after the put (gauge polled with 0.3 s waits)")


def test_a_restarted_envoy_loads_the_live_entries_and_its_in_flight_query_continues(tmp_path, etcd, coordinators):
    a = start_envoy(tmp_path, "a", etcd, coordinators)
    page = submit(a, "SELECT x FROM UNNEST(sequence(1, 30)) AS t(x)")
    key = f"{PREFIX}q/{page['id']}"
    wait_until(lambda: key in etcd.get_prefix(PREFIX + "q/"), 5, what="pushed")
    port = a.port
    a.kill()
    started = time.monotonic()
    restarted = start_envoy(tmp_path, "a-restarted", etcd, coordinators, port=port)
    ready = time.monotonic() - started
    wait_until(lambda: store(restarted).get("entries_pulled", 0) >= 1, 5, what="loaded at start")
    loaded = time.monotonic() - started
    rows, last, _ = follow(restarted, page)
    assert [r[0] for r in rows] == list(range(1, 31)) and last["stats"]["state"] == "FINISHED"
    stats = restarted.gateway_stats()
    assert stats.get("sticky_hits", 0) > 0 and stats.get("coordinator_id_routes", 0) == 0, stats
    print(f"\nrestart: Envoy ready {ready:.2f} s after start, entries loaded {loaded:.2f} s after start, "
          f"{stats['state_store.entries_pulled']} entries; the in-flight query finished, {stats['sticky_hits']} sticky hits")


def workload(envoy: Envoy, seconds: float) -> tuple:
    """New queries (each read to the end) through `envoy` for `seconds`: (query ids, failures)."""
    ids, failures = [], []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            page = submit(envoy, "SELECT x FROM UNNEST(sequence(1, 12)) AS t(x)")
            rows, last, _ = follow(envoy, page)
            assert len(rows) == 12 and last["stats"]["state"] == "FINISHED", last
            ids.append(page["id"])
        except (AssertionError, requests.RequestException) as e:
            failures.append(repr(e))
    return ids, failures


def test_an_etcd_outage_of_10_s_costs_no_routing_and_its_entries_are_written_when_etcd_returns(tmp_path, etcd, coordinators):
    a = start_envoy(tmp_path, "a", etcd, coordinators)
    wait_until(lambda: store(a).get("up") == 1, 5, what="connected")
    etcd.stop()
    ids, failures = workload(a, 10)
    assert failures == [] and len(ids) >= 10
    # Every entry waits (the last ones reach the sync at the workers' next tick).
    wait_until(lambda: store(a)["backlog"] >= len(ids), 2, what="every entry in the backlog")
    during = store(a)
    assert during["up"] == 0 and during["errors"] > 0, during
    etcd.start()
    started = time.monotonic()
    wait_until(lambda: store(a).get("backlog") == 0, 10, what="backlog replayed")
    replayed = time.monotonic() - started
    keys = etcd.get_prefix(PREFIX + "q/")
    assert all(f"{PREFIX}q/{i}" in keys for i in ids)
    assert store(a).get("entries_dropped", 0) == 0
    print(f"\n10 s outage: {len(ids)} queries, 0 failed; backlog of {during['backlog']} written {replayed:.1f} s after etcd returned")


def test_a_3_member_etcd_losing_its_leader_costs_no_routing(tmp_path, coordinators):
    names = ["m0", "m1", "m2"]
    peers = {name: free_port() for name in names}
    members = [
        Etcd(name, free_port(), peers[name], tmp_path / f"etcd-{name}", tmp_path / f"etcd-{name}.log", cluster=peers)
        for name in names
    ]
    for member in members:
        member.start(wait=False)
    for member in members:
        member.wait_ready()
    envoy = Envoy(
        free_port(), free_port(), {n: e.port for n, e in coordinators.items()}, tmp_path / "envoy.log",
        etcd_port=[m.client_port for m in members],
    ).start()
    wait_until(lambda: store(envoy).get("up") == 1, 5, what="connected")
    leader = next(m for m in members if '"leader":' in m.ctl("endpoint", "status", "-w", "json") and is_leader(m))
    leader.kill()
    ids, failures = workload(envoy, 4)
    assert failures == [] and ids
    survivors = [m for m in members if m is not leader]
    wait_until(lambda: store(envoy).get("backlog") == 0, 10, what="backlog written to the new leader")
    keys = survivors[0].get_prefix(PREFIX + "q/")
    assert all(f"{PREFIX}q/{i}" in keys for i in ids)
    print(f"\nleader {leader.name} killed: {len(ids)} queries, 0 failed, store errors {store(envoy).get('errors', 0)}")


def is_leader(member: Etcd) -> bool:
    import json

    [status] = json.loads(member.ctl("endpoint", "status", "-w", "json"))
    return status["Status"]["leader"] == status["Status"]["header"]["member_id"]


def test_foreign_or_corrupt_data_under_the_prefix_is_skipped_and_counted(tmp_path, etcd, coordinators):
    etcd.put(f"{PREFIX}q/not-a-query-id", "coordinator-a")
    etcd.put(f"{PREFIX}q/20261126_101305_00001_zzzzz", "coordinator-unknown")
    etcd.put(f"{PREFIX}tx/3f1e1a52-5a8b-4a4c-9a51-0c1d2e3f4a5b", "")
    etcd.put(f"{PREFIX}something/else", "\x00\xff")
    a = start_envoy(tmp_path, "a", etcd, coordinators)
    wait_until(lambda: store(a).get("entries_skipped", 0) == 4, 5, what="4 skipped")
    assert run_ok(a, coordinators)
    assert "state store: skipped" in a.log_path.read_text()


def run_ok(envoy: Envoy, coordinators: dict) -> bool:
    rows, last, _ = follow(envoy, submit(envoy, "SELECT 1"))
    return rows == [[1]] and last["stats"]["state"] == "FINISHED"



def test_without_a_bootstrap_service_the_worker_holding_the_poll_lease_syncs(tmp_path, etcd, coordinators):
    """As under Istio (a WasmPlugin adds HTTP filters only): no health service,
    so one worker of each Envoy polls and syncs."""
    envoys = []
    for name in ("a", "b"):
        envoy = Envoy(
            free_port(), free_port(), {n: e.port for n, e in coordinators.items()}, tmp_path / f"envoy-{name}.log",
            etcd_port=etcd.client_port, health_service=False,
        )
        envoys.append(envoy.start())
    a, b = envoys
    page = submit(a, "SELECT x FROM UNNEST(sequence(1, 20)) AS t(x)")
    key = f"{PREFIX}q/{page['id']}"
    wait_until(lambda: key in etcd.get_prefix(key), 5, what="pushed by a worker of A")
    wait_until(lambda: store(b).get("entries_pulled", 0) >= 1, 5, what="pulled by a worker of B")
    rows, last, _ = follow(b, page)
    assert len(rows) == 20 and last["stats"]["state"] == "FINISHED"
    assert b.gateway_stats().get("coordinator_id_routes", 0) == 0
    etcd.put(f"{PREFIX}drain/coordinator-b", "1")
    for envoy in envoys:
        wait_until(lambda: placements(envoy, coordinators) == {"coordinator-a"}, 5, what="drained everywhere")


def test_etcd_with_authentication(tmp_path, etcd, coordinators):
    etcd.ctl("role", "add", "root")
    etcd.ctl("user", "add", "root:rootpw")
    etcd.ctl("user", "grant-role", "root", "root")
    etcd.ctl("auth", "enable")
    root = "root:rootpw"
    etcd.ctl("role", "add", "gateway", user=root)
    etcd.ctl("role", "grant-permission", "gateway", "--prefix=true", "readwrite", PREFIX, user=root)
    etcd.ctl("user", "add", "trino-gateway:s3cret", user=root)
    etcd.ctl("user", "grant-role", "trino-gateway", "gateway", user=root)
    good = start_envoy(tmp_path, "good", etcd, coordinators, user="trino-gateway", password="s3cret")
    bad = start_envoy(tmp_path, "bad", etcd, coordinators, user="trino-gateway", password="wrong")
    page = submit(good, "SELECT 1")
    follow(good, page)
    wait_until(lambda: f"{PREFIX}q/{page['id']}" in etcd.ctl("get", "--prefix", "--keys-only", PREFIX, user=root), 5, what="pushed with auth")
    # Wrong credentials: nothing written, errors counted, routing unaffected.
    assert run_ok(bad, coordinators)
    wait_until(lambda: store(bad).get("errors", 0) > 0, 5, what="auth refused")
    assert store(bad).get("up") != 1 and store(good).get("up") == 1
    assert "state store" in bad.log_path.read_text()


def test_tls_to_etcd(tmp_path, coordinators):
    """etcd serving TLS only; Envoy's etcd cluster with the transport socket of envoy/state-store.yaml."""
    certs = tmp_path / "certs"
    certs.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=etcd",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(certs / "key.pem"), "-out", str(certs / "cert.pem")],
        check=True, capture_output=True, timeout=60,
    )
    etcd = Etcd("tls", free_port(), free_port(), tmp_path / "etcd-data", tmp_path / "etcd.log", tls=certs).start()
    a = Envoy(
        free_port(), free_port(), {n: e.port for n, e in coordinators.items()}, tmp_path / "envoy.log",
        etcd_port=etcd.client_port, etcd_ca=certs / "cert.pem",
    ).start()
    page = submit(a, "SELECT 1")
    follow(a, page)
    key = f"{PREFIX}q/{page['id']}"
    wait_until(lambda: key in etcd.get_prefix(key), 5, what="written over TLS")
    assert store(a).get("errors", 0) == 0 and store(a).get("up") == 1
