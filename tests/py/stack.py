"""`make up` / `make down` / `make demo`: the local stack on fixed loopback ports.

The stack is envoy/envoy.yaml as shipped, twice, with envoy/state-store.yaml
merged in: two gateway Envoys with the trino-gateway filter, on 127.0.0.1:8080
(admin 9901) and 127.0.0.1:8090 (admin 9902), in front of the same two
emulated Trino coordinators, coordinator-a on 8081 and coordinator-b on 8082,
sharing their routing state through etcd on 127.0.0.1:2379 (peer 2380). Logs,
pids and etcd's data go to .run/ (git-ignored).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

from harness import REPO, Emulator, Envoy, Etcd, load_envoy_config, plugin_configuration

RUN_DIR = REPO / ".run"
COORDINATORS = [("coordinator-a", 8081), ("coordinator-b", 8082)]
GATEWAY_PORT, ADMIN_PORT = 8080, 9901
SECOND_GATEWAY_PORT, SECOND_ADMIN_PORT = 8090, 9902
ETCD_PORT, ETCD_PEER_PORT = 2379, 2380
GATEWAYS = [("envoy", GATEWAY_PORT, ADMIN_PORT), ("envoy-2", SECOND_GATEWAY_PORT, SECOND_ADMIN_PORT)]
# Routing groups on the stack (envoy/README.md, "Routing"): new statements go
# round robin over both coordinators, except dbt's (source dbt*) and those
# tagged `etl`, which go to coordinator-a (to both when it is down); anyone may
# name a group with X-Trino-Routing-Group.
ROUTING = {
    "groups": [
        {"name": "all", "clusters": ["coordinator-a", "coordinator-b"]},
        {"name": "etl", "clusters": ["coordinator-a"]},
        {"name": "only-b", "clusters": ["coordinator-b"], "when_unavailable": "fail"},
    ],
    "default_group": "all",
    "rules": [{"name": "dbt-or-etl-tag", "when": {"any": [{"source": {"prefix": "dbt"}}, {"client_tags": {"any_of": ["etl"]}}]},
               "group": "etl"}],
    "group_header": {},
}
ALL_PORTS = [port for _, port in COORDINATORS] + [p for _, g, a in GATEWAYS for p in (g, a)] + [ETCD_PORT, ETCD_PEER_PORT]


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
    # A fresh store: entries of an earlier run name coordinator processes that are gone.
    shutil.rmtree(RUN_DIR / "etcd", ignore_errors=True)
    etcd = Etcd("etcd", ETCD_PORT, ETCD_PEER_PORT, RUN_DIR / "etcd", RUN_DIR / "etcd.log").start()
    pid_file("etcd").write_text(str(etcd.process.pid))
    emulators = []
    for name, port in COORDINATORS:
        # Both coordinators share the `lake` catalog, as clusters behind a
        # gateway share a metastore and an object store.
        args = ["--page-rows", "100", "--catalog-dir", f"lake={RUN_DIR / 'lake'}"]
        emulator = Emulator(name, port, RUN_DIR / f"{name}.log", args).start()
        pid_file(name).write_text(str(emulator.process.pid))
        emulators.append(emulator)
    envoys = []
    plugin = dict(plugin_configuration(load_envoy_config()), routing=ROUTING)
    for name, port, admin in GATEWAYS:
        envoy = Envoy(port, admin, dict(COORDINATORS), RUN_DIR / f"{name}.log", plugin, etcd_port=ETCD_PORT).start()
        pid_file(name).write_text(str(envoy.process.pid))
        envoys.append(envoy)
    return emulators, envoys, etcd


def up(_args) -> None:
    emulators, envoys, etcd = start_stack()
    for emulator in emulators:
        print(f"{emulator.node_id}: {emulator.url} (coordinatorId {emulator.info()['coordinatorId']}, log {emulator.log_path})")
    for envoy in envoys:
        print(f"gateway: {envoy.url} (Envoy admin {envoy.admin}, log {envoy.log_path})")
    print(f"state store: etcd {etcd.endpoint} (log {etcd.log_path})")
    print("stack is up: point any Trino client at 127.0.0.1:8080 or 127.0.0.1:8090; `make down` stops it")
    print("  drain coordinator-a on both gateways: ETCDCTL_API=3 etcdctl put /trino-gateway/drain/coordinator-a 1")
    print("  what the gateways share:              ETCDCTL_API=3 etcdctl get --prefix /trino-gateway/")
    print("  routing groups: dbt (source dbt*) and --client-tags etl go to coordinator-a; any client may send")
    print("  X-Trino-Routing-Group: all | etl | only-b (e.g. trino --server 127.0.0.1:8080 --client-tags etl)")


def down(_args) -> None:
    for name in [name for name, _, _ in GATEWAYS] + [name for name, _ in COORDINATORS] + ["etcd"]:
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


def across(sql: str, submit_port: int, fetch_port: int) -> tuple:
    """`sql` submitted through one gateway, every page fetched through the
    other (as when a client's requests land on different gateway replicas):
    (query id, rows, requests through the second gateway)."""
    import json
    import urllib.request

    headers = {"X-Trino-User": "demo", "X-Trino-Source": "trino-gateway-demo"}
    request = urllib.request.Request(f"http://127.0.0.1:{submit_port}/v1/statement", data=sql.encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        page = json.loads(response.read())
    query_id, rows, fetched = page["id"], list(page.get("data") or []), 0
    while page.get("nextUri"):
        path = page["nextUri"].split("/", 3)[3]
        request = urllib.request.Request(f"http://127.0.0.1:{fetch_port}/{path}", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            page = json.loads(response.read())
        fetched += 1
        rows += page.get("data") or []
    if page.get("error"):
        raise RuntimeError(page["error"].get("message"))
    return query_id, rows, fetched


def demo(args) -> None:
    import trino

    emulators, envoys, etcd = start_stack()
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    owners = {e.info()["coordinatorId"]: e.node_id for e in emulators}
    print("Trino Envoy Gateway demo")
    for emulator in emulators:
        print(f"  {emulator.node_id}  {emulator.url}  coordinatorId={emulator.info()['coordinatorId']}  (emulated Trino)")
    for envoy in envoys:
        print(f"  gateway        {envoy.url}  Envoy + trino-gateway filter (admin {envoy.admin})")
    print(f"  state store    {etcd.endpoint}  etcd, shared by both gateways")
    print("Running queries through the gateways (in turn) with the real Python trino client; Ctrl-C stops.")
    print("Each round also writes a row to the shared `lake` catalog through one gateway and reads the")
    print("table back through the other, and submits a query through one gateway and fetches it through the other.\n")

    def lake(sql: str, port: int):
        cursor = trino.dbapi.connect(host="127.0.0.1", port=port, user="demo", catalog="lake", schema="demo").cursor()
        cursor.execute(sql)
        return cursor.fetchall(), owners.get(cursor.query_id.rsplit("_", 1)[-1], "?")

    lake("CREATE SCHEMA IF NOT EXISTS lake.demo", GATEWAY_PORT)
    lake("CREATE TABLE IF NOT EXISTS lake.demo.events (round bigint, written_by varchar)", GATEWAY_PORT)
    try:
        for n in itertools.count(1):
            if stop["now"] or (args.queries and n > args.queries):
                break
            here, there = envoys[(n + 1) % 2], envoys[n % 2]
            cursor = trino.dbapi.connect(host="127.0.0.1", port=here.port, user="demo", source="trino-gateway-demo").cursor()
            started = time.monotonic()
            cursor.execute("SELECT count_me FROM UNNEST(sequence(1, 1000)) AS t(count_me)")
            rows = cursor.fetchall()
            took = (time.monotonic() - started) * 1000
            query_id = cursor.query_id
            owner = owners.get(query_id.rsplit("_", 1)[-1], "?")
            served = [e.node_id for e in emulators for entry in e.log_entries() if entry.query == query_id]
            print(
                f"query {n:3d}: {query_id} on {owner} through :{here.port}: {len(rows)} rows, "
                f"sum {sum(r[0] for r in rows)}, {took:.0f} ms; "
                f"{len(served)} requests served by {', '.join(sorted(set(served)))}"
            )
            _, writer = lake(f"INSERT INTO events SELECT {n}, node_id FROM system.runtime.nodes", here.port)
            [[count, writers]], reader = lake("SELECT count(*), count(DISTINCT written_by) FROM events", there.port)
            print(
                f"lake      : round {n} written on {writer} through :{here.port}, read on {reader} through :{there.port}: "
                f"lake.demo.events holds {count} rows written by {writers} coordinators"
            )
            cross_id, cross_rows, fetched = across("SELECT x FROM UNNEST(sequence(1, 500)) AS t(x)", here.port, there.port)
            print(
                f"across    : {cross_id} submitted through :{here.port}, its {fetched} next pages fetched through "
                f":{there.port}: {len(cross_rows)} rows from {owners.get(cross_id.rsplit('_', 1)[-1], '?')}"
            )
            time.sleep(args.interval)
    except KeyboardInterrupt:
        pass
    finally:
        for envoy in envoys:
            stats = envoy.gateway_stats()
            print(f"\ngateway :{envoy.port} counters: " + ", ".join(f"{k}={v}" for k, v in sorted(stats.items()) if v))
        print("stopping the stack")
        for (name, _, _), envoy in zip(GATEWAYS, envoys):
            envoy.stop()
            pid_file(name).unlink(missing_ok=True)
        for emulator in emulators:
            emulator.stop()
            pid_file(emulator.node_id).unlink(missing_ok=True)
        etcd.stop()
        pid_file("etcd").unlink(missing_ok=True)


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
