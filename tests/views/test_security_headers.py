"""Security headers on every answer (CONTRACT §8 v2): a Content-Security-Policy without
'unsafe-inline' or 'unsafe-eval' on every page, and pages that need none (no inline script, no
event handler attributes, no style attributes); `Cache-Control: no-store` on everything the
app's views serve (flagged content, personal data, exports, the API's answers); and, with
MODQUEUE_HTTPS on (CONTRACT §1 v2), a redirect to HTTPS, HSTS and secure cookies.

Every page is found by walking the URL patterns as tests/test_permissions.py does, and opened
as the first role its table lets see it.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.test import Client, override_settings

from moderation.services.ingest import batch_process
from tests.test_permissions import MATRIX, ROUTES, WHO, Route, World, path_of
from tests.test_settings import python

pytestmark = pytest.mark.django_db

POLICY = {
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


def policy_of(response: Any) -> dict[str, list[str]]:
    assert "Content-Security-Policy" in response, f"no CSP on {response.wsgi_request.path}"
    directives: dict[str, list[str]] = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def cache_control(response: Any) -> set[str]:
    return {d.strip() for d in response.get("Cache-Control", "").split(",") if d.strip()}


class InlineCode(HTMLParser):
    """What a strict CSP refuses in a page: inline scripts and styles, event handler
    attributes, style attributes and javascript: addresses."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._script_without_src = False
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if self._in_title:
            # A browser reads a title's content as text: a tag there is shown in the tab and
            # read out by screen readers, and a script there never runs.
            self.found.append(f"<{tag}> inside <title> at line {self.getpos()[0]}")
        self._in_title = self._in_title or tag == "title"
        if tag == "script" and "src" not in names:
            self.found.append(f"<script> without src at line {self.getpos()[0]}")
        if tag == "style":
            self.found.append(f"<style> element at line {self.getpos()[0]}")
        for name, value in attrs:
            if name.startswith("on") or name == "style" or name.startswith("hx-on"):
                self.found.append(f'<{tag} {name}="{value}"> at line {self.getpos()[0]}')
            if (value or "").strip().lower().startswith(("javascript:", "js:")):
                self.found.append(f'<{tag} {name}="{value}"> at line {self.getpos()[0]}')

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.found


def assert_strict(response: Any) -> None:
    """The policy forbids inline code and the page needs none; nothing may be stored."""
    path = response.wsgi_request.path
    policy = policy_of(response)
    sources = [s for values in policy.values() for s in values]
    assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources, policy
    assert policy.get("script-src") == ["'self'"], policy
    assert {"no-store", "private"} <= cache_control(response), (path, response["Cache-Control"])
    if response.get("Content-Type", "").startswith("text/html"):
        assert inline_code(response.content.decode()) == [], path


# --- Every page ---------------------------------------------------------------------------

PAGES = [r for r in ROUTES if r.name in MATRIX and "200" in MATRIX[r.name]["GET"]]


@pytest.fixture
def world(acme: Any) -> World:
    """tests/test_permissions.py's objects, one of each kind a URL names, made on demand."""
    return World(acme)


def test_the_walk_reaches_the_pages_that_show_content_and_personal_data():
    walked = {r.name for r in PAGES}
    assert {
        "login",
        "queue",
        "item",
        "subject",
        "enforcement",
        "appeals",
        "thresholds",
        "policy",
        "privacy",
        "audit",
        "classifier-report",
        "classifier-report-csv",
        "training-export",
    } <= walked, walked


@pytest.mark.parametrize("route", PAGES, ids=lambda r: r.name)
def test_every_page_has_the_policy_needs_no_inline_code_and_is_not_stored(
    route: Route, world: World
):
    who = WHO[MATRIX[route.name]["GET"].index("200")]
    response = world.client(who).get(path_of(route, world))
    assert response.status_code == 200
    assert_strict(response)


def test_the_policy_is_the_contracts(client):
    assert policy_of(client.get("/accounts/login/")) == POLICY


def test_the_refusals_have_it_too(reviewer_client):
    for path, status in (("/audit/", 403), ("/items/999999/", 404)):
        response = reviewer_client.get(path)
        assert response.status_code == status
        assert_strict(response)


def test_the_item_partials_that_htmx_swaps_in_need_no_inline_code(world: World):
    client = world.client("reviewer")
    item = world.item
    response = client.get(f"/items/{item.pk}/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert_strict(response)
    response = client.post(f"/items/{item.pk}/decide/", {}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert_strict(response)


TEMPLATES = sorted((Path(settings.BASE_DIR) / "templates").rglob("*.html"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_no_template_holds_inline_code(template: Path):
    # Every partial and the stand-alone 500 page too, whatever data a page happens to show.
    assert inline_code(template.read_text()) == []


def test_the_server_error_page_needs_no_inline_style():
    assert inline_code(render_to_string("500.html")) == []


def test_htmx_is_told_to_inject_no_style_and_evaluate_nothing(client):
    html = client.get("/accounts/login/").content.decode()
    start = html.index('<meta name="htmx-config" content=\'') + len('<meta name="htmx-config" ')
    config = json.loads(html[start:].split("'", 2)[1])
    assert config["includeIndicatorStyles"] is False
    assert config["allowEval"] is False


# --- No-store on what shows content or personal data --------------------------------------


def test_the_exports_are_not_stored(admin_client, record):
    export = admin_client.post(
        "/privacy/export/",
        {"organization": "acme", "kind": "hash", "user": record.subject.user_id_hash},
    )
    assert export.status_code == 200 and export["Content-Type"] == "application/json"
    training = admin_client.get("/exports/training.jsonl")
    assert training.status_code == 200
    b"".join(training.streaming_content)
    for response in (export, training):
        assert {"no-store", "private"} <= cache_control(response)
        assert "Content-Security-Policy" in response


def test_the_apis_answers_are_not_stored(signed_key, item):
    accepted = signed_key.post(item(1, user_id="u-1"))
    assert accepted.status_code == 202
    batch_process(batch_id=accepted.json()["batch_id"])
    status = signed_key.client.get(
        f"/api/v1/batches/{accepted.json()['batch_id']}", headers=signed_key.bearer()
    )
    lookup = signed_key.client.post(
        "/api/v1/subjects/lookup",
        data=json.dumps({"organization": "acme", "user_id": "u-1"}),
        content_type="application/json",
        headers=signed_key.bearer(),
    )
    assert (status.status_code, lookup.status_code) == (200, 200)
    for response in (accepted, status, lookup):
        assert {"no-store", "private"} <= cache_control(response)


def test_static_files_keep_their_own_caching():
    # WhiteNoise answers before the app's middleware: CSS and JS stay cacheable.
    with override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True):
        response = Client().get("/static/modqueue/app.css")
    response.close()
    assert response.status_code == 200
    assert "no-store" not in cache_control(response)


# --- HTTPS (CONTRACT §1 v2) ---------------------------------------------------------------

SHOW_HTTPS_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
names = ["SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
         "SECURE_HSTS_PRELOAD", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
         "SECURE_PROXY_SSL_HEADER", "CSRF_TRUSTED_ORIGINS"]
print(json.dumps({name: getattr(s, name) for name in names}))
"""


def https_settings(**env: str) -> dict[str, Any]:
    """The settings module's HTTPS settings under this environment, read in a fresh Python."""
    secrets = {"SECRET_KEY": "a-production-secret", "MODQUEUE_SUBJECT_PEPPER": "a-pepper"}
    done = python("-c", SHOW_HTTPS_SETTINGS, **secrets, **env)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    if shown["SECURE_PROXY_SSL_HEADER"] is not None:
        shown["SECURE_PROXY_SSL_HEADER"] = tuple(shown["SECURE_PROXY_SSL_HEADER"])
    return shown


@pytest.fixture(scope="module")
def behind_tls() -> dict[str, Any]:
    return https_settings(MODQUEUE_HTTPS="true")


def test_https_is_off_by_default_so_a_development_run_over_http_works():
    shown = https_settings()
    assert shown == {
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_PROXY_SSL_HEADER": None,
        "CSRF_TRUSTED_ORIGINS": [],
    }


def test_https_on_turns_on_what_a_deployment_behind_tls_needs(behind_tls):
    assert behind_tls == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 365 * 24 * 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
        "CSRF_TRUSTED_ORIGINS": [],
    }


def test_hsts_age_preload_and_trusted_origins_come_from_the_environment():
    shown = https_settings(
        MODQUEUE_HTTPS="true",
        MODQUEUE_HSTS_SECONDS="3600",
        MODQUEUE_HSTS_PRELOAD="false",
        CSRF_TRUSTED_ORIGINS="https://review.example, https://modqueue.example",
    )
    assert shown["SECURE_HSTS_SECONDS"] == 3600
    assert shown["SECURE_HSTS_PRELOAD"] is False
    assert shown["CSRF_TRUSTED_ORIGINS"] == ["https://review.example", "https://modqueue.example"]


def test_behind_tls_plain_http_is_redirected_to_https(behind_tls, client):
    with override_settings(**behind_tls):
        response = client.get("/queue/?shown=standard")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/queue/?shown=standard"


def test_behind_tls_https_answers_carry_hsts(behind_tls, client):
    with override_settings(**behind_tls):
        response = client.get("/accounts/login/", secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_behind_tls_the_proxys_header_marks_a_request_secure(behind_tls, client):
    # TLS ends at the proxy, which forwards plain HTTP with X-Forwarded-Proto: https.
    with override_settings(**behind_tls):
        response = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert "Strict-Transport-Security" in response


def test_behind_tls_the_cookies_are_secure(behind_tls, client, reviewer):
    with override_settings(**behind_tls):
        page = client.get("/accounts/login/", secure=True)
        logged_in = client.post(
            "/accounts/login/",
            {"username": "rita", "password": "correct horse battery staple"},
            secure=True,
        )
    assert logged_in.status_code == 302
    assert page.cookies[settings.CSRF_COOKIE_NAME]["secure"] is True
    assert logged_in.cookies[settings.SESSION_COOKIE_NAME]["secure"] is True
