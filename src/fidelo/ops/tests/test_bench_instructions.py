"""`fidelo bench instructions`: its Django side posts the purchases it counts; without valgrind it says so.

Counting under callgrind takes minutes: not run here (docs/performance.md has its figures).
Runs in the SQLite pass of scripts/test only.
"""

import json
import os

from fidelo.ops.tests.processes import REPO_ROOT, bench_smoke_only, run_django, run_fidelo

pytestmark = bench_smoke_only("instructions")


def test_its_django_side_records_the_history_then_the_counted_purchases(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT))
    from bench.common import base_env, django_step
    from bench.earn import SECRET_KEY

    env = base_env(FIDELO_DATA_DIR=str(tmp_path / "data"), FIDELO_SECRET_KEY=SECRET_KEY, FIDELO_DEBUG="0")
    setup = django_step("rules", "prepare", env, "--members", "10")
    (tmp_path / "setup.json").write_text(json.dumps(setup))
    assert django_step("instructions", "history", env, "--setup", str(tmp_path / "setup.json"), "--count", "3") == {"history": 3}
    assert django_step("instructions", "post", env, "--setup", str(tmp_path / "setup.json"), "--org", "rules", "--count", "2") == {"posted": 2}
    counts = run_django(env, f"""
        from fidelo.purchases.models import Purchase
        result = [Purchase.objects.filter(organization_id={setup["base"]["org_id"]}).count(),
                  Purchase.objects.filter(organization_id={setup["rules"]["org_id"]}).count(),
                  Purchase.objects.filter(organization_id={setup["rules"]["org_id"]}, points_bonus__gt=0).count()]
    """)
    base, rules, with_bonus = counts
    assert (base, rules) == (3 + 30, 3 + 30 + 2)  # history, the warm-up of each run, then the counted ones
    assert with_bonus > 0  # the rules fire on these baskets


def test_without_valgrind_it_is_skipped_with_the_reason(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIDELO_")}
    env["FIDELO_DATA_DIR"] = str(tmp_path / "cli-data")
    env["PATH"] = str(tmp_path)  # no valgrind there
    result = run_fidelo(env, "bench", "instructions", "--count", "1", cwd=tmp_path)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"sqlite": {"skipped": "valgrind is not installed"}}
    assert "apt-get install valgrind" in result.stdout
