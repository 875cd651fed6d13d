"""Back-office screens for earning rules (list, form editor, simulation) and tiers."""

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from fidelo.awards.catalog import rule_catalog
from fidelo.core.clock import now
from fidelo.core.errors import DomainError
from fidelo.events.simulation import rules_simulate
from fidelo.members.selectors import member_lookup
from fidelo.rewards import campaign_selectors
from fidelo.rules import selectors as rule_selectors
from fidelo.rules.engine import types as engine
from fidelo.rules.explain import explain
from fidelo.rules.services import rule_create, rule_set_active, rule_update
from fidelo.tenancy import selectors as tenancy_selectors
from fidelo.tiers import selectors as tier_selectors
from fidelo.tiers.services import tier_level_create, tier_settings_update
from fidelo.web.backoffice.auth import staff_required
from fidelo.web.backoffice.forms import (
    RuleForm,
    SimulateForm,
    TierLevelForm,
    TierSettingsForm,
    euros_to_minor,
)
from fidelo.web.backoffice.views import get_or_404, show_refusal

EXAMPLE = {
    "name": "", "event": "purchase", "conditions": [], "effects": [{"type": "fixed_points", "points": 10}], "priority": 0, "exclusive": False,
}


def _refusal(form, error: DomainError) -> None:
    path = error.extra.get("path")
    form.add_error("definition", f"{error.detail}" + (f" ({path})" if path else "") + f" [{error.code}]")


def _simulate_form(request: HttpRequest, data=None) -> SimulateForm:
    return SimulateForm(data, organization=request.organization, event_types=engine.EVENT_TYPES)


@staff_required
def rules(request: HttpRequest) -> HttpResponse:
    found = list(rule_selectors.rules_of(request.organization.id))
    definitions = rule_selectors.current_definitions(found)
    rows = [(rule, definitions.get(rule.id, {})) for rule in found]
    return render(request, "backoffice/rules.html", {"rows": rows, "simulate_form": _simulate_form(request), "simulation": None})


def _editor(request: HttpRequest, rule, form: RuleForm, status: int) -> HttpResponse:
    campaigns = campaign_selectors.campaigns_of(request.organization.id).values_list("code", "name_fr")
    context = {"rule": rule, "form": form, "event_types": engine.EVENT_TYPES, "campaigns": list(campaigns)}
    return render(request, "backoffice/rule_form.html", context, status=status)


@staff_required
@require_http_methods(["GET", "POST"])
def rule_new(request: HttpRequest) -> HttpResponse:
    form = RuleForm(request.POST or None, initial={"definition": json.dumps(EXAMPLE, indent=2, ensure_ascii=False)})
    if request.method == "POST" and form.is_valid():
        program = tenancy_selectors.program_for(request.organization.id)
        try:
            rule_create(organization=request.organization, definition=form.cleaned_data["definition"], catalog=rule_catalog(program),
                        actor=request.actor)
        except DomainError as error:
            _refusal(form, error)
        else:
            messages.success(request, _("Rule created."))
            return redirect("backoffice:rules")
    return _editor(request, None, form, 422 if request.method == "POST" else 200)


@staff_required
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_or_404(rule_selectors.access_rule, request.organization.id, rule_id)
    initial = json.dumps(rule_selectors.rule_definition(rule), indent=2, ensure_ascii=False)
    form = RuleForm(request.POST or None, initial={"definition": initial})
    if request.method == "POST" and form.is_valid():
        program = tenancy_selectors.program_for(request.organization.id)
        try:
            rule_update(rule=rule, definition=form.cleaned_data["definition"], catalog=rule_catalog(program), actor=request.actor)
        except DomainError as error:
            _refusal(form, error)
        else:
            messages.success(request, _("Rule saved (a new version)."))
            return redirect("backoffice:rules")
    return _editor(request, rule, form, 422 if request.method == "POST" else 200)


@staff_required
@require_POST
def rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_or_404(rule_selectors.access_rule, request.organization.id, rule_id)
    rule_set_active(rule=rule, active=not rule.active, actor=request.actor)
    return redirect("backoffice:rules")


@staff_required
@require_POST
def rule_simulation(request: HttpRequest) -> HttpResponse:
    """What the active rules would award a member for an event; nothing is written."""
    form = _simulate_form(request, request.POST)
    simulation = None
    if form.is_valid():
        program = tenancy_selectors.program_for(request.organization.id)
        raw = form.cleaned_data["member"].strip()
        try:
            member = member_lookup(request.organization, **({"email": raw} if "@" in raw else {"card": raw}))
            store = form.cleaned_data["store"]
            event = engine.Event(
                type=form.cleaned_data["event"], name="", occurred_at=now(), store=store.code if store else None,
                channel="offline" if store else "online", amount_minor=euros_to_minor(form.cleaned_data["amount"]), lines=(),
                attributes={},
            )
            result = rules_simulate(program=program, event=event, member=member)
        except DomainError as error:
            show_refusal(form, error)
        else:
            evaluation = result.evaluation
            simulation = {
                "base": result.base_units,
                "awards": [{"rule": a.rule_name, "kind": a.kind, "amount": a.amount, "why": str(explain(a.why))} for a in evaluation.awards],
                "skipped": [{"rule": s.rule_name, "why": str(explain(s.why))} for s in evaluation.skipped],
            }
    found = list(rule_selectors.rules_of(request.organization.id))
    definitions = rule_selectors.current_definitions(found)
    context = {"rows": [(rule, definitions.get(rule.id, {})) for rule in found], "simulate_form": form, "simulation": simulation}
    return render(request, "backoffice/rules.html", context, status=200 if simulation is not None else 422)


@staff_required
@require_http_methods(["GET", "POST"])
def tiers(request: HttpRequest) -> HttpResponse:
    form = TierLevelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            level = tier_level_create(organization=request.organization, actor=request.actor, **form.cleaned_data)
        except DomainError as error:
            show_refusal(form, error)
        else:
            messages.success(request, _("Tier “%(name)s” created.") % {"name": level.name_fr})
            return redirect("backoffice:tiers")
    settings = tier_selectors.tier_settings(request.organization.id)
    context = {
        "levels": tier_selectors.tier_levels(request.organization.id),
        "settings": settings,
        "settings_form": TierSettingsForm(initial={
            "metric": settings.metric, "window": settings.window, "window_months": settings.window_months, "grace_days": settings.grace_days,
        }),
        "counts": tier_selectors.members_by_tier(request.organization.id),
        "form": form,
    }
    return render(request, "backoffice/tiers.html", context, status=422 if request.method == "POST" else 200)


@staff_required
@require_http_methods(["POST"])
def tier_settings(request: HttpRequest) -> HttpResponse:
    """How members qualify for the tiers: the metric, the window, the grace period."""
    form = TierSettingsForm(request.POST)
    if form.is_valid():
        try:
            tier_settings_update(organization=request.organization, actor=request.actor, **form.cleaned_data)
        except DomainError as error:
            show_refusal(form, error)
        else:
            messages.success(request, _("Tier settings saved."))
            return redirect("backoffice:tiers")
    context = {
        "levels": tier_selectors.tier_levels(request.organization.id),
        "settings": tier_selectors.tier_settings(request.organization.id),
        "counts": tier_selectors.members_by_tier(request.organization.id),
        "form": TierLevelForm(),
        "settings_form": form,
    }
    return render(request, "backoffice/tiers.html", context, status=422)
