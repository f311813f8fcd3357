from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template

from incidents.reviews.metrics import format_duration

register = template.Library()


@register.filter
def duration(value: timedelta | None) -> str:
    return format_duration(value)


@register.filter
def stars(value: int) -> str:
    return "★" * value + "☆" * (5 - value)


@register.filter
def avg_rating(feedback: list[Any]) -> str:
    return f"{sum(f.rating for f in feedback) / len(feedback):.1f}" if feedback else "—"
