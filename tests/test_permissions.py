"""Who may reach what (CONTRACT §8): every URL pattern in the URLconfs × {anonymous, no role,
reviewer, senior, admin} × {GET, POST}, each cell's expected answer in the one table below.

The URL patterns are walked from the root URLconf, so a page added without its row here fails
`test_it_has_a_row_for_every_url_pattern`: whoever adds a page decides, in this table, who may
reach it. Path parameters are filled with real objects (an item, a subject, a proposal, an
appeal, a delivery, an exception, an API key and a batch), so a cell answers as the view does
for a real object, not with a 404 before any check.

A cell is one of:
- a status code (`200`, `403`, `405`, `422`…): that status, and for 3xx no redirect to log in;
- `login`: 302 to the log in page, with `?next=` the page asked for (signed-out visitors);
- `302`: a redirect elsewhere than to log in (after an action, or logged in users on log in).

POSTs carry an empty body (CSRF checks are off in the test client): a permitted role may
answer 4xx for the missing fields; what matters is that a forbidden role gets 403 (or is sent
to log in) and a permitted one does not. The API authenticates keys, not sessions, so its
rows are the same for every column: 401 without a signature or Bearer token, 405 for a wrong
method (CONTRACT §3). So are the health checks' (README, "Health checks"): they answer anonymous
load balancers; /readyz says 503 here because no RQ worker runs beside this test. /metrics
takes a bearer token, not a session, and is 404 here: no MODQUEUE_METRICS_TOKEN is set.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pytest
from django.test import Client, override_settings
from django.test.client import MULTIPART_CONTENT
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.roles import Role
from moderation.models import ActionKind, Delivery, SavedFilter, Verdict
from moderation.services import appeals
from moderation.services.organizations import api_key_create
from tests.conftest import make_item
from tests.factories import (
    FlaggedItemFactory,
    SubjectFactory,
    UserFactory,
    accept,
    decide,
    grant_exception,
    reach_proposal,
)

pytestmark = pytest.mark.django_db

WHO = ("anonymous", "no role", "reviewer", "senior", "admin")

# Who may reach what. One row per URL name; for each method, one cell per column of WHO.
TABLE = """
url name               |  GET: anon  none  rev   sen   adm  | POST: anon  none  rev   sen   adm
---------------------- accounts: logging in and out is for everyone ---------------------------
login                  |       200   302   302   302   302  |       200   302   302   302   302
logout                 |       405   405   405   405   405  |       302   302   302   302   302
login-code             |       302   302   302   302   302  |       302   302   302   302   302
---------------------- reviewer pages: every role ---------------------------------------------
home                   |       302   403   302   302   302  |       405   403   405   405   405
queue                  |       login 403   200   200   200  |       login 403   405   405   405
queue-next             |       login 403   405   405   405  |       login 403   302   302   302
nav-counts             |       login 403   200   200   200  |       login 403   405   405   405
item                   |       login 403   200   200   200  |       login 403   405   405   405
item-decide            |       login 403   405   405   405  |       login 403   422   422   422
item-lease             |       login 403   405   405   405  |       login 403   409   409   409
item-reveal            |       login 403   405   405   405  |       login 403   302   302   302
item-reveal-pii        |       login 403   405   405   405  |       login 403   422   422   422
item-undo              |       login 403   405   405   405  |       login 403   409   409   409
subject                |       login 403   200   200   200  |       login 403   405   405   405
two-factor             |       login 403   200   200   200  |       login 403   422   422   422
two-factor-recovery-codes |    login 403   405   405   405  |       login 403   302   302   302
quality-report-me      |       login 403   200   200   200  |       login 403   405   405   405
items-search           |       login 403   200   200   200  |       login 403   405   405   405
saved-filter-create    |       login 403   405   405   405  |       login 403   422   422   422
saved-filter-delete    |       login 403   405   405   405  |       login 403   302   404   404
---------------------- senior pages: seniors and admins ---------------------------------------
item-overturn          |       login 403   405   405   405  |       login 403   403   422   422
item-release           |       login 403   403   405   405  |       login 403   403   302   302
subject-act            |       login 403   403   405   405  |       login 403   403   302   302
subject-decide-all     |       login 403   403   405   405  |       login 403   403   422   422
enforcement            |       login 403   403   200   200  |       login 403   403   405   405
proposal-decide        |       login 403   403   405   405  |       login 403   403   302   302
proposals-bulk         |       login 403   403   405   405  |       login 403   403   422   422
appeals                |       login 403   403   200   200  |       login 403   403   405   405
appeal-decide          |       login 403   403   405   405  |       login 403   403   302   302
appeal-reveal-pii      |       login 403   403   405   405  |       login 403   403   302   302
classifier-report      |       login 403   403   200   200  |       login 403   403   405   405
classifier-report-csv  |       login 403   403   200   200  |       login 403   403   405   405
quality-report         |       login 403   403   200   200  |       login 403   403   405   405
quality-report-csv     |       login 403   403   200   200  |       login 403   403   405   405
operations-report      |       login 403   403   200   200  |       login 403   403   405   405
operations-report-csv  |       login 403   403   200   200  |       login 403   403   405   405
---------------------- admin pages: admins only ----------------------------------------------
delivery-redeliver     |       login 403   403   403   405  |       login 403   403   403   302
thresholds             |       login 403   403   403   200  |       login 403   403   403   422
quality-settings       |       login 403   403   403   200  |       login 403   403   403   422
sla-settings           |       login 403   403   403   200  |       login 403   403   403   422
item-gold              |       login 403   403   403   405  |       login 403   403   403   422
policy                 |       login 403   403   403   200  |       login 403   403   403   405
exception-grant        |       login 403   403   403   405  |       login 403   403   403   302
exception-revoke       |       login 403   403   403   405  |       login 403   403   403   200
policy-settings        |       login 403   403   403   405  |       login 403   403   403   302
privacy                |       login 403   403   403   200  |       login 403   403   403   405
privacy-export         |       login 403   403   403   405  |       login 403   403   403   302
privacy-erase          |       login 403   403   403   405  |       login 403   403   403   302
training-export        |       login 403   403   403   200  |       login 403   403   403   405
audit                  |       login 403   403   403   200  |       login 403   403   403   405
users                  |       login 403   403   403   200  |       login 403   403   403   405
user-two-factor-reset  |       login 403   403   403   200  |       login 403   403   403   422
---------------------- API: keys, not sessions, so every column alike -------------------------
api-flags              |       405   405   405   405   405  |       401   401   401   401   401
api-batch              |       401   401   401   401   401  |       405   405   405   405   405
api-subject-lookup     |       405   405   405   405   405  |       401   401   401   401   401
api-appeals            |       405   405   405   405   405  |       401   401   401   401   401
---------------------- health checks: for load balancers, every column alike ------------------
healthz                |       200   200   200   200   200  |       405   405   405   405   405
readyz                 |       503   503   503   503   503  |       405   405   405   405   405
metrics                |       404   404   404   404   404  |       405   405   405   405   405
"""


def rows(table: str) -> dict[str, dict[str, list[str]]]:
    """The table as {url name: {"GET": five cells, "POST": five cells}}."""
    matrix: dict[str, dict[str, list[str]]] = {}
    for line in table.strip().splitlines()[1:]:
        if line.startswith("-"):
            continue
        name, get, post = (part.split() for part in line.split("|"))
        assert len(name) == 1 and len(get) == len(post) == len(WHO), f"a bad row: {line!r}"
        assert name[0] not in matrix, f"two rows for {name[0]}"
        matrix[name[0]] = {"GET": get, "POST": post}
    return matrix


MATRIX = rows(TABLE)


@dataclass(frozen=True)
class Route:
    name: str
    route: str
    params: tuple[str, ...]


def routes(
    patterns: list[Any] | None = None, prefix: str = "", namespace: str = ""
) -> Iterator[Route]:
    """Every URL pattern under the root URLconf, includes followed, with its full name."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from routes(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else ""
            params = tuple(entry.pattern.converters) if hasattr(entry.pattern, "converters") else ()
            yield Route(name, prefix + str(entry.pattern), params)


ROUTES = list(routes())


def test_it_has_a_row_for_every_url_pattern():
    unnamed = [r.route for r in ROUTES if not r.name]
    missing = [f"{r.name} ({r.route})" for r in ROUTES if r.name and r.name not in MATRIX]
    stale = sorted(set(MATRIX) - {r.name for r in ROUTES})
    names = [r.name for r in ROUTES if r.name]
    shared = sorted({n for n in names if names.count(n) > 1})
    assert not unnamed, f"URL patterns without a name, so without a row: {unnamed}"
    assert not missing, f"URL patterns without a row in MATRIX (who may reach them?): {missing}"
    assert not stale, f"rows in MATRIX for URLs that no longer exist: {stale}"
    assert not shared, f"URL names given to more than one pattern, so one row for two: {shared}"


class World:
    """One real object of each kind a URL names, made when a URL first asks for it (a test
    builds only what its URL needs), and a signed-in client per role."""

    def __init__(self, acme: Any) -> None:
        self.acme = acme
        self.reviewer = UserFactory(username="rita", role=Role.REVIEWER)
        self.users: dict[str, Any] = {
            "anonymous": None,
            "no role": self._roleless(),
            "reviewer": self.reviewer,
            "senior": UserFactory(username="sam", role=Role.SENIOR),
            "admin": UserFactory(username="ada", role=Role.ADMIN),
        }
        self._clients: dict[str, Client] = {}

    @staticmethod
    def _roleless() -> Any:
        nobody = UserFactory(username="nobody")
        nobody.groups.clear()
        return nobody

    def client(self, who: str) -> Client:
        """The role's client, signed in once for the test (logging out is the last request)."""
        if who not in self._clients:
            client = Client()
            if self.users[who] is not None:
                # Signed in without django-axes's bookkeeping of a log in: it is not what is
                # tested here, and its queries would be most of this file's time.
                with override_settings(AXES_ENABLED=False):
                    client.force_login(self.users[who])
            self._clients[who] = client
        return self._clients[who]

    @cached_property
    def subject(self) -> Any:
        return SubjectFactory(organization=self.acme)

    @cached_property
    def item(self) -> Any:
        """Pending, in the normal queue: every role may read it."""
        return FlaggedItemFactory(subject=self.subject)

    @cached_property
    def decided(self) -> Any:
        item = FlaggedItemFactory(subject=self.subject)
        decide(item, Verdict.NO_VIOLATION, reviewer=self.reviewer)
        return item

    @cached_property
    def saved_filter(self) -> Any:
        return SavedFilter.objects.create(user=self.reviewer, name="Locks", query="q=lock")

    @cached_property
    def proposal(self) -> Any:
        return reach_proposal(self.subject, self.reviewer)  # warned, restricted, then proposed

    @cached_property
    def restriction(self) -> Any:
        self.proposal  # noqa: B018 (the restriction comes on the way to the proposal)
        return self.subject.actions.get(kind=ActionKind.RESTRICT)

    @cached_property
    def appeal(self) -> Any:
        return appeals.appeal_create(
            organization=self.acme,
            user_id_hash=self.subject.user_id_hash,
            action_id=str(self.restriction.pk),
            message="I was quoting a novel.",
        )

    @cached_property
    def delivery(self) -> Any:
        return Delivery.objects.create(
            action=self.restriction,
            organization=self.acme,
            webhook_id="msg_permission_matrix",
            url="http://127.0.0.1:1/refused",  # refused at once, should an admin redeliver
            payload={},
        )

    @cached_property
    def exception(self) -> Any:
        return grant_exception(self.acme)

    @cached_property
    def api_key(self) -> Any:
        api_key, _secret = api_key_create(name="acme classifier", organization_slug="acme")
        return api_key

    @cached_property
    def batch(self) -> Any:
        return accept(self.api_key, make_item(1))


@pytest.fixture
def world(acme: Any) -> World:
    return World(acme)


def path_of(route: Route, world: World) -> str:
    """The URL with its parameters filled from the world's objects."""
    pk_of = {
        "item-overturn": lambda: world.decided.pk,
        "item-gold": lambda: world.decided.pk,
        "proposal-decide": lambda: world.proposal.pk,
        "appeal-decide": lambda: world.appeal.pk,
        "appeal-reveal-pii": lambda: world.appeal.pk,
        "delivery-redeliver": lambda: world.delivery.pk,
        "exception-revoke": lambda: world.exception.pk,
        "user-two-factor-reset": lambda: world.reviewer.pk,
        # rita's own: she deletes it (302); nobody else finds it (404).
        "saved-filter-delete": lambda: world.saved_filter.pk,
    }
    values = {
        "pk": pk_of.get(route.name, lambda: world.item.pk),
        "organization": lambda: world.subject.organization.slug,
        "user_id_hash": lambda: world.subject.user_id_hash,
        "key_id": lambda: world.api_key.key_id,
        "batch_id": lambda: str(world.batch.pk),
    }
    unknown = set(route.params) - set(values)
    assert not unknown, f"{route.name}: no object for the path parameters {unknown}"
    return reverse(route.name, kwargs={p: values[p]() for p in route.params})


# A fresh client address per request, so the API's limit on failed authentication per address
# (CONTRACT §3 v2) never turns this table's 401s into 429s.
_addresses = (f"198.51.{n // 250}.{n % 250 + 1}" for n in itertools.count())


def answer(response: Any, path: str) -> str:
    """The cell the response fills, in the table's words."""
    status = response.status_code
    if status in (301, 302, 303, 307, 308) and response["Location"].startswith(
        f"/accounts/login/?next={path}"
    ):
        return "login"
    return str(status)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.name in MATRIX], ids=lambda r: r.name)
def test_it_answers_each_role_as_the_table_says(route: Route, world: World):
    path = path_of(route, world)
    mismatches = []
    for method, cells in MATRIX[route.name].items():
        for who, expected in zip(WHO, cells, strict=True):
            client = world.client(who)
            if method == "GET":
                response = client.get(path, REMOTE_ADDR=next(_addresses))
            else:
                # The API reads JSON: an empty JSON body, so its answer is about authentication.
                kind = "application/json" if path.startswith("/api/") else MULTIPART_CONTENT
                response = client.post(path, content_type=kind, REMOTE_ADDR=next(_addresses))
            got = answer(response, path)
            if got != expected:
                mismatches.append(f"{method} {path} as {who}: expected {expected}, got {got}")
    assert not mismatches, "\n".join(mismatches)
