"""`fidelo bench rules` at tiny scale: it runs end to end and its last line is the JSON summary.

A smoke test of the harness (the 50 rules created, the engine profiled, one server loaded with
the base and rules organizations in turn, the checks), not a performance test: one second of
each load on SQLite with a few members. Runs in the SQLite pass of scripts/test only.
"""

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
    for odd in ("3", "0", "-2"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--turns", odd])
