"""Search on /items/: the filters read and checked, the items found, newest first, a page at
a time by keyset, and the searches a user saves under a name.

Every filter is an index's condition (migration 0016): a request id is equal
(`item_request_idx`), a user id hash starts with a prefix (`subject_hash_prefix_idx`), text
matches the items' search document (`item_search_idx`, a GIN index on exactly
`SEARCH_DOCUMENT_SQL`, which is why the condition repeats that expression verbatim), and pages
walk `item_received_idx` (received_at, id, both descending). SQLite (the demo only) has no
text search: there the text is a plain substring of the prompt or response.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Literal
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.roles import Role, user_has_role
from moderation.models import (
    FINAL_VERDICTS,
    GOLD_SUBJECT_HASH,
    Decision,
    FlaggedItem,
    ItemState,
    Organization,
    PolicyCategory,
    ReviewQueue,
    SavedFilter,
    SecondReview,
    SecondReviewState,
    Signal,
    Subject,
    Verdict,
)
from moderation.models.items import SEARCH_DOCUMENT_SQL

PAGE = 50
MAX_TEXT = 500
MAX_REQUEST_ID = 128
HASH_PREFIX = re.compile(r"[0-9a-f]{8,64}")
MAX_SAVED = 50
MAX_NAME = 80
CURSOR_SALT = "modqueue.search.cursor"
DATE_MESSAGE = "{field} is a date, YYYY-MM-DD, such as 2026-03-31."
HASH_MESSAGE = (
    "User id hash: the start of a hash, at least 8 hexadecimal characters (0–9, a–f), "
    "such as 3fa9c2e1."
)
BROKEN_CURSOR = "This link to the next page is broken. Start again from the newest items."

MatchedBy = Literal["", "request id", "user id hash", "text"]


class SearchInvalid(Exception):
    """Filters that cannot be read: one message per field, in words, to show on the form."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class SavedFilterInvalid(Exception):
    """A saved filter refused (no name, too many); nothing was saved."""


@dataclass(frozen=True)
class SearchFilters:
    """What to find. Empty strings and None mean "any"; every filter given must hold."""

    # The one search box (CONTRACT §8 v2): a request id, a user id hash prefix, or text.
    q: str = ""
    request: str = ""
    user: str = ""
    organization: str = ""
    category: str = ""
    verdict: str = ""
    state: str = ""
    queue: str = ""
    since: date | None = None
    until: date | None = None

    @property
    def empty(self) -> bool:
        return not any(getattr(self, f.name) for f in fields(self))

    def pairs(self) -> list[tuple[str, str]]:
        """The filters set, as (field, value) pairs of the form."""
        found = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value:
                found.append((f.name, value.isoformat() if isinstance(value, date) else value))
        return found

    def query_string(self) -> str:
        """The filters as /items/'s query string (what a saved filter keeps): only those set."""
        return urlencode(self.pairs())


@dataclass(frozen=True)
class Cursor:
    """The last row of a page: the next page starts after it."""

    received_at: datetime
    pk: int


@dataclass
class SearchPage:
    items: list[FlaggedItem]
    next_cursor: str
    matched_by: MatchedBy


# --- Reading the filters ---------------------------------------------------------------------


def _clean(value: str) -> str:
    # NUL cannot be stored, nor shown back in HTML; a form field's edges are not meant.
    return value.replace("\x00", "").strip()


_LABELS = {"since": "From", "until": "To"}


def filters_parse(data: Mapping[str, str], *, user: User) -> SearchFilters:
    """The filters from a query string (typed into the form or the address bar: anything may
    come). SearchInvalid with every field's error at once."""
    raw = {f.name: _clean(str(data.get(f.name, ""))) for f in fields(SearchFilters)}
    errors: dict[str, str] = {}
    if len(raw["q"]) > MAX_TEXT:
        errors["q"] = f"Search: at most {MAX_TEXT} characters."
    if len(raw["request"]) > MAX_REQUEST_ID:
        errors["request"] = f"Request id: at most {MAX_REQUEST_ID} characters."
    prefix = raw["user"].lower()
    if prefix and not HASH_PREFIX.fullmatch(prefix):
        errors["user"] = f"“{raw['user']}”: {HASH_MESSAGE}"
    if raw["organization"] and not Organization.objects.filter(slug=raw["organization"]).exists():
        errors["organization"] = f"“{raw['organization']}” is not one of the organizations listed."
    if raw["category"] and not PolicyCategory.objects.filter(slug=raw["category"]).exists():
        errors["category"] = f"“{raw['category']}” is not one of the policy categories listed."
    if raw["verdict"] and raw["verdict"] not in FINAL_VERDICTS:
        errors["verdict"] = "Verdict is Violation or No violation."
    if raw["state"] and raw["state"] not in ItemState.values:
        errors["state"] = f"“{raw['state']}” is not one of the states listed."
    if raw["queue"] and raw["queue"] not in [q for q, _ in queue_choices(user)]:
        errors["queue"] = f"“{raw['queue']}” is not one of the queues listed."
    since = _day(raw["since"], "since", errors)
    until = _day(raw["until"], "until", errors)
    if since and until and since > until:
        errors["until"] = "From is after To: choose a From on or before the To."
    if errors:
        raise SearchInvalid(errors)
    return SearchFilters(
        q=raw["q"],
        request=raw["request"],
        user=prefix,
        organization=raw["organization"],
        category=raw["category"],
        verdict=raw["verdict"],
        state=raw["state"],
        queue=raw["queue"],
        since=since,
        until=until,
    )


def _day(value: str, field: str, errors: dict[str, str]) -> date | None:
    if not value:
        return None
    day = None
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            day = None
    if day is None:
        errors[field] = f"“{value}”: " + DATE_MESSAGE.format(field=_LABELS[field])
    return day


def queue_choices(user: User) -> list[tuple[str, str]]:
    """The queues the user may search: the escalated one is for seniors and admins, as its
    items' pages are (access.item_for_reviewer)."""
    senior = user_has_role(user, Role.SENIOR)
    return [(q, label) for q, label in ReviewQueue.choices if senior or q != ReviewQueue.ESCALATED]


# --- The keyset cursor -----------------------------------------------------------------------


def cursor_dump(item: FlaggedItem) -> str:
    """An opaque, signed cursor: a changed one is refused, never read as another position."""
    return signing.dumps([item.received_at.isoformat(), item.pk], salt=CURSOR_SALT, compress=True)


def cursor_load(text: str) -> Cursor | None:
    """The cursor of a page link; None for none; SearchInvalid for a broken or forged one."""
    text = _clean(text)
    if not text:
        return None
    try:
        at_text, pk = signing.loads(text, salt=CURSOR_SALT)
        at = parse_datetime(at_text)
    except (signing.BadSignature, ValueError, TypeError):
        raise SearchInvalid({"after": BROKEN_CURSOR}) from None
    if at is None or not isinstance(pk, int):
        raise SearchInvalid({"after": BROKEN_CURSOR})
    return Cursor(received_at=at, pk=pk)


# --- Finding ---------------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day))


def _text_match(text: str) -> Q | RawSQL:
    if connection.vendor == "postgresql":
        # Verbatim the indexed expression, so PostgreSQL answers from item_search_idx.
        return RawSQL(
            f"{SEARCH_DOCUMENT_SQL} @@ websearch_to_tsquery('english'::regconfig, %s)",
            [text],
            output_field=BooleanField(),
        )
    return Q(prompt__icontains=text) | Q(response__icontains=text)


def visible_items(user: User) -> QuerySet[FlaggedItem]:
    """The items the user may find: never a golden item's serving nor the reserved subject's
    items (they would give golden items away); escalated ones for seniors and admins only."""
    items = FlaggedItem.objects.filter(gold__isnull=True).exclude(
        subject__user_id_hash=GOLD_SUBJECT_HASH
    )
    if not user_has_role(user, Role.SENIOR):
        items = items.exclude(queue=ReviewQueue.ESCALATED)
    return items


def _blind() -> Exists:
    """The item's final decision waits for a blind second answer: nobody is told it yet."""
    return Exists(SecondReview.objects.filter(item=OuterRef("pk"), state=SecondReviewState.PENDING))


def _matched_by(q: str, user: User) -> MatchedBy:
    """What the one search box was given: a request id of an item the user may find, else a
    user id hash prefix when it looks like one, else words."""
    if not q:
        return ""
    if len(q) <= MAX_REQUEST_ID and visible_items(user).filter(request_id=q).exists():
        return "request id"
    if HASH_PREFIX.fullmatch(q.lower()):
        return "user id hash"
    return "text"


def _subjects_starting(prefix: str) -> QuerySet[Subject]:
    return Subject.objects.filter(user_id_hash__startswith=prefix)


def _filtered(filters: SearchFilters, user: User, matched_by: MatchedBy) -> QuerySet[FlaggedItem]:
    items = visible_items(user)
    if matched_by == "request id":
        items = items.filter(request_id=filters.q)
    elif matched_by == "user id hash":
        items = items.filter(subject__in=_subjects_starting(filters.q.lower()))
    elif matched_by == "text":
        items = items.filter(_text_match(filters.q))
    if filters.request:
        items = items.filter(request_id=filters.request)
    if filters.user:
        items = items.filter(subject__in=_subjects_starting(filters.user))
    if filters.organization:
        items = items.filter(organization__slug=filters.organization)
    if filters.category:
        flagged = Signal.objects.filter(item=OuterRef("pk"), category__slug=filters.category)
        decided = Decision.objects.final().filter(
            item=OuterRef("pk"), categories__slug=filters.category
        )
        items = items.filter(Exists(flagged) | (Exists(decided) & ~_blind()))
    if filters.verdict:
        final = Decision.objects.final().filter(item=OuterRef("pk"), verdict=filters.verdict)
        items = items.filter(Exists(final)).exclude(_blind())
    if filters.state:
        items = items.filter(state=filters.state)
    if filters.queue:
        items = items.filter(queue=filters.queue)
    if filters.since:
        items = items.filter(received_at__gte=_midnight(filters.since))
    if filters.until:
        items = items.filter(received_at__lt=_midnight(filters.until) + timedelta(days=1))
    return items


def search_items(
    *, filters: SearchFilters, user: User, after: Cursor | None = None, limit: int = PAGE
) -> SearchPage:
    """One page of the items found, newest first; `next_cursor` is "" on the last page."""
    matched_by = _matched_by(filters.q, user)
    items = _filtered(filters, user, matched_by)
    if after is not None:
        # Keyset: strictly after the last row shown, in (received_at desc, id desc) order.
        items = items.filter(
            Q(received_at__lt=after.received_at) | Q(received_at=after.received_at, pk__lt=after.pk)
        )
    found = list(
        items.select_related("organization", "subject")
        .prefetch_related("signals__category")
        .order_by("-received_at", "-pk")[: limit + 1]
    )
    page = found[:limit]
    _attach_verdicts(page)
    more = len(found) > limit
    return SearchPage(
        items=page,
        next_cursor=cursor_dump(page[-1]) if more and page else "",
        matched_by=matched_by,
    )


def _attach_verdicts(items: list[FlaggedItem]) -> None:
    """Each item's standing final verdict as `verdict` (a Verdict, or None while undecided or
    while a blind second review waits)."""
    blind = set(
        SecondReview.objects.filter(item__in=items, state=SecondReviewState.PENDING).values_list(
            "item_id", flat=True
        )
    )
    verdicts = dict(
        Decision.objects.final()
        .filter(item__in=[i for i in items if i.pk not in blind])
        .values_list("item_id", "verdict")
    )
    for item in items:
        verdict = verdicts.get(item.pk)
        item.verdict = Verdict(verdict) if verdict else None  # type: ignore[attr-defined]


# --- Saved filters ---------------------------------------------------------------------------


def saved_filters(user: User) -> list[SavedFilter]:
    return list(SavedFilter.objects.filter(user=user).order_by("name"))


@transaction.atomic
def saved_filter_save(*, user: User, name: str, filters: SearchFilters) -> tuple[SavedFilter, bool]:
    """Keep the search under a name, the user's own; a name they already use is replaced.
    (filter, created)."""
    name = _clean(name)
    if not name:
        raise SavedFilterInvalid("Name the search to save it.")
    if len(name) > MAX_NAME:
        raise SavedFilterInvalid(f"The name is at most {MAX_NAME} characters long.")
    if filters.empty:
        raise SavedFilterInvalid("Search for something first: there is nothing to save.")
    existing = SavedFilter.objects.select_for_update().filter(user=user, name=name).first()
    if existing is not None:
        existing.query = filters.query_string()
        existing.save(update_fields=["query"])
        return existing, False
    if SavedFilter.objects.filter(user=user).count() >= MAX_SAVED:
        raise SavedFilterInvalid(
            f"You have {MAX_SAVED} saved searches, the most kept: delete one first."
        )
    try:
        with transaction.atomic():
            return SavedFilter.objects.create(
                user=user, name=name, query=filters.query_string()
            ), True
    except IntegrityError:
        # The same name saved at the same moment in another tab.
        raise SavedFilterInvalid(f"A saved search is already named “{name}”.") from None


@transaction.atomic
def saved_filter_delete(*, user: User, pk: int) -> bool:
    """Delete the user's own saved filter; False when they have none with that id (another
    user's is never touched)."""
    deleted, _ = SavedFilter.objects.filter(user=user, pk=pk).delete()
    return bool(deleted)
