"""/reports/quality/ and its CSV for seniors and admins, /reports/quality/me/ for everyone's own
figures (issue 10, CONTRACT §8 v2 "quality")."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.roles import Role
from tests.factories import GoldItemFactory, UserFactory, page_of, signed_in
from tests.quality_data import N, V, fixed_data, gold_answer

pytestmark = pytest.mark.django_db

MARCH = {"since": "2026-03-02", "until": "2026-03-29"}


@pytest.fixture
def people(reviewer: Any, senior: Any) -> tuple[Any, Any, Any]:
    """rita (reviewer), vic (reviewer) and sam (senior), with the fixed data set of March."""
    vic = UserFactory(username="vic", role=Role.REVIEWER)
    fixed_data(reviewer, vic, senior)
    return reviewer, vic, senior


def text_of(html: str) -> str:
    """The page's text, tags dropped and spaces squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&nbsp;", " ")


def row_of(html: str, name: str) -> str:
    """The text of the table row headed by `name`."""
    match = re.search(rf'<tr>\s*<th scope="row">{name}</th>(.*?)</tr>', html, re.S)
    assert match, f"no row for {name}"
    return text_of(match[1])


def csv_rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


# --- Who may see what ---------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/reports/quality/", "/reports/quality.csv"])
def test_the_report_is_for_seniors_and_admins(
    client: Client, reviewer: Any, senior: Any, admin_user: Any, url: str
):
    assert signed_in(client, reviewer).get(url).status_code == 403
    assert signed_in(client, senior).get(url).status_code == 200
    assert signed_in(client, admin_user).get(url).status_code == 200


def test_everyone_with_a_role_has_their_own_page(client: Client, reviewer: Any, senior: Any):
    assert signed_in(client, reviewer).get("/reports/quality/me/").status_code == 200
    assert signed_in(client, senior).get("/reports/quality/me/").status_code == 200


def test_a_user_without_a_role_gets_403(roleless_client: Client):
    for url in ("/reports/quality/", "/reports/quality.csv", "/reports/quality/me/"):
        assert roleless_client.get(url).status_code == 403


# --- The report page ----------------------------------------------------------------------


def test_it_shows_each_reviewers_figures(senior_client: Client, people: Any):
    html = page_of(senior_client.get("/reports/quality/", MARCH))
    rita = row_of(html, "rita")
    # gold 5, 60 % (3 of 5), overlap 0.38, 11 second reviews, agreement 73 % (8 of 11),
    # kappa 28/61 = 0.46 with its interval, n = 11, adjudications 1 / 1, median 40 s.
    assert re.search(r"^5 60 % 3 of 5 too few to judge 0\.38 11 73 % 8 of 11", rita.strip())
    assert re.search(r"0\.46 \[−?\d\.\d\d to \d\.\d\d\] n = 11 too few to judge", rita)
    assert rita.strip().endswith("1 / 1 40")
    vic = row_of(html, "vic")
    assert vic.strip().startswith("3 100 % 3 of 3")
    assert "0.50 [" in vic and "n = 12" in vic
    sam = row_of(html, "sam")
    assert "not enough pairs n = 1" in sam


def test_it_shows_each_categorys_kappa_and_gold_accuracy(senior_client: Client, people: Any):
    html = page_of(senior_client.get("/reports/quality/", MARCH))
    violence = row_of(html, "Violence")
    assert "0.27 [" in violence and "n = 12" in violence
    assert "67 % 2 of 3" in violence
    assert "not enough pairs n = 12" in row_of(html, "Weapons")
    assert "33 % 1 of 3" in row_of(html, "Hate")


def test_it_shows_the_overall_figures(senior_client: Client, people: Any):
    text = text_of(page_of(senior_client.get("/reports/quality/", MARCH)))
    assert "Gold accuracy 75 %" in text  # 6 of 8
    assert "Agreement 75 %" in text  # 9 of 12
    assert "Kappa (verdict) 0.50" in text
    assert "on 12 pairs. Fewer than 20 pairs: too few to judge." in text


def test_it_draws_a_chart_per_reviewer_with_its_table(senior_client: Client, people: Any):
    html = page_of(senior_client.get("/reports/quality/", MARCH))
    assert html.count('<svg class="chart"') == 3
    assert 'style="' not in html  # the CSP refuses inline styles
    # rita's chart: her weekly points, and the same weeks in a table.
    rita_chart = html[html.index('<figcaption id="chart-') :].split("</figure>")[0]
    assert "Week of 2 Mar: gold accuracy 100 % (2 of 2)" in rita_chart
    assert "Week of 9 Mar: gold accuracy 33 % (1 of 3)" in rita_chart
    assert re.search(
        r"Week of 2 Mar: kappa 0\.40, 95 % interval −?\d\.\d\d to \d\.\d\d \(3 pairs\)", rita_chart
    )
    table = text_of(rita_chart[rita_chart.index("<table") :])
    assert "2 Mar 2026 100 % 2 of 2 too few to judge 0.40" in table
    assert "16 Mar 2026 –" in table


def test_it_says_when_there_are_no_second_reviews(senior_client: Client, reviewer: Any):
    gold_answer(GoldItemFactory(), reviewer, V, "violence", at=timezone.now())
    text = text_of(page_of(senior_client.get("/reports/quality/")))
    assert "No blind second review was answered in this period" in text
    assert "no pairs" in text


def test_it_says_when_nothing_happened_in_the_period(senior_client: Client):
    text = text_of(page_of(senior_client.get("/reports/quality/")))
    assert "Nobody decided a golden item" in text


def test_it_defaults_to_the_last_thirty_days(senior_client: Client, reviewer: Any):
    now = timezone.now()
    gold = GoldItemFactory()
    gold_answer(gold, reviewer, V, "violence", at=now - timedelta(days=29))
    gold_answer(gold, reviewer, V, "violence", at=now - timedelta(days=31))
    html = page_of(senior_client.get("/reports/quality/"))
    assert row_of(html, "rita").strip().startswith("1 100 % 1 of 1")
    today = now.date()
    assert f'name="since" value="{today - timedelta(days=29):%Y-%m-%d}"' in html
    assert f'name="until" value="{today:%Y-%m-%d}"' in html


def test_it_links_the_csv_for_the_same_period(senior_client: Client, people: Any):
    html = page_of(senior_client.get("/reports/quality/", MARCH))
    assert 'href="/reports/quality.csv?since=2026-03-02&amp;until=2026-03-29"' in html


def test_the_reports_link_between_each_other(senior_client: Client):
    quality = page_of(senior_client.get("/reports/quality/"))
    assert 'href="/reports/classifiers/"' in quality
    classifiers = page_of(senior_client.get("/reports/classifiers/"))
    assert 'href="/reports/quality/"' in classifiers
    assert 'href="/reports/quality/me/"' in classifiers


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "2026-13-45"}, "From is a date, YYYY-MM-DD"),
        ({"until": "yesterday"}, "To is a date, YYYY-MM-DD"),
        ({"since": "2026-03-10", "until": "2026-03-01"}, "From is after To"),
        ({"since": "2020-01-01", "until": "2026-01-01"}, "at most 366 days"),
    ],
)
def test_it_refuses_a_period_it_cannot_read(
    senior_client: Client, people: Any, query: dict[str, str], message: str
):
    for url in ("/reports/quality/", "/reports/quality/me/"):
        response = senior_client.get(url, query)
        assert response.status_code == 400
        html = response.content.decode()
        assert message in html
        assert 'role="alert"' in html
        assert "By reviewer" not in html and '<svg class="chart"' not in html
    response = senior_client.get("/reports/quality.csv", query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_it_shows_back_what_was_typed(senior_client: Client):
    html = senior_client.get("/reports/quality/", {"since": "<b>x</b>"}).content.decode()
    assert "“&lt;b&gt;x&lt;/b&gt;”: From is a date" in html


# --- The CSV ------------------------------------------------------------------------------


def test_the_csv_has_the_contract_columns_and_the_figures(senior_client: Client, people: Any):
    response = senior_client.get("/reports/quality.csv", MARCH)
    assert (
        'filename="modqueue-quality-2026-03-02-to-2026-03-29.csv"'
        in response["Content-Disposition"]
    )
    rows = csv_rows(response)
    header = response.content.decode().splitlines()[0].split(",")
    for column in ("reviewer", "gold_decided", "gold_correct", "second_reviews", "agreements"):
        assert column in header
    by_name = {r["reviewer"]: r for r in rows}
    assert list(by_name) == ["rita", "sam", "vic"]
    assert (by_name["rita"]["gold_decided"], by_name["rita"]["gold_correct"]) == ("5", "3")
    assert (by_name["rita"]["second_reviews"], by_name["rita"]["agreements"]) == ("11", "8")
    assert by_name["rita"]["kappa"] == f"{28 / 61:.4f}"
    assert (by_name["rita"]["adjudications_won"], by_name["rita"]["adjudications_lost"]) == (
        "1",
        "1",
    )
    assert (by_name["vic"]["gold_decided"], by_name["vic"]["gold_correct"]) == ("3", "3")
    assert by_name["sam"]["kappa"] == "" and by_name["sam"]["kappa_pairs"] == "1"


@pytest.mark.parametrize("name", ["=cmd", "+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_the_csv_neutralises_a_name_a_spreadsheet_would_run(senior_client: Client, name: str):
    evil = UserFactory(username=f"{name}", role=Role.REVIEWER)
    gold_answer(GoldItemFactory(), evil, V, "violence", at=timezone.now())
    rows = csv_rows(senior_client.get("/reports/quality.csv"))
    assert [r["reviewer"] for r in rows] == [f"'{name}"]


# --- My quality ---------------------------------------------------------------------------


def test_my_page_shows_my_figures_and_nobody_elses(client: Client, people: Any):
    rita, vic, sam = people
    html = page_of(signed_in(client, vic).get("/reports/quality/me/", MARCH))
    text = text_of(html)
    assert "Gold decided 3" in text and "Gold accuracy 100 %" in text
    assert "Second reviews 12" in text and "Kappa 0.50" in text
    assert "rita" not in text and "sam" not in text.replace("same", "")
    assert html.count('<svg class="chart"') == 1


def test_my_page_ignores_a_request_for_someone_else(client: Client, people: Any):
    rita, vic, _ = people
    html = page_of(
        signed_in(client, vic).get(
            "/reports/quality/me/", {**MARCH, "reviewer": str(rita.pk), "user": "rita"}
        )
    )
    assert "Gold decided 3" in text_of(html)


def test_my_page_with_nothing_yet(reviewer_client: Client):
    text = text_of(page_of(reviewer_client.get("/reports/quality/me/")))
    assert "Gold decided 0" in text and "Gold accuracy –" in text


def test_a_reviewer_finds_my_quality_in_the_top_bar(reviewer_client: Client):
    html = page_of(reviewer_client.get("/queue/"))
    assert '<a href="/reports/quality/me/"' in html


def test_golden_answers_in_a_later_period_are_in_that_period_only(
    senior_client: Client, reviewer: Any
):
    gold = GoldItemFactory()
    gold_answer(gold, reviewer, N, at=datetime(2026, 4, 2, 12, tzinfo=UTC))
    html = page_of(senior_client.get("/reports/quality/", MARCH))
    assert "Nobody decided a golden item" in text_of(html)
    april = page_of(
        senior_client.get("/reports/quality/", {"since": "2026-04-01", "until": "2026-04-30"})
    )
    assert row_of(april, "rita").strip().startswith("1 0 % 0 of 1")
