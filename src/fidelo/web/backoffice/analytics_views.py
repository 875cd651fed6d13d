"""Contacts > Fidélité (the loyalty leaderboard) and Statistiques (the dashboard), with CSV exports.

Thin views: parse the query string, call the analytics selectors (which read the rollups),
render. Bad filters are shown on the page with a 400, never a 500.
"""

from __future__ import annotations

import csv
import datetime as dt

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from fidelo.analytics import selectors
from fidelo.analytics.selectors import (
    LEADERBOARD_SORTS,
    RFM_SEGMENTS,
    LeaderboardFilters,
    Period,
)
from fidelo.core.errors import DomainError
from fidelo.core.money import format_money
from fidelo.tenancy import selectors as tenancy_selectors
from fidelo.web.backoffice.auth import staff_required

PER_PAGE = 25


class _BadInput(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _int(value: str, name: str, *, minimum: int = 0) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        raise _BadInput(_("%(field)s: a whole number is expected") % {"field": name}) from None
    if number < minimum:
        raise _BadInput(_("%(field)s: %(minimum)s or more") % {"field": name, "minimum": minimum})
    return number


def _tristate(value: str) -> bool | None:
    return {"with": True, "without": False}.get((value or "").strip())


def _filters(request: HttpRequest) -> tuple[LeaderboardFilters, int]:
    sort = request.GET.get("sort", "points") or "points"
    if sort not in LEADERBOARD_SORTS:
        raise _BadInput(_("Unknown sort order"))
    filters = LeaderboardFilters(
        min_points=_int(request.GET.get("min_points", ""), _("Minimum points")),
        referrals=_tristate(request.GET.get("referrals", "")),
        rewards=_tristate(request.GET.get("rewards", "")),
        search=request.GET.get("q", "").strip()[:100],
        sort=sort,
    )
    page = _int(request.GET.get("page", ""), _("Page"), minimum=1) or 1
    return filters, page


def _refusal(exc: Exception) -> str:
    """The reason a request was refused, in the reader's language."""
    if isinstance(exc, _BadInput):
        return exc.message
    messages = {
        "period_invalid": _("The period starts after it ends."),
        "period_too_long": _("The period is longer than 3 years."),
        "store_unknown": _("Unknown store."),
        "leaderboard_filters_invalid": _("Invalid filters."),
        "leaderboard_page_invalid": _("Invalid page."),
    }
    return messages.get(getattr(exc, "code", ""), str(getattr(exc, "detail", exc)))


def _language() -> str:
    return (get_language() or "fr")[:2]


# --- the leaderboard ---------------------------------------------------------------------------


@staff_required
def leaderboard(request: HttpRequest) -> HttpResponse:
    org = request.organization
    error = ""
    try:
        filters, page = _filters(request)
        screen = selectors.leaderboard_page(organization_id=org.id, filters=filters, page=page, per_page=PER_PAGE, language=_language())
    except (_BadInput, DomainError) as exc:
        error = _refusal(exc)
        filters, page = LeaderboardFilters(), 1
        screen = selectors.leaderboard_page(organization_id=org.id, filters=filters, page=1, per_page=PER_PAGE, language=_language())
    chart = {
        "labels": [p.month.strftime("%m/%Y") for p in screen.progression],
        "members": [p.members for p in screen.progression],
        "issued": [p.points_issued for p in screen.progression],
        "redeemed": [p.points_redeemed for p in screen.progression],
        "label_members": _("Members"), "label_issued": _("Points distributed"), "label_redeemed": _("Points redeemed"),
    }
    query = request.GET.copy()
    query.pop("page", None)
    language = _language()
    context = {
        "ranking": [(row, format_money(row.revenue_minor, org.currency, language)) for row in screen.page.rows],
        "screen": screen, "filters": filters, "error": error, "chart": chart, "sorts": _sort_labels(), "querystring": query.urlencode(),
        "currency": org.currency, "unit_is_points": _points_mode(org.id),
    }
    return render(request, "backoffice/analytics/leaderboard.html", context, status=400 if error else 200)


def _points_mode(organization_id: int) -> bool:
    return tenancy_selectors.program_for(organization_id).currency_mode == "points"


def _sort_labels() -> list[tuple[str, str]]:
    return [
        ("points", _("Points earned")), ("balance", _("Balance")), ("revenue", _("Revenue")), ("purchases", _("Purchases")),
        ("referrals", _("Referrals")), ("rewards", _("Rewards unlocked")), ("recent", _("Last activity")), ("name", _("Name")),
    ]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_response(filename: str, header: list[str], rows) -> StreamingHttpResponse:
    writer = csv.writer(_Echo(), delimiter=";")

    def lines():
        yield "\ufeff"  # spreadsheet programs read UTF-8 with a BOM
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _money(cents: int | None, currency: str) -> str:
    if cents is None:
        return ""
    units, rest = divmod(abs(cents), 100)  # integers only: no float on a money path
    return f"{'-' if cents < 0 else ''}{units}.{rest:02d}"


def _member_rows(rows, currency: str):
    for r in rows:
        yield [
            r.rank or "", r.member_id, r.name, r.card_number, r.email, r.tier, r.points_earned, r.balance, r.purchases,
            _money(r.revenue_minor, currency), r.visits, r.referrals, r.rewards, r.last_activity_at.isoformat() if r.last_activity_at else "",
        ]


def _member_header() -> list[str]:
    return [
        _("Rank"), _("Member id"), _("Name"), _("Card number"), _("Email"), _("Tier"), _("Points earned"), _("Balance"), _("Purchases"),
        _("Revenue (€)"), _("Visits"), _("Referrals"), _("Rewards unlocked"), _("Last activity"),
    ]


def _reward_header(*, offers: bool = False) -> list[str]:
    """The columns of a rewards table; the offers' also say the campaign (empty: the reward, every channel)."""
    return [
        _("Reward"), *([_("Campaign")] if offers else []), _("Cost in points"), _("Rewards unlocked"), _("Vouchers used"), _("Points spent"),
        _("Members who saw it"), _("Members who requested it"), _("Members who used it"), _("Penetration rate"), _("Usage rate"),
    ]


def _reward_rows(rows, *, offers: bool = False):
    for r in rows:
        yield [r.title, *([r.campaign] if offers else []), r.cost_points, r.vouchers_issued, r.vouchers_used, r.points_spent, r.seen,
               r.requested, r.used, "" if r.penetration_rate is None else r.penetration_rate, "" if r.usage_rate is None else r.usage_rate]


@staff_required
def leaderboard_csv(request: HttpRequest) -> HttpResponse:
    """The whole filtered ranking (every page) as CSV."""
    org = request.organization
    try:
        filters, _page = _filters(request)
        rows = list(selectors.leaderboard_export(organization_id=org.id, filters=filters))
    except (_BadInput, DomainError) as exc:
        return HttpResponse(_refusal(exc), status=400, content_type="text/plain; charset=utf-8")
    return _csv_response("classement-fidelite.csv" if _language() == "fr" else "loyalty-ranking.csv", _member_header(), _member_rows(rows, org.currency))


@staff_required
def leaderboard_table_csv(request: HttpRequest, table: str) -> HttpResponse:
    """The other tables of the Fidélité screen: top 3, popular rewards, progression."""
    org = request.organization
    if table == "top":
        return _csv_response("top-3.csv", _member_header(), _member_rows(selectors.top_members(organization_id=org.id, n=3), org.currency))
    if table == "rewards":
        return _csv_response("rewards.csv", _reward_header(), _reward_rows(selectors.popular_rewards(organization_id=org.id, limit=100, language=_language())))
    if table == "progression":
        points = selectors.progression(organization_id=org.id, months=12)
        header = [_("Month"), _("New members"), _("Members"), _("Points distributed"), _("Points redeemed"), _("Purchases"), _("Revenue (€)")]
        return _csv_response("progression.csv", header, (
            [p.month.strftime("%Y-%m"), p.new_members, p.members, p.points_issued, p.points_redeemed, p.purchases, _money(p.revenue_minor, org.currency)]
            for p in points
        ))
    raise Http404("No such table")


# --- the dashboard -------------------------------------------------------------------------------


def _date(value: str, name: str) -> dt.date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _BadInput(_("%(field)s: a date is expected (YYYY-MM-DD)") % {"field": name}) from None


def _period(request: HttpRequest) -> Period:
    org = request.organization
    store = _int(request.GET.get("store", ""), _("Store"), minimum=1)
    return selectors.period_of(
        organization_id=org.id, start=_date(request.GET.get("start", ""), _("From")), end=_date(request.GET.get("end", ""), _("To")), store_id=store
    )


def _segment_labels() -> dict[str, str]:
    return {
        "champions": _("Champions"), "loyal": _("Loyal"), "promising": _("Promising"), "at_risk": _("At risk"), "lost": _("Lost"),
        "never_bought": _("Never bought"),
    }


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    org = request.organization
    error = ""
    try:
        period = _period(request)
    except (_BadInput, DomainError) as exc:
        error = _refusal(exc)
        period = selectors.period_of(organization_id=org.id)
    panels = selectors.dashboard(organization_id=org.id, period=period, language=_language())
    stores = tenancy_selectors.stores_of(org.id)
    labels = _segment_labels()
    charts = {
        "days": [d.strftime("%d/%m") for d, *_rest in panels["visits"].daily],
        "visits": [v for _d, v, _p, _a in panels["visits"].daily],
        "purchases": [p for _d, _v, p, _a in panels["visits"].daily],
        "active": [a for _d, _v, _p, a in panels["visits"].daily],
        "revenue": [round(r / 100, 2) for _d, r in panels["revenue"].daily],
        "points_days": [d.strftime("%d/%m") for d, *_rest in panels["points"].daily],
        "issued": [i for _d, i, _r, _e in panels["points"].daily],
        "redeemed": [r for _d, _i, r, _e in panels["points"].daily],
        "expired": [e for _d, _i, _r, e in panels["points"].daily],
        "tiers": [t.tier or _("No tier") for t in panels["tiers"]],
        "tier_members": [t.members for t in panels["tiers"]],
        "segments": [labels[s] for s in RFM_SEGMENTS],
        "segment_members": [panels["rfm"].segments[s] for s in RFM_SEGMENTS],
        "l": {
            "visits": _("Check-ins"), "purchases": _("Purchases"), "active": _("Active members"), "revenue": _("Revenue (€)"),
            "issued": _("Points issued"), "redeemed": _("Points redeemed"), "expired": _("Points expired"), "members": _("Members"),
        },
    }
    language = _language()
    money = lambda cents: "—" if cents is None else format_money(cents, org.currency, language)
    revenue, value = panels["revenue"], panels["average_value"]
    context = {
        "money": {
            "revenue": money(revenue.revenue_minor), "refunds": money(revenue.refunds_minor), "net": money(revenue.net_minor),
            "basket": money(revenue.average_basket_minor), "lifetime": money(value.revenue_minor),
            "per_member": money(value.average_per_member_minor), "per_buyer": money(value.average_per_buyer_minor),
        },
        "top": [(row, money(row.revenue_minor)) for row in panels["top_members"]],
        "cohorts": [(c, money(c.revenue_minor)) for c in panels["retention"]],
        "period": period, "panels": panels, "stores": stores, "error": error, "charts": charts, "segment_labels": labels,
        "currency": org.currency, "unused_value": money(panels["points"].unused_value_minor),
        "querystring": request.GET.urlencode(), "rfm_rows": [(labels[s], panels["rfm"].segments[s]) for s in RFM_SEGMENTS],
        "recency_labels": [_("0–1 month"), _("2–3 months"), _("4–6 months"), _("7–12 months"), _("Over 12 months or never")],
        "frequency_labels": [_("No purchase"), _("1 purchase"), _("2–3"), _("4–9"), _("10 or more")],
        "monetary_labels": [_("0 €"), _("Under 20 €"), _("20–100 €"), _("100–500 €"), _("500 € or more")],
    }
    return render(request, "backoffice/analytics/dashboard.html", context, status=400 if error else 200)


DASHBOARD_TABLES = ("daily", "top_members", "offers", "retention", "tiers", "rfm")


@staff_required
def dashboard_csv(request: HttpRequest, table: str) -> HttpResponse:
    """Each table of the dashboard, for the same period and store, as CSV."""
    org = request.organization
    if table not in DASHBOARD_TABLES:
        raise Http404("No such table")
    try:
        period = _period(request)
    except (_BadInput, DomainError) as exc:
        return HttpResponse(_refusal(exc), status=400, content_type="text/plain; charset=utf-8")
    selectors.ensure_fresh(org.id)
    oid = org.id
    if table == "daily":
        visits = selectors.panel_visits(organization_id=oid, period=period)
        revenue = {d: r for d, r in selectors.panel_revenue(organization_id=oid, period=period).daily}
        points = {d: (i, r, e) for d, i, r, e in selectors.panel_points(organization_id=oid, period=period).daily}
        header = [_("Day"), _("Check-ins"), _("Purchases"), _("Active members"), _("Revenue (€)"), _("Points issued"), _("Points redeemed"), _("Points expired")]
        return _csv_response("daily.csv", header, (
            [d.isoformat(), v, p, a, _money(revenue.get(d, 0), org.currency), *points.get(d, (0, 0, 0))] for d, v, p, a in visits.daily
        ))
    if table == "top_members":
        return _csv_response("top-10.csv", _member_header(), _member_rows(selectors.panel_top_members(organization_id=oid, period=period), org.currency))
    if table == "offers":
        offers = selectors.panel_offers(organization_id=oid, period=period, language=_language())
        return _csv_response("offers.csv", _reward_header(offers=True), _reward_rows(offers, offers=True))
    if table == "retention":
        header = [_("Enrollment month"), _("Members"), _("Came back"), _("Retention rate"), _("Revenue (€)")]
        return _csv_response("retention.csv", header, (
            [c.month, c.members, c.returned, "" if c.retention_rate is None else c.retention_rate, _money(c.revenue_minor, org.currency)]
            for c in selectors.panel_retention(organization_id=oid, period=period)
        ))
    if table == "tiers":
        return _csv_response("tiers.csv", [_("Tier"), _("Members"), _("Share")], (
            [t.tier or _("No tier"), t.members, "" if t.share is None else t.share] for t in selectors.panel_tiers(organization_id=oid, period=period)
        ))
    rfm = selectors.panel_rfm(organization_id=oid, period=period)
    labels = _segment_labels()
    return _csv_response("rfm.csv", [_("Segment"), _("Members")], ([labels[s], rfm.segments[s]] for s in RFM_SEGMENTS))
