"""`make bench` / `make bench-quick` / `make bench-memory`: what the filter costs.

Throughput and latency of the same Trino workload (bench/loadgen) against
  direct   the two emulated coordinators themselves
  plain-N  plain Envoy (--concurrency N), static routes, no wasm
  filter-N Envoy (--concurrency N) with the trino-gateway filter (envoy/envoy.yaml)
  noop-N   plain Envoy plus a wasm filter that does nothing (the floor of any wasm filter)
  selfroute-N  wasm-free self-routing (envoy/envoy-self-routing.yaml without the
           filter): new statements spread by weighted clusters, each adding its
           X-Forwarded-Prefix; follow-ups routed by prefix (the baseline of
           self-routing URIs: what no routing logic at all costs)
  forwarded-N  the gateway with self-routing URIs (envoy/envoy-self-routing.yaml):
           the filter places new statements, follow-ups skip it
in alternating rounds (direct, plain-1, noop-1, filter-1, selfroute-1, forwarded-1, plain-2, ..., direct, ...)
so that machine drift hits every configuration alike. Ratios are computed from
the medians of the rounds, all measured in this one run. Each run is done twice:
closed loop at saturation (throughput) and open loop at a fixed moderate rate
(latency: what a request costs, without queueing behind a saturated CPU).

Envoy's CPU time per request (utime + stime of the Envoy process over the
measured window of each saturation run) for every Envoy target, and the
targets (filter against no-op wasm and plain Envoy) checked on this run's
figures: reported as met or missed, never a failure (only --min-ratio fails).

Memory: Envoy RSS and the filter's shared-data gauges after 10k, 100k and 1M
new queries through the filter; then Envoy RSS around three bursts of 150
concurrent 1 MB statements (the filter keeps new statements for a re-send:
its per-worker memory budget must cap Envoy's growth).

Host calls per request kind: the table `cargo run -p trino-gateway-core
--features testing --example host_calls` prints (counted against the core's mock host).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "py"))

from harness import Emulator, Envoy, free_port, wasm_filter  # noqa: E402

LOADGEN = REPO / "target" / "tools" / "trino-loadgen"
NOOP_WASM = REPO / "target" / "wasm32-wasip1" / "release" / "noop_filter.wasm"
RESULTS = REPO / "bench" / "results"
# Forwarded processing on for every target: the self-routing ones need it and
# the others send no X-Forwarded-* header (their routes remove them).
EMULATOR_ARGS = ["--process-forwarded", "--page-rows", "20", "--query-min-expire-age", "0s", "--query-max-history", "200", "--no-request-log"]
# Abandoned queries (memory stages, bursts: nobody fetches their results) expire after this.
ABANDONING_EMULATOR_ARGS = EMULATOR_ARGS + ["--query-client-timeout", "1s"]
WARMUP_SECONDS = 1.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The targets checked on every run (BENCHMARKS.md "Against the targets").
MAX_FILTER_VS_NOOP_CPU = 1.05
MIN_FILTER_VS_NOOP_THROUGHPUT = 0.95
MAX_ADDED_P50_US = 30
MAX_ADDED_P99_US = 100
MAX_P999_OVER_NOOP_US = 200
MAX_FORWARDED_VS_SELFROUTE_CPU = 1.05
SELF_ROUTING = REPO / "envoy" / "envoy-self-routing.yaml"

# Statement bursts: 1,000,000 bytes is the emulator's (and Trino's default)
# query.max-length, and just under Envoy's 1 MiB default buffer limit.
BURST_STATEMENT = ("SELECT 1 -- ".ljust(1_000_000, "x")).encode()
BURSTS = 3
BURST_SIZE = 150
HOST_CALLS_TIMEOUT = 600


class PlainEnvoy(Envoy):
    """envoy/envoy.yaml without the wasm filter: one listener per coordinator with
    a static route to it (a plain proxy cannot keep a query on its coordinator
    any other way). Same HCM, router, clusters and x-forwarded-proto removal."""

    ports: dict = {}
    noop_wasm: bool = False

    def render(self) -> dict:
        config = super().render()
        template = config["static_resources"]["listeners"][0]
        wasm = next(f for f in template["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"] if f["name"] == "envoy.filters.http.wasm")
        noop = copy.deepcopy(wasm)
        noop["typed_config"]["config"].update(name="noop", root_id="noop")
        noop["typed_config"]["config"]["vm_config"].update(vm_id="noop", code={"local": {"filename": str(NOOP_WASM)}})
        noop["typed_config"]["config"].pop("configuration", None)
        listeners = []
        for cluster, port in self.ports.items():
            listener = copy.deepcopy(template)
            listener["name"] = f"plain-{cluster}"
            listener["address"]["socket_address"]["port_value"] = port
            hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
            hcm["http_filters"] = [f for f in hcm["http_filters"] if f["name"] != "envoy.filters.http.wasm"]
            if self.noop_wasm:
                hcm["http_filters"].insert(0, noop)
            for vhost in hcm["route_config"]["virtual_hosts"]:
                for route in vhost["routes"]:
                    route["route"].pop("cluster_header", None)
                    route["route"]["cluster"] = cluster
            listeners.append(listener)
        config["static_resources"]["listeners"] = listeners
        return config


class SelfRoutingBaseline(Envoy):
    """envoy/envoy-self-routing.yaml without the wasm filter: POST /v1/statement
    goes to weighted clusters (equal weights), each adding its cluster's
    X-Forwarded-Prefix; the prefixed routes are the file's own. The least any
    gateway with self-routing URIs can cost (it keeps no query on anything but
    the URIs, and knows no health)."""

    def render(self) -> dict:
        config = super().render()
        hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        hcm["http_filters"] = [f for f in hcm["http_filters"] if f["name"] != "envoy.filters.http.wasm"]
        routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
        for route in routes:
            route.pop("typed_per_filter_config", None)
        default = routes[-1]
        default["route"].pop("cluster_header")
        default["request_headers_to_add"] = [h for h in default["request_headers_to_add"] if h["header"]["key"] != "x-forwarded-prefix"]
        statement = copy.deepcopy(default)
        statement["match"] = {"path": "/v1/statement", "headers": [{"name": ":method", "string_match": {"exact": "POST"}}]}
        # The weighted cluster's own X-Forwarded-Prefix replaces any a client sent
        # (a route-level removal would run after it and take it off again).
        statement["request_headers_to_remove"] = [h for h in statement["request_headers_to_remove"] if h != "x-forwarded-prefix"]
        statement["route"]["weighted_clusters"] = {"clusters": [
            {"name": name, "weight": 1, "request_headers_to_add": [
                {"header": {"key": "x-forwarded-prefix", "value": f"/_trino/{name}"}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]}
            for name in self.clusters]}
        default["route"]["cluster"] = next(iter(self.clusters))
        routes.insert(len(routes) - 1, statement)
        config.pop("bootstrap_extensions", None)
        return config


def envoy_pid(envoy: Envoy) -> int:
    """The pid whose CPU time is Envoy's. .venv/bin/envoy is a Python shim that
    execs the real binary, so the pid stays; once Envoy answers /ready the exec
    is done, which this checks (comm alone cannot tell: a script run through its
    shebang also gets the script's name, "envoy")."""
    pid = envoy.process.pid
    comm = Path(f"/proc/{pid}/comm").read_text().strip()
    exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    if comm != "envoy" or exe.startswith("python"):
        raise RuntimeError(f"pid {pid} is {comm!r} ({exe}), not Envoy: its CPU time would not be Envoy's")
    return pid


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads (/proc/<pid>/stat fields 14
    and 15, in clock ticks). Split after the last ')': field 2 (comm) may hold spaces."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields[0] is field 3


def loadgen(targets, seconds, concurrency, out: Path, extra=(), envoy: int | None = None) -> dict:
    """One loadgen run; its JSON report. With `envoy` (a pid), also the Envoy CPU
    time of the measured window: `envoy_cpu_seconds` and `envoy_cpu_us_per_request`."""
    command = [str(LOADGEN), *sum((["--target", t] for t in targets), []), "--concurrency", str(concurrency),
               "--duration", str(seconds), "--warmup", str(WARMUP_SECONDS), "--json", str(out), "--quiet", *extra]
    if envoy is None:
        subprocess.run(command, check=True, timeout=seconds + 120)
        return json.loads(out.read_text())
    # The loadgen counts only queries started after its warm-up, so Envoy's CPU is
    # sampled at the warm-up's end (Popen returns once the loadgen has exec'd; its
    # clock starts a few ms later, so a few ms of warm-up fall in the window) and
    # once the loadgen has exited (it waits for every counted query to finish).
    # The window also serves the rest of the `concurrency` queries in flight at the
    # warm-up's end, which are not counted: half a query (4 requests) a client on
    # average, ~0.3 % of a 3 s run at 6,000 requests/s. Both make the figure a
    # little high, alike for every Envoy target; so does Envoy's background work
    # (main thread, health checks), which is in the window too.
    process = subprocess.Popen(command)
    try:
        started = time.monotonic()
        time.sleep(WARMUP_SECONDS)
        before = cpu_seconds(envoy)
        process.wait(timeout=started + seconds + 120 - time.monotonic())
        after = cpu_seconds(envoy)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
    report = json.loads(out.read_text())
    report["envoy_cpu_seconds"] = after - before
    report["envoy_cpu_us_per_request"] = (after - before) * 1e6 / report["requests"] if report["requests"] else None
    return report


def save_results(name: str, result: dict, text: str) -> None:
    """bench/results/<name>.json (the figures) and <name>.md (the report)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
    (RESULTS / f"{name}.md").write_text(text)
    print(f"\nwrote {RESULTS / name}.json and .md")


def commit() -> str:
    try:
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    envoy = subprocess.run([str(REPO / ".venv/bin/envoy"), "--version"], capture_output=True, text=True).stdout.split("version:")[-1].strip()
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Linux {os.uname().release}, Envoy {envoy.split('/')[1] if '/' in envoy else envoy}"


def target_names(args) -> list:
    """The targets measured, in the order of a round."""
    kinds = ("plain", "noop", "filter", "selfroute", "forwarded")
    order = ["direct"] + [f"{kind}-{n}" for n in args.envoy_concurrency for kind in kinds]
    return [name for name in order if name in args.only] if args.only else order


def throughput(args, workdir: Path) -> dict:
    order = target_names(args)
    emulators = [Emulator(name, free_port(), workdir / f"{name}.log", EMULATOR_ARGS).start() for name in ("coordinator-a", "coordinator-b")]
    clusters = {e.node_id: e.port for e in emulators}
    envoys = {}
    targets = {"direct": [e.url for e in emulators]}
    try:
        # Only the Envoys measured: an idle one would still share the CPU (and
        # the filter's needs its wasm, which a run of plain and no-op can lack).
        for n in args.envoy_concurrency:
            for kind in ("plain", "noop"):
                if f"{kind}-{n}" not in order:
                    continue
                envoy = PlainEnvoy(free_port(), free_port(), clusters, workdir / f"{kind}-{n}.log", concurrency=n)
                envoy.ports = {name: free_port() for name in clusters}
                envoy.noop_wasm = kind == "noop"
                envoys[f"{kind}-{n}"] = envoy.start()
                targets[f"{kind}-{n}"] = [f"http://127.0.0.1:{p}" for p in envoy.ports.values()]
            if f"filter-{n}" in order:
                gateway = Envoy(free_port(), free_port(), clusters, workdir / f"filter-{n}.log", concurrency=n).start()
                envoys[f"filter-{n}"] = gateway
                targets[f"filter-{n}"] = [gateway.url]
            if f"selfroute-{n}" in order:
                baseline = SelfRoutingBaseline(free_port(), free_port(), clusters, workdir / f"selfroute-{n}.log", concurrency=n,
                                               config_path=SELF_ROUTING).start()
                envoys[f"selfroute-{n}"] = baseline
                targets[f"selfroute-{n}"] = [baseline.url]
            if f"forwarded-{n}" in order:
                forwarded = Envoy(free_port(), free_port(), clusters, workdir / f"forwarded-{n}.log", concurrency=n,
                                  config_path=SELF_ROUTING).start()
                envoys[f"forwarded-{n}"] = forwarded
                targets[f"forwarded-{n}"] = [forwarded.url]
        pids = {name: envoy_pid(envoy) for name, envoy in envoys.items()}
        runs = {name: [] for name in order}
        paced = {name: [] for name in order}
        for round_number in range(args.rounds):
            for name in order:
                # Saturation (closed loop): how many requests per second, and Envoy's CPU time for each.
                report = loadgen(targets[name], args.seconds, args.clients, workdir / f"{name}-{round_number}.json", ["--sql", args.sql],
                                 envoy=pids.get(name))
                runs[name].append(report)
                # A fixed, moderate rate (open loop): what each request costs in latency.
                latency = loadgen(targets[name], args.seconds, args.clients, workdir / f"{name}-{round_number}-rate.json",
                                  ["--sql", args.sql, "--rate", str(args.rate)])
                paced[name].append(latency)
                cpu = report.get("envoy_cpu_us_per_request")
                print(f"round {round_number + 1}/{args.rounds} {name:12s} {report['requests_per_second']:8.0f} req/s "
                      f"{report['queries_per_second']:7.0f} q/s (failed {report['failed_queries']})"
                      + (f", Envoy CPU {cpu:5.1f} µs/req" if cpu is not None else "")
                      + f"; at {args.rate:.0f} q/s: p50 {latency['all']['p50_us']:5d} µs  p99 {latency['all']['p99_us']:6d} µs  "
                      f"p99.9 {latency['all']['p999_us']:6d} µs (failed {latency['failed_queries']})", flush=True)
    finally:
        for envoy in envoys.values():
            envoy.stop()
        for emulator in emulators:
            emulator.stop()

    def median(reports, key):
        return statistics.median(key(r) for r in reports)

    summary = {}
    for name in order:
        cpu = [r["envoy_cpu_us_per_request"] for r in runs[name] if r.get("envoy_cpu_us_per_request") is not None]
        summary[name] = {
            "requests_per_second": median(runs[name], lambda r: r["requests_per_second"]),
            "queries_per_second": median(runs[name], lambda r: r["queries_per_second"]),
            "saturated_p50_us": median(runs[name], lambda r: r["all"]["p50_us"]),
            "p50_us": median(paced[name], lambda r: r["all"]["p50_us"]),
            "p90_us": median(paced[name], lambda r: r["all"]["p90_us"]),
            "p99_us": median(paced[name], lambda r: r["all"]["p99_us"]),
            "p999_us": median(paced[name], lambda r: r["all"]["p999_us"]),
            # Envoy CPU (all threads) per request served at saturation; none for direct.
            "envoy_cpu_us_per_request": statistics.median(cpu) if cpu else None,
            "failed_queries": sum(r["failed_queries"] for r in runs[name] + paced[name]),
        }
    ratios = {}
    self_routing = {}
    for n in args.envoy_concurrency:
        if all(f"{kind}-{n}" in summary for kind in ("selfroute", "forwarded")):
            selfroute, forwarded = summary[f"selfroute-{n}"], summary[f"forwarded-{n}"]
            self_routing[n] = {
                "forwarded_vs_selfroute_cpu": cpu_ratio(forwarded, selfroute),
                "forwarded_vs_selfroute_throughput": forwarded["requests_per_second"] / selfroute["requests_per_second"],
            }
        if not all(f"{kind}-{n}" in summary for kind in ("plain", "noop", "filter")):
            continue
        plain, noop, filtered = summary[f"plain-{n}"], summary[f"noop-{n}"], summary[f"filter-{n}"]
        ratios[n] = {
            "throughput_ratio": filtered["requests_per_second"] / plain["requests_per_second"],
            "noop_ratio": noop["requests_per_second"] / plain["requests_per_second"],
            "filter_vs_noop": filtered["requests_per_second"] / noop["requests_per_second"],
            "noop_added_p50_us": noop["p50_us"] - plain["p50_us"],
            "added_p50_us": filtered["p50_us"] - plain["p50_us"],
            "added_p99_us": filtered["p99_us"] - plain["p99_us"],
            "filter_vs_noop_cpu": cpu_ratio(filtered, noop),
            "noop_vs_plain_cpu": cpu_ratio(noop, plain),
        }
    checks = {n: target_checks(summary, n, args.rate) for n in args.envoy_concurrency}
    return {"summary": summary, "ratios": ratios, "self_routing": self_routing, "targets": {n: c for n, c in checks.items() if c}, "runs": runs, "paced_runs": paced}


def cpu_ratio(a: dict, b: dict):
    x, y = a["envoy_cpu_us_per_request"], b["envoy_cpu_us_per_request"]
    return x / y if x is not None and y else None


def target_checks(summary: dict, n: int, rate: float) -> list:
    """The targets at `n` workers that this run's targets allow checking: rows
    of target, measured (text), value, limit and met. Figures, never a failure."""
    plain, noop, filtered = (summary.get(f"{kind}-{n}") for kind in ("plain", "noop", "filter"))
    selfroute, forwarded = (summary.get(f"{kind}-{n}") for kind in ("selfroute", "forwarded"))
    rows = []

    def check(target, value, limit, measured, at_most=True):
        rows.append({"target": target, "measured": measured, "value": value, "limit": limit,
                     "met": value <= limit if at_most else value >= limit})

    if filtered and noop:
        ratio = cpu_ratio(filtered, noop)
        if ratio is not None:
            check(f"Envoy CPU per request: filter ≤ {MAX_FILTER_VS_NOOP_CPU:.2f} × no-op", ratio, MAX_FILTER_VS_NOOP_CPU,
                  f"{ratio:.3f} × ({filtered['envoy_cpu_us_per_request']:.1f} vs {noop['envoy_cpu_us_per_request']:.1f} µs)")
        ratio = filtered["requests_per_second"] / noop["requests_per_second"]
        check(f"throughput: filter ≥ {MIN_FILTER_VS_NOOP_THROUGHPUT:.0%} of no-op", ratio, MIN_FILTER_VS_NOOP_THROUGHPUT,
              f"{ratio:.1%} ({filtered['requests_per_second']:.0f} vs {noop['requests_per_second']:.0f} req/s)", at_most=False)
    if filtered and plain:
        for key, label, limit in (("p50_us", "p50", MAX_ADDED_P50_US), ("p99_us", "p99", MAX_ADDED_P99_US)):
            added = filtered[key] - plain[key]
            check(f"added {label} at {rate:.0f} q/s vs plain ≤ {limit} µs", added, limit,
                  f"{added:+.0f} µs ({filtered[key]:.0f} vs {plain[key]:.0f} µs)")
    if filtered and noop:
        added = filtered["p999_us"] - noop["p999_us"]
        check(f"p99.9 at {rate:.0f} q/s: filter ≤ no-op + {MAX_P999_OVER_NOOP_US} µs", added, MAX_P999_OVER_NOOP_US,
              f"{added:+.0f} µs ({filtered['p999_us']:.0f} vs {noop['p999_us']:.0f} µs)")
    if selfroute and forwarded:
        ratio = cpu_ratio(forwarded, selfroute)
        if ratio is not None:
            check(f"Envoy CPU per request: gateway with self-routing URIs ≤ {MAX_FORWARDED_VS_SELFROUTE_CPU:.2f} × wasm-free self-routing",
                  ratio, MAX_FORWARDED_VS_SELFROUTE_CPU,
                  f"{ratio:.3f} × ({forwarded['envoy_cpu_us_per_request']:.1f} vs {selfroute['envoy_cpu_us_per_request']:.1f} µs)")
    return rows


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def memory(args, workdir: Path) -> list:
    emulator = Emulator("coordinator-a", free_port(), workdir / "mem-a.log", ABANDONING_EMULATOR_ARGS).start()
    other = Emulator("coordinator-b", free_port(), workdir / "mem-b.log", ABANDONING_EMULATOR_ARGS).start()
    gateway = Envoy(free_port(), free_port(), {"coordinator-a": emulator.port, "coordinator-b": other.port}, workdir / "mem-envoy.log").start()
    rows = []
    try:
        time.sleep(6)
        done = 0
        stages = [0] + args.memory_stages
        for target in stages:
            if target > done:
                subprocess.run([str(LOADGEN), "--target", gateway.url, "--submit-only", "--concurrency", "32", "--queries", str(target - done),
                                "--duration", "3600", "--json", str(workdir / f"mem-{target}.json"), "--quiet"], check=True, timeout=3600)
                done = target
            time.sleep(6)  # the gauges refresh every 5 s
            stats = gateway.gateway_stats()
            row = {
                "queries": done,
                "envoy_rss_kib": rss_kib(gateway.process.pid),
                "shared_data_keys": stats.get("state.shared_data_keys", 0),
                "shared_data_bytes": stats.get("state.shared_data_bytes", 0),
                "tracked_queries": stats.get("state.tracked_queries", 0),
            }
            row["bytes_per_mapping"] = row["shared_data_bytes"] / row["tracked_queries"] if row["tracked_queries"] else None
            rows.append(row)
            print(f"after {done:>8} queries: Envoy RSS {row['envoy_rss_kib'] / 1024:6.1f} MiB, shared data {row['shared_data_keys']} keys "
                  f"{row['shared_data_bytes']} bytes, {row['tracked_queries']} tracked queries"
                  + (f", {row['bytes_per_mapping']:.1f} bytes/mapping" if row["bytes_per_mapping"] else ""), flush=True)
    finally:
        gateway.stop()
        emulator.stop()
        other.stop()
    return rows


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def post_statement(url: str, start: threading.Barrier) -> str:
    """One 1 MB statement; its answer's status code, or what went wrong (never
    raises: every thread must report, or the burst would count fewer answers)."""
    try:
        import requests

        start.wait(timeout=60)
        return str(requests.post(url + "/v1/statement", data=BURST_STATEMENT, headers={"X-Trino-User": "bench"}, timeout=120).status_code)
    except Exception as error:  # noqa: BLE001
        return type(error).__name__


def burst(urls: list, size: int) -> Counter:
    """`size` statements at once (a barrier releases every thread together), spread
    over `urls`, each waiting for its answer; how many answers of each status.
    Nobody fetches the queries' results: the emulators abandon them after 1 s."""
    start = threading.Barrier(size)
    answers: list = []
    threads = [threading.Thread(target=lambda url=urls[i % len(urls)]: answers.append(post_statement(url, start))) for i in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(answers)


def burst_row(envoy: str, stage: str, pid: int, stats: dict, answers: Counter) -> dict:
    row = {
        "envoy": envoy,
        "stage": stage,
        "envoy_rss_kib": rss_kib(pid),
        "envoy_peak_rss_kib": peak_rss_kib(pid),
        "non_200": sum(n for status, n in answers.items() if status != "200"),
        "answers": dict(answers),
        "statements_over_memory_budget": stats.get("statements_over_memory_budget", 0),
        "statements_too_big_to_resend": stats.get("statements_too_big_to_resend", 0),
    }
    print(f"{envoy:6s} {stage:14s} Envoy RSS {row['envoy_rss_kib'] / 1024:6.1f} MiB (peak {row['envoy_peak_rss_kib'] / 1024:6.1f} MiB), "
          f"{row['non_200']} non-200 answers {dict(answers) or ''}, over memory budget {row['statements_over_memory_budget']}, "
          f"too big to re-send {row['statements_too_big_to_resend']}", flush=True)
    return row


def run_bursts(envoy: str, urls: list, pid: int, gateway_stats, bursts: int = BURSTS, size: int = BURST_SIZE) -> list:
    """Envoy's RSS before and ~2 s after each burst (the answers are back by then;
    what stays is what the filter kept, or what the allocator did not give back)."""
    rows = [burst_row(envoy, "before", pid, gateway_stats(), Counter())]
    for number in range(1, bursts + 1):
        answers = burst(urls, size)
        time.sleep(2)
        rows.append(burst_row(envoy, f"after burst {number}", pid, gateway_stats(), answers))
    return rows


def statement_bursts(args, workdir: Path) -> list:
    """The filter keeps each new statement in wasm memory until its answer, for a
    possible re-send; a per-worker budget must cap that. Without one, three
    bursts of 150 1 MB statements took Envoy's RSS from 103 to 304 MB, for good.
    Plain Envoy (2 workers, no wasm HTTP filter; the health service's VM as in
    plain-N) takes the same bursts first: Envoy itself keeps some of the buffer
    memory (its allocator), and only the growth beyond plain Envoy's is the filter's.
    (The emulator reads bodies up to 8 MiB and takes SQL up to query.max-length,
    1,000,000 characters: no argument needed for these statements.)"""
    emulators = [Emulator(name, free_port(), workdir / f"bursts-{name}.log", ABANDONING_EMULATOR_ARGS).start()
                 for name in ("coordinator-a", "coordinator-b")]
    clusters = {e.node_id: e.port for e in emulators}
    rows = []
    try:
        plain = PlainEnvoy(free_port(), free_port(), clusters, workdir / "bursts-plain.log")
        plain.ports = {name: free_port() for name in clusters}
        for kind, envoy in (("plain", plain), ("filter", Envoy(free_port(), free_port(), clusters, workdir / "bursts-filter.log"))):
            envoy.start()
            try:
                time.sleep(3)  # first health checks done, RSS settled
                urls = [f"http://127.0.0.1:{p}" for p in plain.ports.values()] if kind == "plain" else [envoy.url]
                rows += run_bursts(kind, urls, envoy_pid(envoy), envoy.gateway_stats)
            finally:
                envoy.stop()
    finally:
        for emulator in emulators:
            emulator.stop()
    return rows


def host_calls() -> dict:
    """The host calls the filter makes per request kind, as the core's example
    counts them against its mock host (a markdown table). Built and run here, so
    it can take minutes the first time; anything wrong makes it "unavailable"."""
    command = [os.environ.get("CARGO", "cargo"), "run", "-q", "-p", "trino-gateway-core", "--features", "testing", "--example", "host_calls"]
    try:
        # A session of its own, so that a timeout kills cargo's rustc children too.
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    except OSError as error:
        return {"available": False, "command": " ".join(command), "error": str(error)}
    try:
        out, err = process.communicate(timeout=HOST_CALLS_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return {"available": False, "command": " ".join(command), "error": f"timed out after {HOST_CALLS_TIMEOUT} s"}
    if process.returncode or not out.strip():
        lines = (err.strip() or out.strip() or f"exit status {process.returncode}").splitlines()
        return {"available": False, "command": " ".join(command), "error": lines[-1]}
    return {"available": True, "command": " ".join(command), "text": out.strip()}


def markdown(result: dict) -> str:
    lines = [f"Measured {result['date']} at commit {result['commit']} on {result['machine']}.", ""]
    if "throughput" in result:
        t = result["throughput"]
        a = result["args"]
        lines += [f"Workload: `{a['sql']}` (20 rows a page: POST, queued, 5 data pages, final page = 8 requests a query). "
                  f"Throughput: {a['clients']} closed-loop clients (saturation). Latency: a fixed {a['rate']:.0f} queries/s "
                  f"({8 * a['rate']:.0f} requests/s, open loop). {a['seconds']:.0f} s a run after 1 s warm-up, {a['rounds']} rounds; medians.", "",
                  "Envoy CPU: utime + stime of the Envoy process (all threads) over each saturation run's measured window, "
                  "divided by the requests counted in it.", "",
                  "| target | requests/s | queries/s | p50 µs | p90 µs | p99 µs | p99.9 µs | Envoy CPU µs / request | failed queries |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, s in t["summary"].items():
            cpu = s.get("envoy_cpu_us_per_request")
            lines.append(f"| {name} | {s['requests_per_second']:.0f} | {s['queries_per_second']:.0f} | {s['p50_us']:.0f} | {s['p90_us']:.0f} | "
                         f"{s['p99_us']:.0f} | {s['p999_us']:.0f} | {'-' if cpu is None else f'{cpu:.1f}'} | {s['failed_queries']} |")
        lines += ["", "| Envoy workers | filter / plain throughput | added p50 | added p99 | no-op wasm / plain | filter / no-op wasm | no-op added p50 "
                  "| filter / no-op CPU per request | no-op / plain CPU per request |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for n, r in t["ratios"].items():
            lines.append(f"| {n} | {r['throughput_ratio']:.1%} | {r['added_p50_us']:+.0f} µs | {r['added_p99_us']:+.0f} µs | "
                         f"{r['noop_ratio']:.1%} | {r['filter_vs_noop']:.1%} | {r['noop_added_p50_us']:+.0f} µs | "
                         f"{percent(r.get('filter_vs_noop_cpu'))} | {percent(r.get('noop_vs_plain_cpu'))} |")
        self_routing = t.get("self_routing", {})
        if self_routing:
            lines += ["", "| Envoy workers | gateway (forwarded) / wasm-free self-routing: CPU per request | throughput |", "| ---: | ---: | ---: |"]
            for n, r in self_routing.items():
                lines.append(f"| {n} | {percent(r['forwarded_vs_selfroute_cpu'])} | "
                             f"{r['forwarded_vs_selfroute_throughput']:.1%} |")
        for n, rows in t.get("targets", {}).items():
            lines += ["", f"Targets, {n} Envoy worker{'s' if n != 1 else ''} (this run's medians):", "",
                      "| target | measured | |", "| --- | --- | --- |"]
            lines += [f"| {r['target']} | {r['measured']} | {'met' if r['met'] else '**missed**'} |" for r in rows]
    if "memory" in result:
        lines += ["", "| new queries through the filter | Envoy RSS | shared-data keys | shared-data bytes | tracked queries | bytes / mapping |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in result["memory"]:
            per = f"{r['bytes_per_mapping']:.1f}" if r["bytes_per_mapping"] else "-"
            lines.append(f"| {r['queries']:,} | {r['envoy_rss_kib'] / 1024:.1f} MiB | {r['shared_data_keys']} | {r['shared_data_bytes']:,} | {r['tracked_queries']:,} | {per} |")
    if "bursts" in result:
        lines += ["", "### Statement memory bursts", "",
                  f"Plain Envoy, then Envoy + filter (2 workers each): {BURSTS} bursts of {BURST_SIZE} concurrent `POST /v1/statement` of "
                  f"{len(BURST_STATEMENT):,} bytes, every one waiting for its answer; RSS about 2 s after each burst. Peak: Envoy's VmHWM so far.", "",
                  "| Envoy | stage | Envoy RSS | peak RSS | non-200 answers | statements_over_memory_budget | statements_too_big_to_resend |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in result["bursts"]:
            lines.append(f"| {r['envoy']} | {r['stage']} | {r['envoy_rss_kib'] / 1024:.1f} MiB | {r['envoy_peak_rss_kib'] / 1024:.1f} MiB | "
                         f"{r['non_200']} | {r['statements_over_memory_budget']} | {r['statements_too_big_to_resend']} |")
    if "host_calls" in result:
        h = result["host_calls"]
        lines += ["", "### Host calls per request kind", "", f"`{h['command']}`:", ""]
        lines += [h["text"]] if h["available"] else [f"unavailable: {h['error']}"]
    return "\n".join(lines)


def percent(ratio) -> str:
    return "-" if ratio is None else f"{ratio:.1%}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rate", type=float, default=250, help="queries/s of the latency runs")
    parser.add_argument("--envoy-concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sql", default="SELECT x FROM UNNEST(sequence(1, 100)) AS t(x)")
    parser.add_argument("--memory-stages", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--only", nargs="*", help="run only these targets, e.g. plain-2 filter-2")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true", help="also skips the statement bursts")
    parser.add_argument("--skip-bursts", action="store_true", help="the memory stage without its statement bursts")
    parser.add_argument("--skip-host-calls", action="store_true", help="do not build and run the host_calls example")
    parser.add_argument("--min-ratio", type=float, default=None, help="exit 1 if a filter/plain throughput ratio is below this")
    parser.add_argument("--name", default=None, help="results file name (default: date and commit)")
    args = parser.parse_args()
    noop = not args.skip_throughput and any(name.startswith("noop-") for name in target_names(args))
    for needed in [LOADGEN] + ([NOOP_WASM] if noop else []):
        if not needed.exists():
            sys.exit(f"{needed} is missing: run `make build` first")
    workdir = REPO / ".run" / "bench"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    result = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "commit": commit(), "machine": machine(), "args": vars(args)}
    print(f"{result['machine']}; commit {result['commit']}", flush=True)
    if not args.skip_throughput:
        result["throughput"] = throughput(args, workdir)
    if not args.skip_memory:
        result["memory"] = memory(args, workdir)
        if not args.skip_bursts:
            result["bursts"] = statement_bursts(args, workdir)
    if not args.skip_host_calls:
        # Last: it may compile for minutes, which must not overlap a measurement.
        result["host_calls"] = host_calls()
    text = markdown(result)
    print("\n" + text)
    name = args.name or f"{datetime.now(timezone.utc):%Y%m%d-%H%M}-{result['commit']}"
    save_results(name, result, text + "\n")
    failures = []
    if "throughput" in result:
        failures += [f"{name}: {s['failed_queries']} failed queries" for name, s in result["throughput"]["summary"].items() if s["failed_queries"]]
        if args.min_ratio is not None:
            failures += [f"{n} worker(s): filter/plain throughput {r['throughput_ratio']:.1%} < {args.min_ratio:.0%}"
                         for n, r in result["throughput"]["ratios"].items() if r["throughput_ratio"] < args.min_ratio]
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
