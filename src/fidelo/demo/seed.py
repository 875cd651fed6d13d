"""The demo merchants (placeholder until the full generator lands)."""

from fidelo.tenancy.models import Organization

DEMO_LOGINS = [
    {"email": "gerant@forme-plus.example", "password": "demo-fidelo-2026", "organization": "Forme+ (salle de sport)"},
    {"email": "gerant@cafe-des-arts.example", "password": "demo-fidelo-2026", "organization": "Café des Arts"},
]


def demo_is_seeded() -> bool:
    return Organization.objects.filter(slug__in=["forme-plus", "cafe-des-arts"]).exists()
