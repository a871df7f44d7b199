"""A real dbt project (tests/dbt: seeds, views, tables, two incremental
models, data tests) run with the real dbt-core 1.11 and dbt-trino through
real Envoy and two emulated coordinators sharing the `lake` catalog; then the
design record's test: a coordinator SIGKILLed mid-DAG, and a rolling restart.
Every table is checked against rows computed in Python from the seed CSVs."""

from chaos import HEALTH, health
from dbt_chaos import DbtProject, kill_scenario, rolling_scenario, wrong_tables
from harness import wait_until

RUNTIME_MS = 1000


def ready(gateway):
    for name in gateway.coordinators:
        wait_until(lambda: health(gateway.envoy, name) == HEALTH["healthy"], 10, what=f"{name} healthy")


def statements_per_coordinator(gateway) -> dict:
    return {
        name: sum(1 for e in c.log_entries() if e.method == "POST" and e.path == "/v1/statement")
        for name, c in gateway.coordinators.items()
    }


def test_dbt_seed_run_and_test_pass_through_the_gateway_and_a_bad_row_fails_the_tests(start_gateway, tmp_path):
    gateway = start_gateway()
    ready(gateway)
    project = DbtProject(gateway.envoy.port, tmp_path / "dbt")
    assert project.command("seed").returncode == 0
    assert project.command("run").returncode == 0
    assert set(project.run_results().values()) == {"success"}
    # A second run rebuilds the tables (CTAS, rename, drop) and runs the incremental strategies.
    assert project.command("run").returncode == 0
    assert project.command("test").returncode == 0
    results = project.run_results()
    assert len(results) == 13 and set(results.values()) == {"pass"}, results
    assert wrong_tables(project) == {}
    # Both coordinators ran part of it: what one wrote, the other read.
    per_coordinator = statements_per_coordinator(gateway)
    assert all(count > 10 for count in per_coordinator.values()), per_coordinator
    # The data tests can fail: a duplicated order makes `unique` fail.
    project.rows("INSERT INTO orders_appended SELECT * FROM orders_appended WHERE order_id = 1")
    assert project.command("test").returncode == 1
    failed = {name for name, status in project.run_results().items() if status != "pass"}
    assert failed == {"unique_orders_appended_order_id"}


def test_dbt_run_completes_after_a_coordinator_is_killed_mid_dag_with_at_most_one_retry(start_gateway, tmp_path):
    gateway = start_gateway(dynamic_plugin=True)
    ready(gateway)
    project = DbtProject(gateway.envoy.port, tmp_path / "dbt")
    result = kill_scenario(gateway.envoy, gateway.coordinators, project, tmp_path, RUNTIME_MS)
    print(f"\nkill mid-DAG: {result}")
    assert result["failed_first"], "the kill hit no running model: the test proved nothing"
    assert result["exit"] == 0 and result["retries"] <= 1, result
    assert result["wrong"] == {}, result


def test_dbt_run_sees_no_failure_during_a_rolling_restart(start_gateway, tmp_path):
    gateway = start_gateway(dynamic_plugin=True)
    ready(gateway)
    project = DbtProject(gateway.envoy.port, tmp_path / "dbt")
    result = rolling_scenario(gateway.envoy, gateway.coordinators, project, tmp_path, RUNTIME_MS)
    print(f"\nrolling restart: {result}")
    assert result["exit"] == 0 and result["failed"] == [], result
    assert result["wrong"] == {}, result
