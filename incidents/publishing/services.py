"""Publishing through connectors: the click (`release_publish`), and what a publisher does with a delivery
afterwards (retry, cancel, record by hand that it is there).

`release_publish` runs the base app's final gate (`publish_gate`: the statement and incident locked, the
actor may publish now, the version re-hashed, every step's approval counted for exactly that sha256), checks
every chosen connector (active, takes this kind of statement, its limits — nothing is queued if one refuses),
and writes one Delivery per connector in that same transaction; workers send them after commit
(delivery.py). May import models, limits, delivery and the base app's statement, deadline and timeline
services.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents import live
from incidents.models import Channel, Perm, Statement, StatementError, TextRefused, TimelineEntry, User
from incidents.models.statements import entry_label
from incidents.permissions import incident_perms
from incidents.publishing.delivery import confirm, kick
from incidents.publishing.limits import fit
from incidents.publishing.models import Connector, Delivery, DeliveryState, Release
from incidents.services.statements.publishing import Gate, publish_gate
from incidents.services.statements.rules import require
from incidents.services.timeline import organisation_language, timeline_record

D = DeliveryState
_URL = URLValidator(schemes=["https", "http"])


@dataclass(frozen=True)
class ReleaseResult:
    release: Release | None  # None: a replay, every chosen connector already had its delivery
    deliveries: list[Delivery]
    gate: Gate


def offered(statement: Statement) -> list[Connector]:
    """The connectors a publisher may choose for this statement: active, taking its kind of text, and — for a
    drill — only test accounts."""
    drill = statement.incident.is_drill
    return [
        c
        for c in Connector.objects.filter(is_active=True).order_by("name")
        if c.accepts_channel(statement.channel) and (c.allow_drills or not drill)
    ]


def _refusals(connectors: Sequence[Connector], statement: Statement, text: str) -> list[str]:
    problems: list[str] = []
    drill = statement.incident.is_drill
    for c in connectors:
        if not c.is_active:
            problems.append(_("%(name)s has been switched off.") % {"name": c.name})
        elif drill and not c.allow_drills:
            problems.append(
                _("%(name)s is a real account and this is a drill; record the drill's publication by hand.")
                % {"name": c.name}
            )
        elif not c.accepts_channel(statement.channel):
            problems.append(
                _("%(name)s does not take %(channel)s statements.")
                % {"name": c.name, "channel": Channel(statement.channel).label}
            )
        elif c.needs_secret and not c.secret():
            problems.append(
                _("%(name)s has no credentials yet (an administrator sets %(setting)s).")
                % {"name": c.name, "setting": c.secret_env}
            )
        else:
            result = fit(c, text)
            if not result.ok:
                problems.append(result.why)
    return problems


@transaction.atomic
def release_publish(
    *,
    statement: Statement,
    actor: User,
    version_number: int,
    sha256: str,
    connectors: Sequence[Connector],
    next_update_at: datetime | None = None,
) -> ReleaseResult:
    """Publish the approved version to these connectors: gate, check every connector, queue one delivery each.
    A connector that already has this statement's delivery is not queued again (a double click changes
    nothing). Nothing is sent inside the transaction."""
    if not connectors:
        raise TextRefused(_("Choose at least one channel to publish to."))
    gate = publish_gate(statement=statement, actor=actor, version_number=version_number, sha256=sha256)
    locked = gate.statement
    locked.incident = gate.incident
    now = timezone.now()
    if next_update_at is not None and not now < next_update_at <= now + timedelta(days=7):
        raise TextRefused(_("The promised next update must be later than now and within a week."))
    problems = _refusals(connectors, locked, gate.version.body)
    if problems:
        raise TextRefused(" ".join([_("Nothing was sent."), *problems]))
    existing = {
        d.connector_id: d for d in Delivery.objects.filter(statement=locked, connector__in=connectors)
    }
    new = [c for c in connectors if c.pk not in existing]
    if not new:
        return ReleaseResult(release=None, deliveries=list(existing.values()), gate=gate)
    release = Release.objects.create(
        statement=locked,
        version=gate.version,
        sha256=gate.version.sha256,
        requested_by=actor,
        requested_at=now,
        next_update_at=next_update_at,
    )
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(
                release=release,
                statement=locked,
                version=gate.version,
                sha256=gate.version.sha256,
                connector=c,
                created_at=now,
                next_attempt_at=now,
            )
            for c in new
        ]
    )
    with organisation_language():
        timeline_record(
            incident=gate.incident,
            kind=TimelineEntry.Kind.STATEMENT,
            actor=actor,
            text=_(
                "%(who)s is publishing v%(n)d of %(statement)s to %(channels)s (sha256 %(sha)s, exactly as "
                "approved)."
            )
            % {
                "who": actor,
                "n": gate.version.number,
                "statement": entry_label(locked),
                "channels": ", ".join(c.name for c in new),
                "sha": gate.version.short_sha,
            },
        )
    ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: _kick_all(ids))
    live.deliveries_changed(gate.incident.pk, locked.code)
    return ReleaseResult(release=release, deliveries=[*existing.values(), *deliveries], gate=gate)


def _kick_all(ids: list[int]) -> None:
    for pk in ids:
        kick(pk)


def _lock(delivery: Delivery, actor: User) -> Delivery:
    """Statement first, then the delivery (the base app's lock order: statement, then incident); the actor
    must still be allowed to publish in this incident."""
    statement = (
        Statement.objects.select_for_update(of=("self",))
        .select_related("incident")
        .get(pk=delivery.statement_id)
    )
    require(incident_perms(actor, statement.incident), Perm.PUBLISH)
    row = (
        Delivery.objects.select_for_update(of=("self",))
        .select_related("connector", "version", "release", "release__requested_by")
        .get(pk=delivery.pk)
    )
    row.statement = statement
    return row


@transaction.atomic
def delivery_retry(*, delivery: Delivery, actor: User) -> Delivery:
    """Send a failed delivery again — or one that needs checking, after the publisher checked the platform —
    with the same key, so a post that did go out is found rather than repeated where the platform can tell.
    The version must still be the one to publish (approved and current, or the one already published)."""
    row = _lock(delivery, actor)
    if not row.may_retry:
        raise StatementError(
            _("The delivery to %(name)s is %(state)s; there is nothing to retry.")
            % {"name": row.connector.name, "state": row.get_state_display().lower()}
        )
    statement = row.statement
    published = statement.is_published and statement.current_version_id == row.version_id
    if not published:
        publish_gate(statement=statement, actor=actor, version_number=row.version.number, sha256=row.sha256)
    _refuse_unfit(row)
    row.state = D.QUEUED
    row.next_attempt_at = timezone.now()
    row.attempts_allowed = row.attempts + 6
    with organisation_language():  # the note is shown to every publisher, like a timeline entry
        row.note = _("Retried by %(who)s.") % {"who": actor}
    row.settled_by = actor
    row.save(update_fields=["state", "next_attempt_at", "attempts_allowed", "note", "settled_by"])
    live.deliveries_changed(row.statement.incident_id, row.statement.code)
    with organisation_language():
        timeline_record(
            incident=statement.incident,
            kind=TimelineEntry.Kind.STATEMENT,
            actor=actor,
            text=_("%(who)s is sending v%(n)d of %(statement)s to %(channel)s again.")
            % {
                "who": actor,
                "n": row.version.number,
                "statement": entry_label(statement),
                "channel": row.connector.name,
            },
        )
    pk = row.pk
    transaction.on_commit(lambda: kick(pk))
    return row


def _refuse_unfit(row: Delivery) -> None:
    problems = _refusals([row.connector], row.statement, row.version.body)
    if problems:
        raise TextRefused(" ".join([_("Nothing was sent."), *problems]))


@transaction.atomic
def delivery_cancel(*, delivery: Delivery, actor: User) -> Delivery:
    """Stop a delivery that certainly never reached its platform (queued for its first try, or failed)."""
    row = _lock(delivery, actor)
    if not row.may_cancel:
        if row.is_in_flight:
            refusal = _("The delivery to %(name)s is being sent right now; it cannot be cancelled.")
        else:
            refusal = _("The delivery to %(name)s is %(state)s; it cannot be cancelled.")
        raise StatementError(refusal % {"name": row.connector.name, "state": row.get_state_display().lower()})
    row.state = D.CANCELLED
    with organisation_language():
        row.note = _("Cancelled by %(who)s.") % {"who": actor}
    row.settled_by = actor
    row.save(update_fields=["state", "note", "settled_by"])
    live.deliveries_changed(row.statement.incident_id, row.statement.code)
    with organisation_language():
        timeline_record(
            incident=row.statement.incident,
            kind=TimelineEntry.Kind.STATEMENT,
            actor=actor,
            text=_("%(who)s cancelled publishing %(statement)s to %(channel)s; nothing was sent there.")
            % {"who": actor, "statement": entry_label(row.statement), "channel": row.connector.name},
        )
    return row


@transaction.atomic
def delivery_mark_posted(*, delivery: Delivery, actor: User, link: str) -> Delivery:
    """The publisher checked the platform and the post is there (a delivery that needs checking): record it
    with its link, as published — never sent again."""
    row = _lock(delivery, actor)
    if not row.is_unknown:
        raise StatementError(
            _("The delivery to %(name)s is %(state)s; only one that needs checking is recorded by hand.")
            % {"name": row.connector.name, "state": row.get_state_display().lower()}
        )
    link = link.strip()
    try:
        _URL(link)
    except ValidationError:
        raise TextRefused(_("Give the post's full web address (https://…).")) from None
    now = timezone.now()
    row.state = D.PUBLISHED
    row.sent_at = now
    row.remote_url = link
    row.error = ""
    with organisation_language():
        row.note = _("Found on the platform and recorded by %(who)s.") % {"who": actor}
    row.settled_by = actor
    row.save(update_fields=["state", "sent_at", "remote_url", "error", "note", "settled_by"])
    live.deliveries_changed(row.statement.incident_id, row.statement.code)
    confirm(row, published_at=now, link=link)
    return row
