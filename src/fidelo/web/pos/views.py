"""The till (POS) for cashiers: find a member, record a purchase, check and use a voucher,
redeem a reward for the member, spend wallet credit.

Staff sign in with Django's auth; a user works at the till of an organization where they have
a staff membership (any role), at /pos/<organization slug>/; another organization's till is a
404. The cashier picks a store, kept in the session. Every state-changing form carries a
one-time token used as its idempotency key: a double tap on "record" records once.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from fidelo.core.actors import Actor
from fidelo.core.clock import now
from fidelo.core.errors import DomainError
from fidelo.core.idempotency import StoresReceipt
from fidelo.core.money import format_money
from fidelo.ledger.selectors import member_balance
from fidelo.ledger.services import program_unit
from fidelo.members.errors import MemberNotFound
from fidelo.members.models import Member
from fidelo.members.selectors import access_member, member_lookup
from fidelo.purchases.services import purchase_record
from fidelo.rewards.campaign_selectors import access_campaign, current_campaigns
from fidelo.rewards.models import RewardKind, Voucher, VoucherStatus
from fidelo.rewards.selectors import (
    access_reward,
    access_voucher,
    catalog,
    member_vouchers,
)
from fidelo.rewards.services import (
    normalize_code,
    redemption_apply_with_receipt,
    redemption_plan,
    voucher_use,
    voucher_value,
    wallet_spend,
)
from fidelo.tenancy.models import Organization, Program, StaffMembership, Store
from fidelo.tenancy.selectors import (
    organization_by_slug,
    program_for,
    staff_membership_for,
    staff_memberships_of,
    stores_of,
)
from fidelo.web.portal.kit import (
    form_key,
    new_form_token,
    parse_cents,
    qr_svg,
    refusal_message,
    run_once,
)

STORE_KEY = "fidelo_pos_store"  # {"<organization id>": store id}
CODE_CHARS = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


@dataclass
class Till:
    organization: Organization
    program: Program
    membership: StaffMembership
    actor: Actor
    store: Store | None
    stores: list[Store]

    @property
    def unit(self) -> str:
        return program_unit(self.program)

    def amount(self, value: int) -> str:
        if self.program.currency_mode == "points":
            return _("%(points)s pts") % {"points": f"{value:,}".replace(",", "\u202f")}
        return format_money(value, self.organization.currency)

    def money(self, cents: int) -> str:
        return format_money(cents, self.organization.currency)


class LoginView(auth_views.LoginView):
    template_name = "pos/login.html"
    redirect_authenticated_user = True
    next_page = "pos:index"


class LogoutView(auth_views.LogoutView):
    next_page = "pos:login"


def till_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login required; a staff membership of the URL's organization, else 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, org: str, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "pos:login")
        try:
            organization = organization_by_slug(org)
        except DomainError as exc:
            raise Http404(str(exc)) from exc
        membership = staff_membership_for(user_id=request.user.pk, organization_id=organization.pk)
        if membership is None:
            raise Http404("Not a staff member of this organization")
        stores = stores_of(organization.pk)
        chosen = (request.session.get(STORE_KEY) or {}).get(str(organization.pk))
        store = next((s for s in stores if s.pk == chosen), None)
        label = request.user.get_full_name() or request.user.get_username()
        request.till = Till(
            organization=organization, program=program_for(organization.pk), membership=membership,
            actor=Actor(kind="staff", id=request.user.pk, label=label), store=store, stores=stores,
        )
        return view(request, *args, **kwargs)

    return wrapper


def _render(request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HttpResponse:
    till: Till = request.till
    base = {"till": till, "organization": till.organization, "org": till.organization.slug, "store": till.store, "stores": till.stores}
    return render(request, template, {**base, **(context or {})}, status=status)


def _scope(request: HttpRequest) -> str:
    return f"pos:u{request.user.pk}"


@require_GET
def index_view(request: HttpRequest) -> HttpResponse:
    """The organizations whose till this user may use (straight to it when there is one)."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), "pos:login")
    memberships = staff_memberships_of(request.user.pk)
    if len(memberships) == 1:
        return redirect("pos:till", org=memberships[0].organization.slug)
    return render(request, "pos/index.html", {"memberships": memberships}, status=200 if memberships else 403)


# --- the till's home: store and search ---------------------------------------------------------------------


def _find(till: Till, query: str) -> tuple[str, Any]:
    """What a cashier typed or scanned: ("member", m), ("voucher", v), or raises a DomainError."""
    text = query.strip()
    compact = text.replace(" ", "").replace("-", "").replace(".", "")
    if "@" in text:
        return "member", member_lookup(till.organization, email=text)
    if compact.startswith("+"):
        return "member", member_lookup(till.organization, phone=text)
    if compact.isdigit():
        try:
            return "member", member_lookup(till.organization, card=compact)
        except MemberNotFound:
            return "member", member_lookup(till.organization, phone=text)
    code = normalize_code(text)
    if code and set(code) <= CODE_CHARS:
        return "voucher", access_voucher(till.organization.pk, code)
    raise MemberNotFound()


@require_GET
@till_page
def till_view(request: HttpRequest) -> HttpResponse:
    till: Till = request.till
    query = (request.GET.get("q") or "").strip()[:254]
    error, status = "", 200
    if query:
        try:
            kind, found = _find(till, query)
        except DomainError as exc:
            error, status = refusal_message(exc.as_problem(), till.organization.currency), 404
        else:
            if kind == "voucher":
                return redirect("pos:voucher", org=till.organization.slug, code=found.code)
            return redirect("pos:member", org=till.organization.slug, member_id=found.pk)
    return _render(request, "pos/till.html", {"q": query, "error": error}, status=status)


@require_POST
@till_page
def store_view(request: HttpRequest) -> HttpResponse:
    till: Till = request.till
    raw = request.POST.get("store", "")
    chosen = {str(s.pk): s for s in till.stores}.get(raw)
    stores = dict(request.session.get(STORE_KEY) or {})
    if chosen is None:
        stores.pop(str(till.organization.pk), None)
    else:
        stores[str(till.organization.pk)] = chosen.pk
    request.session[STORE_KEY] = stores
    next_url = str(request.POST.get("next") or "")
    if next_url.startswith(f"/pos/{till.organization.slug}/") and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return redirect(next_url)
    return redirect("pos:till", org=till.organization.slug)


# --- a member at the till -------------------------------------------------------------------------------


def _member_or_404(till: Till, member_id: int) -> Member:
    try:
        return access_member(till.organization.pk, member_id)
    except DomainError as exc:
        raise Http404(str(exc)) from exc


def _member_page(request: HttpRequest, member: Member, *, error: str = "", status: int = 200, purchase: str = "", basket: str = "") -> HttpResponse:
    till: Till = request.till
    balance = member_balance(member, till.unit)
    wallet = member_balance(member, till.organization.currency).available if till.program.currency_mode == "points" else 0
    language = request.LANGUAGE_CODE if hasattr(request, "LANGUAGE_CODE") else "fr"
    # The current campaigns' offers first ("c:<campaign>:<reward>"), at their campaign cost; then the catalog.
    rewards = [
        {"id": f"c:{current.campaign.code}:{offer.reward_id}", "title": f"{offer.reward.title(language)} · {current.campaign.name(language)}",
         "cost": till.amount(offer.cost), "affordable": offer.cost <= balance.available}
        for current in current_campaigns(till.organization.pk) for offer in current.offers
    ] + [
        {"id": r.pk, "title": r.title(language), "cost": till.amount(r.cost_points), "affordable": r.cost_points <= balance.available}
        for r in catalog(till.organization.pk)[:200]
    ]
    vouchers = [
        {"code": v.code, "title": v.reward.title(language), "expires_at": v.expires_at}
        for v in member_vouchers(member, status=VoucherStatus.ISSUED)[:50]
    ]
    return _render(request, "pos/member.html", {
        "member": member, "available": till.amount(balance.available), "pending": till.amount(balance.pending) if balance.pending else "",
        "wallet": till.money(wallet) if wallet else "", "rewards": rewards, "vouchers": vouchers, "error": error,
        "purchase": purchase, "basket": basket,
        "purchase_token": new_form_token(), "redeem_token": new_form_token(), "wallet_token": new_form_token(),
    }, status=status)


@require_GET
@till_page
def member_view(request: HttpRequest, member_id: int) -> HttpResponse:
    return _member_page(request, _member_or_404(request.till, member_id))


@require_POST
@till_page
def purchase_view(request: HttpRequest, member_id: int) -> HttpResponse:
    """Record a purchase (amount in euros, the till's store or the one chosen): it credits the points."""
    till: Till = request.till
    member = _member_or_404(till, member_id)
    amount_text = (request.POST.get("amount") or "").strip()[:20]
    cents = parse_cents(amount_text)
    store = _store_from_form(request)
    key = form_key(request, _scope(request))
    if cents is None:
        return _member_page(request, member, error=_("Enter the amount of the purchase, e.g. 12,50."), status=422, purchase=amount_text)
    if store is False:
        return _member_page(request, member, error=_("Unknown store."), status=422, purchase=amount_text)
    if key is None:
        return _member_page(request, member, error=_("This form has expired; please try again."), status=400, purchase=amount_text)

    def execute() -> tuple[int, dict]:
        result = purchase_record(
            program=till.program, member=member, store=store or None, external_id=f"pos-{key.rsplit(':', 1)[1]}", occurred_at=now(),
            total_minor=cents, currency=till.organization.currency, actor=till.actor,
        )
        return 201, {"points": result.purchase.points_earned, "pending": result.pending}

    outcome = run_once(
        organization_id=till.organization.pk, key=key, operation="pos.purchase",
        payload={"member": member.pk, "cents": cents, "store": store.pk if store else None}, execute=execute,
    )
    if outcome.status >= 400:
        return _member_page(request, member, error=refusal_message(outcome.body, till.organization.currency), status=outcome.status,
                            purchase=amount_text)
    if not outcome.replayed:
        points = till.amount(int(outcome.body["points"]))
        text = _("Purchase of %(amount)s recorded: %(points)s pending (return period).") if outcome.body["pending"] else \
            _("Purchase of %(amount)s recorded: %(points)s credited.")
        messages.success(request, text % {"amount": till.money(cents), "points": points})
    return redirect("pos:member", org=till.organization.slug, member_id=member.pk)


def _store_from_form(request: HttpRequest) -> Store | None | bool:
    """The store named by the form (its id), else the till's; False when the form names an unknown one."""
    till: Till = request.till
    raw = (request.POST.get("store") or "").strip()
    if not raw:
        return till.store
    return {str(s.pk): s for s in till.stores}.get(raw, False)


@require_POST
@till_page
def redeem_view(request: HttpRequest, member_id: int) -> HttpResponse:
    """Redeem a reward for the member at the till (channel "pos"); once per form."""
    till: Till = request.till
    member = _member_or_404(till, member_id)
    choice = (request.POST.get("reward") or "")[:100]
    campaign = None
    try:
        if choice.startswith("c:"):  # a campaign's offer: c:<campaign code>:<reward id>
            code, _sep, reward_id = choice[2:].rpartition(":")
            campaign = access_campaign(till.organization.pk, code)
            choice = reward_id
        reward = access_reward(till.organization.pk, int(choice))
    except (ValueError, DomainError):
        return _member_page(request, member, error=_("Choose a reward from the list."), status=422)
    key = form_key(request, _scope(request))
    if key is None:
        return _member_page(request, member, error=_("This form has expired; please try again."), status=400)

    def prepare() -> StoresReceipt:
        plan = redemption_plan(program=till.program, member=member, reward=reward, channel="pos", campaign=campaign)

        def respond(redemption: Any) -> tuple[int, dict]:
            return 201, {"voucher": redemption.voucher.code, "partner_code": redemption.partner_code}

        return StoresReceipt(lambda receipt: redemption_apply_with_receipt(plan, receipt=receipt, respond=respond))

    outcome = run_once(organization_id=till.organization.pk, key=key, operation="pos.redeem",
                       payload={"member": member.pk, "reward": reward.pk, "campaign": campaign.code if campaign else None}, prepare=prepare)
    if outcome.status >= 400:
        return _member_page(request, member, error=refusal_message(outcome.body, till.organization.currency), status=outcome.status)
    if not outcome.replayed:
        messages.success(request, _("Reward redeemed: %(title)s.") % {"title": reward.title(request.LANGUAGE_CODE)})
    return redirect("pos:voucher", org=till.organization.slug, code=outcome.body["voucher"])


@require_POST
@till_page
def wallet_view(request: HttpRequest, member_id: int) -> HttpResponse:
    """Pay (part of) the basket with the member's wallet credit."""
    till: Till = request.till
    member = _member_or_404(till, member_id)
    basket_text = (request.POST.get("basket") or "").strip()[:20]
    cents = parse_cents(basket_text)
    if cents is None:
        return _member_page(request, member, error=_("Enter the amount of the basket, e.g. 12,50."), status=422, basket=basket_text)
    key = form_key(request, _scope(request))
    if key is None:
        return _member_page(request, member, error=_("This form has expired; please try again."), status=400, basket=basket_text)

    def execute() -> tuple[int, dict]:
        spent = wallet_spend(program=till.program, member=member, basket_minor=cents, store=till.store)
        return 200, {"applied": spent.applied_minor, "left": spent.balance_minor}

    outcome = run_once(organization_id=till.organization.pk, key=key, operation="pos.wallet",
                       payload={"member": member.pk, "cents": cents, "store": till.store.pk if till.store else None}, execute=execute)
    if outcome.status >= 400:
        return _member_page(request, member, error=refusal_message(outcome.body, till.organization.currency), status=outcome.status,
                            basket=basket_text)
    if not outcome.replayed:
        messages.success(request, _("Paid %(applied)s with the wallet; %(left)s left in it.")
                         % {"applied": till.money(int(outcome.body["applied"])), "left": till.money(int(outcome.body["left"]))})
    return redirect("pos:member", org=till.organization.slug, member_id=member.pk)


# --- vouchers at the till ------------------------------------------------------------------------------------


def _voucher_or_404(till: Till, code: str) -> Voucher:
    try:
        return access_voucher(till.organization.pk, code)
    except DomainError as exc:
        raise Http404(str(exc)) from exc


def _lines(voucher: Voucher, product_cents: int | None) -> list[tuple[str, int, int]]:
    if voucher.reward.kind == RewardKind.FREE_PRODUCT and product_cents is not None:
        return [(voucher.reward.product_sku, 1, product_cents)]
    return []


def _voucher_page(request: HttpRequest, voucher: Voucher, context: dict[str, Any], status: int = 200) -> HttpResponse:
    till: Till = request.till
    language = request.LANGUAGE_CODE if hasattr(request, "LANGUAGE_CODE") else "fr"
    partner = ""
    try:
        partner = voucher.partner_code.code
    except Voucher.partner_code.RelatedObjectDoesNotExist:
        partner = ""
    return _render(request, "pos/voucher.html", {
        "voucher": voucher, "title": voucher.reward.title(language), "status": voucher.get_status_display(), "qr": qr_svg(voucher.code),
        "member": voucher.member, "free_product": voucher.reward.kind == RewardKind.FREE_PRODUCT, "partner_code": partner,
        "used_value": till.money(voucher.used_value_minor) if voucher.status == VoucherStatus.USED else "",
        **context,
    }, status=status)


@require_GET
@till_page
def voucher_view(request: HttpRequest, code: str) -> HttpResponse:
    """The voucher; with ?basket=… what it is worth on that basket (or why not): changes nothing."""
    till: Till = request.till
    voucher = _voucher_or_404(till, code)
    basket_text = (request.GET.get("basket") or "").strip()[:20]
    product_text = (request.GET.get("product") or "").strip()[:20]
    context: dict[str, Any] = {"basket": basket_text, "product": product_text}
    status = 200
    if basket_text:
        cents = parse_cents(basket_text)
        product = parse_cents(product_text, allow_zero=True) if product_text else None
        if cents is None or (product_text and product is None):
            context["error"], status = _("Enter the amount of the basket, e.g. 12,50."), 422
        else:
            try:
                valuation = voucher_value(voucher, store=till.store, basket_minor=cents, lines=_lines(voucher, product))
            except DomainError as exc:
                context["error"], status = refusal_message(exc.as_problem(), till.organization.currency), exc.status
            else:
                context.update(value=till.money(valuation.value_minor), to_pay=till.money(cents - valuation.value_minor),
                               basket_cents=cents, use_token=new_form_token())
    return _voucher_page(request, voucher, context, status)


@require_POST
@till_page
def voucher_use_view(request: HttpRequest, code: str) -> HttpResponse:
    """Use the voucher on the basket, once (two tills at once: one wins; a double tap: one use)."""
    till: Till = request.till
    voucher = _voucher_or_404(till, code)
    basket_text = (request.POST.get("basket") or "").strip()[:20]
    product_text = (request.POST.get("product") or "").strip()[:20]
    cents = parse_cents(basket_text)
    product = parse_cents(product_text, allow_zero=True) if product_text else None
    context: dict[str, Any] = {"basket": basket_text, "product": product_text}
    if cents is None or (product_text and product is None):
        context["error"] = _("Enter the amount of the basket, e.g. 12,50.")
        return _voucher_page(request, voucher, context, 422)
    key = form_key(request, _scope(request))
    if key is None:
        context["error"] = _("This form has expired; please check the voucher again.")
        return _voucher_page(request, voucher, context, 400)

    def execute() -> tuple[int, dict]:
        valuation = voucher_use(voucher=voucher, store=till.store, basket_minor=cents, lines=_lines(voucher, product))
        return 200, {"value": valuation.value_minor, "basket": cents}

    outcome = run_once(organization_id=till.organization.pk, key=key, operation="pos.voucher_use",
                       payload={"voucher": voucher.code, "cents": cents, "product": product, "store": till.store.pk if till.store else None},
                       execute=execute)
    if outcome.status >= 400:
        voucher.refresh_from_db()
        context["error"] = refusal_message(outcome.body, till.organization.currency)
        return _voucher_page(request, voucher, context, outcome.status)
    if not outcome.replayed:
        value, basket = int(outcome.body["value"]), int(outcome.body["basket"])
        messages.success(request, _("Voucher used: %(value)s off; %(to_pay)s to pay.")
                         % {"value": till.money(value), "to_pay": till.money(basket - value)})
    return redirect("pos:voucher", org=till.organization.slug, code=voucher.code)
