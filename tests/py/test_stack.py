"""`make demo` and `make up`/`make down` as a user runs them."""

import subprocess
import sys

import pytest
import trino

from harness import REPO
from stack import COORDINATORS, port_free

STACK = [sys.executable, str(REPO / "tests" / "py" / "stack.py")]


@pytest.fixture
def stack_ports_free():
    if not all(port_free(port) for _, port in COORDINATORS):
        pytest.skip("the fixed stack ports are in use (is `make up` running?)")


def test_demo_runs_real_queries_and_stops_cleanly(stack_ports_free):
    result = subprocess.run(STACK + ["demo", "--queries", "4", "--interval", "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("query ")]
    assert len(lines) == 4
    assert all("1000 rows, sum 500500" in line for line in lines)
    assert any("coordinator-a" in line for line in lines) and any("coordinator-b" in line for line in lines)
    assert all(port_free(port) for _, port in COORDINATORS), "demo left a coordinator running"


def test_up_serves_queries_until_down(stack_ports_free):
    subprocess.run(STACK + ["up"], check=True, capture_output=True, timeout=60)
    try:
        for name, port in COORDINATORS:
            cursor = trino.dbapi.connect(host="127.0.0.1", port=port, user="t").cursor()
            cursor.execute("SELECT node_id FROM system.runtime.nodes")
            assert cursor.fetchall() == [[name]]
    finally:
        subprocess.run(STACK + ["down"], check=True, capture_output=True, timeout=60)
    assert all(port_free(port) for _, port in COORDINATORS)
