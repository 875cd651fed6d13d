"""Statistics computed independently from the raw tables, row by row in Python (no SQL aggregation).

The tests compare every figure of the rollups with these.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict

from fidelo.ledger.models import Account, Transfer
from fidelo.members.models import Member
from fidelo.purchases.models import Purchase, Refund, Visit
from fidelo.referrals.models import Referral
from fidelo.rewards.models import OfferEvent, Voucher
from fidelo.tenancy.models import Organization, Program


class Raw:
    def __init__(self, org: Organization):
        self.org = org
        self.tz = zoneinfo.ZoneInfo(org.timezone)
        program = Program.objects.get(organization=org)
        self.unit = "PTS" if program.currency_mode == "points" else org.currency
        self.members = {m.id: m for m in Member.objects.filter(organization=org)}
        accounts = {a.id: a for a in Account.objects.filter(organization=org)}
        self.transfers = []
        for t in Transfer.objects.filter(organization=org).order_by("id"):
            self.transfers.append((t, accounts[t.debit_id], accounts[t.credit_id]))
        self.accounts = accounts
        self.purchases = list(Purchase.objects.filter(organization=org))
        self.refunds = list(Refund.objects.filter(organization=org).select_related("purchase"))
        self.visits = list(Visit.objects.filter(organization=org))
        self.vouchers = list(Voucher.objects.filter(organization=org))
        self.offer_events = list(OfferEvent.objects.filter(organization=org))
        self.referrals = list(Referral.objects.filter(organization=org))

    def day(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.tz).date()

    def member_figures(self) -> dict[int, dict]:
        figures = {
            pk: dict(points_earned=0, points_redeemed=0, points_expired=0, points_adjusted=0, points_transferred=0, balance=0, purchases=0,
                     revenue_minor=0, visits=0, rewards=0, referrals=0, first=None, last=None)
            for pk in self.members
        }

        def touch(pk, at):
            f = figures[pk]
            f["first"] = at if f["first"] is None or at < f["first"] else f["first"]
            f["last"] = at if f["last"] is None or at > f["last"] else f["last"]

        for a in self.accounts.values():
            if a.member_id and a.unit == self.unit and a.kind in ("available", "pending"):
                figures[a.member_id]["balance"] += a.balance
        for t, debit, credit in self.transfers:
            if t.unit != self.unit:
                continue
            if t.kind == "earn":
                figures[credit.member_id]["points_earned"] += t.amount
                touch(credit.member_id, t.occurred_at)
            elif t.kind == "reverse":
                figures[debit.member_id]["points_earned"] -= t.amount
            elif t.kind == "redeem":
                figures[debit.member_id]["points_redeemed"] += t.amount
                touch(debit.member_id, t.occurred_at)
            elif t.kind == "restore":
                figures[credit.member_id]["points_redeemed"] -= t.amount
            elif t.kind == "expire":
                figures[debit.member_id]["points_expired"] += t.amount
            elif t.kind == "adjust":
                if credit.member_id:
                    figures[credit.member_id]["points_adjusted"] += t.amount
                else:
                    figures[debit.member_id]["points_adjusted"] -= t.amount
            elif t.kind == "transfer":
                figures[credit.member_id]["points_transferred"] += t.amount
                figures[debit.member_id]["points_transferred"] -= t.amount
        for p in self.purchases:
            f = figures[p.member_id]
            f["purchases"] += 1
            f["revenue_minor"] += p.total_minor - p.refunded_minor
            touch(p.member_id, p.occurred_at)
        for v in self.visits:
            figures[v.member_id]["visits"] += 1
            touch(v.member_id, v.occurred_at)
        for v in self.vouchers:
            figures[v.member_id]["rewards"] += 1
        for r in self.referrals:
            figures[r.referrer_id]["referrals"] += 1
        return figures

    def daily(self, start: dt.date, end: dt.date, store_id: int | None) -> dict[str, int]:
        """Sums over the local days start..end; store_id None: all stores."""
        inside = lambda at: start <= self.day(at) <= end
        at_store = lambda sid: store_id is None or sid == store_id
        out = defaultdict(int)
        for p in self.purchases:
            if inside(p.occurred_at) and at_store(p.store_id):
                out["purchases"] += 1
                out["revenue_minor"] += p.total_minor
                if store_id is not None:
                    out["points_issued"] += p.points_earned
        for r in self.refunds:
            if inside(r.occurred_at) and at_store(r.purchase.store_id):
                out["refunds_minor"] += r.amount_minor
        for v in self.visits:
            if inside(v.occurred_at) and at_store(v.store_id):
                out["visits"] += 1
        for m in self.members.values():
            if inside(m.enrolled_at) and at_store(m.enrolled_store_id):
                out["new_members"] += 1
        for r in self.referrals:
            if inside(r.enrolled_at) and at_store(self.members[r.referrer_id].enrolled_store_id):
                out["referrals"] += 1
        if store_id is None:
            for t, debit, _credit in self.transfers:
                if t.unit != self.unit or not inside(t.occurred_at):
                    continue
                if t.kind == "earn":
                    out["points_issued"] += t.amount
                elif t.kind == "redeem":
                    out["points_redeemed"] += t.amount
                elif t.kind == "restore":
                    out["points_redeemed"] -= t.amount
                elif t.kind == "expire":
                    out["points_expired"] += t.amount
                elif t.kind == "reverse":
                    out["points_reversed"] += t.amount
                elif t.kind == "adjust":
                    out["points_adjusted"] += -t.amount if debit.member_id else t.amount
        return out

    def active_per_day(self, store_id: int | None) -> dict[dt.date, int]:
        seen = defaultdict(set)
        for row in [*self.purchases, *self.visits]:
            if store_id is None or row.store_id == store_id:
                seen[self.day(row.occurred_at)].add(row.member_id)
        return {day: len(members) for day, members in seen.items()}

    def offers(self) -> dict[int, dict]:
        out = defaultdict(lambda: {"seen": set(), "requested": set(), "used": set(), "vouchers": 0})
        for e in self.offer_events:
            out[e.reward_id][e.kind].add(e.member_id)
        for v in self.vouchers:
            out[v.reward_id]["vouchers"] += 1
        return {k: {"seen": len(v["seen"]), "requested": len(v["requested"]), "used": len(v["used"]), "vouchers": v["vouchers"]} for k, v in out.items()}
