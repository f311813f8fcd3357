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
from django.utils import timezone
from django.utils.translation import gettext as _

import incidents.services.deadlines as deadline_hooks
from incidents.models import (
    Approval,
    Channel,
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
from incidents.models.statements import statement_label
from incidents.permissions import incident_perms
from incidents.services.statements.common import (
    ChainState,
    lock_incident,
    lock_statement,
    record,
    same_version,
)
from incidents.services.statements.rules import check_publish, require
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
    locked = lock_statement(statement)
    predecessor = None
    if locked.supersedes_id is not None:  # lock it too, before the incident (lock order)
        predecessor = Statement.objects.select_for_update().get(pk=locked.supersedes_id)
    incident = lock_incident(locked)
    perms = incident_perms(actor, incident)
    require(perms, Perm.PUBLISH)
    existing = Publication.objects.filter(statement=locked).select_related("version").first()
    if (
        existing is not None
        and existing.version.number == version_number
        and existing.published_by_id == actor.pk
    ):
        return PublishResult(publication=existing, created=False, statement=locked)  # a replayed publish
    version = same_version(locked, version_number)
    check_publish(locked, perms)
    version = StatementVersion.objects.get(pk=version.pk)  # re-read the text, not a cached copy
    if not version.hash_matches():
        raise StatementError(
            f"The stored text of v{version.number} no longer matches the fingerprint it was approved under. "
            "Nothing was published; tell an administrator."
        )
    # Read with what the page shows of them, so the view can render the chain from these (result.chain).
    steps = list(version.steps.select_related("role"))
    approvals = list(Approval.objects.filter(version=version).select_related("step", "approver"))
    if not chain_steps_complete(steps, approvals, version):
        raise StatementError(
            f"v{version.number} does not have every approval its chain requires for exactly this text. "
            "Nothing was published."
        )
    channel = channel or locked.channel
    if channel not in Channel.values:
        raise TextRefused("Choose the channel it was published on.")
    check_text(version.body, channel)
    now = timezone.now()
    published_at = published_at or now
    if published_at > now + timedelta(minutes=1):
        raise TextRefused("Record a publication when it has happened, not in advance.")
    approved_at = max(a.decided_at for a in approvals if a.decision == Approval.Decision.APPROVED)
    if published_at < approved_at - timedelta(minutes=1):
        raise TextRefused("It cannot have gone out before its last approval; check the time.")
    promised = version.next_update_at  # asked once, when the text was drafted: it says this time
    if promised is not None:
        said = local(promised, timezone.get_current_timezone())
        if next_update_at is not None and abs(next_update_at - promised) > timedelta(minutes=1):
            raise TextRefused(
                f"v{version.number} itself promises the next update by {said}; that is the time."
            )
        if promised <= now:
            raise TextRefused(
                _(
                    "v%(n)d promises the next update by %(at)s, which has passed. Save a new version with a "
                    "later time (it goes through the chain again) before publishing."
                )
                % {"n": version.number, "at": said}
            )
        next_update_at = promised
    if next_update_at is not None and not now < next_update_at <= now + timedelta(days=7):
        raise TextRefused("The promised next update must be later than now and within a week.")
    link = link.strip()
    if link:
        try:
            _URL(link)
        except ValidationError:
            raise TextRefused("The link must be a full web address (https://…).") from None
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
    where = f" on {Channel(channel).label}" + (f": {link}" if link else "")
    record(
        incident,
        actor,
        f"{actor} published v{version.number} of {statement_label(locked)}{where} "
        f"(sha256 {version.short_sha}, exactly as approved).",
    )
    if predecessor is not None and predecessor.is_published:
        predecessor.status = S.SUPERSEDED
        predecessor.status_note = f"Superseded by “{locked.title}”, published {stamp(now)}."
        predecessor.updated_at = now
        predecessor.save(update_fields=["status", "status_note", "updated_at"])
        record(incident, actor, f"{statement_label(predecessor)} is superseded by “{locked.title}”.")
    # The first response (or the due update) is met; the next update is due by the cadence or the promise.
    deadline_hooks.on_published(incident, actor, published_at, next_update_at)
    return PublishResult(
        publication=publication,
        created=True,
        statement=locked,
        chain=ChainState(steps=steps, decisions=approvals),
    )
