"""The reviewer cycle's query counts (issue 12): the htmx decision and the item page, with the
settings rows read once per process (services/config_cache.py) and the role read with the user
(accounts/backends.py)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from moderation.models import QualitySettings
from moderation.services import claims
from moderation.services.thresholds import thresholds_global
from tests.factories import FlaggedItemFactory, SignalFactory

# Committed, as in production: the settings rows exist and every process has read them once.
pytestmark = pytest.mark.django_db(transaction=True)
HTMX = {"HX-Request": "true"}
SETTINGS_TABLES = ("auth_group", "moderation_thresholds", "moderation_qualitysettings")


def _items(n: int) -> list:
    first = FlaggedItemFactory(priority=100)
    items = [first]
    for priority in range(n - 1, 0, -1):
        items.append(
            FlaggedItemFactory(
                subject=first.subject, organization=first.organization, priority=priority
            )
        )
    for item in items:
        SignalFactory(item=item)
    return items


def _settings_reads(captured) -> list[str]:
    sqls = [q["sql"] for q in captured.captured_queries]
    return [sql for sql in sqls if sql.startswith(tuple(f'SELECT "{t}"' for t in SETTINGS_TABLES))]


def test_the_htmx_decision_reads_no_settings_row(  # 51 queries before issue 12, then 39
    reviewer_client, reviewer, django_assert_num_queries
):
    # No golden item drawn (2 % by default: its look-up would be a query more, now and then).
    QualitySettings.objects.update_or_create(pk=1, defaults={"gold_percent": 0})
    thresholds_global()
    items = _items(4)
    claims.claim_next(user=reviewer)
    # The first decision of the process reads the settings rows (and loads the view).
    first = reviewer_client.post(
        f"/items/{items[0].pk}/decide/", {"verdict": "no_violation"}, headers=HTMX
    )
    assert first["HX-Push-Url"] == f"/items/{items[1].pk}/"
    # Session, user with role, the item; in the decision's transaction the item locked with
    # its subject, its waiting second review (once), whether the content was shown, the
    # decision, the item, the audit row, the subject locked, its figures and its actions;
    # then the held item, the next claim and its audit row; the next item with its
    # organization and subject, its view's audit row, and the partial's reads (signals,
    # decisions, the subject's last items in one query: no blind check without decisions,
    # the exceptions kept per process, the undo offer from the decision just made).
    with CaptureQueriesContext(connection) as captured:
        response = reviewer_client.post(
            f"/items/{items[1].pk}/decide/", {"verdict": "no_violation"}, headers=HTMX
        )
    sqls = [q["sql"] for q in captured.captured_queries]
    assert len(sqls) == 25, "\n".join(f"{n}. {sql[:160]}" for n, sql in enumerate(sqls, 1))
    assert response.status_code == 200 and response["HX-Push-Url"] == f"/items/{items[2].pk}/"
    assert _settings_reads(captured) == []
    assert sum('FROM "moderation_organization"' in sql for sql in sqls) == 0


def test_the_item_page_reads_no_settings_row(  # 14 queries before issue 12, then 12
    reviewer_client, reviewer, django_assert_num_queries
):
    QualitySettings.objects.update_or_create(pk=1, defaults={"gold_percent": 0})
    thresholds_global()
    items = _items(2)
    claims.claim_next(user=reviewer)
    reviewer_client.get(f"/items/{items[0].pk}/")
    with django_assert_num_queries(8) as captured:
        assert reviewer_client.get(f"/items/{items[0].pk}/").status_code == 200
    assert _settings_reads(captured) == []
