"""The quality report's figures per reviewer as CSV (CONTRACT §8 v2 "quality")."""

from __future__ import annotations

import csv
import io
import math

from moderation.services.quality_report import ReviewerFigures

CSV_HEADER = [
    "reviewer",
    "gold_decided",
    "gold_correct",
    "gold_accuracy",
    "category_overlap",
    "second_reviews",
    "agreements",
    "agreement_rate",
    "kappa",
    "kappa_low",
    "kappa_high",
    "kappa_pairs",
    "adjudications_won",
    "adjudications_lost",
    "decisions",
    "median_seconds",
]


def _number(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4f}"


def quality_report_csv(reviewers: list[ReviewerFigures]) -> str:
    """One row per reviewer; an empty cell where a figure has nothing to stand on. Names are
    written as given: the view makes them safe for spreadsheets first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for r in reviewers:
        writer.writerow(
            [
                r.reviewer,
                r.gold_decided,
                r.gold_correct,
                _number(r.gold.share),
                _number(r.overlap),
                r.second_reviews,
                r.agreements,
                _number(r.agreement.share),
                _number(r.kappa.value),
                _number(r.kappa.low),
                _number(r.kappa.high),
                r.kappa.pairs,
                r.adjudications_won,
                r.adjudications_lost,
                r.decisions,
                "" if r.median_seconds is None else f"{r.median_seconds:g}",
            ]
        )
    return out.getvalue()
