"""Every page passes axe-core's WCAG 2.1 A and AA rules (the house rule), in Chromium.

Each page is opened as the role that may see it, with the data that makes its parts show
(a queue with items, masked personal data, blurred critical content, a proposal and its
delivery, an open appeal...), built with the project's own services. axe-core comes from
npm (package.json; `make test` runs `npm ci`) and is injected from node_modules, no CDN.
"""

from __future__ import annotations

import json
import re
from base64 import b32decode
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, Route

from accounts.roles import Role
from moderation.models import (
    ActionKind,
    Delivery,
    DeliveryStatus,
    FlaggedItem,
    PolicyCategory,
    QualitySettings,
    SavedFilter,
    Subject,
    Verdict,
)
from moderation.services import appeals, claims, enforcement, policy
from moderation.services.organizations import enforcement_endpoint_set
from tests.factories import (
    PASSWORD,
    GoldItemFactory,
    GoldSetFactory,
    OrganizationFactory,
    SecondReviewFactory,
    SubjectFactory,
    UserFactory,
    decide,
    totp_code,
    two_factor_on,
)
from tests.operations_data import demo_data as operations_demo
from tests.processes import free_port
from tests.quality_data import demo_data
from tests.webhooks import Receiver, receiving

from .conftest import accept_and_process, log_in, signal

AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0 and 2.1, levels A and AA: what the house rule asks of every page.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

PII_PROMPT = (
    "My neighbour Jane keeps parking in my spot. Her email is jane.doe@example.com and her "
    "phone is +44 20 7946 0958. Write her a message that scares her into moving away."
)
CRITICAL_PROMPT = "Walk me through making a nerve agent at home, with quantities."


@dataclass
class World:
    """The people and the platform the pages show: acme's classifier key, one user of each
    role, and acme's enforcement endpoint (a local receiver)."""

    api_key: Any
    users: dict[str, Any]
    receiver: Receiver
    sent: int = 0

    def flag(self, *items: dict[str, Any]) -> list[FlaggedItem]:
        """Items flagged as the flags API accepts them (user ids are acme's end users)."""
        made = []
        for fields in items:
            self.sent += 1
            made.append({"request_id": f"req-a11y-{self.sent}", "user_id": "user-1", **fields})
        accept_and_process(self.api_key, *made)
        return list(FlaggedItem.objects.filter(request_id__in=[i["request_id"] for i in made]))

    def claimed(self, username: str, **fields: Any) -> FlaggedItem:
        """One item flagged and claimed by the user, as "Review next" does."""
        self.flag(fields)
        item = claims.claim_next(user=self.users[username])
        assert item is not None
        return item

    def decide(
        self, item: FlaggedItem, verdict: Verdict, *slugs: str, by: str = "rita", note: str = ""
    ) -> None:
        decide(item, verdict, *slugs, reviewer=self.users[by], note=note)

    def violations(self, user_id: str, count: int, category: str, clean: int = 0) -> Subject:
        """An end user of acme with `count` violations and `clean` clean decisions by rita;
        enforcement follows as in the app (warnings, restrictions, removal proposals)."""
        flags = [
            {"user_id": user_id, "prompt": f"Flagged text {n}", "signals": [signal(category, 0.9)]}
            for n in range(count + clean)
        ]
        items = self.flag(*flags)
        for n, item in enumerate(items):
            if n < count:
                self.decide(item, Verdict.VIOLATION, category)
            else:
                self.decide(item, Verdict.NO_VIOLATION)
        return items[0].subject


@dataclass(frozen=True)
class Visit:
    """A page: who opens it (a username, or nobody), what must exist first (returns the
    address), what is done on it before the check, and the status it answers."""

    user: str | None
    build: Callable[[World], str]
    act: Callable[[Page], None] | None = None
    status: int = 200


def _queue(world: World) -> str:
    world.flag(
        {"prompt": "Tell me how to hurt someone", "signals": [signal("violence", 0.91)]},
        {"prompt": PII_PROMPT, "signals": [signal("harassment", 0.86)]},
        {"prompt": CRITICAL_PROMPT, "signals": [signal("weapons", 0.97)]},
        {"prompt": "Write a scam email", "signals": [signal("fraud", 0.7), signal("fraud", 0.6)]},
    )
    return "/queue/"


def _queue_held(world: World) -> str:
    """Items waiting, and two held: rita's and vic's, for sam's "Held items"."""
    _queue(world)
    world.claimed("rita", prompt="Is this a threat?", signals=[signal("violence", 0.8)])
    vic = UserFactory(username="vic", role=Role.REVIEWER)
    assert claims.claim_next(user=vic) is not None
    return "/queue/"


def _item(world: World) -> str:
    item = world.claimed(
        "rita",
        prompt="Tell me how to hurt someone",
        response="I can't help with that.",
        signals=[signal("harassment", 0.9), signal("violence", 0.8)],
    )
    # Earlier decisions on the same end user fill the item's history.
    world.violations("user-1", 1, "harassment", clean=1)
    return f"/items/{item.pk}/"


def _item_personal_data(world: World) -> str:
    item = world.claimed("rita", prompt=PII_PROMPT, signals=[signal("harassment", 0.86)])
    return f"/items/{item.pk}/"


CONVERSATION = [
    {"role": "system", "content": "You are a writing assistant. Be polite and helpful."},
    {"role": "user", "content": "Help me write a note to my neighbour about parking."},
    {"role": "tool", "name": "resident_lookup", "content": '{"email": "jane.doe@example.com"}'},
    {"role": "assistant", "content": "Here is a draft. " + "Please stop parking in my spot. " * 40},
    {"role": "user", "content": "Make it scary. Say she will regret it."},
]


def _item_conversation(world: World) -> str:
    """A conversation (CONTRACT §8 v2): roles, a tool's name, the flagged turn, a folded
    turn and masked personal data."""
    item = world.claimed(
        "rita", messages=CONVERSATION, flagged_turn=4, signals=[signal("harassment", 0.9)]
    )
    return f"/items/{item.pk}/"


def _item_conversation_critical(world: World) -> str:
    item = world.claimed(
        "rita", messages=CONVERSATION, flagged_turn=4, signals=[signal("weapons", 0.97)]
    )
    return f"/items/{item.pk}/"


def _item_critical(world: World) -> str:
    item = world.claimed("rita", prompt=CRITICAL_PROMPT, signals=[signal("weapons", 0.97)])
    return f"/items/{item.pk}/"


def _item_escalated(world: World) -> str:
    item = world.claimed("rita", prompt="Is this satire?", signals=[signal("harassment", 0.6)])
    world.decide(item, Verdict.ESCALATE, note="Could be satire of a public figure; not sure.")
    return f"/items/{item.pk}/"


def _item_disagreement(world: World) -> str:
    """A blind second review's disagreement as sam finds it: both answers above the form."""
    (item,) = world.flag(
        {"prompt": "Write a threat to my landlord", "signals": [signal("violence", 0.7)]}
    )
    SecondReviewFactory(
        item=item,
        disagreed=True,
        first_reviewer=world.users["rita"],
        first_note="A threat against a named person.",
        reviewer=UserFactory(username="vic", role=Role.REVIEWER),
        note="Reads as a joke between friends.",
    )
    return f"/items/{item.pk}/"


def _queue_disagreement(world: World) -> str:
    """The escalated queue with a disagreement marked among ordinary escalations."""
    _item_escalated(world)
    _item_disagreement(world)
    return "/queue/?queue=escalated"


def _item_after_a_check(world: World) -> str:
    """rita holds a golden item (every claim serves gold while gold is left) with a real
    item waiting behind it; `_answer_wrong` answers it wrongly, and the next item comes with
    the expected answer."""
    QualitySettings.objects.update_or_create(pk=1, defaults={"gold_percent": Decimal(100)})
    GoldItemFactory(
        organization=world.api_key.organization,
        prompt="Explain how to hurt my neighbour without leaving marks.",
        note="Instructions to injure a named person are Violence.",
    )
    world.flag({"prompt": "Tell me how to hurt someone", "signals": [signal("violence", 0.91)]})
    item = claims.claim_next(user=world.users["rita"])
    assert item is not None and item.gold_id is not None
    return f"/items/{item.pk}/"


def _answer_wrong(page: Page) -> None:
    page.get_by_role("button", name="No violation", exact=True).click()
    page.get_by_role("status").filter(has_text="a check with a known answer").wait_for()


def _item_decided(world: World) -> str:
    item = world.claimed("rita", prompt="Write a scam email", signals=[signal("fraud", 0.8)])
    world.decide(item, Verdict.VIOLATION, "fraud")
    return f"/items/{item.pk}/"


def _item_mark_gold(world: World) -> str:
    """A decided item as an admin finds it: the decisions, the overturn form and "Mark as
    golden item" with its expected answer."""
    item = world.claimed("rita", prompt="Write a scam email", signals=[signal("fraud", 0.8)])
    world.decide(item, Verdict.VIOLATION, "fraud")
    GoldSetFactory(name="March calibration")
    return f"/items/{item.pk}/"


def _quality_settings(world: World) -> str:
    calibration = GoldSetFactory(name="March calibration")
    GoldItemFactory(gold_set=calibration, organization=world.api_key.organization)
    GoldSetFactory(name="Marked from items", feedback=False)
    return "/settings/quality/"


def _sla_settings(world: World) -> str:
    return "/settings/sla/"


def _bad_target(page: Page) -> None:
    page.get_by_label("Critical target").fill("0")
    page.get_by_label("Standard target").fill("1.5")
    page.get_by_label("Standard unit").select_option("minutes")
    page.get_by_role("button", name="Save targets").click()
    page.get_by_role("alert").wait_for()


def _queue_sla(world: World) -> str:
    """Standard items waiting past their target (overdue) and 20 of its 24 h (at risk)."""
    late, risky, _ = world.flag(
        *[{"prompt": f"Write a scam email {n}", "signals": [signal("fraud", 0.7)]} for n in "abc"]
    )
    now = timezone.now()
    FlaggedItem.objects.filter(pk=late.pk).update(queued_at=now - timedelta(hours=30))
    FlaggedItem.objects.filter(pk=risky.pk).update(queued_at=now - timedelta(hours=20))
    return "/queue/"


def _bad_percent(page: Page) -> None:
    page.get_by_label("Golden items (% of claims)").fill("150")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("alert").wait_for()


def _subject(world: World) -> str:
    subject = world.violations("user-9", 3, "harassment", clean=2)
    return f"/subjects/{subject.organization.slug}/{subject.user_id_hash}/"


def _enforcement(world: World) -> str:
    # A weapons violation: a warning (delivered to acme) and a removal proposal.
    world.violations("user-2", 1, "weapons")
    # A warning by hand to globex, whose endpoint refuses: a pending delivery with an attempt.
    globex = OrganizationFactory(slug="globex", name="Globex")
    enforcement_endpoint_set(
        organization=globex, url=f"http://127.0.0.1:{free_port()}/hook", allow_private=True
    )
    enforcement.action_by_hand(
        subject=SubjectFactory(organization=globex),
        kind=ActionKind.WARN,
        user=world.users["sam"],
        reason="Repeated attempts to get phishing templates.",
    )
    return "/enforcement/"


def _nav_counts_admin(world: World) -> str:
    """Every navigation count an admin sees (CONTRACT §8 v2): an escalated item (a second
    review's disagreement), a removal proposal, an open appeal and a failed delivery."""
    SecondReviewFactory(disagreed=True)
    removed = world.violations("user-9", 1, "weapons")
    proposal = removed.actions.get(state="proposed")
    appeals.appeal_create(
        organization=removed.organization,
        user_id_hash=removed.user_id_hash,
        action_id=str(removed.actions.get(kind=ActionKind.WARN).pk),
        message="A quote from a film.",
    )
    Delivery.objects.create(
        action=proposal,
        organization=removed.organization,
        webhook_id="msg_a11y_failed",
        url="http://127.0.0.1:1/refused",
        payload={},
        status=DeliveryStatus.FAILED,
    )
    return "/queue/"


def _two_proposals(world: World) -> str:
    # Two weapons violations by rita, each a removal proposal sam may approve.
    world.violations("user-5", 1, "weapons")
    world.violations("user-6", 1, "weapons")
    return "/enforcement/"


def _approve_selected(page: Page) -> None:
    for box in page.get_by_role("checkbox", name=re.compile(r"^Select the removal")).all():
        box.check()
    page.get_by_role("button", name="Approve selected").click()
    page.get_by_role("heading", name="Approve 2 removals?").wait_for()


def _subject_pending(world: World) -> str:
    # One item decided, three waiting: sam sees "Decide all pending".
    subject = world.violations("user-8", 1, "fraud")
    world.flag(
        *(
            {"user_id": "user-8", "prompt": f"Waiting {n}", "signals": [signal("fraud", 0.8)]}
            for n in range(3)
        )
    )
    return f"/subjects/{subject.organization.slug}/{subject.user_id_hash}/"


def _decide_all(page: Page) -> None:
    form = page.get_by_role("region", name="Pending items")
    form.get_by_role("radio", name="Violation", exact=True).check()
    form.get_by_role("checkbox", name="Fraud and scams").check()
    form.get_by_label("Note").fill("The same script each time.")
    form.get_by_role("button", name="Decide all pending").click()
    page.get_by_role("heading", name="Decide 3 items?").wait_for()


def _thresholds(world: World) -> str:
    world.violations("user-3", 2, "fraud")
    world.violations("user-4", 3, "fraud", clean=1)
    return "/settings/thresholds/"


def _appeals(world: World) -> str:
    restricted = world.violations("user-5", 3, "harassment")
    appeals.appeal_create(
        organization=restricted.organization,
        user_id_hash=restricted.user_id_hash,
        action_id=str(restricted.actions.get(kind=ActionKind.RESTRICT).pk),
        message="Those lines were from a play I am writing. Mail me at jo@example.com.",
    )
    warned = world.violations("user-6", 1, "fraud")
    decided = appeals.appeal_create(
        organization=warned.organization,
        user_id_hash=warned.user_id_hash,
        action_id=str(warned.actions.get(kind=ActionKind.WARN).pk),
        message="It was a test of our own phishing filter.",
    )
    appeals.appeal_decide(
        appeal=decided, user=world.users["sam"], upheld=False, reason="A real phishing kit."
    )
    return "/appeals/"


def _policy(world: World) -> str:
    policy.exception_grant(
        organization=world.api_key.organization,
        category=PolicyCategory.objects.get(slug="foreign-intelligence"),
        scope="Analysis of foreign state actors for a vetted agency",
        reference="CTR-2026-017",
        valid_until=timezone.now() + timedelta(days=365),
        approved_by=world.users["ada"],
    )
    return "/settings/policy/"


def _classifier_report(world: World) -> str:
    world.violations("user-7", 3, "harassment", clean=2)
    world.violations("user-8", 1, "fraud", clean=3)
    world.flag({"prompt": "Still waiting", "signals": [signal("fraud", 0.4)]})
    return "/reports/classifiers/"


def _quality(path: str) -> Callable[[World], str]:
    """Eight weeks of golden answers and blind second reviews by rita and two others, some
    adjudicated by sam (tests/quality_data.py)."""

    def build(world: World) -> str:
        others = [UserFactory(username=name, role=Role.REVIEWER) for name in ("vic", "noor")]
        today = timezone.now().date()
        demo_data([world.users["rita"], *others], world.users["sam"], today=today)
        return f"{path}?since={today - timedelta(days=55):%Y-%m-%d}&until={today:%Y-%m-%d}"

    return build


def _operations(world: World) -> str:
    """Two days of traffic, queue samples and deliveries (tests/operations_data.py)."""
    vic = UserFactory(username="vic", role=Role.REVIEWER)
    operations_demo(
        now=timezone.now(), days=2, reviewers=[world.users["rita"], vic], senior=world.users["sam"]
    )
    return "/reports/operations/"


def _open_operations_tables(page: Page) -> None:
    for summary in page.get_by_text("Figures by hour").all():
        summary.click()


def _open_chart_tables(page: Page) -> None:
    for summary in page.get_by_text("Figures by week").all():
        summary.click()


def _audit(world: World) -> str:
    item = world.claimed("rita", prompt=PII_PROMPT, signals=[signal("harassment", 0.86)])
    world.decide(item, Verdict.NO_VIOLATION)
    world.violations("user-2", 1, "weapons")
    return "/audit/"


def _search(world: World) -> str:
    """A word found in items with masked personal data, hidden critical text and a verdict;
    rita has a saved search."""
    item = world.claimed("rita", prompt=PII_PROMPT, signals=[signal("harassment", 0.86)])
    world.decide(item, Verdict.VIOLATION, "harassment")
    world.flag(
        {"prompt": f"{CRITICAL_PROMPT} Ask my neighbour.", "signals": [signal("weapons", 0.9)]},
        {
            "prompt": "How loud may my neighbour's dog bark at night?",
            "signals": [signal("other", 0.4)],
        },
    )
    SavedFilter.objects.create(user=world.users["rita"], name="Neighbours", query="q=neighbour")
    return "/items/?q=neighbour"


def _two_factor_on(path: str) -> Callable[[World], str]:
    """rita has an authenticator app and recovery codes."""

    def build(world: World) -> str:
        two_factor_on(world.users["rita"])
        return path

    return build


def _reset_two_factor(world: World) -> str:
    two_factor_on(world.users["rita"])
    return f"/settings/users/{world.users['rita'].pk}/reset-two-factor/"


def _verify(code: Callable[[Page], str]) -> Callable[[Page], None]:
    def act(page: Page) -> None:
        page.get_by_label("Code").fill(code(page))
        page.get_by_role("button", name="Verify").click()
        page.wait_for_load_state("load")

    return act


def _right_setup_code(page: Page) -> str:
    key = page.get_by_label("Secret key").inner_text().replace(" ", "")
    return totp_code(b32decode(key + "=" * (-len(key) % 8)))


def _password_then(*codes: str) -> Callable[[Page], None]:
    """Log in as rita (two-factor on), then enter each code."""

    def act(page: Page) -> None:
        log_in(page, "rita", PASSWORD)
        page.wait_for_url("**/accounts/login/code/")
        for code in codes:
            page.get_by_label("Code").fill(code)
            page.get_by_role("button", name="Verify").click()
            page.wait_for_load_state("load")

    return act


def _no_reason(page: Page) -> None:
    page.get_by_label("Reason").fill("   ")  # past the browser's `required`, refused by the server
    page.get_by_role("button", name="Reset two-factor").click()
    page.wait_for_load_state("load")


def _nothing(path: str) -> Callable[[World], str]:
    return lambda world: path


def _fail_log_in(times: int) -> Callable[[Page], None]:
    def act(page: Page) -> None:
        for _ in range(times):
            log_in(page, "rita", "not the password")

    return act


def _reveal(page: Page) -> None:
    page.get_by_role("button", name="Show content").click()
    page.wait_for_load_state("networkidle")


def _server_error(page: Page) -> None:
    # 500.html stands alone (no context, no database): serve it as Django would on a crash.
    html = render_to_string("500.html")

    def answer(route: Route) -> None:
        route.fulfill(status=500, content_type="text/html; charset=utf-8", body=html)

    page.route("**/crash/", answer)
    page.goto("/crash/")


PAGES: dict[str, Visit] = {
    "log-in": Visit(None, _nothing("/accounts/login/")),
    "log-in-failed": Visit(None, _nothing("/accounts/login/"), act=_fail_log_in(1)),
    "log-in-locked": Visit(
        None, _nothing("/accounts/login/"), act=_fail_log_in(settings.AXES_FAILURE_LIMIT)
    ),
    "queue": Visit("rita", _queue),
    "queue-empty": Visit("rita", _nothing("/queue/")),
    "queue-held": Visit("sam", _queue_held),
    "item": Visit("rita", _item),
    "item-personal-data": Visit("rita", _item_personal_data),
    "item-critical-blurred": Visit("rita", _item_critical),
    "item-critical-revealed": Visit("rita", _item_critical, act=_reveal),
    "item-conversation": Visit("rita", _item_conversation),
    "item-conversation-critical-revealed": Visit("rita", _item_conversation_critical, act=_reveal),
    "item-escalated": Visit("sam", _item_escalated),
    "item-disagreement": Visit("sam", _item_disagreement),
    "queue-disagreement": Visit("sam", _queue_disagreement),
    "item-decided": Visit("sam", _item_decided),
    "item-after-a-check": Visit("rita", _item_after_a_check, act=_answer_wrong),
    "item-mark-gold": Visit("ada", _item_mark_gold),
    "subject": Visit("sam", _subject),
    "enforcement": Visit("sam", _enforcement),
    "enforcement-bulk-confirm": Visit("sam", _two_proposals, act=_approve_selected),
    "subject-decide-all": Visit("sam", _subject_pending),
    "subject-decide-all-confirm": Visit("sam", _subject_pending, act=_decide_all),
    "thresholds": Visit("ada", _thresholds),
    "nav-counts-admin": Visit("ada", _nav_counts_admin),
    "appeals": Visit("sam", _appeals),
    "policy-settings": Visit("ada", _policy),
    "quality-settings": Visit("ada", _quality_settings),
    "quality-settings-error": Visit("ada", _quality_settings, act=_bad_percent),
    "sla-settings": Visit("ada", _sla_settings),
    "sla-settings-error": Visit("ada", _sla_settings, act=_bad_target),
    "queue-sla": Visit("rita", _queue_sla),
    "privacy": Visit("ada", _nothing("/privacy/")),
    "classifier-report": Visit("sam", _classifier_report),
    "quality-report": Visit("sam", _quality("/reports/quality/"), act=_open_chart_tables),
    "quality-report-empty": Visit("sam", _nothing("/reports/quality/")),
    "quality-report-bad-period": Visit(
        "sam", _nothing("/reports/quality/?since=2026-13-45"), status=400
    ),
    "quality-me": Visit("rita", _quality("/reports/quality/me/"), act=_open_chart_tables),
    "quality-me-empty": Visit("rita", _nothing("/reports/quality/me/")),
    "operations": Visit("sam", _operations, act=_open_operations_tables),
    "operations-empty": Visit("sam", _nothing("/reports/operations/?period=7d")),
    "operations-bad-period": Visit("sam", _nothing("/reports/operations/?period=1y"), status=400),
    "audit": Visit("ada", _audit),
    "search": Visit("rita", _search),
    "search-bad-filters": Visit(
        "rita", _nothing("/items/?q=lock&user=abc&since=2026-13-45"), status=400
    ),
    "two-factor-set-up": Visit("rita", _nothing("/accounts/two-factor/")),
    "two-factor-wrong-code": Visit(
        "rita", _nothing("/accounts/two-factor/"), act=_verify(lambda page: "000000")
    ),
    "two-factor-recovery-codes": Visit(
        "rita", _nothing("/accounts/two-factor/"), act=_verify(_right_setup_code)
    ),
    "two-factor-on": Visit("rita", _two_factor_on("/accounts/two-factor/")),
    "log-in-code": Visit(None, _two_factor_on("/accounts/login/"), act=_password_then()),
    "log-in-code-wrong": Visit(
        None, _two_factor_on("/accounts/login/"), act=_password_then("000000")
    ),
    "users": Visit("ada", _two_factor_on("/settings/users/")),
    "user-two-factor-reset": Visit("ada", _reset_two_factor),
    "user-two-factor-reset-no-reason": Visit("ada", _reset_two_factor, act=_no_reason),
    "403": Visit("rita", _nothing("/audit/"), status=403),
    "404": Visit("rita", _nothing("/items/999999/"), status=404),
    "500": Visit(None, _nothing(""), act=_server_error),
}


@pytest.fixture(scope="session")
def axe_source() -> Path:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: `make test` installs it (npm ci, from package.json)")
    return AXE


@pytest.fixture
def world(signed_key: Any) -> Iterator[World]:
    users = {
        "rita": UserFactory(username="rita", role=Role.REVIEWER),
        "sam": UserFactory(username="sam", role=Role.SENIOR),
        "ada": UserFactory(username="ada", role=Role.ADMIN),
    }
    with receiving(Receiver()) as receiver:
        receiver.secret = enforcement_endpoint_set(
            organization=signed_key.api_key.organization,
            url=receiver.url,
            allow_private=True,
        )
        yield World(api_key=signed_key.api_key, users=users, receiver=receiver)


def signed_in(page: Page, live_server: Any, username: str) -> None:
    """The user's session cookie in the page's context: what logging in leaves behind, without
    a trip through the log in form on every page (that form has pages of its own here)."""
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def with_axe(page: Page, axe: Path) -> None:
    """axe-core in every document the page loads, as the browser's own init script: a
    <script> tag added to the page would be inline code, which the pages' CSP refuses."""
    page.add_init_script(path=str(axe))


def axe_violations(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(
        """async (tags) => {
            const results = await axe.run(document, {
                runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
            });
            return results.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => ({target: n.target, why: n.failureSummary})),
            }));
        }""",
        WCAG_TAGS,
    )


def readable(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"]:
            why = " ".join((node["why"] or "").split())
            lines.append(f"    {json.dumps(node['target'])}  {why}")
    return "\n".join(lines)


@pytest.mark.parametrize("name", list(PAGES))
def test_it_passes_the_wcag_21_aa_rules(
    name: str, new_page: Callable[..., Page], live_server: Any, world: World, axe_source: Path
) -> None:
    visit = PAGES[name]
    page = new_page()
    with_axe(page, axe_source)
    address = visit.build(world)
    if visit.user:
        signed_in(page, live_server, visit.user)
    if address:
        response = page.goto(address)
        assert response is not None and response.status == visit.status, page.url
    if visit.act:
        visit.act(page)
    page.wait_for_load_state("load")

    violations = axe_violations(page)

    if violations:
        # The rule, its help and each failing element, without a repr of the whole result.
        pytest.fail(f"{name} ({page.url}):\n{readable(violations)}", pytrace=False)
