"""Settings, read from the environment only (12-factor).

Development defaults work with no environment at all (`make demo`); production
(DEBUG off) refuses to start without SECRET_KEY and MODQUEUE_SUBJECT_PEPPER.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of {sorted(_TRUE | _FALSE)}, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from exc


DEBUG = env_bool("DEBUG", default=False)


def _secret(name: str, dev_default: str) -> str:
    value = os.environ.get(name, "")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} is not set. Production (DEBUG off) refuses to start without it; "
        "set DEBUG=true for a local development run."
    )


SECRET_KEY = _secret("SECRET_KEY", "dev-only-insecure-secret-key")
# The key of the HMAC that turns end-user ids into subject hashes (CONTRACT §3).
MODQUEUE_SUBJECT_PEPPER = _secret("MODQUEUE_SUBJECT_PEPPER", "dev-only-insecure-pepper")


def _env_list(name: str) -> list[str]:
    return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]


# Old values of SECRET_KEY, still accepted for sessions and signatures (and stored secrets).
SECRET_KEY_FALLBACKS = _env_list("SECRET_KEY_FALLBACKS")
# Stored API key and enforcement secrets are encrypted under a key derived from this, or
# from SECRET_KEY when it is empty; the fallbacks still decrypt during a rotation
# (docs/security.md, "Rotating the secrets key").
MODQUEUE_SECRETS_KEY = os.environ.get("MODQUEUE_SECRETS_KEY", "")
MODQUEUE_SECRETS_KEY_FALLBACKS = _env_list("MODQUEUE_SECRETS_KEY_FALLBACKS")

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "moderation",
    "accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_rq",
    "axes",
    "csp",  # its system checks
    # Two-factor authentication (issue 9): TOTP devices and one-time recovery codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, which answers /static/ itself with long caching: the rest, no-store.
    "moderation.middleware.NoStoreMiddleware",
    # Times what the app answers, static files excepted (modqueue_http_request_duration_seconds).
    "moderation.middleware.RequestLatencyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.access.RoleRequiredMiddleware",
    "accounts.middleware.TwoFactorRequiredMiddleware",
    "accounts.middleware.IdleSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it answers a locked-out log in.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend reading the role with the user: one query a request (accounts/backends.py)
    "accounts.backends.RoleModelBackend",
]
# Log in throttling: after 5 failures for one username from one address, 15 minutes' pause.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("LOGIN_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "accounts/locked.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

ROOT_URLCONF = "moderation.urls"
WSGI_APPLICATION = "moderation.wsgi.application"

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
                "accounts.context_processors.role",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'modqueue.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The demo's web server and its periodic process share the file: wait for a lock.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's full set (issue 9): add_user runs them too. 12 characters keeps the documented
# demo password ("modqueue-demo") valid.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "queue"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# CONTRACT §3: bodies up to 1 MiB; Django answers RequestDataTooBig past this.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads no cookie; the token travels in hx-headers
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- HTTPS (CONTRACT §1 v2) -------------------------------------------------------------
# MODQUEUE_HTTPS=true: served only over TLS (README, "Running in production over HTTPS").
# Off by default, so a development run over plain http://127.0.0.1 works.
MODQUEUE_HTTPS = env_bool("MODQUEUE_HTTPS", default=False)
if MODQUEUE_HTTPS:
    SECURE_SSL_REDIRECT = True
    # The proxy's health checks may come over plain HTTP, without X-Forwarded-Proto:
    # /healthz and /readyz answer them rather than redirect (README, "Health checks"), and
    # Prometheus scrapes each instance directly on its private address (docs/deploy.md).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    # TLS usually ends at a proxy that forwards plain HTTP. The proxy must set this header on
    # every request and drop any the client sent: whoever can set it can claim HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # One year, the least the browsers' preload list takes.
    SECURE_HSTS_SECONDS = env_int("MODQUEUE_HSTS_SECONDS", 365 * 24 * 3600)
    # Covers the subdomains of the host modqueue answers on, not its parent domain.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # A console of flagged content and personal data should never be reached over plain
    # HTTP, not even on a first visit. The `preload` token alone changes nothing in browsers:
    # it consents to listing, which takes a submission at hstspreload.org, and only of a
    # registrable domain (so it is inert on review.example.com). Serving modqueue on a bare
    # domain whose other sites are not all HTTPS: set MODQUEUE_HSTS_PRELOAD=false
    # (the deploy check then reports security.W021, as it should).
    SECURE_HSTS_PRELOAD = env_bool("MODQUEUE_HSTS_PRELOAD", default=True)
# Cookies only over TLS under MODQUEUE_HTTPS; SECURE_COOKIES=true (older setting, kept) does
# just this part, for a deployment that redirects to HTTPS elsewhere.
SESSION_COOKIE_SECURE = MODQUEUE_HTTPS or env_bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Only needed when the proxy does not pass the browser's Host on (the page's origin then
# differs from the host Django sees), e.g. "https://review.example.com".
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

# --- Content Security Policy (CONTRACT §8 v2), by django-csp ----------------------------
# Nothing inline: no <script> without src, no on* attributes, no style attributes, no
# eval (htmx's allowEval is off in base.html, and its indicator style is in app.css).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# --- Background jobs -------------------------------------------------------
# With no REDIS_URL (the zero-setup `make demo`), jobs run in-process right after commit.
REDIS_URL = os.environ.get("REDIS_URL", "")
MODQUEUE_INLINE_JOBS = not REDIS_URL

_redis_url = urlsplit(REDIS_URL or "redis://127.0.0.1:6379/0")
# Host, port and database rather than "URL": django-rq ignores REDIS_CLIENT_KWARGS when it is
# given a URL, and these options matter.
_redis_queue = {
    "HOST": _redis_url.hostname or "127.0.0.1",
    "PORT": _redis_url.port or 6379,
    "DB": int(_redis_url.path.lstrip("/") or 0),
    "USERNAME": unquote(_redis_url.username) if _redis_url.username else None,
    "PASSWORD": unquote(_redis_url.password) if _redis_url.password else None,
    "SSL": _redis_url.scheme == "rediss",
    "DEFAULT_TIMEOUT": 300,
    # A dead Redis must not hang an API request: the database is the record (CONTRACT §3).
    # redis-py 8 retries a failed command 10 times with backoff (about 4 s) by default; one
    # immediate retry is enough for a pooled connection that a Redis restart closed.
    "REDIS_CLIENT_KWARGS": {
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "retry": Retry(NoBackoff(), 1),
    },
}
RQ_QUEUES = {name: dict(_redis_queue) for name in ("ingest", "enforcement", "default")}
RQ = {
    "COMMIT_MODE": "on_db_commit",
    "QUEUE_CLASS": "moderation.queues.DurableQueue",
    "WORKER_CLASS": "moderation.workers.SweepingWorker",
}

# A pending batch whose job has not run for this long is enqueued again by the sweeper.
MODQUEUE_SWEEP_STALE_SECONDS = env_int("MODQUEUE_SWEEP_STALE_SECONDS", 60)
# How often a worker runs the sweeper (and RQ's own registry maintenance).
MODQUEUE_SWEEP_INTERVAL_SECONDS = env_int("MODQUEUE_SWEEP_INTERVAL_SECONDS", 15)
# A batch whose processing fails this many times is marked failed and left alone.
MODQUEUE_INGEST_MAX_ATTEMPTS = env_int("MODQUEUE_INGEST_MAX_ATTEMPTS", 5)
# Fault injection for the crash tests only: seconds to sleep inside the ingest transaction.
MODQUEUE_FAULT_INGEST_SLEEP = float(os.environ.get("MODQUEUE_FAULT_INGEST_SLEEP", "0") or 0)
# Multiplies the enforcement webhook's retry delays (CONTRACT §5: the first retry within
# 30 s, at least 8 attempts over at least an hour). Leave it at 1 in production; the process
# tests set it to a small fraction so a receiver that fails its first attempts is retried
# within seconds. The in-flight hold and the 10 s request timeout are not scaled.
MODQUEUE_RETRY_DELAY_SCALE = float(os.environ.get("MODQUEUE_RETRY_DELAY_SCALE", "1") or 1)
if MODQUEUE_RETRY_DELAY_SCALE <= 0:
    raise ImproperlyConfigured("MODQUEUE_RETRY_DELAY_SCALE must be a positive number")

# CONTRACT §3 default rate limit per API key (admins set it per key).
MODQUEUE_DEFAULT_RATE_PER_SECOND = 50
MODQUEUE_DEFAULT_RATE_BURST = 100
# CONTRACT §3 v2: a client address with this many failed authentications (any 401 of the
# API) within a minute is refused with 429, before any signature work, until it falls below.
MODQUEUE_AUTH_FAILURE_LIMIT = env_int("MODQUEUE_AUTH_FAILURE_LIMIT", 30)
if MODQUEUE_AUTH_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured("MODQUEUE_AUTH_FAILURE_LIMIT must be at least 1")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}


# How long a claim lasts without renewal; the item page renews it while open (CONTRACT §8).
MODQUEUE_LEASE_SECONDS = env_int("MODQUEUE_LEASE_SECONDS", 600)
# How long the deciding reviewer may undo a decision (CONTRACT §8 v2: 5 minutes), as long
# as nobody else has acted on the item since.
MODQUEUE_UNDO_SECONDS = env_int("MODQUEUE_UNDO_SECONDS", 300)

# --- Operations: metrics and alerts (issue 11; README "Metrics" and "Alerts") ------------
# The bearer token Prometheus scrapes /metrics with; unset, /metrics answers 404.
MODQUEUE_METRICS_TOKEN = os.environ.get("MODQUEUE_METRICS_TOKEN", "")
# A Slack-compatible incoming webhook for SLA breaches and failed deliveries; unset, none sent.
MODQUEUE_ALERT_URL = os.environ.get("MODQUEUE_ALERT_URL", "")
# Where people reach modqueue, e.g. "https://review.example.com": the links in alerts.
MODQUEUE_BASE_URL = os.environ.get("MODQUEUE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# --- Two-factor authentication and sessions (CONTRACT §8 v2) ----------------
# Roles that must set up a second factor before they may use anything but the set-up page,
# e.g. "admin,senior". Empty: two-factor is optional for everyone.
MODQUEUE_2FA_REQUIRED_ROLES = [
    r.strip() for r in os.environ.get("MODQUEUE_2FA_REQUIRED_ROLES", "").split(",") if r.strip()
]
_unknown_roles = set(MODQUEUE_2FA_REQUIRED_ROLES) - {"reviewer", "senior", "admin"}
if _unknown_roles:
    raise ImproperlyConfigured(
        "MODQUEUE_2FA_REQUIRED_ROLES takes reviewer, senior and admin, not "
        + ", ".join(sorted(_unknown_roles))
    )
OTP_TOTP_ISSUER = os.environ.get("MODQUEUE_2FA_ISSUER", "modqueue")
# A session ends after this many idle hours (default 8).
MODQUEUE_SESSION_IDLE_HOURS = env_int("MODQUEUE_SESSION_IDLE_HOURS", 8)
SESSION_COOKIE_AGE = MODQUEUE_SESSION_IDLE_HOURS * 3600
