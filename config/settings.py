"""ICE Lab settings. Every value comes from the environment; `.env.example` documents each one."""

from __future__ import annotations

import sys
from pathlib import Path

import dj_database_url

from .env import envbool, envint, envlist, envsecret, envstr, kept_secret

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = envbool("DJANGO_DEBUG", "false")

# Where every generated file goes: datasets, checkpoints, feature banks, stimuli, reports.
ICELAB_HOME = Path(envstr("ICELAB_HOME", str(BASE_DIR / "var"))).resolve()

# DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE); without either, a key generated once and
# kept in ICELAB_HOME (mode 0600), so every command works on a fresh machine with no setup.
SECRET_KEY = envsecret("DJANGO_SECRET_KEY") or kept_secret(ICELAB_HOME / "secret_key")
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")

# HTTPS (docs/security.md). One switch for a deployment served over TLS: it turns on the
# redirect to https, secure cookies and HSTS; each can still be set on its own. Off by
# default so that `make demo` and the tests keep working on http://127.0.0.1:8000.
ICELAB_HTTPS = envbool("ICELAB_HTTPS", "false")
_HTTPS = "true" if ICELAB_HTTPS else "false"
SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", _HTTPS)
# Probes of a load balancer or orchestrator often speak plain http inside the network.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SESSION_COOKIE_SECURE = envbool("DJANGO_SESSION_COOKIE_SECURE", _HTTPS)
CSRF_COOKIE_SECURE = envbool("DJANGO_CSRF_COOKIE_SECURE", _HTTPS)
SECURE_HSTS_SECONDS = envint("DJANGO_SECURE_HSTS_SECONDS", "31536000" if ICELAB_HTTPS else "0")
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", _HTTPS)
SECURE_HSTS_PRELOAD = envbool("DJANGO_SECURE_HSTS_PRELOAD", _HTTPS)
# Behind a TLS-terminating proxy Django sees http; name the header the proxy sets
# (X-Forwarded-Proto) so that request.is_secure() is right. Only when the proxy always
# sets (or strips) that header: otherwise a client could claim https itself.
_PROXY_SSL_HEADER = envstr("DJANGO_SECURE_PROXY_SSL_HEADER", "")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https") if _PROXY_SSL_HEADER else None
)
# Origins (scheme://host[:port]) whose form posts the admin accepts besides its own host.
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", "")
# Nothing may frame a page, except the study pages, which MTurk frames (studies/security.py).
X_FRAME_OPTIONS = "DENY"
# Proxies in front of the site that append to X-Forwarded-For (0: clients connect directly).
# Rate limits key on the client address, so behind a proxy this must be right.
ICELAB_TRUSTED_PROXIES = envint("ICELAB_TRUSTED_PROXIES", "0")
# DataLoader worker processes that decode images for feature extraction (0 = in-process).
ICELAB_LOADER_WORKERS = envint("ICELAB_LOADER_WORKERS", "2")
# Word vectors for description similarity (analysis.stats.load_word_vectors): "bundled" (the
# coarse 25-d GloVe subset shipped in analysis/stats/data/), a GloVe/word2vec/.kv file path, a
# gensim-data name, or "none". Unreadable vectors are reported in the report, not at start-up.
ICELAB_WORD_VECTORS = envstr("ICELAB_WORD_VECTORS", "bundled")
# The HMAC key that pseudonymises participant IDs in exported reports (analysis.stats.pseudonym).
# Not SECRET_KEY: rotating that must not change every pseudonym. ICELAB_PSEUDONYM_KEY (or
# ICELAB_PSEUDONYM_KEY_FILE); without either, generated once and kept in ICELAB_HOME (0600).
ICELAB_PSEUDONYM_KEY = envsecret("ICELAB_PSEUDONYM_KEY") or kept_secret(
    ICELAB_HOME / "pseudonym_key"
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "icelab",
    "jobs",
    "explainers",
    "studies",
    "analysis",
    "csp",
    "django_ratelimit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files with DEBUG off too: hashed names (after collectstatic) cached for a year.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Turns django-ratelimit's refusal into RATELIMIT_VIEW's 429 page.
    "django_ratelimit.middleware.RatelimitMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

_DATABASE_URL = envsecret("DATABASE_URL")
if not _DATABASE_URL:
    # The embedded default: SQLite inside ICELAB_HOME, which must exist before SQLite opens the file.
    ICELAB_HOME.mkdir(parents=True, exist_ok=True)
    _DATABASE_URL = f"sqlite:///{ICELAB_HOME / 'icelab.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        _DATABASE_URL,
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", "0"),
        # A kept connection (DATABASE_CONN_MAX_AGE > 0) that the server dropped meanwhile
        # (a restart, a failover) is found dead and replaced as the next request begins,
        # instead of failing that request. Costs one "SELECT 1" per request, only then.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent requests on SQLite: a transaction that starts reading and then writes
    # cannot wait for another writer (SQLite answers "database is locked" at once, without
    # the busy timeout), so every transaction takes the write lock when it begins, and waits
    # up to 20 s for it. WAL lets pages be read while one request writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        transaction_mode="IMMEDIATE",
        timeout=20,
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files: WhiteNoise serves them in every mode. After `collectstatic` (the compose
# stack runs it at every start) names carry content hashes and are cached for a
# year; before it, files are served from the apps under their plain names.
STATIC_URL = "static/"
STATIC_ROOT = ICELAB_HOME / "static"
WHITENOISE_USE_FINDERS = True
try:  # WhiteNoise warns about a missing STATIC_ROOT before the first collectstatic
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
except OSError:  # a read-only image with no collected files: finders serve them
    pass
_STATIC_MANIFEST = STATIC_ROOT / "staticfiles.json"
# `collectstatic` itself must use the hashing storage, or the first run (no manifest yet)
# would copy plain names and never write the manifest that switches every later process to it.
_COLLECTING_STATIC = sys.argv[1:2] == ["collectstatic"]
# Media: generated files people download (stimuli, plots, reports, manifests) go through
# Django's storage API and are served by icelab.media (see docs/storage.md).
MEDIA_URL = "media/"
MEDIA_ROOT = ICELAB_HOME / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if _STATIC_MANIFEST.is_file() or _COLLECTING_STATIC
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Jobs: with no broker (the embedded default) they run in a local background worker thread.
CELERY_BROKER_URL = envsecret("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = envstr("CELERY_RESULT_BACKEND", "")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "celery"
# On Redis, a task taken by a worker that then died (kill -9, a lost machine) is not
# acknowledged and goes back to the queue after this many seconds; a worker that dies
# cleanly (or whose pool process is killed) requeues it at once. A task running longer is
# delivered again too, which is harmless: the second delivery finds the job claimed.
ICELAB_BROKER_VISIBILITY_TIMEOUT = envint("ICELAB_BROKER_VISIBILITY_TIMEOUT", "3600")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": ICELAB_BROKER_VISIBILITY_TIMEOUT,
    # Look for such tasks a few times per timeout (kombu's default: every 100 s).
    "unacked_restore_interval": max(1, min(10, ICELAB_BROKER_VISIBILITY_TIMEOUT // 4)),
    "unacked_restore_throttle": 1,
    # A broker that does not answer fails a submission within seconds, leaving the job
    # queued with the reason (jobs.services.job_dispatch), instead of hanging the request.
    "socket_connect_timeout": 5,
}
# Job kinds registered for the gpu route go to this queue; run GPU workers with `-Q gpu`.
ICELAB_GPU_QUEUE = envstr("ICELAB_GPU_QUEUE", "gpu")
# A running job beats every ICELAB_JOB_HEARTBEAT_SECONDS; one silent for ICELAB_JOB_STALE_SECONDS
# is taken to have lost its worker and is run again, up to ICELAB_JOB_MAX_ATTEMPTS times.
ICELAB_JOB_HEARTBEAT_SECONDS = envint("ICELAB_JOB_HEARTBEAT_SECONDS", "30")
ICELAB_JOB_STALE_SECONDS = envint("ICELAB_JOB_STALE_SECONDS", "300")
ICELAB_JOB_MAX_ATTEMPTS = envint("ICELAB_JOB_MAX_ATTEMPTS", "3")

# Crowdsourcing platforms (studies/integrations). AWS credentials are boto3's own variables
# (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_PROFILE), read by boto3, never here.
# MTurk: the sandbox (no money moves) unless switched off; it chooses the requester endpoint
# and the worker submit URL together.
MTURK_SANDBOX = envbool("MTURK_SANDBOX", "true")
# Prolific researcher API token (workspace settings on Prolific). Empty: the API is not used.
PROLIFIC_API_TOKEN = envstr("PROLIFIC_API_TOKEN", "")
# The public https:// address participants reach ICE Lab at (MTurk HITs link to
# <ICELAB_PUBLIC_URL>/s/<slug>/). Empty: HITs cannot be made until it is set.
ICELAB_PUBLIC_URL = envstr("ICELAB_PUBLIC_URL", "")

# Cache: rate-limit counters. Local memory (the default) counts per process; a deployment
# with several web processes sets CACHE_URL (redis://host:6379/1) so they share one count.
_CACHE_URL = envsecret("CACHE_URL")
CACHES = {
    "default": (
        # While Redis is unreachable the counters live in each process (icelab/cache.py),
        # so participants are still served.
        {"BACKEND": "icelab.cache.RedisCacheWithLocalFallback", "LOCATION": _CACHE_URL}
        if _CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Content security policy (django-csp) for every page: our own scripts only, no plugins,
# no framing. Inline style attributes are allowed (the admin and the progress bar use
# them); inline scripts are not. Study pages widen frame-ancestors to MTurk only.
# A remote media storage (S3 and the like, docs/storage.md) serves stimuli from its own
# origin: list it in ICELAB_CSP_MEDIA_ORIGINS (https://bucket.s3.amazonaws.com).
ICELAB_CSP_MEDIA_ORIGINS = envlist("ICELAB_CSP_MEDIA_ORIGINS", "")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", *ICELAB_CSP_MEDIA_ORIGINS],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Rate limits (django-ratelimit), per client address; "<count>/<s|m|h|d>". Entering a study
# is generous: a whole classroom may share one NAT address. Admin logins: failed attempts.
ICELAB_RATE_STUDY_ENTRY = envstr("ICELAB_RATE_STUDY_ENTRY", "1000/h")
ICELAB_RATE_ADMIN_LOGIN = envstr("ICELAB_RATE_ADMIN_LOGIN", "10/15m")
RATELIMIT_VIEW = "icelab.ratelimits.too_many_requests"
RATELIMIT_IP_META_KEY = "icelab.ratelimits.client_ip"
# django-ratelimit knows neither Django's own Redis cache (atomic incr: fine) nor a local
# memory cache on purpose; icelab.checks warns under --deploy when counts are per process.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("DJANGO_LOG_LEVEL", "INFO")},
}
