"""Golden items in a real working session (issue 10): with every claim serving gold while
gold is left, a reviewer works a queue of real items by keyboard; golden items come between
them looking like any item; a wrong answer on gold brings the expected answer on the next
item, whose keys still work; the session ends at a true "Queue empty" with every real item
decided, and nothing that came from gold reached a user's figures, actions or deliveries."""

from __future__ import annotations

from decimal import Decimal

from playwright.sync_api import Page, expect

from moderation.models import (
    GOLD_SUBJECT_HASH,
    WAITING_STATES,
    Decision,
    Delivery,
    EnforcementAction,
    FlaggedItem,
    ItemState,
    PolicyCategory,
    QualitySettings,
    Subject,
    Verdict,
)
from moderation.services import gold_serving
from tests.factories import (
    FlaggedItemFactory,
    GoldItemFactory,
    SignalFactory,
    SubjectFactory,
    categories,
)

from .conftest import in_place, next_after, screenshot, sign_in

FEEDBACK = "The last item was a check with a known answer."
DIGITS = [*"1234567890", *(f"shift+{d}" for d in "1234567890")]


def key_for(slug: str) -> str:
    """The digit key of a category, from the policy's order as the page promises."""
    ordered = list(PolicyCategory.objects.order_by("pk").values_list("slug", flat=True))
    return DIGITS[ordered.index(slug)].replace("shift+", "Shift+")


def test_gold_between_real_items_with_feedback_after_a_wrong_answer(page: Page, reviewer):
    QualitySettings.objects.update_or_create(pk=1, defaults={"gold_percent": Decimal(100)})
    gold_serving.rng.seed(10)
    user = SubjectFactory()
    real = []
    for n, prompt in enumerate(
        [
            "I'll hurt him if he comes back.",
            "Best way to win a bar fight?",
            "What time is the match tonight?",
            "Tell me how to break his arm.",
        ]
    ):
        item = FlaggedItemFactory(subject=user, prompt=prompt, priority=900 - n * 100)
        SignalFactory(item=item)
        real.append(item.pk)
    note = "Instructions to injure a named person are Violence."
    wrong_gold = GoldItemFactory(organization=user.organization, note=note)
    GoldItemFactory(organization=user.organization, expected_verdict=Verdict.NO_VIOLATION)
    violence = key_for("violence")

    sign_in(page, "rita")
    page.keyboard.press("Enter")  # "Review next" has the focus
    served: list[int] = []
    decided_real: list[int] = []
    feedback_seen_on: int | None = None
    pk = in_place(page)
    while pk is not None:
        item = FlaggedItem.objects.get(pk=pk)
        assert "gold" not in page.content().lower()
        if item.gold_id is not None:
            served.append(pk)
            if item.gold_id == wrong_gold.pk:
                page.keyboard.press("n")  # wrong: it is a violation of Violence
            else:
                page.keyboard.press("n")  # right
            following = next_after(page, pk)
            if item.gold_id == wrong_gold.pk:
                # The next page (the next item) brings the expected answer and the note.
                status = page.get_by_role("status").filter(has_text=FEEDBACK)
                expect(status).to_be_visible()
                expect(status).to_contain_text("Expected: Violation (Violence).")
                expect(status).to_contain_text(note)
                feedback_seen_on = following
                screenshot(page, "check-feedback")
            pk = following
            continue
        # A real item: the keys apply to it, feedback shown above or not.
        page.keyboard.press(violence)
        expect(page.locator(f'input[data-key="{violence.lower()}"]')).to_be_checked()
        page.keyboard.press("v")
        decided_real.append(pk)
        following = next_after(page, pk)
        if pk == feedback_seen_on:
            # Shown once: gone from the page after it.
            expect(page.get_by_text(FEEDBACK)).to_have_count(0)
        pk = following

    # A true "Queue empty": every real item decided, nothing of hers left waiting.
    assert sorted(decided_real) == sorted(real)
    assert len(served) == 2 and feedback_seen_on is not None
    assert not FlaggedItem.objects.filter(pk__in=real, state__in=WAITING_STATES).exists()
    assert not FlaggedItem.objects.filter(claimed_by=reviewer).exists()
    assert FlaggedItem.objects.filter(pk__in=served, state=ItemState.DECIDED).count() == 2

    # Nothing from gold in any figure, action or delivery.
    for subject in Subject.objects.filter(user_id_hash=GOLD_SUBJECT_HASH):
        assert (subject.violations, subject.reviewed, subject.status) == (0, 0, "active")
        assert not subject.actions.exists()
    gold_decisions = Decision.objects.filter(item_id__in=served)
    assert not EnforcementAction.objects.filter(basis__in=gold_decisions).exists()
    assert not Delivery.objects.filter(action__subject__user_id_hash=GOLD_SUBJECT_HASH).exists()
    user.refresh_from_db()
    finals = Decision.objects.final().filter(item__subject=user)
    assert (
        (user.violations, user.reviewed)
        == (
            finals.filter(verdict=Verdict.VIOLATION).count(),
            finals.count(),
        )
        == (4, 4)
    )
    assert {c.slug for d in finals for c in d.categories.all()} == {
        c.slug for c in categories("violence")
    }
