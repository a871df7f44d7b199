"""Transactions through the gateway: every statement of a transaction reaches
the coordinator that started it (no other one knows it), with the real Python
client in non-autocommit mode against two emulated coordinators."""

import uuid

import pytest
import requests
import trino
from trino.transaction import IsolationLevel

UNKNOWN = "Unknown transaction ID: {}. Possibly expired? Commands ignored until end of transaction block"


def statements(gateway):
    """(coordinator, path) of every POST /v1/statement the coordinators received."""
    return [(name, e.path) for name, c in gateway.coordinators.items() for e in c.log_entries() if e.method == "POST"]


def served(gateway, query_id):
    return {name for name, c in gateway.coordinators.items() for e in c.log_entries() if e.query == query_id}


@pytest.mark.parametrize("end", ["commit", "rollback"])
def test_a_transaction_runs_on_the_coordinator_that_started_it(start_gateway, end):
    gateway = start_gateway()
    connection = gateway.connect(isolation_level=IsolationLevel.READ_COMMITTED)
    cursor = connection.cursor()  # START TRANSACTION
    transaction = connection.transaction.id
    assert uuid.UUID(transaction)
    query_ids = []
    for n in range(5):
        cursor.execute(f"SELECT {n}")
        assert cursor.fetchall() == [[n]]
        query_ids.append(cursor.query_id)
    owners = set().union(*(served(gateway, q) for q in query_ids))
    assert len(owners) == 1, f"one coordinator ran the whole transaction: {owners}"
    getattr(connection, end)()
    assert connection.transaction is None
    # Seven statements, all on one coordinator, while new queries alternate.
    assert {name for name, _ in statements(gateway)} == owners and len(statements(gateway)) == 7
    others = set()
    for _ in range(2):
        plain = gateway.connect().cursor()
        plain.execute("SELECT 1")
        plain.fetchall()
        others |= served(gateway, plain.query_id)
    assert others == set(gateway.coordinators), "outside the transaction the round robin goes on"
    stats = gateway.envoy.gateway_stats()
    assert (stats["transactions_started"], stats["transaction_statements"]) == (1, 6)

    # Ended: a client that still sends it gets Trino's answer from the gateway, from no coordinator.
    before = len(statements(gateway))
    stale = gateway.connect().cursor()
    stale._request.transaction_id = transaction
    with pytest.raises(trino.exceptions.TrinoUserError) as failure:
        stale.execute("SELECT 1")
    assert (failure.value.error_name, failure.value.message) == ("UNKNOWN_TRANSACTION", UNKNOWN.format(transaction))
    assert len(statements(gateway)) == before


def test_unknown_and_malformed_transaction_ids_pick_no_coordinator(start_gateway):
    gateway = start_gateway()
    forged = str(uuid.uuid4())
    answer = requests.post(
        gateway.envoy.url + "/v1/statement",
        data="SELECT 1",
        headers={"X-Trino-User": "alice", "X-Trino-Transaction-Id": forged},
        timeout=5,
    )
    page = answer.json()
    assert (answer.status_code, page["stats"]["state"]) == (200, "FAILED")
    assert (page["error"]["errorName"], page["error"]["errorCode"], page["error"]["errorType"]) == (
        "UNKNOWN_TRANSACTION",
        20,
        "USER_ERROR",
    )
    assert page["error"]["message"] == UNKNOWN.format(forged)
    malformed = requests.post(
        gateway.envoy.url + "/v1/statement",
        data="SELECT 1",
        headers={"X-Trino-User": "alice", "X-Trino-Transaction-Id": "coordinator-b"},
        timeout=5,
    )
    assert (malformed.status_code, malformed.text) == (400, "Invalid UUID string: coordinator-b")
    assert statements(gateway) == []
    stats = gateway.envoy.gateway_stats()
    assert (stats["unknown_transactions"], stats["malformed_transaction_ids"]) == (1, 1)

