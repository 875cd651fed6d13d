from django.utils.translation import gettext_lazy as _

from fidelo.core.errors import Conflict, NotFound, ValidationFailed


class InvalidTier(ValidationFailed):
    code = "invalid_tier"
    title = _("Invalid tier level")


class TierCodeTaken(Conflict):
    code = "tier_code_taken"
    title = _("A tier level with this code already exists")


class TierRankTaken(Conflict):
    code = "tier_rank_taken"
    title = _("Another tier level already has this rank")


class TierThresholdsNotIncreasing(ValidationFailed):
    code = "tier_thresholds_not_increasing"
    title = _("Thresholds must increase strictly with the rank")


class InvalidTierSettings(ValidationFailed):
    code = "invalid_tier_settings"
    title = _("Invalid tier settings")


class TierNotFound(NotFound):
    code = "tier_not_found"
    title = _("Unknown tier level")


class TierNotForSale(Conflict):
    code = "tier_not_for_sale"
    title = _("This tier level cannot be bought as a VIP membership")


class VipAlreadyActive(Conflict):
    code = "vip_already_active"
    title = _("The member already has another VIP membership running")


class VipExternalIdReused(Conflict):
    code = "vip_external_id_reused"
    title = _("This external id was already used for another VIP purchase")


class ReasonRequired(ValidationFailed):
    code = "reason_required"
    title = _("A reason is required")
