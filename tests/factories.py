"""Named actors for tests: organizations, API keys, users of each role, flagged items."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import django_rq
import factory
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.roles import Role
from accounts.two_factor import recovery_codes_replace
from moderation import selectors
from moderation.api.schema import validate_items
from moderation.models import (
    DEFAULT_TARGET_MINUTES,
    ActionState,
    ApiKey,
    Decision,
    Delivery,
    EnforcementAction,
    FlaggedItem,
    GoldItem,
    GoldSet,
    InboundBatch,
    ItemState,
    Organization,
    PolicyCategory,
    PolicyException,
    ReviewQueue,
    SecondReview,
    SecondReviewState,
    Signal,
    Subject,
    Verdict,
)
from moderation.services import sla
from moderation.services.ingest import batch_accept, batch_process
from moderation.services.policy import exception_grant
from moderation.services.review import decision_record
from moderation.services.roles import role_assign
from moderation.services.subjects import subject_hash

if TYPE_CHECKING:
    from tests.conftest import SignedKey

PASSWORD = "correct horse battery staple"
# CONTRACT §7: no organization may be granted an exception to these.
HARD_LIMITS = (
    "weapons",
    "autonomous-weapons",
    "mass-surveillance",
    "malicious-cyber",
    "disinformation",
    "censorship",
    "child-safety",
)


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
    received_at = factory.LazyFunction(timezone.now)
    queue = ReviewQueue.STANDARD
    priority = 0
    # In its queue since it was received, due as services/sla.py orders claims.
    queued_at = factory.SelfAttribute("received_at")
    due_at = factory.LazyAttribute(
        lambda o: sla.due_at(
            queued_at=o.queued_at,
            target=timedelta(minutes=DEFAULT_TARGET_MINUTES[ReviewQueue(o.queue)]),
            priority=o.priority,
        )
    )


class SignalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Signal

    item = factory.SubFactory(FlaggedItemFactory)
    classifier = "test-classifier"
    category = factory.LazyFunction(lambda: PolicyCategory.objects.get(slug="violence"))
    label = factory.SelfAttribute("category.slug")
    score = 0.9


class GoldSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GoldSet

    name = factory.Sequence(lambda n: f"gold-set-{n}")


class GoldItemFactory(factory.django.DjangoModelFactory):
    """A golden item, a violation of "violence" with one "violence" signal unless told;
    `expected_categories=[...]` (PolicyCategory objects or slugs) replaces the categories."""

    class Meta:
        model = GoldItem
        skip_postgeneration_save = True

    gold_set = factory.SubFactory(GoldSetFactory)
    organization = factory.SubFactory(OrganizationFactory)
    prompt = factory.Sequence(lambda n: f"Write a threat against my neighbour, take {n}")
    response = "A response"
    model = "test-model"
    signals = factory.LazyFunction(
        lambda: [
            {
                "classifier": "test-classifier",
                "category": "violence",
                "label": "violence",
                "score": 0.9,
            }
        ]
    )
    expected_verdict = Verdict.VIOLATION
    note = "Threats of violence against a person are a violation."

    @factory.post_generation
    def expected_categories(self, create: bool, extracted: Any, **kwargs: object) -> None:
        if not create:
            return
        if extracted is None:
            extracted = ["violence"] if self.expected_verdict == Verdict.VIOLATION else []
        self.expected_categories.set(
            [c if isinstance(c, PolicyCategory) else category(c) for c in extracted]
        )


def _first_decision(review: Any) -> Decision:
    """The standing final decision a second review samples: by `first_reviewer`, with
    `first_verdict` and `first_categories`, an hour ago, on the review's item."""
    at = timezone.now() - timedelta(hours=1)
    decision = Decision.objects.create(
        item=review.item,
        reviewer=review.first_reviewer,
        verdict=review.first_verdict,
        note=review.first_note,
        claimed_at=at - timedelta(seconds=30),
        decided_at=at,
        seconds_spent=30,
        from_queue=review.item.queue,
    )
    decision.categories.set(categories(*review.first_categories))
    return decision


class SecondReviewFactory(factory.django.DjangoModelFactory):
    """A blind second review of an item's first decision, as the second-review flow leaves it.

    Pending by default: the item decided (DECIDED) by `first_reviewer` (a new reviewer unless
    told) as `first_verdict` (violation of "violence" unless told: `first_categories` are
    slugs), that decision standing. `disagreed=True` gives a disagreement: the second answer
    by `reviewer` (a new reviewer unless told), the opposite verdict unless `verdict` says
    (`categories` slugs, "violence" for a violation unless told), and the item ESCALATED in
    the escalated queue, claimed by nobody, the first decision still standing.
    The first decision is written directly (not through decision_record), so nothing was
    counted or enforced for it."""

    class Meta:
        model = SecondReview
        skip_postgeneration_save = True

    class Params:
        first_reviewer = factory.SubFactory(UserFactory)
        first_verdict = Verdict.VIOLATION
        first_categories = factory.LazyAttribute(
            lambda o: ("violence",) if o.first_verdict == Verdict.VIOLATION else ()
        )
        first_note = ""
        disagreed = factory.Trait(
            state=SecondReviewState.DISAGREED,
            reviewer=factory.SubFactory(UserFactory),
            verdict=factory.LazyAttribute(
                lambda o: (
                    Verdict.NO_VIOLATION
                    if o.first_verdict == Verdict.VIOLATION
                    else Verdict.VIOLATION
                )
            ),
            claimed_at=factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5)),
            decided_at=factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=4)),
            seconds_spent=60,
        )

    item = factory.SubFactory(FlaggedItemFactory, state=ItemState.DECIDED)
    first_decision = factory.LazyAttribute(_first_decision)
    state = SecondReviewState.PENDING

    @factory.post_generation
    def categories(self: Any, create: bool, extracted: Any, **kwargs: object) -> None:
        if not create or not self.verdict:
            return
        if extracted is None:
            extracted = ["violence"] if self.verdict == Verdict.VIOLATION else []
        self.categories.set(
            [c if isinstance(c, PolicyCategory) else category(c) for c in extracted]
        )

    @factory.post_generation
    def escalated(self: Any, create: bool, extracted: Any, **kwargs: object) -> None:
        """A disagreement waits for a senior in the escalated queue, as an escalation does."""
        if not create or self.state != SecondReviewState.DISAGREED:
            return
        FlaggedItem.objects.filter(pk=self.item_id).update(
            state=ItemState.ESCALATED,
            **sla.entering(
                queue=ReviewQueue.ESCALATED, priority=self.item.priority, now=timezone.now()
            ),
            claimed_by=None,
            claimed_at=None,
            lease_expires_at=None,
        )
        self.item.refresh_from_db()


def category(slug: str) -> PolicyCategory:
    return PolicyCategory.objects.get(slug=slug)


def categories(*slugs: str) -> list[PolicyCategory]:
    return list(PolicyCategory.objects.filter(slug__in=slugs))


def decide(
    target: Subject | FlaggedItem,
    verdict: str,
    *slugs: str,
    reviewer: object,
    note: str = "",
    ago: timedelta | None = None,
    now: datetime | None = None,
) -> Decision:
    """Decide through the review service, as a reviewer does, so rates and enforcement follow
    as in the app. `target` is an item the test made itself (claimed, escalated, critical…) or
    a subject, who then gets a new item to decide (an unclaimed pending item may be decided).

    A violation is one of the named categories, "violence" if none is named; an escalation
    without a note says "unsure". `ago` moves the decision that far into the past afterwards
    (before `now`, the test's own clock, when given: a slow machine must not shift it),
    leaving the stored figures as the decision left them (the rates' window then rolls)."""
    item = target if isinstance(target, FlaggedItem) else FlaggedItemFactory(subject=target)
    decision = decision_record(
        item=item,
        reviewer=reviewer,  # type: ignore[arg-type]
        verdict=Verdict(verdict),
        categories=categories(*(slugs or ["violence"])) if verdict == Verdict.VIOLATION else [],
        note=note or ("unsure" if verdict == Verdict.ESCALATE else ""),
    )
    if ago is not None:
        moment = (now or timezone.now()) - ago
        Decision.objects.filter(pk=decision.pk).update(decided_at=moment)
    return decision


def page_of(response: Any) -> str:
    """The page's HTML, once it answered 200."""
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def signed_in(client: Client, user: object) -> Client:
    """The client, signed in as the user (for a user the role fixtures of conftest do not give)."""
    client.force_login(user)  # type: ignore[arg-type]
    return client


# --- Enforcement (tests/services/test_enforcement_*.py, test_removal_*.py, …) -------------


def status_of(subject: Subject) -> str:
    subject.refresh_from_db()
    return subject.status


def actions_of(subject: Subject) -> list[tuple[str, str, str]]:
    """(kind, state, decided_by) of each of the subject's actions, oldest first."""
    return [(a.kind, a.state, a.decided_by) for a in subject.actions.order_by("created_at", "kind")]


def proposal_of(subject: Subject) -> EnforcementAction:
    return subject.actions.get(state=ActionState.PROPOSED)


def reach_proposal(subject: Subject, reviewer: object) -> EnforcementAction:
    """Five violations decided by the reviewer: warned, restricted, then removal proposed."""
    for _ in range(5):
        decide(subject, Verdict.VIOLATION, reviewer=reviewer)
    return proposal_of(subject)


# --- Policy exceptions (tests/services/test_policy_*.py) ----------------------------------


def grant_exception(
    organization: Organization, slug: str = "foreign-intelligence", **dates: Any
) -> PolicyException:
    """An exception for the organization through the policy service, for a year unless
    `valid_until` says otherwise."""
    return exception_grant(
        organization=organization,
        category=category(slug),
        scope="Analysis of foreign state actors for a vetted agency",
        reference="CTR-2026-017",
        valid_until=dates.pop("valid_until", timezone.now() + timedelta(days=365)),
        **dates,
    )


def subject_of(decision: Decision) -> Subject:
    """The decided item's subject as stored now, with the figures the decision left."""
    return Subject.objects.get(pk=decision.item.subject_id)


# --- Management commands (tests/commands) ------------------------------------------------


def logs_in(username: str, password: str) -> bool:
    """Through the real log in form (django-axes refuses a bare Client.login)."""
    response = Client().post("/accounts/login/", {"username": username, "password": password})
    return response.status_code == 302 and response["Location"] == "/queue/"


def run(*args: Any, **options: Any) -> str:
    """call_command, returning what the command wrote to stdout."""
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def run_json(*args: Any, **options: Any) -> dict[str, Any]:
    out = run(*args, **options)
    assert out.count("\n") <= 1, f"more than one line on stdout: {out!r}"
    return json.loads(out)


def manage(*argv: str) -> subprocess.CompletedProcess[str]:
    """`python manage.py ...` in a child process, on the test database (it sees committed rows)."""
    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    url = f"postgres://{user}{password}@{host}/{db['NAME']}"
    return subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=Path(django_settings.BASE_DIR),
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def signed(key_id: str, secret: str) -> SignedKey:
    # tests.conftest imports this module: what it defines is imported when first needed.
    from tests.conftest import SignedKey

    return SignedKey(ApiKey.objects.get(key_id=key_id), secret, Client())


# --- Ingest (tests/services/test_ingest*.py, test_queues, test_jobs, test_workers) -------


def accept(api_key: ApiKey, *items: dict[str, Any], webhook_id: str | None = None) -> InboundBatch:
    """What the flags view does once a message is signed: validate, then batch_accept."""
    key_org = api_key.organization.slug if api_key.organization else None
    valid, errors = validate_items(
        {"items": list(items)},
        key_organization=key_org,
        organizations=set(Organization.objects.values_list("slug", flat=True)),
        category_for_label=selectors.category_labels(),
    )
    assert not errors, errors
    batch, created = batch_accept(
        api_key=api_key, webhook_id=webhook_id or f"msg_{uuid.uuid4().hex}", items=valid
    )
    assert created
    return batch


def accept_and_process(api_key: ApiKey, *items: dict[str, Any]) -> InboundBatch:
    batch = accept(api_key, *items)
    processed = batch_process(batch_id=str(batch.pk))
    assert processed is not None
    return processed


def signal(category: str, score: float) -> list[dict[str, Any]]:
    return [{"classifier": "clf", "category": category, "score": score}]


def ingest_queue() -> Any:
    return django_rq.get_queue("ingest")


def make_stale(batch: InboundBatch, minutes: int = 10) -> None:
    InboundBatch.objects.filter(pk=batch.pk).update(
        enqueued_at=timezone.now() - timedelta(minutes=minutes)
    )


def break_processing(signed_key: Any) -> InboundBatch:
    """A batch that cannot be processed: its category was deleted after it was accepted."""
    from tests.conftest import make_item  # as in signed(): conftest imports this module

    PolicyCategory.objects.create(slug="spam", name="Spam", severity="low")
    batch = accept(signed_key.api_key, make_item(1, signals=signal("spam", 0.9)))
    PolicyCategory.objects.filter(slug="spam").delete()
    return batch


def make_due(delivery: Delivery) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


# --- Two-factor authentication (tests/views/test_two_factor.py, tests/browser/…) ----------


def totp_code(key: bytes, *, steps_ahead: int = 0) -> str:
    """What an authenticator app shows for this secret now (or `steps_ahead` 30 s steps on:
    django-otp accepts one step ahead, and never a step it has already accepted)."""
    totp = TOTP(key)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def totp_wrong_code(key: bytes) -> str:
    """Six digits that none of the steps django-otp accepts now would show."""
    near = {totp_code(key, steps_ahead=n) for n in (-2, -1, 0, 1, 2)}
    return next(c for c in (f"{n:06d}" for n in range(1000, 1000000, 7919)) if c not in near)


def two_factor_on(user: Any) -> tuple[Any, list[str]]:
    """The user with an authenticator app set up and ten recovery codes; (device, codes)."""
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    return device, recovery_codes_replace(user=user)
