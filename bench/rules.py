"""`fidelo bench rules`: earning rules on the purchase path.

Per backend (SQLite, PostgreSQL): a fresh database with two organizations prepared alike
(a store, an API key, N members with their accounts opened): "base" earns at the base rate
only; "rules" also has 50 active rules of the kinds merchants write (category and SKU
bonuses on lines, weekday and happy-hour promotions, store-only offers, tier multipliers,
basket thresholds, daily caps, first-purchase and frequency conditions, past campaigns).
Then:

1. in process: one purchase of 10 lines evaluated against the 50 rules by the pure engine
   (median and p99 per event), and the whole planning step of the purchase API (the engine
   plus the member facts and the rules' usage read from the database);
2. over HTTP: POST /api/v1/purchases with 10 lines per purchase, the "base" organization then
   the "rules" one, in turn on the same server (forty turns of 1 s each by default, in ABBA
   order: base, rules, rules, base, …: bench.common.in_turn), at the same concurrency; the figure is purchases/s with the rules as a ratio to the base rate only
   (target: at least 0.8). Checked afterwards: purchases in the database = 201 responses
   (+ in flight), and ledger_verify() finds no drift.

The command's last line is one JSON object with the figures. Run as a module, it is the Django
side: `python -m bench.rules prepare --members N`, `verify --org ID`, `profile --org ID`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import statistics
import sys
import time

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
from bench.earn import add_arguments as _earn_arguments

NAME = "rules"
HELP = "the purchase API with 50 active earning rules, as a ratio to the base rate only; the engine's time per event"
TARGET_RATIO = 0.8
LINES = 10
# Eighty turns of 1 s per kind of load (forty in the other comparison benches): the ratio sits
# a few hundredths above its target on SQLite, and a run's standard error is the turns' spread
# over the square root of their number (about 0.02 with forty, 0.015 with eighty; see
# bench.common.ratio_interval), so that a run tells the target met or missed, not the noise.
TURNS = 80


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _earn_arguments(parser)
    add_turn_arguments(parser, turns=TURNS)


def fifty_rules() -> list[dict]:
    """50 rules as merchants write them; on a random 10-line basket (1,000 SKUs, 50 categories,
    50 brands) two to four fire, the others do not."""
    rules: list[dict] = []
    for k in range(1, 11):  # a bonus on one category's lines
        rules.append({"name": f"Catégorie {k} : 2 points par euro", "event": "purchase",
                      "conditions": [{"field": "line.category", "op": "eq", "value": f"cat-{k}"}],
                      "effects": [{"type": "points_per_euro", "points": 2, "per_minor": 100, "on": "lines"}]})
    for k in range(1, 11):  # products of the month
        rules.append({"name": f"Produit SKU-{k}", "event": "purchase",
                      "conditions": [{"field": "line.sku", "op": "in", "value": [f"SKU-{k}", f"SKU-{k + 500}"]}],
                      "effects": [{"type": "fixed_points", "points": 25}]})
    for k, days in enumerate(([6, 7], [3], [1, 2], [5], [4])):
        rules.append({"name": f"Jours {days}", "event": "purchase", "conditions": [{"field": "weekday", "op": "in", "value": days}],
                      "effects": [{"type": "multiplier", "percent": 150 + 10 * k, "on": "basket"}], "priority": k})
    for k in range(1, 6):  # offers of other stores: never the bench's
        rules.append({"name": f"Magasin {k}", "event": "purchase", "conditions": [{"field": "store", "op": "in", "value": [f"other-{k}"]}],
                      "effects": [{"type": "fixed_points", "points": 100}]})
    for k, tier in enumerate(("silver", "gold", "platinum", "vip", "staff")):  # tier offers: the members have none
        rules.append({"name": f"Offre {tier}", "event": "purchase", "conditions": [{"field": "member.tier", "op": "in", "value": [tier]}],
                      "effects": [{"type": "multiplier", "percent": 120 + 10 * k, "on": "basket"}]})
    for k, threshold in enumerate((25000, 30000, 40000, 50000, 60000)):
        rules.append({"name": f"Panier de {threshold // 100} €", "event": "purchase",
                      "conditions": [{"field": "amount", "op": "gte", "value": threshold}], "effects": [{"type": "fixed_points", "points": 10 * (k + 1)}]})
    for k in range(1, 6):  # capped: at most 50 a day per member
        rules.append({"name": f"Marque {k} plafonnée", "event": "purchase",
                      "conditions": [{"field": "line.brand", "op": "eq", "value": f"brand-{k}"}],
                      "effects": [{"type": "points_per_euro", "points": 1, "per_minor": 100, "on": "lines"}], "limits": {"per_member_per_day": 50}})
    rules.append({"name": "Premier achat", "event": "purchase", "conditions": [{"field": "first_purchase", "op": "is", "value": True}],
                  "effects": [{"type": "fixed_points", "points": 50}]})
    rules.append({"name": "10e achat", "event": "purchase", "conditions": [{"field": "event_count", "op": "eq", "value": 10}],
                  "effects": [{"type": "fixed_points", "points": 100}]})
    rules.append({"name": "Happy hour", "event": "purchase", "conditions": [{"field": "time", "op": "between", "value": ["17:00", "19:00"]}],
                  "effects": [{"type": "multiplier", "percent": 200, "on": "basket"}]})
    rules.append({"name": "Soldes d'hiver 2025", "event": "purchase",
                  "conditions": [{"field": "date", "op": "between", "value": ["2025-01-08", "2025-02-04"]}],
                  "effects": [{"type": "multiplier", "percent": 300, "on": "basket"}]})
    rules.append({"name": "Noël 2025", "event": "purchase", "conditions": [{"field": "month", "op": "in", "value": [12]}],
                  "effects": [{"type": "fixed_points", "points": 30}], "ends_at": "2025-12-31T23:59:59+01:00"})
    assert len(rules) == 50
    return rules


def purchase_body(rand, setup: dict, external_id: str, occurred_at: str) -> dict:
    """A purchase of LINES random lines (1,000 SKUs, 50 categories, 50 brands) by a random member of
    `setup`'s organization, drawn from `rand` (the random module, or a seeded random.Random), as
    bench/earn.lua sends them with LINES: the body of POST /api/v1/purchases."""
    lines = [{"sku": f"SKU-{rand.randint(1, 1000)}", "category": f"cat-{rand.randint(1, 50)}", "brand": f"brand-{rand.randint(1, 50)}",
              "quantity": rand.randint(1, 3), "unit_price_cents": rand.randint(100, 2000)} for _ in range(LINES)]
    return {"member": {"id": rand.randint(setup["member_min"], setup["member_max"])}, "store": STORE_CODE, "external_id": external_id,
            "occurred_at": occurred_at, "currency": "EUR", "total_cents": sum(l["quantity"] * l["unit_price_cents"] for l in lines),
            "lines": lines}


# --- orchestration (the parent process) ------------------------------------------------------


def run(options: dict, console) -> dict:
    return run_backends("rules", options, console, _run_backend, _print_table)


def _load(url: str, prefix: str, *, duration: float, options: dict, setup: dict, occurred_at: str) -> Load:
    if options["client"] == "wrk":
        return run_wrk(
            url=url, script=BENCH_DIR / "earn.lua",
            args=[prefix, str(setup["member_min"]), str(setup["member_max"]), occurred_at, setup["token"], STORE_CODE, str(LINES)],
            duration=duration, concurrency=options["concurrency"], threads=options["wrk_threads"],
        )
    import random

    headers_base = {"Content-Type": "application/json", "Authorization": f"Bearer {setup['token']}"}

    def make_request(thread: int, n: int):
        external_id = f"{prefix}-{thread}-{n}"
        body = json.dumps(purchase_body(random, setup, external_id, occurred_at)).encode()
        return "POST", "/api/v1/purchases", {**headers_base, "Idempotency-Key": external_id}, body

    return run_python_client(url=url, make_request=make_request, duration=duration, concurrency=options["concurrency"])


def _run_backend(backend: str, options: dict, console) -> dict:
    with bench_database("rules", backend, options, console) as (root, env, _database):
        setup = django_step("rules", "prepare", env, "--members", str(options["members"]))
        base_setup, rules_setup = setup["base"], setup["rules"]
        profile = django_step("rules", "profile", env, "--org", str(rules_setup["org_id"]))
        load_before = round(os.getloadavg()[0], 2)
        occurred_at = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).isoformat(timespec="seconds")
        suffix = random_suffix()
        console.print(f"  {options['workers']} workers × {options['threads']} threads, {options['concurrency']} connections, "
                      f"{options['turns']} × {options['duration']:g} s each, {LINES} lines per purchase")
        loads: dict[str, list[Load]] = {"base": [], "rules": []}
        responses = {"base": 0, "rules": 0}
        unanswered = {"base": 0, "rules": 0}
        lopsided_loads = {"base": 0, "rules": 0}  # run again: one worker had served them alone (bench.common.balanced_load)
        non_201 = 0
        with Server("fidelo.wsgi:application", env, options["workers"], options["threads"]).start(root) as server:
            for name, org_setup in (("base", base_setup), ("rules", rules_setup)):
                warm = _load(server.url, f"w{name}{suffix}", duration=options["warmup"], options=options, setup=org_setup, occurred_at=occurred_at)
                responses[name] += warm.ok
                unanswered[name] += warm.unanswered
            for turn, name in in_turn(("base", "rules"), options["turns"]):  # so that a noisy neighbour or a drifting machine weighs on both alike
                load, set_aside = balanced_load(server, lambda attempt: _load(  # noqa: B023 (called at once)
                    server.url, f"m{turn}-{attempt}{name}{suffix}", duration=options["duration"], options=options, setup=setup[name],
                    occurred_at=occurred_at))
                loads[name].append(load)
                lopsided_loads[name] += len(set_aside)
                for counted in (load, *set_aside):
                    responses[name] += counted.ok
                    unanswered[name] += counted.unanswered
                    non_201 += counted.other
        checks = {name: django_step("rules", "verify", env, "--org", str(s["org_id"])) for name, s in (("base", base_setup), ("rules", rules_setup))}

        rules_per_s, base_per_s = per_s(loads["rules"]), per_s(loads["base"])
        ratio = rules_per_s / base_per_s if base_per_s else 0.0
        counts_ok = all(responses[n] <= checks[n]["purchases"] <= responses[n] + unanswered[n] for n in responses)
        return {
            "engine_median_ms": profile["engine_median_ms"],
            "engine_p99_ms": profile["engine_p99_ms"],
            "engine_explained_median_ms": profile["engine_explained_median_ms"],
            "engine_explained_p99_ms": profile["engine_explained_p99_ms"],
            "plan_median_ms": profile["plan_median_ms"],
            "plan_p99_ms": profile["plan_p99_ms"],
            "awards_per_purchase": profile["awards_per_purchase"],
            "rules_per_s": round(rules_per_s, 1),
            "rules_p99_ms": round(max(load.p99_ms for load in loads["rules"]), 2),
            "base_per_s": round(base_per_s, 1),
            "base_p99_ms": round(max(load.p99_ms for load in loads["base"]), 2),
            "ratio": round(ratio, 3),
            # How precise that figure is: the turns' noise left in it (bench.common.ratio_interval).
            "ratio_precision": ratio_interval(loads["rules"], loads["base"]),
            "target": {"ratio": TARGET_RATIO, "met": ratio >= TARGET_RATIO},
            "turns": {f"{name}_per_s": [round(load.per_s, 1) for load in runs] for name, runs in loads.items()},  # in the order of in_turn
            "turn_ratios": turn_ratios(loads["rules"], loads["base"]),
            "non_201": non_201,
            "lopsided_loads_run_again": lopsided_loads,
            "verify": {
                "purchases_in_db": {n: checks[n]["purchases"] for n in checks},
                "responses_201": responses,
                "bonus_transfers": checks["rules"]["bonus_transfers"],
                "ledger_drifts": sum(c["drifts"] for c in checks.values()),
                "ok": counts_ok and all(c["drifts"] == 0 for c in checks.values()),
            },
            "client": loads["base"][0].client,
            "duration_s": options["duration"],  # per turn
            "turn_count": options["turns"],
            "concurrency": options["concurrency"],
            "workers": options["workers"],
            "threads": options["threads"],
            "members": options["members"],
            "loadavg_1m_before": load_before,
        }


def _print_table(results: dict, options: dict, console) -> None:
    from rich.table import Table

    table = Table(title=f"fidelo bench rules — 50 rules, {LINES}-line purchases, {options['concurrency']} connections, "
                        f"{options['workers']} workers × {options['threads']} threads, client {options['client']}")
    for column in ("backend", "engine median/p99 ms", "plan median/p99 ms", "base /s", "rules /s", "ratio (95 %)", "target", "checks"):
        table.add_column(column)
    for backend, r in results.items():
        if "skipped" in r:
            table.add_row(backend, "skipped", "", "", "", "", "", r["skipped"][:60])
            continue
        met = "[green]met[/green]" if r["target"]["met"] else "[red]missed[/red]"
        interval = r["ratio_precision"]["interval_95"]
        v = r["verify"]
        table.add_row(
            backend, f"{r['engine_median_ms']:.3f} / {r['engine_p99_ms']:.3f}", f"{r['plan_median_ms']:.2f} / {r['plan_p99_ms']:.2f}",
            f"{r['base_per_s']:,.0f}", f"{r['rules_per_s']:,.0f}", f"{r['ratio']:.2f}" + (f" ({interval[0]:.2f}–{interval[1]:.2f})" if interval else ""), f"≥{TARGET_RATIO}: {met}",
            f"db {v['purchases_in_db']} vs 201 {v['responses_201']}; {v['bonus_transfers']} bonus credits; "
            f"ledger_verify: {'ok' if v['ledger_drifts'] == 0 else str(v['ledger_drifts']) + ' drifts'}",
        )
    console.print(table)


# --- Django steps (a child process, in the target database's environment) ------------------------


def _prepare(members: int) -> dict:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from bench.earn import _prepare as prepare_org
    from fidelo.awards.catalog import rule_catalog
    from fidelo.core.actors import CLI
    from fidelo.rules.services import rule_create
    from fidelo.tenancy.models import Organization
    from fidelo.tenancy.selectors import program_for
    from fidelo.tenancy.services import store_create

    base = prepare_org(members)
    with_rules = prepare_org(members)
    organization = Organization.objects.get(pk=with_rules["org_id"])
    for k in range(1, 6):
        store_create(organization=organization, code=f"other-{k}", name=f"Autre magasin {k}")
    catalog = rule_catalog(program_for(organization.id))
    catalog = dataclasses.replace(catalog, tiers=None)  # tier offers written before the tiers exist
    for definition in fifty_rules():
        rule_create(organization=organization, definition=definition, catalog=catalog, actor=CLI)
    return {"base": base, "rules": with_rules}


def _profile(org_id: int, events: int = 2000, plans: int = 300) -> dict:
    import random

    from fidelo.core.clock import now
    from fidelo.events.earning import purchase_event
    from fidelo.events.services import purchase_plan_with_rules
    from fidelo.members.models import Member
    from fidelo.members.selectors import member_lookup
    from fidelo.purchases.services import LineInput
    from fidelo.rules.engine.evaluate import evaluate
    from fidelo.rules.engine.types import MemberFacts, ProgramTerms
    from fidelo.rules.selectors import active_rules
    from fidelo.tenancy.models import Store
    from fidelo.tenancy.selectors import program_for

    program = program_for(org_id)
    rules = active_rules(program)
    assert len(rules.rules) == 50, len(rules.rules)
    store = Store.objects.get(organization_id=org_id, code=STORE_CODE)
    member_ids = list(Member.objects.filter(organization_id=org_id).values_list("id", flat=True)[:200])
    rng = random.Random(7)

    def basket() -> list[LineInput]:
        return [LineInput(quantity=rng.randint(1, 3), unit_price_minor=rng.randint(100, 2000), sku=f"SKU-{rng.randint(1, 1000)}",
                          category=f"cat-{rng.randint(1, 50)}", brand=f"brand-{rng.randint(1, 50)}") for _ in range(LINES)]

    at = now()
    facts = MemberFacts(enrolled_at=at - dt.timedelta(days=400))
    engine_times, explained_times, awards = [], [], 0
    for _ in range(events):
        lines = basket()
        total = sum(line.amount_minor for line in lines)
        event = purchase_event(occurred_at=at, store_code=STORE_CODE, channel="offline", amount_minor=total, lines=lines)
        terms = ProgramTerms(currency_mode="points", timezone=program.organization.timezone, rounding=program.rounding, base_units=total // 100,
                             base_line_units=tuple(line.amount_minor // 100 for line in lines))
        start = time.perf_counter()
        evaluation = evaluate(event, facts, terms, rules.rules, {}, explain=False)  # as the purchase path does
        engine_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        evaluate(event, facts, terms, rules.rules, {}, explain=True)  # as the simulation does: why each other rule did not fire
        explained_times.append(time.perf_counter() - start)
        awards += len(evaluation.awards)
    plan_times = []
    for n in range(plans):
        lines = basket()
        member = member_lookup(program.organization, member_id=rng.choice(member_ids), lean=True)
        start = time.perf_counter()
        purchase_plan_with_rules(program=program, member=member, store=store, external_id=f"profile-{n}", occurred_at=at,
                                 total_minor=sum(line.amount_minor for line in lines), currency="EUR", lines=lines)
        plan_times.append(time.perf_counter() - start)

    def percentile(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "engine_median_ms": round(statistics.median(engine_times) * 1000, 4), "engine_p99_ms": round(percentile(engine_times, 0.99), 4),
        "engine_explained_median_ms": round(statistics.median(explained_times) * 1000, 4),
        "engine_explained_p99_ms": round(percentile(explained_times, 0.99), 4),
        "plan_median_ms": round(statistics.median(plan_times) * 1000, 3), "plan_p99_ms": round(percentile(plan_times, 0.99), 3),
        "awards_per_purchase": round(awards / events, 2),
    }


def _verify(org_id: int) -> dict:
    from bench.earn import _verify as verify_org
    from fidelo.ledger.models import Transfer

    result = verify_org(org_id)
    result["bonus_transfers"] = Transfer.objects.filter(organization_id=org_id, reason="bonus").count()
    return result


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rules")
    parser.add_argument("step", choices=["prepare", "verify", "profile"])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--org", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidelo.settings")
    import django

    django.setup()
    if args.step == "prepare":
        result = _prepare(args.members)
    elif args.step == "profile":
        result = _profile(args.org)
    else:
        result = _verify(args.org)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
