"""The shipped sample corpus (moderation/data, MIT, see its README) as flags API items.

Each sample carries people's labels for eight categories. To stand in for an upstream
classifier, a sample becomes an item flagged in its positive categories with a high
score, or, for a sample people judged clean, in one of its labelled categories with a
middling score: the false positives a review queue exists to catch.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CORPUS_PATH = Path(__file__).resolve().parent / "data" / "moderation-samples-1680.jsonl.gz"
LABELS = ("S", "H", "V", "HR", "SH", "S3", "H2", "V2")
CLASSIFIER = "corpus-demo-classifier"


def corpus_samples(path: Path = CORPUS_PATH) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def corpus_items(
    *,
    organization: str,
    count: int | None = None,
    users: int = 40,
    seed: int = 1,
    prefix: str = "req",
) -> list[dict[str, Any]]:
    """Flags API items made of the first `count` samples (all when None), deterministic per seed."""
    rng = random.Random(seed)
    items = []
    for index, sample in enumerate(corpus_samples()):
        if count is not None and index >= count:
            break
        positive = [label for label in LABELS if sample.get(label) == 1]
        known = [label for label in LABELS if label in sample] or ["H"]
        if positive:
            signals = [
                {
                    "classifier": CLASSIFIER,
                    "category": label,
                    "score": round(rng.uniform(0.7, 0.99), 3),
                }
                for label in positive
            ]
        else:
            signals = [
                {
                    "classifier": CLASSIFIER,
                    "category": rng.choice(known),
                    "score": round(rng.uniform(0.3, 0.7), 3),
                }
            ]
        items.append(
            {
                "request_id": f"{prefix}-{seed}-{index:05d}",
                "organization": organization,
                "user_id": f"user-{rng.randrange(users):03d}",
                "prompt": sample["prompt"],
                "model": rng.choice(["claude-sonnet", "claude-haiku", "claude-opus"]),
                "signals": signals,
                "metadata": {"source": "moderation-samples-1680", "sample": index},
            }
        )
    return items
