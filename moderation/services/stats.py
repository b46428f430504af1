"""The statistics of the quality report (services/quality_report.py): Cohen's kappa with its
95 % interval, and a median read off (value, count) pairs. Plain Python, no numeric library:
importing statsmodels cost each web process about 90 MB."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Fewer pairs or golden decisions than this and a figure is shown as "too few to judge".
SMALL_SAMPLE = 20


@dataclass(frozen=True)
class Kappa:
    """Cohen's kappa over `pairs` pairs, with its 95 % interval; `value` is None when the pairs
    cannot give one (fewer than two, or one side gave the same answer every time)."""

    pairs: int
    value: float | None = None
    low: float | None = None
    high: float | None = None

    @property
    def judged(self) -> bool:
        return self.value is not None

    @property
    def too_few(self) -> bool:
        return self.pairs < SMALL_SAMPLE


def cohen_kappa(pairs: Sequence[tuple[Any, Any]], classes: Sequence[Any]) -> Kappa:
    """Kappa of the two answers of each pair, each answer one of `classes`.

    Cohen's simple kappa with its asymptotic variance (Fleiss, Cohen and Everitt 1969), as
    statsmodels' `cohens_kappa` computes them (tests/services/test_quality_report.py checks
    the two agree), in plain Python: importing statsmodels cost each web process about 90 MB.
    A table where either side used a single class (kappa is then 0 or undefined and its
    interval collapses to a point, which would read as certainty), or fewer than two pairs,
    has no kappa. The interval is clipped to [-1, 1], where kappa lives (the normal
    approximation can reach past it on few pairs)."""
    n = len(pairs)
    if n < 2:
        return Kappa(pairs=n)
    index = {c: i for i, c in enumerate(classes)}
    size = len(classes)
    table = [[0.0] * size for _ in range(size)]
    for first, second in pairs:
        table[index[first]][index[second]] += 1
    row = [sum(table[i]) / n for i in range(size)]  # the first answer's shares
    col = [sum(table[i][j] for i in range(size)) / n for j in range(size)]
    if sum(1 for r in row if r) < 2 or sum(1 for c in col if c) < 2:
        return Kappa(pairs=n)
    observed = sum(table[i][i] for i in range(size)) / n
    expected = sum(row[i] * col[i] for i in range(size))
    kappa = (observed - expected) / (1 - expected)
    term_a = sum(table[i][i] / n * (1 - (row[i] + col[i]) * (1 - kappa)) ** 2 for i in range(size))
    term_b = (1 - kappa) ** 2 * sum(
        table[i][j] / n * (col[i] + row[j]) ** 2 for i in range(size) for j in range(size) if i != j
    )
    term_c = (kappa - expected * (1 - kappa)) ** 2
    variance = (term_a + term_b - term_c) / (1 - expected) ** 2 / n
    delta = _Z95 * math.sqrt(variance) if variance > 0 else 0.0
    return Kappa(pairs=n, value=_clip(kappa), low=_clip(kappa - delta), high=_clip(kappa + delta))


# The two-sided 95 % normal quantile, 1.959963984540054 (scipy's norm.isf(0.025)).
_Z95 = statistics.NormalDist().inv_cdf(0.975)


def _clip(value: float) -> float:
    return min(1.0, max(-1.0, value))


def median_of_counts(counts: list[tuple[int, int]]) -> tuple[int, float | None]:
    """(how many, their median) of values given as (value, how many times) pairs."""
    ordered = sorted(counts)
    total = sum(n for _, n in ordered)
    if not total:
        return 0, None
    wanted = sorted({(total - 1) // 2, total // 2})  # the middle one, or the middle two
    found: list[float] = []
    seen = 0
    for value, n in ordered:
        while wanted and wanted[0] < seen + n:
            found.append(float(value))
            wanted.pop(0)
        seen += n
    return total, sum(found) / len(found)
