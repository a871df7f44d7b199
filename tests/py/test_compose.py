"""compose.yaml cannot run here (no Docker engine), so check what can be checked:
every file it mounts exists, its names and ports agree with the Envoy config it
mounts, and that Envoy config is valid for the real Envoy with our filter."""

import json
import subprocess
from pathlib import Path

import yaml

from harness import ENVOY_BIN, REPO, WASM, plugin_configuration, wasm_filter

COMPOSE = yaml.safe_load((REPO / "compose.yaml").read_text())


def mounts(service: dict):
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        yield REPO / source, target


def mounted(service_name: str, target: str) -> Path:
    for source, mount_target in mounts(COMPOSE["services"][service_name]):
        if mount_target == target:
            return source
    raise KeyError(f"{service_name} mounts nothing at {target}")


def properties(path: Path) -> dict:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def test_every_mounted_file_exists():
    for name, service in COMPOSE["services"].items():
        for source, _ in mounts(service):
            assert source.is_file(), f"{name} mounts {source}, which does not exist (run `make build` for the wasm)"


def test_names_and_ports_agree_with_the_envoy_config():
    envoy = yaml.safe_load(mounted("gateway", "/etc/envoy/envoy.yaml").read_text())
    plugin = plugin_configuration(envoy)
    coordinators = [n for n, s in COMPOSE["services"].items() if s.get("image", "").startswith("trinodb/trino")]
    assert sorted(c["name"] for c in plugin["clusters"]) == sorted(coordinators)
    for cluster in envoy["static_resources"]["clusters"]:
        address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
        assert address["address"] == cluster["name"] and cluster["name"] in coordinators
        config = properties(mounted(cluster["name"], "/etc/trino/config.properties"))
        assert int(config["http-server.http.port"]) == address["port_value"]
        # The plugin's forwarded-header mode must match the coordinators'.
        assert (config.get("http-server.process-forwarded") == "true") == plugin["coordinators_process_forwarded"]
    listener_port = envoy["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
    assert f"{listener_port}:{listener_port}" in COMPOSE["services"]["gateway"]["ports"]
    wasm_path = wasm_filter(envoy)["vm_config"]["code"]["local"]["filename"]
    assert mounted("gateway", wasm_path) == WASM
    assert "1.40" in COMPOSE["services"]["gateway"]["image"]


def test_the_compose_envoy_config_is_valid(tmp_path):
    envoy = yaml.safe_load(mounted("gateway", "/etc/envoy/envoy.yaml").read_text())
    wasm_filter(envoy)["vm_config"]["code"]["local"]["filename"] = str(WASM)  # the mount, locally
    path = tmp_path / "envoy-compose.json"
    path.write_text(json.dumps(envoy))
    result = subprocess.run([str(ENVOY_BIN), "--mode", "validate", "-c", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
