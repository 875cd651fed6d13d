"""`fidelo bench instructions`: the CPU instructions of one purchase, base rate only and with the rules.

Timings on a shared machine move by a third from one stretch of seconds to the next; the
instructions a purchase executes do not. This counts them with valgrind's callgrind (Debian:
`apt-get install valgrind`), on SQLite, where the database's work runs in the same process:

1. a fresh database with the two organizations of `fidelo bench rules` (base rate only, and
   the same with its 50 rules), and a history of purchases for their members (not counted), so
   that first-purchase offers fire as rarely as under load;
2. four processes under callgrind, each on its own copy of that database and with the same
   warm-up: N purchases of 10 lines for "base", the same for "rules", then 5 of each. One
   purchase's instructions are the difference over N, which leaves out the start-up and the
   warm-up. In those processes the caches of a few seconds (program, rules, tiers…) are held
   and the periodic WAL checkpoint is off: under valgrind a purchase takes 100 ms, and their
   reloads would land in some runs and not others. The same code gives the same figures
   within 0.5 %.

What it does not see: cache misses, system calls, the time under the write lock. For those,
`fidelo bench rules`. As a module, `python -m bench.instructions history|post` is its Django side.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import gc
import importlib
import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bench.common import REPO_ROOT, base_env, django_step, temp_dir
from bench.earn import SECRET_KEY
from bench.rules import purchase_body

NAME = "instructions"
HELP = "CPU instructions of one purchase under callgrind (SQLite): base rate only, with the 50 rules, and their ratio"
WARMUP = 30  # purchases per organization before counting, in every run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=200, help="purchases counted per organization (default 200)")
    parser.add_argument("--members", type=int, default=1000, help="members per organization (default 1000)")
    parser.add_argument("--history", type=int, default=3000, help="purchases recorded per organization beforehand (default 3000)")


def run(options: dict, console) -> dict:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        console.print("  skipped: valgrind is not installed (Debian: apt-get install valgrind)")
        return {"sqlite": {"skipped": "valgrind is not installed"}}
    root = temp_dir("fidelo-bench-instructions-")
    try:
        data = root / "data"
        env = base_env(FIDELO_DATA_DIR=str(data), FIDELO_SECRET_KEY=SECRET_KEY, FIDELO_DEBUG="0")
        console.print(f"  preparing {options['members']} members per organization, {options['history']} purchases each beforehand…")
        setup = django_step("rules", "prepare", env, "--members", str(options["members"]))
        (root / "setup.json").write_text(json.dumps(setup))
        django_step(NAME, "history", env, "--setup", str(root / "setup.json"), "--count", str(options["history"]), timeout=1800)
        runs = [(org, count) for org in ("base", "rules") for count in (5, 5 + options["count"])]
        console.print(f"  {len(runs)} processes under callgrind, two at a time…")
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            counted = dict(zip(runs, pool.map(lambda run_: _instructions(valgrind, root, env, *run_), runs)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    per = {org: (counted[(org, 5 + options["count"])] - counted[(org, 5)]) / options["count"] for org in ("base", "rules")}
    result = {
        "base_instructions_m": round(per["base"] / 1e6, 3),
        "rules_instructions_m": round(per["rules"] / 1e6, 3),
        "rules_extra_m": round((per["rules"] - per["base"]) / 1e6, 3),
        "ratio": round(per["base"] / per["rules"], 3),
        "count": options["count"],
    }
    console.print(f"  one purchase: base {result['base_instructions_m']} M instructions, with the rules {result['rules_instructions_m']} M "
                  f"(+{result['rules_extra_m']} M): ratio {result['ratio']}")
    return {"sqlite": result}


def _instructions(valgrind: str, root: Path, env: dict, org: str, count: int) -> int:
    """The instructions callgrind counts in one process that posts `count` purchases for `org`, on its own copy of the database."""
    copy = root / f"run-{org}-{count}"
    shutil.copytree(root / "data", copy)
    try:
        proc = subprocess.run(
            [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m", f"bench.{NAME}", "post",
             "--setup", str(root / "setup.json"), "--org", org, "--count", str(count)],
            env={**env, "FIDELO_DATA_DIR": str(copy), "PYTHONHASHSEED": "0"}, cwd=REPO_ROOT, capture_output=True, text=True, timeout=3600,
        )
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run failed ({org}, {count}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return int(found.group(1))


# --- the Django side ------------------------------------------------------------------------


def _purchases(setup: dict, prefix: str):
    """A function that posts one purchase of 10 random lines for an organization (bench.rules.purchase_body) through Django's test client."""
    from django.test import Client

    client = Client()
    rng = random.Random(1)  # the same purchases in every run
    occurred_at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat(timespec="seconds")
    numbers = {"base": 0, "rules": 0}

    def post(org: str) -> None:
        numbers[org] += 1
        external_id = f"{prefix}-{org}-{numbers[org]}"
        body = purchase_body(rng, setup[org], external_id, occurred_at)
        response = client.post("/api/v1/purchases", data=json.dumps(body), content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {setup[org]['token']}", HTTP_IDEMPOTENCY_KEY=external_id)
        if response.status_code != 201:
            raise RuntimeError(f"purchase answered {response.status_code}: {response.content[:500]!r}")

    return post


def _history(setup: dict, count: int) -> dict:
    post = _purchases(setup, "history")
    for _ in range(count):
        post("base")
        post("rules")
    return {"history": count}


def _post(setup: dict, org: str, count: int) -> dict:
    from django.conf import settings

    settings.SQLITE_CHECKPOINT_EVERY = 10**9  # no checkpoint in some runs and not others
    for app in ("tenancy", "rules", "tiers", "referrals", "rewards", "engagement"):  # nor a cache reload
        importlib.import_module(f"fidelo.{app}.selectors").CACHE_SECONDS = 1e9
    post = _purchases(setup, "counted")  # each run has its own copy of the database
    for _ in range(WARMUP):
        post("base")
        post("rules")
    gc.collect()
    gc.freeze()  # the warm-up's objects out of the collector's way, as in a long-running worker
    for _ in range(count):
        post(org)
    return {"posted": count}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions")
    parser.add_argument("step", choices=["history", "post"])
    parser.add_argument("--setup", required=True)
    parser.add_argument("--org", choices=["base", "rules"], default="base")
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args(argv)
    import django

    django.setup()
    setup = json.loads(Path(args.setup).read_text())
    result = _history(setup, args.count) if args.step == "history" else _post(setup, args.org, args.count)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
