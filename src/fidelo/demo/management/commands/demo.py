"""`fidelo demo`: seed the demo merchants (Forme+, Café des Arts) with a year of activity.

Refuses to touch a database that already holds them: the ledger is append-only, so there
is no reset; start from an empty data folder (or database) instead.
"""

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from fidelo.demo.seed import (
    DEFAULT_MEMBERS,
    DEFAULT_MONTHS,
    DEFAULT_SEED,
    DEMO_LOGINS,
    DemoAlreadySeeded,
    demo_is_seeded,
    seed_demo,
)

def _euros(cents: int) -> str:
    return f"{cents / 100:,.2f} €".replace(",", " ").replace(".", ",")


ALREADY = "Demo data already present (Forme+, Café des Arts): nothing to do."


class RichReporter:
    """Shows each phase of the seeding as a rich progress bar (on a terminal only)."""

    def __init__(self, progress: Progress | None, write):
        self.progress = progress
        self.write = write
        self.task = None

    def phase(self, label: str, total: int | None) -> None:
        if self.progress is None:
            self.write(f"{label}…")
            return
        if self.task is not None:
            task = self.progress.tasks[-1]
            self.progress.update(self.task, total=task.completed or 1, completed=task.completed or 1)
        self.task = self.progress.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, n)


class Command(BaseCommand):
    help = "Seed two demo merchants (a gym and a café chain) with members and a year of activity."

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=DEFAULT_MEMBERS, help=f"members per organization (default {DEFAULT_MEMBERS})")
        parser.add_argument("--months", type=int, default=DEFAULT_MONTHS, help=f"months of activity ending now (default {DEFAULT_MONTHS})")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed: the same seed tells the same story")
        parser.add_argument("--reset", action="store_true", help="refused: the ledger is append-only")
        parser.add_argument("--no-migrate", action="store_true", help="do not apply migrations first")

    def handle(self, *args, **options):
        if options["reset"]:
            raise CommandError(
                "--reset is refused: the ledger is append-only and Fidelo never deletes transfers. "
                "Seed an empty database instead (a new FIDELO_DATA_DIR, or a fresh PostgreSQL database)."
            )
        if options["members"] < 1:
            raise CommandError("--members must be at least 1")
        if not 1 <= options["months"] <= 36:
            raise CommandError("--months must be between 1 and 36")
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        if demo_is_seeded():
            self.stdout.write(ALREADY)
            return

        console = Console(stderr=True)
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            if console.is_terminal:
                with Progress(*columns, console=console) as progress:
                    report = self._seed(options, RichReporter(progress, self.stdout.write))
            else:
                report = self._seed(options, RichReporter(None, self.stdout.write))
        except DemoAlreadySeeded:
            self.stdout.write(ALREADY)
            return
        self._summary(report)

    def _seed(self, options, reporter):
        return seed_demo(members_per_org=options["members"], months=options["months"], seed=options["seed"], reporter=reporter)

    def _summary(self, report) -> None:
        from fidelo.ledger.selectors import ledger_verify

        write = self.stdout.write
        write(self.style.SUCCESS(f"Demo seeded in {report.seconds:.1f} s."))
        if not report.clock_moved:
            write(self.style.WARNING("The clock could not be moved: old purchases were credited without their pending period."))
        passwords = {login["email"]: login["password"] for login in DEMO_LOGINS}
        for org in report.organizations:
            write("")
            write(self.style.MIGRATE_HEADING(f"{org.name} ({org.slug}): {', '.join(org.stores)}"))
            write(f"  Login:   {org.login} / {passwords[org.login]}")
            write(f"  API key: {org.api_key}  (shown once)")
            write("  " + ", ".join(f"{name}: {value}" for name, value in org.counts.items()))
            write("  " + ", ".join(f"{name}: {_euros(value)}" for name, value in org.money.items()))
            for row in org.charity:
                write(f"  Donations to {row['association']}: {_euros(row['amount_cents'])} ({row['donations']} donations, {row['points']} points)")
        drifts = ledger_verify()
        if drifts:
            raise CommandError(f"The ledger does not verify after seeding: {drifts[0]} ({len(drifts)} drift(s))")
        write("")
        write(self.style.SUCCESS("Ledger verified."))
