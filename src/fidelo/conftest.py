"""Shared pytest fixtures: organizations, programs, stores, members and an API client.

The suite runs on SQLite by default and on PostgreSQL when FIDELO_DATABASE_URL is set
(scripts/test runs both).
"""

import datetime as dt
from collections.abc import Iterator

import pytest
from django.test import Client

from fidelo.core.actors import Actor
from fidelo.ledger import services as ledger_services
from fidelo.members.models import Member
from fidelo.members.services import member_enroll
from fidelo.tenancy import selectors as tenancy_selectors
from fidelo.tenancy.models import Organization, Program, Store
from fidelo.tenancy.services import api_key_create, organization_create, store_create

STAFF = Actor(kind="staff", id=1, label="Camille (gérante)")


@pytest.fixture(autouse=True)
def _clear_process_caches() -> Iterator[None]:
    from fidelo.engagement import selectors as engagement_selectors
    from fidelo.referrals import selectors as referrals_selectors
    from fidelo.rewards import selectors as rewards_selectors
    from fidelo.rules import selectors as rules_selectors
    from fidelo.tiers import selectors as tiers_selectors

    caches = (tenancy_selectors.clear_caches, ledger_services.clear_caches, rewards_selectors.clear_caches, tiers_selectors.clear_caches,
              engagement_selectors.clear_caches, referrals_selectors.clear_caches, rules_selectors.clear_caches)
    for clear in caches:
        clear()
    yield
    for clear in caches:
        clear()


def make_org(slug: str = "cafe-test", **program: object) -> Organization:
    return organization_create(name=slug.replace("-", " ").title(), slug=slug, **program)


def program_of(org: Organization) -> Program:
    tenancy_selectors.forget_program(org.id)
    return tenancy_selectors.program_for(org.id)


@pytest.fixture
def org(db) -> Organization:
    return make_org()


@pytest.fixture
def program(org) -> Program:
    return program_of(org)


@pytest.fixture
def store(org) -> Store:
    return store_create(organization=org, code="paris-11", name="Paris 11e", city="Paris")


_member_counter = iter(range(1, 10**9))


def make_member(org: Organization, **fields: object) -> Member:
    n = next(_member_counter)
    defaults = {"first_name": "Membre", "last_name": f"N{n}", "email": f"membre{n}@exemple.fr"}
    defaults.update(fields)
    return member_enroll(organization=org, actor=STAFF, **defaults)  # type: ignore[arg-type]


@pytest.fixture
def member(org) -> Member:
    return make_member(org, first_name="Anne", last_name="Dupont", email="anne.dupont@exemple.fr", phone="06 12 34 56 78")


class ApiClient:
    """A Django test client that sends the API key and JSON bodies."""

    def __init__(self, token: str | None):
        self.client = Client()
        self.token = token

    def _headers(self, headers: dict | None) -> dict:
        result = {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}
        for name, value in (headers or {}).items():
            result["HTTP_" + name.upper().replace("-", "_")] = value
        return result

    def get(self, path: str, headers: dict | None = None, **params):
        return self.client.get(path, params, **self._headers(headers))

    def post(self, path: str, body: object = None, *, key: str | None = None, headers: dict | None = None, raw: str | None = None):
        import json

        headers = dict(headers or {})
        if key is not None:
            headers["Idempotency-Key"] = key
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(path, data=data, content_type="application/json", **self._headers(headers))


@pytest.fixture
def api(org) -> ApiClient:
    return ApiClient(api_key_create(organization=org, name="tests", actor=STAFF).token)


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    """An aware datetime in Paris time."""
    import zoneinfo

    return dt.datetime(year, month, day, hour, minute, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
