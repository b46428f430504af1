"""The policy, privacy, report and masked item pages in a real browser, with their screenshots."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from moderation.models import (
    AuditAction,
    AuditEvent,
    FlaggedItem,
    PolicyCategory,
    PolicyException,
)
from tests.factories import PASSWORD, decide

from .conftest import accept_and_process, log_in, screenshot

PII_PROMPT = (
    "My neighbour Jane keeps parking in my spot. Her email is jane.doe@example.com and her "
    "phone is +44 20 7946 0958. Write her a message that scares her into moving away."
)

# Per classifier: (category, score, what the reviewer decided), about what a week brings.
FLAGS = {
    "toxicity-v4": [
        ("harassment", score, verdict)
        for score, verdict in [
            (0.97, "violation"), (0.93, "violation"), (0.91, "violation"), (0.88, "violation"),
            (0.84, "no_violation"), (0.81, "violation"), (0.76, "violation"),
            (0.72, "no_violation"), (0.64, "no_violation"), (0.61, "violation"),
            (0.55, "no_violation"), (0.52, "no_violation"), (0.43, None), (0.35, "no_violation"),
        ]
    ],
    "fraud-detector": [
        ("fraud", score, verdict)
        for score, verdict in [
            (0.99, "violation"), (0.95, "violation"), (0.87, "no_violation"),
            (0.83, "violation"), (0.71, "no_violation"), (0.66, "no_violation"),
            (0.58, "no_violation"), (0.42, None),
        ]
    ],
}  # fmt: skip


@pytest.fixture
def reviewed(signed_key: Any, reviewer: Any) -> None:
    """Flags from two classifiers, most of them decided by a reviewer, and one item of acme
    with personal data in it, still waiting."""
    items = []
    for classifier, flags in FLAGS.items():
        for n, (slug, score, _) in enumerate(flags):
            items.append(
                {
                    "request_id": f"{classifier}-{n}",
                    "user_id": f"user-{n % 5}",
                    "prompt": f"Flagged text {n} for {classifier}",
                    "signals": [{"classifier": classifier, "category": slug, "score": score}],
                }
            )
    accept_and_process(signed_key.api_key, *items)
    for classifier, flags in FLAGS.items():
        for n, (slug, _, verdict) in enumerate(flags):
            if verdict is None:
                continue
            flagged = FlaggedItem.objects.get(request_id=f"{classifier}-{n}")
            decide(flagged, verdict, slug, reviewer=reviewer)
    accept_and_process(
        signed_key.api_key,
        {
            "request_id": "req-pii",
            "user_id": "user-neighbour",
            "prompt": PII_PROMPT,
            "response": "I can't help write a threatening message.",
            "signals": [{"classifier": "toxicity-v4", "category": "harassment", "score": 0.86}],
        },
    )


def test_an_admin_grants_an_exception_reveals_personal_data_and_reads_the_reports(
    page: Page, admin_user: Any, reviewed: None
) -> None:
    page.goto("/settings/policy/")
    log_in(page, "ada", PASSWORD)
    expect(page).to_have_url(re.compile(r"/settings/policy/$"))
    expect(
        page.get_by_role("heading", name="Policy exceptions and privacy settings")
    ).to_be_visible()

    # A hard limit is refused, with the reason, and nothing is stored.
    page.get_by_label("Organization").select_option("acme")
    page.get_by_label("Category").select_option("weapons")
    page.get_by_label("Contract reference").fill("CTR-2026-017")
    page.get_by_label("Valid until").fill((timezone.now() + timedelta(days=365)).date().isoformat())
    page.get_by_label("Scope").fill("Analysis of foreign state actors for a vetted agency")
    page.get_by_role("button", name="Grant exception").click()
    # Refused: an error, read out at once and styled as one (not as the news a grant is).
    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text("is a hard limit of the usage policy")
    expect(refusal).to_have_class(re.compile(r"\balert-error\b"))
    refused_colour = refusal.evaluate("e => getComputedStyle(e).backgroundColor")
    screenshot(page, "policy-refused")
    assert not PolicyException.objects.exists()

    # The form kept what was typed: choose the right category and grant.
    expect(page.get_by_label("Contract reference")).to_have_value("CTR-2026-017")
    page.get_by_label("Category").select_option("foreign-intelligence")
    page.get_by_role("button", name="Grant exception").click()
    granted = page.get_by_role("status").filter(has_text="Exception granted to acme")
    expect(granted).to_be_visible()
    assert granted.evaluate("e => getComputedStyle(e).backgroundColor") != refused_colour
    expect(page.get_by_role("alert")).to_have_count(0)
    row = page.get_by_role("row").filter(has_text="CTR-2026-017")
    expect(row).to_contain_text("Foreign intelligence analysis")
    expect(row).to_contain_text("Active")
    expect(row.get_by_role("button", name="Revoke")).to_be_visible()
    assert PolicyException.objects.get().category.slug == "foreign-intelligence"
    screenshot(page, "policy")

    # The item page: personal data masked, the exception listed, Reveal with a reason.
    item = FlaggedItem.objects.get(request_id="req-pii")
    page.goto(f"/items/{item.pk}/")
    content = page.get_by_role("region", name="Content")
    expect(content).to_contain_text("Her email is [email] and her phone is [phone].")
    expect(content).not_to_contain_text("jane.doe@example.com")
    exceptions = page.get_by_role("complementary").get_by_role("region", name="Exceptions of acme")
    expect(exceptions).to_contain_text("Foreign intelligence analysis")
    expect(exceptions).to_contain_text("CTR-2026-017")
    screenshot(page, "item-pii")

    page.get_by_label("Why you need to see it").fill("Checking whether the target is a real person")
    page.get_by_role("button", name="Reveal").click()
    expect(content).to_contain_text("jane.doe@example.com")
    expect(content).to_contain_text("+44 20 7946 0958")
    expect(page.get_by_role("button", name="Reveal")).to_have_count(0)
    event = AuditEvent.objects.get(action=AuditAction.PII_REVEAL)
    assert event.actor == admin_user and event.item == item
    assert event.detail["reason"] == "Checking whether the target is a real person"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Privacy").click()
    expect(page.get_by_role("heading", name="Privacy requests")).to_be_visible()
    expect(page.get_by_role("button", name="Export as JSON")).to_be_visible()
    expect(page.get_by_role("button", name="Erase content")).to_be_visible()
    screenshot(page, "privacy")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", name="Classifier report")).to_be_visible()
    harassment = page.get_by_role("region", name="toxicity-v4 · harassment")
    expect(harassment).to_contain_text("15 flags, 13 decided, 7 confirmed")
    # Each bar stands inside its own band's column, over that band's figures.
    bars = harassment.locator("td[data-band] rect.bar")
    expect(bars.first).to_be_visible()
    assert bars.count() == 6  # bands 0.3 and 0.5 to 0.9 decided; 0.4 has no decision yet
    for n in range(bars.count()):
        bar = bars.nth(n)
        band = bar.evaluate("e => e.closest('td').dataset.band")
        column = harassment.locator(f'th[data-band="{band}"]').bounding_box()
        figures = harassment.locator(f'tr:last-child td[data-band="{band}"]').bounding_box()
        box = bar.bounding_box()
        assert column and figures and box
        centre = box["x"] + box["width"] / 2
        assert column["x"] <= centre <= column["x"] + column["width"], band
        assert figures["x"] <= centre <= figures["x"] + figures["width"], band
    expect(page.get_by_role("region", name="fraud-detector · fraud")).to_contain_text(
        "8 flags, 7 decided, 3 confirmed"
    )
    screenshot(page, "classifier-report")


def test_revoking_an_exception_asks_first_and_cancel_keeps_it(
    page: Page, admin_user: Any, acme: Any
) -> None:
    from moderation.services.policy import exception_grant

    exception = exception_grant(
        organization=acme,
        category=PolicyCategory.objects.get(slug="foreign-intelligence"),
        scope="Analysis of foreign state actors",
        reference="CTR-2026-017",
        valid_until=timezone.now() + timedelta(days=90),
        approved_by=admin_user,
    )
    page.goto("/settings/policy/")
    log_in(page, "ada", PASSWORD)
    row = page.get_by_role("row").filter(has_text="CTR-2026-017")
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("heading", name="Revoke this exception?")).to_be_visible()
    expect(page.get_by_role("region", name="What happens when you revoke it")).to_contain_text(
        "counted again"
    )
    screenshot(page, "policy-revoke-confirm")
    exception.refresh_from_db()
    assert exception.revoked_at is None

    page.get_by_role("link", name="Cancel").click()
    expect(row.get_by_text("Active")).to_be_visible()
    row.get_by_role("button", name="Revoke").click()
    page.get_by_role("button", name="Revoke exception").click()
    expect(page.get_by_role("status")).to_contain_text("Exception revoked")
    expect(row.get_by_text("Revoked")).to_be_visible()
    exception.refresh_from_db()
    assert exception.revoked_at is not None
