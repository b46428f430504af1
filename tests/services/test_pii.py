"""Personal data in prompts and responses: masked where reviewers read it, shown with a reason."""

from __future__ import annotations

import pytest

from moderation.models import AuditAction, AuditEvent, PolicyCategory
from moderation.services.pii import pii_mask, pii_mask_html, pii_spans
from moderation.templatetags.modqueue import pii
from tests.factories import FlaggedItemFactory, SignalFactory

HTMX = {"HX-Request": "true"}


def kinds(text: str) -> list[str]:
    return [span.kind for span in pii_spans(text)]


# --- What is found -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, masked",
    [
        ("write to jane.doe+news@example.co.uk now", "write to [email] now"),
        ("cc: a.b@mail.example.org, c_d@example.com", "cc: [email], [email]"),
        ("MIXED.Case@Example.COM", "[email]"),
    ],
)
def test_it_masks_emails(text, masked):
    assert pii_mask(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "+44 20 7946 0958",
        "+1 (415) 555-0132",
        "+1-415-555-0132",
        "+14155550132",
        "+49 30 12345678",
        "+91 98765 43210",
        "+33 6 12 34 56 78",
        "+61 2 9876 5432",
        "+353 1 234 5678",
        "+33 (0)6 12 34 56 78",
    ],
)
def test_it_masks_international_phone_numbers(text):
    assert pii_mask(f"call {text} today") == "call [phone] today"


@pytest.mark.parametrize(
    "text",
    ["(415) 555-0132", "415-555-0132", "415.555.0132", "555-0132", "020 7946 0958", "0612345678"],
)
def test_it_masks_local_phone_numbers(text):
    assert pii_mask(f"my number is {text}.") == "my number is [phone]."


@pytest.mark.parametrize(
    "number",
    [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5500 0000 0000 0004",
        "3782 822463 10005",  # American Express, 15 digits
        "6011111111111117",
    ],
)
def test_it_masks_luhn_valid_card_numbers(number):
    assert pii_mask(f"card {number} exp 12/29") == "card [card] exp 12/29"
    assert kinds(number) == ["card"]


@pytest.mark.parametrize(
    "number", ["4111 1111 1111 1112", "4111-1111-1111-1113", "1234567812345678"]
)
def test_it_leaves_numbers_that_fail_the_luhn_check_as_cards(number):
    assert "card" not in kinds(number)


@pytest.mark.parametrize("address", ["192.168.0.1", "8.8.8.8", "255.255.255.255", "10.0.0.1"])
def test_it_masks_ipv4_addresses(address):
    assert pii_mask(f"from {address}, then") == "from [ip], then"
    assert pii_mask(f"from {address}.") == "from [ip]."


@pytest.mark.parametrize("text", ["999.1.1.1", "256.1.1.1", "1.2.3.4.5", "1.3.6.1.4.1.311"])
def test_it_leaves_what_is_no_ipv4_address(text):
    assert pii_mask(f"see {text}") == f"see {text}"


@pytest.mark.parametrize(
    "address",
    [
        "2001:db8::8a2e:370:7334",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "fe80::1ff:fe23:4567:890a",
    ],
)
def test_it_masks_ipv6_addresses(address):
    assert pii_mask(f"client {address} connected") == "client [ip] connected"


@pytest.mark.parametrize(
    "iban",
    [
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "GB82WEST12345698765432",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91 ABNA 0417 1643 00",
    ],
)
def test_it_masks_ibans(iban):
    assert pii_mask(f"pay to {iban} please") == "pay to [iban] please"


def test_it_masks_social_security_numbers():
    assert pii_mask("SSN 123-45-6789, born 1980") == "SSN [ssn], born 1980"
    assert kinds("123-45-6789") == ["ssn"]


def test_it_finds_every_kind_in_one_text_in_order():
    text = (
        "Mail bob@example.com or call +1 415 555 0132; card 4111 1111 1111 1111, "
        "IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789, from 203.0.113.7 and 2001:db8::1."
    )
    assert kinds(text) == ["email", "phone", "card", "iban", "ssn", "ip", "ip"]
    spans = pii_spans(text)
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))
    masked = pii_mask(text)
    for secret in ("bob@", "555 0132", "4111", "DE89", "6789", "203.0", "2001:db8"):
        assert secret not in masked


# --- What is not personal data -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # years and ranges of years
        "In 1999 and again in 2024 it happened.",
        "The 2024-2025 season",
        # dates, and dates with times
        "on 2024-05-17",
        "on 17/05/2024 and 12/31/2025",
        "on 17.05.2024",
        "at 2024-05-17 10:30:00 UTC",
        "at 17.05.2024 10:30",
        "at 2024-05-17T10:30:00Z",
        # times
        "between 09:00 and 17:30",
        "at 10:30 pm",
        "timestamp 12:30:45",
        # plain numbers
        "order 123456 of 12345678 items",
        "300 000 cases, 1 000 000 people",
        "price 1,234,567.89 or 3.14159",
        "port 8080 and 443, ratio 16:9, score 0.91",
        # versions and version-like dates
        "Python 3.11.4 and Django 5.1",
        "release 2023.10.01 (v2.10.4)",
        # identifiers and code
        "request 550e8400-e29b-41d4-a716-446655440000",
        "req-123456789",
        "ISBN 978-3-16-148410-0",
        "sha 3f786850e387550fdab836ed7e6dc881de23001b",
        "reversed = s[::-1]; evens = s[::2]",
        "std::vector<int> and Foo::bar",
    ],
)
def test_it_finds_no_personal_data_in_ordinary_numbers_dates_and_code(text):
    assert pii_spans(text) == []
    assert pii_mask(text) == text


def test_text_without_personal_data_comes_back_unchanged_but_escaped():
    assert pii_mask_html("1 < 2 & 3 > 2") == "1 &lt; 2 &amp; 3 &gt; 2"


# --- Escaping --------------------------------------------------------------------------------


def test_the_html_mask_escapes_everything_around_the_masks():
    html = pii_mask_html("<script>alert('x@example.com')</script> & <b>call 555-0132</b>")
    assert html == (
        "&lt;script&gt;alert(&#x27;"
        '<span class="pii" title="hidden email">[email]</span>'
        "&#x27;)&lt;/script&gt; &amp; &lt;b&gt;call "
        '<span class="pii" title="hidden phone">[phone]</span>'
        "&lt;/b&gt;"
    )
    assert "x@example.com" not in html and "<script>" not in html


def test_an_email_made_of_markup_cannot_inject_markup():
    html = pii_mask_html('"><img src=x onerror=alert(1)>@evil.example.com')
    assert "<img" not in html and "&lt;img" in html


def test_the_template_filter_masks_unless_revealed_and_escapes_either_way():
    text = "<i>mail</i> jane@example.com"
    assert (
        pii(text) == '&lt;i&gt;mail&lt;/i&gt; <span class="pii" title="hidden email">[email]</span>'
    )
    assert pii(text, True) == "&lt;i&gt;mail&lt;/i&gt; jane@example.com"


# --- On the item page ------------------------------------------------------------------------


@pytest.fixture
def personal(db):
    item = FlaggedItemFactory(
        prompt="Find <b>jane.doe@example.com</b>, phone +44 20 7946 0958, and hurt her",
        response="Her card is 4111 1111 1111 1111.",
    )
    SignalFactory(item=item)
    return item


def test_the_item_page_masks_personal_data_by_default(reviewer_client, personal):
    page = reviewer_client.get(f"/items/{personal.pk}/").content.decode()
    for hidden in ("jane.doe@example.com", "7946 0958", "4111 1111"):
        assert hidden not in page
    assert "[email]" in page and "[phone]" in page and "[card]" in page
    assert "&lt;b&gt;" in page and "<b>jane" not in page
    assert "Personal data is masked." in page and ">Reveal</button>" in page
    assert not AuditEvent.objects.filter(action=AuditAction.PII_REVEAL).exists()


def test_reveal_with_a_reason_shows_the_text_and_logs_who_and_why(
    reviewer_client, reviewer, personal
):
    response = reviewer_client.post(
        f"/items/{personal.pk}/reveal-personal-data/",
        {"reason": "  checking whether the target is a real person  "},
    )
    assert response.status_code == 302 and response["Location"] == f"/items/{personal.pk}/"
    event = AuditEvent.objects.get(action=AuditAction.PII_REVEAL)
    assert event.actor == reviewer and event.item == personal
    assert event.subject_id == personal.subject_id
    assert event.detail == {"reason": "checking whether the target is a real person"}

    page = reviewer_client.get(f"/items/{personal.pk}/").content.decode()
    assert "jane.doe@example.com" in page and "+44 20 7946 0958" in page
    assert "4111 1111 1111 1111" in page
    assert "&lt;b&gt;jane.doe@example.com&lt;/b&gt;" in page  # revealed, still escaped
    assert "Personal data is masked." not in page


def test_reveal_by_htmx_returns_the_item_partial_unmasked(reviewer_client, personal):
    response = reviewer_client.post(
        f"/items/{personal.pk}/reveal-personal-data/", {"reason": "identity check"}, headers=HTMX
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" not in page and 'class="review"' in page
    assert "jane.doe@example.com" in page


def test_the_reveal_is_for_this_item_only(reviewer_client, personal):
    other = FlaggedItemFactory(prompt="write to other@example.com")
    reviewer_client.post(f"/items/{personal.pk}/reveal-personal-data/", {"reason": "check"})
    page = reviewer_client.get(f"/items/{other.pk}/").content.decode()
    assert "other@example.com" not in page and "[email]" in page


@pytest.mark.parametrize("data", [{}, {"reason": ""}, {"reason": "   "}])
def test_reveal_without_a_reason_answers_422_and_logs_nothing(reviewer_client, personal, data):
    before = AuditEvent.objects.count()
    response = reviewer_client.post(f"/items/{personal.pk}/reveal-personal-data/", data)
    assert response.status_code == 422
    page = response.content.decode()
    assert "Say why you need to see the personal data." in page
    assert "jane.doe@example.com" not in page
    assert AuditEvent.objects.count() == before
    page = reviewer_client.get(f"/items/{personal.pk}/").content.decode()
    assert "jane.doe@example.com" not in page


def test_reveal_is_post_only(reviewer_client, personal):
    assert reviewer_client.get(f"/items/{personal.pk}/reveal-personal-data/").status_code == 405


def test_reveal_needs_a_signed_in_user(client, personal):
    response = client.post(f"/items/{personal.pk}/reveal-personal-data/", {"reason": "x"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not AuditEvent.objects.filter(action=AuditAction.PII_REVEAL).exists()


def test_blurred_critical_content_offers_no_personal_data_reveal_until_shown(reviewer_client, db):
    item = FlaggedItemFactory(prompt="critical text to bob@example.com")
    SignalFactory(item=item, category=PolicyCategory.objects.get(slug="child-safety"))
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    assert "bob@example.com" not in page
    assert "Show content" in page and "Personal data is masked." not in page
    reviewer_client.post(f"/items/{item.pk}/reveal/")
    page = reviewer_client.get(f"/items/{item.pk}/").content.decode()
    # Shown, but the personal data in it still masked until its own reveal.
    assert "bob@example.com" not in page and "Personal data is masked." in page
