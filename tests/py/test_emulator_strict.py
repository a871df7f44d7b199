"""The emulator where it must be as strict as Trino 480: compression, /v1/info by
version, the spooling protocol, session round trips, queueing, the small
answers, and the tpch data people try first. Driven by the real Python client
where a client is involved, by raw HTTP where the wire itself is under test."""

import base64
import re
import threading
import time
from datetime import datetime, timezone

import pytest
import requests
import trino
from trino.exceptions import TrinoQueryError, TrinoUserError

from harness import wait_until

USER = {"X-Trino-User": "alice"}


def connect(emulator, **kwargs):
    return trino.dbapi.connect(host="127.0.0.1", port=emulator.port, user="alice", **kwargs)


def run(emulator, sql, **kwargs):
    cursor = connect(emulator, **kwargs).cursor()
    cursor.execute(sql)
    return cursor.fetchall()


def post(emulator, sql, headers=None, **kwargs):
    return requests.post(emulator.url + "/v1/statement", data=sql, headers={**USER, **(headers or {})}, timeout=10, **kwargs)


def raw(response):
    """The body as it crossed the wire (before requests decodes gzip)."""
    return response.raw.read(decode_content=False)


# ---- 1. compression ---------------------------------------------------------


def test_statement_answers_are_gzipped_when_the_client_accepts_it(emulator):
    posted = post(emulator, "SELECT x FROM UNNEST(sequence(1, 100)) AS t(x)", {"Accept-Encoding": "gzip"}, stream=True)
    assert posted.headers["Content-Encoding"] == "gzip"
    assert posted.headers["Vary"] == "Accept-Encoding"
    assert raw(posted)[:2] == b"\x1f\x8b"  # the gzip magic: POST answers are compressed too
    plain = post(emulator, "SELECT 1", {"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers and plain.json()["stats"]["state"] == "QUEUED"
    # The real client (requests always asks for gzip) reads every page through it.
    assert run(emulator, "SELECT x FROM UNNEST(sequence(1, 2000)) AS t(x)")[-1] == [2000]
    log = [e for e in emulator.log_entries() if e.method == "GET" and "/executing/" in e.path]
    assert len(log) >= 4


def test_compression_can_be_turned_off_like_trino(start_emulator):
    emulator = start_emulator("emu-a", "--query-results-compression-enabled", "false")
    posted = post(emulator, "SELECT x FROM UNNEST(sequence(1, 100)) AS t(x)", {"Accept-Encoding": "gzip"}, stream=True)
    assert posted.headers["Content-Encoding"] == "identity"
    assert raw(posted).startswith(b"{")
    # Other resources are still compressed by the HTTP server.
    info = requests.get(emulator.url + "/v1/info", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=5)
    assert info.headers["Content-Encoding"] == "gzip"
    assert run(emulator, "SELECT 1") == [[1]]


# ---- 2. /v1/info by version -------------------------------------------------


@pytest.mark.parametrize(
    "version, fields",
    [
        ("476", {"nodeVersion", "environment", "coordinator", "starting", "uptime"}),
        ("470", {"nodeVersion", "environment", "coordinator", "starting", "uptime"}),
        ("477", {"nodeId", "state", "nodeVersion", "environment", "coordinator", "coordinatorId", "starting", "uptime"}),
        ("480", {"nodeId", "state", "nodeVersion", "environment", "coordinator", "coordinatorId", "starting", "uptime"}),
    ],
)
def test_info_shape_follows_the_version(start_emulator, version, fields):
    emulator = start_emulator("emu-a", "--node-version", version)
    info = emulator.info()
    assert set(info) == fields
    assert info["nodeVersion"] == {"version": version}
    assert run(emulator, "SELECT node_version FROM system.runtime.nodes") == [[version]]


# ---- 3. spooling ------------------------------------------------------------

ROWS = "SELECT x, 'row ' || CAST(x AS varchar) AS label FROM UNNEST(sequence(1, 6000)) AS t(x)"
EXPECTED = [[x, f"row {x}"] for x in range(1, 6001)]


def spooling_emulator(start_emulator, mode, *extra):
    return start_emulator(
        "emu-a", "--spooling", "--spooling-retrieval-mode", mode, "--page-rows", "1000",
        "--spooling-inlining-max-rows", "2000", *extra,
    )


@pytest.mark.parametrize("encoding", ["json+zstd", "json+lz4", "json"])
def test_python_client_reads_spooled_segments_from_storage(start_emulator, encoding):
    emulator = spooling_emulator(start_emulator, "STORAGE")
    assert run(emulator, ROWS, encoding=encoding) == EXPECTED

    def acks():
        return [e for e in emulator.log_entries() if e.node == "emu-a" and e.path.startswith("/v1/spooled/ack/")]

    # The client acknowledges in the background once it moves past a segment.
    wait_until(lambda: len({e.path for e in acks()}) == 4, timeout=5, what="4 acknowledgements")
    entries = emulator.log_entries()
    storage = [e for e in entries if e.node == "emu-a-storage"]
    # 6 pages: 2 inline (2000 rows), 4 spooled, each downloaded from the
    # storage (not the coordinator) and acknowledged on the coordinator.
    assert [e.status for e in storage] == [200] * 4
    assert all(e.status == 200 for e in acks())
    assert not any(e.path.startswith("/v1/spooled/download/") for e in entries)


@pytest.mark.parametrize("mode", ["COORDINATOR_PROXY", "COORDINATOR_STORAGE_REDIRECT"])
def test_coordinator_retrieval_modes(start_emulator, mode):
    emulator = spooling_emulator(start_emulator, mode)
    assert run(emulator, ROWS, encoding="json+zstd") == EXPECTED
    entries = emulator.log_entries()
    downloads = [e for e in entries if e.node == "emu-a" and e.path.startswith("/v1/spooled/download/")]
    storage = [e for e in entries if e.node == "emu-a-storage"]
    if mode == "COORDINATOR_PROXY":
        assert [e.status for e in downloads] == [200] * 4 and storage == []
    else:
        assert [e.status for e in downloads] == [303] * 4 and [e.status for e in storage] == [200] * 4


def spooled_page(emulator, encoding="json+zstd"):
    """Follows a statement by hand until a page with a spooled segment."""
    page = post(emulator, ROWS, {"X-Trino-Query-Data-Encoding": encoding}).json()
    while "nextUri" in page:
        response = requests.get(page["nextUri"], timeout=10)
        assert response.headers["X-Trino-Query-Data-Encoding"] == encoding
        page = response.json()
        segments = (page.get("data") or {}).get("segments", []) if isinstance(page.get("data"), dict) else []
        if any(s["type"] == "spooled" for s in segments):
            return page
    raise AssertionError("no spooled segment")


def test_segments_on_the_wire(start_emulator):
    emulator = spooling_emulator(start_emulator, "COORDINATOR_PROXY")
    first = post(emulator, ROWS, {"X-Trino-Query-Data-Encoding": "foo, json+lz4"})
    assert first.headers["X-Trino-Query-Data-Encoding"] == "json+lz4"
    page = spooled_page(emulator)
    assert page["data"]["encoding"] == "json+zstd"
    segment = page["data"]["segments"][0]
    assert set(segment) == {"type", "uri", "ackUri", "metadata", "headers"}
    assert set(segment["metadata"]) == {"segmentSize", "uncompressedSize", "rowsCount", "rowOffset", "expiresAt"}
    assert segment["metadata"]["rowOffset"] == 2000 and segment["metadata"]["rowsCount"] == 1000
    identifier = segment["uri"].rsplit("/", 1)[1]
    assert segment["ackUri"].endswith("/v1/spooled/ack/" + identifier)
    # Opaque: neither the identifier nor its bytes name the query.
    assert page["id"] not in identifier
    assert page["id"].encode() not in base64.urlsafe_b64decode(identifier)
    # The storage's SSE-C key must come back: without it the download fails.
    assert requests.get(segment["uri"], timeout=5).status_code == 500
    headers = {name: values[0] for name, values in segment["headers"].items()}
    body = requests.get(segment["uri"], headers=headers, timeout=5)
    assert body.status_code == 200 and len(body.content) == segment["metadata"]["segmentSize"]
    assert requests.get(segment["ackUri"], headers=headers, timeout=5).status_code == 200
    assert requests.get(segment["ackUri"], headers=headers, timeout=5).status_code == 200  # idempotent
    gone = requests.get(segment["uri"], headers=headers, timeout=5)
    assert gone.status_code == 500 and "Segment not found or expired" in gone.text
    assert requests.get(emulator.url + "/v1/spooled/download/bm90LWFuLWlk", timeout=5).status_code == 500


def test_storage_mode_segments_bypass_the_coordinator(start_emulator):
    emulator = spooling_emulator(start_emulator, "STORAGE")
    segment = next(s for s in spooled_page(emulator)["data"]["segments"] if s["type"] == "spooled")
    assert not segment["uri"].startswith(emulator.url)
    assert segment["ackUri"].startswith(emulator.url + "/v1/spooled/ack/")
    headers = {name: values[0] for name, values in segment["headers"].items()}
    missing_key = requests.get(segment["uri"], timeout=5)
    assert missing_key.status_code == 400 and "<Code>InvalidRequest</Code>" in missing_key.text
    tampered = requests.get(segment["uri"].replace("X-Amz-Signature=", "X-Amz-Signature=0"), headers=headers, timeout=5)
    assert tampered.status_code == 403
    assert requests.get(segment["uri"], headers=headers, timeout=5).status_code == 200
    identifier = segment["ackUri"].rsplit("/", 1)[1]
    refused = requests.get(f"{emulator.url}/v1/spooled/download/{identifier}", headers=headers, timeout=5)
    assert refused.status_code == 503
    assert refused.text == "Error 503 Service Unavailable: Retrieval mode is STORAGE but segment resource was called"


def test_without_spooling_or_with_unknown_encodings_rows_come_plain(start_emulator):
    off = start_emulator("emu-a", "--page-rows", "1000")
    assert run(off, ROWS, encoding="json+zstd") == EXPECTED
    assert not any("/v1/spooled/" in e.path for e in off.log_entries())
    on = spooling_emulator(start_emulator, "STORAGE")
    page = post(on, "SELECT 1", {"X-Trino-Query-Data-Encoding": "foo"})
    assert "X-Trino-Query-Data-Encoding" not in page.headers
    data_page = requests.get(requests.get(page.json()["nextUri"], timeout=5).json()["nextUri"], timeout=5).json()
    assert data_page["data"] == [[1]]


# ---- 4. session round trips -------------------------------------------------


def test_set_and_reset_session_round_trip_through_the_client(start_emulator):
    emulator = start_emulator("emu-a")
    connection = connect(emulator)
    cursor = connection.cursor()
    cursor.execute("SET SESSION query_max_run_time = '1h'")
    cursor.fetchall()
    cursor.execute("SET SESSION join_distribution_type = 'BROADCAST'")
    cursor.fetchall()
    assert connection._client_session.properties == {"query_max_run_time": "1h", "join_distribution_type": "BROADCAST"}
    cursor.execute("SELECT 1")  # sent back in X-Trino-Session, accepted at dispatch
    assert cursor.fetchall() == [[1]]
    cursor.execute("RESET SESSION query_max_run_time")
    cursor.fetchall()
    assert connection._client_session.properties == {"join_distribution_type": "BROADCAST"}
    with pytest.raises(TrinoUserError) as raised:
        cursor.execute("SET SESSION no_such_property = 1")
        cursor.fetchall()
    assert raised.value.error_name == "INVALID_SESSION_PROPERTY"
    assert raised.value.message == "line 1:32: Session property 'no_such_property' does not exist"


def test_set_session_headers_on_the_wire(emulator):
    page = post(emulator, "SET SESSION query_max_run_time = '1.5h'").json()
    executing = requests.get(page["nextUri"], timeout=5).json()["nextUri"]
    final = requests.get(executing, timeout=5)
    assert final.headers["X-Trino-Set-Session"] == "query_max_run_time=1.5h"
    assert final.json()["updateType"] == "SET SESSION"


def test_unknown_property_in_the_header_fails_the_query(emulator):
    with pytest.raises(TrinoUserError) as raised:
        run(emulator, "SELECT 1", session_properties={"no_such_property": "1"})
    assert raised.value.error_name == "INVALID_SESSION_PROPERTY"
    assert raised.value.message == "Session property 'no_such_property' does not exist"


def test_use_sets_catalog_and_schema_for_the_next_statement(emulator):
    connection = connect(emulator)
    cursor = connection.cursor()
    cursor.execute("USE tpch.tiny")
    cursor.fetchall()
    assert (connection._client_session.catalog, connection._client_session.schema) == ("tpch", "tiny")
    cursor.execute("SELECT name FROM region WHERE regionkey = 3")
    assert cursor.fetchall() == [["EUROPE"]]
    with pytest.raises(TrinoUserError) as raised:
        cursor.execute("USE tpch.no_such_schema")
        cursor.fetchall()
    assert (raised.value.error_name, raised.value.message) == ("NOT_FOUND", "Schema does not exist: tpch.no_such_schema")


def test_prepared_statements_round_trip(start_emulator):
    emulator = start_emulator("emu-a")
    # Parameters: the client's EXECUTE IMMEDIATE path…
    cursor = connect(emulator).cursor()
    cursor.execute("SELECT ? + 1, ?", (41, "x"))
    assert cursor.fetchall() == [[42, "x"]]
    # …and the legacy PREPARE / EXECUTE … USING / DEALLOCATE PREPARE path, which
    # needs X-Trino-Added-Prepare and X-Trino-Prepared-Statement to round-trip.
    connection = connect(emulator, legacy_prepared_statements=True)
    cursor = connection.cursor()
    cursor.execute("SELECT ? * 2", (21,))
    assert cursor.fetchall() == [[42]]
    methods = [e.path for e in emulator.log_entries() if e.method == "POST"]
    assert len(methods) >= 4  # probe + immediate, then prepare + execute + deallocate
    assert connection._client_session.prepared_statements == {}
    with pytest.raises(TrinoUserError) as raised:
        connect(emulator).cursor().execute("EXECUTE nothing_prepared")
    assert (raised.value.error_name, raised.value.message) == ("NOT_FOUND", "Prepared statement not found: nothing_prepared")


@pytest.mark.parametrize(
    "header, value, message",
    [
        ("X-Trino-Session", "novalue", "Error 400 Bad Request: Invalid X-Trino-Session header"),
        ("X-Trino-Role", "system=admin", "Error 400 Bad Request: Invalid X-Trino-Role header"),
        ("X-Trino-Extra-Credential", "internal$x=1", "Error 400 Bad Request: Invalid extra credential name: internal$x"),
        ("X-Trino-Prepared-Statement", "q=abcdefg", "Error 400 Bad Request: Invalid X-Trino-Prepared-Statement header: line 1:1: mismatched input 'abcdefg'"),
        ("X-Trino-Resource-Estimate", "FOO=1", "Error 400 Bad Request: Unsupported resource name FOO"),
        ("X-Trino-Transaction-Id", "not-a-uuid", "Invalid UUID string: not-a-uuid"),
    ],
)
def test_malformed_session_headers_are_400(emulator, header, value, message):
    response = post(emulator, "SELECT 1", {header: value})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.startswith(message)


def test_presto_headers_only_with_the_alternate_header_name(start_emulator):
    default = start_emulator("emu-a")
    ignored = requests.post(default.url + "/v1/statement", data="SELECT 1", headers={"X-Presto-User": "alice"}, timeout=5)
    assert ignored.status_code == 401  # Trino ignores X-Presto-* unless configured
    presto = start_emulator("emu-b", "--alternate-header-name", "Presto")
    page = requests.post(presto.url + "/v1/statement", data="SET SESSION query_priority = 2", headers={"X-Presto-User": "alice"}, timeout=5).json()
    final = requests.get(requests.get(page["nextUri"], timeout=5).json()["nextUri"], timeout=5)
    assert final.headers["X-Presto-Set-Session"] == "query_priority=2"
    both = requests.post(presto.url + "/v1/statement", data="SELECT 1", headers={"X-Presto-User": "a", "X-Trino-Source": "b"}, timeout=5)
    assert (both.status_code, both.text) == (400, "Error 400 Bad Request: Both Trino and Presto headers detected")


# ---- 5. queueing ------------------------------------------------------------


def test_hard_concurrency_limit_queues_and_then_fails_query_queue_full(start_emulator):
    emulator = start_emulator("emu-a", "--max-running", "1", "--max-queued", "1")
    session = requests.Session()
    session.post(emulator.url + "/ui/login", data={"username": "admin", "password": ""}, allow_redirects=False)

    results = {}

    def client(name, sql):
        try:
            results[name] = run(emulator, sql)
        except TrinoQueryError as error:
            results[name] = error

    first = threading.Thread(target=client, args=("first", "/* emulator: runtime_ms=2500 */ SELECT 1"))
    first.start()
    time.sleep(0.5)
    # Raw, so the client-visible state can be checked while it waits.
    second = post(emulator, "SELECT 2").json()
    waiting = requests.get(second["nextUri"], timeout=5).json()
    assert waiting["stats"]["state"] == "QUEUED" and waiting["stats"]["queued"] is True
    assert "/queued/" in waiting["nextUri"]
    stats = session.get(emulator.url + "/ui/api/stats", timeout=5).json()
    assert (stats["runningQueries"], stats["queuedQueries"]) == (1, 1)
    client("third", "SELECT 3")
    third = results["third"]
    assert isinstance(third, TrinoQueryError)
    assert (third.error_name, third.error_type) == ("QUERY_QUEUE_FULL", "INSUFFICIENT_RESOURCES")
    assert third.message == 'Too many queued queries for "global"'
    first.join()
    assert results["first"] == [[1]]
    # The slot is free: the queued query runs.
    page = waiting
    while "nextUri" in page:
        page = requests.get(page["nextUri"], timeout=5).json()
        if "data" in page:
            assert page["data"] == [[2]]
    assert page["stats"]["state"] == "FINISHED"


# ---- 6. the small ones ------------------------------------------------------


def test_small_answers(emulator):
    query_id = connect(emulator).cursor().execute("SELECT 1").query_id
    assert requests.get(f"{emulator.url}/v1/query/{query_id}", timeout=5).status_code == 401
    assert requests.get(f"{emulator.url}/v1/query/{query_id}", headers=USER, timeout=5).status_code == 200
    assert requests.delete(f"{emulator.url}/v1/query/20250101_000000_00000_abcde", headers=USER, timeout=5).status_code == 204
    root = requests.get(emulator.url + "/", allow_redirects=False, timeout=5)
    assert (root.status_code, root.headers["Location"]) == (303, emulator.url + "/ui/")
    # HEAD on an executing URI: 404 until the first executing GET, 200 after.
    page = post(emulator, "SELECT x FROM UNNEST(sequence(1, 2000)) AS t(x)").json()
    executing = requests.get(page["nextUri"], timeout=5).json()["nextUri"]
    assert requests.head(executing, timeout=5).status_code == 404
    assert requests.get(executing, timeout=5).status_code == 200
    assert requests.head(executing, timeout=5).status_code == 200


# ---- 7. data people try first -----------------------------------------------


def test_tpch_tiny_nation_and_region(emulator):
    cursor = connect(emulator).cursor()
    cursor.execute("SELECT * FROM tpch.tiny.nation")
    nations = cursor.fetchall()
    assert [d[0] for d in cursor.description] == ["nationkey", "name", "regionkey", "comment"]
    assert [d[1] for d in cursor.description] == ["bigint", "varchar(25)", "bigint", "varchar(152)"]
    assert len(nations) == 25
    assert nations[0] == [0, "ALGERIA", 0, " haggle. carefully final deposits detect slyly agai"]
    assert nations[24] == [24, "UNITED STATES", 1, "y final packages. slow foxes cajole quickly. quickly silent platelets breach ironic accounts. unusual pinto be"]
    assert run(emulator, "SELECT name FROM tpch.tiny.region") == [["AFRICA"], ["AMERICA"], ["ASIA"], ["EUROPE"], ["MIDDLE EAST"]]
    assert run(emulator, "SELECT count(*) FROM tpch.tiny.nation") == [[25]]
    assert run(emulator, "SELECT count(*) FROM tpch.tiny.nation WHERE regionkey = 1") == [[5]]


def test_now_and_version(start_emulator):
    emulator = start_emulator("emu-a", "--node-version", "479")
    before = datetime.now(timezone.utc)
    for zone in ["UTC", "America/Los_Angeles"]:
        cursor = connect(emulator, timezone=zone).cursor()
        cursor.execute("SELECT now(), version()")
        [[now, version]] = cursor.fetchall()
        assert [d[1] for d in cursor.description] == ["timestamp(3) with time zone", "varchar"]
        assert version == "479"
        assert str(now.tzinfo) == zone and abs((now - before).total_seconds()) < 5
    # A zone Trino does not know fails the query when its session is created.
    page = post(emulator, "SELECT 1", {"X-Trino-Time-Zone": "Mars/Olympus_Mons"}).json()
    failed = requests.get(page["nextUri"], timeout=5).json()
    assert (failed["error"]["errorName"], failed["error"]["message"]) == ("NOT_SUPPORTED", "Time zone not supported: Mars/Olympus_Mons")


def test_paths_as_jetty_and_jax_rs_resolve_them(emulator):
    import http.client

    def post_to(path):
        connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
        connection.request("POST", path, body="SELECT 1", headers=USER)
        response = connection.getresponse()
        return response.status, response.read().decode()

    for path in ["/v1/statement/", "/v1/statement;jsessionid=1", "/v1/./statement", "/v1/%73tatement"]:
        assert post_to(path)[0] == 200, path
    status, body = post_to("//v1/statement")
    assert status == 400 and "Ambiguous URI empty segment" in body
    status, body = post_to("/v1%2Fstatement")
    assert status == 400 and "Ambiguous URI path separator" in body
