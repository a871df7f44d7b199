"""Self-routing URIs (envoy/envoy-self-routing.yaml): coordinators in forwarded
mode build every URI of a query under /_trino/<cluster>, and Envoy routes
those natively, with the wasm filter disabled on their routes. The real
Python client against two emulated coordinators run with --process-forwarded."""

import pytest
import requests
import trino

from conftest import SPOOLING_MODES, assert_spooled_segments_reach_their_coordinator, spooling_arguments
from harness import REPO

SELF_ROUTING = REPO / "envoy" / "envoy-self-routing.yaml"
NOT_FOUND = "Error 404 Not Found: HTTP 404 Not Found"


@pytest.fixture
def gateway(start_gateway):
    return start_gateway("--process-forwarded", "--page-rows", "5", config_path=SELF_ROUTING)


def requests_of(gateway, query_id):
    return [(name, e.method, e.path) for name, c in gateway.coordinators.items() for e in c.log_entries() if e.query == query_id]


def test_follow_ups_route_themselves_past_the_wasm_filter(gateway):
    answer = requests.post(gateway.envoy.url + "/v1/statement", data="SELECT 1", headers={"X-Trino-User": "alice"}, timeout=5)
    page = answer.json()
    owner = gateway.owner_of(page["id"])
    assert page["nextUri"].startswith(f"{gateway.envoy.url}/_trino/{owner}/v1/statement/queued/{page['id']}/")
    assert page["infoUri"] == f"{gateway.envoy.url}/_trino/{owner}/ui/query.html?{page['id']}"

    cursor = gateway.connect().cursor()
    for _ in range(4):
        cursor.execute("SELECT * FROM tpch.tiny.nation")
        assert len(cursor.fetchall()) == 25
        served = requests_of(gateway, cursor.query_id)
        assert len(served) >= 6, "several pages"
        assert {name for name, _, _ in served} == {gateway.owner_of(cursor.query_id)}
        # The coordinator sees its own paths: the prefix was taken off.
        assert all(path.startswith("/v1/statement") for _, _, path in served), served
    stats = gateway.envoy.gateway_stats()
    assert stats["new_queries.coordinator-a"] + stats["new_queries.coordinator-b"] == 5
    assert (stats["sticky_hits"], stats["coordinator_id_routes"], stats["other_requests"]) == (0, 0, 0), (
        "the wasm filter saw no follow-up"
    )


def test_a_self_routed_query_whose_coordinator_dies_fails_at_once(gateway):
    cursor = gateway.connect().cursor()
    cursor.execute("SELECT * FROM tpch.tiny.nation")
    assert cursor.fetchone() is not None
    owner = gateway.owner_of(cursor.query_id)
    gateway.coordinators[owner].kill()
    with pytest.raises(trino.exceptions.TrinoQueryError) as failure:
        cursor.fetchall()
    assert failure.value.error_name == "REMOTE_HOST_GONE"
    assert f"coordinator '{owner}' is unreachable" in failure.value.message, failure.value.message
    # A new query goes to the other coordinator (re-sent by the filter when needed).
    again = gateway.connect().cursor()
    again.execute("SELECT 1")
    assert again.fetchall() == [[1]]


def test_a_prefix_places_no_statement_and_a_forged_one_reaches_nothing(gateway):
    real = gateway.connect().cursor()
    real.execute("SELECT 1")
    real.fetchall()
    owner = gateway.owner_of(real.query_id)
    other = next(name for name in gateway.coordinators if name != owner)
    before = gateway.client_requests()
    headers = {"X-Trino-User": "alice"}
    for path in [
        f"/_trino/{owner}/v1/statement",
        f"/_trino/{owner}/v1/statement/",
        f"/_trino/{owner}/v1/statement;x=1",
        f"/_trino/{owner}/v1/statement/queued/..;/..;",
        "/_trino/coordinator-z/v1/statement",
        f"/_trino/{owner}/v1/info",
    ]:
        answer = requests.post(gateway.envoy.url + path, data="SELECT 1", headers=headers, timeout=5)
        assert (answer.status_code, answer.text) == (404, NOT_FOUND), path
    forged = f"/_trino/coordinator-z/v1/statement/executing/{real.query_id}/y/1"
    assert requests.get(gateway.envoy.url + forged, timeout=5).status_code == 404
    assert gateway.client_requests() == before, "none of these reached a coordinator"
    # A real query id under the other cluster's prefix reaches that cluster,
    # which does not know it: Trino's own 404, and no query is created.
    moved = f"/_trino/{other}/v1/statement/executing/{real.query_id}/y/1"
    answer = requests.get(gateway.envoy.url + moved, timeout=5)
    assert (answer.status_code, answer.text) == (404, "Error 404 Not Found: Query not found")
    assert not any(e.method == "POST" for e in gateway.client_requests()[other][len(before[other]):])



@pytest.mark.parametrize("mode", SPOOLING_MODES)
def test_spooled_segments_route_themselves(start_gateway, mode):
    gateway = start_gateway("--process-forwarded", *spooling_arguments(mode), config_path=SELF_ROUTING)
    assert_spooled_segments_reach_their_coordinator(gateway, mode)
    stats = gateway.envoy.gateway_stats()
    assert (stats["other_requests"], stats["segment_requests"], stats["segments_learned"]) == (0, 0, 0), (
        "no segment request went through the wasm filter"
    )


def test_a_transaction_stays_on_its_coordinator_under_self_routing(gateway):
    """The answers of the START TRANSACTION query name the transaction; the
    filter takes the prefix out of that query's URIs so they come through it."""
    from trino.transaction import IsolationLevel

    connection = gateway.connect(isolation_level=IsolationLevel.READ_COMMITTED)
    cursor = connection.cursor()
    owners = set()
    for n in range(4):
        cursor.execute(f"SELECT {n}")
        assert cursor.fetchall() == [[n]]
        owners.add(gateway.owner_of(cursor.query_id))
    connection.commit()
    assert len(owners) == 1
    stats = gateway.envoy.gateway_stats()
    assert (stats["transactions_started"], stats["transaction_statements"]) == (1, 5)
    # Statements of the transaction self-route like any other: the filter saw none of their follow-ups.
    assert stats["sticky_hits"] <= 4, "only the START TRANSACTION query's follow-ups came through the filter"
