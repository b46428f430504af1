from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict[str, Any] | None, key: str) -> Any:
    """`mapping|get_item:key`, for JSON fields read in templates."""
    return (mapping or {}).get(key)
