"""/audit/: admins read and filter the log; nobody else gets in."""

from __future__ import annotations

import pytest

from accounts.roles import Role, role_assign
from moderation.models import AuditAction, AuditEvent
from moderation.services import claims
from tests.factories import FlaggedItemFactory

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
