"""`fidelo bench earn` at tiny scale: it runs end to end and its last line is the JSON summary.

A smoke test of the harness (servers, load client, checks), not a performance test: one
second of load on SQLite with a few members. Run in the SQLite pass of scripts/test only.
"""

from fidelo.ops.tests.processes import bench_smoke_only, run_tiny_bench

pytestmark = bench_smoke_only("earn")


def test_earn_bench_prints_the_figures_as_json_last(tmp_path):
    sqlite, printed = run_tiny_bench(tmp_path, "earn")
    assert {"per_s", "p50_ms", "p99_ms", "raw_per_s", "ratio", "verify"} <= set(sqlite)
    assert sqlite["per_s"] > 0 and sqlite["raw_per_s"] > 0
    assert 0 < sqlite["p50_ms"] <= sqlite["p99_ms"]
    assert sqlite["verify"]["ok"], sqlite["verify"]
    assert sqlite["verify"]["responses_201"] <= sqlite["verify"]["purchases_in_db"]
    assert "purchases/s" in printed  # the table came first
