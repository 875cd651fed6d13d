"""Helpers for tests that run Fidelo for real, in subprocesses: a fresh database, the CLI, the server.

Used by the CLI tests here and by the system tests (tests/system). Nothing here imports
Django: the subprocesses configure themselves from the environment built by `fresh_env`.

- SQLite runs (no FIDELO_DATABASE_URL): a fresh data folder in the test's tmp_path.
- PostgreSQL runs (FIDELO_DATABASE_URL set): a fresh database created on that server, dropped
  afterwards; the data folder (secret key, Huey's SQLite queue) is still in tmp_path.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

FIDELO = [str(Path(sys.executable).with_name("fidelo"))] if Path(sys.executable).with_name("fidelo").exists() else [sys.executable, "-m", "fidelo"]
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def postgres_url() -> str:
    return os.environ.get("FIDELO_DATABASE_URL", "")


@contextmanager
def fresh_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a subprocess that sees a brand-new, empty database of the run's kind."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIDELO_") and k != "DJANGO_SETTINGS_MODULE"}
    data_dir = tmp_path / "data"
    env.update(FIDELO_DATA_DIR=str(data_dir), FIDELO_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    if os.environ.get("FIDELO_REDIS_URL"):
        env["FIDELO_REDIS_URL"] = os.environ["FIDELO_REDIS_URL"]
    url = postgres_url()
    if not url:
        yield env
        return
    import psycopg

    name = f"fidelo_sys_{uuid.uuid4().hex[:12]}"
    parts = urlsplit(url)
    admin_url = urlunsplit(parts._replace(scheme="postgresql"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env["FIDELO_DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    try:
        yield env
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_fidelo(
    env: dict[str, str], *args: str, timeout: float = 60, check: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run([*FIDELO, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError(f"fidelo {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


# --- the benches' smoke tests -----------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[4]


def bench_smoke_only(name: str):
    """The mark of a `fidelo bench NAME` smoke test: it runs once, in the SQLite pass, from a source checkout."""
    import pytest

    return pytest.mark.skipif(
        bool(os.environ.get("FIDELO_DATABASE_URL")) or not (REPO_ROOT / "bench" / f"{name}.py").exists(),
        reason="the bench smoke test runs once, in the SQLite pass, from a source checkout",
    )


def run_tiny_bench(tmp_path: Path, name: str, *extra: str, timeout: float = 120) -> tuple[dict, str]:
    """`fidelo bench NAME` on SQLite at tiny scale (one second of each load, 20 members, one
    worker; `extra` arguments after those), in an environment without any FIDELO_ setting but
    its own data folder: the SQLite figures of its last line (JSON), and everything it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIDELO_")}
    env["FIDELO_DATA_DIR"] = str(tmp_path / "cli-data")
    result = run_fidelo(
        env, "bench", name, "--backend", "sqlite", "--duration", "1", "--warmup", "1", "--members", "20", "--workers", "1",
        "--threads", "2", "--concurrency", "2", "--data-dir", str(tmp_path / "bench"), *extra, timeout=timeout, cwd=tmp_path,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])["sqlite"], result.stdout


def run_django(env: dict[str, str], code: str, *, timeout: float = 60) -> object:
    """Run Python `code` in a subprocess with Django set up; return the JSON it assigns to `result`."""
    script = "import django, json, os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'fidelo.settings')\ndjango.setup()\n"
    script += textwrap.dedent(code) + "\nprint('@@RESULT@@' + json.dumps(result))\n"
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"Django script failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    line = next(line for line in proc.stdout.splitlines() if line.startswith("@@RESULT@@"))
    return json.loads(line[len("@@RESULT@@"):])


def execute_sql(env: dict[str, str], sql: str) -> int:
    """Run one statement on the subprocesses' database with the plain driver; return the row count."""
    if env.get("FIDELO_DATABASE_URL"):
        import psycopg

        with psycopg.connect(env["FIDELO_DATABASE_URL"], autocommit=True) as conn:
            return conn.execute(sql).rowcount
    import sqlite3

    conn = sqlite3.connect(Path(env["FIDELO_DATA_DIR"]) / "fidelo.sqlite3", timeout=30)
    try:
        with conn:
            return conn.execute(sql).rowcount
    finally:
        conn.close()


def create_tenant(env: dict[str, str], *, members: int = 10, **program: object) -> dict:
    """An organization with a store, an API key and members, made through the services."""
    return run_django(env, f"""
        from fidelo.core.actors import Actor
        from fidelo.members.services import member_enroll
        from fidelo.tenancy.services import api_key_create, organization_create, store_create
        actor = Actor(kind="staff", id=1, label="system test")
        org = organization_create(name="Café Système", slug="cafe-systeme", **{program!r})
        store = store_create(organization=org, code="paris-11", name="Paris 11e", city="Paris")
        key = api_key_create(organization=org, name="system test", actor=actor)
        ids = [
            member_enroll(organization=org, actor=actor, first_name="Membre", last_name=f"N{{i}}", email=f"membre{{i}}@exemple.fr").id
            for i in range({members})
        ]
        result = {{"organization_id": org.id, "store": store.code, "token": key.token, "member_ids": ids}}
    """)


def process_group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


@dataclass
class Server:
    """`fidelo serve` in its own process group, on a loopback port."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    args: tuple[str, ...] = ("--no-worker",)
    log: Path | None = None
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, ready_timeout: float = 30) -> Server:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [*FIDELO, "serve", "--host", LOOPBACK, "--port", str(self.port), *self.args],
            env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"fidelo serve exited with {self.proc.returncode} before answering\n{self.log_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"fidelo serve did not answer /healthz within {ready_timeout}s\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole process group (serve, granian and its workers) and reap it."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 10
        while process_group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM the serve process only (it must stop its children) and wait for it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)
