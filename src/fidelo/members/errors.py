from django.utils.translation import gettext_lazy as _

from fidelo.core.errors import Conflict, NotFound, ValidationFailed


class MemberNotFound(NotFound):
    code = "member_not_found"
    title = _("Unknown member")


class DuplicateMember(Conflict):
    code = "member_exists"
    title = _("A member with this email, phone or external id already exists")


class InvalidMemberData(ValidationFailed):
    code = "invalid_member"
    title = _("Invalid member data")


class MemberClosed(Conflict):
    code = "member_closed"
    title = _("This member's account is closed")
