"""What a rule may refer to in an organization: the catalog its definition is checked against."""

from fidelo.engagement.selectors import badges_of, stamp_cards_of
from fidelo.rewards.models import Campaign, Reward
from fidelo.rules.engine.definition import Catalog
from fidelo.tenancy.models import Program, Store
from fidelo.tiers.selectors import tier_terms


def rule_catalog(program: Program) -> Catalog:
    organization_id = program.organization_id
    terms = tier_terms(organization_id)
    return Catalog(
        currency_mode=program.currency_mode,
        attributes={item["key"]: item.get("type", "string") for item in program.member_attributes or []},
        stores=frozenset(Store.objects.filter(organization_id=organization_id).values_list("code", flat=True)),
        tiers=frozenset(level.code for level in terms.levels) if terms is not None else frozenset(),
        stamp_cards=frozenset(stamp_cards_of(organization_id)),
        badges=frozenset(badges_of(organization_id)),
        rewards=frozenset(str(pk) for pk in Reward.objects.filter(organization_id=organization_id).values_list("id", flat=True)),
        campaigns=frozenset(Campaign.objects.filter(organization_id=organization_id).values_list("code", flat=True)),
    )
