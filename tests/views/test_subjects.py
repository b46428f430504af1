"""/subjects/<organization>/<hash>/: status, counts, rate and history."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from moderation.models import (
    ActionKind,
    ActionState,
    AuditAction,
    AuditEvent,
    Delivery,
    EnforcementAction,
    SubjectStatus,
    Verdict,
)
from moderation.services import claims
from moderation.services.organizations import enforcement_endpoint_set
from moderation.views import subjects as subject_views
from tests.factories import FlaggedItemFactory, SubjectFactory, decide

pytestmark = pytest.mark.django_db


def test_it_shows_status_counts_and_history(client, reviewer):
    subject = SubjectFactory(violations=2, reviewed=4)
    item = FlaggedItemFactory(subject=subject, organization=subject.organization)
    claims.claim_next(user=reviewer)
    decide(item, Verdict.VIOLATION, "fraud", reviewer=reviewer, note="phishing kit")
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


# --- "Act on this user": a senior's or admin's own action, with a reason ----------------


def subject_url(subject) -> str:
    return f"/subjects/{subject.organization.slug}/{subject.user_id_hash}/"


def test_reviewers_neither_see_nor_use_the_act_form(client, reviewer):
    subject = SubjectFactory()
    client.force_login(reviewer)
    assert "Act on this user" not in client.get(subject_url(subject)).content.decode()
    response = client.post(f"{subject_url(subject)}act/", {"kind": "warn", "reason": "spam"})
    assert response.status_code == 403
    subject.refresh_from_db()
    assert subject.status == SubjectStatus.ACTIVE
    assert not EnforcementAction.objects.exists()


def test_acting_needs_a_signed_in_user(client, db):
    subject = SubjectFactory()
    response = client.post(f"{subject_url(subject)}act/", {"kind": "warn", "reason": "spam"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not EnforcementAction.objects.exists()


@pytest.mark.parametrize(
    ("kind", "status", "label"),
    [
        ("warn", SubjectStatus.WARNED, "Warn"),
        ("restrict", SubjectStatus.RESTRICTED, "Restrict"),
        ("remove", SubjectStatus.REMOVED, "Remove"),
    ],
)
@pytest.mark.parametrize("who", ["senior", "admin_user"])
def test_seniors_and_admins_act_with_a_reason(client, request, acme, who, kind, status, label):
    user = request.getfixturevalue(who)
    enforcement_endpoint_set(organization=acme, url="https://platform.example/enforcement")
    subject = SubjectFactory(organization=acme)
    client.force_login(user)
    page = client.get(subject_url(subject)).content.decode()
    assert "Act on this user" in page and 'name="reason" required' in page

    response = client.post(
        f"{subject_url(subject)}act/", {"kind": kind, "reason": "  ban evasion  "}, follow=True
    )
    assert response.redirect_chain == [(subject_url(subject), 302)]
    page = response.content.decode()
    assert f"{label} taken; the platform is being told." in page
    subject.refresh_from_db()
    assert subject.status == status
    action = subject.actions.get()
    assert (action.kind, action.state, action.decided_by, action.actor, action.reason) == (
        kind,
        ActionState.TAKEN,
        "reviewer",
        user,
        "ban evasion",
    )
    assert AuditEvent.objects.filter(
        action=AuditAction.ENFORCEMENT_TAKEN, actor=user, subject=subject
    ).exists()
    assert Delivery.objects.get(action=action).payload["data"]["action"] == kind
    # The page's history of actions shows it, with who took it and why.
    assert f'<span class="tag action-{kind}">{label}</span>' in page and "ban evasion" in page


def test_reinstate_brings_the_user_back_and_settles_a_waiting_removal(client, senior, acme):
    subject = SubjectFactory(organization=acme)
    decide(subject, Verdict.VIOLATION, "weapons", reviewer=senior)
    proposal = subject.actions.get(state=ActionState.PROPOSED)
    client.force_login(senior)
    response = client.post(
        f"{subject_url(subject)}act/",
        {"kind": "reinstate", "reason": "the account was compromised"},
        follow=True,
    )
    assert "Reinstate taken; the platform is being told." in response.content.decode()
    subject.refresh_from_db()
    proposal.refresh_from_db()
    assert subject.status == SubjectStatus.ACTIVE
    assert proposal.state == ActionState.REJECTED
    assert proposal.review_note.startswith("superseded by reinstate")


def test_acting_without_a_reason_is_refused(client, senior):
    subject = SubjectFactory()
    client.force_login(senior)
    response = client.post(
        f"{subject_url(subject)}act/", {"kind": "warn", "reason": " "}, follow=True
    )
    assert "Give the reason for this action." in response.content.decode()
    subject.refresh_from_db()
    assert subject.status == SubjectStatus.ACTIVE
    assert not EnforcementAction.objects.exists()


def test_an_action_that_changes_nothing_is_refused(client, senior):
    subject = SubjectFactory()
    client.force_login(senior)
    response = client.post(
        f"{subject_url(subject)}act/", {"kind": "reinstate", "reason": "why not"}, follow=True
    )
    assert "This user is already active." in response.content.decode()
    assert not EnforcementAction.objects.exists()


def test_acting_asks_for_a_known_action(client, senior):
    subject = SubjectFactory()
    client.force_login(senior)
    response = client.post(
        f"{subject_url(subject)}act/",
        {"kind": ActionKind.WARN + "-hard", "reason": "x"},
        follow=True,
    )
    assert "Choose an action." in response.content.decode()
    assert not EnforcementAction.objects.exists()
    assert client.get(f"{subject_url(subject)}act/").status_code == 405


# --- Undone and overturned decisions -------------------------------------------------------


def test_the_history_marks_undone_and_overturned_decisions_and_counts_only_final_ones(
    client, reviewer, senior
):
    from moderation.services.review import decision_overturn
    from moderation.services.undo import decision_undo

    subject = SubjectFactory()
    overturned = FlaggedItemFactory(subject=subject, organization=subject.organization)
    first = decide(
        overturned, Verdict.VIOLATION, "fraud", reviewer=reviewer, note="looked like a scam"
    )
    overturned.refresh_from_db()
    decision_overturn(
        item=overturned,
        user=senior,
        verdict=Verdict.NO_VIOLATION,
        categories=[],
        note="A fraud-awareness quiz, not a scam.",
    )
    undone = FlaggedItemFactory(subject=subject, organization=subject.organization)
    claims.claim_hand(item=undone, user=reviewer)
    taken_back = decide(undone, Verdict.VIOLATION, "fraud", reviewer=reviewer)
    decision_undo(decision=taken_back, user=reviewer)

    client.force_login(senior)
    response = client.get(f"/subjects/{subject.organization.slug}/{subject.user_id_hash}/")
    page = response.content.decode()
    # One standing final decision (no violation): the figures count it alone.
    figures = re.search(r'<dl class="figures figures-wide">(.*?)</dl>', page, re.S).group(1)
    assert "<dt>Violations</dt><dd>0</dd>" in figures
    assert "<dt>Reviewed</dt><dd>1</dd>" in figures
    assert "<dt>Violation rate</dt><dd>0%</dd>" in figures
    # Both voided decisions stay in the history, each marked with what happened to it.
    assert '<div class="decision-entry voided">' in page
    assert page.count('<span class="tag tag-void">overturned</span>') == 1
    assert page.count('<span class="tag tag-void">undone</span>') == 1
    assert "A fraud-awareness quiz, not a scam." in page and "looked like a scam" in page
    assert page.count('<span class="tag tag-final">final</span>') == 1
    history = response.context["history"]
    by_item = {item.pk: item for item in history}
    assert by_item[overturned.pk].standing_final.verdict == Verdict.NO_VIOLATION
    assert by_item[undone.pk].standing_final is None
    assert first.pk in {d.pk for d in by_item[overturned.pk].decisions.all()}


def test_the_history_is_paged_newest_first_with_a_link_to_the_older_items(
    client, reviewer, monkeypatch
):
    monkeypatch.setattr(subject_views, "HISTORY_PAGE", 3)
    subject = SubjectFactory()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    # Two items flagged at the same moment: the cursor tells them apart by id.
    moments = [start, start + timedelta(hours=1), start + timedelta(hours=1)]
    moments += [start + timedelta(hours=h) for h in (2, 3, 4)]
    items = [
        FlaggedItemFactory(subject=subject, organization=subject.organization, flagged_at=at)
        for at in moments
    ]
    newest_first = sorted(items, key=lambda i: (i.flagged_at, i.pk), reverse=True)
    client.force_login(reviewer)
    url = f"/subjects/{subject.organization.slug}/{subject.user_id_hash}/"

    first = client.get(url)
    assert [i.pk for i in first.context["history"]] == [i.pk for i in newest_first[:3]]
    older = re.search(r'href="(\?before=[^"]+)">Older items', first.content.decode())
    assert older, "a link to the older items"
    assert "Newest items" not in first.content.decode()

    second = client.get(url + older.group(1).replace("&amp;", "&"))
    assert [i.pk for i in second.context["history"]] == [i.pk for i in newest_first[3:]]
    page = second.content.decode()
    assert "Older items" not in page
    assert f'href="{url}">← Newest items' in page


def test_a_broken_history_link_is_a_clear_400_and_changes_nothing(client, reviewer):
    subject = SubjectFactory()
    FlaggedItemFactory(subject=subject, organization=subject.organization)
    client.force_login(reviewer)
    url = f"/subjects/{subject.organization.slug}/{subject.user_id_hash}/"
    for broken in ("yesterday_3", "2026-11-01T00:00:00+00:00_x", "nothing"):
        response = client.get(url, {"before": broken})
        assert response.status_code == 400
        assert "link to older items is broken" in response.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.SUBJECT_VIEW).exists()
