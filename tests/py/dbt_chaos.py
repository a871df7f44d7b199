"""The design record's own test: a real `dbt run` (dbt-core 1.11 with
dbt-trino, the project in tests/dbt) through the gateway while a coordinator
is SIGKILLed mid-DAG, or while both coordinators are restarted one after the
other with a drain. The models are slowed down with the emulator's
`runtime_ms` hint so that the DAG is in flight when the coordinator goes.

Used by tests/py/test_dbt.py, and by `make chaos-dbt`, which runs both
scenarios on its own processes (free ports) and prints the figures:

    .venv/bin/python tests/py/dbt_chaos.py
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Dict, List

import trino

from chaos import HEALTH, health, kill_and_restart, rolling_restart
from harness import REPO, Emulator, Envoy, free_port, load_envoy_config, plugin_configuration, stop_all_started, wait_until

PROJECT = REPO / "tests" / "dbt"
DBT = REPO / ".venv" / "bin" / "dbt"
MODELS = ["stg_customers", "stg_orders", "stg_payments", "customer_orders", "order_payments", "orders_appended", "customer_totals"]


class DbtProject:
    """tests/dbt run with the real dbt CLI against the gateway on `port`, in
    its own schema, with target/ and logs/ under `work_dir`."""

    def __init__(self, port: int, work_dir: Path, schema: str = "analytics"):
        self.port = port
        self.work_dir = work_dir
        self.schema = schema
        work_dir.mkdir(parents=True, exist_ok=True)

    def command(self, *args: str, runtime_ms: int = 0, background: bool = False):
        env = dict(os.environ, TRINO_GATEWAY_PORT=str(self.port), DBT_SCHEMA=self.schema, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        argv = [
            str(DBT),
            *args,
            "--project-dir", str(PROJECT),
            "--profiles-dir", str(PROJECT),
            "--target-path", str(self.work_dir / "target"),
            "--log-path", str(self.work_dir / "logs"),
        ]
        if runtime_ms and args[0] in ("run", "build"):
            argv += ["--vars", json.dumps({"runtime_ms": runtime_ms})]
        with open(self.work_dir / f"dbt-{args[0]}-{time.monotonic_ns()}.out", "w") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.work_dir)
        if background:
            return process
        process.wait(timeout=300)
        return process

    def run_results(self) -> Dict[str, str]:
        """model name → status of the last dbt invocation (run_results.json)."""
        results = json.loads((self.work_dir / "target" / "run_results.json").read_text())
        return {r["unique_id"].split(".")[2]: r["status"] for r in results["results"]}

    def rows(self, sql: str) -> list:
        cursor = trino.dbapi.connect(
            host="127.0.0.1", port=self.port, user="checker", catalog="lake", schema=self.schema
        ).cursor()
        cursor.execute(sql)
        return cursor.fetchall()


def _seed(name: str) -> List[dict]:
    with open(PROJECT / "seeds" / f"{name}.csv") as f:
        return list(csv.DictReader(f))


def expected_tables() -> Dict[str, list]:
    """What each model must hold, computed here from the seed CSVs (not by SQL)."""
    customers = _seed("customers")
    orders = _seed("orders")
    payments = _seed("payments")
    money = lambda text: Decimal(text).quantize(Decimal("0.01"))  # noqa: E731
    kept = [o for o in orders if o["status"] != "returned"]
    customer_orders = []
    for c in customers:
        mine = [o for o in kept if o["customer_id"] == c["customer_id"]]
        customer_orders.append(
            [
                int(c["customer_id"]),
                c["name"],
                c["country"].upper(),
                len(mine),
                sum((money(o["amount"]) for o in mine), Decimal("0.00")),
                min(o["ordered_at"][:10] for o in mine) if mine else None,
                "frequent" if len(mine) >= 5 else "occasional",
            ]
        )
    order_payments = []
    for o in orders:
        paid = [money(p["amount"]) for p in payments if p["order_id"] == o["order_id"]]
        if paid:
            order_payments.append([int(o["order_id"]), money(o["amount"]), sum(paid), len(paid), money(o["amount"]) - sum(paid)])
    totals = []
    for c in customers:
        mine = [o for o in orders if o["customer_id"] == c["customer_id"]]
        if mine:
            totals.append([int(c["customer_id"]), len(mine), sum(money(o["amount"]) for o in mine)])
    return {
        "customer_orders": customer_orders,
        "order_payments": order_payments,
        "orders_appended": [[int(o["order_id"]), o["status"], money(o["amount"])] for o in orders],
        "customer_totals": totals,
    }


QUERIES = {
    "customer_orders": "SELECT customer_id, customer_name, country, order_count, revenue, "
    "CAST(first_order AS varchar), segment FROM customer_orders ORDER BY customer_id",
    "order_payments": "SELECT order_id, order_amount, paid, payments, balance FROM order_payments ORDER BY order_id",
    "orders_appended": "SELECT order_id, status, amount FROM orders_appended ORDER BY order_id",
    "customer_totals": "SELECT customer_id, orders, total FROM customer_totals ORDER BY customer_id",
}


def wrong_tables(project: DbtProject) -> Dict[str, str]:
    """Models whose rows differ from the expected ones (empty: all right)."""
    expected = expected_tables()
    wrong = {}
    for model, sql in QUERIES.items():
        try:
            got = project.rows(sql)
        except trino.exceptions.TrinoQueryError as error:
            wrong[model] = f"{error.error_name}: {error.message}"
            continue
        if got != expected[model]:
            wrong[model] = f"got {got[:3]}… ({len(got)} rows), expected {expected[model][:3]}… ({len(expected[model])} rows)"
    return wrong


def start_stack(log_dir: Path):
    lake = ["--catalog-dir", f"lake={log_dir / 'lake'}"]
    coordinators = {
        name: Emulator(name, free_port(), log_dir / f"{name}.log", lake).start() for name in ("coordinator-a", "coordinator-b")
    }
    envoy = Envoy(
        free_port(), free_port(), {n: e.port for n, e in coordinators.items()}, log_dir / "envoy.log", dynamic_plugin=True
    ).start()
    for name in coordinators:
        wait_until(lambda: health(envoy, name) == HEALTH["healthy"], 10, what=f"{name} healthy")
    return coordinators, envoy


def running_models(project: DbtProject) -> int:
    """Models dbt has started so far (its log says `START sql … model`)."""
    logs = project.work_dir / "logs" / "dbt.log"
    if not logs.exists():
        return 0
    return logs.read_text(errors="replace").count(" START sql ")


def kill_scenario(envoy: Envoy, coordinators: Dict[str, Emulator], project: DbtProject, log_dir: Path, runtime_ms: int, say=print) -> dict:
    """SIGKILL coordinator-a while `dbt run` is in its DAG; then `dbt retry` at most once."""
    assert project.command("seed").returncode == 0, "dbt seed"
    started = time.monotonic()
    run = project.command("run", runtime_ms=runtime_ms, background=True)
    # Kill once the first level of models (the views) is running.
    wait_until(lambda: running_models(project) >= 1, 60, interval=0.05, what="dbt started a model")
    time.sleep(runtime_ms / 2000)
    killed_at = kill_and_restart(envoy, coordinators, "coordinator-a", log_dir)
    say(f"coordinator-a SIGKILLed {killed_at - started:.1f} s into `dbt run`, restarted 3 s later")
    run.wait(timeout=300)
    first = project.run_results()
    failed = sorted(m for m, s in first.items() if s not in ("success",))
    say(f"`dbt run` exit {run.returncode}: {sum(s == 'success' for s in first.values())} models ok, failed or skipped: {failed or 'none'}")
    retries = 0
    exit_code = run.returncode
    if exit_code != 0:
        retries = 1
        retry = project.command("retry", runtime_ms=runtime_ms)
        exit_code = retry.returncode
        after = project.run_results()
        say(f"`dbt retry` exit {exit_code}: re-ran {sorted(after)}")
    wrong = wrong_tables(project)
    say(f"tables checked against the seeds: {'all right' if not wrong else wrong}")
    return {"exit": exit_code, "retries": retries, "failed_first": failed, "wrong": wrong, "seconds": time.monotonic() - started}


def rolling_scenario(envoy: Envoy, coordinators: Dict[str, Emulator], project: DbtProject, log_dir: Path, runtime_ms: int, say=print) -> dict:
    """Restart both coordinators one after the other (drain, wait idle, restart) during `dbt run`."""
    assert project.command("seed").returncode == 0, "dbt seed"
    plugin = plugin_configuration(load_envoy_config())
    started = time.monotonic()
    run = project.command("run", runtime_ms=runtime_ms, background=True)
    wait_until(lambda: running_models(project) >= 1, 60, interval=0.05, what="dbt started a model")
    rolling_restart(envoy, coordinators, plugin, log_dir, say=say)
    run.wait(timeout=300)
    results = project.run_results()
    failed = sorted(m for m, s in results.items() if s != "success")
    say(f"`dbt run` exit {run.returncode}: {len(results) - len(failed)} models ok, failed: {failed or 'none'}")
    wrong = wrong_tables(project)
    say(f"tables checked against the seeds: {'all right' if not wrong else wrong}")
    return {"exit": run.returncode, "failed": failed, "wrong": wrong, "seconds": time.monotonic() - started}


def main() -> int:
    runtime_ms = 1500
    code = 0
    for scenario in ("kill", "rolling-restart"):
        log_dir = Path(tempfile.mkdtemp(prefix=f"trino-gateway-chaos-dbt-{scenario}-"))
        print(f"== {scenario}: `dbt run` of {len(MODELS)} models, {runtime_ms} ms each, logs in {log_dir}")
        coordinators, envoy = start_stack(log_dir)
        try:
            project = DbtProject(envoy.port, log_dir / "dbt")
            if scenario == "kill":
                result = kill_scenario(envoy, coordinators, project, log_dir, runtime_ms)
                ok = result["exit"] == 0 and result["retries"] <= 1 and not result["wrong"]
            else:
                result = rolling_scenario(envoy, coordinators, project, log_dir, runtime_ms)
                ok = result["exit"] == 0 and not result["failed"] and not result["wrong"]
            print(f"{scenario}: {'PASS' if ok else 'FAIL'} in {result['seconds']:.1f} s")
            code |= 0 if ok else 1
        finally:
            stop_all_started()
    return code


if __name__ == "__main__":
    sys.exit(main())
