"""`fidelo bench earn` at tiny scale: it runs end to end and its last line is the JSON summary.

A smoke test of the harness (servers, load client, checks), not a performance test: one
second of load on SQLite with a few members. Run in the SQLite pass of scripts/test only.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[4]

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("FIDELO_DATABASE_URL")) or not (REPO_ROOT / "bench" / "earn.py").exists(),
    reason="the bench smoke test runs once, in the SQLite pass, from a source checkout",
)


def test_earn_bench_prints_the_figures_as_json_last(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIDELO_")}
    env["FIDELO_DATA_DIR"] = str(tmp_path / "cli-data")
    command = [
        sys.executable, "-m", "fidelo", "bench", "earn", "--backend", "sqlite", "--duration", "1", "--warmup", "1",
        "--members", "20", "--workers", "1", "--threads", "2", "--concurrency", "2", "--data-dir", str(tmp_path / "bench"),
    ]
    proc = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    sqlite = figures["sqlite"]
    assert {"per_s", "p50_ms", "p99_ms", "raw_per_s", "ratio", "verify"} <= set(sqlite)
    assert sqlite["per_s"] > 0 and sqlite["raw_per_s"] > 0
    assert 0 < sqlite["p50_ms"] <= sqlite["p99_ms"]
    assert sqlite["verify"]["ok"], sqlite["verify"]
    assert sqlite["verify"]["responses_201"] <= sqlite["verify"]["purchases_in_db"]
    assert "purchases/s" in proc.stdout  # the table came first
