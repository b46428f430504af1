from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict[str, Any] | None, key: str) -> Any:
    """`mapping|get_item:key`, for JSON fields read in templates."""
    return (mapping or {}).get(key)


@register.filter
def pii(text: str, revealed: bool = False) -> str:
    """Personal data masked (escaped HTML), unless the reviewer revealed it for this item."""
    from django.utils.html import escape

    from moderation.services.pii import pii_mask_html

    return escape(text) if revealed else pii_mask_html(text)


@register.simple_tag(takes_context=True)
def nav_counts(context: template.Context) -> dict[str, int]:
    """`{% nav_counts as nav %}`: what waits for the signed-in user's role (one query, none
    for reviewers), asked only by pages that draw the navigation."""
    from moderation.selectors import nav_counts as counts

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return counts(user)
