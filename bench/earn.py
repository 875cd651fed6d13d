"""`fidelo bench earn`: purchases posted over HTTP, Fidelo against the raw ceiling.

Per backend (SQLite, PostgreSQL): a fresh database (migrate; an organization with a store,
an API key and N members enrolled through the services, their accounts opened), then

1. Fidelo: granian serving fidelo.wsgi with W workers and T threads (as `fidelo serve`),
   warmed up, then loaded for a fixed duration at a fixed concurrency with POST
   /api/v1/purchases, each with a unique external id and Idempotency-Key;
   checked: purchases in the database = 201 responses (+ requests in flight when the
   client stopped), and ledger_verify() finds no drift;
2. raw: bench/raw_wsgi.py, served the same way on the same database, loaded by the same
   client with the same bodies, writing transfer + lot + balance update with driver SQL.

Printed: purchases per second, p50/p99 latency, the ratio Fidelo / raw. The command's last
line is one JSON object with the figures.

Run as a module, it is the Django side of the bench (steps run in the target database's
environment): `python -m bench.earn prepare --members N`, `python -m bench.earn verify --org ID`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import (
    BENCH_DIR,
    Load,
    PostgresCluster,
    Server,
    balanced_load,
    base_env,
    django_step,
    random_suffix,
    run_python_client,
    run_wrk,
    temp_dir,
    wrk_path,
)

NAME = "earn"
HELP = "purchases over HTTP: Fidelo vs a raw WSGI + driver SQL ceiling, on SQLite and PostgreSQL"
TARGETS = {"sqlite": {"ratio": 0.3, "p99_ms": 50.0}, "postgresql": {"ratio": 0.4, "p99_ms": 50.0}}
STORE_CODE = "bench"
SECRET_KEY = "bench-not-secret-" + "x" * 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of measured load per server (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring (default 2)")
    parser.add_argument("--concurrency", type=int, default=8, help="client connections (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="granian worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("FIDELO_WEB_THREADS", "2")),
                        help="granian blocking threads per worker (default: as fidelo serve, 2)")
    parser.add_argument("--members", type=int, default=1000, help="members enrolled before the run (default 1000)")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto",
                        help="load client: wrk (preferred), a Python fallback, or auto (wrk if installed)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1: it leaves the CPU to the server)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the throwaway databases go (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the data folders (and their server logs)")


# --- orchestration (the parent process) ------------------------------------------------------


def run(options: dict, console) -> dict:
    return run_backends("earn", options, console, _run_backend, _print_table)


def run_backends(name: str, options: dict, console, run_backend, print_table) -> dict:
    """Resolve the client, run `run_backend` for each backend asked, print the table; shared by the benches."""
    backends = ["sqlite", "postgresql"] if options["backend"] == "both" else [options["backend"]]
    client = options["client"]
    if client == "auto":
        client = "wrk" if wrk_path() else "python"
    if client == "wrk" and not wrk_path():
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk); or use --client python")
    options = {**options, "client": client}
    results: dict[str, dict] = {}
    for backend in backends:
        console.print(f"[bold]{name}[/bold] on {backend}: preparing…")
        try:
            results[backend] = run_backend(backend, options, console)
        except _Skipped as skipped:
            console.print(f"[yellow]{backend} skipped:[/yellow] {skipped}")
            results[backend] = {"skipped": str(skipped)}
    print_table(results, options, console)
    return results


class _Skipped(Exception):
    pass


def _run_backend(backend: str, options: dict, console) -> dict:
    with bench_database("earn", backend, options, console) as (root, env, database):
        setup = django_step("earn", "prepare", env, "--members", str(options["members"]))
        load_before = round(os.getloadavg()[0], 2)
        occurred_at = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).isoformat(timespec="seconds")
        suffix = random_suffix()
        common = dict(options=options, setup=setup, occurred_at=occurred_at)

        console.print(f"  Fidelo: {options['workers']} workers × {options['threads']} threads, {options['concurrency']} connections, {options['duration']:g} s")
        with Server("fidelo.wsgi:application", env, options["workers"], options["threads"]).start(root) as server:
            warm = _load(server.url, f"fw{suffix}", duration=options["warmup"], **common)
            main, set_aside = balanced_load(server, lambda attempt: _load(server.url, f"fm{attempt}-{suffix}", duration=options["duration"], **common))
        check = django_step("earn", "verify", env, "--org", str(setup["org_id"]))
        written = [warm, main, *set_aside]  # every load's purchases are in the database
        responses_201 = sum(load.ok for load in written)
        unanswered = sum(load.unanswered for load in written)
        counts_ok = responses_201 <= check["purchases"] <= responses_201 + unanswered

        console.print("  raw WSGI + driver SQL, same server flags, same database")
        raw_env = {**env, "RAW_DB": database, "RAW_ORG": str(setup["org_id"]), "RAW_ISSUED": str(setup["issued_id"]), "RAW_TOKEN": setup["token"]}
        with Server("raw_wsgi:app", raw_env, options["workers"], options["threads"], working_dir=BENCH_DIR).start(root) as server:
            _load(server.url, f"rw{suffix}", duration=options["warmup"], **common)
            raw, raw_set_aside = balanced_load(server, lambda attempt: _load(server.url, f"rm{attempt}-{suffix}", duration=options["duration"], **common))
        after_raw = django_step("earn", "verify", env, "--org", str(setup["org_id"]))

        target = TARGETS[backend]
        ratio = main.per_s / raw.per_s if raw.per_s else 0.0
        return {
            "per_s": round(main.per_s, 1),
            "p50_ms": round(main.p50_ms, 2),
            "p99_ms": round(main.p99_ms, 2),
            "raw_per_s": round(raw.per_s, 1),
            "raw_p50_ms": round(raw.p50_ms, 2),
            "raw_p99_ms": round(raw.p99_ms, 2),
            "ratio": round(ratio, 3),
            "target": {**target, "met": ratio >= target["ratio"] and main.p99_ms < target["p99_ms"]},
            "non_201": sum(load.other for load in written),
            "socket_errors": sum(load.socket_errors for load in written),
            "lopsided_loads_run_again": {"fidelo": len(set_aside), "raw": len(raw_set_aside)},
            "raw_non_201": raw.other,
            "verify": {
                "purchases_in_db": check["purchases"],
                "responses_201": responses_201,
                "unanswered_at_stop": unanswered,
                "counts_ok": counts_ok,
                "ledger_drifts": check["drifts"],
                "ledger_drifts_after_raw": after_raw["drifts"],
                "ok": counts_ok and check["drifts"] == 0 and after_raw["drifts"] == 0 and sum(load.other for load in written) == 0,
            },
            "client": main.client,
            "duration_s": round(main.duration_s, 2),
            "concurrency": options["concurrency"],
            "workers": options["workers"],
            "threads": options["threads"],
            "members": options["members"],
            "loadavg_1m_before": load_before,  # other work on the machine skews the figures: check it
        }


@contextmanager
def bench_database(name: str, backend: str, options: dict, console) -> Iterator[tuple[Path, dict, str]]:
    """A fresh data folder and database for one backend run: (folder, environment, database URL); cleaned up after."""
    root = temp_dir(f"fidelo-bench-{name}-{backend}-") if options["data_dir"] is None else _fresh(options["data_dir"] / f"{name}-{backend}")
    cluster = None
    dropper = None
    try:
        env = base_env(FIDELO_DATA_DIR=str(root / "data"), FIDELO_SECRET_KEY=SECRET_KEY, FIDELO_DEBUG="0")
        if backend == "sqlite":
            database = f"sqlite://{root / 'data' / 'fidelo.sqlite3'}"
        else:
            url = os.environ.get("FIDELO_BENCH_POSTGRES_URL", "")
            if url:
                url, dropper = _fresh_database(url)
            else:
                try:
                    cluster = PostgresCluster(root / "pg").start()
                except RuntimeError as exc:
                    raise _Skipped(str(exc)) from exc
                url = cluster.url
            env["FIDELO_DATABASE_URL"] = url
            database = url
        yield root, env, database
    finally:
        if cluster is not None:
            cluster.stop()
        if dropper is not None:
            dropper()
        if not options["keep"]:
            shutil.rmtree(root, ignore_errors=True)
        else:
            console.print(f"  kept: {root}")


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _fresh_database(url: str):
    """A new database on the server of FIDELO_BENCH_POSTGRES_URL (dropped afterwards), else that one as is."""
    import psycopg
    from psycopg import sql

    name = f"fidelo_bench_{random_suffix()}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error:
        return url, None
    head, _, tail = url.rpartition("/")
    query = ("?" + tail.split("?", 1)[1]) if "?" in tail else ""

    def drop() -> None:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        except psycopg.Error:
            pass

    return f"{head}/{name}{query}", drop


def _load(url: str, prefix: str, *, duration: float, options: dict, setup: dict, occurred_at: str) -> Load:
    if options["client"] == "wrk":
        return run_wrk(
            url=url, script=BENCH_DIR / "earn.lua",
            args=[prefix, str(setup["member_min"]), str(setup["member_max"]), occurred_at, setup["token"], STORE_CODE],
            duration=duration, concurrency=options["concurrency"], threads=options["wrk_threads"],
        )
    import random

    headers_base = {"Content-Type": "application/json", "Authorization": f"Bearer {setup['token']}"}

    def make_request(thread: int, n: int):
        external_id = f"{prefix}-{thread}-{n}"
        body = json.dumps({"member": {"id": random.randint(setup["member_min"], setup["member_max"])}, "store": STORE_CODE,
                           "external_id": external_id, "occurred_at": occurred_at, "total_cents": 500 + (n * 37) % 9500,
                           "currency": "EUR"}).encode()
        return "POST", "/api/v1/purchases", {**headers_base, "Idempotency-Key": external_id}, body

    return run_python_client(url=url, make_request=make_request, duration=duration, concurrency=options["concurrency"])


def _print_table(results: dict, options: dict, console) -> None:
    from rich.table import Table

    table = Table(title=f"fidelo bench earn — {options['concurrency']} connections, {options['workers']} workers × "
                        f"{options['threads']} threads, {options['duration']:g} s, client {options['client']}")
    for column in ("backend", "server", "purchases/s", "p50 ms", "p99 ms", "ratio", "target", "checks"):
        table.add_column(column, justify="right" if column not in ("backend", "server", "checks") else "left")
    for backend, r in results.items():
        if "skipped" in r:
            table.add_row(backend, "—", "skipped", "", "", "", "", r["skipped"][:60])
            continue
        v = r["verify"]
        checks = (f"{v['purchases_in_db']} in db / {v['responses_201']} × 201 (+{v['unanswered_at_stop']} in flight); "
                  f"ledger_verify: {'ok' if v['ledger_drifts'] == 0 else str(v['ledger_drifts']) + ' drifts'}")
        met = "[green]met[/green]" if r["target"]["met"] else "[red]missed[/red]"
        table.add_row(backend, "Fidelo", f"{r['per_s']:,.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['ratio']:.2f}",
                      f"≥{r['target']['ratio']} & p99<{r['target']['p99_ms']:g}: {met}", checks)
        table.add_row("", "raw", f"{r['raw_per_s']:,.0f}", f"{r['raw_p50_ms']:.1f}", f"{r['raw_p99_ms']:.1f}", "1.00", "",
                      f"ledger_verify after raw: {'ok' if v['ledger_drifts_after_raw'] == 0 else 'drift'}")
    console.print(table)


# --- Django steps (a child process, in the target database's environment) ------------------------


def _prepare(members: int) -> dict:
    from django.core.management import call_command
    from django.db import transaction

    call_command("migrate", interactive=False, verbosity=0)
    from fidelo.core.actors import CLI
    from fidelo.ledger.models import AccountKind
    from fidelo.ledger.services import member_accounts_ensure, program_unit, system_account_id
    from fidelo.members.services import member_enroll
    from fidelo.tenancy.selectors import program_for
    from fidelo.tenancy.services import api_key_create, organization_create, store_create

    slug = f"bench-{random_suffix()}"
    org = organization_create(name="Bench", slug=slug)  # points, 1 per euro, available at once, no expiry
    store_create(organization=org, code=STORE_CODE, name="Bench store", city="Paris")
    token = api_key_create(organization=org, name="bench", actor=CLI).token
    unit = program_unit(program_for(org.id))
    ids = []
    with transaction.atomic():
        for n in range(members):
            member = member_enroll(organization=org, actor=CLI, first_name="Membre", last_name=f"N{n}", email=f"m{n}@{slug}.example")
            member_accounts_ensure(member, unit)
            ids.append(member.id)
        issued = system_account_id(org.id, AccountKind.ISSUED, unit)
    if ids != list(range(ids[0], ids[0] + len(ids))):
        raise RuntimeError("member ids are not contiguous")
    return {"org_id": org.id, "token": token, "issued_id": issued, "member_min": ids[0], "member_max": ids[-1], "unit": unit}


def _verify(org_id: int) -> dict:
    from fidelo.ledger.models import Transfer
    from fidelo.ledger.selectors import ledger_verify
    from fidelo.purchases.models import Purchase

    drifts = ledger_verify(organization_id=org_id)
    return {
        "purchases": Purchase.objects.filter(organization_id=org_id).count(),
        "transfers": Transfer.objects.filter(organization_id=org_id).count(),
        "drifts": len(drifts),
        "first_drifts": [str(d) for d in drifts[:5]],
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.earn")
    parser.add_argument("step", choices=["prepare", "verify"])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--org", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidelo.settings")
    import django

    django.setup()
    result = _prepare(args.members) if args.step == "prepare" else _verify(args.org)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
