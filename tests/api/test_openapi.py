"""docs/api/openapi.json: a valid OpenAPI 3.1 document that matches the URLs and the answers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.urls import URLPattern, resolve
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from moderation.api import urls as api_urls
from moderation.api import views
from moderation.services.ingest import batch_process

from ..factories import SubjectFactory

DOCUMENT_PATH = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi.json"
DOCUMENT_URI = "urn:modqueue:openapi"
API_PREFIX = "/api/v1/"
API_VIEWS = {views.flags_receive, views.batch_status, views.subject_lookup, views.appeal_receive}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _validator(document: dict[str, Any], *parts: str) -> Draft202012Validator:
    """A validator for the schema at `parts` in the document; its $refs resolve in the document."""
    registry = Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(document))
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#/{_pointer(*parts)}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _response(document: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    response = document["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[-1]
        response = document["components"]["responses"][name]
    return response


def assert_answer_matches(document: dict[str, Any], path: str, method: str, answer: Any) -> None:
    """The answer's status is documented for the operation and its JSON body fits the schema."""
    responses = document["paths"][path][method]["responses"]
    assert str(answer.status_code) in responses, f"{answer.status_code} undocumented for {path}"
    response = _response(document, path, method, answer.status_code)
    media = response["content"]["application/json"]
    assert answer["Content-Type"].split(";")[0] == "application/json"
    schema = media["schema"]
    parts = schema["$ref"].removeprefix("#/").split("/") if "$ref" in schema else None
    assert parts, "response schemas are named components"
    errors = sorted(_validator(document, *parts).iter_errors(answer.json()), key=str)
    assert not errors, [e.message for e in errors]
    for header, spec in response.get("headers", {}).items():
        if "$ref" in spec:
            spec = document["components"]["headers"][spec["$ref"].rsplit("/", 1)[-1]]
        if spec.get("required"):
            assert header in answer.headers
            if pattern := spec["schema"].get("pattern"):
                assert re.search(pattern, answer.headers[header])


# ---------------------------------------------------------------- (a) the document itself


def test_it_is_a_valid_openapi_3_1_document(document):
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["version"] == "1"
    assert "README.md" in document["info"]["description"]
    assert document["servers"] == [
        {"url": "http://127.0.0.1:8000", "description": "make demo / make serve"}
    ]


def _media_with_examples(document: dict[str, Any]):
    def walk(node: Any, where: tuple[str, ...]):
        if isinstance(node, dict):
            if "schema" in node and "examples" in node and "$ref" in node["schema"]:
                yield where, node
            for key, value in node.items():
                yield from walk(value, (*where, key))

    yield from walk(document["paths"], ("paths",))
    yield from walk(document["components"]["responses"], ("components", "responses"))


def test_every_example_fits_its_schema(document):
    checked = 0
    for where, media in _media_with_examples(document):
        parts = media["schema"]["$ref"].removeprefix("#/").split("/")
        validator = _validator(document, *parts)
        for name, example in media["examples"].items():
            errors = [e.message for e in validator.iter_errors(example["value"])]
            assert not errors, (where, name, errors)
            checked += 1
    assert checked >= 30


def test_every_operation_documents_its_answers_with_bodies_and_examples(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    response = _response(document, path, method, int(status))
                if status == "405":
                    continue  # Django's empty answer to another method
                media = response["content"]["application/json"]
                assert media["schema"] and media["examples"], (path, method, status)


def test_the_flags_operation_has_the_contracts_answers_and_headers(document):
    operation = document["paths"]["/api/v1/flags/{key_id}"]["post"]
    assert {"200", "202", "400", "401", "413", "415", "422", "429"} <= set(operation["responses"])
    headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert all(p["required"] for p in headers.values())
    assert "Retry-After" in _response(document, "/api/v1/flags/{key_id}", "post", 429)["headers"]


def test_the_request_schema_takes_the_fixture_items_and_refuses_broken_ones(document, item):
    message = _validator(document, "components", "schemas", "FlagsMessage")
    assert message.is_valid(item(1))
    assert message.is_valid({"items": [item(n) for n in range(3)]})
    by_hash = item(2, user_id_hash="ab" * 32)
    del by_hash["user_id"]
    assert message.is_valid(by_hash)
    assert not message.is_valid(item(1, user_id_hash="ab" * 32))  # both
    assert not message.is_valid({k: v for k, v in item(1).items() if k != "user_id"})  # neither
    assert not message.is_valid(item(1, extra=True))
    assert not message.is_valid(item(1, request_id="x" * 129))
    assert not message.is_valid(item(1, signals=[]))
    assert not message.is_valid(
        item(1, signals=[{"classifier": "c", "category": "hate", "score": 2}])
    )
    assert not message.is_valid({"items": []})
    assert not message.is_valid({"items": [item(n) for n in range(501)]})
    assert not message.is_valid({"items": [item(1)], "other": 1})
    # v2: a conversation instead of the prompt, or beside it; never neither.
    turns = [{"role": "user", "content": "hi"}, {"role": "tool", "content": "{}", "name": "s"}]
    conversation = {k: v for k, v in item(3).items() if k != "prompt"}
    assert message.is_valid({**conversation, "messages": turns, "flagged_turn": 1})
    assert message.is_valid(item(4, messages=turns))
    assert not message.is_valid(conversation)
    assert not message.is_valid({**conversation, "messages": []})
    assert not message.is_valid({**conversation, "messages": [{"role": "bot", "content": "x"}]})
    assert not message.is_valid({**conversation, "messages": turns, "flagged_turn": -1})


# ---------------------------------------------------------------- (b) the document and the URLs


def _sample_url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "sample", path)


def test_every_documented_path_resolves_to_an_api_view(document):
    for path, item in document["paths"].items():
        match = resolve(_sample_url(path))
        assert match.func in API_VIEWS, path
        documented = {
            p["name"]
            for operation in item.values()
            if isinstance(operation, dict)
            for p in operation.get("parameters", [])
            if p["in"] == "path"
        }
        assert documented == set(match.kwargs), path


def test_every_api_url_is_documented(document):
    patterns = [p for p in api_urls.urlpatterns if isinstance(p, URLPattern)]
    assert len(patterns) == len(api_urls.urlpatterns)
    for pattern in patterns:
        route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
        assert API_PREFIX + route in document["paths"], route
        assert resolve(_sample_url(API_PREFIX + route)).func is pattern.callback


@pytest.mark.django_db
def test_undocumented_methods_are_refused(document, signed_key):
    for path, item in document["paths"].items():
        documented = set(item) & METHODS
        url = _sample_url(path)
        for method in sorted({"get", "post", "put", "delete"} - documented):
            answer = getattr(signed_key.client, method)(url)
            assert answer.status_code == 405, (path, method)
        for method in documented:
            assert getattr(signed_key.client, method)(url).status_code != 405, (path, method)


# ---------------------------------------------------------------- (c) real answers fit


FLAGS = "/api/v1/flags/{key_id}"
BATCH = "/api/v1/batches/{batch_id}"
LOOKUP = "/api/v1/subjects/lookup"


@pytest.mark.django_db
def test_a_202_and_its_replay_fit(document, signed_key, item):
    accepted = signed_key.post({"items": [item(1), item(2)]}, msg_id="msg_openapi")
    assert accepted.status_code == 202
    assert_answer_matches(document, FLAGS, "post", accepted)
    replay = signed_key.post(item(3), msg_id="msg_openapi")
    assert replay.status_code == 200
    assert_answer_matches(document, FLAGS, "post", replay)


@pytest.mark.django_db
def test_a_422_with_several_errors_fits(document, signed_key, item):
    items = [item(n) for n in range(5)]
    items[0]["request_id"] = ""
    items[1]["signals"] = [{"classifier": "c", "category": "violence", "score": 1.5}]
    del items[2]["user_id"]
    items[3]["signals"] = [{"classifier": "c", "category": "no-such-category", "score": 0.5}]
    items[4]["flagged_at"] = "yesterday"
    answer = signed_key.post({"items": items})
    assert answer.status_code == 422
    assert_answer_matches(document, FLAGS, "post", answer)
    assert {e["path"] for e in answer.json()["errors"]} == {
        "items[0].request_id",
        "items[1].signals[0].score",
        "items[2].user_id",
        "items[3].signals[0].category",
        "items[4].flagged_at",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "send",
    [
        pytest.param(lambda key, item: key.post(None, raw=b"[1, 2]"), id="400"),
        pytest.param(lambda key, item: key.post(item(1), secret="whsec_" + "A" * 32), id="401"),
        pytest.param(lambda key, item: key.post(item(1), content_type="text/plain"), id="415"),
        pytest.param(
            lambda key, item: key.post({"items": [item(n) for n in range(501)]}), id="413"
        ),
    ],
)
def test_refusals_fit(document, signed_key, item, send):
    answer = send(signed_key, item)
    assert answer.status_code in {400, 401, 413, 415}
    assert_answer_matches(document, FLAGS, "post", answer)


@pytest.mark.django_db
def test_a_429_fits(document, signed_key, item, redis_clean):
    from moderation.models import ApiKey

    ApiKey.objects.filter(pk=signed_key.api_key.pk).update(rate_per_second=1, rate_burst=1)
    answers = [signed_key.post(item(n)) for n in range(2)]
    assert [a.status_code for a in answers] == [202, 429]
    assert_answer_matches(document, FLAGS, "post", answers[1])


@pytest.mark.django_db
def test_batch_status_answers_fit(document, signed_key, item):
    batch_id = signed_key.post({"items": [item(1), item(2)]}).json()["batch_id"]
    url = f"/api/v1/batches/{batch_id}"
    pending = signed_key.client.get(url, headers=signed_key.bearer())
    assert pending.status_code == 200 and pending.json()["status"] == "pending"
    assert_answer_matches(document, BATCH, "get", pending)
    batch_process(batch_id=batch_id)
    processed = signed_key.client.get(url, headers=signed_key.bearer())
    assert processed.status_code == 200 and processed.json()["status"] == "processed"
    assert_answer_matches(document, BATCH, "get", processed)
    for answer in (
        signed_key.client.get(url),
        signed_key.client.get("/api/v1/batches/not-a-uuid", headers=signed_key.bearer()),
    ):
        assert answer.status_code in {401, 404}
        assert_answer_matches(document, BATCH, "get", answer)


@pytest.mark.django_db
def test_subject_lookup_answers_fit(document, signed_key, acme, globex):
    subject = SubjectFactory(organization=acme, violations=3, reviewed=4, status="restricted")

    def lookup(body: Any, **headers: str) -> Any:
        return signed_key.client.post(
            LOOKUP,
            data=json.dumps(body),
            content_type="application/json",
            headers={**signed_key.bearer(), **headers},
        )

    found = lookup({"organization": "acme", "user_id_hash": subject.user_id_hash})
    assert found.status_code == 200 and found.json()["violation_rate"] == 0.75
    answers = [
        found,
        lookup({"organization": "acme", "user_id": "never-seen"}),  # 404
        lookup({"organization": "globex", "user_id": "u-1"}),  # 403
        lookup({"user_id_hash": "XYZ"}),  # 422
        lookup([1]),  # 400
        signed_key.client.post(LOOKUP, data="{}", content_type="application/json"),  # 401
        signed_key.client.post(LOOKUP, data={"user_id": "u"}, headers=signed_key.bearer()),  # 415
    ]
    assert [a.status_code for a in answers] == [200, 404, 403, 422, 400, 401, 415]
    for answer in answers:
        assert_answer_matches(document, LOOKUP, "post", answer)
