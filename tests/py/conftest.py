import itertools
from pathlib import Path

import pytest

from harness import Emulator, free_port, stop_all_started

_counter = itertools.count()


@pytest.fixture(autouse=True)
def stop_processes_after_each_test():
    """Every emulator and Envoy a test started, restarted ones included, ends with the test."""
    yield
    stop_all_started()


@pytest.fixture
def start_emulator(tmp_path: Path):
    """Factory: start_emulator(node_id="emu-a", *extra_args) -> running Emulator, stopped after the test."""

    def start(node_id: str = "emu-a", *args: str, wait: bool = True) -> Emulator:
        emulator = Emulator(node_id, free_port(), tmp_path / f"{node_id}-{next(_counter)}.log", list(args))
        return emulator.start(wait=wait)

    return start


@pytest.fixture
def emulator(start_emulator) -> Emulator:
    return start_emulator("emu-a", "--page-rows", "500")


from dataclasses import dataclass  # noqa: E402

import trino  # noqa: E402

from harness import Envoy, load_envoy_config, plugin_configuration  # noqa: E402


@dataclass
class Gateway:
    envoy: Envoy
    coordinators: dict

    def connect(self, **kwargs):
        return trino.dbapi.connect(host="127.0.0.1", port=self.envoy.port, **{"user": "alice", **kwargs})

    def owner_of(self, query_id: str) -> str:
        """The coordinator whose id ends the query id."""
        for name, emulator in self.coordinators.items():
            try:
                coordinator_id = emulator.info()["coordinatorId"]
            except OSError:
                continue  # killed: it answers nothing any more
            if query_id.endswith("_" + coordinator_id):
                return name
        raise KeyError(query_id)

    def client_requests(self) -> dict:
        """Each coordinator's logged requests but the gateway's health checks
        (they run on their own clock, so a test counting what clients caused
        leaves them out)."""
        return {
            name: [e for e in c.log_entries() if e.path not in HEALTH_CHECK_PATHS] for name, c in self.coordinators.items()
        }


# What the gateway's health checks ask.
HEALTH_CHECK_PATHS = ("/v1/info", "/ui/login", "/ui/api/stats")


def shipped_plugin(**changes) -> dict:
    plugin = plugin_configuration(load_envoy_config())
    plugin.update(changes)
    return plugin


@pytest.fixture
def start_gateway(tmp_path: Path, start_emulator):
    """Factory: two emulated coordinators behind real Envoy (envoy/envoy.yaml, ports moved)."""

    def start(
        *emulator_args: str,
        plugin=None,
        concurrency: int = 2,
        wait: bool = True,
        dynamic_plugin: bool = False,
        health_service: bool = True,
        config_path=None,
        stop_iteration: bool = False,
    ) -> Gateway:
        # Both share the `lake` catalog, as clusters share a metastore and object store.
        lake = ("--catalog-dir", f"lake={tmp_path / 'lake'}")
        coordinators = {name: start_emulator(name, *emulator_args, *lake) for name in ("coordinator-a", "coordinator-b")}
        envoy = Envoy(
            free_port(),
            free_port(),
            {name: e.port for name, e in coordinators.items()},
            tmp_path / f"envoy-{next(_counter)}.log",
            plugin,
            concurrency,
            dynamic_plugin,
            health_service=health_service,
            stop_iteration=stop_iteration,
            **({"config_path": config_path} if config_path else {}),
        )
        envoy.start(wait=wait)
        return Gateway(envoy, coordinators)

    return start


# Spooled results through a gateway (tests/py/test_spooling.py, test_self_routing.py).
SPOOLING_MODES = ["INLINE", "STORAGE", "COORDINATOR_STORAGE_REDIRECT", "COORDINATOR_PROXY"]
SPOOLED_ROWS = "SELECT x, 'row ' || CAST(x AS varchar) AS label FROM UNNEST(sequence(1, 6000)) AS t(x)"


def spooling_arguments(mode: str) -> list:
    """Emulator arguments: 1000-row pages, the first 2000 rows inline (INLINE: all of them)."""
    inline_rows = "100000" if mode == "INLINE" else "2000"
    retrieval = "STORAGE" if mode == "INLINE" else mode
    return ["--spooling", "--spooling-retrieval-mode", retrieval, "--page-rows", "1000", "--spooling-inlining-max-rows", inline_rows]


def assert_spooled_segments_reach_their_coordinator(gateway: Gateway, mode: str) -> int:
    """One spooled query on each coordinator with the Python client (json+zstd);
    each coordinator encrypts its segment ids with its own key, so a download
    or acknowledgement sent to the other one would fail. Returns the number of
    spooled segments per query."""
    from harness import wait_until

    owners = []
    for _ in range(2):
        cursor = gateway.connect(encoding="json+zstd").cursor()
        cursor.execute(SPOOLED_ROWS)
        assert cursor.fetchall() == [[x, f"row {x}"] for x in range(1, 6001)]
        owners.append(gateway.owner_of(cursor.query_id))
    assert sorted(owners) == sorted(gateway.coordinators), "one query on each coordinator"

    def spooled(name, kind):
        return [e for e in gateway.coordinators[name].log_entries() if e.path.startswith(f"/v1/spooled/{kind}/")]

    segments = 0 if mode == "INLINE" else 4
    for name in gateway.coordinators:
        # The client acknowledges in the background once it moves past a segment.
        wait_until(lambda: len({e.path for e in spooled(name, "ack")}) == segments, timeout=5, what=f"acks on {name}")
        assert all(e.status == 200 for e in spooled(name, "ack"))
        expected = {"COORDINATOR_PROXY": [200] * 4, "COORDINATOR_STORAGE_REDIRECT": [303] * 4}.get(mode, [])
        assert [e.status for e in spooled(name, "download")] == expected, name
    return segments
