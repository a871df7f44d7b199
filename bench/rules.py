"""`make bench-rules` (also run by `make bench`): what routing rules cost a
new statement, measured side by side in one run.

- **In Envoy**: one Envoy per configuration, all started at once against the
  same two emulated coordinators: routing groups with no rules, 10 header
  rules, 100 header rules, and 10 header rules plus two statement rules (a
  regex and the write classification; the statement is read, so that Envoy
  runs with allow_on_headers_stop_iteration), and 1000 header rules, whose
  slope gives one rule's cost in Envoy's wasm (a few µs are below this
  machine's noise, 1000 rules' cost is not). No rule matches the loadgen's
  statements, so every rule is evaluated. The loadgen submits new statements
  only (POST, no follow-up: `--submit-only`), closed loop, in alternating
  rounds; Envoy's CPU per statement, and the difference to the no-rules
  Envoy from the medians. Envoy CPU includes its own HTTP work, so the
  difference carries the machine's noise: read it with the native figure.
- **Native**: the core's routing-group choice alone for the same rule sets
  (filter/core/examples/rule_cost.rs), nanoseconds per statement.

Follow-up requests never evaluate rules (the flow's follow-up path does not
look at them); tests/py and the flow's host-call budget tests hold that.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "py"))
sys.path.insert(0, str(REPO / "bench"))

from harness import Emulator, Envoy, free_port, load_envoy_config, plugin_configuration, stop_all_started  # noqa: E402
from run import LOADGEN, commit, envoy_pid, loadgen, machine, save_results  # noqa: E402
from state_store import EMULATOR_ARGS  # noqa: E402 (the same coordinators: envoy.yaml's, forwarded headers off)

A, B = "coordinator-a", "coordinator-b"


def header_rules(n: int) -> list:
    """`n` header rules of every kind; none matches the loadgen (user loadgen, source trino-loadgen)."""
    kinds = [
        lambda i: {"header": {"name": "X-Tenant", "exact": f"tenant-{i}"}},
        lambda i: {"source": {"prefix": f"tool-{i}"}},
        lambda i: {"user": {"regex": f"^svc-{i}-[a-z]+$"}},
        lambda i: {"client_tags": {"any_of": [f"team-{i}", "nightly"]}},
        lambda i: {"all": [{"catalog": {"exact": "lake"}}, {"schema": {"prefix": f"s{i}"}}]},
    ]
    return [{"name": f"rule-{i}", "when": kinds[i % len(kinds)](i), "group": "etl"} for i in range(n)]


STATEMENT_RULES = [
    {"name": "audit-writes", "when": {"statement": {"regex": "(?i)\\binsert\\s+into\\s+audit\\."}}, "group": "etl"},
    {"name": "writes", "when": {"statement_kind": "write"}, "group": "etl"},
]

CASES = {
    "0 rules": header_rules(0),
    "10 header rules": header_rules(10),
    "100 header rules": header_rules(100),
    "1000 header rules": header_rules(1000),
    "10 header + 2 statement rules": header_rules(10) + STATEMENT_RULES,
}


def plugin(rules: list) -> dict:
    base = plugin_configuration(load_envoy_config())
    base["routing"] = {
        "groups": [{"name": "adhoc", "clusters": [A, B]}, {"name": "etl", "clusters": [B]}],
        "default_group": "adhoc",
        "rules": rules,
    }
    return base


def native() -> list:
    command = ["cargo", "run", "-q", "--release", "-p", "trino-gateway-core", "--example", "rule_cost"]
    output = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def in_envoy(args, work: Path) -> dict:
    emulators = {n: Emulator(n, free_port(), work / f"{n}.log", EMULATOR_ARGS).start() for n in (A, B)}
    ports = {n: e.port for n, e in emulators.items()}
    envoys = {
        name: Envoy(free_port(), free_port(), ports, work / f"envoy-{i}.log", plugin(rules), concurrency=args.envoy_concurrency,
                    stop_iteration=any("statement" in json.dumps(r["when"]) for r in rules)).start()
        for i, (name, rules) in enumerate(CASES.items())
    }
    runs = {name: [] for name in CASES}
    for n in range(args.rounds):
        order = list(CASES) if n % 2 == 0 else list(reversed(CASES))
        for name in order:
            envoy = envoys[name]
            report = loadgen([envoy.url], args.seconds, args.clients, work / f"{n}-{len(runs[name])}.json",
                             extra=["--submit-only"], envoy=envoy_pid(envoy))
            runs[name].append({"statements_per_s": round(report["queries"] / report["seconds"]),
                               "failed": report["failed_queries"],
                               "envoy_cpu_us_per_statement": round(report["envoy_cpu_us_per_request"], 1)})
            print(f"  round {n} {name}: {runs[name][-1]}", flush=True)
    median = {name: statistics.median(r["envoy_cpu_us_per_statement"] for r in rs) for name, rs in runs.items()}
    baseline = median["0 rules"]
    # A few µs are below this machine's noise; 1000 rules are not: their
    # slope is what one header rule costs in Envoy's wasm.
    per_rule = (median["1000 header rules"] - baseline) / 1000
    return {
        "rounds": runs,
        "median_cpu_us": median,
        "added_us": {name: round(value - baseline, 1) for name, value in median.items()},
        "us_per_header_rule": round(per_rule, 3),
        "ten_header_rules_us": round(10 * per_rule, 2),
        "statement_rules_over_10_header_rules_us": round(median["10 header + 2 statement rules"] - median["10 header rules"], 1),
        "failed": sum(r["failed"] for rs in runs.values() for r in rs),
    }


def markdown(result: dict) -> str:
    envoy = result["envoy"]
    rows = "\n".join(
        f"| {name} | {statistics.median(r['statements_per_s'] for r in envoy['rounds'][name])} | {envoy['median_cpu_us'][name]} | "
        f"{envoy['added_us'][name]:+} | {next((n['ns_per_statement'] for n in result['native'] if n['case'] == name), '-')} |"
        for name in CASES
    )
    return f"""# Routing rules: cost per new statement

{result['date']}, commit {result['commit']}, {result['machine']}.
Command: `{result['command']}`. Envoy concurrency {result['envoy_concurrency']}, {result['rounds']} rounds of {result['seconds']} s, {result['clients']} clients, new statements only (no follow-ups); no rule matches (all are evaluated).

| configuration | statements/s (median) | Envoy CPU µs per statement (median) | added vs 0 rules (µs) | native core, ns per statement |
| --- | --- | --- | --- | --- |
{rows}

In Envoy, one header rule costs **{envoy['us_per_header_rule']} µs** (the slope from 0 to 1000 rules), so 10 header rules add **{envoy['ten_header_rules_us']} µs** per new statement (target ≤ 5 µs). Reading the statement for the two statement rules (headers paused, body buffered and copied into the filter) adds {envoy['statement_rules_over_10_header_rules_us']} µs over 10 header rules.

Failed statements: {envoy['failed']}. The Envoy column is whole-request CPU (HTTP, the emulator's answer, the filter) of separate Envoys measured in alternating rounds on a shared machine: differences of a few µs are within its noise; the native column is the rules alone.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--envoy-concurrency", type=int, default=1)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    if not LOADGEN.exists():
        sys.exit(f"{LOADGEN} is missing: run `make build` first")
    work = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    try:
        print("native ...", flush=True)
        native_figures = native()
        for figure in native_figures:
            print(f"  {figure}")
        print("in Envoy ...", flush=True)
        envoy = in_envoy(args, work)
        print(f"  added µs per statement: {envoy['added_us']}")
        result = {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit(),
            "machine": machine(),
            "command": "make bench-rules  # .venv/bin/python bench/rules.py " + " ".join(sys.argv[1:]),
            "rounds": args.rounds,
            "seconds": args.seconds,
            "clients": args.clients,
            "envoy_concurrency": args.envoy_concurrency,
            "native": native_figures,
            "envoy": envoy,
        }
        name = args.name or f"rules-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M')}-{result['commit']}"
        save_results(name, result, markdown(result))
        return 0
    finally:
        stop_all_started()


if __name__ == "__main__":
    sys.exit(main())
