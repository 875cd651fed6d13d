"""`fidelo expire`: release pending points whose return window ended and expire due lots now."""

from django.core.management.base import BaseCommand
from rich.progress import Progress

from fidelo.core.clock import now
from fidelo.ledger.jobs import expire_due, release_due
from fidelo.ledger.selectors import due_expired_lots, due_pending_lots


class Command(BaseCommand):
    help = "Release due pending points, then expire lots past their expiry date."

    def handle(self, *args, **options):
        at = now()
        with Progress(transient=True) as progress:
            task = progress.add_task("Releasing pending points", total=len(due_pending_lots(at, 10**9)))
            released = release_due(at=at, progress=lambda n: progress.advance(task, n))
            task = progress.add_task("Expiring lots", total=len(due_expired_lots(at, 10**9)))
            expired = expire_due(at=at, progress=lambda n: progress.advance(task, n))
        self.stdout.write(f"Released {released.amount} in {released.lots} lot(s); expired {expired.amount} in {expired.lots} lot(s).")
