"""The set_quality command (CONTRACT §2 v2): the gold and second-review shares, 0 to 100,
printed as one JSON object; anything else refused with nothing changed."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.management import CommandError

from moderation.models import AuditAction, AuditEvent, QualitySettings
from tests.factories import manage, run, run_json

pytestmark = pytest.mark.django_db

DEFAULTS = {"gold_percent": 2.0, "second_review_percent": 5.0, "second_review_all_removals": False}


def test_with_no_option_it_prints_the_current_settings_and_changes_nothing(db):
    assert run_json("set_quality") == DEFAULTS
    assert not AuditEvent.objects.filter(action=AuditAction.QUALITY_SETTINGS).exists()


def test_it_sets_both_shares_with_decimals(db):
    printed = run_json("set_quality", "--gold-percent", "2.5", "--second-review-percent", "10")
    assert printed == {**DEFAULTS, "gold_percent": 2.5, "second_review_percent": 10.0}
    settings = QualitySettings.current()
    assert (settings.gold_percent, settings.second_review_percent) == (
        Decimal("2.5"),
        Decimal("10"),
    )
    assert settings.updated_by is None
    assert run_json("set_quality") == printed


def test_one_option_leaves_the_other_share_as_it_was(db):
    run("set_quality", "--second-review-percent", "7")
    assert run_json("set_quality", "--gold-percent", "0") == {
        **DEFAULTS,
        "gold_percent": 0.0,
        "second_review_percent": 7.0,
    }


def test_the_bounds_are_allowed(db):
    assert run_json("set_quality", "--gold-percent", "100", "--second-review-percent", "0") == {
        **DEFAULTS,
        "gold_percent": 100.0,
        "second_review_percent": 0.0,
    }


def test_a_change_is_audited_with_the_values_before_and_after(db):
    run("set_quality", "--gold-percent", "3")
    event = AuditEvent.objects.get(action=AuditAction.QUALITY_SETTINGS)
    assert event.actor is None
    assert event.detail["via"] == "command line"
    assert event.detail["before"]["gold_percent"] == "2"
    assert event.detail["after"]["gold_percent"] == "3"
    assert event.detail["after"]["second_review_percent"] == "5"


def test_setting_the_same_values_again_writes_no_audit_row(db):
    run("set_quality", "--gold-percent", "3")
    run("set_quality", "--gold-percent", "3.00")
    assert AuditEvent.objects.filter(action=AuditAction.QUALITY_SETTINGS).count() == 1


@pytest.mark.parametrize(
    "value",
    ["-1", "100.01", "101", "abc", "", "nan", "inf", "1e3", "2.555", "5%"],
)
def test_a_bad_value_is_refused_and_nothing_changes(db, value):
    with pytest.raises(CommandError, match="--gold-percent"):
        run("set_quality", "--gold-percent", value, "--second-review-percent", "50")
    assert run_json("set_quality") == DEFAULTS
    assert not AuditEvent.objects.filter(action=AuditAction.QUALITY_SETTINGS).exists()


@pytest.mark.django_db(transaction=True)
def test_from_the_shell_out_of_range_exits_non_zero(db):
    done = manage("set_quality", "--second-review-percent", "150")
    assert done.returncode != 0
    assert "--second-review-percent" in done.stderr
    good = manage("set_quality", "--gold-percent", "4")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout) == {**DEFAULTS, "gold_percent": 4.0}
