"""Starts and stops the real processes the tests and the demo use.

One implementation for pytest fixtures, `make demo` and `make up`/`make down`:
free loopback ports, a log file per process, readiness checks, SIGTERM/SIGKILL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parents[2]
EMULATOR_BIN = REPO / "target" / "tools" / "trino-emulator"

LOG_LINE = re.compile(
    r"^(?P<time>\S+) node=(?P<node>\S+) (?P<method>\S+) (?P<path>\S+) (?P<status>\d+) query=(?P<query>\S+)$"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get_json(url: str, timeout: float = 2.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


@dataclass
class LogEntry:
    node: str
    method: str
    path: str
    status: int
    query: Optional[str]


@dataclass
class Emulator:
    """One emulated Trino coordinator process."""

    node_id: str
    port: int
    log_path: Path
    args: List[str] = field(default_factory=list)
    process: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> "Emulator":
        if not EMULATOR_BIN.exists():
            raise RuntimeError(f"{EMULATOR_BIN} is missing: run `make build` first")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        command = [str(EMULATOR_BIN), "--listen", f"127.0.0.1:{self.port}", "--node-id", self.node_id, *self.args]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.node_id} exited with {self.process.returncode}: {self.log_path.read_text()}")
            try:
                http_get_json(self.url + "/v1/info", timeout=0.5)
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"{self.node_id} did not listen on {self.url} within {timeout}s")

    def info(self) -> dict:
        return http_get_json(self.url + "/v1/info")

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        """SIGTERM, then SIGKILL if it does not exit in time. Returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_entries(self) -> List[LogEntry]:
        entries = []
        if not self.log_path.exists():
            return entries
        for line in self.log_path.read_text().splitlines():
            match = LOG_LINE.match(line)
            if match:
                query = match["query"]
                entries.append(
                    LogEntry(match["node"], match["method"], match["path"], int(match["status"]), None if query == "-" else query)
                )
        return entries
