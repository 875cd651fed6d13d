"""`fidelo bench redeem` at tiny scale: it runs end to end and its last line is the JSON summary.

A smoke test of the harness (one server, the earn and redeem loads twice in turn, the checks), not
a performance test: one second of each load on SQLite with a few members. Runs in the SQLite
pass of scripts/test only.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[4]

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("FIDELO_DATABASE_URL")) or not (REPO_ROOT / "bench" / "redeem.py").exists(),
    reason="the bench smoke test runs once, in the SQLite pass, from a source checkout",
)


def test_redeem_bench_prints_the_figures_as_json_last(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIDELO_")}
    env["FIDELO_DATA_DIR"] = str(tmp_path / "cli-data")
    command = [
        sys.executable, "-m", "fidelo", "bench", "redeem", "--backend", "sqlite", "--duration", "1", "--warmup", "1",
        "--members", "20", "--workers", "1", "--threads", "2", "--concurrency", "2", "--data-dir", str(tmp_path / "bench"),
    ]
    proc = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    sqlite = figures["sqlite"]
    assert {"per_s", "p50_ms", "p99_ms", "earn_per_s", "ratio", "verify"} <= set(sqlite)
    assert sqlite["per_s"] > 0 and sqlite["earn_per_s"] > 0
    assert sqlite["ratio"] == pytest.approx(sqlite["per_s"] / sqlite["earn_per_s"], abs=0.01)
    assert len(sqlite["turns"]["redeem_per_s"]) == len(sqlite["turns"]["earn_per_s"]) == 2
    assert 0 < sqlite["p50_ms"] <= sqlite["p99_ms"]
    verify = sqlite["verify"]
    assert verify["ok"], verify
    assert verify["responses_201"] <= verify["vouchers_in_db"] <= verify["responses_201"] + verify["unanswered_at_stop"]
    assert verify["ledger_drifts"] == 0
    assert "redemptions" in proc.stdout  # the table came first
