"""What every stage of a statement's life shares: the row locks, the version checks, the timeline record,
the words of a refusal. Internal to this package. May import models and the timeline service.

Lock order is always statement(s), then incident — never the other way round — so the statement services
never deadlock with each other or with the team and timeline services (which lock only the incident).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from incidents import live
from incidents.models import (
    Approval,
    ChainStep,
    Incident,
    RoleAssignment,
    Statement,
    StatementError,
    StatementVersion,
    TextRefused,
    TimelineEntry,
    User,
)
from incidents.services.timeline import timeline_record

MAX_REASON = 2000


@dataclass(frozen=True)
class ChainState:
    """A version's chain steps and decisions as a service left them (so the page need not read them again)."""

    steps: list[ChainStep]
    decisions: list[Approval]


def statement_url(statement: Statement, incident: Incident | None = None) -> str:
    code = (incident or statement.incident).code
    return reverse("incidents:statement", args=[code, statement.code])


def decision_url(statement: Statement, incident: Incident, step: ChainStep) -> str:
    """Where a step's approvers decide it: the statement page, asking for that step (the page focuses its
    approval button — which scrolls it into view — or says the step is no longer waiting). No #fragment:
    browsers skip autofocus on a page that has a target element."""
    return f"{statement_url(statement, incident)}?decide={step.order}"


def lock_statement(statement: Statement) -> Statement:
    """The statement row, locked, with its current version and its author (not locked: versions never
    change)."""
    locked = (
        Statement.objects.select_for_update(of=("self",))
        .select_related("current_version", "current_version__author")
        .get(pk=statement.pk)
    )
    locked.incident = statement.incident  # the caller's, with the permissions the view read
    return locked


def lock_incident(statement: Statement) -> Incident:
    """Lock the incident row after the statement: team changes (which lock it too) cannot interleave with
    the permission checks that follow."""
    Incident.objects.select_for_update().only("id").get(pk=statement.incident_id)
    return statement.incident


def current_version(statement: Statement) -> StatementVersion:
    version = statement.current_version
    if version is None:  # every statement is created with v1; this is a broken row
        raise StatementError(_("This statement has no text yet."))
    return version


def same_version(statement: Statement, number: int) -> StatementVersion:
    """The current version, if it is the one the user saw (`number`); refused otherwise."""
    version = current_version(statement)
    if number != version.number:
        raise StatementError(
            _(
                "v%(number)s has been replaced by v%(current)s (saved by %(author)s). Nothing was changed; "
                "read v%(current)s first."
            )
            % {"number": number, "current": version.number, "author": version.author}
        )
    return version


def reason_given(text: str, what: str) -> str:
    """The reason, or a refusal in the language of whoever gave it (`what`: already translated, e.g.
    gettext("for rejecting"))."""
    text = text.strip()
    if not text:
        raise TextRefused(_("Give a reason %(what)s; it is recorded and shown to the team.") % {"what": what})
    if len(text) > MAX_REASON:
        raise TextRefused(
            _("Keep the reason under %(limit)s characters.")
            % {"limit": number_format(MAX_REASON, force_grouping=True)}
        )
    return text


def quote(text: str, limit: int = 280) -> str:
    text = " ".join(text.split())
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    # Translators: what someone wrote, quoted inside a sentence; use your language's quotation marks.
    return _("“%(text)s”") % {"text": shown}


def names(users: Iterable[User]) -> str:
    return ", ".join(str(u) for u in users)


def record(
    incident: Incident, actor: User | None, text: str, *, statement: Statement, new: bool = False
) -> None:
    """The statement event on the timeline, in the change's transaction (it rides the room's stream), and
    the nudge, after commit, to the regions that show the statement (incidents/live.py): its card in the
    room's panel, or the whole panel when the set of cards changes — a `new` master statement, or one that
    became final (withdrawn, superseded: it leaves the cards for the "finished" list). Callers build `text`
    inside organisation_language(): the entry is stored once and read by everyone."""
    timeline_record(incident=incident, kind=TimelineEntry.Kind.STATEMENT, actor=actor, text=text)
    live.statement_changed(
        incident.pk, statement.code, approvers(statement), card_code=card_of(statement, new=new)
    )


def card_of(statement: Statement, *, new: bool = False) -> UUID | None:
    """The code of the room panel's card that shows `statement` (a variant is shown in its master's card),
    or None when the change adds or removes a card. A variant costs one query, for its master's code."""
    if statement.master_id is None:
        return None if new or statement.is_final else statement.code
    master = Statement.objects.filter(pk=statement.master_id).values_list("code", "status").first()
    if master is None or master[1] in Statement.FINAL:
        return None  # a final master is listed among the finished, without its variants: refresh the panel
    return master[0]


def approvers(statement: Statement) -> set[int]:
    """Everyone whose "My approvals" may have just gained or lost this statement: the approvers of its active
    steps (it is, or stays, in their queues) and of the step that closed last, if within the last minute (the
    decision that closed it took it out of theirs). Steps closed before that, and steps not reached yet,
    change nobody's queue now: their people's pages fetch nothing. Two small queries."""
    roles: set[int] = set()
    people: set[int] = set()
    recent = timezone.now() - timedelta(minutes=1)
    steps = (
        ChainStep.objects.filter(version__statement_id=statement.pk, activated_at__isnull=False)
        .filter(Q(completed_at__isnull=True) | Q(completed_at__gte=recent))
        .order_by(F("completed_at").desc(nulls_first=True))
        .values_list("role_id", "approver_ids", "completed_at")
    )
    last_closed = None
    for role_id, ids, completed_at in steps:
        if completed_at is not None:
            if last_closed is not None and completed_at != last_closed:
                break  # closed before the last decision: its people's queues did not change now
            last_closed = completed_at
        if role_id:
            roles.add(role_id)
        people.update(ids)
    if roles:
        people |= set(
            RoleAssignment.objects.current()
            .filter(incident_id=statement.incident_id, role_id__in=roles)
            .values_list("user_id", flat=True)
        )
    return people
