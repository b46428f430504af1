"""Named actors for tests: organizations, API keys, users of each role, flagged items."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from accounts.roles import Role, role_assign
from moderation.models import (
    Decision,
    FlaggedItem,
    Organization,
    PolicyCategory,
    Signal,
    Subject,
    Verdict,
)
from moderation.services.review import decision_record
from moderation.services.subjects import subject_hash

PASSWORD = "correct horse battery staple"


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"org-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def role(self, create: bool, extracted: Role | None, **kwargs: object) -> None:
        if create:
            role_assign(user=self, role=extracted or Role.REVIEWER)


class SubjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subject

    organization = factory.SubFactory(OrganizationFactory)
    user_id_hash = factory.LazyAttributeSequence(
        lambda o, n: subject_hash(organization_slug=o.organization.slug, user_id=f"u-{n}")
    )


class FlaggedItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FlaggedItem

    subject = factory.SubFactory(SubjectFactory)
    organization = factory.SelfAttribute("subject.organization")
    request_id = factory.Sequence(lambda n: f"req-{n}")
    prompt = "How do I pick a lock?"
    flagged_at = factory.Faker("date_time_this_month", tzinfo=__import__("datetime").UTC)


class SignalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Signal

    item = factory.SubFactory(FlaggedItemFactory)
    classifier = "test-classifier"
    category = factory.LazyFunction(lambda: PolicyCategory.objects.get(slug="violence"))
    label = factory.SelfAttribute("category.slug")
    score = 0.9


def decide(
    subject: Subject, verdict: str, *slugs: str, reviewer: object, note: str = ""
) -> Decision:
    """A new item of the subject, decided by the reviewer through the review service (an
    unclaimed pending item may be decided), so rates and enforcement follow as in the app.
    A violation without named categories is one of "violence"."""
    categories = list(PolicyCategory.objects.filter(slug__in=slugs or ["violence"]))
    return decision_record(
        item=FlaggedItemFactory(subject=subject),
        reviewer=reviewer,  # type: ignore[arg-type]
        verdict=Verdict(verdict),
        categories=categories if verdict == Verdict.VIOLATION else [],
        note=note or ("unsure" if verdict == Verdict.ESCALATE else ""),
    )


def categories(*slugs: str) -> list[PolicyCategory]:
    return list(PolicyCategory.objects.filter(slug__in=slugs))


def decide_item(
    item: FlaggedItem, verdict: str, *slugs: str, reviewer: object, note: str = ""
) -> Decision:
    """Decide an existing item through the review service (as `decide`, for an item the
    test made itself: claimed, escalated, critical…)."""
    return decision_record(
        item=item,
        reviewer=reviewer,  # type: ignore[arg-type]
        verdict=Verdict(verdict),
        categories=categories(*(slugs or ["violence"])) if verdict == Verdict.VIOLATION else [],
        note=note or ("unsure" if verdict == Verdict.ESCALATE else ""),
    )
