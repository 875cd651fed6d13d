from django.utils.translation import gettext_lazy as _

from fidelo.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class InvalidReward(ValidationFailed):
    code = "invalid_reward"
    title = _("Invalid reward")


class RewardNotFound(NotFound):
    code = "reward_not_found"
    title = _("Unknown reward")


class RewardInactive(Conflict):
    code = "reward_inactive"
    title = _("This reward is not offered at the moment")


class RewardNotYetValid(Conflict):
    code = "reward_not_yet_valid"
    title = _("This reward is not available yet")


class RewardExpired(Conflict):
    code = "reward_expired"
    title = _("This reward is no longer available")


class OutOfStock(Conflict):
    code = "out_of_stock"
    title = _("Out of stock")


class TierNotAllowed(PermissionDenied):
    code = "tier_not_allowed"
    title = _("This reward is reserved for other tiers")


class LimitPerMemberReached(Conflict):
    code = "limit_per_member_reached"
    title = _("Limit per member reached")


class VoucherNotFound(NotFound):
    code = "voucher_not_found"
    title = _("Unknown voucher")


class VoucherAlreadyUsed(Conflict):
    code = "voucher_used"
    title = _("This voucher was already used")


class VoucherExpired(Conflict):
    code = "voucher_expired"
    title = _("This voucher has expired")


class VoucherCancelled(Conflict):
    code = "voucher_cancelled"
    title = _("This voucher was cancelled")


class VoucherStoreNotAllowed(PermissionDenied):
    code = "voucher_store_not_allowed"
    title = _("This voucher cannot be used in this store")


class MinimumBasketNotMet(Conflict):
    code = "minimum_basket_not_met"
    title = _("The basket is below this voucher's minimum")


class VoucherNotForTill(Conflict):
    code = "voucher_not_usable_at_till"
    title = _("This reward is not used at the till")


class WalletEmpty(Conflict):
    code = "wallet_empty"
    title = _("The wallet is empty")


class VoucherNotCancellable(Conflict):
    code = "voucher_not_cancellable"
    title = _("This voucher cannot be cancelled")


# --- campaign offers ---------------------------------------------------------------------------


class InvalidCampaign(ValidationFailed):
    code = "invalid_campaign"
    title = _("Invalid campaign")


class CampaignDatesInvalid(ValidationFailed):
    code = "campaign_dates_invalid"
    title = _("The campaign must end after it starts")


class CampaignCodeTaken(Conflict):
    code = "campaign_code_taken"
    title = _("Another campaign already has this code")


class CampaignNotFound(NotFound):
    code = "campaign_not_found"
    title = _("Unknown campaign")


class CampaignNotActive(Conflict):
    code = "campaign_not_active"
    title = _("This campaign is switched off")


class CampaignNotStarted(Conflict):
    code = "campaign_not_started"
    title = _("This campaign has not started yet")


class CampaignEnded(Conflict):
    code = "campaign_ended"
    title = _("This campaign is over")


class OfferNotInCampaign(NotFound):
    code = "offer_not_in_campaign"
    title = _("This campaign does not offer this reward")
