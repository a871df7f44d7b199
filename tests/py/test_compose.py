"""compose.yaml cannot run here (no Docker engine), so it is checked as far as
this machine allows: statically against what Trino 480, Docker Compose and
Envoy accept, and end to end by running its Envoy configuration (addresses and
file paths moved to this machine, nothing else) in front of emulated
coordinators with the real Python client and the real dbt."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
import requests
import trino
import yaml

from dbt_chaos import DbtProject, wrong_tables
from harness import ENVOY_BIN, REPO, WASM, Emulator, Envoy, Etcd, free_port, wait_until

COMPOSE = yaml.safe_load((REPO / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
PROPERTY_LISTS = REPO / "compose" / "trino" / "trino-480-properties"
GATEWAY_CONFIG = REPO / "compose" / "gateway-config.py"
# airlift's NodeConfig (the patterns Trino 480 validates node.properties with).
NODE_ENVIRONMENT = re.compile(r"[a-z0-9][_a-z0-9]*")
NODE_ID = re.compile(r"[A-Za-z0-9][_A-Za-z0-9-]*")
GIB = 1024**3


def bind_mounts(service: dict):
    for volume in service.get("volumes", []):
        if isinstance(volume, dict) and volume["type"] == "bind":
            yield volume


def mounted(service_name: str, target: str) -> Path:
    for volume in bind_mounts(SERVICES[service_name]):
        if volume["target"] == target:
            return (REPO / volume["source"]).resolve()
    raise KeyError(f"{service_name} mounts nothing at {target}")


def coordinators() -> list:
    """The services that run a Trino server (they mount its config.properties)."""
    return sorted(
        name for name, s in SERVICES.items() if any(v["target"] == "/etc/trino/config.properties" for v in bind_mounts(s))
    )


def properties(path: Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, separator, value = line.partition("=")
        assert separator, f"{path}: not a key=value line: {line!r}"
        assert key.strip() not in out, f"{path}: {key.strip()} set twice"
        out[key.strip()] = value.strip()
    return out


def accepted(list_name: str) -> set:
    lines = (PROPERTY_LISTS / f"{list_name}.txt").read_text().splitlines()
    return {line for line in lines if line and not line.startswith("#")}


def envoy_config() -> dict:
    return yaml.safe_load(mounted("gateway", "/etc/envoy/envoy.yaml").read_text())


def ecds_response() -> dict:
    return json.loads(mounted("gateway", "/etc/envoy/filter.json").read_text())


def filter_plugin() -> dict:
    [resource] = ecds_response()["resources"]
    return json.loads(resource["typed_config"]["config"]["configuration"]["value"])


def health_service(config: dict) -> dict:
    [extension] = config["bootstrap_extensions"]
    return extension["typed_config"]["config"]


def ecds_source(config: dict) -> dict:
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    [dynamic] = [f for f in hcm["http_filters"] if "config_discovery" in f]
    return dynamic["config_discovery"]["config_source"]["path_config_source"]


# ---- compose.yaml as Docker Compose reads it


def test_every_bind_mount_is_a_repository_file_and_a_missing_one_fails_instead_of_becoming_a_directory():
    for name, service in SERVICES.items():
        for volume in bind_mounts(service):
            assert volume.get("bind", {}).get("create_host_path") is False, f"{name}: {volume['source']} may be created"
            assert volume.get("read_only") is True, f"{name}: {volume['source']} is writable"
            source = (REPO / volume["source"]).resolve()
            assert source.is_relative_to(REPO) and source.is_file(), f"{name} mounts {source}: no such file (make build?)"
        for volume in service.get("volumes", []):
            assert isinstance(volume, dict), f"{name}: short volume syntax {volume!r} creates missing paths"


def test_published_ports_are_on_loopback_only():
    published = {name: s["ports"] for name, s in SERVICES.items() if "ports" in s}
    assert published, "nothing published"
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_every_service_has_a_memory_limit_and_each_heap_fits_its_container():
    for name, service in SERVICES.items():
        assert "mem_limit" in service, f"{name} has no memory limit"
    jvms = {name: mounted(name, "/etc/trino/jvm.config").read_text().split() for name in coordinators()}
    jvms["cli"] = SERVICES["cli"]["entrypoint"]
    for name, jvm in jvms.items():
        limit = size(SERVICES[name]["mem_limit"])
        heaps = [size(option[4:]) for option in jvm if option.startswith("-Xmx")]
        assert len(heaps) == 1, f"{name}: no -Xmx: the JVM would size its heap from the machine's memory"
        assert not [o for o in jvm if "RAMPercentage" in o], f"{name}: heap as a share of RAM"
        assert limit <= 2 * GIB and heaps[0] <= limit * 2 // 3, f"{name}: heap {heaps[0]} in a {limit} container"


def size(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)[bB]?", str(text)).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": GIB}[unit.lower()]


def test_every_trino_property_is_one_trino_480_accepts():
    """Trino refuses to start on a property no module uses; the lists are
    generated from Trino 480's and airlift's sources (make-lists.sh)."""
    for name in coordinators():
        for volume in bind_mounts(SERVICES[name]):
            target = volume["target"]
            if not target.endswith(".properties"):
                continue
            values = properties(REPO / volume["source"])
            if target.startswith("/etc/trino/catalog/"):
                connector = values.pop("connector.name", None)
                assert connector, f"{volume['source']}: no connector.name"
                names = accepted(connector)
            else:
                assert target in ("/etc/trino/config.properties", "/etc/trino/node.properties"), target
                names = accepted("server")
            unknown = sorted(set(values) - names)
            assert not unknown, f"{volume['source']}: Trino 480 does not know {unknown}"


def test_node_environment_and_node_ids_match_trinos_patterns():
    ids = []
    for name in coordinators():
        path = mounted(name, "/etc/trino/node.properties")
        node = properties(path)
        assert NODE_ENVIRONMENT.fullmatch(node["node.environment"]), node["node.environment"]
        if "node.id" not in node:
            # The image's run-trino passes -Dnode.id=$HOSTNAME only if
            # `grep -s -q 'node.id' node.properties` fails (a comment counts).
            assert not re.search("node.id", path.read_text()), f"{path}: run-trino's grep matches; the id would be random"
            assert "hostname" in SERVICES[name], f"{name}: no hostname: the id would be a container id"
        ids.append(node.get("node.id") or SERVICES[name]["hostname"])
    assert all(NODE_ID.fullmatch(i) for i in ids) and len(set(ids)) == len(ids), ids


def test_both_coordinators_share_the_lake_catalog():
    lakes = {name: mounted(name, "/etc/trino/catalog/lake.properties") for name in coordinators()}
    assert len(set(lakes.values())) == 1, lakes
    lake = properties(next(iter(lakes.values())))
    assert lake["connector.name"] == "iceberg" and lake["iceberg.catalog.type"] == "jdbc"
    assert lake["iceberg.jdbc-catalog.default-warehouse-dir"].startswith("local:///")
    # The same named volume where the local file system is rooted, in each.
    for name in coordinators():
        volumes = [v for v in SERVICES[name]["volumes"] if v["type"] == "volume" and v["target"] == lake["local.location"]]
        assert [v["source"] for v in volumes] == ["lake"], name
        assert set(SERVICES[name]["depends_on"]) >= {"postgres", "lake-init"}
    # The catalog database is a compose service that creates Iceberg's tables.
    host, port, database = re.fullmatch(r"jdbc:postgresql://([^:/]+):(\d+)/(\w+)", lake["iceberg.jdbc-catalog.connection-url"]).groups()
    postgres = SERVICES[host]
    assert postgres["environment"]["POSTGRES_DB"] == database and port == "5432"
    assert postgres["environment"]["POSTGRES_USER"] == lake["iceberg.jdbc-catalog.connection-user"]
    assert postgres["environment"]["POSTGRES_PASSWORD"] == lake["iceberg.jdbc-catalog.connection-password"]
    init = [v for v in bind_mounts(postgres) if v["target"].startswith("/docker-entrypoint-initdb.d/")]
    sql = (REPO / init[0]["source"]).read_text()
    assert "CREATE TABLE iceberg_tables" in sql and "iceberg_type" in sql and "CREATE TABLE iceberg_namespace_properties" in sql
    lake_init = SERVICES["lake-init"]
    assert [v["target"] for v in lake_init["volumes"]] == [lake["local.location"]]


def test_the_client_service_runs_the_images_cli_against_the_gateway():
    cli = SERVICES["cli"]
    assert cli["profiles"] and cli["image"] == SERVICES[coordinators()[0]]["image"]
    listener_port = envoy_config()["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
    entrypoint = cli["entrypoint"]
    assert entrypoint[0] == "java" and entrypoint[entrypoint.index("-jar") + 1] == "/usr/bin/trino"
    assert entrypoint[entrypoint.index("--server") + 1] == f"http://gateway:{listener_port}"


# ---- compose.yaml against the Envoy configuration it mounts


def test_envoy_clusters_plugin_clusters_and_coordinator_services_are_the_same_both_ways():
    config = envoy_config()
    envoy_clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    store = envoy_clusters.pop(filter_plugin()["state_store"]["cluster"])
    assert sorted(envoy_clusters) == coordinators()
    assert sorted(c["name"] for c in filter_plugin()["clusters"]) == coordinators()
    # The state store cluster reaches the etcd service's client port, over HTTP/2.
    [endpoint] = store["load_assignment"]["endpoints"][0]["lb_endpoints"]
    address = endpoint["endpoint"]["address"]["socket_address"]
    assert f"http://0.0.0.0:{address['port_value']}" in SERVICES[address["address"]]["command"]
    assert "http2_protocol_options" in json.dumps(store)
    for name, cluster in envoy_clusters.items():
        [endpoint] = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
        address = endpoint["endpoint"]["address"]["socket_address"]
        assert address["address"] == name, f"cluster {name} points at {address['address']}"
        trino_config = properties(mounted(name, "/etc/trino/config.properties"))
        assert int(trino_config["http-server.http.port"]) == address["port_value"]
        # The plugin's forwarded-header mode must match the coordinators'.
        assert (trino_config.get("http-server.process-forwarded") == "true") == filter_plugin()["coordinators_process_forwarded"]
    listener_port = config["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
    assert f"127.0.0.1:{listener_port}:{listener_port}" in SERVICES["gateway"]["ports"]
    assert "1.40" in SERVICES["gateway"]["image"]
    # The second replica runs the same Envoy, configuration and filter; only its published ports differ.
    same = lambda service: {k: v for k, v in SERVICES[service].items() if k != "ports"}  # noqa: E731
    assert same("gateway-2") == same("gateway")
    assert [p.split(":")[-1] for p in SERVICES["gateway-2"]["ports"]] == [p.split(":")[-1] for p in SERVICES["gateway"]["ports"]]


def test_the_health_service_runs_the_filters_module_with_the_filters_configuration():
    config = envoy_config()
    service = health_service(config)
    [resource] = ecds_response()["resources"]
    assert resource["name"] == "trino_gateway"
    wasm = resource["typed_config"]["config"]
    assert service["vm_config"] == wasm["vm_config"]
    assert json.loads(service["configuration"]["value"]) == filter_plugin()
    assert mounted("gateway", wasm["vm_config"]["code"]["local"]["filename"]) == WASM
    # The gateway's start copies the mounted file to the path Envoy watches.
    source = ecds_source(config)
    command = " ".join(SERVICES["gateway"]["command"])
    assert f"cp /etc/envoy/filter.json {source['path']}" in command
    assert source["watched_directory"]["path"] == str(Path(source["path"]).parent)


def render_compose_envoy(work: Path, port: int, admin_port: int, coordinators: dict) -> dict:
    """envoy/envoy-compose.yaml with addresses on loopback and the container's
    file paths on this machine; nothing else changes."""
    config = envoy_config()
    config["admin"]["address"]["socket_address"].update(address="127.0.0.1", port_value=admin_port)
    config["static_resources"]["listeners"][0]["address"]["socket_address"].update(address="127.0.0.1", port_value=port)
    for cluster in config["static_resources"]["clusters"]:
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        endpoint["address"]["socket_address"].update(address="127.0.0.1", port_value=coordinators[cluster["name"]])
    health_service(config)["vm_config"]["code"]["local"]["filename"] = str(WASM)
    ecds_file = work / "ecds" / "trino_gateway.json"
    ecds_file.parent.mkdir(parents=True, exist_ok=True)
    source = ecds_source(config)
    source.update(path=str(ecds_file), watched_directory={"path": str(ecds_file.parent)})
    response = ecds_response()
    response["resources"][0]["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"] = str(WASM)
    ecds_file.write_text(json.dumps(response))
    return config


class ComposeEnvoy(Envoy):
    """`clusters`: every Envoy cluster's local port (coordinators and etcd)."""

    @property
    def work(self) -> Path:
        return self.log_path.parent / f"{self.log_path.stem}-compose"

    def render(self) -> dict:
        return render_compose_envoy(self.work, self.port, self.admin_port, self.clusters)

    @property
    def ecds_file(self) -> Path:
        return self.work / "ecds" / "trino_gateway.json"


def test_the_compose_envoy_config_is_valid(tmp_path):
    path = tmp_path / "envoy-compose.json"
    path.write_text(json.dumps(render_compose_envoy(tmp_path, 8080, 9901, {c: 8080 for c in coordinators() + ["etcd"]})))
    result = subprocess.run([str(ENVOY_BIN), "--mode", "validate", "-c", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


# ---- the compose gateway, run


@pytest.fixture
def compose_gateway(tmp_path):
    """Emulated coordinators as compose runs Trino (process-forwarded, one
    shared lake) behind Envoy running the compose configuration, with etcd."""
    lake = tmp_path / "lake"
    emulators = {
        name: Emulator(name, free_port(), tmp_path / f"{name}.log", ["--process-forwarded", "--page-rows", "5", "--catalog-dir", f"lake={lake}"]).start()
        for name in coordinators()
    }
    etcd = Etcd("etcd", free_port(), free_port(), tmp_path / "etcd-data", tmp_path / "etcd.log").start()
    ports = {**{n: e.port for n, e in emulators.items()}, "etcd": etcd.client_port}
    envoy = ComposeEnvoy(free_port(), free_port(), ports, tmp_path / "envoy.log").start()
    envoy.replica = lambda: ComposeEnvoy(free_port(), free_port(), ports, tmp_path / "envoy-2.log").start()
    envoy.etcd = etcd

    def gauges(name: str) -> tuple:
        stats = envoy.gateway_stats()
        return tuple(stats.get(f"cluster.{name}.{gauge}") for gauge in ("health", "running_queries", "queued_queries"))

    # Healthy, with running/queued figures: the health service loaded its configuration and logged in.
    wait_until(lambda: all(gauges(n) == (1, 0, 0) for n in emulators), 10, what="both coordinators healthy and idle")
    return envoy, emulators, gauges


def run(envoy: Envoy, sql: str, **kwargs):
    cursor = trino.dbapi.connect(host="127.0.0.1", port=envoy.port, user="demo", **kwargs).cursor()
    cursor.execute(sql)
    return cursor.query_id, cursor.fetchall()


def owner(emulators: dict, query_id: str) -> str:
    [name] = [n for n, e in emulators.items() if query_id.endswith("_" + e.info()["coordinatorId"])]
    return name


# `docker` for compose/gateway-config.py: `docker compose exec -T gateway CMD...`
# runs CMD here, with the container's ECDS directory mapped to the test's.
DOCKER_SHIM = """#!{python}
import os, sys
assert sys.argv[1:5] == ["compose", "exec", "-T", "gateway"], sys.argv
os.execvp(sys.argv[5], [a.replace("/tmp/ecds/", "{ecds}/") for a in sys.argv[5:]])
"""


def drain(envoy: ComposeEnvoy, command: str, cluster: str) -> str:
    shim = envoy.log_path.parent / "bin" / "docker"
    shim.parent.mkdir(exist_ok=True)
    shim.write_text(DOCKER_SHIM.format(python=sys.executable, ecds=envoy.ecds_file.parent))
    shim.chmod(0o755)
    result = subprocess.run(
        [sys.executable, str(GATEWAY_CONFIG), command, cluster, "--admin", envoy.admin],
        capture_output=True, text=True, timeout=30, env={**os.environ, "PATH": f"{shim.parent}:{os.environ['PATH']}"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_compose_gateway_round_robins_sticks_shares_the_lake_reports_load_and_drains(compose_gateway):
    envoy, emulators, gauges = compose_gateway
    # Round robin, as the README's one-liner shows it.
    nodes = Counter(run(envoy, "SELECT node_id FROM system.runtime.nodes")[1][0][0] for _ in range(4))
    assert nodes == {"coordinator-a": 2, "coordinator-b": 2}
    # Stickiness: 20 pages, every follow-up on the coordinator that owns the query.
    query_id, rows = run(envoy, "SELECT x FROM UNNEST(sequence(1, 100)) AS t(x)")
    assert [r[0] for r in rows] == list(range(1, 101))
    served = {n for n, e in emulators.items() for entry in e.log_entries() if entry.query == query_id}
    assert served == {owner(emulators, query_id)}
    # The coordinators build nextUri from the forwarded headers the route sets,
    # never from a client's: it names the gateway.
    spoofed = {"X-Trino-User": "demo", "X-Forwarded-Host": "elsewhere.example:1", "X-Forwarded-Proto": "https"}
    answer = requests.post(envoy.url + "/v1/statement", data="SELECT 1", headers=spoofed, timeout=5)
    assert answer.status_code == 200 and answer.json()["nextUri"].startswith(envoy.url + "/v1/statement/"), answer.text
    # README's shared table: written through the gateway, read back through each coordinator directly.
    run(envoy, "CREATE SCHEMA IF NOT EXISTS lake.demo")
    query_id, _ = run(
        envoy, "CREATE TABLE lake.demo.nations AS SELECT n.*, node_id AS written_by FROM tpch.tiny.nation n, system.runtime.nodes"
    )
    writer = owner(emulators, query_id)
    for name, emulator in emulators.items():
        direct = trino.dbapi.connect(host="127.0.0.1", port=emulator.port, user="demo").cursor()
        direct.execute("SELECT written_by, count(*) FROM lake.demo.nations GROUP BY 1")
        assert direct.fetchall() == [[writer, 25]], name
    # Running queries as Trino's web UI counts them (the health service's login).
    cursors = [trino.dbapi.connect(host="127.0.0.1", port=envoy.port, user="demo").cursor() for _ in range(2)]
    threads = [threading.Thread(target=c.execute, args=("/* emulator: runtime_ms=3000 */ SELECT 1",)) for c in cursors]
    for thread in threads:
        thread.start()
    wait_until(lambda: sorted(gauges(n)[1] for n in emulators) == [1, 1], 3, what="one running query on each")
    for thread in threads:
        thread.join()
    # Drain through ECDS with the compose tool: no new query on a, no restart.
    assert "draining coordinator-a" in drain(envoy, "drain", "coordinator-a")
    assert Counter(owner(emulators, run(envoy, "SELECT 1")[0]) for _ in range(4)) == {"coordinator-b": 4}
    assert "draining none" in drain(envoy, "undrain", "coordinator-a")
    assert "coordinator-a" in {owner(emulators, run(envoy, "SELECT 1")[0]) for _ in range(4)}
    assert envoy.process.poll() is None


def test_make_compose_dbt_builds_the_dbt_project_through_the_compose_gateway(compose_gateway, tmp_path):
    envoy, _, _ = compose_gateway
    work = tmp_path / "dbt"
    env = {"DBT_TARGET_PATH": str(work / "target"), "DBT_LOG_PATH": str(work / "logs")}
    result = subprocess.run(
        ["make", "-s", "compose-dbt", f"COMPOSE_PORT={envoy.port}"], cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    # 3 seeds and 7 models built, 13 data tests passed.
    assert Counter(r["status"] for r in results) == {"success": 10, "pass": 13}, results
    assert wrong_tables(DbtProject(envoy.port, work)) == {}


def test_make_compose_up_builds_the_filter_before_starting_compose():
    result = subprocess.run(["make", "-n", "compose-up"], cwd=REPO, capture_output=True, text=True, timeout=30)
    lines = result.stdout.splitlines()
    build = [i for i, line in enumerate(lines) if "build --release --target wasm32-wasip1 -p trino-gateway-filter" in line]
    up = [i for i, line in enumerate(lines) if re.search(r"docker compose up -d --wait$", line)]
    assert result.returncode == 0 and build and up and build[0] < up[0], result.stdout


def test_the_two_compose_gateways_share_queries_and_drains_through_etcd(compose_gateway):
    envoy, emulators, _ = compose_gateway
    replica = envoy.replica()
    # Ready as a load balancer would see it: it has polled both coordinators.
    for name in emulators:
        wait_until(lambda: replica.gateway_stats().get(f"cluster.{name}.health") == 1, 5, what="replica ready")
    # A query placed through one replica continues through the other.
    page = requests.post(envoy.url + "/v1/statement", data="SELECT x FROM UNNEST(sequence(1, 30)) AS t(x)",
                         headers={"X-Trino-User": "demo"}, timeout=5).json()
    rows = list(page.get("data") or [])
    while page.get("nextUri"):
        path = page["nextUri"].split("/", 3)[3]
        page = requests.get(f"{replica.url}/{path}", headers={"X-Trino-User": "demo"}, timeout=5).json()
        rows += page.get("data") or []
    assert [r[0] for r in rows] == list(range(1, 31)) and page["stats"]["state"] == "FINISHED"
    # README's drain: one key in etcd, both replicas.
    envoy.etcd.put("/trino-gateway/drain/coordinator-a", "1")
    for gateway in (envoy, replica):
        wait_until(lambda: gateway.gateway_stats().get("cluster.coordinator-a.health") == 3, 3, what="drained")
        assert {owner(emulators, run(gateway, "SELECT 1")[0]) for _ in range(4)} == {"coordinator-b"}
