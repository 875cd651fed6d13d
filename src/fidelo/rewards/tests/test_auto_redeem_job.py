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
