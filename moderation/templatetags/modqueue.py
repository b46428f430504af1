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
