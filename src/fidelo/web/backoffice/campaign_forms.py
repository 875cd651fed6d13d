"""Back-office forms of the campaign offers: they parse and check the shape of input; the services decide the rest."""

from django import forms
from django.utils.translation import gettext_lazy as _

from fidelo.rewards.models import Reward
from fidelo.web.backoffice.forms import MAX_INT, DateTimeLocalInput


class CampaignForm(forms.Form):
    code = forms.SlugField(
        label=_("Code"), max_length=64, help_text=_("Short identifier used by the API and in links, e.g. summer-2026. It cannot change later."),
    )
    name_fr = forms.CharField(label=_("Name (French)"), max_length=200)
    name_en = forms.CharField(label=_("Name (English)"), max_length=200, required=False)
    description_fr = forms.CharField(label=_("Description (French)"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    description_en = forms.CharField(label=_("Description (English)"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    starts_at = forms.DateTimeField(label=_("Starts at"), widget=DateTimeLocalInput())
    ends_at = forms.DateTimeField(label=_("Ends at"), required=False, widget=DateTimeLocalInput(), help_text=_("Empty: until switched off."))
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    budget = forms.IntegerField(
        label=_("Budget of its earning rules"), min_value=1, max_value=MAX_INT, required=False,
        help_text=_("Points (cents in cashback mode) that the earning rules of this campaign may give in all; empty: no budget."),
    )

    FIELDS = ("name_fr", "name_en", "description_fr", "description_en", "starts_at", "ends_at", "active", "budget")

    def clean_code(self):
        return self.cleaned_data["code"].lower()

    @classmethod
    def initial_from(cls, campaign) -> dict:
        return {"code": campaign.code, **{field: getattr(campaign, field) for field in cls.FIELDS}}

    def campaign_fields(self) -> dict:
        return {field: self.cleaned_data[field] for field in self.FIELDS}


class CampaignOfferForm(forms.Form):
    reward = forms.ModelChoiceField(label=_("Reward"), queryset=Reward.objects.none())
    cost_points = forms.IntegerField(
        label=_("Special cost in points"), min_value=1, max_value=MAX_INT, required=False, help_text=_("Empty: the reward's own cost."),
    )
    position = forms.IntegerField(label=_("Position"), min_value=0, max_value=1_000_000, initial=0, help_text=_("Smallest first."))

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reward"].queryset = Reward.objects.filter(organization=organization).order_by("title_fr", "pk")
