from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from incidents.models import SEVERITY_MEANING, STATUS_MEANING

register = template.Library()


@register.simple_tag
def when(value: datetime | None, fmt: str = "j M, H:i") -> SafeString | str:
    """A time in the viewer's zone, with the zone named; the full timestamp is in the tooltip."""
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}">{} <abbr class="tz">{}</abbr></time>',
        value.isoformat(),
        f"{local:%A %d %B %Y, %H:%M:%S} ({timezone.get_current_timezone_name()})",
        template.defaultfilters.date(local, fmt),
        local.tzname() or timezone.get_current_timezone_name(),
    )


@register.filter
def age(value: datetime | None) -> str:
    """Compact elapsed time ("3h 12m") — at 2 a.m. nobody wants to read "3 hours, 12 minutes"."""
    if value is None:
        return ""
    seconds = max(0, int((timezone.now() - value).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


@register.filter
def severity_meaning(value: str) -> str:
    return SEVERITY_MEANING.get(str(value), "")


@register.filter
def status_meaning(value: str) -> str:
    return STATUS_MEANING.get(str(value), "")


@register.filter
def severity_name(value: str) -> str:
    """The one-word name of a severity ("Critical"), from the start of its meaning."""
    return SEVERITY_MEANING.get(str(value), "").split(":", 1)[0]
