"""The set_enforcement_endpoint command (CONTRACT §2)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from moderation.models import Organization
from tests.factories import manage, run, run_json

pytestmark = pytest.mark.django_db


def test_set_enforcement_endpoint_stores_the_url_and_prints_the_secret(acme):
    printed = run_json("set_enforcement_endpoint", "acme", "https://acme.example/hooks/enforce")
    assert set(printed) == {"secret"}
    assert printed["secret"].startswith("whsec_")
    acme.refresh_from_db()
    assert acme.enforcement_url == "https://acme.example/hooks/enforce"
    assert acme.enforcement_secret == printed["secret"]


def test_setting_the_endpoint_again_replaces_url_and_secret(acme):
    first = run_json("set_enforcement_endpoint", "acme", "https://acme.example/a")
    second = run_json("set_enforcement_endpoint", "acme", "http://127.0.0.1:9000/b")
    assert first["secret"] != second["secret"]
    acme.refresh_from_db()
    assert (acme.enforcement_url, acme.enforcement_secret) == (
        "http://127.0.0.1:9000/b",
        second["secret"],
    )


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "ftp://acme.example/hook",
        "javascript:alert(1)",
        "https://",
        "/relative",
        "https://acme.example/" + "a" * 2000,
    ],
    ids=["words", "ftp", "javascript", "no-host", "relative", "too-long"],
)
def test_set_enforcement_endpoint_refuses_a_bad_url(acme, url):
    with pytest.raises(CommandError, match="URL"):
        run("set_enforcement_endpoint", "acme", url)
    acme.refresh_from_db()
    assert (acme.enforcement_url, acme.enforcement_secret) == ("", "")


def test_set_enforcement_endpoint_refuses_an_unknown_organization(db):
    with pytest.raises(CommandError, match="initech"):
        run("set_enforcement_endpoint", "initech", "https://initech.example/hook")
    assert not Organization.objects.exists()


# --- From a shell: stdout, stderr and exit status ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_set_enforcement_endpoint_refusals_exit_non_zero(acme):
    unknown = manage("set_enforcement_endpoint", "initech", "https://initech.example/hook")
    assert unknown.returncode != 0
    assert "initech" in unknown.stderr and unknown.stdout == ""

    bad = manage("set_enforcement_endpoint", "acme", "ftp://acme.example/hook")
    assert bad.returncode != 0
    assert "ftp://acme.example/hook" in bad.stderr and bad.stdout == ""
    assert "Traceback" not in unknown.stderr + bad.stderr
    acme.refresh_from_db()
    assert acme.enforcement_url == ""
