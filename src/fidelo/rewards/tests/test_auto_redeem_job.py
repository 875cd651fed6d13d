"""The worker's auto-redemption job issues opted-in members' rewards once their balance allows it."""

import pytest
from django.utils import timezone

from fidelo.conftest import STAFF, make_member
from fidelo.purchases.services import purchase_record
from fidelo.rewards.jobs import auto_redeem_due
from fidelo.rewards.models import Voucher
from fidelo.rewards.services import auto_redemption_set, reward_create

pytestmark = pytest.mark.django_db


def test_members_who_opted_in_get_their_reward_when_the_balance_allows_it(org, program, store):
    reward = reward_create(organization=org, program=program, actor=STAFF, kind="voucher_amount", title_fr="Bon de 5 €", cost_points=100, amount_minor=500)
    saver, spender, bystander = make_member(org), make_member(org), make_member(org)
    auto_redemption_set(member=saver, reward=reward)
    auto_redemption_set(member=spender, reward=reward)
    for n, (member, cents) in enumerate([(saver, 25_000), (spender, 5_000), (bystander, 30_000)]):
        purchase_record(program=program, member=member, store=store, external_id=f"T-{n}", occurred_at=timezone.now(), total_minor=cents, currency="EUR")

    assert auto_redeem_due() == 2  # 250 points: two vouchers for the saver; 50 points: none for the spender
    assert Voucher.objects.filter(member=saver, channel="auto").count() == 2
    assert not Voucher.objects.filter(member__in=[spender, bystander]).exists()
    assert auto_redeem_due() == 0  # nothing more until the next purchase


def test_a_partner_code_voucher_cannot_be_cancelled_once_the_code_was_handed_out(org, program, store, member):
    from fidelo.core.errors import DomainError
    from fidelo.ledger.selectors import member_balance
    from fidelo.rewards.services import reward_add_codes, reward_redeem, voucher_cancel

    reward = reward_create(organization=org, program=program, actor=STAFF, kind="partner_code", title_fr="Place de cinéma", cost_points=20)
    reward_add_codes(reward=reward, codes=["CINE-1"], actor=STAFF)
    purchase_record(program=program, member=member, store=store, external_id="T-1", occurred_at=timezone.now(), total_minor=5_000, currency="EUR")
    voucher = reward_redeem(program=program, member=member, reward=reward).voucher
    with pytest.raises(DomainError) as error:
        voucher_cancel(voucher=voucher, program=program, actor=STAFF)
    assert error.value.code == "voucher_not_cancellable"
    assert member_balance(member, "PTS").available == 30


def test_voucher_codes_read_as_typed_at_a_till():
    from fidelo.rewards.services import normalize_code

    assert normalize_code(" 7o5e-a15b q55v 477n ") == "705EA15BQ55V477N"
    assert normalize_code("IL") == "11"


def test_a_voucher_is_refused_in_a_store_of_another_organization(org, program, store, member):
    from fidelo.conftest import make_org
    from fidelo.rewards.errors import VoucherStoreNotAllowed
    from fidelo.rewards.services import reward_redeem, voucher_value
    from fidelo.tenancy.services import store_create

    reward = reward_create(organization=org, program=program, actor=STAFF, kind="voucher_amount", title_fr="Bon", cost_points=10, amount_minor=500)
    purchase_record(program=program, member=member, store=store, external_id="T-1", occurred_at=timezone.now(), total_minor=5_000, currency="EUR")
    voucher = reward_redeem(program=program, member=member, reward=reward).voucher
    elsewhere = store_create(organization=make_org("ailleurs"), code="x", name="X")
    with pytest.raises(VoucherStoreNotAllowed):
        voucher_value(voucher, store=elsewhere, basket_minor=2_000)
