"""The demo merchants: Forme+ (a gym) and Café des Arts (a café chain), with a year of activity.

Everything is written through the real services (organization_create, member_enroll,
purchase_record, purchase_refund, visit_record, points_transfer, points_adjust, the rewards
catalog: reward_create, reward_add_codes, reward_redeem, voucher_use, voucher_cancel,
wallet_spend, auto_redemption_set, auto_redeem, offer_seen, and the nightly jobs: release,
expiry, vouchers_expire_due, auto_redeem_due), never by writing rows by hand, so the ledger
keeps every invariant and `fidelo ledger verify` passes afterwards.

Each merchant has a French catalog (CAFE_CATALOG, GYM_CATALOG). A member saves for a reward
chosen by popularity (the less loyal prefer the cheap ones), redeems it when the balance
allows, and then, with their own dice: uses the voucher at the till some days later (on a
purchase, whose ticket shows the discount and whose external id the voucher records, or at
the gym's front desk), has it cancelled (points back), or forgets it (the nightly job
expires it). Donations and wallet credit are done at once; the gym's shop credit is spent
at the club's till later. Members browse the catalog (offer_seen) far more often than they
redeem; a few opted in to auto-redemption of the cheapest reward.

How it works:

1. A plan is drawn first, in Python only, from a seeded random generator and Faker('fr_FR'):
   members with a profile (very loyal, regular, occasional, churned), and their events over
   the period (café baskets, gym subscription payments, check-ins, shop purchases, refunds,
   transfers, manual adjustments). The same seed gives the same members and the same story,
   placed relative to the end of the period (now by default).
2. The plan is played in time order with the services. The Fidelo clock
   (fidelo.core.clock.now) is moved to each event's time, so what happens "later" happens
   later: points stay pending during the return window and are released by the nightly
   job, lots expire on their date, and a refund within the window takes back pending points.
   Redemptions, voucher use and transfers are decided while playing, from the member's real
   balance.
3. The clock is put back, and release_due / expire_due run at the real now.

The whole seeding is one write transaction: an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import unicodedata
import zoneinfo
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from fidelo.tenancy.models import Organization

DEMO_LOGINS = [
    {"email": "gerant@forme-plus.example", "password": "demo-fidelo-2026", "organization": "Forme+ (salle de sport)", "slug": "forme-plus"},
    {"email": "gerant@cafe-des-arts.example", "password": "demo-fidelo-2026", "organization": "Café des Arts", "slug": "cafe-des-arts"},
]
DEMO_SLUGS = ("forme-plus", "cafe-des-arts")

DEFAULT_MEMBERS = 400
DEFAULT_MONTHS = 12
DEFAULT_SEED = 2026


def demo_is_seeded() -> bool:
    return Organization.objects.filter(slug__in=DEMO_SLUGS).exists()


class DemoAlreadySeeded(Exception):
    pass


# --- progress ------------------------------------------------------------------------------


class Reporter(Protocol):
    def phase(self, label: str, total: int | None) -> None: ...

    def advance(self, n: int = 1) -> None: ...


class SilentReporter:
    def phase(self, label: str, total: int | None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


# --- the merchants -------------------------------------------------------------------------

TZ_NAME = "Europe/Paris"
TZ = zoneinfo.ZoneInfo(TZ_NAME)
GYM, CAFE = "forme-plus", "cafe-des-arts"


@dataclass(frozen=True)
class RewardSpec:
    """A reward of a demo catalog, created with rewards.services.reward_create."""

    key: str
    kind: str
    title_fr: str
    title_en: str
    description_fr: str
    description_en: str
    cost: int  # points
    weight: int  # popularity: how often a member saves for it
    fields: dict = field(default_factory=dict)  # the other reward_create fields (amount_minor, limit_per_member, ...)
    stock_share: float | None = None  # limited stock: this share of the members (at least 3)
    store_codes: tuple[str, ...] = ()  # only in these stores
    valid_days: tuple[int, int] | None = None  # valid from start + a days until end + b days
    codes_share: float = 0.0  # partner reward: codes uploaded for this share of the members
    code_prefix: str = ""
    audience: str = ""  # "subscribers": gym members with a monthly plan
    use_after: tuple[float, float] = (1, 12)  # days between the redemption and its use at the till
    forget: float = 0.12  # chance the member never uses the voucher (it expires)


CAFE_CATALOG = [
    RewardSpec(
        "cafe", "free_product", "Café offert", "Free coffee",
        "Un espresso offert dans l'un de nos cafés, à présenter en caisse. Valable 30 jours.",
        "One espresso on us in any of our cafés: show the voucher at the till. Valid for 30 days.",
        20, 8, {"product_sku": "CDA-ESP", "amount_minor": 180, "voucher_days": 30}, use_after=(0.5, 10), forget=0.08,
    ),
    RewardSpec(
        "viennoiserie", "free_product", "Viennoiserie offerte", "Free pastry",
        "Un croissant pur beurre offert avec votre boisson. Valable 30 jours.",
        "A butter croissant on us with your drink. Valid for 30 days.",
        25, 4, {"product_sku": "CDA-CRO", "amount_minor": 130, "voucher_days": 30}, use_after=(0.5, 10),
    ),
    RewardSpec(
        "moins-10", "voucher_percent", "-10 % sur l'addition", "10% off your bill",
        "10 % de remise sur toute l'addition, dès 8 € d'achat. Offre lancée au deuxième mois du programme, 3 fois par membre.",
        "10% off the whole bill from an €8 basket. Launched in the programme's second month, 3 times per member.",
        40, 3, {"percent_bp": 1000, "min_basket_minor": 800, "limit_per_member": 3, "voucher_days": 45}, valid_days=(30, 90),
    ),
    RewardSpec(
        "bon-5", "voucher_amount", "Bon de 5 €", "€5 voucher",
        "5 € de remise dès 15 € d'achat (idéal avec un paquet de café en grains). Stock limité, 2 par membre.",
        "€5 off a basket of €15 or more (try it with a bag of coffee beans). Limited stock, 2 per member.",
        60, 2, {"amount_minor": 500, "min_basket_minor": 1500, "limit_per_member": 2, "voucher_days": 60}, stock_share=0.12,
        use_after=(1, 20),
    ),
    RewardSpec(
        "don-restos", "donation", "Don aux Restos du Cœur", "Donation to Les Restos du Cœur",
        "Transformez vos points en repas : Café des Arts verse 2 € aux Restos du Cœur pour 30 points.",
        "Turn your points into meals: Café des Arts gives €2 to Les Restos du Cœur for 30 points.",
        30, 1, {"charity_name": "Les Restos du Cœur", "amount_minor": 200},
    ),
    RewardSpec(
        "cinema", "partner_code", "Place de cinéma à 5 € (Cinéma Le Grand Écran)", "€5 cinema ticket (Le Grand Écran cinema)",
        "Un code à saisir sur le site du cinéma partenaire Le Grand Écran pour une place à 5 €. Valable 6 mois, dans la limite des codes disponibles.",
        "A code for the partner cinema Le Grand Écran's website: a ticket for €5. Valid for 6 months, while codes last.",
        80, 1, {"voucher_days": 180}, codes_share=0.08, code_prefix="GE",
    ),
]

GYM_CATALOG = [
    RewardSpec(
        "shake", "free_product", "Shake protéiné offert", "Free protein shake",
        "Un shake protéiné offert au bar de votre club. Valable 30 jours.",
        "A protein shake on us at your club's bar. Valid for 30 days.",
        40, 6, {"product_sku": "FP-SHAKE", "amount_minor": 450, "voucher_days": 30}, use_after=(0.5, 10), forget=0.08,
    ),
    RewardSpec(
        "gourde", "free_product", "Gourde Forme+", "Forme+ water bottle",
        "La gourde isotherme Forme+ 75 cl, à retirer à l'accueil. Une par membre, dans la limite des stocks.",
        "The Forme+ 75 cl insulated bottle, to collect at the front desk. One per member, while stocks last.",
        150, 2, {"product_sku": "FP-GOURDE", "amount_minor": 1290, "limit_per_member": 1, "voucher_days": 60}, stock_share=0.06,
        use_after=(1, 15),
    ),
    RewardSpec(
        "credit-boutique", "wallet_credit", "Crédit boutique 5 €", "€5 shop credit",
        "5 € crédités sur votre cagnotte, à dépenser à la boutique du club (boissons, nutrition, accessoires).",
        "€5 credited to your wallet, to spend in the club shop (drinks, nutrition, accessories).",
        100, 2, {"amount_minor": 500},
    ),
    RewardSpec(
        "coaching", "experience", "Séance de coaching", "Personal coaching session",
        "Une séance individuelle d'une heure avec un coach, au studio de Bordeaux Chartrons. Points rendus si elle n'est pas réservée dans les 60 jours.",
        "A one-hour session with a personal coach at the Bordeaux Chartrons studio. Points given back if not booked within 60 days.",
        200, 3, {"voucher_days": 60, "refund_points_on_expiry": True}, store_codes=("bordeaux-chartrons",),
        use_after=(3, 30), forget=0.18,
    ),
    RewardSpec(
        "mois-offert", "voucher_amount", "Mois d'abonnement offert", "One month's membership free",
        "Votre prochain prélèvement mensuel offert (jusqu'à 44,90 €). Deux fois par membre.",
        "Your next monthly payment on us (up to €44.90). Twice per member.",
        350, 1, {"amount_minor": 4490, "limit_per_member": 2, "voucher_days": 60}, audience="subscribers", use_after=(0, 1), forget=0.02,
    ),
    RewardSpec(
        "don-sport", "donation", "Don à Sport dans la Ville", "Donation to Sport dans la Ville",
        "Forme+ verse 5 € à l'association Sport dans la Ville, qui fait découvrir le sport aux jeunes des quartiers, pour 80 points.",
        "Forme+ gives €5 to Sport dans la Ville, a charity bringing sport to young people, for 80 points.",
        80, 1, {"charity_name": "Sport dans la Ville", "amount_minor": 500},
    ),
]

# Products a free product voucher may give that are not otherwise in the baskets.
GYM_GOURDE = ("FP-GOURDE", "Gourde isotherme Forme+ 75 cl", "accessoires", 1290)

# A voucher's fate once issued: cancelled on request, or left to expire, or used at the till.
CANCEL_SHARE = 0.05
OPT_IN_SHARE = 0.03  # members (loyal or regular ones) opted in to auto-redemption, at least one per merchant
BROWSE_ON_ENROLMENT = 0.65  # members who look at the catalog when they join
REFERRED_SHARE = 0.12  # members who join with another member's referral code
BROWSE_ON_VISIT = 0.04  # ... and now and then afterwards


@dataclass(frozen=True)
class MerchantSpec:
    slug: str
    name: str
    program_name: str
    program: dict
    stores: list[tuple[str, str, str]]  # code, name, city
    owner: tuple[str, str, str]  # first name, last name, title
    catalog: list[RewardSpec]


MERCHANTS = [
    MerchantSpec(
        slug=GYM,
        name="Forme+",
        program_name="Le Club Forme+",
        # Subscriptions are sold online: the 14-day withdrawal period (délai de rétractation)
        # keeps their points pending. Points are valid 12 months; a refund may leave a debt.
        program={
            "earn_units": 1, "earn_per_minor": 100, "rounding": "down", "pending_days": 14,
            "expiry_policy": "months", "expiry_months": 12, "refund_policy": "allow_debt", "transfers_allowed": False,
        },
        stores=[("bordeaux-chartrons", "Forme+ Bordeaux Chartrons", "Bordeaux"), ("merignac", "Forme+ Mérignac", "Mérignac")],
        owner=("Julien", "Morel", "gérant"),
        catalog=GYM_CATALOG,
    ),
    MerchantSpec(
        slug=CAFE,
        name="Café des Arts",
        program_name="La Carte des Arts",
        # Counter sales: points at once; valid 6 months; members may give points to a friend.
        program={
            "earn_units": 1, "earn_per_minor": 100, "rounding": "nearest", "pending_days": 0,
            "expiry_policy": "months", "expiry_months": 6, "refund_policy": "stop_at_zero", "transfers_allowed": True,
            "transfer_min": 10, "transfer_max_per_day": 200,
        },
        stores=[("paris-11", "Café des Arts Paris 11e", "Paris"), ("lyon-presquile", "Café des Arts Lyon Presqu'île", "Lyon")],
        owner=("Camille", "Lefèvre", "gérante"),
        catalog=CAFE_CATALOG,
    ),
]

# sku, name, category, unit price in cents
CAFE_MENU = {
    "chaud": [
        ("CDA-ESP", "Espresso", "boissons chaudes", 180), ("CDA-DBL", "Double espresso", "boissons chaudes", 290),
        ("CDA-ALL", "Café allongé", "boissons chaudes", 220), ("CDA-CRM", "Café crème", "boissons chaudes", 320),
        ("CDA-CAP", "Cappuccino", "boissons chaudes", 380), ("CDA-LAT", "Latte", "boissons chaudes", 420),
        ("CDA-CHO", "Chocolat chaud", "boissons chaudes", 390), ("CDA-THE", "Thé en vrac", "boissons chaudes", 320),
    ],
    "viennoiserie": [
        ("CDA-CRO", "Croissant", "viennoiseries", 130), ("CDA-PAC", "Pain au chocolat", "viennoiseries", 150),
        ("CDA-PAR", "Pain aux raisins", "viennoiseries", 190),
    ],
    "sale": [
        ("CDA-SJB", "Sandwich jambon-beurre", "salé", 550), ("CDA-SPC", "Sandwich poulet crudités", "salé", 690),
        ("CDA-CRQ", "Croque-monsieur", "salé", 720), ("CDA-QUI", "Quiche lorraine", "salé", 650),
        ("CDA-SAL", "Salade du jour", "salé", 950),
    ],
    "douceur": [
        ("CDA-COO", "Cookie", "douceurs", 250), ("CDA-CAN", "Cannelé", "douceurs", 220),
        ("CDA-TAR", "Tarte au citron", "douceurs", 450), ("CDA-FIN", "Financier", "douceurs", 180),
    ],
    "frais": [
        ("CDA-JUS", "Jus d'orange pressé", "boissons fraîches", 450), ("CDA-LIM", "Limonade artisanale", "boissons fraîches", 390),
        ("CDA-EAU", "Eau pétillante 33 cl", "boissons fraîches", 250),
    ],
    "epicerie": [("CDA-GRA", "Café en grains 250 g", "épicerie", 890)],
}
FORMULE_MIDI_DISCOUNT = 150  # sandwich + drink + dessert: 1,50 € off the sandwich

GYM_PLANS = {
    "premium": ("FP-ABO-PREM", "Abonnement mensuel Premium (tous clubs)", 4490),
    "essentiel": ("FP-ABO-ESS", "Abonnement mensuel Essentiel", 2990),
    "etudiant": ("FP-ABO-ETU", "Abonnement mensuel Étudiant", 2290),
}
GYM_CARD = ("FP-CARTE-10", "Carte 10 entrées", "cartes", 9900)
GYM_JOINING_FEE = ("FP-FRAIS", "Frais d'inscription", "frais", 1900)
GYM_SHOP = [  # sku, name, category, price, weight
    ("FP-BAR", "Barre protéinée", "nutrition", 250, 10),
    ("FP-EAU", "Eau minérale 50 cl", "boissons", 150, 10),
    ("FP-ISO", "Boisson isotonique 50 cl", "boissons", 290, 6),
    ("FP-SHAKE", "Shake protéiné", "nutrition", 450, 5),
    ("FP-SHAKER", "Shaker Forme+", "accessoires", 990, 1),
    ("FP-WHEY", "Whey protéine vanille 1 kg", "nutrition", 3490, 1),
    ("FP-SERV", "Serviette microfibre", "accessoires", 1490, 1),
    ("FP-CAD", "Cadenas à code", "accessoires", 650, 1),
    ("FP-GANTS", "Gants de musculation", "accessoires", 1990, 1),
]

ADJUSTMENT_NOTES = {
    CAFE: (
        ["Points oubliés lors du passage en caisse", "Geste commercial : commande servie en retard",
         "Geste commercial : machine à expresso en panne", "Carte oubliée, ticket présenté le lendemain"],
        ["Correction : ticket enregistré deux fois"],
    ),
    GYM: (
        ["Geste commercial : douches hors service", "Points de parrainage saisis à la main",
         "Bonus challenge « 20 séances en un mois »", "Carte oubliée à l'accueil, achat rattaché à la main"],
        ["Correction : paiement enregistré en double"],
    ),
}

# profile: share of members, (weekday, weekend) chance of coming on a given day
PROFILES = {
    CAFE: {"fidele": (0.08, 0.62, 0.30), "regulier": (0.30, 0.20, 0.10), "occasionnel": (0.42, 0.05, 0.04), "parti": (0.20, 0.16, 0.08)},
    GYM: {"fidele": (0.08, 0.55, 0.40), "regulier": (0.30, 0.24, 0.14), "occasionnel": (0.42, 0.07, 0.05), "parti": (0.20, 0.22, 0.12)},
}
REDEEM_EAGERNESS = {"fidele": 0.55, "regulier": 0.45, "occasionnel": 0.35, "parti": 0.3}


# --- the plan ------------------------------------------------------------------------------


@dataclass
class PlannedMember:
    key: int
    org: str
    profile: str
    store: int  # index of the home store
    enrolled_at: dt.datetime
    active_until: dt.datetime
    identity: dict
    plan: str = ""  # gym: premium / essentiel / etudiant / carte
    member: object = None  # the Member, once enrolled
    target: int = 0  # the reward the member is saving for (index in the catalog)
    luck: random.Random | None = None  # the member's own dice while playing
    pending: list = field(default_factory=list)  # (due, voucher, entry, fate) of the issued vouchers
    taken: Counter = field(default_factory=Counter)  # vouchers per reward key (limit per member)
    wallet: int = 0  # shop credit left, in cents
    auto: bool = False  # opted in to auto-redemption
    seen: set = field(default_factory=set)  # rewards the member has looked at


@dataclass
class Event:
    at: dt.datetime
    kind: str  # purchase, refund, visit, transfer, adjust, jobs
    org: str = ""
    member: int = -1
    data: dict = field(default_factory=dict)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch == "-").strip("-")


def _local(day: dt.date, hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=TZ)


def _days(start: dt.datetime, stop: dt.datetime) -> Iterator[dt.date]:
    day, last = start.astimezone(TZ).date(), stop.astimezone(TZ).date()
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


class Planner:
    def __init__(self, *, members_per_org: int, months: int, seed: int, end: dt.datetime):
        from faker import Faker

        self.seed = seed
        self.rng = self.main_rng = random.Random(seed)
        self.fake = Faker("fr_FR")
        self.fake.seed_instance(seed)
        self.fake_en = Faker("en_GB")
        self.fake_en.seed_instance(seed + 1)
        self.members_per_org = members_per_org
        # The story is laid out on whole local days ending with the day of `end`, so the same
        # seed tells the same story whatever the hour (events after `end` are left out).
        self.end = end
        last_day = end.astimezone(TZ).date()
        self.start = _local(last_day - dt.timedelta(days=round(months * 365.25 / 12)), 0, 0)
        self.horizon = _local(last_day + dt.timedelta(days=1), 0, 0)
        self.members: list[PlannedMember] = []
        self.events: list[Event] = []
        self.sequence = Counter()
        # Mobile numbers first (06 39 98 xx xx), landlines (01 99 00 xx xx) past 10,000 members.
        self._phones = {
            org: self.rng.sample(range(10_000), min(members_per_org, 10_000))
            + self.rng.sample(range(10_000, 20_000), min(max(members_per_org - 10_000, 0), 10_000))
            for org in (GYM, CAFE)
        }

    # identities

    def _identity(self, org: str, index: int, emails: set[str]) -> dict:
        rng = self.rng
        english = rng.random() < 0.04
        fake = self.fake_en if english else self.fake
        female = rng.random() < (0.52 if org == CAFE else 0.47)
        first = fake.first_name_female() if female else fake.first_name_male()
        last = fake.last_name()
        identity: dict = {"first_name": first, "last_name": last, "locale": "en" if english else "fr"}
        if rng.random() < 0.9:
            local = rng.choice([f"{_ascii(first)}.{_ascii(last)}", f"{_ascii(first)[0]}{_ascii(last)}", f"{_ascii(first)}{_ascii(last)}{rng.randint(1, 99)}"])
            email = f"{local}@{rng.choice(['example.com', 'example.net', 'example.org'])}"
            n = 2
            while email in emails:
                email = f"{local}{n}@{email.split('@')[1]}"
                n += 1
            emails.add(email)
            identity["email"] = email
        if rng.random() < 0.75 and index < len(self._phones[org]):
            # Numbers reserved by ARCEP for fiction: 06 39 98 xx xx, then 01 99 00 xx xx.
            n = self._phones[org][index]
            identity["phone"] = f"06 39 98 {n // 100:02d} {n % 100:02d}" if n < 10_000 else f"01 99 00 {(n - 10_000) // 100:02d} {n % 100:02d}"
        if rng.random() < 0.85:
            low, high = (17, 64) if org == GYM else (18, 78)
            identity["birthday"] = fake.date_of_birth(minimum_age=low, maximum_age=high)
        consents = {}
        if "email" in identity:
            consents["email"] = rng.random() < 0.7
        if "phone" in identity:
            consents["sms"] = rng.random() < 0.45
            if rng.random() < 0.2:
                consents["voice"] = rng.random() < 0.5
        identity["consents"] = consents
        return identity

    def _age(self, identity: dict) -> int | None:
        birthday = identity.get("birthday")
        return None if birthday is None else (self.end.date() - birthday).days // 365

    # members

    def plan_members(self) -> None:
        rng = self.rng
        span = (self.horizon - self.start).total_seconds()
        for org in (GYM, CAFE):
            shares = PROFILES[org]
            profiles = []
            for name, (share, _, _) in shares.items():
                profiles += [name] * max(1, round(share * self.members_per_org))
            profiles = (profiles * 2)[: self.members_per_org]
            rng.shuffle(profiles)
            emails: set[str] = set()
            for index, profile in enumerate(profiles):
                # A launch wave in the first three weeks, then a steady trickle.
                if rng.random() < 0.25:
                    offset = rng.uniform(0, min(21 * 86400, span * 0.3))
                else:
                    offset = rng.uniform(0, span * 0.97)
                day = (self.start + dt.timedelta(seconds=offset)).astimezone(TZ).date()
                hour = rng.randint(8, 18) if org == CAFE else rng.choice([7, 8, 12, 13, 17, 18, 19, 20])
                enrolled = max(_local(day, hour, rng.randint(0, 59), rng.randint(0, 59)), self.start)
                if enrolled > self.end - dt.timedelta(hours=2):
                    enrolled = self.end - dt.timedelta(hours=2 + index % 46, minutes=index % 60)
                until = self.end
                if profile == "parti":
                    until = min(self.end, enrolled + dt.timedelta(days=rng.randint(15, 110)))
                identity = self._identity(org, index, emails)
                pm = PlannedMember(
                    key=len(self.members), org=org, profile=profile, store=0 if rng.random() < 0.6 else 1,
                    enrolled_at=enrolled, active_until=until, identity=identity,
                )
                if org == GYM:
                    age = self._age(identity)
                    if profile == "fidele":
                        pm.plan = "premium" if rng.random() < 0.6 else "essentiel"
                    elif profile == "occasionnel":
                        pm.plan = "carte" if rng.random() < 0.6 else "essentiel"
                    elif age is not None and age < 26 and rng.random() < 0.6:
                        pm.plan = "etudiant"
                    else:
                        pm.plan = "essentiel" if rng.random() < 0.85 else "premium"
                self.members.append(pm)
        self.members.sort(key=lambda m: m.enrolled_at)
        for key, pm in enumerate(self.members):
            pm.key = key

    # events

    def _ext(self, prefix: str) -> str:
        self.sequence[prefix] += 1
        return f"{prefix}-{self.sequence[prefix]:07d}"

    def _add(self, event: Event) -> Event | None:
        if event.at > self.end - dt.timedelta(seconds=30):
            return None
        self.events.append(event)
        return event

    def _line(self, item: tuple, quantity: int = 1, discount: int = 0) -> dict:
        return _line(item, quantity, discount)

    def _cafe_basket(self, slot: str) -> list[dict]:
        rng, menu = self.rng, CAFE_MENU
        quantity = 2 if rng.random() < 0.15 else 1
        lines = []
        if slot == "matin":
            lines.append(self._line(rng.choice(menu["chaud"]), quantity))
            if rng.random() < 0.6:
                lines.append(self._line(rng.choice(menu["viennoiserie"]), quantity if rng.random() < 0.7 else quantity + 1))
            if rng.random() < 0.1:
                lines.append(self._line(menu["frais"][0]))
        elif slot == "midi":
            main = rng.choice(menu["sale"])
            drink = rng.choice(menu["frais"]) if rng.random() < 0.7 else None
            dessert = rng.choice(menu["douceur"]) if rng.random() < 0.5 else None
            formule = drink is not None and dessert is not None and main[0].startswith(("CDA-SJB", "CDA-SPC"))
            lines.append(self._line(main, quantity, FORMULE_MIDI_DISCOUNT * quantity if formule else 0))
            for extra in (drink, dessert):
                if extra:
                    lines.append(self._line(extra, quantity))
            if rng.random() < 0.4:
                lines.append(self._line(menu["chaud"][0], quantity))
        else:
            lines.append(self._line(rng.choice(menu["chaud"] if rng.random() < 0.7 else menu["frais"]), quantity))
            if rng.random() < 0.5:
                lines.append(self._line(rng.choice(menu["douceur"]), quantity))
        if rng.random() < 0.03:
            lines.append(self._line(menu["epicerie"][0]))
        return lines

    def _cafe_time(self, day: dt.date) -> tuple[str, dt.datetime]:
        rng = self.rng
        slot = rng.choices(["matin", "midi", "apres-midi"], weights=[55, 25, 20])[0]
        hour = {"matin": rng.randint(7, 10), "midi": rng.randint(12, 13), "apres-midi": rng.randint(15, 18)}[slot]
        return slot, _local(day, hour, rng.randint(0, 59), rng.randint(0, 59))

    def _purchase(self, pm: PlannedMember, at: dt.datetime, store: int, lines: list[dict], *, channel: str = "offline", prefix: str) -> Event | None:
        return self._add(Event(at, "purchase", pm.org, pm.key, {
            "store": store, "lines": lines, "channel": channel, "prefix": prefix,
        }))

    def plan_cafe(self, pm: PlannedMember) -> None:
        rng = self.rng
        _, weekday_p, weekend_p = PROFILES[CAFE][pm.profile]
        prefix = ("CDA-P11", "CDA-LYO")
        first_day = pm.enrolled_at.astimezone(TZ).date()
        # Enrolled at the till, with a first purchase.
        slot = "matin" if pm.enrolled_at.astimezone(TZ).hour < 11 else ("midi" if pm.enrolled_at.astimezone(TZ).hour < 14 else "apres-midi")
        self._purchase(pm, pm.enrolled_at + dt.timedelta(minutes=1), pm.store, self._cafe_basket(slot), prefix=prefix[pm.store])
        for day in _days(pm.enrolled_at, pm.active_until):
            if day == first_day:
                continue
            chance = weekend_p if day.weekday() >= 5 else weekday_p
            if rng.random() >= chance:
                continue
            slot, at = self._cafe_time(day)
            if at > pm.active_until:
                continue
            store = pm.store if rng.random() < 0.95 else 1 - pm.store
            self._purchase(pm, at, store, self._cafe_basket(slot), prefix=prefix[store])

    def plan_gym(self, pm: PlannedMember) -> None:
        rng = self.rng
        _, weekday_p, weekend_p = PROFILES[GYM][pm.profile]
        first_day = pm.enrolled_at.astimezone(TZ).date()
        shop_prefix = ("FP-CHA", "FP-MER")
        retracts = pm.profile == "parti" and pm.plan != "carte" and rng.random() < 0.3
        if pm.plan == "carte":
            self._purchase(pm, pm.enrolled_at + dt.timedelta(minutes=2), pm.store, [self._line(GYM_CARD)], prefix=shop_prefix[pm.store])
        else:
            sku, name, price = GYM_PLANS[pm.plan]
            subscription = [self._line((sku, name, "abonnement", price))]
            first = self._purchase(
                pm, pm.enrolled_at + dt.timedelta(minutes=3), pm.store, [*subscription, self._line(GYM_JOINING_FEE)],
                channel="online", prefix="FP-ABO",
            )
            if retracts and first:
                # Withdrawal within the 14 days: everything is refunded, the member leaves.
                back = pm.enrolled_at + dt.timedelta(days=rng.randint(2, 12), hours=rng.randint(0, 8))
                pm.active_until = min(pm.active_until, back)
                self._add(Event(back, "refund", GYM, pm.key, {"purchase": first, "mode": "full"}))
                first.data["refunded"] = True
            anchor = min(pm.enrolled_at.astimezone(TZ).day, 28)
            month = 1
            while True:
                year, index = divmod(first_day.month - 1 + month, 12)
                pay_day = dt.date(first_day.year + year, index + 1, anchor)
                at = _local(pay_day, 5, rng.randint(0, 59), rng.randint(0, 59))
                if at > pm.active_until or at > self.end:
                    break
                self._purchase(pm, at, pm.store, subscription, channel="online", prefix="FP-ABO")
                month += 1
        visits_left = 10
        for day in _days(pm.enrolled_at, pm.active_until):
            chance = weekend_p if day.weekday() >= 5 else weekday_p
            if day == first_day or rng.random() >= chance:
                continue
            hour = rng.choices([7, 8, 12, 13, 17, 18, 19, 20], weights=[3, 2, 3, 2, 4, 5, 5, 3])[0]
            at = _local(day, hour, rng.randint(0, 59), rng.randint(0, 59))
            if at > pm.active_until:
                continue
            other_club = pm.plan == "premium" and rng.random() < 0.2
            store = 1 - pm.store if other_club else pm.store
            if pm.plan == "carte":
                if visits_left == 0:
                    self._purchase(pm, at - dt.timedelta(minutes=2), store, [self._line(GYM_CARD)], prefix=shop_prefix[store])
                    visits_left = 10
                visits_left -= 1
            self._add(Event(at, "visit", GYM, pm.key, {"store": store, "prefix": "FP-VIS"}))
            if rng.random() < (0.2 if pm.profile == "fidele" else 0.1):
                items = rng.choices(GYM_SHOP, weights=[item[4] for item in GYM_SHOP], k=rng.choice([1, 1, 2]))
                lines = []
                for item in dict.fromkeys(items):
                    lines.append(self._line(item, items.count(item)))
                self._purchase(pm, at + dt.timedelta(minutes=rng.randint(60, 100)), store, lines, prefix=shop_prefix[store])

    def plan_refunds(self) -> None:
        """Refunds chosen among the planned purchases: by lines, by amount, in full."""
        rng = self.rng
        last_day = self.horizon - dt.timedelta(days=1)  # left out: its events depend on the hour
        purchases = [e for e in self.events if e.kind == "purchase" and e.at < last_day]
        already = {id(e.data["purchase"]) for e in self.events if e.kind == "refund"}
        for org in (GYM, CAFE):
            mine = [e for e in purchases if e.org == org and id(e) not in already]
            shop = [e for e in mine if e.data["channel"] == "offline"]
            subscriptions = [e for e in mine if e.data["channel"] == "online"]
            count = max(3, len(mine) // 150)
            for _ in range(count):
                mode = rng.choices(["lines", "amount", "full"], weights=[5, 3, 2])[0]
                pool = shop if mode != "amount" or org == CAFE or not subscriptions else subscriptions
                if mode == "lines":
                    pool = [e for e in pool if len(e.data["lines"]) >= 2 or e.data["lines"][0]["quantity"] >= 2] or pool
                if not pool:
                    continue
                purchase = rng.choice(pool)
                if id(purchase) in already:
                    continue
                already.add(id(purchase))
                lines, total = purchase.data["lines"], _total(purchase.data["lines"])
                if mode == "lines":
                    position = rng.randrange(len(lines)) + 1
                    delay = dt.timedelta(minutes=rng.randint(5, 40)) if org == CAFE else dt.timedelta(days=rng.randint(1, 10))
                    data = {"mode": "lines", "lines": [(position, 1)], "note": "Article rendu" if org == GYM else "Produit non servi"}
                elif mode == "amount":
                    amount = min(total - 1, rng.choice([100, 150, 200, 500, 1000]) if org == GYM else rng.choice([50, 100, 150]))
                    if amount <= 0:
                        continue
                    delay = dt.timedelta(days=rng.randint(1, 12))
                    data = {"mode": "amount", "amount_minor": amount}
                else:
                    delay = dt.timedelta(hours=rng.randint(1, 48))
                    data = {"mode": "full"}
                data["purchase"] = purchase
                if self._add(Event(purchase.at + delay, "refund", org, purchase.member, data)):
                    purchase.data["refunded"] = True  # no voucher on it: the refund works on its planned lines

    def plan_transfers_and_adjustments(self) -> None:
        rng = self.rng
        cafe = [pm for pm in self.members if pm.org == CAFE]
        givers = [pm for pm in cafe if pm.profile in ("fidele", "regulier")] or cafe
        for _ in range(max(4, len(cafe) // 25)):
            sender = rng.choice(givers)
            # Often to someone of the same family name (a partner, a child), else to a friend.
            family = [pm for pm in cafe if pm is not sender and pm.identity["last_name"] == sender.identity["last_name"]]
            recipient = rng.choice(family or [pm for pm in cafe if pm is not sender])
            low = max(sender.enrolled_at, recipient.enrolled_at) + dt.timedelta(days=20)
            high = min(sender.active_until, recipient.active_until, self.horizon - dt.timedelta(days=1))
            if low >= high:
                continue
            at = low + (high - low) * rng.random()
            self._add(Event(at, "transfer", CAFE, sender.key, {"recipient": recipient.key, "amount": rng.choice([10, 15, 20, 30, 50])}))
        for org in (GYM, CAFE):
            mine = [pm for pm in self.members if pm.org == org]
            positive, negative = ADJUSTMENT_NOTES[org]
            for _ in range(max(3, len(mine) // 40)):
                pm = rng.choice(mine)
                until = min(pm.active_until, self.horizon - dt.timedelta(days=1))
                at = pm.enrolled_at + (until - pm.enrolled_at) * rng.uniform(0.2, 1.0)
                at = _local(at.astimezone(TZ).date(), rng.randint(9, 17), rng.randint(0, 59))
                if at <= pm.enrolled_at:
                    continue
                if rng.random() < 0.8:
                    delta = rng.choice([5, 10, 15, 20]) if org == CAFE else rng.choice([20, 50, 100])
                    note = rng.choice(positive)
                else:
                    delta = -rng.choice([3, 5, 8]) if org == CAFE else -rng.choice([29, 44])
                    note = rng.choice(negative)
                self._add(Event(at, "adjust", org, pm.key, {"delta": delta, "note": note}))

    def plan_jobs(self) -> None:
        """The nightly job (release, expiry) at 03:00 every day of the period."""
        for day in _days(self.start, self.end):
            self._add(Event(_local(day, 3, 0), "jobs"))

    def plan(self) -> list[Event]:
        self.plan_members()
        for pm in self.members:
            # Each member has their own dice: a change near the end of the period (the hour
            # the demo runs) cannot ripple into everybody else's story.
            self.rng = random.Random(f"{self.seed}:plan:{pm.key}")
            pm.luck = random.Random(f"{self.seed}:play:{pm.key}")
            (self.plan_gym if pm.org == GYM else self.plan_cafe)(pm)
        self.rng = self.main_rng
        self.plan_refunds()
        self.plan_transfers_and_adjustments()
        self.plan_jobs()
        order = {"jobs": 0, "purchase": 1, "visit": 1, "refund": 2, "adjust": 2, "transfer": 3}
        self.events.sort(key=lambda e: (e.at, order[e.kind]))
        for event in self.events:  # numbered in time order, like a till's tickets
            if "prefix" in event.data:
                event.data["external_id"] = self._ext(event.data["prefix"])
        return self.events


def _total(lines: list[dict]) -> int:
    return sum(line["quantity"] * line["unit_price_minor"] - line["discount_minor"] for line in lines)


def _line(item: tuple, quantity: int = 1, discount: int = 0) -> dict:
    sku, name, category, price = item[:4]
    return {"sku": sku, "name": name, "category": category, "unit_price_minor": price, "quantity": quantity, "discount_minor": discount}


def _product(sku: str) -> tuple:
    for items in CAFE_MENU.values():
        for item in items:
            if item[0] == sku:
                return item
    return next(item for item in GYM_SHOP if item[0] == sku)


def _discount(lines: list[dict], value: int) -> list[dict]:
    """Spread a voucher's `value` over the lines, the largest first (the ticket shows it)."""
    for line in sorted(lines, key=lambda line: -(line["quantity"] * line["unit_price_minor"] - line["discount_minor"])):
        take = min(value, line["quantity"] * line["unit_price_minor"] - line["discount_minor"])
        line["discount_minor"] += take
        value -= take
        if not value:
            break
    return lines


@dataclass(eq=False)  # hashed by identity
class CatalogEntry:
    spec: RewardSpec
    reward: object  # the Reward
    stock: int | None  # what is left, as the demo sees it
    codes: int | None  # partner codes left


# --- moving the clock ----------------------------------------------------------------------


class SimulatedClock:
    def __init__(self) -> None:
        self.moment: dt.datetime | None = None
        self.works = False

    def now(self) -> dt.datetime:
        if self.moment is not None:
            return self.moment
        from django.utils import timezone

        return timezone.now()


@contextmanager
def simulated_clock() -> Iterator[SimulatedClock]:
    """Move fidelo.core.clock.now() (which every service asks) to `clock.moment`."""
    from fidelo.core.clock import clock_source

    sim = SimulatedClock()
    with clock_source(sim.now):
        sim.works = True
        yield sim


# --- playing the plan ----------------------------------------------------------------------


@dataclass
class OrgResult:
    slug: str
    name: str
    stores: list[str]
    login: str
    api_key: str
    counts: dict[str, int] = field(default_factory=dict)
    money: dict[str, int] = field(default_factory=dict)  # cents: wallet credit issued and spent
    charity: list[dict] = field(default_factory=list)  # rewards.selectors.charity_totals()


@dataclass
class DemoReport:
    organizations: list[OrgResult]
    seconds: float
    clock_moved: bool
    skipped: Counter = field(default_factory=Counter)


class Player:
    def __init__(self, planner: Planner, reporter: Reporter, seed: int):
        self.planner = planner
        self.reporter = reporter
        self.orgs: dict[str, Organization] = {}
        self.programs: dict = {}
        self.stores: dict[str, list] = {}
        self.owners: dict = {}
        self.tills: dict = {}
        self.estimate: Counter = Counter()
        self.skipped: Counter = Counter()
        self.results: list[OrgResult] = []
        self.catalog: dict[str, list[CatalogEntry]] = {}
        self.by_reward: dict[int, CatalogEntry] = {}
        self.campaigns: dict[str, tuple] = {}  # per merchant: (campaign, the entry it offers)
        self.by_member: dict[int, PlannedMember] = {}
        self.enrolled: dict[str, list] = {}  # members enrolled so far, per merchant (the referrers)

    # merchants

    def create_merchants(self) -> None:
        from fidelo.core.actors import CLI, Actor
        from fidelo.tenancy.models import Program
        from fidelo.tenancy.services import api_key_create, organization_create, program_update, staff_add, store_create

        logins = {login["slug"]: login for login in DEMO_LOGINS}
        for spec in MERCHANTS:
            org = organization_create(name=spec.name, slug=spec.slug, timezone=TZ_NAME, currency="EUR", locale="fr", **spec.program)
            program_update(organization=org, actor=CLI, name=spec.program_name)
            stores = [store_create(organization=org, code=code, name=name, city=city) for code, name, city in spec.stores]
            login = logins[spec.slug]
            membership = staff_add(
                organization=org, email=login["email"], password=login["password"], role="owner",
                first_name=spec.owner[0], last_name=spec.owner[1],
            )
            owner = Actor(kind="staff", id=membership.user_id, label=f"{spec.owner[0]} {spec.owner[1]} ({spec.owner[2]})")
            issued = api_key_create(organization=org, name="Démo : caisses et site", actor=owner)
            self.orgs[spec.slug] = org
            self.programs[spec.slug] = Program.objects.select_related("organization").get(organization=org)
            self.stores[spec.slug] = stores
            self.owners[spec.slug] = owner
            self.tills[spec.slug] = Actor(kind="api_key", id=issued.api_key.id, label="caisse")
            self.results.append(OrgResult(spec.slug, spec.name, [s.name for s in stores], login["email"], issued.token))
            self.reporter.advance(1)

    # the rewards catalog

    def create_catalogs(self) -> None:
        from fidelo.rewards.services import reward_add_codes, reward_create

        planner = self.planner
        for spec in MERCHANTS:
            entries = []
            stores = {store.code: store for store in self.stores[spec.slug]}
            codes_rng = random.Random(f"{planner.seed}:codes:{spec.slug}")
            for item in spec.catalog:
                fields = dict(item.fields)
                stock = None
                if item.stock_share is not None:
                    stock = fields["stock"] = max(3, round(planner.members_per_org * item.stock_share))
                if item.valid_days is not None:
                    fields["valid_from"] = planner.start + dt.timedelta(days=item.valid_days[0])
                    fields["valid_until"] = planner.horizon + dt.timedelta(days=item.valid_days[1])
                reward = reward_create(
                    organization=self.orgs[spec.slug], program=self.programs[spec.slug], actor=self.owners[spec.slug],
                    stores=[stores[code] for code in item.store_codes], kind=item.kind, title_fr=item.title_fr, title_en=item.title_en,
                    description_fr=item.description_fr, description_en=item.description_en, cost_points=item.cost, **fields,
                )
                codes = None
                if item.kind == "partner_code":
                    count = max(5, round(planner.members_per_org * item.codes_share))
                    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
                    pool = {f"{item.code_prefix}-{''.join(codes_rng.choices(alphabet, k=8))}" for _ in range(count)}
                    codes = reward_add_codes(reward=reward, codes=sorted(pool), actor=self.owners[spec.slug])
                entry = CatalogEntry(item, reward, stock, codes)
                entries.append(entry)
                self.by_reward[reward.pk] = entry
            self.catalog[spec.slug] = entries
            self._create_campaign(spec, entries[0])

    def _create_campaign(self, spec, entry: CatalogEntry) -> None:
        """'Offres du moment': the cheapest reward at a fifth off for the last six weeks (and after)."""
        from fidelo.rewards.campaigns import campaign_create, campaign_offer_set

        planner = self.planner
        campaign = campaign_create(
            organization=self.orgs[spec.slug], actor=self.owners[spec.slug], code="offres-du-moment", name_fr="Offres du moment",
            name_en="Current offers", description_fr=f"{entry.spec.title_fr} à prix réduit en points.",
            description_en=f"{entry.spec.title_en or entry.spec.title_fr} for fewer points.",
            starts_at=planner.horizon - dt.timedelta(days=42), ends_at=planner.horizon + dt.timedelta(days=30),
        )
        campaign_offer_set(campaign=campaign, reward=entry.reward, actor=self.owners[spec.slug], cost_points=max(1, entry.spec.cost * 4 // 5))
        self.campaigns[spec.slug] = (campaign, entry)

    def _campaign_for(self, pm: PlannedMember, entry: CatalogEntry, at: dt.datetime):
        """The demo's campaign when it offers `entry` at `at`, else None."""
        found = self.campaigns.get(pm.org)
        if found is None or found[1] is not entry:
            return None
        campaign = found[0]
        return campaign if campaign.starts_at <= at < campaign.ends_at else None

    def _available(self, entry: CatalogEntry, pm: PlannedMember, at: dt.datetime) -> bool:
        reward, spec = entry.reward, entry.spec
        if spec.audience == "subscribers" and pm.plan in ("", "carte"):
            return False
        if (reward.valid_from and at < reward.valid_from) or (reward.valid_until and at >= reward.valid_until):
            return False
        if entry.stock == 0 or entry.codes == 0:
            return False
        return reward.limit_per_member is None or pm.taken[spec.key] < reward.limit_per_member

    def _weight(self, entry: CatalogEntry, pm: PlannedMember) -> float:
        # Popular rewards more often; the less loyal save for the cheaper ones.
        cheapest = self.catalog[pm.org][0].spec.cost
        weight = entry.spec.weight
        return weight if pm.profile in ("fidele", "regulier") else weight * cheapest / entry.spec.cost

    def _browse(self, pm: PlannedMember, at: dt.datetime, k: int, *, include: CatalogEntry | None = None) -> None:
        """The member looks at the catalog (app, website, the till's screen): offers seen."""
        from fidelo.rewards.services import offer_seen

        offers = [entry for entry in self.catalog[pm.org] if self._available(entry, pm, at)]
        if not offers:
            return
        seen = pm.luck.choices(offers, weights=[self._weight(entry, pm) for entry in offers], k=k) if k else []
        if include is not None and include.spec.key not in pm.seen:
            seen.append(include)  # what one asks for, one has seen
        for entry in dict.fromkeys(seen):
            campaign = self._campaign_for(pm, entry, at)
            if campaign is not None:  # seen among the current offers
                from fidelo.rewards.campaigns import campaign_offer_seen

                campaign_offer_seen(campaign=campaign, reward=entry.reward, member=pm.member, at=at)
            else:
                offer_seen(reward=entry.reward, member=pm.member, at=at)
            pm.seen.add(entry.spec.key)

    # members

    # what the merchants set up besides the catalog: tiers, earning rules, stamp card, badges, referrals

    def create_loyalty(self) -> None:
        from fidelo.awards.catalog import rule_catalog
        from fidelo.engagement.services import achievement_create, stamp_card_create
        from fidelo.referrals.services import referral_settings_update
        from fidelo.rules.services import rule_create
        from fidelo.tiers.services import tier_level_create, tier_settings_update

        for spec in MERCHANTS:
            org, owner = self.orgs[spec.slug], self.owners[spec.slug]
            tier_settings_update(organization=org, actor=owner, metric="points", window="calendar_year", grace_days=30)
            tier_level_create(organization=org, actor=owner, code="argent", name_fr="Argent", name_en="Silver", rank=1, threshold=250,
                              multiplier_percent=110, perks_fr="10 % de points en plus", perks_en="10% more points")
            tier_level_create(organization=org, actor=owner, code="or", name_fr="Or", name_en="Gold", rank=2, threshold=700,
                              multiplier_percent=125, perks_fr="25 % de points en plus, offres réservées", perks_en="25% more points, exclusive offers")
            referral_settings_update(organization=org, actor=owner, enabled=True, referrer_points=50, referee_points=20,
                                     min_purchase_minor=1000, completion_days=60)
            achievement_create(organization=org, actor=owner, code="habitue", name_fr="Habitué", name_en="Regular", icon="⭐",
                               description_fr="Dix passages", description_en="Ten visits")
            achievement_create(organization=org, actor=owner, code="ambassadeur", name_fr="Ambassadeur", name_en="Ambassador", icon="🤝",
                               description_fr="Un premier parrainage réussi", description_en="A first successful referral")
            rules = [
                {"name": "Premier parrainage", "event": "referral_completed", "effects": [{"type": "achievement", "badge": "ambassadeur"}]},
            ]
            if spec.slug == CAFE:
                free_coffee = next(entry.reward for entry in self.catalog[CAFE] if entry.spec.kind == "free_product")
                stamp_card_create(organization=org, actor=owner, code="cafe", name_fr="Carte café", name_en="Coffee card", stamps_required=10,
                                  reward=free_coffee)
                rules += [
                    {"name": "Double points le week-end", "event": "purchase", "conditions": [{"field": "weekday", "op": "in", "value": [6, 7]}],
                     "effects": [{"type": "multiplier", "percent": 200, "on": "basket"}], "limits": {"per_member_per_day": 30}},
                    {"name": "Un tampon par boisson chaude", "event": "purchase",
                     "conditions": [{"field": "line.category", "op": "eq", "value": "boissons chaudes"}],
                     "effects": [{"type": "stamps", "card": "cafe", "count": 1, "per": "quantity"}]},
                    {"name": "Dixième passage", "event": "purchase", "conditions": [{"field": "event_count", "op": "eq", "value": 10}],
                     "effects": [{"type": "achievement", "badge": "habitue"}, {"type": "fixed_points", "points": 20}]},
                ]
            else:
                rules += [
                    {"name": "Troisième séance de la semaine", "event": "visit",
                     "conditions": [{"field": "event_count", "op": "eq", "value": 3, "within_days": 7}],
                     "effects": [{"type": "fixed_points", "points": 10}]},
                    {"name": "Lève-tôt", "event": "visit", "conditions": [{"field": "time", "op": "between", "value": ["06:00", "09:00"]}],
                     "effects": [{"type": "fixed_points", "points": 2}], "limits": {"per_member_per_day": 2}},
                    {"name": "Dixième séance", "event": "visit", "conditions": [{"field": "event_count", "op": "eq", "value": 10}],
                     "effects": [{"type": "achievement", "badge": "habitue"}]},
                ]
            catalog = rule_catalog(self.programs[spec.slug])
            for definition in rules:
                rule_create(organization=org, definition=definition, catalog=catalog, actor=owner)

    def enroll_members(self) -> None:
        from fidelo.members.services import member_enroll
        from fidelo.rewards.services import auto_redemption_set, offer_seen

        opted_in = set()
        dice = random.Random(f"{self.planner.seed}:auto-redemption")
        for org in (GYM, CAFE):
            keen = [pm.key for pm in self.planner.members if pm.org == org and pm.profile in ("fidele", "regulier")]
            opted_in.update(dice.sample(keen, min(len(keen), max(1, round(OPT_IN_SHARE * self.planner.members_per_org)))))
        for pm in self.planner.members:
            identity = dict(pm.identity)
            consents = identity.pop("consents")
            store = self.stores[pm.org][pm.store]
            channel = "web" if pm.org == GYM and pm.plan != "carte" and pm.luck.random() < 0.6 else "pos"
            pm.member = member_enroll(
                organization=self.orgs[pm.org], actor=self.owners[pm.org] if channel == "pos" else self.tills[pm.org],
                store=store, channel=channel, consents=consents, enrolled_at=pm.enrolled_at, **identity,
            )
            self.by_member[pm.member.pk] = pm
            self._maybe_referred(pm)
            pm.target = self._pick_target(pm, pm.enrolled_at)
            if pm.luck.random() < BROWSE_ON_ENROLMENT:
                self._browse(pm, pm.enrolled_at + dt.timedelta(minutes=5), pm.luck.randint(2, 6))
            if pm.key in opted_in:
                # Opted in from the app: the cheapest reward, issued as soon as the balance allows.
                choice = self.catalog[pm.org][0].reward
                offer_seen(reward=choice, member=pm.member, at=pm.enrolled_at + dt.timedelta(minutes=6))
                pm.seen.add(self.catalog[pm.org][0].spec.key)
                auto_redemption_set(member=pm.member, reward=choice)
                pm.auto = True
            self.reporter.advance(1)

    def _maybe_referred(self, pm: PlannedMember) -> None:
        """Some members join with the code of a member who joined before them."""
        from fidelo.core.errors import DomainError
        from fidelo.referrals.services import referral_code_for, referral_enroll

        earlier = self.enrolled.setdefault(pm.org, [])
        if earlier and pm.luck.random() < REFERRED_SHARE:
            referrer = pm.luck.choice(earlier[-200:])
            try:
                referral_enroll(referee=pm.member, code=referral_code_for(member=referrer), at=pm.enrolled_at)
            except DomainError:
                pass  # the same household (a shared phone): refused, as it would be at the till
        earlier.append(pm.member)

    def _pick_target(self, pm: PlannedMember, at: dt.datetime) -> int:
        catalog = self.catalog[pm.org]
        choices = [i for i, entry in enumerate(catalog) if self._available(entry, pm, at)] or [0]
        return pm.luck.choices(choices, weights=[self._weight(catalog[i], pm) for i in choices])[0]

    # events

    def play(self, events: list[Event], clock: SimulatedClock) -> None:
        from fidelo.ledger.jobs import expire_due, release_due
        from fidelo.rewards.services import vouchers_expire_due

        handlers = {
            "purchase": self._purchase, "refund": self._refund, "visit": self._visit,
            "transfer": self._transfer, "adjust": self._adjust,
        }
        done = 0
        for event in events:
            clock.moment = event.at
            if event.kind == "jobs":
                # The nightly jobs, as the worker runs them.
                release_due(at=event.at)
                expire_due(at=event.at)
                vouchers_expire_due(at=event.at)
                self._auto_redeem_due(event.at)
            else:
                handlers[event.kind](event, self.planner.members[event.member] if event.member >= 0 else None)
            done += 1
            if done == 200:
                self.reporter.advance(done)
                done = 0
        self.reporter.advance(done)
        clock.moment = None

    def _auto_redeem_due(self, at: dt.datetime) -> None:
        """Opted-in members whose released points now pay for their reward (rewards.jobs)."""
        from fidelo.rewards.jobs import auto_redeem_due
        from fidelo.rewards.models import Voucher

        if auto_redeem_due(at=at):
            for voucher in Voucher.objects.filter(channel="auto", issued_at=at).select_related("reward").order_by("pk"):
                pm = self.by_member[voucher.member_id]
                voucher.member = pm.member
                self._issued(pm, self.by_reward[voucher.reward_id], voucher, at)

    def _balance(self, pm: PlannedMember) -> int:
        from fidelo.ledger.models import Account, AccountKind

        balance = (
            Account.objects.filter(member_id=pm.member.pk, kind=AccountKind.AVAILABLE, unit="PTS").values_list("balance", flat=True).first()
        ) or 0
        self.estimate[pm.key] = balance
        return balance

    def _purchase(self, event: Event, pm: PlannedMember) -> None:
        from fidelo.events.services import purchase_plan_with_rules, referral_completed_record
        from fidelo.purchases.services import LineInput, purchase_apply
        from fidelo.rewards.services import wallet_spend

        data = event.data
        store = self.stores[pm.org][data["store"]]
        lines = data["lines"]
        if pm.pending:
            lines = self._settle(
                pm, event.at, store, lines=lines, external_id=data["external_id"], online=data["channel"] == "online",
                use=not data.get("refunded"),
            )
        inputs = [LineInput(**line) for line in lines]
        total = sum(line.amount_minor for line in inputs)
        plan = purchase_plan_with_rules(
            program=self.programs[pm.org], member=pm.member, store=store,
            external_id=data["external_id"], occurred_at=event.at, total_minor=total,
            currency="EUR", channel=data["channel"], lines=inputs, actor=self.tills[pm.org],
        )
        result = purchase_apply(plan)
        if result.referral is not None:
            referral_completed_record(program=self.programs[pm.org], referral=result.referral)
        data["record"] = result.purchase
        if not result.pending:
            self.estimate[pm.key] += result.purchase.points_earned + result.bonus_points
        if pm.wallet and data["channel"] == "offline" and total and lines[0]["category"] != "cartes":
            # The shop credit pays (part of) the basket at the club's till.
            spent = wallet_spend(program=self.programs[pm.org], member=pm.member, basket_minor=total, store=store, at=event.at)
            pm.wallet -= spent.applied_minor
        if data["channel"] == "offline":
            if pm.luck.random() < BROWSE_ON_VISIT:
                self._browse(pm, event.at + dt.timedelta(seconds=20), pm.luck.randint(1, 3))
            self._maybe_redeem(pm, event.at + dt.timedelta(seconds=30))

    def _visit(self, event: Event, pm: PlannedMember) -> None:
        from fidelo.events.services import event_record

        store = self.stores[GYM][event.data["store"]]
        event_record(program=self.programs[GYM], member=pm.member, type="visit", store=store, external_id=event.data["external_id"],
                     occurred_at=event.at)
        if pm.pending:
            self._settle(pm, event.at + dt.timedelta(minutes=2), store)
        if pm.luck.random() < BROWSE_ON_VISIT:
            self._browse(pm, event.at + dt.timedelta(seconds=20), pm.luck.randint(1, 3))
        # Gym points pend 14 days: the estimate does not see releases, so look now and then.
        if pm.luck.random() < 0.15:
            self._maybe_redeem(pm, event.at + dt.timedelta(minutes=1), look=True)

    def _maybe_redeem(self, pm: PlannedMember, at: dt.datetime, *, look: bool = False) -> None:
        from fidelo.core.errors import DomainError
        from fidelo.rewards.services import auto_redeem, reward_redeem

        catalog = self.catalog[pm.org]
        if pm.auto:
            # What the worker does within a minute of the credit (rewards.tasks.auto_redeem_member).
            if (look or self.estimate[pm.key] >= catalog[0].spec.cost) and self._balance(pm) >= catalog[0].spec.cost:
                for voucher in auto_redeem(program=self.programs[pm.org], member=pm.member, at=at):
                    self._issued(pm, catalog[0], voucher, at)
            return
        entry = catalog[pm.target]
        if not self._available(entry, pm, at):
            pm.target = self._pick_target(pm, at)
            return
        cost = entry.spec.cost
        if not look and self.estimate[pm.key] < cost:
            return
        if pm.luck.random() >= REDEEM_EAGERNESS[pm.profile] or self._balance(pm) < cost:
            return
        # The member looks through the catalog first (the till's screen or the app).
        self._browse(pm, at - dt.timedelta(seconds=20), pm.luck.choice((0, 0, 1, 2)), include=entry)
        try:
            redemption = reward_redeem(
                program=self.programs[pm.org], member=pm.member, reward=entry.reward, channel="portal" if look else "pos", at=at,
                campaign=self._campaign_for(pm, entry, at),
            )
        except DomainError as error:  # out of stock, limit reached: another time, another reward
            self.skipped[f"redemption refused ({error.code})"] += 1
        else:
            self._issued(pm, entry, redemption.voucher, at)
        pm.target = self._pick_target(pm, at)

    # vouchers

    def _issued(self, pm: PlannedMember, entry: CatalogEntry, voucher, at: dt.datetime) -> None:
        """Book a new voucher and decide its fate: used at the till some days later, cancelled, or forgotten."""
        spec = entry.spec
        self.estimate[pm.key] -= voucher.points
        pm.taken[spec.key] += 1
        if entry.stock is not None:
            entry.stock -= 1
        if entry.codes is not None:
            entry.codes -= 1
        if spec.kind == "wallet_credit":
            pm.wallet += entry.reward.amount_minor
        if spec.kind not in ("free_product", "voucher_amount", "voucher_percent", "experience"):
            return  # donations and wallet credit are done at once; a partner code is used on the partner's site
        luck = pm.luck.random()
        if luck < CANCEL_SHARE:
            pm.pending.append((at + dt.timedelta(days=pm.luck.uniform(0.2, 5)), voucher, entry, "cancel"))
        elif luck >= CANCEL_SHARE + spec.forget:
            pm.pending.append((at + dt.timedelta(days=pm.luck.uniform(*spec.use_after)), voucher, entry, "use"))
        # else: forgotten, the nightly job expires it

    def _settle(self, pm: PlannedMember, at: dt.datetime, store, *, lines: list[dict] | None = None, external_id: str = "",
                online: bool = False, use: bool = True) -> list[dict] | None:
        """At the till or the front desk: the cancellations asked for, and at most one voucher used.

        Returns the purchase lines, with the voucher's discount when it is used on this purchase.
        """
        from fidelo.rewards.services import voucher_cancel

        keep = []
        used = False
        for item in pm.pending:
            due, voucher, entry, fate = item
            if due > at:
                keep.append(item)
            elif at >= voucher.expires_at:
                continue  # too late: the nightly job expires it
            elif fate == "cancel":
                voucher_cancel(voucher=voucher, program=self.programs[pm.org], actor=self.owners[pm.org], at=at)
                self.estimate[pm.key] += voucher.points
                pm.taken[entry.spec.key] -= 1
                if entry.stock is not None:
                    entry.stock += 1
            elif used or not use:
                keep.append(item)
            else:
                done, lines = self._use(pm, voucher, entry, at, store, lines, external_id, online)
                used = used or done
                if not done:
                    keep.append(item)
        pm.pending = keep
        return lines

    def _use(self, pm: PlannedMember, voucher, entry: CatalogEntry, at: dt.datetime, store, lines: list[dict] | None,
             external_id: str, online: bool) -> tuple[bool, list[dict] | None]:
        """Use `voucher` at this moment if it fits (store, basket): (used, the purchase lines with its discount)."""
        from fidelo.rewards.services import voucher_use

        spec, reward = entry.spec, entry.reward
        if spec.store_codes and store.code not in spec.store_codes:
            return False, lines
        if spec.kind == "experience":
            if lines is not None:
                return False, lines
            voucher_use(voucher=voucher, store=store, basket_minor=0, at=at)  # the session is booked at the front desk
            return True, lines
        if spec.kind == "free_product" and lines is None:
            # Handed over at the front desk during a visit, without a purchase.
            product = GYM_GOURDE if reward.product_sku == GYM_GOURDE[0] else _product(reward.product_sku)
            voucher_use(voucher=voucher, store=store, basket_minor=product[3], lines=[(product[0], 1, product[3])], at=at)
            return True, lines
        if lines is None or online != (spec.audience == "subscribers") or reward.product_sku == GYM_GOURDE[0]:
            return False, lines
        lines = [dict(line) for line in lines]
        if spec.kind == "free_product":
            if not any(line["sku"] == reward.product_sku for line in lines):
                lines.append(_line(_product(reward.product_sku)))
        elif _total(lines) < reward.min_basket_minor:
            if pm.org != CAFE or pm.luck.random() < 0.5:
                return False, lines
            # The member makes up the minimum with coffee beans to take home.
            beans = CAFE_MENU["epicerie"][0]
            lines.append(_line(beans, -(-(reward.min_basket_minor - _total(lines)) // beans[3])))
        valuation = voucher_use(
            voucher=voucher, store=store, basket_minor=_total(lines), at=at, purchase_external_id=external_id,
            lines=[(line["sku"], line["quantity"], line["unit_price_minor"]) for line in lines],
        )
        if spec.kind == "free_product":
            line = next(line for line in lines if line["sku"] == reward.product_sku)
            line["discount_minor"] += min(valuation.value_minor, line["quantity"] * line["unit_price_minor"] - line["discount_minor"])
            return True, lines
        return True, _discount(lines, valuation.value_minor)

    def _refund(self, event: Event, pm: PlannedMember) -> None:
        from fidelo.purchases.services import RefundLineInput, purchase_refund

        data = event.data
        purchase = data["purchase"].data.get("record")
        if purchase is None:
            self.skipped["refund"] += 1
            return
        kwargs: dict = {}
        if data["mode"] == "lines":
            kwargs["lines"] = [RefundLineInput(quantity=quantity, position=position) for position, quantity in data["lines"]]
        elif data["mode"] == "amount":
            kwargs["amount_minor"] = data["amount_minor"]
        purchase_refund(
            program=self.programs[pm.org], purchase=purchase, external_id=f"{data['purchase'].data['external_id']}-R1", currency="EUR",
            occurred_at=event.at, actor=self.owners[pm.org], **kwargs,
        )
        self.estimate[pm.key] = 0  # unknown until the next look

    def _transfer(self, event: Event, pm: PlannedMember) -> None:
        from fidelo.core.actors import Actor
        from fidelo.ledger.services import points_transfer

        program = self.programs[CAFE]
        recipient = self.planner.members[event.data["recipient"]]
        amount = min(event.data["amount"], self._balance(pm), program.transfer_max_per_day)
        if amount < program.transfer_min:
            self.skipped["transfer"] += 1
            return
        points_transfer(
            program=program, sender=pm.member, recipient=recipient.member, amount=amount,
            actor=Actor(kind="member", id=pm.member.pk, label=pm.member.full_name), occurred_at=event.at,
        )
        self.estimate[pm.key] -= amount
        self.estimate[recipient.key] += amount

    def _adjust(self, event: Event, pm: PlannedMember) -> None:
        from fidelo.ledger.services import points_adjust

        delta = event.data["delta"]
        if delta < 0:
            delta = -min(-delta, self._balance(pm))
            if delta == 0:
                self.skipped["adjustment"] += 1
                return
        points_adjust(
            program=self.programs[pm.org], member=pm.member, delta=delta, note=event.data["note"], actor=self.owners[pm.org],
            occurred_at=event.at,
        )
        self.estimate[pm.key] += delta

    # summary

    def count(self) -> None:
        from django.db.models import Count, Sum

        from fidelo.ledger.models import Account, AccountKind, Transfer, TransferKind
        from fidelo.members.models import Member
        from fidelo.purchases.models import Purchase, PurchaseLine, Refund, Visit
        from fidelo.rewards.models import VOUCHER_KINDS, OfferEvent, Reward, Voucher
        from fidelo.rewards.selectors import charity_totals

        for result in self.results:
            org = self.orgs[result.slug]
            kinds = Counter({
                row["kind"]: row["n"] for row in Transfer.objects.filter(organization=org, unit="PTS").values("kind").annotate(n=Count("id"))
            })
            vouchers = Voucher.objects.filter(organization=org, reward__kind__in=VOUCHER_KINDS)
            states = Counter(dict(vouchers.values_list("status").annotate(n=Count("id"))))
            offers = Counter(dict(OfferEvent.objects.filter(organization=org).values_list("kind").annotate(n=Count("id"))))
            wallet = Transfer.objects.filter(organization=org, unit="EUR")
            member_accounts = Account.objects.filter(organization=org, member__isnull=False)
            result.counts = {
                "members": Member.objects.filter(organization=org).count(),
                "purchases": Purchase.objects.filter(organization=org).count(),
                "purchase lines": PurchaseLine.objects.filter(purchase__organization=org).count(),
                "refunds": Refund.objects.filter(organization=org).count(),
                "visits": Visit.objects.filter(organization=org).count(),
                "redemptions": kinds.get("redeem", 0),
                "member transfers": kinds.get("transfer", 0),
                "adjustments": kinds.get("adjust", 0),
                "releases": kinds.get("release", 0),
                "expiries": kinds.get("expire", 0),
                "reversals": kinds.get("reverse", 0),
                "points available": member_accounts.filter(kind=AccountKind.AVAILABLE).aggregate(s=Sum("balance"))["s"] or 0,
                "points pending": member_accounts.filter(kind=AccountKind.PENDING).aggregate(s=Sum("balance"))["s"] or 0,
                "rewards in the catalog": Reward.objects.filter(organization=org).count(),
                "vouchers issued": sum(states.values()),
                "vouchers used": states.get("used", 0),
                "vouchers cancelled": states.get("cancelled", 0),
                "vouchers expired": states.get("expired", 0),
                "vouchers open": states.get("issued", 0),
                "donations": Voucher.objects.filter(organization=org, reward__kind="donation").count(),
                "wallet credits": Voucher.objects.filter(organization=org, reward__kind="wallet_credit").count(),
                "offers seen": offers.get("seen", 0),
                "auto-redemption opt-ins": sum(1 for pm in self.planner.members if pm.org == result.slug and pm.auto),
            }
            result.money = {
                "wallet credit issued": wallet.filter(kind=TransferKind.CREDIT).aggregate(s=Sum("amount"))["s"] or 0,
                "wallet credit spent": wallet.filter(kind=TransferKind.REDEEM).aggregate(s=Sum("amount"))["s"] or 0,
            }
            result.charity = charity_totals(org.id)


def _warm_system_accounts(organization_ids: list[int], *, wallets: list[int] = ()) -> None:
    """Open the system accounts now and keep their ids in the ledger's process cache.

    ledger.services.system_account_id() caches an id only once its transaction commits, so
    inside the one long transaction of the demo every earn would look its account up again
    (a fifth of the run time). The ids are put in the cache here; seed_demo() clears the
    cache if the transaction rolls back. If the cache changes shape, this does nothing.
    """
    from fidelo.ledger import services as ledger_services
    from fidelo.ledger.models import AccountKind

    cache = getattr(ledger_services, "_system_accounts", None)
    for organization_id in organization_ids:
        for kind in (AccountKind.ISSUED, AccountKind.REDEEMED, AccountKind.EXPIRED, AccountKind.ADJUSTMENTS):
            account_id = ledger_services.system_account_id(organization_id, kind, "PTS")
            if isinstance(cache, dict):
                cache[(organization_id, kind, "PTS")] = account_id
    for organization_id in wallets:  # the shop credit, in euros
        for kind in (AccountKind.WALLET_ISSUED, AccountKind.WALLET_SPENT):
            account_id = ledger_services.system_account_id(organization_id, kind, "EUR")
            if isinstance(cache, dict):
                cache[(organization_id, kind, "EUR")] = account_id


def seed_demo(
    *,
    members_per_org: int = DEFAULT_MEMBERS,
    months: int = DEFAULT_MONTHS,
    seed: int = DEFAULT_SEED,
    end: dt.datetime | None = None,
    reporter: Reporter | None = None,
) -> DemoReport:
    """Create the two demo merchants and play `months` of activity ending at `end` (now)."""
    from fidelo.analytics.services import rollups_refresh
    from fidelo.core.clock import now
    from fidelo.core.db import write_transaction
    from fidelo.ledger import services as ledger_services
    from fidelo.ledger.jobs import expire_due, release_due
    from fidelo.ledger.selectors import due_expired_lots, due_pending_lots
    from fidelo.rewards.services import vouchers_expire_due

    if members_per_org < 1 or not 1 <= months <= 36:
        raise ValueError("members per organization must be at least 1, months between 1 and 36")
    started = time.monotonic()
    reporter = reporter or SilentReporter()
    end = end or now()
    reporter.phase("Préparation du scénario", None)
    planner = Planner(members_per_org=members_per_org, months=months, seed=seed, end=end)
    events = planner.plan()
    player = Player(planner, reporter, seed)
    try:
        with write_transaction():
            if demo_is_seeded():
                raise DemoAlreadySeeded("The demo merchants already exist")
            reporter.phase("Marchands, boutiques, gérants, clés d'API, catalogues", len(MERCHANTS))
            player.create_merchants()
            player.create_catalogs()
            player.create_loyalty()
            _warm_system_accounts([org.id for org in player.orgs.values()], wallets=[player.orgs[GYM].id])
            reporter.phase("Inscription des membres", len(planner.members))
            player.enroll_members()
            reporter.phase(f"{months} mois d'activité", len(events))
            with simulated_clock() as clock:
                player.play(events, clock)
            at = now()
            reporter.phase("Libération et expiration des points", len(due_pending_lots(at, 10**9)) + len(due_expired_lots(at, 10**9)))
            release_due(at=at, progress=reporter.advance)
            expire_due(at=at, progress=reporter.advance)
            vouchers_expire_due(at=at)
            player.count()
    except BaseException:
        ledger_services.clear_caches()  # the warmed ids were rolled back
        raise
    # The statistics' rollups, built now rather than by the worker's first pass while the
    # first staff member logs in (short passes, each its own write transaction).
    reporter.phase("Statistiques", None)
    rollups_refresh(until_done=True, settle_seconds=0)
    return DemoReport(organizations=player.results, seconds=time.monotonic() - started, clock_moved=clock.works, skipped=player.skipped)
