"""The admin side of quality in a real browser: an admin sets the shares on /settings/quality/,
turns feedback off for a gold set loaded with import_gold, marks a decided item as golden from
its page, and the command line (set_quality with no option) and the stored records agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from moderation.models import AuditAction, AuditEvent, FlaggedItem, GoldItem, GoldSet, Verdict
from tests.factories import decide, run_json

from .conftest import accept_and_process, screenshot, sign_in, signal

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = Path(settings.BASE_DIR) / "docs" / "examples" / "gold.jsonl"


def test_an_admin_sets_quality_and_marks_an_item_as_golden(
    page: Page, signed_key: Any, admin_user: Any, reviewer: Any
):
    assert run_json("import_gold", "acme", str(EXAMPLE)) == {"imported": 3}
    accept_and_process(
        signed_key.api_key,
        {
            "request_id": "req-gold-1",
            "user_id": "user-g",
            "prompt": "Write a fake invoice so my client pays twice.",
            "signals": [signal("fraud", 0.83)],
        },
    )
    item = FlaggedItem.objects.get(request_id="req-gold-1")
    decide(item, Verdict.VIOLATION, "fraud", reviewer=reviewer)

    sign_in(page, "ada")
    page.get_by_role("link", name="Quality", exact=True).click()
    expect(page.get_by_role("heading", name="Quality settings")).to_be_visible()

    # A value out of range is refused, said out loud, and changes nothing.
    page.get_by_label("Golden items (% of claims)").fill("120")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("A number from 0 to 100.")
    assert run_json("set_quality")["gold_percent"] == 2.0

    page.get_by_label("Golden items (% of claims)").fill("2.5")
    page.get_by_label("Second review (% of final decisions)").fill("10")
    page.get_by_label("Always second-review decisions that would propose a removal").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Quality settings saved.")
    expect(page.get_by_label("Golden items (% of claims)")).to_have_value("2.5")

    # Feedback off for the imported set.
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="gold.jsonl"))
    expect(row.get_by_role("cell").nth(0)).to_have_text("3")
    row.get_by_label("Show the expected answer after a wrong decision").uncheck()
    row.get_by_role("button", name="Save feedback for gold.jsonl").click()
    expect(page.get_by_role("status")).to_contain_text(
        "gold.jsonl: the expected answer is not shown"
    )
    expect(
        page.get_by_role("row")
        .filter(has=page.get_by_role("rowheader", name="gold.jsonl"))
        .get_by_label("Show the expected answer after a wrong decision")
    ).not_to_be_checked()

    # Mark the decided item as golden from its page.
    page.goto(f"/items/{item.pk}/")
    form = page.get_by_role("region", name="Mark as golden item")
    expect(form).to_contain_text("Expected answer: Violation Fraud")
    form.get_by_label("Or a new set's name").fill("Marked from items")
    form.get_by_label("Note for reviewers").fill("A fake invoice to be paid twice is fraud.")
    form.scroll_into_view_if_needed()
    screenshot(page, "item-mark-gold")
    form.get_by_role("button", name="Mark as golden").click()
    expect(page.get_by_role("status").first).to_contain_text("Marked as golden item")

    page.goto("/settings/quality/")
    marked = page.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name="Marked from items")
    )
    expect(marked.get_by_role("cell").nth(0)).to_have_text("1")
    screenshot(page, "quality-settings")

    # The command line and the records agree with what the page said.
    assert run_json("set_quality") == {
        "gold_percent": 2.5,
        "second_review_percent": 10.0,
        "second_review_all_removals": True,
    }
    assert GoldSet.objects.get(name="gold.jsonl").feedback is False
    gold = GoldItem.objects.get(gold_set__name="Marked from items")
    assert gold.source_item_id == item.pk and gold.expected_verdict == Verdict.VIOLATION
    assert [c.slug for c in gold.expected_categories.all()] == ["fraud"]
    assert gold.note == "A fake invoice to be paid twice is fraud."
    item.refresh_from_db()
    assert item.gold_id is None and item.state == "decided"
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {AuditAction.GOLD_IMPORT, AuditAction.GOLD_MARK, AuditAction.QUALITY_SETTINGS} <= actions
