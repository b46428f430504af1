"""The navigation's counts, refreshed by htmx every 30 s (CONTRACT §8 v2)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import role_required
from accounts.roles import Role
from moderation import selectors


@role_required(Role.REVIEWER)
@require_GET
def nav_counts(request: HttpRequest) -> HttpResponse:
    """The badges alone, each swapped out of band into its link (none for reviewers)."""
    assert request.user.is_authenticated  # role_required signed them in
    return render(
        request,
        "_nav_counts.html",
        {"nav": selectors.nav_counts(request.user), "oob": True},
    )
