"""Staff authentication for the back office.

`staff_required` lets in a logged-in user who is a staff member of an organization and
puts that organization on the request (`request.organization`), with its membership
(`request.staff`) and the actor recorded in audit rows (`request.actor`). Anonymous users
are sent to the login page; a logged-in user without a membership gets a 403.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from fidelo.core.actors import Actor
from fidelo.tenancy import selectors as tenancy_selectors

SESSION_ORGANIZATION = "backoffice_organization_id"


def staff_actor(user) -> Actor:
    label = user.get_full_name() or user.get_username()
    return Actor(kind="staff", id=user.pk, label=label)


def resolve_staff(request: HttpRequest):
    """The staff membership of the request's user, or None (the session may pick the organization)."""
    user = request.user
    if not user.is_authenticated:
        return None
    wanted = request.session.get(SESSION_ORGANIZATION)
    membership = None
    if wanted is not None:
        membership = tenancy_selectors.staff_membership_for(user_id=user.pk, organization_id=wanted)
    if membership is None:
        membership = tenancy_selectors.staff_membership_for(user_id=user.pk)
    return membership


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Decorator for back-office views: login required, and a staff membership."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "backoffice:login")
        membership = resolve_staff(request)
        if membership is None:
            raise PermissionDenied("Not a staff member of any organization")
        request.staff = membership
        request.organization = membership.organization
        request.actor = staff_actor(request.user)
        # Dates typed and shown in the back office are in the organization's time zone.
        timezone.activate(membership.organization.timezone)
        try:
            return view(request, *args, **kwargs)
        finally:
            timezone.deactivate()

    return wrapper
