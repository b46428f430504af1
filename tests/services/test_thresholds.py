"""Thresholds (CONTRACT §6): the pure rule from figures to a status, and the editing of rules."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from moderation.models import SubjectStatus, ThresholdChange, Thresholds
from moderation.services.thresholds import (
    STATUS_RANK,
    Rules,
    Target,
    ThresholdsInvalid,
    rules_check,
    status_target,
    thresholds_for,
    thresholds_global,
    thresholds_reset,
    thresholds_save,
)

# Pure functions: many examples cost little; no database, so nothing to leave behind either.
PURE = settings(max_examples=120, deadline=None, database=None)
DEFAULTS = Rules()


@st.composite
def figures(draw: st.DrawFn, max_reviewed: int = 200) -> tuple[int, int, bool]:
    """(violations, reviewed, critical): violations never exceed reviewed, and a critical
    violation is one of the violations."""
    reviewed = draw(st.integers(0, max_reviewed))
    violations = draw(st.integers(0, reviewed))
    critical = violations > 0 and draw(st.booleans())
    return violations, reviewed, critical


# Rates on a grid of twentieths, so the oracle can compare exact fractions.
GRID_RATES = st.integers(0, 20).map(lambda k: k / 20)


@st.composite
def valid_rules(draw: st.DrawFn, rates: st.SearchStrategy[float] = GRID_RATES) -> Rules:
    warn = draw(st.integers(1, 20))
    restrict = draw(st.integers(warn, 30))
    remove = draw(st.integers(restrict, 40))
    return Rules(
        window_days=draw(st.integers(1, 365)),
        warn_violations=warn,
        restrict_violations=restrict,
        restrict_rate=draw(rates),
        remove_violations=remove,
        remove_rate=draw(rates),
        remove_on_critical=draw(st.booleans()),
    )


def exact(rate: float) -> Fraction:
    return Fraction(rate).limit_denominator(20)


def oracle(violations: int, reviewed: int, critical: bool, rules: Rules) -> Target:
    """CONTRACT §6 in exact arithmetic, independent of the code under test."""
    rate = Fraction(violations, reviewed) if reviewed else Fraction(0)
    status = SubjectStatus.ACTIVE
    if violations >= rules.warn_violations:
        status = SubjectStatus.WARNED
    if violations >= rules.restrict_violations and rate >= exact(rules.restrict_rate):
        status = SubjectStatus.RESTRICTED
    remove = (violations >= rules.remove_violations and rate >= exact(rules.remove_rate)) or (
        rules.remove_on_critical and critical
    )
    return Target(status=status, propose_removal=remove)


def target(violations: int, reviewed: int, critical: bool = False, rules: Rules = DEFAULTS):
    return status_target(
        violations=violations, reviewed=reviewed, critical_violation=critical, rules=rules
    )


def rank(t: Target) -> int:
    return STATUS_RANK[t.status]


# --- the default table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("violations", "reviewed", "status", "remove"),
    [
        (0, 0, "active", False),
        (0, 50, "active", False),
        (1, 1, "warned", False),
        (1, 100, "warned", False),
        (2, 2, "warned", False),
        # restrict: 3 violations and rate ≥ 0.5, both inclusive
        (3, 6, "restricted", False),
        (3, 7, "warned", False),
        (4, 9, "warned", False),
        (4, 8, "restricted", False),
        # remove: 5 violations and rate ≥ 0.8, both inclusive; proposed, never taken
        (4, 4, "restricted", False),
        (5, 6, "restricted", True),
        (5, 7, "restricted", False),
        (8, 10, "restricted", True),
        (7, 9, "restricted", False),
    ],
)
def test_it_applies_the_default_table_at_its_boundaries(violations, reviewed, status, remove):
    assert target(violations, reviewed) == Target(SubjectStatus(status), remove)


def test_it_proposes_removal_for_a_single_critical_violation():
    assert target(1, 40, critical=True) == Target(SubjectStatus.WARNED, propose_removal=True)


def test_it_defaults_to_the_contracts_rules():
    assert DEFAULTS == Rules(
        window_days=30,
        warn_violations=1,
        restrict_violations=3,
        restrict_rate=0.5,
        remove_violations=5,
        remove_rate=0.8,
        remove_on_critical=True,
    )


@PURE
@given(figures())
@example((3, 6, False))
@example((5, 6, False))
@example((5, 7, False))
def test_it_matches_the_contract_for_any_figures(f):
    violations, reviewed, critical = f
    assert target(violations, reviewed, critical) == oracle(
        violations, reviewed, critical, DEFAULTS
    )


# --- properties for any sensible rules ----------------------------------------------------


@PURE
@given(valid_rules(), figures())
def test_it_follows_custom_rules(rules, f):
    violations, reviewed, critical = f
    assert target(violations, reviewed, critical, rules) == oracle(
        violations, reviewed, critical, rules
    )


@PURE
@given(valid_rules(rates=st.floats(0, 1)), st.data())
def test_more_violations_at_the_same_reviewed_never_lower_the_target(rules, data):
    reviewed = data.draw(st.integers(0, 200))
    fewer = data.draw(st.integers(0, reviewed))
    more = data.draw(st.integers(fewer, reviewed))
    critical = data.draw(st.booleans()) and fewer > 0
    low, high = target(fewer, reviewed, critical, rules), target(more, reviewed, critical, rules)
    assert rank(low) <= rank(high)
    assert high.propose_removal or not low.propose_removal


@PURE
@given(valid_rules(rates=st.floats(0, 1)), figures())
def test_fewer_reviewed_at_the_same_violations_never_lower_the_target(rules, f):
    violations, reviewed, critical = f
    if violations == 0:
        return
    # A higher rate: the same violations among fewer reviewed items.
    tighter = target(violations, violations, critical, rules)
    looser = target(violations, reviewed, critical, rules)
    assert rank(looser) <= rank(tighter)
    assert tighter.propose_removal or not looser.propose_removal


@PURE
@given(valid_rules(rates=st.floats(0, 1)), figures())
def test_a_critical_violation_never_lowers_the_target(rules, f):
    violations, reviewed, _ = f
    if violations == 0:
        return
    plain, critical = (
        target(violations, reviewed, False, rules),
        target(violations, reviewed, True, rules),
    )
    assert plain.status == critical.status
    assert critical.propose_removal or not plain.propose_removal
    assert critical.propose_removal == (plain.propose_removal or rules.remove_on_critical)


@PURE
@given(valid_rules(rates=st.floats(0, 1)), figures(max_reviewed=10_000))
def test_the_target_never_exceeds_restricted_removal_is_only_proposed(rules, f):
    violations, reviewed, critical = f
    assert target(violations, reviewed, critical, rules).status != SubjectStatus.REMOVED


@PURE
@given(valid_rules(rates=st.floats(0, 1)), st.integers(0, 500))
def test_no_violations_is_always_active_without_a_proposal(rules, reviewed):
    assert target(0, reviewed, False, rules) == Target(SubjectStatus.ACTIVE, False)


def test_it_ignores_a_critical_violation_when_the_rule_is_off():
    rules = dataclasses.replace(DEFAULTS, remove_on_critical=False)
    assert target(1, 40, critical=True, rules=rules) == Target(SubjectStatus.WARNED, False)


def test_it_restricts_on_custom_rules():
    rules = Rules(warn_violations=2, restrict_violations=2, restrict_rate=0.1)
    assert target(1, 1, rules=rules).status == SubjectStatus.ACTIVE
    assert target(2, 20, rules=rules).status == SubjectStatus.RESTRICTED
    assert target(2, 21, rules=rules).status == SubjectStatus.WARNED


# --- rules_check -------------------------------------------------------------------------


@PURE
@given(valid_rules(rates=st.floats(0, 1)))
def test_it_accepts_every_sensible_rule_set(rules):
    rules_check(rules)


def refused(**changes: object) -> dict[str, str]:
    with pytest.raises(ThresholdsInvalid) as invalid:
        rules_check(dataclasses.replace(DEFAULTS, **changes))
    return invalid.value.errors


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("window_days", 0),
        ("window_days", 366),
        ("window_days", -30),
        ("warn_violations", 0),
        ("restrict_violations", 0),
        ("remove_violations", 0),
        ("remove_violations", 10_001),
        ("restrict_rate", -0.01),
        ("restrict_rate", 1.01),
        ("remove_rate", float("nan")),
        ("remove_rate", float("inf")),
    ],
)
def test_it_refuses_nonsense_naming_the_field(field, value):
    errors = refused(**{field: value})
    assert list(errors) == [field]
    assert errors[field]


@PURE
@given(st.one_of(st.integers(max_value=0), st.integers(min_value=366)))
def test_it_refuses_any_window_outside_a_year(days):
    assert "window_days" in refused(window_days=days)


@PURE
@given(
    st.sampled_from(["restrict_rate", "remove_rate"]),
    st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1 + 1e-9), st.just(float("nan"))),
)
def test_it_refuses_any_rate_outside_zero_to_one(field, rate):
    assert field in refused(**{field: rate})


def test_it_refuses_restricting_before_warning():
    errors = refused(warn_violations=4, restrict_violations=3)
    assert list(errors) == ["restrict_violations"]


def test_it_refuses_removing_before_restricting():
    errors = refused(restrict_violations=6, remove_violations=5)
    assert list(errors) == ["remove_violations"]


def test_it_names_every_broken_field_at_once():
    errors = refused(window_days=0, warn_violations=0, remove_rate=2.0)
    assert set(errors) == {"window_days", "warn_violations", "remove_rate"}


def test_the_error_message_names_the_fields():
    with pytest.raises(ThresholdsInvalid, match="window_days: .*; restrict_rate: "):
        rules_check(dataclasses.replace(DEFAULTS, window_days=0, restrict_rate=5.0))


# --- stored thresholds -------------------------------------------------------------------


@pytest.mark.django_db
def test_it_falls_back_to_the_global_thresholds(acme):
    assert thresholds_for(acme) == thresholds_global()
    assert thresholds_for(None) == thresholds_global()
    assert Rules.of(thresholds_for(acme)) == DEFAULTS
    assert Thresholds.objects.filter(organization__isnull=True).count() == 1


@pytest.mark.django_db
def test_it_saves_an_organizations_own_thresholds_with_their_history(acme, globex, admin_user):
    rules = dataclasses.replace(DEFAULTS, window_days=7, warn_violations=2, restrict_violations=4)
    thresholds, change = thresholds_save(organization=acme, rules=rules, user=admin_user)
    assert thresholds.organization == acme and thresholds.updated_by == admin_user
    assert Rules.of(thresholds_for(acme)) == rules
    assert Rules.of(thresholds_for(globex)) == DEFAULTS
    change.refresh_from_db()
    assert change.organization == acme and change.changed_by == admin_user
    assert change.before == dataclasses.asdict(DEFAULTS)
    assert change.after == dataclasses.asdict(rules)


@pytest.mark.django_db
def test_it_records_before_and_after_of_a_second_change(acme, admin_user):
    first = dataclasses.replace(DEFAULTS, window_days=7)
    second = dataclasses.replace(DEFAULTS, window_days=14, remove_on_critical=False)
    thresholds_save(organization=acme, rules=first, user=admin_user)
    thresholds_save(organization=acme, rules=second, user=admin_user)
    latest = ThresholdChange.objects.filter(organization=acme).first()
    assert (latest.before, latest.after) == (dataclasses.asdict(first), dataclasses.asdict(second))
    assert Thresholds.objects.filter(organization=acme).count() == 1


@pytest.mark.django_db
def test_it_saves_the_global_thresholds_for_everyone_without_their_own(acme, globex, admin_user):
    thresholds_save(
        organization=acme, rules=dataclasses.replace(DEFAULTS, window_days=7), user=admin_user
    )
    rules = dataclasses.replace(DEFAULTS, warn_violations=2, restrict_violations=3)
    _, change = thresholds_save(organization=None, rules=rules, user=admin_user)
    assert change.organization is None and change.before == dataclasses.asdict(DEFAULTS)
    assert Rules.of(thresholds_for(globex)) == rules
    assert Rules.of(thresholds_for(acme)).window_days == 7
    assert Thresholds.objects.filter(organization__isnull=True).count() == 1


@pytest.mark.django_db
def test_it_saves_the_global_thresholds_the_first_time(admin_user):
    assert not Thresholds.objects.exists()
    rules = dataclasses.replace(DEFAULTS, window_days=14)
    thresholds, change = thresholds_save(organization=None, rules=rules, user=admin_user)
    assert Thresholds.objects.get() == thresholds and Rules.of(thresholds_global()) == rules
    assert (change.before, change.after) == (
        dataclasses.asdict(DEFAULTS),
        dataclasses.asdict(rules),
    )


@pytest.mark.django_db
def test_it_saves_nothing_for_nonsense(acme, admin_user):
    with pytest.raises(ThresholdsInvalid) as invalid:
        thresholds_save(
            organization=acme, rules=dataclasses.replace(DEFAULTS, window_days=0), user=admin_user
        )
    assert "window_days" in invalid.value.errors
    assert not Thresholds.objects.filter(organization=acme).exists()
    assert not ThresholdChange.objects.exists()


@pytest.mark.django_db
def test_it_resets_an_organization_to_the_global_thresholds(acme, admin_user):
    own = dataclasses.replace(DEFAULTS, window_days=7)
    thresholds_save(organization=acme, rules=own, user=admin_user)
    change = thresholds_reset(organization=acme, user=admin_user)
    assert change is not None and change.changed_by == admin_user
    assert (change.before, change.after) == (dataclasses.asdict(own), dataclasses.asdict(DEFAULTS))
    assert not Thresholds.objects.filter(organization=acme).exists()
    assert Rules.of(thresholds_for(acme)) == DEFAULTS


@pytest.mark.django_db
def test_resetting_an_organization_without_its_own_changes_nothing(acme, admin_user):
    assert thresholds_reset(organization=acme, user=admin_user) is None
    assert not ThresholdChange.objects.exists()
