"""`{% load playbooks %}{% playbook_links incident %}`: where an incident came from, for the room header.

One query. Shows the playbook version it was declared from and, for drills, the after-action summary.
"""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from incidents.models import Incident
from incidents.playbooks.drills import speed_line
from incidents.playbooks.models import IncidentPlaybook

register = template.Library()


@register.simple_tag
def playbook_links(incident: Incident) -> SafeString | str:
    record = (
        IncidentPlaybook.objects.filter(incident=incident)
        .select_related("version__playbook")
        .only("version__number", "version__playbook__code", "version__playbook__name")
        .first()
    )
    summary = reverse("playbooks:summary", args=[incident.code])
    drill = (
        format_html(' · <a href="{}">{}</a>', summary, _("After-action summary")) if incident.is_drill else ""
    )
    if record is None:
        if not incident.is_drill:
            return ""
        return format_html(
            '<p class="pb-room-links"><a href="{}">{}</a></p>', summary, _("After-action summary")
        )
    playbook = record.version.playbook
    link = format_html(
        '<a href="{}?v={}">{} v{}</a>',
        reverse("playbooks:detail", args=[playbook.code]),
        record.version.number,
        playbook.name,
        record.version.number,
    )
    # The words around the link come from the catalogue; the link itself is escaped by format_html above.
    words = format_html(_("From the playbook {link}"), link=link)
    return format_html('<p class="pb-room-links">{}{}</p>', words, drill)


@register.inclusion_tag("playbooks/_drill_clock.html", takes_context=True)
def drill_clock(context: template.Context, incident: Incident) -> dict[str, object]:
    """A drill's clock in the room header: its speed (“×10: 6 minutes here are an hour”), whether it is
    paused, and pause/resume for those who may run it (the page's own rule answer, `can_change_status`)."""
    return {
        "incident": incident,
        "speed_line": speed_line(incident),
        "may_run": bool(context.get("can_change_status")),
        "csrf_token": context.get("csrf_token"),
    }
