"""What migration 0002_seed_policy_categories seeds: policy categories, corpus aliases (§7)."""

from __future__ import annotations

import pytest

from moderation.models import CategoryAlias, PolicyCategory

pytestmark = pytest.mark.django_db


SEVERITIES = {
    "weapons": ("critical", True),
    "autonomous-weapons": ("critical", True),
    "mass-surveillance": ("critical", True),
    "malicious-cyber": ("high", True),
    "disinformation": ("high", True),
    "censorship": ("high", True),
    "child-safety": ("critical", True),
    "foreign-intelligence": ("high", False),
}
OTHER_SLUGS = {"violence", "hate", "harassment", "self-harm", "sexual", "fraud", "privacy", "other"}
ALIASES = {
    "S": "sexual",
    "H": "hate",
    "V": "violence",
    "HR": "harassment",
    "SH": "self-harm",
    "S3": "child-safety",
    "H2": "hate",
    "V2": "violence",
}


def test_the_migration_seeds_every_policy_category(db):
    slugs = set(PolicyCategory.objects.values_list("slug", flat=True))
    assert slugs >= set(SEVERITIES) | OTHER_SLUGS
    for category in PolicyCategory.objects.all():
        assert category.name
        assert category.severity in {"low", "medium", "high", "critical"}


def test_the_seeded_categories_carry_their_severity_and_hard_limit(db):
    seeded = {
        c.slug: (c.severity, c.hard_limit)
        for c in PolicyCategory.objects.filter(slug__in=SEVERITIES)
    }
    assert seeded == SEVERITIES


def test_only_the_contracts_hard_limits_are_hard_limits(db):
    hard = set(PolicyCategory.objects.filter(hard_limit=True).values_list("slug", flat=True))
    assert hard == {slug for slug, (_, is_hard) in SEVERITIES.items() if is_hard}


def test_the_migration_seeds_the_eight_corpus_labels_as_aliases(db):
    assert dict(CategoryAlias.objects.values_list("alias", "category__slug")) == ALIASES
