from django.utils.translation import gettext_lazy as _

from fidelo.core.errors import Conflict, NotFound, ValidationFailed


class ReferralCodeUnknown(NotFound):
    code = "referral_code_unknown"
    title = _("Unknown referral code")


class ReferralsDisabled(Conflict):
    code = "referrals_disabled"
    title = _("This program does not offer referrals")


class SelfReferral(ValidationFailed):
    code = "referral_self"
    title = _("A member cannot refer themselves")


class AlreadyReferred(Conflict):
    code = "referral_already_referred"
    title = _("This member was already referred")


class ReferralLimitReached(Conflict):
    code = "referral_limit_reached"
    title = _("This member has reached their referral limit for the year")


class ReferrerClosed(Conflict):
    code = "referral_referrer_closed"
    title = _("The referring member's account is closed")


class NotANewMember(Conflict):
    code = "referral_not_new_member"
    title = _("Only a member who has not purchased yet can join with a referral code")


class InvalidReferralSettings(ValidationFailed):
    code = "invalid_referral_settings"
    title = _("Invalid referral settings")
