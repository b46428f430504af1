"""The permission-checked lookups: every view finds its objects through here.

Permissions are checked in views, never only in templates, because an htmx partial is
rendered without the page around it.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from accounts.roles import Role, user_has_role
from moderation.models import GOLD_SUBJECT_HASH, FlaggedItem, Organization, ReviewQueue, Subject


def item_for_reviewer(request: HttpRequest, pk: int) -> FlaggedItem:
    """An item the user may read: any role reads any item, but escalated ones are for seniors."""
    if not user_has_role(request.user, Role.REVIEWER):
        raise PermissionDenied("Your account has no role yet.")
    item = get_object_or_404(
        # The subject's organization too: the item page's subject panel links to it.
        FlaggedItem.objects.select_related("organization", "subject__organization", "claimed_by"),
        pk=pk,
    )
    if item.queue == ReviewQueue.ESCALATED and not user_has_role(request.user, Role.SENIOR):
        raise PermissionDenied("Escalated items are for seniors and admins.")
    return item


def subject_for_reviewer(request: HttpRequest, organization: str, user_id_hash: str) -> Subject:
    if not user_has_role(request.user, Role.REVIEWER):
        raise PermissionDenied
    org = Organization.objects.filter(slug=organization).first()
    if org is None:
        raise Http404("No such organization.")
    if user_id_hash == GOLD_SUBJECT_HASH:
        # The reserved subject golden items are served under is no user: no page.
        raise Http404("No such user.")
    return get_object_or_404(
        Subject.objects.select_related("organization"), organization=org, user_id_hash=user_id_hash
    )
