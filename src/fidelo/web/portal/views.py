"""The member portal: sign-in by email, balance and card, catalog and redemption, vouchers,
transfers and auto-redemption. Mobile first; the organization comes from the URL.

Views are thin: they parse the form, call one service or selector, and render. Every
state-changing form carries a one-time token used as its idempotency key (kit.form_key), so a
double submit writes once and shows the first result.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fidelo.core.actors import Actor
from fidelo.core.errors import DomainError
from fidelo.core.idempotency import StoresReceipt
from fidelo.core.money import format_money
from fidelo.ledger.selectors import member_balance, member_history
from fidelo.ledger.services import points_transfer, program_unit
from fidelo.members.errors import MemberNotFound
from fidelo.members.models import Member, MemberStatus
from fidelo.members.selectors import access_member, member_lookup
from fidelo.rewards.campaign_selectors import (
    access_campaign,
    access_campaign_offer,
    current_campaigns,
)
from fidelo.rewards.campaigns import campaign_offer_seen
from fidelo.rewards.models import (
    Campaign,
    CampaignOffer,
    Reward,
    RewardKind,
    Voucher,
    VoucherStatus,
)
from fidelo.rewards.selectors import (
    access_reward,
    access_voucher,
    auto_redemption_reward_id,
    catalog,
    member_vouchers,
)
from fidelo.rewards.services import (
    auto_redemption_set,
    offer_seen,
    redemption_apply_with_receipt,
    redemption_plan,
    voucher_cancel,
)
from fidelo.tenancy.models import Organization, Program
from fidelo.tenancy.selectors import organization_by_slug, program_for
from fidelo.web.portal import signin
from fidelo.web.portal.kit import (
    branding,
    form_key,
    new_form_token,
    parse_points,
    qr_svg,
    refusal_message,
    run_once,
)

SEEN_KEY = "fidelo_portal_seen"  # {"<organization id>": [reward ids already recorded as seen]}
SEEN_OFFERS_KEY = "fidelo_portal_seen_offers"  # {"<organization id>": ["<campaign id>:<reward id>" already recorded as seen]}
HISTORY_PAGE = 20
VOUCHERS_PAGE = 20


@dataclass
class Portal:
    organization: Organization
    program: Program
    member: Member | None
    brand: dict[str, str]

    @property
    def unit(self) -> str:
        return program_unit(self.program)

    @property
    def is_points(self) -> bool:
        return self.program.currency_mode == "points"

    def amount(self, value: int) -> str:
        """A balance or a change in the program's unit: points, or euros for a cashback program."""
        if self.is_points:
            return _("%(points)s pts") % {"points": f"{value:,}".replace(",", "\u202f")}
        return format_money(value, self.organization.currency)

    @property
    def actor(self) -> Actor:
        member = self.member
        assert member is not None
        return Actor(kind="member", id=member.pk, label=member.full_name or member.card_number)


def _organization(slug: str) -> Organization:
    try:
        return organization_by_slug(slug)
    except DomainError as exc:
        raise Http404(str(exc)) from exc


def portal_page(*, member_required: bool = True) -> Callable:
    """Resolve the organization from the URL and the signed-in member from the session.

    No member (or a member of another organization, or a closed account): the sign-in page.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, org: str, *args: Any, **kwargs: Any) -> HttpResponse:
            organization = _organization(org)
            program = program_for(organization.pk)
            member = None
            member_id = signin.signed_in_member_id(request, organization)
            if member_id is not None:
                try:
                    member = access_member(organization.pk, member_id)
                except MemberNotFound:
                    member = None
                if member is None or member.status != MemberStatus.ACTIVE:
                    signin.sign_out(request, organization)
                    member = None
            if member_required and member is None:
                target = reverse("portal:signin", kwargs={"org": organization.slug})
                return redirect(f"{target}?next={request.get_full_path()}" if request.method == "GET" else target)
            request.portal = Portal(organization=organization, program=program, member=member, brand=branding(program))
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def _render(request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HttpResponse:
    portal: Portal = request.portal
    base = {
        "portal": portal, "organization": portal.organization, "program": portal.program, "member": portal.member, "brand": portal.brand,
        "org": portal.organization.slug, "program_name": portal.program.name or portal.organization.name,
    }
    return render(request, template, {**base, **(context or {})}, status=status)


def _problem_of(error: DomainError) -> dict[str, Any]:
    return error.as_problem()


def _title(reward: Reward) -> str:
    return reward.title(get_language() or "fr")


def _description(reward: Reward) -> str:
    language = get_language() or "fr"
    return reward.description_en if language.startswith("en") and reward.description_en else reward.description_fr


def _reward_value(reward: Reward, currency: str) -> str:
    if reward.kind in (RewardKind.VOUCHER_AMOUNT, RewardKind.WALLET_CREDIT) and reward.amount_minor:
        return format_money(reward.amount_minor, currency)
    if reward.kind == RewardKind.VOUCHER_PERCENT:
        return f"{reward.percent_bp / 100:g}\u00a0%"
    return ""


# --- sign-in -------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@portal_page(member_required=False)
def signin_view(request: HttpRequest) -> HttpResponse:
    portal: Portal = request.portal
    if request.method == "GET":
        if portal.member is not None:
            return redirect("portal:home", org=portal.organization.slug)
        return _render(request, "portal/signin.html", {"next": _safe_next(request, request.GET.get("next"))})
    email = (request.POST.get("email") or "").strip()
    member = None
    if "@" not in email or len(email) > 254:
        return _render(request, "portal/signin.html", {"error": _("Enter the email address of your loyalty account."), "email": email}, status=422)
    try:
        member = member_lookup(portal.organization, email=email)
    except MemberNotFound:
        member = None
    except DomainError:
        return _render(request, "portal/signin.html", {"error": _("This email address is not valid."), "email": email}, status=422)
    issued = None
    if member is not None and member.status == MemberStatus.ACTIVE and member.email:
        issued = signin.issue(member)
        signin.send_signin_mail(request, portal.organization, portal.program, member, issued)
    # The same answer whether or not the address is known: the page does not tell who is a member.
    signin.remember_pending(request, portal.organization, issued, member if issued else None)
    next_url = _safe_next(request, request.POST.get("next"))
    target = reverse("portal:signin_code", kwargs={"org": portal.organization.slug})
    return redirect(f"{target}?next={next_url}" if next_url else target)


REFUSALS = {
    "invalid": lambda: _("This code or link is not valid."),
    "expired": lambda: _("This code or link has expired: ask for a new one."),
    "used": lambda: _("This code or link was already used: ask for a new one."),
    "attempts": lambda: _("Too many wrong codes: ask for a new one."),
}


def _safe_next(request: HttpRequest, next_url: str | None) -> str:
    prefix = reverse("portal:home", kwargs={"org": request.portal.organization.slug})
    if next_url and next_url.startswith(prefix) and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return next_url
    return ""


@require_http_methods(["GET", "POST"])
@portal_page(member_required=False)
def signin_code_view(request: HttpRequest) -> HttpResponse:
    portal: Portal = request.portal
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if request.method == "GET":
        return _render(request, "portal/signin_code.html", {"next": next_url, "pending": signin.has_pending(request, portal.organization)})
    try:
        member_id = signin.member_id_from_code(request, portal.organization, request.POST.get("code", ""))
    except signin.SignInRefused as refused:
        return _render(request, "portal/signin_code.html", {"error": REFUSALS[refused.reason](), "next": next_url, "pending": True}, status=422)
    return _signed_in(request, member_id, next_url)


def _signed_in(request: HttpRequest, member_id: int, next_url: str) -> HttpResponse:
    portal: Portal = request.portal
    signin.sign_in(request, portal.organization, member_id)
    response = redirect(next_url or reverse("portal:home", kwargs={"org": portal.organization.slug}))
    try:
        locale = access_member(portal.organization.pk, member_id).locale
    except MemberNotFound:
        locale = ""
    if locale in dict(settings.LANGUAGES) and not request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME):
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, locale, max_age=365 * 24 * 3600, samesite="Lax")
    return response


@require_http_methods(["GET", "POST"])
@portal_page(member_required=False)
def signin_link_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (mail scanners that open links do not use them up); POST signs in."""
    portal: Portal = request.portal
    if request.method == "GET":
        return _render(request, "portal/signin_link.html", {"token": token})
    try:
        member_id = signin.member_id_from_link(portal.organization, token)
    except signin.SignInRefused as refused:
        return _render(request, "portal/signin_link.html", {"error": REFUSALS[refused.reason](), "token": ""}, status=422)
    return _signed_in(request, member_id, "")


@require_POST
@portal_page(member_required=False)
def signout_view(request: HttpRequest) -> HttpResponse:
    signin.sign_out(request, request.portal.organization)
    return redirect("portal:signin", org=request.portal.organization.slug)


@require_POST
@portal_page(member_required=False)
def language_view(request: HttpRequest) -> HttpResponse:
    language = request.POST.get("language", "")
    next_url = _safe_next(request, request.POST.get("next")) or reverse("portal:home", kwargs={"org": request.portal.organization.slug})
    response = redirect(next_url)
    if language in dict(settings.LANGUAGES):
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=365 * 24 * 3600, samesite="Lax")
    return response


# --- home -----------------------------------------------------------------------------------------------


@require_GET
@portal_page()
def home_view(request: HttpRequest) -> HttpResponse:
    portal: Portal = request.portal
    member = portal.member
    balance = member_balance(member, portal.unit)
    page = member_history(member, cursor=request.GET.get("cursor") or None, limit=HISTORY_PAGE) if _cursor_ok(request) else None
    if page is None:
        return redirect("portal:home", org=portal.organization.slug)
    wallet = member_balance(member, portal.organization.currency).available if portal.is_points else 0
    next_reward = catalog(portal.organization.pk).filter(cost_points__gt=max(balance.available, 0)).first()
    progress = None
    if next_reward is not None:
        progress = {
            "title": _title(next_reward), "cost": portal.amount(next_reward.cost_points),
            "missing": portal.amount(next_reward.cost_points - max(balance.available, 0)),
            "percent": max(0, min(100, max(balance.available, 0) * 100 // next_reward.cost_points)),
        }
    currency = portal.organization.currency
    entries = [
        {
            "at": entry.occurred_at, "reason": entry.reason,
            "change": format_money(entry.available_change or entry.pending_change, currency)
            if entry.reason_code in ("wallet_credit", "wallet_spend") else portal.amount(entry.available_change or entry.pending_change),
            "positive": (entry.available_change or entry.pending_change) > 0,
            "pending": entry.pending_change != 0 and entry.available_change == 0,
        }
        for entry in page.entries
    ]
    return _render(request, "portal/home.html", {
        "balance": balance, "available": portal.amount(balance.available), "pending": portal.amount(balance.pending),
        "expiring_soon": portal.amount(balance.expiring_soon) if balance.expiring_soon else "",
        "wallet": format_money(wallet, currency) if wallet else "", "card_qr": qr_svg(member.card_number),
        "progress": progress, "entries": entries, "next_cursor": page.next_cursor, "first_page": not request.GET.get("cursor"),
    })


def _cursor_ok(request: HttpRequest) -> bool:
    from fidelo.ledger.selectors import decode_cursor

    try:
        decode_cursor(request.GET.get("cursor") or None)
    except DomainError:
        return False
    return True


# --- catalog and redemption ------------------------------------------------------------------------------


def _record_seen(request: HttpRequest, rewards: list[Reward]) -> None:
    """Offer tracking: one `seen` event per reward and member, remembered in the session."""
    portal: Portal = request.portal
    seen_all = dict(request.session.get(SEEN_KEY) or {})
    seen = set(seen_all.get(str(portal.organization.pk), []))
    fresh = [reward for reward in rewards if reward.pk not in seen]
    for reward in fresh:
        offer_seen(reward=reward, member=portal.member)
    if fresh:
        seen_all[str(portal.organization.pk)] = sorted(seen | {reward.pk for reward in fresh})
        request.session[SEEN_KEY] = seen_all


def _record_offers_seen(request: HttpRequest, offers: list[CampaignOffer]) -> None:
    """Offer tracking for the current offers: one `seen` event per campaign offer and member."""
    portal: Portal = request.portal
    seen_all = dict(request.session.get(SEEN_OFFERS_KEY) or {})
    seen = set(seen_all.get(str(portal.organization.pk), []))
    fresh = [offer for offer in offers if f"{offer.campaign_id}:{offer.reward_id}" not in seen]
    for offer in fresh:
        campaign_offer_seen(campaign=offer.campaign, reward=offer.reward, member=portal.member)
    if fresh:
        seen_all[str(portal.organization.pk)] = sorted(seen | {f"{offer.campaign_id}:{offer.reward_id}" for offer in fresh})
        request.session[SEEN_OFFERS_KEY] = seen_all


def _current_offers(request: HttpRequest, available: int) -> list[dict[str, Any]]:
    """The "Current offers" section: the campaigns on now and their offers, recorded as seen."""
    portal: Portal = request.portal
    language = get_language() or "fr"
    tier = portal.member.tier or ""
    sections, shown = [], []
    for current in current_campaigns(portal.organization.pk):
        campaign = current.campaign
        for offer in current.offers:
            offer.campaign = campaign
        shown.extend(current.offers)
        sections.append({
            "campaign": campaign, "name": campaign.name(language), "description": campaign.description(language),
            "offers": [
                {
                    "reward": offer.reward, "title": _title(offer.reward), "cost": portal.amount(offer.cost),
                    "usual_cost": portal.amount(offer.reward.cost_points) if offer.cost != offer.reward.cost_points else "",
                    "value": _reward_value(offer.reward, portal.organization.currency), "affordable": offer.cost <= available,
                    "reserved": bool(offer.reward.allowed_tiers) and tier not in offer.reward.allowed_tiers,
                    "image": branding_image(offer.reward.image_url),
                }
                for offer in current.offers
            ],
        })
    _record_offers_seen(request, shown)
    return sections


@require_GET
@portal_page()
def catalog_view(request: HttpRequest) -> HttpResponse:
    portal: Portal = request.portal
    balance = member_balance(portal.member, portal.unit)
    offers = _current_offers(request, balance.available)
    rewards = list(catalog(portal.organization.pk)[:200])
    _record_seen(request, rewards)
    tier = portal.member.tier or ""
    items = [
        {
            "reward": reward, "title": _title(reward), "description": _description(reward), "cost": portal.amount(reward.cost_points),
            "value": _reward_value(reward, portal.organization.currency), "affordable": reward.cost_points <= balance.available,
            "reserved": bool(reward.allowed_tiers) and tier not in reward.allowed_tiers, "image": branding_image(reward.image_url),
        }
        for reward in rewards
    ]
    return _render(request, "portal/catalog.html", {"items": items, "offers": offers, "available": portal.amount(balance.available)})


def branding_image(url: str) -> str:
    return url if url.startswith(("https://", "http://", "/")) and not url.startswith("//") else ""


def _reward_or_404(portal: Portal, reward_id: int) -> Reward:
    try:
        return access_reward(portal.organization.pk, reward_id)
    except DomainError as exc:
        raise Http404(str(exc)) from exc


@require_http_methods(["GET", "POST"])
@portal_page()
def redeem_view(request: HttpRequest, reward_id: int) -> HttpResponse:
    """GET: the confirmation step. POST: the redemption, once per form (the token is the idempotency key)."""
    return _redeem(request, _reward_or_404(request.portal, reward_id), None)


@require_http_methods(["GET", "POST"])
@portal_page()
def offer_redeem_view(request: HttpRequest, campaign: str, reward_id: int) -> HttpResponse:
    """The same as redeem_view, through a campaign's offer: at the offer's cost, counted for the campaign."""
    portal: Portal = request.portal
    reward = _reward_or_404(portal, reward_id)
    try:
        offer = access_campaign_offer(access_campaign(portal.organization.pk, campaign), reward)
    except DomainError as exc:
        raise Http404(str(exc)) from exc
    return _redeem(request, reward, offer)


def _redeem(request: HttpRequest, reward: Reward, offer: CampaignOffer | None) -> HttpResponse:
    portal: Portal = request.portal
    member = portal.member
    campaign: Campaign | None = offer.campaign if offer is not None else None
    cost = offer.cost if offer is not None else reward.cost_points
    error = ""
    status = 200
    if request.method == "POST":
        key = form_key(request, f"portal:m{member.pk}")
        if key is None:
            error, status = _("This form has expired; please confirm again."), 400
        else:

            def prepare() -> StoresReceipt:
                plan = redemption_plan(program=portal.program, member=member, reward=reward, channel="portal", campaign=campaign)

                def respond(redemption: Any) -> tuple[int, dict]:
                    return 201, {"voucher": redemption.voucher.code}

                return StoresReceipt(lambda receipt: redemption_apply_with_receipt(plan, receipt=receipt, respond=respond))

            payload: dict[str, Any] = {"member": member.pk, "reward": reward.pk}
            if campaign is not None:
                payload["campaign"] = campaign.code
            outcome = run_once(organization_id=portal.organization.pk, key=key, operation="portal.redeem", payload=payload, prepare=prepare)
            if outcome.status < 400:
                if not outcome.replayed:
                    messages.success(request, _("Done: %(title)s is yours.") % {"title": _title(reward)})
                return redirect("portal:voucher", org=portal.organization.slug, code=outcome.body["voucher"])
            error, status = refusal_message(outcome.body, portal.organization.currency), outcome.status
    balance = member_balance(member, portal.unit)
    if campaign is not None:
        action = reverse("portal:offer_redeem", kwargs={"org": portal.organization.slug, "campaign": campaign.code, "reward_id": reward.pk})
    else:
        action = reverse("portal:redeem", kwargs={"org": portal.organization.slug, "reward_id": reward.pk})
    return _render(request, "portal/redeem.html", {
        "reward": reward, "title": _title(reward), "description": _description(reward), "cost": portal.amount(cost),
        "value": _reward_value(reward, portal.organization.currency), "available": portal.amount(balance.available),
        "after": portal.amount(balance.available - cost), "affordable": cost <= balance.available,
        "form_token": new_form_token(), "error": error, "delivered_at_once": reward.kind in (RewardKind.DONATION, RewardKind.WALLET_CREDIT),
        "form_action": action, "campaign_name": campaign.name(get_language() or "fr") if campaign is not None else "",
        "usual_cost": portal.amount(reward.cost_points) if cost != reward.cost_points else "",
    }, status=status)


# --- vouchers ---------------------------------------------------------------------------------------------


def _voucher_item(portal: Portal, voucher: Voucher, *, with_qr: bool) -> dict[str, Any]:
    try:
        partner = voucher.partner_code.code
    except Voucher.partner_code.RelatedObjectDoesNotExist:
        partner = ""
    issued = voucher.status == VoucherStatus.ISSUED
    return {
        "voucher": voucher, "title": _title(voucher.reward), "status": voucher.get_status_display(), "code": voucher.code,
        "partner_code": partner, "qr": qr_svg(voucher.code) if with_qr and issued else "",
        "value": _reward_value(voucher.reward, portal.organization.currency),
        "cancellable": issued and voucher.reward.kind != RewardKind.PARTNER_CODE, "issued": issued,
    }


@require_GET
@portal_page()
def vouchers_view(request: HttpRequest) -> HttpResponse:
    portal: Portal = request.portal
    status = request.GET.get("status") or None
    if status not in (None, *VoucherStatus.values):
        status = None
    vouchers = member_vouchers(portal.member, status=status).select_related("partner_code")
    page = Paginator(vouchers, VOUCHERS_PAGE).get_page(request.GET.get("page"))
    items = [_voucher_item(portal, voucher, with_qr=True) for voucher in page.object_list]
    return _render(request, "portal/vouchers.html", {"items": items, "page": page, "status": status or "", "statuses": VoucherStatus.choices})


def _own_voucher(portal: Portal, code: str) -> Voucher:
    try:
        voucher = access_voucher(portal.organization.pk, code)
    except DomainError as exc:
        raise Http404(str(exc)) from exc
    if voucher.member_id != portal.member.pk:
        raise Http404("Not your voucher")
    return voucher


@require_GET
@portal_page()
def voucher_view(request: HttpRequest, code: str) -> HttpResponse:
    portal: Portal = request.portal
    voucher = _own_voucher(portal, code)
    return _render(request, "portal/voucher.html", {"item": _voucher_item(portal, voucher, with_qr=True), "form_token": new_form_token()})


@require_POST
@portal_page()
def voucher_cancel_view(request: HttpRequest, code: str) -> HttpResponse:
    portal: Portal = request.portal
    voucher = _own_voucher(portal, code)
    key = form_key(request, f"portal:m{portal.member.pk}")
    if key is None:
        messages.error(request, _("This form has expired; please try again."))
        return redirect("portal:voucher", org=portal.organization.slug, code=voucher.code)

    def execute() -> tuple[int, dict]:
        voucher_cancel(voucher=voucher, program=portal.program, actor=portal.actor)
        return 200, {"voucher": voucher.code}

    outcome = run_once(organization_id=portal.organization.pk, key=key, operation="portal.voucher_cancel", payload={"voucher": voucher.code},
                       execute=execute)
    if outcome.status < 400:
        if not outcome.replayed:
            messages.success(request, _("The voucher is cancelled; your points are back."))
    else:
        messages.error(request, refusal_message(outcome.body, portal.organization.currency))
    return redirect("portal:voucher", org=portal.organization.slug, code=voucher.code)


# --- transfers --------------------------------------------------------------------------------------------


def _recipient(portal: Portal, identifier: str) -> Member:
    identifier = identifier.strip()
    if "@" in identifier:
        return member_lookup(portal.organization, email=identifier)
    return member_lookup(portal.organization, card=identifier)


def _display_name(member: Member) -> str:
    initial = f" {member.last_name[:1]}." if member.last_name else ""
    return f"{member.first_name}{initial}".strip() or _("card ending in %(digits)s") % {"digits": member.card_number[-4:]}


@require_http_methods(["GET", "POST"])
@portal_page()
def transfer_view(request: HttpRequest) -> HttpResponse:
    """Step 1 (GET): recipient and amount. Step 2 (POST step=review): the confirmation page.
    Step 3 (POST step=confirm): the transfer, once per form, then the result."""
    portal: Portal = request.portal
    member, program = portal.member, portal.program
    limits = {"minimum": portal.amount(program.transfer_min), "maximum": portal.amount(program.transfer_max_per_day)}
    context: dict[str, Any] = {"allowed": program.transfers_allowed, "limits": limits}
    recipient_text = (request.POST.get("recipient") or "").strip()[:254]
    amount_text = (request.POST.get("points") or "").strip()[:20]
    context.update(recipient=recipient_text, points=amount_text)
    if request.method == "GET" or not program.transfers_allowed and request.POST.get("step") != "confirm":
        context["available"] = portal.amount(member_balance(member, portal.unit).available)
        return _render(request, "portal/transfer.html", context)
    amount = parse_points(amount_text)
    error = ""
    recipient = None
    if amount is None:
        error = _("Enter a whole number of points.")
    elif not recipient_text:
        error = _("Enter the recipient's card number or email.")
    else:
        try:
            recipient = _recipient(portal, recipient_text)
        except DomainError as exc:
            error = refusal_message(_problem_of(exc))
    if error:
        context.update(error=error, available=portal.amount(member_balance(member, portal.unit).available))
        return _render(request, "portal/transfer.html", context, status=422)
    if request.POST.get("step") != "confirm":
        return _render(request, "portal/transfer_confirm.html", {
            **context, "recipient_name": _display_name(recipient), "amount": portal.amount(amount), "form_token": new_form_token(),
        })
    key = form_key(request, f"portal:m{member.pk}")
    if key is None:
        context.update(error=_("This form has expired; please confirm again."), recipient_name=_display_name(recipient),
                       amount=portal.amount(amount), form_token=new_form_token())
        return _render(request, "portal/transfer_confirm.html", context, status=400)

    def execute() -> tuple[int, dict]:
        transfer = points_transfer(program=program, sender=member, recipient=recipient, amount=amount, actor=portal.actor)
        return 201, {"transfer": transfer.pk, "points": amount, "recipient": _display_name(recipient)}

    outcome = run_once(
        organization_id=portal.organization.pk, key=key, operation="portal.transfer",
        payload={"sender": member.pk, "recipient": recipient.pk, "points": amount}, execute=execute,
    )
    if outcome.status >= 400:
        context.update(error=refusal_message(outcome.body, portal.organization.currency), recipient_name=_display_name(recipient),
                       amount=portal.amount(amount), form_token=new_form_token())
        return _render(request, "portal/transfer_confirm.html", context, status=outcome.status)
    balance = member_balance(member, portal.unit)
    return _render(request, "portal/transfer_done.html", {
        "amount": portal.amount(int(outcome.body["points"])), "recipient_name": outcome.body["recipient"], "available": portal.amount(balance.available),
    })


# --- auto-redemption ---------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@portal_page()
def auto_view(request: HttpRequest) -> HttpResponse:
    portal: Portal = request.portal
    member = portal.member
    error, status = "", 200
    if request.method == "POST":
        raw = (request.POST.get("reward") or "").strip()
        try:
            reward = None if raw in ("", "none") else access_reward(portal.organization.pk, int(raw))
            auto_redemption_set(member=member, reward=reward)
        except (ValueError, DomainError):
            error, status = _("Choose a reward from the list."), 422
        else:
            messages.success(request, _("Your choice is saved.") if reward else _("Automatic redemption is off."))
            return redirect("portal:auto", org=portal.organization.slug)
    current = auto_redemption_reward_id(member)
    rewards = [
        {"id": reward.pk, "title": _title(reward), "cost": portal.amount(reward.cost_points), "chosen": reward.pk == current}
        for reward in catalog(portal.organization.pk)[:200]
    ]
    return _render(request, "portal/auto.html", {"rewards": rewards, "current": current, "error": error}, status=status)
