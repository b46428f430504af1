"""/settings/quality/: admins set the gold and second-review shares, and each gold set's
feedback after a wrong decision."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.db.models.functions import Lower
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts.access import role_required
from accounts.roles import Role
from moderation.models import GoldSet, ItemState, QualitySettings
from moderation.services.quality_settings import (
    QualitySettingsInvalid,
    gold_set_feedback,
    percents_parse,
    quality_settings_save,
)
from moderation.views._types import SignedInRequest


def _percent_text(settings: QualitySettings, name: str) -> str:
    # As saved (2.5, not 2.50), so saving the form unchanged changes nothing.
    return f"{getattr(settings, name).normalize():f}"


def _gold_sets() -> list[GoldSet]:
    return list(
        GoldSet.objects.annotate(
            item_count=Count("items", distinct=True),
            active_count=Count("items", filter=Q(items__active=True), distinct=True),
            served_count=Count("items__served", distinct=True),
            decided_count=Count(
                "items__served", filter=Q(items__served__state=ItemState.DECIDED), distinct=True
            ),
        ).order_by(Lower("name"), "pk")
    )


def _page(
    request: SignedInRequest,
    *,
    values: dict[str, object] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    current = QualitySettings.current()
    return render(
        request,
        "moderation/quality_settings.html",
        {
            "current": current,
            "values": values
            or {
                "gold_percent": _percent_text(current, "gold_percent"),
                "second_review_percent": _percent_text(current, "second_review_percent"),
                "second_review_all_removals": current.second_review_all_removals,
            },
            "errors": errors or {},
            "gold_sets": _gold_sets(),
        },
        status=status,
    )


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def quality_settings_edit(request: SignedInRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request)
    if request.POST.get("action") == "feedback":
        return _feedback(request)
    raw = {name: request.POST.get(name, "") for name in ("gold_percent", "second_review_percent")}
    removals = request.POST.get("second_review_all_removals") == "on"
    try:
        values = percents_parse(dict(raw))
    except QualitySettingsInvalid as invalid:
        return _page(
            request,
            values={**raw, "second_review_all_removals": removals},
            errors=invalid.errors,
            status=422,
        )
    quality_settings_save(
        gold_percent=values["gold_percent"],
        second_review_percent=values["second_review_percent"],
        second_review_all_removals=removals,
        actor=request.user,
        via="settings page",
    )
    messages.success(request, "Quality settings saved.")
    return redirect("quality-settings")


def _feedback(request: SignedInRequest) -> HttpResponse:
    gold_set = get_object_or_404(GoldSet, pk=_int(request.POST.get("gold_set", "")))
    feedback = request.POST.get("feedback") == "on"
    gold_set_feedback(gold_set=gold_set, feedback=feedback, actor=request.user)
    messages.success(
        request,
        f"{gold_set.name}: the expected answer is "
        f"{'shown' if feedback else 'not shown'} after a wrong decision.",
    )
    return redirect("quality-settings")


def _int(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else 0
