"""`make demo` and `make up`/`make down` as a user runs them."""

import subprocess
import sys

import pytest
import trino

from harness import REPO
from stack import ALL_PORTS, COORDINATORS, GATEWAY_PORT, SECOND_GATEWAY_PORT, across, port_free

STACK = [sys.executable, str(REPO / "tests" / "py" / "stack.py")]


@pytest.fixture
def stack_ports_free():
    if not all(port_free(port) for port in ALL_PORTS):
        pytest.skip("the fixed stack ports are in use (is `make up` running?)")


def test_demo_runs_real_queries_and_stops_cleanly(stack_ports_free):
    result = subprocess.run(STACK + ["demo", "--queries", "4", "--interval", "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("query ")]
    assert len(lines) == 4
    # 1000 rows at 100 a page: POST, queued, 10 data pages, the final page.
    assert all("1000 rows, sum 500500" in line and "; 13 requests served by" in line for line in lines)
    # Through the gateway: both coordinators get queries, each query is served by its owner alone.
    assert any(" on coordinator-a " in line for line in lines) and any(" on coordinator-b " in line for line in lines)
    for line in lines:
        owner = line.split(" on ")[1].split(" ")[0]
        assert line.endswith(f"requests served by {owner}"), line
    # The shared `lake` catalog: rows written through either coordinator, read through either.
    writes = [line for line in result.stdout.splitlines() if line.startswith("lake ")]
    assert len(writes) == 4, result.stdout
    assert {line.split(" written on ")[1].split(" ")[0] for line in writes} == {"coordinator-a", "coordinator-b"}
    assert "written by 2 coordinators" in writes[-1], writes
    # Two gateways sharing their state through etcd: used in turn, and a query
    # submitted through one is fetched through the other.
    assert {line.split(" through :")[1].split(":")[0] for line in lines} == {"8080", "8090"}
    across = [line for line in result.stdout.splitlines() if line.startswith("across ")]
    assert len(across) == 4 and all(": 500 rows from coordinator-" in line for line in across), across
    assert all(port_free(port) for port in ALL_PORTS), "demo left a process running"


def test_up_serves_queries_until_down(stack_ports_free):
    subprocess.run(STACK + ["up"], check=True, capture_output=True, timeout=60)
    try:
        answered = set()
        for _ in range(4):
            cursor = trino.dbapi.connect(host="127.0.0.1", port=GATEWAY_PORT, user="t").cursor()
            cursor.execute("SELECT node_id FROM system.runtime.nodes")
            answered.add(cursor.fetchall()[0][0])
        assert answered == {name for name, _ in COORDINATORS}
        # The stack's routing groups, on both gateways: dbt's statements on
        # coordinator-a, a group named by the client's header honoured.
        for port in (GATEWAY_PORT, SECOND_GATEWAY_PORT):
            for connect, expected in [({"source": "dbt-trino"}, "coordinator-a"), ({"client_tags": ["etl"]}, "coordinator-a"),
                                      ({"http_headers": {"X-Trino-Routing-Group": "only-b"}}, "coordinator-b")]:
                for _ in range(2):
                    cursor = trino.dbapi.connect(host="127.0.0.1", port=port, user="t", **connect).cursor()
                    cursor.execute("SELECT node_id FROM system.runtime.nodes")
                    assert cursor.fetchall()[0][0] == expected, (port, connect)
        # The second gateway continues a query the first one placed.
        query_id, rows, fetched = across("SELECT x FROM UNNEST(sequence(1, 300)) AS t(x)", GATEWAY_PORT, SECOND_GATEWAY_PORT)
        assert len(rows) == 300 and fetched >= 1
    finally:
        subprocess.run(STACK + ["down"], check=True, capture_output=True, timeout=60)
    assert all(port_free(port) for port in ALL_PORTS)
