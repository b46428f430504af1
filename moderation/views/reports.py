"""/reports/classifiers/: how often reviewers confirm each classifier, by score band."""

from __future__ import annotations

import dataclasses
from itertools import groupby

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import role_required
from accounts.roles import Role
from moderation.services.training import BANDS, classifier_report, classifier_report_csv
from moderation.views._types import SignedInRequest

# A spreadsheet reads a cell starting with one of these as a formula (CSV injection): a
# classifier name is whatever an upstream sent, so `=HYPERLINK(...)` must stay text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """A text cell a spreadsheet shows as written: a leading single quote before a formula."""
    return f"'{value}" if value.startswith(FORMULA_START) else value


@role_required(Role.SENIOR)
@require_GET
def classifier_report_page(request: SignedInRequest) -> HttpResponse:
    rows = classifier_report()
    groups = []
    for (classifier, category), band_rows in groupby(
        rows, key=lambda r: (r.classifier, r.category)
    ):
        by_band = {r.band: r for r in band_rows}
        # One list drives both the bars and the table cells: band b is column b of each.
        bands = []
        for b in range(BANDS):
            row = by_band.get(b)
            rate = row.confirmation_rate if row is not None else None
            percent = round(100 * rate) if rate is not None else None
            # Bar height in a 0–48 box; a decided band with nothing confirmed shows a sliver.
            height = max(2, round(48 * percent / 100)) if percent is not None else 0
            bands.append(
                {
                    "band": b,
                    "low": b / BANDS,
                    "row": row,
                    "percent": percent,
                    "height": height,
                    "y": 48 - height,
                }
            )
        groups.append(
            {
                "classifier": classifier,
                "category": category,
                "bands": bands,
                "flags": sum(r.flags for r in by_band.values()),
                "decided": sum(r.decided for r in by_band.values()),
                "confirmed": sum(r.confirmed for r in by_band.values()),
            }
        )
    return render(request, "moderation/classifier_report.html", {"groups": groups})


@role_required(Role.SENIOR)
@require_GET
def classifier_report_csv_view(request: SignedInRequest) -> HttpResponse:
    rows = [
        dataclasses.replace(r, classifier=csv_text(r.classifier), category=csv_text(r.category))
        for r in classifier_report()
    ]
    response = HttpResponse(classifier_report_csv(rows), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="modqueue-classifiers.csv"'
    return response
