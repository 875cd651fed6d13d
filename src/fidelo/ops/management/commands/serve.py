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
        parser.add_argument("--threads", type=int, default=int(os.environ.get("FIDELO_WEB_THREADS", "2")))
        parser.add_argument("--no-worker", action="store_true", help="do not start the job worker beside the web server")
        parser.add_argument("--demo", action="store_true", help="seed the demo merchants first if the database is empty")
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args, **options):
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
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
        signalled = False

        def stop_children() -> None:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)

        def on_signal(signum, _frame):
            nonlocal signalled
            signalled = True
            stop_children()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        while not signalled and all(child.poll() is None for child in children):
            time.sleep(0.5)
        if not signalled:
            stop_children()  # a child died on its own: stop the others
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if not signalled:
            codes = ", ".join(f"{' '.join(map(str, child.args[:4]))} -> {child.returncode}" for child in children)
            self.stderr.write(self.style.ERROR(f"A Fidelo process stopped unexpectedly ({codes}); shutting down."))
            sys.exit(1)
