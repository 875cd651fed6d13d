"""`fidelo bench redeem` at tiny scale: it runs end to end and its last line is the JSON summary.

A smoke test of the harness (one server, the earn and redeem loads twice in turn, the checks), not
a performance test: one second of each load on SQLite with a few members. Runs in the SQLite
pass of scripts/test only.
"""

import pytest

from fidelo.ops.tests.processes import bench_smoke_only, run_tiny_bench

pytestmark = bench_smoke_only("redeem")


def test_redeem_bench_prints_the_figures_as_json_last(tmp_path):
    sqlite, printed = run_tiny_bench(tmp_path, "redeem", "--turns", "4")
    assert {"per_s", "p50_ms", "p99_ms", "earn_per_s", "ratio", "verify"} <= set(sqlite)
    assert sqlite["per_s"] > 0 and sqlite["earn_per_s"] > 0
    assert sqlite["ratio"] == pytest.approx(sqlite["per_s"] / sqlite["earn_per_s"], abs=0.01)
    assert len(sqlite["turns"]["redeem_per_s"]) == len(sqlite["turns"]["earn_per_s"]) == len(sqlite["turn_ratios"]) == 4
    assert 0 < sqlite["p50_ms"] <= sqlite["p99_ms"]
    verify = sqlite["verify"]
    assert verify["ok"], verify
    assert verify["responses_201"] <= verify["vouchers_in_db"] <= verify["responses_201"] + verify["unanswered_at_stop"]
    assert verify["ledger_drifts"] == 0
    assert "redemptions" in printed  # the table came first
