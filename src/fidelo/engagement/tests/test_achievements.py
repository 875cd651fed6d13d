"""Achievements (badges): defined by the merchant, earned once per member, shown to the member."""

import datetime as dt

import pytest

from fidelo.conftest import STAFF, at, make_member, make_org
from fidelo.core.errors import ValidationFailed
from fidelo.core.models import AuditEntry
from fidelo.engagement.errors import BadgeExists, BadgeNotFound, InvalidBadge
from fidelo.engagement.models import MemberAchievement
from fidelo.engagement.selectors import (
    badge_by_code,
    badge_counts,
    badges_of,
    member_achievements,
)
from fidelo.engagement.services import achievement_grant, achievement_update
from fidelo.engagement.tests.helpers import badge, engagement_state
from fidelo.members.errors import MemberClosed
from fidelo.members.models import Member, MemberStatus

pytestmark = pytest.mark.django_db

DAY = at(2025, 6, 1, 18)


def grant(member, code="first-visit", *, when=DAY, source_type="visit", source_id=1, rule_id=None):
    return achievement_grant(member=member, badge_code=code, occurred_at=when, source_type=source_type, source_id=source_id, rule_id=rule_id)


def test_a_badge_is_earned_once_and_shown_to_the_member(program, member):
    # Given two badges
    badge(program, "first-visit")
    badge(program, "one-year", name_fr="Un an avec nous", name_en="One year with us", icon="🎂")
    # When the member earns "first visit" through a rule, then again on the next visit
    earned = grant(member, rule_id=12, source_id=10)
    again = grant(member, source_id=11, when=DAY + dt.timedelta(days=1))
    # Then it is earned once, with its date and source
    assert again is None
    assert (earned.member_id, earned.badge.code, earned.earned_at, earned.source_type, earned.source_id, earned.rule_id) == (
        member.pk, "first-visit", DAY, "visit", 10, 12,
    )
    stored = MemberAchievement.objects.get()
    assert (stored.pk, stored.earned_at, stored.source_id) == (earned.pk, DAY, 10)
    grant(member, "one-year", when=DAY + dt.timedelta(days=365), source_type="anniversary", source_id=None)
    assert [(a.badge.code, a.badge.icon) for a in member_achievements(member)] == [("first-visit", "☕"), ("one-year", "🎂")]
    assert badge_counts(program.organization_id) == {"first-visit": 1, "one-year": 1}


def test_another_member_earns_the_same_badge_on_their_own(program, member):
    badge(program)
    other = make_member(program.organization)
    assert grant(member) is not None and grant(other) is not None
    assert MemberAchievement.objects.count() == 2


def test_an_inactive_badge_grants_nothing_without_refusing_the_event(program, member):
    retired = badge(program)
    achievement_update(badge=retired, actor=STAFF, active=False)
    before = engagement_state()
    assert grant(member) is None
    assert engagement_state() == before


def test_unknown_badges_other_organizations_closed_members_and_naive_times_are_refused(program, member):
    badge(program)
    stranger = make_member(make_org("autre-salon"))
    before = engagement_state()
    with pytest.raises(BadgeNotFound) as unknown:
        grant(member, "nope")
    assert unknown.value.code == "badge_not_found"
    with pytest.raises(BadgeNotFound):  # this café's badge, another organization's member
        grant(stranger)
    with pytest.raises(ValidationFailed) as naive:
        grant(member, when=dt.datetime(2025, 6, 1, 18))
    assert naive.value.code == "naive_datetime"
    with pytest.raises(ValidationFailed) as bad_source:
        grant(member, source_id="12")
    assert bad_source.value.code == "invalid_source"
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.CLOSED)
    member.refresh_from_db()
    with pytest.raises(MemberClosed):
        grant(member)
    assert engagement_state() == before


def test_a_badge_is_created_and_changed_with_audit_rows_and_the_codes_cache_follows(program, member):
    made = badge(program, "fidele", description_fr="5 visites en un mois", image_url="https://exemple.fr/b.png")
    assert badges_of(program.organization_id) == frozenset({"fidele"})
    badge(program, "parrain")
    assert badges_of(program.organization_id) == frozenset({"fidele", "parrain"})  # created in this process: seen at once
    achievement_update(badge=made, actor=STAFF, name_en="Regular", active=False)
    assert badge_by_code(program.organization_id, "fidele").active is False
    actions = list(AuditEntry.objects.filter(target_type="badge").order_by("pk").values_list("action", "target_id", "data"))
    assert actions == [("badge.create", "fidele", {}), ("badge.create", "parrain", {}), ("badge.update", "fidele", {"fields": ["active", "name_en"]})]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"code": "un badge"}, "code"),
        ({"name_fr": ""}, "name_fr"),
        ({"name_en": "x" * 201}, "name_en"),
        ({"icon": "x" * 17}, "icon"),
        ({"image_url": "javascript:alert(1)"}, "image_url"),
        ({"description_en": 3}, "description_en"),
        ({"active": None}, "active"),
    ],
)
def test_a_bad_badge_is_refused_and_nothing_written(program, fields, field):
    before = (engagement_state(), AuditEntry.objects.count())
    with pytest.raises(InvalidBadge) as refused:
        badge(program, **fields)
    assert (refused.value.code, refused.value.extra.get("field")) == ("invalid_badge", field)
    assert (engagement_state(), AuditEntry.objects.count()) == before


def test_a_duplicate_badge_code_and_read_only_fields_are_refused(program):
    made = badge(program)
    before = (engagement_state(), AuditEntry.objects.count())
    with pytest.raises(BadgeExists) as duplicate:
        badge(program)
    assert duplicate.value.code == "badge_exists"
    with pytest.raises(InvalidBadge):
        achievement_update(badge=made, actor=STAFF, code="autre")
    with pytest.raises(InvalidBadge):
        achievement_update(badge=made, actor=STAFF, name_fr="")
    assert (engagement_state(), AuditEntry.objects.count()) == before
