"""ICE Lab settings. Every value comes from the environment; `.env.example` documents each one."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import envbool, envint, envlist, envstr

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = envbool("DJANGO_DEBUG", "false")
# The development key only works with DEBUG on, so a deployment can never run with it by accident.
_DEV_SECRET_KEY = "icelab-development-only-not-secret"
SECRET_KEY = envstr("DJANGO_SECRET_KEY", _DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. Set it to a long random string, or set DJANGO_DEBUG=1 for local use."
    )
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")

# Where every generated file goes: datasets, checkpoints, feature banks, stimuli, reports.
ICELAB_HOME = Path(envstr("ICELAB_HOME", str(BASE_DIR / "var"))).resolve()
# DataLoader worker processes that decode images for feature extraction (0 = in-process).
ICELAB_LOADER_WORKERS = envint("ICELAB_LOADER_WORKERS", "2")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "icelab",
    "explainers",
    "studies",
    "analysis",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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

_DATABASE_URL = envstr("DATABASE_URL", "")
if not _DATABASE_URL:
    # The embedded default: SQLite inside ICELAB_HOME, which must exist before SQLite opens the file.
    ICELAB_HOME.mkdir(parents=True, exist_ok=True)
    _DATABASE_URL = f"sqlite:///{ICELAB_HOME / 'icelab.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        _DATABASE_URL,
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", "0"),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = ICELAB_HOME / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = ICELAB_HOME / "media"

# Jobs: with no broker (the embedded default) they run in a local background worker thread.
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = envstr("CELERY_RESULT_BACKEND", "")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ROUTES = {"explainers.tasks.*": {"queue": envstr("ICELAB_GPU_QUEUE", "gpu")}}

# Crowdsourcing platforms (studies/integrations). AWS credentials are boto3's own variables
# (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or AWS_PROFILE), read by boto3, never here.
# MTurk: the sandbox (no money moves) unless switched off; it chooses the requester endpoint
# and the worker submit URL together.
MTURK_SANDBOX = envbool("MTURK_SANDBOX", "true")
# Prolific researcher API token (workspace settings on Prolific). Empty: the API is not used.
PROLIFIC_API_TOKEN = envstr("PROLIFIC_API_TOKEN", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("DJANGO_LOG_LEVEL", "INFO")},
}
