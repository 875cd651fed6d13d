"""`fidelo bench rules` at tiny scale: it runs end to end and its last line is the JSON summary.

A smoke test of the harness (the 50 rules created, the engine profiled, one server loaded with
the base and rules organizations in turn, the checks), not a performance test: one second of
each load on SQLite with a few members. Runs in the SQLite pass of scripts/test only.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[4]

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("FIDELO_DATABASE_URL")) or not (REPO_ROOT / "bench" / "rules.py").exists(),
    reason="the bench smoke test runs once, in the SQLite pass, from a source checkout",
)


def test_rules_bench_prints_the_figures_as_json_last(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIDELO_")}
    env["FIDELO_DATA_DIR"] = str(tmp_path / "cli-data")
    command = [
        sys.executable, "-m", "fidelo", "bench", "rules", "--backend", "sqlite", "--duration", "1", "--warmup", "1",
        "--members", "20", "--workers", "1", "--threads", "2", "--concurrency", "2", "--data-dir", str(tmp_path / "bench"),
    ]
    proc = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    sqlite = json.loads(proc.stdout.strip().splitlines()[-1])["sqlite"]
    assert sqlite["rules_per_s"] > 0 and sqlite["base_per_s"] > 0
    assert sqlite["ratio"] == pytest.approx(sqlite["rules_per_s"] / sqlite["base_per_s"], abs=0.01)
    assert len(sqlite["turns"]["base_per_s"]) == len(sqlite["turns"]["rules_per_s"]) == 2
    assert 0 < sqlite["engine_median_ms"] <= sqlite["engine_p99_ms"]
    assert sqlite["awards_per_purchase"] > 0  # the rules do fire on the bench's baskets
    verify = sqlite["verify"]
    assert verify["ok"], verify
    assert verify["bonus_transfers"] > 0
    assert verify["ledger_drifts"] == 0
    assert "fidelo bench rules" in proc.stdout  # the table came first


def test_loads_in_turn_run_in_abba_order(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    from bench.common import in_turn

    assert in_turn(("base", "rules")) == [(0, "base"), (0, "rules"), (1, "rules"), (1, "base")]
    assert [kind for _turn, kind in in_turn(("a", "b"), turns=4)] == ["a", "b", "b", "a", "a", "b", "b", "a"]
