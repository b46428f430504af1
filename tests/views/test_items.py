"""The item page: read, decide by plain POST or htmx, conflicts, reveal, lease renewal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from moderation.models import (
    AuditAction,
    AuditEvent,
    Decision,
    FlaggedItem,
    ItemState,
    PolicyCategory,
    ReviewQueue,
)
from moderation.services import claims
from tests.factories import PASSWORD, FlaggedItemFactory, SignalFactory

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def hate() -> PolicyCategory:
    return PolicyCategory.objects.get(slug="hate")


def test_it_needs_a_signed_in_user(client):
    item = FlaggedItemFactory()
    response = client.get(f"/items/{item.pk}/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_it_shows_the_item_and_logs_the_view(reviewer_client, reviewer):
    item = FlaggedItemFactory(prompt="<script>alert(1)</script> how to hurt", response="No.")
    SignalFactory(item=item, score=0.87)
    claims.claim_next(user=reviewer)
    response = reviewer_client.get(f"/items/{item.pk}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; how to hurt" in page
    assert "<script>alert(1)" not in page
    for text in (
        item.request_id,
        item.organization.name,
        "0.87",
        "Violation",
        "No violation",
        "Escalate",
        "Skip",
        'for="id_note"',
        "Hate",
        "Child safety",
    ):
        assert text in page, text
    assert AuditEvent.objects.filter(
        action=AuditAction.ITEM_VIEW, item=item, actor=reviewer
    ).exists()


def test_it_folds_long_text(reviewer_client):
    item = FlaggedItemFactory(prompt="word " * 2000)
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "Show all 10000 characters" in page


def test_it_holds_critical_content_back_until_revealed(reviewer_client, reviewer):
    # Formerly blurred with CSS while in the page; now not sent until "Show content".
    item = FlaggedItemFactory(prompt="critical text")
    SignalFactory(item=item, category=PolicyCategory.objects.get(slug="child-safety"), label="S3")
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "critical text" not in page and "Show content" in page
    response = reviewer_client.post(f"/items/{item.pk}/reveal/")
    assert response.status_code == 302
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "critical text" in page and "Show content" not in page
    event = AuditEvent.objects.get(action=AuditAction.CONTENT_REVEAL)
    assert event.actor == reviewer and event.item == item


def test_a_plain_post_decides_and_redirects_to_the_next_item(reviewer_client, reviewer):
    first = FlaggedItemFactory(priority=900)
    second = FlaggedItemFactory(priority=100)
    claims.claim_next(user=reviewer)
    response = reviewer_client.post(
        f"/items/{first.pk}/decide/",
        {"verdict": "violation", "categories": [hate().pk], "note": "slur"},
    )
    assert response.status_code == 302 and response["Location"] == f"/items/{second.pk}/"
    first.refresh_from_db()
    assert first.state == ItemState.DECIDED
    second.refresh_from_db()
    assert second.claimed_by == reviewer


def test_an_htmx_post_returns_the_next_item_in_place(reviewer_client, reviewer):
    first = FlaggedItemFactory(priority=900)
    second = FlaggedItemFactory(priority=100, prompt="the second prompt")
    claims.claim_next(user=reviewer)
    response = reviewer_client.post(
        f"/items/{first.pk}/decide/", {"verdict": "no_violation"}, headers=HTMX
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page and "the second prompt" in page
    assert response["HX-Push-Url"] == f"/items/{second.pk}/"


def test_the_last_decision_shows_queue_empty(reviewer_client, reviewer):
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    response = reviewer_client.post(
        f"/items/{item.pk}/decide/", {"verdict": "no_violation"}, headers=HTMX
    )
    assert "Queue empty" in response.content.decode()
    assert response["HX-Push-Url"] == "/queue/"
    response = reviewer_client.post("/queue/next/")
    assert response.status_code == 302 and response["Location"] == "/queue/"


def test_bad_input_changes_nothing_and_says_why(reviewer_client, reviewer):
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    for data, message in [
        ({"verdict": "violation"}, "at least one policy category"),
        ({"verdict": "escalate", "note": ""}, "why you escalate"),
        ({"verdict": "maybe"}, "Choose Violation"),
        ({"verdict": "violation", "categories": [999999]}, "unknown policy category"),
    ]:
        response = reviewer_client.post(f"/items/{item.pk}/decide/", data, headers=HTMX)
        assert response.status_code == 422
        assert message in response.content.decode()
    assert not Decision.objects.exists()
    item.refresh_from_db()
    assert item.state == ItemState.CLAIMED and item.claimed_by == reviewer


def test_skip_releases_and_moves_on(reviewer_client, reviewer):
    first = FlaggedItemFactory(priority=900)
    second = FlaggedItemFactory(priority=100)
    claims.claim_next(user=reviewer)
    response = reviewer_client.post(f"/items/{first.pk}/decide/", {"verdict": "skip"})
    assert response["Location"] == f"/items/{second.pk}/"
    first.refresh_from_db()
    assert first.state == ItemState.PENDING and first.claimed_by is None
    assert not Decision.objects.exists()


def test_a_decision_on_an_item_someone_else_now_holds_is_a_conflict(
    reviewer_client, reviewer, senior
):
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    claims.claims_expire(now=timezone.now() + timedelta(minutes=11))
    claims.claim_next(user=senior)
    response = reviewer_client.post(
        f"/items/{item.pk}/decide/", {"verdict": "no_violation"}, headers=HTMX
    )
    assert response.status_code == 409
    page = response.content.decode()
    assert "Another reviewer (sam) has held this item since" in page
    assert "your decision was not recorded" in page
    assert not Decision.objects.exists()


def test_the_lease_is_renewed_while_the_page_is_open(reviewer_client, reviewer):
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    FlaggedItem.objects.filter(pk=item.pk).update(
        lease_expires_at=timezone.now() + timedelta(seconds=30)
    )
    assert reviewer_client.post(f"/items/{item.pk}/lease/").status_code == 204
    item.refresh_from_db()
    assert item.lease_expires_at > timezone.now() + timedelta(minutes=9)
    FlaggedItem.objects.filter(pk=item.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = reviewer_client.post(f"/items/{item.pk}/lease/", headers=HTMX)
    assert response.status_code == 409 and "lease" in response.content.decode()


def test_reviewers_cannot_open_escalated_items(reviewer_client):
    item = FlaggedItemFactory(queue=ReviewQueue.ESCALATED, state=ItemState.ESCALATED)
    assert reviewer_client.get(f"/items/{item.pk}/").status_code == 403
    assert (
        reviewer_client.post(f"/items/{item.pk}/decide/", {"verdict": "no_violation"}).status_code
        == 403
    )


def test_it_answers_404_for_an_unknown_item(reviewer_client):
    assert reviewer_client.get("/items/999999/").status_code == 404


def test_decide_rejects_get(reviewer_client):
    item = FlaggedItemFactory()
    assert reviewer_client.get(f"/items/{item.pk}/decide/").status_code == 405


def test_the_subject_panel_lists_the_users_last_items_with_verdicts(reviewer_client, reviewer):
    earlier = FlaggedItemFactory(priority=900)
    current = FlaggedItemFactory(
        priority=100, subject=earlier.subject, organization=earlier.organization
    )
    claims.claim_next(user=reviewer)
    reviewer_client.post(
        f"/items/{earlier.pk}/decide/", {"verdict": "violation", "categories": [hate().pk]}
    )
    page = reviewer_client.get(f"/items/{current.pk}/").content.decode()
    assert f"#{earlier.pk}</a>" in page
    assert 'class="verdict verdict-violation">Violation' in page


def test_a_signed_in_user_without_a_role_gets_403_on_every_page_and_action(roleless_client, acme):
    item = FlaggedItemFactory(subject__organization=acme)
    pk = item.pk
    for method, url, data in [
        ("get", f"/items/{pk}/", {}),
        ("post", f"/items/{pk}/decide/", {"verdict": "no_violation"}),
        ("post", f"/items/{pk}/lease/", {}),
        ("post", f"/items/{pk}/reveal/", {}),
        ("post", f"/items/{pk}/reveal-personal-data/", {"reason": "curious"}),
        ("post", f"/items/{pk}/undo/", {}),
        ("post", f"/items/{pk}/overturn/", {"verdict": "violation", "note": "n"}),
        ("get", "/queue/", {}),
        ("post", "/queue/next/", {}),
        ("get", f"/subjects/acme/{item.subject.user_id_hash}/", {}),
    ]:
        for headers in ({}, HTMX):
            response = getattr(roleless_client, method)(url, data, headers=headers)
            assert response.status_code == 403, (method, url, headers)
    item.refresh_from_db()
    assert item.state == ItemState.PENDING and item.claimed_by is None
    assert not Decision.objects.exists()
    assert not AuditEvent.objects.exclude(action=AuditAction.ROLE_CHANGE).exists()


def test_a_user_without_a_role_can_still_log_out_and_in(roleless_client):
    assert roleless_client.post("/accounts/logout/").status_code == 302
    assert roleless_client.get("/accounts/login/").status_code == 200
    response = roleless_client.post(
        "/accounts/login/", {"username": "nobody", "password": PASSWORD}, follow=False
    )
    assert response.status_code == 302
    assert roleless_client.get("/queue/").status_code == 403


def test_a_hand_made_decision_on_an_allowed_item_is_refused_and_changes_nothing(reviewer_client):
    item = FlaggedItemFactory(state=ItemState.ALLOWED)
    subject = item.subject
    figures = (subject.violations, subject.reviewed, subject.status)
    response = reviewer_client.post(
        f"/items/{item.pk}/decide/", {"verdict": "violation", "categories": [hate().pk]}
    )
    assert response.status_code == 409
    item.refresh_from_db()
    subject.refresh_from_db()
    assert item.state == ItemState.ALLOWED
    assert not Decision.objects.exists()
    assert not AuditEvent.objects.filter(
        action__in=[AuditAction.ITEM_DECIDE, AuditAction.ITEM_ESCALATE]
    ).exists()
    assert (subject.violations, subject.reviewed, subject.status) == figures
    assert not subject.actions.exists()
