"""Django's deployment checks pass behind TLS (CONTRACT §1 v2): with MODQUEUE_HTTPS=true, DEBUG
off and a strong SECRET_KEY, `manage.py check --deploy --fail-level WARNING` exits 0; without
MODQUEUE_HTTPS it still names the HTTPS warnings, so the setting is what fixes them.

Settings are read once, at import, so each case runs the command in a fresh Python with a clean
environment (tests/test_settings.py's helpers).
"""

from __future__ import annotations

import os
import re

from tests.test_settings import python

# 50+ characters, many of them distinct: what Django's security.W009 asks of a SECRET_KEY.
STRONG_KEY = "Zq7#mK2$vR9!pL4@wX8^nB3&cT6*hJ1%dF5(gY0)sA-eU+iO=kQ_lMv"
PRODUCTION = {
    "SECRET_KEY": STRONG_KEY,
    "MODQUEUE_SUBJECT_PEPPER": "a-production-pepper",
    "ALLOWED_HOSTS": "modqueue.example",
    # A production-like database address; the checks run without connecting to it.
    "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://modqueue@db.internal/modqueue"),
    "REDIS_URL": "redis://cache.internal:6379/0",
}


def check_deploy(**env: str) -> tuple[int, str]:
    done = python("manage.py", "check", "--deploy", "--fail-level", "WARNING", **env)
    return done.returncode, done.stdout + done.stderr


def warnings_in(output: str) -> set[str]:
    return set(re.findall(r"\(([\w.]+\.[EW]\d{3})\)", output))


def test_the_deploy_check_passes_with_https_on():
    code, output = check_deploy(MODQUEUE_HTTPS="true", **PRODUCTION)
    assert code == 0, output
    assert warnings_in(output) == set(), output
    assert "no issues (0 silenced)" in output


def test_without_https_the_deploy_check_names_the_https_warnings():
    code, output = check_deploy(**PRODUCTION)
    assert code != 0
    assert {
        "security.W004",  # no HSTS
        "security.W008",  # no redirect to HTTPS
        "security.W012",  # session cookie sent over plain HTTP
        "security.W016",  # CSRF cookie sent over plain HTTP
    } <= warnings_in(output), output


def test_the_old_secure_cookies_flag_still_secures_the_cookies_alone():
    code, output = check_deploy(SECURE_COOKIES="true", **PRODUCTION)
    assert code != 0
    found = warnings_in(output)
    assert {"security.W004", "security.W008"} <= found, output
    assert not found & {"security.W012", "security.W016"}, output


def test_a_weak_secret_key_still_fails_it():
    code, output = check_deploy(MODQUEUE_HTTPS="true", **{**PRODUCTION, "SECRET_KEY": "short"})
    assert code != 0
    assert warnings_in(output) == {"security.W009"}, output


def test_turning_hsts_preload_off_is_the_operators_visible_choice():
    code, output = check_deploy(MODQUEUE_HTTPS="true", MODQUEUE_HSTS_PRELOAD="false", **PRODUCTION)
    assert code != 0
    assert warnings_in(output) == {"security.W021"}, output
