"""`make up` / `make down` / `make demo`: the local stack on fixed loopback ports.

The stack is envoy/envoy.yaml as shipped: Envoy with the trino-gateway filter
on 127.0.0.1:8080 (admin 9901) in front of two emulated Trino coordinators,
coordinator-a on 8081 and coordinator-b on 8082. Logs and pids go to .run/
(git-ignored).
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import socket
import sys
import time
from pathlib import Path

from harness import REPO, Emulator, Envoy

RUN_DIR = REPO / ".run"
COORDINATORS = [("coordinator-a", 8081), ("coordinator-b", 8082)]
GATEWAY_PORT, ADMIN_PORT = 8080, 9901
ALL_PORTS = [port for _, port in COORDINATORS] + [GATEWAY_PORT, ADMIN_PORT]


def port_free(port: int) -> bool:
    """Nothing listens on the port (connections lingering in TIME_WAIT don't count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def pid_file(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def start_stack():
    busy = [port for port in ALL_PORTS if not port_free(port)]
    if busy:
        sys.exit(f"ports {busy} are in use: is the stack already up? (`make down` stops it)")
    RUN_DIR.mkdir(exist_ok=True)
    emulators = []
    for name, port in COORDINATORS:
        # Both coordinators share the `lake` catalog, as clusters behind a
        # gateway share a metastore and an object store.
        args = ["--page-rows", "100", "--catalog-dir", f"lake={RUN_DIR / 'lake'}"]
        emulator = Emulator(name, port, RUN_DIR / f"{name}.log", args).start()
        pid_file(name).write_text(str(emulator.process.pid))
        emulators.append(emulator)
    envoy = Envoy(GATEWAY_PORT, ADMIN_PORT, dict(COORDINATORS), RUN_DIR / "envoy.log").start()
    pid_file("envoy").write_text(str(envoy.process.pid))
    return emulators, envoy


def up(_args) -> None:
    emulators, envoy = start_stack()
    for emulator in emulators:
        print(f"{emulator.node_id}: {emulator.url} (coordinatorId {emulator.info()['coordinatorId']}, log {emulator.log_path})")
    print(f"gateway: {envoy.url} (Envoy admin {envoy.admin}, log {envoy.log_path})")
    print("stack is up: point any Trino client at 127.0.0.1:8080; `make down` stops it")


def down(_args) -> None:
    for name in ["envoy"] + [name for name, _ in COORDINATORS]:
        path = pid_file(name)
        if not path.exists():
            continue
        pid = int(path.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        path.unlink()
        print(f"{name} stopped")


def demo(args) -> None:
    import trino

    emulators, envoy = start_stack()
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    owners = {e.info()["coordinatorId"]: e.node_id for e in emulators}
    print("Trino Envoy Gateway demo")
    for emulator in emulators:
        print(f"  {emulator.node_id}  {emulator.url}  coordinatorId={emulator.info()['coordinatorId']}  (emulated Trino)")
    print(f"  gateway        {envoy.url}  Envoy + trino-gateway filter (admin {envoy.admin})")
    print("Running queries through the gateway with the real Python trino client; Ctrl-C stops.")
    print("Each round also writes a row to the shared `lake` catalog and reads the table back.\n")

    def lake(sql: str):
        cursor = trino.dbapi.connect(host="127.0.0.1", port=GATEWAY_PORT, user="demo", catalog="lake", schema="demo").cursor()
        cursor.execute(sql)
        return cursor.fetchall(), owners.get(cursor.query_id.rsplit("_", 1)[-1], "?")

    lake("CREATE SCHEMA IF NOT EXISTS lake.demo")
    lake("CREATE TABLE IF NOT EXISTS lake.demo.events (round bigint, written_by varchar)")
    try:
        for n in itertools.count(1):
            if stop["now"] or (args.queries and n > args.queries):
                break
            cursor = trino.dbapi.connect(host="127.0.0.1", port=GATEWAY_PORT, user="demo", source="trino-gateway-demo").cursor()
            started = time.monotonic()
            cursor.execute("SELECT count_me FROM UNNEST(sequence(1, 1000)) AS t(count_me)")
            rows = cursor.fetchall()
            took = (time.monotonic() - started) * 1000
            query_id = cursor.query_id
            owner = owners.get(query_id.rsplit("_", 1)[-1], "?")
            served = [e.node_id for e in emulators for entry in e.log_entries() if entry.query == query_id]
            print(
                f"query {n:3d}: {query_id} on {owner}: {len(rows)} rows, sum {sum(r[0] for r in rows)}, {took:.0f} ms; "
                f"{len(served)} requests served by {', '.join(sorted(set(served)))}"
            )
            _, writer = lake(f"INSERT INTO events SELECT {n}, node_id FROM system.runtime.nodes")
            [[count, writers]], reader = lake("SELECT count(*), count(DISTINCT written_by) FROM events")
            print(
                f"lake      : round {n} written on {writer}, read on {reader}: "
                f"lake.demo.events holds {count} rows written by {writers} coordinators"
            )
            time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    finally:
        stats = envoy.gateway_stats()
        print("\ngateway counters: " + ", ".join(f"{k}={v}" for k, v in sorted(stats.items()) if v))
        print("stopping the stack")
        envoy.stop()
        pid_file("envoy").unlink(missing_ok=True)
        for emulator in emulators:
            emulator.stop()
            pid_file(emulator.node_id).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up").set_defaults(run=up)
    commands.add_parser("down").set_defaults(run=down)
    demo_parser = commands.add_parser("demo")
    demo_parser.add_argument("--queries", type=int, default=0, help="stop after this many (0: until Ctrl-C)")
    demo_parser.add_argument("--interval", type=float, default=1.0, help="seconds between queries")
    demo_parser.set_defaults(run=demo)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
