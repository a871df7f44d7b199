"""Coordinator chaos with real clients: a workload of concurrent Python
`trino` clients looping queries of 200-2000 ms through the gateway, while a
coordinator is killed, or both are restarted one after the other with a drain.

Used by tests/py/test_chaos.py, and runnable on its own (it starts its own
emulated coordinators and Envoy on free ports and prints its figures):

    .venv/bin/python tests/py/chaos.py rolling-restart
    .venv/bin/python tests/py/chaos.py kill [--rerun-once]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import requests
import trino

from harness import Emulator, Envoy, free_port, load_envoy_config, plugin_configuration, wait_until

HEALTH = {"unknown": 0, "healthy": 1, "starting": 2, "draining": 3, "unhealthy": 4}
ROWS = 20


@dataclass
class Outcome:
    query_id: Optional[str]
    submitted_at: float
    ended_at: float
    ok: bool
    error_name: Optional[str] = None
    message: str = ""
    rerun: bool = False  # this attempt re-ran a failed query


@dataclass
class Workload:
    """`clients` threads, each looping one query at a time (200-2000 ms each).
    With `rerun_once`, a failed query is run again once, as dbt's retry does."""

    port: int
    clients: int = 8
    rerun_once: bool = False
    seed: int = 5
    outcomes: List[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: List[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run_one(self, runtime_ms: int, rerun: bool) -> Outcome:
        submitted = time.monotonic()
        cursor = trino.dbapi.connect(host="127.0.0.1", port=self.port, user="chaos", source="chaos").cursor()
        try:
            cursor.execute(f"/* emulator: runtime_ms={runtime_ms} */ SELECT x FROM UNNEST(sequence(1, {ROWS})) AS t(x)")
            rows = cursor.fetchall()
            if [r[0] for r in rows] != list(range(1, ROWS + 1)):
                return Outcome(cursor.query_id, submitted, time.monotonic(), False, "WRONG_ROWS", repr(rows), rerun)
            return Outcome(cursor.query_id, submitted, time.monotonic(), True, rerun=rerun)
        except trino.exceptions.TrinoQueryError as error:
            return Outcome(error.query_id or cursor.query_id, submitted, time.monotonic(), False, error.error_name, error.message, rerun)
        except Exception as error:  # noqa: BLE001 - any other failure is a client-visible failure, counted
            return Outcome(cursor.query_id, submitted, time.monotonic(), False, type(error).__name__, str(error), rerun)

    def _client(self, number: int) -> None:
        rng = random.Random(self.seed * 100 + number)
        while not self._stop.is_set():
            runtime_ms = rng.randint(200, 2000)
            outcome = self._run_one(runtime_ms, rerun=False)
            with self._lock:
                self.outcomes.append(outcome)
            if not outcome.ok and self.rerun_once:
                again = self._run_one(runtime_ms, rerun=True)
                with self._lock:
                    self.outcomes.append(again)

    def start(self) -> "Workload":
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def summary(self) -> Dict[str, int]:
        first = [o for o in self.outcomes if not o.rerun]
        reruns = [o for o in self.outcomes if o.rerun]
        # A query that finally failed: failed and (without re-runs) or (its re-run failed too).
        finally_failed = (
            sum(1 for o in reruns if not o.ok) if self.rerun_once else sum(1 for o in first if not o.ok)
        )
        return {
            "submitted": len(self.outcomes),
            "succeeded": sum(1 for o in self.outcomes if o.ok),
            "failed": sum(1 for o in self.outcomes if not o.ok),
            "failed_submissions": sum(1 for o in self.outcomes if not o.ok and o.error_name != "REMOTE_HOST_GONE"),
            "lost_in_flight": sum(1 for o in self.outcomes if o.error_name == "REMOTE_HOST_GONE"),
            "retried": len(reruns),
            "queries": len(first),
            "queries_finally_failed": finally_failed,
        }


def health(envoy: Envoy, cluster: str) -> Optional[int]:
    return envoy.gateway_stats().get(f"cluster.{cluster}.health")


def cluster_stats(emulator: Emulator) -> dict:
    """Trino's own counts (`/ui/api/stats`, after a web-UI login)."""
    session = requests.Session()
    session.post(emulator.url + "/ui/login", data={"username": "chaos", "password": ""}, allow_redirects=False, timeout=2)
    return session.get(emulator.url + "/ui/api/stats", timeout=2).json()


def running_and_queued(emulator: Emulator) -> int:
    stats = cluster_stats(emulator)
    return stats["runningQueries"] + stats["queuedQueries"]


# How long a drained coordinator's blocked queries (results ready, waiting for
# their client to fetch them) get before the restart: a client reading its
# results is done in milliseconds; a client that never fetches the last page
# (the Python client's EXECUTE IMMEDIATE probe does not) would otherwise hold
# the restart until query.client.timeout (5 minutes).
BLOCKED_GRACE_S = 10.0


def wait_idle(emulator: Emulator, timeout: float = 60.0) -> None:
    """Drained: nothing running or queued, and no blocked query left (or the grace is over)."""
    wait_until(lambda: running_and_queued(emulator) == 0, timeout, interval=0.1, what=f"{emulator.node_id} idle")
    deadline = time.monotonic() + BLOCKED_GRACE_S
    while time.monotonic() < deadline and cluster_stats(emulator)["blockedQueries"] > 0:
        time.sleep(0.1)


def restart(emulator: Emulator, log_dir: Path, graceful: bool = True) -> Emulator:
    """Stop a coordinator and start a new process (a new coordinator id) on its port."""
    if graceful:
        emulator.stop()
    else:
        emulator.kill()
    log_path = log_dir / f"{emulator.node_id}-{time.monotonic_ns()}.log"
    return Emulator(emulator.node_id, emulator.port, log_path, emulator.args).start()


def rolling_restart(
    envoy: Envoy,
    coordinators: Dict[str, Emulator],
    plugin: dict,
    log_dir: Path,
    say: Callable[[str], None] = print,
) -> None:
    """Restart every coordinator in turn: drain it (a plugin configuration
    update through ECDS), wait until Trino reports no running or queued
    query there, restart it, wait until the gateway has polled the new
    process, and put it back in rotation."""
    for name in list(coordinators):
        drained = dict(plugin, clusters=[dict(c, draining=c["name"] == name) for c in plugin["clusters"]])
        started = time.monotonic()
        envoy.update_plugin(drained)
        wait_until(lambda: health(envoy, name) == HEALTH["draining"], 10, what=f"{name} draining")
        wait_idle(coordinators[name])
        say(f"{name}: drained in {time.monotonic() - started:.1f} s; restarting")
        restarts = envoy.gateway_stats().get("coordinator_restarts", 0)
        coordinators[name] = restart(coordinators[name], log_dir)
        # The health service has polled the new process (its new coordinator id).
        wait_until(lambda: envoy.gateway_stats().get("coordinator_restarts", 0) > restarts, 10, what=f"{name} polled")
        envoy.update_plugin(plugin)
        wait_until(lambda: health(envoy, name) == HEALTH["healthy"], 10, what=f"{name} healthy")
        say(f"{name}: back in rotation (coordinator id {coordinators[name].info()['coordinatorId']})")


def kill_and_restart(
    envoy: Envoy, coordinators: Dict[str, Emulator], victim: str, log_dir: Path, down_s: float = 3.0
) -> float:
    """SIGKILL `victim`, leave it down for `down_s`, start it again and wait
    until it is back in rotation. Returns the monotonic time of the kill."""
    killed_at = time.monotonic()
    coordinators[victim].kill()
    time.sleep(down_s)
    restarts = envoy.gateway_stats().get("coordinator_restarts", 0)
    coordinators[victim] = Emulator(
        victim, coordinators[victim].port, log_dir / f"{victim}-restarted.log", coordinators[victim].args
    ).start()
    wait_until(lambda: envoy.gateway_stats().get("coordinator_restarts", 0) > restarts, 10, what=f"{victim} polled")
    wait_until(lambda: health(envoy, victim) == HEALTH["healthy"], 10, what=f"{victim} healthy")
    return killed_at


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=["rolling-restart", "kill"])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rerun-once", action="store_true", help="re-run a failed query once (dbt's retry)")
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="trino-gateway-chaos-"))
    lake = ["--catalog-dir", f"lake={log_dir / 'lake'}"]
    coordinators = {
        name: Emulator(name, free_port(), log_dir / f"{name}.log", lake).start() for name in ("coordinator-a", "coordinator-b")
    }
    plugin = plugin_configuration(load_envoy_config())
    envoy = Envoy(
        free_port(), free_port(), {n: e.port for n, e in coordinators.items()}, log_dir / "envoy.log", dynamic_plugin=True
    ).start()
    try:
        for name in coordinators:
            wait_until(lambda: health(envoy, name) == HEALTH["healthy"], 10, what=f"{name} healthy")
        workload = Workload(envoy.port, clients=args.clients, rerun_once=args.rerun_once).start()
        time.sleep(3)
        if args.scenario == "rolling-restart":
            rolling_restart(envoy, coordinators, plugin, log_dir)
        else:
            kill_and_restart(envoy, coordinators, "coordinator-a", log_dir)
            print("coordinator-a: killed, restarted, back in rotation")
        time.sleep(3)
        workload.stop()
        summary = workload.summary()
        print(" ".join(f"{k}={v}" for k, v in summary.items()))
        stats = envoy.gateway_stats()
        print(" ".join(f"{k}={stats.get(k, 0)}" for k in ("submissions_resent", "failovers", "lost_queries_failed", "passive_unhealthy_marks", "coordinator_restarts")))
        print(f"logs: {log_dir}")
        # Rolling restart: no query may fail. Kill: no submission may fail (the
        # queries running there are lost), and with re-runs, no query at all.
        if args.scenario == "rolling-restart":
            bad = summary["failed"]
        else:
            bad = summary["queries_finally_failed" if args.rerun_once else "failed_submissions"]
        return 1 if bad else 0
    finally:
        envoy.stop()
        for emulator in coordinators.values():
            emulator.kill()


if __name__ == "__main__":
    sys.exit(main())
