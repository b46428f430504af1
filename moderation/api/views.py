"""The JSON API of CONTRACT §3–§4: parse, authenticate, call a service, answer."""

from __future__ import annotations

import math
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from moderation import selectors
from moderation.api import auth
from moderation.api.ratelimit import auth_failure_record, auth_failures_check, rate_take
from moderation.api.schema import (
    BodyError,
    FieldError,
    TooManyItems,
    parse_body,
    split_items,
    text_problem,
    unsafe_values,
    validate_items,
)
from moderation.api.signatures import SignatureError, signature_verify
from moderation.models import ApiKey, InboundBatch, Organization
from moderation.services import appeals, ingest
from moderation.services.subjects import is_user_id_hash, subject_hash
from moderation.services.thresholds import thresholds_for


def _errors(
    status: int, *errors: FieldError, headers: dict[str, str] | None = None
) -> JsonResponse:
    return JsonResponse(
        {"errors": [e.as_json() for e in errors]}, status=status, headers=headers or {}
    )


def _error(status: int, message: str, path: str = "") -> JsonResponse:
    return _errors(status, FieldError(path, message))


def _with_unsafe(unsafe: list[FieldError], errors: list[FieldError]) -> list[FieldError]:
    """Every error at once: the values no field may hold (NUL, unpaired surrogates, non-finite
    numbers; schema.unsafe_values) first, then the field rules' errors at other paths."""
    paths = {e.path for e in unsafe}
    return [*unsafe, *(e for e in errors if e.path not in paths)]


def _read_body(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it is over DATA_UPLOAD_MAX_MEMORY_SIZE (1 MiB)."""
    try:
        return request.body
    except RequestDataTooBig:
        return None


def _rate_limited(api_key: ApiKey) -> JsonResponse | None:
    decision = rate_take(
        key_id=api_key.key_id, rate_per_second=api_key.rate_per_second, burst=api_key.rate_burst
    )
    if decision.allowed:
        return None
    return _errors(
        429,
        FieldError("", f"rate limit of {api_key.rate_per_second} requests/s exceeded"),
        headers={"Retry-After": str(max(1, math.ceil(decision.retry_after)))},
    )


def _client_address(request: HttpRequest) -> str:
    """The peer's address (REMOTE_ADDR); never a header the client writes (X-Forwarded-For)."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _auth_refused(request: HttpRequest) -> JsonResponse | None:
    """429 for an address with too many failed authentications (CONTRACT §3 v2), checked
    before the body is read, any key is looked up or any signature is computed."""
    decision = auth_failures_check(address=_client_address(request))
    if decision.allowed:
        return None
    return _errors(
        429,
        FieldError("", "too many failed authentications from this address"),
        headers={"Retry-After": str(max(1, min(60, math.ceil(decision.retry_after))))},
    )


def _unauthorized(request: HttpRequest, message: str) -> JsonResponse:
    """401, counted against the client address."""
    auth_failure_record(address=_client_address(request))
    return _error(401, message)


def _is_json(request: HttpRequest) -> bool:
    return request.content_type == "application/json"


def _signed(request: HttpRequest, key_id: str) -> tuple[ApiKey, bytes] | JsonResponse:
    """Authenticate a Standard Webhooks message (CONTRACT §3): the key and the raw body, or
    the error answer. The order is the contract's: size, key, content type, UTF-8,
    signature, then the key's rate limit; before all of them, the address's failures."""
    if refused := _auth_refused(request):
        return refused
    body = _read_body(request)
    if body is None:
        return _error(413, f"body over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes")
    api_key = auth.api_key_active(key_id)
    if api_key is None:
        return _unauthorized(request, "unknown or revoked API key")
    if not _is_json(request):
        return _error(415, f"content type must be application/json, not {request.content_type!r}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _error(400, f"body is not valid UTF-8 (byte {exc.start})")
    try:
        signature_verify(body=text, headers=request.headers, secrets=auth.api_key_secrets(api_key))
    except SignatureError as exc:
        return _unauthorized(request, str(exc))
    auth.api_key_touch(api_key)
    if limited := _rate_limited(api_key):
        return limited
    return api_key, body


@csrf_exempt
@require_POST
def flags_receive(request: HttpRequest, key_id: str) -> JsonResponse:
    """POST /api/v1/flags/<key_id>: a signed message of one item or up to 500."""
    signed = _signed(request, key_id)
    if isinstance(signed, JsonResponse):
        return signed
    api_key, body = signed

    webhook_id = request.headers["webhook-id"]
    if len(webhook_id) > 256:
        return _error(400, "webhook-id is longer than 256 characters")
    if problem := text_problem(webhook_id):
        return _error(400, f"webhook-id {problem}")
    replay = InboundBatch.objects.filter(api_key=api_key, webhook_id=webhook_id).first()
    if replay is not None:
        return JsonResponse({**replay.answer(), "duplicate": True}, status=200)

    try:
        data = parse_body(body)
        items, _ = split_items(data)
    except BodyError as exc:
        return _error(400, str(exc))
    except TooManyItems as exc:
        return _error(413, str(exc), path="items")

    key_org = api_key.organization.slug if api_key.organization else None
    named = {
        i["organization"]
        for i in (items if isinstance(items, list) else [])
        if isinstance(i, dict)
        and isinstance(i.get("organization"), str)
        and text_problem(i["organization"]) is None
    }
    valid, errors = validate_items(
        data,
        key_organization=key_org,
        organizations=selectors.organization_slugs(named | ({key_org} if key_org else set())),
        category_for_label=selectors.category_labels(),
    )
    errors = _with_unsafe(unsafe_values(data), errors)
    if errors:
        return _errors(422, *errors)

    batch, created = ingest.batch_accept(api_key=api_key, webhook_id=webhook_id, items=valid)
    if not created:
        return JsonResponse({**batch.answer(), "duplicate": True}, status=200)
    return JsonResponse(batch.answer(), status=202)


def _bearer(request: HttpRequest) -> tuple[ApiKey | None, JsonResponse | None]:
    if refused := _auth_refused(request):
        return None, refused
    api_key = auth.api_key_for_bearer(request)
    if api_key is None:
        return None, _unauthorized(
            request, "Authorization: Bearer <secret> of an active API key required"
        )
    auth.api_key_touch(api_key)
    return api_key, _rate_limited(api_key)


# Exempt like every API view: a client holds a key, never a CSRF cookie, so another method
# than GET gets its documented 405, not the CSRF middleware's HTML 403.
@csrf_exempt
@require_GET
def batch_status(request: HttpRequest, batch_id: str) -> JsonResponse:
    """GET /api/v1/batches/<batch_id>."""
    api_key, refused = _bearer(request)
    if refused or api_key is None:
        return refused or _error(401, "unauthenticated")
    try:
        batch = selectors.batch_for_key(api_key, str(uuid.UUID(batch_id)))
    except ValueError:
        batch = None
    if batch is None:
        return _error(404, "no such batch for this API key")
    return JsonResponse(
        {
            "batch_id": str(batch.pk),
            "status": batch.status,
            "received": batch.received,
            "created": batch.created,
            "duplicates": batch.duplicates,
        }
    )


@csrf_exempt
@require_POST
def subject_lookup(request: HttpRequest) -> JsonResponse:
    """POST /api/v1/subjects/lookup: a user's live status and figures."""
    api_key, refused = _bearer(request)
    if refused or api_key is None:
        return refused or _error(401, "unauthenticated")
    if not _is_json(request):
        return _error(415, f"content type must be application/json, not {request.content_type!r}")
    body = _read_body(request)
    if body is None:
        return _error(413, f"body over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes")
    try:
        data = parse_body(body)
    except BodyError as exc:
        return _error(400, str(exc))
    if unsafe := unsafe_values(data):
        return _errors(422, *_with_unsafe(unsafe, _subject_errors(data, api_key)))

    found = _subject_ref(data, api_key)
    if isinstance(found, JsonResponse):
        return found
    organization, user_hash = found
    subject = selectors.subject_find(organization=organization, user_id_hash=user_hash)
    if subject is None:
        return _error(404, "this user was never flagged")
    return JsonResponse(
        {
            "organization": organization.slug,
            "user_id_hash": subject.user_id_hash,
            "status": subject.status,
            "violations": subject.violations,
            "reviewed": subject.reviewed,
            "violation_rate": subject.violation_rate,
            "window_days": thresholds_for(organization).window_days,
            "updated_at": subject.updated_at.isoformat().replace("+00:00", "Z"),
        }
    )


def _subject_ref(data: dict[str, Any], api_key: ApiKey) -> tuple[Organization, str] | JsonResponse:
    """The organization and user id hash a body names, within the key's reach."""
    errors = _subject_errors(data, api_key)
    if errors:
        return _errors(422, *errors)
    bound = api_key.organization
    # No organization in the body means the key's own (_subject_errors required a bound key).
    slug: str = data.get("organization") or (bound.slug if bound else "")
    if bound and slug != bound.slug:
        return _error(403, "this API key may only reach its own organization", "organization")
    organization = Organization.objects.filter(slug=slug).first()
    if organization is None:
        return _error(404, f"unknown organization {slug!r}", "organization")
    user_hash = data.get("user_id_hash") or subject_hash(
        organization_slug=slug, user_id=data["user_id"]
    )
    return organization, user_hash


def _subject_errors(data: dict[str, Any], api_key: ApiKey) -> list[FieldError]:
    errors = []
    org = data.get("organization")
    if org is not None and (not isinstance(org, str) or not org):
        errors.append(FieldError("organization", "must be an organization slug"))
    if org is None and api_key.organization is None:
        errors.append(FieldError("organization", "required: this API key is not bound to one"))
    user_id, user_hash = data.get("user_id"), data.get("user_id_hash")
    if (user_id is None) == (user_hash is None):
        errors.append(FieldError("user_id", "give exactly one of user_id or user_id_hash"))
    elif user_id is not None and (not isinstance(user_id, str) or not 1 <= len(user_id) <= 256):
        errors.append(FieldError("user_id", "must be a string of 1 to 256 characters"))
    elif user_hash is not None and not is_user_id_hash(user_hash):
        errors.append(FieldError("user_id_hash", "must be 64 lowercase hex characters"))
    return errors


@csrf_exempt
@require_POST
def appeal_receive(request: HttpRequest, key_id: str) -> JsonResponse:
    """POST /api/v1/appeals/<key_id> (CONTRACT §4b), signed as the flags API is."""
    signed = _signed(request, key_id)
    if isinstance(signed, JsonResponse):
        return signed
    api_key, body = signed
    webhook_id = request.headers["webhook-id"]
    if len(webhook_id) > 256:
        return _error(400, "webhook-id is longer than 256 characters")
    if problem := text_problem(webhook_id):
        return _error(400, f"webhook-id {problem}")
    try:
        data = parse_body(body)
    except BodyError as exc:
        return _error(400, str(exc))
    errors = _subject_errors(data, api_key)
    action_id, message = data.get("action_id"), data.get("message")
    if not isinstance(action_id, str) or not action_id:
        errors.append(FieldError("action_id", "required: the action_id of the action appealed"))
    if not isinstance(message, str) or not 1 <= len(message) <= appeals.MAX_MESSAGE:
        errors.append(FieldError("message", f"a string of 1 to {appeals.MAX_MESSAGE} characters"))
    extra = sorted(set(data) - {"organization", "user_id", "user_id_hash", "action_id", "message"})
    errors.extend(FieldError(name, "unknown field") for name in extra)
    errors = _with_unsafe(unsafe_values(data), errors)
    if errors:
        return _errors(422, *errors)
    found = _subject_ref(data, api_key)
    if isinstance(found, JsonResponse):
        return found
    organization, user_hash = found
    try:
        appeal, created = appeals.appeal_receive(
            api_key=api_key,
            webhook_id=webhook_id,
            organization=organization,
            user_id_hash=user_hash,
            action_id=str(action_id),
            message=str(message),
        )
    except appeals.AppealNotFound:
        return _error(404, "no such action for this organization and user", "action_id")
    except appeals.AppealOpen:
        return _error(409, "an appeal of this action is still open", "action_id")
    if not created:
        return JsonResponse({"appeal_id": str(appeal.pk), "duplicate": True}, status=200)
    return JsonResponse({"appeal_id": str(appeal.pk)}, status=202)
