"""Policy exceptions: a vetted organization may do what a category forbids, never a hard limit."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from moderation import selectors
from moderation.api.schema import validate_items
from moderation.models import (
    ActionKind,
    AuditAction,
    AuditEvent,
    Decision,
    EnforcementAction,
    FlaggedItem,
    ItemState,
    Organization,
    PolicyCategory,
    PolicyException,
    PolicySettings,
    ReviewQueue,
    Subject,
    SubjectStatus,
    Verdict,
)
from moderation.services import claims, policy
from moderation.services.ingest import batch_accept, batch_process
from moderation.services.organizations import api_key_create
from moderation.services.policy import ExceptionRefused, audit_sampled, exception_grant
from moderation.services.review import decision_record
from tests.conftest import make_item
from tests.factories import HARD_LIMITS, SubjectFactory, category, decide

pytestmark = pytest.mark.django_db


def grant(organization: Organization, slug: str = "foreign-intelligence", **dates: Any):
    return exception_grant(
        organization=organization,
        category=category(slug),
        scope="Analysis of foreign state actors for a vetted agency",
        reference="CTR-2026-017",
        valid_until=dates.pop("valid_until", timezone.now() + timedelta(days=365)),
        **dates,
    )


def violation(organization: Organization, reviewer: Any, *slugs: str) -> Decision:
    """A new item of a new user of the organization, decided a violation in these categories."""
    return decide(
        SubjectFactory(organization=organization), Verdict.VIOLATION, *slugs, reviewer=reviewer
    )


def figures(decision: Decision) -> Subject:
    return Subject.objects.get(pk=decision.item.subject_id)


# --- Granting ------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", HARD_LIMITS)
def test_it_refuses_an_exception_for_every_hard_limit(acme, admin_user, slug):
    with pytest.raises(ExceptionRefused) as refused:
        exception_grant(
            organization=acme,
            category=category(slug),
            scope="anything",
            reference="CTR-1",
            valid_until=timezone.now() + timedelta(days=30),
            approved_by=admin_user,
        )
    message = str(refused.value)
    assert "hard limit" in message and slug in message
    assert category(slug).name in message
    assert not PolicyException.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.EXCEPTION_GRANT).exists()


def test_the_seven_hard_limits_are_all_the_hard_limits():
    assert set(
        PolicyCategory.objects.filter(hard_limit=True).values_list("slug", flat=True)
    ) == set(HARD_LIMITS)


def test_it_grants_an_exception_for_foreign_intelligence_and_audits_it(acme, admin_user):
    until = timezone.now() + timedelta(days=90)
    exception = exception_grant(
        organization=acme,
        category=category("foreign-intelligence"),
        scope="  Analysis of foreign state actors ",
        reference=" CTR-2026-017 ",
        valid_until=until,
        approved_by=admin_user,
    )
    exception.refresh_from_db()
    assert exception.organization == acme and exception.category.slug == "foreign-intelligence"
    assert exception.scope == "Analysis of foreign state actors"
    assert exception.reference == "CTR-2026-017"
    assert exception.valid_from <= timezone.now() < exception.valid_until == until
    assert exception.approved_by == admin_user and exception.revoked_at is None
    event = AuditEvent.objects.get(action=AuditAction.EXCEPTION_GRANT)
    assert event.actor == admin_user and event.target == "acme:foreign-intelligence"
    assert event.detail["exception"] == exception.pk
    assert event.detail["reference"] == "CTR-2026-017"


@pytest.mark.parametrize("slug", ["weapons", "child-safety"])
def test_the_database_refuses_a_hard_limit_exception_inserted_directly(acme, slug):
    now = timezone.now()
    with pytest.raises(DatabaseError, match=r"hard.limit"), transaction.atomic():
        PolicyException.objects.create(
            organization=acme,
            category=category(slug),
            scope="bypassing the service",
            reference="none",
            valid_from=now,
            valid_until=now + timedelta(days=1),
        )
    assert not PolicyException.objects.exists()


def test_the_database_refuses_moving_an_exception_onto_a_hard_limit(acme):
    exception = grant(acme)
    with pytest.raises(DatabaseError, match=r"hard.limit"), transaction.atomic():
        PolicyException.objects.filter(pk=exception.pk).update(category=category("weapons"))
    exception.refresh_from_db()
    assert exception.category.slug == "foreign-intelligence"


def test_the_model_validation_refuses_a_hard_limit(acme):
    now = timezone.now()
    candidate = PolicyException(
        organization=acme,
        category=category("mass-surveillance"),
        scope="s",
        reference="r",
        valid_from=now,
        valid_until=now + timedelta(days=1),
    )
    with pytest.raises(ValidationError) as invalid:
        candidate.full_clean()
    assert "category" in invalid.value.message_dict
    assert "hard limit" in invalid.value.message_dict["category"][0]


def test_the_model_validation_refuses_an_end_before_the_start(acme):
    now = timezone.now()
    candidate = PolicyException(
        organization=acme,
        category=category("foreign-intelligence"),
        scope="s",
        reference="r",
        valid_from=now,
        valid_until=now - timedelta(days=1),
    )
    with pytest.raises(ValidationError) as invalid:
        candidate.full_clean()
    assert "valid_until" in invalid.value.message_dict


@pytest.mark.parametrize(
    "start, end",
    [
        (timedelta(days=0), timedelta(days=-1)),  # ends before it starts
        (timedelta(days=10), timedelta(days=10)),  # ends as it starts
        (timedelta(days=10), timedelta(days=5)),
    ],
)
def test_it_refuses_dates_that_make_no_sense(acme, start, end):
    now = timezone.now()
    with pytest.raises(ExceptionRefused, match="end after it starts"):
        grant(acme, valid_from=now + start, valid_until=now + end)
    assert not PolicyException.objects.exists()


def test_an_exception_without_a_start_ending_in_the_past_is_refused(acme):
    with pytest.raises(ExceptionRefused):
        grant(acme, valid_until=timezone.now() - timedelta(days=1))
    assert not PolicyException.objects.exists()


@pytest.mark.parametrize("scope, reference", [("  ", "CTR-1"), ("analysis", "")])
def test_it_refuses_an_exception_without_scope_or_reference(acme, scope, reference):
    with pytest.raises(ExceptionRefused, match="scope and its contract reference"):
        exception_grant(
            organization=acme,
            category=category("foreign-intelligence"),
            scope=scope,
            reference=reference,
            valid_until=timezone.now() + timedelta(days=1),
        )
    assert not PolicyException.objects.exists()


def test_the_database_refuses_an_end_before_the_start_even_directly(acme):
    now = timezone.now()
    with pytest.raises(DatabaseError), transaction.atomic():
        PolicyException.objects.create(
            organization=acme,
            category=category("foreign-intelligence"),
            scope="s",
            reference="r",
            valid_from=now,
            valid_until=now - timedelta(seconds=1),
        )


# --- In review: allowed, not counted --------------------------------------------------------


def test_a_violation_only_in_an_excepted_category_is_allowed_and_not_counted(acme, reviewer):
    exception = grant(acme)
    decision = violation(acme, reviewer, "foreign-intelligence")
    assert decision.allowed_by == exception
    subject = figures(decision)
    assert (subject.violations, subject.reviewed, subject.violation_rate) == (0, 1, 0.0)
    assert subject.status == SubjectStatus.ACTIVE
    assert not EnforcementAction.objects.filter(subject=subject).exists()
    event = AuditEvent.objects.get(action=AuditAction.ITEM_DECIDE, item=decision.item)
    assert event.detail["allowed_by_exception"] == exception.pk
    assert event.detail["verdict"] == "violation"


def test_the_same_violation_in_another_organization_counts(acme, globex, reviewer):
    grant(acme)
    decision = violation(globex, reviewer, "foreign-intelligence")
    assert decision.allowed_by is None
    subject = figures(decision)
    assert (subject.violations, subject.reviewed, subject.violation_rate) == (1, 1, 1.0)
    assert subject.status == SubjectStatus.WARNED
    assert EnforcementAction.objects.filter(subject=subject, kind=ActionKind.WARN).exists()


def test_a_violation_in_an_excepted_and_a_non_excepted_category_counts(acme, reviewer):
    grant(acme)
    decision = violation(acme, reviewer, "foreign-intelligence", "fraud")
    assert decision.allowed_by is None
    subject = figures(decision)
    assert (subject.violations, subject.reviewed) == (1, 1)
    assert subject.status == SubjectStatus.WARNED


def test_allowed_violations_stay_out_of_the_rate_among_counted_ones(acme, reviewer):
    grant(acme)
    subject = SubjectFactory(organization=acme)
    for slugs in (["foreign-intelligence"], ["foreign-intelligence"], ["fraud"], []):
        decide(
            subject, Verdict.VIOLATION if slugs else Verdict.NO_VIOLATION, *slugs, reviewer=reviewer
        )
    subject.refresh_from_db()
    assert (subject.violations, subject.reviewed, subject.violation_rate) == (1, 4, 0.25)
    assert Decision.objects.filter(item__subject=subject, allowed_by__isnull=False).count() == 2


def test_an_expired_exception_stops_applying_on_its_own(acme, reviewer):
    exception = grant(acme)
    assert violation(acme, reviewer, "foreign-intelligence").allowed_by == exception
    # The contract ran out: nobody revokes anything, the end date alone does it.
    now = timezone.now()
    PolicyException.objects.filter(pk=exception.pk).update(
        valid_from=now - timedelta(days=30), valid_until=now - timedelta(seconds=1)
    )
    decision = violation(acme, reviewer, "foreign-intelligence")
    assert decision.allowed_by is None
    assert figures(decision).violations == 1


def test_a_revoked_exception_stops_applying(acme, reviewer, admin_user):
    exception = grant(acme)
    policy.exception_revoke(exception=exception, user=admin_user)
    exception.refresh_from_db()
    assert exception.revoked_at is not None
    event = AuditEvent.objects.get(action=AuditAction.EXCEPTION_REVOKE)
    assert event.actor == admin_user and event.detail == {"exception": exception.pk}
    decision = violation(acme, reviewer, "foreign-intelligence")
    assert decision.allowed_by is None
    assert figures(decision).violations == 1


def test_a_not_yet_valid_exception_does_not_apply(acme, reviewer):
    now = timezone.now()
    grant(acme, valid_from=now + timedelta(days=1), valid_until=now + timedelta(days=30))
    decision = violation(acme, reviewer, "foreign-intelligence")
    assert decision.allowed_by is None
    assert figures(decision).violations == 1


def test_exceptions_active_lists_only_those_in_force(acme, globex):
    now = timezone.now()
    active = grant(acme)
    grant(acme, "fraud", valid_from=now + timedelta(days=2), valid_until=now + timedelta(days=9))
    grant(globex, "privacy")
    expired = grant(acme, "hate")
    PolicyException.objects.filter(pk=expired.pk).update(
        valid_from=now - timedelta(days=9), valid_until=now - timedelta(days=1)
    )
    revoked = grant(acme, "sexual")
    policy.exception_revoke(exception=revoked, user=None)
    assert policy.exceptions_active(organization_id=acme.pk) == [active]
    # Looking back, the expired one was in force.
    back_then = policy.exceptions_active(organization_id=acme.pk, now=now - timedelta(days=5))
    assert [e.category.slug for e in back_then] == ["hate"]


def test_an_exception_whose_category_became_a_hard_limit_no_longer_applies(acme, reviewer):
    exception = grant(acme)
    PolicyCategory.objects.filter(slug="foreign-intelligence").update(hard_limit=True)
    assert policy.exceptions_active(organization_id=acme.pk) == []
    assert violation(acme, reviewer, "foreign-intelligence").allowed_by is None
    # ... and an admin can still revoke it for the record.
    policy.exception_revoke(exception=exception, user=None)
    exception.refresh_from_db()
    assert exception.revoked_at is not None


# --- At ingest: allowed, except an audit sample -----------------------------------------------


@pytest.fixture
def acme_key(acme: Organization) -> Any:
    api_key, _ = api_key_create(name="acme classifier", organization_slug="acme")
    return api_key


def ingest(api_key: Any, items: list[dict[str, Any]]) -> list[FlaggedItem]:
    """Accept and process the items as the flags API and an ingest worker would, 500 a batch."""
    request_ids = [i["request_id"] for i in items]
    for start in range(0, len(items), 500):
        valid, errors = validate_items(
            {"items": items[start : start + 500]},
            key_organization="acme",
            organizations=set(Organization.objects.values_list("slug", flat=True)),
            category_for_label=selectors.category_labels(),
        )
        assert not errors, errors
        batch, _ = batch_accept(api_key=api_key, webhook_id=f"msg_{uuid.uuid4().hex}", items=valid)
        assert batch_process(batch_id=str(batch.pk)) is not None
    return list(FlaggedItem.objects.filter(request_id__in=request_ids).order_by("pk"))


def excepted_item(n: int, **overrides: Any) -> dict[str, Any]:
    return make_item(
        n,
        request_id=f"fi-{n:05d}",
        signals=[
            {"classifier": "intel-v1", "category": "foreign-intelligence", "score": 0.93},
            {"classifier": "intel-v2", "category": "foreign-intelligence", "score": 0.71},
        ],
        **overrides,
    )


def set_sample_rate(rate: float) -> None:
    settings = PolicySettings.current()
    settings.audit_sample_rate = rate
    settings.save()


def test_an_item_whose_every_signal_is_excepted_is_allowed_at_ingest(acme, acme_key, reviewer):
    grant(acme)
    set_sample_rate(0)
    before = timezone.now()
    (item,) = ingest(acme_key, [excepted_item(1)])
    assert item.state == ItemState.ALLOWED
    assert item.decided_at is not None and item.decided_at >= before
    assert claims.claim_next(user=reviewer) is None
    assert item not in selectors.pending_items()


def test_without_an_exception_the_same_item_is_queued(acme, acme_key):
    (item,) = ingest(acme_key, [excepted_item(1)])
    assert item.state == ItemState.PENDING and item.queue == ReviewQueue.STANDARD
    assert item.decided_at is None


def test_a_mixed_item_goes_to_the_normal_queues(acme, acme_key, reviewer):
    grant(acme)
    set_sample_rate(0)
    mixed = make_item(
        2,
        signals=[
            {"classifier": "intel-v1", "category": "foreign-intelligence", "score": 0.9},
            {"classifier": "weapons-v1", "category": "weapons", "score": 0.95},
        ],
    )
    plain = make_item(3)
    by_request = {i.request_id: i for i in ingest(acme_key, [mixed, plain])}
    assert by_request["req_0002"].state == ItemState.PENDING
    assert by_request["req_0002"].queue == ReviewQueue.CRITICAL
    assert by_request["req_0003"].queue == ReviewQueue.STANDARD
    # The critical one first, as for any item.
    assert claims.claim_next(user=reviewer) == by_request["req_0002"]


def test_another_organizations_excepted_category_does_not_allow_at_ingest(acme, globex, acme_key):
    grant(globex)
    set_sample_rate(0)
    (item,) = ingest(acme_key, [excepted_item(1)])
    assert item.state == ItemState.PENDING


def test_an_expired_exception_does_not_allow_at_ingest(acme, acme_key):
    exception = grant(acme)
    set_sample_rate(0)
    now = timezone.now()
    PolicyException.objects.filter(pk=exception.pk).update(
        valid_from=now - timedelta(days=9), valid_until=now - timedelta(minutes=1)
    )
    (item,) = ingest(acme_key, [excepted_item(1)])
    assert item.state == ItemState.PENDING and item.decided_at is None


SAMPLE = 2000


@pytest.mark.parametrize("rate, low, high", [(0.0, 0, 0), (1.0, SAMPLE, SAMPLE)])
def test_a_sample_rate_of_none_or_all(acme, acme_key, rate, low, high):
    grant(acme)
    set_sample_rate(rate)
    items = ingest(acme_key, [excepted_item(n) for n in range(SAMPLE)])
    assert len(items) == SAMPLE
    audited = [i for i in items if i.queue == ReviewQueue.AUDIT]
    assert low <= len(audited) <= high
    assert all(i.state == ItemState.PENDING and i.decided_at is None for i in audited)
    allowed = [i for i in items if i.state == ItemState.ALLOWED]
    assert len(allowed) + len(audited) == SAMPLE


def test_the_default_sample_sends_about_five_percent_to_the_audit_queue(acme, acme_key):
    assert PolicySettings.current().audit_sample_rate == 0.05
    grant(acme)
    items = ingest(acme_key, [excepted_item(n) for n in range(SAMPLE)])
    audited = [i for i in items if i.queue == ReviewQueue.AUDIT]
    assert 0.03 * SAMPLE <= len(audited) <= 0.07 * SAMPLE
    assert all(i.state == ItemState.PENDING for i in audited)
    assert sum(i.state == ItemState.ALLOWED for i in items) == SAMPLE - len(audited)
    # Exactly the items the hash picks: processing a batch again would pick the same.
    assert {i.request_id for i in audited} == {
        i.request_id
        for i in items
        if audit_sampled(organization_slug="acme", request_id=i.request_id, rate=0.05)
    }


def test_audit_sampling_is_deterministic():
    ids = [f"req-{n}" for n in range(500)]
    first = [audit_sampled(organization_slug="acme", request_id=i, rate=0.3) for i in ids]
    again = [audit_sampled(organization_slug="acme", request_id=i, rate=0.3) for i in ids]
    assert first == again
    assert 0.2 * len(ids) < sum(first) < 0.4 * len(ids)
    # Another organization's items with the same ids are sampled on their own.
    other = [audit_sampled(organization_slug="globex", request_id=i, rate=0.3) for i in ids]
    assert other != first
    # Nested: what a lower rate samples, a higher rate samples too.
    low = [audit_sampled(organization_slug="acme", request_id=i, rate=0.1) for i in ids]
    assert all(f for f, lo in zip(first, low, strict=True) if lo)


def test_audit_sampling_reads_the_admin_setting(db):
    set_sample_rate(1.0)
    assert audit_sampled(organization_slug="acme", request_id="x")
    set_sample_rate(0.0)
    assert not audit_sampled(organization_slug="acme", request_id="x")


def test_reviewers_claim_from_the_audit_queue_and_decide(acme, acme_key, reviewer):
    exception = grant(acme)
    set_sample_rate(1.0)
    (item,) = ingest(acme_key, [excepted_item(1)])
    assert item.queue == ReviewQueue.AUDIT
    assert ReviewQueue.AUDIT in claims.reviewable_queues(reviewer)
    claimed = claims.claim_next(user=reviewer, queue=ReviewQueue.AUDIT)
    assert claimed == item and claimed.claimed_by == reviewer
    decision = decision_record(
        item=claimed,
        reviewer=reviewer,
        verdict=Verdict.VIOLATION,
        categories=[category("foreign-intelligence")],
        note="",
    )
    # The reviewer confirms it falls under the exception: recorded, not counted.
    assert decision.allowed_by == exception
    assert figures(decision).violations == 0


# --- Sampling and retention ------------------------------------------------------------------


def test_policy_settings_are_saved_with_their_audit_row(admin_user):
    saved = policy.policy_settings_save(audit_sample_rate=0.2, retention_days=45, user=admin_user)
    assert (saved.audit_sample_rate, saved.retention_days, saved.updated_by) == (
        0.2,
        45,
        admin_user,
    )
    event = AuditEvent.objects.get(action=AuditAction.POLICY_SETTINGS)
    assert event.detail == {
        "before": {"audit_sample_rate": 0.05, "retention_days": 90},
        "after": {"audit_sample_rate": 0.2, "retention_days": 45},
    }


@pytest.mark.parametrize(
    ("rate", "days"), [(-0.1, 30), (1.01, 30), (float("nan"), 30), (0.1, 0), (0.1, 3651)]
)
def test_policy_settings_out_of_range_are_refused(admin_user, rate, days):
    with pytest.raises(policy.PolicySettingsInvalid):
        policy.policy_settings_save(audit_sample_rate=rate, retention_days=days, user=admin_user)
    current = PolicySettings.current()
    assert (current.audit_sample_rate, current.retention_days) == (0.05, 90)
    assert not AuditEvent.objects.filter(action=AuditAction.POLICY_SETTINGS).exists()


def test_policy_settings_are_not_saved_when_the_audit_row_fails(admin_user, monkeypatch):
    def broken(**kwargs: Any) -> None:
        raise DatabaseError("audit log unavailable")

    monkeypatch.setattr(policy, "audit_record", broken)
    with pytest.raises(DatabaseError):
        policy.policy_settings_save(audit_sample_rate=0.2, retention_days=45, user=admin_user)
    current = PolicySettings.current()
    assert (current.audit_sample_rate, current.retention_days) == (0.05, 90)
