"""Referrals, story by story: codes, enrolling with a code, completion, limits, window, reversal, settings."""

import datetime as dt

import pytest
from django.utils import translation

from fidelo.conftest import STAFF, at, make_member, make_org, program_of
from fidelo.core.clock import travel_to
from fidelo.core.errors import DomainError
from fidelo.core.models import AuditEntry
from fidelo.ledger.models import Lot, LotStatus, Transfer
from fidelo.ledger.reasons import render_reason
from fidelo.ledger.tests.helpers import (
    assert_ledger_consistent,
    available,
    buy,
    pending,
    redeem,
)
from fidelo.members.models import Member, MemberStatus
from fidelo.referrals.models import Referral, ReferralCode, ReferralStatus
from fidelo.referrals.selectors import (
    member_referrals,
    referral_settings_for,
    referral_stats,
    referrals_count_by_member,
)
from fidelo.referrals.services import (
    CODE_ALPHABET,
    comparable_email,
    referral_code_for,
    referral_enroll,
    referral_link,
    referral_progress,
    referral_reverse,
    referral_settings_update,
    referrals_expire_due,
    shared_identity,
)
from fidelo.referrals.tests.helpers import (
    EUROS,
    enable,
    purchase_and_progress,
    refer,
    snapshot,
)
from fidelo.tenancy.services import program_update

pytestmark = pytest.mark.django_db

DAY = at(2025, 3, 3, 10)


@pytest.fixture
def on(org):
    return enable(org)


def refused(code: str, call) -> DomainError:
    """Run `call`, expect a refusal with `code`, and check that nothing was written."""
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        call()
    assert caught.value.code == code, caught.value.as_problem()
    assert snapshot() == before
    return caught.value


# --- codes and links -----------------------------------------------------------------------------


def test_a_member_gets_one_short_readable_code_made_on_first_request(org, member):
    assert not ReferralCode.objects.exists()
    code = referral_code_for(member=member)
    assert len(code) == 8 and set(code) <= set(CODE_ALPHABET)
    assert not set(code) & set("01OIL")
    assert referral_code_for(member=member) == code
    assert ReferralCode.objects.get().code == code


def test_codes_are_unique_within_an_organization(org):
    members = [make_member(org) for _ in range(30)]
    codes = [referral_code_for(member=m) for m in members]
    assert len(set(codes)) == 30


def test_the_link_is_on_the_portal_unless_the_merchant_gives_their_own_sign_up_page(org, member, on):
    code = referral_code_for(member=member)
    assert referral_link(member=member, base_url="https://fidelo.example/portal/cafe/") == f"https://fidelo.example/portal/cafe/join?ref={code}"
    enable(org, link_base_url="https://cafe.example/inscription?lang=fr")
    assert referral_link(member=member, base_url="https://fidelo.example/portal/cafe") == f"https://cafe.example/inscription?lang=fr&ref={code}"


# --- completion ---------------------------------------------------------------------------------------


def test_a_first_purchase_of_at_least_the_minimum_completes_the_referral_and_credits_both_sides(org, program, member, on):
    # Given Zoé joined with Anne's code
    zoe, referral = refer(org, member, at=DAY, first_name="Zoé", last_name="Leroy")
    assert referral.status == ReferralStatus.PENDING and referral.referrer_id == member.id
    # When Zoé makes her first purchase, of 25 € (the minimum is 20 €)
    done = purchase_and_progress(program, zoe, 25 * EUROS, occurred_at=DAY + dt.timedelta(days=2))
    # Then the referral is completed, with the purchase as its source
    assert done is not None and done.pk == referral.pk
    assert done.status == ReferralStatus.COMPLETED and done.completed_at == DAY + dt.timedelta(days=2)
    assert done.source_type == "purchase" and done.source_id is not None
    assert (done.referrer_points, done.referee_points, done.referrer_capped) == (100, 50, False)
    # And Anne got 100 points, Zoé 25 (her purchase) + 50 (her welcome bonus)
    assert available(member) == 100
    assert available(zoe) == 25 + 50
    # And each credit says why, in the member's history
    to_anne = Transfer.objects.get(pk=done.referrer_transfer_id)
    to_zoe = Transfer.objects.get(pk=done.referee_transfer_id)
    assert (to_anne.reason, to_anne.source_type, to_anne.source_id, to_anne.amount) == ("referral_referrer", "referral", done.pk, 100)
    assert (to_zoe.reason, to_zoe.source_type, to_zoe.source_id, to_zoe.amount) == ("referral_referee", "referral", done.pk, 50)
    with translation.override("en"):
        assert render_reason(to_anne.reason, to_anne.reason_params) == "Referral: Zoé L. made their first purchase"
        assert render_reason(to_zoe.reason, to_zoe.reason_params) == "Welcome bonus: you joined with Anne D.'s referral"
    assert_ledger_consistent(org)


def test_a_smaller_purchase_does_not_complete_it_and_a_later_qualifying_one_does(org, program, member, on):
    zoe, referral = refer(org, member, at=DAY)
    assert purchase_and_progress(program, zoe, 19 * EUROS + 99, occurred_at=DAY + dt.timedelta(hours=1)) is None
    assert Referral.objects.get(pk=referral.pk).status == ReferralStatus.PENDING
    assert available(member) == 0 and available(zoe) == 19
    done = purchase_and_progress(program, zoe, 20 * EUROS, occurred_at=DAY + dt.timedelta(days=1))
    assert done is not None and done.status == ReferralStatus.COMPLETED
    assert available(member) == 100 and available(zoe) == 19 + 20 + 50


def test_a_completed_referral_is_not_completed_again_by_the_next_purchase(org, program, member, on):
    zoe, _ = refer(org, member, at=DAY)
    assert purchase_and_progress(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=1)) is not None
    assert purchase_and_progress(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=2)) is None
    assert available(member) == 100
    assert Transfer.objects.filter(source_type="referral").count() == 2


def test_a_member_without_a_referral_costs_one_query_and_none_when_referrals_are_off(
    org, program, member, django_assert_num_queries
):
    referral_settings_for(org.id)  # cached, as after the first purchase of the process
    kwargs = {"program": program, "member": member, "amount_minor": 50 * EUROS, "occurred_at": DAY, "source_type": "purchase", "source_id": 1}
    with django_assert_num_queries(0):
        assert referral_progress(**kwargs) is None  # off
    enable(org)
    referral_settings_for(org.id)
    with django_assert_num_queries(0):
        assert referral_progress(**{**kwargs, "amount_minor": 5 * EUROS}) is None  # below the minimum
    with django_assert_num_queries(1):
        assert referral_progress(**kwargs) is None  # no pending referral: one conditional update


def test_credits_follow_the_program_return_window_like_the_purchase(org, member):
    program_update(organization=org, actor=STAFF, pending_days=14)
    program = program_of(org)
    enable(org)
    zoe, _ = refer(org, member, at=DAY - dt.timedelta(days=1))
    with travel_to(DAY + dt.timedelta(hours=1)):
        done = purchase_and_progress(program, zoe, 30 * EUROS, occurred_at=DAY)
    assert done is not None
    assert Lot.objects.get(transfer_id=done.referrer_transfer_id).available_at == DAY + dt.timedelta(days=14)
    with travel_to(DAY + dt.timedelta(hours=1)):
        assert pending(member) == 100


def test_in_cashback_mode_the_rewards_are_cents_of_the_currency(db):
    org = make_org("salon-cashback", currency_mode="cashback", earn_units=2, earn_per_minor=100)
    program = program_of(org)
    enable(org, referrer_points=500, referee_points=300)
    anne = make_member(org, first_name="Anne")
    zoe, _ = refer(org, anne, at=DAY)
    done = purchase_and_progress(program, zoe, 50 * EUROS, occurred_at=DAY + dt.timedelta(days=1))
    assert done is not None
    assert Transfer.objects.get(pk=done.referrer_transfer_id).unit == "EUR"
    assert available(anne) == 0  # no points ledger involved
    from fidelo.ledger.selectors import member_balance

    assert member_balance(anne, "EUR").available == 500
    assert member_balance(zoe, "EUR").available == 100 + 300  # 2 % of 50 € and the bonus


def test_a_side_with_zero_points_gets_no_credit(org, program, member):
    enable(org, referrer_points=100, referee_points=0)
    zoe, _ = refer(org, member, at=DAY)
    done = purchase_and_progress(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=1))
    assert done.referee_transfer_id is None and done.referee_points == 0
    assert available(zoe) == 30 and available(member) == 100


def test_referrals_switched_off_while_pending_do_not_complete(org, program, member, on):
    zoe, referral = refer(org, member, at=DAY)
    enable(org, enabled=False)
    assert purchase_and_progress(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=1)) is None
    assert Referral.objects.get(pk=referral.pk).status == ReferralStatus.PENDING


def test_a_purchase_made_before_the_referral_was_recorded_does_not_complete_it(org, program, member, on):
    zoe, referral = refer(org, member, at=DAY)
    result = referral_progress(
        program=program, member=zoe, amount_minor=30 * EUROS, occurred_at=DAY - dt.timedelta(hours=1), source_type="purchase", source_id=7
    )
    assert result is None and Referral.objects.get(pk=referral.pk).status == ReferralStatus.PENDING


# --- completion window ------------------------------------------------------------------------------


def test_the_purchase_must_come_within_the_completion_window(org, program, member):
    enable(org, completion_days=30)
    zoe, referral = refer(org, member, at=DAY)
    assert referral.complete_by == DAY + dt.timedelta(days=30)
    assert purchase_and_progress(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=30, minutes=1)) is None
    assert Referral.objects.get(pk=referral.pk).status == ReferralStatus.PENDING
    assert available(member) == 0
    # The expiry job closes it
    assert referrals_expire_due(at=DAY + dt.timedelta(days=31)) == 1
    expired = Referral.objects.get(pk=referral.pk)
    assert expired.status == ReferralStatus.EXPIRED and expired.closed_at == DAY + dt.timedelta(days=31)
    assert referrals_expire_due(at=DAY + dt.timedelta(days=32)) == 0


def test_a_purchase_on_the_last_day_of_the_window_completes_it(org, program, member):
    enable(org, completion_days=30)
    zoe, _ = refer(org, member, at=DAY)
    assert purchase_and_progress(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=30)) is not None
    assert referrals_expire_due(at=DAY + dt.timedelta(days=31)) == 0


def test_without_a_window_a_referral_never_expires(org, program, member, on):
    zoe, referral = refer(org, member, at=DAY)
    assert referral.complete_by is None
    assert referrals_expire_due(at=DAY + dt.timedelta(days=3000)) == 0
    assert purchase_and_progress(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=400)) is not None


# --- refusals at enrollment -----------------------------------------------------------------------


def test_an_unknown_code_is_refused(org, member, on):
    zoe = make_member(org)
    referral_code_for(member=member)
    for code in ("ZZZZZZZZ", "", "   ", "x" * 500):
        refused("referral_code_unknown", lambda code=code: referral_enroll(referee=zoe, code=code, at=DAY))


def test_a_code_is_read_whatever_the_case_spaces_and_dashes(org, member, on):
    code = referral_code_for(member=member)
    zoe = make_member(org)
    referral = referral_enroll(referee=zoe, code=f" {code[:4].lower()}-{code[4:]} ", at=DAY)
    assert referral.referrer_id == member.id and referral.code == code


def test_a_code_from_another_organization_is_unknown(org, member, on):
    other = make_org("boulangerie")
    enable(other)
    stranger = make_member(other)
    zoe = make_member(org)
    code = referral_code_for(member=stranger)
    refused("referral_code_unknown", lambda: referral_enroll(referee=zoe, code=code, at=DAY))


def test_nobody_can_join_with_a_code_when_referrals_are_off(org, member):
    code = referral_code_for(member=member)
    zoe = make_member(org)
    refused("referrals_disabled", lambda: referral_enroll(referee=zoe, code=code, at=DAY))
    enable(org, enabled=False)
    refused("referrals_disabled", lambda: referral_enroll(referee=zoe, code=code, at=DAY))


def test_a_member_cannot_refer_themselves(org, member, on):
    code = referral_code_for(member=member)
    error = refused("referral_self", lambda: referral_enroll(referee=member, code=code, at=DAY))
    assert error.status == 422 and error.extra["shared"] == "member"


def test_the_same_mailbox_with_a_plus_tag_is_a_self_referral(org, member, on):
    code = referral_code_for(member=member)  # anne.dupont@exemple.fr
    alias = make_member(org, email="Anne.Dupont+parrainage@Exemple.fr")
    error = refused("referral_self", lambda: referral_enroll(referee=alias, code=code, at=DAY))
    assert error.extra["shared"] == "email"


def test_gmail_dots_and_googlemail_are_the_same_mailbox(org, on):
    anne = make_member(org, email="anne.dupont@gmail.com")
    alias = make_member(org, email="a.n.ne.dupont+x@googlemail.com")
    code = referral_code_for(member=anne)
    refused("referral_self", lambda: referral_enroll(referee=alias, code=code, at=DAY))
    # Dots count elsewhere: another person
    bob = make_member(org, email="a.nne.dupont@exemple.fr")
    dupont = make_member(org, email="anne.dupont@exemple.fr")
    assert referral_enroll(referee=bob, code=referral_code_for(member=dupont), at=DAY).referrer_id == dupont.id


def test_the_same_phone_or_card_is_a_self_referral(org, member, on):
    code = referral_code_for(member=member)
    zoe = make_member(org)
    zoe.phone = member.phone  # as read from the referee's form, the same number
    error = refused("referral_self", lambda: referral_enroll(referee=zoe, code=code, at=DAY))
    assert error.extra["shared"] == "phone"
    other = make_member(org)
    other.card_number = member.card_number
    assert refused("referral_self", lambda: referral_enroll(referee=other, code=code, at=DAY)).extra["shared"] == "card"


def test_identity_comparison_rules():
    assert comparable_email("Jean.Martin+promo@Exemple.FR") == "jean.martin@exemple.fr"
    assert comparable_email("j.e.a.n+a@googlemail.com") == "jean@gmail.com"
    assert comparable_email("") == ""
    a = Member(pk=1, email="jean@exemple.fr", phone="", card_number="1")
    b = Member(pk=2, email="paul@exemple.fr", phone="", card_number="2")
    assert shared_identity(a, b) is None  # two empty phones are not the same phone


def test_a_member_is_referred_at_most_once(org, member, on):
    zoe, first = refer(org, member, at=DAY)
    # The same code again: the same referral (a retry)
    assert referral_enroll(referee=zoe, code=referral_code_for(member=member), at=DAY + dt.timedelta(hours=1)).pk == first.pk
    other_code = referral_code_for(member=make_member(org))
    error = refused("referral_already_referred", lambda: referral_enroll(referee=zoe, code=other_code, at=DAY))
    assert error.status == 409


def test_a_closed_referrer_or_referee_is_refused(org, member, on):
    code = referral_code_for(member=member)
    zoe = make_member(org)
    zoe.status = MemberStatus.CLOSED
    refused("member_closed", lambda: referral_enroll(referee=zoe, code=code, at=DAY))
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.CLOSED)
    newcomer = make_member(org)
    refused("referral_referrer_closed", lambda: referral_enroll(referee=newcomer, code=code, at=DAY))


def test_a_member_who_already_purchased_cannot_join_with_a_code(org, program, member, on):
    zoe = make_member(org)
    buy(program, zoe, 10 * EUROS, occurred_at=DAY)
    code = referral_code_for(member=member)
    refused("referral_not_new_member", lambda: referral_enroll(referee=zoe, code=code, at=DAY))


def test_a_naive_time_is_refused(org, member, on):
    zoe = make_member(org)
    code = referral_code_for(member=member)
    refused("naive_datetime", lambda: referral_enroll(referee=zoe, code=code, at=dt.datetime(2025, 3, 3)))


# --- limit per referrer ------------------------------------------------------------------------------


def test_the_referrer_limit_per_calendar_year(org, program, member):
    enable(org, max_per_referrer_per_year=2)
    # Two referrals completed in 2025
    for day in (1, 2):
        zoe, _ = refer(org, member, at=at(2025, 3, day))
        assert purchase_and_progress(program, zoe, 30 * EUROS, occurred_at=at(2025, 3, day, 15)) is not None
    assert available(member) == 200
    # A third in 2025 is refused
    newcomer, code = make_member(org), referral_code_for(member=member)
    refused("referral_limit_reached", lambda: referral_enroll(referee=newcomer, code=code, at=at(2025, 12, 31, 23, 30)))
    # From 1 January (Paris time), the count starts again
    _, referral = refer(org, member, at=at(2026, 1, 1, 0, 30))
    assert referral.status == ReferralStatus.PENDING


def test_referrals_pending_beyond_the_limit_still_welcome_the_new_member_but_do_not_pay_the_referrer(org, program, member):
    enable(org, max_per_referrer_per_year=1)
    first, _ = refer(org, member, at=DAY)
    second, _ = refer(org, member, at=DAY)  # both pending: the limit counts completed ones
    assert purchase_and_progress(program, first, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=1)).referrer_capped is False
    capped = purchase_and_progress(program, second, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=2))
    assert capped.status == ReferralStatus.COMPLETED and capped.referrer_capped is True
    assert (capped.referrer_points, capped.referee_points, capped.referrer_transfer_id) == (0, 50, None)
    assert available(member) == 100 and available(second) == 30 + 50


def test_a_referrer_closed_meanwhile_is_not_paid(org, program, member, on):
    zoe, _ = refer(org, member, at=DAY)
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.CLOSED)
    done = purchase_and_progress(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=1))
    assert done.referrer_points == 0 and done.referrer_transfer_id is None and done.referee_points == 50


# --- reversal on a full refund ------------------------------------------------------------------------


def test_a_full_refund_of_the_qualifying_purchase_takes_both_credits_back(org, program, member, on):
    zoe, _ = refer(org, member, at=DAY)
    result = buy(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=1))
    done = referral_progress(program=program, member=zoe, amount_minor=30 * EUROS, occurred_at=DAY + dt.timedelta(days=1),
                             source_type="purchase", source_id=result.purchase.id)
    assert available(member) == 100 and available(zoe) == 80
    # (The purchase's own refund is the purchases service's: here only what the orchestrator
    # calls next, once the purchase is fully refunded.)
    assert referral_reverse(program=program, source_type="purchase", source_id=result.purchase.id, at=DAY + dt.timedelta(days=3))
    reversed_ = Referral.objects.get(pk=done.pk)
    assert reversed_.status == ReferralStatus.REFUSED and reversed_.closed_at == DAY + dt.timedelta(days=3)
    assert available(member) == 0 and available(zoe) == 30  # the welcome bonus is gone, the purchase's points are not
    takebacks = Transfer.objects.filter(reason="referral_reversed").order_by("pk")
    assert [(t.amount, t.source_type, t.source_id) for t in takebacks] == [(50, "referral", done.pk), (100, "referral", done.pk)]
    assert all(lot.status == LotStatus.CLOSED for lot in Lot.objects.filter(transfer_id__in=[done.referrer_transfer_id, done.referee_transfer_id]))
    # Once only; and a later purchase does not complete it again
    assert not referral_reverse(program=program, source_type="purchase", source_id=result.purchase.id, at=DAY + dt.timedelta(days=4))
    assert purchase_and_progress(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=5)) is None
    assert available(member) == 0
    assert_ledger_consistent(org)


def test_points_already_spent_go_into_debt_or_stop_at_zero_as_the_program_says(org, member, on):
    program_update(organization=org, actor=STAFF, refund_policy="stop_at_zero")
    program = program_of(org)
    zoe, _ = refer(org, member, at=DAY)
    result = buy(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=1))
    referral_progress(program=program, member=zoe, amount_minor=30 * EUROS, occurred_at=DAY + dt.timedelta(days=1),
                      source_type="purchase", source_id=result.purchase.id)
    redeem(program, member, 60)  # Anne spent 60 of her 100
    assert referral_reverse(program=program, source_type="purchase", source_id=result.purchase.id, at=DAY + dt.timedelta(days=2))
    assert available(member) == 0  # 40 taken back, 60 forgiven
    program_update(organization=org, actor=STAFF, refund_policy="allow_debt")
    program = program_of(org)
    bruno = make_member(org, first_name="Bruno")
    lea, _ = refer(org, bruno, at=DAY)
    result = buy(program, lea, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=1))
    referral_progress(program=program, member=lea, amount_minor=30 * EUROS, occurred_at=DAY + dt.timedelta(days=1),
                      source_type="purchase", source_id=result.purchase.id)
    redeem(program, bruno, 60)
    referral_reverse(program=program, source_type="purchase", source_id=result.purchase.id, at=DAY + dt.timedelta(days=2))
    assert available(bruno) == -60
    assert_ledger_consistent(org)


def test_reversing_a_purchase_that_completed_nothing_does_nothing(org, program, member, on):
    result = buy(program, member, 30 * EUROS, occurred_at=DAY)
    before = snapshot()
    assert referral_reverse(program=program, source_type="purchase", source_id=result.purchase.id, at=DAY) is False
    assert snapshot() == before


def test_another_organization_cannot_reverse_this_one_s_referral(org, program, member, on):
    zoe, _ = refer(org, member, at=DAY)
    done = purchase_and_progress(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=1))
    other = program_of(make_org("ailleurs"))
    assert referral_reverse(program=other, source_type="purchase", source_id=done.source_id, at=DAY) is False
    assert Referral.objects.get(pk=done.pk).status == ReferralStatus.COMPLETED


# --- settings ---------------------------------------------------------------------------------------------


def test_settings_default_to_off_and_a_change_is_audited(org):
    assert referral_settings_for(org.id).enabled is False
    saved = referral_settings_update(organization=org, actor=STAFF, enabled=True, referrer_points=200, completion_days=60)
    assert (saved.enabled, saved.referrer_points, saved.completion_days) == (True, 200, 60)
    assert referral_settings_for(org.id).referrer_points == 200  # the cache is refreshed at once
    entry = AuditEntry.objects.get(action="referrals.settings")
    assert entry.organization_id == org.id and entry.actor == str(STAFF)
    assert entry.data == {"before": {"enabled": False, "referrer_points": 0, "completion_days": 0},
                          "after": {"enabled": True, "referrer_points": 200, "completion_days": 60}}


@pytest.mark.parametrize(
    "changes",
    [
        {"referrer_points": -1},
        {"referrer_points": 10**9 + 1},
        {"referee_points": "50"},
        {"referee_points": True},
        {"enabled": "yes"},
        {"enabled": 1},
        {"min_purchase_minor": 2.5},
        {"completion_days": 3651},
        {"max_per_referrer_per_year": -3},
        {"link_base_url": "javascript:alert(1)"},
        {"link_base_url": "https://exemple.fr/a b"},
        {"link_base_url": "https://exemple.fr/" + "x" * 300},
        {"link_base_url": 12},
        {"colour": "blue"},
    ],
    ids=str,
)
def test_bad_settings_are_refused_and_nothing_changes(org, changes):
    enable(org)
    error = refused("invalid_referral_settings", lambda: referral_settings_update(organization=org, actor=STAFF, **changes))
    assert error.status == 422


# --- reads --------------------------------------------------------------------------------------------------


def test_member_referrals_stats_and_counts(org, program, member, on):
    zoe, _ = refer(org, member, at=DAY, first_name="Zoé")
    lea, _ = refer(org, member, at=DAY + dt.timedelta(hours=1), first_name="Léa")
    purchase_and_progress(program, zoe, 30 * EUROS, occurred_at=DAY + dt.timedelta(days=1))
    code = referral_code_for(member=member)
    found = member_referrals(member, base_url="https://fidelo.example/portal/cafe")
    assert found.code == code and found.link == f"https://fidelo.example/portal/cafe/join?ref={code}"
    assert [(r.referee_id, r.status) for r in found.referrals] == [(lea.id, "pending"), (zoe.id, "completed")]
    assert found.referred_by is None
    assert member_referrals(zoe).referred_by.referrer_id == member.id
    assert member_referrals(zoe).code is None  # not made until asked for
    stats = referral_stats(org.id, DAY - dt.timedelta(days=1), DAY + dt.timedelta(days=7))
    assert (stats.made, stats.completed, stats.refused, stats.expired) == (2, 1, 0, 0)
    assert (stats.referrer_points, stats.referee_points, stats.points_given) == (100, 50, 150)
    assert referral_stats(org.id, DAY + dt.timedelta(days=7), DAY + dt.timedelta(days=8)).made == 0
    assert referrals_count_by_member(org.id) == {member.id: 1}


# --- inside the caller's transaction (member creation with a referral code) -------------------------


def test_enrolling_inside_the_member_creation_transaction_and_a_refusal_undoes_both(org, member, on):
    from fidelo.core.db import all_or_nothing
    from fidelo.members.services import member_enroll
    from fidelo.referrals.errors import SelfReferral

    code = referral_code_for(member=member)
    with all_or_nothing():
        zoe = member_enroll(organization=org, actor=STAFF, first_name="Zoé", email="zoe@exemple.fr")
        referral = referral_enroll(referee=zoe, code=code)
    assert Referral.objects.get(referee=zoe).pk == referral.pk
    before = snapshot()
    with pytest.raises(SelfReferral), all_or_nothing():
        alias = member_enroll(organization=org, actor=STAFF, first_name="Anne", email="anne.dupont+bis@exemple.fr")
        referral_enroll(referee=alias, code=code)
    assert not Member.objects.filter(email="anne.dupont+bis@exemple.fr").exists()
    assert snapshot() == before
