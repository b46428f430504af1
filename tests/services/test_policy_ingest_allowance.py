"""At ingest: an item whose every signal is excepted is allowed without review, except an audit
sample (audit_sampled) that goes to the audit queue, where reviewers decide it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from moderation import selectors
from moderation.api.schema import validate_items
from moderation.models import (
    FlaggedItem,
    ItemState,
    Organization,
    PolicyException,
    PolicySettings,
    ReviewQueue,
    Verdict,
)
from moderation.services import claims
from moderation.services.ingest import batch_accept, batch_process
from moderation.services.organizations import api_key_create
from moderation.services.policy import audit_sampled
from moderation.services.review import decision_record
from tests.conftest import make_item
from tests.factories import category, grant_exception, subject_of

pytestmark = pytest.mark.django_db


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
    grant_exception(acme)
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
    grant_exception(acme)
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
    grant_exception(globex)
    set_sample_rate(0)
    (item,) = ingest(acme_key, [excepted_item(1)])
    assert item.state == ItemState.PENDING


def test_an_expired_exception_does_not_allow_at_ingest(acme, acme_key):
    exception = grant_exception(acme)
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
    grant_exception(acme)
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
    grant_exception(acme)
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
    exception = grant_exception(acme)
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
    assert subject_of(decision).violations == 0
