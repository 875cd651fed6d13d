"""`fidelo member …`: enroll and find members from the command line.

  fidelo member enroll --org cafe-des-arts --first-name Léa --last-name Moreau --email lea@example.fr [--phone …] [--store paris-11]
  fidelo member find --org cafe-des-arts (--card N | --email E | --phone P)
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from fidelo.core.actors import CLI
from fidelo.core.errors import DomainError
from fidelo.members.selectors import member_lookup
from fidelo.members.services import member_enroll
from fidelo.tenancy.selectors import organization_by_slug, store_by_code


class Command(BaseCommand):
    help = "Enroll or find members."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        enroll = sub.add_parser("enroll", help="enroll a member")
        enroll.add_argument("--org", required=True)
        enroll.add_argument("--first-name", default="")
        enroll.add_argument("--last-name", default="")
        enroll.add_argument("--email", default="")
        enroll.add_argument("--phone", default="")
        enroll.add_argument("--birthday", help="YYYY-MM-DD")
        enroll.add_argument("--locale", choices=["fr", "en"])
        enroll.add_argument("--store", help="store code where the member enrolls")
        enroll.add_argument("--consent", action="append", default=[], choices=["email", "sms", "voice"], help="channels the member agreed to")
        find = sub.add_parser("find", help="find a member by card, email or phone")
        find.add_argument("--org", required=True)
        find.add_argument("--card")
        find.add_argument("--email")
        find.add_argument("--phone")

    def handle(self, *args, **o):
        try:
            org = organization_by_slug(o["org"])
            if o["action"] == "enroll":
                birthday = dt.date.fromisoformat(o["birthday"]) if o["birthday"] else None
                store = store_by_code(org.id, o["store"]) if o["store"] else None
                member = member_enroll(
                    organization=org, actor=CLI, first_name=o["first_name"], last_name=o["last_name"], email=o["email"], phone=o["phone"],
                    birthday=birthday, locale=o["locale"], store=store, channel="cli",
                    consents={channel: True for channel in o["consent"]}, consent_source="cli",
                )
                self.stdout.write(self.style.SUCCESS(f"Member {member.id} enrolled, card {member.card_number}."))
            else:
                member = member_lookup(org, card=o["card"], email=o["email"], phone=o["phone"])
                self.stdout.write(f"{member.id}\t{member.card_number}\t{member.full_name}\t{member.email}\t{member.phone}")
        except ValueError as error:
            raise CommandError(f"invalid value: {error}") from error
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.detail}") from error
