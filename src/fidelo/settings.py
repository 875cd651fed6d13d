"""Django settings: embedded defaults, overridden by FIDELO_* environment variables.

SQLite (WAL) in a data folder and Huey on SQLite by default; PostgreSQL when
FIDELO_DATABASE_URL is set, Redis for the job queue when FIDELO_REDIS_URL is set.
"""

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("FIDELO_DATA_DIR", Path.cwd() / "fidelo-data")).resolve()


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """The secret key from the environment, else one generated once and kept in the data folder."""
    key = os.environ.get("FIDELO_SECRET_KEY")
    if key:
        return key
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        import secrets

        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("FIDELO_DEBUG", False)
ALLOWED_HOSTS = os.environ.get("FIDELO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("FIDELO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",  # serves the API docs page's Swagger UI from local static files, no CDN
    "huey.contrib.djhuey",
    "fidelo.core",
    "fidelo.tenancy",
    "fidelo.members",
    "fidelo.ledger",
    "fidelo.rules",
    "fidelo.tiers",
    "fidelo.rewards",
    "fidelo.referrals",
    "fidelo.engagement",
    "fidelo.awards",
    "fidelo.purchases",
    "fidelo.events",
    "fidelo.analytics",
    "fidelo.web",
    "fidelo.demo",
    "fidelo.ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "fidelo.api.middleware.ApiProblemMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "fidelo.urls"
WSGI_APPLICATION = "fidelo.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------

DATABASE_URL = os.environ.get("FIDELO_DATABASE_URL", "")
# SQLite: the WAL is copied back into the database (a checkpoint) by fidelo.core.db once a
# process has committed this many write transactions, after it released the write lock;
# SQLite's automatic checkpoint, run by the committing writer while every other writer
# waits, only past this many pages of WAL (about 80 MB), should nothing else have done it.
SQLITE_CHECKPOINT_EVERY = 256
SQLITE_AUTOCHECKPOINT_PAGES = 20_000
# SQLite: each connection keeps its own page cache (2 MB by default). A purchase reads the
# member, the rules' usage and counts from indexes spread over the file, and writes pages
# that push them out; past a few hundred MB of data most reads then go back to the file.
# Memory-mapped reads share the operating system's cache between every connection and
# process instead of copying each page into each connection's cache.
SQLITE_CACHE_MB = int(os.environ.get("FIDELO_SQLITE_CACHE_MB", "16"))
SQLITE_MMAP_MB = int(os.environ.get("FIDELO_SQLITE_MMAP_MB", "1024"))
# PostgreSQL: the hot statements run as prepared statements (fidelo.core.db.fetchone_prepared);
# off behind a connection pooler without prepared statement support.
PG_PREPARE_STATEMENTS = env_bool("FIDELO_PG_PREPARE", True)
if DATABASE_URL:
    # Persistent connections. The health check (a SELECT 1 before each request's first
    # query) costs a round trip per request; off by default, a dead connection is dropped
    # after the request that met it fails (clients retry with the same Idempotency-Key).
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=600, conn_health_checks=env_bool("FIDELO_DB_HEALTH_CHECKS", False)
        )
    }
    if PG_PREPARE_STATEMENTS:
        # Our prepared statements (fidelo.core.db.fetchone_prepared: lookups by id, inserts) and
        # PL/pgSQL functions have one sensible plan whatever their parameters: PostgreSQL's
        # first five executions of each, each planned for its own values, only cost planning
        # time (0.3 to 0.9 ms for the purchase statement). Django's own queries are not
        # prepared: this setting does not touch them.
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["options"] = f"{options.get('options', '')} -c plan_cache_mode=force_generic_plan".strip()
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "fidelo.core.sqlite",  # Django's, its placeholder conversion kept per text (core/sqlite/base.py)
            "NAME": str(DATA_DIR / "fidelo.sqlite3"),
            # Keep connections open: closing the last connection to a WAL database makes
            # SQLite checkpoint and remove the WAL, about a millisecond per request.
            "CONN_MAX_AGE": None,
            # Writers take the write lock when their transaction begins (IMMEDIATE), so a
            # read-then-write transaction never fails half-way with "database is locked".
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                # WAL lets readers run beside the writer; synchronous=NORMAL in WAL mode is
                # durable across a process crash (what SIGKILL does), not across power loss.
                # SQLite's own checkpoint (wal_autocheckpoint) is only a backstop: fidelo.core.db
                # checkpoints after the write lock is released (see SQLITE_CHECKPOINT_EVERY).
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
                    f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}; "
                    f"PRAGMA cache_size=-{SQLITE_CACHE_MB * 1024}; PRAGMA mmap_size={SQLITE_MMAP_MB * 1024 * 1024};"
                ),
            },
            "TEST": {"NAME": os.environ.get("FIDELO_TEST_SQLITE_NAME", str(DATA_DIR / "test.sqlite3"))},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Jobs ---------------------------------------------------------------------------------

REDIS_URL = os.environ.get("FIDELO_REDIS_URL", "")
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.PriorityRedisHuey",
        "name": "fidelo",
        "url": REDIS_URL,
        "immediate": False,
        "consumer": {"workers": int(os.environ.get("FIDELO_WORKER_THREADS", "2")), "worker_type": "thread"},
    }
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "fidelo",
        "filename": str(DATA_DIR / "jobs.sqlite3"),
        "immediate": env_bool("FIDELO_JOBS_IMMEDIATE", False),
        "consumer": {"workers": int(os.environ.get("FIDELO_WORKER_THREADS", "2")), "worker_type": "thread"},
    }

# --- Auth ---------------------------------------------------------------------------------

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The back office's staff login (the member portal has its own).
LOGIN_URL = "backoffice:login"
LOGIN_REDIRECT_URL = "backoffice:home"

# --- Email ---------------------------------------------------------------------------------

# SMTP when FIDELO_EMAIL_HOST is set; else mails are printed on the console (a first run).
EMAIL_HOST = os.environ.get("FIDELO_EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get(
    "FIDELO_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = EMAIL_HOST or "localhost"
EMAIL_PORT = int(os.environ.get("FIDELO_EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("FIDELO_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("FIDELO_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("FIDELO_EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("FIDELO_EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = int(os.environ.get("FIDELO_EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("FIDELO_EMAIL_FROM", "Fidelo <noreply@localhost>")

# --- Internationalisation -----------------------------------------------------------------

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# Static files (vendored: no CDN at run time) are served by WhiteNoise from STATIC_ROOT,
# which `fidelo serve` fills with collectstatic; straight from the apps when it is empty.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- API ----------------------------------------------------------------------------------

# Largest request body accepted; a bigger one is refused with 413 before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("FIDELO_MAX_BODY_BYTES", str(1024 * 1024)))
NINJA_PAGINATION_PER_PAGE = 50

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("FIDELO_LOG_LEVEL", "WARNING")},
    # Huey logs through its own handler; do not print its lines twice through the root one.
    "loggers": {"huey": {"handlers": [], "propagate": False}},
}

# The address members reach this server at (referral links in mails, the portal): e.g.
# https://fidelite.example.fr. Empty: the address of the request being answered.
PUBLIC_URL = os.environ.get("FIDELO_PUBLIC_URL", "").rstrip("/")
