"""The Trino coordinator emulator, driven by the real Python `trino` client and by
raw HTTP where the protocol itself is under test. Each test checks behaviour a
real Trino 480 coordinator shows (see tests/emulator/README.md)."""

import re
import threading
import time
from decimal import Decimal

import pytest
import requests
import trino
from trino.exceptions import TrinoQueryError, TrinoUserError

QUERY_ID = re.compile(r"^\d{8}_\d{6}_\d{5}_[a-km-np-z2-9]{5}$")


def connect(emulator, **kwargs):
    return trino.dbapi.connect(host="127.0.0.1", port=emulator.port, user="alice", **kwargs)


def run(emulator, sql, **kwargs):
    cursor = connect(emulator, **kwargs).cursor()
    cursor.execute(sql)
    return cursor, cursor.fetchall()


def post(emulator, sql, headers=None):
    return requests.post(
        emulator.url + "/v1/statement", data=sql, headers={"X-Trino-User": "alice", **(headers or {})}, timeout=10
    )


def follow(emulator, first):
    """Follow nextUri to the end; returns every page."""
    pages = [first]
    while "nextUri" in pages[-1]:
        response = requests.get(pages[-1]["nextUri"], timeout=10)
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return pages


def test_select_1(emulator):
    cursor, rows = run(emulator, "SELECT 1")
    assert rows == [[1]]
    assert QUERY_ID.match(cursor.query_id)
    assert cursor.query_id.endswith("_" + emulator.info()["coordinatorId"])


def test_types_round_trip_through_the_client(emulator):
    cursor, rows = run(
        emulator,
        "SELECT 1 AS i, 3000000000 AS b, BIGINT '7' AS b2, 1.5E0 AS d, 12.50 AS dec, 'héllo' AS s, true AS t, NULL AS n, "
        "1.50 + 2 AS dec_sum, 7 / 2 AS int_div",
    )
    assert rows == [[1, 3000000000, 7, 1.5, Decimal("12.50"), "héllo", True, None, Decimal("3.50"), 3]]
    assert [(d[0], d[1]) for d in cursor.description] == [
        ("i", "integer"),
        ("b", "bigint"),
        ("b2", "bigint"),
        ("d", "double"),
        ("dec", "decimal(4,2)"),
        ("s", "varchar(5)"),
        ("t", "boolean"),
        ("n", "unknown"),
        ("dec_sum", "decimal(13,2)"),
        ("int_div", "integer"),
    ]


def test_ten_thousand_rows_over_many_pages(emulator):
    cursor, rows = run(emulator, "SELECT x FROM UNNEST(sequence(1, 10000)) AS t(x)")
    assert rows == [[x] for x in range(1, 10001)]
    assert cursor.description[0][1] == "bigint"
    executing = [e for e in emulator.log_entries() if e.query == cursor.query_id and "/executing/" in e.path]
    # 10,000 rows at 500 rows a page: 20 data pages and the final FINISHED page.
    assert len(executing) == 21
    assert all(e.status == 200 for e in executing)


def test_system_runtime_nodes_names_the_coordinator(start_emulator):
    a = start_emulator("emu-a")
    b = start_emulator("emu-b")
    assert run(a, "SELECT node_id, coordinator FROM system.runtime.nodes")[1] == [["emu-a", True]]
    assert run(b, "SELECT node_id, coordinator FROM system.runtime.nodes")[1] == [["emu-b", True]]


def test_show_catalogs(start_emulator):
    emulator = start_emulator("emu-a", "--catalogs", "tpch,memory")
    cursor, rows = run(emulator, "SHOW CATALOGS")
    assert rows == [["memory"], ["system"], ["tpch"]]
    assert cursor.description[0][0] == "Catalog"


@pytest.mark.parametrize(
    "sql, error_name, error_type, message",
    [
        ("SELECT FROM", "SYNTAX_ERROR", "USER_ERROR", "line 1:8: mismatched input 'FROM'"),
        ("SELEC 1", "SYNTAX_ERROR", "USER_ERROR", "line 1:1: mismatched input 'SELEC'"),
        ("SELECT 1 / 0", "DIVISION_BY_ZERO", "USER_ERROR", "Division by zero"),
        ("SELECT nope", "COLUMN_NOT_FOUND", "USER_ERROR", "line 1:8: Column 'nope' cannot be resolved"),
        ("SELECT * FROM hive.tiny.nation", "CATALOG_NOT_FOUND", "USER_ERROR", "line 1:15: Catalog 'hive' not found"),
        ("CREATE TABLE t (x integer)", "MISSING_CATALOG_NAME", "USER_ERROR", "line 1:14: Catalog must be specified"),
        ("CREATE TABLE tpch.tiny.t (x integer)", "NOT_SUPPORTED", "USER_ERROR", "line 1:14: This connector does not support creating tables"),
        ("SELECT ARRAY[1, 2]", "NOT_SUPPORTED", "USER_ERROR", "Not supported by the Trino coordinator emulator"),
        ("SELECT 2147483647 + 1", "NUMERIC_VALUE_OUT_OF_RANGE", "USER_ERROR", "Out of range for integer"),
    ],
)
def test_failures_are_trino_errors(emulator, sql, error_name, error_type, message):
    with pytest.raises(TrinoQueryError) as raised:
        run(emulator, sql)
    error = raised.value
    assert isinstance(error, TrinoUserError) == (error_type == "USER_ERROR")
    assert error.error_name == error_name
    assert error.error_type == error_type
    assert error.message.startswith(message)
    assert QUERY_ID.match(error.query_id)


def test_syntax_error_is_reported_by_the_queued_resource_with_its_location(emulator):
    pages = follow(emulator, post(emulator, "SELECT FROM").json())
    assert len(pages) == 2, "a parse failure ends the query at the first queued GET"
    error = pages[-1]["error"]
    assert pages[-1]["stats"]["state"] == "FAILED"
    assert (error["errorCode"], error["errorName"]) == (1, "SYNTAX_ERROR")
    assert error["errorLocation"] == {"lineNumber": 1, "columnNumber": 8}
    assert "sqlState" not in error  # Trino never sets it


def test_cancel_from_the_client(start_emulator):
    emulator = start_emulator("emu-a", "--page-rows", "10")
    cursor = connect(emulator).cursor()
    cursor.execute("SELECT x FROM UNNEST(sequence(1, 1000)) AS t(x)")
    assert cursor.fetchone() == [1]
    query_id = cursor.query_id
    cursor.cancel()
    deletes = [e for e in emulator.log_entries() if e.query == query_id and e.method == "DELETE"]
    assert [e.status for e in deletes] == [204]
    info = requests.get(f"{emulator.url}/v1/query/{query_id}", headers={"X-Trino-User": "alice"}, timeout=5).json()
    assert info["state"] == "FAILED"
    assert info["errorCode"]["name"] == "USER_CANCELED"


def test_cancel_while_the_query_runs(emulator):
    """DELETE during a long poll: the running fetch sees USER_CANCELED."""
    first = post(emulator, "/* emulator: runtime_ms=5000 */ SELECT 1").json()
    executing = requests.get(first["nextUri"], timeout=5).json()["nextUri"]
    outcome = {}

    def fetch():
        outcome["page"] = requests.get(executing, timeout=10).json()

    fetcher = threading.Thread(target=fetch)
    fetcher.start()
    time.sleep(0.2)
    assert requests.delete(executing, timeout=5).status_code == 204
    fetcher.join()
    # The long poll ended within maxWait (1 s) with either an empty running page or the failure.
    page = outcome["page"]
    if "nextUri" in page:
        page = follow(emulator, page)[-1]
    assert page["stats"]["state"] == "FAILED"
    assert page["error"]["errorName"] == "USER_CANCELED"


def test_transactions_through_the_client(emulator):
    connection = connect(emulator, isolation_level=trino.transaction.IsolationLevel.READ_COMMITTED)
    cursor = connection.cursor()  # sends START TRANSACTION
    transaction_id = connection.transaction.id
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", transaction_id)
    cursor.execute("SELECT 42")
    assert cursor.fetchall() == [[42]]
    connection.commit()
    assert connection.transaction is None

    # The transaction is gone: using its id again is an error, as in Trino.
    pages = follow(emulator, post(emulator, "SELECT 1", {"X-Trino-Transaction-Id": transaction_id}).json())
    assert pages[-1]["error"]["errorName"] == "UNKNOWN_TRANSACTION"
    assert pages[-1]["error"]["errorCode"] == 20

    rollback = connect(emulator, isolation_level=trino.transaction.IsolationLevel.READ_COMMITTED)
    rollback.cursor().execute("SELECT 1")
    rollback.rollback()


def test_transaction_headers_on_the_wire(emulator):
    start = follow(emulator, post(emulator, "START TRANSACTION", {"X-Trino-Transaction-Id": "NONE"}).json())
    assert start[-1]["updateType"] == "START TRANSACTION"
    response = requests.get(start[-2]["nextUri"], timeout=5)  # re-fetch the final page: same page
    transaction_id = response.headers["X-Trino-Started-Transaction-Id"]
    commit = post(emulator, "COMMIT", {"X-Trino-Transaction-Id": transaction_id}).json()
    executing = requests.get(commit["nextUri"], timeout=5).json()["nextUri"]
    final = requests.get(executing, timeout=5)
    assert final.json()["updateType"] == "COMMIT"
    assert final.headers["X-Trino-Clear-Transaction-Id"] == "true"
    no_tx = follow(emulator, post(emulator, "COMMIT", {"X-Trino-Transaction-Id": "NONE"}).json())
    assert no_tx[-1]["error"]["errorName"] == "NOT_IN_TRANSACTION"
    assert post(emulator, "SELECT 1", {"X-Trino-Transaction-Id": "not-a-uuid"}).status_code == 400


def test_forwarded_headers_are_rejected_by_default(emulator):
    response = post(emulator, "SELECT 1", {"X-Forwarded-Proto": "https"})
    assert response.status_code == 406
    assert "Server configuration does not allow processing of the X-Forwarded-Proto header" in response.text
    # Any X-Forwarded-* header, on any path.
    assert requests.get(emulator.url + "/v1/info", headers={"X-Forwarded-For": "10.0.0.1"}, timeout=5).status_code == 406
    with pytest.raises(trino.exceptions.HttpError, match="406"):
        run(emulator, "SELECT 1", http_headers={"X-Forwarded-Host": "gateway:8080"})


def test_forwarded_headers_build_next_uri_when_processed(start_emulator):
    emulator = start_emulator("emu-a", "--process-forwarded")
    first = post(
        emulator,
        "SELECT 1",
        {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gateway.example:8443", "X-Forwarded-Prefix": "/trino"},
    ).json()
    assert first["nextUri"].startswith("https://gateway.example:8443/trino/v1/statement/queued/")
    assert first["infoUri"] == f"https://gateway.example:8443/trino/ui/query.html?{first['id']}"
    # Without forwarded headers the Host header decides, as in Trino.
    plain = requests.post(emulator.url + "/v1/statement", data="SELECT 1", headers={"X-Trino-User": "a", "Host": "lb:9000"}).json()
    assert plain["nextUri"].startswith("http://lb:9000/v1/statement/queued/")


def test_ui_stats_need_a_login(emulator):
    unauthenticated = requests.get(emulator.url + "/ui/api/stats", timeout=5)
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["WWW-Authenticate"] == "Trino-Form-Login"

    session = requests.Session()
    login = session.post(emulator.url + "/ui/login", data={"username": "admin", "password": ""}, allow_redirects=False)
    assert login.status_code == 303
    assert "Trino-UI-Token" in session.cookies
    assert session.post(emulator.url + "/ui/login", data={"username": "x", "password": "secret"}, allow_redirects=False).headers["Location"].endswith("/ui/login.html")

    idle = session.get(emulator.url + "/ui/api/stats", timeout=5)
    assert idle.status_code == 200
    assert idle.json()["runningQueries"] == 0

    # Live counts: one running query; one registered but never fetched, which
    # Trino's dispatcher does not know yet, so it is not counted as queued.
    running = post(emulator, "/* emulator: runtime_ms=3000 */ SELECT 1").json()
    requests.get(running["nextUri"], timeout=5)
    post(emulator, "SELECT 2")
    stats = session.get(emulator.url + "/ui/api/stats", timeout=5).json()
    assert (stats["runningQueries"], stats["queuedQueries"]) == (1, 0)


def test_tokens_same_page_again_and_410_when_stale(start_emulator):
    emulator = start_emulator("emu-a", "--page-rows", "2")
    first = post(emulator, "SELECT x FROM UNNEST(sequence(1, 10)) AS t(x)").json()
    token0 = requests.get(first["nextUri"], timeout=5).json()["nextUri"]
    assert token0.endswith("/0")
    page0 = requests.get(token0, timeout=5)
    again = requests.get(token0, timeout=5)
    assert again.status_code == 200 and again.json()["data"] == page0.json()["data"] == [[1], [2]]
    token1 = page0.json()["nextUri"]
    assert requests.get(token1, timeout=5).json()["data"] == [[3], [4]]
    assert requests.get(token0, timeout=5).status_code == 410  # stale token
    # A token that was never handed out: 404, and a forged slug: 404 "Query not found".
    skipped = re.sub(r"/y[0-9a-f]{40}/1$", "", token1)
    assert requests.get(token1[:-1] + "3", timeout=5).status_code == 404
    forged = requests.get(skipped + "/y" + "0" * 40 + "/2", timeout=5)
    assert forged.status_code == 404 and forged.text == "Error 404 Not Found: Query not found"


def test_unknown_query_is_404_text_plain(emulator):
    response = requests.get(emulator.url + "/v1/statement/executing/20250101_000000_00000_abcde/y00/0", timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == "Error 404 Not Found: Query not found"
    unknown = requests.get(emulator.url + "/v1/query/20250101_000000_00000_abcde", headers={"X-Trino-User": "alice"}, timeout=5)
    assert (unknown.status_code, unknown.text) == (410, "Error 410 Gone: HTTP 410 Gone")


def test_statement_needs_a_user_and_a_body(emulator):
    no_user = requests.post(emulator.url + "/v1/statement", data="SELECT 1", timeout=5)
    assert no_user.status_code == 401
    assert no_user.text == "Basic authentication or X-Trino-Original-User or X-Trino-User must be sent"
    assert no_user.headers["WWW-Authenticate"] == 'Basic realm="Trino"'
    empty = post(emulator, "")
    assert (empty.status_code, empty.text) == (400, "Error 400 Bad Request: SQL statement is empty")
    basic = requests.post(emulator.url + "/v1/statement", data="SELECT 1", auth=("bob", ""), timeout=5)
    assert basic.status_code == 200


def test_starting_coordinator_refuses_queries(start_emulator):
    emulator = start_emulator("emu-a", "--startup-ms", "1500")
    assert emulator.info()["starting"] is True
    with pytest.raises(TrinoQueryError) as raised:
        run(emulator, "SELECT 1")
    assert raised.value.error_name == "SERVER_STARTING_UP"
    assert raised.value.error_type == "INTERNAL_ERROR"
    time.sleep(1.6)
    assert emulator.info()["starting"] is False
    assert run(emulator, "SELECT 1")[1] == [[1]]


def test_info_and_coordinator_id(start_emulator):
    emulator = start_emulator("emu-a", "--coordinator-id", "gw2ab", "--environment", "prod")
    info = emulator.info()
    assert info["coordinatorId"] == "gw2ab"
    assert (info["nodeId"], info["environment"], info["coordinator"], info["state"]) == ("emu-a", "prod", True, "ACTIVE")
    assert run(emulator, "SELECT 1")[0].query_id.endswith("_gw2ab")
    assert requests.get(emulator.url + "/v1/info/state", timeout=5).json() == "ACTIVE"
    # MANAGEMENT_WRITE: a user first, then the default access control refuses.
    assert requests.put(emulator.url + "/v1/info/state", json="SHUTTING_DOWN", timeout=5).status_code == 401
    refused = requests.put(emulator.url + "/v1/info/state", json="SHUTTING_DOWN", headers={"X-Trino-User": "admin"}, timeout=5)
    assert (refused.status_code, refused.text) == (403, "Error 403 Forbidden: Management only resource")
    # A random id from Trino's alphabet at each start.
    other = start_emulator("emu-b").info()["coordinatorId"]
    assert re.match(r"^[a-km-np-z2-9]{5}$", other)


def test_unfetched_and_abandoned_queries_expire(start_emulator):
    emulator = start_emulator("emu-a", "--query-client-timeout", "1s")
    never_fetched = post(emulator, "SELECT 1").json()
    dispatched = post(emulator, "/* emulator: runtime_ms=60000 */ SELECT 1").json()
    requests.get(dispatched["nextUri"], timeout=5)
    time.sleep(2.5)
    assert requests.get(never_fetched["nextUri"], timeout=5).status_code == 404
    info = requests.get(f"{emulator.url}/v1/query/{dispatched['id']}", headers={"X-Trino-User": "alice"}, timeout=5).json()
    assert info["state"] == "FAILED"
    assert info["errorCode"]["name"] == "ABANDONED_QUERY"


def test_sigterm_shuts_down_gracefully(emulator):
    assert run(emulator, "SELECT 1")[1] == [[1]]
    assert emulator.stop(timeout=10) == 0
    assert "shutting down" in emulator.log_path.read_text().splitlines()[-1]
