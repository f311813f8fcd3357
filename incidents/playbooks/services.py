"""Playbook changes (create, save a version, duplicate, retire, mark reviewed), an incident's playbook and its
templates, drill injects and review reminders.

Every multi-row change is one keyword-only function here, called alike by views, tasks, seeds and demo.
Declaring from a playbook is in `declaring`, comparing versions in `compare`; what a version holds is the
vocabulary of `content` (re-exported here: callers build a Content to save one). May import models, this
app's content and the base app's notify and timeline services.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime
from typing import Any, ClassVar

from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents import live
from incidents.models import Audience, Channel, Incident, StatementTemplate, TimelineEntry, User
from incidents.models.errors import InputRefused
from incidents.models.statements import canonical_text
from incidents.playbooks.content import (
    ContactSpec,
    Content,
    InjectSpec,
    RoleSpec,
    TaskSpec,
    TemplateSpec,
    content_of,
    template_short_name,
)
from incidents.playbooks.models import (
    REVIEW_INTERVAL,
    DrillInject,
    IncidentPlaybook,
    Playbook,
    PlaybookClock,
    PlaybookContact,
    PlaybookInject,
    PlaybookRole,
    PlaybookTask,
    PlaybookTemplate,
    PlaybookVersion,
)
from incidents.services.notify import in_language_of, notify
from incidents.services.timeline import organisation_language, timeline_append


class PlaybookError(InputRefused):
    """A refused playbook change; the message is shown to the user as is. Nothing was changed."""


class StaleVersion(PlaybookError):
    """Someone saved a newer version since the editor was opened; nothing was written."""

    status: ClassVar[int] = 409

    def __init__(self, message: str, *, current: Playbook) -> None:
        super().__init__(message)
        self.current = current


def _template_for(
    playbook: Playbook, spec: TemplateSpec, reusable: dict[tuple[Any, ...], StatementTemplate]
) -> StatementTemplate:
    """The StatementTemplate row for one of the version's templates: reused when its text is unchanged,
    otherwise a new row (copy on write), so incidents declared earlier keep the wording they were offered."""
    body = canonical_text(spec.body)
    label = spec.name.strip() or f"{Channel(spec.channel).label} · {Audience(spec.audience).label}"
    key = (label, spec.channel, spec.audience, spec.language, spec.title.strip(), body, spec.guidance.strip())
    found = reusable.get(key)
    if found is not None:
        return found
    name = f"{playbook.name}: {label}"[:110]
    if StatementTemplate.objects.filter(name=name).exists():
        name = f"{name} ({uuid.uuid4().hex[:6]})"
    template = StatementTemplate(
        name=name,
        scenario=playbook.scenario,
        channel=spec.channel,
        audience=spec.audience,
        language=spec.language,
        title=spec.title.strip(),
        body=body,
        guidance=spec.guidance.strip()[:300],
    )
    template.full_clean()  # unknown placeholders, channel limits: the editor checked, the seeds must too
    template.save()
    reusable[key] = template
    return template


def _write_version(playbook: Playbook, number: int, actor: User | None, content: Content) -> PlaybookVersion:
    version = PlaybookVersion.objects.create(
        playbook=playbook,
        number=number,
        platforms=list(dict.fromkeys(content.platforms)),
        created_by=actor,
        **{name: getattr(content, name) for name in Content.SCALARS},
    )
    PlaybookRole.objects.bulk_create(
        PlaybookRole(version=version, order=i, role=r.role, person=r.person, backup=r.backup)
        for i, r in enumerate(content.roles)
    )
    PlaybookTask.objects.bulk_create(
        PlaybookTask(
            version=version,
            order=i,
            title=t.title.strip(),
            offset_minutes=t.offset_minutes,
            role=t.role,
            notes=t.notes.strip(),
        )
        for i, t in enumerate(content.tasks)
    )
    reusable: dict[tuple[Any, ...], StatementTemplate] = {}
    previous = PlaybookTemplate.objects.filter(
        version__playbook=playbook, version__number=number - 1
    ).select_related("template")
    for link in previous:
        t = link.template
        reusable[
            (template_short_name(playbook, t), t.channel, t.audience, t.language, t.title, t.body, t.guidance)
        ] = t
    PlaybookTemplate.objects.bulk_create(
        PlaybookTemplate(version=version, order=i, template=_template_for(playbook, spec, reusable))
        for i, spec in enumerate(content.templates)
    )
    PlaybookContact.objects.bulk_create(
        PlaybookContact(
            version=version,
            order=i,
            kind=c.kind,
            name=c.name.strip(),
            organisation=c.organisation.strip(),
            phone=c.phone.strip(),
            email=c.email.strip(),
            notes=c.notes.strip(),
        )
        for i, c in enumerate(content.contacts)
    )
    PlaybookInject.objects.bulk_create(
        PlaybookInject(
            version=version, order=i, offset_seconds=x.offset_seconds, kind=x.kind, text=x.text.strip()
        )
        for i, x in enumerate(content.injects)
    )
    PlaybookClock.objects.bulk_create(
        PlaybookClock(
            version=version,
            order=i,
            name=c.name.strip(),
            hours=c.hours,
            authority=c.authority.strip(),
            basis=c.basis.strip(),
            starts=c.starts,
            role=c.role,
            notes=c.notes.strip(),
        )
        for i, c in enumerate(content.clocks)
    )
    return version


def _check_name(name: str, *, exclude: Playbook | None = None) -> str:
    name = name.strip()
    if not name:
        raise PlaybookError(_("Give the playbook a name."))
    clash = Playbook.objects.filter(name__iexact=name)
    if exclude is not None:
        clash = clash.exclude(pk=exclude.pk)
    if clash.exists():
        raise PlaybookError(_("There is already a playbook called “%(name)s”.") % {"name": name})
    return name


@transaction.atomic
def playbook_create(
    *, actor: User | None, name: str, scenario: str, owner: User | None, content: Content
) -> Playbook:
    playbook = Playbook.objects.create(
        name=_check_name(name), scenario=scenario, owner=owner, latest_number=1
    )
    _write_version(playbook, 1, actor, content)
    return playbook


@transaction.atomic
def playbook_save_version(
    *,
    playbook: Playbook,
    actor: User,
    base_number: int,
    content: Content,
    name: str | None = None,
    owner: User | None = None,
    scenario: str | None = None,
) -> PlaybookVersion:
    """Write the next version, if `base_number` is still the newest; otherwise StaleVersion, nothing written.

    One conditional UPDATE decides between concurrent saves: PostgreSQL re-checks the WHERE clause after
    the first saver commits, so the second matches nothing. Saving counts as a review.
    """
    fields: dict[str, Any] = {
        "latest_number": F("latest_number") + 1,
        "reviewed_on": timezone.localdate(),
        "updated_at": timezone.now(),
    }
    if name is not None:
        fields["name"] = _check_name(name, exclude=playbook)
    if owner is not None:
        fields["owner"] = owner
    if scenario is not None:
        fields["scenario"] = scenario
    try:
        with transaction.atomic():
            won = Playbook.objects.filter(pk=playbook.pk, latest_number=base_number, is_retired=False).update(
                **fields
            )
    except IntegrityError:  # a concurrent rename took the name first
        raise PlaybookError(_("There is already a playbook called “%(name)s”.") % {"name": name}) from None
    current = Playbook.objects.get(pk=playbook.pk)
    if not won:
        if current.is_retired:
            raise PlaybookError(_("This playbook has been retired; restore it before editing."))
        raise StaleVersion(
            _(
                "%(name)s was saved as v%(number)s while you were editing v%(base)s. Nothing was saved; your "
                "changes are still in the form. Compare the versions, then save again."
            )
            % {"name": current.name, "number": current.latest_number, "base": base_number},
            current=current,
        )
    return _write_version(current, current.latest_number, actor, content)


@transaction.atomic
def playbook_duplicate(*, playbook: Playbook, actor: User) -> Playbook:
    """A new playbook starting from this one's newest version (e.g. a variant for another market)."""
    # The new playbook's name and note are written by whoever duplicates it, in their language.
    base = (_("Copy of %(name)s") % {"name": playbook.name})[:110]
    name, n = base, 2
    while Playbook.objects.filter(name__iexact=name).exists():
        name, n = f"{base} ({n})", n + 1
    content = replace(
        content_of(playbook.latest()), change_note=_("Duplicated from %(name)s") % {"name": playbook.name}
    )
    return playbook_create(actor=actor, name=name, scenario=playbook.scenario, owner=actor, content=content)


@transaction.atomic
def playbook_retire(*, playbook: Playbook, actor: User, retire: bool = True) -> Playbook:
    """Retire (no longer offered when declaring; kept for the incidents declared from it) or restore."""
    locked = Playbook.objects.select_for_update().get(pk=playbook.pk)
    if locked.is_retired == retire:
        raise PlaybookError(
            (_("%(name)s is already retired.") if retire else _("%(name)s is already in use."))
            % {"name": locked.name}
        )
    locked.is_retired = retire
    locked.retired_at = timezone.now() if retire else None
    locked.retired_by = actor if retire else None
    locked.save(update_fields=["is_retired", "retired_at", "retired_by", "updated_at"])
    return locked


@transaction.atomic
def playbook_mark_reviewed(*, playbook: Playbook, actor: User) -> Playbook:
    """Someone read it through and it still holds: the 90-day clock starts again."""
    locked = Playbook.objects.select_for_update().get(pk=playbook.pk)
    locked.reviewed_on = timezone.localdate()
    locked.save(update_fields=["reviewed_on", "updated_at"])
    return locked


# --- an incident's playbook -----------------------------------------------------------------------------------


def incident_playbook(incident: Incident) -> PlaybookVersion | None:
    record = (
        IncidentPlaybook.objects.filter(incident=incident)
        .select_related("version", "version__playbook")
        .first()
    )
    return record.version if record else None


def templates_first(incident: Incident, templates: list[StatementTemplate]) -> list[StatementTemplate]:
    """The statement editor's list: the incident's playbook templates first (marked `from_playbook`), then
    the general ones. Templates that belong to other playbooks (or other versions) are left out, so the
    general list does not fill up with every playbook's copies."""
    version = incident_playbook(incident)
    own: list[StatementTemplate] = []
    if version is not None:
        for link in version.templates.select_related("template").filter(template__is_active=True):
            link.template.from_playbook = True  # type: ignore[attr-defined]
            own.append(link.template)
    own_ids = {t.pk for t in own}
    owned = set(
        PlaybookTemplate.objects.filter(template_id__in=[t.pk for t in templates]).values_list(
            "template_id", flat=True
        )
    )
    return own + [t for t in templates if t.pk not in owned and t.pk not in own_ids]


# --- drills ---------------------------------------------------------------------------------------------------


def inject_sweep(*, now: datetime | None = None, limit: int = 200) -> int:
    """Post every due drill inject to its timeline, exactly once each.

    Each inject is claimed with SKIP LOCKED and posted in the same transaction that marks it posted, so
    parallel sweeps never double-post and a crashed sweep leaves it for the next one. The entry rides the
    incident's live stream like any other. Injects of a drill that has already ended are not posted.
    """
    posted = 0
    while posted < limit:
        with transaction.atomic():
            row = (
                DrillInject.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("incident")
                .filter(posted_at__isnull=True, due_at__lte=now or timezone.now())
                .filter(incident__drill_paused_at__isnull=True)  # resuming moves it on by the pause
                .order_by("due_at", "pk")
                .first()
            )
            if row is None:
                break
            row.posted_at = timezone.now()
            if row.incident.is_open:
                # EXTERNAL: an injected event plays the outside world (a call, a spike), not a system change.
                with (
                    organisation_language()
                ):  # stored once, read by everyone; the inject's own text as written
                    body = _("DRILL INJECT — %(kind)s: %(text)s") % {
                        "kind": row.get_kind_display(),
                        "text": row.text,
                    }
                    row.entry = timeline_append(
                        incident=row.incident, kind=TimelineEntry.Kind.EXTERNAL, author=None, body=body
                    )
            row.save(update_fields=["posted_at", "entry"])
            live.playbook_changed(row.incident_id)
            posted += 1
    return posted


# --- reviews ----------------------------------------------------------------------------------------------------


def playbook_url(playbook: Playbook) -> str:
    return reverse("playbooks:detail", args=[playbook.code])


def review_reminders_send(*, today: date | None = None) -> int:
    """Remind each owner whose playbook has gone 90 days without a review: once per review date."""
    today = today or timezone.localdate()
    sent = 0
    due = (
        Playbook.objects.active()
        .filter(reviewed_on__lte=today - REVIEW_INTERVAL, owner__is_active=True)
        .exclude(review_reminded_for=F("reviewed_on"))
        .select_related("owner")
    )
    for playbook in due:
        with transaction.atomic():
            # The claim: only one sweep (or retry) gets the row for this review date.
            claimed = (
                Playbook.objects.filter(pk=playbook.pk, reviewed_on=playbook.reviewed_on)
                .exclude(review_reminded_for=playbook.reviewed_on)
                .update(review_reminded_for=playbook.reviewed_on)
            )
            if not claimed or playbook.owner is None:
                continue
            days = (today - playbook.reviewed_on).days
            with in_language_of(playbook.owner):
                text = _(
                    "The playbook “%(name)s” was last reviewed %(days)s days ago. Read it through: "
                    "are the people, contacts and templates still right? Save or mark it reviewed."
                ) % {"name": playbook.name, "days": days}
            notify(
                user=playbook.owner,
                incident=None,
                text=text,
                url=playbook_url(playbook),
                key=f"playbook-review:{playbook.pk}:{playbook.reviewed_on.isoformat()}",
            )
            sent += 1
    return sent


__all__ = [
    "ContactSpec",
    "Content",
    "InjectSpec",
    "PlaybookError",
    "RoleSpec",
    "StaleVersion",
    "TaskSpec",
    "TemplateSpec",
    "content_of",
    "incident_playbook",
    "inject_sweep",
    "playbook_create",
    "playbook_duplicate",
    "playbook_mark_reviewed",
    "playbook_retire",
    "playbook_save_version",
    "playbook_url",
    "review_reminders_send",
    "templates_first",
]
