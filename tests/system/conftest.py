"""System tests: Fidelo run for real (CLI and server in subprocesses) on a fresh database.

The helpers live in fidelo.ops.tests.processes (shared with the CLI tests).
"""

from collections.abc import Iterator

import pytest

from fidelo.ops.tests.processes import Server, fresh_env


@pytest.fixture
def system_env(tmp_path) -> Iterator[dict[str, str]]:
    """Environment for subprocesses: an empty database of this run's kind (SQLite or PostgreSQL)."""
    with fresh_env(tmp_path) as env:
        yield env


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers a test starts are appended here and SIGKILLed (whole group) at the end, whatever happened."""
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in started:
            server.kill()
