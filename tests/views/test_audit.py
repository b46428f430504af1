"""/audit/: admins read and filter the log; nobody else gets in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from moderation.models import AuditAction, AuditEvent, PolicyCategory
from moderation.services import claims, policy
from moderation.services.policy import policy_settings_save
from moderation.services.roles import role_assign
from moderation.services.subject_rights import subject_erase, subject_export
from tests.factories import FlaggedItemFactory, SubjectFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who", ["reviewer", "senior"])
def test_it_is_for_admins_only(client, request, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get("/audit/").status_code == 403


def test_it_lists_and_filters_events(client, admin_user, reviewer):
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    role_assign(user=reviewer, role=Role.SENIOR, actor=admin_user)
    client.force_login(admin_user)

    def shown(**query: str) -> set[tuple[str, str | None]]:
        events = client.get("/audit/", query).context["events"]
        return {(e.action, e.actor.username if e.actor else None) for e in events}

    page = client.get("/audit/").content.decode()
    assert f"item #{item.pk}" in page and "Changed role" in page
    assert (AuditAction.ITEM_CLAIM, "rita") in shown()
    assert {action for action, _ in shown(action=AuditAction.ROLE_CHANGE)} == {
        AuditAction.ROLE_CHANGE
    }
    assert shown(actor="rita") == {(AuditAction.ITEM_CLAIM, "rita")}
    assert (AuditAction.ROLE_CHANGE, "ada") in shown(actor="ada")
    assert all(actor is None for _, actor in shown(actor="system"))


def test_it_pages_with_a_cursor(client, admin_user):
    already = AuditEvent.objects.count()
    for _ in range(60 - already):
        AuditEvent.objects.create(action=AuditAction.ITEM_VIEW, target="x")
    client.force_login(admin_user)
    first = client.get("/audit/")
    cursor = first.context["next_cursor"]
    assert len(first.context["events"]) == 50 and cursor
    second = client.get("/audit/", {"before": cursor})
    assert len(second.context["events"]) == 10
    ids = {e.pk for e in first.context["events"]} | {e.pk for e in second.context["events"]}
    assert len(ids) == 60


def test_role_changes_are_logged_with_before_and_after(admin_user, reviewer):
    role_assign(user=reviewer, role=Role.ADMIN, actor=admin_user)
    event = AuditEvent.objects.get(action=AuditAction.ROLE_CHANGE, target="rita", actor=admin_user)
    assert event.actor == admin_user and event.detail == {"from": "reviewer", "to": "admin"}


# --- Every detail the app writes, and filters typed by hand ------------------------------


def test_it_shows_the_events_of_an_export_and_an_erasure(client, admin_user, acme):
    # Their detail holds a count under the key "items": the page once iterated over it (500).
    subject = SubjectFactory(organization=acme)
    subject_export(subject=subject, actor=admin_user, via="app")
    subject_erase(subject=subject, actor=admin_user, via="app")
    client.force_login(admin_user)
    response = client.get("/audit/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Exported user data" in page and "Erased user data" in page
    assert "via: app · items: 0" in page


def test_it_shows_every_shape_of_detail_in_words(client, admin_user, acme):
    policy_settings_save(audit_sample_rate=0.1, retention_days=30, user=admin_user)
    policy.exception_grant(
        organization=acme,
        category=PolicyCategory.objects.get(slug="fraud"),
        scope="Fraud research",
        reference="CTR-1",
        valid_until=timezone.now() + timedelta(days=9),
        approved_by=admin_user,
    )
    AuditEvent.objects.create(action=AuditAction.ITEM_VIEW, detail=["a", "list"])
    AuditEvent.objects.create(action=AuditAction.ITEM_VIEW, detail={"nested": {"deep": [1, None]}})
    AuditEvent.objects.create(action=AuditAction.ITEM_VIEW, detail=7)
    client.force_login(admin_user)
    response = client.get("/audit/")
    assert response.status_code == 200
    page = response.content.decode()
    # PostgreSQL's jsonb keeps its own key order: look for each part.
    for words in ("before: ", "retention_days 90", "audit_sample_rate 0.05", "after: "):
        assert words in page, words
    assert "retention_days 30" in page and "audit_sample_rate 0.1" in page
    assert "reference: CTR-1" in page
    assert "nested: deep 1, none" in page
    assert "a, list" in page and ">7<" in page


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"since": "2026-13-45"}, "since", "a date, YYYY-MM-DD"),
        ({"until": "yesterday"}, "until", "a date, YYYY-MM-DD"),
        ({"item": "²"}, "item", "an item number"),
        ({"item": "-3"}, "item", "an item number"),
        ({"item": "99999999999999999999999"}, "item", "an item number"),
        ({"actor": "ri\x00ta"}, "actor", "Null characters are not allowed"),
        ({"action": "item.nonsense"}, "action", "not one of the actions"),
        ({"before": "2026-99-01T00:00:00_12"}, "before", "Start again from the newest"),
        ({"before": "2026-01-01T00:00:00+00:00_²"}, "before", "Start again from the newest"),
    ],
)
def test_a_malformed_filter_is_refused_with_a_message_never_a_500(
    client, admin_user, query, field, message
):
    AuditEvent.objects.create(action=AuditAction.ITEM_VIEW, target="x")
    client.force_login(admin_user)
    response = client.get("/audit/", query)
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    assert response.context["errors"].keys() == {field}
    assert 'role="alert"' in page
    # Nothing is listed under a filter that could not be read.
    assert response.context["events"] == []


def test_a_well_formed_filter_still_filters(client, admin_user, reviewer):
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    client.force_login(admin_user)
    response = client.get(
        "/audit/", {"item": str(item.pk), "since": "2000-01-01", "until": "2999-12-31"}
    )
    assert response.status_code == 200
    assert {e.item_id for e in response.context["events"]} == {item.pk}
