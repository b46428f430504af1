"""/reports/classifiers/: how often reviewers confirm each classifier, by score band."""

from __future__ import annotations

from itertools import groupby

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import role_required
from accounts.roles import Role
from moderation.services.training import BANDS, classifier_report, classifier_report_csv


@role_required(Role.SENIOR)
@require_GET
def classifier_report_page(request: HttpRequest) -> HttpResponse:
    rows = classifier_report()
    groups = []
    for (classifier, category), band_rows in groupby(
        rows, key=lambda r: (r.classifier, r.category)
    ):
        by_band = {r.band: r for r in band_rows}
        bands = [by_band.get(b) for b in range(BANDS)]
        groups.append(
            {
                "classifier": classifier,
                "category": category,
                "bands": [
                    {
                        "band": b,
                        "low": b / BANDS,
                        "row": row,
                        "height": round(90 * (row.confirmation_rate or 0)) if row else 0,
                        "x": 12 + b * 20,
                        "y": 100 - (round(90 * (row.confirmation_rate or 0)) if row else 0),
                    }
                    for b, row in enumerate(bands)
                ],
                "flags": sum(r.flags for r in by_band.values()),
                "decided": sum(r.decided for r in by_band.values()),
                "confirmed": sum(r.confirmed for r in by_band.values()),
            }
        )
    return render(request, "moderation/classifier_report.html", {"groups": groups})


@role_required(Role.SENIOR)
@require_GET
def classifier_report_csv_view(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(classifier_report_csv(classifier_report()), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="modqueue-classifiers.csv"'
    return response
