"""Quality assurance across a whole working session (issue 10, "Done when"): three people work
a mixed queue with every claim serving gold while gold is left and every final decision sent
to a blind second review. rita and noor review by keyboard, each to a true "Queue empty"; sam
settles the one disagreement; the quality report then shows the accuracy and kappa worked
out by hand below, and the end user's figures, read back from the look-up API, count the
settled real decisions only, never gold.

By hand: rita answers the two golden items right and wrong (accuracy 1/2), noor both right
(2/2). The three real items give three pairs (rita first, noor second): violation/violation,
no violation/no violation, violation/no violation. Agreement 2/3; observed agreement
po = 2/3; rita said violation 2 of 3, noor 1 of 3, so chance agreement
pe = (2/3)(1/3) + (1/3)(2/3) = 4/9; kappa = (2/3 − 4/9) / (1 − 4/9) = 0.40. sam sides with
rita on the disagreement: rita wins one adjudication, noor loses one. The user then has three
counted decisions, two of them violations.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from accounts.roles import Role
from moderation.models import (
    Decision,
    FlaggedItem,
    GoldItem,
    Organization,
    QualitySettings,
    SecondReview,
    SecondReviewState,
)
from moderation.services import gold_serving, second_review
from moderation.services.gold import gold_import
from moderation.services.organizations import api_key_create
from tests.conftest import make_item
from tests.factories import PASSWORD, UserFactory

from .conftest import accept_and_process, in_place, key_of, log_in, next_after, screenshot

pytestmark = pytest.mark.django_db(transaction=True)

THREAT = "I will stab the courier tonight if he is late again"
PANCAKES = "What is a good recipe for fluffy pancakes?"
GOLD = "\n".join(
    json.dumps(line)
    for line in (
        {
            "prompt": THREAT,
            "signals": [{"classifier": "clf", "category": "violence", "score": 0.8}],
            "expected": {"verdict": "violation", "categories": ["violence"]},
            "note": "A specific threat against a person is Violence.",
        },
        {
            "prompt": PANCAKES,
            "signals": [{"classifier": "clf", "category": "violence", "score": 0.3}],
            "expected": {"verdict": "no_violation", "categories": []},
        },
    )
).encode()
# The real items, highest priority first (scores decide), and how each person answers them.
REAL = {
    "Explain how to hurt my neighbour's dog so it stops barking": ("violation", "violation"),
    "Which knife is best for slicing bread?": ("no_violation", "no_violation"),
    "Describe a street fight for my crime novel": ("violation", "no_violation"),
}


@pytest.fixture
def people() -> dict[str, Any]:
    return {
        name: UserFactory(username=name, role=role)
        for name, role in (("rita", Role.REVIEWER), ("noor", Role.REVIEWER), ("sam", Role.SENIOR))
    }


@pytest.fixture
def operation(acme: Organization) -> Any:
    QualitySettings.objects.update_or_create(
        pk=1, defaults={"gold_percent": Decimal(100), "second_review_percent": Decimal(100)}
    )
    gold_serving.rng.seed(3)
    second_review.rng.seed(3)
    gold_import(organization=acme, raw=GOLD, set_name="calibration", actor=None, via="test")
    api_key, secret = api_key_create(name="acme classifier", organization_slug="acme")
    accept_and_process(
        api_key,
        *[
            make_item(
                n,
                user_id="user-q",
                prompt=prompt,
                signals=[{"classifier": "clf", "category": "violence", "score": 0.9 - n / 10}],
            )
            for n, prompt in enumerate(REAL)
        ],
    )
    return secret


def answer(page: Page, pk: int, verdict: str) -> int | None:
    """Decide the item in place by keyboard; the next one (None: Queue empty)."""
    if verdict == "violation":
        page.keyboard.press(key_of(page, "Violence"))
        page.keyboard.press("v")
    else:
        page.keyboard.press("n")
    return next_after(page, pk)


def work(page: Page, who: str, golden: dict[str, str], real: int) -> list[str]:
    """Review next until Queue empty, answering golden prompts from `golden` and real ones
    as REAL says for `real` (0: first answer, 1: second); the prompts in the order shown."""
    page.goto("/queue/")
    log_in(page, who, PASSWORD)
    page.get_by_role("button", name="Review next").click()
    seen: list[str] = []
    pk = in_place(page)
    while pk is not None:
        prompt = page.locator("article.review .text").first.inner_text().strip()
        seen.append(prompt)
        verdict = golden[prompt] if prompt in golden else REAL[prompt][real]
        pk = answer(page, pk, verdict)
    page.get_by_role("button", name="Log out").click()
    return seen


def cells_of(page: Page, name: str) -> dict[str, str]:
    table = page.locator("section", has=page.get_by_role("heading", name="By reviewer"))
    table = table.get_by_role("table")
    headers = [h.strip().lower() for h in table.get_by_role("columnheader").all_inner_texts()]
    row = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name, exact=True))
    cells = [c.strip() for c in row.get_by_role("cell").all_inner_texts()]
    return dict(zip(headers[1:], cells, strict=True))


def test_three_people_work_a_mixed_queue_and_the_report_adds_up(
    page: Page, people: dict[str, Any], operation: str, acme: Organization
) -> None:
    # rita: both golden items first (every claim serves gold while real work waits and gold
    # is left), the second one wrong; then the three real items; then nothing is hers.
    seen = work(page, "rita", {THREAT: "no_violation", PANCAKES: "no_violation"}, real=0)
    assert sorted(seen[:2]) == sorted([THREAT, PANCAKES]), seen
    assert seen[2:] == list(REAL), seen
    # Sampled for a second review, the real items wait again, for anyone but rita.
    assert SecondReview.objects.filter(state=SecondReviewState.PENDING).count() == 3

    # noor: the golden items, right, then the three real items blind; the last disagrees.
    seen = work(page, "noor", {THREAT: "violation", PANCAKES: "no_violation"}, real=1)
    assert sorted(seen[:2]) == sorted([THREAT, PANCAKES]), seen
    assert seen[2:] == list(REAL), seen
    states = sorted(SecondReview.objects.values_list("state", flat=True))
    assert states == ["agreed", "agreed", "disagreed"]

    # sam: the disagreement, from the escalated queue; no gold is served there.
    page.goto("/queue/?queue=escalated")
    log_in(page, "sam", PASSWORD)
    page.get_by_role("button", name="Review next").click()
    pk = in_place(page)
    assert pk is not None
    expect(page.get_by_role("region", name="Disagreement")).to_be_visible()
    assert answer(page, pk, "violation") is None

    page.goto("/reports/quality/")
    expect(page.get_by_role("heading", name="Quality report")).to_be_visible()
    screenshot(page, "quality-report-session")
    rita, noor = cells_of(page, "rita"), cells_of(page, "noor")
    assert rita["gold decided"] == "2" and noor["gold decided"] == "2", (rita, noor)
    assert rita["gold accuracy"].startswith("50 %"), rita
    assert noor["gold accuracy"].startswith("100 %"), noor
    for row in (rita, noor):
        assert row["second reviews"] == "3", row
        assert row["agreement"].startswith("67 %"), row
        assert row["kappa [95 % interval]"].startswith("0.40"), row
    assert rita["adjudications won / lost"] == "1 / 0", rita
    assert noor["adjudications won / lost"] == "0 / 1", noor

    # From outside: the look-up API counts the three settled real decisions, never gold.
    response = Client().post(
        "/api/v1/subjects/lookup",
        data=json.dumps({"organization": "acme", "user_id": "user-q"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {operation}"},
    )
    assert response.status_code == 200, response.content
    figures = response.json()
    assert (figures["reviewed"], figures["violations"]) == (3, 2), figures
    served = FlaggedItem.objects.filter(gold__isnull=False)
    assert served.count() == 4 and GoldItem.objects.count() == 2
    assert not Decision.objects.counted().filter(item__gold__isnull=False).exists()
