"""Retention: the text goes `retention_days` after the decision; nothing else does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from moderation import jobs
from moderation.models import (
    BatchStatus,
    EnforcementAction,
    FlaggedItem,
    InboundBatch,
    ItemState,
    PolicySettings,
    Signal,
    Subject,
    Verdict,
)
from moderation.services.rates import subject_recount
from moderation.services.retention import retention_erase
from tests.factories import FlaggedItemFactory, SignalFactory, SubjectFactory, decide

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def decided(subject: Subject, reviewer: Any, verdict: str = Verdict.VIOLATION, **fields: Any):
    """A new item of the subject with text and a signal, decided by the reviewer (`decide`)."""
    item = FlaggedItemFactory(
        subject=subject,
        prompt=fields.pop("prompt", f"prompt of {subject.pk}"),
        response="the response",
        metadata={"surface": "chat", "session": "s-1"},
        **fields,
    )
    SignalFactory(item=item, score=0.77)
    note = "scam script" if verdict == Verdict.VIOLATION else ""
    decide(item, verdict, "fraud", reviewer=reviewer, note=note)
    item.refresh_from_db()
    return item


def snapshot(subject: Subject) -> dict[str, Any]:
    """Everything about the subject that retention must leave as it is."""
    subject.refresh_from_db()
    items = FlaggedItem.objects.filter(subject=subject).order_by("pk")
    return {
        "figures": (subject.status, subject.violations, subject.reviewed, subject.updated_at),
        "items": list(items.values_list("pk", "request_id", "state", "decided_at", "queue")),
        "signals": list(
            Signal.objects.filter(item__subject=subject)
            .order_by("pk")
            .values_list("pk", "classifier", "category__slug", "label", "score")
        ),
        "decisions": [
            (d.pk, d.verdict, d.note, d.decided_at, sorted(c.slug for c in d.categories.all()))
            for item in items
            for d in item.decisions.all()
        ],
        "actions": list(
            EnforcementAction.objects.filter(subject=subject)
            .order_by("created_at")
            .values_list("pk", "kind", "state", "violations", "reviewed", "categories")
        ),
    }


@pytest.fixture
def subject(acme: Any) -> Subject:
    return SubjectFactory(organization=acme)


def test_the_default_retention_is_ninety_days(db):
    assert PolicySettings.current().retention_days == 90


def test_it_erases_the_text_of_items_decided_more_than_retention_days_ago(subject, reviewer):
    item = decided(subject, reviewer)
    later = item.decided_at + 90 * DAY + timedelta(seconds=1)
    assert retention_erase(now=later) == 1
    item.refresh_from_db()
    assert (item.prompt, item.response, item.metadata) == ("", "", {})
    assert item.content_erased_at == later


def test_it_keeps_the_text_of_younger_items(subject, reviewer):
    item = decided(subject, reviewer)
    assert retention_erase(now=item.decided_at + 89 * DAY) == 0
    assert retention_erase(now=item.decided_at + 90 * DAY) == 0  # exactly 90 days: not yet
    item.refresh_from_db()
    assert item.prompt.startswith("prompt of") and item.content_erased_at is None


def test_it_never_erases_undecided_items(subject, reviewer):
    waiting = FlaggedItemFactory(subject=subject, prompt="still waiting")
    escalated = decided(subject, reviewer, Verdict.ESCALATE)
    assert escalated.state == ItemState.ESCALATED
    assert retention_erase(now=timezone.now() + 1000 * DAY) == 0
    for item in (waiting, escalated):
        item.refresh_from_db()
        assert item.prompt and item.content_erased_at is None


def test_it_follows_the_admin_setting(subject, reviewer):
    settings = PolicySettings.current()
    settings.retention_days = 7
    settings.save()
    item = decided(subject, reviewer)
    assert retention_erase(now=item.decided_at + 6 * DAY) == 0
    assert retention_erase(now=item.decided_at + 8 * DAY) == 1


def test_it_erases_only_the_old_ones_among_many(subject, reviewer):
    now = timezone.now()
    old = [decided(subject, reviewer, Verdict.NO_VIOLATION) for _ in range(3)]
    young = [decided(subject, reviewer, Verdict.NO_VIOLATION) for _ in range(2)]
    FlaggedItem.objects.filter(pk__in=[i.pk for i in old]).update(decided_at=now - 120 * DAY)
    FlaggedItem.objects.filter(pk__in=[i.pk for i in young]).update(decided_at=now - 30 * DAY)
    assert retention_erase(now=now) == 3
    erased = set(
        FlaggedItem.objects.filter(content_erased_at__isnull=False).values_list("pk", flat=True)
    )
    assert erased == {i.pk for i in old}
    # Erased once: a second run finds nothing more.
    assert retention_erase(now=now) == 0


def test_it_erases_items_allowed_at_ingest_too(subject):
    now = timezone.now()
    allowed = FlaggedItemFactory(
        subject=subject, state=ItemState.ALLOWED, decided_at=now - 100 * DAY, prompt="allowed"
    )
    assert retention_erase(now=now) == 1
    allowed.refresh_from_db()
    assert allowed.prompt == "" and allowed.state == ItemState.ALLOWED


def test_it_leaves_signals_decisions_categories_actions_and_counts_as_they_were(subject, reviewer):
    for verdict in (Verdict.VIOLATION, Verdict.VIOLATION, Verdict.NO_VIOLATION):
        decided(subject, reviewer, verdict)
    before = snapshot(subject)
    assert before["figures"][1:3] == (2, 3) and before["actions"]
    assert retention_erase(now=timezone.now() + 91 * DAY) == 3
    assert snapshot(subject) == before
    # A recount from the decisions themselves agrees with the stored figures.
    figures = subject_recount(subject=subject)
    assert (figures.violations, figures.reviewed) == (2, 3)


def test_the_subject_page_and_the_item_page_render_for_erased_items(
    client, subject, reviewer, senior
):
    item = decided(subject, reviewer, prompt="a very distinctive prompt about scams")
    retention_erase(now=timezone.now() + 91 * DAY)
    client.force_login(senior)

    page = client.get(f"/items/{item.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "The text of this item was erased on" in html
    assert "distinctive prompt" not in html and "the response" not in html
    assert "Violence" in html and "0.77" in html  # its signal stays

    page = client.get(f"/subjects/acme/{subject.user_id_hash}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "text erased" in html
    assert "Violation" in html and "Fraud and scams" in html and "scam script" in html
    assert "<dt>Violations</dt><dd>1</dd>" in html


def test_the_periodic_job_runs_retention(subject, reviewer, redis_clean):
    item = decided(subject, reviewer, Verdict.NO_VIOLATION)
    young = decided(subject, reviewer, Verdict.NO_VIOLATION)
    FlaggedItem.objects.filter(pk=item.pk).update(decided_at=timezone.now() - 91 * DAY)
    jobs.periodic()
    item.refresh_from_db()
    young.refresh_from_db()
    assert item.prompt == "" and item.content_erased_at is not None
    assert young.prompt and young.content_erased_at is None


def test_it_drops_the_payload_of_batches_that_failed_long_ago(signed_key):
    old = InboundBatch.objects.create(
        api_key=signed_key.api_key,
        webhook_id="w-old",
        payload=[{"prompt": "old words"}],
        received=1,
        status=BatchStatus.FAILED,
        received_at=timezone.now() - timedelta(days=91),
    )
    young = InboundBatch.objects.create(
        api_key=signed_key.api_key,
        webhook_id="w-young",
        payload=[{"prompt": "new words"}],
        received=1,
        status=BatchStatus.FAILED,
    )
    retention_erase()
    old.refresh_from_db()
    young.refresh_from_db()
    assert old.payload is None
    assert young.payload == [{"prompt": "new words"}]
