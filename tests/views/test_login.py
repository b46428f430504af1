"""Log in and out (CONTRACT §8), throttled after repeated failures."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_the_page_has_the_contract_labels(client):
    page = client.get("/accounts/login/").content.decode()
    assert '<label for="id_username">Username</label>' in page
    assert '<label for="id_password">Password</label>' in page
    assert ">Log in</button>" in page


def test_it_logs_in_and_goes_to_the_queue(client, reviewer):
    response = client.post("/accounts/login/", {"username": "rita", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/queue/"
    assert client.get("/queue/").status_code == 200


def test_it_says_when_the_password_is_wrong(client, reviewer):
    response = client.post("/accounts/login/", {"username": "rita", "password": "nope"})
    assert response.status_code == 200
    assert "did not match" in response.content.decode()


def test_it_pauses_log_in_after_five_failures(client, reviewer):
    for _ in range(5):
        client.post("/accounts/login/", {"username": "rita", "password": "nope"})
    locked = client.post("/accounts/login/", {"username": "rita", "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many attempts" in locked.content.decode()
    assert client.get("/queue/").status_code == 302


def test_failures_for_one_user_do_not_lock_another(client, reviewer, senior):
    for _ in range(6):
        client.post("/accounts/login/", {"username": "rita", "password": "nope"})
    response = client.post("/accounts/login/", {"username": "sam", "password": PASSWORD})
    assert response.status_code == 302


def test_log_out_needs_post(client, reviewer):
    client.force_login(reviewer)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/queue/").status_code == 302


def test_unknown_pages_get_the_projects_404(client, reviewer, settings):
    settings.DEBUG = False
    client.force_login(reviewer)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Not found" in response.content.decode()
