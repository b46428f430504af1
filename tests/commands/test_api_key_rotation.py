"""The rotate_api_key and revoke_api_key commands (CONTRACT §2)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from tests.conftest import make_item
from tests.factories import run, run_json, signed

pytestmark = pytest.mark.django_db


def test_rotate_api_key_adds_a_secret_while_the_old_one_keeps_working(db):
    printed = run_json("create_api_key", "clf", "--organization", "acme")
    rotated = run_json("rotate_api_key", printed["key_id"])
    assert rotated["key_id"] == printed["key_id"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != printed["secret"]
    key = signed(printed["key_id"], printed["secret"])
    assert key.post(make_item(1)).status_code == 202
    assert key.post(make_item(2), secret=rotated["secret"]).status_code == 202


def test_rotate_api_key_retire_old_leaves_only_the_newest_secret(db):
    printed = run_json("create_api_key", "clf", "--organization", "acme")
    rotated = run_json("rotate_api_key", printed["key_id"])
    retired = run_json("rotate_api_key", printed["key_id"], "--retire-old")
    assert retired == {"key_id": printed["key_id"], "revoked": 1}
    key = signed(printed["key_id"], printed["secret"])
    assert key.post(make_item(1)).status_code == 401
    assert key.post(make_item(2), secret=rotated["secret"]).status_code == 202


def test_a_second_rotation_retires_the_oldest_secret(db):
    printed = run_json("create_api_key", "clf", "--organization", "acme")
    second = run_json("rotate_api_key", printed["key_id"])["secret"]
    third = run_json("rotate_api_key", printed["key_id"])["secret"]
    key = signed(printed["key_id"], printed["secret"])
    assert key.post(make_item(1)).status_code == 401
    assert key.post(make_item(2), secret=second).status_code == 202
    assert key.post(make_item(3), secret=third).status_code == 202


def test_revoke_api_key_stops_signing_and_reading_at_once(db):
    printed = run_json("create_api_key", "clf", "--organization", "acme")
    key = signed(printed["key_id"], printed["secret"])
    batch_id = key.post(make_item(1)).json()["batch_id"]
    rotated = run_json("rotate_api_key", printed["key_id"])["secret"]

    assert run("revoke_api_key", printed["key_id"]).strip() == f"revoked {printed['key_id']}"

    assert key.post(make_item(2)).status_code == 401
    assert key.post(make_item(3), secret=rotated).status_code == 401
    bearer = {"Authorization": f"Bearer {rotated}"}
    assert key.client.get(f"/api/v1/batches/{batch_id}", headers=bearer).status_code == 401


@pytest.mark.parametrize("command", ["rotate_api_key", "revoke_api_key"])
def test_key_commands_refuse_an_unknown_or_revoked_key(db, command):
    with pytest.raises(CommandError, match="no active API key"):
        run(command, "key_doesnotexist")
    printed = run_json("create_api_key", "clf", "--organization", "acme")
    run("revoke_api_key", printed["key_id"])
    with pytest.raises(CommandError, match="no active API key"):
        run(command, printed["key_id"])
