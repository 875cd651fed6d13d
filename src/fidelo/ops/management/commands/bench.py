"""`fidelo bench NAME`: run a benchmark from bench/ and print its figures (last line: JSON).

Each bench is a module of the bench/ folder of a source checkout (see bench/common.py) with
`NAME`, `HELP`, `add_arguments(parser)` and `run(options, console) -> dict`. To add one
(rules, redeem, analytics…), write bench/NAME.py and list it in BENCHES.
"""

import importlib
import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

BENCHES = ["earn", "redeem", "rules", "analytics", "instructions"]
REPO_ROOT = Path(__file__).resolve().parents[5]


def _bench_module(name: str):
    if not (REPO_ROOT / "bench" / "__init__.py").exists():
        raise CommandError(f"The benches live in the bench/ folder of a source checkout; none at {REPO_ROOT / 'bench'}")
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    return importlib.import_module(f"bench.{name}")


class Command(BaseCommand):
    help = "Run a benchmark (earn: purchases over HTTP vs the raw ceiling; redeem: redemptions over HTTP vs earn). The last line printed is JSON."
    requires_system_checks = []

    def add_arguments(self, parser):
        subparsers = parser.add_subparsers(dest="bench", required=True, metavar="NAME", parser_class=type(parser))
        for name in BENCHES:
            try:
                module = _bench_module(name)
            except CommandError:
                subparsers.add_parser(name, help="(needs a source checkout)", called_from_command_line=getattr(parser, "called_from_command_line", None))
                continue
            sub = subparsers.add_parser(name, help=module.HELP, called_from_command_line=getattr(parser, "called_from_command_line", None))
            module.add_arguments(sub)

    def handle(self, *args, **options):
        from rich.console import Console

        module = _bench_module(options["bench"])
        console = Console(file=self.stdout, highlight=False, width=max(Console().width, 140))
        try:
            results = module.run(options, console)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(results, sort_keys=False))
