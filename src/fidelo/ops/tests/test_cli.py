"""The `fidelo` command line: ledger verify, expire, migrate, serve, worker, --help.

In-process tests (call_command) use pytest-django's database; subprocess tests get a fresh
database of the run's kind (SQLite data folder, or a new PostgreSQL database) from
`fresh_env`, and run the real console script.
"""

import datetime as dt
import io
import signal
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from django.core.management import call_command
from django.db import connection

from fidelo.conftest import STAFF, make_member, make_org, program_of
from fidelo.core.clock import now
from fidelo.ledger.models import Account, Lot, LotStatus
from fidelo.ledger.selectors import ledger_verify, member_balance
from fidelo.ops.tests.processes import FIDELO, Server, execute_sql, fresh_env, process_group_members, run_django, run_fidelo
from fidelo.purchases.services import purchase_record


@pytest.fixture
def sub_env(tmp_path) -> Iterator[dict[str, str]]:
    with fresh_env(tmp_path) as env:
        yield env


def buy(program, member, external_id: str, total_minor: int, occurred_at: dt.datetime):
    return purchase_record(program=program, member=member, store=None, external_id=external_id, occurred_at=occurred_at,
                           total_minor=total_minor, currency="EUR", actor=STAFF)


def verify(**kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("ledger", "verify", stdout=out, stderr=err, **kwargs)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


# --- fidelo ledger verify -----------------------------------------------------------------


def test_ledger_verify_exits_0_on_a_clean_ledger(db):
    program = program_of(make_org())
    for n in range(3):
        buy(program, make_member(program.organization), f"V-{n}", 1000 * (n + 1), now())
    code, out, err = verify()
    assert code == 0, err
    assert "Ledger verified" in out
    assert "DRIFT" not in err


def test_ledger_verify_exits_1_with_a_drift_line_when_a_balance_is_corrupted(db):
    program = program_of(make_org())
    member = make_member(program.organization)
    buy(program, member, "V-1", 4200, now())
    account = Account.objects.get(member=member, kind="available")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_account SET balance = balance + 1 WHERE id = %s", [account.id])

    code, out, err = verify()

    assert code == 1
    drift_lines = [line for line in err.splitlines() if line.startswith("DRIFT ")]
    assert f"DRIFT balance differs from its transfers: account {account.id}: expected 42, found 43" in drift_lines
    assert "drift(s) found" in err
    assert "Ledger verified" not in out


def test_ledger_verify_console_script_exit_code_on_a_corrupted_database(sub_env):
    run_fidelo(sub_env, "migrate", "--verbosity", "0")
    assert run_fidelo(sub_env, "ledger", "verify").returncode == 0  # an empty ledger is a clean one
    member_id = run_django(sub_env, """
        from fidelo.conftest import STAFF, make_member, make_org, program_of
        from fidelo.core.clock import now
        from fidelo.purchases.services import purchase_record
        program = program_of(make_org("verify-cli"))
        members = [make_member(program.organization) for _ in range(2)]
        for n, member in enumerate(members):
            purchase_record(program=program, member=member, store=None, external_id=f"E-{n}", occurred_at=now(),
                            total_minor=1500, currency="EUR", actor=STAFF)
        result = members[0].id
    """)
    assert run_fidelo(sub_env, "ledger", "verify").returncode == 0

    changed = execute_sql(sub_env, f"UPDATE ledger_account SET balance = balance + 1 WHERE member_id = {int(member_id)} AND kind = 'available'")
    assert changed == 1
    corrupted = run_fidelo(sub_env, "ledger", "verify", check=False)
    assert corrupted.returncode == 1
    assert "DRIFT balance differs from its transfers" in corrupted.stderr
    assert "expected 15, found 16" in corrupted.stderr
    # --organization narrows the check: an unknown organization has nothing to verify.
    assert run_fidelo(sub_env, "ledger", "verify", "--organization", "999999", check=False).returncode == 0


# --- fidelo expire ---------------------------------------------------------------------------


def test_expire_releases_due_pending_lots_and_expires_due_lots_and_prints_counts(db, monkeypatch):
    program = program_of(make_org(expiry_policy="months", expiry_months=12, pending_days=14))
    old, recent, fresh = (make_member(program.organization) for _ in range(3))
    today = now()
    buy(program, old, "OLD", 10_000, today - dt.timedelta(days=400))       # available long ago, expired ~35 days ago
    buy(program, recent, "RECENT", 5_000, today - dt.timedelta(days=1))    # pending until today + 13 days
    buy(program, fresh, "FRESH", 2_500, today)                             # pending until today + 14 days
    unit = program.unit
    assert member_balance(old, unit).available == 100
    assert member_balance(recent, unit).pending == 50

    later = today + dt.timedelta(days=13, hours=12)  # the recent lot is due, the fresh one is not yet
    monkeypatch.setattr("fidelo.ledger.management.commands.expire.now", lambda: later)
    out = io.StringIO()
    call_command("expire", stdout=out)

    assert out.getvalue().strip() == "Released 50 in 1 lot(s); expired 100 in 1 lot(s)."
    assert (member_balance(old, unit).available, member_balance(old, unit).pending) == (0, 0)
    assert (member_balance(recent, unit).available, member_balance(recent, unit).pending) == (50, 0)
    assert (member_balance(fresh, unit).available, member_balance(fresh, unit).pending) == (0, 25)
    assert Lot.objects.get(member=old).status == LotStatus.CLOSED
    assert Lot.objects.get(member=recent).status == LotStatus.AVAILABLE
    assert Lot.objects.get(member=fresh).status == LotStatus.PENDING
    assert ledger_verify() == []

    # Run again: nothing is resolved twice.
    again = io.StringIO()
    call_command("expire", stdout=again)
    assert again.getvalue().strip() == "Released 0 in 0 lot(s); expired 0 in 0 lot(s)."
    assert ledger_verify() == []


# --- fidelo migrate ------------------------------------------------------------------------


def test_migrate_works_on_an_empty_data_folder(sub_env, tmp_path):
    data_dir = tmp_path / "data"
    assert not data_dir.exists()
    result = run_fidelo(sub_env, "migrate")
    assert "Applying ledger." in result.stdout
    assert (data_dir / "secret_key").exists()
    if "FIDELO_DATABASE_URL" not in sub_env:
        assert (data_dir / "fidelo.sqlite3").exists()
    plan = run_fidelo(sub_env, "showmigrations", "--plan").stdout
    assert "[X]" in plan and "[ ]" not in plan
    # A second run has nothing left to do.
    assert "No migrations to apply" in run_fidelo(sub_env, "migrate").stdout


# --- fidelo serve --------------------------------------------------------------------------


def test_serve_answers_health_and_openapi_then_stops_cleanly_on_sigterm(sub_env, tmp_path):
    server = Server(sub_env, log=tmp_path / "serve.log")  # serve migrates the empty database first
    try:
        server.start()
        health = httpx.get(server.url + "/healthz", timeout=5)
        assert (health.status_code, health.text) == (200, "ok")
        schema = httpx.get(server.url + "/api/v1/openapi.json", timeout=5)
        assert schema.status_code == 200
        assert "/api/v1/purchases" in schema.json()["paths"]
        pgid = server.proc.pid
        assert len(process_group_members(pgid)) >= 2  # serve and granian

        assert server.terminate(timeout=30) == 0
        deadline = time.monotonic() + 10
        while process_group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process_group_members(pgid) == [], "granian outlived fidelo serve"
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url + "/healthz", timeout=2)
        assert "Traceback" not in server.log_text()
        assert f"Fidelo is running at {server.url}/" in server.log_text()
    finally:
        server.kill()


def test_the_web_application_freezes_what_its_first_request_loaded_out_of_the_collector(sub_env):
    # What granian imports in each worker (fidelo.wsgi): after the first request, which loads
    # the views, everything built so far is frozen, so that a full collection walks only what
    # later requests keep; once.
    result = run_django(sub_env, """
        import gc, sys
        from wsgiref.util import setup_testing_defaults
        import fidelo.wsgi

        def call():
            environ = {"PATH_INFO": "/healthz", "HTTP_HOST": "localhost"}
            setup_testing_defaults(environ)
            statuses = []
            body = b"".join(fidelo.wsgi.application(environ, lambda status, headers, exc_info=None: statuses.append(status)))
            return statuses[0], body.decode()

        freezes, freeze = [], gc.freeze
        gc.freeze = lambda: (freezes.append(1), freeze())
        before = gc.get_freeze_count()
        first = call()
        frozen, tracked = gc.get_freeze_count(), len(gc.get_objects())
        second = call()
        result = {"before": before, "first": first, "second": second, "frozen": frozen, "tracked": tracked,
                  "freezes": len(freezes), "views_loaded": "fidelo.api.v1.purchases" in sys.modules}
    """)
    assert result["first"] == result["second"] == ["200 OK", "ok"]
    assert result["before"] == 0 and result["views_loaded"]
    assert result["frozen"] > 50_000  # Django, the views and the API's schemas
    assert result["tracked"] < result["frozen"] / 10  # all but what the freeze itself left
    assert result["freezes"] == 1  # once, not on the second request


def test_serve_exits_non_zero_when_the_web_server_cannot_start(sub_env):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([*FIDELO, "serve", "--no-worker", "--no-migrate", "--host", "127.0.0.1", "--port", str(port)],
                                env=sub_env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, result.stdout


# --- fidelo worker -------------------------------------------------------------------------


def test_worker_starts_the_huey_consumer_and_stops_on_sigterm(sub_env, tmp_path):
    run_fidelo(sub_env, "migrate", "--verbosity", "0")
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([*FIDELO, "worker"], env=sub_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while "Huey consumer started" not in log.read_text(errors="replace") and time.monotonic() < deadline:
            assert proc.poll() is None, f"fidelo worker exited with {proc.returncode}\n{log.read_text()}"
            time.sleep(0.1)
        time.sleep(1.5)  # the scheduler ticks once a second: let it run against the queue storage
        assert proc.poll() is None, f"fidelo worker crashed\n{log.read_text()}"
        text = log.read_text(errors="replace")
        assert "Huey consumer started" in text
        assert "fidelo.ledger.tasks.release_pending_points" in text
        assert "fidelo.ledger.tasks.expire_points" in text
        if "FIDELO_REDIS_URL" not in sub_env:
            assert (tmp_path / "data" / "jobs.sqlite3").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and "Error" not in text, text
    finally:
        if proc.poll() is None:
            import os

            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# --- fidelo --help -------------------------------------------------------------------------


def help_text() -> str:
    result = subprocess.run([*FIDELO, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_help_lists_the_operator_commands():
    commands = {line.strip() for line in help_text().splitlines()}
    assert {"serve", "worker", "ledger", "expire", "migrate"} <= commands


def test_help_lists_the_demo_command():
    commands = {line.strip() for line in help_text().splitlines()}
    assert "demo" in commands
