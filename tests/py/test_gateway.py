"""The gateway end to end: the real Python trino client -> real Envoy (2 workers)
with the wasm filter -> two emulated coordinators. Every test checks what the
coordinators saw (their request logs), not just what the client got."""

import json
import re
import subprocess
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import trino

from conftest import shipped_plugin
from harness import ENVOY_BIN, Envoy, free_port

QUERY_ID = re.compile(r"(\d{8}_\d{6}_\d{5}_[a-km-np-z2-9]{5})")
NOT_FOUND = "Error 404 Not Found: Query not found"


def query_requests(gateway):
    """query id -> [(coordinator, method, path, status)] from every coordinator's log."""
    seen = defaultdict(list)
    for name, emulator in gateway.coordinators.items():
        for entry in emulator.log_entries():
            if entry.query:
                seen[entry.query].append((name, entry.method, entry.path, entry.status))
    return seen


def test_queries_spread_over_coordinators_and_every_follow_up_sticks(start_gateway):
    gateway = start_gateway("--page-rows", "20")
    sizes = [100 + 7 * i for i in range(40)]  # 5 to 15 pages each

    def run(size):
        cursor = gateway.connect().cursor()
        cursor.execute(f"SELECT x FROM UNNEST(sequence(1, {size})) AS t(x)")
        return cursor.query_id, cursor.fetchall()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, sizes))

    for size, (query_id, rows) in zip(sizes, results):
        assert rows == [[x] for x in range(1, size + 1)], query_id

    seen = query_requests(gateway)
    posts = Counter(requests_[0][0] for requests_ in seen.values() if requests_[0][1] == "POST")
    assert sum(posts.values()) == 40
    assert min(posts.values()) >= 10, f"both coordinators get >= 25% of new queries: {posts}"
    for query_id, _ in results:
        reqs = seen[query_id]
        coordinators = {r[0] for r in reqs}
        assert coordinators == {gateway.owner_of(query_id)}, f"{query_id} reached {coordinators}"
        assert all(status == 200 for *_, status in reqs), reqs
        assert sum(1 for r in reqs if "/executing/" in r[2]) >= 5
    stats = gateway.envoy.gateway_stats()
    assert stats["new_queries.coordinator-a"] + stats["new_queries.coordinator-b"] == 40
    assert stats["sticky_hits"] == sum(len(r) - 1 for r in seen.values())
    assert stats["query_not_found"] == 0


def test_owner_is_learned_from_gzip_clients_and_data_pages_stay_compressed(start_gateway):
    """Trino gzips QueryResults for clients that accept it (the Python client
    always does). The gateway asks for a plain answer to the statement only, so
    it can learn the query's owner; data pages keep their compression."""
    gateway = start_gateway("--page-rows", "200")
    gzip = {"X-Trino-User": "alice", "Accept-Encoding": "gzip"}
    posted = requests.post(gateway.envoy.url + "/v1/statement", data="SELECT x FROM UNNEST(sequence(1, 1000)) AS t(x)", headers=gzip, stream=True, timeout=10)
    assert "Content-Encoding" not in posted.headers
    page = json.loads(posted.raw.read(decode_content=False))
    compressed_pages = 0
    while "nextUri" in page:
        response = requests.get(page["nextUri"], headers=gzip, stream=True, timeout=10)
        assert response.status_code == 200
        body = response.raw.read(decode_content=False)
        if response.headers.get("Content-Encoding") == "gzip":
            assert body[:2] == b"\x1f\x8b"
            compressed_pages += 1
            body = __import__("gzip").decompress(body)
        page = json.loads(body)
    assert page["stats"]["state"] == "FINISHED"
    assert compressed_pages >= 5  # every data page came compressed through Envoy
    requests_of_query = query_requests(gateway)[page["id"]]
    assert len({owner for owner, *_ in requests_of_query}) == 1
    assert all(status == 200 for *_, status in requests_of_query)
    # The real client (gzip by default) through the gateway: its owner is learned every time.
    for _ in range(4):
        cursor = gateway.connect().cursor()
        cursor.execute("SELECT x FROM UNNEST(sequence(1, 500)) AS t(x)")
        assert len(cursor.fetchall()) == 500
    stats = gateway.envoy.gateway_stats()
    assert stats.get("unparseable_statement_responses", 0) == 0
    assert stats["query_not_found"] == 0


@pytest.mark.parametrize(
    "path", ["//v1/statement", "/v1/./statement", "/v1/x/../statement", "/v1/%73tatement", "/v1/statement/", "/v1/statement;jsessionid=1"]
)
def test_path_variants_of_a_new_statement_are_placed_and_learned_like_the_plain_path(start_gateway, path):
    """Envoy normalises the path as Trino's Jetty resolves it, and the filter
    classifies it as JAX-RS matches it: no variant skips placement or learning."""
    import http.client

    gateway = start_gateway("--page-rows", "50")
    connection = http.client.HTTPConnection("127.0.0.1", gateway.envoy.port, timeout=10)
    connection.request("POST", path, body="SELECT x FROM UNNEST(sequence(1, 200)) AS t(x)", headers={"X-Trino-User": "alice"})
    response = connection.getresponse()
    assert response.status == 200, response.read()
    page = json.loads(response.read())
    pages = 0
    while "nextUri" in page:
        page = requests.get(page["nextUri"], timeout=10).json()
        pages += 1
    assert page["stats"]["state"] == "FINISHED" and pages >= 4
    owners = {owner for owner, *_ in query_requests(gateway)[page["id"]]}
    assert len(owners) == 1
    stats = gateway.envoy.gateway_stats()
    assert sum(v for k, v in stats.items() if k.startswith("new_queries.")) == 1, stats
    assert stats["sticky_hits"] >= pages - 1
    assert stats.get("unparseable_statement_responses", 0) == 0


def test_an_encoded_slash_is_refused_as_trino_refuses_it(start_gateway):
    import http.client

    gateway = start_gateway()
    connection = http.client.HTTPConnection("127.0.0.1", gateway.envoy.port, timeout=10)
    connection.request("POST", "/v1%2Fstatement", body="SELECT 1", headers={"X-Trino-User": "alice"})
    assert connection.getresponse().status == 400
    assert not any(e.method == "POST" for c in gateway.coordinators.values() for e in c.log_entries())


def test_cancel_reaches_the_owning_coordinator(start_gateway):
    gateway = start_gateway("--page-rows", "10")
    for _ in range(2):  # one query on each coordinator
        cursor = gateway.connect().cursor()
        cursor.execute("SELECT x FROM UNNEST(sequence(1, 1000)) AS t(x)")
        assert cursor.fetchone() == [1]
        cursor.cancel()
        owner = gateway.owner_of(cursor.query_id)
        deletes = [r for r in query_requests(gateway)[cursor.query_id] if r[1] == "DELETE"]
        assert deletes == [(owner, "DELETE", deletes[0][2], 204)]
        info = requests.get(f"{gateway.envoy.url}/v1/query/{cursor.query_id}", headers={"X-Trino-User": "alice"}, timeout=5).json()
        assert (info["state"], info["errorCode"]["name"]) == ("FAILED", "USER_CANCELED")


def test_forged_malformed_and_unknown_query_ids_get_404_from_the_gateway(start_gateway):
    gateway = start_gateway()
    cursor = gateway.connect().cursor()
    cursor.execute("SELECT 1")
    cursor.fetchall()
    real = cursor.query_id
    before = gateway.client_requests()
    slug = "y" + "0" * 40
    paths = [
        f"/v1/statement/executing/20261125_101305_00001_zzzzz/{slug}/0",  # unknown coordinator
        f"/v1/statement/queued/{real[:-5]}aaaab/{slug}/1",  # forged: a real id with another coordinator
        "/v1/statement/executing/not-a-query-id/y/0",  # malformed
        f"/v1/statement/executing/{real.upper()}/{slug}/0",
        "/v1/query/20261125_101305_00001_zzzzz",
        "/ui/query.html?20261125_101305_00001_zzzzz",
        "/ui/query.html",
    ]
    for path in paths:
        response = requests.get(gateway.envoy.url + path, timeout=5)
        assert (response.status_code, response.text) == (404, NOT_FOUND), path
        assert response.headers["content-type"] == "text/plain"
    # An encoded slash: refused by Envoy (as Trino's Jetty refuses it) before the filter.
    assert requests.get(gateway.envoy.url + "/v1/statement/executing/%2e%2e%2f%2e%2e/y/0", timeout=5).status_code == 400
    assert gateway.client_requests() == before, "no upstream request was made"
    stats = gateway.envoy.gateway_stats()
    assert stats["query_not_found"] + stats["malformed_query_ids"] == len(paths)
    assert stats["malformed_query_ids"] >= 3


def test_a_client_sent_routing_header_cannot_choose_the_cluster(start_gateway):
    gateway = start_gateway()
    for value in ["coordinator-b"] * 6 + ["no-such-cluster", "coordinator-a, coordinator-b", ""]:
        response = requests.post(
            gateway.envoy.url + "/v1/statement",
            data="SELECT 1",
            headers={"X-Trino-User": "mallory", "x-trino-gateway-cluster": value},
            timeout=5,
        )
        assert response.status_code == 200, value
    posts = Counter(
        name for name, e in gateway.coordinators.items() for entry in e.log_entries() if entry.method == "POST"
    )
    assert posts["coordinator-a"] >= 3 and posts["coordinator-b"] >= 3, posts


def test_forwarded_headers_are_stripped_for_coordinators_that_reject_them(start_gateway):
    gateway = start_gateway()  # emulators answer 406 to any X-Forwarded-* header
    cursor = gateway.connect(http_headers={"X-Forwarded-For": "10.1.1.1", "X-Forwarded-Host": "evil:1", "X-Forwarded-Prefix": "/x"}).cursor()
    cursor.execute("SELECT x FROM UNNEST(sequence(1, 3000)) AS t(x)")
    assert len(cursor.fetchall()) == 3000
    first = requests.post(gateway.envoy.url + "/v1/statement", data="SELECT 1", headers={"X-Trino-User": "a", "X-Forwarded-Proto": "https"}, timeout=5)
    assert first.status_code == 200
    assert first.json()["nextUri"].startswith(f"http://127.0.0.1:{gateway.envoy.port}/v1/statement/queued/")


def test_forwarded_headers_describe_the_gateway_to_coordinators_that_process_them(start_gateway):
    gateway = start_gateway("--process-forwarded", plugin=shipped_plugin(coordinators_process_forwarded=True))
    response = requests.post(
        gateway.envoy.url + "/v1/statement",
        data="SELECT 1",
        headers={"X-Trino-User": "a", "Host": "trino.example.com:8443", "X-Forwarded-Prefix": "/evil", "X-Forwarded-Port": "1"},
        timeout=5,
    )
    assert response.status_code == 200
    # Trino built nextUri from the X-Forwarded-Proto/Host the gateway set; the client's others were dropped.
    assert response.json()["nextUri"].startswith("http://trino.example.com:8443/v1/statement/queued/")
    cursor = gateway.connect().cursor()
    cursor.execute("SELECT x FROM UNNEST(sequence(1, 3000)) AS t(x)")
    assert len(cursor.fetchall()) == 3000


@pytest.mark.parametrize("version", ["480", "475"])
def test_unrecorded_queries_are_routed_by_coordinator_id_after_an_envoy_restart(start_gateway, tmp_path, version):
    """Coordinator ids are learned from the answers of each coordinator process,
    so this works on 470–476 too, whose /v1/info has no coordinatorId."""
    gateway = start_gateway("--page-rows", "5", "--node-version", version)
    cursor = gateway.connect().cursor()
    cursor.execute("SELECT x FROM UNNEST(sequence(1, 50)) AS t(x)")
    assert cursor.fetchone() == [1]
    gateway.envoy.stop()
    # A new Envoy: empty shared data. Until it sees a query from a coordinator it cannot place its queries...
    fresh = Envoy(gateway.envoy.port, free_port(), gateway.envoy.clusters, tmp_path / "envoy-restarted.log").start()
    gateway.envoy = fresh
    response = requests.get(cursor._query._next_uri, timeout=5)
    assert (response.status_code, response.text) == (404, NOT_FOUND)
    # ...after one new query on each coordinator, it routes by the coordinator id in the query id.
    for _ in range(2):
        c = gateway.connect().cursor()
        c.execute("SELECT 1")
        c.fetchall()
    rows = cursor.fetchall()
    assert len(rows) == 49
    assert fresh.gateway_stats()["coordinator_id_routes"] >= 1


@pytest.mark.parametrize(
    "plugin, field",
    [
        ('{"clusters": [{"name": "coordinator-a"}, {"name": "coordinator-a"}]}', "clusters[1].name"),
        ('{"clusters": [{"name": "coordinator-a", "weigth": 2}]}', "clusters[0].weigth"),
        ('{"clusters": []}', "clusters"),
        ('{"clusters": [{"name": "coordinator-a"}], "routing_header": "x-trino-user"}', "routing_header"),
        ('{"clusters": [{"name": "coordinator-a"}], "routing": {"groups": [{"name": "g", "clusters": ["coordinator-a"]}], '
         '"default_group": "g", "rules": [{"name": "r", "when": {"user": {"regex": "(unclosed"}}, "group": "g"}]}}',
         "routing.rules[0].when.user.regex"),
        ("not json", "(configuration)"),
    ],
)
def test_an_invalid_plugin_configuration_is_refused_with_the_field_named(start_gateway, plugin, field):
    gateway = start_gateway(plugin=plugin, wait=False)
    code = gateway.envoy.wait_exit(timeout=30)
    log = gateway.envoy.log_path.read_text()
    assert code != 0
    assert f"invalid plugin configuration: {field}:" in log


def test_the_shipped_envoy_config_is_valid_as_is():
    result = subprocess.run([str(ENVOY_BIN), "--mode", "validate", "-c", "envoy/envoy.yaml"], capture_output=True, text=True, timeout=60, cwd=ENVOY_BIN.parents[2])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "OK" in result.stdout + result.stderr
