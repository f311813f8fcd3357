"""@mentions: calling a colleague into a timeline entry, a statement comment or a review section.

The composer's picker (static/js/mentions.js) inserts a stable token, `@[Display Name](user id)`, and that token
is what is stored. The name in it is only what the writer saw: everything shown is rendered from the id (the
person's current name), so a hand-typed `@[CEO](7)` names person 7, not "CEO".

A service that writes a text with mentions calls `check` before it writes anything (mentions of people outside
the incident's team are refused, naming them, and nothing is written) and `notify_mentioned` in the same
transaction as the write (the notifications commit with it, once per cause). `notify` sends every
notification by e-mail too, through the outbox — so a person who is not in the room hears of it either way.
May import models and services.notify only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from incidents.models import Incident, RoleAssignment, User
from incidents.models.errors import InputRefused
from incidents.services.notify import notify

# The name part may not hold "]" or a line break; ids are positive integers. Works on raw and on escaped text
# (escaping never touches "@", brackets, parentheses or digits).
TOKEN = re.compile(r"@\[([^\]\n]{1,160})\]\((\d{1,12})\)")
MAX_MENTIONS = 20


class MentionRefused(InputRefused):
    """A mention the service will not write (someone outside the team); nothing was written."""


@dataclass(frozen=True)
class Mention:
    user_id: int
    typed_name: str


def parse(text: str) -> list[Mention]:
    """Every distinct person mentioned in `text`, in order of first mention."""
    seen: dict[int, Mention] = {}
    for match in TOKEN.finditer(text):
        user_id = int(match.group(2))
        seen.setdefault(user_id, Mention(user_id=user_id, typed_name=match.group(1).strip()))
    return list(seen.values())


def team_ids(incident: Incident, *, ever: bool = False) -> set[int]:
    """Who may be mentioned: people holding a role in the incident now (`ever`: at any time, for the review
    written after the team has stood down)."""
    assignments = RoleAssignment.objects.filter(incident=incident)
    if not ever:
        assignments = assignments.current()
    return set(assignments.values_list("user_id", flat=True))


def check(incident: Incident, text: str, *, ever: bool = False) -> list[User]:
    """The people `text` mentions, all of them on the incident's team — or MentionRefused naming the others.

    The refusal names people only by what the writer typed, never the incident: it is said to a team member,
    but must not become a way to learn a restricted incident's title.
    """
    mentions = parse(text)
    if not mentions:
        return []
    if len(mentions) > MAX_MENTIONS:
        raise MentionRefused(_("Mention at most %(limit)s people in one text.") % {"limit": MAX_MENTIONS})
    team = team_ids(incident, ever=ever)
    people = {u.pk: u for u in User.objects.filter(pk__in=[m.user_id for m in mentions], is_active=True)}
    outsiders = [m for m in mentions if m.user_id not in team or m.user_id not in people]
    if outsiders:
        names = ", ".join(m.typed_name for m in outsiders)
        raise MentionRefused(
            ngettext(
                "%(names)s is not on this incident's team, so cannot be mentioned here. "
                "Remove the mention, or ask the commander to add them to the team first.",
                "%(names)s are not on this incident's team, so cannot be mentioned here. "
                "Remove the mentions, or ask the commander to add them to the team first.",
                len(outsiders),
            )
            % {"names": names}
        )
    return [people[m.user_id] for m in mentions]


def notify_mentioned(
    *,
    incident: Incident,
    actor: User,
    people: Iterable[User],
    where: str,
    excerpt: str,
    url: str,
    key: str,
) -> int:
    """Tell each mentioned person (but not the writer) that they were called in; `key` names the cause
    (one notification per person per cause). Returns how many were told."""
    told = 0
    short = plain(excerpt)
    short = short if len(short) <= 200 else short[:199] + "…"
    for person in people:
        if person.pk == actor.pk:
            continue
        text = _("%(actor)s mentioned you in %(reference)s (%(where)s): “%(excerpt)s”") % {
            "actor": actor,
            "reference": incident.reference,
            "where": where,
            "excerpt": short,
        }
        notify(user=person, incident=incident, text=text, url=url, key=f"{key}:{person.pk}")
        told += 1
    return told


def plain(text: str) -> str:
    """The text with every token shown as "@Name" (for notifications, e-mail and exports)."""
    return " ".join(TOKEN.sub(lambda m: "@" + m.group(1).strip(), text).split())


def names_for(texts: Iterable[str]) -> dict[int, str]:
    """The current display names of everyone mentioned in `texts` (one query, none when nobody is)."""
    ids: set[int] = set()
    for text in texts:
        ids.update(m.user_id for m in parse(text))
    if not ids:
        return {}
    return {pk: str(name) for pk, name in User.objects.filter(pk__in=ids).values_list("pk", "display_name")}


def highlight(escaped_html: str, names: Mapping[int, str] | None = None) -> str:
    """Replace each token in already-escaped HTML by a highlighted "@Name" (the person's current name; the
    typed one for someone unknown). Returns HTML; callers sanitise it as they do any body."""
    if "@[" not in escaped_html:
        return escaped_html
    if names is None:
        names = names_for([escaped_html])

    def one(match: re.Match[str]) -> str:
        user_id = int(match.group(2))
        name = names.get(user_id)
        shown = escape(name) if name else match.group(1).strip()
        return str(format_html('<mark class="mention" data-user="{}">@{}</mark>', user_id, mark_safe(shown)))

    return TOKEN.sub(one, escaped_html)


def render_plain_text(text: str, names: Mapping[int, str] | None = None) -> SafeString:
    """A user's text for a template: escaped, line breaks kept, mentions highlighted."""
    html = escape(text).replace("\n", "<br>")
    return mark_safe(highlight(html, names))
