"""Publishing: the final gate, and the record that exactly the approved bytes went out.

Under the statement's and the incident's locks it re-reads the version, re-hashes its text and counts the
approvals of every step for exactly that version and sha256, whatever the status column says; only then it
writes the `Publication` (one per statement; append-only). May import models, permissions, the deadline
and timeline services, and this package's common and rules modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

import incidents.services.deadlines as deadline_hooks
from incidents.models import (
    Approval,
    ChainStep,
    Channel,
    Incident,
    Perm,
    Publication,
    Statement,
    StatementError,
    StatementStatus,
    StatementVersion,
    TextRefused,
    User,
)
from incidents.models.approval_chains import chain_steps_complete
from incidents.models.statement_text import check_text
from incidents.models.statements import entry_label, statement_label
from incidents.permissions import incident_perms
from incidents.services.notify import in_language_of, notification_for, notify_all
from incidents.services.statements.common import (
    ChainState,
    lock_incident,
    lock_statement,
    record,
    same_version,
)
from incidents.services.statements.rules import check_publish, require
from incidents.services.timeline import organisation_language
from incidents.timetext import local, stamp

S = StatementStatus
_URL = URLValidator(schemes=["https", "http"])


@dataclass(frozen=True)
class PublishResult:
    publication: Publication
    created: bool  # False: a replay; this person had already recorded this publication
    statement: Statement  # as the service left it (locked and re-read there)
    chain: ChainState | None = (
        None  # the chain the gate checked, so the page shows it without reading it again
    )


@dataclass(frozen=True)
class Gate:
    """What the final gate checked, under the statement's and the incident's locks (held until the caller's
    transaction ends): the version is the current one, its text still hashes to its sha256, and every step
    of its chain approved exactly that version."""

    statement: Statement  # locked and re-read
    incident: Incident  # locked
    version: StatementVersion
    steps: list[ChainStep]
    approvals: list[Approval]
    predecessor: Statement | None  # the published statement this one supersedes (locked), if any

    @property
    def approved_at(self) -> datetime:
        return max(a.decided_at for a in self.approvals if a.decision == Approval.Decision.APPROVED)

    @property
    def chain(self) -> ChainState:
        return ChainState(steps=self.steps, decisions=self.approvals)


def _lock_for_publishing(statement: Statement) -> tuple[Statement, Statement | None, Incident]:
    locked = lock_statement(statement)
    predecessor = None
    if locked.supersedes_id is not None:  # lock it too, before the incident (lock order)
        predecessor = Statement.objects.select_for_update().get(pk=locked.supersedes_id)
    return locked, predecessor, lock_incident(locked)


def publish_gate(*, statement: Statement, actor: User, version_number: int, sha256: str = "") -> Gate:
    """The final gate, for every way a statement goes out (recorded by hand here, or sent through a
    connector by incidents/publishing): lock, check the actor may publish now, re-hash the version and count
    the approvals of every step for exactly that version and sha256, whatever the status column says.
    `sha256`: the fingerprint the person saw, when the page sent it. Call inside a transaction; nothing is
    written."""
    locked, predecessor, incident = _lock_for_publishing(statement)
    perms = incident_perms(actor, incident)
    require(perms, Perm.PUBLISH)
    return _gate_checks(locked, predecessor, incident, perms, version_number, sha256)


def _gate_checks(
    locked: Statement,
    predecessor: Statement | None,
    incident: Incident,
    perms: frozenset[str],
    version_number: int,
    sha256: str,
) -> Gate:
    version = same_version(locked, version_number)
    check_publish(locked, perms)
    version = StatementVersion.objects.get(pk=version.pk)  # re-read the text, not a cached copy
    if sha256 and sha256 != version.sha256:
        raise StatementError(
            _(
                "The text you saw is not v%(number)s as stored (its fingerprint differs). Nothing was "
                "published; reload the page."
            )
            % {"number": version.number}
        )
    if not version.hash_matches():
        raise StatementError(
            _(
                "The stored text of v%(number)s no longer matches the fingerprint it was approved under. "
                "Nothing was published; tell an administrator."
            )
            % {"number": version.number}
        )
    # Read with what the page shows of them, so the view can render the chain from these (result.chain).
    steps = list(version.steps.select_related("role"))
    approvals = list(Approval.objects.filter(version=version).select_related("step", "approver"))
    if not chain_steps_complete(steps, approvals, version):
        raise StatementError(
            _(
                "v%(number)s does not have every approval its chain requires for exactly this text. Nothing was published."
            )
            % {"number": version.number}
        )
    return Gate(
        statement=locked,
        incident=incident,
        version=version,
        steps=steps,
        approvals=approvals,
        predecessor=predecessor,
    )


@transaction.atomic
def statement_publish(
    *,
    statement: Statement,
    actor: User,
    version_number: int,
    channel: str = "",
    published_at: datetime | None = None,
    link: str = "",
    next_update_at: datetime | None = None,
) -> PublishResult:
    """Record that the approved version went out. The final gate: under the lock, re-hash the version and
    check every step of its chain for exactly that version and sha256; only then write the Publication."""
    locked, predecessor, incident = _lock_for_publishing(statement)
    perms = incident_perms(actor, incident)
    require(perms, Perm.PUBLISH)
    existing = Publication.objects.filter(statement=locked).select_related("version").first()
    if (
        existing is not None
        and existing.version.number == version_number
        and existing.published_by_id == actor.pk
    ):
        return PublishResult(publication=existing, created=False, statement=locked)  # a replayed publish
    gate = _gate_checks(locked, predecessor, incident, perms, version_number, "")
    channel = channel or gate.statement.channel
    if channel not in Channel.values:
        raise TextRefused(_("Choose the channel it was published on."))
    check_text(gate.version.body, channel)
    now = timezone.now()
    published_at = published_at or now
    if published_at > now + timedelta(minutes=1):
        raise TextRefused(_("Record a publication when it has happened, not in advance."))
    if published_at < gate.approved_at - timedelta(minutes=1):
        raise TextRefused(_("It cannot have gone out before its last approval; check the time."))
    promised = gate.version.next_update_at  # asked once, when the text was drafted: it says this time
    if promised is not None:
        said = local(promised, timezone.get_current_timezone())
        if next_update_at is not None and abs(next_update_at - promised) > timedelta(minutes=1):
            raise TextRefused(
                _("v%(n)d itself promises the next update by %(at)s; that is the time.")
                % {"n": gate.version.number, "at": said}
            )
        if promised <= now:
            raise TextRefused(
                _(
                    "v%(n)d promises the next update by %(at)s, which has passed. Save a new version with a "
                    "later time (it goes through the chain again) before publishing."
                )
                % {"n": gate.version.number, "at": said}
            )
        next_update_at = promised
    if next_update_at is not None and not now < next_update_at <= now + timedelta(days=7):
        raise TextRefused(_("The promised next update must be later than now and within a week."))
    link = link.strip()
    if link:
        try:
            _URL(link)
        except ValidationError:
            raise TextRefused(_("The link must be a full web address (https://…).")) from None
    publication = _write_publication(
        gate.statement,
        gate.version,
        gate.incident,
        gate.predecessor,
        actor=actor,
        channel=channel,
        published_at=published_at,
        link=link,
        next_update_at=next_update_at,
    )
    return PublishResult(publication=publication, created=True, statement=gate.statement, chain=gate.chain)


@transaction.atomic
def publication_confirm(
    *,
    statement: Statement,
    version: StatementVersion,
    actor: User,
    channel: str,
    published_at: datetime,
    link: str = "",
    next_update_at: datetime | None = None,
) -> PublishResult:
    """A platform confirmed that a connector posted `version` (incidents/publishing), which passed
    `publish_gate` when it was queued: record the Publication, once. The first confirmation writes it (the
    statement becomes published, its deadlines follow); later ones — the same text on further channels —
    find it and change nothing. No permission is asked again: this records what happened, and the drafting
    services refuse edits and withdrawals while a delivery is on its way (hooks.statement_changing)."""
    locked, predecessor, incident = _lock_for_publishing(statement)
    existing = Publication.objects.filter(statement=locked).select_related("version").first()
    if existing is not None:
        if existing.version_id != version.pk:
            raise StatementError(
                _("v%(published)s was published before; v%(number)s went out as well.")
                % {"published": existing.version.number, "number": version.number}
            )
        return PublishResult(publication=existing, created=False, statement=locked)
    if locked.current_version_id != version.pk or not version.hash_matches():
        raise StatementError(
            _(
                "v%(number)s is no longer the current, approved text of this statement; it went out, but the "
                "statement was not marked published."
            )
            % {"number": version.number}
        )
    locked.ensure_can_move_to(S.PUBLISHED)
    promised = version.next_update_at  # the time the text itself promises, asked once when it was drafted
    if next_update_at is None and promised is not None and promised > timezone.now():
        next_update_at = promised
    publication = _write_publication(
        locked,
        version,
        incident,
        predecessor,
        actor=actor,
        channel=channel,
        published_at=published_at,
        link=link,
        next_update_at=next_update_at,
    )
    return PublishResult(publication=publication, created=True, statement=locked)


def _write_publication(
    locked: Statement,
    version: StatementVersion,
    incident: Incident,
    predecessor: Statement | None,
    *,
    actor: User,
    channel: str,
    published_at: datetime,
    link: str,
    next_update_at: datetime | None,
) -> Publication:
    now = timezone.now()
    publication = Publication.objects.create(
        statement=locked,
        version=version,
        sha256=version.sha256,
        channel=channel,
        published_at=published_at,
        link=link,
        published_by=actor,
        recorded_at=now,
    )
    locked.status = S.PUBLISHED
    locked.updated_at = now
    locked.save(update_fields=["status", "updated_at"])
    with organisation_language():  # stored once, read by everyone
        values = {
            "actor": actor,
            "number": version.number,
            "label": entry_label(locked),
            "channel": Channel(channel).label,
            "link": link,
            "sha": version.short_sha,
        }
        text = (
            _(
                "%(actor)s published v%(number)s of %(label)s on %(channel)s: %(link)s (sha256 %(sha)s, exactly as approved)."
            )
            if link
            else _(
                "%(actor)s published v%(number)s of %(label)s on %(channel)s (sha256 %(sha)s, exactly as approved)."
            )
        ) % values
        record(incident, actor, text, statement=locked)
        if predecessor is not None and predecessor.is_published:
            predecessor.status = S.SUPERSEDED
            # Shown to everyone with the statement, like the entry.
            predecessor.status_note = _("Superseded by “%(title)s”, published %(at)s.") % {
                "title": locked.title,
                "at": stamp(now),
            }
            predecessor.updated_at = now
            predecessor.save(update_fields=["status", "status_note", "updated_at"])
            text = _("%(label)s is superseded by “%(title)s”.") % {
                "label": entry_label(predecessor),
                "title": locked.title,
            }
            record(incident, actor, text, statement=predecessor)
    # The first response (or the due update) is met; the next update is due by the cadence or the promise.
    deadline_hooks.on_published(incident, actor, published_at, next_update_at)
    _notify_published(locked, version, incident, actor, channel, link)
    return publication


def _notify_published(
    statement: Statement, version: StatementVersion, incident: Incident, actor: User, channel: str, link: str
) -> None:
    """Those who approved the text, and its author, hear that it is out — a withdrawal tells them too; the
    approvers' own screens (the queue) no longer show the statement once they have decided."""
    people = set(
        Approval.objects.filter(version=version, decision=Approval.Decision.APPROVED).values_list(
            "approver_id", flat=True
        )
    )
    people.add(version.author_id)
    people.discard(actor.pk)
    url = reverse("incidents:statement", args=[incident.code, statement.code])
    messages = []
    for person in User.objects.filter(pk__in=people).order_by("pk"):
        with in_language_of(person):
            where = " " + (
                _("on %(channel)s: %(link)s") % {"channel": Channel(channel).label, "link": link}
                if link
                else _("on %(channel)s") % {"channel": Channel(channel).label}
            )
            messages.append(
                notification_for(
                    user=person,
                    incident=incident,
                    text=_("Published: v%(n)d of %(label)s%(where)s, by %(who)s.")
                    % {
                        "n": version.number,
                        "label": statement_label(statement),
                        "where": where,
                        "who": actor,
                    },
                    url=url,
                    key=f"statement-published:{version.pk}:{person.pk}",
                )
            )
    notify_all(messages)  # two INSERTs for everyone told
