"""/subjects/<organization>/<hash>/: status, counts, rate and history."""

from __future__ import annotations

import pytest

from moderation.models import AuditAction, AuditEvent, PolicyCategory, Verdict
from moderation.services import claims
from moderation.services.review import decision_record
from tests.factories import FlaggedItemFactory, SubjectFactory

pytestmark = pytest.mark.django_db


def test_it_shows_status_counts_and_history(client, reviewer):
    subject = SubjectFactory(violations=2, reviewed=4)
    item = FlaggedItemFactory(subject=subject, organization=subject.organization)
    claims.claim_next(user=reviewer)
    decision_record(
        item=item,
        reviewer=reviewer,
        verdict=Verdict.VIOLATION,
        categories=[PolicyCategory.objects.get(slug="fraud")],
        note="phishing kit",
    )
    client.force_login(reviewer)
    url = f"/subjects/{subject.organization.slug}/{subject.user_id_hash}/"
    page = client.get(url).content.decode()
    # One violation of one reviewed: the figures are recounted and the warn threshold met.
    for text in (
        "Warned",
        "100%",
        f"#{item.pk}",
        "Violation",
        "Fraud and scams",
        "phishing kit",
        "rita",
    ):
        assert text in page, text
    assert AuditEvent.objects.filter(action=AuditAction.SUBJECT_VIEW, subject=subject).exists()


def test_it_answers_404_for_unknown_subjects(client, reviewer):
    subject = SubjectFactory()
    client.force_login(reviewer)
    assert client.get(f"/subjects/{subject.organization.slug}/{'0' * 64}/").status_code == 404
    assert client.get(f"/subjects/nope/{subject.user_id_hash}/").status_code == 404
