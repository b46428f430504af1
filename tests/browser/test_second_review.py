"""Blind second review in the browser (issue 10): with every final decision sampled, rita
decides an item and gets the next one, not hers again; noor's "Review next" serves rita's item
as a fresh one, with nothing of rita's answer on it; noor agrees, and only then do the user's
figures on the subject page (read by a senior) count the decision."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from playwright.sync_api import Page, expect

from accounts.roles import Role
from moderation.models import QualitySettings, SecondReview, SecondReviewState
from tests.factories import FlaggedItemFactory, SignalFactory, SubjectFactory, UserFactory

from .conftest import button, figure, next_in_place, review_next, screenshot, sign_in

NOTE = "Threat against a named person."


def subject_figures(page: Page, url: str, violations: str, reviewed: str) -> None:
    page.goto(url)
    expect(figure(page, "Violations")).to_have_text(violations)
    expect(figure(page, "Reviewed")).to_have_text(reviewed)


def test_second_reviewer_answers_blind_and_only_agreement_counts(
    new_page: Callable[..., Page], reviewer, senior
):
    QualitySettings.objects.update_or_create(pk=1, defaults={"second_review_percent": Decimal(100)})
    UserFactory(username="noor", role=Role.REVIEWER)
    user = SubjectFactory()
    sampled = FlaggedItemFactory(subject=user, prompt="I'll hurt him if he comes back.", priority=9)
    SignalFactory(item=sampled)
    later = FlaggedItemFactory(subject=user, prompt="What time is the match tonight?", priority=1)
    SignalFactory(item=later)
    subject_url = f"/subjects/{user.organization.slug}/{user.user_id_hash}/"

    rita = new_page()
    sign_in(rita, "rita")
    assert review_next(rita) == sampled.pk
    rita.evaluate("window.__marker = 1")
    rita.locator(".category.flagged").get_by_role("checkbox").first.check()
    rita.get_by_label("Note").fill(NOTE)
    button(rita, "Violation").click()
    assert next_in_place(rita, after=sampled.pk) == later.pk
    assert SecondReview.objects.get().state == SecondReviewState.PENDING

    sam = new_page()
    sign_in(sam, "sam")
    subject_figures(sam, subject_url, "0", "0")

    noor = new_page()
    sign_in(noor, "noor")
    assert review_next(noor) == sampled.pk
    work = noor.locator("#work")
    expect(work).not_to_contain_text("rita")
    expect(work).not_to_contain_text(NOTE)
    expect(noor.get_by_role("region", name="Decisions")).to_have_count(0)
    expect(noor.locator("#overturn")).to_have_count(0)
    screenshot(noor, "second-review-blind")
    noor.locator(".category.flagged").get_by_role("checkbox").first.check()
    button(noor, "Violation").click()
    expect(noor.get_by_role("heading", name="Queue empty")).to_be_visible()

    review = SecondReview.objects.get()
    assert review.state == SecondReviewState.AGREED and review.reviewer.username == "noor"
    subject_figures(sam, subject_url, "1", "1")
    expect(sam.get_by_role("region", name="History")).to_contain_text(re.compile("by rita"))
