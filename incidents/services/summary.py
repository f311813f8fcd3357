"""The living summary: the commander's short account of where the incident stands now.

Lock the incident → check the editor may change it and that the edit is based on the latest version → write
a new numbered version, copy its text onto the incident row (what the dashboard, notifications and exports
read) → record it on the timeline in the same transaction. The timeline entry rides the room's live stream,
and each room re-fetches its summary region when it sees an entry of this kind (static/js/timeline.js).
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from incidents.models import Incident, SummaryVersion, TimelineEntry, User
from incidents.models.errors import InputRefused, NotAllowed, Refused
from incidents.models.summary import PART_MAX, SUMMARY_MAX
from incidents.permissions import incident_perms
from incidents.rules import may_change_status
from incidents.services.timeline import organisation_language, timeline_append

NEXT_UPDATE_MAX = 300


class SummaryRefused(InputRefused):
    """The summary's text cannot be used as it is; nothing was written."""


class StaleSummary(Refused):
    """Someone saved a newer version since the editor loaded theirs; nothing was written. Carries the latest
    version, so the answer can show it beside the text the editor typed (which is kept)."""

    def __init__(self, current: SummaryVersion | None) -> None:
        number = current.number if current else 0
        super().__init__(
            _(
                "%(author)s saved version %(number)s of the summary while you were editing. Your text is kept "
                "below: compare it with theirs, then save again."
            )
            % {"author": current.author if current else _("Someone"), "number": number}
        )
        self.current = current


def may_edit_summary(perms: frozenset[str]) -> bool:
    """The commander and the deputy (the roles that may change the incident's status) keep the summary."""
    return may_change_status(perms=perms)


@transaction.atomic
def summary_edit(
    *,
    incident: Incident,
    actor: User,
    expected_version: int,
    summary: str,
    known: str = "",
    unknown: str = "",
    next_update: str = "",
) -> SummaryVersion:
    summary, known, unknown, next_update = (
        summary.replace("\r\n", "\n").strip(),
        known.replace("\r\n", "\n").strip(),
        unknown.replace("\r\n", "\n").strip(),
        " ".join(next_update.split()),
    )
    locked = (
        Incident.objects.select_for_update().only("id", "summary_version", "reference").get(pk=incident.pk)
    )
    if not may_edit_summary(incident_perms(actor, locked)):
        raise NotAllowed(_("Only the incident commander or a deputy can change the summary."))
    if not summary:
        raise SummaryRefused(_("Write the current summary: one or two sentences on where things stand."))
    if len(summary) > SUMMARY_MAX:
        raise SummaryRefused(_("Keep the summary under %(limit)s characters.") % {"limit": SUMMARY_MAX})
    if max(len(known), len(unknown)) > PART_MAX:
        raise SummaryRefused(
            _("Keep “what we know” and “what we don't know” under %(limit)s characters each.")
            % {"limit": PART_MAX}
        )
    if len(next_update) > NEXT_UPDATE_MAX:
        raise SummaryRefused(
            _("Keep the next update under %(limit)s characters.") % {"limit": NEXT_UPDATE_MAX}
        )
    if locked.summary_version != expected_version:
        raise StaleSummary(latest_summary(locked))
    number = locked.summary_version + 1
    version = SummaryVersion.objects.create(
        incident=locked,
        number=number,
        summary=summary,
        known=known,
        unknown=unknown,
        next_update=next_update,
        author=actor,
    )
    Incident.objects.filter(pk=locked.pk).update(current_summary=summary, summary_version=number)
    incident.current_summary, incident.summary_version = summary, number
    with organisation_language():  # the entry's headings are stored once and read by everyone
        timeline_append(
            incident=incident,
            kind=TimelineEntry.Kind.SUMMARY,
            author=actor,
            body=_timeline_text(version),
        )
    return version


def _timeline_text(version: SummaryVersion) -> str:
    lines = [_("Summary v%(number)s: %(summary)s") % {"number": version.number, "summary": version.summary}]
    if version.known:
        lines.append(_("What we know: %(text)s") % {"text": version.known})
    if version.unknown:
        lines.append(_("What we don't know yet: %(text)s") % {"text": version.unknown})
    if version.next_update:
        lines.append(_("Next update: %(text)s") % {"text": version.next_update})
    return "\n".join(lines)


def latest_summary(incident: Incident) -> SummaryVersion | None:
    return (
        SummaryVersion.objects.filter(incident=incident).select_related("author").order_by("-number").first()
    )
