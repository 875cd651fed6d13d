"""`fidelo org …`: create organizations, stores, staff owners and API keys from the command line.

  fidelo org create --name "Café des Arts" --slug cafe-des-arts [--timezone Europe/Paris] [--currency EUR]
  fidelo org store --org cafe-des-arts --code paris-11 --name "Paris 11e" [--city Paris] [--online]
  fidelo org staff --org cafe-des-arts --email gerant@example.fr [--password …] [--role owner]
  fidelo org apikey --org cafe-des-arts --name "Caisse Paris" [--store paris-11]
  fidelo org revoke-key --org cafe-des-arts --prefix AbCdEfGh
  fidelo org list
"""

import secrets
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from fidelo.core.actors import CLI
from fidelo.core.errors import DomainError
from fidelo.tenancy.models import ApiKey, Organization, StaffRole
from fidelo.tenancy.selectors import organization_by_slug, store_by_code
from fidelo.tenancy.services import (
    api_key_create,
    api_key_revoke,
    organization_create,
    staff_add,
    store_create,
)


class Command(BaseCommand):
    help = "Organizations, stores, staff and API keys."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create an organization and its program")
        create.add_argument("--name", required=True)
        create.add_argument("--slug", required=True)
        create.add_argument("--timezone", default="Europe/Paris")
        create.add_argument("--currency", default="EUR")
        create.add_argument("--locale", default="fr", choices=["fr", "en"])
        store = sub.add_parser("store", help="add a store (point of sale)")
        store.add_argument("--org", required=True)
        store.add_argument("--code", required=True)
        store.add_argument("--name", required=True)
        store.add_argument("--city", default="")
        store.add_argument("--online", action="store_true", help="a web shop")
        staff = sub.add_parser("staff", help="add a staff user (owner by default)")
        staff.add_argument("--org", required=True)
        staff.add_argument("--email", required=True)
        staff.add_argument("--password", help="generated and printed if omitted")
        staff.add_argument("--role", default=StaffRole.OWNER, choices=StaffRole.values)
        key = sub.add_parser("apikey", help="create an API key (printed once)")
        key.add_argument("--org", required=True)
        key.add_argument("--name", required=True)
        key.add_argument("--store", help="limit the key to this store code")
        revoke = sub.add_parser("revoke-key", help="revoke an API key by its prefix")
        revoke.add_argument("--org", required=True)
        revoke.add_argument("--prefix", required=True)
        sub.add_parser("list", help="list organizations")

    def handle(self, *args, **options):
        try:
            getattr(self, "_" + options["action"].replace("-", "_"))(options)
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.detail}") from error

    def _create(self, o):
        org = organization_create(name=o["name"], slug=o["slug"], timezone=o["timezone"], currency=o["currency"], locale=o["locale"])
        self.stdout.write(self.style.SUCCESS(f"Organization {org.slug} created (id {org.id})."))

    def _store(self, o):
        org = organization_by_slug(o["org"])
        store = store_create(organization=org, code=o["code"], name=o["name"], city=o["city"], is_online=o["online"])
        self.stdout.write(self.style.SUCCESS(f"Store {store.code} created in {org.slug}."))

    def _staff(self, o):
        org = organization_by_slug(o["org"])
        password = o["password"] or secrets.token_urlsafe(12)
        try:
            validate_password(password)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        staff_add(organization=org, email=o["email"], password=password, role=o["role"])
        self.stdout.write(self.style.SUCCESS(f"Staff {o['email']} ({o['role']}) added to {org.slug}."))
        if not o["password"]:
            self.stdout.write(f"Password: {password}")

    def _apikey(self, o):
        org = organization_by_slug(o["org"])
        store = store_by_code(org.id, o["store"]) if o["store"] else None
        issued = api_key_create(organization=org, name=o["name"], actor=CLI, store=store)
        self.stdout.write(self.style.SUCCESS(f"API key {issued.api_key.prefix}… created; keep it now, it is not shown again:"))
        self.stdout.write(issued.token)

    def _revoke_key(self, o):
        org = organization_by_slug(o["org"])
        key = ApiKey.objects.filter(organization=org, prefix=o["prefix"], revoked_at__isnull=True).first()
        if key is None:
            raise CommandError(f"No active key with prefix {o['prefix']} in {org.slug}")
        api_key_revoke(api_key=key, actor=CLI)
        self.stdout.write(self.style.SUCCESS(f"API key {key.prefix}… revoked."))

    def _list(self, o):
        for org in Organization.objects.order_by("slug"):
            self.stdout.write(f"{org.slug}\t{org.name}\t{org.timezone}\t{org.currency}")
        sys.stdout.flush()
