"""The subject page: one end user's status, figures and history."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import subject_for_reviewer
from moderation import selectors
from moderation.models import AuditAction
from moderation.services.audit import audit_record


@login_required
@require_GET
def subject_detail(request: HttpRequest, organization: str, user_id_hash: str) -> HttpResponse:
    subject = subject_for_reviewer(request, organization, user_id_hash)
    audit_record(actor=request.user, action=AuditAction.SUBJECT_VIEW, subject=subject)
    return render(
        request,
        "moderation/subject.html",
        {"subject": subject, "history": selectors.subject_history(subject, limit=200)},
    )
