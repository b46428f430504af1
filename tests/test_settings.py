"""Settings from the environment only (CONTRACT §1, STYLE habit 9): strict, safe, working defaults.

Settings are read once, at import, so each case starts a fresh Python with a clean environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from moderation.settings import env_bool, env_int

BASE_DIR = Path(django_settings.BASE_DIR)
SECRETS = {"SECRET_KEY": "a-production-secret", "MODQUEUE_SUBJECT_PEPPER": "a-production-pepper"}

SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG,
    "SECRET_KEY": s.SECRET_KEY,
    "MODQUEUE_SUBJECT_PEPPER": s.MODQUEUE_SUBJECT_PEPPER,
    "ENGINE": s.DATABASES["default"]["ENGINE"],
    "INLINE_JOBS": s.MODQUEUE_INLINE_JOBS,
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "STATICFILES": s.STORAGES["staticfiles"]["BACKEND"],
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
}))
"""


def clean_env(**env: str) -> dict[str, str]:
    """Nothing of this test run's environment but PATH: no DATABASE_URL, no secrets."""
    return {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", **env}


def python(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        cwd=BASE_DIR,
        env=clean_env(DJANGO_SETTINGS_MODULE="moderation.settings", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def check(**env: str) -> subprocess.CompletedProcess[str]:
    return python("manage.py", "check", **env)


def settings_under(**env: str) -> dict[str, Any]:
    done = python("-c", SHOW_SETTINGS, **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --- Production refuses to start without its secrets -------------------------------------


def test_production_refuses_to_start_without_a_secret_key():
    done = check(MODQUEUE_SUBJECT_PEPPER="a-production-pepper")
    assert done.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in done.stderr
    assert "DEBUG=true" in done.stderr


def test_production_refuses_to_start_without_the_subject_pepper():
    done = check(SECRET_KEY="a-production-secret")
    assert done.returncode != 0
    assert "ImproperlyConfigured: MODQUEUE_SUBJECT_PEPPER is not set" in done.stderr


@pytest.mark.parametrize("debug", ["false", ""])
def test_debug_off_by_any_name_still_requires_the_secrets(debug):
    done = check(DEBUG=debug)
    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr


def test_an_empty_secret_counts_as_missing():
    done = check(SECRET_KEY="", MODQUEUE_SUBJECT_PEPPER="a-production-pepper")
    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr


def test_the_wsgi_server_refuses_to_start_without_the_secrets_too():
    done = python("-c", "import moderation.wsgi", SECRET_KEY="a-production-secret")
    assert done.returncode != 0
    assert "MODQUEUE_SUBJECT_PEPPER is not set" in done.stderr


def test_production_starts_with_its_secrets():
    done = check(**SECRETS)
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


# --- DEBUG is parsed strictly ------------------------------------------------------------


def test_a_debug_value_that_is_no_boolean_is_refused():
    done = check(DEBUG="maybe", **SECRETS)
    assert done.returncode != 0
    assert "ImproperlyConfigured: DEBUG must be one of" in done.stderr
    assert "not 'maybe'" in done.stderr


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
        ("", False),
    ],
)
def test_booleans_accept_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert env_bool("SOME_FLAG") is expected


@pytest.mark.parametrize("raw", ["maybe", "y", "t", "1.0", "truthy"])
def test_booleans_refuse_anything_else(monkeypatch, raw):
    monkeypatch.setenv("SOME_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        env_bool("SOME_FLAG")


def test_an_unset_boolean_takes_its_default(monkeypatch):
    monkeypatch.delenv("SOME_FLAG", raising=False)
    assert env_bool("SOME_FLAG") is False
    assert env_bool("SOME_FLAG", default=True) is True


def test_whole_numbers_are_parsed_strictly(monkeypatch):
    monkeypatch.setenv("SOME_NUMBER", "45")
    assert env_int("SOME_NUMBER", 7) == 45
    monkeypatch.setenv("SOME_NUMBER", "")
    assert env_int("SOME_NUMBER", 7) == 7
    monkeypatch.setenv("SOME_NUMBER", "soon")
    with pytest.raises(ImproperlyConfigured, match="SOME_NUMBER"):
        env_int("SOME_NUMBER", 7)


def test_a_number_setting_that_is_no_number_is_refused_at_start():
    done = check(MODQUEUE_SWEEP_STALE_SECONDS="a minute", **SECRETS)
    assert done.returncode != 0
    assert "MODQUEUE_SWEEP_STALE_SECONDS must be a whole number" in done.stderr


# --- Development works with nothing set but DEBUG ----------------------------------------


def test_debug_true_gives_working_development_defaults():
    done = check(DEBUG="true")
    assert done.returncode == 0, done.stderr
    shown = settings_under(DEBUG="true")
    assert shown["DEBUG"] is True
    assert shown["SECRET_KEY"] and shown["MODQUEUE_SUBJECT_PEPPER"]
    assert shown["ENGINE"] == "django.db.backends.sqlite3"
    assert shown["INLINE_JOBS"] is True
    assert shown["STATICFILES"] == "django.contrib.staticfiles.storage.StaticFilesStorage"
    assert {"127.0.0.1", "localhost"} <= set(shown["ALLOWED_HOSTS"])


def test_debug_is_off_unless_asked_for():
    shown = settings_under(**SECRETS)
    assert shown["DEBUG"] is False
    assert shown["SECRET_KEY"] == "a-production-secret"
    assert shown["MODQUEUE_SUBJECT_PEPPER"] == "a-production-pepper"
    assert shown["STATICFILES"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_secrets_from_the_environment_win_over_the_development_defaults():
    shown = settings_under(DEBUG="true", **SECRETS)
    assert shown["SECRET_KEY"] == "a-production-secret"
    assert shown["MODQUEUE_SUBJECT_PEPPER"] == "a-production-pepper"


def test_redis_and_database_come_from_their_urls():
    shown = settings_under(
        DATABASE_URL="postgres://someone@db.internal:5432/modqueue",
        REDIS_URL="redis://cache.internal:6379/0",
        ALLOWED_HOSTS="modqueue.example, review.example",
        SECURE_COOKIES="true",
        **SECRETS,
    )
    assert shown["ENGINE"] == "django.db.backends.postgresql"
    assert shown["INLINE_JOBS"] is False
    assert shown["ALLOWED_HOSTS"] == ["modqueue.example", "review.example"]
    assert shown["SESSION_COOKIE_SECURE"] is True
