"""Back-office screens of the campaign offers: the list, create, edit, and each campaign's offers
with their offer tracking (seen, requested, used, rates). Thin views: parse the form, call one
service or selector, render."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from fidelo.core.clock import now
from fidelo.core.errors import DomainError
from fidelo.rewards import campaign_selectors, campaigns
from fidelo.rewards import selectors as reward_selectors
from fidelo.web.backoffice.auth import staff_required
from fidelo.web.backoffice.campaign_forms import CampaignForm, CampaignOfferForm
from fidelo.web.backoffice.views import get_or_404, show_refusal


def _percent(per_mille: int | None) -> str:
    """A rate in per mille as a percentage with one decimal (667 -> 66.7 %), integers only."""
    if per_mille is None:
        return "—"
    return f"{per_mille // 10},{per_mille % 10}\u00a0%" if (get_language() or "fr").startswith("fr") else f"{per_mille // 10}.{per_mille % 10}%"


@staff_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    moment = now()
    rows = [
        {"campaign": c, "current": campaign_selectors.is_current(c, moment), "offers": c.offer_count}
        for c in campaign_selectors.campaigns_with_offer_counts(request.organization.id)[:500]
    ]
    return render(request, "backoffice/campaigns.html", {"rows": rows})


@staff_required
@require_http_methods(["GET", "POST"])
def campaign_new(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaigns.campaign_create(
                organization=request.organization, actor=request.actor, code=form.cleaned_data["code"], **form.campaign_fields(),
            )
        except DomainError as error:
            show_refusal(form, error)
        else:
            messages.success(request, _("Campaign “%(name)s” created: now add its offers.") % {"name": campaign.name_fr})
            return redirect("backoffice:campaign_edit", code=campaign.code)
    status = 422 if request.method == "POST" else 200
    return render(request, "backoffice/campaign_form.html", {"form": form, "campaign": None}, status=status)


def _edit_page(request: HttpRequest, campaign, form: CampaignForm, offer_form: CampaignOfferForm, status: int = 200) -> HttpResponse:
    stats = campaign_selectors.campaign_stats(campaign)
    rows = [
        {"stats": s, "title": s.reward.title(get_language() or "fr"), "penetration": _percent(s.penetration_per_mille), "usage": _percent(s.usage_per_mille)}
        for s in stats
    ]
    return render(request, "backoffice/campaign_form.html", {
        "form": form, "campaign": campaign, "offer_form": offer_form, "rows": rows,
        "current": campaign_selectors.is_current(campaign, now()),
    }, status=status)


@staff_required
@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, code: str) -> HttpResponse:
    campaign = get_or_404(campaign_selectors.access_campaign, request.organization.id, code)
    form = CampaignForm(request.POST or None, initial=CampaignForm.initial_from(campaign))
    form.fields["code"].disabled = True  # links and statistics name it
    if request.method == "POST" and form.is_valid():
        try:
            campaigns.campaign_update(campaign=campaign, actor=request.actor, **form.campaign_fields())
        except DomainError as error:
            show_refusal(form, error)
        else:
            messages.success(request, _("Campaign “%(name)s” saved.") % {"name": form.cleaned_data["name_fr"]})
            return redirect("backoffice:campaign_edit", code=campaign.code)
    status = 422 if request.method == "POST" else 200
    return _edit_page(request, campaign, form, CampaignOfferForm(organization=request.organization), status)


@staff_required
@require_POST
def campaign_offer_save(request: HttpRequest, code: str) -> HttpResponse:
    campaign = get_or_404(campaign_selectors.access_campaign, request.organization.id, code)
    offer_form = CampaignOfferForm(request.POST, organization=request.organization)
    if offer_form.is_valid():
        reward = offer_form.cleaned_data["reward"]
        try:
            campaigns.campaign_offer_set(
                campaign=campaign, reward=reward, actor=request.actor, cost_points=offer_form.cleaned_data["cost_points"],
                position=offer_form.cleaned_data["position"],
            )
        except DomainError as error:
            show_refusal(offer_form, error)
        else:
            messages.success(request, _("Offer “%(title)s” saved.") % {"title": reward.title_fr})
            return redirect("backoffice:campaign_edit", code=campaign.code)
    form = CampaignForm(initial=CampaignForm.initial_from(campaign))
    form.fields["code"].disabled = True
    return _edit_page(request, campaign, form, offer_form, 422)


@staff_required
@require_POST
def campaign_offer_delete(request: HttpRequest, code: str, reward_id: int) -> HttpResponse:
    campaign = get_or_404(campaign_selectors.access_campaign, request.organization.id, code)
    reward = get_or_404(reward_selectors.access_reward, request.organization.id, reward_id)
    try:
        campaigns.campaign_offer_remove(campaign=campaign, reward=reward, actor=request.actor)
    except DomainError as error:
        messages.error(request, str(error.detail))
    else:
        messages.success(request, _("Offer “%(title)s” removed.") % {"title": reward.title_fr})
    return redirect("backoffice:campaign_edit", code=campaign.code)
