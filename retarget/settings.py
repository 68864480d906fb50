"""Retarget settings: every value comes from the environment (see README "Configuration")."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from retarget.env import env_bool, env_float, env_int, env_list, env_networks, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent
# Importing settings creates nothing: the broker's folders are made by the Celery app (retarget/celery.py),
# the beat schedule's by its scheduler, the SQLite file's by `make run` (the Docker image has /app/var).
VAR_DIR = Path(env_str("RETARGET_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# An explicit opt-in for stacks that talk to the WhatsApp sandbox (whatsapp/sandbox/) with DEBUG off: the
# test suite, bench/ and chaos/. It lets the sandbox's ids and tokens and the embedded broker through (such
# a stack sends nothing to real people) and is refused unless WHATSAPP_GRAPH_URL is on this machine (see
# the WhatsApp section). Production never sets it.
WHATSAPP_SANDBOX = env_bool("WHATSAPP_SANDBOX", False)
_SANDBOX_ALLOWED = DEBUG or WHATSAPP_SANDBOX

# Development only (DEBUG=1). Also the suppression hash key's development default: a development
# database keeps matching the suppressions it recorded when that key still fell back to SECRET_KEY.
_DEV_ONLY_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789"

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY: required when DEBUG is off (set DEBUG=1 for development)")
    SECRET_KEY = _DEV_ONLY_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Public base URL used to build links sent to people (click tracking, unsubscribe).
PUBLIC_BASE_URL = env_url("PUBLIC_BASE_URL", "http://127.0.0.1:8000", schemes=("http", "https"))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    # Ours, lowest layer first: each imports only from those above it in this list.
    "core",
    "whatsapp",
    "consent",
    "campaigns",
    "conversations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "retarget.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Lets audit entries written from signals (role changes in the admin) name who made the change.
    "core.request_actor.RequestActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: refuses a locked-out login before the view runs.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "retarget.urls"
WSGI_APPLICATION = "retarget.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_database_url = env_url(
    "DATABASE_URL",
    f"sqlite:///{VAR_DIR / 'retarget.sqlite3'}",
    schemes=("postgres", "postgresql", "pgsql", "sqlite"),
)
try:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; wait instead of failing when the worker and web write together.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# Django 6 behaviour now: a URL typed without a scheme is read as https.
FORMS_URLFIELD_ASSUME_HTTPS = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
LOGIN_URL = "admin:login"

# --- Security (production values when DEBUG is off) -------------------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
# Proxies whose X-Forwarded-For is believed (core/client_ip.py): addresses or networks, none by default.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
if BEHIND_TLS_PROXY and not TRUSTED_PROXIES:
    # Without it every visitor would carry the proxy's address: one shared rate limit and login lockout.
    raise ImproperlyConfigured("TRUSTED_PROXIES: required with BEHIND_TLS_PROXY=1 (the proxy's address, e.g. 172.30.80.10)")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Staff sessions end after this many seconds (default 12 hours).
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=300)
# Sent with every response (retarget/security.py); {nonce} is replaced per request. Empty: no header.
# Inline styles stay allowed (the admin uses style attributes); inline scripts need the nonce.
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
).strip()

# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT failed logins for one username from one
# address, that pair is locked out for LOGIN_LOCKOUT_MINUTES; after LOGIN_USERNAME_FAILURE_LIMIT failures
# for one username from all addresses together (guessing spread over many machines), that username is
# locked out everywhere. A successful login resets the count (retarget/login_throttle.py).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_USERNAME_FAILURE_LIMIT = env_int("LOGIN_USERNAME_FAILURE_LIMIT", 20, minimum=LOGIN_FAILURE_LIMIT)
AXES_FAILURE_LIMIT = "retarget.login_throttle.login_failure_limit"
AXES_COOLOFF_TIME = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1) / 60  # hours
# Separate criteria, each counted on its own (django-axes docs/4_configuration.rst, AXES_LOCKOUT_PARAMETERS).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "core.client_ip.client_ip"
AXES_LOCKOUT_TEMPLATE = "admin/login_locked_out.html"
# Attempts are counted in the database; successful logins are in the audit log (consent.AuditEntry).
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

# --- Redis / Celery ------------------------------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", "", schemes=("redis", "rediss", "unix"))
if not REDIS_URL and not _SANDBOX_ALLOWED:
    raise ImproperlyConfigured(
        "REDIS_URL: required when DEBUG is off (e.g. redis://127.0.0.1:6379/0): without it the queue and the "
        "counters behind caps and rate limits stay in files on one machine"
    )
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    # No server needed: kombu's filesystem transport keeps the queue in files under var/ (the Celery app
    # creates the folders).
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULER = "retarget.celery:FolderCreatingPersistentScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = False
# Celery closes the database connection around every task unless told to reuse it: a worker running
# thousands of small tasks (webhook deliveries) then spends most of its time connecting. Reused
# connections are checked before each task instead (retarget/celery.py).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=0)

# Shared counters (rate limits, caps). Without Redis, the database cache serves one machine.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
    }

# --- REST API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_RATES": {"optin_form": env_str("OPTIN_FORM_RATE", "20/hour")},
    # JSON and form bodies nested too deep or holding NUL characters are refused before any view runs.
    "DEFAULT_PARSER_CLASSES": ["retarget.api.JSONParser", "retarget.api.FormParser", "retarget.api.MultiPartParser"],
    "EXCEPTION_HANDLER": "retarget.api.api_exception_handler",
}
# Deepest nesting of arrays and objects accepted in an API body.
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 32, minimum=4)
SPECTACULAR_SETTINGS = {
    "TITLE": "Retarget API",
    "DESCRIPTION": "Consent-first WhatsApp re-engagement: contacts, consents, behaviour events, campaigns.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from our own static files: the docs work offline, without a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name for a choice set that several serializers use (else drf-spectacular warns, W001).
    "ENUM_NAME_OVERRIDES": {"FollowUpConditionEnum": "campaigns.models.FollowUpCondition"},
}

# --- Consent -------------------------------------------------------------------------------------
# Region used to read a national number (one without +country code), e.g. "DE" or "US".
PHONE_DEFAULT_REGION = env_str("PHONE_DEFAULT_REGION", "").upper() or None
if PHONE_DEFAULT_REGION is not None and (len(PHONE_DEFAULT_REGION) != 2 or not PHONE_DEFAULT_REGION.isalpha()):
    raise ImproperlyConfigured(f"PHONE_DEFAULT_REGION: expected a two-letter region code like DE, got {PHONE_DEFAULT_REGION!r}")
# Key of the suppression hash (consent.services.suppression_hash). Keep it stable: changing it forgets every
# suppressed number. Never derived from SECRET_KEY, so that rotating SECRET_KEY forgets nothing.
SUPPRESSION_HASH_KEY = env_str("SUPPRESSION_HASH_KEY")
if not SUPPRESSION_HASH_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SUPPRESSION_HASH_KEY: required when DEBUG is off; keep it stable, a new key forgets every suppressed "
            "number. An install that ran without it hashed with SECRET_KEY: set SUPPRESSION_HASH_KEY to that value."
        )
    SUPPRESSION_HASH_KEY = _DEV_ONLY_KEY
OPTIN_RATE_LIMIT_PER_HOUR = env_int("OPTIN_RATE_LIMIT_PER_HOUR", 20, minimum=1)

# --- WhatsApp Cloud API --------------------------------------------------------------------------
# Meta's Graph API; in development (and with WHATSAPP_SANDBOX=1) the sandbox: python manage.py whatsapp_sandbox.
_META_GRAPH_URL, _SANDBOX_GRAPH_URL = "https://graph.facebook.com", "http://127.0.0.1:8765"
WHATSAPP_GRAPH_URL = env_url("WHATSAPP_GRAPH_URL", _SANDBOX_GRAPH_URL if _SANDBOX_ALLOWED else _META_GRAPH_URL, schemes=("http", "https")).rstrip("/")
# Graph API version, one setting: v26.0 is current since Jul 2026 (v21.0 stops working 21 Jan 2027);
# https://developers.facebook.com/docs/graph-api/reference/user/ids_for_business/ shows v26.0.
WHATSAPP_API_VERSION = env_str("WHATSAPP_API_VERSION", "v26.0")
if not WHATSAPP_API_VERSION.startswith("v"):
    raise ImproperlyConfigured(f"WHATSAPP_API_VERSION: expected a version like v26.0, got {WHATSAPP_API_VERSION!r}")


def _is_this_machine(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if not DEBUG and WHATSAPP_SANDBOX and not _is_this_machine(WHATSAPP_GRAPH_URL):
    raise ImproperlyConfigured(
        f"WHATSAPP_SANDBOX: allowed with DEBUG off only for a sandbox on this machine (a loopback address), but "
        f"WHATSAPP_GRAPH_URL is {WHATSAPP_GRAPH_URL}; unset WHATSAPP_SANDBOX to talk to Meta"
    )
if not _SANDBOX_ALLOWED and (_is_this_machine(WHATSAPP_GRAPH_URL) or not WHATSAPP_GRAPH_URL.startswith("https://")):
    raise ImproperlyConfigured(
        f"WHATSAPP_GRAPH_URL: {WHATSAPP_GRAPH_URL} is not Meta's Graph API but a sandbox; with DEBUG off set it to "
        f"{_META_GRAPH_URL} (or leave it unset), or set WHATSAPP_SANDBOX=1 for a test stack on this machine"
    )


# The sandbox's defaults (whatsapp/sandbox/server.py SandboxConfig): real ones are refused unless allowed.
_SANDBOX_VALUES = {
    "WHATSAPP_ACCESS_TOKEN": "sandbox-token",
    "WHATSAPP_APP_SECRET": "sandbox-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "sandbox-verify-token",
    "WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
    "WHATSAPP_BUSINESS_ACCOUNT_ID": "200000000000002",
}


def _whatsapp_account_value(name: str) -> str:
    """Meta's value for the account (app dashboard, WhatsApp > API Setup); the sandbox's only when allowed."""
    sandbox_value = _SANDBOX_VALUES[name]
    value = env_str(name, sandbox_value if _SANDBOX_ALLOWED else "")
    if not _SANDBOX_ALLOWED and not value:
        raise ImproperlyConfigured(f"{name}: required when DEBUG is off (Meta's value for your WhatsApp account)")
    if not _SANDBOX_ALLOWED and value == sandbox_value:
        raise ImproperlyConfigured(
            f"{name}: {value!r} is the WhatsApp sandbox's value; set your account's own, "
            "or WHATSAPP_SANDBOX=1 for a test stack against the sandbox"
        )
    return value


WHATSAPP_ACCESS_TOKEN = _whatsapp_account_value("WHATSAPP_ACCESS_TOKEN")
WHATSAPP_PHONE_NUMBER_ID = _whatsapp_account_value("WHATSAPP_PHONE_NUMBER_ID")
WHATSAPP_BUSINESS_ACCOUNT_ID = _whatsapp_account_value("WHATSAPP_BUSINESS_ACCOUNT_ID")
WHATSAPP_APP_SECRET = _whatsapp_account_value("WHATSAPP_APP_SECRET")
WHATSAPP_VERIFY_TOKEN = _whatsapp_account_value("WHATSAPP_VERIFY_TOKEN")
# The Meta app's id: sample files for media template headers are uploaded to it (Resumable Upload API).
# Optional: without it the admin asks for a media handle made elsewhere.
WHATSAPP_APP_ID = env_str("WHATSAPP_APP_ID", "300000000000003" if _SANDBOX_ALLOWED else "")

# Marketing templates of the number above go through Meta's Marketing Messages API (/marketing_messages)
# instead of /messages (whatsapp.numbers.marketing_messages_api_for); utility and service messages never do.
WHATSAPP_MARKETING_MESSAGES_API = env_bool("WHATSAPP_MARKETING_MESSAGES_API", False)

WHATSAPP_CONNECT_TIMEOUT = env_float("WHATSAPP_CONNECT_TIMEOUT", 3.05, minimum=0.1)
WHATSAPP_READ_TIMEOUT = env_float("WHATSAPP_READ_TIMEOUT", 15.0, minimum=0.1)
# Extra opt-out words on top of STOP, UNSUBSCRIBE...; comma-separated.
WHATSAPP_OPTOUT_KEYWORDS = env_list(
    "WHATSAPP_OPTOUT_KEYWORDS", ["PARAR", "BAJA", "ARRET", "ARRÊT", "STOPP", "ABMELDEN", "CANCELAR"]
)
# Name used in keyword confirmations ("You will no longer receive marketing messages from ...").
WHATSAPP_BUSINESS_NAME = env_str("WHATSAPP_BUSINESS_NAME", "us")
WHATSAPP_HELP_TEXT = env_str(
    "WHATSAPP_HELP_TEXT",
    "Reply STOP to stop marketing messages from {business}, START to subscribe again. "
    "For anything else, just write your question here and a person will answer.",
)
# How long a web opt-in waits for the person's confirmation from WhatsApp (sign-up code or template).
WHATSAPP_OPTIN_CONFIRMATION_DAYS = env_int("WHATSAPP_OPTIN_CONFIRMATION_DAYS", 7, minimum=1)
# Our WhatsApp number as people see it (international, e.g. +49 30 1234567): the opt-in page's wa.me
# link and QR code open a chat with it. The sandbox's number by default where the sandbox is allowed.
WHATSAPP_DISPLAY_NUMBER = re.sub(r"[\s()+.\-]", "", env_str("WHATSAPP_DISPLAY_NUMBER", "15550001111" if _SANDBOX_ALLOWED else ""))
if WHATSAPP_DISPLAY_NUMBER and not WHATSAPP_DISPLAY_NUMBER.isdigit():
    raise ImproperlyConfigured(
        f"WHATSAPP_DISPLAY_NUMBER: expected our number in international form like +49 30 1234567, got {WHATSAPP_DISPLAY_NUMBER!r}"
    )
# Sign-up code messages (JOIN ...) one WhatsApp number may send per hour: guessing stops there.
WHATSAPP_JOIN_ATTEMPTS_PER_HOUR = env_int("WHATSAPP_JOIN_ATTEMPTS_PER_HOUR", 5, minimum=1)
WHATSAPP_TEMPLATE_SYNC_SECONDS = env_int("WHATSAPP_TEMPLATE_SYNC_SECONDS", 1800, minimum=60)
# Periodic tasks: each app adds its entries to this one dict.
CELERY_BEAT_SCHEDULE: dict = globals().get("CELERY_BEAT_SCHEDULE", {})
CELERY_BEAT_SCHEDULE["whatsapp-templates-sync"] = {
    "task": "whatsapp.tasks.templates_sync_task",
    "schedule": float(WHATSAPP_TEMPLATE_SYNC_SECONDS),
}
# Raw webhook bodies hold phone numbers and message texts: processed ones are deleted after this
# (by the daily retention task, in batches: see RETENTION_* below and consent/retention.py).
WHATSAPP_WEBHOOK_RETENTION_DAYS = env_int("WHATSAPP_WEBHOOK_RETENTION_DAYS", 30, minimum=1)
CELERY_BEAT_SCHEDULE["whatsapp-webhook-deliveries-requeue"] = {
    "task": "whatsapp.tasks.webhook_deliveries_requeue_task",
    "schedule": 60.0,
}

# --- Campaign sending (see campaigns/sending/) ------------------------------------------------
# Messages per second per sending phone number, shared by all workers (Meta's default tier: 80).
CAMPAIGN_SEND_RATE = env_float("CAMPAIGN_SEND_RATE", 80.0, minimum=0.1)
CAMPAIGN_BATCH_SIZE = env_int("CAMPAIGN_BATCH_SIZE", 100, minimum=1)
CAMPAIGN_SEND_CONCURRENCY = env_int("CAMPAIGN_SEND_CONCURRENCY", 16, minimum=1)
CAMPAIGN_DISPATCHERS = env_int("CAMPAIGN_DISPATCHERS", 4, minimum=1)
CAMPAIGN_BATCHES_IN_FLIGHT = env_int("CAMPAIGN_BATCHES_IN_FLIGHT", 2, minimum=1)
CAMPAIGN_DISPATCH_SECONDS = env_int("CAMPAIGN_DISPATCH_SECONDS", 30, minimum=1)
# A claimed batch not finished within the lease is recovered (unsent rows re-claimed, in-flight ones unknown).
CAMPAIGN_LEASE_SECONDS = env_int("CAMPAIGN_LEASE_SECONDS", 120, minimum=2)
CAMPAIGN_LOCK_TIMEOUT_SECONDS = env_int("CAMPAIGN_LOCK_TIMEOUT_SECONDS", 30, minimum=1)
CAMPAIGN_MAX_ATTEMPTS = env_int("CAMPAIGN_MAX_ATTEMPTS", 5, minimum=1)
CAMPAIGN_RETRY_BASE_SECONDS = env_float("CAMPAIGN_RETRY_BASE_SECONDS", 30.0, minimum=0.0)
# The longest wait between two attempts (the waits double from CAMPAIGN_RETRY_BASE_SECONDS up to this).
CAMPAIGN_RETRY_MAX_SECONDS = env_float("CAMPAIGN_RETRY_MAX_SECONDS", 3600.0, minimum=0.0)
CAMPAIGN_THROTTLE_BACKOFF_SECONDS = env_float("CAMPAIGN_THROTTLE_BACKOFF_SECONDS", 2.0, minimum=0.0)
# Too many messages to one person in a short time (131056): that person is tried again after this.
CAMPAIGN_PAIR_RATE_RETRY_SECONDS = env_float("CAMPAIGN_PAIR_RATE_RETRY_SECONDS", 300.0, minimum=0.0)
CAMPAIGN_TICK_SECONDS = env_float("CAMPAIGN_TICK_SECONDS", 2.0, minimum=0.2)
# A launch over at least this many contact ids writes its rows on this many connections side by
# side, one range of contact ids each (campaigns/sending/materialise.py).
CAMPAIGN_MATERIALISE_CONNECTIONS = env_int("CAMPAIGN_MATERIALISE_CONNECTIONS", 2, minimum=1)
CAMPAIGN_MATERIALISE_PARALLEL_FROM = env_int("CAMPAIGN_MATERIALISE_PARALLEL_FROM", 100_000, minimum=1)
# Segment rules (campaigns/segments.py): the largest tree accepted, and how long a count or preview may run.
SEGMENT_MAX_DEPTH = env_int("SEGMENT_MAX_DEPTH", 6, minimum=1)
SEGMENT_MAX_CONDITIONS = env_int("SEGMENT_MAX_CONDITIONS", 50, minimum=1)
SEGMENT_MAX_LIST_ITEMS = env_int("SEGMENT_MAX_LIST_ITEMS", 1000, minimum=1)
SEGMENT_QUERY_TIMEOUT_SECONDS = env_float("SEGMENT_QUERY_TIMEOUT_SECONDS", 5.0, minimum=0.001)
# Business-initiated conversations per rolling 24 h of the WhatsApp account (its messaging tier).
WHATSAPP_MESSAGING_LIMIT = env_int("WHATSAPP_MESSAGING_LIMIT", 1000, minimum=1)
# What WhatsApp charges per message by market and category (campaigns/pricing.py); read at start-up.
WHATSAPP_RATE_CARD_FILE = env_str("WHATSAPP_RATE_CARD_FILE") or str(BASE_DIR / "campaigns" / "whatsapp_rate_card.csv")
CELERY_BEAT_SCHEDULE = globals().get("CELERY_BEAT_SCHEDULE", {})
CELERY_BEAT_SCHEDULE["campaigns-tick"] = {"task": "campaigns.tasks.campaigns_tick_task", "schedule": CAMPAIGN_TICK_SECONDS}
# Replies, confirmations and test sends a lost task or a broker outage left queued (campaigns/sending/service.py).
CELERY_BEAT_SCHEDULE["service-messages-sweep"] = {"task": "campaigns.tasks.service_messages_sweep_task", "schedule": 60.0}

# --- Admin pages and public links (campaigns/tracking.py, consent/unsubscribe.py) --------------------
# Requests per minute per address to the public /r/<token> (tracked link) and /u/<token> (unsubscribe) pages.
CLICK_RATE_LIMIT_PER_MINUTE = env_int("CLICK_RATE_LIMIT_PER_MINUTE", 120, minimum=1)
UNSUBSCRIBE_RATE_LIMIT_PER_MINUTE = env_int("UNSUBSCRIBE_RATE_LIMIT_PER_MINUTE", 30, minimum=1)
# The admin dashboard's figures are computed at most this often (0: on every view).
DASHBOARD_CACHE_SECONDS = env_int("DASHBOARD_CACHE_SECONDS", 120, minimum=0)

# --- E-mail (campaigns/notifications.py: approvers hear of submissions, authors of decisions) --------
# The console backend prints mails to the server's output; set EMAIL_BACKEND (e.g.
# django.core.mail.backends.smtp.EmailBackend) and EMAIL_HOST/PORT/HOST_USER/HOST_PASSWORD/USE_TLS to send them.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Retarget <retarget@localhost>")

# --- Retention (consent/retention.py): personal details kept this many days ----------------------
MESSAGE_DETAIL_RETENTION_DAYS = env_int("MESSAGE_DETAIL_RETENTION_DAYS", 365, minimum=1)
INBOUND_TEXT_RETENTION_DAYS = env_int("INBOUND_TEXT_RETENTION_DAYS", 90, minimum=1)
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 400, minimum=1)
# Web opt-ins never confirmed from WhatsApp: deleted (with their device evidence) this long after they expired.
OPTIN_REQUEST_RETENTION_DAYS = env_int("OPTIN_REQUEST_RETENTION_DAYS", 90, minimum=1)
# Rows per delete/update statement, and how long one run may go on before leaving the rest to the next.
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 5000, minimum=1)
RETENTION_TIME_BUDGET_SECONDS = env_int("RETENTION_TIME_BUDGET_SECONDS", 600, minimum=1)
CELERY_BEAT_SCHEDULE = globals().get("CELERY_BEAT_SCHEDULE", {})
CELERY_BEAT_SCHEDULE["retention-apply"] = {"task": "consent.tasks.retention_apply_task", "schedule": 24 * 3600.0}

# --- Logging: phone numbers are masked by a filter on every handler --------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_phones": {"()": "core.logging.MaskPhoneNumbersFilter"}},
    "formatters": {"plain": {"class": "core.logging.MaskPhoneNumbersFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "core.logging.CurrentStderrHandler", "formatter": "plain", "filters": ["mask_phones"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    # django-axes logs every login at INFO; lockouts (WARNING) also reach the audit log.
    "loggers": {"axes": {"level": "WARNING"}},
}
