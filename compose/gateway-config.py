#!/usr/bin/env python3
"""Drain a coordinator in one compose gateway's filter configuration, or
bring it back, without restarting Envoy (Python 3 standard library only).

    compose/gateway-config.py drain coordinator-a    # no new queries on a
    compose/gateway-config.py undrain coordinator-a  # a takes new queries again
    compose/gateway-config.py show                   # the filter's configuration now
    compose/gateway-config.py --service gateway-2 --admin http://127.0.0.1:9902 drain coordinator-a

This is the configuration path (ECDS, what an Istio WasmPlugin update does)
and it changes one Envoy. To drain on every gateway replica at once, write the
drain to the state store instead:
    docker compose exec etcd etcdctl put /trino-gateway/drain/coordinator-a 1
    docker compose exec etcd etcdctl del /trino-gateway/drain/coordinator-a

The gateway container's Envoy reads the filter's configuration through ECDS
from /tmp/ecds/trino_gateway.json (envoy/envoy-compose.yaml). This script reads
that file, sets `draining` on the cluster in the plugin configuration, bumps
version_info and renames the new file onto the watched path (Envoy reloads on a
rename into the directory, never on a half-written file); then it waits until
Envoy's admin counts the reload. Queries already on a drained coordinator
finish there. A restart of the gateway container starts from
envoy/envoy-compose-filter.json again (not drained).

Needs `docker compose` (run from anywhere: it works in this repository).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONTAINER_FILE = "/tmp/ecds/trino_gateway.json"
RELOADS = "extension_config_discovery.http_filter.trino_gateway.config_reload"
FAILURES = "extension_config_discovery.http_filter.trino_gateway.config_fail"


class ContainerFile:
    """The ECDS file inside a running gateway service (docker compose exec)."""

    def __init__(self, service: str):
        self.service = service

    def read(self) -> str:
        return _run(["docker", "compose", "exec", "-T", self.service, "cat", CONTAINER_FILE]).stdout

    def replace(self, text: str) -> None:
        # Written next to it, then renamed: Envoy never sees a partial file.
        script = f"cat > {CONTAINER_FILE}.new && mv {CONTAINER_FILE}.new {CONTAINER_FILE}"
        _run(["docker", "compose", "exec", "-T", self.service, "/bin/sh", "-c", script], stdin=text)


def _run(argv: list, stdin: str | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv[:4])} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def plugin_of(discovery_response: dict) -> dict:
    [resource] = discovery_response["resources"]
    return json.loads(resource["typed_config"]["config"]["configuration"]["value"])


def with_draining(discovery_response: dict, cluster: str, draining: bool) -> dict:
    """The same DiscoveryResponse, `cluster` (un)drained, next version."""
    plugin = plugin_of(discovery_response)
    names = [c["name"] for c in plugin["clusters"]]
    if cluster not in names:
        sys.exit(f"no cluster {cluster!r} in the gateway's configuration (clusters: {', '.join(names)})")
    for entry in plugin["clusters"]:
        if entry["name"] == cluster:
            if draining:
                entry["draining"] = True
            else:
                entry.pop("draining", None)
    updated = json.loads(json.dumps(discovery_response))
    updated["resources"][0]["typed_config"]["config"]["configuration"]["value"] = json.dumps(plugin)
    updated["version_info"] = str(int(discovery_response.get("version_info") or "0") + 1)
    return updated


def admin_stats(admin: str) -> dict:
    with urllib.request.urlopen(f"{admin}/stats?filter=extension_config_discovery", timeout=5) as response:
        lines = response.read().decode().splitlines()
    return {name: int(value) for name, _, value in (line.partition(": ") for line in lines) if value.strip().isdigit()}


def apply(file, admin: str, cluster: str, draining: bool, timeout: float = 10.0) -> dict:
    before = admin_stats(admin)
    updated = with_draining(json.loads(file.read()), cluster, draining)
    file.replace(json.dumps(updated, indent=2) + "\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = admin_stats(admin)
        if now.get(FAILURES, 0) > before.get(FAILURES, 0):
            sys.exit("Envoy rejected the new configuration (see its log: docker compose logs gateway)")
        if now.get(RELOADS, 0) > before.get(RELOADS, 0):
            return plugin_of(updated)
        time.sleep(0.1)
    sys.exit(f"Envoy did not apply the new configuration within {timeout:.0f} s ({RELOADS} unchanged)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["drain", "undrain", "show"])
    parser.add_argument("cluster", nargs="?", help="the Envoy cluster (compose service), e.g. coordinator-a")
    parser.add_argument("--service", default="gateway", help="the compose service of the gateway (gateway, gateway-2)")
    parser.add_argument("--admin", default="http://127.0.0.1:9901", help="that Envoy's admin address")
    args = parser.parse_args()
    file = ContainerFile(args.service)
    if args.command == "show":
        print(json.dumps(plugin_of(json.loads(file.read())), indent=2))
        return
    if not args.cluster:
        parser.error(f"{args.command} needs a cluster, e.g. coordinator-a")
    plugin = apply(file, args.admin, args.cluster, args.command == "drain")
    drained = [c["name"] for c in plugin["clusters"] if c.get("draining")]
    print(f"applied: draining {', '.join(drained) if drained else 'none'}")


if __name__ == "__main__":
    main()
