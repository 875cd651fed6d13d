"""`fidelo serve`: migrate, optionally seed the demo, then run the web server and the worker.

The web server is granian (WSGI). The worker (Huey consumer) runs beside it unless
--no-worker is given (production runs `fidelo worker` separately, as many as needed).
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run Fidelo: web server and worker (migrates first)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("FIDELO_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("FIDELO_PORT", "8000")))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("FIDELO_WEB_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("FIDELO_WEB_THREADS", "4")))
        parser.add_argument("--no-worker", action="store_true", help="do not start the job worker beside the web server")
        parser.add_argument("--demo", action="store_true", help="seed the demo merchants first if the database is empty")
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args, **options):
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        if options["demo"]:
            from fidelo.demo.seed import demo_is_seeded

            if demo_is_seeded():
                self.stdout.write("Demo data already present.")
            else:
                call_command("demo")
        from fidelo.demo.seed import DEMO_LOGINS

        children = [self._start_web(options)]
        if not options["no_worker"]:
            children.append(subprocess.Popen([sys.executable, "-m", "fidelo", "worker"]))
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(f"Fidelo is running at {url}"))
        self.stdout.write(f"  API docs: {url}api/v1/docs")
        self.stdout.write(f"  Data folder: {settings.DATA_DIR}" if not settings.DATABASE_URL else "  Database: PostgreSQL")
        if options["demo"]:
            for login in DEMO_LOGINS:
                self.stdout.write(f"  Demo login: {login['email']} / {login['password']} ({login['organization']})")
        self._wait(children)

    def _start_web(self, options) -> subprocess.Popen:
        command = [
            sys.executable, "-m", "granian", "--interface", "wsgi", "fidelo.wsgi:application",
            "--host", options["host"], "--port", str(options["port"]),
            "--workers", str(options["workers"]), "--blocking-threads", str(options["threads"]),
            "--no-ws", "--log-level", "warning",
        ]
        return subprocess.Popen(command)

    def _wait(self, children: list[subprocess.Popen]) -> None:
        stopping = False

        def stop(signum, _frame):
            nonlocal stopping
            stopping = True
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not stopping:
            if any(child.poll() is not None for child in children):
                stop(signal.SIGTERM, None)
                break
            time.sleep(0.5)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if any(child.returncode not in (0, -signal.SIGTERM, None) for child in children) and not stopping:
            sys.exit(1)
