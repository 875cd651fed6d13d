"""`fidelo bench analytics`: the leaderboard and the dashboard on a big program, rollups vs raw scans.

Per backend (SQLite, PostgreSQL), a program of N members (default 1,000,000) with M ledger
transfers (default 20,000,000) over a year is generated once and kept in a cache folder
(`<data dir>/bench-cache/analytics/`, or --cache-dir), keyed by its size; later runs reuse it.
Generation is bulk (PostgreSQL COPY, SQLite executemany in big transactions), not through the
services: members and their accounts, purchases (one per earn transfer), visits, vouchers (one
per redemption), offer events, and the transfers (earn 70 %, redeem 10 %, expire 8 %, adjust
6 %, reverse 6 %) with cached balances equal to each member's flows. Then the rollups are
built (analytics.services.rollups_rebuild), once.

Measured, in one process per backend (server time, no HTTP): each leaderboard query (every
filter, a sort, a deep page, search) and each dashboard panel (last 30 days, all stores; a
few with one store), R times each: p50 and p95; next to it the same figure computed on the raw
tables (fewer repetitions: they take seconds at full size) and the ratio raw / rollup. The
target: every leaderboard query and dashboard panel under 100 ms p95.

Run as a module, it is the Django side: `python -m bench.analytics generate --members N
--transfers M` and `python -m bench.analytics measure --repeat R --raw-repeat K`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from bench.common import PostgresCluster, base_env, django_step, percentile

NAME = "analytics"
HELP = "leaderboard and dashboard on a generated big program: rollups vs raw scans, p50/p95, SQLite and PostgreSQL"
TARGET_P95_MS = 100.0
SECRET_KEY = "bench-not-secret-" + "x" * 40
SLUG = "bench-analytics"
GENERATION_HOURS = 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--members", type=int, default=1_000_000, help="members of the generated program (default 1,000,000)")
    parser.add_argument("--transfers", type=int, default=20_000_000, help="ledger transfers (default 20,000,000)")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs of each rollup query (default 30)")
    parser.add_argument("--raw-repeat", type=int, default=3, help="timed runs of each raw query (default 3; 0: skip the raw side)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="where the generated databases are kept (default: <data dir>/bench-cache/analytics)")
    parser.add_argument("--regenerate", action="store_true", help="generate the data set again even if the cache has it")


# --- orchestration (the parent process) ------------------------------------------------------


def _cache_dir(options: dict) -> Path:
    if options.get("cache_dir"):
        return Path(options["cache_dir"]).resolve()
    from django.conf import settings

    return Path(settings.DATA_DIR) / "bench-cache" / "analytics"


def run(options: dict, console) -> dict:
    backends = ["sqlite", "postgresql"] if options["backend"] == "both" else [options["backend"]]
    results: dict[str, dict] = {}
    for backend in backends:
        console.print(f"[bold]analytics[/bold] on {backend}: {options['members']:,} members, {options['transfers']:,} transfers")
        try:
            results[backend] = _run_backend(backend, options, console)
        except _Skipped as skipped:
            console.print(f"[yellow]{backend} skipped:[/yellow] {skipped}")
            results[backend] = {"skipped": str(skipped)}
    _print_table(results, console)
    return results


class _Skipped(Exception):
    pass


class _ReusableCluster(PostgresCluster):
    """A PostgreSQL cluster kept in the cache folder: created once, started again on later runs."""

    def start(self) -> _ReusableCluster:
        if not (self.data / "PG_VERSION").exists():
            super().start()  # initdb, createdb
            self.stop()
        # Durable (fsync on); bigger WAL between checkpoints for the bulk load, memory for sorts and index builds.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=100 -c shared_buffers=256MB "
            "-c work_mem=64MB -c maintenance_work_mem=512MB -c max_wal_size=8GB -c checkpoint_timeout=30min"
        )
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-o", options, "start")
        return self


def _run_backend(backend: str, options: dict, console) -> dict:
    size = f"{options['members']}m-{options['transfers']}t"
    root = _cache_dir(options) / f"{backend}-{size}"
    if options["regenerate"] and root.exists():
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    env = base_env(FIDELO_DATA_DIR=str(root / "data"), FIDELO_SECRET_KEY=SECRET_KEY, FIDELO_DEBUG="0")
    cluster = None
    try:
        if backend == "postgresql":
            url = os.environ.get("FIDELO_BENCH_POSTGRES_URL", "")
            if not url:
                try:
                    cluster = _ReusableCluster(root / "pg").start()
                except RuntimeError as exc:
                    raise _Skipped(str(exc)) from exc
                url = cluster.url
            env["FIDELO_DATABASE_URL"] = url
        started = time.monotonic()
        generated = _step("generate", env, console, "--members", str(options["members"]), "--transfers", str(options["transfers"]))
        console.print(f"  data set: {'reused' if generated['reused'] else 'generated in %.0f s' % (time.monotonic() - started)} ({root})")
        figures = django_step(
            "analytics", "measure", env, "--repeat", str(options["repeat"]), "--raw-repeat", str(options["raw_repeat"]), timeout=GENERATION_HOURS * 3600
        )
        figures["data_set"] = generated
        figures["loadavg_1m"] = round(os.getloadavg()[0], 2)
        return figures
    finally:
        if cluster is not None:
            cluster.stop()


def _step(step: str, env: dict, console, *args: str) -> dict:
    """A Django step whose progress lines (stderr) are shown as they come; its last stdout line is JSON."""
    from bench.common import REPO_ROOT

    proc = subprocess.Popen([sys.executable, "-m", "bench.analytics", step, *args], env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if line.startswith("PROGRESS "):
            console.print("  " + line[len("PROGRESS "):].rstrip())
        elif line.strip():
            console.print("  [dim]" + line.rstrip()[:300] + "[/dim]")
    out = proc.stdout.read()
    if proc.wait(timeout=GENERATION_HOURS * 3600) != 0:
        raise RuntimeError(f"bench.analytics {step} failed:\n{out[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def _print_table(results: dict, console) -> None:
    from rich.table import Table

    for backend, r in results.items():
        if "skipped" in r:
            continue
        table = Table(title=f"fidelo bench analytics — {backend}, {r['members']:,} members, {r['transfers']:,} transfers (ms)")
        for column in ("query", "p50", "p95", "raw p50", "raw p95", "raw/rollup", "< 100 ms p95"):
            table.add_column(column, justify="left" if column == "query" else "right")
        for name, q in r["queries"].items():
            raw = q.get("raw")
            met = "[green]yes[/green]" if q["p95_ms"] < TARGET_P95_MS else "[red]no[/red]"
            table.add_row(name, f"{q['p50_ms']:.1f}", f"{q['p95_ms']:.1f}", f"{raw['p50_ms']:.0f}" if raw else "—",
                          f"{raw['p95_ms']:.0f}" if raw else "—", f"{q['ratio']:.0f}×" if q.get("ratio") else "—", met)
        console.print(table)
        console.print(f"  target met (every p95 < {TARGET_P95_MS:g} ms): {r['target_met']}")


# --- Django steps (a child process, in the target database's environment) ------------------------


def _progress(message: str) -> None:
    print("PROGRESS " + message, file=sys.stderr, flush=True)


def _generate(members: int, transfers: int) -> dict:
    """The data set (unless the cache has it), then its rollups (unless built); a marker file
    records a finished data set, so a failed rollup build is run again without regenerating."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    from fidelo.analytics.models import RollupState
    from fidelo.tenancy.models import Organization

    applied = MigrationRecorder(connection).migration_qs.count() if MigrationRecorder(connection).has_table() else 0
    call_command("migrate", interactive=False, verbosity=0)
    marker = Path(settings.DATA_DIR) / "bench-data-set.json"
    existing = Organization.objects.filter(slug=SLUG).first()
    if existing is not None and RollupState.objects.filter(organization=existing).exists():
        if MigrationRecorder(connection).migration_qs.count() != applied:  # new indexes: the planner needs their statistics
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        return {"reused": True, "organization_id": existing.id, "members": members, "transfers": transfers}
    if existing is None:
        result = _Generator(members, transfers, connection).run()
        marker.write_text(json.dumps(result))
    elif marker.exists():
        result = json.loads(marker.read_text())
        _progress(f"data set generated before ({result['generate_s']:.0f} s); building its rollups")
    else:
        raise RuntimeError("A half-generated data set is in the cache: run again with --regenerate")
    result["rollups_build_s"] = _build_rollups(result["organization_id"], members)
    return {"reused": False, **result}


class _Generator:
    """Bulk rows, written with the driver: COPY on PostgreSQL, executemany on SQLite.

    Made for speed (20M transfers): the secondary indexes of the loaded tables (and on
    PostgreSQL their foreign keys) are dropped before the load and created again after it,
    from their own definitions read in the database catalog (so they are exactly what the
    migrations made); times are integer seconds formatted from two lookup tables; on SQLite
    the journal is kept in memory and not synced during the load (WAL again afterwards).
    """

    def __init__(self, members: int, transfers: int, connection):
        self.n_members, self.n_transfers, self.connection = members, transfers, connection
        self.pg = connection.vendor == "postgresql"
        self.rng = random.Random(2026)
        self.end = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.start = self.end - dt.timedelta(days=365)
        # Moments are integer seconds after `base`, a UTC midnight before the earliest enrollment.
        self.base = dt.datetime.combine((self.start - dt.timedelta(days=366)).date(), dt.time(), tzinfo=dt.UTC)
        self.s_start = int((self.start - self.base).total_seconds())
        self.s_end = int((self.end - self.base).total_seconds())
        self._days = [(self.base + dt.timedelta(days=d)).strftime("%Y-%m-%d ") for d in range((self.end - self.base).days + 2)]
        suffix = "+00" if self.pg else ""
        self._clock = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{suffix}" for s in range(86400)]

    def stamp(self, seconds: int) -> str:
        return self._days[seconds // 86400] + self._clock[seconds % 86400]

    def moment(self) -> int:
        return self.s_start + int(self.rng.random() * (365 * 86400))

    def insert(self, model, columns: list[str], rows) -> int:
        table = model._meta.db_table
        count = 0
        with self.connection.cursor() as cursor:
            if self.pg:
                raw = cursor.cursor  # the psycopg cursor
                with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    write = copy.write_row
                    for row in rows:
                        write(row)
                        count += 1
            else:
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                batch = []
                for row in rows:
                    batch.append(row)
                    if len(batch) >= 100_000:
                        cursor.executemany(sql, batch)
                        count += len(batch)
                        batch = []
                if batch:
                    cursor.executemany(sql, batch)
                    count += len(batch)
        return count

    def next_id(self, model) -> int:
        from django.db.models import Max

        return (model.objects.aggregate(top=Max("id"))["top"] or 0) + 1

    def fix_sequence(self, model) -> None:
        if self.pg:
            table = model._meta.db_table
            with self.connection.cursor() as cursor:
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))")

    # --- the load's settings, and the indexes dropped for its duration ---

    def load_settings(self, loading: bool) -> None:
        with self.connection.cursor() as cursor:
            if self.pg:
                cursor.execute("SET synchronous_commit = off" if loading else "RESET synchronous_commit")
                cursor.execute("SET maintenance_work_mem = '1GB'" if loading else "RESET maintenance_work_mem")
            elif loading:
                cursor.execute("PRAGMA journal_mode=MEMORY")
                cursor.execute("PRAGMA synchronous=OFF")
                cursor.execute("PRAGMA cache_size=-1048576")  # 1 GiB, for this connection only
            else:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")

    def drop_secondary_indexes(self, models) -> list[str]:
        """Drop the tables' indexes other than their primary key and unique constraints (and on
        PostgreSQL their foreign keys); returns the statements that create them again, taken
        from the database's own definitions."""
        qn = self.connection.ops.quote_name
        indexes, foreign_keys = [], []
        with self.connection.cursor() as cursor:
            for model in models:
                table = model._meta.db_table
                if self.pg:
                    cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'", [table])
                    for name, definition in cursor.fetchall():
                        cursor.execute(f"ALTER TABLE {qn(table)} DROP CONSTRAINT {qn(name)}")
                        foreign_keys.append(f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(name)} {definition}")
                    cursor.execute(
                        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
                        "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary "
                        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)", [table])
                else:
                    cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL", [table])
                for name, definition in cursor.fetchall():
                    cursor.execute(f"DROP INDEX {qn(name)}")
                    indexes.append(definition)
        return indexes + foreign_keys

    def restore(self, statements: list[str]) -> None:
        with self.connection.cursor() as cursor:
            for statement in statements:
                started = time.monotonic()
                cursor.execute(statement)
                _progress(f"  {statement[:90]}… ({time.monotonic() - started:.0f} s)")

    def run(self) -> dict:
        from django.db import transaction

        from fidelo.core.actors import CLI
        from fidelo.ledger.models import Account, AccountKind, Transfer
        from fidelo.ledger.services import system_account_id
        from fidelo.members.models import Member
        from fidelo.purchases.models import Purchase, Visit
        from fidelo.referrals.models import Referral
        from fidelo.rewards.models import OfferEvent, Voucher
        from fidelo.rewards.services import reward_create
        from fidelo.tenancy.selectors import program_for
        from fidelo.tenancy.services import organization_create, store_create

        t0 = time.monotonic()
        rng = self.rng
        org = organization_create(name="Bench analytics", slug=SLUG)
        stores = [store_create(organization=org, code=f"s{i}", name=f"Magasin {i}", city="Paris").id for i in range(4)]
        program = program_for(org.id)
        rewards = [
            reward_create(organization=org, program=program, actor=CLI, kind="free_product", title_fr=f"Récompense {i}", cost_points=cost).id
            for i, cost in enumerate((50, 100, 200, 400, 800))
        ]
        system = {kind: system_account_id(org.id, kind, "PTS") for kind in (AccountKind.ISSUED, AccountKind.REDEEMED, AccountKind.EXPIRED, AccountKind.ADJUSTMENTS)}
        first_names = ["Anne", "Bruno", "Chloé", "David", "Emma", "Farid", "Gaëlle", "Hugo", "Inès", "Jules", "Karim", "Léa", "Manon", "Nathan", "Océane", "Paul"]
        last_names = ["Dupont", "Martin", "Bernard", "Petit", "Durand", "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Roux", "Fournier"]
        loaded = (Member, Account, Transfer, Purchase, Voucher, Visit, OfferEvent, Referral)
        self.load_settings(True)
        restore = self.drop_secondary_indexes(loaded)
        _progress(f"{len(restore)} indexes and foreign keys dropped for the load")
        stamp, random_ = self.stamp, rng.random

        # Members and their available accounts.
        member0 = self.next_id(Member)
        n = self.n_members
        enrolled = sorted(self.moment() - int(random_() * 365) * 86400 for _ in range(n))
        tiers = ["", "", "", "silver", "gold"]
        with transaction.atomic():
            self.insert(Member, ["id", "organization_id", "card_number", "external_id", "first_name", "last_name", "email", "phone", "locale", "status",
                                 "enrolled_at", "enrolled_store_id", "enrolled_channel", "attributes", "interests", "tier"], (
                (member0 + i, org.id, f"9{i:011d}", "", first_names[i % 16], f"{last_names[(i // 16) % 14]}{i // 224}", "", "", "fr", "active",
                 stamp(enrolled[i]), stores[i % 4], "bench", "{}", "[]", tiers[i % 5]) for i in range(n)
            ))
        self.fix_sequence(Member)
        account0 = self.next_id(Account)
        with transaction.atomic():
            self.insert(Account, ["id", "organization_id", "member_id", "kind", "unit", "balance"],
                        ((account0 + i, org.id, member0 + i, AccountKind.AVAILABLE.value, "PTS", 0) for i in range(n)))
        self.fix_sequence(Account)
        _progress(f"members: {n:,} ({time.monotonic() - t0:.0f} s)")
        balances = [0] * n

        # Transfers, with a purchase per earn and a voucher per redemption.
        transfer0, purchase0, voucher0 = self.next_id(Transfer), self.next_id(Purchase), self.next_id(Voucher)
        kinds = ["earn"] * 70 + ["redeem"] * 10 + ["expire"] * 8 + ["adjust"] * 6 + ["reverse"] * 6
        costs = (50, 100, 200, 400, 800)
        org_id, s_end = org.id, self.s_end
        issued, redeemed, expired, adjustments = system["issued"], system["redeemed"], system["expired"], system["adjustments"]
        chunk = 1_000_000
        done = n_purchases = n_vouchers = 0
        while done < self.n_transfers:
            rows, purchases, vouchers = [], [], []
            add, add_purchase, add_voucher = rows.append, purchases.append, vouchers.append
            for t in range(done, min(done + chunk, self.n_transfers)):
                i = int(random_() * n)
                kind = kinds[int(random_() * 100)]
                member_account = account0 + i
                at = self.s_start + int(random_() * (365 * 86400))
                if at < enrolled[i]:
                    at = min(enrolled[i] + 300, s_end)
                when = stamp(at)
                tid = transfer0 + t
                if kind == "earn":
                    amount = 1 + int(random_() * 119)
                    pid = purchase0 + n_purchases + len(purchases)
                    add_purchase((pid, org_id, i + member0, stores[int(random_() * 4)], f"p{pid}", "offline", when, "EUR",
                                  amount * 100 + int(random_() * 100), 0, amount, 0, False, when))
                    add((tid, org_id, "PTS", issued, member_account, amount, kind, "purchase", "{}", "", "purchase", pid, "", when, when))
                    balances[i] += amount
                elif kind == "redeem":
                    reward = int(random_() * 5)
                    amount = costs[reward] // 10
                    vid = voucher0 + n_vouchers + len(vouchers)
                    add_voucher((vid, org_id, i + member0, rewards[reward], f"B{vid}", "issued" if random_() < 0.6 else "used", amount, "[]", tid, "api", when, 0, ""))
                    add((tid, org_id, "PTS", member_account, redeemed, amount, kind, "redemption", "{}", "", "reward", rewards[reward], "", when, when))
                    balances[i] -= amount
                elif kind == "expire":
                    amount = 1 + int(random_() * 14)
                    add((tid, org_id, "PTS", member_account, expired, amount, kind, "expiry", "{}", "", "lot", None, "system", when, when))
                    balances[i] -= amount
                elif kind == "adjust":
                    amount = 1 + int(random_() * 29)
                    if random_() < 0.7:
                        add((tid, org_id, "PTS", adjustments, member_account, amount, kind, "adjustment", "{}", "bench", "adjustment", None, "cli", when, when))
                        balances[i] += amount
                    else:
                        add((tid, org_id, "PTS", member_account, adjustments, amount, kind, "adjustment", "{}", "bench", "adjustment", None, "cli", when, when))
                        balances[i] -= amount
                else:
                    amount = 1 + int(random_() * 9)
                    add((tid, org_id, "PTS", member_account, issued, amount, kind, "refund", "{}", "", "purchase", None, "", when, when))
                    balances[i] -= amount
            done += len(rows)
            with transaction.atomic():
                self.insert(Transfer, ["id", "organization_id", "unit", "debit_id", "credit_id", "amount", "kind", "reason", "reason_params", "note",
                                       "source_type", "source_id", "actor", "occurred_at", "created_at"], rows)
                self.insert(Purchase, ["id", "organization_id", "member_id", "store_id", "external_id", "channel", "occurred_at", "currency",
                                       "total_minor", "refunded_minor", "points_earned", "points_reversed", "has_lines", "created_at"], purchases)
                self.insert(Voucher, ["id", "organization_id", "member_id", "reward_id", "code", "status", "points", "spent_lots",
                                      "redeem_transfer_id", "channel", "issued_at", "used_value_minor", "used_purchase_external_id"], vouchers)
            n_purchases += len(purchases)
            n_vouchers += len(vouchers)
            _progress(f"transfers: {done:,} / {self.n_transfers:,}, purchases {n_purchases:,}, vouchers {n_vouchers:,} ({time.monotonic() - t0:.0f} s)")
        for model in (Transfer, Purchase, Voucher):
            self.fix_sequence(model)
        n_visits, n_offers = self.n_transfers // 10, self.n_transfers // 20
        visit0 = self.next_id(Visit)
        with transaction.atomic():
            self.insert(Visit, ["id", "organization_id", "member_id", "store_id", "external_id", "occurred_at", "created_at"], (
                (visit0 + v, org_id, member0 + int(random_() * n), stores[v % 4], f"v{visit0 + v}", s, s)
                for v, s in ((v, stamp(self.moment())) for v in range(n_visits))
            ))
            self.insert(OfferEvent, ["organization_id", "reward_id", "member_id", "kind", "at"], (
                (org_id, rewards[int(random_() * 5)], member0 + int(random_() * n), ("seen", "seen", "seen", "requested", "used")[int(random_() * 5)],
                 stamp(self.moment())) for _ in range(n_offers)
            ))
            # Referrals: one member in 50 joined with another member's code.
            self.insert(Referral, ["organization_id", "referrer_id", "referee_id", "code", "status", "enrolled_at", "source_type", "referrer_points",
                                   "referee_points", "referrer_capped"], (
                (org_id, member0 + int(random_() * (n // 2)), member0 + n // 2 + k, "BENCH", "completed", stamp(enrolled[n // 2 + k]), "", 0, 0, False)
                for k in range(n // 100)
            ))
        self.fix_sequence(Visit)
        self.fix_sequence(OfferEvent)
        self.fix_sequence(Referral)
        _progress(f"visits {n_visits:,}, offer events {n_offers:,}, referrals {n // 100:,} ({time.monotonic() - t0:.0f} s)")
        # Cached balances = each member's flows (what `fidelo ledger verify` checks).
        changed = [(account0 + i, b) for i, b in enumerate(balances) if b]
        with transaction.atomic(), self.connection.cursor() as cursor:
            table = Account._meta.db_table
            if self.pg:
                cursor.execute("CREATE TEMPORARY TABLE bench_balance (id bigint PRIMARY KEY, balance bigint) ON COMMIT DROP")
                with cursor.cursor.copy("COPY bench_balance (id, balance) FROM STDIN") as copy:
                    for row in changed:
                        copy.write_row(row)
                cursor.execute(f"UPDATE {table} AS a SET balance = b.balance FROM bench_balance AS b WHERE a.id = b.id")
            else:
                cursor.executemany(f"UPDATE {table} SET balance = %s WHERE id = %s", [(b, a) for a, b in changed])
        _progress(f"balances ({time.monotonic() - t0:.0f} s); indexes and foreign keys again…")
        self.restore(restore)
        self.load_settings(False)
        with self.connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        generated_s = round(time.monotonic() - t0, 1)
        _progress(f"data set: {generated_s:.0f} s (statistics of the planner included)")
        return {"organization_id": org.id, "members": n, "transfers": self.n_transfers, "generate_s": generated_s}


def _build_rollups(organization_id: int, members: int) -> float:
    from django.db import connection

    from fidelo.analytics.services import rollups_rebuild

    t1 = time.monotonic()
    seen = {"members": 0}

    def progress(kind: str, count: int) -> None:
        before = seen.get(kind, 0)
        seen[kind] = before + count
        step = 100_000 if kind == "members" else 100
        if seen[kind] // step != before // step:
            _progress(f"rollups: {kind} {seen[kind]:,} ({time.monotonic() - t1:.0f} s)")

    rollups_rebuild(organization_id=organization_id, progress=progress)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return round(time.monotonic() - t1, 1)


# --- measuring ---------------------------------------------------------------------------------


def _time(fn, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": round(percentile(times, 50), 2), "p95_ms": round(percentile(times, 95), 2), "n": repeat}


def _raw_queries(org_id: int, period, store_id: int):
    """The same figures computed from the raw tables (what a screen would cost without rollups)."""
    from django.db.models import Count, Exists, OuterRef, Sum

    from fidelo.core.clock import now
    from fidelo.ledger.models import Account, Transfer
    from fidelo.members.models import Member
    from fidelo.purchases.models import Purchase, Visit
    from fidelo.rewards.models import OfferEvent, Voucher

    start = dt.datetime.combine(period.start, dt.time(), tzinfo=dt.UTC)
    stop = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    earned = Transfer.objects.filter(organization_id=org_id, kind="earn").values("credit__member_id").annotate(points=Sum("amount"))

    def ranking(query, n=25):
        return list(query.order_by("-points", "credit__member_id")[:n])

    has_voucher = Exists(Voucher.objects.filter(member_id=OuterRef("credit__member_id")))
    since = now() - dt.timedelta(days=90)
    return {
        "leaderboard": lambda: ranking(earned),
        "leaderboard min_points=500": lambda: ranking(earned.filter(points__gte=500)),
        "leaderboard with rewards": lambda: ranking(earned.filter(has_voucher)),
        "leaderboard without rewards": lambda: ranking(earned.filter(~has_voucher)),
        "leaderboard search": lambda: ranking(earned.filter(credit__member__last_name__istartswith="dupont123")),
        "general_stats": lambda: (
            Member.objects.filter(organization_id=org_id).count(),
            len(set(Purchase.objects.filter(organization_id=org_id, occurred_at__gte=since).values_list("member_id", flat=True))
                | set(Visit.objects.filter(organization_id=org_id, occurred_at__gte=since).values_list("member_id", flat=True))),
            Transfer.objects.filter(organization_id=org_id, kind="earn").aggregate(s=Sum("amount")),
            Voucher.objects.filter(organization_id=org_id).count(),
        ),
        "top_members (3)": lambda: ranking(earned, 3),
        "panel members": lambda: (
            Member.objects.filter(organization_id=org_id).count(),
            Member.objects.filter(organization_id=org_id, enrolled_at__gte=start, enrolled_at__lt=stop).count(),
        ),
        "panel visits": lambda: (
            Visit.objects.filter(organization_id=org_id, occurred_at__gte=start, occurred_at__lt=stop).count(),
            Purchase.objects.filter(organization_id=org_id, occurred_at__gte=start, occurred_at__lt=stop).count(),
        ),
        "panel revenue": lambda: Purchase.objects.filter(organization_id=org_id, occurred_at__gte=start, occurred_at__lt=stop).aggregate(s=Sum("total_minor")),
        "panel points": lambda: (
            list(Transfer.objects.filter(organization_id=org_id, occurred_at__gte=start, occurred_at__lt=stop).values("kind").annotate(s=Sum("amount"))),
            Account.objects.filter(organization_id=org_id, member__isnull=False).aggregate(s=Sum("balance")),
        ),
        "panel top_members": lambda: ranking(earned, 10),
        "panel offers": lambda: list(OfferEvent.objects.filter(organization_id=org_id).values("reward_id", "kind").annotate(n=Count("member_id", distinct=True))),
        "panel tiers": lambda: list(Member.objects.filter(organization_id=org_id).values("tier").annotate(n=Count("id"))),
        "panel rfm": lambda: len(list(Purchase.objects.filter(organization_id=org_id).values("member_id").annotate(n=Count("id"), s=Sum("total_minor")).order_by())),
        "panel members (one store)": lambda: Member.objects.filter(organization_id=org_id, enrolled_store_id=store_id).count(),
        "panel points (one store)": lambda: Purchase.objects.filter(organization_id=org_id, store_id=store_id, occurred_at__gte=start, occurred_at__lt=stop).aggregate(s=Sum("points_earned")),
    }


def _measure(repeat: int, raw_repeat: int) -> dict:
    from django.db import connection

    from fidelo.analytics import selectors
    from fidelo.analytics.selectors import LeaderboardFilters, Period
    from fidelo.ledger.models import Transfer
    from fidelo.members.models import Member
    from fidelo.tenancy.models import Organization, Store

    org = Organization.objects.get(slug=SLUG)
    oid = org.id
    store_id = Store.objects.filter(organization=org).order_by("id").values_list("id", flat=True).first()
    period = selectors.period_of(organization_id=oid)
    one_store = Period(period.start, period.end, store_id)
    lb = lambda **kw: (lambda: selectors.leaderboard(organization_id=oid, filters=LeaderboardFilters(**kw)))
    queries = {
        "leaderboard": lb(),
        "leaderboard min_points=500": lb(min_points=500),
        "leaderboard with referrals": lb(referrals=True),
        "leaderboard without referrals": lb(referrals=False),
        "leaderboard with rewards": lb(rewards=True),
        "leaderboard without rewards": lb(rewards=False),
        "leaderboard search": lb(search="dupont123"),
        "leaderboard sort revenue": lb(sort="revenue"),
        "leaderboard sort name": lb(sort="name"),
        "leaderboard page 200": lambda: selectors.leaderboard(organization_id=oid, page=200),
        "general_stats": lambda: selectors.general_stats(organization_id=oid),
        "top_members (3)": lambda: selectors.top_members(organization_id=oid),
        "popular_rewards": lambda: selectors.popular_rewards(organization_id=oid),
        "progression": lambda: selectors.progression(organization_id=oid),
    }
    for name, panel in selectors.PANELS.items():
        queries[f"panel {name}"] = (lambda panel=panel: (selectors.ensure_fresh(oid), panel(organization_id=oid, period=period)))
    for name in ("members", "visits", "points", "top_members"):
        queries[f"panel {name} (one store)"] = (lambda panel=selectors.PANELS[name]: (selectors.ensure_fresh(oid), panel(organization_id=oid, period=one_store)))
    raw = _raw_queries(oid, period, store_id) if raw_repeat > 0 else {}
    results = {}
    for name, fn in queries.items():
        fn()  # warm: caches, the planner, the page cache
        results[name] = _time(fn, repeat)
        if name in raw:
            raw[name]()
            results[name]["raw"] = _time(raw[name], raw_repeat)
            results[name]["ratio"] = round(results[name]["raw"]["p50_ms"] / max(results[name]["p50_ms"], 0.01), 1)
        print(f"PROGRESS {name}: p95 {results[name]['p95_ms']:.1f} ms", file=sys.stderr, flush=True)
    return {
        "backend": connection.vendor, "members": Member.objects.filter(organization=org).count(), "transfers": Transfer.objects.filter(organization=org).count(),
        "repeat": repeat, "raw_repeat": raw_repeat, "queries": results,
        "worst_p95_ms": max(q["p95_ms"] for q in results.values()),
        "target_met": all(q["p95_ms"] < TARGET_P95_MS for q in results.values()),
    }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.analytics")
    parser.add_argument("step", choices=["generate", "measure"])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--transfers", type=int, default=20_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--raw-repeat", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidelo.settings")
    import django

    django.setup()
    result = _generate(args.members, args.transfers) if args.step == "generate" else _measure(args.repeat, args.raw_repeat)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
