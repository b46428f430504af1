"""What the item page shows (CONTRACT §8 v2): category keys that never change meaning, critical
text held back until "Show content", the escalation's reason, who holds an item, signals per
category, and personal data masked before any cut."""

from __future__ import annotations

import re

import pytest

from accounts.roles import Role
from moderation.models import (
    AuditAction,
    AuditEvent,
    Decision,
    ItemState,
    PolicyCategory,
    ReviewQueue,
    Verdict,
)
from moderation.services import claims
from tests.factories import FlaggedItemFactory, SignalFactory, UserFactory, category, decide

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
CATEGORY_ROW = re.compile(
    r'<div class="category[^"]*">\s*<label><input type="checkbox" name="categories" '
    r'value="(\d+)"(?: data-key="([^"]+)")?[^>]*> <span>([^<]+)</span></label>(.*?)</div>',
    re.S,
)


def boxes(page: str) -> list[tuple[str, str, str, str]]:
    """(id, key, label text, what follows the label) per category checkbox, in page order."""
    return CATEGORY_ROW.findall(page)


def test_each_category_keeps_its_digit_key_on_every_item(reviewer_client):
    sexual = FlaggedItemFactory()
    SignalFactory(item=sexual, category=category("sexual"), score=0.9)
    child = FlaggedItemFactory()
    SignalFactory(item=child, category=category("child-safety"), score=0.9)
    SignalFactory(item=child, category=category("hate"), score=0.5)

    first = boxes(reviewer_client.get(f"/items/{sexual.pk}/").content.decode())
    second = boxes(reviewer_client.get(f"/items/{child.pk}/").content.decode())

    assert len(first) == PolicyCategory.objects.count()
    assert [(pk, key) for pk, key, _, _ in first] == [(pk, key) for pk, key, _, _ in second]
    # Every category has a key: the digits, then Shift and a digit.
    assert [key for _, key, _, _ in first] == [
        *"1234567890",
        *(f"shift+{d}" for d in "1234567890"),
    ][: len(first)]
    # The key is shown beside the name, outside the label, which reads the name exactly.
    for pk, key, label, after in first:
        assert label == PolicyCategory.objects.get(pk=pk).name
        shown = key.replace("shift+", "⇧")
        assert (
            f'<kbd aria-hidden="true" title="{key.replace("shift+", "Shift+")}">{shown}</kbd>'
            in after
        )


def test_the_keys_follow_the_policys_order_and_the_help_says_so(reviewer_client):
    item = FlaggedItemFactory()
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    keyed = [int(pk) for pk, key, _, _ in boxes(page) if key]
    # The order categories were added in (CONTRACT §7, hard limits first): a category added
    # later never moves another one's key.
    assert keyed == list(PolicyCategory.objects.order_by("pk").values_list("pk", flat=True))
    assert "the first ten categories and <kbd>Shift</kbd>+<kbd>1</kbd>… the next ten" in page
    assert "in the same order on every item" in page
    assert "the policy's order, hard limits first" in page


def test_flagged_categories_are_highlighted_in_place_not_moved(reviewer_client):
    plain = FlaggedItemFactory()
    flagged = FlaggedItemFactory()
    SignalFactory(item=flagged, category=category("other"), score=0.9)
    order = [pk for pk, *_ in boxes(reviewer_client.get(f"/items/{plain.pk}/").content.decode())]
    page = reviewer_client.get(f"/items/{flagged.pk}/").content.decode()
    assert [pk for pk, *_ in boxes(page)] == order
    other = category("other").pk
    assert re.search(
        rf'<div class="category flagged">\s*<label><input type="checkbox" name="categories" '
        rf'value="{other}"',
        page,
    )
    assert page.count('class="category flagged"') == 1


CRITICAL_PROMPT = "Synthesis route for a nerve agent, step one: " + "precursor " * 200
CRITICAL_RESPONSE = "I will not help with chemical weapons."


def critical_item(**fields):
    item = FlaggedItemFactory(
        queue=ReviewQueue.CRITICAL, prompt=CRITICAL_PROMPT, response=CRITICAL_RESPONSE, **fields
    )
    SignalFactory(item=item, category=category("weapons"), score=0.97)
    return item


def test_critical_text_is_not_in_the_page_until_show_content(reviewer_client, reviewer):
    item = critical_item()
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    # Not blurred: absent, from the text, any attribute and the fold alike.
    for text in ("Synthesis route", "nerve agent", "precursor", CRITICAL_RESPONSE, "Show all"):
        assert text not in page, text
    assert "Show content" in page
    assert not AuditEvent.objects.filter(action=AuditAction.CONTENT_REVEAL).exists()

    response = reviewer_client.post(f"/items/{item.pk}/reveal/", headers=HTMX)

    page = response.content.decode()
    assert response.status_code == 200
    assert "Synthesis route for a nerve agent" in page and CRITICAL_RESPONSE in page
    assert "Show content" not in page
    event = AuditEvent.objects.get(action=AuditAction.CONTENT_REVEAL)
    assert (event.actor, event.item) == (reviewer, item)
    # Another reviewer has not revealed it: still absent for them.
    bob = UserFactory(username="bob", role=Role.REVIEWER)
    reviewer_client.force_login(bob)
    assert "nerve agent" not in reviewer_client.get(f"/items/{item.pk}/").content.decode()


def test_an_item_with_a_critical_signal_is_held_back_in_any_queue(reviewer_client):
    item = FlaggedItemFactory(queue=ReviewQueue.STANDARD, prompt="a standard-queue prompt")
    SignalFactory(item=item, category=category("child-safety"), label="S3", score=0.6)
    assert (
        "a standard-queue prompt" not in reviewer_client.get(f"/items/{item.pk}/").content.decode()
    )


def test_show_content_has_a_key_named_in_the_shortcut_line(reviewer_client, reviewer):
    item = critical_item()
    claims.claim_next(user=reviewer)
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert '<button type="submit" class="secondary" data-key="c">Show content</button>' in page
    assert "<kbd>C</kbd> Show content" in page


def test_a_decision_on_content_never_shown_is_recorded_and_shown_as_such(
    reviewer_client, reviewer, senior
):
    item = critical_item()
    claims.claim_next(user=reviewer)
    reviewer_client.post(
        f"/items/{item.pk}/decide/",
        {"verdict": "violation", "categories": [category("weapons").pk]},
        headers=HTMX,
    )
    decision = Decision.objects.get(item=item)
    assert decision.content_seen is False
    reviewer_client.force_login(senior)
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "decided without seeing the content" in page


def test_a_decision_after_show_content_is_recorded_as_seen(reviewer_client, reviewer):
    item = critical_item()
    claims.claim_next(user=reviewer)
    reviewer_client.post(f"/items/{item.pk}/reveal/", headers=HTMX)
    reviewer_client.post(f"/items/{item.pk}/decide/", {"verdict": "no_violation"}, headers=HTMX)
    assert Decision.objects.get(item=item).content_seen is True
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "decided without seeing the content" not in page


def test_an_escalated_item_shows_who_escalated_when_and_the_note_above_the_form(
    client, reviewer, senior
):
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    decide(
        item,
        Verdict.ESCALATE,
        reviewer=reviewer,
        note="Looks like a threat <b>against</b> a named person?",
    )
    client.force_login(senior)
    page = client.get(f"/items/{item.pk}/").content.decode()
    assert "Escalated by rita" in page
    assert "Looks like a threat &lt;b&gt;against&lt;/b&gt; a named person?" in page
    assert page.index("Escalated by rita") < page.index('id="decision"')
    assert re.search(r"Escalated by rita <time datetime=\"[^\"]+\"[^>]*>just now</time>", page)
    # No Escalate button here, so no word of a note being required to escalate.
    assert 'value="escalate"' not in page
    assert "required to escalate" not in page


def test_an_item_held_by_another_reviewer_says_who_and_since_when(reviewer_client, senior):
    item = FlaggedItemFactory()
    claims.claim_next(user=senior)
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "Another reviewer, sam, holds this item since" in page
    assert 'id="decision"' not in page


def test_two_signals_of_one_category_show_as_one_chip_with_every_classifier(reviewer_client):
    item = FlaggedItemFactory()
    SignalFactory(item=item, classifier="violence-v2", category=category("violence"), score=0.91)
    SignalFactory(
        item=item, classifier="moderation-v1", category=category("violence"), label="V", score=0.6
    )
    SignalFactory(item=item, classifier="hate-v1", category=category("hate"), score=0.4)
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    panel = page[page.index('id="signals-h"') : page.index('id="subject-h"')]
    assert panel.count(">Violence</span>") == 1 and panel.count(">Hate</span>") == 1
    assert "0.91" in panel and "violence-v2" in panel and "moderation-v1 (V)" in panel


EMAIL = "jane.doe@example.com"


def test_personal_data_cut_at_the_fold_stays_masked(reviewer_client):
    # The email straddles the 1,500th character: cut first, masked second, half of it showed.
    prompt = "x" * 1490 + " " + EMAIL + " " + "y" * 100
    item = FlaggedItemFactory(prompt=prompt)
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "jane" not in page and "example.com" not in page
    assert "[email]" in page and "Show all" in page


def test_the_decision_form_answers_422_not_500_to_categories_that_are_no_number(
    reviewer_client, reviewer
):
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    for value in ("²", "١", "1e3", "-1", "99999999999999999999", ""):
        response = reviewer_client.post(
            f"/items/{item.pk}/decide/",
            {"verdict": "violation", "categories": [value]},
            headers=HTMX,
        )
        assert response.status_code == 422, value
        assert "An unknown policy category was chosen." in response.content.decode()
    assert not Decision.objects.exists()
    item.refresh_from_db()
    assert item.state == ItemState.CLAIMED


def test_the_shortcut_line_names_every_key(reviewer_client, reviewer):
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    for text in (
        "<kbd>V</kbd> Violation",
        "<kbd>N</kbd> No violation",
        "<kbd>E</kbd> Escalate",
        "<kbd>S</kbd> Skip",
        "<kbd>/</kbd> note",
    ):
        assert text in page, text
    # Nothing hidden here, no decision to undo: no C, no U.
    assert "Show content" not in page and "<kbd>U</kbd>" not in page


def test_the_holder_sees_the_form_not_the_held_by_another_notice(reviewer_client, reviewer):
    item = FlaggedItemFactory()
    claims.claim_next(user=reviewer)
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "holds this item since" not in page and 'id="decision"' in page
