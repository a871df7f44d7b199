"""`make bench-store` (also run by `make bench`): what the state store (etcd)
costs and how fast it syncs, measured side by side in one run.

- **Sync lag**: one query at a time through Envoy A; from A's answer to the
  POST (the moment a client knows the query id) until Envoy B has pulled the
  query's entry (B's `state_store.entries_pulled` counter, read from its admin
  every 2 ms). Queries are spaced by random pauses, so they land anywhere in
  both Envoys' sync periods. p50, p99, max.
- **Request-path cost, sync on vs off**: the same closed-loop workload (the
  loadgen's 100-row query in 20-row pages: one POST and six follow-ups) against
  the gateway with the state store and the same gateway without, in
  alternating rounds; throughput and Envoy CPU per request; ratios on/off from
  the medians.
- **etcd write rate**: new queries (POST only) at a fixed rate through A:
  what reaches etcd per second (keys, Txns = revisions; the loadgen's 1 s
  warm-up included, its queries are written too), A's batches, and the
  largest backlog seen.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "py"))
sys.path.insert(0, str(REPO / "bench"))

from harness import Emulator, Envoy, Etcd, free_port, stop_all_started  # noqa: E402
from run import LOADGEN, WARMUP_SECONDS, commit, envoy_pid, loadgen, machine, save_results  # noqa: E402

EMULATOR_ARGS = ["--page-rows", "20", "--query-min-expire-age", "0s", "--query-max-history", "200",
                 "--no-request-log", "--query-client-timeout", "2s"]
PREFIX = "/trino-gateway/"


def counter(envoy: Envoy, name: str) -> int:
    """A counter's or gauge's value (trino_gateway.<name>) from the Envoy's admin."""
    with urllib.request.urlopen(f"{envoy.admin}/stats?filter=^wasmcustom\\.trino_gateway\\.{name}$", timeout=2) as response:
        text = response.read().decode()
    return int(text.split(": ")[1]) if ": " in text else 0


def submit(envoy: Envoy) -> str:
    request = urllib.request.Request(envoy.url + "/v1/statement", data=b"SELECT 1", headers={"X-Trino-User": "bench"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["id"]


def sync_lag(a: Envoy, b: Envoy, samples: int, period_ms: int) -> dict:
    lags = []
    for _ in range(samples):
        time.sleep(random.uniform(0, 2 * period_ms / 1000))
        before = counter(b, "state_store.entries_pulled")
        submit(a)
        known = time.monotonic()
        deadline = known + 5
        while counter(b, "state_store.entries_pulled") <= before:
            if time.monotonic() > deadline:
                raise TimeoutError("B never pulled the entry")
            time.sleep(0.002)
        lags.append((time.monotonic() - known) * 1000)
    lags.sort()
    return {
        "samples": samples,
        "p50_ms": round(statistics.median(lags), 1),
        "p99_ms": round(lags[min(len(lags) - 1, int(len(lags) * 0.99))], 1),
        "max_ms": round(lags[-1], 1),
        "mean_ms": round(statistics.fmean(lags), 1),
    }


def request_path(on: Envoy, off: Envoy, rounds: int, seconds: float, concurrency: int, work: Path) -> dict:
    runs = {"on": [], "off": []}
    for n in range(rounds):
        for name, envoy in (("off", off), ("on", on)) if n % 2 else (("on", on), ("off", off)):
            report = loadgen([envoy.url], seconds, concurrency, work / f"{name}-{n}.json", envoy=envoy_pid(envoy))
            runs[name].append({"requests_per_s": report["requests"] / report["seconds"],
                               "queries_per_s": report["queries"] / report["seconds"],
                               "failed": report["failed_queries"], "envoy_cpu_us_per_request": report["envoy_cpu_us_per_request"]})
    median = {name: {k: statistics.median(r[k] for r in rs) for k in ("requests_per_s", "queries_per_s", "envoy_cpu_us_per_request")}
              for name, rs in runs.items()}
    return {
        "rounds": runs,
        "median": median,
        "throughput_on_over_off": round(median["on"]["requests_per_s"] / median["off"]["requests_per_s"], 3),
        "cpu_on_over_off": round(median["on"]["envoy_cpu_us_per_request"] / median["off"]["envoy_cpu_us_per_request"], 3),
        "failed": sum(r["failed"] for rs in runs.values() for r in rs),
    }


def etcd_count(etcd: Etcd) -> tuple:
    """(keys under q/, etcd revision)."""
    import base64

    body = {"key": base64.b64encode(f"{PREFIX}q/".encode()).decode(),
            "range_end": base64.b64encode(f"{PREFIX}q0".encode()).decode(), "count_only": True}
    request = urllib.request.Request(etcd.endpoint + "/v3/kv/range", data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        answer = json.loads(response.read())
    return int(answer.get("count", 0)), int(answer["header"]["revision"])


def backlog(envoy: Envoy) -> int:
    return counter(envoy, "state_store.backlog")


def write_rate(a: Envoy, etcd: Etcd, rate: float, seconds: float, work: Path) -> dict:
    deadline = time.monotonic() + 30
    while backlog(a) and time.monotonic() < deadline:  # what earlier phases left, written first
        time.sleep(0.1)
    time.sleep(0.5)
    keys0, revision0 = etcd_count(etcd)
    batches0, pushed0 = counter(a, "state_store.batches"), counter(a, "state_store.entries_pushed")
    peak = {"backlog": 0}
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak["backlog"] = max(peak["backlog"], backlog(a))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    report = loadgen([a.url], seconds, 64, work / "write-rate.json", extra=["--rate", str(rate), "--submit-only"])
    # Until the backlog is written (or 10 s).
    while counter(a, "state_store.entries_pushed") - pushed0 < report["queries"] and time.monotonic() - started < seconds + 10:
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    done.set()
    watcher.join()
    keys1, revision1 = etcd_count(etcd)
    return {
        "target_queries_per_s": rate,
        "queries_per_s": round(report["queries"] / report["seconds"], 1),
        "failed": report["failed_queries"],
        "entries_pushed": counter(a, "state_store.entries_pushed") - pushed0,
        # Over the loadgen's warm-up too: its queries are written as well.
        "keys_written_per_s": round((keys1 - keys0) / (report["seconds"] + WARMUP_SECONDS), 1),
        "txns_per_s": round((revision1 - revision0) / (report["seconds"] + WARMUP_SECONDS), 1),
        "batches": counter(a, "state_store.batches") - batches0,
        "peak_backlog": peak["backlog"],
        "written_within_s": round(elapsed, 1),
    }


def markdown(result: dict) -> str:
    lag, cost, write = result["sync_lag"], result["request_path"], result["write_rate"]
    on, off = cost["median"]["on"], cost["median"]["off"]
    return f"""# State store benchmark ({result['date']}, commit {result['commit']})

{result['machine']}; etcd {result['etcd']}; sync every {result['sync_interval_ms']} ms; Envoy --concurrency 2.
Command: `{result['command']}`

## Sync lag (A's answer to the POST → entry pulled by B)

| samples | p50 | p99 | max | mean |
| --- | --- | --- | --- | --- |
| {lag['samples']} | {lag['p50_ms']} ms | {lag['p99_ms']} ms | {lag['max_ms']} ms | {lag['mean_ms']} ms |

## Request path, sync on vs off ({len(cost['rounds']['on'])} alternating rounds, medians)

| gateway | requests/s | queries/s | Envoy CPU µs / request |
| --- | --- | --- | --- |
| state store on | {on['requests_per_s']:.0f} | {on['queries_per_s']:.0f} | {on['envoy_cpu_us_per_request']:.1f} |
| state store off | {off['requests_per_s']:.0f} | {off['queries_per_s']:.0f} | {off['envoy_cpu_us_per_request']:.1f} |

Throughput on/off **{cost['throughput_on_over_off']}**, Envoy CPU per request on/off **{cost['cpu_on_over_off']}**; failed queries {cost['failed']}.

## etcd write rate at {write['target_queries_per_s']:.0f} new queries/s (POST only, through A)

| queries/s reached | failed | entries pushed | keys written/s | Txns/s | batches | peak backlog | all written within |
| --- | --- | --- | --- | --- | --- | --- | --- |
| {write['queries_per_s']} | {write['failed']} | {write['entries_pushed']} | {write['keys_written_per_s']} | {write['txns_per_s']} | {write['batches']} | {write['peak_backlog']} | {write['written_within_s']} s |
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lag-samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--write-rate", type=float, default=1000)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    if not LOADGEN.exists():
        sys.exit(f"{LOADGEN} is missing: run `make build` first")
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        etcd = Etcd("bench", free_port(), free_port(), work / "etcd-data", work / "etcd.log").start()
        emulators = {n: Emulator(n, free_port(), work / f"{n}.log", EMULATOR_ARGS).start() for n in ("coordinator-a", "coordinator-b")}
        ports = {n: e.port for n, e in emulators.items()}
        a = Envoy(free_port(), free_port(), ports, work / "a.log", etcd_port=etcd.client_port).start()
        b = Envoy(free_port(), free_port(), ports, work / "b.log", etcd_port=etcd.client_port).start()
        off = Envoy(free_port(), free_port(), ports, work / "off.log").start()
        time.sleep(1)  # both Envoys connected, coordinator ids pushed and pulled
        interval = 250
        print("sync lag ...", flush=True)
        lag = sync_lag(a, b, args.lag_samples, interval)
        print(f"  {lag}\nrequest path, on vs off ...", flush=True)
        cost = request_path(a, off, args.rounds, args.seconds, args.clients, work)
        print(f"  throughput on/off {cost['throughput_on_over_off']}, CPU on/off {cost['cpu_on_over_off']}\nwrite rate ...", flush=True)
        write = write_rate(a, etcd, args.write_rate, args.seconds, work)
        print(f"  {write}")
        etcd_version = subprocess.run(["etcd", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        result = {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit(),
            "machine": machine(),
            "etcd": etcd_version.split(":")[-1].strip(),
            "sync_interval_ms": interval,
            "command": "make bench-store  # .venv/bin/python bench/state_store.py " + " ".join(sys.argv[1:]),
            "sync_lag": lag,
            "request_path": cost,
            "write_rate": write,
        }
        name = args.name or f"store-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M')}-{result['commit']}"
        save_results(name, result, markdown(result))
        return 0
    finally:
        stop_all_started()


if __name__ == "__main__":
    sys.exit(main())
