"""Referrals under concurrent writers: real threads, real connections, released together.

Runs on PostgreSQL (row locks, conditional updates) and on SQLite (writers queue on core.db's
lock). Each thread closes its own connection; the ledger is verified after each story.
"""

import datetime as dt

import pytest

from fidelo.conftest import at, make_member
from fidelo.core.db import write_transaction
from fidelo.ledger.models import Transfer
from fidelo.ledger.tests.helpers import (
    all_at_once,
    assert_ledger_consistent,
    available,
    buy,
    errors_of,
    successes,
)
from fidelo.referrals.errors import AlreadyReferred
from fidelo.referrals.models import Referral, ReferralCode, ReferralStatus
from fidelo.referrals.services import (
    referral_code_for,
    referral_enroll,
    referral_progress,
    referral_reverse,
)
from fidelo.referrals.tests.helpers import EUROS, enable, refer

pytestmark = pytest.mark.django_db(transaction=True)

DAY = at(2025, 3, 3, 10)


def progress_in_transaction(program, member, purchase, occurred_at):
    """As the awards orchestrator calls it: inside the purchase's write transaction."""
    with write_transaction():
        return referral_progress(
            program=program, member=member, amount_minor=purchase.total_minor, occurred_at=occurred_at, source_type="purchase",
            source_id=purchase.id,
        )


def test_two_qualifying_purchases_at_once_complete_the_referral_once(org, program, member):
    enable(org)
    zoe, referral = refer(org, member, at=DAY)
    purchases = [buy(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(hours=h)).purchase for h in (1, 2)]
    results = all_at_once(2, lambda i: progress_in_transaction(program, zoe, purchases[i], DAY + dt.timedelta(hours=i + 1)))
    assert errors_of(results) == []
    completed = [r for r in successes(results) if r is not None]
    assert len(completed) == 1 and completed[0].pk == referral.pk
    assert Referral.objects.get(pk=referral.pk).status == ReferralStatus.COMPLETED
    assert Transfer.objects.filter(source_type="referral").count() == 2
    assert available(member) == 100 and available(zoe) == 60 + 50
    assert_ledger_consistent(org)


def test_a_new_member_enrolled_with_two_codes_at_once_is_referred_once(org, member):
    enable(org)
    bruno = make_member(org, first_name="Bruno")
    codes = [referral_code_for(member=member), referral_code_for(member=bruno)]
    zoe = make_member(org)
    results = all_at_once(2, lambda i: referral_enroll(referee=zoe, code=codes[i], at=DAY))
    assert len(successes(results)) == 1
    assert [type(e) for e in errors_of(results)] == [AlreadyReferred]
    assert Referral.objects.filter(referee=zoe).count() == 1


def test_a_code_asked_for_by_ten_requests_at_once_is_one_code(org, member):
    results = all_at_once(10, lambda i: referral_code_for(member=member))
    assert errors_of(results) == []
    assert len(set(successes(results))) == 1
    assert ReferralCode.objects.filter(member=member).count() == 1


def test_two_referees_completing_at_once_respect_the_referrer_yearly_limit(org, program, member):
    enable(org, max_per_referrer_per_year=1)
    referees = [refer(org, member, at=DAY)[0] for _ in range(2)]
    purchases = [buy(program, r, 30 * EUROS, occurred_at=DAY + dt.timedelta(hours=1)).purchase for r in referees]
    results = all_at_once(2, lambda i: progress_in_transaction(program, referees[i], purchases[i], DAY + dt.timedelta(hours=1)))
    assert errors_of(results) == []
    assert sorted(r.referrer_capped for r in successes(results)) == [False, True]
    assert available(member) == 100  # paid once
    assert [available(r) for r in referees] == [80, 80]  # both welcomed
    assert_ledger_consistent(org)


def test_two_reversals_at_once_take_back_once(org, program, member):
    enable(org)
    zoe, _ = refer(org, member, at=DAY)
    purchase = buy(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(hours=1)).purchase
    progress_in_transaction(program, zoe, purchase, DAY + dt.timedelta(hours=1))
    results = all_at_once(2, lambda i: referral_reverse(program=program, source_type="purchase", source_id=purchase.id, at=DAY + dt.timedelta(days=1)))
    assert errors_of(results) == []
    assert sorted(successes(results)) == [False, True]
    assert available(member) == 0 and available(zoe) == 30
    assert Transfer.objects.filter(reason="referral_reversed").count() == 2
    assert_ledger_consistent(org)
