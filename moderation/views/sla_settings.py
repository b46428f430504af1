"""/settings/sla/: admins set each queue's service-level target (issue 11)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.access import role_required
from accounts.roles import Role
from moderation.models import QueueTarget, ReviewQueue
from moderation.services import sla
from moderation.views._types import SignedInRequest


def _current_values() -> dict[str, tuple[str, str]]:
    """Each queue's target as the form shows it: whole hours in hours, else minutes."""
    values = {}
    for queue, target in sla.targets().items():
        minutes = int(target.total_seconds()) // 60
        values[queue] = (
            (str(minutes // 60), "hours") if minutes % 60 == 0 else (str(minutes), "minutes")
        )
    return values


def _page(
    request: SignedInRequest,
    *,
    values: dict[str, tuple[str, str]] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    values = values or _current_values()
    errors = errors or {}
    saved = {t.queue: t for t in QueueTarget.objects.select_related("updated_by")}
    rows = [
        {
            "queue": queue.value,
            "label": queue.label,
            "amount": values[queue.value][0],
            "unit": values[queue.value][1],
            "error": errors.get(queue.value, ""),
            "default": sla.target_text(sla.default_target(queue)),
            "saved": saved.get(queue.value),
        }
        for queue in ReviewQueue
    ]
    return render(
        request,
        "moderation/sla_settings.html",
        {"rows": rows, "errors": errors, "at_risk_percent": round(sla.AT_RISK_SHARE * 100)},
        status=status,
    )


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def sla_settings_edit(request: SignedInRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request)
    raw = {
        queue: (request.POST.get(f"{queue}-amount", ""), request.POST.get(f"{queue}-unit", ""))
        for queue in ReviewQueue.values
    }
    try:
        minutes = sla.targets_parse(raw)
    except sla.TargetsInvalid as invalid:
        return _page(request, values=raw, errors=invalid.errors, status=422)
    retimed = sla.targets_save(minutes=minutes, actor=request.user, via="settings page")
    if not retimed:
        messages.info(request, "No target changed: nothing was saved.")
    else:
        changed = ", ".join(
            f"{ReviewQueue(q).label} ({n} waiting item{'s' if n != 1 else ''} re-timed)"
            for q, n in retimed.items()
        )
        messages.success(request, f"Targets saved: {changed}.")
    return redirect("sla-settings")
