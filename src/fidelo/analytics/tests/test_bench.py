"""`fidelo bench analytics` at tiny scale: it generates, builds the rollups, measures, and its last
line is the JSON summary. A smoke test of the harness, not a performance test (no timed
assertion). Runs in the SQLite pass only, from a source checkout.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[4]

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("FIDELO_DATABASE_URL")) or not (REPO_ROOT / "bench" / "analytics.py").exists(),
    reason="the bench smoke test runs once, in the SQLite pass, from a source checkout",
)


def run(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIDELO_")}
    env["FIDELO_DATA_DIR"] = str(tmp_path / "cli-data")
    command = [
        sys.executable, "-m", "fidelo", "bench", "analytics", "--backend", "sqlite", "--members", "300", "--transfers", "3000",
        "--repeat", "3", "--raw-repeat", "1", "--cache-dir", str(tmp_path / "cache"), *extra,
    ]
    return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)


def test_analytics_bench_prints_the_figures_as_json_last_and_reuses_its_data_set(tmp_path):
    first = run(tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    figures = json.loads(first.stdout.strip().splitlines()[-1])["sqlite"]
    assert (figures["members"], figures["transfers"]) == (300, 3000)
    assert figures["data_set"]["reused"] is False and figures["data_set"]["rollups_build_s"] >= 0
    queries = figures["queries"]
    assert {"leaderboard", "leaderboard with rewards", "leaderboard search", "general_stats", "panel points", "panel rfm"} <= set(queries)
    for name, q in queries.items():
        assert 0 < q["p50_ms"] <= q["p95_ms"], name
    assert queries["leaderboard"]["raw"]["n"] == 1 and queries["leaderboard"]["ratio"] > 0
    assert figures["worst_p95_ms"] == max(q["p95_ms"] for q in queries.values())
    assert "raw/rollup" in first.stdout  # the table came first

    second = run(tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert json.loads(second.stdout.strip().splitlines()[-1])["sqlite"]["data_set"]["reused"] is True
