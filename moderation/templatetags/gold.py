"""The "Mark as golden item" form of the item page: shown to admins on a decided item that
can be marked (the view checks again; this only decides whether the form is offered)."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models.functions import Lower

from accounts.roles import Role, user_has_role
from moderation.models import FlaggedItem, GoldSet
from moderation.services.gold import gold_mark_problem, standing_final_decision

register = template.Library()


@register.simple_tag(takes_context=True)
def mark_gold_offer(context: template.Context, item: FlaggedItem) -> dict[str, Any] | None:
    """What the form shows (the expected answer, the sets), or None when it is not offered."""
    request = context.get("request")
    if request is None or not user_has_role(request.user, Role.ADMIN):
        return None
    if item.state != "decided" or gold_mark_problem(item) is not None:
        return None
    decision = standing_final_decision(item)
    if decision is None:
        return None
    return {
        "decision": decision,
        "categories": list(decision.categories.all()),
        "gold_sets": list(GoldSet.objects.order_by(Lower("name"), "pk")),
    }
