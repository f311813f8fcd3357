"""Drafting: starting a statement (blank, from a template, as a variant or an update — and, in one step,
submitting it), saving versions of its text, commenting on a version, and withdrawing it.

Saving is optimistic: a conditional UPDATE on the statement's `version` counter; exactly one of several
concurrent saves of the same version wins, the others get StaleDraft carrying both texts. Withdrawing locks
the statement, then the incident, like the approval services. Versions and comments cannot be updated or
deleted (database triggers). May import models, permissions, the deadline, notify and timeline services,
and this package's approvals, common and rules modules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

import incidents.services.deadlines as deadline_hooks
from incidents import hooks, mentions
from incidents.models import (
    Approval,
    Audience,
    Channel,
    Incident,
    Perm,
    Publication,
    Statement,
    StatementError,
    StatementStatus,
    StatementTemplate,
    StatementVersion,
    Status,
    TextRefused,
    User,
    VersionComment,
    canonical_text,
    text_sha256,
)
from incidents.models.statement_text import (
    LANGUAGES,
    check_text,
    fill_template,
    is_template_fill,
    template_placeholders,
)
from incidents.models.statements import entry_label, statement_label
from incidents.permissions import incident_perms
from incidents.services.notify import in_language_of, notify
from incidents.services.statements.approvals import statement_submit
from incidents.services.statements.common import (
    current_version,
    lock_incident,
    lock_statement,
    names,
    quote,
    reason_given,
    record,
    statement_url,
)
from incidents.services.statements.rules import (
    check_comment,
    check_update,
    check_variant,
    check_withdraw,
    require,
    withdraw_perm,
)
from incidents.services.timeline import organisation_language
from incidents.timetext import organisation_zone, public_time

S = StatementStatus
MAX_COMMENT = 4000


class StaleDraft(StatementError):
    """The draft changed (or left the editable states) since the user loaded it. Nothing was written.

    Carries both texts so the user can compare them side by side and lose nothing.
    """

    def __init__(self, message: str, *, statement: Statement, mine: str, expected_version: int) -> None:
        super().__init__(message)
        self.statement = statement
        self.mine = mine
        self.expected_version = expected_version
        self.theirs = statement.current_version


def template_values(incident: Incident, fill: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the placeholders are filled with: known public facts first, then what the drafter typed.

    Never the incident's title: it is the team's internal wording and would go out publicly. The blank for
    the incident takes its public name, once a drafter has given one; until then it stays empty and the
    drafter must fill it."""
    values = {"company": settings.ORGANISATION_NAME, "reference": incident.reference}
    if incident.public_label.strip():
        values["incident_title"] = incident.public_label.strip()
    values.update({k: v for k, v in (fill or {}).items() if v and v.strip()})
    return values


def promise_text(at: datetime, *, said_at: datetime, language: str = "") -> str:
    """The promised next update as the public text states it: in the organisation's zone, named, in the
    statement's own language ("on 5 December", "5 grudnia") — never the drafter's interface language."""
    with translation.override(language or None):
        return public_time(at, organisation_zone(), said_at=said_at)


def _check_promise(at: datetime, now: datetime) -> None:
    if not now < at <= now + timedelta(days=7):
        raise TextRefused(_("The next update must be promised for later than now and within a week."))


def _carried_promise(previous: StatementVersion | None, canonical: str) -> datetime | None:
    """A new version keeps the previous one's promised time while its text still says it."""
    if previous is None or previous.next_update_at is None:
        return None
    said = promise_text(
        previous.next_update_at, said_at=previous.created_at, language=previous.statement.language
    )
    return previous.next_update_at if said in canonical else None


def _fill_title(title: str, values: Mapping[str, str]) -> str:
    return re.sub(r"\{([a-z_]+)\}", lambda m: values.get(m.group(1), m.group(0)).strip(), title)[:200]


@transaction.atomic
def statement_create(
    *,
    incident: Incident,
    actor: User,
    channel: str = "",
    title: str = "",
    audience: str = Audience.PUBLIC,
    language: str = "en",
    body: str = "",
    template: StatementTemplate | None = None,
    fill: Mapping[str, str] | None = None,
    master: Statement | None = None,
    supersedes: Statement | None = None,
    idempotency_key: str = "",
    next_update_at: datetime | None = None,
) -> Statement:
    """Start a statement: blank, from a template (placeholders filled), as a variant of a master for
    another channel, or as an update that will supersede a published statement. Creates v1.

    `next_update_at` fills the template's {next_update_time} (in the organisation's zone, named) and is
    kept with the version, so publishing schedules that update without asking for the time again. A
    {incident_title} filled in becomes the incident's public name, offered to the next statement."""
    Incident.objects.select_for_update().only("id").get(pk=incident.pk)  # serialises replays of the form
    perms = incident_perms(actor, incident)
    require(perms, Perm.DRAFT)
    key = idempotency_key[:64]
    if key:
        existing = Statement.objects.filter(created_by=actor, idempotency_key=key).first()
        if existing is not None:
            return existing  # a double-click or a retried POST: the statement it already created
    if incident.status == Status.CLOSED:
        raise StatementError(_("This incident is closed; reopen it before drafting statements."))
    template_body = ""
    now = timezone.now()
    public_label = ""
    if template is not None:
        if not template.is_active:
            raise StatementError(_("The template “%(name)s” is no longer in use.") % {"name": template.name})
        values = template_values(incident, fill)
        if next_update_at is not None:
            _check_promise(next_update_at, now)
            values["next_update_time"] = promise_text(next_update_at, said_at=now, language=template.language)
        if "next_update_time" not in template.placeholders:
            next_update_at = None  # the text promises nothing: nothing to keep
        public_label = " ".join(values.get("incident_title", "").split())[:200]
        body = fill_template(template.body, values)
        template_body = canonical_text(template.body)
        # The working title is the team's own (never published): it may name the incident as they do.
        title = title.strip() or _fill_title(template.title, {"incident_title": incident.title, **values})
        channel, audience, language = template.channel, template.audience, template.language
    else:
        next_update_at = None  # only a template's blank is a promise the text is known to make
    # Re-read what the new statement hangs off: the caller's copy may be older than its current state.
    if master is not None:
        master = Statement.objects.select_related("master").get(pk=master.pk)
    if supersedes is not None:
        supersedes = Statement.objects.get(pk=supersedes.pk)
    if master is not None:
        if master.incident_id != incident.pk:
            raise StatementError(_("A variant belongs to the same incident as its master statement."))
        if master.master_id is not None:
            master = master.master  # variants hang off the master, one level deep
            assert master is not None
        check_variant(master, perms)
        title = title.strip() or master.title
        audience = master.audience
    if supersedes is not None:
        if supersedes.incident_id != incident.pk:
            raise StatementError(
                _("Only a published statement of this incident can be updated by a new one.")
            )
        check_update(supersedes, perms)
        title = title.strip() or supersedes.title
    title = " ".join(title.split())
    if not title:
        raise TextRefused(_("Give the statement a short working title."))
    if channel not in Channel.values:
        raise TextRefused(_("Choose the channel the statement is for."))
    if audience not in Audience.values:
        raise TextRefused(_("Choose who the statement is for."))
    if language not in dict(LANGUAGES):
        raise TextRefused(_("Choose the statement's language."))
    canonical = canonical_text(body)
    check_text(canonical, channel)
    statement = Statement.objects.create(
        incident=incident,
        title=title[:200],
        audience=audience,
        channel=channel,
        language=language,
        master=master,
        supersedes=supersedes,
        status=S.DRAFT,
        version=1,
        template=template,
        template_name=template.name if template is not None else "",
        template_body=template_body,
        created_by=actor,
        created_at=now,
        updated_at=now,
        idempotency_key=key,
    )
    statement.current_version = StatementVersion.objects.create(
        statement=statement,
        number=1,
        body=canonical,
        sha256=text_sha256(canonical),
        author=actor,
        created_at=now,
        from_template_fill_only=template is not None,
        next_update_at=next_update_at,
    )
    statement.save(update_fields=["current_version"])
    named = (
        public_label
        and public_label != incident.public_label
        and "incident_title" in template_placeholders(template_body)
    )
    if named:
        incident.public_label = public_label
        Incident.objects.filter(pk=incident.pk).update(public_label=public_label)
    with organisation_language():  # stored once, read by everyone
        record(
            incident,
            actor,
            _drafted(statement, template, master, supersedes, public_label if named else ""),
            statement=statement,
            new=True,
        )
    return statement


def _drafted(
    statement: Statement,
    template: StatementTemplate | None,
    master: Statement | None,
    supersedes: Statement | None,
    public_label: str,
) -> str:
    """The timeline's words for a new statement, in the active language (the organisation's)."""
    values = {"label": entry_label(statement), "channel": Channel(statement.channel).label}
    if template is not None:
        text = _("Statement drafted from the template “%(template)s”: %(label)s, v1.") % {
            **values,
            "template": template.name,
        }
    elif master is not None:
        text = _("Statement drafted as a %(channel)s variant of “%(master)s”: %(label)s, v1.") % {
            **values,
            "master": master.title,
        }
    elif supersedes is not None:
        text = _("Statement drafted as an update to “%(previous)s”: %(label)s, v1.") % {
            **values,
            "previous": supersedes.title,
        }
    else:
        text = _("Statement drafted: %(label)s, v1.") % values
    if public_label:
        text += " " + _("The incident's public name is now “%(name)s”.") % {"name": public_label}
    return text


@transaction.atomic
def statement_create_and_submit(*, incident: Incident, actor: User, **create: Any) -> Statement:
    """Start a statement (as `statement_create`, with its arguments) and submit v1 for approval, in one
    transaction: a refusal of either — an unfilled blank, a chain nobody but the drafter could complete —
    changes nothing at all. A replay (double-click) answers with the statement the first click made."""
    statement = statement_create(incident=incident, actor=actor, **create)
    version = statement.current_version
    assert version is not None  # every statement is created with v1
    return statement_submit(statement=statement, actor=actor, version_number=version.number)


def statement_save_draft(*, statement: Statement, actor: User, expected_version: int, body: str) -> Statement:
    """Save the editor's text as a new version, if nobody saved since `expected_version`.

    Optimistic: one conditional UPDATE of the version counter decides; a loser gets StaleDraft with both
    texts and nothing written. Saving while in review or after approval drops the statement back to draft:
    the approvals of the old text stay as history but do not count for the new one, whose chain starts
    again on submit. Their approvers are told why, with a link to the diff.
    """
    canonical = canonical_text(body)
    with transaction.atomic():
        incident = statement.incident
        require(incident_perms(actor, incident), Perm.DRAFT)  # at once: a removed member hears that first
        check_text(canonical, statement.channel)
        now = timezone.now()
        won = Statement.objects.filter(
            pk=statement.pk, version=expected_version, status__in=Statement.EDITABLE
        ).update(version=F("version") + 1, updated_at=now)
        if not won:
            current = Statement.objects.select_related(
                "current_version", "current_version__author", "incident"
            ).get(pk=statement.pk)
            theirs = current.current_version
            if (
                theirs is not None
                and theirs.body == canonical
                and theirs.author_id == actor.pk
                and current.is_draft
            ):
                return current  # the same save replayed (double-click, retry): it is already there
            raise _stale(current, canonical, expected_version)
        # The UPDATE holds the statement's row lock from here on; what we read now is what we overwrite.
        # Then the incident's (lock order: statement, then incident) and the permission again under both,
        # so a team change cannot slip in between the check and the new version.
        lock_incident(statement)
        require(incident_perms(actor, incident), Perm.DRAFT)
        locked = Statement.objects.select_related("current_version", "incident").get(pk=statement.pk)
        for receiver in hooks.statement_changing:  # e.g. not while the approved text is on its way out
            receiver(statement=locked, change="edit")
        previous = locked.current_version
        if previous is not None and previous.body == canonical:
            raise StatementError(
                _("Nothing changed since v%(number)s; there is nothing to save.")
                % {"number": previous.number}
            )
        old_status = locked.status
        version = StatementVersion.objects.create(
            statement=locked,
            number=locked.version,
            body=canonical,
            sha256=text_sha256(canonical),
            author=actor,
            created_at=now,
            from_template_fill_only=is_template_fill(locked.template_body, canonical),
            next_update_at=_carried_promise(previous, canonical),
        )
        locked.current_version = version
        locked.status = S.DRAFT
        locked.status_note = ""
        locked.save(update_fields=["current_version", "status", "status_note"])
        _after_new_version(locked, previous, version, old_status, actor)
        return locked


def _stale(current: Statement, mine: str, expected: int) -> StaleDraft:
    theirs = current.current_version
    if current.status not in Statement.EDITABLE:
        message = _(
            "This statement is %(status)s now, so its text can no longer change. Nothing was saved; your "
            "text is kept below."
        ) % {"status": current.get_status_display().lower()}
    elif theirs is not None:
        message = _(
            "%(author)s saved v%(number)s while you were editing v%(expected)s. Nothing was overwritten: "
            "compare both texts, then save yours if it should replace theirs."
        ) % {"author": theirs.author, "number": theirs.number, "expected": expected}
    else:
        message = _(
            "Someone saved while you were editing v%(expected)s. Nothing was overwritten: compare both "
            "texts, then save yours if it should replace theirs."
        ) % {"expected": expected}
    return StaleDraft(message, statement=current, mine=mine, expected_version=expected)


def _after_new_version(
    statement: Statement,
    previous: StatementVersion | None,
    version: StatementVersion,
    old_status: str,
    actor: User,
) -> None:
    incident = statement.incident
    label = entry_label(statement)
    values = {
        "actor": actor,
        "label": label,
        "new": version.number,
        "old": previous.number if previous else 0,
    }
    if previous is None or old_status not in Statement.UNDER_APPROVAL:
        with organisation_language():  # stored once, read by everyone
            text = (
                _("%(actor)s saved v%(new)s of %(label)s after v%(old)s was rejected.")
                if old_status == S.REJECTED and previous
                else _("%(actor)s saved v%(new)s of %(label)s.")
            ) % values
            record(incident, actor, text, statement=statement)
        return
    approvers = [
        a.approver
        for a in Approval.objects.filter(version=previous, decision=Approval.Decision.APPROVED)
        .select_related("approver")
        .order_by("decided_at")
    ]
    deadline_hooks.on_chain_void(statement, actor)  # nobody owes a decision on the old version
    with organisation_language():  # stored once, read by everyone
        text = (
            _(
                "%(actor)s saved v%(new)s of %(label)s while v%(old)s was in review: back to draft, the approval "
                "chain starts again when v%(new)s is submitted."
            )
            if old_status == S.IN_REVIEW
            else _(
                "%(actor)s saved v%(new)s of %(label)s while v%(old)s was approved: back to draft, the approval "
                "chain starts again when v%(new)s is submitted."
            )
        ) % values
        if approvers:
            text += " " + ngettext(
                "The approvals of v%(old)s by %(names)s no longer count.",
                "The approvals of v%(old)s by %(names)s no longer count.",
                len(approvers),
            ) % {"old": previous.number, "names": names(approvers)}
        record(incident, actor, text, statement=statement)
    url = f"{statement_url(statement, incident)}?a={previous.number}&b={version.number}#diff"
    for user in {a.pk: a for a in approvers if a.pk != actor.pk}.values():
        with in_language_of(user):
            text = _(
                "%(actor)s changed %(label)s: v%(new)s replaces v%(old)s, which you approved. "
                "Your approval was for the old text and does not carry over; see exactly what changed."
            ) % {"actor": actor, "label": label, "new": version.number, "old": previous.number}
            notify(
                user=user,
                incident=incident,
                text=text,
                url=url,
                key=f"statement-replaced:{version.pk}:{user.pk}",
            )


@transaction.atomic
def statement_withdraw(*, statement: Statement, actor: User, reason: str) -> Statement:
    """Withdraw a statement with a reason: take back a published one, or abandon a draft."""
    locked = lock_statement(statement)
    incident = lock_incident(locked)
    was_published = locked.is_published
    perms = incident_perms(actor, incident)
    require(perms, withdraw_perm(locked))
    reason = reason_given(reason, _("for withdrawing it"))
    check_withdraw(locked, perms)
    for receiver in hooks.statement_changing:
        receiver(statement=locked, change="withdraw")
    locked.status = S.WITHDRAWN
    locked.status_note = reason
    locked.updated_at = timezone.now()
    locked.save(update_fields=["status", "status_note", "updated_at"])
    label = entry_label(locked)
    with organisation_language():  # stored once, read by everyone
        text = (
            _("%(actor)s withdrew the published statement %(label)s: %(reason)s")
            if was_published
            else _("%(actor)s withdrew the draft %(label)s: %(reason)s")
        ) % {"actor": actor, "label": label, "reason": quote(reason)}
        record(incident, actor, text, statement=locked)
    deadline_hooks.on_chain_void(locked, actor)
    if was_published:
        version = current_version(locked)
        people = {a.approver_id for a in Approval.objects.filter(version=version)} | {
            p.published_by_id for p in Publication.objects.filter(statement=locked)
        }
        for user in User.objects.filter(pk__in=people - {actor.pk}, is_active=True):
            with in_language_of(user):
                notify(
                    user=user,
                    incident=incident,
                    text=_("%(actor)s withdrew the published statement %(label)s: %(reason)s")
                    % {"actor": actor, "label": label, "reason": quote(reason)},
                    url=statement_url(locked, incident),
                    key=f"statement-withdrawn:{locked.pk}:{user.pk}",
                )
    return locked


@transaction.atomic
def statement_comment(*, statement: Statement, actor: User, version_number: int, body: str) -> VersionComment:
    """A remark on one version (any state; comments are append-only)."""
    Incident.objects.select_for_update().only("id").get(pk=statement.incident_id)  # the check, under the lock
    check_comment(incident_perms(actor, statement.incident))
    body = body.strip()
    if not body:
        raise TextRefused(_("Write a comment first."))
    if len(body) > MAX_COMMENT:
        raise TextRefused(
            _("Keep a comment under %(limit)s characters.")
            % {"limit": number_format(MAX_COMMENT, force_grouping=True)}
        )
    version = StatementVersion.objects.filter(statement=statement, number=version_number).first()
    if version is None:
        raise StatementError(
            _("This statement has no v%(version_number)s.") % {"version_number": version_number}
        )
    mentioned = mentions.check(statement.incident, body)  # refused before anything is written
    comment = VersionComment.objects.create(version=version, author=actor, body=body)
    with organisation_language():  # stored once, read by everyone
        text = _("%(actor)s commented on v%(number)s of %(label)s: %(comment)s") % {
            "actor": actor,
            "number": version.number,
            "label": entry_label(statement),
            "comment": quote(body),
        }
        record(statement.incident, actor, text, statement=statement)
    mentions.notify_mentioned(
        incident=statement.incident,
        actor=actor,
        people=mentioned,
        where=_("a comment on v%(number)s of %(statement)s")
        % {"number": version.number, "statement": statement_label(statement)},
        excerpt=body,
        url=f"{statement_url(statement, statement.incident)}#comment-{comment.pk}",
        key=f"mention:comment:{comment.pk}",
    )
    return comment
