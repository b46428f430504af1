"""The create_api_key command (CONTRACT §2)."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.management import CommandError

from moderation.models import ApiKey, Organization
from tests.conftest import make_item
from tests.factories import manage, run, run_json, signed

pytestmark = pytest.mark.django_db


def test_create_api_key_prints_the_key_as_one_json_object(acme):
    printed = run_json("create_api_key", "acme classifier", "--organization", "acme")
    assert set(printed) == {"key_id", "secret", "ingest_url"}
    assert printed["secret"].startswith("whsec_")
    assert len(base64.b64decode(printed["secret"].removeprefix("whsec_"))) == 32
    assert printed["ingest_url"] == f"/api/v1/flags/{printed['key_id']}"
    api_key = ApiKey.objects.get(key_id=printed["key_id"])
    assert api_key.name == "acme classifier"
    assert api_key.organization == acme
    assert Organization.objects.count() == 1


def test_create_api_key_creates_a_missing_organization(db):
    printed = run_json("create_api_key", "initech filter", "--organization", "initech")
    initech = Organization.objects.get(slug="initech")
    assert ApiKey.objects.get(key_id=printed["key_id"]).organization == initech


def test_create_api_key_without_an_organization_makes_an_unbound_key(acme):
    printed = run_json("create_api_key", "shared classifier")
    assert ApiKey.objects.get(key_id=printed["key_id"]).organization is None
    # An unbound key names the organization in every item.
    key = signed(printed["key_id"], printed["secret"])
    assert key.post(make_item(1)).status_code == 422
    assert key.post(make_item(1, organization="acme")).status_code == 202


def test_create_api_key_makes_a_new_key_each_time(db):
    first = run_json("create_api_key", "clf", "--organization", "acme")
    second = run_json("create_api_key", "clf", "--organization", "acme")
    assert first["key_id"] != second["key_id"]
    assert first["secret"] != second["secret"]


@pytest.mark.parametrize("slug", ["Not A Slug", "acme/evil", ""])
def test_create_api_key_refuses_an_organization_that_is_no_slug(db, slug):
    with pytest.raises(CommandError, match="slug"):
        run("create_api_key", "clf", "--organization", slug)
    assert not ApiKey.objects.exists()
    assert not Organization.objects.exists()


def test_the_printed_secret_signs_flags_the_api_accepts(db):
    printed = run_json("create_api_key", "acme classifier", "--organization", "acme")
    key = signed(printed["key_id"], printed["secret"])
    response = key.client.post(
        printed["ingest_url"],
        data=json.dumps(make_item(1)),
        content_type="application/json",
        headers=key.headers(json.dumps(make_item(1))),
    )
    assert response.status_code == 202
    status = key.client.get(f"/api/v1/batches/{response.json()['batch_id']}", headers=key.bearer())
    assert status.status_code == 200


# --- From a shell: stdout, stderr and exit status ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_create_api_key_prints_only_its_json_and_the_secret_works():
    done = manage("create_api_key", "shell classifier", "--organization", "initech")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert done.stdout.strip().count("\n") == 0
    key = signed(printed["key_id"], printed["secret"])
    assert key.api_key.organization.slug == "initech"
    assert key.post(make_item(1)).status_code == 202
