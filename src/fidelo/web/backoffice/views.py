"""Back-office screens: thin views that parse a form, call one service or selector, render."""

import secrets

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from fidelo.core.errors import DomainError, NotFound
from fidelo.ledger import selectors as ledger_selectors
from fidelo.ledger.services import points_adjust
from fidelo.members import selectors as member_selectors
from fidelo.rewards import selectors as reward_selectors
from fidelo.rewards.services import reward_create, reward_update
from fidelo.tenancy import selectors as tenancy_selectors
from fidelo.tenancy.services import (
    api_key_create,
    api_key_revoke,
    program_update,
    store_create,
)
from fidelo.web.backoffice.auth import staff_required
from fidelo.web.backoffice.forms import (
    AdjustForm,
    ApiKeyForm,
    ProgramForm,
    RewardForm,
    StoreForm,
)

PAGE_SIZE = 50

# Service field names that a form shows under another name.
FIELD_ALIASES = {"amount_minor": "amount", "percent_bp": "percent", "min_basket_minor": "min_basket"}


def show_refusal(form, error: DomainError) -> None:
    """Put a service's refusal on the form: under its field when the form has it, else on top."""
    field = FIELD_ALIASES.get(error.extra.get("field", ""), error.extra.get("field"))
    message = f"{error.title} — {error.detail}" if str(error.title) != str(error.detail) else str(error.detail)
    form.add_error(field if field in form.fields else None, message)


def get_or_404(fetch, *args):
    """Fetch through an access_* selector; another organization's object is a 404."""
    try:
        return fetch(*args)
    except NotFound as exc:
        raise Http404(str(exc.detail)) from exc


# --- one-time form tokens: a double-click or a reload never submits a write twice -----------

TOKENS = "backoffice_form_tokens"


def issue_token(request: HttpRequest) -> str:
    token = secrets.token_urlsafe(16)
    tokens = request.session.get(TOKENS, [])[-49:]
    request.session[TOKENS] = [*tokens, token]
    return token


def spend_token(request: HttpRequest) -> bool:
    token = request.POST.get("form_token", "")
    tokens = request.session.get(TOKENS, [])
    if not token or token not in tokens:
        return False
    tokens.remove(token)
    request.session[TOKENS] = tokens
    return True


# --- login ----------------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    template_name = "backoffice/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return reverse("backoffice:home")


class LogoutView(auth_views.LogoutView):
    next_page = "backoffice:login"


# --- home -----------------------------------------------------------------------------------


@staff_required
def home(request: HttpRequest) -> HttpResponse:
    program = tenancy_selectors.program_for(request.organization.id)
    return render(request, "backoffice/home.html", {"program": program})


# --- program settings -----------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def program_settings(request: HttpRequest) -> HttpResponse:
    tenancy_selectors.forget_program(request.organization.id)
    program = tenancy_selectors.program_for(request.organization.id)
    initial = ProgramForm.initial_from(program)
    form = ProgramForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            program_update(organization=request.organization, actor=request.actor, **form.changes())
        except DomainError as error:
            show_refusal(form, error)
        else:
            messages.success(request, _("Program settings saved."))
            return redirect("backoffice:program")
    status = 422 if request.method == "POST" else 200
    return render(request, "backoffice/program.html", {"form": form, "program": program}, status=status)


# --- rewards --------------------------------------------------------------------------------


@staff_required
def rewards(request: HttpRequest) -> HttpResponse:
    catalog = reward_selectors.catalog(request.organization.id, include_inactive=True)
    return render(request, "backoffice/rewards.html", {"rewards": catalog})


@staff_required
@require_http_methods(["GET", "POST"])
def reward_new(request: HttpRequest) -> HttpResponse:
    form = RewardForm(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        program = tenancy_selectors.program_for(request.organization.id)
        try:
            reward = reward_create(
                organization=request.organization, program=program, actor=request.actor, kind=form.cleaned_data["kind"],
                stores=list(form.cleaned_data["stores"]), **form.reward_fields(),
            )
        except DomainError as error:
            show_refusal(form, error)
        else:
            messages.success(request, _("Reward “%(title)s” created.") % {"title": reward.title_fr})
            return redirect("backoffice:rewards")
    status = 422 if request.method == "POST" else 200
    return render(request, "backoffice/reward_form.html", {"form": form, "reward": None}, status=status)


@staff_required
@require_http_methods(["GET", "POST"])
def reward_edit(request: HttpRequest, reward_id: int) -> HttpResponse:
    reward = get_or_404(reward_selectors.access_reward, request.organization.id, reward_id)
    form = RewardForm(request.POST or None, organization=request.organization, initial=RewardForm.initial_from(reward))
    form.fields["kind"].disabled = True  # the type of a reward never changes
    if request.method == "POST" and form.is_valid():
        program = tenancy_selectors.program_for(request.organization.id)
        try:
            reward_update(
                reward=reward, program=program, actor=request.actor, stores=list(form.cleaned_data["stores"]), **form.reward_fields()
            )
        except DomainError as error:
            show_refusal(form, error)
        else:
            messages.success(request, _("Reward “%(title)s” saved.") % {"title": form.cleaned_data["title_fr"]})
            return redirect("backoffice:rewards")
    status = 422 if request.method == "POST" else 200
    return render(request, "backoffice/reward_form.html", {"form": form, "reward": reward}, status=status)


# --- members --------------------------------------------------------------------------------


@staff_required
def members(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:200]
    found = member_selectors.member_search(request.organization.id, query)
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "backoffice/members.html", {"page": page, "query": query})


def _member_page(request: HttpRequest, member, form: AdjustForm, *, status: int = 200) -> HttpResponse:
    program = tenancy_selectors.program_for(request.organization.id)
    history = ledger_selectors.member_history(member, cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE)
    context = {
        "member": member,
        "program": program,
        "balance": ledger_selectors.member_balance(member, program.unit),
        "history": history,
        "form": form,
        "form_token": issue_token(request),
    }
    return render(request, "backoffice/member_detail.html", context, status=status)


@staff_required
def member_detail(request: HttpRequest, member_id: int) -> HttpResponse:
    member = get_or_404(member_selectors.access_member, request.organization.id, member_id)
    try:
        return _member_page(request, member, AdjustForm())
    except DomainError as error:  # a tampered history cursor
        raise Http404(str(error.detail)) from error


@staff_required
@require_POST
def member_adjust(request: HttpRequest, member_id: int) -> HttpResponse:
    member = get_or_404(member_selectors.access_member, request.organization.id, member_id)
    form = AdjustForm(request.POST)
    if not form.is_valid():
        return _member_page(request, member, form, status=422)
    if not spend_token(request):
        messages.info(request, _("This adjustment was already submitted."))
        return redirect("backoffice:member_detail", member_id=member.id)
    program = tenancy_selectors.program_for(request.organization.id)
    try:
        points_adjust(
            program=program, member=member, delta=form.cleaned_data["delta"], note=form.cleaned_data["note"], actor=request.actor
        )
    except DomainError as error:
        show_refusal(form, error)
        return _member_page(request, member, form, status=422)
    messages.success(request, _("Adjustment recorded."))
    return redirect("backoffice:member_detail", member_id=member.id)


# --- stores ---------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def stores(request: HttpRequest) -> HttpResponse:
    form = StoreForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            store = store_create(organization=request.organization, **form.cleaned_data)
        except DomainError as error:
            form.add_error("code", str(error.detail))
        else:
            messages.success(request, _("Store “%(name)s” created.") % {"name": store.name})
            return redirect("backoffice:stores")
    status = 422 if request.method == "POST" else 200
    context = {"stores": tenancy_selectors.stores_of(request.organization.id), "form": form}
    return render(request, "backoffice/stores.html", context, status=status)


# --- API keys -------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None, organization=request.organization)
    issued = None
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                issued = api_key_create(
                    organization=request.organization, name=form.cleaned_data["name"], actor=request.actor,
                    store=form.cleaned_data["store"],
                )
            except DomainError as error:
                show_refusal(form, error)
            else:
                # The secret is shown once, in this response, and never stored in clear.
                status = 201
                form = ApiKeyForm(organization=request.organization)
    context = {"keys": tenancy_selectors.api_keys_of(request.organization.id), "form": form, "issued": issued}
    response = render(request, "backoffice/api_keys.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@staff_required
@require_POST
def api_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_or_404(tenancy_selectors.access_api_key, request.organization.id, key_id)
    api_key_revoke(api_key=key, actor=request.actor)
    messages.success(request, _("API key “%(name)s” revoked.") % {"name": key.name})
    return redirect("backoffice:api_keys")
