"""/reports/quality/ (seniors and admins), its CSV, and /reports/quality/me/ (everyone's own):
how often reviewers are right on golden items and agree with each other (docs/quality.md)."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import role_required
from accounts.roles import Role
from moderation.services.quality_report import (
    DEFAULT_DAYS,
    MAX_DAYS,
    Period,
    QualityReport,
    Rate,
    ReviewerFigures,
    quality_report,
)
from moderation.services.quality_report_csv import quality_report_csv
from moderation.services.stats import Kappa
from moderation.views._types import SignedInRequest
from moderation.views.reports import csv_text

DATE_MESSAGE = "%(field)s is a date, YYYY-MM-DD, such as 2026-03-31."


class PeriodForm(forms.Form):
    """From and To, both days included; either left out takes the default's (the last 30 days)."""

    since = forms.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": DATE_MESSAGE % {"field": "From"}},
    )
    until = forms.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": DATE_MESSAGE % {"field": "To"}},
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        until: date = data.get("until") or timezone.now().date()
        since: date = data.get("since") or until - timedelta(days=DEFAULT_DAYS - 1)
        if since > until:
            raise forms.ValidationError("From is after To: choose a From on or before the To.")
        if (until - since).days + 1 > MAX_DAYS:
            raise forms.ValidationError(f"The period is at most {MAX_DAYS} days long.")
        data["period"] = Period(since=since, until=until)
        return data


def _period(request: SignedInRequest) -> tuple[Period | None, dict[str, str], list[str]]:
    """The period asked for, what was typed (to show back), and the errors in words."""
    form = PeriodForm(request.GET)
    typed = {name: request.GET.get(name, "").replace("\x00", "") for name in ("since", "until")}
    if form.is_valid():
        return form.cleaned_data["period"], typed, []
    errors = [
        (f"“{typed[name]}”: " if typed.get(name) else "") + " ".join(map(str, messages))
        for name, messages in form.errors.items()
    ]
    return None, typed, errors


# --- What the templates show ----------------------------------------------------------------


def _percent(rate: Rate) -> str:
    share = rate.share
    return "–" if share is None else f"{round(100 * share)} %"


def _signed(value: float | None) -> str:
    """Two decimals, with a true minus sign (what a screen reader reads as "minus")."""
    return "" if value is None else f"{value:.2f}".replace("-", "\u2212")


def _kappa(kappa: Kappa) -> dict[str, Any]:
    return {
        "judged": kappa.judged,
        "value": "" if kappa.value is None else _signed(kappa.value),
        "interval": "" if kappa.low is None else f"{_signed(kappa.low)} to {_signed(kappa.high)}",
        "pairs": kappa.pairs,
        "too_few": kappa.too_few,
    }


def _day(day: date) -> str:
    return f"{day.day} {day:%b}"


# The chart's drawing box (SVG user units) and its plot area inside it.
CHART_W, CHART_H = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 624, 12, 164


def _chart(figures: ReviewerFigures) -> dict[str, Any]:
    """One reviewer's weekly gold accuracy and kappa (with its 95 % interval) as SVG
    coordinates, and the same figures for the table that stands under the drawing. A point
    with fewer than SMALL_SAMPLE answers or pairs behind it is drawn hollow."""
    weeks = figures.weeks
    lows = [w.kappa.low for w in weeks if w.kappa.low is not None]
    # The scale reaches below 0 only when some kappa or its interval does.
    bottom = -1.0 if lows and min(lows) < 0 else 0.0

    def x(n: int) -> float:
        return round(LEFT + (RIGHT - LEFT) * (n + 0.5) / max(1, len(weeks)), 1)

    def y(value: float) -> float:
        return round(BOTTOM - (BOTTOM - TOP) * (value - bottom) / (1 - bottom), 1)

    def lines(values: list[float | None]) -> list[str]:
        """Polylines through the points; a week without a figure breaks the line."""
        found: list[str] = []
        run: list[str] = []
        for n, v in enumerate([*values, None]):
            if v is None:
                if len(run) > 1:
                    found.append(" ".join(run))
                run = []
            else:
                run.append(f"{x(n)},{y(v)}")
        return found

    accuracy = [
        {
            "x": x(n),
            "y": y(w.gold.share),
            "few": w.gold.too_few,
            "title": f"Week of {_day(w.monday)}: gold accuracy {_percent(w.gold)} "
            f"({w.gold.hits} of {w.gold.total})",
        }
        for n, w in enumerate(weeks)
        if w.gold.share is not None
    ]
    kappa = [
        {
            "x": x(n),
            "y": y(w.kappa.value),
            # The square's top left corner, and the interval's ends.
            "corner_x": round(x(n) - 4, 1),
            "corner_y": round(y(w.kappa.value) - 4, 1),
            "low_y": y(w.kappa.low if w.kappa.low is not None else w.kappa.value),
            "high_y": y(w.kappa.high if w.kappa.high is not None else w.kappa.value),
            "few": w.kappa.too_few,
            "title": f"Week of {_day(w.monday)}: kappa {_kappa(w.kappa)['value']}, "
            f"95 % interval {_kappa(w.kappa)['interval']} ({w.kappa.pairs} pairs)",
        }
        for n, w in enumerate(weeks)
        if w.kappa.value is not None
    ]
    step = max(1, round(len(weeks) / 9))
    return {
        "accuracy": {"points": accuracy, "lines": lines([w.gold.share for w in weeks])},
        "kappa": {"points": kappa, "lines": lines([w.kappa.value for w in weeks])},
        "grid": [
            {"y": y(v), "label": f"{v:g}".replace("-", "\u2212")}
            for v in ([-1.0, -0.5] if bottom < 0 else []) + [0, 0.5, 1]
        ],
        "ticks": [
            {"x": x(n), "label": _day(w.monday)} for n, w in enumerate(weeks) if n % step == 0
        ],
        "rows": [
            {
                "monday": w.monday,
                "gold": w.gold,
                "accuracy": _percent(w.gold),
                "kappa": _kappa(w.kappa),
            }
            for w in weeks
        ],
        "box": {"w": CHART_W, "h": CHART_H, "left": LEFT, "right": RIGHT, "bottom": BOTTOM},
    }


def _reviewer_row(figures: ReviewerFigures) -> dict[str, Any]:
    return {
        "figures": figures,
        "accuracy": _percent(figures.gold),
        "overlap": "–" if figures.overlap is None else f"{figures.overlap:.2f}",
        "agreement": _percent(figures.agreement),
        "kappa": _kappa(figures.kappa),
        "median": "–" if figures.median_seconds is None else f"{figures.median_seconds:g}",
        "chart": _chart(figures),
    }


def _context(report: QualityReport) -> dict[str, Any]:
    rows = [_reviewer_row(r) for r in report.reviewers]
    return {
        "report": report,
        "rows": rows,
        # A chart for those with something to draw (not for decisions alone).
        "charted": [r for r in rows if r["figures"].gold.total or r["figures"].agreement.total],
        "categories": [
            {"figures": c, "kappa": _kappa(c.kappa), "accuracy": _percent(c.gold)}
            for c in report.categories
        ],
        "overall": {
            "accuracy": _percent(report.gold),
            "agreement": _percent(report.agreement),
            "kappa": _kappa(report.kappa),
        },
        "query": f"since={report.period.since:%Y-%m-%d}&until={report.period.until:%Y-%m-%d}",
    }


def _page(request: SignedInRequest, template: str, reviewer_id: int | None) -> HttpResponse:
    period, typed, errors = _period(request)
    context: dict[str, Any] = {"filters": typed, "errors": errors, "default_days": DEFAULT_DAYS}
    if period is not None:
        context |= _context(quality_report(period=period, reviewer_id=reviewer_id))
        context["filters"] = {
            "since": f"{period.since:%Y-%m-%d}",
            "until": f"{period.until:%Y-%m-%d}",
        }
    return render(request, template, context, status=400 if errors else 200)


@role_required(Role.SENIOR)
@require_GET
def quality_report_page(request: SignedInRequest) -> HttpResponse:
    return _page(request, "moderation/quality_report.html", reviewer_id=None)


@role_required(Role.REVIEWER)
@require_GET
def quality_report_me(request: SignedInRequest) -> HttpResponse:
    """The signed-in user's own figures, whoever they are: nobody else's, whatever is asked."""
    return _page(request, "moderation/quality_report_me.html", reviewer_id=request.user.pk)


@role_required(Role.SENIOR)
@require_GET
def quality_report_csv_view(request: SignedInRequest) -> HttpResponse:
    period, _, errors = _period(request)
    if period is None:
        return HttpResponse(" ".join(errors), status=400, content_type="text/plain; charset=utf-8")
    reviewers = [
        dataclasses.replace(r, reviewer=csv_text(r.reviewer))
        for r in quality_report(period=period).reviewers
    ]
    response = HttpResponse(quality_report_csv(reviewers), content_type="text/csv")
    name = f"modqueue-quality-{period.since:%Y-%m-%d}-to-{period.until:%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
