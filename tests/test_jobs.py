"""The ingest job: a failing batch counts its attempts, then fails for good."""

from __future__ import annotations

import pytest

from moderation import jobs
from moderation.models import BatchStatus, FlaggedItem
from moderation.services.ingest import batch_record_failure
from tests.factories import break_processing

pytestmark = pytest.mark.django_db


def test_a_failing_batch_counts_its_attempts_and_stays_pending(signed_key):
    batch = break_processing(signed_key)
    with pytest.raises(KeyError):
        jobs.ingest_batch(str(batch.pk))
    batch.refresh_from_db()
    assert batch.status == BatchStatus.PENDING
    assert batch.attempts == 1
    assert batch.last_error == "KeyError: 'spam'"
    assert FlaggedItem.objects.count() == 0


def test_a_batch_fails_for_good_after_the_maximum_attempts(signed_key, settings):
    settings.MODQUEUE_INGEST_MAX_ATTEMPTS = 3
    batch = break_processing(signed_key)
    for _ in range(3):
        with pytest.raises(KeyError):
            jobs.ingest_batch(str(batch.pk))
    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == (BatchStatus.FAILED, 3)
    # Left for an admin: neither processed nor counted again.
    jobs.ingest_batch(str(batch.pk))
    batch_record_failure(batch_id=str(batch.pk), error=RuntimeError("late"))
    batch.refresh_from_db()
    assert (batch.status, batch.attempts, batch.last_error) == ("failed", 3, "KeyError: 'spam'")
    assert batch.payload is not None
