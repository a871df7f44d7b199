"""`make bench` / `make bench-quick` / `make bench-memory`: what the filter costs.

Throughput and latency of the same Trino workload (bench/loadgen) against
  direct   the two emulated coordinators themselves
  plain-N  plain Envoy (--concurrency N), static routes, no wasm
  filter-N Envoy (--concurrency N) with the trino-gateway filter (envoy/envoy.yaml)
  noop-N   plain Envoy plus a wasm filter that does nothing (the floor of any wasm filter)
in alternating rounds (direct, plain-1, noop-1, filter-1, plain-2, ..., direct, ...)
so that machine drift hits every configuration alike. Ratios are computed from
the medians of the rounds, all measured in this one run. Each run is done twice:
closed loop at saturation (throughput) and open loop at a fixed moderate rate
(latency: what a request costs, without queueing behind a saturated CPU).

Memory: Envoy RSS and the filter's shared-data gauges after 10k, 100k and 1M
new queries through the filter.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "py"))

from harness import Emulator, Envoy, free_port, wasm_filter  # noqa: E402

LOADGEN = REPO / "target" / "tools" / "trino-loadgen"
NOOP_WASM = REPO / "target" / "wasm32-wasip1" / "release" / "noop_filter.wasm"
RESULTS = REPO / "bench" / "results"
EMULATOR_ARGS = ["--page-rows", "20", "--query-min-expire-age", "0s", "--query-max-history", "200", "--no-request-log"]


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


def loadgen(targets, seconds, concurrency, out: Path, extra=()) -> dict:
    command = [str(LOADGEN), *sum((["--target", t] for t in targets), []), "--concurrency", str(concurrency),
               "--duration", str(seconds), "--warmup", "1", "--json", str(out), "--quiet", *extra]
    subprocess.run(command, check=True, timeout=seconds + 120)
    return json.loads(out.read_text())


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


def throughput(args, workdir: Path) -> dict:
    emulators = [Emulator(name, free_port(), workdir / f"{name}.log", EMULATOR_ARGS).start() for name in ("coordinator-a", "coordinator-b")]
    clusters = {e.node_id: e.port for e in emulators}
    envoys = {}
    targets = {"direct": [e.url for e in emulators]}
    try:
        for n in args.envoy_concurrency:
            for kind in ("plain", "noop"):
                envoy = PlainEnvoy(free_port(), free_port(), clusters, workdir / f"{kind}-{n}.log", concurrency=n)
                envoy.ports = {name: free_port() for name in clusters}
                envoy.noop_wasm = kind == "noop"
                envoys[f"{kind}-{n}"] = envoy.start()
                targets[f"{kind}-{n}"] = [f"http://127.0.0.1:{p}" for p in envoy.ports.values()]
            gateway = Envoy(free_port(), free_port(), clusters, workdir / f"filter-{n}.log", concurrency=n).start()
            envoys[f"filter-{n}"] = gateway
            targets[f"filter-{n}"] = [gateway.url]
        order = ["direct"] + [f"{kind}-{n}" for n in args.envoy_concurrency for kind in ("plain", "noop", "filter")]
        if args.only:
            order = [name for name in order if name in args.only]
        runs = {name: [] for name in order}
        paced = {name: [] for name in order}
        for round_number in range(args.rounds):
            for name in order:
                # Saturation (closed loop): how many requests per second.
                report = loadgen(targets[name], args.seconds, args.clients, workdir / f"{name}-{round_number}.json", ["--sql", args.sql])
                runs[name].append(report)
                # A fixed, moderate rate (open loop): what each request costs in latency.
                latency = loadgen(targets[name], args.seconds, args.clients, workdir / f"{name}-{round_number}-rate.json",
                                  ["--sql", args.sql, "--rate", str(args.rate)])
                paced[name].append(latency)
                print(f"round {round_number + 1}/{args.rounds} {name:9s} {report['requests_per_second']:8.0f} req/s "
                      f"{report['queries_per_second']:7.0f} q/s (failed {report['failed_queries']}); at {args.rate:.0f} q/s: "
                      f"p50 {latency['all']['p50_us']:5d} µs  p99 {latency['all']['p99_us']:6d} µs  p99.9 {latency['all']['p999_us']:6d} µs "
                      f"(failed {latency['failed_queries']})", flush=True)
    finally:
        for envoy in envoys.values():
            envoy.stop()
        for emulator in emulators:
            emulator.stop()

    def median(reports, key):
        return statistics.median(key(r) for r in reports)

    summary = {}
    for name in order:
        summary[name] = {
            "requests_per_second": median(runs[name], lambda r: r["requests_per_second"]),
            "queries_per_second": median(runs[name], lambda r: r["queries_per_second"]),
            "saturated_p50_us": median(runs[name], lambda r: r["all"]["p50_us"]),
            "p50_us": median(paced[name], lambda r: r["all"]["p50_us"]),
            "p90_us": median(paced[name], lambda r: r["all"]["p90_us"]),
            "p99_us": median(paced[name], lambda r: r["all"]["p99_us"]),
            "p999_us": median(paced[name], lambda r: r["all"]["p999_us"]),
            "failed_queries": sum(r["failed_queries"] for r in runs[name] + paced[name]),
        }
    ratios = {}
    for n in args.envoy_concurrency:
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
        }
    return {"summary": summary, "ratios": ratios, "runs": runs, "paced_runs": paced}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def memory(args, workdir: Path) -> list:
    emulator = Emulator("coordinator-a", free_port(), workdir / "mem-a.log", EMULATOR_ARGS + ["--query-client-timeout", "1s"]).start()
    other = Emulator("coordinator-b", free_port(), workdir / "mem-b.log", EMULATOR_ARGS + ["--query-client-timeout", "1s"]).start()
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


def markdown(result: dict) -> str:
    lines = [f"Measured {result['date']} at commit {result['commit']} on {result['machine']}.", ""]
    if "throughput" in result:
        t = result["throughput"]
        a = result["args"]
        lines += [f"Workload: `{a['sql']}` (20 rows a page: POST, queued, 5 data pages, final page = 8 requests a query). "
                  f"Throughput: {a['clients']} closed-loop clients (saturation). Latency: a fixed {a['rate']:.0f} queries/s "
                  f"({8 * a['rate']:.0f} requests/s, open loop). {a['seconds']:.0f} s a run after 1 s warm-up, {a['rounds']} rounds; medians.", "",
                  "| target | requests/s | queries/s | p50 µs | p90 µs | p99 µs | p99.9 µs | failed queries |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, s in t["summary"].items():
            lines.append(f"| {name} | {s['requests_per_second']:.0f} | {s['queries_per_second']:.0f} | {s['p50_us']:.0f} | {s['p90_us']:.0f} | "
                         f"{s['p99_us']:.0f} | {s['p999_us']:.0f} | {s['failed_queries']} |")
        lines += ["", "| Envoy workers | filter / plain throughput | added p50 | added p99 | no-op wasm / plain | filter / no-op wasm | no-op added p50 |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for n, r in t["ratios"].items():
            lines.append(f"| {n} | {r['throughput_ratio']:.1%} | {r['added_p50_us']:+.0f} µs | {r['added_p99_us']:+.0f} µs | "
                         f"{r['noop_ratio']:.1%} | {r['filter_vs_noop']:.1%} | {r['noop_added_p50_us']:+.0f} µs |")
    if "memory" in result:
        lines += ["", "| new queries through the filter | Envoy RSS | shared-data keys | shared-data bytes | tracked queries | bytes / mapping |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in result["memory"]:
            per = f"{r['bytes_per_mapping']:.1f}" if r["bytes_per_mapping"] else "-"
            lines.append(f"| {r['queries']:,} | {r['envoy_rss_kib'] / 1024:.1f} MiB | {r['shared_data_keys']} | {r['shared_data_bytes']:,} | {r['tracked_queries']:,} | {per} |")
    return "\n".join(lines)


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
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--min-ratio", type=float, default=None, help="exit 1 if a filter/plain throughput ratio is below this")
    parser.add_argument("--name", default=None, help="results file name (default: date and commit)")
    args = parser.parse_args()
    for needed in (LOADGEN, NOOP_WASM):
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
    text = markdown(result)
    print("\n" + text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = args.name or f"{datetime.now(timezone.utc):%Y%m%d-%H%M}-{result['commit']}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
    (RESULTS / f"{name}.md").write_text(text + "\n")
    print(f"\nwrote {RESULTS / name}.json and .md")
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
