"""`fidelo ledger verify`: recompute every balance from the transfers; exit 1 on any drift."""

import sys

from django.core.management.base import BaseCommand

from fidelo.ledger.selectors import ledger_verify


class Command(BaseCommand):
    help = "Ledger tools. `verify`: recompute balances from transfers and check every invariant."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["verify"])
        parser.add_argument("--organization", type=int, default=None, help="only this organization id")

    def handle(self, *args, **options):
        drifts = ledger_verify(organization_id=options["organization"])
        if drifts:
            for drift in drifts[:100]:
                self.stderr.write(f"DRIFT {drift}")
            self.stderr.write(self.style.ERROR(f"{len(drifts)} drift(s) found"))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS("Ledger verified: every balance equals the sum of its transfers."))
