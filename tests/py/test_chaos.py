"""The design record's bar, end to end: 8 concurrent real Python clients loop
queries of 200-2000 ms through real Envoy and two emulated coordinators while
a coordinator is killed, restarted with a slow start, or both are restarted
in turn with a drain.
Each test prints its figures (`pytest -s` shows them)."""

import time

from chaos import HEALTH, Workload, health, kill_and_restart, rolling_restart
from conftest import shipped_plugin
from harness import Emulator, wait_until


def ready(gateway):
    for name in gateway.coordinators:
        deadline = time.monotonic() + 10
        while health(gateway.envoy, name) != HEALTH["healthy"]:
            assert time.monotonic() < deadline, f"{name} not healthy"
            time.sleep(0.05)


def report(what, workload, gateway, **extra):
    stats = gateway.envoy.gateway_stats()
    figures = dict(workload.summary(), **extra)
    for key in ("submissions_resent", "failovers", "lost_queries_failed", "passive_unhealthy_marks"):
        figures[key] = stats.get(key, 0)
    print(f"\n{what}: " + " ".join(f"{k}={v}" for k, v in figures.items()))
    return figures


def test_sigkill_loses_only_the_queries_running_there_and_they_fail_fast(start_gateway, tmp_path):
    gateway = start_gateway()
    ready(gateway)
    old_id = gateway.coordinators["coordinator-a"].info()["coordinatorId"]
    workload = Workload(gateway.envoy.port, clients=8).start()
    time.sleep(3)
    killed_at = kill_and_restart(gateway.envoy, gateway.coordinators, "coordinator-a", tmp_path)
    new_id = gateway.coordinators["coordinator-a"].info()["coordinatorId"]
    time.sleep(3)
    workload.stop()
    failed = [o for o in workload.outcomes if not o.ok]
    # The first failed request marks the coordinator UNHEALTHY (passive health): detection time.
    first = min((o.ended_at - killed_at for o in failed), default=0.0)
    slowest = max((o.ended_at - killed_at for o in failed), default=0.0)
    figures = report(
        "SIGKILL",
        workload,
        gateway,
        first_failure_after_kill_s=round(first, 3),
        slowest_failure_after_kill_s=round(slowest, 3),
    )
    assert figures["failed_submissions"] == 0, [o for o in failed if o.error_name != "REMOTE_HOST_GONE"]
    for outcome in failed:
        # Only queries that were running on the killed coordinator, each ended within 2 s of the kill...
        assert outcome.query_id.endswith(old_id) and outcome.submitted_at < killed_at, outcome
        assert outcome.ended_at - killed_at < 2.0, outcome
        # ...with a message that says what happened.
        assert "coordinator 'coordinator-a'" in outcome.message and "was lost" in outcome.message, outcome
    assert figures["lost_in_flight"] >= 1, "the kill hit no running query: the test proved nothing"
    # Every other query succeeded, and the restarted coordinator takes queries again.
    assert figures["succeeded"] == figures["submitted"] - figures["lost_in_flight"]
    assert any(o.ok and o.query_id.endswith(new_id) for o in workload.outcomes)


def test_rerunning_a_failed_query_once_makes_a_kill_invisible(start_gateway, tmp_path):
    """dbt's retry: a failed model is run again once. Across a kill, every query ends up done."""
    gateway = start_gateway()
    ready(gateway)
    workload = Workload(gateway.envoy.port, clients=8, rerun_once=True, seed=11).start()
    time.sleep(3)
    kill_and_restart(gateway.envoy, gateway.coordinators, "coordinator-a", tmp_path, down_s=2.0)
    time.sleep(2)
    workload.stop()
    figures = report("SIGKILL with one re-run", workload, gateway)
    assert figures["retried"] >= 1, "no query was lost: the test proved nothing"
    assert figures["queries_finally_failed"] == 0
    assert all(o.ok for o in workload.outcomes if o.rerun)


def test_a_rolling_restart_with_drain_fails_no_query(start_gateway, tmp_path):
    plugin = shipped_plugin()
    gateway = start_gateway(dynamic_plugin=True)
    ready(gateway)
    old_ids = {name: e.info()["coordinatorId"] for name, e in gateway.coordinators.items()}
    workload = Workload(gateway.envoy.port, clients=8, seed=23).start()
    time.sleep(2)
    started = time.monotonic()
    rolling_restart(gateway.envoy, gateway.coordinators, plugin, tmp_path, say=lambda line: print("\n" + line, end=""))
    took = time.monotonic() - started
    time.sleep(2)
    workload.stop()
    figures = report("rolling restart", workload, gateway, restart_took_s=round(took, 1))
    assert figures["failed"] == 0, [o for o in workload.outcomes if not o.ok]
    new_ids = {name: e.info()["coordinatorId"] for name, e in gateway.coordinators.items()}
    assert all(new_ids[n] != old_ids[n] for n in old_ids)
    # Queries ran on both old and both new processes, with no failover needed.
    for coordinator_id in [*old_ids.values(), *new_ids.values()]:
        assert any(o.query_id.endswith(coordinator_id) for o in workload.outcomes), coordinator_id
    assert figures["lost_queries_failed"] == 0 and figures["submissions_resent"] == 0


def test_a_slowly_starting_coordinator_gets_no_query_until_it_is_ready(start_gateway, tmp_path):
    """Restarted under load with a slow start (`--startup-ms`): while it reports
    `starting`, the gateway sends it no query (Trino would fail each one with
    SERVER_STARTING_UP); once it is ready it takes its share again."""
    gateway = start_gateway()
    ready(gateway)
    workload = Workload(gateway.envoy.port, clients=8, seed=31).start()
    time.sleep(2)
    victim = gateway.coordinators["coordinator-b"]
    victim.kill()
    slow = Emulator("coordinator-b", victim.port, tmp_path / "slow-b.log", ["--startup-ms", "3000"]).start()
    gateway.coordinators["coordinator-b"] = slow
    wait_until(lambda: health(gateway.envoy, "coordinator-b") == HEALTH["starting"], 5, what="b starting")
    starting_seen_at = time.monotonic()
    wait_until(lambda: health(gateway.envoy, "coordinator-b") == HEALTH["healthy"], 10, what="b healthy")
    starting_for = time.monotonic() - starting_seen_at
    time.sleep(2)
    workload.stop()
    figures = report("slow start", workload, gateway, starting_for_s=round(starting_for, 1))
    assert not [o for o in workload.outcomes if o.error_name == "SERVER_STARTING_UP"]
    assert figures["failed_submissions"] == 0, [o for o in workload.outcomes if not o.ok]
    new_id = slow.info()["coordinatorId"]
    on_new = [o for o in workload.outcomes if o.query_id and o.query_id.endswith(new_id)]
    assert on_new and all(o.ok for o in on_new), on_new
