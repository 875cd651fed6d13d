"""`fidelo bench rules` at tiny scale: it runs end to end and its last line is the JSON summary.

A smoke test of the harness (the 50 rules created, the engine profiled, one server loaded with
the base and rules organizations in turn, the checks), not a performance test: one second of
each load on SQLite with a few members. Runs in the SQLite pass of scripts/test only.
"""

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from fidelo.ops.tests.processes import REPO_ROOT, bench_smoke_only, run_tiny_bench

pytestmark = bench_smoke_only("rules")


def test_rules_bench_prints_the_figures_as_json_last(tmp_path):
    sqlite, printed = run_tiny_bench(tmp_path, "rules", "--turns", "4", timeout=180)
    assert sqlite["rules_per_s"] > 0 and sqlite["base_per_s"] > 0
    assert sqlite["ratio"] == pytest.approx(sqlite["rules_per_s"] / sqlite["base_per_s"], abs=0.01)
    assert len(sqlite["turns"]["base_per_s"]) == len(sqlite["turns"]["rules_per_s"]) == len(sqlite["turn_ratios"]) == 4
    assert sqlite["turn_ratios"][0] == pytest.approx(sqlite["turns"]["rules_per_s"][0] / sqlite["turns"]["base_per_s"][0], abs=0.01)
    assert 0 < sqlite["engine_median_ms"] <= sqlite["engine_p99_ms"]
    assert sqlite["awards_per_purchase"] > 0  # the rules do fire on the bench's baskets
    assert set(sqlite["lopsided_loads_run_again"]) == {"base", "rules"}
    low, high = sqlite["ratio_precision"]["interval_95"]
    assert low <= sqlite["ratio"] <= high and sqlite["ratio_precision"]["standard_error"] >= 0
    verify = sqlite["verify"]
    assert verify["ok"], verify
    assert verify["bonus_transfers"] > 0
    assert verify["ledger_drifts"] == 0
    assert "fidelo bench rules" in printed  # the table came first


def test_loads_in_turn_run_in_abba_order(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    from bench.common import in_turn

    assert in_turn(("base", "rules")) == [(0, "base"), (0, "rules"), (1, "rules"), (1, "base")]
    assert [kind for _turn, kind in in_turn(("a", "b"), turns=4)] == ["a", "b", "b", "a", "a", "b", "b", "a"]


def test_a_ratio_s_precision_comes_from_its_turns_pairs_of_neighbours(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    from bench.common import Load, ratio_interval

    def loads(*per_s):
        return [Load(client="wrk", duration_s=1.0, sent=n, ok=n, other=0, socket_errors=0, p50_ms=1, p99_ms=2, max_ms=3) for n in per_s]

    # A machine whose speed moves both loads of a pair alike: the ratio is exact, whatever the noise.
    steady = ratio_interval(loads(80, 160, 40, 120), loads(100, 200, 50, 150))
    assert steady == {"standard_error": 0.0, "interval_95": [0.8, 0.8]}
    # Pairs whose ratios spread: the error is their spread over the square root of the pairs.
    noisy = ratio_interval(loads(90, 70, 90, 70), loads(100, 100, 100, 100))
    assert noisy["standard_error"] == pytest.approx(((2 * 10**2 + 2 * 10**2) / 3 / 4) ** 0.5 / 100, abs=1e-4)
    assert noisy["interval_95"][0] < 0.8 < noisy["interval_95"][1]
    # Twice the turns with the same spread: the interval shrinks by about √2.
    longer = ratio_interval(loads(*[90, 70] * 4), loads(*[100] * 8))
    assert longer["standard_error"] < noisy["standard_error"] / 1.3
    assert ratio_interval(loads(90), loads(100)) == {"standard_error": None, "interval_95": None}  # one pair: no spread to read


def test_turns_are_an_even_number_and_turns_are_short_by_default(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    import argparse

    from bench.common import TURN_SECONDS, TURNS, add_turn_arguments

    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10.0)
    add_turn_arguments(parser)
    options = parser.parse_args([])
    assert (options.turns, options.duration) == (TURNS, TURN_SECONDS)
    assert parser.parse_args(["--turns", "2"]).turns == 2
    from bench import rules

    rules_parser = argparse.ArgumentParser()
    rules.add_arguments(rules_parser)
    assert (rules_parser.parse_args([]).turns, rules_parser.parse_args([]).duration) == (rules.TURNS, TURN_SECONDS) == (80, 1.0)
    for odd in ("3", "0", "-2"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--turns", odd])


def test_a_load_one_worker_served_alone_is_seen_in_the_workers_cpu_and_run_again(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    import bench.common as common

    assert common.lopsided({1: 10.0, 2: 10.0}, {1: 14.0, 2: 13.5}) is False  # both worked
    assert common.lopsided({1: 10.0, 2: 10.0}, {1: 14.0, 2: 10.1}) is True  # one waited for a connection
    assert common.lopsided({1: 10.0}, {1: 14.0}) is False  # one worker: nothing to compare
    assert common.lopsided({1: 10.0, 2: 10.0}, {1: 10.0, 2: 10.0}) is False  # nothing ran (no /proc tick yet)
    assert common.lopsided({1: 10.0}, {1: 14.0, 3: 0.0}) is False  # a worker started meanwhile is not compared

    # The workers' CPU before and after each attempt: the first two loads went to worker 1 alone.
    readings = iter([{1: 0, 2: 0}, {1: 4, 2: 0}, {1: 4, 2: 0}, {1: 8, 2: 0.1}, {1: 8, 2: 0.1}, {1: 10, 2: 2.1}])
    monkeypatch.setattr(common, "worker_cpu_seconds", lambda server: next(readings))
    attempts = []

    def run(attempt: int) -> str:
        attempts.append(attempt)
        return f"load {attempt}"

    assert common.balanced_load(None, run) == ("load 2", ["load 0", "load 1"])
    assert attempts == [0, 1, 2]  # each attempt told apart (its purchases' ids)

    # Always lopsided: after BALANCE_ATTEMPTS, the last load counts whatever it is.
    always = itertools.cycle([{1: 0, 2: 0}, {1: 4, 2: 0}])
    monkeypatch.setattr(common, "worker_cpu_seconds", lambda server: next(always))
    attempts.clear()
    load, set_aside = common.balanced_load(None, run)
    assert attempts == list(range(common.BALANCE_ATTEMPTS))
    assert load == f"load {common.BALANCE_ATTEMPTS - 1}" and len(set_aside) == common.BALANCE_ATTEMPTS - 1


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_the_workers_cpu_is_read_for_each_child_of_the_servers_main_process(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    from bench.common import Server, lopsided, worker_cpu_seconds

    # A main process with two children, as granian's: one works, one sleeps. Each says when it
    # has started (Python's own start-up is CPU time too), then the main process gives their pids.
    busy = "import time\nprint('started', flush=True)\nend = time.time() + 30\nwhile time.time() < end:\n    pass\n"
    idle = "import time\nprint('started', flush=True)\ntime.sleep(30)\n"
    parent = textwrap.dedent(f"""
        import subprocess, sys, time
        children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for code in ({busy!r}, {idle!r})]
        for child in children:
            child.stdout.readline()
        print(*(child.pid for child in children), flush=True)
        time.sleep(30)
    """)
    main = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        busy_pid, idle_pid = map(int, main.stdout.readline().split())
        server = Server("unused", {}, 2, 1, proc=main)
        before = worker_cpu_seconds(server)
        time.sleep(1.0)
        after = worker_cpu_seconds(server)
        assert set(after) == {busy_pid, idle_pid}
        assert after[busy_pid] - before[busy_pid] > 0.3 and after[idle_pid] - before[idle_pid] < 0.05
        assert lopsided(before, after)
    finally:
        os.killpg(main.pid, signal.SIGKILL)
        main.wait(timeout=10)
