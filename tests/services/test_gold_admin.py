"""The admin side of golden items (issue 10): marking a decided item as golden copies it with
its final decision as the expected answer and never changes the item; the quality settings and
each set's feedback switch are saved and audited."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from moderation.models import (
    AuditAction,
    AuditEvent,
    Decision,
    FlaggedItem,
    GoldItem,
    GoldSet,
    ItemState,
    QualitySettings,
    SecondReview,
    SecondReviewState,
    Verdict,
)
from moderation.services.gold import GoldMarkRefused, gold_mark
from moderation.services.quality_settings import (
    QualitySettingsInvalid,
    gold_set_feedback,
    quality_settings_save,
)
from moderation.services.review import decision_overturn
from tests.factories import (
    FlaggedItemFactory,
    GoldItemFactory,
    GoldSetFactory,
    SignalFactory,
    categories,
    category,
    decide,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def decided(acme, reviewer) -> FlaggedItem:
    item = FlaggedItemFactory(
        subject__organization=acme, prompt="I will hurt you", response="No.", model="m-1"
    )
    SignalFactory(item=item, classifier="guard", label="violence", score=0.91)
    SignalFactory(item=item, classifier="guard", category=category("hate"), label="hate", score=0.4)
    decide(item, Verdict.VIOLATION, "violence", "hate", reviewer=reviewer)
    item.refresh_from_db()
    return item


def snapshot(item: FlaggedItem) -> tuple[object, ...]:
    item.refresh_from_db()
    return (
        item.state,
        item.prompt,
        item.gold_id,
        item.decided_at,
        list(item.decisions.values_list("pk", "verdict", "voided_at")),
    )


def test_marking_copies_the_item_with_its_final_decision_as_the_answer(decided, admin_user, acme):
    before = snapshot(decided)
    gold = gold_mark(
        item=decided, new_set_name="From items", note="Plain threat.", actor=admin_user
    )
    assert gold.gold_set.name == "From items" and gold.gold_set.created_by == admin_user
    assert (gold.organization, gold.prompt, gold.response, gold.model) == (
        acme,
        "I will hurt you",
        "No.",
        "m-1",
    )
    assert sorted(gold.signals, key=lambda s: -s["score"]) == [
        {"classifier": "guard", "category": "violence", "label": "violence", "score": 0.91},
        {"classifier": "guard", "category": "hate", "label": "hate", "score": 0.4},
    ]
    assert gold.expected_verdict == Verdict.VIOLATION
    assert set(gold.expected_categories.all()) == set(categories("violence", "hate"))
    assert gold.note == "Plain threat." and gold.source_item == decided and gold.active
    assert snapshot(decided) == before  # the real item's record never changes
    event = AuditEvent.objects.get(action=AuditAction.GOLD_MARK)
    assert event.actor == admin_user and event.item == decided
    assert event.detail["gold_item"] == gold.pk
    assert event.detail["expected_categories"] == ["hate", "violence"]


def test_the_answer_is_the_standing_decision_after_an_overturn(decided, senior, admin_user):
    decision_overturn(
        item=decided, user=senior, verdict=Verdict.NO_VIOLATION, categories=[], note="Fiction."
    )
    gold = gold_mark(item=decided, new_set_name="s", actor=admin_user)
    assert gold.expected_verdict == Verdict.NO_VIOLATION
    assert list(gold.expected_categories.all()) == []


def test_an_existing_set_may_be_chosen(decided, admin_user):
    gold_set = GoldSetFactory(name="March")
    gold = gold_mark(item=decided, gold_set=gold_set, actor=admin_user)
    assert gold.gold_set == gold_set
    # A new name that is an existing set's name adds to that set.
    again = gold_mark(item=decided, new_set_name=" March ", actor=admin_user)
    assert again.gold_set == gold_set and GoldSet.objects.count() == 1


def refused(item: FlaggedItem, admin_user: object, message: str, **kwargs: object) -> None:
    kwargs.setdefault("new_set_name", "s")
    golden = GoldItem.objects.count()
    with pytest.raises(GoldMarkRefused, match=message):
        gold_mark(item=item, actor=admin_user, **kwargs)  # type: ignore[arg-type]
    assert GoldItem.objects.count() == golden
    assert not AuditEvent.objects.filter(action=AuditAction.GOLD_MARK).exists()


def test_an_undecided_item_is_refused(acme, admin_user):
    refused(FlaggedItemFactory(subject__organization=acme), admin_user, "Only a decided item")


def test_an_escalated_item_is_refused(acme, reviewer, admin_user):
    item = FlaggedItemFactory(subject__organization=acme)
    decide(item, Verdict.ESCALATE, reviewer=reviewer)
    refused(item, admin_user, "Only a decided item")


def test_an_erased_item_is_refused(decided, admin_user):
    FlaggedItem.objects.filter(pk=decided.pk).update(
        prompt="", response="", content_erased_at=timezone.now()
    )
    decided.refresh_from_db()
    refused(decided, admin_user, "erased")


def test_a_conversation_is_refused(decided, admin_user):
    # Golden items stay a prompt and a response: a copy would drop the turns decided on.
    FlaggedItem.objects.filter(pk=decided.pk).update(
        messages=[{"role": "user", "content": "I will hurt you"}], flagged_turn=0
    )
    decided.refresh_from_db()
    refused(decided, admin_user, "A conversation cannot be marked as golden")


def test_a_served_golden_item_is_refused(acme, reviewer, admin_user):
    served = FlaggedItemFactory(subject__organization=acme, gold=GoldItemFactory(organization=acme))
    decide(served, Verdict.VIOLATION, reviewer=reviewer)
    served.refresh_from_db()
    refused(served, admin_user, "golden item served")


def test_a_decision_waiting_for_its_second_review_is_refused(decided, admin_user):
    SecondReview.objects.create(
        item=decided,
        first_decision=Decision.objects.final().get(item=decided),
        state=SecondReviewState.PENDING,
    )
    refused(decided, admin_user, "second review")


def test_no_set_or_a_bad_name_is_refused(decided, admin_user):
    refused(decided, admin_user, "Choose a gold set", new_set_name="  ")
    refused(decided, admin_user, "at most 100 characters", new_set_name="x" * 101)
    assert not GoldSet.objects.exists()


def test_a_note_with_nul_is_refused(decided, admin_user):
    refused(decided, admin_user, "note", note="a\x00b")


def test_settings_saved_and_audited_once_per_change(admin_user):
    quality_settings_save(gold_percent=Decimal("0.5"), actor=admin_user, via="settings page")
    quality_settings_save(gold_percent=Decimal("0.50"), actor=admin_user, via="settings page")
    settings = QualitySettings.current()
    assert settings.gold_percent == Decimal("0.5") and settings.updated_by == admin_user
    (event,) = AuditEvent.objects.filter(action=AuditAction.QUALITY_SETTINGS)
    assert event.detail["before"]["gold_percent"] == "2"
    assert event.detail["after"]["gold_percent"] == "0.5"


@pytest.mark.parametrize("value", ["-0.01", "100.5", "NaN", "Infinity", "0.001"])
def test_settings_out_of_range_change_nothing(admin_user, value):
    with pytest.raises(QualitySettingsInvalid) as invalid:
        quality_settings_save(
            gold_percent=Decimal(3),
            second_review_percent=Decimal(value),
            actor=admin_user,
            via="settings page",
        )
    assert set(invalid.value.errors) == {"second_review_percent"}
    assert QualitySettings.current().gold_percent == Decimal(2)
    assert not AuditEvent.objects.filter(action=AuditAction.QUALITY_SETTINGS).exists()


def test_feedback_switch_is_audited_only_when_it_changes(admin_user):
    gold_set = GoldSetFactory(name="s")
    events = AuditEvent.objects.filter(action=AuditAction.QUALITY_SETTINGS)
    gold_set_feedback(gold_set=gold_set, feedback=True, actor=admin_user)
    assert not events.exists()
    gold_set_feedback(gold_set=gold_set, feedback=False, actor=admin_user)
    gold_set.refresh_from_db()
    assert gold_set.feedback is False
    assert events.get().detail["after"] == {"feedback": False}


def test_served_items_are_not_changed_by_marking(decided, admin_user):
    gold = gold_mark(item=decided, new_set_name="s", actor=admin_user)
    assert gold.served.count() == 0
    assert FlaggedItem.objects.filter(gold__isnull=False).count() == 0
    assert FlaggedItem.objects.get(pk=decided.pk).state == ItemState.DECIDED
