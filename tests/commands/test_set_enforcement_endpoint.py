"""The set_enforcement_endpoint command (CONTRACT §2)."""

from __future__ import annotations

import json
from ipaddress import ip_address

import pytest
from django.core.management import CommandError

from moderation.models import AuditAction, AuditEvent, Organization
from moderation.services import addresses
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
    second = run_json(
        "set_enforcement_endpoint", "acme", "http://127.0.0.1:9000/b", "--allow-private"
    )
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


# --- v2: only public addresses, unless --allow-private (CONTRACT §2 v2, issue 9) ---------

INSIDE = [
    "http://127.0.0.1:9000/hook",
    "http://localhost:8000/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://172.16.5.4/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0:8000/hook",
    "http://[::1]:8000/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fd00::1]/hook",
    "http://[fe80::1]/hook",
]


@pytest.mark.parametrize("url", INSIDE)
def test_it_refuses_an_endpoint_inside_the_network(acme, url):
    with pytest.raises(CommandError, match="private or otherwise non-public.*--allow-private"):
        run("set_enforcement_endpoint", "acme", url)
    acme.refresh_from_db()
    assert (acme.enforcement_url, acme.enforcement_secret) == ("", "")
    assert not AuditEvent.objects.filter(action=AuditAction.ENDPOINT_CHANGE).exists()


def test_it_refuses_a_name_that_resolves_inside_the_network(acme, monkeypatch):
    monkeypatch.setattr(addresses, "resolve", lambda host: [ip_address("10.0.0.7")])
    with pytest.raises(CommandError, match=r"intranet\.acme resolves to .*10\.0\.0\.7"):
        run("set_enforcement_endpoint", "acme", "https://intranet.acme/hook")
    acme.refresh_from_db()
    assert acme.enforcement_url == ""


def test_it_refuses_a_name_with_any_private_address_among_public_ones(acme, monkeypatch):
    answers = [ip_address("93.184.215.14"), ip_address("::1")]
    monkeypatch.setattr(addresses, "resolve", lambda host: answers)
    with pytest.raises(CommandError, match="::1"):
        run("set_enforcement_endpoint", "acme", "https://mixed.acme/hook")
    acme.refresh_from_db()
    assert acme.enforcement_url == ""


def test_it_refuses_a_name_that_does_not_resolve(acme):
    with pytest.raises(CommandError, match=r"nowhere\.invalid does not resolve"):
        run("set_enforcement_endpoint", "acme", "https://nowhere.invalid/hook")
    acme.refresh_from_db()
    assert acme.enforcement_url == ""


def test_a_public_endpoint_is_accepted_without_the_allowance(acme):
    run_json("set_enforcement_endpoint", "acme", "https://93.184.215.14/hooks/enforce")
    acme.refresh_from_db()
    assert acme.enforcement_url == "https://93.184.215.14/hooks/enforce"
    assert acme.enforcement_allow_private is False


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "http://[::1]:8000/hook"])
def test_allow_private_accepts_an_endpoint_inside_the_network_and_is_kept(acme, url):
    printed = run_json("set_enforcement_endpoint", "acme", url, "--allow-private")
    acme.refresh_from_db()
    assert (acme.enforcement_url, acme.enforcement_secret) == (url, printed["secret"])
    assert acme.enforcement_allow_private is True


def test_setting_a_public_endpoint_later_drops_the_allowance(acme):
    run("set_enforcement_endpoint", "acme", "http://127.0.0.1:9000/hook", "--allow-private")
    run("set_enforcement_endpoint", "acme", "https://acme.example/hook")
    acme.refresh_from_db()
    assert acme.enforcement_allow_private is False


# --- v2: the change is audited (issue 9 finding 9) ---------------------------------------


def test_it_audits_the_change_with_the_hosts_and_never_the_secret_or_path(acme):
    run("set_enforcement_endpoint", "acme", "https://old.example/hooks/t0ken-in-path")
    printed = run_json(
        "set_enforcement_endpoint", "acme", "http://127.0.0.1:9000/x?k=1", "--allow-private"
    )
    first, second = AuditEvent.objects.filter(action=AuditAction.ENDPOINT_CHANGE).order_by("id")
    assert first.actor is None and first.target == "organization acme"
    assert first.detail == {
        "old_host": "",
        "new_host": "old.example",
        "allow_private": False,
        "via": "command line",
    }
    assert second.actor is None
    assert second.detail == {
        "old_host": "old.example",
        "new_host": "127.0.0.1:9000",
        "allow_private": True,
        "via": "command line",
    }
    logged = json.dumps([first.detail, second.detail, first.target, second.target])
    assert printed["secret"] not in logged and "whsec_" not in logged
    assert "t0ken" not in logged and "k=1" not in logged


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_a_private_endpoint_exits_non_zero_unless_allowed(acme):
    refused = manage("set_enforcement_endpoint", "acme", "http://169.254.169.254/latest/")
    assert refused.returncode != 0 and refused.stdout == ""
    assert "169.254.169.254" in refused.stderr and "--allow-private" in refused.stderr
    assert "Traceback" not in refused.stderr
    acme.refresh_from_db()
    assert acme.enforcement_url == ""

    allowed = manage("set_enforcement_endpoint", "acme", "http://[::1]:8000/h", "--allow-private")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["secret"].startswith("whsec_")
    acme.refresh_from_db()
    assert (acme.enforcement_url, acme.enforcement_allow_private) == ("http://[::1]:8000/h", True)
