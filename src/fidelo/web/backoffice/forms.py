"""Back-office forms: they parse and check the shape of input; the services decide the rest."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from fidelo.rewards.models import RewardKind
from fidelo.tenancy.models import (
    CurrencyMode,
    ExpiryPolicy,
    RefundPolicy,
    Rounding,
    Store,
)
from fidelo.tiers.models import Metric, Window

MAX_INT = 1_000_000_000


def euros_to_minor(value: Decimal | None) -> int:
    """Euros with at most two decimals to cents, without floats."""
    return 0 if value is None else int(value * 100)


def minor_to_euros(value: int) -> Decimal:
    return (Decimal(value) / 100).quantize(Decimal("0.01"))


class ProgramForm(forms.Form):
    name = forms.CharField(label=_("Program name"), max_length=200)
    currency_mode = forms.ChoiceField(
        label=_("Currency mode"), choices=CurrencyMode.choices,
        help_text=_("Members collect points, or cashback in euros. Locked once members have earned."),
    )
    earn_units = forms.IntegerField(label=_("Earned (points, or cents of cashback)"), min_value=0, max_value=1_000_000)
    earn_per_minor = forms.IntegerField(
        label=_("For each amount spent (in cents)"), min_value=1, max_value=1_000_000,
        help_text=_("1 point per euro: 1 for 100 cents. Cashback of 2 percent: 2 for 100 cents."),
    )
    rounding = forms.ChoiceField(label=_("Rounding"), choices=Rounding.choices)
    expiry_policy = forms.ChoiceField(label=_("Points expiry"), choices=ExpiryPolicy.choices)
    expiry_months = forms.IntegerField(label=_("Expiry after (months)"), min_value=0, max_value=1_000_000)
    pending_days = forms.IntegerField(
        label=_("Pending period (days)"), min_value=0, max_value=365,
        help_text=_("Points stay pending (not spendable) during the return period."),
    )
    refund_policy = forms.ChoiceField(label=_("On a refund"), choices=RefundPolicy.choices)
    transfers_allowed = forms.BooleanField(label=_("Members may transfer points to each other"), required=False)
    transfer_min = forms.IntegerField(label=_("Smallest transfer"), min_value=0, max_value=1_000_000)
    transfer_max_per_day = forms.IntegerField(label=_("Most transferred per day"), min_value=0, max_value=1_000_000)
    brand_color = forms.RegexField(
        label=_("Brand color"), regex=r"^#[0-9a-fA-F]{6}$", max_length=7,
        error_messages={"invalid": _("Write the color as #RRGGBB.")},
        widget=forms.TextInput(attrs={"type": "color"}),
    )
    brand_logo_url = forms.CharField(
        label=_("Logo URL"), max_length=500, required=False, help_text=_("Shown on the member portal (https://…).")
    )

    SETTINGS = (
        "name", "currency_mode", "earn_units", "earn_per_minor", "rounding", "expiry_policy", "expiry_months", "pending_days",
        "refund_policy", "transfers_allowed", "transfer_min", "transfer_max_per_day", "brand_color", "brand_logo_url",
    )

    @classmethod
    def initial_from(cls, program) -> dict:
        return {field: getattr(program, field) for field in cls.SETTINGS}

    def changes(self) -> dict:
        return {field: self.cleaned_data[field] for field in self.changed_data if field in self.SETTINGS}


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class RewardForm(forms.Form):
    kind = forms.ChoiceField(label=_("Type"), choices=RewardKind.choices)
    title_fr = forms.CharField(label=_("Title (French)"), max_length=200)
    title_en = forms.CharField(label=_("Title (English)"), max_length=200, required=False)
    description_fr = forms.CharField(label=_("Description (French)"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    description_en = forms.CharField(label=_("Description (English)"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    image_url = forms.CharField(label=_("Image URL"), max_length=500, required=False)
    cost_points = forms.IntegerField(label=_("Cost in points"), min_value=1, max_value=MAX_INT)
    stock = forms.IntegerField(label=_("Stock"), min_value=0, max_value=MAX_INT, required=False, help_text=_("Empty: unlimited."))
    limit_per_member = forms.IntegerField(
        label=_("Limit per member"), min_value=1, max_value=MAX_INT, required=False, help_text=_("Empty: no limit.")
    )
    valid_from = forms.DateTimeField(label=_("Valid from"), required=False, widget=DateTimeLocalInput())
    valid_until = forms.DateTimeField(label=_("Valid until"), required=False, widget=DateTimeLocalInput())
    amount = forms.DecimalField(
        label=_("Amount (€)"), min_value=0, max_digits=12, decimal_places=2, required=False,
        help_text=_("Fixed amount voucher or wallet credit."),
    )
    percent = forms.DecimalField(
        label=_("Percentage (%)"), min_value=0, max_value=100, max_digits=5, decimal_places=2, required=False,
        help_text=_("Percentage voucher."),
    )
    min_basket = forms.DecimalField(label=_("Minimum basket (€)"), min_value=0, max_digits=12, decimal_places=2, required=False)
    product_sku = forms.CharField(label=_("Product SKU"), max_length=120, required=False, help_text=_("Free product."))
    charity_name = forms.CharField(label=_("Association"), max_length=200, required=False, help_text=_("Charity donation."))
    allowed_tiers = forms.CharField(
        label=_("Tiers allowed"), max_length=500, required=False, help_text=_("Tier codes separated by commas. Empty: everyone.")
    )
    stores = forms.ModelMultipleChoiceField(
        label=_("Stores"), queryset=Store.objects.none(), required=False, help_text=_("None selected: every store."),
        widget=forms.CheckboxSelectMultiple,
    )
    voucher_days = forms.IntegerField(label=_("Voucher valid for (days)"), min_value=1, max_value=3650, initial=30)
    refund_points_on_expiry = forms.BooleanField(label=_("Give the points back when the voucher expires"), required=False)
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stores"].queryset = Store.objects.filter(organization=organization).order_by("name")

    @staticmethod
    def initial_from(reward) -> dict:
        return {
            "kind": reward.kind, "title_fr": reward.title_fr, "title_en": reward.title_en, "description_fr": reward.description_fr,
            "description_en": reward.description_en, "image_url": reward.image_url, "cost_points": reward.cost_points,
            "stock": reward.stock, "limit_per_member": reward.limit_per_member, "valid_from": reward.valid_from,
            "valid_until": reward.valid_until, "amount": minor_to_euros(reward.amount_minor) if reward.amount_minor else None,
            "percent": (Decimal(reward.percent_bp) / 100) if reward.percent_bp else None,
            "min_basket": minor_to_euros(reward.min_basket_minor) if reward.min_basket_minor else None,
            "product_sku": reward.product_sku, "charity_name": reward.charity_name,
            "allowed_tiers": ", ".join(reward.allowed_tiers), "stores": list(reward.stores.all()),
            "voucher_days": reward.voucher_days, "refund_points_on_expiry": reward.refund_points_on_expiry, "active": reward.active,
        }

    def reward_fields(self) -> dict:
        """The cleaned data in the service's vocabulary (cents, basis points, a list of tiers)."""
        data = self.cleaned_data
        fields = {
            name: data[name]
            for name in (
                "title_fr", "title_en", "description_fr", "description_en", "image_url", "cost_points", "stock",
                "limit_per_member", "valid_from", "valid_until", "product_sku", "charity_name", "voucher_days",
                "refund_points_on_expiry", "active",
            )
        }
        fields["amount_minor"] = euros_to_minor(data["amount"])
        fields["min_basket_minor"] = euros_to_minor(data["min_basket"])
        fields["percent_bp"] = 0 if data["percent"] is None else int(data["percent"] * 100)
        fields["allowed_tiers"] = [code.strip() for code in (data["allowed_tiers"] or "").split(",") if code.strip()]
        return fields


class AdjustForm(forms.Form):
    delta = forms.IntegerField(
        label=_("Points to add (or remove, with a minus sign)"), min_value=-MAX_INT, max_value=MAX_INT,
    )
    note = forms.CharField(label=_("Reason"), max_length=500, help_text=_("Required. The member sees it in their history."))

    def clean_delta(self):
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError(_("The adjustment cannot be zero."))
        return delta

    def clean_note(self):
        note = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError(_("A reason is required."))
        return note


class StoreForm(forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=64, help_text=_("Short identifier used by the API, e.g. paris-11."))
    name = forms.CharField(label=_("Name"), max_length=200)
    city = forms.CharField(label=_("City"), max_length=120, required=False)
    is_online = forms.BooleanField(label=_("Web shop"), required=False)


class ApiKeyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120, help_text=_("What uses the key, e.g. the till of Paris 11e."))
    store = forms.ModelChoiceField(
        label=_("Limited to the store"), queryset=Store.objects.none(), required=False, empty_label=_("All stores"),
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = Store.objects.filter(organization=organization).order_by("name")


class RuleForm(forms.Form):
    """The rule's JSON definition, built by the editor's rows (or typed); the engine validates it."""

    definition = forms.CharField(label=_("Definition (JSON)"), widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}))

    def clean_definition(self):
        import json

        try:
            value = json.loads(self.cleaned_data["definition"])
        except ValueError as exc:
            raise forms.ValidationError(_("This is not valid JSON: %(error)s") % {"error": exc}) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError(_("The definition must be a JSON object."))
        return value


class SimulateForm(forms.Form):
    member = forms.CharField(label=_("Member (card number or email)"), max_length=254)
    event = forms.ChoiceField(label=_("Event"), choices=[])
    amount = forms.DecimalField(label=_("Amount (€)"), min_value=0, max_digits=12, decimal_places=2, required=False)
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.objects.none(), required=False, empty_label=_("None (online)"))

    def __init__(self, *args, organization, event_types, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event"].choices = [(t, t) for t in event_types]
        self.fields["store"].queryset = Store.objects.filter(organization=organization).order_by("name")


class TierSettingsForm(forms.Form):
    metric = forms.ChoiceField(label=_("Qualifying on"), choices=Metric.choices)
    window = forms.ChoiceField(label=_("Qualification window"), choices=Window.choices)
    window_months = forms.IntegerField(label=_("Rolling window (months)"), min_value=1, max_value=36, initial=12)
    grace_days = forms.IntegerField(label=_("Grace period before a downgrade (days)"), min_value=0, max_value=365, initial=0)


class TierLevelForm(forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=32)
    name_fr = forms.CharField(label=_("Name (French)"), max_length=120)
    name_en = forms.CharField(label=_("Name (English)"), max_length=120, required=False)
    rank = forms.IntegerField(label=_("Rank (1 = the lowest)"), min_value=1, max_value=100)
    threshold = forms.IntegerField(label=_("Threshold"), min_value=0, required=False,
                                   help_text=_("In the qualifying metric: tier points, cents spent or visits."))
    multiplier_percent = forms.IntegerField(label=_("Earn multiplier (%)"), min_value=100, max_value=1000, initial=100)
    perks_fr = forms.CharField(label=_("Perks (French)"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    perks_en = forms.CharField(label=_("Perks (English)"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
