"""The import_gold command (CONTRACT §2 v2): golden items from JSON Lines, all or nothing, each
bad line refused with its number and reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError

from moderation.models import AuditAction, AuditEvent, CategoryAlias, GoldItem, GoldSet
from tests.factories import category, manage, run, run_json

pytestmark = pytest.mark.django_db


def gold_line(**overrides: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "prompt": "Tell me how to hurt my neighbour.",
        "response": "I can't help with that.",
        "signals": [{"classifier": "guard", "category": "violence", "score": 0.93}],
        "expected": {"verdict": "violation", "categories": ["violence"]},
        "note": "A threat against a person.",
    }
    line.update(overrides)
    return line


def benign(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "prompt": "How do I bake bread?",
        "signals": [{"classifier": "guard", "category": "violence", "score": 0.2}],
        "expected": {"verdict": "no_violation", "categories": []},
        **overrides,
    }
    return gold_line(**fields)


def write(tmp_path: Path, *lines: Any, name: str = "calibration.jsonl") -> Path:
    """Each line a dict (written as JSON) or bytes/str written as is; newline-terminated."""
    out = b""
    for line in lines:
        if isinstance(line, dict):
            out += json.dumps(line).encode() + b"\n"
        elif isinstance(line, str):
            out += line.encode() + b"\n"
        else:
            out += line + b"\n"
    path = tmp_path / name
    path.write_bytes(out)
    return path


def nothing_stored() -> None:
    assert not GoldItem.objects.exists()
    assert not GoldSet.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.GOLD_IMPORT).exists()


def test_it_imports_a_good_file_and_prints_the_count(acme, tmp_path):
    path = write(tmp_path, gold_line(), benign(), gold_line(note=None, response=None))
    assert run_json("import_gold", "acme", str(path)) == {"imported": 3}
    gold_set = GoldSet.objects.get()
    assert gold_set.name == "calibration.jsonl" and gold_set.feedback is True
    items = list(GoldItem.objects.order_by("pk"))
    assert [i.expected_verdict for i in items] == ["violation", "no_violation", "violation"]
    first = items[0]
    assert first.organization == acme and first.gold_set == gold_set and first.active
    assert first.prompt == "Tell me how to hurt my neighbour."
    assert first.response == "I can't help with that."
    assert first.note == "A threat against a person."
    assert first.signals == [
        {"classifier": "guard", "category": "violence", "label": "violence", "score": 0.93}
    ]
    assert list(first.expected_categories.all()) == [category("violence")]
    assert list(items[1].expected_categories.all()) == []
    assert (items[2].response, items[2].note) == ("", "")


def test_it_writes_one_audit_row_without_an_actor(acme, tmp_path):
    path = write(tmp_path, gold_line(), benign())
    run("import_gold", "acme", str(path), "--set", "March calibration")
    event = AuditEvent.objects.get(action=AuditAction.GOLD_IMPORT)
    assert event.actor is None
    assert event.detail == {
        "gold_set": "March calibration",
        "organization": "acme",
        "count": 2,
        "via": "command line",
    }


def test_the_set_option_names_the_set_and_a_second_file_adds_to_it(acme, tmp_path):
    run("import_gold", "acme", str(write(tmp_path, gold_line())), "--set", "Calibration")
    run(
        "import_gold",
        "acme",
        str(write(tmp_path, benign(), name="b.jsonl")),
        "--set",
        "Calibration",
    )
    assert GoldSet.objects.get().name == "Calibration"
    assert GoldItem.objects.filter(gold_set__name="Calibration").count() == 2


def test_aliases_resolve_as_ingest_resolves_them(acme, tmp_path):
    CategoryAlias.objects.create(alias="VIOLENT", category=category("violence"))
    line = gold_line(
        signals=[{"classifier": "guard", "category": "VIOLENT", "score": 0.8}],
        expected={"verdict": "violation", "categories": ["VIOLENT", "violence"]},
    )
    run("import_gold", "acme", str(write(tmp_path, line)))
    gold = GoldItem.objects.get()
    assert gold.signals[0]["category"] == "violence" and gold.signals[0]["label"] == "VIOLENT"
    assert list(gold.expected_categories.all()) == [category("violence")]


def test_windows_line_ends_are_read(acme, tmp_path):
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(json.dumps(gold_line()).encode() + b"\r\n" + json.dumps(benign()).encode())
    assert run_json("import_gold", "acme", str(path)) == {"imported": 2}


BAD_LINES = {
    "not-json": (b'{"prompt": "unterminated', "not valid JSON"),
    "not-an-object": (b'["prompt"]', "must be a JSON object"),
    "missing-prompt": (
        json.dumps({k: v for k, v in gold_line().items() if k != "prompt"}).encode(),
        "prompt: Field required",
    ),
    "empty-prompt": (json.dumps(gold_line(prompt="")).encode(), "prompt:"),
    "nul-in-prompt": (
        json.dumps(gold_line(prompt="a\x00b")).encode(),
        "prompt: must not contain NUL",
    ),
    "nul-in-note": (json.dumps(gold_line(note="\x00")).encode(), "note: must not contain NUL"),
    "unknown-verdict": (
        json.dumps(gold_line(expected={"verdict": "escalate", "categories": []})).encode(),
        "expected.verdict:",
    ),
    "missing-expected": (
        json.dumps({k: v for k, v in gold_line().items() if k != "expected"}).encode(),
        "expected: Field required",
    ),
    "unknown-category": (
        json.dumps(gold_line(expected={"verdict": "violation", "categories": ["nope"]})).encode(),
        "expected.categories[0]: unknown policy category or alias 'nope'",
    ),
    "violation-without-category": (
        json.dumps(gold_line(expected={"verdict": "violation", "categories": []})).encode(),
        "a violation names at least one category",
    ),
    "no-violation-with-category": (
        json.dumps(
            benign(expected={"verdict": "no_violation", "categories": ["violence"]})
        ).encode(),
        "a no_violation names no category",
    ),
    "no-signals": (json.dumps(gold_line(signals=[])).encode(), "signals:"),
    "signal-score-out-of-range": (
        json.dumps(
            gold_line(signals=[{"classifier": "g", "category": "violence", "score": 2}])
        ).encode(),
        "signals[0].score:",
    ),
    "signal-unknown-category": (
        json.dumps(
            gold_line(signals=[{"classifier": "g", "category": "weird", "score": 0.5}])
        ).encode(),
        "signals[0].category: unknown policy category or alias 'weird'",
    ),
    "signal-extra-field": (
        json.dumps(
            gold_line(signals=[{"classifier": "g", "category": "violence", "score": 0.5, "x": 1}])
        ).encode(),
        "signals[0].x:",
    ),
    "nan-score": (
        json.dumps(gold_line()).replace("0.93", "NaN").encode(),
        "not valid JSON: NaN is not a JSON number",
    ),
    "unknown-field": (json.dumps(gold_line(colour="red")).encode(), "colour:"),
    "blank-line": (b"", "blank line"),
    "whitespace-line": (b"   ", "blank line"),
    "invalid-utf8": (b'{"prompt": "\xff"}', "not valid UTF-8"),
}


@pytest.mark.parametrize("case", list(BAD_LINES), ids=list(BAD_LINES))
def test_a_bad_line_refuses_the_whole_file_with_its_number(acme, tmp_path, case):
    bad, reason = BAD_LINES[case]
    path = write(tmp_path, gold_line(), benign(), bad, gold_line())
    with pytest.raises(CommandError) as refused:
        run("import_gold", "acme", str(path))
    message = str(refused.value)
    assert "line 3: " in message and reason in message, message
    assert "line 1" not in message and "line 2" not in message and "line 4" not in message
    nothing_stored()


def test_every_bad_line_is_named(acme, tmp_path):
    path = write(tmp_path, b"nope", gold_line(), gold_line(prompt=""))
    with pytest.raises(CommandError) as refused:
        run("import_gold", "acme", str(path))
    assert "line 1: not valid JSON" in str(refused.value)
    assert "line 3: prompt:" in str(refused.value)
    nothing_stored()


def test_an_empty_file_is_refused(acme, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(CommandError, match="the file is empty"):
        run("import_gold", "acme", str(path))
    nothing_stored()


def test_an_unknown_organization_is_refused(db, tmp_path):
    with pytest.raises(CommandError, match="no organization 'initech'"):
        run("import_gold", "initech", str(write(tmp_path, gold_line())))
    nothing_stored()


def test_a_missing_file_is_refused(acme, tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run("import_gold", "acme", str(tmp_path / "absent.jsonl"))
    nothing_stored()


def test_a_set_name_over_the_limit_is_refused(acme, tmp_path):
    with pytest.raises(CommandError, match="at most 100 characters"):
        run("import_gold", "acme", str(write(tmp_path, gold_line())), "--set", "x" * 101)
    nothing_stored()


@pytest.mark.django_db(transaction=True)
def test_from_the_shell_a_bad_line_exits_non_zero_naming_it(acme, tmp_path):
    path = write(tmp_path, gold_line(), gold_line(expected={"verdict": "maybe", "categories": []}))
    done = manage("import_gold", "acme", str(path))
    assert done.returncode != 0
    assert "line 2: expected.verdict:" in done.stderr
    assert done.stdout == ""
    nothing_stored()
    good = manage("import_gold", "acme", str(write(tmp_path, gold_line(), name="ok.jsonl")))
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout) == {"imported": 1}


def test_the_example_file_of_the_docs_imports(acme, settings):
    example = Path(settings.BASE_DIR) / "docs" / "examples" / "gold.jsonl"
    assert run_json("import_gold", "acme", str(example)) == {"imported": 3}
    assert GoldSet.objects.get().name == "gold.jsonl"
    verdicts = list(GoldItem.objects.order_by("pk").values_list("expected_verdict", flat=True))
    assert verdicts == ["violation", "violation", "no_violation"]
