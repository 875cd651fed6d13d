"""Writes for stamp cards and achievements.

Stamps: each member's progress on a card is one row (MemberStampCard), locked while stamps
are added or taken back (PostgreSQL: SELECT … FOR UPDATE; SQLite: the database write lock),
so two events at once never fill a card twice with the same stamps. Every change is also
an append-only StampEntry naming its source, which is what a refund takes back.

Reversal policy (a refunded purchase, a cancelled visit): the stamps the source gave are
taken back from the member's current card, never below zero. A card already filled stays
filled and its reward stays issued; what could not be taken back is recorded on the
reversal entry (`forgiven`) so that the same source is never reversed twice.

Achievements: one row per member and badge under a unique constraint; granting an earned
badge again (or twice at once) inserts nothing and returns None.
"""

import datetime as dt
import re
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum

from fidelo.core.actors import Actor
from fidelo.core.audit import audit_record
from fidelo.core.clock import now, require_aware
from fidelo.core.db import db_time, mark_saved, write_transaction
from fidelo.core.errors import DomainError
from fidelo.engagement.errors import (
    BadgeExists,
    InvalidBadge,
    InvalidStampCard,
    InvalidStamps,
    StampCardExists,
)
from fidelo.engagement.models import (
    Badge,
    MemberAchievement,
    MemberStampCard,
    StampCard,
    StampCompletion,
    StampEntry,
    StampEntryKind,
)
from fidelo.engagement.selectors import (
    badge_by_code,
    forget_badge,
    forget_stamp_card,
    stamp_card_by_code,
)
from fidelo.ledger.services import check_member_active
from fidelo.members.models import Member
from fidelo.rewards.models import Reward
from fidelo.rewards.services import Redemption, reward_grant
from fidelo.tenancy.models import Organization, Program

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_STAMPS_REQUIRED = 1000
MAX_STAMPS_AT_ONCE = 10_000
MAX_SOURCE_TYPE = 32


def _check_code(code: object, error: type[DomainError]) -> str:
    if not isinstance(code, str) or not CODE_PATTERN.match(code):
        raise error("code must be 1 to 64 letters, digits, '-' or '_', starting with a letter or digit", field="code")
    return code


def _check_text(obj: object, field: str, limit: int, error: type[DomainError], *, required: bool = False) -> None:
    value = getattr(obj, field)
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise error(f"{field} must be text of at most {limit} characters", field=field)
    if required and not value.strip():
        raise error(f"{field} is required", field=field)


def _check_bool(obj: object, field: str, error: type[DomainError]) -> None:
    if not isinstance(getattr(obj, field), bool):
        raise error(f"{field} must be true or false", field=field)


def _check_source(source_type: str, source_id: int | None) -> None:
    if not isinstance(source_type, str) or len(source_type) > MAX_SOURCE_TYPE:
        raise InvalidStamps(f"source_type must be text of at most {MAX_SOURCE_TYPE} characters", code="invalid_source", field="source_type")
    if source_id is not None and (not isinstance(source_id, int) or isinstance(source_id, bool) or not -(2**63) <= source_id < 2**63):
        raise InvalidStamps("source_id must be an integer", code="invalid_source", field="source_id")


# --- stamp card definitions -------------------------------------------------------------------

CARD_EDITABLE = {"name_fr", "name_en", "description_fr", "description_en", "stamps_required", "reward", "active"}


def _check_card(card: StampCard) -> None:
    _check_text(card, "name_fr", 200, InvalidStampCard, required=True)
    _check_text(card, "name_en", 200, InvalidStampCard)
    _check_text(card, "description_fr", 5000, InvalidStampCard)
    _check_text(card, "description_en", 5000, InvalidStampCard)
    required = card.stamps_required
    if not isinstance(required, int) or isinstance(required, bool) or not 1 <= required <= MAX_STAMPS_REQUIRED:
        raise InvalidStampCard(f"stamps_required must be between 1 and {MAX_STAMPS_REQUIRED}", field="stamps_required")
    if card.reward_id is not None and card.reward.organization_id != card.organization_id:
        raise InvalidStampCard("The reward belongs to another organization", code="reward_not_found", field="reward_id")
    _check_bool(card, "active", InvalidStampCard)


def stamp_card_create(
    *, organization: Organization, actor: Actor, code: str, name_fr: str, stamps_required: int, name_en: str = "",
    description_fr: str = "", description_en: str = "", reward: Reward | None = None, active: bool = True,
) -> StampCard:
    """Define a stamp card (code, names, stamps to fill it, the reward a full card issues)."""
    card = StampCard(
        organization=organization, code=_check_code(code, InvalidStampCard), name_fr=name_fr, name_en=name_en, description_fr=description_fr,
        description_en=description_en, stamps_required=stamps_required, reward=reward, active=active,
    )
    _check_card(card)
    try:
        with write_transaction(), transaction.atomic():
            card.save()
            audit_record(organization_id=organization.id, actor=actor, action="stamp_card.create", target_type="stamp_card", target_id=card.code)
    except IntegrityError as error:
        raise StampCardExists(f"The code {code!r} is already used by another stamp card", card=code) from error
    forget_stamp_card(organization.id, card.code)
    return card


def stamp_card_update(*, card: StampCard, actor: Actor, **changes: object) -> StampCard:
    """Change some fields of a card (its code never changes: rules name it).

    Lowering the stamps required does not fill anyone's card by itself: a member who already
    has as many stamps fills it (and carries the rest over) with the next stamp.
    """
    unknown = set(changes) - CARD_EDITABLE
    if unknown:
        raise InvalidStampCard(f"Unknown or read-only stamp card fields: {', '.join(sorted(unknown))}", fields=sorted(unknown))
    with write_transaction():
        card = StampCard.objects.select_for_update().get(pk=card.pk)
        for field, value in changes.items():
            setattr(card, field, value)
        _check_card(card)
        card.save(update_fields=sorted(changes) or None)
        audit_record(
            organization_id=card.organization_id, actor=actor, action="stamp_card.update", target_type="stamp_card", target_id=card.code,
            data={"fields": sorted(changes)},
        )
        organization_id, code = card.organization_id, card.code
        transaction.on_commit(lambda: forget_stamp_card(organization_id, code))
    forget_stamp_card(organization_id, code)
    return card


# --- stamps -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StampResult:
    card_code: str
    added: int
    stamps: int  # on the current card, after this
    stamps_required: int
    completed: int  # cards filled in all, after this
    completions: int  # cards this call filled
    rewards: tuple[Redemption, ...]  # what those completions issued
    refused: tuple[str, ...]  # for each completion whose reward could not be issued: the refusal's code
    entry_id: int | None  # None: nothing added (the card is inactive)


def _lock_member_card(member: Member, card: StampCard) -> MemberStampCard:
    """The member's row for this card, created if needed (race-safe), locked until the end of the transaction."""
    rows = MemberStampCard.objects.select_for_update().filter(member_id=member.pk, card_id=card.pk)
    row = rows.first()
    if row is None:
        MemberStampCard.objects.bulk_create(
            [MemberStampCard(organization_id=member.organization_id, member_id=member.pk, card_id=card.pk, updated_at=now())],
            ignore_conflicts=True,
        )
        row = rows.get()
    return row


def stamps_add(
    *, program: Program, member: Member, card_code: str, count: int, occurred_at: dt.datetime, source_type: str, source_id: int | None,
    rule_id: int | None = None,
) -> StampResult:
    """Add `count` stamps to the member's card, in the caller's write transaction (or its own).

    Each time the card fills up it completes: the extra stamps carry over to a new card, and
    the card's reward is issued with rewards.services.reward_grant (no points taken). A
    reward that cannot be issued (out of stock, no longer valid) does not undo the stamps:
    the completion is recorded with the refusal's code, and nothing of that reward is written.
    An inactive card adds nothing (`added == 0`, no entry) without refusing the event.
    Refused before anything is written: an unknown card, a closed member, a count outside
    1..10000, a naive `occurred_at`.
    """
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_STAMPS_AT_ONCE:
        raise InvalidStamps(f"count must be between 1 and {MAX_STAMPS_AT_ONCE}", field="count")
    require_aware(occurred_at, "occurred_at")
    _check_source(source_type, source_id)
    card = stamp_card_by_code(member.organization_id, card_code)
    check_member_active(member)
    if not card.active:  # retired by the merchant: the event that earned the stamps still goes through
        return StampResult(
            card_code=card.code, added=0, stamps=0, stamps_required=card.stamps_required, completed=0, completions=0, rewards=(), refused=(),
            entry_id=None,
        )
    with write_transaction():
        row = _lock_member_card(member, card)
        total = row.stamps + count
        completions, left = divmod(total, card.stamps_required)
        MemberStampCard.objects.filter(pk=row.pk).update(
            stamps=left, completed=F("completed") + completions, stamps_earned=F("stamps_earned") + count, updated_at=now()
        )
        entry = StampEntry.objects.create(
            organization_id=member.organization_id, member_id=member.pk, card_id=card.pk, kind=StampEntryKind.EARN, delta=count,
            completions=completions, source_type=source_type, source_id=source_id, rule_id=rule_id, at=occurred_at,
        )
        rewards, refused = _complete(program, member, card, entry, first_number=row.completed + 1, completions=completions)
    return StampResult(
        card_code=card.code, added=count, stamps=left, stamps_required=card.stamps_required, completed=row.completed + completions,
        completions=completions, rewards=tuple(rewards), refused=tuple(refused), entry_id=entry.pk,
    )


def _complete(program: Program, member: Member, card: StampCard, entry: StampEntry, *, first_number: int, completions: int
              ) -> tuple[list[Redemption], list[str]]:
    rewards: list[Redemption] = []
    refused: list[str] = []
    reward = Reward.objects.filter(pk=card.reward_id).first() if completions and card.reward_id else None
    completed_rows = []
    for number in range(first_number, first_number + completions):
        voucher_id, refusal = None, ""
        if reward is not None:
            try:
                with transaction.atomic():  # a savepoint: a refused reward leaves nothing of itself
                    redemption = reward_grant(
                        program=program, member=member, reward=reward, at=entry.at, why_label=card.name_fr, source_type="stamp_card",
                        source_id=card.pk,
                    )
                rewards.append(redemption)
                voucher_id = redemption.voucher.pk
            except DomainError as error:
                refusal = error.code
                refused.append(refusal)
        completed_rows.append(
            StampCompletion(
                organization_id=member.organization_id, member_id=member.pk, card_id=card.pk, entry=entry, number=number,
                voucher_id=voucher_id, refused_code=refusal, at=entry.at,
            )
        )
    if completed_rows:
        StampCompletion.objects.bulk_create(completed_rows)
    return rewards, refused


def stamps_reverse(
    *, member: Member, source_type: str, source_id: int | None, occurred_at: dt.datetime, count: int | None = None
) -> int:
    """Take back the stamps `source` gave the member (all of them, or at most `count`); returns how many were taken.

    From the current card of each card the source stamped, never below zero; a card already
    filled stays filled (see the module's policy). Reversing the same source again takes
    back only what was not reversed yet: a second full reversal takes nothing.
    """
    if not source_type:
        raise InvalidStamps("A reversal names the source whose stamps it takes back", code="invalid_source", field="source_type")
    _check_source(source_type, source_id)
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 10**9):
        raise InvalidStamps("count must be a whole number of stamps", field="count")
    require_aware(occurred_at, "occurred_at")
    budget = count
    taken_total = 0
    with write_transaction():
        entries = StampEntry.objects.filter(member_id=member.pk, source_type=source_type, source_id=source_id)
        card_ids = sorted(set(entries.filter(kind=StampEntryKind.EARN).values_list("card_id", flat=True)))
        # Lock the member's rows in primary-key order, then read what is left to reverse under the lock.
        rows = list(MemberStampCard.objects.select_for_update().filter(member_id=member.pk, card_id__in=card_ids).order_by("pk"))
        given = dict(entries.filter(kind=StampEntryKind.EARN).values("card_id").annotate(n=Sum("delta")).values_list("card_id", "n"))
        reversed_ = {
            card_id: -(delta or 0) + (forgiven or 0)
            for card_id, delta, forgiven in entries.filter(kind=StampEntryKind.REVERSE)
            .values("card_id").annotate(d=Sum("delta"), f=Sum("forgiven")).values_list("card_id", "d", "f")
        }
        new_entries = []
        for row in sorted(rows, key=lambda r: r.card_id):
            left = (given.get(row.card_id) or 0) - reversed_.get(row.card_id, 0)
            if budget is not None:
                left = min(left, budget)
            if left <= 0:
                continue
            take = min(left, row.stamps)
            if budget is not None:
                budget -= left
            if take:
                MemberStampCard.objects.filter(pk=row.pk).update(
                    stamps=F("stamps") - take, stamps_reversed=F("stamps_reversed") + take, updated_at=now()
                )
            new_entries.append(
                StampEntry(
                    organization_id=member.organization_id, member_id=member.pk, card_id=row.card_id, kind=StampEntryKind.REVERSE,
                    delta=-take, forgiven=left - take, source_type=source_type, source_id=source_id, at=occurred_at,
                )
            )
            taken_total += take
        if new_entries:
            StampEntry.objects.bulk_create(new_entries)
    return taken_total


# --- achievements -------------------------------------------------------------------------------

BADGE_EDITABLE = {"name_fr", "name_en", "description_fr", "description_en", "icon", "image_url", "active"}


def _check_badge(badge: Badge) -> None:
    _check_text(badge, "name_fr", 200, InvalidBadge, required=True)
    _check_text(badge, "name_en", 200, InvalidBadge)
    _check_text(badge, "description_fr", 5000, InvalidBadge)
    _check_text(badge, "description_en", 5000, InvalidBadge)
    _check_text(badge, "icon", 16, InvalidBadge)
    _check_text(badge, "image_url", 500, InvalidBadge)
    if badge.image_url and not badge.image_url.startswith(("https://", "http://", "/")):
        raise InvalidBadge("image_url must be an http(s) address or a path", field="image_url")
    _check_bool(badge, "active", InvalidBadge)


def achievement_create(
    *, organization: Organization, actor: Actor, code: str, name_fr: str, name_en: str = "", description_fr: str = "",
    description_en: str = "", icon: str = "", image_url: str = "", active: bool = True,
) -> Badge:
    """Define a badge members can earn (through rules)."""
    badge = Badge(
        organization=organization, code=_check_code(code, InvalidBadge), name_fr=name_fr, name_en=name_en, description_fr=description_fr,
        description_en=description_en, icon=icon, image_url=image_url, active=active,
    )
    _check_badge(badge)
    try:
        with write_transaction(), transaction.atomic():
            badge.save()
            audit_record(organization_id=organization.id, actor=actor, action="badge.create", target_type="badge", target_id=badge.code)
    except IntegrityError as error:
        raise BadgeExists(f"The code {code!r} is already used by another badge", badge=code) from error
    forget_badge(organization.id, badge.code)
    return badge


def achievement_update(*, badge: Badge, actor: Actor, **changes: object) -> Badge:
    """Change some fields of a badge (its code never changes: rules name it)."""
    unknown = set(changes) - BADGE_EDITABLE
    if unknown:
        raise InvalidBadge(f"Unknown or read-only badge fields: {', '.join(sorted(unknown))}", fields=sorted(unknown))
    with write_transaction():
        badge = Badge.objects.select_for_update().get(pk=badge.pk)
        for field, value in changes.items():
            setattr(badge, field, value)
        _check_badge(badge)
        badge.save(update_fields=sorted(changes) or None)
        audit_record(
            organization_id=badge.organization_id, actor=actor, action="badge.update", target_type="badge", target_id=badge.code,
            data={"fields": sorted(changes)},
        )
        organization_id, code = badge.organization_id, badge.code
        transaction.on_commit(lambda: forget_badge(organization_id, code))
    forget_badge(organization_id, code)
    return badge


def achievement_grant(
    *, member: Member, badge_code: str, occurred_at: dt.datetime, source_type: str, source_id: int | None, rule_id: int | None = None
) -> MemberAchievement | None:
    """Give the member a badge, once: None when it was already earned (also when two grants race)
    or when the badge is inactive. Refused: an unknown badge, a closed member.

    One INSERT … ON CONFLICT DO NOTHING, in the caller's write transaction (or its own):
    the unique constraint on (member, badge) decides, without a savepoint.
    """
    require_aware(occurred_at, "occurred_at")
    _check_source(source_type, source_id)
    badge = badge_by_code(member.organization_id, badge_code)
    check_member_active(member)
    if not badge.active:  # retired by the merchant: nothing granted, the event still goes through
        return None
    with write_transaction(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO engagement_memberachievement (organization_id, member_id, badge_id, earned_at, source_type, source_id, rule_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (member_id, badge_id) DO NOTHING RETURNING id",
            [member.organization_id, member.pk, badge.pk, db_time(occurred_at), source_type, source_id, rule_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    achievement = MemberAchievement(
        id=row[0], organization_id=member.organization_id, member=member, badge=badge, earned_at=occurred_at, source_type=source_type,
        source_id=source_id, rule_id=rule_id,
    )
    return mark_saved(achievement)
