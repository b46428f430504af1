"""Across features, as a team works: a reviewer finds a flagged conversation by searching for
what was said, decides it from its page by keyboard and goes on to the next item; the lead
sees the decision on the operations dashboard once the workers' sweep has refreshed its
snapshot (and not before: the page says how old its figures are), the scrape shows it, and
the platform reads the user's figures from the API. Each feature has tests of its own; this
one checks what passes between them."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.roles import Role
from moderation import jobs
from moderation.models import FlaggedItem, OperationsSnapshot, Verdict
from tests.factories import PASSWORD, UserFactory

from .conftest import accept_and_process, decision_on, key_of, log_in, screenshot, signal, slugs
from .test_conversation import TURNS

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "across-features-scrape-token-0123456789"


def dashboard_decisions(page: Page) -> str:
    summary = page.locator("dl.ops-summary > div").filter(
        has=page.get_by_role("term").filter(has_text=re.compile("^Decisions$"))
    )
    return summary.get_by_role("definition").inner_text()


def scraped(page: Page, name: str) -> float:
    response = page.request.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200
    for line in response.text().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_a_conversation_found_by_search_decided_and_seen_by_the_lead(
    new_page: Any, signed_key: Any, settings: Any
):
    settings.MODQUEUE_METRICS_TOKEN = TOKEN
    UserFactory(username="rita", role=Role.REVIEWER)
    UserFactory(username="sam", role=Role.SENIOR)
    accept_and_process(
        signed_key.api_key,
        {
            "request_id": "req-conversation",
            "user_id": "user-7",
            "model": "claude-sonnet",
            "messages": TURNS,
            "flagged_turn": 4,
            "signals": [signal("harassment", 0.93)],
        },
        *(
            {
                "request_id": f"req-plain-{n}",
                "user_id": "user-9",
                "prompt": f"Is it legal to record a phone call in state number {n}?",
                "signals": [signal("privacy", 0.4)],
            }
            for n in range(2)
        ),
    )
    conversation = FlaggedItem.objects.get(request_id="req-conversation")
    # The workers' first sweep: the lead's 24-hour figures, before anything is decided.
    assert jobs.periodic() is None
    lead, reviewer = new_page(), new_page()
    lead.goto("/reports/operations/")
    log_in(lead, "sam", PASSWORD)
    expect(lead.get_by_role("heading", name="Operations", level=1)).to_be_visible()
    expect(lead.get_by_text(re.compile(r"Figures as of"))).to_be_visible()
    assert dashboard_decisions(lead) == "0"
    violations_before = scraped(lead, 'modqueue_decisions_total{verdict="violation"}')

    # The reviewer searches for what the user said in the flagged turn.
    reviewer.goto("/items/")
    log_in(reviewer, "rita", PASSWORD)
    reviewer.get_by_role("searchbox", name="Search").fill("regret")
    reviewer.get_by_role("searchbox", name="Search").press("Enter")
    results = reviewer.get_by_role("link", name=re.compile(rf"#?{conversation.pk}\b"))
    expect(results).to_have_count(1)
    results.click()
    expect(reviewer).to_have_url(re.compile(rf"/items/{conversation.pk}/$"))
    flagged = reviewer.get_by_role("list", name="Conversation").locator(".turn-flagged")
    expect(flagged).to_contain_text("she will regret it")

    # Decided by keyboard from the item's own page: Harassment, then Violation.
    key = key_of(reviewer, "Harassment")
    reviewer.keyboard.press(key.replace("shift+", "Shift+").replace("⇧", "Shift+"))
    expect(reviewer.get_by_role("checkbox", name="Harassment", exact=True)).to_be_checked()
    reviewer.keyboard.press("v")
    # The next item comes in place, from the queue, and the bar offers the undo.
    expect(reviewer).not_to_have_url(re.compile(rf"/items/{conversation.pk}/$"))
    expect(reviewer.get_by_role("button", name="Undo")).to_be_visible()
    decision = decision_on(conversation.pk)
    assert decision.verdict == Verdict.VIOLATION and slugs(decision) == {"harassment"}
    screenshot(reviewer, "across-features-next-item")

    # The scrape counts it at once.
    assert scraped(lead, 'modqueue_decisions_total{verdict="violation"}') == violations_before + 1
    # The platform reads the user's figures.
    answer = signed_key.client.post(
        "/api/v1/subjects/lookup",
        data=json.dumps({"user_id": "user-7"}),
        content_type="application/json",
        headers=signed_key.bearer(),
    )
    assert answer.status_code == 200
    assert (answer.json()["violations"], answer.json()["reviewed"]) == (1, 1)

    # The dashboard shows the snapshot it has until the workers refresh it ...
    lead.reload()
    assert dashboard_decisions(lead) == "0"
    # ... which they do once it is a minute old.
    OperationsSnapshot.objects.filter(period="24h").update(
        computed_at=timezone.now() - timedelta(minutes=2)
    )
    assert jobs.periodic() is None
    lead.reload()
    assert dashboard_decisions(lead) == "1"
    reviewers = lead.get_by_role("table").filter(
        has=lead.get_by_role("columnheader", name=re.compile("Reviewer"))
    )
    expect(reviewers.get_by_role("row").filter(has_text="rita")).to_have_count(1)
    screenshot(lead, "across-features-dashboard")
