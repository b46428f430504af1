"""/privacy/: answer an access or deletion request, and export data for classifiers."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_GET, require_POST

from accounts.access import role_required
from accounts.roles import Role
from moderation.models import Organization, Subject
from moderation.services import subject_rights
from moderation.services.audit import audit_training_export
from moderation.services.subjects import is_user_id_hash
from moderation.services.training import training_jsonl
from moderation.views._types import SignedInRequest


@role_required(Role.ADMIN)
@require_GET
def privacy_index(request: SignedInRequest) -> HttpResponse:
    return render(
        request, "moderation/privacy.html", {"organizations": Organization.objects.order_by("slug")}
    )


def _subject_from_post(request: SignedInRequest) -> Subject | None:
    organization = Organization.objects.filter(slug=request.POST.get("organization", "")).first()
    given = request.POST.get("user", "").strip()
    if organization is None or not given:
        messages.error(request, "Choose the organization and give the user id or its hash.")
        return None
    if request.POST.get("kind") == "hash":
        if not is_user_id_hash(given):
            messages.error(request, "A user id hash is 64 lowercase hex characters.")
            return None
        subject = subject_rights.subject_resolve(organization=organization, user_id_hash=given)
    else:
        # The raw id is hashed here and now, and never stored or logged.
        subject = subject_rights.subject_resolve(organization=organization, user_id=given)
    if subject is None:
        messages.info(request, "Nothing is held about this user in this organization.")
    return subject


@role_required(Role.ADMIN)
@require_POST
def privacy_export(request: SignedInRequest) -> HttpResponse:
    subject = _subject_from_post(request)
    if subject is None:
        return redirect("privacy")
    document = subject_rights.subject_export(subject=subject, actor=request.user, via="app")
    response = HttpResponse(
        json.dumps(document, ensure_ascii=False, indent=2), content_type="application/json"
    )
    name = f"modqueue-{subject.organization.slug}-{subject.user_id_hash[:12]}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@role_required(Role.ADMIN)
@require_POST
def privacy_erase(request: SignedInRequest) -> HttpResponse:
    if request.POST.get("confirm") != "erase":
        messages.error(request, 'Type "erase" to confirm: erasure cannot be undone.')
        return redirect("privacy")
    subject = _subject_from_post(request)
    if subject is None:
        return redirect("privacy")
    counts = subject_rights.subject_erase(subject=subject, actor=request.user, via="app")
    unreviewed = counts["unreviewed"]
    left = (
        f" {unreviewed} item{pluralize(unreviewed)} nobody had decided left the queues."
        if unreviewed
        else ""
    )
    messages.success(
        request,
        f"Erased the text of {counts['items']} item(s), {counts['notes']} note(s) and "
        f"{counts['appeals']} appeal message(s) of user {subject.user_id_hash[:12]}…; "
        f"counts and decisions stay.{left}",
    )
    return redirect("privacy")


@role_required(Role.ADMIN)
@require_GET
def training_export(request: SignedInRequest) -> StreamingHttpResponse:
    audit_training_export(actor=request.user, via="app")
    response = StreamingHttpResponse(training_jsonl(), content_type="application/x-ndjson")
    response["Content-Disposition"] = 'attachment; filename="modqueue-training.jsonl"'
    return response
