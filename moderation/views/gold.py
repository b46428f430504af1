"""Marking a decided item as a golden item, from its page (admins)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.access import role_required
from accounts.roles import Role
from moderation.access import item_for_reviewer
from moderation.models import GoldSet
from moderation.services.gold import GoldMarkRefused, gold_mark, gold_mark_problem
from moderation.views._types import SignedInRequest
from moderation.views.items import item_context


@role_required(Role.ADMIN)
@require_POST
def item_mark_gold(request: SignedInRequest, pk: int) -> HttpResponse:
    item = item_for_reviewer(request, pk)
    chosen = request.POST.get("gold_set", "")
    gold_set = (
        GoldSet.objects.filter(pk=int(chosen)).first()
        if chosen.isascii() and chosen.isdigit() and len(chosen) < 10
        else None
    )
    try:
        gold = gold_mark(
            item=item,
            gold_set=gold_set,
            new_set_name=request.POST.get("new_set", ""),
            note=request.POST.get("note", ""),
            actor=request.user,
        )
    except GoldMarkRefused as refused:
        # 409 when the item itself cannot be marked, 422 when the form is at fault.
        status = 409 if gold_mark_problem(item) else 422
        context = item_context(request, item, error=f"Not marked as golden: {refused}")
        return render(request, "moderation/item.html", context, status=status)
    messages.success(request, f"Marked as golden item #{gold.pk} in the set {gold.gold_set.name}.")
    return redirect("item", pk=item.pk)
