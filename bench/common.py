"""What the benches share: servers, load clients, a throwaway PostgreSQL, Django steps.

Everything listens on and connects to loopback addresses only, and every run is bounded
in time. A bench module (bench/earn.py, later rules, redeem, analytics) exposes
`add_arguments(parser)` and `run(options, console) -> dict`; `fidelo bench NAME` calls them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def base_env(**extra: str) -> dict[str, str]:
    """The environment of a child: this one without any Fidelo database or data setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIDELO_", "GRANIAN_", "RAW_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO_ROOT), env.get("PYTHONPATH", "")] if p)
    env["DJANGO_SETTINGS_MODULE"] = "fidelo.settings"
    env["FIDELO_LOG_LEVEL"] = "WARNING"
    env.update(extra)
    return env


def django_step(module: str, step: str, env: dict[str, str], *args: str, timeout: float = 600) -> dict:
    """Run `python -m bench.MODULE STEP ARGS` against the database `env` points at; its last line is JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", step, *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench.{module} {step} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- servers -------------------------------------------------------------------------------


@dataclass
class Server:
    """A granian WSGI server run with the same flags as `fidelo serve`."""

    target: str
    env: dict[str, str]
    workers: int
    threads: int
    working_dir: Path | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def command(self) -> list[str]:
        command = [
            sys.executable, "-m", "granian", "--interface", "wsgi", self.target,
            "--host", LOOPBACK, "--port", str(self.port),
            "--workers", str(self.workers), "--blocking-threads", str(self.threads),
            "--no-ws", "--log-level", "warning",
        ]
        if self.working_dir:
            command += ["--working-dir", str(self.working_dir)]
        return command

    def start(self, log_dir: Path, timeout: float = 60) -> "Server":
        self.log = log_dir / f"server-{self.port}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.command(), env=self.env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=5)
                conn.request("GET", "/")
                conn.getresponse().read()
                conn.close()
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group this bench started: granian and its workers
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --- loads that one worker took alone ------------------------------------------------------

LOPSIDED_SHARE = 0.25  # a worker that used less than this share of the busiest one's CPU served (almost) no connection
BALANCE_ATTEMPTS = 4


def worker_cpu_seconds(server: Server) -> dict[int, float]:
    """The CPU seconds each worker of `server` (the children of granian's main process) has used
    so far, from /proc; empty where there is no /proc (the check below is then skipped)."""
    if server.proc is None or not os.path.isdir("/proc"):
        return {}
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat_file:
                stat = stat_file.read()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (command) ": state, ppid, …, utime [11], stime [12]
        if int(fields[1]) == server.proc.pid:
            used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def lopsided(before: dict[int, float], after: dict[int, float]) -> bool:
    """Whether, between two readings of worker_cpu_seconds, one worker did (almost) nothing while another worked."""
    used = [after[pid] - before[pid] for pid in after if pid in before]
    return len(used) > 1 and max(used) > 0 and min(used) < LOPSIDED_SHARE * max(used)


def balanced_load(server: Server, run: Callable[[int], Load]) -> tuple[Load, list[Load]]:
    """`run(attempt)`, run again while one worker of `server` served its connections alone.

    wrk opens its connections all at once and granian's workers accept them from one socket:
    now and then one worker accepts every connection while the other waits for one (3 loads of
    56 against a test application on the 2-core machine, 1 of about 900 of Fidelo's), and
    that load measures half the server: its turn's ratio to its neighbour would read about 0.5
    or 2. Such a load shows in the workers' CPU time (one used less than a quarter of the
    other's) and is run again, with new purchases (`run` gets the attempt number for their
    ids); after BALANCE_ATTEMPTS the last one counts whatever it is.
    Returns the load measured and those set aside (their purchases are written all the same:
    the checks of the database's counts include them)."""
    set_aside: list[Load] = []
    while True:
        before = worker_cpu_seconds(server)
        load = run(len(set_aside))
        if len(set_aside) == BALANCE_ATTEMPTS - 1 or not lopsided(before, worker_cpu_seconds(server)):
            return load, set_aside
        set_aside.append(load)


# --- load clients ----------------------------------------------------------------------------


def wrk_path() -> str | None:
    return shutil.which("wrk")


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


@dataclass(frozen=True)
class Load:
    """One load run: requests answered 201 (`ok`), others, latency in ms."""

    client: str
    duration_s: float
    sent: int
    ok: int
    other: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def per_s(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0

    @property
    def unanswered(self) -> int:
        """Requests sent that got no response before the client stopped (still processed by the server)."""
        return max(0, self.sent - self.ok - self.other)


def per_s(loads: list[Load]) -> float:
    """Requests answered 201 per second over several loads (turns) of the same kind."""
    duration = sum(load.duration_s for load in loads)
    return sum(load.ok for load in loads) / duration if duration else 0.0


TURNS = 40  # loads of each kind in a comparison bench (rules, redeem): turns × TURN_SECONDS measured of each
TURN_SECONDS = 1.0


def add_turn_arguments(parser, turns: int = TURNS) -> None:
    """--turns, and a shorter default --duration (per turn): for the benches that compare two
    kinds of load on one server. On a machine whose speed moves by a third from one second to
    the next (a shared virtual machine), two turns of 10 s gave ratios 0.15 apart for the same
    code. A turn's ratio to its neighbour of the other kind spread as much with turns of 1 s
    as with turns of 5 s (standard deviation 0.145 and 0.12–0.15), so forty turns of 1 s, in
    ABBA order, average five times as many neighbours as eight of 5 s in the same time."""

    def even(text: str) -> int:
        value = int(text)
        if value < 2 or value % 2:
            raise argparse.ArgumentTypeError("an even number of turns, at least 2 (ABBA order)")
        return value

    parser.add_argument("--turns", type=even, default=turns, help=f"loads of each kind, in ABBA order (even; default {turns})")
    parser.set_defaults(duration=TURN_SECONDS)


def turn_ratios(loads: list[Load], against: list[Load]) -> list[float]:
    """Each turn's throughput as a ratio to the other kind's in the same turn (neighbours in
    time): their spread shows how much of a run's ratio is the machine's noise."""
    return [round(load.per_s / other.per_s, 3) if other.per_s else 0.0 for load, other in zip(loads, against)]


def ratio_interval(loads: list[Load], against: list[Load]) -> dict:
    """How precise a run's ratio per_s(loads) / per_s(against) is: its standard error and 95 %
    interval, from the turns' pairs of neighbours (the loads in the order of in_turn, all of
    one duration). For paired samples, the ratio of the means r = ȳ / x̄ has a standard error
    of sd(y - r·x) / (x̄·√n) (the delta method): the turns' noise, which moves both loads of a
    pair alike, cancels out, and what is left shrinks with the square root of the turns. Drift
    that outlasts a pair is not in it (ABBA order weighs it on both kinds alike)."""
    pairs = [(other.per_s, load.per_s) for load, other in zip(loads, against)]
    n = len(pairs)
    x_mean = sum(x for x, _ in pairs) / n if n else 0.0
    if n < 2 or not x_mean:
        return {"standard_error": None, "interval_95": None}
    ratio = sum(y for _, y in pairs) / n / x_mean
    residuals = [y - ratio * x for x, y in pairs]  # their mean is 0 by construction
    error = (sum(r * r for r in residuals) / (n - 1) / n) ** 0.5 / x_mean
    return {"standard_error": round(error, 4), "interval_95": [round(ratio - 1.96 * error, 3), round(ratio + 1.96 * error, 3)]}


def in_turn(kinds: tuple, turns: int = 2) -> list[tuple[int, object]]:
    """(turn, kind) for loads of several kinds run in turn, each odd turn in reverse order
    (A B, B A: an ABBA design). A machine whose speed drifts during the run (a database that
    grows, a neighbour that wakes up) then weighs on each kind alike; in plain alternation
    (A B, A B) the last kind always runs later, on the slower or faster machine."""
    return [(turn, kind) for turn in range(turns) for kind in (kinds if turn % 2 == 0 else kinds[::-1])]


def run_wrk(*, url: str, script: Path, args: list[str], duration: float, concurrency: int, threads: int) -> Load:
    command = [
        wrk_path() or "wrk", "-t", str(max(1, min(threads, concurrency))), "-c", str(concurrency), "-d", f"{max(1, round(duration))}s",
        "--timeout", "10s", "-s", str(script), url, "--", *args,
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    line = next((l for l in reversed(proc.stdout.splitlines()) if l.startswith("BENCHJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    data = json.loads(line[len("BENCHJSON "):])
    errors = data["errors"]
    return Load(
        client="wrk", duration_s=data["duration_us"] / 1e6, sent=data["sent"], ok=data["ok"], other=data["other"],
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000, max_ms=data["max_us"] / 1000,
    )


def run_python_client(
    *, url: str, make_request, duration: float, concurrency: int
) -> Load:
    """A fallback for machines without wrk: one keep-alive connection per thread.

    Heavier than wrk (it shares the CPU and the GIL), so its figures are lower bounds.
    `make_request(thread, n)` returns (method, path, headers, body bytes).
    """
    host, port = url.removeprefix("http://").split(":")
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    counts = [[0, 0, 0, 0] for _ in range(concurrency)]  # sent, ok, other, socket errors
    stop_at = time.monotonic() + duration

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            method, path, headers, body = make_request(index + 1, n)
            counts[index][0] += 1
            start = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = response_obj = conn.getresponse()
                response_obj.read()
            except (OSError, http.client.HTTPException):
                counts[index][3] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
                continue
            latencies[index].append((time.perf_counter() - start) * 1000)
            counts[index][1 if response.status == 201 else 2] += 1
        conn.close()

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(duration + 30)
    elapsed = min(time.monotonic() - started, duration) or duration
    merged = sorted(v for part in latencies for v in part)
    sent, ok, other, errors = (sum(c[i] for c in counts) for i in range(4))
    return Load(
        client="python", duration_s=elapsed, sent=sent, ok=ok, other=other, socket_errors=errors,
        p50_ms=percentile(merged, 50), p99_ms=percentile(merged, 99), max_ms=merged[-1] if merged else 0.0,
    )


# --- PostgreSQL --------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: [int(x) for x in p.parent.parent.name.split(".") if x.isdigit()])
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class PostgresCluster:
    """A throwaway cluster with durable settings (fsync, synchronous_commit, full_page_writes on)."""

    def __init__(self, root: Path, port: int | None = None):
        self.bin = postgres_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql), and FIDELO_BENCH_POSTGRES_URL is not set")
        self.root = root
        self.port = port or free_port()
        self.data = root / "pgdata"

    def _run(self, *command: str) -> None:
        as_root = os.geteuid() == 0
        prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120, cwd="/")

    @property
    def url(self) -> str:
        return f"postgres://fidelo@{LOOPBACK}:{self.port}/fidelo"

    def start(self) -> "PostgresCluster":
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--home-dir", "/var/lib/postgresql", "postgres"], check=True)
            shutil.chown(self.root, "postgres")
            self.root.chmod(0o755)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "fidelo", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8")
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses={LOOPBACK} -c fsync=on -c synchronous_commit=on "
            "-c full_page_writes=on -c max_connections=100 -c shared_buffers=256MB"
        )
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-o", options, "start")
        self._run(str(self.bin / "createdb"), "-h", LOOPBACK, "-p", str(self.port), "-U", "fidelo", "fidelo")
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass


def temp_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)  # the postgres system user must reach the cluster folder inside
    return path


def random_suffix() -> str:
    return "%06x" % random.getrandbits(24)
