import itertools
from pathlib import Path

import pytest

from harness import Emulator, free_port

_counter = itertools.count()


@pytest.fixture
def start_emulator(tmp_path: Path):
    """Factory: start_emulator(node_id="emu-a", *extra_args) -> running Emulator, stopped after the test."""
    started = []

    def start(node_id: str = "emu-a", *args: str, wait: bool = True) -> Emulator:
        emulator = Emulator(node_id, free_port(), tmp_path / f"{node_id}-{next(_counter)}.log", list(args))
        started.append(emulator)
        return emulator.start(wait=wait)

    yield start
    for emulator in started:
        emulator.kill()


@pytest.fixture
def emulator(start_emulator) -> Emulator:
    return start_emulator("emu-a", "--page-rows", "500")
