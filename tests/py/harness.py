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

# Every process this module started, so that a test (or a script) can stop all of
# them at the end, including the ones it restarted under a new object.
STARTED: list = []


def stop_all_started() -> None:
    """Stops every emulator and Envoy started here that is still running."""
    while STARTED:
        STARTED.pop().kill()


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


def wait_for_process(process, ready, timeout: float, what: str, log_path: Path) -> None:
    """Poll `ready()` until true; fail at once, with the log's tail, if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before {what}: {log_path.read_text()[-3000:]}")
        if ready():
            return
        time.sleep(0.05)
    raise TimeoutError(f"not {what} within {timeout}s: {log_path.read_text()[-3000:]}")


def spawn(owner, command: list, log_path: Path, cwd: Optional[Path] = None) -> subprocess.Popen:
    """Starts `command` in its own session, output appended to `log_path`;
    `owner` (what `stop_all_started` will stop) is remembered."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd)
    STARTED.append(owner)
    return process


def terminate(process: Optional[subprocess.Popen], timeout: float = 10.0) -> Optional[int]:
    """SIGTERM, then SIGKILL if it does not exit in time. The exit code (None if never started)."""
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


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
        command = [str(EMULATOR_BIN), "--listen", f"127.0.0.1:{self.port}", "--node-id", self.node_id, *self.args]
        self.process = spawn(self, command, self.log_path)
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self, timeout: float = 10.0) -> None:
        def answers() -> bool:
            try:
                http_get_json(self.url + "/v1/info", timeout=0.5)
                return True
            except OSError:
                return False

        wait_for_process(self.process, answers, timeout, f"{self.node_id} listening on {self.url}", self.log_path)

    def info(self) -> dict:
        return http_get_json(self.url + "/v1/info")

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        """SIGTERM, then SIGKILL if it does not exit in time. Returns the exit code."""
        return terminate(self.process, timeout)

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


ENVOY_BIN = REPO / ".venv" / "bin" / "envoy"
# The filter's worker tick (trino_gateway_core::worker::TICK) plus a margin.
COUNTER_FLUSH_SECONDS = 0.3
ENVOY_CONFIG = REPO / "envoy" / "envoy.yaml"
STATE_STORE_CONFIG = REPO / "envoy" / "state-store.yaml"
WASM = REPO / "target" / "wasm32-wasip1" / "release" / "trino_gateway_filter.wasm"


def load_envoy_config(path: Path = ENVOY_CONFIG) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


def wasm_filter(config: dict) -> dict:
    """The trino-gateway wasm filter's `config` (PluginConfig) in an Envoy bootstrap."""
    for listener in config["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                for http_filter in network_filter["typed_config"].get("http_filters", []):
                    if http_filter["name"] == "envoy.filters.http.wasm":
                        return http_filter["typed_config"]["config"]
    raise KeyError("no envoy.filters.http.wasm filter in the Envoy configuration")


def plugin_configuration(config: dict) -> dict:
    return json.loads(wasm_filter(config)["configuration"]["value"])


# The route's forwarded-header edits for coordinators that run with
# http-server.process-forwarded=true (as commented in envoy/envoy.yaml).
PROCESS_FORWARDED_ROUTE = {
    "request_headers_to_remove": ["forwarded", "x-forwarded-host", "x-forwarded-port", "x-forwarded-prefix",
                                  "x-forwarded-proto", "x-forwarded-server", "x-forwarded-ssl"],
    "request_headers_to_add": [
        {"header": {"key": "x-forwarded-proto", "value": "%REQ(:SCHEME)%"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
        {"header": {"key": "x-forwarded-host", "value": "%REQ(:AUTHORITY)%"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"},
    ],
}


@dataclass
class Envoy:
    """Real Envoy running envoy/envoy.yaml, with its ports moved for the test.

    Only addresses change (listener, admin, cluster endpoints, wasm path);
    `plugin` replaces the plugin configuration (a dict, or raw text to test
    invalid ones) and `process_forwarded` switches both the plugin and the
    route to coordinators that run with http-server.process-forwarded=true.

    With `dynamic_plugin`, the filter's configuration comes from a file
    through ECDS (extension config discovery, what Istio uses to push a
    WasmPlugin's pluginConfig), and `update_plugin` changes it at run time.
    """

    port: int
    admin_port: int
    clusters: dict
    log_path: Path
    plugin: Optional[object] = None
    concurrency: int = 2
    dynamic_plugin: bool = False
    # False: no bootstrap health-check service (as under Istio, whose
    # WasmPlugin adds HTTP filters only).
    health_service: bool = True
    # Another bootstrap of the repository (e.g. envoy/envoy-self-routing.yaml).
    config_path: Path = ENVOY_CONFIG
    # etcd's client port (or every member's): envoy/state-store.yaml merged in
    # (the etcd cluster and the plugin's state_store), `store_changes` to its fields.
    etcd_port: Optional[object] = None
    store_changes: dict = field(default_factory=dict)
    # etcd's CA certificate: TLS to etcd, as envoy/state-store.yaml describes it.
    etcd_ca: Optional[Path] = None
    # The filter's allow_on_headers_stop_iteration (PluginConfig), which
    # routing rules on the statement text need (envoy/README.md).
    stop_iteration: bool = False
    process: Optional[subprocess.Popen] = None
    _ecds_version: int = 0
    _wasm_config: Optional[dict] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def render(self) -> dict:
        config = load_envoy_config(self.config_path)
        config["admin"]["address"]["socket_address"].update(address="127.0.0.1", port_value=self.admin_port)
        listener = config["static_resources"]["listeners"][0]
        listener["address"]["socket_address"].update(address="127.0.0.1", port_value=self.port)
        for cluster in config["static_resources"]["clusters"]:
            if cluster["name"] in self.clusters:
                endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
                endpoint["address"]["socket_address"].update(address="127.0.0.1", port_value=self.clusters[cluster["name"]])
        wasm = wasm_filter(config)
        wasm["vm_config"]["code"]["local"]["filename"] = str(WASM)
        if self.stop_iteration:
            wasm["allow_on_headers_stop_iteration"] = True
        plugin = self.plugin if self.plugin is not None else json.loads(wasm["configuration"]["value"])
        if isinstance(plugin, dict) and "public_uri" in plugin:
            plugin = dict(plugin, public_uri=self.url)  # the address clients use here
        if isinstance(plugin, dict) and plugin.get("coordinators_process_forwarded") and self.config_path == ENVOY_CONFIG:
            for network_filter in listener["filter_chains"][0]["filters"]:
                network_filter["typed_config"]["use_remote_address"] = True  # as envoy/envoy.yaml says
                for vhost in network_filter["typed_config"]["route_config"]["virtual_hosts"]:
                    for route in vhost["routes"]:
                        route.update(PROCESS_FORWARDED_ROUTE)
        if self.etcd_port is not None and isinstance(plugin, dict):
            store = load_envoy_config(STATE_STORE_CONFIG)
            endpoints = store["cluster"]["load_assignment"]["endpoints"][0]["lb_endpoints"]
            template = endpoints.pop()
            for port in self.etcd_port if isinstance(self.etcd_port, list) else [self.etcd_port]:
                endpoint = json.loads(json.dumps(template))  # a copy per member
                endpoint["endpoint"]["address"]["socket_address"].update(address="127.0.0.1", port_value=port)
                endpoints.append(endpoint)
            if self.etcd_ca is not None:
                tls = store["tls_transport_socket"]
                tls["typed_config"]["common_tls_context"]["validation_context"]["trusted_ca"]["filename"] = str(self.etcd_ca)
                store["cluster"]["transport_socket"] = tls
            config["static_resources"]["clusters"].append(store["cluster"])
            plugin = dict(plugin, state_store={**store["state_store"], **self.store_changes})
        wasm["configuration"]["value"] = plugin if isinstance(plugin, str) else json.dumps(plugin)
        if not self.health_service:
            config.pop("bootstrap_extensions", None)
        if self.dynamic_plugin:
            config.setdefault("node", {"id": "trino-gateway", "cluster": "trino-gateway"})  # xDS needs both
            self._make_dynamic(listener)
        return config

    @property
    def ecds_path(self) -> Path:
        return self.log_path.parent / f"{self.log_path.stem}-ecds" / "trino_gateway.json"

    def _make_dynamic(self, listener: dict) -> None:
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        filters = hcm["http_filters"]
        index = next(i for i, f in enumerate(filters) if f["name"] == "envoy.filters.http.wasm")
        self._wasm_config = filters[index]["typed_config"]
        filters[index] = {
            "name": "trino_gateway",
            "config_discovery": {
                "config_source": {
                    "path_config_source": {
                        "path": str(self.ecds_path),
                        "watched_directory": {"path": str(self.ecds_path.parent)},
                    },
                    "resource_api_version": "V3",
                },
                "type_urls": ["type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"],
            },
        }
        self._write_ecds()

    def _write_ecds(self) -> None:
        self._ecds_version += 1
        resource = {
            "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
            "name": "trino_gateway",
            "typed_config": self._wasm_config,
        }
        self.ecds_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.ecds_path.parent / "trino_gateway.tmp"
        temporary.write_text(json.dumps({"version_info": str(self._ecds_version), "resources": [resource]}))
        os.rename(temporary, self.ecds_path)  # Envoy reloads on a move into the watched directory

    def update_plugin(self, plugin: dict, timeout: float = 10.0) -> None:
        """Push a new plugin configuration (ECDS) and wait until Envoy applied it."""
        assert self.dynamic_plugin and self._wasm_config is not None
        stat = "extension_config_discovery.http_filter.trino_gateway.config_reload"
        before = self.stats().get(stat, 0)
        if "public_uri" in plugin:
            plugin = dict(plugin, public_uri=self.url)
        self._wasm_config["config"]["configuration"]["value"] = json.dumps(plugin)
        self._write_ecds()
        wait_until(lambda: self.stats().get(stat, 0) > before, timeout, what="plugin configuration applied")

    def start(self, wait: bool = True) -> "Envoy":
        if not WASM.exists():
            raise RuntimeError(f"{WASM} is missing: run `make build` first")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        config_path = self.log_path.with_suffix(".json")
        config_path.write_text(json.dumps(self.render(), indent=1))
        command = [
            str(ENVOY_BIN), "-c", str(config_path), "--concurrency", str(self.concurrency),
            "--use-dynamic-base-id", "--log-level", "info", "--disable-hot-restart",
        ]
        self.process = spawn(self, command, self.log_path, cwd=REPO)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        def live() -> bool:
            try:
                with urllib.request.urlopen(self.admin + "/ready", timeout=0.5) as response:
                    return response.read().strip() == b"LIVE"
            except OSError:
                return False

        wait_for_process(self.process, live, timeout, "envoy ready", self.log_path)

    def wait_exit(self, timeout: float = 20.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stats(self) -> dict:
        with urllib.request.urlopen(self.admin + "/stats", timeout=2) as response:
            lines = response.read().decode().splitlines()
        out = {}
        for line in lines:
            name, _, value = line.partition(": ")
            if value.strip().lstrip("-").isdigit():
                out[name] = int(value)
        return out

    def gateway_stats(self) -> dict:
        """The filter's counters and gauges. Workers add the counters of the
        follow-up path (sticky hits, ...) to Envoy's every 250 ms (their tick),
        so read after one tick has passed."""
        time.sleep(COUNTER_FLUSH_SECONDS)
        prefix = "wasmcustom.trino_gateway."
        return {k[len(prefix):]: v for k, v in self.stats().items() if k.startswith(prefix)}

    def stop(self, timeout: float = 10.0) -> None:
        terminate(self.process, timeout)

    kill = stop


def wait_until(condition, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll `condition()` until it returns a truthy value; returns that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout}s")


ETCD_BIN = "etcd"


@dataclass
class Etcd:
    """A real etcd (Debian's etcd-server) on loopback: one member, or one of
    several (`cluster`: name → peer port of every member)."""

    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    cluster: Optional[dict] = None
    # A directory with cert.pem and key.pem: TLS on the client port.
    tls: Optional[Path] = None
    process: Optional[subprocess.Popen] = None

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.client_port}"

    def _open(self, request, timeout: float):
        import ssl

        context = ssl.create_default_context(cafile=str(self.tls / "cert.pem")) if self.tls else None
        return urllib.request.urlopen(request, timeout=timeout, context=context)

    def start(self, wait: bool = True) -> "Etcd":
        members = self.cluster or {self.name: self.peer_port}
        initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in members.items())
        state = "existing" if (self.data_dir / "member").exists() else "new"
        command = [
            ETCD_BIN, "--name", self.name, "--data-dir", str(self.data_dir),
            "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
            "--listen-peer-urls", f"http://127.0.0.1:{self.peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_port}",
            "--initial-cluster", initial, "--initial-cluster-state", state,
            "--initial-cluster-token", "trino-gateway-test",
            "--heartbeat-interval", "50", "--election-timeout", "500",
        ]
        if self.tls:
            command += ["--cert-file", str(self.tls / "cert.pem"), "--key-file", str(self.tls / "key.pem")]
        self.process = spawn(self, command, self.log_path)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 20.0) -> None:
        def healthy() -> bool:
            try:
                with self._open(self.endpoint + "/health", 0.5) as response:
                    return json.loads(response.read()).get("health") == "true"
            except (OSError, ValueError):
                return False

        wait_for_process(self.process, healthy, timeout, f"etcd {self.name} healthy", self.log_path)

    def _call(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(self.endpoint + path, data=json.dumps(body).encode(), method="POST")
        with self._open(request, 5) as response:
            return json.loads(response.read())

    def put(self, key: str, value: str) -> None:
        """A put through etcd's JSON gateway (what `etcdctl put` does over gRPC)."""
        self._call("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})

    def delete(self, key: str) -> None:
        self._call("/v3/kv/deleterange", {"key": _b64(key)})

    def get_prefix(self, prefix: str) -> dict:
        """key → value of every key under `prefix`."""
        import base64

        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        answer = self._call("/v3/kv/range", {"key": _b64(prefix), "range_end": _b64(end)})
        return {
            base64.b64decode(kv["key"]).decode(): base64.b64decode(kv.get("value", "")).decode()
            for kv in answer.get("kvs", [])
        }

    def ctl(self, *args: str, user: Optional[str] = None) -> str:
        """`etcdctl` (Debian's etcd-client) against this member; its output."""
        command = ["etcdctl", "--endpoints", self.endpoint, *(["--user", user] if user else []), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, env={**os.environ, "ETCDCTL_API": "3"})
        if result.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def stop(self, timeout: float = 10.0) -> None:
        terminate(self.process, timeout)

    kill = stop


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()
