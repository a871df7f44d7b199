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
        return trino.dbapi.connect(host="127.0.0.1", port=self.envoy.port, user="alice", **kwargs)

    def owner_of(self, query_id: str) -> str:
        """The coordinator whose id ends the query id."""
        for name, emulator in self.coordinators.items():
            if query_id.endswith("_" + emulator.info()["coordinatorId"]):
                return name
        raise KeyError(query_id)


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
    ) -> Gateway:
        coordinators = {name: start_emulator(name, *emulator_args) for name in ("coordinator-a", "coordinator-b")}
        envoy = Envoy(
            free_port(),
            free_port(),
            {name: e.port for name, e in coordinators.items()},
            tmp_path / f"envoy-{next(_counter)}.log",
            plugin,
            concurrency,
            dynamic_plugin,
            health_service=health_service,
            **({"config_path": config_path} if config_path else {}),
        )
        envoy.start(wait=wait)
        return Gateway(envoy, coordinators)

    return start
