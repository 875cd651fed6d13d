"""`fidelo bench redeem`: redemptions over HTTP, as a ratio to the earn path in the same run.

Per backend (SQLite, PostgreSQL): a fresh database (migrate; an organization with a store, an
API key and N members enrolled through the services, as `fidelo bench earn` prepares it; each
member credited with plenty of points by a manual adjustment; a reward "voucher_amount" with
unlimited stock and a small cost), then one granian server serving fidelo.wsgi with the flags
of `fidelo serve`, loaded by the same client at the same concurrency for the same duration:

1. earn: POST /api/v1/purchases (bench/earn.lua, exactly as `fidelo bench earn`);
2. redeem: POST /api/v1/members/{id}/redemptions {"reward_id": R, "channel": "api"} with a
   unique Idempotency-Key and a random member (bench/redeem.lua);

after a warm-up of each, in turn (forty turns of 1 s each by default, in ABBA order: earn,
redeem, redeem, earn, …: bench.common.in_turn), so that a machine whose speed drifts during
the run weighs on both alike.

Printed: redemptions per second, p50/p99, purchases per second, the ratio redeem / earn
(target: at least 0.8). Checked afterwards: vouchers in the database = 201 responses (+ the
requests in flight when the client stopped), purchases likewise, and ledger_verify() finds no
drift. The command's last line is one JSON object with the figures.

Run as a module, it is the Django side of the bench: `python -m bench.redeem prepare
--members N`, `python -m bench.redeem verify --org ID`, `python -m bench.redeem profile`
(the statements of one redemption through the API, and the time of many, in one process).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys

from bench.common import (
    BENCH_DIR,
    Load,
    Server,
    add_turn_arguments,
    balanced_load,
    django_step,
    in_turn,
    per_s,
    random_suffix,
    ratio_interval,
    run_python_client,
    run_wrk,
    turn_ratios,
)
from bench.earn import STORE_CODE, bench_database, run_backends
from bench.earn import _load as _earn_load
from bench.earn import add_arguments as _earn_arguments

NAME = "redeem"
HELP = "redemptions over HTTP on SQLite and PostgreSQL, as a ratio to the earn path in the same run"
TARGET_RATIO = 0.8
POINTS_PER_MEMBER = 10_000_000  # far more than any run can spend (cost 10 per redemption)
REWARD_COST = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _earn_arguments(parser)  # the same options, same defaults: same server flags, client, concurrency
    add_turn_arguments(parser)


# --- orchestration (the parent process) ------------------------------------------------------


def run(options: dict, console) -> dict:
    return run_backends("redeem", options, console, _run_backend, _print_table)


def _run_backend(backend: str, options: dict, console) -> dict:
    with bench_database("redeem", backend, options, console) as (root, env, _database):
        setup = django_step("redeem", "prepare", env, "--members", str(options["members"]))
        load_before = round(os.getloadavg()[0], 2)
        occurred_at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat(timespec="seconds")
        suffix = random_suffix()
        earn_common = {"options": options, "setup": setup, "occurred_at": occurred_at}

        console.print(f"  Fidelo: {options['workers']} workers × {options['threads']} threads, {options['concurrency']} connections, "
                      f"earn and redeem in turn (ABBA), {options['turns']} × {options['duration']:g} s each")
        earns: list[Load] = []
        redeems: list[Load] = []
        set_aside: dict[str, list[Load]] = {"earn": [], "redeem": []}  # run again: one worker had served them alone (bench.common.balanced_load)
        with Server("fidelo.wsgi:application", env, options["workers"], options["threads"]).start(root) as server:
            warm = [_earn_load(server.url, f"ew{suffix}", duration=options["warmup"], **earn_common),
                    _redeem_load(server.url, f"rw{suffix}", duration=options["warmup"], options=options, setup=setup)]
            for turn, kind in in_turn(("earn", "redeem"), options["turns"]):  # so that a noisy neighbour or a drifting machine weighs on both alike
                if kind == "earn":
                    load, aside = balanced_load(server, lambda attempt: _earn_load(  # noqa: B023 (called at once)
                        server.url, f"em{turn}-{attempt}{suffix}", duration=options["duration"], **earn_common))
                    earns.append(load)
                    set_aside["earn"].extend(aside)
                else:
                    load, aside = balanced_load(server, lambda attempt: _redeem_load(  # noqa: B023 (called at once)
                        server.url, f"rm{turn}-{attempt}{suffix}", duration=options["duration"], options=options, setup=setup))
                    redeems.append(load)
                    set_aside["redeem"].extend(aside)
        check = django_step("redeem", "verify", env, "--org", str(setup["org_id"]), "--reward", str(setup["reward_id"]))

        earn_loads, redeem_loads = [warm[0], *earns, *set_aside["earn"]], [warm[1], *redeems, *set_aside["redeem"]]
        vouchers_201 = sum(load.ok for load in redeem_loads)
        vouchers_unanswered = sum(load.unanswered for load in redeem_loads)
        purchases_201 = sum(load.ok for load in earn_loads)
        purchases_unanswered = sum(load.unanswered for load in earn_loads)
        # Purchases in flight when an earn load stopped are completed by the server during the next redeem load.
        vouchers_ok = vouchers_201 <= check["vouchers"] <= vouchers_201 + vouchers_unanswered
        purchases_ok = purchases_201 <= check["purchases"] <= purchases_201 + purchases_unanswered
        non_201 = sum(load.other for load in earn_loads + redeem_loads)
        redeem_per_s, earn_per_s = per_s(redeems), per_s(earns)
        ratio = redeem_per_s / earn_per_s if earn_per_s else 0.0
        return {
            "per_s": round(redeem_per_s, 1),
            "p50_ms": round(max(load.p50_ms for load in redeems), 2),  # of the turns, the worst
            "p99_ms": round(max(load.p99_ms for load in redeems), 2),
            "earn_per_s": round(earn_per_s, 1),
            "earn_p50_ms": round(max(load.p50_ms for load in earns), 2),
            "earn_p99_ms": round(max(load.p99_ms for load in earns), 2),
            "turns": {"redeem_per_s": [round(load.per_s, 1) for load in redeems], "earn_per_s": [round(load.per_s, 1) for load in earns]},
            "turn_ratios": turn_ratios(redeems, earns),
            "lopsided_loads_run_again": {kind: len(loads) for kind, loads in set_aside.items()},
            "ratio": round(ratio, 3),
            "ratio_precision": ratio_interval(redeems, earns),  # how precise that figure is (bench.common.ratio_interval)
            "target": {"ratio": TARGET_RATIO, "met": ratio >= TARGET_RATIO},
            "non_201": non_201,
            "socket_errors": sum(load.socket_errors for load in earn_loads + redeem_loads),
            "verify": {
                "vouchers_in_db": check["vouchers"],
                "responses_201": vouchers_201,
                "unanswered_at_stop": vouchers_unanswered,
                "purchases_in_db": check["purchases"],
                "purchase_responses_201": purchases_201,
                "purchases_unanswered_at_stop": purchases_unanswered,
                "counts_ok": vouchers_ok and purchases_ok,
                "points_spent_ok": check["points_spent_ok"],
                "ledger_drifts": check["drifts"],
                "first_drifts": check["first_drifts"],
                "ok": vouchers_ok and purchases_ok and check["points_spent_ok"] and check["drifts"] == 0 and non_201 == 0,
            },
            "client": redeems[0].client,
            "duration_s": round(sum(load.duration_s for load in redeems), 2),
            "turn_count": options["turns"],
            "concurrency": options["concurrency"],
            "workers": options["workers"],
            "threads": options["threads"],
            "members": options["members"],
            "loadavg_1m_before": load_before,  # other work on the machine skews the figures: check it
        }


def _redeem_load(url: str, prefix: str, *, duration: float, options: dict, setup: dict) -> Load:
    if options["client"] == "wrk":
        return run_wrk(
            url=url, script=BENCH_DIR / "redeem.lua",
            args=[prefix, str(setup["member_min"]), str(setup["member_max"]), str(setup["reward_id"]), setup["token"]],
            duration=duration, concurrency=options["concurrency"], threads=options["wrk_threads"],
        )
    import random

    headers_base = {"Content-Type": "application/json", "Authorization": f"Bearer {setup['token']}"}
    body = json.dumps({"reward_id": setup["reward_id"], "channel": "api"}).encode()

    def make_request(thread: int, n: int):
        member = random.randint(setup["member_min"], setup["member_max"])
        return "POST", f"/api/v1/members/{member}/redemptions", {**headers_base, "Idempotency-Key": f"{prefix}-{thread}-{n}"}, body

    return run_python_client(url=url, make_request=make_request, duration=duration, concurrency=options["concurrency"])


def _print_table(results: dict, options: dict, console) -> None:
    from rich.table import Table

    table = Table(title=f"fidelo bench redeem — {options['concurrency']} connections, {options['workers']} workers × "
                        f"{options['threads']} threads, {options['turns']} × {options['duration']:g} s each, client {options['client']}")
    for column in ("backend", "load", "per s", "p50 ms", "p99 ms", "ratio", "target", "checks"):
        table.add_column(column, justify="right" if column not in ("backend", "load", "checks") else "left")
    for backend, r in results.items():
        if "skipped" in r:
            table.add_row(backend, "—", "skipped", "", "", "", "", r["skipped"][:60])
            continue
        v = r["verify"]
        met = "[green]met[/green]" if r["target"]["met"] else "[red]missed[/red]"
        table.add_row(backend, "redemptions", f"{r['per_s']:,.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['ratio']:.2f}",
                      f"≥{r['target']['ratio']}: {met}",
                      f"{v['vouchers_in_db']} vouchers in db / {v['responses_201']} × 201 (+{v['unanswered_at_stop']} in flight)")
        table.add_row("", "purchases (earn)", f"{r['earn_per_s']:,.0f}", f"{r['earn_p50_ms']:.1f}", f"{r['earn_p99_ms']:.1f}", "1.00", "",
                      f"{v['purchases_in_db']} in db / {v['purchase_responses_201']} × 201; ledger_verify: "
                      f"{'ok' if v['ledger_drifts'] == 0 else str(v['ledger_drifts']) + ' drifts'}; non-201: {r['non_201']}")
    console.print(table)


# --- Django steps (a child process, in the target database's environment) ------------------------


def _prepare(members: int) -> dict:
    from bench.earn import _prepare as earn_prepare

    setup = earn_prepare(members)  # migrate; organization, store, API key, members with their accounts

    from django.db import transaction

    from fidelo.core.actors import CLI
    from fidelo.ledger.services import points_adjust
    from fidelo.members.models import Member
    from fidelo.rewards.services import reward_create
    from fidelo.tenancy.models import Organization
    from fidelo.tenancy.selectors import program_for

    org = Organization.objects.get(pk=setup["org_id"])
    program = program_for(org.id)
    with transaction.atomic():
        for member in Member.objects.filter(organization=org).order_by("pk"):
            points_adjust(program=program, member=member, delta=POINTS_PER_MEMBER, note="bench: points to redeem", actor=CLI)
    reward = reward_create(
        organization=org, program=program, actor=CLI, kind="voucher_amount", title_fr="Bon de 5 €", title_en="5 € voucher",
        cost_points=REWARD_COST, amount_minor=500, stock=None,
    )
    return {**setup, "reward_id": reward.id, "points_per_member": POINTS_PER_MEMBER}


def _verify(org_id: int, reward_id: int) -> dict:
    from django.db.models import Sum

    from fidelo.ledger.models import Transfer, TransferKind
    from fidelo.ledger.selectors import ledger_verify
    from fidelo.purchases.models import Purchase
    from fidelo.rewards.models import Voucher

    drifts = ledger_verify(organization_id=org_id)
    vouchers = Voucher.objects.filter(organization_id=org_id, reward_id=reward_id)
    voucher_count = vouchers.count()
    points = vouchers.aggregate(points=Sum("points"))["points"] or 0
    redeemed = Transfer.objects.filter(organization_id=org_id, kind=TransferKind.REDEEM, source_type="reward", source_id=reward_id)
    redeemed_points = redeemed.aggregate(total=Sum("amount"))["total"] or 0
    return {
        "vouchers": voucher_count,
        "purchases": Purchase.objects.filter(organization_id=org_id).count(),
        "redeem_transfers": redeemed.count(),
        # one redeem transfer per voucher, for the voucher's points
        "points_spent_ok": redeemed.count() == voucher_count and redeemed_points == points,
        "drifts": len(drifts),
        "first_drifts": [str(d) for d in drifts[:5]],
    }


def _profile(members: int, count: int) -> dict:
    """One redemption through the API (its statements), then `count` of them in one thread (wall and CPU time).

    Through Django's test client (no HTTP server), on the database the environment points at.
    """
    import random
    import time

    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    setup = _prepare(members)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {setup['token']}")
    body = json.dumps({"reward_id": setup["reward_id"], "channel": "api"})

    def post(n: int):
        member = random.randint(setup["member_min"], setup["member_max"])
        return client.post(f"/api/v1/members/{member}/redemptions", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"p-{n}")

    for n in range(20):  # warm the caches (program, API key, store, system accounts)
        post(-n - 1)
    with CaptureQueriesContext(connection) as queries:
        response = post(0)
    statements = [q["sql"] for q in queries.captured_queries]
    reset_queries()
    started, cpu_started = time.perf_counter(), time.process_time()
    statuses: dict[int, int] = {}
    for n in range(1, count + 1):
        status = post(n).status_code
        statuses[status] = statuses.get(status, 0) + 1
    per_request_ms = (time.perf_counter() - started) * 1000 / count
    cpu_per_request_ms = (time.process_time() - cpu_started) * 1000 / count
    # The earn path through the same client, for the single-thread ratio.
    occurred_at = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat(timespec="seconds")

    def purchase(n: int):
        external_id = f"pp-{n}"
        body = json.dumps({"member": {"id": random.randint(setup["member_min"], setup["member_max"])}, "store": STORE_CODE,
                           "external_id": external_id, "occurred_at": occurred_at, "total_cents": 500 + (n * 37) % 9500, "currency": "EUR"})
        return client.post("/api/v1/purchases", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=external_id)

    for n in range(20):
        purchase(-n - 1)
    started, cpu_started = time.perf_counter(), time.process_time()
    earn_statuses: dict[int, int] = {}
    for n in range(1, count + 1):
        status = purchase(n).status_code
        earn_statuses[status] = earn_statuses.get(status, 0) + 1
    earn_ms = (time.perf_counter() - started) * 1000 / count
    earn_cpu_ms = (time.process_time() - cpu_started) * 1000 / count
    return {"earn_per_request_ms": round(earn_ms, 3), "earn_cpu_per_request_ms": round(earn_cpu_ms, 3), "earn_statuses": earn_statuses,
            "status": response.status_code, "body": response.content.decode()[:500], "statements": statements, "count": len(statements),
            "per_request_ms": round(per_request_ms, 3),
            "cpu_per_request_ms": round(cpu_per_request_ms, 3), "statuses": statuses, "vendor": connection.vendor}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redeem")
    parser.add_argument("step", choices=["prepare", "verify", "profile"])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--org", type=int, default=0)
    parser.add_argument("--reward", type=int, default=0)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidelo.settings")
    import django

    django.setup()
    if args.step == "prepare":
        result = _prepare(args.members)
    elif args.step == "verify":
        result = _verify(args.org, args.reward)
    else:
        result = _profile(args.members, args.count)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
